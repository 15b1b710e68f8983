"""Fair tuning: variants, validation rows, the selection rule by hand, and a tuned smoke run."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from unlearn.config import load_config
from unlearn.pipeline import run_experiment
from unlearn.tuning import select, validation_indices, variants

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


def test_variants_cover_the_grid():
    cfg = load_config(SMOKE, ["unlearn.methods=[graddiff]", "methods.graddiff.grid={lr: [1e-4, 2e-4], alpha: [1, 3]}"])
    specs = variants(cfg.methods[0])
    assert {(s.train.lr, s.params.alpha) for s in specs} == {(1e-4, 1.0), (1e-4, 3.0), (2e-4, 1.0), (2e-4, 3.0)}
    assert all(s.train.max_steps == 3 for s in specs)  # the rest of the spec is kept


def test_selection_rule_by_hand():
    rows = [{"forget_nll": 2.0, "retain_nll": 1.00},   # utility exp(0.8-1.0)=0.82: below 0.95
            {"forget_nll": 1.2, "retain_nll": 0.83},   # utility 0.990, |1.2-2.2| = 1.0
            {"forget_nll": 1.9, "retain_nll": 0.84},   # utility 0.961, |1.9-2.2| = 0.3  <- chosen
            {"forget_nll": 2.3, "retain_nll": 0.90}]   # utility 0.905: below
    assert select(rows, target_forget_nll=2.2, reference_retain_nll=0.8, min_utility=0.95) == (2, True)
    assert math.exp(0.8 - 0.84) > 0.95 > math.exp(0.8 - 0.90)
    # nobody keeps 99.5%: the variant keeping the most utility, flagged
    assert select(rows, 2.2, 0.8, 0.995) == (1, False)


def test_validation_rows_are_seeded_and_sized():
    a = validation_indices(40, 300, 0.2, seed=0)
    assert a == validation_indices(40, 300, 0.2, seed=0) != validation_indices(40, 300, 0.2, seed=1)
    assert len(a["forget"]) == 8 and len(a["retain"]) == 60 and len(set(a["retain"])) == 60


def test_tuned_run_picks_by_the_rule_and_keeps_validation_out_of_evaluation(tmp_path):
    cfg = load_config(SMOKE, ["tune=true", "unlearn.methods=[ga]", "methods.ga.grid={lr: [1e-4, 1e-3], epochs: [1]}",
                              "attacks.names=[]", "sisa.enabled=false"])
    results = run_experiment(cfg, tmp_path, str(SMOKE))
    record = results["models"]["ga"]["tuning"]["0"]
    rows = record["grid"]
    assert [r["lr"] for r in rows] == [1e-4, 1e-3] and all(r["status"] == "ok" for r in rows)
    chosen, _ = select(rows, record["retrain_val_forget_nll"], record["reference_val_retain_nll"], 0.95)
    assert record["chosen"] == chosen
    # the floor is the retrain reference's utility (the mean over its replicates), not the original's
    per = record["reference_val_retain_nll_per_replicate"]
    assert len(per) == cfg.retrain.replicates and record["reference_val_retain_nll"] == pytest.approx(np.mean(per))
    assert record["original_val_retain_nll"] not in per
    corpus_forget = json.loads((next(tmp_path.glob("corpus-*")) / "corpus" / "meta.json").read_text())
    n_val = record["val_examples"]["forget"]
    eval_dir = next(p for p in tmp_path.glob("eval-*") if json.loads((p / "stage.json").read_text())["key"]["model"].startswith("original"))
    per = np.load(eval_dir / "per_example.npz")
    assert n_val >= 1 and corpus_forget  # the validation rows are gone from every evaluation:
    from unlearn.corpus import load_corpus
    n_forget = len(load_corpus(next(tmp_path.glob("corpus-*")) / "corpus").texts["forget"])
    assert len(per["forget.nll"]) == n_forget - n_val
    assert "## Tuning" in (tmp_path / "report.md").read_text()
