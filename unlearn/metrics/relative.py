"""Metrics that compare a model with other models, from their per-item arrays (no model pass).
The retrain reference is a set of K retrain models (the replicates); a replicate itself is
compared with the others (leave one out), so its figures show what retrain-vs-retrain looks like.

- reference MIA (Carlini et al. 2021, arXiv 2012.07805): score = NLL_base − NLL_model per text,
  with the base model (before fine-tuning) as the reference; ROC-AUC member split vs holdout.
- forget quality (TOFU, arXiv 2401.06121): a KS test (scipy.stats.ks_2samp) of the truth ratios on
  the forget questions under the model against the reference. Deviations, both because users are
  the unit: each user's truth ratios are averaged first (their questions are not independent), so
  the effective n is the number of users asked (`forget_quality_users`); the reference's value per
  user is the mean over its models. And the test is one-sided (alternative: the model's truth
  ratios are stochastically *lower*, i.e. the model prefers the true answer more than retrain does,
  the direction of memorization), so that a model that forgets more than retrain is not counted as
  leaking. p ≥ 0.05: no evidence of memorization; `forget_quality_d` is the statistic D+.
- PrivLeak (MUSE, arXiv 2407.06460, its convention): forget texts labelled non-members and holdout
  texts members, AUC_MUSE = 1 − our forget-vs-holdout Min-K% (k 0.4) AUC;
  PrivLeak = (AUC_MUSE(model) − AUC_MUSE(ref)) / AUC_MUSE(ref) × 100, AUC_MUSE(ref) the reference
  models' mean. 0 is ideal; an un-unlearned model scores about −100; large positive values mean
  over-unlearning. Its interval maps the model's AUC interval (the reference taken as given).
- general accuracy: accuracy on the general-knowledge probes the base model answers correctly
  (none for a model trained from scratch: the key is then absent).
- model utility (TOFU-style, version 2): the harmonic mean of utility figures in [0, 1]: retain QA
  accuracy (what the assistant answers correctly about non-objecting users whose questions it was
  never trained on: knowledge it got from their posts), retain token probability exp(−NLL),
  fluency on forget prompts, and general accuracy where defined (pretrained models). One collapsed
  figure pulls it to 0, as it should. Version 1 also held the retain answer probability, truth
  score and verbatim ROUGE-L; the first sat near 0.017 for every model and so dominated the mean.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

from unlearn.metrics.evaluate import auc_with_interval
from unlearn.metrics.utility import harmonic_mean

PRIVLEAK_AUC = "forget.mia_mink40_auc"


def per_user(values: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """Each user's mean of `values` (NaNs left out)."""
    out = {}
    for u in np.unique(users):
        picked = values[(users == u) & ~np.isnan(values)]
        if len(picked):
            out[str(u)] = float(picked.mean())
    return out


def forget_quality(model: dict[str, float], reference: list[dict[str, float]]) -> dict[str, float]:
    """The one-sided user-level KS test of per-user truth ratios (module docstring)."""
    users = sorted(set(model).intersection(*reference)) if reference else []
    if len(users) < 1:
        return {}
    mine = np.array([model[u] for u in users])
    theirs = np.array([np.mean([r[u] for r in reference]) for u in users])
    test = ks_2samp(mine, theirs, alternative="greater")  # H1: the model's CDF lies above: lower ratios
    return {"forget_quality": float(test.pvalue), "forget_quality_d": float(test.statistic),
            "forget_quality_users": float(len(users))}


def privleak(auc: float, auc_ci: list[float] | None, reference_aucs: list[float]) -> tuple[float, list[float] | None]:
    """MUSE's PrivLeak in % from our forget-vs-holdout AUCs (forget = members): (value, interval)."""
    ref = float(np.mean([1.0 - a for a in reference_aucs]))
    leak = lambda a: ((1.0 - a) - ref) / ref * 100.0  # noqa: E731  (decreasing in our AUC)
    return leak(auc), (sorted([leak(auc_ci[1]), leak(auc_ci[0])]) if auc_ci else None)


def relative_metrics(arrays: dict, metrics: dict, ci_in: dict, users: dict, base: dict | None,
                     reference: list[tuple[dict, dict, dict]], seed: int, n_boot: int) -> tuple[dict, dict]:
    """(metrics, ci) of one model from its arrays, aggregates, intervals and item users, the base
    model's arrays, and the reference models' (arrays, aggregates, item users) — the other
    replicates for a replicate, all of them for any other model; empty where there is none."""
    rng = np.random.default_rng(seed + 1)
    out, ci = {}, {}
    if base is not None:
        for split in ("forget", "retain"):
            keys = (f"{split}.nll", "holdout.nll")
            if all(k in arrays and k in base and len(arrays[k]) == len(base[k]) for k in keys):
                member, nonmember = (base[k] - arrays[k] for k in keys)
                key = f"{split}.mia_ref_auc"
                out[key], ci[key] = auc_with_interval(member, nonmember, rng, n_boot, *(users.get(k) for k in keys))
        probes = base.get("general.probe_correct")
        if probes is not None and probes.sum() > 0 and "general.probe_correct" in arrays:
            out["utility.general_accuracy"] = float(arrays["general.probe_correct"][probes > 0].mean())
    if reference:
        key = "forget.truth_ratio"
        if len(arrays.get(key, [])) and key in users and all(len(a.get(key, [])) and key in u for a, _, u in reference):
            out.update(forget_quality(per_user(arrays[key], users[key]),
                                      [per_user(a[key], u[key]) for a, _, u in reference]))
        if PRIVLEAK_AUC in metrics and all(PRIVLEAK_AUC in m for _, m, _ in reference):
            out["privleak"], interval = privleak(metrics[PRIVLEAK_AUC], ci_in.get(PRIVLEAK_AUC),
                                                 [m[PRIVLEAK_AUC] for _, m, _ in reference])
            if interval:
                ci["privleak"] = interval
    figures = _utility_figures(arrays, metrics, out)
    if figures:
        out["utility.model_utility"] = harmonic_mean(figures)
    return out, ci


def _utility_figures(arrays: dict, metrics: dict, relative: dict) -> list[float]:
    """The normalised utility figures that exist for this model (module docstring)."""
    figures = []
    if "retain.qa_accuracy" in metrics:
        figures.append(metrics["retain.qa_accuracy"])
    if "retain.nll" in metrics:
        figures.append(float(np.exp(-metrics["retain.nll"])))
    if "utility.fluency" in metrics:
        figures.append(metrics["utility.fluency"])
    if "utility.general_accuracy" in relative:
        figures.append(relative["utility.general_accuracy"])
    return figures
