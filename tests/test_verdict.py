"""The verdict rules (report/verdict.py) on hand-built results."""
from unlearn.report import verdict_table
from unlearn.report.verdict import judge, verdicts

RETRAIN = {"kind": "retrain", "status": "ok",
           "metrics": {"forget_quality": 1.0, "forget.mia_loss_auc": 0.52, "forget.exposure": 1.0},
           "ci": {"forget.mia_loss_auc": [0.45, 0.60], "forget.exposure": [0.5, 1.6]}}


def method(auc=0.53, auc_ci=(0.46, 0.61), ks=0.4, exposure=1.1, attacks=None, kind="approximate"):
    metrics = {"forget_quality": ks, "forget.mia_loss_auc": auc, "forget.exposure": exposure}
    for name, (diff, p) in (attacks or {}).items():
        metrics[f"attacks.{name}.recovery_vs_retrain"] = diff
        metrics[f"attacks.{name}.recovery_vs_retrain_p"] = p
    return {"kind": kind, "status": "ok", "metrics": metrics,
            "ci": {"forget.mia_loss_auc": list(auc_ci), "forget.exposure": [exposure - 0.6, exposure + 0.6]}}


def test_a_method_equal_to_retrain_is_removed():
    v = judge(method(attacks={"relearn": (0.01, 0.4), "quantize": (-0.2, 1e-9)}), RETRAIN)
    assert v["verdict"] == "removed" and not any(p["separates"] for p in v["parts"])


def test_worse_on_plain_metrics_is_not_removed():
    v = judge(method(auc=0.95, auc_ci=(0.92, 0.97)), RETRAIN)
    assert v["verdict"] == "not removed" and "membership" in v["reason"]
    assert next(p for p in v["parts"] if p["name"] == "membership")["direction"] == "more than retrain"
    assert judge(method(ks=0.01), RETRAIN)["verdict"] == "not removed"  # KS p below 5%
    assert judge(method(exposure=9.0), RETRAIN)["verdict"] == "not removed"
    # forgetting more than retrain is distinguishable too
    over = judge(method(auc=0.2, auc_ci=(0.15, 0.26)), RETRAIN)
    assert over["verdict"] == "not removed" and over["parts"][1]["direction"] == "less than retrain"


def test_equal_on_plain_metrics_but_recovering_under_relearning_is_suppressed():
    v = judge(method(attacks={"relearn": (0.4, 1e-6), "quantize": (0.0, 1.0)}), RETRAIN)
    assert v["verdict"] == "suppressed" and v["reason"].endswith("relearn")


def test_attack_tests_are_bonferroni_corrected_and_one_sided():
    two = {"relearn": (0.3, 0.03), "quantize": (0.0, 1.0)}  # 0.03 > 0.05 / 2
    assert judge(method(attacks=two), RETRAIN)["verdict"] == "removed"
    assert judge(method(attacks={"relearn": (0.3, 0.03)}), RETRAIN)["verdict"] == "suppressed"
    assert judge(method(attacks={"relearn": (-0.3, 1e-9)}), RETRAIN)["verdict"] == "removed"  # less than retrain


def test_exact_methods_are_removed_by_construction_and_references_are_not_judged():
    models = {"retrain": RETRAIN, "original": dict(method(auc=0.99, auc_ci=(0.98, 1.0)), kind="original"),
              "sisa": method(auc=0.3, auc_ci=(0.25, 0.35), kind="exact"), "ga": method(ks=0.001),
              "broken": dict(method(), status="diverged")}
    out = verdicts(models)
    assert list(out) == ["sisa", "ga"]
    assert out["sisa"]["verdict"] == "removed" and out["ga"]["verdict"] == "not removed"
    table = verdict_table({"verdict": out})
    assert "| sisa | **removed** |" in table and "✗ forget quality p=0.001" in table


def test_missing_inputs_are_skipped_not_failed():
    bare = {"kind": "approximate", "status": "ok", "metrics": {"forget.mia_loss_auc": 0.5}, "ci": {}}
    v = judge(bare, RETRAIN)
    assert v["verdict"] == "removed" and v["parts"] == [] and v["skipped"] == ["forget quality", "membership", "exposure"]


def _seeded(m: dict, per_seed: list[dict]) -> dict:
    """`m` with per-seed metrics (each seed's dict overrides m's metrics)."""
    return {**m, "per_seed": {str(i): {**m["metrics"], **d} for i, d in enumerate(per_seed)}}


def test_several_seeds_fisher_combined_p_values_and_welch_for_the_intervals():
    import math
    retrain = _seeded(RETRAIN, [{"forget.mia_loss_auc": a} for a in (0.50, 0.52, 0.54)])
    # three seeds of KS p = 0.1: none separates alone; Fisher: X = -2 ln(0.1^3) = 6 ln 10 on 6 degrees
    # of freedom, survival function e^{-X/2} (1 + X/2 + (X/2)^2 / 2) with X/2 = 3 ln 10
    half = 3 * math.log(10)
    want = math.exp(-half) * (1 + half + half ** 2 / 2)  # 0.0318
    m = _seeded(method(ks=0.1), [{"forget_quality": 0.1, "forget.mia_loss_auc": a} for a in (0.51, 0.52, 0.53)])
    v = judge(m, retrain)
    ks = next(p for p in v["parts"] if p["name"] == "forget quality")
    assert abs(ks["p"] - want) < 1e-12 and ks["separates"] and v["verdict"] == "not removed"
    # membership by Welch over seeds: the same spread around the same mean does not separate ...
    same = _seeded(method(exposure=1.0), [{"forget.mia_loss_auc": a} for a in (0.50, 0.52, 0.54)])
    assert judge(same, retrain)["verdict"] == "removed"
    # ... a clearly higher AUC in every seed does (though a 3-seed t interval would be wide)
    high = _seeded(method(), [{"forget.mia_loss_auc": a} for a in (0.80, 0.83, 0.86)])
    part = next(p for p in judge(high, retrain)["parts"] if p["name"] == "membership")
    assert part["separates"] and part["direction"] == "more than retrain" and part["p"] < 0.01
    # attack p-values combine too: 0.03 in each of 3 seeds is below 0.05 / 2 once combined
    m = _seeded(method(exposure=1.0, attacks={"relearn": (0.3, 0.03), "quantize": (0.0, 1.0)}),
                [{"attacks.relearn.recovery_vs_retrain_p": 0.03}] * 3)
    assert judge(m, retrain)["verdict"] == "suppressed"
