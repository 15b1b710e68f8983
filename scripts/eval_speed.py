"""Seconds of one SmolLM2 evaluation (the flagship's measurement plan, one model) with the QA
continuations scored prompt by prompt through a shared KV cache (today's code) against scoring every
(prompt, continuation) sequence in full (the earlier code, kept here as `full_pass_nll`), and the
largest difference between the two runs' metric arrays. Needs a run folder with the SmolLM2
corpus and a fine-tuned model (e.g. `unlearn run configs/experiments/smollm2.yaml`).

    python scripts/eval_speed.py RUN_DIR [key=value ...]

Measured on this 2-core machine (runs/sm-fm6-original: SmolLM2 fine-tuned with fact_mentions 1-6,
the flagship's plan): 112.6 s against 162.5 s (0.69x; QA 57.9 s against 104.1 s), the largest
difference of a metric array 1.4e-4 (float rounding of NLLs), every decoded answer identical.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch


def full_pass_nll(model, tokenizer, pairs, max_length, batch_size, device):
    """The earlier continuation scoring: every (prompt + continuation) sequence through the model."""
    from unlearn.data import TokenData
    from unlearn.metrics.qa import common_prefix
    from unlearn.metrics.scoring import token_logprobs

    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    fulls = tokenizer([p + c for p, c in pairs], add_special_tokens=False)["input_ids"]
    starts = [common_prefix(p, f) for p, f in zip(prompts, fulls)]
    logprobs = token_logprobs(model, TokenData([([bos] + f)[:max_length] for f in fulls], pad), batch_size, device)
    return np.array([-lp[s:].mean() if len(lp) > s else np.nan for lp, s in zip(logprobs, starts)])


def main() -> None:
    from unlearn.config import load_config
    from unlearn.corpus import load_corpus
    from unlearn.metrics import qa
    from unlearn.metrics.evaluate import evaluate_model, make_plan
    from unlearn.models import load_model

    run = Path(sys.argv[1])
    cfg = load_config("configs/experiments/smollm2.yaml", sys.argv[2:])
    corpus = load_corpus(next(run.glob("corpus-*/corpus")))
    plan = make_plan(corpus, corpus.texts, {}, cfg.eval, cfg.seeds[0])
    model, tok = load_model(next(run.glob("original-*/model")))
    out = {}
    for name, scorer in (("shared prompt cache", qa.continuation_nll), ("full sequences", full_pass_nll)):
        qa.continuation_nll = scorer
        timings = {}
        torch.manual_seed(0)
        start = time.perf_counter()
        arrays = evaluate_model(model, tok, plan, cfg, cfg.seeds[0], "cpu", timings=timings)
        out[name] = (time.perf_counter() - start, timings, arrays)
        print(f"{name}: {out[name][0]:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in timings.items())})", flush=True)
    (new, _, a), (old, _, b) = out["shared prompt cache"], out["full sequences"]
    numeric = [k for k in a if np.asarray(a[k]).dtype.kind == "f"]
    diff = max(float(np.nanmax(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) if np.size(a[k]) else 0.0 for k in numeric)
    same = all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a if k not in numeric)
    print(f"today / earlier: {new / old:.2f}; largest difference of a metric array {diff:.2e}; "
          f"non-float arrays identical: {same}")


if __name__ == "__main__":
    main()
