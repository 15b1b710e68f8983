"""Gradient ascent (GA) on the forget set.

Objective: minimise −NLL(D_f), i.e. maximise the forget loss (used as a baseline
by TOFU, arXiv 2401.06121, and Jang et al. 2023, arXiv 2210.01504). Unbounded below, so it
collapses to gibberish without early stopping: the step budget (`epochs`/`max_steps`) is the
stopping rule here. Loss is the mean over forget examples of their mean token NLL, negated.
"""
from __future__ import annotations

from dataclasses import dataclass

from unlearn.losses import batch_nll


class GradientAscent:
    """Ascend the forget NLL; no reference model, no retain data."""

    @dataclass(frozen=True)
    class Config:
        pass

    kind = "approximate"
    needs_ref = False
    needs_retain = False
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """−mean NLL of the forget batch; logs the forget NLL itself."""
        nll = batch_nll(model, batch["forget"])
        return -nll, {"forget_nll": nll.item()}
