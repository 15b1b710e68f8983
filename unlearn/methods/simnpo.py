"""SimNPO, Fan et al. 2024, arXiv 2410.07163: NPO without the reference model, length-normalised.

Objective: minimise −(2/β)·E_{D_f} log σ(−(β/|y|)·log π_θ(y|x) − γ) + α·NLL(D_r), with
log π_θ(y|x)/|y| the mean token log-prob over the scored tokens of each example. The length
normalisation keeps long and short texts on one scale (NPO's summed log-prob lets long ones
dominate); γ ≥ 0 is a reward margin (paper's TOFU setting: β 2.5–4.5, γ 0).
Deviation in form only: as in `npo.py`, one class serves both variants, so `needs_retain` is
always declared and with α = 0 the retain batch is drawn but not run through the model.
"""
from __future__ import annotations

from dataclasses import dataclass

from unlearn.losses import batch_nll, forward_logits, sequence_nll, simnpo_loss


class SimNPO:
    """Reference-free NPO on each forget example's mean token log-prob."""

    @dataclass(frozen=True)
    class Config:
        beta: float = 2.5  # inverse temperature (paper, TOFU: 2.5–4.5)
        gamma: float = 0.0  # reward margin (paper, TOFU: 0)
        alpha: float = 0.0  # weight of the retain NLL; 0 = no retain forward

    kind = "approximate"
    needs_ref = False
    needs_retain = True  # only used when alpha > 0, see the module docstring
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def loss(self, model, ref_model, batch):
        """SimNPO on the forget batch (+ α·NLL_r); logs the forget NLL and each term."""
        forget_nll = sequence_nll(forward_logits(model, batch["forget"]), batch["forget"]["labels"])  # (B,)
        simnpo = simnpo_loss(-forget_nll, self.cfg.beta, self.cfg.gamma)
        logs = {"forget_nll": forget_nll.mean().item(), "simnpo": simnpo.item()}
        if self.cfg.alpha == 0:
            return simnpo, logs
        retain_nll = batch_nll(model, batch["retain"])
        return simnpo + self.cfg.alpha * retain_nll, {**logs, "retain_nll": retain_nll.item()}
