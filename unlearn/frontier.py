"""The removal frontier: every approximate method at growing strength, judged at each point
against the retrain reference, up to the first point no plain test tells from it — or until
utility collapses.

Strength axis: optimizer steps at the method's own learning rate (every method's schedule is
constant, without warm-up, and its seeded batch stream does not depend on the run's length, so
the checkpoint after n steps of one long run is the model a run of n steps gives; the task
vector's negation is applied to each checkpoint). Points: `frontier.multipliers` × the method's
configured step count, in one training run per method and seed (`frontier-<method>` stage, a
model folder per point); point 0 is the original itself. With `tune: true` each seed's curve
starts from the variant tuning chose for that seed (its lr, epochs and knob), not the configured one.

At each point, in order, every seed's checkpoint is evaluated (cached like any stage) and
compared with its seed's reference replicates, and the seeds together are judged by the plain
tests of the verdict (report/verdict.py: each plain measurement with power, Holm-corrected).
The walk stops at the first of:
- `reference`: no plain test separates the point from the reference (the first
  indistinguishable point); its attacks are then run and its full verdict recorded;
- `collapse`: retain NLL ≥ `collapse_retain_nll` × the reference's, or fluency <
  `collapse_fluency` × the original's (utility is gone; further strength only destroys more);
- `diverged`: the method's loss became non-finite before the point;
- `budget`: the last multiplier was judged and still separates.

Cost at a point = the wall time of the training run up to that step (checkpoint saving
excluded), against the retrain reference's fine-tuning time: a reported figure, never a cap.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import replace
from pathlib import Path

from unlearn.config import compute_key, to_dict
from unlearn.data import encode
from unlearn.measure import attack_stage, calibrate_relearning, compare, evaluate_stage
from unlearn.methods import METHODS
from unlearn.methods.stage import apply_method
from unlearn.models import load_model
from unlearn.train import save_log, total_steps
from unlearn.tuning import describe as describe_variant, variants


def ladder(spec, n_forget: int, multipliers) -> list[int]:
    """The step count of each point, in the order of the sorted multipliers: multiplier × the
    method's configured step count on this seed's forget split, rounded, at least 1."""
    base = total_steps(spec.train, n_forget)
    return [max(1, round(m * base)) for m in sorted(multipliers)]


def frontier_stage(cfg, spec, seed: int, start_model: Path, texts: dict, steps: list[int], out: Path, acc) -> dict:
    """Train `spec` once to max(steps) from `start_model`, saving the model after each count in
    `steps` (`step-<n>/`); the outcome lists every saved point with its training wall time."""
    method = METHODS[spec.name](spec.params)
    model, tok = load_model(start_model)
    ref = copy.deepcopy(model) if method.needs_ref else None
    splits = {"forget": encode(tok, texts["forget"]["text"], cfg.model.max_length)}
    if method.needs_retain:
        splits["retain"] = encode(tok, texts["retain"]["text"], cfg.model.max_length)
    aligned = {}
    if hasattr(method, "aligned_texts"):
        forget = texts["forget"]
        aligned = {name: encode(tok, rows, cfg.model.max_length)
                   for name, rows in method.aligned_texts(forget["text"], forget["lang"], forget["pii"]).items()}
    steps = sorted(set(steps))
    last = max(steps)
    train_cfg = replace(spec.train, max_steps=last, epochs=float(last), log_every=math.gcd(*steps),
                        stop_forget_nll=0.0)  # at least one step per epoch: max_steps decides
    start, saving, points = time.perf_counter(), [0.0], []

    def save(step, unwrapped) -> dict:
        if step not in steps:
            return {}
        begin = time.perf_counter()
        points.append({"step": step, "model_path": f"step-{step}",
                       "wall_s": begin - start - saving[0]})
        if acc.is_main_process:
            point = unwrapped
            if hasattr(method, "finish"):  # a weight-space step after training (task-vector negation)
                point = copy.deepcopy(unwrapped)
                method.finish(point, ref)
            point.save_pretrained(out / f"step-{step}", safe_serialization=True)
            tok.save_pretrained(out / f"step-{step}")
            del point
        saving[0] += time.perf_counter() - begin
        return {}

    method_without_finish = copy.copy(method)
    if hasattr(method, "finish"):  # applied per checkpoint above, never to the training model
        method_without_finish.finish = lambda model, ref_model: None
    result = apply_method(method_without_finish, model, ref, splits, train_cfg, seed, acc, callback=save,
                          aligned=aligned)
    if acc.is_main_process:
        save_log(result, out / "train_log.json")
    return {"status": result.status, "message": result.message, "steps": result.steps, "points": points}


def run_frontier(cfg, per_seed: dict, stages, acc, debug: bool = False) -> dict:
    """{method: {"strength", "points", "first_indistinguishable", "stopped_by"}} (module docstring),
    from the finished per-seed results `per_seed` = {seed: {model: entry}}."""
    from unlearn.pipeline import fit, prepare
    from unlearn.report.verdict import verdicts
    from unlearn.results import aggregate

    seeds = list(per_seed)
    runs = {}
    for seed in seeds:
        run, base_dir, _ = prepare(cfg, seed, stages, acc)
        original = fit(run, base_dir, "original", "train")
        if "relearn" in cfg.attacks.names and cfg.attacks.relearn_lr_candidates:
            calibrate_relearning(run, *original)
        runs[seed] = (run, original)
    fixed = {name: aggregate([per_seed[s][name] for s in seeds], seeds) for name in ("retrain", "original")}
    ref_nll = fixed["retrain"]["metrics"].get("retain.nll")
    orig_fluency = fixed["original"]["metrics"].get("utility.fluency")
    ref_wall = float(fixed["retrain"]["cost"]["wall_s"])
    ref_utility = fixed["retrain"]["metrics"].get("utility.model_utility")
    names = cfg.frontier.methods or [s.name for s in cfg.methods if METHODS[s.name](s.params).trains]
    out = {}
    for configured in [s for s in cfg.methods if s.name in names]:
        specs = {seed: tuned_spec(configured, per_seed[seed]) for seed in seeds}
        folders = {}
        for seed in seeds:
            spec = specs[seed]
            run, (start_dir, start_info) = runs[seed]
            steps = ladder(spec, len(run.corpus.texts["forget"]), cfg.frontier.multipliers)
            key = {"original": start_dir.name, "corpus": run.corpus_dir.name,
                   "method": {k: v for k, v in to_dict(spec).items() if k != "grid"},
                   "max_length": cfg.model.max_length, "seed": seed, "steps": steps, **compute_key(cfg)}
            start_model = (start_dir / start_info["model_path"]).resolve()
            folders[seed] = (*run.stages.run(
                f"frontier-{spec.name}", key,
                lambda o, run=run, seed=seed, steps=steps, start_model=start_model, spec=spec: frontier_stage(
                    cfg, spec, seed, start_model, run.corpus.texts, steps, o, acc)), steps)
        out[configured.name] = _walk(cfg, specs, runs, per_seed, folders, fixed, ref_nll, orig_fluency, ref_wall,
                                     ref_utility, verdicts, aggregate)
        done = out[configured.name]
        if any(specs[seed] is not configured for seed in seeds):  # tune: true chose a variant per seed
            done["tuned"] = {str(seed): describe_variant(specs[seed]) for seed in seeds}
            done["strength"] += " (the variant tuning chose for each seed)"
        stages.say(f"[frontier] {configured.name}: {done['stopped_by']}"
                   + (f" at {done['first_indistinguishable']['strength']:g}x its steps"
                      if done["first_indistinguishable"] else ""))
    return out


def phase_stages(stages, marks: tuple[int, int]) -> dict:
    """The stages the frontier phase used, from `marks` = (cached, built) counts before it: how many
    it built and took from a cache, and how many of its trainings (`frontier-<method>`) came from a
    cache (0: the frontier itself was computed by this run, whatever the finished experiment under it)."""
    hits, built = stages.hits[marks[0]:], stages.built[marks[1]:]
    return {"built": len(built), "cached": len(hits),
            "trainings_built": sum(n.startswith("frontier-") for n in built),
            "trainings_cached": sum(n.startswith("frontier-") for n in hits)}


def tuned_spec(spec, seed_results: dict):
    """The variant tuning chose for this seed (`tune: true`), else the configured spec."""
    record = (seed_results.get(spec.name) or {}).get("tuning")
    if not record or record.get("chosen") is None:
        return spec
    return variants(spec)[record["chosen"]]


def _walk(cfg, specs, runs, per_seed, folders, fixed, ref_nll, orig_fluency, ref_wall, ref_utility,
          verdicts, aggregate) -> dict:
    """Judge one method's points in order until a stop rule fires (`walk`). Points are aligned
    across seeds by multiplier: each seed's forget split, hence its step count, differs."""
    seeds = list(per_seed)
    saved = {seed: {p["step"]: p for p in info["points"]} for seed, (_, info, _) in folders.items()}
    multipliers = sorted(cfg.frontier.multipliers)
    at = {m: {seed: folders[seed][2][i] for seed in seeds} for i, m in enumerate(multipliers)}
    strengths = [m for i, m in enumerate(multipliers) if i == 0 or at[m] != at[multipliers[i - 1]]]

    def point_at(m, attack=False):
        if not all(at[m][s] in saved[s] for s in seeds):  # a seed diverged before this point
            return None
        entries = [_point_entry(runs[s][0], per_seed[s], folders[s][0],
                                {"status": "ok", "steps": at[m][s], **saved[s][at[m][s]]}, attack) for s in seeds]
        return aggregate(entries, seeds)

    def judge(model):
        return verdicts({**fixed, "point": model}, cfg.verdict.alpha, cfg.verdict.margin).get("point", {})

    def describe(m, model):
        metrics = model["metrics"]
        return {"strength": m, "steps": {str(s): at[m][s] for s in seeds},
                "utility": metrics.get("utility.model_utility"),
                "utility_vs_retrain": _ratio(metrics.get("utility.model_utility"), ref_utility),
                "cost_vs_retrain": _ratio(model["cost"]["wall_s"], ref_wall),
                "retain_nll": metrics.get("retain.nll"), "forget_nll": metrics.get("forget.nll"),
                "fluency": metrics.get("utility.fluency")}

    record = walk(strengths, point_at, judge, describe, lambda metrics: _collapsed(cfg, metrics, ref_nll, orig_fluency))
    if record["stopped_by"] == "diverged":
        record["message"] = next((info.get("message") for _, info, _ in folders.values() if info["status"] != "ok"), "")
    lrs = ", ".join(f"{lr:g}" for lr in sorted({s.train.lr for s in specs.values()}))
    return {"strength": f"x the method's own step count, at its lr {lrs}", **record}


def walk(steps, point_at, judge, describe, collapsed) -> dict:
    """The frontier walk over the strengths `steps` in order (module docstring): `point_at(step,
    attack=False)` gives the point's model entry over the seeds (None: not reached, the method
    diverged), `judge(model)` its verdict, `describe(step, model)` its row, `collapsed(metrics)` the
    collapse rule it meets, if any. At the first point no plain test separates, the point is
    measured again with its attacks and judged in full."""
    record = {"points": [], "first_indistinguishable": None, "stopped_by": "budget"}
    for step in steps:
        model = point_at(step)
        if model is None:
            record["stopped_by"] = "diverged"
            break
        plain = [p for p in judge(model).get("parts", []) if p["channel"] != "attack"]
        row = {**describe(step, model), "separated_by": [p["name"] for p in plain if p["separates"]],
               "over_unlearned": [p["name"] for p in plain if p["over"]]}
        record["points"].append(row)
        rule = collapsed(model["metrics"])
        if rule:
            record.update(stopped_by="collapse", collapse=rule)
            break
        if plain and not row["separated_by"]:
            full = judge(point_at(step, attack=True))
            record["first_indistinguishable"] = {**row, "verdict": full.get("verdict"), "reason": full.get("reason")}
            record["stopped_by"] = "reference"
            break
    return record


def _point_entry(run, seed_out: dict, folder: Path, info: dict, attack: bool = False) -> dict:
    """One seed's evaluation entry of a point, compared with its seed's reference replicates."""
    entry = evaluate_stage(run, "approximate", folder, info)
    entry.pop("curves", None)
    if attack:
        entry["attack_dir"] = attack_stage(run, folder, info)
    retrain = seed_out["retrain"]
    group = {"point": entry, "base": seed_out["base"]}
    for r, (dirs, metrics) in enumerate(zip(retrain["replicate_dirs"], retrain["replicates"])):
        group[f"retrain@{r}"] = {"kind": "retrain", "eval_dir": dirs["eval_dir"], "metrics": dict(metrics), "ci": {}}
    compare(run, group, only={"point"})
    return entry


def _collapsed(cfg, metrics: dict, ref_nll, orig_fluency) -> str | None:
    """Which collapse rule the point meets (None: none)."""
    nll, fluency = metrics.get("retain.nll"), metrics.get("utility.fluency")
    if nll is not None and ref_nll and nll >= cfg.frontier.collapse_retain_nll * ref_nll:
        return f"retain NLL {nll:.3g} >= {cfg.frontier.collapse_retain_nll:g} x the reference's {ref_nll:.3g}"
    if fluency is not None and orig_fluency and fluency < cfg.frontier.collapse_fluency * orig_fluency:
        return f"fluency {fluency:.3g} < {cfg.frontier.collapse_fluency:g} x the original's {orig_fluency:.3g}"
    return None


def _ratio(a, b):
    return float(a) / float(b) if a is not None and b else None
