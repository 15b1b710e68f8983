"""Recovery under attack, judged against the retrain control (shared/SCIENCE.md "Attacks").

For a model M, an attack setting s and the attack's recovery array x (per item: a fact, a text,
a user; higher = more of the forgotten data), recovery_i(M, s) = x_i(M, s) − x_i(M, baseline).
A method only *suppressed* the data if the attack brings back significantly more than it does
on retrain, which never saw it: the test is a two-sided Wilcoxon signed-rank test (scipy) over
items of d_i = recovery_i(method, s) − recovery_i(retrain, s) — the items are the same for both
models, so the test is paired. Reported: the mean recovery, the mean difference to retrain and
its p-value; p = 1 when every difference is zero.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import wilcoxon


def summarize_attack(name: str, arrays: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """`attacks.<name>.<setting>.<metric>`: the mean of every per-item array (NaNs ignored)."""
    out = {}
    for setting, per in arrays.items():
        for key, values in per.items():
            values = np.asarray(values, float)
            if len(values) and not np.isnan(values).all() and not key.endswith("_score"):
                out[f"attacks.{name}.{setting}.{key}"] = float(np.nanmean(values))
    return out


def recovery(arrays: dict[str, dict[str, np.ndarray]], baseline: str, setting: str, key: str) -> np.ndarray | None:
    """Per-item recovery of `setting` over `baseline` on array `key` (None if either is missing)."""
    if key not in arrays.get(baseline, {}) or key not in arrays.get(setting, {}):
        return None
    return np.asarray(arrays[setting][key], float) - np.asarray(arrays[baseline][key], float)


def paired_test(model_rec: np.ndarray, control_rec: np.ndarray) -> tuple[float, float]:
    """(mean difference, two-sided Wilcoxon signed-rank p-value) of model − control recoveries."""
    keep = ~(np.isnan(model_rec) | np.isnan(control_rec))
    diff = model_rec[keep] - control_rec[keep]
    if len(diff) == 0:
        return float("nan"), float("nan")
    if np.all(diff == 0):
        return 0.0, 1.0
    return float(diff.mean()), float(wilcoxon(diff).pvalue)


def recovery_metrics(name: str, key: str, baselines: dict[str, str], model: dict, control: dict | None,
                     headline: str) -> dict[str, float]:
    """Recovery of every attacked setting (`baselines`: setting -> the setting it is compared
    with), vs the control where given; the headline setting's figures also under
    `attacks.<name>.recovery_vs_retrain` (and `_p`)."""
    out = {}
    for setting, baseline in baselines.items():
        rec = recovery(model, baseline, setting, key)
        if rec is None:
            continue
        out[f"attacks.{name}.{setting}.recovery"] = float(np.nanmean(rec)) if len(rec) else float("nan")
        ctrl = recovery(control, baseline, setting, key) if control is not None else None
        if ctrl is not None and len(ctrl) == len(rec):
            diff, p = paired_test(rec, ctrl)
            out[f"attacks.{name}.{setting}.recovery_vs_retrain"] = diff
            out[f"attacks.{name}.{setting}.recovery_vs_retrain_p"] = p
            if setting == headline:
                out[f"attacks.{name}.recovery_vs_retrain"] = diff
                out[f"attacks.{name}.recovery_vs_retrain_p"] = p
    return out
