"""Metrics against hand-computed cases, and the scoring pass's batching parity."""
import math

import numpy as np
import pytest
import torch
from helpers import random_tokens, tiny_lm

from unlearn.data import TokenData
from unlearn.metrics import basic, mia
from unlearn.metrics import METRICS, direction, pii, relative
from unlearn.metrics.evaluate import summarize
from unlearn.metrics import scoring
from unlearn.metrics.scoring import Scored, score, token_logprobs


class FixedLM(torch.nn.Module):
    """Every position predicts the same distribution over a 3-token vocabulary: (0.5, 0.25, 0.25)."""

    def forward(self, input_ids, attention_mask):
        logits = torch.log(torch.tensor([0.5, 0.25, 0.25])).expand(*input_ids.shape, 3)
        return type("Out", (), {"logits": logits})()


def test_scoring_on_a_three_token_vocabulary():
    scored = score(FixedLM(), TokenData([[0, 1, 2, 0], [0, 0]], pad_id=0), batch_size=2)
    # targets: tokens after the first; padding of the short example is not scored
    np.testing.assert_allclose(scored.logprobs[0], np.log([0.25, 0.25, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(scored.logprobs[1], np.log([0.5]), rtol=1e-6)
    mu = 0.5 * math.log(0.5) + 0.5 * math.log(0.25)  # E_z log p(z)
    sigma = math.sqrt(0.5 * (math.log(0.5) - mu) ** 2 + 0.5 * (math.log(0.25) - mu) ** 2)
    np.testing.assert_allclose(scored.mu[0], [mu] * 3, rtol=1e-6)
    np.testing.assert_allclose(scored.sigma[1], [sigma], rtol=1e-6)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 19])
def test_vocabulary_statistics_match_their_definition_in_any_chunking(monkeypatch, chunk):
    # the fused moments (S1/Z, S2/Z) against log-softmax and the plain mean/std, chunked or not
    monkeypatch.setattr(scoring, "CHUNK_ELEMENTS", chunk)
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(3, 5, 11, generator=g) * 4, torch.randint(0, 11, (3, 5), generator=g)
    logits[0, 0, 2] = logits[0, 0].max() + 3  # a sure top-1 ...
    targets[0, 0], targets[0, 1] = 2, logits[0, 1].argmin()  # ... and a sure miss
    token_logp, mu, sigma, top1 = scoring._vocab_stats(logits.clone(), targets)  # it overwrites its input
    logp = torch.log_softmax(logits.double(), -1)
    p = logp.exp()
    want_mu = (p * logp).sum(-1)
    torch.testing.assert_close(token_logp.double(), logp.gather(-1, targets[..., None])[..., 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mu.double(), want_mu, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sigma.double(), (p * (logp - want_mu[..., None]) ** 2).sum(-1).sqrt(), rtol=1e-4, atol=1e-5)
    assert top1.tolist() == (logits.argmax(-1) == targets).tolist()
    assert top1[0, 0] and not top1[0, 1]


def test_vocabulary_statistics_chunking_changes_no_bits(monkeypatch):
    # every sum runs over one position's vocabulary: chunking the positions differently gives the
    # same bits, so CHUNK_ELEMENTS is a speed knob that cannot move a published number
    g = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(4, 9, 300, generator=g) * 5, torch.randint(0, 300, (4, 9), generator=g)
    outs = []
    for chunk in (300, 7 * 300, 1 << 19):
        monkeypatch.setattr(scoring, "CHUNK_ELEMENTS", chunk)
        outs.append(scoring._vocab_stats(logits.clone(), targets))
    assert all(torch.equal(a, b) for other in outs[1:] for a, b in zip(outs[0], other))


def test_nll_ppl_and_loss_score_by_hand():
    scored = Scored([np.log([0.5, 0.25]), np.log([0.125])], [np.zeros(2), np.zeros(1)], [np.zeros(2), np.zeros(1)],
                    [np.ones(2, bool), np.ones(1, bool)])
    np.testing.assert_allclose(basic.nll(scored), [1.5 * math.log(2), 3 * math.log(2)])
    np.testing.assert_allclose(basic.ppl(scored), [2 ** 1.5, 8.0])
    np.testing.assert_allclose(basic.loss_score(scored), [-1.5 * math.log(2), -3 * math.log(2)])
    assert basic.geometric_mean(np.array([2.0, 8.0])) == pytest.approx(4.0)


def test_auc_by_hand():
    # member/non-member pairs ordered correctly: (3,1) (3,2.5) (2,1) — wrong: (2,2.5) -> 3/4
    assert mia.auc(np.array([3.0, 2.0]), np.array([1.0, 2.5])) == pytest.approx(0.75)
    assert mia.auc(np.array([1.0]), np.array([1.0])) == pytest.approx(0.5)  # ties count half


def test_batched_and_unbatched_scores_agree():
    model, data = tiny_lm(), random_tokens(9, 4, min_len=2, max_len=15)
    one, many = score(model, data, batch_size=1), score(model, data, batch_size=4)
    for field in ("logprobs", "mu", "sigma"):
        for a, b in zip(getattr(one, field), getattr(many, field)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for a, b in zip(one.top1, many.top1):
        np.testing.assert_array_equal(a, b)


def test_token_logprobs_equal_the_scoring_pass():
    fixed = token_logprobs(FixedLM(), TokenData([[0, 1, 2, 0], [0, 0]], pad_id=0), batch_size=2)
    np.testing.assert_allclose(fixed[0], np.log([0.25, 0.25, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(fixed[1], np.log([0.5]), rtol=1e-6)
    model, data = tiny_lm(), random_tokens(9, 4, min_len=2, max_len=15)
    for a, b in zip(token_logprobs(model, data, batch_size=4), score(model, data, batch_size=1).logprobs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_npz_round_trip_and_summary_keys():
    model = tiny_lm()
    scored = {s: score(model, random_tokens(6, i), 4) for i, s in enumerate(("forget", "retain", "holdout"))}
    back = Scored.from_npz(scored["forget"].to_npz())
    for field in ("logprobs", "top1"):
        for a, b in zip(getattr(back, field), getattr(scored["forget"], field)):
            np.testing.assert_array_equal(a, b)
    arrays = {f"{s}.{name}": m.fn(sc, ["x"] * len(sc)) for s, sc in scored.items() for name, m in METRICS.items()}
    metrics, ci = summarize(arrays, seed=0, n_boot=200)
    assert {"forget.nll", "retain.ppl", "forget.mia_loss_auc", "retain.mia_minkpp_auc", "forget.mia_tpr_at_1fpr"} <= set(metrics)
    assert "forget.loss_score" not in metrics  # scores feed the AUCs, they are not results
    assert ci["forget.nll"][0] <= metrics["forget.nll"] <= ci["forget.nll"][1]
    expected = mia.auc(arrays["forget.loss_score"], arrays["holdout.loss_score"])
    assert metrics["forget.mia_loss_auc"] == pytest.approx(expected)
    assert summarize(arrays, seed=0, n_boot=200)[1] == ci  # seeded bootstrap
    assert direction("forget.exposure_r4") is True and direction("forget.truth_ratio") is False


def _scored(logprobs, top1=None, mu=None, sigma=None):
    n = [len(x) for x in logprobs]
    return Scored([np.asarray(x, np.float32) for x in logprobs],
                  mu or [np.zeros(k, np.float32) for k in n], sigma or [np.ones(k, np.float32) for k in n],
                  [np.asarray(t, bool) for t in top1] if top1 else [np.ones(k, bool) for k in n])


def test_exact_memorization_and_extraction_strength_by_hand():
    s = _scored([[0.0] * 4, [0.0] * 4, [0.0] * 2], top1=[[1, 0, 1, 1], [1, 1, 1, 0], [1, 1]])
    np.testing.assert_allclose(basic.exact_memorization(s), [0.75, 0.75, 1.0])
    # first: argmax holds from position 2 on -> 1 - 2/4; second: the last token misses -> 0
    np.testing.assert_allclose(basic.extraction_strength(s), [0.5, 0.0, 1.0])


def test_min_k_and_min_k_plus_plus_by_hand():
    s = _scored([np.log([0.5, 0.25, 0.125, 0.125, 1.0])])
    # 20% of 5 tokens -> the lowest 1; 40% -> the lowest 2
    assert mia.mink_score(s, 0.2)[0] == pytest.approx(np.log(0.125))
    assert mia.mink_score(s, 0.4)[0] == pytest.approx(np.log(0.125))
    # a 3-token vocabulary with probabilities (0.5, 0.25, 0.25) at every position (cf. FixedLM)
    mu = 0.5 * math.log(0.5) + 0.5 * math.log(0.25)
    sd = math.sqrt(0.5 * (math.log(0.5) - mu) ** 2 + 0.5 * (math.log(0.25) - mu) ** 2)
    s = _scored([np.log([0.5, 0.25, 0.25, 0.5, 0.5])], mu=[np.full(5, mu, np.float32)], sigma=[np.full(5, sd, np.float32)])
    assert mia.minkpp_score(s, 0.2)[0] == pytest.approx((math.log(0.25) - mu) / sd, rel=1e-5)
    assert mia.minkpp_score(s, 0.4)[0] == pytest.approx((math.log(0.25) - mu) / sd, rel=1e-5)


def test_zlib_score_by_hand():
    import zlib
    s = _scored([np.log([0.5, 0.5])])
    text = "hello hello hello"
    assert mia.zlib_score(s, [text])[0] == pytest.approx(math.log(0.5) / len(zlib.compress(text.encode())))


def test_fast_auc_matches_scikit_learn_and_tpr_at_low_fpr():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 50).round(1), rng.normal(0, 1, 70).round(1)  # rounding makes ties
    assert mia.auc_fast(a, b) == pytest.approx(mia.auc(a, b), abs=1e-12)
    idx_a, idx_b = rng.integers(0, 50, (20, 50)), rng.integers(0, 70, (20, 70))  # bootstrap resamples
    counts = lambda idx, n: np.stack([np.bincount(row, minlength=n) for row in idx]).astype(float)  # noqa: E731
    np.testing.assert_allclose(mia.auc_weighted(a, b, counts(idx_a, 50), counts(idx_b, 70)),
                               [mia.auc_fast(a[i], b[j]) for i, j in zip(idx_a, idx_b)], rtol=0, atol=1e-12)
    # members 5, 4, 3; 100 non-members 3.5, 1, 0, 0, ...: at FPR 0 two members pass, at 1% all three
    assert mia.tpr_at_fpr(np.array([5.0, 4.0, 3.0]), np.r_[3.5, 1.0, np.zeros(98)], 0.009) == pytest.approx(2 / 3)
    assert mia.tpr_at_fpr(np.array([5.0, 4.0, 3.0]), np.r_[3.5, 1.0, np.zeros(98)], 0.01) == pytest.approx(1.0)
    # the stored ROC: members 3, 2; non-members 2.5, 1 -> (FPR, TPR) steps (0, 0.5), (0.5, 1), (1, 1)
    tpr = mia.roc_points(np.array([3.0, 2.0]), np.array([2.5, 1.0]), np.array([0.0, 0.25, 0.5, 0.99, 1.0]))
    np.testing.assert_array_equal(tpr, [0.5, 0.5, 1.0, 1.0, 1.0])
    assert mia.ROC_FPR[0] == 0.0 and mia.ROC_FPR[-1] == 1.0 and 0.001 in np.round(mia.ROC_FPR, 6)


class CharTok:
    """Offsets of a character-level tokenizer: token t = character t."""

    def __call__(self, texts, add_special_tokens=False, return_offsets_mapping=False):
        return {"offset_mapping": [[(i, i + 1) for i in range(len(t))] for t in texts]}


def test_pii_spans_greedy_and_probabilistic_extraction_by_hand():
    text = "Al: call 123. Bo: 123"
    spans = [{"type": "phone", "value": "123", "start": 9, "end": 12, "subject": "al"},
             {"type": "phone", "value": "123", "start": 18, "end": 21, "subject": "al"},  # repeated: copyable
             {"type": "phone", "value": "999", "start": 0, "end": 2, "subject": "bo"},  # about someone else
             {"type": "name", "value": "Al", "start": 0, "end": 2, "subject": "al"}]  # not a PII type here
    found = pii.pii_spans(CharTok(), [text], [spans], ["al"], max_length=64)
    assert found == [(0, 9, 12, "phone")]
    assert pii.pii_spans(CharTok(), [text], [spans], ["al"], max_length=12) == []  # truncated away
    top1 = np.ones(len(text) + 1, bool)
    logp = np.zeros(len(text) + 1, np.float32)
    logp[9:12] = np.log([0.5, 0.5, 0.5])
    s = _scored([logp], top1=[top1])
    assert pii.span_greedy(s, found)[0] == 1.0
    s.top1[0][10] = False
    assert pii.span_greedy(s, found)[0] == 0.0
    assert pii.span_logprob(s, found)[0] == pytest.approx(3 * math.log(0.5))
    # p_z = 1/8: with n = 5 samples, 1 - (7/8)^5 = 0.487 -> not at p 0.5; n = 6 -> 0.551, yes
    np.testing.assert_array_equal(pii.np_extractable(np.log([0.125]), 5, 0.5), [0.0])
    np.testing.assert_array_equal(pii.np_extractable(np.log([0.125]), 6, 0.5), [1.0])


def test_relative_metrics_by_hand():
    from scipy.stats import ks_2samp
    # truth ratios of three users (u1 asked twice): per user 0.1, 0.25, 0.3 under the model
    model = {"forget.truth_ratio": np.array([0.1, 0.2, 0.3, 0.3]), "forget.nll": np.array([1.0, 1.5]),
             "holdout.nll": np.array([2.0, 2.5]), "general.probe_correct": np.array([1.0, 0.0, 0.0])}
    users = {"forget.truth_ratio": np.array(["u0", "u1", "u1", "u2"]), "forget.nll": np.array(["u0", "u1"]),
             "holdout.nll": np.array(["h0", "h1"])}
    # two reference models: per user (0.8, 1.0), (0.9, 1.1), (1.2, 1.2) -> means 0.9, 1.0, 1.2
    ref = [({"forget.truth_ratio": np.array([0.8, 0.9, 0.9, 1.2])}, {"forget.mia_mink40_auc": 0.6}, users),
           ({"forget.truth_ratio": np.array([1.0, 1.1, 1.1, 1.2])}, {"forget.mia_mink40_auc": 0.4}, users)]
    base = {"forget.nll": np.array([3.0, 3.0]), "holdout.nll": np.array([2.5, 2.5]),
            "general.probe_correct": np.array([1.0, 1.0, 0.0])}
    metrics = {"forget.mia_mink40_auc": 0.9, "retain.nll": math.log(2.0), "retain.qa_accuracy": 0.25,
               "retain.qa_answer_prob": 0.01, "retain.verbatim_rougeL": 0.01}  # the last two: not utility (v2)
    ci_in = {"forget.mia_mink40_auc": [0.8, 0.95]}
    out, ci = relative.relative_metrics(model, metrics, ci_in, users, base, ref, 0, 50)
    # one-sided, per user: the model's ratios lie below every reference user's -> D+ = 1
    want = ks_2samp([0.1, 0.25, 0.3], [0.9, 1.0, 1.2], alternative="greater")
    assert out["forget_quality"] == pytest.approx(want.pvalue) and out["forget_quality_d"] == 1.0
    assert out["forget_quality_users"] == 3.0
    # MUSE: forget texts are the non-members, so AUC_MUSE = 1 - ours: (0.1 - 0.5) / 0.5 * 100 = -80
    assert out["privleak"] == pytest.approx(-80.0)
    assert ci["privleak"] == pytest.approx([(0.05 - 0.5) / 0.5 * 100, (0.2 - 0.5) / 0.5 * 100])
    # an untouched model (ours 0.998) against a retrain at 0.5 is near -100, as in MUSE
    assert relative.privleak(0.998, None, [0.5])[0] == pytest.approx(-99.6)
    # reference scores: forget 2.0, 1.5 vs holdout 0.5, 0.0 -> perfectly separated
    assert out["forget.mia_ref_auc"] == pytest.approx(1.0)
    assert out["utility.general_accuracy"] == pytest.approx(0.5)  # probes the base got right: 1 of 2
    # harmonic mean of retain QA accuracy 0.25, exp(-ln 2) = 0.5 and general accuracy 0.5: 3 / (4 + 2 + 2)
    assert out["utility.model_utility"] == pytest.approx(3 / 8)
    # the other direction: a model that forgot more than the reference is no evidence of memorization
    high = relative.forget_quality({"u0": 2.0, "u1": 2.1}, [{"u0": 1.0, "u1": 1.1}])
    assert high["forget_quality"] == pytest.approx(1.0) and high["forget_quality_d"] == 0.0
