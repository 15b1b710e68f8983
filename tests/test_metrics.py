"""Metrics against hand-computed cases, and the scoring pass's batching parity."""
import math

import numpy as np
import pytest
import torch
from helpers import random_tokens, tiny_lm

from unlearn.data import TokenData
from unlearn.metrics import basic, mia
from unlearn.metrics.evaluate import compute_metrics
from unlearn.metrics.scoring import Scored, score


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


def test_nll_ppl_and_loss_score_by_hand():
    scored = Scored([np.log([0.5, 0.25]), np.log([0.125])], [np.zeros(2), np.zeros(1)], [np.zeros(2), np.zeros(1)])
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
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_npz_round_trip_and_metric_keys():
    model = tiny_lm()
    scored = {s: score(model, random_tokens(6, i), 4) for i, s in enumerate(("forget", "retain", "holdout"))}
    back = Scored.from_npz(scored["forget"].to_npz())
    for a, b in zip(back.logprobs, scored["forget"].logprobs):
        np.testing.assert_array_equal(a, b)
    metrics, ci, arrays = compute_metrics(scored, seed=0)
    assert {"forget.nll", "retain.ppl", "holdout.loss_score", "forget.mia_loss_auc", "retain.mia_loss_auc"} <= set(metrics)
    assert ci["forget.nll"][0] <= metrics["forget.nll"] <= ci["forget.nll"][1]
    expected = mia.auc(arrays["forget"]["loss_score"], arrays["holdout"]["loss_score"])
    assert metrics["forget.mia_loss_auc"] == pytest.approx(expected)
    assert compute_metrics(scored, seed=0)[1] == ci  # seeded bootstrap
