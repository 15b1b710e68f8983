"""`unlearn sweep SWEEP.yaml`: a grid of experiments whose stages share one cache, run on Ray.

A sweep file names an experiment config, fixed overrides and a grid:

    name: smoke-grid
    config: configs/experiments/smoke.yaml
    overrides: [eval.bootstrap=200]      # every run
    grid:                                # every combination, in file order
      seeds: [0, 1]                      # a bare seed is one run seed (seeds=[0])
      data.forget_fraction: [0.1, 0.2]

Each combination is one run (`runs/<point>/` under the sweep folder: results.json, report.md);
all runs build their stages into `stages/`, keyed by content (stages.py), so a stage that two
runs need is built once: the tiny model's base for every seed sharing `model.base_seed`, a
fine-tuned original for every method grid over it. The stage graph goes to Ray as three levels
of tasks: the corpus and base stages of each distinct (data, model, seed), then each distinct
fine-tuning (original, retrain reference replicates, null control) once its base exists, then
each run (methods, SISA, evaluation, attacks, report) once its fine-tunings exist. Where two
tasks still meet on one stage the cache's rename rule keeps one folder (stages.py).

Ray is embedded by default (`ray.init()` on this machine: no set-up); `--address` joins a running
cluster (`ray start --head` on one node, `ray start --address=HEAD:6379` on the others; every
node needs unlearn installed and the sweep folder on a shared file system). Each task takes
`--cpus-per-task` CPUs (default: all of this machine's, so on one machine the tasks run one at a
time on every core, which was the fastest way to train here: unlearn/parallel.py).

Killing the sweep (Ctrl-C, SIGTERM) stops the Ray workers; finished stages stay, half-built ones
are temp folders that the next build removes, so rerunning the same command resumes. The sweep
report (summary.md, tables/sweep.csv|json, figures/sweep.png) aggregates every finished run.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from unlearn.config import Config, ConfigError, compute_key, load_config, to_dict

SWEEP_KEYS = ("name", "config", "overrides", "grid")


@dataclass
class Point:
    """One run of the grid: its folder name, the overrides that make it, its config."""

    name: str
    overrides: list[str]
    values: dict  # grid key -> value
    cfg: Config = field(repr=False)


@dataclass
class Sweep:
    name: str
    path: Path
    config: Path
    overrides: list[str]
    grid: dict
    points: list[Point]


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file, and load the config of every point (bad input: ConfigError)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such sweep file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a sweep file is a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(raw) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (valid: {', '.join(SWEEP_KEYS)})")
    if not raw.get("config"):
        raise ConfigError(f"{path}: 'config' is missing: name the experiment config every run starts from")
    config = Path(str(raw["config"]))
    if not config.is_file() and (path.parent / config).is_file():
        config = path.parent / config  # relative to the sweep file
    if not config.is_file():
        raise ConfigError(f"{path}: 'config' names {raw['config']}, which is no file (relative paths are read "
                          "from the current folder or the sweep file's)")
    overrides = raw.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise ConfigError(f"{path}: 'overrides' must be a list of key=value strings")
    grid = raw.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{path}: 'grid' must map at least one config key to a list of values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid key '{key}' must list at least one value")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ConfigError(f"{path}: grid key '{key}' lists a value twice")
    name = str(raw.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"{path}: 'name' must be a plain folder name (letters, digits, _ . -), got {name!r}")
    points = []
    for combo in itertools.product(*grid.values()):
        values = dict(zip(grid, combo))
        point_overrides = [*overrides, *(_override(k, v) for k, v in values.items())]
        try:
            cfg = load_config(config, point_overrides)
        except ConfigError as err:
            raise ConfigError(f"{path}: the run {_describe(values)}: {err}") from None
        points.append(Point(point_name(values), point_overrides, values, cfg))
    return Sweep(name, path, config, list(overrides), grid, points)


def _override(key: str, value) -> str:
    if key == "seeds" and isinstance(value, int):
        value = [value]
    return f"{key}={json.dumps(value)}"


def _describe(values: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def point_name(values: dict) -> str:
    """A run's folder name from its grid values: `seeds0-forget_fraction0.1`."""
    parts = []
    for key, value in values.items():
        text = "_".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(re.sub(r"[^A-Za-z0-9_.]+", "_", f"{key.rsplit('.', 1)[-1]}{text}"))
    return "-".join(parts)


# ---------------------------------------------------------------------- the stage graph


def _prefix(cfg: Config, seed: int) -> str:
    """What the corpus, base and pretraining stages of (cfg, seed) depend on: equal prefixes, equal stages."""
    return json.dumps({"data": to_dict(cfg.data), "model": to_dict(cfg.model), "finetune": to_dict(cfg.finetune),
                       "seed": seed, **compute_key(cfg)}, sort_keys=True)


def fits_of(cfg: Config) -> list[tuple[str, str, int]]:
    """(name, split, replicate) of every fine-tuning a run of `cfg` needs."""
    from unlearn.pipeline import FITS, reference_replicates

    return [(name, split, 0) for name, split in FITS] + \
        [("retrain", "retain", replicate) for _, _, replicate in reference_replicates(cfg)]  # as run_seed names them


def plan(sweep: Sweep) -> dict:
    """The deduplicated task graph: {"prepare": {prefix: (cfg, seed)}, "fit": {key: (prefix, cfg, seed, name,
    split, replicate)}, "run": {point name: [fit keys]}}."""
    prepares, fits, runs = {}, {}, {}
    for point in sweep.points:
        needs = []
        for seed in point.cfg.seeds:
            prefix = _prefix(point.cfg, seed)
            prepares.setdefault(prefix, (point.cfg, seed))
            for name, split, replicate in fits_of(point.cfg):
                key = json.dumps([prefix, name, split, replicate, point.cfg.model.max_length], sort_keys=True)
                fits.setdefault(key, (prefix, point.cfg, seed, name, split, replicate))
                needs.append(key)
        runs[point.name] = needs
    return {"prepare": prepares, "fit": fits, "run": runs}


def run_sweep(sweep: Sweep, out: Path, address: str | None = None, cpus_per_task: int | None = None,
              log=print) -> dict:
    """Execute the sweep on Ray into `out`; write sweep.json and the sweep report; return the record."""
    from unlearn.outdir import RunLock, claim
    from unlearn.report.sweep_report import write_sweep_report
    from unlearn.stages import write_json_atomic

    out = Path(out)
    claim(out, "sweep")
    with RunLock(out):
        started = time.perf_counter()
        ray = _start_ray(address)
        threads = int(cpus_per_task or os.cpu_count() or 1)
        try:
            record = _execute(ray, sweep, out, threads, log)
        finally:
            ray.shutdown()
        record.update(wall_s=time.perf_counter() - started, address=address or "local (embedded)",
                      cpus_per_task=threads)
        write_json_atomic(out / "sweep.json", record)
        write_sweep_report(record, out)
    return record


def _start_ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise ConfigError("unlearn sweep runs on Ray, which is not installed: pip install 'unlearn-bench[ray]'") \
            from None
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # every task's [build] and [cached] lines, not "repeated 3x"
    kwargs = {"address": address} if address else {"num_cpus": os.cpu_count(), "include_dashboard": False}
    quiet_bars = {"env_vars": {"TQDM_DISABLE": "1"}}  # a task's log is a pipe: the stage lines, not every bar update
    ray.init(**kwargs, runtime_env=quiet_bars, logging_level="ERROR", log_to_driver=True, configure_logging=True)
    return ray


def _execute(ray, sweep: Sweep, out: Path, threads: int, log) -> dict:
    graph = plan(sweep)
    stage_dir = str((out / "stages").resolve())
    from unlearn.sweep_tasks import fit_task, prepare_task, run_task

    remote = {name: ray.remote(num_cpus=threads)(fn)
              for name, fn in (("prepare", prepare_task), ("fit", fit_task), ("run", run_task))}
    prepared = {prefix: remote["prepare"].remote(cfg, seed, stage_dir, threads)
                for prefix, (cfg, seed) in graph["prepare"].items()}
    fitted = {key: remote["fit"].remote(cfg, seed, name, split, rep, stage_dir, threads, prepared[prefix])
              for key, (prefix, cfg, seed, name, split, rep) in graph["fit"].items()}
    runs = {}
    for point in sweep.points:
        run_dir = str((out / "runs" / point.name).resolve())
        runs[point.name] = remote["run"].remote(point.cfg, run_dir, stage_dir, str(sweep.config), point.overrides,
                                                threads, *[fitted[k] for k in graph["run"][point.name]])
    log(f"[sweep] {len(sweep.points)} runs: {len(prepared)} corpus/base tasks, {len(fitted)} fine-tunings, "
        f"{len(runs)} run tasks on Ray ({threads} CPUs each)", flush=True)
    tasks = {**{f"prepare:{i}": r for i, r in enumerate(prepared.values())},
             **{f"fit:{i}": r for i, r in enumerate(fitted.values())}, **{f"run:{n}": r for n, r in runs.items()}}
    outcomes = _wait(ray, tasks, log)
    points = []
    for point in sweep.points:
        outcome = outcomes[f"run:{point.name}"]
        points.append({"name": point.name, "values": point.values, "overrides": point.overrides,
                       "run_dir": f"runs/{point.name}", **outcome})
    built = [name for o in outcomes.values() for name in o.get("built", [])]
    by_level = {level: sorted({n.rsplit("-", 1)[0] for task, o in outcomes.items() if task.startswith(level + ":")
                               for n in o.get("built", [])}) for level in ("prepare", "fit", "run")}
    return {"name": sweep.name, "sweep_file": str(sweep.path), "config": str(sweep.config),
            "overrides": sweep.overrides, "grid": sweep.grid, "points": points,
            "tasks": {"prepare": len(prepared), "fit": len(fitted), "run": len(runs)},
            "stages": {"built": len(built), "built_twice": sorted({n for n in built if built.count(n) > 1}),
                       "kinds_built_by": by_level,
                       "folders": len([p for p in (out / "stages").iterdir() if p.is_dir()
                                       and not p.name.startswith(".")]) if (out / "stages").is_dir() else 0}}


def _wait(ray, tasks: dict, log) -> dict:
    """Every task's outcome ({"status": "ok", ...} or {"status": "failed", "message"}), in completion order."""
    by_ref = {ref: name for name, ref in tasks.items()}
    pending, outcomes = list(tasks.values()), {}
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        name = by_ref[done[0]]
        try:
            outcomes[name] = {"status": "ok", **ray.get(done[0])}
        except Exception as err:  # noqa: BLE001 - a failed run is recorded; the others go on
            outcomes[name] = {"status": "failed", "message": _cause(err)}
        runs_done = sum(1 for n in outcomes if n.startswith("run:"))
        runs_all = sum(1 for n in tasks if n.startswith("run:"))
        state = outcomes[name]["status"]
        log(f"[sweep] {name} {state}" + (f": {outcomes[name]['message']}" if state != "ok" else "")
            + f" ({runs_done}/{runs_all} runs finished)", flush=True)
    return outcomes


def _cause(err: Exception) -> str:
    """The first line of the original error inside a Ray task error."""
    cause = getattr(err, "cause", None) or err
    return f"{type(cause).__name__}: {str(cause).strip().splitlines()[-1] if str(cause).strip() else ''}"
