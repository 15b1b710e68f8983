"""Canary exposure (Carlini et al. 2019, "The Secret Sharer", arXiv 1802.08232).

A canary is a secret s of a known format (R = every string of that format) written after a
fixed context c in r training texts. Candidates are ranked by log-perplexity under the model,
lowest first:

    exposure(s) = log2 |R| − log2 rank(s),   rank(s) = 1 + |{s' ∈ R : log π(s'|c) > log π(s|c)}|

so ties resolve in the secret's favour (an upper bound on exposure when scores tie). For large R
(§4.3) the log-perplexities of sampled candidates are fitted by a skew-normal and
exposure ≈ −log2 CDF(−log π(s|c)), clipped to [0, log2 |R|].

Scoring: each candidate is tokenised as part of the full string c + candidate (BPE can merge
across the boundary), bos prepended. The longest token prefix that all candidates of one call
share is the "shared prefix"; each candidate's score is the summed log-prob of its remaining
tokens. The shared prefix's log-prob is the same for all candidates, so ranks equal ranks by
full-text likelihood; but scores are comparable only within one call, so the secret is scored
together with its candidates. The shared prefix is capped so every candidate keeps ≥ 1 token.

Speed: `candidate_logprobs` runs the shared prefix once and walks a trie of the remainders with
a key/value cache: one step per internal trie node, chains of single-child nodes merged into
one multi-token step (~1.1k steps for 'd-d-d-d' instead of 10^4 full sequences), depth first
in chunks of `batch_size` rows so that at most about depth × batch_size cache rows are alive. `candidate_logprobs_naive` is the plain teacher-forced
reference.
"""
from __future__ import annotations

import itertools
import math
import random
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import skewnorm
from transformers import DynamicCache

from unlearn.data import collate
from unlearn.metrics.kv_rows import select_rows

SPACE = {"d-d-d-d": 10**4, "dddddd": 10**6}


def _check(fmt: str) -> None:
    """Unknown formats raise, listing the valid ones."""
    if fmt not in SPACE:
        raise ValueError(f"unknown canary format {fmt!r}; valid: {sorted(SPACE)}")


def _fill(fmt: str, number: int) -> str:
    """The secret whose digits, read left to right, spell `number` (zero-padded)."""
    digits = iter(f"{number:0{fmt.count('d')}d}")
    return "".join(next(digits) if ch == "d" else ch for ch in fmt)


def all_candidates(fmt: str) -> list[str]:
    """Every secret of the format, sorted ('0-0-0-0', '0-0-0-1', ...)."""
    _check(fmt)
    # one choice set per character; product varies the last position fastest -> sorted order
    choices = ["0123456789" if ch == "d" else ch for ch in fmt]
    return ["".join(p) for p in itertools.product(*choices)]


def sample_candidates(fmt: str, n: int, seed: int) -> list[str]:
    """n distinct secrets of the format drawn uniformly without replacement, seeded."""
    _check(fmt)
    return [_fill(fmt, i) for i in random.Random(seed).sample(range(SPACE[fmt]), n)]


# (tokenizer fingerprint, context, candidates) -> (shared prefix tokens, remainder set), least
# recently used last out. Remainder sets are interned: the canaries of one format usually tokenise
# to the same remainders whatever their context (every canary of every seed then shares one trie),
# and a set is dropped once no entry refers to it. The entries' distinct remainders are capped at
# _MEMO_CANDIDATES candidates (python token tuples and trie nodes: ~650 B per 'd-d-d-d' candidate).
_MEMO: OrderedDict = OrderedDict()
_REMAINDERS: dict = {}  # remainder set -> its slot [the set, its trie (built on first use) or None, entries using it]
_MEMO_CANDIDATES = 5 * 10**5
_MEMO_SIZE = 4096  # entries (each holds its context's tokens)


def _encode(tokenizer, context: str, candidates: list[str]) -> tuple[list[list[int]], int]:
    """bos + tokens(context + candidate) per candidate and the shared prefix length, memoised:
    every model of an experiment shares the tokenizer and ranks the same canaries, and
    tokenising 10^4 context + candidate strings costs more than the cached forward steps on a
    small model."""
    prefix, slot = _MEMO[_remember(tokenizer, context, candidates)]
    return [list(prefix) + list(r) for r in slot[0]], len(prefix)


def _remember(tokenizer, context: str, candidates: list[str]) -> tuple:
    """The memo key of (tokenizer, context, candidates), encoding them on first sight."""
    key = (tokenizer_fingerprint(tokenizer), context, hash(tuple(candidates)), len(candidates))
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return key
    seqs, shared = _encode_uncached(tokenizer, context, candidates)
    remainders = tuple(tuple(s[shared:]) for s in seqs)
    slot = _REMAINDERS.setdefault(remainders, [remainders, None, 0])
    slot[2] += 1
    _MEMO[key] = (tuple(seqs[0][:shared]), slot)
    while len(_MEMO) > 1 and (len(_MEMO) > _MEMO_SIZE or sum(len(r) for r in _REMAINDERS) > _MEMO_CANDIDATES):
        _, (_, old) = _MEMO.popitem(last=False)
        old[2] -= 1
        if not old[2]:
            del _REMAINDERS[old[0]]
    return key


def _encoded_trie(tokenizer, context: str, candidates: list[str]) -> tuple[tuple[int, ...], int, _Node]:
    """(the shared prefix tokens, the longest remainder's length, the trie of the remainders),
    memoised like `_encode` (the walk never changes a trie; building 10^4-candidate tries of
    python nodes cost about as much as the walk)."""
    prefix, slot = _MEMO[_remember(tokenizer, context, candidates)]
    if slot[1] is None:
        slot[1] = _trie([list(r) for r in slot[0]])
    return prefix, max(len(r) for r in slot[0]), slot[1]


def tokenizer_fingerprint(tokenizer) -> int:
    """The same tokenizer (vocabulary, merges, normalisation; bos/eos) gives the same fingerprint."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hash((spec, tokenizer.bos_token_id, tokenizer.eos_token_id))


def _encode_uncached(tokenizer, context: str, candidates: list[str]) -> tuple[list[list[int]], int]:
    """bos + tokens(context + candidate) for each candidate, and the shared prefix length."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    texts = [context + c for c in candidates]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # the Rust tokenizer's ids directly (transformers' wrapping doubles the cost)
        body = [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    else:
        body = tokenizer(texts, add_special_tokens=False)["input_ids"]
    seqs = [[bos] + ids for ids in body]
    shared = min(len(s) for s in seqs) - 1  # every candidate keeps at least one scored token
    first = seqs[0]
    for seq in seqs[1:]:
        while seq[:shared] != first[:shared]:
            shared -= 1
    return seqs, shared


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Log-probs over the last axis in at least float32 (float64 models stay float64)."""
    return torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)


@dataclass
class _Node:
    """A trie node: a run of remainder tokens (one, or a merged chain); `ends` are the candidates
    whose remainder ends after its last token."""

    tokens: list[int]
    children: dict[int, _Node] = field(default_factory=dict)
    ends: list[int] = field(default_factory=list)


def _trie(remainders: list[list[int]]) -> _Node:
    """Trie of the remainder token sequences (root = the shared prefix, tokens unused), with
    chains merged: a node where no candidate ends and only one path goes on absorbs its child when
    that child has children itself ('-' after each digit of 'd-d-d-d'), so the walk feeds both
    tokens in one step; leaves stay single tokens (scored from their parent's step, never fed)."""
    root = _Node([-1])
    for i, seq in enumerate(remainders):
        node = root
        for tok in seq:
            node = node.children.get(tok) or node.children.setdefault(tok, _Node([tok]))
        node.ends.append(i)
    stack = list(root.children.values())
    while stack:
        node = stack.pop()
        while len(node.children) == 1 and not node.ends:
            (child,) = node.children.values()
            if not child.children:
                break
            node.tokens, node.children, node.ends = node.tokens + child.tokens, child.children, child.ends
        stack.extend(node.children.values())
    return root



def _expand(model, parents: list[_Node], bases: list[float], logp: torch.Tensor,
            cache: DynamicCache, out: np.ndarray, batch_size: int, spare: int) -> None:
    """Score the children of `parents` and recurse into the internal ones.

    `logp` (P, V) holds each parent's next-token log-probs, `cache` its P cache rows and
    `bases` the summed log-prob of the path up to it; `spare` cache slots cover the deepest path.
    A child's first token is scored from `logp`; a merged chain's further tokens, and its
    children, from one forward of all its tokens.
    """
    pairs = [(row, child) for row, node in enumerate(parents) for child in node.children.values()]
    rows = torch.tensor([row for row, _ in pairs], device=logp.device)
    toks = torch.tensor([child.tokens[0] for _, child in pairs], device=logp.device)
    token_logp = logp[rows, toks].double().tolist()  # (n_children,)
    stepping: dict[int, list] = {}  # tokens fed -> (cache row of the parent, child, score so far)
    for (row, child), lp in zip(pairs, token_logp):
        score = bases[row] + lp
        if len(child.tokens) == 1:
            out[child.ends] = score
        if child.children:
            stepping.setdefault(len(child.tokens), []).append((row, child, score))
    for width, steps in sorted(stepping.items()):
        for start in range(0, len(steps), batch_size):
            chunk = steps[start : start + batch_size]
            sub = select_rows(cache, torch.tensor([r for r, _, _ in chunk], device=logp.device),
                              getattr(model, "cache_config", model.config), spare)  # a SISA ensemble: one per part
            ids = torch.tensor([c.tokens for _, c, _ in chunk], device=logp.device)  # (B, width)
            res = model(input_ids=ids, cache=sub, use_cache=True)
            step_logp = _log_softmax(res.logits)  # (B, width, V)
            scores = [s for _, _, s in chunk]
            if width > 1:  # the chain's own tokens after its first
                inner = step_logp[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1).double().sum(1).tolist()
                scores = [s + x for s, x in zip(scores, inner)]
                for (_, c, _), score in zip(chunk, scores):
                    out[c.ends] = score
            _expand(model, [c for _, c, _ in chunk], scores, step_logp[:, -1], res.cache, out, batch_size, spare)


@torch.inference_mode()
def candidate_logprobs(model, tokenizer, context: str, candidates: list[str], batch_size: int,
                       device: torch.device | str = "cpu") -> np.ndarray:
    """log π(candidate | bos + context) per candidate (after the shared prefix), via a
    prefix-cached trie walk; equal to `candidate_logprobs_naive` up to float error. (N,) float64.
    """
    model.eval()
    shared, spare, root = _encoded_trie(tokenizer, context, candidates)
    prefix = torch.tensor([shared], device=device)  # (1, L)
    res = model(input_ids=prefix, use_cache=True, logits_to_keep=1)
    logp = _log_softmax(res.logits[:, -1])  # (1, V)
    out = np.zeros(len(candidates), dtype=np.float64)
    _expand(model, [root], [0.0], logp, res.cache, out, batch_size, spare)
    return out


@torch.inference_mode()
def candidate_logprobs_naive(model, tokenizer, context: str, candidates: list[str], batch_size: int,
                             device: torch.device | str = "cpu") -> np.ndarray:
    """The same numbers as `candidate_logprobs` by one full teacher-forced forward of
    bos + context + candidate per candidate (right-padded batches). (N,) float64.
    """
    model.eval()
    seqs, shared = _encode(tokenizer, context, candidates)
    out = np.zeros(len(candidates), dtype=np.float64)
    for start in range(0, len(seqs), batch_size):
        batch = {k: v.to(device) for k, v in collate(seqs[start : start + batch_size], 0).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logp = _log_softmax(logits[:, :-1])  # (B, T-1, V)
        targets = batch["input_ids"][:, 1:]  # (B, T-1); target t is token t+1
        token_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).double()  # (B, T-1)
        # score targets after the shared prefix that are not padding
        keep = batch["attention_mask"][:, 1:].bool()
        keep[:, : shared - 1] = False
        out[start : start + len(token_logp)] = (token_logp * keep).sum(1).cpu().numpy()
    return out


def exposure_exact(secret_logprob: float, candidate_logprobs: np.ndarray) -> float:
    """log2 |R| − log2 rank, rank = 1 + #candidates scoring strictly higher than the secret;
    `candidate_logprobs` covers the whole space R, the secret included.
    """
    rank = 1 + int(np.sum(candidate_logprobs > secret_logprob))
    return math.log2(len(candidate_logprobs)) - math.log2(rank)


def exposure_extrapolated(secret_logprob: float, sample_logprobs: np.ndarray, space: int) -> float:
    """−log2 CDF(−secret_logprob) under a skew-normal fitted to the samples' log-perplexities
    (§4.3), clipped to [0, log2 space].
    """
    a, loc, scale = skewnorm.fit(-np.asarray(sample_logprobs, dtype=np.float64))
    bits = -skewnorm.logcdf(-secret_logprob, a, loc, scale) / math.log(2)
    return float(np.clip(bits, 0.0, math.log2(space)))


def canary_exposure(model, tokenizer, context: str, secret: str, fmt: str, exact_max: int,
                    n_samples: int, seed: int, batch_size: int,
                    device: torch.device | str = "cpu") -> float:
    """Exposure of `secret` after `context`: exact enumeration when |R| ≤ exact_max, else the
    skew-normal extrapolation from `n_samples` sampled candidates (scored with the secret).
    """
    _check(fmt)
    if SPACE[fmt] <= exact_max:
        pool = all_candidates(fmt)
        lp = candidate_logprobs(model, tokenizer, context, pool, batch_size, device)
        return exposure_exact(lp[pool.index(secret)], lp)
    samples = sample_candidates(fmt, n_samples, seed)
    pool = samples if secret in samples else samples + [secret]
    lp = candidate_logprobs(model, tokenizer, context, pool, batch_size, device)
    return exposure_extrapolated(lp[pool.index(secret)], lp[: len(samples)], SPACE[fmt])
