"""Teacher-forced scoring of continuations that share their prompts, computing each prompt once.

A QA row is scored as 1 + k continuations of one prompt (the answer sentence, its paraphrase and
its perturbations for the truth ratio; the prompting attack adds k-shot prefixes): scoring every
(prompt, continuation) sequence in full ran the ~40 prompt tokens through the model k + 1 times,
while the continuations are ~13 tokens. Here each distinct prompt goes through the model once
(its keys and values kept: the KV cache), each continuation then runs on its prompt's cached rows
(metrics/kv_rows.py `select_rows`), and only continuation positions reach the output layer. The
log-probabilities equal those of the full pass up to float rounding (tests/test_generation_metrics.py
compares them): attention over cached keys is the same attention; position ids continue each
prompt's own length, so a shorter prompt padded in its batch is not shifted.
"""
from __future__ import annotations

import numpy as np
import torch

from unlearn.metrics.kv_rows import select_rows


@torch.inference_mode()
def continuation_logprobs(model, seqs: list[list[int]], cuts: list[int], batch_size: int, device,
                          pad: int) -> list[np.ndarray]:
    """Per sequence, log π(seq[t] | seq[:t]) for t = cut .. len - 1 (float32). `cut` ≥ 1: the
    prefix seq[:cut] is shared by every sequence with the same prefix and computed once."""
    model.eval()
    groups: dict[tuple, list[int]] = {}
    for i, (seq, cut) in enumerate(zip(seqs, cuts)):
        if not 1 <= cut <= len(seq):
            raise ValueError(f"sequence {i}: prefix length {cut} outside 1..{len(seq)}")
        groups.setdefault(tuple(seq[: cut - 1]), []).append(i)  # the last prefix token starts the tail
    out: list[np.ndarray | None] = [None] * len(seqs)
    alone = groups.pop((), [])  # scored from their first token: nothing to cache (a fully masked row would be NaN)
    for start in range(0, len(alone), batch_size):
        members = alone[start : start + batch_size]
        for i, scores in zip(members, _score(model, [seqs[i] for i in members], None, None, None, pad, device)):
            out[i] = scores
    prefixes = sorted(groups, key=len)
    config = getattr(model, "cache_config", model.config)  # a SISA ensemble: one per part
    for start in range(0, len(prefixes), batch_size):
        chunk = prefixes[start : start + batch_size]
        members = [(p, i) for p, prefix in enumerate(chunk) for i in groups[prefix]]
        tails = [seqs[i][cuts[i] - 1 :] for _, i in members]  # the last prefix token, then the continuation
        width = len(chunk[-1])
        ids = torch.full((len(chunk), width), pad, dtype=torch.long, device=device)
        mask = torch.zeros((len(chunk), width), dtype=torch.long, device=device)
        for p, prefix in enumerate(chunk):
            ids[p, : len(prefix)] = torch.tensor(prefix, device=device)
            mask[p, : len(prefix)] = 1
        cache = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1).cache
        rows = torch.tensor([p for p, _ in members], device=device)
        spare = max(len(t) for t in tails)
        logp = _score(model, tails, select_rows(cache, rows, config, spare), mask[rows], mask.sum(1)[rows], pad, device)
        for (_, i), scores in zip(members, logp):
            out[i] = scores
    return out


def _score(model, tails, cache, prefix_mask, lengths, pad, device) -> list[np.ndarray]:
    """log-probs of tail[1:] given the cached prefix and tail[:-1], per tail."""
    width = max(len(t) for t in tails)
    ids = torch.full((len(tails), width), pad, dtype=torch.long, device=device)
    mask = torch.zeros((len(tails), width), dtype=torch.long, device=device)
    for r, tail in enumerate(tails):
        ids[r, : len(tail)] = torch.tensor(tail, device=device)
        mask[r, : len(tail)] = 1
    kwargs = {}
    if cache is not None:
        positions = lengths[:, None] + torch.arange(width, device=device)[None, :]  # each prompt's own length on
        kwargs = {"cache": cache, "position_ids": positions, "attention_mask": torch.cat([prefix_mask, mask], 1)}
    else:
        kwargs = {"attention_mask": mask}
    logits = model(input_ids=ids, use_cache=cache is not None, **kwargs).logits[:, :-1].float()
    # log-softmax at the next token only: its logit minus the log-sum-exp (no (N, T, V) log-softmax written)
    logp = logits.gather(-1, ids[:, 1:, None]).squeeze(-1) - torch.logsumexp(logits, -1)  # (N, width - 1)
    return [logp[r, : len(tail) - 1].cpu().numpy().astype(np.float32) for r, tail in enumerate(tails)]
