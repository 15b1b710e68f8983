"""What an attack brings back, as numbers the verdict compares with the retrain reference
(shared by every attack; report/verdict.py holds the tests).

For a model M, an attack setting s and the attack's recovery array x (per item: a fact, a text,
a user; higher = more of the forgotten data): the *post-attack level* of the headline (strongest)
setting, `attacks.<a>.level` = mean_i x_i(M, s), is what the verdict compares with the reference
models' post-attack levels under the same attack: a model only *suppressed* the data if, after the
attack, it holds more than retrain models do after it. Levels, not increments: a model that starts
further from retrain is not penalised for the distance, nor one that starts closer rewarded.
`attacks.<a>.<setting>.recovery` = level(s) − level(baseline) is reported beside, per setting.
"""
from __future__ import annotations

import numpy as np


def summarize_attack(name: str, arrays: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """`attacks.<name>.<setting>.<metric>`: the mean of every per-item array (NaNs ignored)."""
    out = {}
    for setting, per in arrays.items():
        for key, values in per.items():
            values = np.asarray(values, float)
            if len(values) and not np.isnan(values).all() and not key.endswith("_score"):
                out[f"attacks.{name}.{setting}.{key}"] = float(np.nanmean(values))
    return out


def level(arrays: dict[str, dict[str, np.ndarray]], setting: str, key: str) -> float | None:
    """Mean of array `key` after `setting` (None if missing or all NaN)."""
    values = np.asarray(arrays.get(setting, {}).get(key, []), float)
    if not len(values) or np.isnan(values).all():
        return None
    return float(np.nanmean(values))


def level_metrics(name: str, key: str, baselines: dict[str, str], arrays: dict, headline: str) -> dict[str, float]:
    """The headline setting's post-attack level (`attacks.<name>.level`) and each attacked
    setting's recovery over its baseline (`baselines`: setting -> the setting it is compared with)."""
    out = {}
    top = level(arrays, headline, key)
    if top is not None:  # an attack with one setting only (the probe) has a level, no recovery
        out[f"attacks.{name}.level"] = top
    for setting, baseline in baselines.items():
        after, before = level(arrays, setting, key), level(arrays, baseline, key)
        if after is None or before is None:
            continue
        out[f"attacks.{name}.{setting}.recovery"] = after - before
        if setting == headline:
            out[f"attacks.{name}.recovery"] = after - before
    return out
