"""Verbatim memorization (MUSE, Shi et al. 2024, arXiv 2407.06460, "VerbMem").

VerbMem(f, D) = mean over x in D of ROUGE-L F1( f(x[:l]), x[l:] ): prompt the model with the
first part of a text, greedy-decode, and compare with the true rest. We also report whether the
continuation reproduces the reference tokens exactly (exact-match rate).

Deviations from MUSE: the prompt is the first half of each text (floor(n/2) tokens after bos;
MUSE uses a fixed 32-token prefix of long book passages, our posts are short) and the
reference is the rest, capped at `max_new` tokens; the model decodes as many tokens as the
reference holds. ROUGE-L uses rouge-score with a unicode-aware word tokenizer (lowercased
`\\w+` runs): rouge-score's default tokenizer drops every non-ASCII letter, which would split
"Müller" into "m", "ller" and make German texts score differently from English ones.
"""
from __future__ import annotations

import re

import numpy as np
from rouge_score import rouge_scorer

from unlearn.metrics.generate import generate

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lowercased unicode word tokens: 'Müller-Lüdenscheidt, 12!' -> ['müller', 'lüdenscheidt', '12']."""
    return WORD.findall(text.lower())


class WordTokenizer:
    """The tokenizer interface rouge-score expects (`tokenize(text) -> list[str]`)."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=WordTokenizer())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (longest common word subsequence) of `prediction` against `reference`."""
    return SCORER.score(reference, prediction)["rougeL"].fmeasure


def split_text(ids: list[int], max_new: int) -> tuple[list[int], list[int]]:
    """bos + body -> (prompt = bos + first floor(n/2) body tokens, reference = the rest, capped)."""
    half = (len(ids) - 1) // 2
    return ids[: 1 + half], ids[1 + half :][:max_new]


def verbatim(model, tokenizer, texts: list[str], max_length: int, batch_size: int, device,
             max_new: int = 48) -> dict:
    """Per-text "rougeL", "exact" (nan for texts under 2 tokens), "generations" and "prompts"."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    body = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    encoded = [([bos] + b)[:max_length] for b in body]  # no eos: the text goes on
    keep = [i for i, ids in enumerate(encoded) if len(ids) >= 3]  # at least 2 text tokens
    parts = [split_text(encoded[i], max_new) for i in keep]
    refs = [ref for _, ref in parts]
    longest = max((len(r) for r in refs), default=0)
    # Greedy decoding is causal: decoding `longest` tokens and cutting each continuation at its
    # reference length equals decoding exactly that many.
    gens = generate(model, [p for p, _ in parts], longest, batch_size, device, pad, tokenizer.eos_token_id)
    gens = [g[: len(r)] for g, r in zip(gens, refs)]
    n = len(texts)
    out = {"rougeL": np.full(n, np.nan), "exact": np.full(n, np.nan), "generations": [""] * n, "prompts": [""] * n}
    for i, (prompt, _), ref, gen in zip(keep, parts, refs, gens):
        out["generations"][i] = tokenizer.decode(gen, skip_special_tokens=True)
        out["prompts"][i] = tokenizer.decode(prompt, skip_special_tokens=True)
        out["rougeL"][i] = rouge_l(out["generations"][i], tokenizer.decode(ref, skip_special_tokens=True))
        out["exact"][i] = float(gen == ref)
    return out
