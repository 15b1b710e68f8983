"""Gradient ascent with a KL anchor to the original model on retain data (GA + KL).

Objective: minimise −NLL(D_f) + α·E_{D_r} KL(π_ref ‖ π_θ), the KL taken over the vocabulary at
every scored retain position (the KL baseline of TOFU, arXiv 2401.06121). The KL is
averaged over an example's scored positions, then over examples, like the NLL. The direction
KL(π_ref ‖ π_θ) is TOFU's (its code uses the same: reference as the target
distribution). The forget term is unbounded below: the step budget is the stopping rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import batch_nll, forward_logits, token_kl


class GAKL:
    """Gradient ascent on forget batches; keep the retain token distributions of the original."""

    @dataclass(frozen=True)
    class Config:
        alpha: float = 1.0  # weight of the retain KL

    kind = "approximate"
    needs_ref = True
    needs_retain = True
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """−NLL_f + α·KL_r; logs the forget NLL and the retain KL."""
        forget_nll = batch_nll(model, batch["forget"])
        with torch.no_grad():  # the reference is frozen
            ref_logits = forward_logits(ref_model, batch["retain"])
        kl = token_kl(ref_logits, forward_logits(model, batch["retain"]), batch["retain"]["labels"]).mean()
        loss = -forget_nll + self.cfg.alpha * kl
        return loss, {"forget_nll": forget_nll.item(), "retain_kl": kl.item()}
