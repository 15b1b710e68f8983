"""Membership inference: per-example scores (higher = more likely a training member) and the
summaries over them (derived: no model pass).

Scores, from the shared scoring pass (token log-probs ℓ_t, vocabulary mean μ_t and std σ_t):
- LOSS (Yeom et al. 2018, arXiv 1709.01604): −NLL (see basic.loss_score).
- zlib (Carlini et al. 2021, arXiv 2012.07805): −NLL / zlib(text), with NLL the mean token NLL
  (the log-perplexity) and zlib(text) the zlib-compressed byte length of the UTF-8 text.
- reference (Carlini et al. 2021): NLL_ref − NLL_target with ref = the base model before
  fine-tuning; computed across models (metrics/relative.py).
- Min-K% (Shi et al. 2023, arXiv 2310.16789): mean of the lowest ⌈k·T⌉ token log-probs, k 0.2/0.4.
- Min-K%++ (Zhang et al. 2024, arXiv 2404.02936, eq. 2): the same over the standardised
  log-probs (ℓ_t − μ_t) / σ_t, k = 0.2 (the paper's default range is 0.1–0.3).
Summaries: ROC-AUC via scikit-learn (0.5 = the attacker learns nothing), its rank form
(Mann–Whitney U / n_m n_n, identical; `auc_weighted` computes it for many bootstrap resamples at once), and the TPR at 1%
FPR (Carlini et al. 2022, arXiv 2112.03570: attacks matter at low false-positive rates).
"""
from __future__ import annotations

import math
import zlib

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from unlearn.metrics.scoring import Scored

MINKPP_K = 0.2


def zlib_score(scored: Scored, texts: list[str]) -> np.ndarray:
    """−(mean token NLL) / zlib-compressed length in bytes."""
    return np.array([float(lp.mean()) / len(zlib.compress(t.encode("utf-8")))
                     for lp, t in zip(scored.logprobs, texts)])


def _lowest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the lowest ⌈k·T⌉ values."""
    n = max(1, math.ceil(k * len(values)))
    return float(np.sort(values)[:n].mean())


def mink_score(scored: Scored, k: float) -> np.ndarray:
    """Min-K%: mean of the lowest k share of token log-probs."""
    return np.array([_lowest_mean(lp, k) for lp in scored.logprobs])


def minkpp_score(scored: Scored, k: float = MINKPP_K) -> np.ndarray:
    """Min-K%++: Min-K% over (log-prob − vocabulary mean) / vocabulary std."""
    return np.array([_lowest_mean((lp - mu) / np.maximum(sd, 1e-8), k)
                     for lp, mu, sd in zip(scored.logprobs, scored.mu, scored.sigma)])


def auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """ROC-AUC of `score` for members vs non-members (higher score = member), scikit-learn."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    return float(roc_auc_score(y, np.r_[member_scores, nonmember_scores]))


def auc_fast(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """The same AUC from mid-ranks (ties count half): U / (n_m · n_n)."""
    m, n = len(member_scores), len(nonmember_scores)
    ranks = rankdata(np.r_[member_scores, nonmember_scores])
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


def auc_weighted(member_scores: np.ndarray, nonmember_scores: np.ndarray, w_m: np.ndarray,
                 w_n: np.ndarray) -> np.ndarray:
    """The AUC under every row b of the (B, m) and (B, n) item multiplicities at once (a
    bootstrap resample counts an item as often as it, or its user, was drawn): with
    C[i, j] = 1[m_i > n_j] + ½·1[m_i = n_j], AUC_b = w_m[b]ᵀ C w_n[b] / (Σ w_m[b] · Σ w_n[b])."""
    diff = member_scores[:, None] - nonmember_scores[None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)  # (m, n)
    return ((w_m @ wins) * w_n).sum(1) / np.maximum(w_m.sum(1) * w_n.sum(1), 1e-300)


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, fpr: float = 0.01) -> float:
    """Highest true-positive rate at a false-positive rate ≤ `fpr` (ROC from scikit-learn)."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    fprs, tprs, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    return float(tprs[fprs <= fpr].max())


ROC_FPR = np.unique(np.r_[0.0, np.logspace(-3, 0, 31), np.linspace(0, 1, 21)])  # the stored ROC grid


def roc_points(member_scores: np.ndarray, nonmember_scores: np.ndarray, grid: np.ndarray = ROC_FPR) -> np.ndarray:
    """The ROC curve sampled at false-positive rates `grid`: for each, the highest TPR at an FPR
    ≤ it (as `tpr_at_fpr`), so curves of several seeds can be averaged point by point."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    fprs, tprs, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    return np.array([tprs[fprs <= g + 1e-12].max() for g in grid])
