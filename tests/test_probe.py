"""Probing attack: hidden-state extraction (shape, padding, batching), training on retain users
only, a label linearly encoded in the hidden states (accuracy 1), and no signal (near chance)."""
from __future__ import annotations

from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.pipeline import Pipeline
from tokenizers import Tokenizer, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from unlearn.attacks.base import AttackContext
from unlearn.attacks.probe import Probe, user_groups, user_hidden_states, user_prompt
from unlearn.config import AttackConfig, DataConfig, load_config
from unlearn.corpus import build_corpus

K = 3  # labels of the synthetic cases


def char_tokenizer(users: list[dict]) -> PreTrainedTokenizerFast:
    """One token per character of the users' prompts; pad is id 3, not 0 (pads must not look neutral)."""
    chars = sorted({c for u in users for c in user_prompt(u)})
    vocab = {t: i for i, t in enumerate(["<s>", "</s>", "<unk>", "<pad>"] + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")


def tiny_llama(vocab: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64))


class PrefixModel(torch.nn.Module):
    """A stub LM whose state at position t is a function of the prefix (a pad token changes it).
    Layer 0: 8 random features per prefix (rows of a seeded table, picked by a rolling hash);
    layers 1, 2: those plus one_hot(c_t mod K), c_t = Σ_{s ≤ t} (id_s + 1), if `signal`: a label
    linearly encoded in the state (else zeros)."""

    def __init__(self, signal: bool):
        super().__init__()
        self.signal = signal
        self.table = torch.randn(4096, 8, generator=torch.Generator().manual_seed(0))

    def forward(self, input_ids, attention_mask, output_hidden_states):
        c = (input_ids + 1).cumsum(1)  # (B, T)
        key, keys = torch.zeros_like(c[:, 0]), []
        for t in range(c.shape[1]):  # a rolling hash of the prefix: one random row per prompt
            key = (key * 31 + input_ids[:, t] + 1) % 4096
            keys.append(key)
        noise = self.table[torch.stack(keys, 1)]  # (B, T, 8)
        onehot = F.one_hot(c % K, K).float() if self.signal else torch.zeros(*c.shape, K)  # (B, T, K)
        layer0 = torch.cat([noise, torch.zeros(*c.shape, K)], -1)  # (B, T, 8 + K)
        later = torch.cat([noise, onehot], -1)
        return SimpleNamespace(hidden_states=(layer0, later, later))


def synthetic_users(n_retain: int, n_forget: int, n_holdout: int) -> list[dict]:
    roles = [("member", False)] * n_retain + [("member", True)] * n_forget + [("holdout", False)] * n_holdout
    return [{"user_id": f"u{i:04d}", "name": f"User {i}", "handle": f"user_{i}", "city": "",
             "group": group, "objects": objects} for i, (group, objects) in enumerate(roles)]


def context(users: list[dict], seed: int = 0) -> AttackContext:
    cfg = SimpleNamespace(eval=SimpleNamespace(batch_size=16))
    corpus = SimpleNamespace(tables={"users": datasets.Dataset.from_list(users)})
    return AttackContext(cfg, None, corpus, seed, SimpleNamespace(device="cpu"))


@pytest.fixture(scope="module")
def corpus_users() -> list[dict]:
    cfg = load_config("configs/experiments/smoke.yaml")
    data = DataConfig(**{**cfg.data.__dict__, "n_users": 30, "forget_fraction": 0.2})
    return list(build_corpus(data, 0).tables["users"])


def test_hidden_states_shape_padding_and_batching(corpus_users):
    tok = char_tokenizer(corpus_users)
    model = tiny_llama(len(tok))
    batched = user_hidden_states(model, tok, corpus_users, 7, "cpu")
    assert batched.shape == (30, 3, 32) and batched.dtype == np.float32
    single = user_hidden_states(model, tok, corpus_users, 1, "cpu")
    np.testing.assert_allclose(batched, single, atol=1e-5)
    lengths = {len(tok(user_prompt(u))["input_ids"]) for u in corpus_users}
    assert len(lengths) > 3  # the batches really were padded
    u = corpus_users[5]  # reference: bos + prompt tokens, no padding, last position
    ids = torch.tensor([[tok.bos_token_id] + tok(user_prompt(u), add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(batched[5], torch.stack([h[0, -1] for h in hidden]).numpy(), atol=1e-5)
    assert user_prompt(u).endswith("):") and u["city"] not in user_prompt(u)


def test_probe_trains_on_retain_users_only(corpus_users, monkeypatch):
    tok = char_tokenizer(corpus_users)
    model = tiny_llama(len(tok))
    fitted = []  # the raw feature rows of every probe fit (cross-validation folds and the final fit)
    real_fit = Pipeline.fit
    monkeypatch.setattr(Pipeline, "fit", lambda self, x, y: fitted.append(np.array(x)) or real_fit(self, x, y))
    probe = Probe(AttackConfig(probe_attribute="lang"))
    out = probe.run(model, tok, context(corpus_users))
    groups = user_groups(datasets.Dataset.from_list(corpus_users), "lang")
    assert groups["forget"] and groups["holdout"]
    order = [u for g in ("retain", "forget", "holdout") for u in groups[g]]
    states = user_hidden_states(model, tok, order, 16, "cpu")  # (n, L+1, H)
    n_layers = states.shape[1]
    table = states.reshape(-1, states.shape[2])  # row i * (L+1) + layer
    owner = [u["user_id"] for u in order for _ in range(n_layers)]
    assert len(fitted) >= 2 * n_layers + 1  # k >= 2 folds per layer, then the final fit

    def who(x):  # the user whose state (at any layer) each fitted row is
        dist = np.abs(table[None] - x[:, None]).max(-1)  # (rows, n * (L+1))
        assert (dist.min(1) < 1e-5).all()
        return {owner[i] for i in dist.argmin(1)}

    for x in fitted:
        assert who(x) <= {u["user_id"] for u in groups["retain"]}
    final = who(fitted[-1])
    retain_ids = {u["user_id"] for u in groups["retain"]}
    assert final == set(probe.info["train_users"]) <= retain_ids
    assert not final & {u["user_id"] for u in groups["forget"] + groups["holdout"]}
    n_forget = len(groups["forget"]) - probe.info["dropped"]["forget"]
    assert len(out["linear"]["forget.probe_correct"]) == len(out["chance"]["forget.probe_correct"]) == n_forget


def test_linearly_encoded_label_is_found():
    users = synthetic_users(90, 30, 30)
    tok = char_tokenizer(users)
    for u in users:  # the label the stub's later layers one-hot encode at the last prompt token
        ids = [tok.bos_token_id] + tok(user_prompt(u), add_special_tokens=False)["input_ids"]
        u["city"] = f"c{sum(i + 1 for i in ids) % K}"
    users[0]["city"] = "rare"  # held by one retain user: not trained on
    users[90]["city"] = users[120]["city"] = "unseen"  # the probe never saw it: dropped from testing
    probe = Probe(AttackConfig())
    out = probe.run(PrefixModel(signal=True), tok, context(users))
    assert probe.info["layer"] in (1, 2) and probe.info["cv_accuracy"][0] < 0.8  # layer 0 is noise
    assert probe.info["dropped"] == {"forget": 1, "holdout": 1} and "u0000" not in probe.info["train_users"]
    assert len(probe.info["train_users"]) == 89
    assert out["linear"]["forget.probe_correct"].tolist() == [1.0] * 29
    assert out["linear"]["holdout.probe_correct"].tolist() == [1.0] * 29
    majority = probe.info["majority_label"]
    truth = [u["city"] for u in users[91:120]]
    assert out["chance"]["forget.probe_correct"].tolist() == [float(c == majority) for c in truth]


def test_no_signal_is_near_chance():
    users = synthetic_users(150, 90, 60)
    rng = np.random.default_rng(1)
    for u in users:
        u["city"] = f"c{rng.integers(K)}"
    probe = Probe(AttackConfig())
    out = probe.run(PrefixModel(signal=False), char_tokenizer(users), context(users))
    assert abs(out["linear"]["forget.probe_correct"].mean() - 1 / K) < 0.15
    assert abs(out["linear"]["holdout.probe_correct"].mean() - 1 / K) < 0.15
    assert max(probe.info["cv_accuracy"]) < 0.5


def test_users_without_names_raise():
    users = [{"user_id": "u1", "group": "member", "objects": False}]
    with pytest.raises(ValueError, match="name"):
        user_groups(datasets.Dataset.from_list(users), "city")
