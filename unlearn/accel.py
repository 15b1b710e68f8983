"""The run's Accelerator: device, mixed precision, gradient checkpointing, sharded weights.

- `precision` bf16/fp16 is accelerate's mixed precision (fp32 master weights and optimizer
  state; forward and loss under autocast; fp16 with loss scaling) in every training loop of a run.
  Evaluation reads each saved model in fp32, so the instrument is the same for every model.
- `gradient_checkpointing` recomputes each decoder layer's activations in the backward pass
  (transformers' activation checkpointing, non-reentrant): less memory, about one more forward.
- Multi-process runs come from `torchrun` or `accelerate launch --config_file
  configs/accelerate/<ddp|fsdp|deepspeed_zero2|deepspeed_zero3>.yaml`; under FSDP and ZeRO-3 the
  trained weights are gathered on the main process for saving.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from accelerate import Accelerator

from unlearn.config import ConfigError
from unlearn.tracking import accelerator_kwargs


def make_accelerator(tracking: str = "none", project_dir: str | Path | None = None, precision: str = "fp32",
                     gradient_checkpointing: bool = False) -> Accelerator:
    """The run's Accelerator; `cpu=True` without a GPU so torchrun on CPU uses gloo (MULTI_CPU).
    `tracking` other than none: accelerate's tracker of that name, logging into `project_dir`
    (unlearn/tracking.py; `train` logs every step once the tracker is started).

    `precision` bf16/fp16: accelerate's mixed precision (fp32 master weights and optimizer state,
    the forward and loss under autocast, fp16 with loss scaling) for every training loop of the run;
    evaluation reads each saved model in fp32. fp16 needs CUDA: accelerate has no fp16 autocast on
    CPU and would train in fp32 without a word. `gradient_checkpointing`: every training loop
    recomputes activations in the backward pass (transformers' gradient_checkpointing_enable)."""
    on_gpu = torch.cuda.is_available()
    if precision == "fp16" and not on_gpu:
        raise ConfigError("precision: fp16 needs a CUDA GPU (on CPU accelerate would train in fp32); "
                          "use bf16 or fp32 here")
    mixed = {"fp32": "no"}.get(precision, precision)
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION")  # `accelerate launch --config_file ...` ('no' by default)
    if launched not in (None, "no", mixed):
        raise ConfigError(f"the accelerate launch config sets mixed_precision: {launched}, the experiment "
                          f"precision: {precision}; set precision in the experiment (it is part of the stage "
                          "keys) and leave mixed_precision: 'no' in the accelerate config, or make them agree")
    _fresh_state_for(mixed)
    acc = Accelerator(cpu=not on_gpu, mixed_precision=mixed, **accelerator_kwargs(tracking, project_dir))
    acc.unlearn_gradient_checkpointing = bool(gradient_checkpointing)  # read by train()
    return acc


def _fresh_state_for(mixed: str) -> None:
    """accelerate keeps one AcceleratorState per process and refuses a second Accelerator with
    another mixed precision. One process may run several experiments in turn (a sweep worker, the
    tests, the Python API): a single-process state is dropped and rebuilt for the new precision.
    A distributed run has one precision, set at launch and checked against the config above."""
    from accelerate.state import AcceleratorState, PartialState

    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", mixed) != mixed and PartialState().num_processes == 1:
        AcceleratorState._reset_state()


def run_accelerator(cfg, project_dir: str | Path | None = None, tracking: bool = True) -> Accelerator:
    """make_accelerator with the run config's tracker (unless `tracking` is False: evaluation
    workers, checks), precision and gradient checkpointing."""
    return make_accelerator(cfg.tracking if tracking else "none", project_dir, cfg.precision,
                            cfg.gradient_checkpointing)


def sharded(accelerator: Accelerator) -> bool:
    """Whether the processes hold parts of each parameter (FSDP, DeepSpeed ZeRO-3), not whole copies."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    return kind == DistributedType.FSDP or (kind == DistributedType.DEEPSPEED
                                            and accelerator.state.deepspeed_plugin.zero_stage == 3)


def need_whole_weights(accelerator: Accelerator, what: str) -> None:
    """Stop `what` (a step that edits weights in place after training) under sharded training."""
    if sharded(accelerator):
        raise ConfigError(f"{what} works on whole weights after training, which FSDP and ZeRO-3 split over the "
                          "processes; run it under configs/accelerate/ddp.yaml or deepspeed_zero2.yaml")


def gathered_weights(accelerator: Accelerator, wrapped) -> dict | None:
    """The full weights of a sharded model, gathered on the main process (every process must call
    this); None where each process holds them whole (one process, DDP, ZeRO-2)."""
    return accelerator.get_state_dict(wrapped) if sharded(accelerator) else None


def checkpointing_on(model, on: bool) -> None:
    """Switch transformers' activation (gradient) checkpointing of every decoder layer on or off;
    non-reentrant, so it is correct with frozen embeddings (LoRA) too. transformers 5 renamed the
    methods (activation_checkpointing_*); older releases have only gradient_checkpointing_*."""
    if hasattr(model, "activation_checkpointing_enable"):
        if on:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
    elif on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()
