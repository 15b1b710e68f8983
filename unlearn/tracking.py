"""Experiment tracking through accelerate's trackers: `tracking: none | tensorboard | wandb | mlflow`.

`none` (the default) logs nothing and creates nothing. Otherwise the run's Accelerator is built
with `log_with=<tracker>` and `project_dir=<run folder>/tracking` (`make_accelerator`), the
tracker is started with the run's flattened config as hyperparameters (`start_tracking`), and:

- every optimizer step of every training loop the run builds (the tiny model's pretraining, the
  fine-tuning of the original and of each retrain replicate, SISA's constituents, each unlearning
  method and tuning variant, the frontier) logs what `train()` records for that step: `lr`,
  `loss` and the method's own loss terms (e.g. NPO's `npo`, `forget_nll`, `log_ratio`),
  `grad_norm`, and, on the steps where the unlearning curve is scored, its `forget_nll_eval` and
  `retain_nll_eval`. Keys are `<loop>/<name>`, the loop named by its description with spaces as
  underscores (`fine-tune_on_train/loss`, `unlearn_NPO/forget_nll_eval`); a description seen
  again in the same run gets `_2`, `_3`, ... (the retrain replicates, later seeds, tuning
  variants). Steps count from 1 within each loop. W&B wants one increasing step for a whole run,
  so there the step is W&B's own and each loop's step is logged beside it as `<loop>/step`.
- at the end, every model's final metrics from results.json: `final/<model>/<metric>`
  (`finish_tracking`, which then closes the tracker).

Stages reused from an earlier run are not trained again and so not logged again. Training done
inside evaluation worker processes (the relearning attack) has no tracker and is not logged.
TensorBoard writes event files into `<run folder>/tracking/<experiment name>/`; W&B keeps its
files in `<run folder>/tracking/wandb/` and syncs as its own settings say (`WANDB_MODE`);
MLflow stores artifacts under `<run folder>/tracking/` and, unless `MLFLOW_TRACKING_URI` is set,
its runs in `<run folder>/tracking/mlruns`.
"""
from __future__ import annotations

import atexit
import importlib.util
import json
import math
import os
import re
from pathlib import Path

from unlearn.config_parse import ConfigError

TRACKERS = ("none", "tensorboard", "wandb", "mlflow")
MODULES = {"tensorboard": ("tensorboard",), "wandb": ("wandb",), "mlflow": ("mlflow",)}  # importable names
PIP = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # what to install
FOLDER = "tracking"  # inside the run folder
_RUNS = "_unlearn_tracking_runs"  # attribute on the Accelerator: loop description -> times seen


def installed(module: str) -> bool:
    """Whether `module` can be imported here (nothing is imported)."""
    return importlib.util.find_spec(module) is not None


def check_tracking(name: str, source: str = "config") -> None:
    """A ConfigError unless `name` is a tracker we support whose package is installed."""
    if name not in TRACKERS:
        raise ConfigError(f"{source}: 'tracking' must be one of {', '.join(TRACKERS)} (got {name!r})")
    if name != "none" and not any(installed(m) for m in MODULES[name]):
        raise ConfigError(f"{source}: tracking: {name} needs the '{PIP[name]}' package, which is not installed; "
                          f"pip install {PIP[name]} (or set tracking: none)")


def accelerator_kwargs(tracking: str = "none", project_dir: str | Path | None = None) -> dict:
    """The Accelerator arguments for `tracking` (none: no arguments, so nothing is logged)."""
    if tracking in (None, "none"):
        return {}
    check_tracking(tracking)
    if project_dir is None:
        raise ValueError(f"tracking: {tracking} needs a project folder (the run folder's {FOLDER}/)")
    return {"log_with": tracking, "project_dir": str(project_dir)}


def active(acc) -> bool:
    """Whether `acc` has a started tracker (only ever on the main process)."""
    return bool(getattr(acc, "trackers", None))


def start_tracking(acc, cfg) -> None:
    """Start the tracker `acc` was built with (`make_accelerator(cfg.tracking, ...)`), the run's config
    as its hyperparameters; no-op for `tracking: none`. Call it once the run folder is held."""
    if cfg.tracking == "none" or not getattr(acc, "log_with", None) or active(acc):
        return
    directory = Path(acc.logging_dir)
    if acc.is_main_process:
        directory.mkdir(parents=True, exist_ok=True)
        if cfg.tracking == "mlflow" and not os.environ.get("MLFLOW_TRACKING_URI"):
            import mlflow

            mlflow.set_tracking_uri((directory / "mlruns").resolve().as_uri())
    init = {"wandb": {"dir": str(directory), "name": cfg.name}, "mlflow": {"logging_dir": str(directory)}}
    acc.init_trackers(cfg.name, config=flat_config(cfg),
                      init_kwargs={cfg.tracking: init[cfg.tracking]} if cfg.tracking in init else {})
    atexit.register(end_tracking, acc)  # a run that stops on an error still flushes what it logged


def flat_config(cfg) -> dict:
    """The config as `{dotted key: bool | int | float | str}` (lists as JSON, methods by name)."""
    from unlearn.config import to_dict

    raw = to_dict(cfg)
    raw["methods"] = {m["name"]: {"train": m["train"], "params": m["params"]} for m in raw.get("methods", [])}
    out: dict = {}

    def walk(value, prefix: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{prefix}{key}.")
        elif isinstance(value, (bool, int, float, str)):
            out[prefix[:-1]] = value
        else:
            out[prefix[:-1]] = json.dumps(value)  # lists, None

    walk(raw, "")
    return out


def clean(name: str) -> str:
    """A key part every tracker accepts (MLflow: letters, digits, _ - . / and space; we drop the space)."""
    return re.sub(r"[^\w.\-/]", "_", name.replace(" ", "_"))


def begin_run(acc, desc: str) -> str | None:
    """The key prefix for one training loop, unique within the run (None: nothing is tracked)."""
    if not active(acc):
        return None
    seen = acc.__dict__.setdefault(_RUNS, {})
    seen[desc] = seen.get(desc, 0) + 1
    return clean(desc) + (f"_{seen[desc]}" if seen[desc] > 1 else "")


def _wandb(acc) -> bool:
    return any(t.name == "wandb" for t in acc.trackers)


def log_step(acc, tag: str | None, entry: dict) -> None:
    """Log one step's entry of the training log (every number but `step` itself) under `tag`."""
    if tag is None or not active(acc):
        return
    values = {f"{tag}/{k}": float(v) for k, v in entry.items()
              if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    step = int(entry["step"])
    if _wandb(acc):  # one increasing step per W&B run: keep the loop's step as a value
        values[f"{tag}/step"] = step
        step = None
    acc.log(values, step=step)


def log_results(acc, results: dict) -> None:
    """Every model's final metrics (results.json's `models.<name>.metrics`) as `final/<model>/<metric>`."""
    if not active(acc):
        return
    values = {f"final/{clean(name)}/{clean(key)}": float(v)
              for name, m in (results.get("models") or {}).items()
              for key, v in (m.get("metrics") or {}).items()
              if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    if values:
        acc.log(values, step=None if _wandb(acc) else 0)


def end_tracking(acc) -> None:
    """Close the trackers (flushes TensorBoard's writer, finishes the W&B and MLflow runs); idempotent.
    accelerate's `end_training` does the same and also tears down the process group, which the run
    may still need, so the trackers are finished one by one here."""
    for tracker in list(getattr(acc, "trackers", None) or []):
        tracker.finish()
    if getattr(acc, "trackers", None):
        acc.trackers.clear()


def finish_tracking(acc, results: dict) -> None:
    """Log the final metrics and close the trackers (the pipeline's last step)."""
    log_results(acc, results)
    end_tracking(acc)
