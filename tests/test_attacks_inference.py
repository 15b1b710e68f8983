"""Inference-time attacks (quantize, sampling, prompting, lens) on a small synthetic corpus and a random
tiny model with the project's own BPE tokenizer."""
import copy
import dataclasses

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from unlearn.metrics.evaluate import PII_ATTRIBUTES
from unlearn.attacks import prompting
from unlearn.attacks.base import AttackContext, forget_side
from unlearn.attacks.lens import Lens, layer_ranks, value_items
from unlearn.attacks.prompting import Prompting, demo_text, demonstrations, retain_pool, variants
from unlearn.attacks.quantize import Quantize, quantize_model, quantize_weight
from unlearn.attacks.sampling import Sampling, ks, pass_at, qa_items, samples
from unlearn.config import load_config
from unlearn.corpus import build_corpus
from unlearn.metrics import pii
from unlearn.metrics.evaluate import make_plan
from unlearn.chat import first_answer
from unlearn.models import train_tokenizer
from unlearn.train import make_accelerator


def lm(tok, tied: bool, seed: int = 0) -> LlamaForCausalLM:
    """A random 2-layer model over the tokenizer's vocabulary."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=tied,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))


@pytest.fixture(scope="module")
def world():
    """(ctx, tok, model): 20 users, smoke-sized model config, a tied random model like build_tiny's."""
    cfg = load_config("configs/experiments/smoke.yaml",
                      ["data.n_users=20", "model.max_length=128", "attacks.sampling_n=3"])
    corpus = build_corpus(cfg.data, 0)
    plan = make_plan(corpus, corpus.texts, {}, cfg.eval, 0)
    tok = train_tokenizer(cfg, 0)
    return AttackContext(cfg, plan, corpus, 0, make_accelerator()), tok, lm(tok, tied=True)


def with_attacks(ctx, **changes):
    cfg = dataclasses.replace(ctx.cfg, attacks=dataclasses.replace(ctx.cfg.attacks, **changes))
    return dataclasses.replace(ctx, cfg=cfg)


def user_ids(ctx, group: str, objects: bool | None = None) -> set[str]:
    users = ctx.corpus.tables["users"]
    return {u for u, g, o in zip(users["user_id"], users["group"], users["objects"])
            if g == group and (objects is None or o == objects)}


# --- quantize ---

def outlier_matrix(seed=0) -> torch.Tensor:
    """(16, 40) Gaussian weights with a few large entries, as in trained transformers."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, 40, generator=g) * 0.02
    w[torch.arange(16), torch.randint(0, 40, (16,), generator=g)] = 0.5
    return w


@pytest.mark.parametrize("group", [0, 8, 12])  # 12 does not divide 40: a short last group
@pytest.mark.parametrize("bits", [8, 4, 2])
def test_rtn_error_is_at_most_half_a_step_and_on_the_grid(bits, group):
    w, qmax = outlier_matrix(), 2 ** (bits - 1) - 1
    q = quantize_weight(w, bits, group)
    size = 40 if group == 0 else group
    for start in range(0, 40, size):
        block, qblock = w[:, start : start + size], q[:, start : start + size]
        s = block.abs().amax(dim=1, keepdim=True) / qmax  # (16, 1) by hand
        assert ((block - qblock).abs() <= s / 2 + 1e-7).all()
        levels = qblock / s
        assert torch.allclose(levels, levels.round(), atol=1e-4) and (levels.abs() <= qmax + 1e-4).all()


def test_more_bits_less_error_and_groups_no_worse_than_channels():
    w = outlier_matrix(1)
    err = lambda bits, group: (w - quantize_weight(w, bits, group)).abs().mean().item()  # noqa: E731
    assert err(8, 0) < err(4, 0) < err(2, 0)
    assert err(4, 8) <= err(4, 0) and err(8, 8) <= err(8, 0)
    assert torch.equal(quantize_weight(torch.zeros(3, 5), 4, 0), torch.zeros(3, 5))


@pytest.mark.parametrize("tied", [True, False])
def test_quantize_model_copies_and_spares_head_embeddings_norms(world, tied):
    _, tok, _ = world
    model = lm(tok, tied)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_model(model, 4, 0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # input untouched
    after = q.state_dict()
    for name, value in before.items():
        linear = name.endswith("proj.weight")  # attention and MLP projections
        assert torch.equal(after[name], value) != linear, name
    assert (q.get_output_embeddings().weight is q.get_input_embeddings().weight) == tied


def test_quantize_run_settings_and_alignment(world):
    ctx, tok, model = world
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attack = Quantize(ctx.cfg.attacks)
    out = attack.run(model, tok, ctx)
    assert list(out) == attack.settings() == ["fp32", "int8", "int4"]
    personal = [r for r in ctx.plan.qa["forget"] if r["attribute"] in PII_ATTRIBUTES]
    base = forget_side(model, tok, ctx, qa=personal)
    assert set(out["fp32"]) == set(base) and all(np.array_equal(out["fp32"][k], base[k], equal_nan=True) for k in base)
    for setting in ("int8", "int4"):
        assert {k: len(v) for k, v in out[setting].items()} == {k: len(v) for k, v in base.items()}
    assert 0 < len(base["forget.qa_accuracy"]) == len(personal) < len(ctx.plan.qa["forget"])
    assert not np.array_equal(out["int4"]["forget.loss_score"], base["forget.loss_score"])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # handed over (run_attacks' fresh model), the last width quantizes it in place: the same numbers
    own = copy.deepcopy(model)
    handed = attack.run(own, tok, ctx, own_model=True)
    for setting in out:
        assert all(np.array_equal(handed[setting][k], out[setting][k], equal_nan=True) for k in out[setting]), setting
    assert torch.equal(own.state_dict()["model.layers.0.mlp.up_proj.weight"],
                       quantize_model(model, 4, 0).state_dict()["model.layers.0.mlp.up_proj.weight"])


# --- sampling ---

def test_pass_at_k_counts_the_greedy_answer_and_matches_hand_computed_values():
    assert pass_at(True, 0, 8, 1) == 1.0  # the greedy answer hit: every k hits, samples or not
    assert pass_at(False, 0, 8, 8) == 0.0
    assert pass_at(False, 4, 8, 1) == 0.5  # 4 of 8 samples hit: one draw hits half the time
    assert pass_at(False, 4, 8, 2) == pytest.approx(1 - 6 / 28)  # 1 - C(4,2)/C(8,2)
    assert pass_at(False, 1, 8, 8) == 1.0
    assert pass_at(False, 2, 64, 8) == pytest.approx(1 - (56 * 55) / (64 * 63))  # 1 - C(62,8)/C(64,8)
    assert ks(64) == [1, 8, 64] and ks(16) == [1, 8, 16] and ks(3) == [1, 3] and ks(1) == [1]


def test_top_k_1_sampling_is_greedy_and_seeds_are_deterministic(world):
    ctx, tok, model = world
    prompts = qa_items(tok, ctx.plan.qa["forget"][:12], 128)
    budgets = [8] * len(prompts)
    greedy = samples(model, tok, prompts, budgets, 0, 0, 5, 4, "cpu")
    assert all(len(g) == 1 for g in greedy)
    assert samples(model, tok, prompts, budgets, 3, 1, 5, 4, "cpu") == [g * 3 for g in greedy]
    drawn = samples(model, tok, prompts, budgets, 3, 0, 5, 4, "cpu")
    assert drawn == samples(model, tok, prompts, budgets, 3, 0, 5, 4, "cpu")
    assert drawn != samples(model, tok, prompts, budgets, 3, 0, 6, 4, "cpu")


def test_greedy_hit_means_a_sharp_model_usually_hits_when_sampling(world):
    """Answers set to the model's own greedy output: greedy hits all; 3 temperature-1 samples from a
    sharply peaked model nearly always include it."""
    ctx, tok, _ = world
    sharp = lm(tok, tied=False, seed=1)
    with torch.no_grad():
        sharp.lm_head.weight.mul_(1000)  # logits x1000: temperature 1 is close to argmax
    rows = [r for r in ctx.plan.qa["forget"] if r["attribute"] in PII_ATTRIBUTES]  # the rows sampling asks
    # prompted with the question in the template; a dozen tokens (longer answers meet more near-ties)
    greedy = samples(sharp, tok, qa_items(tok, [dict(r, answer="", paraphrased_answer="") for r in rows], 128),
                     [12] * len(rows), 0, 0, 0, 16, "cpu")
    # the answer the attack reads (up to its first line break), without its last word: the attack decodes
    # further, and a whole-word match must not end inside a word the longer decode completes
    firsts = [first_answer(g[0]).rsplit(" ", 1)[0] for g in greedy]
    asked = [dict(r, answer=a, paraphrased_answer=a) for r, a in zip(rows, firsts)]
    plan = dataclasses.replace(ctx.plan, qa={**ctx.plan.qa, "forget": asked})
    out = Sampling(ctx.cfg.attacks).run(sharp, tok, dataclasses.replace(ctx, plan=plan))
    assert list(out) == ["greedy", "n1", "n3"]
    assert out["greedy"]["forget.qa_accuracy"].mean() == 1.0
    assert out["n3"]["forget.qa_accuracy"].mean() >= 0.8


def test_sampling_run_alignment_and_top_k_1(world):
    ctx, tok, model = world
    out = Sampling(with_attacks(ctx, sampling_top_k=1).cfg.attacks).run(model, tok, ctx)
    texts = ctx.plan.texts["forget"]
    spans = pii.pii_spans(tok, texts["text"], texts["pii"], texts["user_id"], ctx.cfg.model.max_length)
    personal = [s for s in spans if s[3] in PII_ATTRIBUTES]
    assert 0 < len(personal) < len(spans)  # the other kinds (city, employer, ...) are left out
    for arrays in out.values():
        assert len(arrays["forget.qa_accuracy"]) == sum(r["attribute"] in PII_ATTRIBUTES for r in ctx.plan.qa["forget"])
        assert len(arrays["forget.pii_extraction"]) == len(personal)
    for key in out["greedy"]:  # top-1 sampling is greedy decoding, n times over
        assert np.array_equal(out["greedy"][key], out["n3"][key])


# --- lens ---

def test_lens_final_layer_is_the_models_own_teacher_forced_argmax_and_lens_adds_layers(world):
    """'final' states a value exactly when the model's own logits rank each value token first (an
    independent computation through model(...).logits); the lens at a hand-picked middle layer is
    norm + head applied to that layer's hidden state; 'lens' is never below 'final'."""
    ctx, tok, model = world
    rows = [r for r in ctx.plan.qa["forget"] if r["answer"] in r["paraphrased_answer"]]
    items = value_items(tok, rows, 128)
    assert items and all(0 < start < len(ids) for ids, start in items)
    ranks = layer_ranks(model, items, 5, "cpu", tok.pad_token_id)
    assert ranks.shape == (len(items), model.config.num_hidden_layers)
    with torch.no_grad():
        for (ids, start), worst in zip(items[:6], ranks[:6]):
            out = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
            logits = out.logits[0, start - 1 : len(ids) - 1]
            target = torch.tensor(ids[start:])
            own = (logits > logits.gather(1, target[:, None])).sum(1).max()
            assert worst[-1] == own
            middle = model.lm_head(model.model.norm(out.hidden_states[1][0, start - 1 : len(ids) - 1]))
            assert worst[0] == (middle > middle.gather(1, target[:, None])).sum(1).max()
    out = Lens(with_attacks(ctx, lens_top_k=50).cfg.attacks).run(model, tok, ctx)
    final, lens = out["final"]["forget.lens_extraction"], out["lens"]["forget.lens_extraction"]
    assert np.array_equal(final, (ranks[:, -1] < 50).astype(float)) and (lens >= final).all()
    assert np.array_equal(lens, (ranks < 50).any(1).astype(float))


def test_lens_on_an_aggregate_averages_its_members_distributions(world):
    """Two identical constituents rank as that one model does; another second member moves the ranks."""
    from unlearn.exact.ensemble import SisaEnsemble

    ctx, tok, model = world
    items = value_items(tok, [r for r in ctx.plan.qa["forget"] if r["answer"] in r["paraphrased_answer"]], 128)[:8]
    alone = layer_ranks(model, items, 4, "cpu", tok.pad_token_id)
    twice = layer_ranks(SisaEnsemble([model, copy.deepcopy(model)]), items, 4, "cpu", tok.pad_token_id)
    assert np.array_equal(alone, twice)
    other = lm(tok, tied=True, seed=5)
    mixed = layer_ranks(SisaEnsemble([model, other]), items, 4, "cpu", tok.pad_token_id)
    assert mixed.shape == alone.shape and not np.array_equal(mixed, alone)


# --- prompting ---

def test_kshot_demonstrations_come_from_retain_users_only(world):
    ctx, tok, _ = world
    retain, pool = user_ids(ctx, "member", objects=False), retain_pool(ctx)
    off_limits = user_ids(ctx, "member", objects=True) | user_ids(ctx, "holdout")
    users = ctx.corpus.tables["users"]
    names = dict(zip(users["user_id"], users["name"]))
    for row in ctx.plan.qa["forget"]:
        demos = demonstrations(row, pool, 3, names[row["user_id"]], ctx.seed)
        assert len(demos) == 3 and len({d["qa_id"] for d in demos}) == 3
        assert {d["user_id"] for d in demos} <= retain and not {d["user_id"] for d in demos} & off_limits
        assert all(d["attribute"] == row["attribute"] and d["lang"] == row["lang"] for d in demos)
        text = " ".join(demo_text(d) for d in demos)
        assert names[row["user_id"]] not in text and row["answer"] not in text
        assert demos == demonstrations(row, pool, 3, names[row["user_id"]], ctx.seed)  # seeded


def test_variant_rows_map_to_the_same_fact(world):
    ctx, tok, _ = world
    plain = ctx.plan.qa["forget"]
    v = variants(tok, plain, ctx, 3)
    assert list(v) == Prompting(ctx.cfg.attacks).settings() and all(len(g) == len(plain) for g in v.values())
    for i, row in enumerate(plain):
        para, other = v["paraphrase"][i], v["other_language"][i]
        assert sorted(r["phrasing"] for r in para) == [1, 2]
        assert len(other) == 1 and other[0]["lang"] != row["lang"] and other[0]["phrasing"] == 0
        for r in para + other:
            assert (r["user_id"], r["attribute"]) == (row["user_id"], row["attribute"])
        assert all(r["lang"] == row["lang"] and r["question"] != row["question"] for r in para)
        for setting in ("kshot", "roleplay"):  # the row itself, after demonstrations / an instruction that fit
            (asked,) = v[setting][i]
            assert asked["question"] == row["question"] and asked["answer"] == row["answer"]
            assert prompting.fits(tok, asked, 128)
    assert any(g[0]["shots"] for g in v["kshot"]) and not any(g[0].get("system") for g in v["kshot"])
    assert all(len(g[0]["shots"]) <= 3 for g in v["kshot"])  # k demonstrations at most, for every row
    assert all(g[0]["system"] == prompting.ROLEPLAY[g[0]["lang"]] for g in v["roleplay"])


def test_ask_keeps_the_best_variant(monkeypatch):
    def fake_answer(model, tok, rows, ctx):
        assert len(rows) == 3
        return np.array([0.0, 1.0, 0.0]), np.array([0.1, 0.3, 0.2])

    monkeypatch.setattr(prompting, "answer", fake_answer)
    out = prompting.ask(None, None, [[{}, {}], [], [{}]], None)
    assert np.array_equal(out["forget.qa_accuracy"], [1.0, np.nan, 0.0], equal_nan=True)
    assert np.array_equal(out["forget.qa_answer_prob"], [0.3, np.nan, 0.2], equal_nan=True)


def test_prompting_run_is_aligned_to_the_plain_rows(world):
    ctx, tok, model = world
    out = Prompting(ctx.cfg.attacks).run(model, tok, ctx)
    counted = [r for r in ctx.plan.qa["forget"] if r["stated"] and not r["third_party"]]  # as evaluation counts
    n = len(counted)
    assert list(out) == ["plain", "paraphrase", "other_language", "kshot", "roleplay"]
    for arrays in out.values():
        assert set(arrays) == {"forget.qa_accuracy", "forget.qa_answer_prob"}
        assert all(len(a) == n and not np.isnan(a).any() for a in arrays.values())
    base = forget_side(model, tok, ctx, qa=counted)  # qa_eval: "plain" is evaluation
    for key in ("forget.qa_accuracy", "forget.qa_answer_prob"):
        assert np.allclose(out["plain"][key], base[key])
    assert not np.allclose(out["kshot"]["forget.qa_answer_prob"], base["forget.qa_answer_prob"])
    # asked in both languages, the better answer kept: never below plain, above it somewhere
    other, plain = out["other_language"]["forget.qa_answer_prob"], out["plain"]["forget.qa_answer_prob"]
    assert (other >= plain).all() and (other > plain).any()
