"""Per-example teacher-forced metrics read from the shared scoring pass.

- `nll`: mean token negative log-likelihood, NLL_i = −(1/T_i) Σ_t log π(x_t | x_<t).
- `ppl`: per-example perplexity exp(NLL_i); its split aggregate is the geometric mean
  exp(mean_i NLL_i), so one long text does not dominate.
- `loss_score`: the LOSS membership score (Yeom et al. 2018, arXiv 1709.01604): −NLL_i, higher
  means more likely a training member.
"""
from __future__ import annotations

import numpy as np

from unlearn.metrics.scoring import Scored


def nll(scored: Scored, examples=None) -> np.ndarray:
    """Mean token NLL of each example."""
    return np.array([-float(lp.mean()) if len(lp) else np.nan for lp in scored.logprobs])


def ppl(scored: Scored, examples=None) -> np.ndarray:
    """Perplexity of each example."""
    return np.exp(nll(scored))


def loss_score(scored: Scored, examples=None) -> np.ndarray:
    """LOSS membership score: −NLL (higher = more likely a member)."""
    return -nll(scored)


def geometric_mean(values: np.ndarray) -> float:
    """exp(mean(log v)): the split perplexity from per-example perplexities."""
    return float(np.exp(np.mean(np.log(values))))
