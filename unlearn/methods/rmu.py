"""Representation Misdirection for Unlearning (RMU), Li et al. 2024 (WMDP), arXiv 2403.03218.

Objective: minimise E_{D_f} ‖h_ℓ(x) − c·u‖² + α·E_{D_r} ‖h_ℓ(x) − h_ℓ^frozen(x)‖², h_ℓ the
residual stream after decoder layer ℓ, u a fixed random unit vector, h^frozen the original model.
Each ‖·‖² is the paper's MSE: a mean over the hidden dimensions, then over an example's
non-padding positions, then over examples. As in the paper, u is drawn once with uniform [0, 1)
entries (seeded) and normalised, and only the MLPs of layers ℓ−2, ℓ−1, ℓ (clipped at layer 0)
are trained: all three matrices (gate, up, down) here, where the paper's released code updates
down_proj only. Deviation: c is relative, c = steering_coef·‖h_ℓ^frozen(x)_t‖ per token, not
one absolute number. The paper's c = 6.5 (and 300 for Mixtral) was tuned to one model's
activation scale; a relative c carries over from the tiny model to SmolLM2 and keeps the
outsized activations of the first token from dominating (cf. the adaptive coefficient of
Dang et al., arXiv 2408.06223). Costs one extra no-grad forward of the frozen model on D_f.
h_ℓ is read with a forward hook on layer ℓ, because `output_hidden_states` returns the last
layer's output after the final norm. The loss never looks at tokens, so it is not ascent on
the NLL; the forget NLL is logged from the same forward's logits. The three forwards that need
only h_ℓ (the frozen model's on D_f and D_r, the trained model's on D_r) stop after layer ℓ: the
hook ends them, so the later layers, the final norm and the LM head never run (the same h_ℓ to
the bit; on the quick experiment's 4-layer model with ℓ = 1 a step took 42 ms instead of 64).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.losses import sequence_nll


class _EnoughLayers(Exception):
    """Raised by the layer hook to end a forward once h_ℓ is captured."""


def layer_output(model, batch: dict[str, torch.Tensor], layer: int, logits: bool = True):
    """(h_ℓ (B, T, D), logits (B, T, V) or None): the residual stream after decoder layer `layer`.

    With `logits=False` the forward stops right after layer `layer`, unless the model is wrapped
    in DDP: DDP's forward must run to its end to prepare the gradient reduction, so there the
    whole model runs and the logits are dropped (the same h_ℓ either way).
    """
    captured = {}
    inner = getattr(model, "module", model)  # DDP wraps the model in .module
    stop = not logits and inner is model

    def hook(mod, args, out):
        captured["h"] = out[0] if isinstance(out, tuple) else out
        if stop:
            raise _EnoughLayers

    handle = inner.model.layers[layer].register_forward_hook(hook)
    try:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    except _EnoughLayers:
        out = None
    finally:
        handle.remove()
    return captured["h"], out if logits else None


def masked_mse(h: torch.Tensor, target: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Squared error averaged over hidden dims, then over each example's non-padding positions, (B,)."""
    per_token = ((h.float() - target.float()) ** 2).mean(dim=-1)  # (B, T)
    mask = attention_mask.float()  # (B, T), 0 on padding
    return (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


class RMU:
    """Steer forget-data activations at layer ℓ to a random direction; keep retain activations."""

    @dataclass(frozen=True)
    class Config:
        layer: int = 1  # decoder layer ℓ (0-based) whose output is steered (paper: 7 of 32)
        steering_coef: float = 2.0  # c as a multiple of the frozen activation norm at each token
        alpha: float = 30.0  # weight of the retain term (paper: 1200, with its absolute c)
        seed: int = 0  # seed of the random direction u

    kind = "approximate"
    needs_ref = True
    needs_retain = True
    trains = True

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.u = None  # (D,), drawn in setup

    def setup(self, model) -> list:
        """Draw u; freeze everything except the MLPs of layers ℓ−2..ℓ; return those parameters."""
        n_layers, layer = model.config.num_hidden_layers, self.cfg.layer
        if not 0 <= layer < n_layers:
            raise ValueError(f"methods.rmu.layer = {layer} is out of range: the model has {n_layers} "
                             f"decoder layers (valid 0..{n_layers - 1})")
        gen = torch.Generator().manual_seed(self.cfg.seed)
        u = torch.rand(model.config.hidden_size, generator=gen)
        self.u = u / u.norm()
        trained = {str(i) for i in range(max(0, layer - 2), layer + 1)}
        params = []
        for name, p in model.named_parameters():
            parts = name.split(".")  # model.layers.<i>.mlp.<proj>.weight
            p.requires_grad_("layers" in parts and parts[parts.index("layers") + 1] in trained and "mlp" in parts)
            if p.requires_grad:
                params.append(p)
        return params

    def loss(self, model, ref_model, batch):
        """Forget MSE to c·u + α·retain MSE to the frozen model; logs both terms and the forget NLL."""
        forget, retain, layer = batch["forget"], batch["retain"], self.cfg.layer
        h_f, logits_f = layer_output(model, forget, layer)  # (B, T, D), (B, T, V)
        h_r, _ = layer_output(model, retain, layer, logits=False)
        with torch.no_grad():  # the reference is frozen
            ref_f, _ = layer_output(ref_model, forget, layer, logits=False)
            ref_r, _ = layer_output(ref_model, retain, layer, logits=False)
        u = self.u.to(h_f.device)
        target = self.cfg.steering_coef * ref_f.float().norm(dim=-1, keepdim=True) * u  # (B, T, D)
        forget_mse = masked_mse(h_f, target, forget["attention_mask"]).mean()
        retain_mse = masked_mse(h_r, ref_r, retain["attention_mask"]).mean()
        forget_nll = sequence_nll(logits_f.detach(), forget["labels"]).mean()
        return forget_mse + self.cfg.alpha * retain_mse, {
            "forget_mse": forget_mse.item(), "retain_mse": retain_mse.item(), "forget_nll": forget_nll.item()}
