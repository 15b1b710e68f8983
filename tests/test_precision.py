"""Mixed precision (bf16 through accelerate) and gradient checkpointing in the training loop:
the same losses as fp32 without checkpointing, to bf16 rounding and to float rounding."""
import copy

import pytest
import torch
from helpers import method_inputs, random_tokens, tiny_lm

from unlearn.config import BASE_CONFIG, ConfigError, TrainConfig, compute_key, load_config
from unlearn.losses import forward_logits, sequence_nll
from unlearn.methods import METHODS
from unlearn.methods.stage import apply_method
from unlearn.train import make_accelerator, train

CFG = TrainConfig(lr=1e-2, max_steps=8, batch_size=8, warmup_ratio=0.0, schedule="constant")


def nll_loss(model, ref, batch):
    nll = sequence_nll(forward_logits(model, batch["train"]), batch["train"]["labels"]).mean()
    return nll, {"nll": nll.item()}


def curve(precision="fp32", checkpointing=False, model=None, loss=nll_loss):
    model = model if model is not None else tiny_lm(0)
    acc = make_accelerator(precision=precision, gradient_checkpointing=checkpointing)
    result = train(model, {"train": random_tokens(32, 0)}, "train", loss, CFG, 0, acc)
    assert result.status == "ok" and result.steps == 8
    return [e["loss"] for e in result.log], model


def test_bf16_autocast_gives_the_fp32_losses_to_bf16_rounding():
    fp32, _ = curve()
    bf16, model = curve("bf16")
    gaps = [abs(a - b) for a, b in zip(fp32, bf16)]
    assert max(gaps) < 0.05  # bf16 keeps 8 bits of mantissa: ~3 significant digits of a loss near 4.5
    assert max(gaps) > 0  # autocast did run (identical curves would mean fp32 throughout)
    assert fp32[-1] < fp32[0] - 0.1 and bf16[-1] < bf16[0] - 0.1  # both learn
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights


def test_the_model_computes_in_fp32_again_after_bf16_training():
    _, model = curve("bf16")
    assert "_original_forward" not in model.__dict__  # accelerate's autocast wrapper is gone
    plain = copy.deepcopy(model)
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.no_grad():
        assert model(input_ids=ids).logits.dtype == torch.float32
        assert torch.equal(model(input_ids=ids).logits, plain(input_ids=ids).logits)


def test_gradient_checkpointing_gives_the_same_losses_and_recomputes_each_layer():
    plain, _ = curve()
    model, calls = tiny_lm(0), []
    mlp = model.model.layers[0].mlp
    forward = mlp.forward  # counted by wrapping: the recomputation runs forward, not the module's hooks
    mlp.forward = lambda x: (calls.append(1), forward(x))[1]
    checkpointed, model = curve(checkpointing=True, model=model)
    assert checkpointed == pytest.approx(plain, rel=1e-6, abs=1e-6)
    assert len(calls) == 2 * 8  # forward, then again in the backward pass, at each of the 8 steps
    assert not any(getattr(layer, "gradient_checkpointing", False) for layer in model.model.layers)  # off again


def test_the_frozen_reference_runs_under_the_same_autocast():
    seen = []

    def loss(model, ref, batch):
        seen.append((torch.is_autocast_enabled("cpu"), ref.lm_head(torch.ones(1, 32)).dtype))
        return nll_loss(model, ref, batch)

    model = tiny_lm(0)
    acc = make_accelerator(precision="bf16")
    train(model, {"train": random_tokens(16, 0)}, "train", loss, CFG, 0, acc, ref_model=tiny_lm(1))
    assert seen and all(on and dtype == torch.bfloat16 for on, dtype in seen)


@pytest.mark.parametrize("name", sorted(n for n, cls in METHODS.items() if cls.trains))
def test_every_method_trains_under_bf16_with_checkpointing(name):
    cls = METHODS[name]
    method = cls(cls.Config())
    model = tiny_lm(0)
    ref, splits, aligned = method_inputs(cls, method, model)
    cfg = TrainConfig(lr=1e-2, max_steps=3, batch_size=8, warmup_ratio=0.0, schedule="constant")
    acc = make_accelerator(precision="bf16", gradient_checkpointing=True)
    result = apply_method(method, model, ref, splits, cfg, 0, acc, aligned=aligned)
    assert result.status == "ok" and result.steps == 3
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in result.log)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs where CUDA is")
def test_fp16_without_a_gpu_is_refused_not_silently_fp32():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        make_accelerator(precision="fp16")


def test_a_launch_config_with_another_precision_is_refused(monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    with pytest.raises(ConfigError, match="mixed_precision: bf16.*precision: fp32"):
        make_accelerator()
    assert make_accelerator(precision="bf16").mixed_precision == "bf16"


def test_precision_is_checked_and_keys_the_training_stages_only_when_set():
    with pytest.raises(ConfigError, match="'precision' must be one of fp32, bf16, fp16"):
        load_config(BASE_CONFIG, ["precision=fp8"])
    assert compute_key(load_config(BASE_CONFIG)) == {}  # caches built before these settings stay valid
    cfg = load_config(BASE_CONFIG, ["precision=bf16", "gradient_checkpointing=true"])
    assert compute_key(cfg) == {"compute": {"precision": "bf16", "gradient_checkpointing": True}}


@pytest.mark.parametrize("name,kind,sharding", [("ddp", "MULTI_GPU", None), ("fsdp", "FSDP", "FULL_SHARD"),
                                                ("deepspeed_zero2", "DEEPSPEED", 2), ("deepspeed_zero3", "DEEPSPEED", 3)])
def test_the_accelerate_config_files_load_and_leave_precision_to_the_experiment(name, kind, sharding):
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(__file__).parents[1] / "configs" / "accelerate" / f"{name}.yaml"
    config = load_config_from_file(str(path))
    assert config.distributed_type.name == kind and config.mixed_precision == "no"
    if kind == "FSDP":
        assert config.fsdp_config["fsdp_sharding_strategy"] == sharding
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # gathered for saving
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == sharding
