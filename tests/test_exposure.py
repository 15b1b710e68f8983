"""Canary exposure: hand-computed ranks, prefix-cached vs naive scoring, the skew-normal
extrapolation against exact ranks, and the candidate spaces."""
from __future__ import annotations

import math
import re
import string

import numpy as np
import pytest
from scipy.stats import skewnorm
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from helpers import VOCAB, tiny_lm
from unlearn.metrics import exposure as ex

CONTEXT = "oliver morris: reminder: my door code at the studio is "
CHARS = list(string.digits) + ["-", " ", ":"] + list(string.ascii_lowercase)
# merges across the context/secret boundary (" 4") and inside secrets ("12", "123", "44", "000")
MERGES = [(" ", "4"), ("1", "2"), ("12", "3"), ("i", "s"), ("4", "4"), ("0", "0"), ("00", "0")]


def make_tokenizer(merges=()) -> PreTrainedTokenizerFast:
    """Character-level BPE (ids match tiny_lm: pad 0, bos 1, eos 2), plus the given merges."""
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>"] + CHARS)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    assert len(vocab) <= VOCAB
    tok = Tokenizer(models.BPE(vocab=vocab, merges=list(merges)))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def test_exposure_exact_hand_computed():
    lp = -np.arange(1.0, 9.0)  # 8 candidates, log-probs -1 (best) ... -8
    assert ex.exposure_exact(-1.0, lp) == pytest.approx(3.0)  # rank 1 of 8
    assert ex.exposure_exact(-2.0, lp) == pytest.approx(2.0)  # rank 2 of 8
    assert ex.exposure_exact(-8.0, lp) == pytest.approx(0.0)  # rank 8 of 8
    # ties resolve in the secret's favour: rank = 1 + #strictly better
    tied = np.array([-1.0, -1.0, -1.0, -4.0, -5.0, -6.0, -7.0, -8.0])
    assert ex.exposure_exact(-1.0, tied) == pytest.approx(3.0)
    assert ex.exposure_exact(-4.0, tied) == pytest.approx(3.0 - 2.0)  # rank 4 of 8


def test_candidate_spaces():
    for fmt, pattern in [("d-d-d-d", r"\d-\d-\d-\d"), ("dddddd", r"\d{6}")]:
        cands = ex.all_candidates(fmt)
        assert len(cands) == ex.SPACE[fmt] == len(set(cands))
        assert cands == sorted(cands) and all(re.fullmatch(pattern, c) for c in cands[::997])
        sample = ex.sample_candidates(fmt, 500, seed=3)
        assert len(set(sample)) == 500 and set(sample) <= set(cands)
        assert sample == ex.sample_candidates(fmt, 500, seed=3)
        assert sample != ex.sample_candidates(fmt, 500, seed=4)
    assert ex.all_candidates("d-d-d-d")[:2] == ["0-0-0-0", "0-0-0-1"]
    with pytest.raises(ValueError, match="d-d-d-d"):
        ex.all_candidates("ddd")


def _compare(tokenizer, candidates):
    """Cached and naive scores agree in float32 and rank identically in float64."""
    model = tiny_lm()
    cached = ex.candidate_logprobs(model, tokenizer, CONTEXT, candidates, 64, "cpu")
    naive = ex.candidate_logprobs_naive(model, tokenizer, CONTEXT, candidates, 64, "cpu")
    assert np.abs(cached - naive).max() < 1e-4
    assert cached.std() > 0.1  # the scores are not all equal (a meaningful ranking)
    model = model.double()
    cached = ex.candidate_logprobs(model, tokenizer, CONTEXT, candidates, 48, "cpu")
    naive = ex.candidate_logprobs_naive(model, tokenizer, CONTEXT, candidates, 48, "cpu")
    np.testing.assert_array_equal(np.argsort(cached, kind="stable"), np.argsort(naive, kind="stable"))
    for i in range(5):
        assert ex.exposure_exact(cached[i], cached) == ex.exposure_exact(naive[i], naive)


def test_cached_matches_naive_dddd():
    _compare(make_tokenizer(), ex.sample_candidates("d-d-d-d", 500, seed=0))


def test_cached_matches_naive_mixed_lengths_bpe():
    tokenizer = make_tokenizer(MERGES)
    # merged digits give remainders of many lengths; "12" < "123" < "1234" are trie prefixes
    candidates = ex.sample_candidates("dddddd", 300, seed=1) + ["12", "123", "1234", "7", "4", "44", "000"]
    seqs, shared = ex._encode(tokenizer, CONTEXT, candidates)
    context_len = 1 + len(tokenizer(CONTEXT, add_special_tokens=False)["input_ids"])
    assert shared < context_len  # " 4" merges across the boundary: the space is scored
    assert len({len(s) - shared for s in seqs}) >= 4
    _compare(tokenizer, candidates)


def test_memo_shares_one_trie_between_contexts_and_drops_sets_over_its_budget(monkeypatch):
    """Canaries whose remainders tokenise alike share one trie (any context, any seed); a memo
    over its candidate budget drops its least recently used entries and the sets they held."""
    monkeypatch.setattr(ex, "_MEMO", type(ex._MEMO)())
    monkeypatch.setattr(ex, "_REMAINDERS", {})
    tokenizer, pool = make_tokenizer(), ex.sample_candidates("d-d-d-d", 50, seed=0)
    first = ex._encoded_trie(tokenizer, CONTEXT, pool)
    other = ex._encoded_trie(tokenizer, "lena vogel: my pin is ", pool)
    assert other[2] is first[2] and other[0] != first[0] and len(ex._REMAINDERS) == 1
    assert ex._encode(tokenizer, "lena vogel: my pin is ", pool)[0][0] == [1] + [
        tokenizer.convert_tokens_to_ids(ch) for ch in "lena vogel: my pin is " + pool[0]]
    monkeypatch.setattr(ex, "_MEMO_CANDIDATES", 120)
    ex._encoded_trie(tokenizer, CONTEXT, pool)  # a hit: now the most recently used
    ex._encoded_trie(tokenizer, CONTEXT, [p + "1" for p in pool])  # a second set: 100 candidates held
    assert len(ex._REMAINDERS) == 2 and len(ex._MEMO) == 3
    ex._encoded_trie(tokenizer, CONTEXT, [p + "2" for p in pool])  # a third: 150 > 120
    assert len(ex._REMAINDERS) == 2 and len(ex._MEMO) == 2  # both users of the first set gone
    assert hash(tuple(pool)) not in {k[2] for k in ex._MEMO}
    model = tiny_lm()  # an evicted entry is encoded again, to the same scores
    again = ex.candidate_logprobs(model, tokenizer, CONTEXT, pool, 16, "cpu")
    np.testing.assert_allclose(again, ex.candidate_logprobs_naive(model, tokenizer, CONTEXT, pool, 16, "cpu"),
                               atol=1e-4)


def test_trie_merges_single_child_chains_but_not_into_leaves():
    root = ex._trie([[5, 6, 7], [5, 6, 7, 8], [5, 6, 9, 10], [11], [1, 2, 3], [1, 2, 3, 4]])
    shape = lambda n: (n.tokens, n.ends, [shape(c) for c in n.children.values()])  # noqa: E731
    assert [shape(c) for c in root.children.values()] == [
        ([5, 6], [], [([7], [0], [([8], [1], [])]),  # 5 and 6 merged; 7 ends a candidate
                      ([9], [], [([10], [2], [])])]),  # 10 is a leaf: 9 keeps its own step
        ([11], [3], []),
        ([1, 2, 3], [4], [([4], [5], [])]),  # a merged chain where a candidate ends
    ]


def test_selected_rows_step_like_the_growing_cache_with_and_without_spare_slots():
    """select_rows' preallocated slots (spare >= steps) and its fall-back when they run out
    (spare 0: grows by concatenation) give the logits of a plain DynamicCache with its rows."""
    import torch
    model = tiny_lm()
    prefix = torch.tensor([[1, 5, 6, 7, 8], [1, 9, 10, 11, 12]])
    rows, steps = torch.tensor([1, 0, 1]), torch.tensor([[13], [14], [15]])
    with torch.inference_mode():
        plain = model(input_ids=prefix[rows], use_cache=True).cache
        want = [model(input_ids=steps + k, cache=plain, use_cache=True).logits for k in range(3)]
        for spare in (3, 0):
            cache = ex.select_rows(model(input_ids=prefix, use_cache=True).cache, rows, model.config, spare)
            for k in range(3):
                got = model(input_ids=steps + k, cache=cache, use_cache=True).logits
                torch.testing.assert_close(got, want[k])
            assert cache.get_seq_length() == 8
            if spare:  # the same buffers throughout: no copy of the history per step
                assert cache.layers[0].keys.data_ptr() == cache.layers[0].buffers[0].data_ptr()


def test_extrapolated_matches_exact_on_synthetic_space():
    # log-perplexities of a 10^5 space drawn from a known skew-normal; 2,000 sampled for the fit
    rng = np.random.default_rng(0)
    space = 10**5
    logprobs = -skewnorm.rvs(4.0, loc=20.0, scale=3.0, size=space, random_state=rng)
    sample = rng.choice(logprobs, 2000, replace=False)
    best_first = np.sort(logprobs)[::-1]
    for rank in (10, 100, 1000, 10000):
        secret = best_first[rank - 1]
        exact = ex.exposure_exact(secret, logprobs)
        assert exact == pytest.approx(math.log2(space / rank))
        # stated tolerance: 0.5 bits (seed-0 errors are <= 0.13 bits)
        assert abs(ex.exposure_extrapolated(secret, sample, space) - exact) < 0.5


def test_extrapolated_is_clipped():
    sample = -skewnorm.rvs(4.0, loc=20.0, scale=3.0, size=500, random_state=np.random.default_rng(1))
    assert ex.exposure_extrapolated(0.0, sample, 10**4) == pytest.approx(math.log2(10**4))
    assert ex.exposure_extrapolated(-1e3, sample, 10**4) == pytest.approx(0.0, abs=1e-9)


def test_canary_exposure_exact_and_extrapolated(monkeypatch):
    monkeypatch.setitem(ex.SPACE, "d-d", 100)  # a tiny format keeps the enumeration fast
    model, tokenizer, secret = tiny_lm().double(), make_tokenizer(), "4-7"  # float64: no near-ties
    args = (model, tokenizer, CONTEXT, secret, "d-d")
    space = ex.all_candidates("d-d")
    lp = ex.candidate_logprobs_naive(model, tokenizer, CONTEXT, space, 64, "cpu")
    exact = ex.canary_exposure(*args, exact_max=100, n_samples=0, seed=0, batch_size=16, device="cpu")
    assert exact == pytest.approx(ex.exposure_exact(lp[space.index(secret)], lp), abs=1e-9)
    extrap = ex.canary_exposure(*args, exact_max=10, n_samples=50, seed=0, batch_size=16, device="cpu")
    sample = ex.sample_candidates("d-d", 50, seed=0)
    lp_sample = np.array([lp[space.index(c)] for c in sample])
    expected = ex.exposure_extrapolated(lp[space.index(secret)], lp_sample, 100)
    assert extrap == pytest.approx(expected, abs=1e-3)
