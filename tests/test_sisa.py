"""SISA: placement, incremental training and deletion, exactness, and the aggregate behind the
model interface (logits, decoding, exposure's KV cache, quantization, hidden states, training)."""
import json

import numpy as np
import pytest
import torch
from helpers import VOCAB, tiny_lm
from test_exposure import CONTEXT, make_tokenizer

from unlearn.attacks.quantize import quantize_model
from unlearn.config import load_config
from unlearn.corpus import build_corpus
from unlearn.exact import sisa
from unlearn.exact.ensemble import SisaEnsemble
from unlearn.losses import batch_nll
from unlearn.metrics import exposure as ex
from unlearn.metrics.generate import generate
from unlearn.models import build_base, load_model
from unlearn.train import make_accelerator
from unlearn.data import TokenData

from test_pipeline import SMOKE


def random_prompts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [[1] + rng.integers(3, VOCAB, size=rng.integers(1, 10)).tolist() for _ in range(n)]


# --- placement ---

def test_placement_ignores_who_else_is_there():
    users = [f"u{i:04d}" for i in range(200)]
    every = {u: sisa.place(u, 0, 4, 3) for u in users}
    assert {every[u] for u in users[100:]} == {sisa.place(u, 0, 4, 3) for u in users[100:]}
    assert {s for s, _ in every.values()} == set(range(4)) and {r for _, r in every.values()} == set(range(3))
    assert every != {u: sisa.place(u, 1, 4, 3) for u in users}  # the seed matters
    texts = ["u0001", "u0002", "u0001", "u0150"]
    cells = sisa.layout(texts, 0, 4, 3)
    assert sorted(i for row in cells for c in row for i in c) == [0, 1, 2, 3]
    s, r = sisa.place("u0001", 0, 4, 3)
    assert cells[s][r][:2] == [0, 2]  # all of a user's texts together, in corpus order


# --- the aggregate ---

def test_logits_are_the_log_of_the_mean_distribution():
    a, b, c = tiny_lm(0), tiny_lm(1), tiny_lm(2)
    ids = torch.tensor([[1, 5, 9, 13, 7]])
    got = SisaEnsemble([a, b])(input_ids=ids).logits
    want = torch.log((a(input_ids=ids).logits.softmax(-1) + b(input_ids=ids).logits.softmax(-1)) / 2)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert torch.allclose(got.exp().sum(-1), torch.ones(1, 5))
    assert got.requires_grad  # the training path (relearning the aggregate) ...
    with torch.inference_mode():  # ... and the in-place one of evaluation give the same mixture
        torch.testing.assert_close(SisaEnsemble([a, b])(input_ids=ids).logits, got.detach(), atol=1e-6, rtol=1e-6)
        three = SisaEnsemble([a, b, c])(input_ids=ids).logits
        want = torch.log(sum(m(input_ids=ids).logits.softmax(-1) for m in (a, b, c)) / 3)
        torch.testing.assert_close(three, want, atol=1e-5, rtol=1e-5)


def test_one_member_decodes_exactly_like_the_member():
    member, prompts = tiny_lm(0), random_prompts(7)
    ens = SisaEnsemble([member])
    assert generate(ens, prompts, 8, 3, "cpu", 0, 2) == generate(member, prompts, 8, 3, "cpu", 0, 2)
    # top-1 sampling is greedy decoding
    assert generate(ens, prompts, 8, 3, "cpu", 0, 2, sample=True, top_k=1, seed=4) == generate(member, prompts, 8, 3, "cpu", 0, 2)


def test_batched_decoding_equals_an_argmax_loop_over_the_mixture():
    ens, prompts = SisaEnsemble([tiny_lm(0), tiny_lm(1), tiny_lm(2)]), random_prompts(5, seed=1)
    loop = []
    for p in prompts:
        seq, new = list(p), []
        for _ in range(6):
            nxt = ens(input_ids=torch.tensor([seq])).logits[0, -1].argmax().item()
            if nxt == 2:
                break
            seq.append(nxt)
            new.append(nxt)
        loop.append(new)
    assert generate(ens, prompts, 6, 2, "cpu", 0, 2) == loop
    drawn = generate(ens, prompts, 6, 2, "cpu", 0, 2, sample=True, seed=3)
    assert drawn == generate(ens, prompts, 6, 2, "cpu", 0, 2, sample=True, seed=3)


def test_exposure_trie_walk_runs_on_the_ensemble():
    tok, ens = make_tokenizer(), SisaEnsemble([tiny_lm(0), tiny_lm(3)])
    cands = ex.sample_candidates("d-d-d-d", 200, seed=0)
    cached = ex.candidate_logprobs(ens, tok, CONTEXT, cands, 64, "cpu")
    naive = ex.candidate_logprobs_naive(ens, tok, CONTEXT, cands, 64, "cpu")
    assert np.abs(cached - naive).max() < 1e-4 and cached.std() > 0.1


def test_quantization_hidden_states_and_training_reach_every_member():
    ens = SisaEnsemble([tiny_lm(0), tiny_lm(1)])
    q = quantize_model(ens, 4, 0)
    for orig, quant in zip(ens.members, q.members):
        assert torch.equal(orig.lm_head.weight, quant.lm_head.weight)  # every head stays fp32
        assert not torch.equal(orig.model.layers[0].mlp.up_proj.weight, quant.model.layers[0].mlp.up_proj.weight)
    hidden = ens(input_ids=torch.tensor([[1, 4, 6]]), output_hidden_states=True).hidden_states
    assert len(hidden) == 3 and hidden[-1].shape == (1, 3, 64)  # 2 layers + embeddings; 2 x 32 features
    data = TokenData([[1, 4, 6, 8, 2], [1, 9, 2]], 0)
    batch_nll(ens, data.batch([0, 1])).backward()
    assert all(m.lm_head.weight.grad is not None and m.lm_head.weight.grad.abs().sum() > 0 for m in ens.members)


# --- training, deletion, exactness ---

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The smoke corpus and tiny base model, SISA with 3 shards x 2 slices, 1 epoch."""
    cfg = load_config(SMOKE, ["sisa.shards=3", "sisa.slices=2", "finetune.epochs=1"])
    root = tmp_path_factory.mktemp("sisa")
    build_base(cfg, 0, root / "base")
    return cfg, build_corpus(cfg.data, 0), root


def _train(cfg, corpus, root, name, split, previous=None):
    texts = corpus.texts[split]
    return sisa.build_sisa(cfg, 0, root / "base", list(texts["text"]), list(texts["user_id"]), root / name,
                           make_accelerator(), previous)


@pytest.mark.parametrize("lora", [False, True])
def test_deletion_equals_training_from_scratch_without_the_users(small, monkeypatch, lora):
    cfg, corpus, root = small
    monkeypatch.setattr(sisa, "uses_lora", lambda cfg: lora)
    tag = "lora" if lora else "full"
    full = _train(cfg, corpus, root, f"{tag}-full", "train")
    deleted = _train(cfg, corpus, root, f"{tag}-deleted", "retain", previous=root / f"{tag}-full" / "model")
    scratch = _train(cfg, corpus, root, f"{tag}-scratch", "retain")
    forget_users = set(corpus.texts["forget"]["user_id"])
    for s in range(3):  # a shard restarts at its first slice that lost a user, never earlier
        lost = [bool(set(full["users"][s][r]) & forget_users) for r in range(2)]
        assert deleted["restart"][s] == (lost.index(True) if any(lost) else 2)
    assert sum(deleted["steps"]) < sum(full["steps"]) and sum(scratch["steps"]) > sum(deleted["steps"])
    check = sisa.verify(root / f"{tag}-deleted" / "model", root / f"{tag}-scratch" / "model")
    assert check == {"identical": True, "max_abs_diff": 0.0, "checkpoints": 6, "differing": []}
    assert not sisa.verify(root / f"{tag}-full" / "model", root / f"{tag}-scratch" / "model")["identical"]
    state = sisa.load_file(root / f"{tag}-full" / "model" / "shard0" / "slice1.safetensors")
    assert all("lora_" in k for k in state) == lora  # adapters only, or the whole model
    ens, tok = load_model(root / f"{tag}-deleted" / "model")
    assert isinstance(ens, SisaEnsemble) and len(ens.members) == 3
    assert all(p.requires_grad for p in ens.parameters())  # trainable as any loaded model (the relearn attack)
    base = load_model(root / "base")[0]
    logits = ens(input_ids=torch.tensor([[tok.bos_token_id, 5, 6]])).logits
    assert torch.isfinite(logits).all() and not torch.allclose(logits, base(input_ids=torch.tensor([[tok.bos_token_id, 5, 6]])).logits.log_softmax(-1))


def test_a_shard_without_texts_has_no_constituent(small, tmp_path):
    cfg, corpus, root = small
    one_user = corpus.texts["train"].filter(lambda r: r["user_id"] == corpus.texts["train"][0]["user_id"])
    record = sisa.build_sisa(cfg, 0, root / "base", list(one_user["text"]), list(one_user["user_id"]), tmp_path,
                             make_accelerator())
    assert sum(1 for s in range(3) if sum(record["texts"][s])) == 1
    ens, _ = load_model(tmp_path / "model")
    assert len(ens.members) == 1
    assert json.loads((tmp_path / "model" / "sisa.json").read_text())["restart"] == [0, 0, 0]


def test_lora_shards_train_and_delete_exactly_under_bf16_with_checkpointing(small, monkeypatch):
    cfg, corpus, root = small
    monkeypatch.setattr(sisa, "uses_lora", lambda cfg: True)
    acc = make_accelerator(precision="bf16", gradient_checkpointing=True)

    def build(name, split, previous=None):
        texts = corpus.texts[split]
        return sisa.build_sisa(cfg, 0, root / "base", list(texts["text"]), list(texts["user_id"]),
                               root / name, acc, previous)

    full = build("bf16-full", "train")
    build("bf16-deleted", "retain", previous=root / "bf16-full" / "model")
    build("bf16-scratch", "retain")
    assert full["status"] == "ok"
    check = sisa.verify(root / "bf16-deleted" / "model", root / "bf16-scratch" / "model")
    assert check["identical"] and check["checkpoints"] == 6  # exact deletion holds in mixed precision too
