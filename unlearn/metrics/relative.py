"""Metrics that compare a model with another one, from their per-item arrays (no model pass).

- reference MIA (Carlini et al. 2021, arXiv 2012.07805): score = NLL_base − NLL_model per text,
  with the base model (before fine-tuning) as the reference; ROC-AUC member split vs holdout.
- forget quality (TOFU, arXiv 2401.06121): the KS-test p-value (scipy.stats.ks_2samp) between
  the truth ratios of the forget questions under the model and under retrain; ≥ 0.05 means the
  two are indistinguishable.
- PrivLeak (MUSE, arXiv 2407.06460): (AUC_model − AUC_retrain) / AUC_retrain × 100 with the
  Min-K% (k 0.4) forget-vs-holdout AUC; 0 is ideal, far from 0 either way leaks.
- general accuracy: accuracy on the general-knowledge probes the base model answers correctly
  (none for a model trained from scratch: the key is then absent).
- model utility (TOFU-style): the harmonic mean of utility figures in [0, 1]: retain token
  probability exp(−NLL), retain verbatim ROUGE-L, retain answer probability, retain truth score
  mean(max(0, 1 − R)), fluency on forget prompts, and general accuracy where defined. One
  collapsed figure pulls it to 0, as it should.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

from unlearn.metrics.evaluate import auc_with_interval
from unlearn.metrics.utility import harmonic_mean


def relative_metrics(arrays: dict, metrics: dict, base: dict | None, retrain: dict | None,
                     retrain_metrics: dict | None, seed: int, n_boot: int) -> tuple[dict, dict]:
    """(metrics, ci) of one model from its arrays and aggregates, the base model's arrays and
    retrain's arrays and aggregates (None where that model is missing)."""
    rng = np.random.default_rng(seed + 1)
    out, ci = {}, {}
    if base is not None:
        for split in ("forget", "retain"):
            keys = (f"{split}.nll", "holdout.nll")
            if all(k in arrays and k in base and len(arrays[k]) == len(base[k]) for k in keys):
                member, nonmember = (base[k] - arrays[k] for k in keys)
                key = f"{split}.mia_ref_auc"
                out[key], ci[key] = auc_with_interval(member, nonmember, rng, n_boot)
        probes = base.get("general.probe_correct")
        if probes is not None and probes.sum() > 0 and "general.probe_correct" in arrays:
            out["utility.general_accuracy"] = float(arrays["general.probe_correct"][probes > 0].mean())
    if retrain is not None:
        if len(arrays.get("forget.truth_ratio", [])) and len(retrain.get("forget.truth_ratio", [])):
            out["forget_quality"] = float(ks_2samp(arrays["forget.truth_ratio"], retrain["forget.truth_ratio"]).pvalue)
        if "forget.mia_mink40_auc" in metrics and "forget.mia_mink40_auc" in (retrain_metrics or {}):
            ref = retrain_metrics["forget.mia_mink40_auc"]
            out["privleak"] = (metrics["forget.mia_mink40_auc"] - ref) / ref * 100.0
    figures = _utility_figures(arrays, metrics, out)
    if figures:
        out["utility.model_utility"] = harmonic_mean(figures)
    return out, ci


def _utility_figures(arrays: dict, metrics: dict, relative: dict) -> list[float]:
    """The normalised utility figures that exist for this model."""
    figures = []
    if "retain.nll" in metrics:
        figures.append(float(np.exp(-metrics["retain.nll"])))
    for key in ("retain.verbatim_rougeL", "retain.qa_answer_prob", "utility.fluency"):
        if key in metrics:
            figures.append(metrics[key])
    ratio = arrays.get("retain.truth_ratio")
    if ratio is not None and len(ratio):
        figures.append(float(np.mean(np.maximum(0.0, 1.0 - ratio))))
    if "utility.general_accuracy" in relative:
        figures.append(relative["utility.general_accuracy"])
    return figures
