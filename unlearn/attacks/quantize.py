"""Quantization attack: round the unlearned weights to few bits and measure the forget side again.

Zhang et al. 2024, "Catastrophic Failure of LLM Unlearning via Quantization" (arXiv 2410.16454):
unlearning with a small learning rate and a utility constraint moves the weights so little that
rounding them to 4 bits snaps many back onto the original model's grid; forgotten knowledge
retained rose from 21% (full precision) to 83% (4 bits). We use their round-to-nearest (RTN)
variant, symmetric, on every `nn.Linear` weight W (out, in), per output channel or per group of
`quantize_group` input columns:

    s = max_{j in group} |W_ij| / (2^(b-1) - 1),   q(W_ij) = s · clamp(round(W_ij / s), -(2^(b-1)-1), 2^(b-1)-1)

then dequantized (kept as float), so every metric runs unchanged. |W - q(W)| <= s/2 elementwise.

Deviations and choices:
- Fake quantization in float32 (torch, any device): the rounding error is the attack; integer
  kernels would only change speed.
- Embeddings, norms and the output head (`lm_head`) stay in full precision, as in the common
  weight-only schemes (GPTQ, AWQ and bitsandbytes keep the head unquantized). The bundled models
  (tiny, SmolLM2) tie the head to the input embedding, so quantizing the head would quantize the
  embedding too; keeping every head fp32, tied or not, holds the attack to the same weights (the
  transformer blocks' projections) for every model.
- The grid is symmetric with 2^b - 1 levels (-qmax..qmax), zero exactly representable: the plainest
  RTN; an asymmetric (zero-point) grid would have one level more.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from unlearn.attacks.base import AttackContext, forget_side
from unlearn.metrics.evaluate import PII_ATTRIBUTES


def quantize_weight(w: torch.Tensor, bits: int, group: int) -> torch.Tensor:
    """Symmetric RTN of a (out, in) weight to `bits`, one scale per row (group <= 0) or per
    `group` consecutive input columns of a row; returned dequantized, same shape and dtype."""
    qmax = 2 ** (bits - 1) - 1
    rows, cols = w.shape
    size = cols if group <= 0 else group
    padded = F.pad(w.float(), (0, -cols % size))  # (out, in'), zeros leave every max |w| unchanged
    blocks = padded.reshape(rows, -1, size)  # (out, groups, size)
    scale = blocks.abs().amax(dim=-1, keepdim=True) / qmax  # (out, groups, 1)
    scale = scale.clamp_min(torch.finfo(torch.float32).tiny)  # an all-zero group stays zero
    q = torch.clamp(torch.round(blocks / scale), -qmax, qmax)
    return (q * scale).reshape(rows, -1)[:, :cols].to(w.dtype)


@torch.no_grad()
def quantize_model(model: nn.Module, bits: int, group: int, in_place: bool = False) -> nn.Module:
    """A copy of `model` whose linear weights (not the output head) are RTN-quantized; `model`
    itself is left untouched, unless `in_place` (then it is the one quantized and returned)."""
    quantized = model if in_place else copy.deepcopy(model)
    # every output head stays fp32: the model's own, or each constituent's in a SISA ensemble
    heads = {id(m.get_output_embeddings()) for m in quantized.modules() if isinstance(m, PreTrainedModel)}
    for module in quantized.modules():
        if isinstance(module, nn.Linear) and id(module) not in heads:
            module.weight.copy_(quantize_weight(module.weight, bits, group))
    return quantized


class Quantize:
    """Forget-side metrics at full precision (the baseline) and after b-bit RTN, per b."""

    name = "quantize"

    def __init__(self, cfg_attacks):
        self.bits = tuple(cfg_attacks.quantize_bits)
        self.group = cfg_attacks.quantize_group

    def settings(self) -> list[str]:
        return ["fp32"] + [f"int{b}" for b in self.bits]

    def run(self, model, tok, ctx: AttackContext, own_model: bool = False) -> dict[str, dict[str, np.ndarray]]:
        """Per setting, the `forget_side` arrays: the plan's forget texts, and its forget questions
        that ask for a personal value (the decoding part: kept to what extraction is after). The
        caller's model stays untouched, unless `own_model` hands it over: then the last width
        quantizes it in place instead of a copy."""
        qa = [r for r in ctx.plan.qa["forget"] if r["attribute"] in PII_ATTRIBUTES]
        out = {"fp32": forget_side(model, tok, ctx, qa=qa)}
        for b in self.bits:
            quantized = quantize_model(model, b, self.group, in_place=own_model and b == self.bits[-1])
            out[f"int{b}"] = forget_side(quantized, tok, ctx, qa=qa)
            del quantized  # one extra copy of the model at a time
        return out
