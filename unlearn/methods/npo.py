"""Negative Preference Optimization (NPO), Zhang et al. 2024, arXiv 2404.05868.

Objective: minimise −(2/β)·E_{D_f} log σ(−β·(log π_θ(y|x) − log π_ref(y|x))) + α·NLL(D_r),
log π summed over the scored tokens of each example (the paper's sequence log-likelihood).
Its gradient is GA's on the summed log-prob, weighted per example by 2σ(β·Δ) ≤ 2, which
fades as an example is forgotten: the loss is bounded below by 0, unlike GA.
The paper's retain-regularised variant (NPO+RT) is α > 0. Deviation in form, not in math:
one class serves both, so it always declares `needs_retain` (a class flag); with α = 0 the
retain batch is drawn by the loop but never run through the model. The whole text is scored
(our corpus is posts, not question/answer pairs), so y is the text after its first token.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import batch_nll, forward_logits, npo_loss, sequence_logprob, token_logprobs


class NPO:
    """Push log π_θ below log π_ref on forget data with a bounded, self-weighting loss."""

    @dataclass(frozen=True)
    class Config:
        beta: float = 0.1  # inverse temperature (paper: 0.1)
        alpha: float = 0.0  # weight of the retain NLL; 0 = plain NPO (no retain forward)

    kind = "approximate"
    needs_ref = True
    needs_retain = True  # only used when alpha > 0, see the module docstring
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """NPO on the forget batch (+ α·NLL_r); logs the forget NLL, the NPO term and the log-ratio."""
        forget = batch["forget"]
        logp, mask = token_logprobs(forward_logits(model, forget), forget["labels"])  # (B, T-1)
        logp_theta = logp.sum(dim=1)  # (B,)
        with torch.no_grad():  # the reference is frozen
            logp_ref = sequence_logprob(forward_logits(ref_model, forget), forget["labels"])  # (B,)
        npo = npo_loss(logp_theta, logp_ref, self.cfg.beta)
        logs = {"forget_nll": (-logp_theta / mask.sum(dim=1).clamp(min=1)).mean().item(),
                "npo": npo.item(), "log_ratio": (logp_theta - logp_ref).mean().item()}
        if self.cfg.alpha == 0:
            return npo, logs
        retain_nll = batch_nll(model, batch["retain"])
        return npo + self.cfg.alpha * retain_nll, {**logs, "retain_nll": retain_nll.item()}
