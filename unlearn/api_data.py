"""What `unlearn.evaluate` measures models on (api.py): a saved corpus (the pipeline's whole
measurement suite) or plain text lists per split (the scoring pass and its per-text metrics)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

SPLITS = ("forget", "retain", "holdout")


def is_corpus(data) -> bool:
    return not isinstance(data, dict)


def corpus_measure(data, cfg, seed: int):
    """The pipeline's measurement of one model on a saved corpus: make_plan, evaluate_model, summarize."""
    from unlearn.corpus import Corpus, load_corpus
    from unlearn.metrics.evaluate import evaluate_model, make_plan, summarize

    if isinstance(data, Corpus):
        corpus = data
    else:
        folder = Path(data)
        folder = folder / "corpus" if (folder / "corpus").is_dir() and not (folder / "texts").is_dir() else folder
        if not folder.is_dir():
            raise ValueError(f"unlearn.evaluate(): {data}: no such corpus folder (or pass a dict of text lists)")
        corpus = load_corpus(folder)
    plan = make_plan(corpus, corpus.texts, {}, cfg.eval, seed)

    def measure(model, tok, device):
        users: dict = {}
        arrays = evaluate_model(model, tok, plan, cfg, seed, device, users=users)
        metrics, ci = summarize(arrays, seed, cfg.eval.bootstrap, users)
        return arrays, {k: v for k, v in users.items() if k in arrays}, metrics, ci

    return measure


def text_measure(data: dict, cfg, seed: int):
    """The pipeline's scoring pass and its per-text metrics (what evaluate_model runs first on every
    split), then summarize, on plain text lists."""
    from unlearn.data import encode
    from unlearn.metrics import METRICS
    from unlearn.metrics.evaluate import _teacher_forced, summarize
    from unlearn.metrics.scoring import score

    unknown = sorted(set(data) - set(SPLITS))
    if unknown or not data:
        raise ValueError(f"unlearn.evaluate(): text splits must be among {', '.join(SPLITS)} "
                         f"(got {', '.join(map(repr, unknown or ['nothing']))})")
    splits = {}
    for split, rows in data.items():
        texts = list(rows["text"]) if isinstance(rows, dict) else list(rows)
        ids = list(rows["user_id"]) if isinstance(rows, dict) and "user_id" in rows else \
            [f"{split}-{i}" for i in range(len(texts))]  # no users given: each text its own unit
        if not texts or not all(isinstance(t, str) and t for t in texts):
            raise ValueError(f"unlearn.evaluate(): split {split!r} must be a non-empty list of non-empty strings")
        if len(ids) != len(texts):
            raise ValueError(f"unlearn.evaluate(): split {split!r} has {len(texts)} texts but {len(ids)} user ids")
        splits[split] = (texts, np.asarray([str(u) for u in ids], dtype=str))

    def measure(model, tok, device):
        model.to(device)
        arrays, users = {}, {}
        for split, (texts, ids) in splits.items():
            scored = score(model, encode(tok, texts, cfg.model.max_length), cfg.eval.batch_size, device)
            arrays.update(_teacher_forced(split, scored, texts))
            users.update({f"{split}.{name}": ids for name in METRICS})
        metrics, ci = summarize(arrays, seed, cfg.eval.bootstrap, users)
        return arrays, users, metrics, ci

    return measure
