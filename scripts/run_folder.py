"""What the SmolLM2 measurement scripts share: an optional `--out FILE` argument, and the flagship
config, corpus, evaluation plan and fine-tuned original of a run folder."""
from __future__ import annotations

from pathlib import Path


def take_out(args: list[str]) -> tuple[Path | None, list[str]]:
    """(the path after `--out`, or None; the other arguments)."""
    if "--out" not in args:
        return None, args
    at = args.index("--out")
    return Path(args[at + 1]), args[:at] + args[at + 2:]


def load_run(run: Path, overrides: list[str] = ()):
    """(cfg, corpus, plan, original model, tokenizer) of a SmolLM2 run folder (seed = the config's first)."""
    from unlearn.config import load_config
    from unlearn.corpus import load_corpus
    from unlearn.metrics.evaluate import make_plan
    from unlearn.models import load_model

    cfg = load_config("configs/experiments/smollm2.yaml", list(overrides))
    corpus = load_corpus(next(run.glob("corpus-*/corpus")))
    plan = make_plan(corpus, corpus.texts, {}, cfg.eval, cfg.seeds[0])
    model, tok = load_model(next(run.glob("original-*/model")))
    return cfg, corpus, plan, model, tok
