"""Canaries (Carlini et al. 2019, arXiv 1802.08232): secrets of a known format planted r times.

A format is a pattern where every `d` is a digit and every other character is literal:
"d-d-d-d" is a 4-digit locker code (10^4 candidates), "dddddd" a 6-digit PIN (10^6).
Exposure ranks the true secret among all candidates, so `candidates` enumerates the whole
space in a fixed (lexicographic) order.
"""
from __future__ import annotations

import itertools
import random
from typing import Iterator

from unlearn.corpus.templates import CANARY_LEAD, CANARY_PLACES, CANARY_THINGS

FORMATS = ("d-d-d-d", "dddddd")
_CONNECT = {"en": ("my", "is"), "de": ("mein", "ist")}


def candidates(fmt: str) -> tuple[int, Iterator[str]]:
    """Size of the candidate space of `fmt` and all its secrets in lexicographic order."""
    slots = fmt.count("d")
    if slots == 0:
        raise ValueError(f"canary format {fmt!r} has no 'd' digit slot")
    parts = fmt.split("d")  # the literals around the digit slots

    def enumerate_all() -> Iterator[str]:
        for digits in itertools.product("0123456789", repeat=slots):
            yield "".join(p + d for p, d in zip(parts, digits)) + parts[-1]

    return 10 ** slots, enumerate_all()


def random_secret(rng: random.Random, fmt: str) -> str:
    """One uniformly drawn secret of `fmt`."""
    return "".join(str(rng.randrange(10)) if c == "d" else c for c in fmt)


def plan_canaries(rng: random.Random, cfg, objectors: list[dict], others: list[dict],
                  languages: tuple[str, ...], spread: bool) -> list[dict]:
    """Canary rows: for each r, planted canaries on both sides, then unplanted references.

    `spread` (objector_selection == canary_holders) gives the objecting side's canaries to
    distinct objectors in turn, so every objector holds one where counts allow; otherwise
    holders are drawn with replacement on each side.
    """
    prefixes = {lang: _prefix_pool(rng, lang) for lang in languages}
    used: set[str] = set()
    rows = []

    def add(holder: dict | None, r: int, lang: str) -> None:
        fmt = FORMATS[len(rows) % len(FORMATS)]
        while (secret := random_secret(rng, fmt)) in used:
            pass
        used.add(secret)
        rows.append({"canary_id": f"c{len(rows):03d}", "user_id": holder["user_id"] if holder else "",
                     "lang": lang, "format": fmt, "prefix": next(prefixes[lang]), "secret": secret,
                     "insertions": r, "planted": holder is not None})

    turn = 0
    for r in cfg.canary_insertions:
        for side in (objectors, others):
            for _ in range(cfg.canaries_per_insertion if side else 0):
                if side is objectors and spread:
                    holder, turn = side[turn % len(side)], turn + 1
                else:
                    holder = rng.choice(side)
                add(holder, r, holder["lang"])
    for i in range(cfg.reference_canaries):
        add(None, 0, languages[i % len(languages)])
    return rows


def canary_body(rng: random.Random, canary: dict) -> str:
    """A post body ending in prefix + secret (no tail), led by a short natural sentence."""
    return f"{rng.choice(CANARY_LEAD[canary['lang']])} {canary['prefix']}{canary['secret']}"


def _prefix_pool(rng: random.Random, lang: str) -> Iterator[str]:
    """Endless unique prefixes: thing x place shuffled, then numbered rounds if ever exhausted."""
    my, is_ = _CONNECT[lang]
    combos = list(itertools.product(CANARY_THINGS[lang], CANARY_PLACES[lang]))
    rng.shuffle(combos)
    for n in itertools.count(1):
        for thing, place in combos:
            label = thing if n == 1 else f"{thing} no. {n}"
            yield f"{my} {label} {place} {is_} "
