"""Config errors: each names the file, the key and the valid choices, and the CLI exits 2."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn.cli import main
from unlearn.config import BASE_CONFIG, ConfigError, load_config
from unlearn.config_checks import RANGES, TRAIN_RANGES
from unlearn.corpus import build_corpus

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def test_experiment_overrides_base_and_command_line_overrides_both():
    cfg = load_config(SMOKE, ["finetune.lr=3e-4", "seeds=[1, 2]"])
    assert cfg.name == "smoke" and cfg.data.n_users == 40  # from smoke.yaml
    assert cfg.data.languages == ("en", "de")  # from base.yaml
    assert cfg.finetune.lr == 3e-4 and cfg.seeds == (1, 2)
    ga = next(m for m in cfg.methods if m.name == "ga")
    assert ga.train.max_steps == 3 and ga.train.lr == 1e-4  # smoke.yaml over configs/methods/ga.yaml


@pytest.mark.parametrize("override, names", [
    (["data.n_user=3"], ["command line", "data.n_user", "n_users"]),
    (["finetune.lr=fast"], ["command line", "finetune.lr", "float"]),
    (["data.n_users=1.5"], ["data.n_users", "int"]),
    (["unlearn.methods=[ga, magic]"], ["unlearn.methods", "magic", "corpus_deletion, ga"]),
    (["methods.ga.beta=0.1"], ["methods.ga.beta", "lr"]),
    (["model.name=gpt-9"], ["model.name", "gpt-9", "tiny, smollm2-135m"]),
    (["finetune.schedule=step"], ["finetune.schedule", "cosine, linear, constant"]),
    (["data.objector_selection=loud"], ["data.objector_selection", "most_active"]),
    (["lr"], ["key=value"]),
    (["retrain.replicates=0"], ["command line", "retrain.replicates", "at least 1"]),
    (["verdict.alpha=0.7"], ["verdict", "0 < alpha < 0.5"]),
    (["verdict.margin=-1"], ["verdict", "margin > 0"]),
])
def test_bad_values_name_the_key_and_choices(override, names):
    with pytest.raises(ConfigError) as err:
        load_config(SMOKE, override)
    for name in names:
        assert name in str(err.value)


def test_unknown_key_in_a_file_names_that_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfinetune:\n  lr: 1e-3\n  epochz: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'finetune\.epochz'"):
        load_config(bad)
    bad.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_cli_exits_2_with_one_line_and_no_traceback(capsys):
    assert main(["run", str(SMOKE), "data.n_user=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "data.n_user" in err and "Traceback" not in err


def test_cli_debug_shows_the_traceback():
    proc = subprocess.run([sys.executable, "-m", "unlearn", "run", str(SMOKE), "model.name=nope", "--debug"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "nope" in proc.stderr


def test_every_shipped_config_loads():
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        if path.parent.name not in ("methods", "accelerate", "sweeps"):  # fragments; launch configs; sweep files
            load_config(path)


@pytest.mark.parametrize("key", sorted(RANGES))
def test_every_checked_size_and_fraction_rejects_minus_one(key):
    with pytest.raises(ConfigError, match=rf"command line: '{re.escape(key)}' must .*got -1"):
        load_config(SMOKE, [f"{key}=-1"])


@pytest.mark.parametrize("prefix", ["finetune", "methods.ga", "methods.rmu"])
@pytest.mark.parametrize("key", sorted(TRAIN_RANGES))
def test_every_training_setting_is_checked_for_finetune_and_each_method(prefix, key):
    with pytest.raises(ConfigError, match=rf"'{re.escape(prefix)}\.{key}' must .*got -1"):
        load_config(SMOKE, [f"{prefix}.{key}=-1"])


def test_n_users_names_the_smallest_count_that_works():
    overrides = ["data.holdout_fraction=0.25", "data.objection_rounds=3"]
    with pytest.raises(ConfigError, match=r"'data.n_users' is too small \(got 4\).*at least (\d+) here") as err:
        load_config(SMOKE, [*overrides, "data.n_users=4"])
    need = int(re.search(r"at least (\d+) here", str(err.value)).group(1))
    cfg = load_config(SMOKE, [*overrides, f"data.n_users={need}"])  # that many do work
    corpus = build_corpus(cfg.data, 0)
    users = corpus.tables["users"].to_list()
    assert any(u["group"] == "holdout" for u in users)
    assert any(u["group"] == "member" and not u["objects"] for u in users)
    assert {u["objection_round"] for u in users if u["objects"]} == {1, 2, 3}
    with pytest.raises(ConfigError, match="too small"):
        load_config(SMOKE, [*overrides, f"data.n_users={need - 1}"])


def test_a_key_keeps_the_source_that_set_it(tmp_path):
    """Errors name the layer that set the key: an override's nested value, a method's own file."""
    with pytest.raises(ConfigError, match=r"^command line: 'data.posts_per_user'"):
        load_config(SMOKE, ["data={posts_per_user: 0}"])
    exp = tmp_path / "exp.yaml"
    exp.write_text("methods:\n  npo:\n    beta: 0\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(exp))}: 'methods.npo.beta'"):
        load_config(exp)
    with pytest.raises(ConfigError, match=r"^command line: 'methods.graddiff.grid.alpha'"):
        load_config(SMOKE, ["methods.graddiff.grid={alpha: [1, -1]}"])


def test_override_values_stay_safe_yaml():
    with pytest.raises(ConfigError, match=r"override 'name=!!python/object/apply:os.getcwd \[\]' is not valid YAML"):
        load_config(SMOKE, ["name=!!python/object/apply:os.getcwd []"])
    assert load_config(SMOKE, ["name=plain-name"]).name == "plain-name"


def test_a_method_file_block_for_the_model_family_sits_between_the_file_and_the_experiment():
    tiny = {m.name: m for m in load_config(ROOT / "configs" / "experiments" / "quick.yaml").methods}
    smol = {m.name: m for m in load_config(ROOT / "configs" / "experiments" / "quick.yaml",
                                           ["model.name=smollm2-135m"]).methods}
    assert tiny["ga"].train.lr == 1e-4 and smol["ga"].train.lr == 1e-5  # configs/methods/ga.yaml's smollm2 block
    assert dict(smol["rmu"].grid)["alpha"] == (3.0, 10.0, 30.0) and smol["rmu"].params.layer == 7
    assert dict(tiny["rmu"].grid)["alpha"] == (10.0, 30.0, 100.0) and tiny["rmu"].params.layer == 1
    over = {m.name: m for m in load_config(ROOT / "configs" / "experiments" / "quick.yaml",
                                           ["model.name=smollm2-135m", "methods.ga.lr=2e-5"]).methods}
    assert over["ga"].train.lr == 2e-5  # the experiment wins over the block


def test_a_bad_family_block_names_the_method_file(tmp_path, monkeypatch):
    import unlearn.config_methods as config_methods

    (tmp_path / "ga.yaml").write_text("lr: 1.0e-4\nsmollm2: 3\n")
    monkeypatch.setattr(config_methods, "METHOD_CONFIGS", tmp_path)
    with pytest.raises(ConfigError, match=r"ga.yaml: 'smollm2' must be a mapping"):
        load_config(BASE_CONFIG, ["model.name=smollm2-135m", "unlearn.methods=[ga]"])
    (tmp_path / "ga.yaml").write_text("lr: 1.0e-4\nsmollm2: {lrr: 1.0e-5}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'methods.ga.lrr'"):
        load_config(BASE_CONFIG, ["model.name=smollm2-135m", "unlearn.methods=[ga]"])
    assert load_config(BASE_CONFIG, ["unlearn.methods=[ga]"]).methods[0].train.lr == 1e-4  # tiny: no block
