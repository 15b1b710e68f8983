"""Membership-inference summaries over per-example scores (derived: no model pass).

ROC-AUC of a score separating members (label 1) from holdout non-members (label 0), via
scikit-learn; 0.5 = the attacker learns nothing, 1.0 = perfect membership inference
(Carlini et al. 2022, arXiv 2112.03570, for why TPR at low FPR matters too; added with the
full suite).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """ROC-AUC of `score` for members vs non-members (higher score = member)."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    return float(roc_auc_score(y, np.r_[member_scores, nonmember_scores]))
