"""The measurement stages of one seed: evaluate a model (metrics/), attack it (attacks/), and
compare every model with base and the retrain reference once all are measured, then fold the
reference replicates into one `retrain` entry. `run` is pipeline.SeedRun. Each stage is cached by
the model folder it reads, like every other stage.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from unlearn.attacks.base import AttackContext
from unlearn.attacks.stage import attack_metrics, load_attack_arrays, run_attacks
from unlearn.config import compute_key, to_dict
from unlearn.metrics import bounds, mia, versions
from unlearn.metrics.evaluate import evaluate_model, make_plan, plan_key, summarize
from unlearn.metrics.relative import relative_metrics
from unlearn.models import load_model
from unlearn.stats import t_interval


def compare(run, out: dict, only: set[str] | None = None) -> None:
    """Add the metrics that compare each model with base and the retrain reference (every model
    of kind `retrain`; a replicate is compared with the others: metrics/relative.py), and each
    attack's means, recoveries and post-attack level (attacks/recovery.py); `only`: for these
    models alone (the others are the reference and base)."""
    arrays = {name: _arrays(run, e) for name, e in out.items()}
    users = {name: _users(run, e) for name, e in out.items()}
    reference = [n for n, e in out.items() if e["kind"] == "retrain" and arrays[n] is not None]
    attacked = {name: load_attack_arrays(run.stages.run_dir / e["attack_dir"])
                for name, e in out.items() if e.get("attack_dir")}
    for name, entry in out.items():
        if arrays[name] is None or (only is not None and name not in only):
            continue
        peers = [(arrays[n], out[n]["metrics"], users[n]) for n in reference if n != name]
        extra, ci = relative_metrics(arrays[name], entry["metrics"], entry["ci"], users[name], arrays.get("base"),
                                     peers, run.seed, run.cfg.eval.bootstrap)
        entry["metrics"].update({k: v for k, v in extra.items() if np.isfinite(v)})
        entry["ci"].update(ci)
        entry.setdefault("curves", {}).update(_roc(arrays[name]))
        if name in attacked:
            found = attack_metrics(attacked[name], run.cfg.attacks)
            entry["metrics"].update({k: v for k, v in found.items() if np.isfinite(v)})  # NaN: undefined
            log = json.loads((run.stages.run_dir / entry["attack_dir"] / "attacks.json").read_text())
            entry["attacks"] = {a: {k: v for k, v in r.items() if k != "traceback"} for a, r in log.items()}


def fold_reference(out: dict) -> None:
    """Make `retrain` the reference distribution: its metrics become the mean over the replicates
    (with a t interval over them, inside each metric's range), each replicate's own metrics are
    kept under `replicates`, and the other replicates' entries are dropped (their stage folders
    stay, under `replicate_dirs`). Cost, curves and folders remain those of `retrain` itself."""
    names = [n for n, e in out.items() if e["kind"] == "retrain"]
    reps = [out[n] for n in names]
    keys = set().union(*(e["metrics"] for e in reps))
    values = {k: [e["metrics"][k] for e in reps if k in e["metrics"]] for k in keys}
    first = out["retrain"]
    first["replicates"] = [e["metrics"] for e in reps]
    first["replicate_dirs"] = [{d: e[d] for d in ("eval_dir", "attack_dir") if d in e} for e in reps]
    first["metrics"] = {k: float(np.mean(v)) for k, v in sorted(values.items())}
    if len(reps) > 1:
        first["ci"] = {k: t_interval(v, bounds(k)) for k, v in sorted(values.items()) if len(v) > 1}
    first["cost"]["wall_s_replicates"] = [float(e["cost"]["wall_s"]) for e in reps]
    for n in names[1:]:
        del out[n]


def _roc(arrays: dict) -> dict:
    """The LOSS attack's ROC curves (forget and retain vs holdout) on mia.ROC_FPR, for the figures."""
    out = {}
    for split in ("forget", "retain"):
        pair = (f"{split}.loss_score", "holdout.loss_score")
        if all(k in arrays and len(arrays[k]) for k in pair):
            out[f"roc_{split}"] = {"fpr": mia.ROC_FPR.tolist(), "tpr": mia.roc_points(*(arrays[k] for k in pair)).tolist()}
    return out


def _unlearning_curve(folder: Path) -> list[dict]:
    """The forget/retain NLL logged over an unlearning run's steps (train_log.json), if any."""
    path = Path(folder) / "train_log.json"
    if not path.exists():
        return []
    log = json.loads(path.read_text())["log"]
    return [{k: e[k] for k in ("step", "forget_nll_eval", "retain_nll_eval")} for e in log if "forget_nll_eval" in e]


def _arrays(run, entry: dict, name: str = "per_example.npz") -> dict | None:
    """A model's per-item arrays from its evaluation folder."""
    if "eval_dir" not in entry:
        return None
    with np.load(run.stages.run_dir / entry["eval_dir"] / name) as data:
        return {k: data[k] for k in data.files}


def _users(run, entry: dict) -> dict:
    """The user each item of a model's arrays is about (metrics/evaluate.py item_users)."""
    return _arrays(run, entry, "item_users.npz") or {}


def attack_stage(run, folder: Path, info: dict) -> str:
    """The attack stage of one model (cached by the model folder it reads): every attack in
    `attacks.names`; one that raises is recorded in the stage and skipped, never fatal."""
    cfg, acc = run.cfg, run.acc
    model_dir = (folder / info["model_path"]).resolve()
    key = {"model": str(model_dir.relative_to(run.stages.run_dir.resolve())), "corpus": run.corpus_dir.name,
           "attacks": to_dict(cfg.attacks), "eval": to_dict(cfg.eval), "max_length": cfg.model.max_length,
           "versions": versions(), "seed": run.seed, **({"exclude": run.exclude} if run.exclude else {}),
           **plan_key(cfg.eval), **compute_key(cfg)}
    ctx = AttackContext(cfg, run.plan, run.corpus, run.seed, acc)
    attack_dir, _ = run.stages.run("attack", key, lambda out: run_attacks(model_dir, ctx, out))
    return attack_dir.name


def calibrate_relearning(run, folder: Path, info: dict) -> dict:
    """The relearning rate for every model of the seed, chosen on the original `folder` among
    `attacks.relearn_lr_candidates` (attacks/relearn.py calibrate; cached like any stage). Sets
    `run.cfg.attacks.relearn_lr` to the choice and returns the calibration record."""
    from dataclasses import replace

    from unlearn.attacks.relearn import calibrate

    cfg = run.cfg
    model_dir = (folder / info["model_path"]).resolve()
    a = cfg.attacks
    key = {"model": str(model_dir.relative_to(run.stages.run_dir.resolve())), "corpus": run.corpus_dir.name,
           "candidates": list(a.relearn_lr_candidates), "steps": list(a.relearn_steps),
           "batch_size": a.relearn_batch_size, "tolerance": a.relearn_tolerance, "eval_batch_size": cfg.eval.batch_size,
           "max_length": cfg.model.max_length, "seed": run.seed, **({"exclude": run.exclude} if run.exclude else {}),
           **plan_key(cfg.eval), **compute_key(cfg)}
    ctx = AttackContext(cfg, run.plan, run.corpus, run.seed, run.acc)

    def build(out):
        model, tok = load_model(model_dir)
        model.to(run.acc.device)
        return {"status": "ok", "calibration": calibrate(model, tok, ctx, a.relearn_lr_candidates)}

    folder, stage = run.stages.run("relearn-calibration", key, build)
    record = {**stage["calibration"], "wall_s": stage["wall_s"], "dir": folder.name}
    run.cfg = replace(cfg, attacks=replace(a, relearn_lr=record["chosen"]))
    run.stages.say(f"[calibrated] relearning rate {record['chosen']:g}"
                   + ("" if record["calibrated"] else f" ({record['message']})"))
    return record


def evaluate_stage(run, kind, folder, info, texts: dict | None = None, tag: dict | None = None) -> dict:
    """Evaluate one model (cached by the model folder it reads); skip models that have none."""
    cfg, acc = run.cfg, run.acc
    entry = {"kind": kind, "status": info["status"], "metrics": {}, "ci": {},
             "cost": {"wall_s": float(info.get("wall_s", 0.0)) - float(info.get("instrument_s", 0.0)),
                      "steps": int(info.get("steps", 0))}}
    if info.get("instrument_s"):  # the unlearning curve's scoring, outside the method's cost
        entry["cost"]["instrument_s"] = float(info["instrument_s"])
    if "flops" in info:  # counted by the code (unlearn/flops.py): the cost machine load cannot move
        entry["cost"]["flops"] = float(info["flops"])
    entry["cost"].update(info.get("cost", {}))  # e.g. SISA's speed-ups
    if info.get("message"):
        entry["message"] = info["message"]
    if folder is not None and _unlearning_curve(folder):
        entry["curves"] = {"unlearning": _unlearning_curve(folder)}
    if info["status"] != "ok":
        return entry
    model_dir = (folder / info["model_path"]).resolve()
    key = {"model": str(model_dir.relative_to(run.stages.run_dir.resolve())), "corpus": run.corpus_dir.name,
           "eval": to_dict(cfg.eval), "max_length": cfg.model.max_length, "versions": versions(), "seed": run.seed,
           **({"exclude": run.exclude} if run.exclude else {}), **({"splits": tag} if tag else {}), **plan_key(cfg.eval)}
    texts = texts if texts is not None else run.corpus.texts

    def build(out):
        if acc.is_main_process:
            model, tok = load_model(model_dir)
            plan = run.plan if texts is run.corpus.texts else make_plan(run.corpus, texts, run.exclude, cfg.eval, run.seed)
            timings, users = {}, {}
            arrays = evaluate_model(model, tok, plan, cfg, run.seed, acc.device, timings=timings, users=users)
            metrics, ci = summarize(arrays, run.seed, cfg.eval.bootstrap, users)
            np.savez(out / "per_example.npz", **arrays)
            np.savez(out / "item_users.npz", **{k: v for k, v in users.items() if k in arrays})
            (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "ci": ci, "timing_s": timings}, indent=1))
        return {"status": "ok"}

    eval_dir, _ = run.stages.run("eval", key, build)
    stored = json.loads((eval_dir / "metrics.json").read_text())
    entry.update(metrics=stored["metrics"], ci=stored["ci"], eval_dir=eval_dir.name)
    return entry
