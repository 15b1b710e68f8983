"""End to end on the smoke config: contract keys, cache hits, kill-and-resume, determinism,
a diverging method recorded without sinking the run, a two-process run (slow tier)."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from unlearn.config import load_config
from unlearn.metrics import bounds
from unlearn.methods import METHODS
from unlearn.pipeline import run_experiment

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke")
    results = run_experiment(load_config(SMOKE), run_dir, str(SMOKE))
    return run_dir, results


def test_results_follow_the_contract(smoke_run):
    run_dir, results = smoke_run
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert on_disk["models"].keys() == results["models"].keys() == {"base", "original", "retrain", "retrain_null",
                                                                    "sisa", *METHODS}
    assert {"experiment", "seeds", "models", "verdict", "meta"} <= on_disk.keys()
    for name, m in on_disk["models"].items():
        assert m["status"] == "ok" and m["kind"] in ("base", "original", "retrain", "control", "approximate", "exact")
        assert {"forget.nll", "retain.nll", "holdout.nll", "forget.mia_loss_auc"} <= m["metrics"].keys()
        assert m["cost"]["wall_s"] >= 0 and all(len(v) == 2 for v in m["ci"].values())
        # the unlearning curve's scoring is instrumentation, kept out of a training method's cost
        assert (m["cost"].get("instrument_s", 0) > 0) == (m["kind"] == "approximate" and METHODS[name].trains)
    meta = on_disk["meta"]
    assert {"git", "packages", "device", "wall_s", "metric_versions"} <= meta.keys()
    models = on_disk["models"]
    # fine-tuning learned the data; the untouched original is what corpus deletion leaves behind
    assert models["original"]["metrics"]["retain.nll"] < models["base"]["metrics"]["retain.nll"] - 0.5
    assert models["corpus_deletion"]["metrics"] == models["original"]["metrics"]
    assert models["ga"]["metrics"]["forget.nll"] > models["original"]["metrics"]["forget.nll"]
    report = (run_dir / "report.md").read_text()
    assert "| original | original | ok |" in report and "## Verdicts" in report
    for name in ("tradeoff", "exposure", "relearn", "cost", "roc", "unlearning"):  # every figure, embedded, both formats
        assert f"figures/{name}.png" in report
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 10_000 and (run_dir / "figures" / f"{name}.pdf").exists()
    assert "**Answer to the claim** (smoke, 1 seed)" in report
    for table in ("main", "verdict", "attacks", "chatbot", "cost"):
        assert all((run_dir / "tables" / f"{table}.{ext}").exists() for ext in ("md", "csv", "tex"))
    curves = models["ga"]["curves"]["0"]  # the figures' data travels in results.json
    assert len(curves["roc_forget"]["tpr"]) == len(curves["roc_forget"]["fpr"]) and curves["unlearning"][-1]["step"] == 3
    assert "unlearning" not in models["original"]["curves"]["0"] and "roc_forget" in models["original"]["curves"]["0"]
    log = json.loads(next(run_dir.glob("unlearn-ga-*/train_log.json")).read_text())["log"]
    assert "forget_nll_eval" in log[-1] and "retain_nll_eval" in log[-1]  # the unlearning curve


SUITE_KEYS = {  # the suite's required keys (general accuracy needs a pretrained base: absent for tiny)
    "forget.nll", "retain.nll", "holdout.nll", "forget.verbatim_rougeL", "forget.verbatim_exact",
    "forget.pii_extraction", "forget.pii_extraction_sampled", "forget.qa_accuracy", "retain.qa_accuracy",
    "forget.truth_ratio", "forget_quality", "forget.exposure", "forget.exposure_r1", "forget.exposure_r2",
    "forget.mia_loss_auc", "forget.mia_zlib_auc", "forget.mia_ref_auc", "forget.mia_mink20_auc",
    "forget.mia_mink40_auc", "forget.mia_minkpp_auc", "forget.mia_tpr_at_1fpr", "privleak",
    "retain.mia_loss_auc", "utility.model_utility", "utility.fluency", "reference.exposure", "retain.exposure",
    *(f"{split}.qa_{outcome}" for split in ("forget", "retain", "holdout", "qa_train")
      for outcome in ("accuracy", "fabricated", "refused", "other")), "qa_train.truth_ratio"}


def test_every_model_gets_the_whole_measurement_suite(smoke_run):
    run_dir, results = smoke_run
    for name, m in results["models"].items():
        assert SUITE_KEYS <= m["metrics"].keys(), (name, SUITE_KEYS - m["metrics"].keys())
        assert "utility.general_accuracy" not in m["metrics"]  # the from-scratch base answers no probe
    models = results["models"]
    # the reference: three replicates (smoke.yaml), each compared with the others; their mean in metrics
    reps = models["retrain"]["replicates"]["0"]
    assert len(reps) == 3 and models["retrain_null"]["kind"] == "control"
    assert models["retrain"]["metrics"]["forget.nll"] == pytest.approx(np.mean([r["forget.nll"] for r in reps]))
    others = np.mean([1 - r["forget.mia_mink40_auc"] for r in reps[1:]])  # leave one out: replicates 1 and 2
    assert reps[0]["privleak"] == pytest.approx(((1 - reps[0]["forget.mia_mink40_auc"]) - others) / others * 100)
    assert models["original"]["metrics"]["privleak"] < 0  # MUSE's sign: memorized forget texts leak negative
    assert {"forget_quality", "forget_quality_d", "forget_quality_users"} <= models["ga"]["metrics"].keys()
    for name, m in models.items():  # no interval leaves its metric's range
        for key, (lo, hi) in m["ci"].items():
            low, high = bounds(key)
            assert low - 1e-9 <= lo <= hi <= high + 1e-9, (name, key)
    # the verdict: every judged model, with the null control among them
    assert set(results["verdict"]) == {"retrain_null", "sisa", *METHODS}
    assert results["verdict"]["corpus_deletion"]["verdict"] == "not removed"
    assert all(v["verdict"] in ("removed", "suppressed", "not removed", "inconclusive") for v in results["verdict"].values())
    with np.load(run_dir / models["original"]["eval_dirs"]["0"] / "per_example.npz") as arrays:
        assert len(arrays["forget.nll"]) > 0 and len(arrays["forget.exposure"]) > 0  # the per-item arrays


def test_qa_mixing_teaches_the_assistant_to_answer(smoke_run):
    """A real, if tiny, learning check: fine-tuning with the QA pairs mixed in makes the model give
    a QA-trained user's true answers far more probability than the untrained base does, and the
    questions about users it was never told about stay near the base's level of correct answers."""
    _, results = smoke_run
    base, original = (results["models"][n]["metrics"] for n in ("base", "original"))
    assert original["qa_train.qa_answer_prob"] > 5 * base["qa_train.qa_answer_prob"]
    assert original["qa_train.qa_accuracy"] > base["qa_train.qa_accuracy"]
    assert original["qa_train.qa_answer_prob"] > original["holdout.qa_answer_prob"]
    for split in ("forget", "retain", "holdout", "qa_train"):  # every answer lands in exactly one class
        total = sum(original[f"{split}.qa_{k}"] for k in ("accuracy", "fabricated", "refused", "other"))
        assert total == pytest.approx(1.0)


def test_every_attack_runs_on_every_model_but_base(smoke_run):
    _, results = smoke_run
    from unlearn.attacks import ATTACKS
    for name, m in results["models"].items():
        if name == "base":
            assert not any(k.startswith("attacks.") for k in m["metrics"])
            continue
        assert {a: r["status"] for a, r in m["attacks"]["0"].items()} == {a: "ok" for a in ATTACKS}
        for key in ("attacks.relearn.b_steps5.forget.nll", "attacks.quantize.int4.forget.pii_extraction",
                    "attacks.prompting.kshot.forget.qa_answer_prob", "attacks.sampling.n3.forget.pii_extraction",
                    "attacks.relearn.level", "attacks.relearn.recovery", "attacks.quantize.level",
                    "attacks.lens.lens.forget.lens_extraction", "attacks.lens.level", "attacks.sampling.n1.forget.qa_accuracy"):
            assert key in m["metrics"], (name, key)
    for replicate in results["models"]["retrain"]["replicates"]["0"]:  # every reference model is attacked too
        assert "attacks.relearn.level" in replicate and "attacks.quantize.level" in replicate


def test_the_relearning_rate_is_calibrated_on_the_original_and_used_for_every_model(smoke_run):
    run_dir, results = smoke_run
    record = results["models"]["original"]["relearn_calibration"]["0"]
    candidates = load_config(SMOKE).attacks.relearn_lr_candidates
    assert [c["lr"] for c in record["candidates"]] == sorted(candidates) and record["chosen"] in candidates
    if record["calibrated"]:
        assert record["chosen"] == max(c["lr"] for c in record["candidates"] if c["rise"] <= record["tolerance"])
    for name, m in results["models"].items():  # every attack stage relearned at the chosen rate
        for folder in (m.get("attack_dirs") or {}).values():
            key = json.loads((run_dir / folder / "stage.json").read_text())["key"]
            assert key["attacks"]["relearn_lr"] == record["chosen"], name
    assert "Relearning rate, chosen per seed on the original" in (run_dir / "report.md").read_text()


def test_the_frontier_walks_each_method_to_a_stop_rule_on_the_cached_run(smoke_run):
    run_dir, results = smoke_run
    cfg = load_config(SMOKE, ["frontier.enabled=true", "frontier.methods=[ga,task_vector]",
                              "frontier.multipliers=[1,4,16]"])
    again = run_experiment(cfg, run_dir, str(SMOKE))
    assert {n: m["metrics"] for n, m in again["models"].items()} == {n: m["metrics"] for n, m in results["models"].items()}
    frontier = again["frontier"]
    assert set(frontier) == {"ga", "task_vector"}
    retain_nll = again["models"]["retrain"]["metrics"]["retain.nll"]
    for name, f in frontier.items():
        steps = [p["strength"] for p in f["points"]]
        assert steps and steps == sorted(steps) and all(p["cost_vs_retrain"] > 0 for p in f["points"]), name
        assert f["stopped_by"] in ("reference", "collapse", "budget", "diverged"), name
        if f["stopped_by"] == "reference":
            assert f["first_indistinguishable"]["separated_by"] == [] and f["first_indistinguishable"]["verdict"]
        elif f["stopped_by"] == "collapse":
            last = f["points"][-1]
            assert last["retain_nll"] >= 2 * retain_nll or "fluency" in f["collapse"], name
        else:
            assert f["first_indistinguishable"] is None and all(p["separated_by"] for p in f["points"]), name
    text = (run_dir / "report.md").read_text()
    assert "## Removal frontier" in text and "Along the removal frontier" in text
    assert (run_dir / "figures" / "frontier.png").is_file() and (run_dir / "tables" / "frontier.csv").is_file()
    runs = 2 * len(cfg.seeds)  # the frontier phase's own stages, apart from the experiment under it
    phase = again["meta"]["frontier_stages"]
    assert phase["trainings_built"] == runs and phase["trainings_cached"] == 0 and again["meta"]["frontier_wall_s"] > 0
    assert again["meta"]["stages"]["built"] == phase["built"] > runs  # the experiment itself came from the cache
    assert f"of which the removal frontier {again['meta']['frontier_wall_s']:.0f} s" in text
    phase = run_experiment(cfg, run_dir, str(SMOKE))["meta"]["frontier_stages"]
    assert phase["trainings_built"] == phase["built"] == 0 and phase["trainings_cached"] == runs
    run_experiment(load_config(SMOKE), run_dir, str(SMOKE))  # the other tests read the plain report


def test_sisa_is_an_exact_row_and_its_deletion_is_bit_identical_to_training_without_the_users(smoke_run):
    run_dir, results = smoke_run
    row = results["models"]["sisa"]
    assert row["kind"] == "exact" and row["status"] == "ok"
    cost = row["cost"]
    assert cost["speedup_vs_retrain"] > 0 and cost["speedup_vs_full_sisa"] > 0 and cost["shards"] == 4
    assert cost["speedup_vs_retrain"] == pytest.approx(cost["retrain_wall_s"] / cost["wall_s"])
    from unlearn.exact.stage import check_sisa
    checks = check_sisa(load_config(SMOKE), run_dir)
    assert [(c["identical"], c["max_abs_diff"], c["differing"]) for c in checks] == [(True, 0.0, [])]
    assert checks[0]["checkpoints"] == 16  # 4 shards x 4 slices


def test_two_worker_processes_measure_like_one(smoke_run):
    """eval.workers=2: every evaluation and attack stage rebuilt in two 1-thread processes, the
    numbers equal to the in-process ones up to float rounding, the bookkeeping complete."""
    run_dir, results = smoke_run
    again = run_experiment(load_config(SMOKE, ["eval.workers=2"]), run_dir, str(SMOKE))
    folders = [d for m in results["models"].values() for k in ("eval_dirs", "attack_dirs") for d in m.get(k, {}).values()]
    folders += [d for reps in results["models"]["retrain"]["replicate_dirs"].values() for r in reps for d in r.values()]
    assert again["meta"]["stages"]["built"] == len(set(folders))  # corpus_deletion's are original's
    for name, m in again["models"].items():
        want = results["models"][name]["metrics"]
        assert m["metrics"].keys() == want.keys()
        for key, value in m["metrics"].items():
            assert value == pytest.approx(want[key], rel=1e-3, abs=1e-3), (name, key)


def test_rerun_is_a_cache_hit_for_every_stage(smoke_run):
    run_dir, results = smoke_run
    again = run_experiment(load_config(SMOKE), run_dir, str(SMOKE))
    assert again["meta"]["stages"]["built"] == 0
    assert {n: m["metrics"] for n, m in again["models"].items()} == {n: m["metrics"] for n, m in results["models"].items()}


def test_changing_a_method_knob_reuses_the_fine_tuned_models(smoke_run):
    run_dir, results = smoke_run
    cfg = load_config(SMOKE, ["methods.ga.lr=3e-4"])
    again = run_experiment(cfg, run_dir, str(SMOKE))
    assert again["meta"]["stages"]["built"] == 3  # unlearn-ga, its evaluation and its attacks only
    assert again["models"]["original"]["metrics"] == results["models"]["original"]["metrics"]
    assert again["models"]["ga"]["metrics"] != results["models"]["ga"]["metrics"]


def test_every_seed_shares_the_tiny_base_and_null_base_seed_draws_one_per_seed(smoke_run):
    """model.base_seed (default 0): seed 1 reuses seed 0's tokenizer, init and pretraining, as it
    would a released checkpoint; with base_seed null it builds its own (another tokenizer)."""
    from unlearn.models import load_model
    from unlearn.pipeline import prepare
    from unlearn.stages import Stages
    from unlearn.train import make_accelerator

    run_dir, _ = smoke_run
    acc = make_accelerator()
    stages = Stages(run_dir, acc, log=lambda *a, **k: None)
    _, shared, _ = prepare(load_config(SMOKE, ["seeds=[1]"]), 1, stages, acc)
    assert shared.name.startswith("pretrain-") and stages.hits[-1] == shared.name
    assert not [b for b in stages.built if b.startswith(("base-", "pretrain-"))]
    own = Stages(run_dir, acc, log=lambda *a, **k: None)
    _, drawn, _ = prepare(load_config(SMOKE, ["seeds=[1]", "model.base_seed=null"]), 1, own, acc)
    assert drawn != shared and {b.split("-")[0] for b in own.built} == {"base", "pretrain"}
    assert load_model(drawn / "model")[1].get_vocab() != load_model(shared / "model")[1].get_vocab()


class Explodes:
    """A method whose loss is infinite from the start."""

    @dataclass(frozen=True)
    class Config:
        pass

    kind, needs_ref, needs_retain, trains = "approximate", False, False, True

    def __init__(self, cfg):
        pass

    def loss(self, model, ref_model, batch):
        return model(**{k: batch["forget"][k] for k in ("input_ids", "attention_mask")}).logits.sum() * float("inf"), {}


def test_a_diverging_method_is_recorded_and_the_run_completes(smoke_run, monkeypatch):
    run_dir, _ = smoke_run
    monkeypatch.setitem(METHODS, "explodes", Explodes)
    results = run_experiment(load_config(SMOKE, ["unlearn.methods=[ga, explodes]"]), run_dir, str(SMOKE))
    boom = results["models"]["explodes"]
    assert boom["status"] == "diverged" and "not finite" in boom["message"] and boom["metrics"] == {}
    assert results["models"]["ga"]["status"] == "ok"


def test_killed_run_resumes_and_matches_an_uninterrupted_run(smoke_run, tmp_path):
    """SIGKILL in the middle of a training stage, run again: same metrics as the fixture's run
    (without attacks and SISA, which this test does not need: their keys are left out)."""
    _, reference = smoke_run
    cmd = [sys.executable, "-m", "unlearn", "run", str(SMOKE), "attacks.names=[]", "sisa.enabled=false",
           "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".retrain-*.tmp-*")) and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # the retrain stage has just begun: it takes seconds
    proc.wait()
    assert list(tmp_path.glob(".retrain-*.tmp-*")) and not list(tmp_path.glob("retrain-*"))
    finished = {p.name: p.stat().st_mtime for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert {n.split("-")[0] for n in finished} == {"corpus", "base", "pretrain", "original"}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    for name, mtime in finished.items():  # finished stages were reused, not rebuilt
        assert (tmp_path / name).stat().st_mtime == mtime and f"[cached] {name}" in done.stderr
    assert not list(tmp_path.glob(".*.tmp*"))
    resumed = json.loads((tmp_path / "results.json").read_text())
    plain = lambda metrics: {k: v for k, v in metrics.items() if not k.startswith("attacks.")}  # noqa: E731
    assert set(resumed["models"]) == set(reference["models"]) - {"sisa"}
    assert {n: m["metrics"] for n, m in resumed["models"].items()} == \
           {n: plain(reference["models"][n]["metrics"]) for n in resumed["models"]}


@pytest.mark.slow
def test_two_process_smoke_run_completes(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "unlearn", "run", str(SMOKE), "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})  # gloo, also on a 1-GPU machine
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["processes"] == 2 and results["models"]["ga"]["status"] == "ok"
    # relearning trains on every process (collective steps); the other attacks on the main one
    assert {r["status"] for r in results["models"]["ga"]["attacks"]["0"].values()} == {"ok"}
