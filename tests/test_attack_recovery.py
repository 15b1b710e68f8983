"""Recovery against the retrain control, on hand-built attack arrays; attack config checks."""
import numpy as np
import pytest
from scipy.stats import wilcoxon

from unlearn.attacks import ATTACKS, baseline_of, headline
from unlearn.attacks.recovery import paired_test, recovery, recovery_metrics, summarize_attack
from unlearn.config import AttackConfig, ConfigError, load_config

SMOKE = "configs/experiments/smoke.yaml"


def test_recovery_is_attacked_minus_baseline_per_item():
    arrays = {"plain": {"forget.x": np.array([0.1, 0.5, 0.2])}, "hard": {"forget.x": np.array([0.4, 0.5, 0.1])}}
    np.testing.assert_allclose(recovery(arrays, "plain", "hard", "forget.x"), [0.3, 0.0, -0.1])
    assert recovery(arrays, "plain", "hard", "forget.y") is None


def test_paired_test_is_scipy_wilcoxon_and_handles_no_difference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1, 40), rng.normal(0, 1, 40)
    diff, p = paired_test(a, b)
    assert diff == pytest.approx(float((a - b).mean()))
    assert p == pytest.approx(float(wilcoxon(a - b).pvalue))
    assert paired_test(np.ones(5), np.ones(5)) == (0.0, 1.0)
    assert np.isnan(paired_test(np.array([np.nan, 1.0]), np.array([0.0, np.nan]))[1])  # no paired item left


def test_recovery_metrics_against_the_control():
    # method: the attack brings back +1 on every item; retrain: +0 -> suppressed-looking
    method = {"b_steps0": {"forget.x": np.zeros(12)}, "b_steps50": {"forget.x": np.ones(12)}}
    control = {"b_steps0": {"forget.x": np.zeros(12)}, "b_steps50": {"forget.x": np.zeros(12)}}
    out = recovery_metrics("relearn", "forget.x", {"b_steps50": "b_steps0"}, method, control, "b_steps50")
    assert out["attacks.relearn.b_steps50.recovery"] == 1.0
    assert out["attacks.relearn.recovery_vs_retrain"] == 1.0
    assert out["attacks.relearn.recovery_vs_retrain_p"] < 0.01
    same = recovery_metrics("relearn", "forget.x", {"b_steps50": "b_steps0"}, control, control, "b_steps50")
    assert same["attacks.relearn.recovery_vs_retrain"] == 0.0 and same["attacks.relearn.recovery_vs_retrain_p"] == 1.0
    summary = summarize_attack("relearn", method)
    assert summary == {"attacks.relearn.b_steps0.forget.x": 0.0, "attacks.relearn.b_steps50.forget.x": 1.0}


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
])
def test_bad_attack_settings_name_the_key(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(SMOKE, [override])


def test_report_attack_table_from_results_alone():
    from unlearn.report import all_metrics_table, attack_table
    results = {"models": {
        "base": {"metrics": {"forget.nll": 7.0}},
        "retrain": {"metrics": {"attacks.relearn.recovery_vs_retrain": 0.0, "attacks.relearn.recovery_vs_retrain_p": 1.0}},
        "ga": {"metrics": {"attacks.relearn.recovery_vs_retrain": 0.69, "attacks.relearn.recovery_vs_retrain_p": 8e-18,
                           "attacks.relearn.b_steps50.forget.nll": 0.79}}}}
    table = attack_table(results)
    assert "| ga | +0.690 (8e-18) |" in table and "| retrain | +0.000 (1) |" in table and "base" not in table
    assert "attacks." not in all_metrics_table(results)  # attack keys stay out of the long table
    assert attack_table({"models": {"base": {"metrics": {}}}}) == ""


def test_a_failed_attack_is_named_in_the_report_not_left_blank():
    from unlearn.report import _failed_attacks, attack_table
    ok = {"relearn": {"status": "ok"}, "quantize": {"status": "ok"}}
    results = {"models": {
        "retrain": {"metrics": {"attacks.relearn.recovery_vs_retrain": 0.0, "attacks.relearn.recovery_vs_retrain_p": 1.0},
                    "attacks": {"0": ok}},
        "sisa": {"metrics": {}, "attacks": {"0": {**ok, "relearn": {"status": "failed", "message": "ValueError: boom"}}}},
        "ga": {"metrics": {}, "attacks": {"0": ok}}}}  # ran, but no recovery figure: a plain gap
    table = attack_table(results)
    assert "| sisa | failed |" in table and "| ga | – |" in table
    assert _failed_attacks(results) == [
        "Attacks that failed (no numbers; the error is recorded in results.json under the model's `attacks`):", "",
        "- `sisa` relearn (seed 0): ValueError: boom", ""]
    # an attack that failed on every model still gets its column
    results["models"]["retrain"] = {"metrics": {}, "attacks": {"0": {"probe": {"status": "failed", "message": "x"}}}}
    assert "probe: Δ recovery vs retrain (p)" in attack_table(results)
    assert _failed_attacks({"models": {"ga": {"metrics": {}, "attacks": {"0": ok}}}}) == []
