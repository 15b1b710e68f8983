"""Gradient difference (GradDiff): ascend the forget NLL, descend the retain NLL.

Objective: minimise −NLL(D_f) + α·NLL(D_r) (the GradDiff baseline of TOFU,
arXiv 2401.06121, after Liu et al. 2022, arXiv 2203.12817). NLL is each example's mean token
NLL, averaged over the examples of the batch. The forget term is unbounded below, so as with
GA the step budget (`epochs`/`max_steps`) is the stopping rule; the retain term slows the
collapse of utility, it does not prevent it.
"""
from __future__ import annotations

from dataclasses import dataclass

from unlearn.losses import batch_nll


class GradDiff:
    """Gradient ascent on forget batches plus α × gradient descent on retain batches."""

    @dataclass(frozen=True)
    class Config:
        alpha: float = 1.0  # weight of the retain NLL

    kind = "approximate"
    needs_ref = False
    needs_retain = True
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """−NLL_f + α·NLL_r; logs both NLLs."""
        forget_nll = batch_nll(model, batch["forget"])
        retain_nll = batch_nll(model, batch["retain"])
        loss = -forget_nll + self.cfg.alpha * retain_nll
        return loss, {"forget_nll": forget_nll.item(), "retain_nll": retain_nll.item()}
