"""Utility beside forgetting: fluency of generations, general-knowledge probes, harmonic mean.

- fluency(g) = (distinct word bigrams / word bigrams) x (share of words found in a lexicon of
  reference texts). No paper defines a judge-free fluency score; this one is ours. The first
  factor falls when a model loops ("the the the"), the second when it emits gibberish or
  invented tokens, the usual collapse modes of gradient-ascent unlearning: gibberish is not
  forgetting. A generation with fewer than 2 words has a distinct ratio
  of 1; one without words scores 0. Words are lowercased unicode `\\w+` runs.
- probes: short general-knowledge clozes, half English, half German, that a small pretrained
  model can complete; the evaluation keeps those the base model gets right, so a probe lost
  after unlearning is collateral damage to pretraining knowledge.
- model utility = harmonic mean of the normalised utility figures (TOFU, arXiv 2401.06121,
  aggregates its utility metrics the same way): one collapsed figure pulls it to 0.
"""
from __future__ import annotations

import math

import numpy as np

from unlearn.metrics.generate import generate
from unlearn.metrics.qa import contains
from unlearn.metrics.verbatim import words


def lexicon(texts: list[str]) -> set[str]:
    """The lowercased words of the reference texts."""
    return {w for text in texts for w in words(text)}


def fluency(generations: list[str], lexicon: set[str]) -> np.ndarray:
    """Per generation: distinct-bigram ratio x in-lexicon word share (0 without words)."""
    out = np.zeros(len(generations))
    for i, text in enumerate(generations):
        ws = words(text)
        if not ws:
            continue
        bigrams = list(zip(ws, ws[1:]))
        distinct = len(set(bigrams)) / len(bigrams) if bigrams else 1.0
        out[i] = distinct * sum(w in lexicon for w in ws) / len(ws)
    return out


def _probe(prompt: str, answer: str, lang: str) -> dict:
    return {"prompt": prompt, "answer": answer, "lang": lang}


# The same 20 facts in both languages (parallel, so EN and DE retention can be compared).
GENERAL_PROBES: list[dict] = [_probe(p, a, "en") for p, a in [
    ("The capital of France is", "Paris"), ("The capital of Italy is", "Rome"),
    ("The capital of Germany is", "Berlin"), ("The capital of Japan is", "Tokyo"),
    ("The capital of England is", "London"), ("The capital of Russia is", "Moscow"),
    ("Monday, Tuesday, Wednesday, Thursday,", "Friday"), ("January, February, March,", "April"),
    ("One, two, three, four,", "five"), ("Two plus two is", "four"),
    ("Water freezes at zero degrees", "Celsius"), ("The Earth orbits the", "Sun"),
    ("The opposite of hot is", "cold"), ("Spring, summer, autumn and", "winter"),
    ("Water is made of hydrogen and", "oxygen"), ("The chemical symbol for gold is", "Au"),
    ("The first man on the Moon was Neil", "Armstrong"), ("The Mona Lisa was painted by Leonardo da", "Vinci"),
    ("Romeo and Juliet was written by William", "Shakespeare"),
    ("The tallest mountain in the world is Mount", "Everest"),
]] + [_probe(p, a, "de") for p, a in [
    ("Die Hauptstadt von Frankreich ist", "Paris"), ("Die Hauptstadt von Italien ist", "Rom"),
    ("Die Hauptstadt von Deutschland ist", "Berlin"), ("Die Hauptstadt von Japan ist", "Tokio"),
    ("Die Hauptstadt von England ist", "London"), ("Die Hauptstadt von Russland ist", "Moskau"),
    ("Montag, Dienstag, Mittwoch, Donnerstag,", "Freitag"), ("Januar, Februar, März,", "April"),
    ("Eins, zwei, drei, vier,", "fünf"), ("Zwei plus zwei ist", "vier"),
    ("Wasser gefriert bei null Grad", "Celsius"), ("Die Erde kreist um die", "Sonne"),
    ("Das Gegenteil von heiß ist", "kalt"), ("Frühling, Sommer, Herbst und", "Winter"),
    ("Wasser besteht aus Wasserstoff und", "Sauerstoff"), ("Das chemische Symbol für Gold ist", "Au"),
    ("Der erste Mensch auf dem Mond war Neil", "Armstrong"), ("Die Mona Lisa malte Leonardo da", "Vinci"),
    ("Romeo und Julia schrieb William", "Shakespeare"),
    ("Der höchste Berg der Welt ist der Mount", "Everest"),
]]


def probe_eval(model, tokenizer, probes: list[dict], batch_size: int, device, max_new: int = 8) -> np.ndarray:
    """1.0 per probe whose greedy continuation contains its answer, else 0.0."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    body = tokenizer([p["prompt"] for p in probes], add_special_tokens=False)["input_ids"]
    gens = generate(model, [[bos] + b for b in body], max_new, batch_size, device, pad, tokenizer.eos_token_id)
    return np.array([float(contains(tokenizer.decode(g, skip_special_tokens=True), p["answer"]))
                     for g, p in zip(gens, probes)])


def harmonic_mean(values: list[float]) -> float:
    """Harmonic mean of the non-nan values; 0 if any is 0, nan if none is left."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan
    if any(v == 0 for v in kept):
        return 0.0
    return len(kept) / sum(1 / v for v in kept)
