"""The unlearn stage: one method applied to a fresh copy of the original model.

`apply_method` runs a method's optimisation through the shared training loop (the contract test
calls it too): its optional `setup`, `precompute`, `aligned_texts` and `finish` (unlearn/methods
docstring). `unlearn_stage` loads the model, encodes the splits, records the unlearning curve
(forget and retain NLL every `log_every` steps, timed apart from the method's cost) and saves.
"""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np

from unlearn.config import MethodSpec
from unlearn.data import encode
from unlearn.methods import METHODS
from unlearn.metrics.scoring import token_logprobs
from unlearn.models import load_model
from unlearn.accel import need_whole_weights
from unlearn.flops import FlopCounter
from unlearn.train import save_outcome, train

CURVE_EXAMPLES = 32  # examples per split for the unlearning curves (scored every log_every steps)


def apply_method(method, model, ref_model, splits: dict, train_cfg, seed: int, acc, callback=None,
                 aligned: dict | None = None):
    """Run one method's optimisation on `model` in place (the contract test calls this too)."""
    params = method.setup(model) if hasattr(method, "setup") else None
    if hasattr(method, "precompute"):  # e.g. IdkDPO's reference log-probs, once instead of every step
        ref_model.to(acc.device)
        aligned = {**(aligned or {}), **method.precompute(ref_model, {"forget": splits["forget"], **(aligned or {})},
                                                          train_cfg.batch_size, acc.device)}
    result = train(model, splits, "forget", method.loss, train_cfg, seed, acc, ref_model=ref_model,
                   params=params, callback=callback, desc=f"unlearn {type(method).__name__}", aligned=aligned)
    if result.status == "ok" and hasattr(method, "finish"):
        need_whole_weights(acc, f"{type(method).__name__}'s finishing step")
        method.finish(model, ref_model)  # a weight-space step after training (task-vector negation)
    return result


def unlearn_stage(cfg, spec: MethodSpec, seed, start_model: Path, texts: dict, out, acc) -> dict:
    """Apply one method to a fresh copy of `start_model` (the original, or the previous round's)."""
    method = METHODS[spec.name](spec.params)
    if not method.trains:  # the model is the start model itself: point at it, copy nothing
        return {"status": "ok", "steps": 0, "flops": 0.0, "model_path": os.path.relpath(start_model, out)}
    model, tok = load_model(start_model)
    ref = copy.deepcopy(model) if method.needs_ref else None  # the same weights, without a second load
    splits = {"forget": encode(tok, texts["forget"]["text"], cfg.model.max_length)}
    if method.needs_retain:
        splits["retain"] = encode(tok, texts["retain"]["text"], cfg.model.max_length)
    aligned = {}
    if hasattr(method, "aligned_texts"):  # e.g. IdkDPO's refusal version of each forget text
        forget = texts["forget"]
        aligned = {name: encode(tok, rows, cfg.model.max_length)
                   for name, rows in method.aligned_texts(forget["text"], forget["lang"], forget["pii"]).items()}
    curve_data = {s: encode(tok, texts[s]["text"][:CURVE_EXAMPLES], cfg.model.max_length)
                  for s in ("forget", "retain")}

    spent = [0.0]  # seconds in the curve: our instrumentation, not the method's cost ...

    def curve(step, unwrapped):  # the unlearning curve: forget and retain NLL over steps
        start = time.perf_counter()
        point = {f"{s}_nll_eval": float(np.mean([-lp.mean() for lp in token_logprobs(
                     unwrapped, d, cfg.eval.batch_size, acc.device)])) for s, d in curve_data.items()}
        spent[0] += time.perf_counter() - start
        return point

    with FlopCounter(model, frozen=[ref]) as flops:  # the curve's scoring runs without gradients: not counted
        result = apply_method(method, model, ref, splits, spec.train, seed, acc, callback=curve, aligned=aligned)
    # ... unless the method stops on it (stop_forget_nll): then it is part of the method
    return {**save_outcome(result, model, tok, out, acc), "flops": flops.reduced(acc),
            "instrument_s": 0.0 if spec.train.stop_forget_nll > 0 else spent[0]}
