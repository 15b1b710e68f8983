"""Per-example teacher-forced metrics read from the shared scoring pass.

- `nll`: mean token negative log-likelihood, NLL_i = −(1/T_i) Σ_t log π(x_t | x_<t).
- `ppl`: per-example perplexity exp(NLL_i); its split aggregate is the geometric mean
  exp(mean_i NLL_i), so one long text does not dominate.
- `loss_score`: the LOSS membership score (Yeom et al. 2018, arXiv 1709.01604): −NLL_i, higher
  means more likely a training member.
- `exact_memorization` (Tirumala et al. 2022, arXiv 2205.10770; as used by open-unlearning):
  EM_i = (1/T_i) Σ_t 1[x_t = argmax_z π(z | x_<t)].
- `extraction_strength` (in the style of Carlini et al. 2021, arXiv 2012.07805):
  ES_i = 1 − k/T_i for the smallest k such that the argmax predictions from position k onward
  all match (1 = the whole text follows from bos by greedy decoding, 0 = not even the last token).
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


def exact_memorization(scored: Scored, examples=None) -> np.ndarray:
    """Share of each example's tokens that are the model's argmax prediction."""
    return np.array([float(np.mean(t)) if len(t) else np.nan for t in scored.top1])


def extraction_strength(scored: Scored, examples=None) -> np.ndarray:
    """1 − k/T for the smallest k after which every argmax prediction matches."""
    out = []
    for t in scored.top1:
        misses = np.flatnonzero(~np.asarray(t, dtype=bool))
        k = int(misses[-1]) + 1 if len(misses) else 0  # the suffix after the last miss is all hits
        out.append(1.0 - k / len(t) if len(t) else np.nan)
    return np.array(out)


def geometric_mean(values: np.ndarray) -> float:
    """exp(mean(log v)): the split perplexity from per-example perplexities."""
    return float(np.exp(np.mean(np.log(values))))
