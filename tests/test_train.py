"""The training loop: learning, NaN guard, determinism, single- vs two-process parity."""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import random_tokens, tiny_lm

from unlearn.config import TrainConfig
from unlearn.data import TokenData, epoch_batches, shard
from unlearn.losses import forward_logits, sequence_nll
from unlearn.train import deterministic_mode, make_accelerator, total_steps, train

HERE = Path(__file__).parent


def nll_loss(model, ref, batch):
    nll = sequence_nll(forward_logits(model, batch["train"]), batch["train"]["labels"]).mean()
    return nll, {"nll": nll.item()}


def test_training_lowers_the_loss_and_logs_every_step():
    cfg = TrainConfig(lr=1e-2, epochs=6, batch_size=8)
    result = train(tiny_lm(), {"train": random_tokens(32, 0)}, "train", nll_loss, cfg, 0, make_accelerator())
    assert result.status == "ok" and result.steps == total_steps(cfg, 32) == 24
    assert [e["step"] for e in result.log] == list(range(1, 25))
    assert result.log[-1]["loss"] < result.log[0]["loss"] - 0.3
    assert {"lr", "loss", "nll", "grad_norm"} <= set(result.log[0])


def test_same_seed_same_curve_other_seed_other_curve():
    def curve(seed):
        cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=8)
        r = train(tiny_lm(), {"train": random_tokens(24, 0)}, "train", nll_loss, cfg, seed, make_accelerator())
        return [e["loss"] for e in r.log]
    assert curve(1) == curve(1)
    assert curve(1) != curve(2)


def test_deterministic_mode_fixes_cublas_and_attention_only_on_cuda(monkeypatch):
    """On CUDA the fused attention kernels (non-deterministic backward) go and cuBLAS gets a fixed
    workspace; on CPU the attention backends stay as they are (CPU numbers must not move)."""
    backends = ("flash_sdp", "mem_efficient_sdp", "cudnn_sdp")
    before = {b: getattr(torch.backends.cuda, f"{b}_enabled")() for b in backends}
    try:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "unset by the test")
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
        deterministic_mode()
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert {b: getattr(torch.backends.cuda, f"{b}_enabled")() for b in backends} == before
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        deterministic_mode()
        assert not any(getattr(torch.backends.cuda, f"{b}_enabled")() for b in backends)
        assert torch.backends.cuda.math_sdp_enabled()
    finally:
        for b, on in before.items():
            getattr(torch.backends.cuda, f"enable_{b}")(on)


def test_nan_guard_stops_and_reports_diverged():
    def exploding(model, ref, batch):
        loss, logs = nll_loss(model, ref, batch)
        step = exploding.calls = getattr(exploding, "calls", 0) + 1
        return (loss * float("inf") if step == 3 else loss), logs

    model = tiny_lm()
    cfg = TrainConfig(lr=1e-3, epochs=5, batch_size=8)
    result = train(model, {"train": random_tokens(16, 0)}, "train", exploding, cfg, 0, make_accelerator())
    assert result.status == "diverged" and result.steps == 3 and len(result.log) == 2
    assert "not finite" in result.message
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad step never updated


def test_batches_cover_every_example_once_and_shards_partition():
    batches = epoch_batches([5, 3, 9, 1, 4, 4, 7, 2, 8, 6, 3], batch_size=4, seed=0, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(11))
    assert batches == epoch_batches([5, 3, 9, 1, 4, 4, 7, 2, 8, 6, 3], 4, 0, 0)
    for b in batches:
        assert shard(b, 0, 2) + shard(b, 1, 2) == b


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None, reason="needs torchrun")
def test_two_processes_give_the_single_process_curve(tmp_path):
    """Same global batch (8, 2 accumulation steps, an odd last batch): curves agree to 1e-5."""
    torchrun = Path(sys.executable).parent / "torchrun"
    # the CPU (gloo) path, also on a GPU machine: one GPU cannot host two NCCL ranks
    env = {**os.environ, "PYTHONPATH": str(HERE.parent), "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, HERE / "dist_train.py", tmp_path / "one.json"], check=True, env=env,
                   capture_output=True)
    # --standalone: a free port for the rendezvous (the default 29500 may be held by another run)
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", HERE / "dist_train.py",
                          tmp_path / "two.json"], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]  # the cause, if it ever fails
    one, two = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert one["processes"] == 1 and two["processes"] == 2
    assert len(one["loss"]) == len(two["loss"]) > 3
    for a, b in zip(one["loss"], two["loss"]):
        assert math.isclose(a, b, rel_tol=1e-5)
    assert math.isclose(one["weights"], two["weights"], rel_tol=1e-6)


def test_aligned_splits_are_batched_row_by_row_with_the_primary():
    forget = random_tokens(13, 5)
    mirror = TokenData([list(reversed(ids)) for ids in forget.ids], 0)  # row i belongs to forget row i
    seen = []

    def check(model, ref, batch):
        f, m = batch["forget"], batch["mirror"]
        for row in range(f["input_ids"].shape[0]):
            n = int(f["attention_mask"][row].sum())
            assert f["input_ids"][row, :n].flip(0).tolist() == m["input_ids"][row, :n].tolist()
        seen.append(f["input_ids"].shape[0])
        return sequence_nll(forward_logits(model, f), f["labels"]).mean(), {}

    cfg = TrainConfig(lr=1e-3, epochs=2, batch_size=4)
    result = train(tiny_lm(), {"forget": forget}, "forget", check, cfg, 0, make_accelerator(),
                   aligned={"mirror": mirror})
    assert result.status == "ok" and sum(seen) == 26


def test_early_stopping_on_the_forget_nll_bound():
    calls = []

    def curve(step, model):  # a curve whose forget NLL passes 2.5 at step 6
        calls.append(step)
        return {"forget_nll_eval": step / 2.0}

    cfg = TrainConfig(lr=1e-3, epochs=10, batch_size=8, log_every=2, stop_forget_nll=2.5)
    result = train(tiny_lm(), {"train": random_tokens(16, 0)}, "train", nll_loss, cfg, 0, make_accelerator(),
                   callback=curve)
    assert result.status == "ok" and result.steps == 6 and calls == [2, 4, 6] and "stopped early" in result.message
    unbounded = train(tiny_lm(), {"train": random_tokens(16, 0)}, "train", nll_loss,
                      TrainConfig(lr=1e-3, epochs=10, batch_size=8, log_every=2), 0, make_accelerator(), callback=curve)
    assert unbounded.steps == 20


def test_training_leaves_nothing_for_the_collector(monkeypatch):
    """After train() the model, its gradients and the optimizer state are freed by reference
    counting alone (train drops accelerate's references without a full collection, which the
    experiment runs after timing each stage): with the collector off, weak references die."""
    import gc
    import weakref

    optimizers = []
    init = torch.optim.AdamW.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        optimizers.append(self)

    monkeypatch.setattr(torch.optim.AdamW, "__init__", spy)
    acc, model = make_accelerator(), tiny_lm(0)
    gc.collect()
    gc.disable()  # from here on only reference counting frees anything
    try:
        result = train(model, {"train": random_tokens(20, 1)}, "train", nll_loss,
                       TrainConfig(lr=1e-3, max_steps=3, batch_size=8), 0, acc)
        assert result.status == "ok"
        state = next(iter(optimizers[0].state.values()))["exp_avg"]
        alive = [weakref.ref(x) for x in (model, next(model.parameters()), optimizers.pop(), state)]
        del model, state
        assert [r() is None for r in alive] == [True] * 4
    finally:
        gc.enable()
    assert acc.step == 0
