"""Relearning attack: T never holds a V item (per protocol, on a small and the default corpus),
setting names, step 0 = the untouched model, the caller's model untouched, one run = separate
runs, an empty T recorded, relearning on other users lowers their NLL; on a model fine-tuned on
the corpus, the calibration keeps the rates that leave it intact and the chosen rate brings back
what gradient ascent suppressed."""
import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn.attacks import relearn
from unlearn.attacks.base import AttackContext, forget_side
from unlearn.attacks.relearn import Relearn, V_TYPES, calibrate, relearn_split, user_halves
from unlearn.config import AttackConfig, DataConfig, TrainConfig, load_config
from unlearn.data import encode
from unlearn.losses import batch_nll
from unlearn.corpus import build_corpus
from unlearn.metrics.evaluate import make_plan
from unlearn.models import build_base, load_model
from unlearn.train import make_accelerator, train

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "experiments" / "smoke.yaml"
STEPS = (0, 4, 6)  # log_every = gcd(4, 6) = 2: the callback also fires at steps 2 (not measured)


def _context(data: DataConfig, seed: int = 0) -> AttackContext:
    cfg = load_config(SMOKE)
    cfg = replace(cfg, data=data, attacks=replace(cfg.attacks, relearn_steps=STEPS, relearn_lr=1e-2))
    corpus = build_corpus(cfg.data, seed)
    return AttackContext(cfg, make_plan(corpus, corpus.texts, {}, cfg.eval, seed), corpus, seed, make_accelerator())


@pytest.fixture(scope="module")
def small():
    return _context(replace(load_config(SMOKE).data, n_users=20, forget_fraction=0.3))


@pytest.fixture(scope="module", params=["small", "default"])
def ctx(request, small):
    return small if request.param == "small" else _context(DataConfig(), seed=1)


@pytest.fixture(scope="module")
def tiny(small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    build_base(small.cfg, 0, folder)
    return load_model(folder)


@pytest.fixture(scope="module")
def relearned(small, tiny):
    model, tok = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attack = Relearn(small.cfg.attacks)
    return attack, attack.run(model, tok, small), before


def _authors(ctx) -> dict[str, set[str]]:
    """text -> its authors, over every split with authors."""
    out: dict[str, set[str]] = {}
    for split in ("train", "holdout"):
        for text, uid in zip(ctx.corpus.texts[split]["text"], ctx.corpus.texts[split]["user_id"]):
            out.setdefault(text, set()).add(uid)
    return out


def _names(ctx, users) -> list[str]:
    table = ctx.corpus.tables["users"]
    return [r[c] for r in table if r["user_id"] in users for c in ("name", "handle")]


def test_protocol_a_keeps_every_v_fact_out_of_t(ctx):
    train_texts, rows = relearn_split(ctx, "a")
    forget = set(ctx.corpus.texts["forget"]["user_id"])
    # every written form of a V fact about any forget user: spans anywhere, and the users table
    values = {s["value"] for split in ("train", "retain", "forget", "holdout") for pii in ctx.corpus.texts[split]["pii"]
              for s in pii if s["type"] in V_TYPES and s["subject"] in forget}
    values |= {r[t] for r in ctx.corpus.tables["users"] if r["user_id"] in forget for t in V_TYPES}
    assert train_texts and rows["text"] and values
    assert not [(v, t) for v in values for t in train_texts if v in t]
    assert not set(train_texts) & set(rows["text"])
    assert set(train_texts) <= set(ctx.corpus.texts["forget"]["text"])
    for spans, uid in zip(rows["pii"], rows["user_id"]):  # only V facts about the author are scored
        assert spans and all(s["type"] in V_TYPES and s["subject"] == uid for s in spans)
    plan = ctx.plan.texts["forget"]
    assert set(rows["text"]) <= set(plan["text"])


def test_protocol_b_keeps_the_other_users_out_of_t(ctx):
    train_texts, rows = relearn_split(ctx, "b")
    t_users, v_users = map(set, user_halves(ctx))
    assert t_users and v_users and not t_users & v_users
    assert t_users | v_users == set(ctx.corpus.texts["forget"]["user_id"])
    authors = _authors(ctx)
    assert all(authors[t] <= t_users for t in train_texts)  # no T text written by a V user
    v_forget = [t for t, u in zip(ctx.corpus.texts["forget"]["text"], ctx.corpus.texts["forget"]["user_id"])
                if u in v_users]
    assert not [(v, t) for v in v_forget for t in train_texts if v in t]
    assert not [(n, t) for n in _names(ctx, v_users) for t in train_texts if n in t]
    assert not set(train_texts) & set(rows["text"])
    plan = ctx.plan.texts["forget"]
    assert rows["text"] == [t for t, u in zip(plan["text"], plan["user_id"]) if u in v_users]
    assert train_texts and set(rows["user_id"]) == v_users


def test_protocol_c_uses_unrelated_retain_texts(ctx):
    train_texts, rows = relearn_split(ctx, "c")
    forget = set(ctx.corpus.texts["forget"]["user_id"])
    assert len(train_texts) == max(len(relearn_split(ctx, "b")[0]), 8) == len(set(train_texts))
    assert set(train_texts) <= set(ctx.corpus.texts["retain"]["text"])
    assert not [(f, t) for f in ctx.corpus.texts["forget"]["text"] for t in train_texts if f in t]
    assert not [(n, t) for n in _names(ctx, forget) for t in train_texts if n in t]
    authors = _authors(ctx)
    assert not [t for t in train_texts if authors[t] & forget]
    retain = ctx.corpus.texts["retain"]
    mentioned = {t for t, m in zip(retain["text"], retain["mentions"]) if set(m) & forget}
    assert not mentioned & set(train_texts)
    assert rows is ctx.plan.texts["forget"] and not set(train_texts) & set(rows["text"])
    assert relearn_split(ctx, "c")[0] == train_texts  # seeded


def test_settings_name_every_protocol_and_step_count():
    attack = Relearn(replace(AttackConfig(), relearn_protocols=("b", "a"), relearn_steps=(0, 10)))
    assert attack.settings() == ["b_steps0", "b_steps10", "a_steps0", "a_steps10"]
    assert len(Relearn(AttackConfig()).settings()) == 12
    with pytest.raises(ValueError, match="valid: a, b, c"):
        relearn_split(None, "d")


def test_step_zero_is_the_untouched_model_and_the_model_stays_untouched(small, tiny, relearned):
    model, tok = tiny
    attack, out, before = relearned
    assert list(out) == attack.settings()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    for protocol in small.cfg.attacks.relearn_protocols:
        rows = relearn_split(small, protocol)[1]
        expected = forget_side(model, tok, small, texts=rows)
        assert out[f"{protocol}_steps0"].keys() == expected.keys() and "forget.pii_logprob" in expected
        for key, values in expected.items():
            assert np.array_equal(out[f"{protocol}_steps0"][key], values, equal_nan=True), (protocol, key)
        sizes = {k: len(v) for k, v in expected.items()}
        for n in STEPS:  # the same V items at every step count
            assert {k: len(v) for k, v in out[f"{protocol}_steps{n}"].items()} == sizes
        assert attack.record[protocol]["status"] == "ok" and len(attack.record[protocol]["loss"]) == max(STEPS)


def test_a_handed_over_model_is_trained_in_place_with_the_same_numbers(small, tiny, relearned):
    """run_attacks hands each attack a fresh model: the last protocol trains it instead of a copy."""
    model, tok = tiny
    attack, out, before = relearned
    own = copy.deepcopy(model)
    handed = Relearn(small.cfg.attacks).run(own, tok, small, own_model=True)
    assert handed.keys() == out.keys()
    for setting, arrays in out.items():
        for key, values in arrays.items():
            assert np.array_equal(handed[setting][key], values, equal_nan=True), (setting, key)
    assert not all(torch.equal(before[k], v) for k, v in own.state_dict().items())  # trained: no copy made


def test_relearning_other_users_lowers_their_nll(relearned):
    """On a randomly initialised tiny model the V NLL falls for sure (T and V share the templates
    and the name header format); recovery of *forgotten* data is what the quick run measures."""
    attack, out, _ = relearned
    nll = [out[f"b_steps{n}"]["forget.nll"].mean() for n in STEPS]
    assert max(nll[1:]) < nll[0] - 0.3, nll  # about 6.2 -> 5.6 here
    assert not np.array_equal(out["b_steps4"]["forget.nll"], out["b_steps6"]["forget.nll"])


def test_one_run_equals_a_run_to_each_count(small, tiny, relearned):
    model, tok = tiny
    _, out, _ = relearned
    short = Relearn(replace(small.cfg.attacks, relearn_protocols=("b",), relearn_steps=(0, 4))).run(model, tok, small)
    for key, values in short["b_steps4"].items():
        np.testing.assert_allclose(values, out["b_steps4"][key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_empty_t_is_skipped_and_recorded(small, tiny, monkeypatch):
    model, tok = tiny
    rows = small.plan.texts["forget"]
    monkeypatch.setattr(relearn, "relearn_split", lambda ctx, protocol: ([], rows))
    attack = Relearn(replace(small.cfg.attacks, relearn_protocols=("a",)))
    assert attack.run(model, tok, small) == {f"a_steps{n}": {} for n in STEPS}
    assert attack.record["a"]["status"] == "skipped" and attack.record["a"]["n_train"] == 0


@pytest.fixture(scope="module")
def memorised(small, tiny):
    """The tiny model fine-tuned on every member text for 10 passes (train loss ~6.2 -> ~1.5)."""
    model, tok = copy.deepcopy(tiny[0]), tiny[1]
    data = {"train": encode(tok, small.corpus.texts["train"]["text"], small.cfg.model.max_length)}
    result = train(model, data, "train", lambda m, ref, batch: (batch_nll(m, batch["train"]), {}),
                   TrainConfig(lr=3e-3, epochs=10.0, batch_size=16), 0, small.acc)
    assert result.status == "ok"
    return model, tok


def _v_nll(out: dict, protocol: str = "b") -> list[float]:
    return [float(out[f"{protocol}_steps{n}"]["forget.nll"].mean()) for n in STEPS]


def test_calibration_takes_the_largest_rate_that_leaves_the_original_intact(small, memorised):
    model, tok = memorised
    before = {k: v.clone() for k, v in model.state_dict().items()}
    record = calibrate(model, tok, small, (1e-2, 1e-5, 1e-4))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    rise = {c["lr"]: c["rise"] for c in record["candidates"]}
    assert list(rise) == [1e-5, 1e-4, 1e-2] and record["n_train"] and record["n_eval"]
    assert rise[1e-2] > 0.5  # about +140% here: this rate wrecks what the model holds
    assert abs(rise[1e-5]) < 0.01 and abs(rise[1e-4]) < 0.02  # +0.01% and +0.35% here
    assert record["calibrated"] and record["chosen"] == 1e-4
    # by hand from the curve: the rise is the last step's NLL over the NLL before, minus 1
    row = record["candidates"][1]
    assert row["rise"] == pytest.approx(row["v_nll"][str(max(STEPS))] / record["nll_before"] - 1)
    assert row["v_nll"]["0"] == record["nll_before"] and set(row["v_nll"]) == {str(n) for n in STEPS}
    failed = calibrate(model, tok, small, (1e-2,))
    assert not failed["calibrated"] and failed["chosen"] == 1e-2 and "raised" in failed["message"]


def test_relearning_at_the_calibrated_rate_brings_back_suppressed_data(small, memorised):
    """Relearning other users leaves the model that holds the held-out users about where it was, and
    lowers their NLL on the same model after gradient ascent on the forget split suppressed it."""
    model, tok = memorised
    lr = calibrate(model, tok, small, (1e-5, 1e-4, 1e-2))["chosen"]
    attack = Relearn(replace(small.cfg.attacks, relearn_lr=lr, relearn_protocols=("b",)))
    held = _v_nll(attack.run(model, tok, small))
    assert abs(held[-1] - held[0]) < 0.05 * held[0], held  # 2.146 -> 2.157 here
    suppressed = copy.deepcopy(model)
    data = {"train": encode(tok, small.corpus.texts["forget"]["text"], small.cfg.model.max_length)}
    train(suppressed, data, "train", lambda m, ref, batch: (-batch_nll(m, batch["train"]), {}),
          TrainConfig(lr=1e-3, epochs=100.0, max_steps=10, batch_size=16, warmup_ratio=0.0, schedule="constant"),
          0, small.acc)
    back = _v_nll(attack.run(suppressed, tok, small))
    assert back[0] > held[0] + 2  # suppressed: 6.7 here
    assert back[-1] < back[0] - 0.15, back  # 6.74 -> 6.41 here


def test_a_capped_plan_measures_every_user_and_leaves_relearning_items_on_both_halves(small):
    """eval.max_examples takes each user's texts in turn: capped below the split, every forget
    user keeps texts (counts differ by at most one), so protocol b's V half and the calibration's
    swapped half both have evaluation rows; the cap changes the plan's key, no cap leaves it."""
    from unlearn.attacks.relearn import _other_users, forget_users
    from unlearn.metrics.evaluate import every_user_in_turn, plan_key

    assert every_user_in_turn([0, 1, 2, 3, 4, 5, 6], ["a", "a", "a", "a", "b", "b", "c"], 5) == [0, 1, 4, 5, 6]
    assert every_user_in_turn([0, 1, 2], ["a", "a", "b"], 10) == [0, 1, 2]
    users = forget_users(small)
    cap = len(users) * 2
    assert cap < len(small.corpus.texts["forget"])
    capped_eval = replace(small.cfg.eval, max_examples=cap)
    ctx = AttackContext(replace(small.cfg, eval=capped_eval),
                        make_plan(small.corpus, small.corpus.texts, {}, capped_eval, 0), small.corpus, 0, small.acc)
    counts = [ctx.plan.texts["forget"]["user_id"].count(u) for u in users]
    assert len(ctx.plan.texts["forget"]["text"]) == cap and min(counts) >= 1 and max(counts) - min(counts) <= 1
    assert all(_other_users(ctx, swap=swap)[1]["text"] for swap in (False, True))
    assert plan_key(capped_eval) == {"plan": 2} and plan_key(small.cfg.eval) == {}
