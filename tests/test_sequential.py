"""Sequential deletion requests: round splits and a two-round smoke run."""
import json
from pathlib import Path

import pytest

from unlearn.config import load_config
from unlearn.corpus import build_corpus
from unlearn.pipeline import run_experiment
from unlearn.sequential import round_texts

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def test_round_splits_partition_the_objectors():
    corpus = build_corpus(load_config(SMOKE, ["data.objection_rounds=3", "data.forget_fraction=0.3"]).data, 0)
    forget, retain = set(corpus.texts["forget"]["text_id"]), set(corpus.texts["retain"]["text_id"])
    seen = set()
    for r in (1, 2, 3):
        now = round_texts(corpus, r)
        ids = set(now["forget"]["text_id"])
        assert ids and not ids & seen  # each round forgets new texts only
        seen |= ids
        assert set(now["retain"]["text_id"]) == retain | (forget - seen)  # later objectors still retained
        assert set(round_texts(corpus, r, cumulative=True)["forget"]["text_id"]) == seen
    assert seen == forget


def test_two_rounds_chain_and_evaluate_each(tmp_path):
    cfg = load_config(SMOKE, ["data.objection_rounds=2", "unlearn.methods=[corpus_deletion, ga]", "attacks.names=[]"])
    results = run_experiment(cfg, tmp_path, str(SMOKE))
    ga = results["models"]["ga"]
    history = ga["rounds"]["0"]
    assert [h["round"] for h in history] == [1] and history[0]["status"] == "ok"
    assert "forget.nll" in history[0]["metrics"] and ga["status"] == "ok"
    r1, r2 = (next(tmp_path.glob(f"unlearn-ga-r{r}-*")) for r in (1, 2))
    assert json.loads((r2 / "stage.json").read_text())["key"]["original"] == r1.name  # round 2 starts from round 1
    stages = [json.loads((d / "stage.json").read_text()) for d in (r1, r2)]  # cost: both rounds, curves excluded
    assert ga["cost"]["wall_s"] == pytest.approx(sum(s["wall_s"] - s["instrument_s"] for s in stages), abs=1e-9)
    assert ga["cost"]["instrument_s"] == pytest.approx(sum(s["instrument_s"] for s in stages), abs=1e-9)
    assert ga["cost"]["instrument_s"] > 0
    assert results["models"]["corpus_deletion"]["metrics"] == results["models"]["original"]["metrics"]
    # SISA deletes round by round too: round 2 starts from round 1's shards
    rounds = {json.loads((d / "stage.json").read_text())["key"]["round"]: d for d in tmp_path.glob("sisa-*")
              if "round" in json.loads((d / "stage.json").read_text())["key"]}
    assert sorted(rounds) == [1, 2] and results["models"]["sisa"]["status"] == "ok"
    assert json.loads((rounds[2] / "stage.json").read_text())["key"]["full"] == rounds[1].name
