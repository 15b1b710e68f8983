"""Statistics shared by the evaluation (intervals) and the verdict (tests), with users as the unit.

- Cluster bootstrap (Davison & Hinkley 1997, §3.8; Field & Welsh 2007): texts, questions and
  values of one user are not independent draws, so a resample draws *users* with replacement
  and keeps each drawn user's items together. `cluster_weights` gives, per resample and item,
  how often the item's user was drawn; a mean is then (W x) / (W 1).
- Intervals over seeds that stay inside a metric's range: Student t on a scale that maps the
  range to the real line (logit for a bounded metric such as an AUC or a rate, log for a
  half-bounded one such as an NLL), then mapped back. Values on the boundary are moved inside
  by 1e-4 of the range (or 1e-4 of one unit) first.
- Holm's step-down correction (Holm 1979, Scand. J. Statist. 6:65-70): the i-th smallest of m
  p-values is adjusted to max over j <= i of min(1, (m - j + 1) p_(j)).
- Fisher's combination of one-sided p-values (Fisher 1932): X = -2 sum ln p_s ~ chi2 with 2S
  degrees of freedom; a seed pointing the other way has p near 1 and adds nothing.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

EDGE = 1e-4  # how far a boundary value is moved inside the range before a logit or log


def cluster_weights(users, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot, n_items) multiplicities: each row resamples the distinct users of `users` (one
    id per item) with replacement; an item counts as often as its user was drawn."""
    _, index = np.unique(np.asarray(users), return_inverse=True)
    n_users = index.max() + 1 if len(index) else 0
    draws = rng.integers(0, n_users, (n_boot, n_users))  # (B, U)
    counts = np.stack([np.bincount(row, minlength=n_users) for row in draws])  # (B, U)
    return counts[:, index].astype(float)


def item_weights(n_items: int, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """(n_boot, n_items) multiplicities of the plain (item) bootstrap."""
    draws = rng.integers(0, n_items, (n_boot, n_items))
    return np.stack([np.bincount(row, minlength=n_items) for row in draws]).astype(float)


def weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of `weights` (B, n): the weighted mean of `values` (n,)."""
    return (weights @ values) / np.maximum(weights.sum(1), 1e-300)


def percentile_interval(values, level: float = 0.95) -> list[float]:
    lo, hi = np.percentile(np.asarray(values, dtype=float), [50 * (1 - level), 50 * (1 + level)])
    return [float(lo), float(hi)]


def _to_line(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if math.isfinite(lo) and math.isfinite(hi):
        u = np.clip((x - lo) / (hi - lo), EDGE, 1 - EDGE)
        return np.log(u / (1 - u))
    if math.isfinite(lo):
        return np.log(np.maximum(x - lo, EDGE))
    if math.isfinite(hi):
        return np.log(np.maximum(hi - x, EDGE))
    return x


def _from_line(y: float, lo: float, hi: float) -> float:
    if math.isfinite(lo) and math.isfinite(hi):
        return lo + (hi - lo) / (1 + math.exp(-y))
    if math.isfinite(lo):
        return lo + math.exp(y)
    if math.isfinite(hi):
        return hi - math.exp(y)
    return y


def t_interval(values, bounds: tuple[float, float] = (-math.inf, math.inf), level: float = 0.95) -> list[float]:
    """Student-t interval of the mean of `values` (one per seed), computed on the scale that maps
    `bounds` to the real line and mapped back: it never leaves the range and always holds the mean.
    Equal values: a point."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or np.all(x == x[0]):
        return [float(x.mean()), float(x.mean())]
    lo, hi = bounds
    y = _to_line(x, lo, hi)
    half = float(stats.t.ppf(0.5 + level / 2, len(y) - 1) * stats.sem(y))
    ends = sorted(_from_line(float(y.mean()) + s * half, lo, hi) for s in (-1, 1))
    # values at a bound are clipped on the transformed scale, so the ends can miss a mean at (or a
    # hair from) that bound, e.g. AUCs 1, 1, 1 - 1e-8: the interval always holds the mean
    mean = float(x.mean())
    return [min(max(ends[0], lo), mean), max(min(ends[1], hi), mean)]


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def fisher(pvalues: list[float]) -> float:
    """Fisher's combined p-value of independent one-sided p-values."""
    if len(pvalues) == 1:
        return float(pvalues[0])
    clipped = [min(max(p, 1e-300), 1.0) for p in pvalues]
    return float(stats.combine_pvalues(clipped, method="fisher").pvalue)


def abs_nct_cdf(c: float, df: int, psi: float, nodes: int = 200) -> float:
    """P(|T| ≤ c) for T noncentral t with df degrees of freedom and noncentrality psi:
    T = (Z + psi) / √(V/df), so P = E_V[Φ(c√(V/df) − psi) − Φ(−c√(V/df) − psi)], V ~ χ²(df).
    With V = 2y² the expectation is ∫ g(y) 2 y^(df−1) e^(−y²) / Γ(df/2) dy over y ≥ 0, a smooth
    integrand, taken by Gauss–Legendre quadrature up to where the χ² tail is below 1e-16. scipy's
    nct.cdf agrees to 1e-9 where it gives a number, but returns NaN far in the tails, where
    equivalence tests live, and is 30 times slower."""
    from scipy.special import chdtri, gammaln, ndtr

    top = math.sqrt(chdtri(df, 1e-16) / 2)
    t, w = _LEGENDRE[nodes] if nodes in _LEGENDRE else _LEGENDRE.setdefault(nodes, np.polynomial.legendre.leggauss(nodes))
    y, w = (t + 1) * top / 2, w * top / 2
    s = c * y * math.sqrt(2 / df)
    density = 2 * np.exp((df - 1) * np.log(np.maximum(y, 1e-300)) - y * y - gammaln(df / 2))
    inner = ndtr(s - psi) - ndtr(-s - psi)
    return float(min(max((w * density * inner).sum(), 0.0), 1.0))


_LEGENDRE: dict = {}  # nodes -> Gauss–Legendre points and weights, computed once
