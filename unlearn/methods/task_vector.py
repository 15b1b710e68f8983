"""Task-vector negation, Ilharco et al. 2023 ("Editing models with task arithmetic"), arXiv 2212.04089.

Objective: fine-tune on D_f by minimising NLL(D_f) to θ_reinforced, then
θ_new = θ_original − λ·τ with τ = θ_reinforced − θ_original (the "forgetting via negation" of the
paper). Training here is gradient descent on the forget set; the negation is `finish`, a
weight-space step applied after training succeeds, with θ_original the frozen reference copy.
Every parameter is in τ (embeddings and norms too), as in the paper. The paper picks λ on
held-out data; here it is the knob `scale`, calibrated in configs/methods/task_vector.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import batch_nll


class TaskVector:
    """Learn the forget set harder, then subtract λ times that change from the original weights."""

    @dataclass(frozen=True)
    class Config:
        scale: float = 1.0  # λ: how far past the original, against τ, the weights are moved

    kind = "approximate"
    needs_ref = True  # the original weights θ_original, for the negation in `finish`
    needs_retain = False
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """Plain NLL on the forget batch (descent: this builds θ_reinforced)."""
        nll = batch_nll(model, batch["forget"])
        return nll, {"forget_nll": nll.item()}

    def finish(self, model, ref_model) -> None:
        """In place: θ ← θ_original − λ·(θ_reinforced − θ_original)."""
        lam = self.cfg.scale
        with torch.no_grad():
            for p, p_ref in zip(model.parameters(), ref_model.parameters(), strict=True):
                p.copy_(p_ref - lam * (p - p_ref))
