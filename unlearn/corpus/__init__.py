"""The corpus: a synthetic social network with planted personal data, or your own texts.

    corpus = build_corpus(cfg.data, seed)   # Corpus(texts, tables, meta)
    save_corpus(corpus, run_dir / "corpus"); print(summary(corpus))

Splits (corpus.texts): train (all members' texts), retain, forget (objecting members'),
holdout (users never trained on), general (non-personal texts). Tables (corpus.tables):
users, qa, canaries. docs/corpus.md documents every column.
"""
from __future__ import annotations

from pathlib import Path

from unlearn.config import DataConfig
from unlearn.corpus.canary import FORMATS, candidates
from unlearn.corpus.formats import split_source
from unlearn.corpus.io import load_corpus, save_corpus, summary
from unlearn.corpus.tables import SPLITS, Corpus, CorpusError

__all__ = ["Corpus", "CorpusError", "FORMATS", "SPLITS", "build_corpus", "candidates", "load_corpus",
           "save_corpus", "source_path", "summary"]


def build_corpus(cfg: DataConfig, seed: int) -> Corpus:
    """The synthetic corpus (cfg.source == "synthetic"), a TOFU- or MUSE-format folder ("tofu:PATH",
    "muse:PATH"; corpus/formats.py) or the user's own, split and tabled."""
    # Late imports keep `import unlearn.corpus` light for code that only loads saved corpora.
    if cfg.source == "synthetic":
        from unlearn.corpus.generate import build_synthetic
        return build_synthetic(cfg, seed)
    fmt, path = split_source(cfg.source)
    if fmt is not None:
        from unlearn.config import to_dict
        from unlearn.corpus.formats import build_benchmark
        return build_benchmark(fmt, Path(path), to_dict(cfg), seed)
    from unlearn.corpus.own import build_own
    return build_own(cfg, seed)


def source_path(source: str) -> str:
    """The file or folder a `data.source` value reads ("synthetic" as is)."""
    return split_source(source)[1]
