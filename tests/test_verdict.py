"""The verdict (report/verdict.py) on hand-built results: a retrain reference distribution of
replicates per seed, the original's power, one Holm family, equivalence (TOST), and the error
rates of the whole procedure by simulation."""
import math

import numpy as np
import pytest
from scipy import stats

from unlearn.report.tables import verdict_table
from unlearn.report.verdict import attack_power, judge, power_plan, verdicts

# Per measurement: the reference replicates' centre per seed, their spread (each seed's three
# replicates are centre − sd, centre, centre + sd: pooled SD exactly sd, df 6), and the original.
REF = {"forget.mia_loss_auc": ([0.52, 0.50, 0.54], 0.02, +0.45),  # higher = more memorized
       "forget.nll": ([3.2, 3.0, 3.1], 0.2, -2.0),  # lower = more memorized
       "attacks.relearn.level": ([-2.8, -3.0, -2.9], 0.2, +2.0)}  # post-attack level, higher = more
SEEDS = ("0", "1", "2")


def _model(kind: str, per_seed: dict) -> dict:
    keys = set().union(*per_seed.values())
    mean = {k: float(np.mean([v[k] for v in per_seed.values() if k in v])) for k in keys}
    return {"kind": kind, "status": "ok", "metrics": mean, "per_seed": per_seed, "cost": {"wall_s": 1.0}}


def _reference(ref=REF, seeds=SEEDS, k: int = 3) -> dict:
    offsets = np.linspace(-1, 1, k)
    offsets = offsets / np.std(offsets, ddof=1)  # the replicates' SD is exactly `sd`
    reps = {s: [{key: c[i] + sd * o for key, (c, sd, _) in ref.items()} for o in offsets]
            for i, s in enumerate(seeds)}
    per_seed = {s: {key: float(np.mean([r[key] for r in reps[s]])) for key in ref} for s in seeds}
    return {**_model("retrain", per_seed), "replicates": reps}


def _shifted(shift: dict, kind="approximate", ref=REF, seeds=SEEDS) -> dict:
    """A model at the reference centres plus `shift` (a number, or one per seed)."""
    per = {}
    for i, s in enumerate(seeds):
        per[s] = {}
        for key, (c, _, _) in ref.items():
            d = shift.get(key, 0.0)
            per[s][key] = c[i] + (d[i] if isinstance(d, (list, tuple)) else d)
    return _model(kind, per)


def _models(**others) -> dict:
    original = _shifted({k: v[2] for k, v in REF.items()}, kind="original")
    return {"retrain": _reference(), "original": original, **others}


def _part(v: dict, key: str) -> dict:
    return next(p for p in v["parts"] if p["key"] == key)


def test_a_model_equal_to_the_reference_distribution_is_removed():
    small = {"forget.mia_loss_auc": 0.004, "forget.nll": -0.03, "attacks.relearn.level": 0.02}
    v = verdicts(_models(m=_shifted(small)))["m"]
    assert v["verdict"] == "removed" and not v["over_unlearned"], v["reason"]
    for part in v["parts"]:
        assert part["equivalent"] and not part["separates"] and part["p_equivalence"] < 0.05
        assert part["margin"] == pytest.approx(4 * math.sqrt(2) * REF[part["key"]][1])  # 4 SDs of a difference
        assert {"effect", "interval", "p", "p_adjusted", "direction"} <= part.keys()
    assert set(v["per_seed"]) == set(SEEDS)


def test_a_model_far_from_it_is_not_removed_with_direction_effect_and_interval():
    v = verdicts(_models(m=_shifted({"forget.mia_loss_auc": 0.30})))["m"]
    assert v["verdict"] == "not removed" and "membership" in v["reason"]
    part = _part(v, "forget.mia_loss_auc")
    assert part["direction"] == "more memorized than the reference" and part["effect"] == pytest.approx(0.30)
    lo, hi = part["interval"]
    assert lo < 0.30 < hi and hi <= 1 - 0.52  # never past the AUC's range
    # by hand: se = sd √(3 (1 + 1/3)) / 3, t on 6 degrees of freedom
    t = 0.30 / (0.02 * math.sqrt(3 * (1 + 1 / 3)) / 3)
    assert part["p"] == pytest.approx(stats.t.sf(t, 6)) and part["p_adjusted"] <= 1
    # lower NLL is the memorized direction
    nll = _part(verdicts(_models(m=_shifted({"forget.nll": -1.5})))["m"], "forget.nll")
    assert nll["separates"] and nll["direction"] == "more memorized than the reference"
    assert "not removed" in verdict_table({"verdict": {"m": v}}).markdown()


def test_equal_on_plain_metrics_but_recovering_beyond_the_reference_after_attack_is_suppressed():
    v = verdicts(_models(m=_shifted({"attacks.relearn.level": 1.2})))["m"]
    assert v["verdict"] == "suppressed" and "relearn" in v["reason"]
    # post-attack levels are compared, not increments: a large increment from a low start that
    # ends where retrain ends is no evidence (the old increment test would have called it suppressed)
    m = _shifted({})
    for s in SEEDS:
        m["per_seed"][s]["attacks.relearn.recovery"] = 2.0
    assert verdicts(_models(m=m))["m"]["verdict"] == "removed"


def test_seeds_pointing_in_opposite_directions_are_not_evidence():
    # relearning: per-seed effects of +1.2, -1.2 and 0 (each alone 5 SE): no recovery overall
    mixed = _shifted({"attacks.relearn.level": [1.2, -1.2, 0.0], "forget.mia_loss_auc": [0.06, -0.06, 0.0]})
    v = verdicts(_models(m=mixed))["m"]
    assert v["verdict"] not in ("suppressed", "not removed")
    assert _part(v, "attacks.relearn.level")["p"] == pytest.approx(0.5)
    assert _part(v, "forget.mia_loss_auc")["p"] == pytest.approx(0.5)
    assert v["per_seed"]["0"]["verdict"] == "suppressed"  # seed 0 alone does recover


def test_over_unlearning_is_flagged_beside_the_verdict():
    v = verdicts(_models(m=_shifted({"forget.mia_loss_auc": -0.3})))["m"]
    part = _part(v, "forget.mia_loss_auc")
    assert part["over"] and not part["separates"] and part["direction"] == "less memorized than the reference"
    assert v["over_unlearned"] and v["verdict"] == "removed" and "over-unlearned" in v["reason"]
    assert "(over-unlearned)" in verdict_table({"verdict": {"m": v}}).markdown()


def test_too_few_items_or_replicates_is_inconclusive_with_the_detectable_effect():
    # few items: each retrain replicate's AUC over a handful of users jumps (SD 0.3): the original's
    # +0.45 cannot be told from it, so no measurement has power and nothing can be judged
    noisy = {"forget.mia_loss_auc": ([0.5, 0.5, 0.5], 0.3, 0.45)}
    models = {"retrain": _reference(noisy), "original": _shifted({"forget.mia_loss_auc": 0.45}, "original", noisy),
              "m": _shifted({}, ref=noisy)}
    v = verdicts(models)["m"]
    assert v["verdict"] == "inconclusive" and "cannot judge" in v["reason"]
    assert v["excluded"][0]["reason"].startswith("no power")
    # one seed and two replicates (df 1): an effect of 4 SDs is neither separated nor shown equivalent
    one = {k: ([c[0]], sd, o) for k, (c, sd, o) in REF.items()}
    models = {"retrain": _reference(one, ("0",), k=2),
              "original": _shifted({k: 10 * v[2] for k, v in one.items()}, "original", one, ("0",)),
              "m": _shifted({"forget.mia_loss_auc": 0.08}, ref=one, seeds=("0",))}
    v = verdicts(models)["m"]
    assert v["verdict"] == "inconclusive" and "detectable ≥" in v["reason"]
    assert _part(v, "forget.mia_loss_auc")["mde"] > 0.08


def test_measurements_without_power_on_the_original_are_left_out_with_the_reason():
    models = _models(m=_shifted({}))
    models["original"]["per_seed"] = {s: {**v, "forget.nll": REF["forget.nll"][0][i] + 0.05}
                                      for i, (s, v) in enumerate(models["original"]["per_seed"].items())}
    plan = power_plan(models)
    reasons = {r["key"]: r.get("reason") for r in plan["rows"]}
    assert reasons["forget.mia_loss_auc"] is None and reasons["forget.nll"].startswith("no power")
    v = judge(models["m"], plan)
    assert "forget.nll" not in {p["key"] for p in v["parts"]} and v["excluded"][0]["key"] == "forget.nll"


def test_attack_power_lists_every_attack_with_its_effect_and_whether_it_enters_the_verdict():
    models = _models(m=_shifted({}))
    power = attack_power(models)
    assert set(power) == {"relearn"} and power["relearn"]["used_in_verdict"]
    assert power["relearn"]["effect"] == pytest.approx(2.0) and power["relearn"]["p"] < 0.05 / 5
    # an attack whose original sits inside the reference has no power: listed, left out, with the reason
    for i, (s, v) in enumerate(models["original"]["per_seed"].items()):
        v["attacks.relearn.level"] = REF["attacks.relearn.level"][0][i] + 0.01
    models["m"]["metrics"]["attacks.probe.level"] = 0.3  # ran on a model, but the reference has no level
    power = attack_power(models)
    assert not power["relearn"]["used_in_verdict"] and power["relearn"]["reason"].startswith("no power")
    assert power["probe"] == {"effect": None, "p": None, "used_in_verdict": False,
                              "reason": "no retrain reference level for this attack"}
    assert "attacks.relearn.level" not in {p["key"] for p in verdicts(models)["m"]["parts"]}


def test_relearning_that_makes_the_original_worse_is_left_out_as_miscalibrated():
    models = _models(m=_shifted({}))
    for v in models["original"]["per_seed"].values():
        v["attacks.relearn.recovery"] = -0.7  # relearning raised the original's NLL on V
    power = attack_power(models)
    assert not power["relearn"]["used_in_verdict"] and power["relearn"]["reason"].startswith("miscalibrated")
    assert "-0.7" in power["relearn"]["reason"]
    for v in models["original"]["per_seed"].values():
        v["attacks.relearn.recovery"] = 0.4
    assert attack_power(models)["relearn"]["used_in_verdict"]
    # a rise within the tolerance is not damage: level -0.9 after, -0.89 before: NLL 0.89 -> 0.90, +1.1%
    for v in models["original"]["per_seed"].values():
        v["attacks.relearn.level"], v["attacks.relearn.recovery"] = -0.9, -0.01
    assert attack_power(models)["relearn"]["used_in_verdict"]
    for v in models["original"]["per_seed"].values():  # NLL 0.8 -> 0.9: +12.5%
        v["attacks.relearn.recovery"] = -0.1
    assert "by 12%" in attack_power(models)["relearn"]["reason"]


def test_a_failed_relearning_calibration_leaves_relearning_out():
    models = _models(m=_shifted({}))
    record = {"calibrated": True, "chosen": 1e-4, "tolerance": 0.05, "candidates": []}
    models["original"]["relearn_calibration"] = {s: dict(record) for s in SEEDS}
    assert attack_power(models)["relearn"]["used_in_verdict"]
    models["original"]["relearn_calibration"][SEEDS[1]]["calibrated"] = False
    reason = attack_power(models)["relearn"]["reason"]
    assert reason.startswith("miscalibrated") and f"seed {SEEDS[1]}" in reason
    assert "attacks.relearn.level" not in {p["key"] for p in verdicts(models)["m"]["parts"]}


def test_one_holm_family_over_both_directions_and_the_attacks():
    v = verdicts(_models(m=_shifted({"forget.mia_loss_auc": 0.05, "forget.nll": -0.3})))["m"]
    raw = [(p, p["p"]) for p in v["parts"]] + [(p, p["p_less"]) for p in v["parts"] if p["channel"] == "plain"]
    assert len(raw) == 5  # two plain measurements both ways, one attack
    order = sorted(raw, key=lambda x: x[1])
    running = 0.0
    for rank, (part, p) in enumerate(order):
        running = max(running, min(1.0, (5 - rank) * p))
        assert running == pytest.approx(part["p_adjusted"] if p == part["p"] else part["p_less_adjusted"])


def test_exact_methods_are_removed_by_construction_and_base_and_failures_are_not_judged():
    models = _models(sisa=_shifted({"forget.mia_loss_auc": -0.2}, kind="exact"), ga=_shifted({"forget.nll": -2.0}),
                     broken=dict(_shifted({}), status="diverged"))
    models["base"] = _shifted({}, kind="base")
    out = verdicts(models)
    assert set(out) == {"sisa", "ga"}
    assert out["sisa"]["verdict"] == "removed" and out["ga"]["verdict"] == "not removed"


def test_the_null_control_is_judged_and_reported_first():
    models = _models(ga=_shifted({"forget.nll": -2.0}), retrain_null=_shifted({"forget.nll": 0.02}, kind="control"))
    out = verdicts(models)
    assert out["retrain_null"]["verdict"] == "removed"
    rows = verdict_table({"verdict": out}).rows
    assert rows[0][0] == "retrain_null (null control)" and rows[0][1] == "**removed**"


def _draw(rng, shift: float = 0.0) -> dict:
    """Hand-built results: 3 seeds x 3 replicates from N(centre, sd²) with correlated measurements
    (each model's draws share a factor), the original far away, a control and a method drawn like
    the replicates (the method shifted by `shift` SDs towards memorization)."""
    sign = {"forget.mia_loss_auc": 1, "forget.nll": -1, "attacks.relearn.level": 1}

    def one(seed: int, delta: float) -> dict:
        common = rng.standard_normal()
        return {k: c[seed] + sd * (delta * sign[k] + math.sqrt(0.5) * (common + rng.standard_normal()))
                for k, (c, sd, _) in REF.items()}
    reps = {s: [one(i, 0.0) for _ in range(3)] for i, s in enumerate(SEEDS)}
    per = {s: {k: float(np.mean([r[k] for r in reps[s]])) for k in REF} for s in SEEDS}
    original = {s: {k: v + REF[k][2] for k, v in one(i, 0.0).items()} for i, s in enumerate(SEEDS)}
    return {"retrain": {**_model("retrain", per), "replicates": reps}, "original": _model("original", original),
            "retrain_null": _model("control", {s: one(i, 0.0) for i, s in enumerate(SEEDS)}),
            "m": _model("approximate", {s: one(i, shift) for i, s in enumerate(SEEDS)})}


def test_simulation_false_not_removed_rate_is_at_most_alpha():
    rng, n = np.random.default_rng(2026), 300
    words = [verdicts(_draw(rng))["m"]["verdict"] for _ in range(n)]
    false = words.count("not removed") + words.count("suppressed")  # anything but "no evidence"
    assert false / n <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / n), false
    assert words.count("removed") / n > 0.8  # and a retrain-like model is usually shown equivalent


def test_simulation_finds_a_known_effect():
    rng = np.random.default_rng(7)
    words = [verdicts(_draw(rng, shift=3.0))["m"]["verdict"] for _ in range(100)]  # 3 SDs towards memorization
    assert words.count("not removed") >= 90
