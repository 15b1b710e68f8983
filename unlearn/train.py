"""The one training loop, on accelerate, shared by fine-tuning and every unlearning method.

Each step draws a global batch from every named split (`{"forget": ..., "retain": ...}` for
methods, `{"train": ...}` for fine-tuning); the primary split defines an epoch, the others cycle.
A global batch is cut into one contiguous part per process; each loss is a mean over examples,
scaled by (local examples / global examples × processes) so that DDP's gradient averaging gives
exactly the single-process gradient of the global batch. AdamW (fused), warm-up + schedule, gradient
accumulation, clipping and a NaN/inf guard (loss or gradient norm) that stops the run and
reports `diverged`. The per-step log (lr, loss terms, grad norm) is returned and saved as JSON.
Mixed precision and gradient checkpointing come with the Accelerator (unlearn/accel.py): the
forward and loss, the frozen reference model's included, run under its autocast; under fp16 a
step the loss scaler skips is logged as skipped, and only MAX_SCALER_SKIPS in a row count as diverged.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm
from transformers import get_scheduler

from unlearn.accel import checkpointing_on, gathered_weights, sharded
from unlearn.accel import make_accelerator, run_accelerator  # noqa: F401 (re-exported)
from unlearn.config import TrainConfig
from unlearn.data import BatchStream, TokenData, shard
from unlearn.tracking import begin_run, log_step


MAX_SCALER_SKIPS = 20  # fp16: consecutive non-finite steps (scale / 2 each) before a run counts as diverged


@dataclass
class TrainResult:
    status: str  # "ok" | "diverged"
    steps: int
    log: list[dict] = field(default_factory=list)
    message: str = ""
    state_dict: dict | None = None  # sharded training (FSDP, ZeRO-3): the full weights, gathered for saving


def deterministic_mode() -> None:
    """Same config and seed, same numbers on the same machine: called once per process before any
    model exists (the experiment, its evaluation workers, the SISA check).

    PyTorch's deterministic algorithms, warning (not stopping) where an op has none. CUDA adds two
    sources of run-to-run noise: cuBLAS needs a fixed workspace (CUBLAS_WORKSPACE_CONFIG, read when
    its handle is created, so it is set before the first CUDA matmul), and the fused attention
    kernels of scaled_dot_product_attention (flash, memory-efficient, cuDNN) have backward passes that
    stay non-deterministic under warn_only (PyTorch warns "Memory Efficient attention defaults to a
    non-deterministic algorithm"); on CUDA only the math backend (matmul, softmax, matmul) is left.
    On CPU the backends are left alone: CPU attention is deterministic, and switching it would change
    every published CPU number.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.cuda.is_available():
        for fused in ("enable_flash_sdp", "enable_mem_efficient_sdp", "enable_cudnn_sdp"):
            if hasattr(torch.backends.cuda, fused):  # cuDNN attention is newer than torch 2.2
                getattr(torch.backends.cuda, fused)(False)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (every process the same: batches are cut, not resampled)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def total_steps(cfg: TrainConfig, n_primary: int) -> int:
    """Optimizer steps for `cfg.epochs` over `n_primary` examples (or `cfg.max_steps`)."""
    micro = math.ceil(cfg.epochs * math.ceil(n_primary / cfg.batch_size))
    steps = max(1, micro // cfg.grad_accum)
    return min(steps, cfg.max_steps) if cfg.max_steps > 0 else steps


def train(
    model,
    splits: dict[str, TokenData],
    primary: str,
    loss_fn: Callable,
    cfg: TrainConfig,
    seed: int,
    accelerator: Accelerator,
    ref_model=None,
    params: list | None = None,
    callback: Callable | None = None,
    desc: str = "train",
    aligned: dict[str, TokenData] | None = None,
) -> TrainResult:
    """Optimise `loss_fn(model, ref_model, batch) -> (loss, logs)` in place on `model`.

    `params` restricts the trainable parameters (default: all that require grad);
    `callback(step, model) -> dict` runs every `cfg.log_every` steps (unlearning curves);
    `aligned` splits are row-aligned with the primary split and batched with its indices
    (e.g. a refusal version of each forget text).
    """
    seed_everything(seed)
    checkpointing = getattr(accelerator, "unlearn_gradient_checkpointing", False)
    if checkpointing:  # non-reentrant: correct with frozen embeddings (LoRA) and without inputs needing grad
        checkpointing_on(model, True)
    params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    # fused: one pass over parameters, gradients and both moments per step instead of ~7 (a
    # SmolLM2 step spent ~1 s of 1-thread time in the per-tensor update; fused ~0.25 s)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    steps = total_steps(cfg, len(splits[primary]))
    scheduler = get_scheduler(cfg.schedule if cfg.schedule != "constant" else "constant_with_warmup",
                              optimizer, num_warmup_steps=int(cfg.warmup_ratio * steps),
                              num_training_steps=steps)
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    if ref_model is not None:
        ref_model.to(accelerator.device).eval()
    streams = {name: BatchStream(data, cfg.batch_size, seed + 7919 * k)
               for k, (name, data) in enumerate(sorted(splits.items()))}
    aligned = aligned or {}
    log: list[dict] = []
    tag = begin_run(accelerator, desc)  # the loop's key prefix when a tracker is on (unlearn/tracking.py)
    bar = tqdm(total=steps, desc=desc, disable=not accelerator.is_main_process, leave=False)
    try:
        wrapped.train()
        skipped = 0  # consecutive fp16 steps skipped by the loss scaler
        for step in range(1, steps + 1):
            terms = {}
            for micro in range(cfg.grad_accum):
                sync = micro == cfg.grad_accum - 1
                with accelerator.no_sync(wrapped) if not sync else contextlib.nullcontext():
                    stats = _micro_step(wrapped, ref_model, streams, aligned, primary, loss_fn, cfg, accelerator)
                if stats is None:
                    return TrainResult("diverged", step, log, f"{desc}: loss is not finite at step {step}; stopped")
                for key, value in stats.items():
                    terms[key] = terms.get(key, 0.0) + value / cfg.grad_accum
            grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            if grad_norm is None:  # DeepSpeed clips (gradient_clipping) and checks overflow in its own step
                grad_norm = -1.0  # not known here: logged as -1
            if not torch.isfinite(torch.as_tensor(grad_norm)):
                if accelerator.scaler is None or skipped >= MAX_SCALER_SKIPS:
                    return TrainResult("diverged", step, log,
                                       f"{desc}: gradient norm is not finite at step {step}; stopped")
                skipped += 1  # fp16: the scaler skips this update and lowers its scale
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                log.append({"step": step, **terms, "skipped": True})
                continue
            skipped = 0
            entry = {"step": step, "lr": scheduler.get_last_lr()[0], **terms, "grad_norm": float(grad_norm)}
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if callback is not None and (step % cfg.log_every == 0 or step == steps):
                # sharded: every process runs the wrapped model's forward together (whole weights otherwise)
                entry.update(callback(step, wrapped if sharded(accelerator) else accelerator.unwrap_model(wrapped)))
                wrapped.train()
            log.append(entry)
            log_step(accelerator, tag, entry)
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.3f}")
            if 0 < cfg.stop_forget_nll < entry.get("forget_nll_eval", float("-inf")):
                return TrainResult("ok", step, log, f"stopped early at step {step}: forget NLL "
                                   f"{entry['forget_nll_eval']:.3f} > {cfg.stop_forget_nll}",
                                   state_dict=gathered_weights(accelerator, wrapped))
        return TrainResult("ok", steps, log, state_dict=gathered_weights(accelerator, wrapped))
    finally:
        bar.close()
        release_prepared(accelerator)
        accelerator.unwrap_model(wrapped, keep_fp32_wrapper=False)  # the model's own forward again, without autocast
        if checkpointing:
            checkpointing_on(model, False)


def release_prepared(accelerator: Accelerator) -> None:
    """Drop accelerate's references to the model and optimizer it prepared, as its free_memory
    does, but without free_memory's full garbage collection. Reference counting frees the model,
    its gradients and the optimizer state once these lists let go (tests/test_train.py checks it
    with the collector off); the collection cost ~0.2 s, inside the timed stage: up to a quarter
    of the quick experiment's shortest unlearning stages (ga). The experiment collects after timing each
    stage and each attack instead (memory.release_freed_memory).
    """
    for name in ("_models", "_optimizers", "_schedulers", "_dataloaders"):
        if isinstance(getattr(accelerator, name, None), list):
            setattr(accelerator, name, [])
    accelerator.step = 0


def _micro_step(wrapped, ref_model, streams, aligned, primary, loss_fn, cfg, accelerator) -> dict | None:
    """Forward + backward on this process's part of one global batch.

    Returns the global (all-process) loss terms, or None if any is not finite; the check
    uses reduced values so every process stops at the same step.
    """
    world = accelerator.num_processes
    batch, weight = _local_batch(streams, aligned, primary, accelerator.process_index, world, accelerator.device)
    with accelerator.autocast():  # mixed precision for the frozen reference model too
        loss, logs = loss_fn(wrapped, ref_model, batch)
    local = torch.tensor([loss.item(), *logs.values()], device=accelerator.device) * weight
    stats = accelerator.reduce(local, reduction="sum") / world  # = global mean over examples
    if not torch.isfinite(stats).all():
        return None
    # DDP averages gradients over processes: weight = local share × processes makes that the
    # gradient of the global mean
    accelerator.backward(loss * weight / cfg.grad_accum)
    return dict(zip(["loss", *logs], stats.tolist()))


def _local_batch(streams, aligned, primary, rank, world, device):
    """This process's part of the next global batch of every split, and its loss weight."""
    batch, weight = {}, 1.0
    for name, stream in streams.items():
        indices = stream.next_indices()
        mine = shard(indices, rank, world) or indices[:1]
        if name == primary:
            # weight = local share of the global batch × processes (1.0 when the split is even)
            weight = len(shard(indices, rank, world)) * world / len(indices)
            for other, data in aligned.items():  # the same rows of the aligned splits
                batch[other] = {k: v.to(device) for k, v in data.batch(mine).items()}
        batch[name] = {k: v.to(device) for k, v in stream.data.batch(mine).items()}
    return batch, weight


def save_log(result: TrainResult, path: Path) -> None:
    """Write the per-step log and outcome as JSON."""
    path.write_text(json.dumps({"status": result.status, "steps": result.steps,
                                "message": result.message, "log": result.log}, indent=1))


def save_outcome(result, model, tok, out, acc) -> dict:
    """Write the training log and (unless it diverged) the model; return the stage outcome."""
    if acc.is_main_process:
        save_log(result, out / "train_log.json")
        if result.status == "ok":
            model.save_pretrained(out / "model", safe_serialization=True, state_dict=result.state_dict)
            tok.save_pretrained(out / "model")
    return {"status": result.status, "message": result.message, "steps": result.steps, "model_path": "model"}
