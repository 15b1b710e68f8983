"""The corpus: a synthetic social network with planted personal data, or your own texts.

    corpus = build_corpus(cfg.data, seed)   # Corpus(texts, tables, meta)
    save_corpus(corpus, run_dir / "corpus"); print(summary(corpus))

Splits (corpus.texts): train (all members' texts), retain, forget (objecting members'),
holdout (users never trained on), general (non-personal texts). Tables (corpus.tables):
users, qa, canaries. The README's "The corpus" section documents every column.
"""
from __future__ import annotations

from unlearn.config import DataConfig
from unlearn.corpus.canary import FORMATS, candidates
from unlearn.corpus.io import load_corpus, save_corpus, summary
from unlearn.corpus.tables import SPLITS, Corpus, CorpusError

__all__ = ["Corpus", "CorpusError", "FORMATS", "SPLITS", "build_corpus", "candidates", "load_corpus",
           "save_corpus", "summary"]


def build_corpus(cfg: DataConfig, seed: int) -> Corpus:
    """The synthetic corpus (cfg.source == "synthetic") or the user's own, split and tabled."""
    # Late imports keep `import unlearn.corpus` light for code that only loads saved corpora.
    if cfg.source == "synthetic":
        from unlearn.corpus.generate import build_synthetic
        return build_synthetic(cfg, seed)
    from unlearn.corpus.own import build_own
    return build_own(cfg, seed)
