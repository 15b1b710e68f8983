"""The public Python API (unlearn/api.py): unlearn.unlearn on an in-memory model, unlearn.evaluate on
text lists and on a saved corpus, both against the pipeline's own functions, and the runnable
example scripts/api_example.py."""
import copy
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import unlearn
from unlearn.api import method_settings
from unlearn.config import ROOT, ConfigError, load_config
from unlearn.corpus import build_corpus, save_corpus
from unlearn.data import encode
from unlearn.metrics import basic, mia
from unlearn.metrics.evaluate import evaluate_model, make_plan, summarize
from unlearn.metrics.scoring import score
from unlearn.models import build_base, load_model

SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"
SMALL = ["model.pretrain_users=0", "data.n_users=20", "eval.qa_users=1", "eval.generate_examples=4",
         "eval.max_new_tokens=8", "eval.bootstrap=50"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The smoke corpus (20 users), saved, and its tiny base model (random init, trained tokenizer)."""
    cfg = load_config(SMOKE, SMALL)
    corpus = build_corpus(cfg.data, 0)
    folder = tmp_path_factory.mktemp("api")
    save_corpus(corpus, folder / "corpus")
    build_base(cfg, 0, folder / "base")
    texts = {s: list(corpus.texts[s]["text"]) for s in ("forget", "retain", "holdout")}
    return cfg, corpus, folder, texts


def forget_nll(model, tok, texts, cfg):
    """The pipeline's scoring pass and per-text NLL, averaged."""
    return float(np.mean(basic.nll(score(model, encode(tok, texts, cfg.model.max_length), 32, "cpu"))))


def test_import_is_light():
    code = "import sys, unlearn; assert 'torch' not in sys.modules and 'transformers' not in sys.modules; " \
           "assert callable(unlearn.unlearn) and callable(unlearn.evaluate); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_ga_raises_the_forget_nll_in_place(world):
    cfg, _, folder, texts = world
    model, tok = load_model(folder / "base")
    before = forget_nll(model, tok, texts["forget"], cfg)
    out = unlearn.unlearn(model, tok, texts["forget"], texts["retain"], method="ga", lr=1e-3, max_steps=5,
                          max_length=cfg.model.max_length)
    assert out is model  # trained in place, the same object returned
    after = forget_nll(out, tok, texts["forget"], cfg)
    assert after > before + 0.1


def test_a_reference_method_gets_a_frozen_copy_of_the_input(world, monkeypatch):
    cfg, _, folder, texts = world
    model, tok = load_model(folder / "base")
    start = copy.deepcopy(model.state_dict())
    import unlearn.methods.stage as stage

    seen = {}
    real = stage.apply_method

    def spy(method, model, ref_model, *args, **kwargs):
        seen["ref"] = ref_model
        return real(method, model, ref_model, *args, **kwargs)

    monkeypatch.setattr(stage, "apply_method", spy)
    out = unlearn.unlearn(model, tok, texts["forget"], texts["retain"], method="npo", lr=1e-3, max_steps=3,
                          max_length=cfg.model.max_length)
    ref = seen["ref"]
    assert ref is not out
    assert all(torch.equal(ref.state_dict()[k].cpu(), v) for k, v in start.items())  # the input's weights
    assert not all(torch.equal(out.state_dict()[k].cpu(), v) for k, v in start.items())  # the model moved


def test_corpus_deletion_returns_the_model_untouched(world):
    _, _, folder, texts = world
    model, tok = load_model(folder / "base")
    start = copy.deepcopy(model.state_dict())
    assert unlearn.unlearn(model, tok, texts["forget"], [], method="corpus_deletion") is model
    assert all(torch.equal(model.state_dict()[k], v) for k, v in start.items())


def test_params_default_to_the_method_file_and_split_into_training_and_knobs():
    method, train, knobs = method_settings("npo")
    assert (train.lr, train.epochs, train.batch_size, knobs.beta) == (5e-5, 2.0, 8, 0.1)  # configs/methods/npo.yaml
    method, train, knobs = method_settings("npo", lr=1e-4, max_steps=7, beta=0.3)
    assert (train.lr, train.max_steps, train.epochs, knobs.beta) == (1e-4, 7, 2.0, 0.3)
    assert method.cfg is knobs


def test_unknown_params_and_methods_raise_naming_the_valid_ones(world):
    _, _, folder, texts = world
    model, tok = load_model(folder / "base")
    with pytest.raises(ValueError, match=r"unknown parameter 'bta' for method 'npo' \(valid: training settings "
                                         r"lr, epochs, .*; method knobs beta, alpha\)"):
        unlearn.unlearn(model, tok, texts["forget"], texts["retain"], method="npo", bta=0.2)
    with pytest.raises(ValueError, match=r"unknown method 'npoo' \(valid: corpus_deletion, ga, .*npo"):
        unlearn.unlearn(model, tok, texts["forget"], texts["retain"], method="npoo")
    with pytest.raises(ConfigError, match=r"unlearn.unlearn\(\).*methods.npo.lr"):
        unlearn.unlearn(model, tok, texts["forget"], texts["retain"], method="npo", lr=-1.0)
    with pytest.raises(ValueError, match="give retain_texts"):
        unlearn.unlearn(model, tok, texts["forget"], [], method="graddiff")


def test_evaluate_on_texts_reports_the_pipelines_scoring_numbers(world):
    cfg, _, folder, texts = world
    model, tok = load_model(folder / "base")
    out = unlearn.evaluate({"m": model}, texts, tokenizer=tok, config=cfg)
    metrics = out["models"]["m"]["metrics"]
    scored = {s: score(model, encode(tok, t, cfg.model.max_length), cfg.eval.batch_size, "cpu") for s, t in texts.items()}
    for split in texts:
        assert metrics[f"{split}.nll"] == pytest.approx(float(np.mean(basic.nll(scored[split]))), rel=1e-9)
    assert metrics["forget.mia_loss_auc"] == pytest.approx(
        mia.auc(basic.loss_score(scored["forget"]), basic.loss_score(scored["holdout"])), rel=1e-12)
    assert not any(k.startswith(("forget.qa", "forget.pii", "forget.verbatim", "forget.exposure")) for k in metrics)
    assert "verdict" not in out and out["settings"]["data"] == "texts"


def test_evaluate_on_a_corpus_folder_is_the_pipelines_evaluation(world):
    cfg, corpus, folder, _ = world
    model, tok = load_model(folder / "base")
    out = unlearn.evaluate({"m": folder / "base"}, folder, config=cfg)  # the folder holding corpus/
    plan = make_plan(corpus, corpus.texts, {}, cfg.eval, 0)
    users = {}
    metrics, ci = summarize(evaluate_model(model, tok, plan, cfg, 0, "cpu", users=users), 0, cfg.eval.bootstrap, users)
    got = out["models"]["m"]["metrics"]
    assert {k: got[k] for k in metrics} == pytest.approx(metrics, rel=1e-9, nan_ok=True)
    assert "forget.qa_accuracy" in got and "forget.pii_extraction" in got and "utility.model_utility" in got


def perturbed(model, seed, scale=0.02):
    """A copy of `model` with seeded noise on every weight (a stand-in for another training draw)."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return out


def test_evaluate_with_a_reference_folds_it_and_judges_the_others(world):
    cfg, _, folder, texts = world
    model, tok = load_model(folder / "base")
    models = {"original": model, "r0": perturbed(model, 1), "r1": perturbed(model, 2), "r2": perturbed(model, 3),
              "other": perturbed(model, 4)}
    out = unlearn.evaluate(models, texts, reference=["r0", "r1", "r2"], tokenizer=tok, config=cfg)
    ref = [out["models"][n]["metrics"]["forget.nll"] for n in ("r0", "r1", "r2")]
    assert out["reference"]["metrics"]["forget.nll"] == pytest.approx(float(np.mean(ref)))
    assert set(out["verdict"]) == {"other"}  # original and the reference are not judged
    assert out["verdict"]["other"]["verdict"] in ("removed", "suppressed", "not removed", "inconclusive")
    assert {p["key"] for p in out["verdict"]["other"]["parts"]} | \
        {e["key"] for e in out["verdict"]["other"]["excluded"]} == {"forget.nll", "forget.mia_loss_auc"}
    assert [out["models"][n]["kind"] for n in models] == ["original", "retrain", "retrain", "retrain", "approximate"]
    one = unlearn.evaluate({"original": model, "r0": models["r0"], "other": models["other"]}, texts, reference="r0",
                           tokenizer=tok, config=cfg)
    assert one["verdict"]["other"]["verdict"] == "inconclusive"
    assert all("at least 2 retrain replicates" in e["reason"] for e in one["verdict"]["other"]["excluded"])


def test_evaluate_refuses_what_it_cannot_judge(world):
    cfg, _, folder, texts = world
    model, tok = load_model(folder / "base")
    with pytest.raises(ValueError, match="needs the original model"):
        unlearn.evaluate({"a": model, "r": model}, texts, reference="r", tokenizer=tok, config=cfg)
    with pytest.raises(ValueError, match="'r9' not in models"):
        unlearn.evaluate({"original": model}, texts, reference=["r9"], tokenizer=tok, config=cfg)
    with pytest.raises(ValueError, match="without a tokenizer"):
        unlearn.evaluate({"m": model}, texts, config=cfg)
    with pytest.raises(ValueError, match="must be among forget, retain, holdout"):
        unlearn.evaluate({"m": model}, {"forgot": ["a"]}, tokenizer=tok, config=cfg)
    with pytest.raises(ValueError, match="not a model folder"):
        unlearn.evaluate({"m": folder}, texts, config=cfg)


def test_the_api_example_runs_and_prints_a_verdict():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_example.py")], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"^verdict: npo: (removed|suppressed|not removed|inconclusive) \(", run.stdout, re.M), run.stdout
    assert re.search(r"^verdict: retrain_null: removed ", run.stdout, re.M), run.stdout  # the null control
