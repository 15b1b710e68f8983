"""The tasks of a sweep's stage graph (unlearn/sweep.py), each run in a Ray worker with its own
torch threads: the corpus and base of one (config, seed), one fine-tuning, one whole run. Each
returns the stages it built, the ones it found cached, its wall time and its process id."""
from __future__ import annotations

import os
import time
from pathlib import Path

from unlearn.config import Config


def _task_setup(cfg: Config, stage_dir: str, threads: int):
    import torch

    from unlearn.memory import freeze_long_lived, reuse_freed_memory
    from unlearn.stages import Stages
    from unlearn.train import deterministic_mode, run_accelerator

    torch.set_num_threads(threads)
    deterministic_mode()
    reuse_freed_memory()
    freeze_long_lived()
    acc = run_accelerator(cfg, tracking=False)
    return Stages(Path(stage_dir), acc), acc


def _record(stages, started: float) -> dict:
    return {"built": list(stages.built), "cached": list(stages.hits), "wall_s": time.perf_counter() - started,
            "pid": os.getpid()}


def prepare_task(cfg: Config, seed: int, stage_dir: str, threads: int) -> dict:
    """Corpus, base (and the tiny model's pretraining) of one (config, seed)."""
    from unlearn.pipeline import prepare

    started = time.perf_counter()
    stages, acc = _task_setup(cfg, stage_dir, threads)
    prepare(cfg, seed, stages, acc)
    return _record(stages, started)


def fit_task(cfg: Config, seed: int, name: str, split: str, replicate: int, stage_dir: str, threads: int,
             *after) -> dict:
    """One fine-tuning of one (config, seed); `after`: the prepare task it waits for."""
    from unlearn.pipeline import fit, prepare

    started = time.perf_counter()
    stages, acc = _task_setup(cfg, stage_dir, threads)
    run, base_dir, _ = prepare(cfg, seed, stages, acc)
    fit(run, base_dir, name, split, replicate)
    return _record(stages, started)


def run_task(cfg: Config, run_dir: str, stage_dir: str, config_path: str, overrides: list[str], threads: int,
             *after) -> dict:
    """One run of the grid, every stage it shares with others already in the cache."""
    import torch

    from unlearn.pipeline import run_experiment

    started = time.perf_counter()
    torch.set_num_threads(threads)
    results = run_experiment(cfg, Path(run_dir), config_path, overrides=overrides, stage_dir=Path(stage_dir))
    stages = results["meta"]["stages"]
    return {"built": stages.get("built_names", []), "cached": stages["cached"],
            "wall_s": time.perf_counter() - started, "pid": os.getpid()}
