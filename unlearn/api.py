"""The public Python API: `unlearn.unlearn` applies a method to a model in memory, `unlearn.evaluate`
measures models and judges them against a retrain reference. Both run the pipeline's own code:
the method classes and training loop (methods/stage.py `apply_method`, train.py), the encoding
(data.py), the measurement suite (metrics/evaluate.py, metrics/relative.py, measure.py's
`fold_reference`), the aggregation of results.json (results.py) and the verdicts
(report/verdict.py). Nothing here computes a loss, a metric or a test of its own.

    import unlearn
    model = unlearn.unlearn(model, tokenizer, forget_texts, retain_texts, method="npo", lr=5e-5)
    out = unlearn.evaluate({"original": original, "npo": model, "retrain": retrain, ...},
                           {"forget": [...], "retain": [...], "holdout": [...]},
                           reference=["retrain", ...], tokenizer=tokenizer)
    out["verdict"]["npo"]["verdict"]   # removed | suppressed | not removed | inconclusive

docs/api.md has the details and a runnable example (scripts/api_example.py).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from unlearn.config import BASE_CONFIG, Config, TrainConfig, load_config
from unlearn.api_data import corpus_measure, is_corpus, text_measure
from unlearn.config_parse import merge, note_sources, read_yaml

API = "unlearn.unlearn()"


# ----------------------------------------------------------------------------- unlearn


def method_settings(method: str, **params) -> tuple[Any, TrainConfig, Any]:
    """(method object, training settings, method knobs) for `method` with `params` over the
    defaults of configs/methods/<method>.yaml, validated as the pipeline validates a config."""
    from unlearn.config import build_config
    from unlearn.methods import METHODS

    if method not in METHODS:
        raise ValueError(f"{API}: unknown method {method!r} (valid: {', '.join(sorted(METHODS))})")
    cls = METHODS[method]
    train_keys = [f.name for f in dataclasses.fields(TrainConfig)]
    knob_keys = [f.name for f in dataclasses.fields(cls.Config)]
    unknown = sorted(set(params) - set(train_keys) - set(knob_keys))
    if unknown:
        raise ValueError(f"{API}: unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                         f"for method '{method}' (valid: training settings {', '.join(train_keys)}; method knobs "
                         f"{', '.join(knob_keys) or '(none)'})")
    raw = read_yaml(BASE_CONFIG)
    sources: dict[str, str] = {}
    note_sources(raw, str(BASE_CONFIG), sources)
    ours = {"unlearn": {"methods": [method]}, "methods": {method: dict(params)}}
    note_sources(ours, API, sources)
    cfg = build_config(merge(raw, ours), sources)  # ConfigError (a ValueError) names a bad value
    spec = cfg.methods[0]
    return cls(spec.params), spec.train, spec.params


def unlearn(model, tokenizer, forget_texts, retain_texts=(), method: str = "npo", *, max_length: int | None = None,
            seed: int = 0, languages=None, accelerator=None, **params):
    """Apply an unlearning `method` to `model` (a Hugging Face causal LM) so that it forgets
    `forget_texts`; returns the model.

    The model is trained **in place** and the same object is returned (moved to the accelerator's
    device; pass `copy.deepcopy(model)` to keep the input). Methods that need a frozen reference
    (npo, ga_kl, rmu, task_vector, idk_dpo) get a deep copy of the input model. `corpus_deletion`
    does not train: the model is returned untouched.

    `params` are training settings (`TrainConfig` fields: lr, epochs, max_steps, batch_size,
    grad_accum, warmup_ratio, schedule, weight_decay, max_grad_norm, log_every, stop_forget_nll)
    and the method's own knobs (its `Config`, e.g. npo's beta and alpha); the defaults are those of
    configs/methods/<method>.yaml, as in the pipeline. An unknown key raises ValueError naming the
    valid ones; a bad value raises ConfigError (also a ValueError). `max_length` (tokens per text,
    default base.yaml's model.max_length) truncates texts; `languages` (one per forget text, "en" or
    "de", default "en") only matters for idk_dpo's refusals. `accelerator`: an Accelerator of your
    own (e.g. one with a tracker, unlearn/tracking.py); default `train.make_accelerator()`.
    Raises RuntimeError if the training diverges (the model then holds its last finite step).
    """
    from unlearn.data import encode
    from unlearn.methods.stage import apply_method
    from unlearn.train import make_accelerator

    method_obj, train_cfg, _ = method_settings(method, **params)
    forget_texts, retain_texts = list(forget_texts), list(retain_texts or ())
    if not forget_texts:
        raise ValueError(f"{API}: forget_texts is empty: give the texts to forget")
    if method_obj.needs_retain and not retain_texts:
        raise ValueError(f"{API}: method '{method}' draws retain batches beside the forget batches; give retain_texts")
    if not method_obj.trains:
        return model
    if tokenizer.pad_token_id is None:  # as models.load_model does
        tokenizer.pad_token = tokenizer.eos_token
    max_length = max_length or load_config(BASE_CONFIG).model.max_length
    acc = accelerator if accelerator is not None else make_accelerator()
    ref = copy.deepcopy(model) if method_obj.needs_ref else None
    splits = {"forget": encode(tokenizer, forget_texts, max_length)}
    if method_obj.needs_retain:
        splits["retain"] = encode(tokenizer, retain_texts, max_length)
    aligned = {}
    if hasattr(method_obj, "aligned_texts"):  # e.g. idk_dpo's refusal version of each forget text
        langs = list(languages) if languages is not None else ["en"] * len(forget_texts)
        if len(langs) != len(forget_texts):
            raise ValueError(f"{API}: languages must give one language per forget text")
        aligned = {name: encode(tokenizer, rows, max_length)
                   for name, rows in method_obj.aligned_texts(forget_texts, langs, [[] for _ in forget_texts]).items()}
    result = apply_method(method_obj, model, ref, splits, train_cfg, seed, acc, aligned=aligned)
    if result.status != "ok":
        raise RuntimeError(f"{API}: {result.message}; lower lr or max_grad_norm")
    return model


# ----------------------------------------------------------------------------- evaluate


def evaluate(models: dict, data, reference=None, *, original: str = "original", base: str | None = None,
             tokenizer=None, config: Config | str | Path | None = None, seed: int = 0, device=None) -> dict:
    """Measure every model in `models` with the pipeline's metrics and, with `reference`, judge
    each model against the retrain reference as results.json's verdicts are judged.

    `models`: {name: a model folder (saved with save_pretrained, tokenizer beside it), a
    (model, tokenizer) pair, or a model (then `tokenizer=` is used)}. In-memory models are moved to
    `device` (default: the GPU if there is one) and left in eval mode.

    `data`: a corpus folder saved by the pipeline (a run's `corpus-*/corpus`, `unlearn data --out`;
    or the folder holding `corpus/`) or a `Corpus`: the whole suite of metrics/evaluate.py
    (teacher-forced metrics, verbatim continuation, PII extraction, QA, canary exposure, general
    probes) on its forget, retain and holdout users. Or plain texts, `{"forget": [...],
    "retain": [...], "holdout": [...]}` (each a list of strings, or `{"text": [...], "user_id": [...]}`
    so that the intervals resample users): then only the teacher-forced metrics of the scoring pass
    (nll, ppl, exact_memorization, extraction_strength and the membership scores) per split, the
    membership AUCs and TPR at 1% FPR of forget and retain against holdout (holdout needed), and the
    comparisons that need no tables (reference-model MIA with `base`, PrivLeak, model utility) —
    no PII, QA, verbatim, exposure, forget quality or general-knowledge figures, as those need the
    corpus tables.

    `reference`: the name (or names) in `models` of the retrain model(s), trained like `original`
    without the forget texts; several are replicates differing only in their training seed. The
    verdict needs at least two (three or more to have power); it also needs `original` (the name
    of the model trained with the forget texts), which shows which measurements can tell the
    reference apart. `base`: the name of the model before fine-tuning, if given (reference MIA).
    `config`: a Config or config file for the evaluation settings (`eval.*`, `model.max_length`,
    `verdict.alpha`/`margin`); default configs/base.yaml.

    Returns `{"models": {name: {"kind", "metrics", "ci"}}, "reference": {"models", "metrics", "ci"}
    (with `reference`), "verdict": {name: {"verdict", "reason", "over_unlearned", "parts", ...}}
    (every model but original, base and the reference), "settings": {...}}`; metric keys are those
    of results.json (`forget.nll`, `forget.mia_loss_auc`, ...).
    """
    from unlearn.measure import fold_reference
    from unlearn.metrics.relative import relative_metrics
    from unlearn.report.verdict import verdicts
    from unlearn.results import aggregate

    cfg = config if isinstance(config, Config) else load_config(config or BASE_CONFIG)
    refs = [reference] if isinstance(reference, str) else list(reference or [])
    _check_names(models, refs, original, base)
    device = device or ("cuda" if _cuda() else "cpu")
    measure = corpus_measure(data, cfg, seed) if is_corpus(data) else text_measure(data, cfg, seed)
    # the pipeline's model names: what fold_reference, compare and the verdicts expect
    internal = {original: "original", **({base: "base"} if base else {}),
                **{n: ("retrain" if i == 0 else f"retrain@{i}") for i, n in enumerate(refs)}}
    others = [n for n in models if n not in internal]
    internal.update({n: f"model{i}" for i, n in enumerate(others)})
    if original not in models:
        del internal[original]
    kinds = {"original": "original", "base": "base"}
    arrays, users, entries = {}, {}, {}
    for name, given in models.items():
        model, tok = _model(name, given, tokenizer)
        start = time.perf_counter()
        key = internal[name]
        arrays[key], users[key], metrics, ci = measure(model, tok, device)
        kind = kinds.get(key, "retrain" if key.startswith("retrain") else "approximate")
        entries[key] = {"kind": kind, "status": "ok", "metrics": metrics, "ci": ci,
                        "cost": {"wall_s": time.perf_counter() - start}}
    reference_keys = [k for k, e in entries.items() if e["kind"] == "retrain"]
    for key, entry in entries.items():  # measure.compare's relative metrics, on the same arrays
        peers = [(arrays[n], entries[n]["metrics"], users[n]) for n in reference_keys if n != key]
        extra, ci = relative_metrics(arrays[key], entry["metrics"], entry["ci"], users[key], arrays.get("base"),
                                     peers, seed, cfg.eval.bootstrap)
        entry["metrics"].update({k: v for k, v in extra.items() if np.isfinite(v)})
        entry["ci"].update(ci)
    back = {v: k for k, v in internal.items()}
    out = {"models": {back[k]: {f: copy.deepcopy(e[f]) for f in ("kind", "metrics", "ci")} for k, e in entries.items()},
           "settings": {"data": "corpus" if is_corpus(data) else "texts", "seed": seed,
                        "alpha": cfg.verdict.alpha, "margin": cfg.verdict.margin}}
    for name in refs:
        out["models"][name]["kind"] = "retrain"
    if not refs:
        return out
    fold_reference(entries)  # retrain = the replicates' mean, each replicate's metrics kept
    folded = {k: aggregate([e], [seed]) for k, e in entries.items()}  # results.json's model entries
    out["reference"] = {"models": refs, "metrics": folded["retrain"]["metrics"], "ci": folded["retrain"]["ci"]}
    judged = verdicts(folded, cfg.verdict.alpha, cfg.verdict.margin)
    out["verdict"] = {back[k]: v for k, v in judged.items()}
    return out


def _check_names(models: dict, refs: list, original: str, base: str | None) -> None:
    if not models:
        raise ValueError("unlearn.evaluate(): no models given")
    missing = [n for n in refs + ([base] if base else []) if n not in models]
    if missing:
        raise ValueError(f"unlearn.evaluate(): {', '.join(map(repr, missing))} not in models "
                         f"(models: {', '.join(map(repr, models))})")
    if refs and original not in models:
        raise ValueError(f"unlearn.evaluate(): a verdict needs the original model (trained with the forget texts): "
                         f"name it with original=... (no model {original!r} in {', '.join(map(repr, models))})")
    if len(set(refs)) != len(refs) or original in refs or (base and (base in refs or base == original)):
        raise ValueError("unlearn.evaluate(): reference, original and base must name different models")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _model(name: str, given, tokenizer):
    """(model, tokenizer) from a folder, a pair, or a model and the shared tokenizer."""
    if isinstance(given, (str, Path)):
        from unlearn.models import load_model

        if not (Path(given) / "config.json").is_file():
            raise ValueError(f"unlearn.evaluate(): model {name!r}: {given} is not a model folder (no config.json); "
                             "save one with model.save_pretrained(folder) and tokenizer.save_pretrained(folder)")
        return load_model(Path(given))
    if isinstance(given, tuple) and len(given) == 2:
        return given
    if tokenizer is None:
        raise ValueError(f"unlearn.evaluate(): model {name!r} is given without a tokenizer: pass (model, tokenizer) "
                         "or tokenizer=...")
    if tokenizer.pad_token_id is None:  # as models.load_model does
        tokenizer.pad_token = tokenizer.eos_token
    return given, tokenizer
