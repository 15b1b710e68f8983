"""The experiment-level figures of `unlearn bench`, read from results.json files of runs that
recorded them (the run is named in the table, flagged if its config is not today's): the published
experiments/quick (or `--quick runs/quick/results.json` after `make run`) for cost ratios, wall time
per seed and peak RSS; experiments/quick/frontier for the frontier's wall time; experiments/smollm2
for the flagship's wall time and peak RSS; and scripts/eval_speed.py's record for the SmolLM2
evaluation against scoring and decoding every sequence in full. A figure whose source is missing is
reported as not measured (`holds: null`), never guessed; a run that took stages from a cache can
only show a wall-time budget missed, never met.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _figure(value, target: str, holds, unit: str, source: str = "measured now") -> dict:
    return {"value": value, "target": target, "holds": holds, "unit": unit, "source": source}


def experiment_figures(quick: Path | None, smollm2: Path | None, frontier: Path | None = None,
                       eval_speed: Path | None = None) -> dict:
    """Cost ratios, wall times and peak RSS read from the named runs' results.json; the SmolLM2
    evaluation speed-up from scripts/eval_speed.py's record."""
    out = {}
    if quick is not None and quick.is_file():
        r, src = json.loads(quick.read_text()), str(quick)
        models, meta = r["models"], r["meta"]
        if not _current(meta, "quick.yaml"):
            src += " (its config differs from configs/experiments/quick.yaml: a stale run?)"
        retrain, retrain_flops = models["retrain"]["cost"]["wall_s"], models["retrain"]["cost"].get("flops")
        for name, m in models.items():  # reported, never a target: a method may try as hard as it needs
            if m["kind"] == "approximate" and name != "corpus_deletion" and m["status"] == "ok":
                ratio = m["cost"]["wall_s"] / retrain
                out[f"quick.cost.{name}_vs_retrain"] = _figure(ratio, "–", None, "× retrain (wall time)", src)
                if retrain_flops and "flops" in m["cost"]:
                    out[f"quick.compute.{name}_vs_retrain"] = _figure(
                        m["cost"]["flops"] / retrain_flops, "–", None, "× retrain (FLOPs counted, load-independent)", src)
        if "sisa" in models and models["sisa"]["status"] == "ok":
            out["quick.cost.sisa_deletion_vs_retrain"] = _figure(models["sisa"]["cost"]["wall_s"] / retrain, "–",
                                                                 None, "× retrain", src)
        kinds = meta.get("stages", {}).get("wall_s_by_kind")
        if kinds:
            attack = kinds.get("attack", 0.0)
            out["quick.attacks_vs_rest"] = _figure(attack / max(sum(kinds.values()) - attack, 1e-9), "–",
                                                   None, "stage-s ratio (attacks on 1 thread, training on 2: not wall)", src)
        walls = list((meta.get("seed_wall_s") or {"all": meta["wall_s"]}).values())
        # holds only if every seed (each one a `make run`) stayed within the budget, from scratch
        cached = _cached(meta)
        holds = max(walls) <= 600 if not cached else (False if max(walls) > 600 else None)
        out["quick.wall_min"] = _figure(float(np.mean(walls)) / 60, "≤ 10 (make run)", holds,
                                        f"min per seed (mean; range {min(walls) / 60:.1f}-{max(walls) / 60:.1f})"
                                        + (f", {cached} stages taken from a cache" if cached else ""), src)
        rss, unit = _peak_rss(meta)
        if rss is not None:
            out["quick.peak_rss_gb"] = _figure(rss / 1024, "–", None, unit, src)
    out["quick_frontier.wall_min"] = _frontier_wall(frontier)
    out.update(_flagship(smollm2))
    out["smollm2.eval_vs_before"] = _eval_speed(eval_speed)
    return out


def _wall_of(path: Path | None, config: str, target: str, budget_min: float, switched: tuple = ()) -> dict:
    """A run's wall time; with stages taken from a cache it is no from-scratch figure, so it can
    only show the budget missed, never met."""
    if path is None or not path.is_file():
        return _figure(None, target, None, "min", f"not measured: no {path}")
    meta, src = json.loads(path.read_text())["meta"], str(path)
    if not _current(meta, config, switched):
        src += f" (its config differs from configs/experiments/{config}: a stale run?)"
    wall, cached = meta["wall_s"] / 60, _cached(meta)
    holds = wall <= budget_min if not cached else (False if wall > budget_min else None)
    seeds = len(meta.get("seed_wall_s") or meta.get("config", {}).get("seeds") or [0])
    unit = f"min, {seeds} seed(s)" + (f", {cached} stages taken from a cache" if cached else "")
    return _figure(wall, target, holds, unit, src)


def _frontier_wall(path: Path | None) -> dict:
    """The frontier phase of a quick frontier run (every method's strength run and every point's
    evaluation, over the run's seeds, on top of the finished experiment): it holds only when the
    run computed the frontier itself (none of its trainings from a cache) for 3 seeds. Runs that
    did not record the phase are judged on their whole wall time (`_wall_of`)."""
    target = "≤ 45 (3 seeds)"
    meta = json.loads(path.read_text())["meta"] if path is not None and path.is_file() else {}
    phase, src = meta.get("frontier_stages"), str(path)
    if phase is None or "frontier_wall_s" not in meta:
        return _wall_of(path, "quick.yaml", target, 45, ("frontier.enabled",))
    if not _current(meta, "quick.yaml", ("frontier.enabled",)):
        src += " (its config differs from configs/experiments/quick.yaml: a stale run?)"
    wall = meta["frontier_wall_s"] / 60
    seeds = len(meta.get("seed_wall_s") or meta.get("config", {}).get("seeds") or [0])
    fresh = phase["trainings_cached"] == 0 and phase["trainings_built"] > 0
    holds = (wall <= 45 and seeds >= 3) if fresh else (False if wall > 45 else None)
    unit = (f"min, the frontier phase over {seeds} seed(s): {phase['built']} stages built, "
            f"{phase['cached']} from a cache ({phase['trainings_cached']} of its strength runs); "
            f"the experiment under it {_cached(meta) - phase['cached']} stages from a cache")
    return _figure(wall, target, holds, unit, src)


def _flagship(path: Path | None) -> dict:
    """The SmolLM2 flagship: wall time over its seeds (the budget is for 3) and summed peak RSS."""
    if path is None or not path.is_file():
        return {"smollm2.wall_min": _figure(None, "≤ 120 (3 seeds)", None, "min", f"not measured: no {path}"),
                "smollm2.peak_rss_gb": _figure(None, RSS_TARGET, None, "GiB", f"not measured: no {path}")}
    meta, src = json.loads(path.read_text())["meta"], str(path)
    if not _current(meta, "smollm2.yaml"):
        src += " (its config differs from configs/experiments/smollm2.yaml: a stale run?)"
    seeds = len(meta.get("config", {}).get("seeds") or meta.get("seed_wall_s") or [0])
    total = meta["wall_s"] / 60
    holds = (total <= 120) if seeds >= 3 else (False if total > 120 else None)
    rss, unit = _peak_rss(meta)
    return {"smollm2.wall_min": _figure(total, "≤ 120 (3 seeds)", holds, f"min for {seeds} seed(s)", src),
            "smollm2.peak_rss_gb": _figure(None if rss is None else rss / 1024, RSS_TARGET,
                                           None if rss is None else rss * 2**20 <= 8e9, unit, src)}


def _eval_speed(path: Path | None) -> dict:
    """One SmolLM2 evaluation with today's shared-prefix scoring and decoding against the same items
    scored and decoded in full (scripts/eval_speed.py writes the file)."""
    target = "≤ 0.60"
    if path is None or not path.is_file():
        return _figure(None, target, None, "× before",
                       f"not measured: no {path} (python scripts/eval_speed.py RUN --out {path})")
    r = json.loads(path.read_text())
    ratio = r["today_s"] / r["before_s"]
    return _figure(ratio, target, ratio <= 0.6, f"× before ({r['today_s']:.0f} s against {r['before_s']:.0f} s; "
                   f"largest metric difference {r['max_abs_diff']:.1e})", str(path))


RSS_TARGET = "≤ 8 GB (7.45 GiB)"


def _peak_rss(meta: dict) -> tuple[float | None, str]:
    """(peak RSS in MiB, its unit text), see memory.peak_rss."""
    from unlearn.memory import peak_rss

    rss, covers = peak_rss(meta)
    return rss, {"all processes": "GiB (all processes together, sampled every 0.5 s)",
                 "largest process": "GiB (the largest process: the run has no summed peak)"}.get(covers, "GiB")


def _cached(meta: dict) -> int:
    """How many of a run's stages came from a cache (0: everything was built by the run)."""
    cached = meta.get("stages", {}).get("cached", 0)
    return len(cached) if isinstance(cached, list) else int(cached)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _current(meta: dict, name: str, switched: tuple = ()) -> bool:
    """Does a run's recorded config equal today's configs/experiments/<name> (seeds and the
    `switched` settings its command sets aside)? A
    setting added after the run (absent from its record) counts as equal where today's value is
    the built-in default, the behaviour the run had."""
    from unlearn.config import ROOT, load_config, to_dict

    if "config" not in meta:
        return False
    now, then = _flat(to_dict(load_config(ROOT / "configs" / "experiments" / name))), _flat(meta["config"])
    default = _flat(to_dict(load_config(ROOT / "configs" / "base.yaml")))
    return all(k == "seeds" or k in switched or (then[k] == v if k in then else default.get(k, object()) == v) for k, v in now.items()) \
        and set(then) <= set(now)
