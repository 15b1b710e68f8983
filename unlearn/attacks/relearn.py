"""Relearning attack: fine-tune the released model briefly on a part T of data, then measure how
much of a disjoint part V comes back.

Hu et al. 2024, "Jogging the memory of unlearned LLMs through targeted relearning attacks"
(arXiv 2406.13356); Deeb & Roger 2024, "Do unlearning methods remove information from language
model weights?" (arXiv 2410.08827: relearn on some facts, test on others); Łucki et al. 2024,
"An adversarial perspective on machine unlearning for AI safety" (arXiv 2409.18025: unrelated
fine-tuning data undoes unlearning).

Objective: from θ_0 = the released model, s AdamW steps on the plain NLL
    min_θ  E_{x ∈ T} [ −(1/|x|) Σ_t log π_θ(x_t | x_<t) ]
(constant lr `attacks.relearn_lr`, no warm-up, batch `attacks.relearn_batch_size`, seeded), then
forget_side(θ_s) on V for every s in `attacks.relearn_steps`; s = 0 is the baseline. Recovery on V
beyond what retrain gains from the same T means the method suppressed the data, not removed it.

Protocols (each split seeded by the run's seed; T never contains a V item, tests/test_relearn.py):
- a, other facts of the same users: V-types = phone, email, street_address, birthday, health, the
  other PII types are T-types. T = the forget-split texts that contain no V-type value of any
  forget user (as written in any corpus text, or in the users table); V = the evaluation forget
  rows with a V-type value about their author, their `pii` cut down to those spans, so the PII
  arrays measure V facts only.
- b, other users: the sorted forget users, seeded shuffle, cut in halves; T = every forget-split
  text of the first half that does not name, mention or state a fact about a second-half user;
  V = the evaluation forget rows of the second half.
- c, unrelated data: T = a seeded sample, of the size of b's T (at least 8), of the retain-split
  texts neither written by nor mentioning nor naming any forget user; V = every forget row.

Deviations and choices:
- One training run per protocol, measured at each listed step by train()'s callback (log_every =
  gcd of the counts): the same as one run per count, as the schedule is constant and the seeded
  batch stream does not depend on the run length. Gradients are clipped at train.py's default 1.0.
- Protocol a puts texts that state both kinds of facts in V (not in neither): in the synthetic
  corpus nearly every text stating a V fact also states a T fact, so "neither" would leave V
  almost empty. Hence V's *text* metrics (nll, loss_score, ...) also cover T facts and the shared
  templates; only the PII arrays (pii_extraction, pii_logprob, ...) measure the V facts alone.
  Values are screened as exact strings: a fragment (a birthday's year alone) is not.
- A protocol with an empty T or V is skipped: its settings map to {} and `record[protocol]`
  says why. `record` also keeps each run's status, sizes and per-step T loss.

Calibration (`calibrate`, run once per seed on the original when `attacks.relearn_lr_candidates`
lists learning rates): Hu et al.'s sanity check asks that relearning the *original* on part of its
forget data does not make it worse at the rest: a rate that raises the held-out NLL damages
instead of recovering, and damages an unlearned model alike, so the attack could find nothing.
Each candidate rate relearns the original for max(steps) steps on protocol b with the halves
swapped (T = the second half's texts, V = the first half's evaluation rows: disjoint from the V the
attack reports, so the choice does not flatter the original's measured level); the *largest* rate
whose V NLL after the run is at most (1 + `attacks.relearn_tolerance`) times the NLL before is
used for every model of the seed: the strongest relearning that leaves the data's holder intact.
If none qualifies, the smallest candidate is used and the record says so (the verdict then leaves
relearning out). Measured on a tiny model fine-tuned on the corpus (tests/test_relearn.py):
relearning other users' texts never *lowers* the held-out users' NLL of a model that already holds
them, at any rate tried, with AdamW or plain SGD — fitting T displaces V (interference); on a
model whose data was suppressed it does lower it, which is what the attack looks for.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import replace

import numpy as np

from unlearn.attacks.base import AttackContext, forget_side
from unlearn.config import TrainConfig
from unlearn.data import encode
from unlearn.losses import batch_nll
from unlearn.metrics.basic import nll
from unlearn.metrics.scoring import score
from unlearn.train import train

V_TYPES = ("phone", "email", "street_address", "birthday", "health")  # protocol a: the facts measured
MIN_UNRELATED = 8  # protocol c: Łucki et al. undo RMU with about 10 unrelated examples
NAME_COLUMNS = ("name", "handle")  # how a user is named in texts (absent for own corpora)


def relearn_split(ctx: AttackContext, protocol: str) -> tuple[list[str], dict]:
    """(T texts, V rows {"text", "pii", "user_id"} for forget_side) for protocol 'a', 'b' or 'c'."""
    splits = {"a": _other_facts, "b": _other_users, "c": _unrelated}
    if protocol not in splits:
        raise ValueError(f"unknown relearning protocol '{protocol}' (valid: {', '.join(splits)})")
    return splits[protocol](ctx)


def forget_users(ctx: AttackContext) -> list[str]:
    """The objecting users: the authors of the forget split, sorted."""
    return sorted(set(ctx.corpus.texts["forget"]["user_id"]))


def user_halves(ctx: AttackContext) -> tuple[list[str], list[str]]:
    """Protocol b's (T users, V users): a seeded shuffle of the forget users, cut in halves."""
    users = forget_users(ctx)
    random.Random(f"relearn-users-{ctx.seed}").shuffle(users)
    return users[: len(users) // 2], users[len(users) // 2 :]


def user_strings(ctx: AttackContext, users: set[str], columns) -> set[str]:
    """The users-table values of `columns` (those the table has) for `users`."""
    table = ctx.corpus.tables["users"]
    cols = [c for c in columns if c in table.column_names]
    return {row[c] for row in table.select_columns(["user_id", *cols]) if row["user_id"] in users
            for c in cols if row[c]}


def fact_values(ctx: AttackContext, users: set[str], types) -> set[str]:
    """Every written form of a `types` fact about `users`: the span values in any member or
    holdout text (a birthday is written per language) and the users-table values."""
    spans = (s for split in ("train", "holdout") for pii in ctx.corpus.texts[split]["pii"] for s in pii)
    return {s["value"] for s in spans if s["type"] in types and s["subject"] in users} | \
        user_strings(ctx, users, types)


def touches(row: dict, users: set[str], names: set[str]) -> bool:
    """Is the text written by, mentioning, stating a fact about, or naming any of `users`?"""
    return (row["user_id"] in users or bool(set(row["mentions"]) & users)
            or any(s["subject"] in users for s in row["pii"]) or any(n in row["text"] for n in names))


def _rows(rows: dict, keep: list[int], pii: list | None = None) -> dict:
    """The rows `keep` of a {"text", "pii", "user_id"} table (with `pii` replaced if given)."""
    return {"text": [rows["text"][i] for i in keep], "user_id": [rows["user_id"][i] for i in keep],
            "pii": pii if pii is not None else [rows["pii"][i] for i in keep]}


def _other_facts(ctx: AttackContext) -> tuple[list[str], dict]:
    """Protocol a: T states only T-type facts of the forget users, V is scored on V-type facts."""
    users = set(forget_users(ctx))
    values = fact_values(ctx, users, V_TYPES)
    train_texts = [t for t in ctx.corpus.texts["forget"]["text"] if not any(v in t for v in values)]
    plan = ctx.plan.texts["forget"]
    spans = [[s for s in pii if s["type"] in V_TYPES and s["subject"] == uid]  # about the author only
             for pii, uid in zip(plan["pii"], plan["user_id"])]
    keep = [i for i, s in enumerate(spans) if s]
    return train_texts, _rows(plan, keep, [spans[i] for i in keep])


def _other_users(ctx: AttackContext, swap: bool = False) -> tuple[list[str], dict]:
    """Protocol b: T = the first half's forget texts, V = the second half's evaluation rows
    (`swap`: the other way round, the calibration split)."""
    t_users, v_users = map(set, user_halves(ctx)[:: -1 if swap else 1])
    names = user_strings(ctx, v_users, NAME_COLUMNS)
    train_texts = [r["text"] for r in ctx.corpus.texts["forget"]
                   if r["user_id"] in t_users and not touches(r, v_users, names)]
    plan = ctx.plan.texts["forget"]
    return train_texts, _rows(plan, [i for i, u in enumerate(plan["user_id"]) if u in v_users])


def _unrelated(ctx: AttackContext) -> tuple[list[str], dict]:
    """Protocol c: T = retain texts unrelated to any forget user, V = every forget row."""
    users = set(forget_users(ctx))
    names = user_strings(ctx, users, NAME_COLUMNS)
    pool = [r["text"] for r in ctx.corpus.texts["retain"] if not touches(r, users, names)]
    n = max(len(_other_users(ctx)[0]), MIN_UNRELATED)
    train_texts = random.Random(f"relearn-unrelated-{ctx.seed}").sample(pool, min(n, len(pool)))
    return train_texts, ctx.plan.texts["forget"]


def _nll(model, ref_model, batch):
    """Plain teacher-forced NLL on the relearning texts."""
    return batch_nll(model, batch["train"]), {}


class Relearn:
    """Relearning: settings `<protocol>_steps<n>`; `<protocol>_steps0` is the baseline."""

    name = "relearn"
    distributed = True  # trains through train.py: every process takes part

    def __init__(self, cfg_attacks):
        self.cfg = cfg_attacks
        self.steps = sorted(set(cfg_attacks.relearn_steps))
        self.record: dict[str, dict] = {}  # protocol -> status, sizes, T loss per step

    def settings(self) -> list[str]:
        """Every (protocol, step count), e.g. "b_steps0", "b_steps50"."""
        return [f"{p}_steps{n}" for p in self.cfg.relearn_protocols for n in self.cfg.relearn_steps]

    def run(self, model, tok, ctx: AttackContext, own_model: bool = False) -> dict[str, dict[str, np.ndarray]]:
        """Per setting, the forget-side arrays of V after that many relearning steps. The caller's
        model stays untouched, unless `own_model` hands it over (run_attacks loads a fresh one per
        attack): then the last protocol trains it in place instead of a copy, one model less in
        memory (a SISA aggregate: S models less)."""
        out = {}
        protocols = self.cfg.relearn_protocols
        for i, protocol in enumerate(protocols):
            train_texts, rows = relearn_split(ctx, protocol)
            arrays = self._protocol(protocol, model, tok, ctx, train_texts, rows,
                                    in_place=own_model and i == len(protocols) - 1)
            out.update({f"{protocol}_steps{n}": arrays.get(n, {}) for n in self.cfg.relearn_steps})
        return out

    def _protocol(self, protocol, model, tok, ctx, train_texts, rows, in_place: bool = False) -> dict[int, dict]:
        """Step count -> arrays for one protocol: one run to the largest count, measured on the way."""
        self.record[protocol] = {"n_train": len(train_texts), "n_eval": len(rows["text"])}
        if not train_texts or not rows["text"]:
            self.record[protocol].update(status="skipped", message="no relearning texts" if not train_texts
                                         else "no evaluation items")
            return {}
        work = (model if in_place else copy.deepcopy(model)).to(ctx.acc.device)
        arrays = {0: forget_side(work, tok, ctx, texts=rows)}

        def measure(step, trained) -> dict:
            if step not in self.steps:
                return {}
            arrays[step] = forget_side(trained, tok, ctx, texts=rows)
            return {"v_nll": float(np.mean(arrays[step]["forget.nll"]))}

        last = max(self.steps)
        if last > 0:
            result = train(work, {"train": encode(tok, train_texts, ctx.cfg.model.max_length)}, "train", _nll,
                           self._train_cfg(), ctx.seed, ctx.acc, callback=measure, desc=f"relearn {protocol}")
            self.record[protocol].update(status=result.status, message=result.message,
                                         loss=[e["loss"] for e in result.log])
        else:
            self.record[protocol].update(status="ok", message="", loss=[])
        del work
        return arrays

    def _train_cfg(self) -> TrainConfig:
        """Constant lr, no warm-up, exactly max(steps) steps, the callback at every listed count."""
        last = max(self.steps)
        return TrainConfig(lr=self.cfg.relearn_lr, epochs=float(last), max_steps=last,
                           batch_size=self.cfg.relearn_batch_size, grad_accum=1, warmup_ratio=0.0,
                           schedule="constant", log_every=math.gcd(*[n for n in self.steps if n > 0]))


def calibrate(model, tok, ctx: AttackContext, candidates) -> dict:
    """Choose the relearning rate on the original (module docstring): {"chosen", "calibrated",
    "nll_before", "tolerance", "candidates": [{"lr", "status", "v_nll": {step: mean V NLL},
    "rise"}], "n_train", "n_eval", "split"}. `model` stays untouched."""
    cfg = ctx.cfg.attacks
    train_texts, rows = _other_users(ctx, swap=True)
    lrs = sorted(set(float(lr) for lr in candidates))
    record = {"split": "protocol b with the halves swapped", "n_train": len(train_texts),
              "n_eval": len(rows["text"]), "tolerance": cfg.relearn_tolerance, "candidates": []}
    if not train_texts or not rows["text"]:
        return {**record, "chosen": lrs[0], "calibrated": False,
                "message": "no relearning texts" if not train_texts else "no evaluation items"}
    eval_data = encode(tok, rows["text"], ctx.cfg.model.max_length)

    def v_nll(m) -> float:
        return float(np.mean(nll(score(m, eval_data, ctx.cfg.eval.batch_size, ctx.acc.device))))

    before, steps, last = v_nll(model), sorted(set(cfg.relearn_steps)), max(cfg.relearn_steps)
    record["nll_before"] = before
    for lr in lrs:
        work = copy.deepcopy(model).to(ctx.acc.device)
        curve = {0: before}

        def measure(step, trained) -> dict:
            if step in steps and step > 0:
                curve[step] = v_nll(trained)
                return {"v_nll": curve[step]}
            return {}

        attack = Relearn(replace(cfg, relearn_lr=lr))
        result = train(work, {"train": encode(tok, train_texts, ctx.cfg.model.max_length)}, "train", _nll,
                       attack._train_cfg(), ctx.seed, ctx.acc, callback=measure, desc=f"relearn lr {lr:g}")
        after = curve.get(last, float("nan"))
        record["candidates"].append({"lr": lr, "status": result.status, "message": result.message,
                                     "v_nll": {str(k): v for k, v in sorted(curve.items())},
                                     "rise": (after - before) / before if before > 0 else float("nan")})
        del work
    fit = [c for c in record["candidates"] if c["status"] == "ok" and np.isfinite(c["rise"])
           and c["rise"] <= cfg.relearn_tolerance]
    if fit:
        return {**record, "chosen": max(c["lr"] for c in fit), "calibrated": True}
    least = min(c["rise"] for c in record["candidates"]) if record["candidates"] else float("nan")
    return {**record, "chosen": lrs[0], "calibrated": False,
            "message": f"every candidate raised the original's held-out NLL ({before:.3f}) by more than "
                       f"{cfg.relearn_tolerance:.0%} in {last} steps (least {least:+.1%})"}
