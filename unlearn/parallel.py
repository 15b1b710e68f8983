"""Evaluate and attack every model of a seed, in `eval.workers` processes when that is > 1.

The evaluation and attack stages of different models are independent pure functions of their
inputs, so they can run side by side. A small model cannot keep two cores busy with one
process (much of a decoding step is Python), so `eval.workers: 2` runs them in two spawned
processes of one thread each; measured on the quick experiment's tiny model, two 1-thread
evaluations finish together in ~1.3x less time than two 2-thread ones in a row. Each worker
rebuilds the seed's shared state (corpus, evaluation plan) from the cached corpus stage.

Sweeps of many runs go to Ray (unlearn/sweep.py); this pool stays for the models of one run: a
Ray task would still rebuild the seed's corpus and plan in each worker as `_init` does, and an
embedded Ray instance adds its own start (2.4 s) and stop (1.1 s) to every run, where the pool's
two spawned workers start while the first models are evaluated.

`eval.workers` is part of every evaluation and attack stage key (the numbers of a 1-thread
stage may differ from a 2-thread one in the last float bits), so results stay a function of the
config. Only single-process runs use workers; under torchrun the stages run as before.

Training stays in the main process on every thread: fine-tuning is matmul-bound, and on this
2-vCPU machine two 1-thread trainings side by side each ran 1.9-2.0x slower than one 2-thread
training (original 121 s vs 63 s, SISA 137 s vs 72 s): scheduling training in the pool too was
measured (make run 665 s vs 667 s) and dropped.

Memory: the SISA aggregate holds S models, and its relearning attack trains all of them (weights,
gradients and two AdamW moments: 16 bytes a parameter). On SmolLM2 with S = 2 that attack peaks
at 5.8 GiB in one process, where any other model's evaluation or attack peaks at 1.7-3.2 GiB; side
by side with another stage the experiment would pass 8 GB. So the aggregate is evaluated and
attacked first, alone, in the main process on every thread, and the pool takes the other models.
The workers keep glibc's default allocation (no reuse_freed_memory): the scoring pass's
(batch, length, vocabulary) logits grow with the length-sorted batches, and a heap that keeps
freed blocks could not reuse them for the next, larger batch (a SmolLM2 scoring pass at batch 16
added 1267 MiB to the process, 1044 MiB without; a whole evaluation peaked at 1728 MiB, not 2222).
The price is time: every block over 32 MiB is paged in afresh, the logits of each batch and of
each step of the exposure walk. On the flagship (runs/smollm2-v4 against v2, training at the
same speed) an evaluation stage took 157-167 s instead of 137-140 s and an attack stage 219-239 s
instead of 180-188 s; with the aggregate run alone, the experiment took 78.5 min instead of 68-70,
and its summed peak fell from 9.7 to 6.8 GiB.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from unlearn.measure import attack_stage, evaluate_stage

_RUN = None  # the worker's SeedRun


def measure_models(run, models: dict) -> dict:
    """{name: evaluation entry (+ "attack_dir")} for `models` = {name: (kind, folder, info)}."""
    attacked = {name for name, (kind, _, info) in models.items()
                if run.cfg.attacks.names and kind != "base" and info["status"] == "ok"}
    if run.cfg.eval.workers <= 1 or run.acc.num_processes > 1:
        out = {name: evaluate_stage(run, kind, folder, info) for name, (kind, folder, info) in models.items()}
        for name in [n for n in models if n in attacked]:
            out[name]["attack_dir"] = attack_stage(run, *models[name][1:])
        return out
    context = multiprocessing.get_context("spawn")
    first: dict[Path, str] = {}  # model folder -> the first model using it (corpus_deletion = original)
    for name, (kind, folder, info) in models.items():
        if info["status"] == "ok":
            first.setdefault((folder / info["model_path"]).resolve(), name)
    unique = [n for n in first.values()]
    # the SISA aggregate (S models at once) alone, here, before the pool starts (module docstring)
    alone = [n for n in unique if models[n][0] == "exact"]
    evals = {n: evaluate_stage(run, *models[n]) for n in alone}
    attacks = {n: attack_stage(run, *models[n][1:]) for n in alone if n in attacked}
    pooled = [n for n in unique if n not in alone]
    pool = ProcessPoolExecutor(run.cfg.eval.workers, mp_context=context, initializer=_init,
                               initargs=(run.cfg, str(run.stages.run_dir), run.seed))
    try:
        futures = {"eval": {n: pool.submit(_evaluate, *models[n]) for n in pooled},
                   "attack": {n: pool.submit(_attack, *models[n][1:]) for n in pooled if n in attacked}}
        for kind, done in (("eval", evals), ("attack", attacks)):
            for name, future in futures[kind].items():
                result, record = future.result()
                _merge(run.stages, record)
                done[name] = result
    except BaseException:  # an interrupt or a failed worker: stop the others now, not after their stage
        _stop(pool)
        raise
    pool.shutdown()
    out = {}
    for name, (kind, folder, info) in models.items():  # shared folders and failed models: cache hits here
        out[name] = evals[name] if name in evals else evaluate_stage(run, kind, folder, info)
        if name in attacked:
            out[name]["attack_dir"] = attacks[name] if name in attacks else attack_stage(run, folder, info)
    return out


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the workers (their half-built stages are temp folders the next run removes)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


def _merge(stages, record: dict) -> None:
    """Count a worker's stages (built or cached, wall time) in the parent's bookkeeping."""
    stages.hits += record["hits"]
    stages.built += record["built"]
    stages.wall_s.update(record["wall_s"])


def _init(cfg, run_dir: str, seed: int) -> None:
    import torch

    from unlearn.memory import freeze_long_lived
    from unlearn.pipeline import prepare_corpus
    from unlearn.stages import Stages
    from unlearn.train import deterministic_mode, run_accelerator

    global _RUN
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    signal.signal(signal.SIGTERM, _stopped)  # ... with SIGTERM: discard the stage being built, then exit
    torch.set_num_threads(1)
    deterministic_mode()  # glibc's default allocation, unlike the experiment (module docstring)
    freeze_long_lived()

    def log(message, **kwargs):  # the parent already reported the shared stages
        if not message.startswith("[cached]"):
            print(message, **{"flush": True, **kwargs})  # a worker's stdout may be a pipe or file

    acc = run_accelerator(cfg, tracking=False)  # the run's precision: the relearning attack trains
    _RUN = prepare_corpus(cfg, seed, Stages(Path(run_dir), acc, log=log), acc)


class _Stopped(BaseException):
    """The parent terminated this worker in the middle of a stage."""


_BUSY = False  # whether the worker is inside a stage (else SIGTERM exits at once)


def _stopped(signum, frame):
    if _BUSY:
        raise _Stopped()  # Stages.run removes its temp folder on the way up
    os._exit(143)


def _busy(fn, *args):
    """Run one task; a SIGTERM during it ends the process once the stage has cleaned up."""
    global _BUSY
    _BUSY = True
    try:
        return fn(*args)
    except _Stopped:
        os._exit(143)
    finally:
        _BUSY = False


def _fresh_record() -> None:
    _RUN.stages.hits, _RUN.stages.built, _RUN.stages.wall_s = [], [], {}


def _record() -> dict:
    return {"hits": _RUN.stages.hits, "built": _RUN.stages.built, "wall_s": _RUN.stages.wall_s}


def _evaluate(kind, folder, info) -> tuple[dict, dict]:
    _fresh_record()
    return _busy(evaluate_stage, _RUN, kind, Path(folder), info), _record()


def _attack(folder, info) -> tuple[str, dict]:
    _fresh_record()
    return _busy(attack_stage, _RUN, Path(folder), info), _record()
