"""Fair tuning: every method gets the same sweep budget and the same selection rule.

Each method's YAML declares a small `grid` (lr, epochs/steps, its main knob). With `tune=true`
every variant is run (each is an ordinary, cached unlearn stage) and scored on a *validation*
part of the data: a seeded `val_fraction` of the forget texts and of the retain texts. Those
texts are then left out of every model's evaluation, so selection never sees a test metric.

Rule (declared, the same for all methods): among the variants whose retain utility on the
validation texts is at least `min_utility` of the retrain reference's (the mean validation
retain NLL of the retrain replicates: what a model that never saw the objecting users keeps) —
utility = 1/perplexity, so the ratio is exp(NLL_reference − NLL_variant) — pick the one whose
validation forget NLL is closest to the retrain model's; if no variant keeps that much utility,
pick the one that keeps the most and flag it. The floor is the reference's, not the original's:
retrain itself may keep less than the original (it did on several quick seeds), and a floor it
fails would forbid reaching it. Retrain is the target because it is what an exact removal would give
(the open-unlearning "closest to retrain" protocol); note that a real platform would not have
it, which the report states.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import random

from unlearn.config import MethodSpec

RULE = ("closest validation forget NLL to retrain's, among variants keeping retain utility "
        "exp(NLL_reference - NLL_variant) >= {min_utility} (the retrain replicates' mean); else the variant "
        "keeping the most utility")


def variants(spec: MethodSpec) -> list[MethodSpec]:
    """Every combination of the grid's values applied to the spec (its own settings first)."""
    if not spec.grid:
        return [spec]
    keys = [k for k, _ in spec.grid]
    out = []
    for values in itertools.product(*(v for _, v in spec.grid)):
        train, params = spec.train, spec.params
        for key, value in zip(keys, values):
            if hasattr(train, key):
                train = dataclasses.replace(train, **{key: type(getattr(train, key))(value)})
            else:
                params = dataclasses.replace(params, **{key: type(getattr(params, key))(value)})
        out.append(dataclasses.replace(spec, train=train, params=params))
    return out


def validation_indices(n_forget: int, n_retain: int, fraction: float, seed: int) -> dict[str, list[int]]:
    """Seeded validation rows of the forget and retain splits (at least one each)."""
    rng = random.Random(f"validation-{seed}")
    return {split: sorted(rng.sample(range(n), max(1, round(fraction * n))))
            for split, n in (("forget", n_forget), ("retain", n_retain))}


def select(rows: list[dict], target_forget_nll: float, reference_retain_nll: float,
           min_utility: float) -> tuple[int, bool]:
    """Index of the chosen row (each has `forget_nll`, `retain_nll`) and whether it met the floor."""
    utility = [math.exp(reference_retain_nll - r["retain_nll"]) for r in rows]
    eligible = [i for i, u in enumerate(utility) if u >= min_utility]
    if eligible:
        return min(eligible, key=lambda i: (abs(rows[i]["forget_nll"] - target_forget_nll), i)), True
    return max(range(len(rows)), key=lambda i: (utility[i], -i)), False


def describe(spec: MethodSpec) -> dict:
    """The swept values of one variant, for the tuning table."""
    return {key: getattr(spec.train, key) if hasattr(spec.train, key) else getattr(spec.params, key)
            for key, _ in spec.grid}
