"""What every attack shares: its context, and the forget-side measurements re-run on attacked
models (the per-item arrays of metrics/evaluate.py, on the forget split or a part of it).

Attack contract: an attack takes a model (its folder) and returns, per
setting, per-item arrays keyed `<split>.<metric>` — including its own *baseline* setting (the
same items measured without the attack: relearning for 0 steps, fp32 weights, the plain prompt,
greedy decoding), so that recovery = attacked − baseline is computed item by item. Every attack
runs on each unlearned model and on `retrain` (the control) and `original` (the ceiling).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearn.data import encode
from unlearn.metrics import METRICS, pii
from unlearn.metrics.qa import qa_eval
from unlearn.metrics.scoring import score


@dataclass
class AttackContext:
    """What an attack may use. Methods never see QA answers or canaries; attacks may, because they
    play the adversary who probes the released model (the QA rows are only ever *asked*)."""

    cfg: object  # unlearn.config.Config
    plan: object  # metrics.evaluate.EvalPlan: the evaluation rows every model is measured on
    corpus: object  # corpus.Corpus: texts (train/retain/forget/holdout/general) and tables
    seed: int
    acc: object  # accelerate.Accelerator (training attacks use train.py through it)


def forget_side(model, tok, ctx: AttackContext, texts: dict | None = None, qa: list[dict] | None = None,
                split: str = "forget") -> dict[str, np.ndarray]:
    """The cheap forget-side arrays: the teacher-forced metrics and PII extraction of `texts`
    ({"text", "pii", "user_id"} lists; default the plan's forget split), and the QA metrics of
    `qa` rows (default none: decoding is the expensive part)."""
    cfg, device = ctx.cfg, ctx.acc.device
    rows = texts if texts is not None else ctx.plan.texts[split]
    arrays = {}
    if rows["text"]:
        scored = score(model, encode(tok, rows["text"], cfg.model.max_length), cfg.eval.batch_size, device)
        arrays.update({f"{split}.{name}": m.fn(scored, rows["text"]) for name, m in METRICS.items()})
        spans = pii.pii_spans(tok, rows["text"], rows["pii"], rows["user_id"], cfg.model.max_length)
        logp = pii.span_logprob(scored, spans)
        arrays[f"{split}.pii_extraction"] = pii.span_greedy(scored, spans)
        arrays[f"{split}.pii_logprob"] = logp
        arrays[f"{split}.pii_extraction_sampled"] = pii.np_extractable(logp, cfg.eval.extraction_n,
                                                                      cfg.eval.extraction_p)
    if qa:
        out = qa_eval(model, tok, qa, cfg.model.max_length, cfg.eval.batch_size, device)
        arrays[f"{split}.qa_accuracy"] = np.asarray(out["correct"], float)
        arrays[f"{split}.qa_answer_prob"] = np.asarray(out["answer_prob"], float)
        arrays[f"{split}.truth_ratio"] = np.asarray(out["truth_ratio"], float)
    return arrays
