"""Post-attack levels and recoveries on hand-built attack arrays; attack config checks; the
report's attack table."""
import numpy as np
import pytest

from unlearn.attacks import ATTACKS, baseline_of, headline
from unlearn.attacks.recovery import level, level_metrics, summarize_attack
from unlearn.config import AttackConfig, ConfigError, load_config

SMOKE = "configs/experiments/smoke.yaml"


def test_post_attack_level_and_recovery_by_hand():
    arrays = {"b_steps0": {"forget.x": np.array([0.1, 0.5, np.nan])}, "b_steps25": {"forget.x": np.array([0.2, 0.6, 0.4])},
              "b_steps50": {"forget.x": np.array([0.4, 0.5, 0.1])}}
    assert level(arrays, "b_steps50", "forget.x") == pytest.approx(1.0 / 3)
    assert level(arrays, "b_steps0", "forget.x") == pytest.approx(0.3)  # NaN items left out
    assert level(arrays, "b_steps50", "forget.y") is None
    out = level_metrics("relearn", "forget.x", {"b_steps25": "b_steps0", "b_steps50": "b_steps0"}, arrays, "b_steps50")
    assert out["attacks.relearn.level"] == pytest.approx(1.0 / 3)
    assert out["attacks.relearn.recovery"] == pytest.approx(1.0 / 3 - 0.3)
    assert out["attacks.relearn.b_steps25.recovery"] == pytest.approx(0.4 - 0.3)
    summary = summarize_attack("relearn", {"b_steps0": {"forget.x": np.zeros(2), "forget.loss_score": np.ones(2)}})
    assert summary == {"attacks.relearn.b_steps0.forget.x": 0.0}  # scores feed other numbers, not reported


def test_baselines_and_headlines():
    a = AttackConfig()
    assert baseline_of("relearn", "a_steps25", []) == "a_steps0"
    assert baseline_of("quantize", "int4", ["fp32", "int8", "int4"]) == "fp32"
    assert headline("relearn", a) == "b_steps50" and headline("quantize", a) == "int4"
    for name in ATTACKS:  # every attack's headline is one of its settings, its baseline first
        settings = ATTACKS[name](a).settings()
        assert headline(name, a) in settings and baseline_of(name, settings[-1], settings) in settings


@pytest.mark.parametrize("override, fragment", [
    ("attacks.names=[relearn,jailbreak]", "unknown attack 'jailbreak'"),
    ("attacks.relearn_steps=[10,50]", "must include 0"),
    ("attacks.relearn_protocols=[d]", "some of a"),
    ("attacks.quantize_bits=[16]", "between 2 and 8"),
    ("attacks.relearn_lr_candidates=[1e-4,0]", "must be positive"),
    ("attacks.relearn_tolerance=-0.1", "at least 0"),
    ("attacks.relearn_steps=[0]", "step count above 0"),
])
def test_bad_attack_settings_name_the_key(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(SMOKE, [override])


def test_report_attack_table_from_results_alone():
    from unlearn.report import all_metrics_table, attack_table
    reps = {"0": [{"attacks.relearn.level": -3.0}, {"attacks.relearn.level": -2.8}]}
    results = {"models": {
        "base": {"metrics": {"forget.nll": 7.0}},
        "retrain": {"metrics": {"attacks.relearn.level": -2.9}, "replicates": reps},
        "ga": {"metrics": {"attacks.relearn.level": -2.21, "attacks.relearn.b_steps50.forget.nll": 0.79},
               "per_seed": {"0": {"attacks.relearn.level": -2.21}}}},
        "verdict": {"ga": {"parts": [{"key": "attacks.relearn.level", "p_adjusted": 8e-4}]}}}
    table = attack_table(results)
    assert "| ga | +0.690 (0.0008) |" in table and "| retrain |" not in table and "base" not in table
    assert "attacks." not in all_metrics_table(results)  # attack keys stay out of the long table
    assert attack_table({"models": {"base": {"metrics": {}}}}) == ""


def test_a_failed_attack_is_named_in_the_report_not_left_blank():
    from unlearn.report import _failed_attacks, attack_table
    ok = {"relearn": {"status": "ok"}, "quantize": {"status": "ok"}}
    results = {"models": {
        "retrain": {"metrics": {"attacks.relearn.level": -3.0}, "attacks": {"0": ok},
                    "replicates": {"0": [{"attacks.relearn.level": -3.0}]}},
        "sisa": {"metrics": {}, "attacks": {"0": {**ok, "relearn": {"status": "failed", "message": "ValueError: boom"}}}},
        "ga": {"metrics": {}, "attacks": {"0": ok}}}}  # ran, but no recovery figure: a plain gap
    table = attack_table(results)
    assert "| sisa | failed |" in table and "| ga | – |" in table
    assert _failed_attacks(results) == [
        "Attacks that failed (no numbers; the error is recorded in results.json under the model's `attacks`):", "",
        "- `sisa` relearn (seed 0): ValueError: boom", ""]
    # an attack that failed on every model still gets its column
    results["models"]["retrain"] = {"metrics": {}, "attacks": {"0": {"probe": {"status": "failed", "message": "x"}}}}
    assert "probe: Δ level vs retrain (p adj.)" in attack_table(results)
    assert _failed_attacks({"models": {"ga": {"metrics": {}, "attacks": {"0": ok}}}}) == []
