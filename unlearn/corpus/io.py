"""Saving, loading and summarising a corpus.

Layout of a saved corpus: `texts/` and `tables/` (DatasetDict.save_to_disk) and `meta.json`.
Saving is atomic: everything is written into a temporary sibling folder that is then renamed
into place, so a killed run never leaves a half-written corpus behind. An existing folder is
replaced only if it is a corpus folder written by us (unlearn/outdir.py); any other non-empty
folder is refused before anything is written.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.compute as pc

from unlearn.corpus.tables import Corpus


def save_corpus(corpus: Corpus, out_dir: Path) -> None:
    """Write `corpus` to `out_dir` atomically, replacing an existing corpus there (only a corpus)."""
    from unlearn.outdir import MARKER, claim

    out_dir = Path(out_dir)
    claim(out_dir, "corpus")  # refuses a non-empty folder we did not write
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # left over from a killed save with our pid
    tmp.mkdir()
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per split would drown the CLI's output
    try:
        for name, dd in (("texts", corpus.texts), ("tables", corpus.tables)):
            # datasets writes no shard for an empty Dataset and then cannot load it back;
            # asking for one shard writes an empty Arrow file that loads fine.
            dd.save_to_disk(str(tmp / name), num_shards={k: 1 for k, ds in dd.items() if len(ds) == 0})
    finally:
        if bars:
            datasets.enable_progress_bars()
    (tmp / MARKER).write_text(json.dumps({"kind": "corpus"}) + "\n")
    (tmp / "meta.json").write_text(json.dumps(corpus.meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    # A folder cannot be renamed onto a non-empty folder: move the old one aside first.
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def load_corpus(out_dir: Path) -> Corpus:
    """Read a corpus written by `save_corpus`."""
    out_dir = Path(out_dir)
    meta = json.loads((out_dir / "meta.json").read_text(encoding="utf-8"))
    return Corpus(datasets.load_from_disk(str(out_dir / "texts")),
                  datasets.load_from_disk(str(out_dir / "tables")), meta)


def summary(corpus: Corpus) -> str:
    """A short multi-line overview: users, texts and tokens per split, languages, canaries."""
    users = corpus.tables["users"]
    groups = Counter(_col(users, "group"))
    rounds = Counter(r for r, o in zip(_col(users, "objection_round"), _col(users, "objects")) if o)
    by_round = ", ".join(f"round {r}: {n}" for r, n in sorted(rounds.items()))
    lines = [f"corpus ({corpus.meta.get('source')}, seed {corpus.meta.get('seed')})",
             f"users: {groups['member']} members, {groups['holdout']} holdout, "
             f"{sum(rounds.values())} objecting ({by_round or 'none'})"]
    langs: Counter = Counter()
    for name, split in corpus.texts.items():
        # Arrow kernels, not Python row iteration: summaries of 10k-user corpora stay instant.
        words = pc.list_value_length(pc.utf8_split_whitespace(split.data.column("text")))
        tokens = pc.sum(words).as_py() or 0
        kinds = Counter(_col(split, "kind"))
        lines.append(f"  {name:8s} {len(split):7d} texts {tokens:9d} tokens (whitespace)  "
                     + " ".join(f"{k}={n}" for k, n in sorted(kinds.items())))
        if name in ("train", "holdout", "general"):  # retain/forget would count train twice
            langs.update(_col(split, "lang"))
    lines.append("languages: " + ", ".join(f"{k} {n}" for k, n in sorted(langs.items())))
    canaries = corpus.tables["canaries"]
    if len(canaries):
        planted = _col(canaries, "planted")
        per_r = Counter(r for r, p in zip(_col(canaries, "insertions"), planted) if p)
        lines.append("canaries by insertions: " + ", ".join(f"r={r}: {n}" for r, n in sorted(per_r.items()))
                     + f"; reference (unplanted): {planted.count(False)}")
    lines.append(f"qa: {len(corpus.tables['qa'])} questions")
    lines += [f"note: {n}" for n in corpus.meta.get("notes", [])]
    return "\n".join(lines)


def _col(ds: datasets.Dataset, name: str) -> list:
    """A column as a Python list, straight from Arrow."""
    return ds.data.column(name).to_pylist()
