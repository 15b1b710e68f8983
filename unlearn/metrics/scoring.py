"""The shared teacher-forced scoring pass: one batched forward per model and split.

It keeps, for every scored token t of every example (targets are the text tokens after bos,
eos included): log π(x_t | x_<t), whether x_t is the argmax of π(· | x_<t), and the mean μ_t and
standard deviation σ_t of log π(z | x_<t) over z ~ π(· | x_<t) — the statistics Min-K%++
(arXiv 2404.02936, eq. 2) standardises with. LOSS, zlib, Min-K%, Min-K%++, exact memorization,
extraction strength, greedy and probabilistic PII extraction and perplexity read these arrays
instead of running the model again (greedy decoding from a true prefix reproduces a span iff
every token of the span is the argmax under teacher forcing).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unlearn.data import TokenData


FIELDS = ("logprobs", "mu", "sigma", "top1")


@dataclass
class Scored:
    """Per-example token arrays of one split under one model (all float32)."""

    logprobs: list[np.ndarray]  # log π(x_t | x_<t), (T_i,)
    mu: list[np.ndarray]  # E_z log π(z | x_<t), (T_i,)
    sigma: list[np.ndarray]  # Std_z log π(z | x_<t), (T_i,)
    top1: list[np.ndarray]  # x_t == argmax_z π(z | x_<t), (T_i,) bool

    def __len__(self) -> int:
        return len(self.logprobs)

    def to_npz(self) -> dict[str, np.ndarray]:
        """Flat arrays + offsets, for np.savez."""
        lengths = np.array([len(x) for x in self.logprobs], dtype=np.int64)
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.float32)  # noqa: E731
        return {"lengths": lengths, **{k: cat(getattr(self, k)) for k in FIELDS}}

    @classmethod
    def from_npz(cls, data) -> "Scored":
        """Inverse of `to_npz`."""
        cuts = np.cumsum(data["lengths"])[:-1]
        return cls(*(list(np.split(data[k], cuts)) for k in FIELDS))


@torch.inference_mode()
def score(model, data: TokenData, batch_size: int, device: torch.device | str = "cpu") -> Scored:
    """Teacher-forced pass over `data` in length-sorted batches; results in input order."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    out: dict[int, tuple] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in data.batch(idx).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logp_all = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
        targets = batch["input_ids"][:, 1:]  # (B, T-1)
        token_logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        top1 = logits[:, :-1].argmax(-1) == targets  # (B, T-1)
        probs = logp_all.exp()
        mu = (probs * logp_all).sum(-1)  # (B, T-1)
        # in place from here on (logp_all is not needed again): a memory-bound pass over (B, T-1, V)
        sigma = probs.mul_(logp_all.sub_(mu.unsqueeze(-1)).square_()).sum(-1).clamp(min=0).sqrt()
        n_scored = batch["attention_mask"][:, 1:].sum(1).tolist()  # targets that are not padding
        for row, i in enumerate(idx):
            n = n_scored[row]
            out[i] = (*(t[row, :n].cpu().numpy().astype(np.float32) for t in (token_logp, mu, sigma)),
                      top1[row, :n].cpu().numpy())
    return Scored(*(list(col) for col in zip(*(out[i] for i in range(len(data)))))) if out else Scored([], [], [], [])


@torch.inference_mode()
def token_logprobs(model, data: TokenData, batch_size: int, device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Only `score`'s log π(x_t | x_<t) per example (no vocabulary statistics, no argmax flags):
    for callers that read nothing else, e.g. the QA answer probabilities. Same batching and order."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    out: dict[int, np.ndarray] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in data.batch(idx).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        targets = batch["input_ids"][:, 1:]  # (B, T-1)
        token_logp = -torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets,
                                                        reduction="none")  # (B, T-1)
        n_scored = batch["attention_mask"][:, 1:].sum(1).tolist()
        for row, i in enumerate(idx):
            out[i] = token_logp[row, : n_scored[row]].cpu().numpy().astype(np.float32)
    return [out[i] for i in range(len(data))]
