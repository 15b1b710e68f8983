"""The compute a model-making stage spends, counted by the code: a cost unit that machine load
cannot move (wall time on a shared machine can: the same npo stage once measured 4.39x retrain's
time, once 0.072x, with identical metrics).

Transformer training compute per token, after Kaplan et al., "Scaling Laws for Neural Language
Models" (arXiv 2001.08361, section 2.1): a forward pass costs 2N floating-point operations for N
parameters (the attention's context-dependent term left out), the backward pass twice that.
Split finer for models that train only part of their weights: the backward pass always
propagates activation gradients (2N) but computes weight gradients only for trainable
parameters (2N_trainable). So a token costs

- 2N + 2N + 2N_trainable through the model being trained (6N when every weight trains, ~4N for
  LoRA adapters or RMU's few layers), counted for every forward pass made with gradients on;
- 2N through a frozen model (a reference model's forward, IdkDPO's precomputed log-probs).

Tokens are the positions computed (batch x padded length), since padding costs compute too.
Forward passes without gradients through the trained model (the unlearning curve's scoring,
instrumentation outside the method's cost) are not counted. The count is per process; a
distributed stage sums it over processes.
"""
from __future__ import annotations

import torch


def parameter_count(module) -> tuple[int, int]:
    """(all parameters, trainable parameters) of `module`, tied weights once."""
    seen, total, trainable = set(), 0, 0
    for p in module.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable


class FlopCounter:
    """`with FlopCounter(model, frozen=[ref]) as flops: ...`; then `flops.total` (float)."""

    def __init__(self, trained, frozen=()):
        self.trained, self.frozen = trained, [m for m in frozen if m is not None]
        self.total, self.tokens, self._hooks = 0.0, 0, []

    def __enter__(self) -> "FlopCounter":
        self._hooks.append(self.trained.register_forward_pre_hook(self._trained_pass, with_kwargs=True))
        for module in self.frozen:
            self._hooks.append(module.register_forward_pre_hook(self._frozen_pass, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _trained_pass(self, module, args, kwargs) -> None:
        if torch.is_grad_enabled():
            total, trainable = parameter_count(module)  # per call: a method may freeze weights in setup
            self._count(args, kwargs, 4 * total + 2 * trainable)

    def _frozen_pass(self, module, args, kwargs) -> None:
        self._count(args, kwargs, 2 * parameter_count(module)[0])

    def _count(self, args, kwargs, per_token: int) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs.get("inputs_embeds")
            positions = ids.shape[0] * ids.shape[1] if ids is not None else 0
        else:
            positions = ids.numel()
        self.tokens += positions
        self.total += float(positions) * per_token

    def reduced(self, accelerator) -> float:
        """The total over every process of a distributed stage."""
        if accelerator.num_processes == 1:
            return self.total
        value = torch.tensor([self.total], dtype=torch.float64, device=accelerator.device)
        return float(accelerator.reduce(value, reduction="sum").item())
