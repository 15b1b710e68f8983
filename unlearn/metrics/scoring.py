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
        # the last position predicts past the text: feed T-1 tokens, get contiguous (B, T-1, V) logits
        logits = model(input_ids=batch["input_ids"][:, :-1], attention_mask=batch["attention_mask"][:, :-1]).logits.float()
        targets = batch["input_ids"][:, 1:]  # (B, T-1)
        token_logp, mu, sigma, top1 = _vocab_stats(logits, targets)
        del logits  # freed before the next batch's forward: one (B, T, V) block alive, not two
        n_scored = batch["attention_mask"][:, 1:].sum(1).tolist()  # targets that are not padding
        cols = [t.cpu().numpy() for t in (token_logp, mu, sigma, top1)]  # one conversion per batch
        for row, i in enumerate(idx):
            out[i] = tuple(c[row, : n_scored[row]].copy() for c in cols)
    return Scored(*(list(col) for col in zip(*(out[i] for i in range(len(data)))))) if out else Scored([], [], [], [])


CHUNK_ELEMENTS = 1 << 18  # 1 MiB of float32 logits per chunk: the passes of `_vocab_stats` stay in L2 cache


def _vocab_stats(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per position of (B, T, V) `logits` and (B, T) `targets`: log π(x_t), μ_t, σ_t, top-1 flag.
    Overwrites `logits` (the caller's scratch).

    With x = logits − max (so x ≤ 0), Z = Σ e^x, S1 = Σ e^x·x and S2 = Σ e^x·x²:
    log π(x_t) = x_t − log Z, μ = S1/Z − log Z and σ² = S2/Z − (S1/Z)² (the variance of log π
    equals that of x). No log-softmax is materialised: per chunk a max, an in-place shift, exp
    into one reused buffer, and three sums with two in-place multiplies between them, each
    written straight into its slot of the per-position vectors; the per-position arithmetic
    after the sums runs once per batch. Positions go through in chunks of about CHUNK_ELEMENTS
    logits so that those passes read cache, not memory, and no pass allocates (a fresh 2-MiB
    tensor per op cost as much as the op here). The chunk size changes no bits: every sum runs
    over one position's vocabulary.
    """
    flat, tgt = logits.contiguous().view(-1, logits.shape[-1]), targets.reshape(-1, 1)  # (a copy if strided)
    n, step = flat.shape[0], max(1, CHUNK_ELEMENTS // flat.shape[1])
    buf = torch.empty(min(step, n), flat.shape[1], dtype=flat.dtype, device=flat.device)
    z, s1, s2, x_t = (torch.empty(n, dtype=flat.dtype, device=flat.device) for _ in range(4))
    for start in range(0, n, step):
        rows = slice(start, start + step)
        x = flat[rows]
        x.sub_(x.amax(-1, keepdim=True))
        ex = torch.exp(x, out=buf[: len(x)])
        torch.sum(ex, -1, out=z[rows])
        torch.sum(ex.mul_(x), -1, out=s1[rows])  # S1
        torch.sum(ex.mul_(x), -1, out=s2[rows])  # S2
        torch.gather(x, -1, tgt[rows], out=x_t[rows, None])
    m1, m2, log_z = s1 / z, s2 / z, z.log()
    out = (x_t - log_z, m1 - log_z, (m2 - m1.square()).clamp(min=0).sqrt(), x_t >= 0)
    return tuple(col.view(targets.shape) for col in out)


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
        logits = model(input_ids=batch["input_ids"][:, :-1], attention_mask=batch["attention_mask"][:, :-1]).logits
        targets = batch["input_ids"][:, 1:]  # (B, T-1)
        token_logp = -torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets,
                                                        reduction="none")  # (B, T-1)
        n_scored = batch["attention_mask"][:, 1:].sum(1).tolist()
        for row, i in enumerate(idx):
            out[i] = token_logp[row, : n_scored[row]].cpu().numpy().astype(np.float32)
    return [out[i] for i in range(len(data))]
