"""The removal frontier: the step ladder by hand, checkpoints of one run equal to separate runs
(one training per method), and the walk's stop rules on stubs: collapse, the first
indistinguishable point (then judged with its attacks), divergence, the end of the ladder."""
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from unlearn import frontier
from unlearn.config import load_config
from unlearn.corpus import build_corpus
from unlearn.frontier import frontier_stage, ladder, walk
from unlearn.methods.stage import unlearn_stage
from unlearn.models import build_base, load_model
from unlearn.train import make_accelerator

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def test_ladder_multiplies_the_methods_own_step_count():
    cfg = load_config(SMOKE)
    ga = next(s for s in cfg.methods if s.name == "ga")  # smoke: max_steps 3
    assert ladder(ga, 1000, (0.25, 0.5, 1, 2, 4)) == [1, 2, 3, 6, 12]  # 0.75 -> 1, 1.5 -> 2, no repeats
    free = replace(ga, train=replace(ga.train, max_steps=0, epochs=2.0, batch_size=8))
    assert ladder(free, 20, (1, 2.5)) == [6, 15]  # 2 epochs x ceil(20 / 8) = 6 steps


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cfg = load_config(SMOKE)
    corpus = build_corpus(cfg.data, 0)
    start = tmp_path_factory.mktemp("start")
    build_base(cfg, 0, start)
    return cfg, corpus, start


@pytest.mark.parametrize("name", ["ga", "task_vector"])
def test_each_checkpoint_is_the_model_a_run_of_that_length_gives(world, tmp_path, monkeypatch, name):
    """One training run serves every point (the task vector's negation applied per checkpoint)."""
    cfg, corpus, start = world
    spec = next(s for s in cfg.methods if s.name == name)
    calls = []
    real = frontier.apply_method
    monkeypatch.setattr(frontier, "apply_method", lambda *a, **k: calls.append(1) or real(*a, **k))
    acc = make_accelerator()
    out = tmp_path / "frontier"
    out.mkdir()
    info = frontier_stage(cfg, spec, 0, start, corpus.texts, [2, 5], out, acc)
    assert calls == [1] and info["status"] == "ok" and [p["step"] for p in info["points"]] == [2, 5]
    assert info["points"][0]["wall_s"] <= info["points"][1]["wall_s"]
    for n in (2, 5):
        alone = tmp_path / f"alone-{n}"
        alone.mkdir()
        short = replace(spec, train=replace(spec.train, max_steps=n, epochs=float(n)))
        unlearn_stage(cfg, short, 0, start, corpus.texts, alone, acc)
        a, _ = load_model(out / f"step-{n}")
        b, _ = load_model(alone / "model")
        for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=f"{name} step {n}: {k}")
    first, _ = load_model(out / "step-2")
    last, _ = load_model(out / "step-5")
    assert any(not torch.equal(x, y) for x, y in zip(first.state_dict().values(), last.state_dict().values()))


def _stub(utility_at, separated_at, rules=None):
    """A walk over steps 1, 2, 4, 8 with stub points: metrics from `utility_at(step)`, the plain
    tests that separate from `separated_at(step)`."""
    asked, attacked = [], []

    def point_at(step, attack=False):
        (attacked if attack else asked).append(step)
        return {"metrics": utility_at(step), "step": step, "attack": attack}

    def judge(model):
        names = separated_at(model["step"])
        parts = [{"name": n, "channel": "plain", "separates": n in names, "over": False} for n in ("nll", "qa")]
        parts.append({"name": "relearn", "channel": "attack", "separates": model["attack"], "over": False})
        return {"parts": parts, "verdict": "suppressed" if model["attack"] else "removed", "reason": "stub"}

    record = walk([1, 2, 4, 8], point_at, judge, lambda step, model: {"strength": step},
                  rules or (lambda m: "retain NLL" if m["retain.nll"] >= 2.0 else None))
    return record, asked, attacked


def test_the_walk_stops_where_utility_collapses_and_evaluates_no_further():
    record, asked, attacked = _stub(lambda s: {"retain.nll": 0.5 * s}, lambda s: {"nll", "qa"})
    assert record["stopped_by"] == "collapse" and asked == [1, 2, 4] and not attacked  # 0.5 x 4 = 2.0
    assert [p["strength"] for p in record["points"]] == [1, 2, 4] and record["first_indistinguishable"] is None
    assert record["points"][0]["separated_by"] == ["nll", "qa"]


def test_the_walk_stops_at_the_first_indistinguishable_point_and_judges_it_with_its_attacks():
    record, asked, attacked = _stub(lambda s: {"retain.nll": 0.1}, lambda s: {"qa"} if s < 4 else set())
    assert record["stopped_by"] == "reference" and asked == [1, 2, 4] and attacked == [4]
    first = record["first_indistinguishable"]
    assert first["strength"] == 4 and first["separated_by"] == [] and first["verdict"] == "suppressed"


def test_the_walk_records_divergence_and_the_end_of_the_ladder():
    record, asked, _ = _stub(lambda s: {"retain.nll": 0.1}, lambda s: {"nll"})
    assert record["stopped_by"] == "budget" and asked == [1, 2, 4, 8] and len(record["points"]) == 4

    def diverging(step, attack=False):
        return None if step >= 4 else {"metrics": {"retain.nll": 0.1}, "step": step, "attack": attack}

    parts = {"parts": [{"name": "nll", "channel": "plain", "separates": True, "over": False}]}
    record = walk([1, 2, 4, 8], diverging, lambda m: parts, lambda s, m: {"strength": s}, lambda m: None)
    assert record["stopped_by"] == "diverged" and [p["strength"] for p in record["points"]] == [1, 2]


def test_with_tuning_each_seeds_curve_starts_from_the_variant_chosen_for_that_seed():
    from unlearn.frontier import tuned_spec
    from unlearn.tuning import variants

    ga = {s.name: s for s in load_config(SMOKE).methods}["ga"]
    chosen = variants(ga)[3]
    assert tuned_spec(ga, {"ga": {"tuning": {"chosen": 3}}}) == chosen and chosen != ga
    assert (chosen.train.lr, chosen.train.epochs) != (ga.train.lr, ga.train.epochs)
    assert tuned_spec(ga, {"ga": {"tuning": {"chosen": None}}}) is ga  # no variant trained: the configured one
    assert tuned_spec(ga, {"ga": {}}) is ga and tuned_spec(ga, {}) is ga  # tune: false
