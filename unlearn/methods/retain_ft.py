"""Retain fine-tuning: keep training the original model on D_r only (forgetting by interference).

Objective: minimise NLL(D_r) (the "fine-tune on retain" baseline of Jang et al.
2023, arXiv 2210.01504, and of TOFU, arXiv 2401.06121). No paper-specific knobs. The training
loop's epoch is defined by the forget split (the primary split of every method), so `epochs`
counts batches in units of the forget set's batch count, not passes over D_r: one epoch is
ceil(|D_f| / batch_size) retain batches. The forget NLL is logged (no gradient) to follow it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import batch_nll


class RetainFT:
    """Gradient descent on retain batches; forget batches are only measured."""

    @dataclass(frozen=True)
    class Config:
        pass

    kind = "approximate"
    needs_ref = False
    needs_retain = True
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """NLL_r; logs it and the forget NLL."""
        retain_nll = batch_nll(model, batch["retain"])
        with torch.no_grad():  # measured only: the forget data never shapes the update
            forget_nll = batch_nll(model, batch["forget"])
        return retain_nll, {"forget_nll": forget_nll.item(), "retain_nll": retain_nll.item()}
