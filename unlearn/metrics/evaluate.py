"""Evaluate one model: score each split once, compute every metric, bootstrap intervals.

Output keys are `<split>.<metric>` (e.g. `forget.nll`, `forget.mia_loss_auc`); intervals are
seeded percentile bootstraps over examples (95%, 1,000 resamples; for AUCs both groups are
resampled).
"""
from __future__ import annotations

import numpy as np

from unlearn.data import encode
from unlearn.metrics import DERIVED, METRICS
from unlearn.metrics.scoring import Scored, score

EVAL_SPLITS = ("forget", "retain", "holdout")
N_BOOT = 1000


def score_splits(model, tokenizer, texts, max_length: int, batch_size: int, max_examples: int,
                 device) -> dict[str, Scored]:
    """The shared scoring pass for every evaluated split."""
    out = {}
    for split in EVAL_SPLITS:
        rows = texts[split]["text"]
        rows = rows[:max_examples] if max_examples > 0 else rows
        out[split] = score(model, encode(tokenizer, rows, max_length), batch_size, device)
    return out


def compute_metrics(scored: dict[str, Scored], seed: int) -> tuple[dict, dict, dict]:
    """(metrics, ci, per-example arrays) from the scored splits."""
    arrays = {s: {name: m.fn(sc) for name, m in METRICS.items()} for s, sc in scored.items()}
    rng = np.random.default_rng(seed)
    metrics, ci = {}, {}
    for split, per in arrays.items():
        for name, m in METRICS.items():
            values = per[name]
            if len(values) == 0:
                continue
            metrics[f"{split}.{name}"] = float(m.aggregate(values))
            boots = [m.aggregate(values[rng.integers(0, len(values), len(values))]) for _ in range(N_BOOT)]
            ci[f"{split}.{name}"] = _interval(boots)
    for name, d in DERIVED.items():
        for split in d.splits:
            if len(arrays[split]["nll"]) == 0 or len(arrays["holdout"]["nll"]) == 0:
                continue
            key = f"{split}.{name}"
            metrics[key] = d.fn(arrays, split)
            ci[key] = _interval([d.fn(_resample(arrays, (split, "holdout"), rng), split) for _ in range(N_BOOT)])
    return metrics, ci, arrays


def _resample(arrays: dict, splits: tuple[str, ...], rng) -> dict:
    """One bootstrap draw of the named splits' example rows (metrics stay aligned)."""
    out = {}
    for s in splits:
        n = len(next(iter(arrays[s].values())))
        idx = rng.integers(0, n, n)
        out[s] = {k: v[idx] for k, v in arrays[s].items()}
    return out


def _interval(values) -> list[float]:
    lo, hi = np.percentile(np.asarray(values, dtype=float), [2.5, 97.5])
    return [float(lo), float(hi)]
