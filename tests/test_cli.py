"""`unlearn data` and `unlearn report` from the command line."""
import json
from pathlib import Path

import datasets

from unlearn.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def test_data_command_writes_a_loadable_corpus_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert main(["data", str(SMOKE), "--out", str(out), "data.n_users=30"]) == 0
    printed = capsys.readouterr().out
    assert "members" in printed and "holdout" in printed and "canaries" in printed
    texts = datasets.load_from_disk(str(out / "texts"))
    tables = datasets.load_from_disk(str(out / "tables"))
    assert {"train", "retain", "forget", "holdout", "general"} <= set(texts)
    assert len(tables["users"]) == 30 and len(texts["forget"]) > 0


def test_data_command_rejects_a_missing_own_corpus(tmp_path, capsys):
    missing = tmp_path / "posts.jsonl"
    assert main(["data", str(SMOKE), f"data.source={missing}", "--out", str(tmp_path / "x")]) == 2
    assert "posts.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_report_rebuilds_from_results_json(tmp_path, capsys):
    results = {"experiment": "t", "seeds": [0], "verdict": {},
               "models": {"original": {"kind": "original", "status": "ok", "metrics": {"forget.nll": 0.5},
                                       "ci": {"forget.nll": [0.4, 0.6]}, "cost": {"wall_s": 3.0}}},
               "meta": {"device": "cpu", "processes": 1, "wall_s": 3.0, "git": {"sha": "abc", "dirty": False},
                        "ci_method": "bootstrap"}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert main(["report", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "| original | original | ok | 0.500 [0.400, 0.600] | – |" in report
    assert main(["report", str(tmp_path / "nowhere")]) == 2
