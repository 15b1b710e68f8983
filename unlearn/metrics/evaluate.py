"""Evaluate one model: the whole measurement suite, as per-example arrays plus intervals.

`make_plan` fixes, once per seed and from the corpus alone, what is measured: the evaluation
texts of each split (forget, retain, holdout), a seeded subset for decoding, the questions asked
(phrasing 0, both languages, `eval.qa_users` users per split), the canaries with their training
contexts, and the general-knowledge probes. `evaluate_model` then runs, per split, ONE
teacher-forced scoring pass (LOSS, zlib, Min-K%, Min-K%++, EM, ES, perplexity, greedy and
(n, p) PII extraction all read it), the batched decoding (verbatim continuations, answers,
probes), and the canary ranking. Every result is an array of per-item values keyed
`<group>.<metric>`, with the user each item is about (`item_users`); `summarize` turns them into
the aggregates of results.json with seeded percentile-bootstrap 95% intervals that resample users,
not items (a cluster bootstrap; for AUCs both groups' users are resampled). Metrics that compare
models (reference MIA, forget quality, PrivLeak, general accuracy, model utility) are in
metrics/relative.py.
"""
from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field

import numpy as np

from unlearn.data import encode
from unlearn.metrics import METRICS, basic, mia, pii
from unlearn.metrics.exposure import canary_exposure
from unlearn.metrics.qa_arrays import PII_ATTRIBUTES, QA_OWN, _qa_arrays, _qa_masks, qa_breakdown, qa_users  # noqa: F401
from unlearn.metrics.scoring import score
from unlearn.metrics.utility import GENERAL_PROBES, fluency, lexicon, probe_eval
from unlearn.metrics.verbatim import verbatim
from unlearn.stats import cluster_weights, item_weights, percentile_interval, weighted_means

EVAL_SPLITS = ("forget", "retain", "holdout")
QA_GROUPS = EVAL_SPLITS + ("qa_train",)  # qa_train: users whose QA pairs the assistant was trained on
MIA_SCORES = ("loss", "zlib", "mink20", "mink40", "minkpp")


@dataclass
class EvalPlan:
    """What every model of one seed is measured on (a pure function of corpus, config, seed)."""

    texts: dict[str, dict[str, list]]  # split -> {"text", "pii", "user_id"}
    generate_rows: dict[str, list[int]]  # split -> rows decoded for verbatim continuation
    qa: dict[str, list[dict]]  # split -> question rows
    canaries: list[dict]  # {"group", "context", "secret", "format", "insertions", "user"}
    lexicon: set[str]  # reference words for fluency
    probes: list[dict]  # general-knowledge probes
    # model-independent work derived from the plan, done once per process (e.g. the prompting
    # attack's question variants): key -> value
    memo: dict = field(default_factory=dict, repr=False, compare=False)


# version 2: a capped split (eval.max_examples) takes its texts from every user in turn; version 1
# took the first max_examples texts, so on SmolLM2 (60 of ~125 forget texts) only 2 of the 5
# objecting users were measured on their texts, and relearning's calibration found none to test on
PLAN_VERSION = 2


def plan_key(cfg_eval) -> dict:
    """The plan's part of an evaluation, attack or calibration stage key: its version where a cap
    selects texts (an uncapped plan is the same in every version, so its caches stay valid)."""
    return {"plan": PLAN_VERSION} if cfg_eval.max_examples > 0 else {}


def every_user_in_turn(rows: list[int], user_ids, cap: int) -> list[int]:
    """At most `cap` of `rows` (indices into a split whose rows are grouped by user): each user's
    first text, then each user's second, ..., in the split's order; users are the unit of every
    test, so a cap must not drop whole users while others keep all their texts."""
    by_user: dict[str, list[int]] = {}
    for i in rows:
        by_user.setdefault(user_ids[i], []).append(i)
    chosen, depth = [], 0
    while len(chosen) < min(cap, len(rows)):
        chosen += [texts[depth] for texts in by_user.values() if len(texts) > depth][: cap - len(chosen)]
        depth += 1
    return sorted(chosen)


def make_plan(corpus, texts: dict, exclude: dict[str, list[int]], cfg_eval, seed: int) -> EvalPlan:
    """The evaluation rows, questions, canaries and probes for one seed. The assistant's QA
    instruction texts (kind "qa") are training data, not a user's texts: never evaluated as texts.
    Questions are asked about forget, retain and holdout users and, as their own group `qa_train`,
    about the users whose QA pairs were trained on; retain excludes those (their answers were
    taught, not recalled from posts)."""
    rng = random.Random(f"eval-{seed}")
    rows = {}
    for split in EVAL_SPLITS:
        skip = set(exclude.get(split, ()))
        kinds = texts[split]["kind"]
        keep = [i for i in range(len(texts[split])) if i not in skip and kinds[i] != "qa"]
        if cfg_eval.max_examples > 0:
            keep = every_user_in_turn(keep, texts[split]["user_id"], cfg_eval.max_examples)
        part = texts[split].select(keep)
        rows[split] = {k: list(part[k]) for k in ("text", "pii", "user_id")}
    generate_rows = {s: _subset(len(rows[s]["text"]), cfg_eval.generate_examples, rng) for s in EVAL_SPLITS}
    users = {s: sorted(set(texts[s]["user_id"])) for s in EVAL_SPLITS}
    users["retain"] = sorted(set(users["retain"]) - set(users["forget"]))
    table = corpus.tables["users"]
    trained = set(u for u, q in zip(table["user_id"], table["qa_train"]) if q) if "qa_train" in table.column_names else set()
    asked = {**users, "retain": sorted(set(users["retain"]) - trained), "qa_train": sorted(trained & set(users["retain"]))}
    qa_table = corpus.tables["qa"] if "qa" in corpus.tables else None
    qa = {s: [] for s in QA_GROUPS}
    if qa_table is not None and len(qa_table):
        for s in QA_GROUPS:
            chosen = set(asked[s]) if cfg_eval.qa_users <= 0 or len(asked[s]) <= cfg_eval.qa_users \
                else set(rng.sample(asked[s], cfg_eval.qa_users))
            qa[s] = [r for r in qa_table if r["phrasing"] == 0 and r["user_id"] in chosen]
    reference = list(texts["retain"]["text"]) + list(corpus.texts["general"]["text"])
    return EvalPlan(rows, generate_rows, qa, _canaries(corpus, texts, users), lexicon(reference), GENERAL_PROBES)


def _subset(n: int, cap: int, rng: random.Random) -> list[int]:
    return list(range(n)) if cap <= 0 or n <= cap else sorted(rng.sample(range(n), cap))


def _canaries(corpus, texts: dict, users: dict) -> list[dict]:
    """Each canary with its group (forget / retain holder, or an unplanted reference) and the
    training context it follows (the text it ends, minus the secret; the bare prefix if unplanted)."""
    if "canaries" not in corpus.tables:
        return []
    contexts = {}
    for split in ("forget", "retain"):
        for text, cid in zip(texts[split]["text"], texts[split]["canary_id"]):
            if cid and cid not in contexts:
                contexts[cid] = text
    out = []
    for c in corpus.tables["canaries"]:
        if not c["planted"]:
            group, context = "reference", c["prefix"]
        elif c["canary_id"] in contexts and contexts[c["canary_id"]].endswith(c["secret"]):
            group = "forget" if c["user_id"] in users["forget"] else "retain"
            context = contexts[c["canary_id"]][: -len(c["secret"])]
        else:
            continue
        out.append({"group": group, "context": context, "secret": c["secret"], "format": c["format"],
                    "insertions": int(c["insertions"]), "user": c["user_id"] or c["canary_id"]})
    return out


def evaluate_model(model, tok, plan: EvalPlan, cfg, seed: int, device, splits=EVAL_SPLITS,
                   timings: dict | None = None, users: dict | None = None) -> dict[str, np.ndarray]:
    """Every per-item array of one model, keyed `<group>.<metric>`; `timings` (if given)
    collects the seconds spent per part (scoring, verbatim, qa, exposure, probes), `users` (if
    given) the user each item is about, per key (`item_users`)."""
    e, max_length = cfg.eval, cfg.model.max_length
    model.to(device)  # a stage loads its model on the CPU
    clock = _Clock(timings if timings is not None else {})
    arrays = {}
    for split in splits:
        rows = plan.texts[split]
        with clock("scoring"):
            scored = score(model, encode(tok, rows["text"], max_length), e.batch_size, device)
        arrays.update(_teacher_forced(split, scored, rows["text"]))
        spans = pii.pii_spans(tok, rows["text"], rows["pii"], rows["user_id"], max_length)
        if users is not None:
            users.update(item_users(plan, split, spans))
        logp = pii.span_logprob(scored, spans)
        arrays[f"{split}.pii_extraction"] = pii.span_greedy(scored, spans)
        arrays[f"{split}.pii_extraction_sampled"] = pii.np_extractable(logp, e.extraction_n, e.extraction_p)
        arrays[f"{split}.pii_logprob"] = logp
        chosen = [rows["text"][i] for i in plan.generate_rows[split]]
        if chosen:
            with clock("verbatim"):
                verb = verbatim(model, tok, chosen, max_length, e.batch_size, device, max_new=e.max_new_tokens)
            arrays[f"{split}.verbatim_rougeL"] = np.asarray(verb["rougeL"], float)
            arrays[f"{split}.verbatim_exact"] = np.asarray(verb["exact"], float)
            if split == "forget":  # gibberish is not forgetting: fluency on forget prompts
                arrays["utility.fluency"] = fluency(verb["generations"], plan.lexicon)
        if plan.qa[split]:
            with clock("qa"):
                arrays.update(_qa_arrays(split, plan.qa[split], model, tok, cfg, device))
    if "retain" in splits and plan.qa.get("qa_train"):  # the taught answers, beside the retain users
        with clock("qa"):
            arrays.update(_qa_arrays("qa_train", plan.qa["qa_train"], model, tok, cfg, device))
        if users is not None:
            users.update(qa_users("qa_train", plan.qa["qa_train"]))
    with clock("exposure"):
        arrays.update(_exposure_arrays(model, tok, plan, cfg, seed, device, splits))
    if "retain" in splits:  # a utility figure: not re-run by the forget-side attacks
        with clock("probes"):
            arrays["general.probe_correct"] = probe_eval(model, tok, plan.probes, e.batch_size, device)
    return arrays


class _Clock:
    """`with clock("part"):` adds the block's wall seconds to timings["part"]."""

    def __init__(self, timings: dict):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, part: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[part] = self.timings.get(part, 0.0) + time.perf_counter() - start


def _teacher_forced(split: str, scored, texts: list[str]) -> dict[str, np.ndarray]:
    """The per-text metrics of the scoring pass (the METRICS registry)."""
    return {f"{split}.{name}": m.fn(scored, texts) for name, m in METRICS.items()}


def item_users(plan: EvalPlan, split: str, spans: list) -> dict[str, np.ndarray]:
    """The user each item of the split's arrays is about (the unit of the cluster bootstrap): the
    author of a text or of a PII value's text, the user a question asks about, a canary's holder
    (an unplanted canary is its own unit), a general probe its own unit."""
    authors = np.asarray(plan.texts[split]["user_id"], dtype=str)
    out = {f"{split}.{name}": authors for name in METRICS}
    for name in ("pii_extraction", "pii_extraction_sampled", "pii_logprob"):
        out[f"{split}.{name}"] = np.asarray([authors[i] for i, *_ in spans], dtype=str)
    chosen = authors[plan.generate_rows[split]] if plan.generate_rows[split] else np.asarray([], dtype=str)
    out[f"{split}.verbatim_rougeL"] = out[f"{split}.verbatim_exact"] = chosen
    if split == "forget":
        out["utility.fluency"] = chosen
    if plan.qa[split]:
        out.update(qa_users(split, plan.qa[split]))
    for group in {"forget": ("forget", "reference"), "retain": ("retain",)}.get(split, ()):
        held = [c for c in plan.canaries if c["group"] == group]
        if held:
            out[f"{group}.exposure"] = np.asarray([c["user"] for c in held], dtype=str)
            for r in sorted({c["insertions"] for c in held if c["insertions"] > 0}):
                out[f"{group}.exposure_r{r}"] = np.asarray([c["user"] for c in held if c["insertions"] == r], dtype=str)
    if split == "retain":
        out["general.probe_correct"] = np.asarray([f"probe{i}" for i in range(len(plan.probes))], dtype=str)
    return out


def _exposure_arrays(model, tok, plan: EvalPlan, cfg, seed: int, device, splits) -> dict[str, np.ndarray]:
    """Exposure per canary, overall and by insertion count, per holder group."""
    e = cfg.eval
    groups = [g for g in ("forget", "retain", "reference") if g in splits or g == "reference"]
    found: dict[str, list[tuple[int, float]]] = {g: [] for g in groups}
    for c in plan.canaries:
        if c["group"] in found:
            value = canary_exposure(model, tok, c["context"], c["secret"], c["format"], e.exposure_exact_max,
                                    e.exposure_samples, seed, e.exposure_batch, device)
            found[c["group"]].append((c["insertions"], value))
    arrays = {}
    for group, items in found.items():
        if not items:
            continue
        arrays[f"{group}.exposure"] = np.array([v for _, v in items])
        for r in sorted({r for r, _ in items if r > 0}):
            arrays[f"{group}.exposure_r{r}"] = np.array([v for ins, v in items if ins == r])
    return arrays


def summarize(arrays: dict[str, np.ndarray], seed: int, n_boot: int,
              users: dict[str, np.ndarray] | None = None) -> tuple[dict, dict]:
    """(metrics, ci): the mean of every array (perplexity: geometric), the membership AUCs and
    TPR at 1% FPR (each member split vs holdout), with seeded percentile-bootstrap 95% intervals.
    Where `users` names each item's user, the bootstrap resamples users (a cluster bootstrap:
    one user's items are not independent); elsewhere items."""
    rng, users = np.random.default_rng(seed), users or {}
    metrics, ci = {}, {}
    for key in sorted(arrays):
        keep = ~np.isnan(arrays[key])
        values = arrays[key][keep]
        if key.endswith(("_score", "probe_correct")) or len(values) == 0:  # inputs of other metrics
            continue
        weights = _weights(users.get(key), keep, rng, n_boot)
        if key.endswith(".ppl"):
            metrics[key] = float(basic.geometric_mean(values))
            ci[key] = percentile_interval(np.exp(weighted_means(np.log(values), weights)))
        else:
            metrics[key] = float(np.mean(values))
            ci[key] = percentile_interval(weighted_means(values, weights))
    for split in ("forget", "retain"):
        for name in MIA_SCORES:
            pair = (f"{split}.{name}_score", f"holdout.{name}_score")
            if all(k in arrays and len(arrays[k]) for k in pair):
                key = f"{split}.mia_{name}_auc"
                metrics[key], ci[key] = auc_with_interval(arrays[pair[0]], arrays[pair[1]], rng, n_boot,
                                                          users.get(pair[0]), users.get(pair[1]))
        pair = (f"{split}.loss_score", "holdout.loss_score")
        if all(k in arrays and len(arrays[k]) for k in pair):
            metrics[f"{split}.mia_tpr_at_1fpr"] = mia.tpr_at_fpr(arrays[pair[0]], arrays[pair[1]], 0.01)
    return metrics, ci


def _weights(users, keep: np.ndarray, rng, n_boot: int) -> np.ndarray:
    """Bootstrap multiplicities of the kept items: by user where known, else by item."""
    if users is not None and len(users) == len(keep):
        return cluster_weights(np.asarray(users)[keep], rng, n_boot)
    return item_weights(int(keep.sum()), rng, n_boot)


def auc_with_interval(members: np.ndarray, nonmembers: np.ndarray, rng, n_boot: int, member_users=None,
                      nonmember_users=None) -> tuple[float, list[float]]:
    """scikit-learn AUC and a bootstrap interval resampling both groups (by user where known)."""
    w_m = _weights(member_users, np.ones(len(members), bool), rng, n_boot)
    w_n = _weights(nonmember_users, np.ones(len(nonmembers), bool), rng, n_boot)
    return mia.auc(members, nonmembers), percentile_interval(mia.auc_weighted(members, nonmembers, w_m, w_n))
