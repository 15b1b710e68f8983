"""Statistics by hand: Holm, Fisher, the noncentral-t probability behind equivalence, intervals
that stay in range, and the cluster bootstrap with users as the unit."""
import math

import numpy as np
import pytest
from scipy import stats as sp

from unlearn.metrics import mia
from unlearn.metrics.evaluate import summarize
from unlearn.stats import abs_nct_cdf, cluster_weights, fisher, holm, t_interval


def test_holm_gives_the_textbook_adjusted_p_values():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4·0.005, 3·0.01, max(2·0.03, ...), max(1·0.04, 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([0.2]) == [0.2]


def test_fisher_combines_one_sided_p_values_and_a_seed_the_other_way_adds_nothing():
    # X = -2 ln(0.1^3) on 6 degrees of freedom: survival e^{-X/2}(1 + X/2 + (X/2)^2/2), X/2 = 3 ln 10
    half = 3 * math.log(10)
    assert fisher([0.1, 0.1, 0.1]) == pytest.approx(math.exp(-half) * (1 + half + half ** 2 / 2))
    assert fisher([0.01, 1.0]) == pytest.approx(sp.chi2.sf(-2 * math.log(0.01), 4))
    assert fisher([0.3]) == 0.3


def test_probability_of_a_noncentral_t_within_bounds_matches_scipy_and_survives_its_tails():
    for df, psi, c in ((1, 0.0, 1.0), (2, 2.0, 1.5), (6, 7.35, 4.7), (9, 3.0, 0.2), (60, 12.0, 11.0)):
        want = sp.nct.cdf(c, df, psi) - sp.nct.cdf(-c, df, psi)
        assert abs_nct_cdf(c, df, psi) == pytest.approx(want, abs=1e-9)
    assert abs_nct_cdf(1.0, 1, 0.0) == pytest.approx(0.5)  # Cauchy: P(|T| <= 1) = 1/2
    tiny = abs_nct_cdf(0.5, 6, 30.0)  # where scipy's nct.cdf gives NaN or 0
    assert 0.0 <= tiny < 1e-100


def test_t_interval_stays_inside_the_range_and_is_plain_student_t_when_unbounded():
    aucs = [0.996, 1.0, 0.997]  # a plain t interval would run past 1
    lo, hi = t_interval(aucs, (0.0, 1.0))
    assert 0.0 <= lo <= np.mean(aucs) <= hi <= 1.0
    lo, hi = t_interval([0.0, 0.0, 0.01], (0.0, 1.0))
    assert lo >= 0.0 and hi <= 1.0
    assert t_interval([-5.0, 40.0, 189.0], (-100.0, math.inf))[0] >= -100.0  # PrivLeak's floor
    x = [1.0, 2.0, 4.0]
    half = sp.t.ppf(0.975, 2) * sp.sem(x)
    assert t_interval(x) == pytest.approx([np.mean(x) - half, np.mean(x) + half])
    assert t_interval([0.3, 0.3], (0.0, 1.0)) == [0.3, 0.3]
    at_bound = [1.0, 1.0, 1.0 - 1e-8]  # clipped on the logit scale: the ends alone would miss the mean
    lo, hi = t_interval(at_bound, (0.0, 1.0))
    assert lo <= np.mean(at_bound) <= hi <= 1.0


def test_cluster_weights_keep_each_users_items_together():
    users = np.array(["a", "a", "b", "c", "c", "c"])
    w = cluster_weights(users, np.random.default_rng(0), 50)
    assert w.shape == (50, 6)
    for row in w:
        assert row[0] == row[1] and row[3] == row[4] == row[5]  # one user's items drawn together
        assert row[[0, 2, 3]].sum() == 3  # three users drawn per resample


def test_cluster_bootstrap_is_wider_than_the_text_bootstrap_when_one_user_holds_the_signal():
    # 5 users x 10 texts; only user u0's texts are extracted: by text 50 draws, by user 5
    values = np.r_[np.ones(10), np.zeros(40)]
    users = np.repeat([f"u{i}" for i in range(5)], 10)
    arrays = {"forget.pii_extraction": values}
    _, by_text = summarize(arrays, seed=0, n_boot=2000)
    _, by_user = summarize(arrays, seed=0, n_boot=2000, users={"forget.pii_extraction": users})
    width = lambda ci: ci["forget.pii_extraction"][1] - ci["forget.pii_extraction"][0]  # noqa: E731
    assert width(by_user) > 2 * width(by_text)
    assert by_user["forget.pii_extraction"][0] == 0.0  # a resample without u0 extracts nothing
    # the AUC's interval resamples users of both groups and stays a probability
    members, nonmembers = np.r_[np.full(10, 3.0), np.zeros(40)], np.zeros(30) - 1
    w_m = cluster_weights(users, np.random.default_rng(1), 200)
    w_n = cluster_weights(np.repeat(["h0", "h1", "h2"], 10), np.random.default_rng(2), 200)
    aucs = mia.auc_weighted(members, nonmembers, w_m, w_n)
    assert np.all((0 <= aucs) & (aucs <= 1))
    assert mia.auc_weighted(members, nonmembers, np.ones((1, 50)), np.ones((1, 30)))[0] == pytest.approx(
        mia.auc(members, nonmembers))
