"""Metrics. `METRICS`: per-example metrics over the shared scoring pass; `DERIVED`: summaries
that read other metrics' per-example arrays and never run the model.

Each entry records how it aggregates, its direction (`higher_is_memorized`: does a higher value
mean the model holds more of the data? None where the direction depends on the split) and a
`version` that changes whenever the definition changes (it is part of the evaluation cache key).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from unlearn.metrics import basic, mia


@dataclass(frozen=True)
class Metric:
    fn: Callable  # (Scored, examples) -> per-example np.ndarray
    aggregate: Callable[[np.ndarray], float]
    higher_is_memorized: bool | None
    version: int


@dataclass(frozen=True)
class Derived:
    fn: Callable  # (arrays: {split: {metric: np.ndarray}}, split) -> float
    splits: tuple[str, ...]  # the member splits it is reported for
    higher_is_memorized: bool | None
    version: int


METRICS = {
    "nll": Metric(basic.nll, np.mean, False, 1),
    "ppl": Metric(basic.ppl, basic.geometric_mean, False, 1),
    "loss_score": Metric(basic.loss_score, np.mean, True, 1),
}

DERIVED = {
    # LOSS attack: members (forget or retain texts) vs holdout users' texts
    "mia_loss_auc": Derived(
        lambda arrays, split: mia.auc(arrays[split]["loss_score"], arrays["holdout"]["loss_score"]),
        ("forget", "retain"), True, 1),
}


def versions() -> dict[str, int]:
    """Metric name -> version, for cache keys and provenance."""
    return {**{k: m.version for k, m in METRICS.items()}, **{k: d.version for k, d in DERIVED.items()}}
