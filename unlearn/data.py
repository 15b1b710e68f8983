"""Token data for training and scoring: encoding, padding, length-bucketed seeded batches.

Every text is encoded as `[bos] + tokens + [eos]`, truncated to `max_length`. Batches are
padded on the right for teacher forcing (labels -100 on padding). Shuffling buckets texts of
similar length together (less padding: short posts in a padded batch waste most of the compute)
and is a pure function of (seed, epoch), so every process of a distributed run, and every
rerun, sees the same global batches.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from unlearn.chat import model_text


@dataclass(frozen=True)
class TokenData:
    """Encoded texts of one split: `ids[i]` is the token list of example i."""

    ids: list[list[int]]
    pad_id: int

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Right-padded tensors for teacher forcing: input_ids, attention_mask, labels."""
        return collate([self.ids[i] for i in indices], self.pad_id)


@dataclass(frozen=True)
class RowValues:
    """Values computed once per example of a split (e.g. a frozen model's log-probs), batched by
    row like TokenData: `batch(indices)` gives `{name: values[indices]}`."""

    values: dict[str, torch.Tensor]  # name -> (N, ...) tensor, row i for example i

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        return {name: v[rows] for name, v in self.values.items()}


def encode(tokenizer, texts: list[str], max_length: int) -> TokenData:
    """Encode texts as bos + tokens + eos (bos falls back to eos for tokenizers without one); QA
    texts in the tokenizer's chat template where it has one (unlearn/chat.py)."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id
    body = tokenizer([model_text(tokenizer, t) for t in texts], add_special_tokens=False)["input_ids"]
    ids = [([bos] + b + [eos])[:max_length] for b in body]
    return TokenData(ids, tokenizer.pad_token_id)


def collate(seqs: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad `seqs` into (B, T) tensors; labels equal input_ids except -100 on padding."""
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    labels = input_ids.masked_fill(mask == 0, -100)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Seeded, length-bucketed batches of indices covering every example once.

    Shuffle, cut into windows of 32 batches, sort each window by length, cut into batches,
    shuffle the batches: random order, little padding.
    """
    rng = random.Random(f"{seed}-{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 32
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class BatchStream:
    """An endless stream of global batches over one split, epoch after epoch."""

    def __init__(self, data: TokenData, batch_size: int, seed: int):
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.lengths = [len(s) for s in data.ids]
        self.epoch, self.queue = 0, []

    def next_indices(self) -> list[int]:
        """The next global batch of example indices."""
        if not self.queue:
            self.queue = epoch_batches(self.lengths, self.batch_size, self.seed, self.epoch)
            self.epoch += 1
        return self.queue.pop(0)

    def batches_per_epoch(self) -> int:
        return -(-len(self.data) // self.batch_size)


def shard(indices: list[int], rank: int, world: int) -> list[int]:
    """This process's contiguous part of a global batch (parts differ by at most one)."""
    n = len(indices)
    return indices[rank * n // world : (rank + 1) * n // world]
