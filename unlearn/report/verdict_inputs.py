"""What the verdict reads from results.json's models: one model's values per seed, the reference
replicates' values and their pooled spread, and whether the relearning attack was calibrated well
enough to enter the verdicts (report/verdict.py)."""
from __future__ import annotations

import math

import numpy as np


RELEARN_TOLERANCE = 0.05  # attacks.relearn_tolerance's default, for results without a calibration record


def miscalibrated(models: dict) -> dict[str, str]:
    """{attack: reason} for attacks that make the original *worse* at the data they should bring
    back: relearning the original on part of its forget data must not raise its NLL on the rest by
    more than the tolerance (the sanity check of Hu et al., arXiv 2406.13356). A calibration
    (attacks/relearn.py) in which no candidate rate passed, or a mean rise beyond the tolerance on
    the attack's own held-out part, means the rate is too high for this model. Such an attack is
    left out of the verdicts."""
    original = models.get("original") or {}
    records = {s: r for s, r in (original.get("relearn_calibration") or {}).items() if r}
    failed = sorted(seed for seed, r in records.items() if not r.get("calibrated"))
    if failed:
        return {"relearn": (f"miscalibrated: every candidate relearning rate raised the original's held-out forget "
                            f"NLL beyond the tolerance (seed {', '.join(failed)}); add smaller "
                            "attacks.relearn_lr_candidates")}
    tolerance = next(iter(records.values())).get("tolerance", RELEARN_TOLERANCE) if records else RELEARN_TOLERANCE
    recovery = seed_values(original, "attacks.relearn.recovery") if original else {}
    levels = seed_values(original, "attacks.relearn.level") if original else {}
    rises = []  # relative rise of the original's V NLL: recovery = level_after - level_before, level = -NLL
    for seed, rec in recovery.items():
        before = rec - levels[seed] if seed in levels else None
        rises.append(-rec / before if before and before > 0 else (float("inf") if rec < 0 else 0.0))
    if rises and float(np.mean(rises)) > tolerance:
        return {"relearn": (f"miscalibrated: relearning raises the original's NLL on the held-out forget part by "
                            f"{float(np.mean(rises)):.0%} (recovery {float(np.mean(list(recovery.values()))):+.3g}), "
                            f"more than {tolerance:.0%}; lower attacks.relearn_lr or calibrate it with "
                            "attacks.relearn_lr_candidates")}
    return {}


def seed_values(m: dict, key: str) -> dict[str, float]:
    """{seed: value} of `key` for a model (its per-seed metrics, or the aggregate for one seed)."""
    per = m.get("per_seed") or {}
    if per:
        return {s: float(v[key]) for s, v in per.items() if v.get(key) is not None and math.isfinite(v[key])}
    value = m.get("metrics", {}).get(key)
    return {"0": float(value)} if value is not None else {}


def replicate_values(retrain: dict, key: str) -> dict[str, list[float]]:
    """{seed: [value of each reference replicate]} (one replicate when the run has none)."""
    reps = retrain.get("replicates")
    if not reps:
        return {s: [v] for s, v in seed_values(retrain, key).items()}
    return {s: [float(r[key]) for r in rows if r.get(key) is not None and math.isfinite(r[key])]
            for s, rows in reps.items()}


def spread(ref: dict[str, list[float]]) -> tuple[float, int]:
    """(σ̂, df): the replicates' standard deviation pooled over seeds."""
    df = sum(len(v) - 1 for v in ref.values() if v)
    if df < 1:
        return float("nan"), 0
    ss = sum(float(((np.asarray(v) - np.mean(v)) ** 2).sum()) for v in ref.values() if v)
    return math.sqrt(ss / df), df
