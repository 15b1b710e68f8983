"""One look per model, the same in every figure and every run: a colour and a marker (and, for
lines, a line style), never both shared by two models.

Colours are the Okabe–Ito palette (Okabe & Ito 2008), which stays distinguishable under the common
colour-vision deficiencies; with 14 models colours must repeat, so the marker (and line style) tells
the models of one colour apart, and models of one family share a colour (GA with its variants,
NPO with SimNPO). The reference models keep the looks the figures' titles name: retrain black ★
(the target), original vermillion ✕, SISA a black square, base light grey.

Every method in unlearn.methods has a fixed look; any other name (a method variant, a checkpoint
named by `unlearn eval`) gets a colour-marker pair no named model has, picked from its name's
checksum and the next free pair among the run's other such names, so it keeps its look wherever
the same models are drawn.
"""
from __future__ import annotations

import zlib

ORANGE, SKY, GREEN, YELLOW = "#E69F00", "#56B4E9", "#009E73", "#F0E442"
BLUE, VERMILLION, PURPLE, BLACK = "#0072B2", "#D55E00", "#CC79A7", "#000000"
GREY, LIGHT_GREY = "#666666", "#AAAAAA"
PALETTE = (ORANGE, SKY, GREEN, BLUE, VERMILLION, PURPLE, YELLOW, GREY)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "p", "d")
LINES = ("-", "--", "-.", ":")

# name: (colour, marker, line style, marker size)
NAMED = {
    "retrain": (BLACK, "*", "--", 8),
    "sisa": (BLACK, "s", "-", 4.5),
    "retrain_null": (GREY, "d", ":", 5),
    "base": (LIGHT_GREY, "o", "-", 4.5),
    "original": (VERMILLION, "X", "-", 6),
    "corpus_deletion": (VERMILLION, "v", ":", 5),  # the original itself: its colour, another marker
    "ga": (ORANGE, "o", "-", 4.5),
    "graddiff": (ORANGE, "^", "--", 5),
    "ga_kl": (BLUE, "D", "-", 4),
    "npo": (PURPLE, "o", "-", 4.5),
    "simnpo": (PURPLE, "^", "--", 5),
    "retain_ft": (GREEN, "s", "-", 4.5),
    "rmu": (SKY, "P", "-", 5.5),
    "task_vector": (YELLOW, "h", "-.", 5.5),
    "idk_dpo": (GREEN, "^", "--", 5),
}


def _look(colour: str, marker: str, ls: str, ms: float) -> dict:
    # yellow on white needs a dark edge to be seen
    return dict(color=colour, marker=marker, ls=ls, ms=ms, mec="#555555" if colour == YELLOW else colour)


def styles(names) -> dict[str, dict]:
    """name -> matplotlib keywords (color, marker, ls, ms, mec) for every model in `names`."""
    named = {(c, m) for c, m, _, _ in NAMED.values()}
    pairs = [(c, m) for m in MARKERS for c in PALETTE if (c, m) not in named]
    out = {n: _look(*NAMED[n]) for n in names if n in NAMED}
    used: set = set()
    for name in sorted({n for n in names if n not in NAMED}):
        start = zlib.crc32(name.encode()) % len(pairs)
        ring = pairs[start:] + pairs[:start]
        colour, marker = next((p for p in ring if p not in used), ring[0])  # more names than pairs: repeats
        used.add((colour, marker))
        out[name] = _look(colour, marker, LINES[MARKERS.index(marker) % len(LINES)], 4.5)
    return out


def style(name: str, names) -> dict:
    """The look of model `name` among the models `names` (module docstring)."""
    return styles(list(names) + ([] if name in names else [name]))[name]
