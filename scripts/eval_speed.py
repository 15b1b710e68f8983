"""Seconds of one SmolLM2 evaluation (the flagship's measurement plan, one model) with today's
code against the code before the shared-prefix work, and the largest difference between the two
runs' metric arrays. Today: the QA sequences scored through a token trie (every shared prefix token
once: the system turn, each question, an answer sentence's wording up to the value;
metrics/prefix_scoring.py), each decoding batch's shared prompt prefix computed once, greedy batches
of GREEDY_ROWS x eval.batch_size rows (metrics/generate.py). Before: every (prompt, continuation)
sequence scored in full (`full_pass_nll` below), every prompt decoded in full, batches of
eval.batch_size rows. The two alternate, twice each, because the host's speed drifts. Needs a run
folder with the SmolLM2 corpus and a fine-tuned model (e.g. `unlearn run configs/experiments/smollm2.yaml`).

    python scripts/eval_speed.py RUN_DIR [key=value ...] [--out experiments/bench/eval_speed.json]

With --out, the timings and the largest difference go to a JSON file that `unlearn bench`
reports as smollm2.eval_vs_before.

Measured on this 2-core machine (runs/sm-fm6-original: SmolLM2 fine-tuned with fact_mentions 1-6,
the flagship's plan): 93.1 s against 150.4 s (0.62x; 94.9 and 91.3 s against 156.0 and 144.7 s;
QA 40.5 s against 95.9 s; scoring 15, exposure 28, verbatim 7 s unchanged), the largest difference
of a metric array 1.3e-4 (float rounding of NLLs), every decoded answer identical.
"""
from __future__ import annotations

import json
import platform
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
    from run_folder import load_run, take_out

    from unlearn.metrics import generate, qa
    from unlearn.metrics.evaluate import evaluate_model

    out_path, args = take_out(sys.argv[1:])
    run = Path(args[0])
    cfg, corpus, plan, model, tok = load_run(run, args[1:])
    # today's code, and the code before: every QA sequence scored in full, every prompt of a batch
    # decoded in full, greedy batches of eval.batch_size rows; alternated, twice each (the host's
    # speed drifts by ~10% within minutes), in the order before, today, before, today
    paths = {"full sequences": (full_pass_nll, lambda model, prompts: 0, 1),
             "shared prefixes": (qa.continuation_nll, generate._shared_prefix, generate.GREEDY_ROWS)}
    out, walls = {}, {name: [] for name in paths}
    for name in [*paths, *paths]:
        qa.continuation_nll, generate._shared_prefix, generate.GREEDY_ROWS = paths[name]
        timings = {}
        torch.manual_seed(0)
        start = time.perf_counter()
        arrays = evaluate_model(model, tok, plan, cfg, cfg.seeds[0], "cpu", timings=timings)
        walls[name].append(time.perf_counter() - start)
        out[name] = (float(np.mean(walls[name])), timings, arrays)
        print(f"{name}: {walls[name][-1]:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in timings.items())})", flush=True)
    (new, _, a), (old, _, b) = out["shared prefixes"], out["full sequences"]
    numeric = [k for k in a if np.asarray(a[k]).dtype.kind == "f"]
    diff = max(float(np.nanmax(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) if np.size(a[k]) else 0.0 for k in numeric)
    same = all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a if k not in numeric)
    changed = {k: int(np.sum(np.asarray(a[k]) != np.asarray(b[k]))) for k in a if k not in numeric}
    print(f"today / earlier: {new / old:.2f}; largest difference of a metric array {diff:.2e}; "
          f"non-float arrays identical: {same} (entries that differ: {changed})")
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        record = {"run": str(run), "today_s": new, "before_s": old, "walls": walls, "max_abs_diff": diff,
                  "non_float_identical": same, "non_float_changed": changed,
                  "timings_today": out["shared prefixes"][1], "timings_before": out["full sequences"][1],
                  "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"}
        out_path.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
