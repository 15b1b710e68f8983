"""Teacher-forced scoring of sequences that share prefixes, computing every shared token once.

The QA sequences of one evaluation share a lot: every chat prompt starts with the same system
turn (~20 tokens of ~36 on SmolLM2-Instruct), a question's 1 + k continuations (the answer, its
paraphrase and its perturbations for the truth ratio; k-shot prefixes for the prompting attack)
share the question, and the perturbed answer sentences share their wording up to the value
("Anna lives in" + city). Scoring every sequence in full ran each shared token through the model
once per sequence.

Here the sequences form a token trie whose single-child chains are merged into one node. The trie
is walked depth first, the children of up to `batch_size` nodes per forward: each child's tokens
run on its parent's cached keys and values (metrics/kv_rows.py `select_rows`), right-padded to the
widest child of the batch, with the attention mask of the whole path and position ids that
continue each row's own length. A node's first token is scored from its parent's last position;
a leaf's last token is never fed (it predicts nothing). Only positions whose next token is scored
reach the output layer (`logits_to_keep`). The log-probabilities equal those of the full pass up
to float rounding (tests/test_generation_metrics.py compares them): attention over cached keys is
the same attention, and padding is masked.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from unlearn.metrics.kv_rows import select_rows


@dataclass(eq=False)
class _Node:
    """A merged chain of tokens at positions start .. start + len(tokens) - 1; `need` is the
    smallest cut of the sequences through it (positions ≥ need are scored)."""

    tokens: list[int]
    start: int
    need: int
    parent: "_Node | None" = None
    children: dict = field(default_factory=dict)
    ends: list = field(default_factory=list)
    logp: np.ndarray | None = None


def _trie(seqs: list[list[int]], cuts: list[int]) -> _Node:
    root = _Node([], 0, min(cuts) if cuts else 0)
    for i, (seq, cut) in enumerate(zip(seqs, cuts)):
        node = root
        for pos, tok in enumerate(seq):
            child = node.children.get(tok)
            if child is None:
                child = node.children[tok] = _Node([tok], pos, cut, node)
            child.need = min(child.need, cut)
            node = child
        node.ends.append(i)
    stack = list(root.children.values())
    while stack:  # merge single-child chains where no sequence ends
        node = stack.pop()
        while len(node.children) == 1 and not node.ends:
            (child,) = node.children.values()
            node.tokens, node.children, node.ends = node.tokens + child.tokens, child.children, child.ends
            for grandchild in node.children.values():
                grandchild.parent = node
        node.logp = np.full(len(node.tokens), np.nan)
        stack.extend(node.children.values())
    return root


@torch.inference_mode()
def continuation_logprobs(model, seqs: list[list[int]], cuts: list[int], batch_size: int, device,
                          pad: int) -> list[np.ndarray]:
    """Per sequence, log π(seq[t] | seq[:t]) for t = cut .. len - 1 (float32); `cut` ≥ 1."""
    model.eval()
    for i, (seq, cut) in enumerate(zip(seqs, cuts)):
        if not 1 <= cut <= len(seq):
            raise ValueError(f"sequence {i}: prefix length {cut} outside 1..{len(seq)}")
    root = _trie(seqs, cuts)
    config = getattr(model, "cache_config", model.config)  # a SISA ensemble: one per part
    _expand(model, [root], None, None, None, None, batch_size, device, pad, config)
    out: list[np.ndarray | None] = [None] * len(seqs)
    stack = [root]
    while stack:
        node = stack.pop()
        for i in node.ends:
            path, at = [], node
            while at is not root:
                path.append(at.logp)
                at = at.parent
            out[i] = np.concatenate(path[::-1])[cuts[i]:].astype(np.float32)
        stack.extend(node.children.values())
    return out


def _expand(model, parents: list[_Node], last, cache, mask, lengths, batch_size: int, device, pad: int,
            config) -> None:
    """Score the children of `parents` and recurse. `last` (P, V): each parent's next-token
    log-probs (None at the root); `cache`, `mask` (P, T) and `lengths` (P,): its cached path."""
    pairs = [(row, child) for row, node in enumerate(parents) for child in node.children.values()]
    if last is not None and pairs:
        rows = torch.tensor([row for row, _ in pairs], device=device)
        toks = torch.tensor([child.tokens[0] for _, child in pairs], device=device)
        for (_, child), lp in zip(pairs, last[rows, toks].tolist()):
            child.logp[0] = lp
    feeding = [(row, child) for row, child in pairs if child.children or len(child.tokens) > 1]
    for begin in range(0, len(feeding), batch_size):
        chunk = feeding[begin : begin + batch_size]
        fed = [child.tokens if child.children else child.tokens[:-1] for _, child in chunk]
        width = max(len(f) for f in fed)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long, device=device)
        own = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
        targets = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
        for r, ((_, child), f) in enumerate(zip(chunk, fed)):
            ids[r, : len(f)] = torch.tensor(f, device=device)
            own[r, : len(f)] = 1
            targets[r, : len(child.tokens) - 1] = torch.tensor(child.tokens[1:], device=device)
        # local position j predicts token j + 1 of the row's chain (or its children's first)
        first = min(max(0, child.need - child.start - 1) for _, child in chunk)
        keep = width - min(first, min(len(f) for f in fed) - 1)
        if cache is None:
            kwargs = {"attention_mask": own}
            path_mask, path_len = own, own.sum(1)
        else:
            rows = torch.tensor([row for row, _ in chunk], device=device)
            path_mask = torch.cat([mask[rows], own], 1)
            positions = lengths[rows][:, None] + torch.arange(width, device=device)[None, :]
            kwargs = {"cache": select_rows(cache, rows, config, width), "attention_mask": path_mask,
                      "position_ids": positions}
            path_len = lengths[rows] + own.sum(1)
        res = model(input_ids=ids, use_cache=True, logits_to_keep=keep, **kwargs)
        logits = res.logits.float()  # (B, keep, V): local positions width - keep .. width - 1
        lse = torch.logsumexp(logits, -1)
        token_logp = (logits.gather(-1, targets[:, width - keep :, None]).squeeze(-1) - lse).tolist()
        for r, ((_, child), f) in enumerate(zip(chunk, fed)):
            for j in range(max(1, width - keep + 1), len(child.tokens)):
                child.logp[j] = token_logp[r][j - 1 - (width - keep)]
        if any(child.children for _, child in chunk):  # the chunk's rows are the next parents' rows
            ends = torch.tensor([len(f) - 1 - (width - keep) for f in fed], device=device)
            rows = torch.arange(len(chunk), device=device)
            next_logp = logits[rows, ends] - lse[rows, ends][:, None]  # (B, V)
            _expand(model, [child for _, child in chunk], next_logp, res.cache, path_mask, path_len,
                    batch_size, device, pad, config)
