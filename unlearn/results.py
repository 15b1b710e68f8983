"""results.json: per-model aggregates over seeds, intervals, cost and provenance.

Contract (later issues add keys, never rename these):
`{"experiment", "seeds", "models": {NAME: {"kind", "status", "metrics": {"<split>.<metric>": float},
"ci": {key: [lo, hi]}, "cost": {"wall_s": float}, "per_seed": {seed: metrics}}}, "verdict": {...},
"attack_power": {attack: {"effect", "p", "used_in_verdict", "reason"}}, "meta": {...}}`. `models.retrain` is the reference: its metrics the mean over its replicates, each
replicate's metrics per seed under `replicates` (`{seed: [metrics, ...]}`); `models.retrain_null`
(kind `control`) is the null control. With one seed, `ci` is the cluster-bootstrap interval over
users (over the replicates for `retrain`); with several, a Student-t 95% interval of the per-seed
values on a scale that keeps it inside the metric's range (`meta.ci_method` says which).
"""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from unlearn.config import ROOT, Config, to_dict
from unlearn.metrics import bounds, versions
from unlearn.report.verdict import attack_power, verdicts
from unlearn.stats import t_interval

PACKAGES = ("torch", "transformers", "datasets", "accelerate", "tokenizers", "numpy", "scikit-learn", "scipy")


def assemble_results(cfg: Config, per_seed: dict[int, dict], config_path: str, wall_s: float, acc) -> dict:
    """Aggregate the per-seed model entries into the results.json structure."""
    names = list(next(iter(per_seed.values())))
    models = {name: aggregate([per_seed[s][name] for s in cfg.seeds], cfg.seeds) for name in names}
    return {
        "experiment": cfg.name,
        "seeds": list(cfg.seeds),
        "models": models,
        # report/verdict.py: removed / suppressed / not removed / inconclusive, with the tests
        "verdict": verdicts(models, cfg.verdict.alpha, cfg.verdict.margin),
        # each attack's power (original vs the reference) and whether it entered the verdicts
        "attack_power": attack_power(models, cfg.verdict.alpha, cfg.verdict.margin),
        "meta": _meta(cfg, config_path, wall_s, acc),
    }


def aggregate(entries: list[dict], seeds) -> dict:
    """Mean over seeds; the worst status wins; per-seed values kept under `per_seed`."""
    first = entries[0]
    statuses = [e["status"] for e in entries]
    status = next((s for s in ("failed", "diverged") if s in statuses), "ok")
    keys = sorted(set().union(*(e["metrics"] for e in entries)))
    metrics, ci = {}, {}
    for key in keys:
        values = [e["metrics"][key] for e in entries if key in e["metrics"] and np.isfinite(e["metrics"][key])]
        if not values:  # undefined for every seed (e.g. no test item): absent, never NaN in JSON
            continue
        metrics[key] = float(np.mean(values))
        if len(entries) > 1:
            ci[key] = t_interval(values, bounds(key))
        elif key in first["ci"]:  # e.g. a KS p-value or TPR at 1% FPR has no interval
            ci[key] = first["ci"][key]
    out = {"kind": first["kind"], "status": status, "metrics": metrics, "ci": ci,
           "cost": _cost(entries)}
    messages = [e["message"] for e in entries if e.get("message")]
    if messages:
        out["message"] = messages[0]
    out["per_seed"] = {str(s): e["metrics"] for s, e in zip(seeds, entries)}
    if any("replicates" in e for e in entries):  # the retrain reference: every replicate's metrics
        out["replicates"] = {str(s): e.get("replicates", []) for s, e in zip(seeds, entries)}
        out["replicate_dirs"] = {str(s): e.get("replicate_dirs", []) for s, e in zip(seeds, entries)}
    for folder in ("eval_dir", "attack_dir"):  # where each seed's per-item arrays are
        if all(folder in e for e in entries):
            out[folder + "s"] = {str(s): e[folder] for s, e in zip(seeds, entries)}
    if any("attacks" in e for e in entries):  # each attack's status and wall time, per seed
        out["attacks"] = {str(s): e.get("attacks") for s, e in zip(seeds, entries)}
    for extra in ("tuning", "rounds", "curves", "relearn_calibration"):  # the sweep and choice / per-round
        # evaluations / figure data / the relearning rate chosen on the original
        if any(extra in e for e in entries):
            out[extra] = {str(s): e.get(extra) for s, e in zip(seeds, entries)}
    return out


def run_record(stages, overrides, run_dir, seed_wall: dict) -> dict:
    """What meta adds about the invocation: stage counts and stage-seconds by kind (built stages
    only), the overrides and run folder (the rerun command), wall time per seed, peak RSS."""
    by_kind: dict[str, float] = {}
    for folder, wall in stages.wall_s.items():
        kind = folder.rsplit("-", 1)[0]
        kind = "unlearn" if kind.startswith("unlearn-") else "sisa" if kind.startswith("sisa") else kind
        by_kind[kind] = by_kind.get(kind, 0.0) + float(wall)
    shared = Path(stages.run_dir).resolve() != Path(run_dir).resolve()
    return {"stages": {"cached": len(stages.hits), "built": len(stages.built),
                       "total_wall_s": sum(stages.wall_s.values()), "wall_s_by_kind": by_kind,
                       **({"dir": str(stages.run_dir), "built_names": list(stages.built)} if shared else {})},
            "overrides": list(overrides), "run_dir": str(run_dir), "seed_wall_s": seed_wall,
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """Peak resident memory so far of this process and of its finished children (the evaluation
    workers), whichever is larger, in MiB (Linux reports KiB)."""
    import resource

    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return peak / 1024.0


def _cost(entries: list[dict]) -> dict:
    """Numbers averaged over seeds (wall time, speed-ups), anything else from the first seed."""
    out = {k: v for k, v in entries[0]["cost"].items()}
    for key, value in out.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "steps":
            out[key] = float(np.mean([e["cost"][key] for e in entries if key in e["cost"]]))
    out["steps"] = int(out.get("steps", 0))
    if len(entries) > 1:
        out["wall_s_per_seed"] = [float(e["cost"].get("wall_s", 0.0)) for e in entries]
    return out


def _meta(cfg: Config, config_path: str, wall_s: float, acc) -> dict:
    return {
        "config_path": config_path,
        "config": to_dict(cfg),
        "git": _git(),
        "packages": {p: _version(p) for p in PACKAGES},
        "python": platform.python_version(),
        "device": _device(acc),
        "processes": acc.num_processes,
        "torch_threads": torch.get_num_threads(),
        "wall_s": wall_s,
        "metric_versions": versions(),
        "ci_method": ("student-t over seeds, on a logit/log scale inside each metric's range" if len(cfg.seeds) > 1
                      else f"cluster bootstrap over users ({cfg.eval.bootstrap}, seeded); retrain: t over its replicates"),
    }


def _git() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"sha": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _device(acc) -> str:
    if acc.device.type == "cuda":
        return torch.cuda.get_device_name(acc.device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
