"""Experiment tracking (unlearn/tracking.py): TensorBoard event files written and read back with the
logged values, offline; wandb and mlflow accepted and handed to accelerate, a ConfigError where the
package is missing; none (the default) logs and creates nothing. No network in any test."""
import types

import pytest
from helpers import random_tokens, tiny_lm
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from unlearn import tracking
from unlearn.config import ROOT, ConfigError, TrainConfig, load_config
from unlearn.losses import batch_nll
from unlearn.methods import METHODS
from unlearn.methods.stage import apply_method
from unlearn.train import make_accelerator, train

SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def nll_loss(model, ref, batch):
    nll = batch_nll(model, batch["train"])
    return nll, {"nll": nll.item()}


def scalars(folder, tag):
    """(step, value) pairs of one tag across every event file under `folder`."""
    points = []
    for events in sorted(folder.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            points += [(e.step, e.value) for e in acc.Scalars(tag)]
    return sorted(points)


def test_tensorboard_logs_every_step_curve_and_final_metrics(tmp_path):
    cfg = load_config(SMOKE, ["tracking=tensorboard"])
    acc = make_accelerator("tensorboard", tmp_path / "tracking")
    tracking.start_tracking(acc, cfg)
    fit = train(tiny_lm(), {"train": random_tokens(24, 0)}, "train", nll_loss,
                TrainConfig(lr=1e-2, epochs=2, batch_size=8), 0, acc, desc="fine-tune on train")
    again = train(tiny_lm(1), {"train": random_tokens(16, 1)}, "train", nll_loss,
                  TrainConfig(lr=1e-2, epochs=1, batch_size=8), 1, acc, desc="fine-tune on train")
    # an unlearning method through the pipeline's apply_method, with an unlearning-curve callback
    model = tiny_lm()
    method = METHODS["npo"](METHODS["npo"].Config())
    curve = lambda step, m: {"forget_nll_eval": 10.0 + step, "retain_nll_eval": 20.0 + step}  # noqa: E731
    unl = apply_method(method, model, tiny_lm(), {"forget": random_tokens(16, 2), "retain": random_tokens(16, 3)},
                       TrainConfig(lr=1e-3, max_steps=5, batch_size=4, log_every=2), 0, acc, callback=curve)
    tracking.finish_tracking(acc, {"models": {"retrain@1": {"metrics": {"forget.nll": 1.5, "bad": float("nan")}}}})
    folder = tmp_path / "tracking" / cfg.name
    assert folder.is_dir()

    logged = scalars(folder, "fine-tune_on_train/loss")
    assert [s for s, _ in logged] == [e["step"] for e in fit.log] == list(range(1, fit.steps + 1))
    assert [v for _, v in logged] == pytest.approx([e["loss"] for e in fit.log], rel=1e-6)
    assert [v for _, v in scalars(folder, "fine-tune_on_train/grad_norm")] == \
        pytest.approx([e["grad_norm"] for e in fit.log], rel=1e-6)
    assert [v for _, v in scalars(folder, "fine-tune_on_train_2/loss")] == \
        pytest.approx([e["loss"] for e in again.log], rel=1e-6)  # a repeated loop gets its own key
    assert [v for _, v in scalars(folder, "unlearn_NPO/npo")] == pytest.approx([e["npo"] for e in unl.log], rel=1e-6)
    assert scalars(folder, "unlearn_NPO/forget_nll_eval") == [(2, 12.0), (4, 14.0), (5, 15.0)]
    assert scalars(folder, "unlearn_NPO/retain_nll_eval") == [(2, 22.0), (4, 24.0), (5, 25.0)]
    assert scalars(folder, "final/retrain_1/forget.nll") == [(0, 1.5)]
    assert scalars(folder, "final/retrain_1/bad") == []  # not finite: not logged
    assert not acc.trackers  # closed
    tracking.end_tracking(acc)  # idempotent


def test_none_is_the_default_and_logs_nothing(tmp_path):
    cfg = load_config(SMOKE)
    assert cfg.tracking == "none"
    acc = make_accelerator(cfg.tracking, tmp_path / "tracking")
    tracking.start_tracking(acc, cfg)
    result = train(tiny_lm(), {"train": random_tokens(8, 0)}, "train", nll_loss, TrainConfig(max_steps=2, batch_size=4),
                   0, acc)
    tracking.finish_tracking(acc, {"models": {"original": {"metrics": {"forget.nll": 1.0}}}})
    assert result.status == "ok" and not acc.trackers
    assert not (tmp_path / "tracking").exists()
    assert tracking.begin_run(acc, "train") is None


@pytest.mark.parametrize("name", ["wandb", "mlflow", "tensorboard"])
def test_a_missing_package_is_a_config_error(monkeypatch, name):
    monkeypatch.setattr(tracking, "installed", lambda module: False)
    with pytest.raises(ConfigError, match=f"tracking: {name} needs the '{name}' package.*pip install {name}"):
        load_config(SMOKE, [f"tracking={name}"])
    with pytest.raises(ConfigError, match="pip install"):
        make_accelerator(name, "somewhere")


def test_an_unknown_tracker_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="command line: 'tracking' must be one of none, tensorboard, wandb, mlflow"):
        load_config(SMOKE, ["tracking=comet"])


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_wandb_and_mlflow_are_accepted_and_passed_to_accelerate(monkeypatch, tmp_path, name):
    """With the package present (faked here: no import, no network) the config loads and the
    Accelerator is built with that tracker and the run's tracking folder."""
    monkeypatch.setattr(tracking, "installed", lambda module: module == name)
    assert load_config(SMOKE, [f"tracking={name}"]).tracking == name
    seen = {}
    fake = types.SimpleNamespace()
    monkeypatch.setattr("unlearn.accel.Accelerator", lambda **kwargs: seen.update(kwargs) or fake)
    assert make_accelerator(name, tmp_path / "tracking") is fake
    assert seen["log_with"] == name and seen["project_dir"] == str(tmp_path / "tracking")
    seen.clear()
    make_accelerator()  # none: no tracker arguments at all
    assert set(seen) == {"cpu", "mixed_precision"} and seen["mixed_precision"] == "no"  # no tracker arguments


def test_flat_config_holds_only_plain_values():
    flat = tracking.flat_config(load_config(SMOKE))
    assert flat["finetune.lr"] == 3e-3 and flat["name"] == "smoke" and flat["tracking"] == "none"
    assert flat["methods.npo.params.beta"] == 0.1 and flat["data.languages"] == '["en", "de"]'
    assert all(isinstance(v, (bool, int, float, str)) for v in flat.values())
