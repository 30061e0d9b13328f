"""lmdist.exact.infotheory: divergences in log space, with zeros handled exactly."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from lmdist.exact import infotheory as it

FAST = settings(max_examples=60, deadline=None)


def log(x):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(x, dtype=float))


@st.composite
def logprobs(draw, size=None, zeros=True):
    """A normalized log-probability vector, sometimes with zeros (-inf), logits over 40 nats."""
    k = size if size is not None else draw(st.integers(1, 12))
    logits = np.array(draw(st.lists(st.floats(-20, 20), min_size=k, max_size=k)))
    if zeros:
        mask = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
        if mask.all():
            mask[draw(st.integers(0, k - 1))] = False
        logits = np.where(mask, -np.inf, logits)
    return it.normalize(logits)


@st.composite
def pairs(draw, zeros=True):
    k = draw(st.integers(1, 12))
    return draw(logprobs(k, zeros)), draw(logprobs(k, zeros))


def test_normalize():
    lw = np.array([0.0, np.log(3.0), -np.inf])
    np.testing.assert_allclose(np.exp(it.normalize(lw)), [0.25, 0.75, 0.0])
    with pytest.raises(ValueError, match="-inf everywhere"):
        it.normalize(np.full(3, -np.inf))
    with pytest.raises(ValueError, match=r"\+inf"):
        it.normalize(np.array([0.0, np.inf]))


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="not normalized"):
        it.entropy(log([0.5, 0.6]))
    with pytest.raises(ValueError, match="NaN"):
        it.kl(np.array([0.0, np.nan]), log([0.5, 0.5]))
    with pytest.raises(ValueError, match="support size"):
        it.kl(log([0.5, 0.5]), log([1 / 3] * 3))
    with pytest.raises(ValueError, match="order"):
        it.renyi(log([0.5, 0.5]), log([0.5, 0.5]), 0.0)


@FAST
@given(logprobs())
def test_entropy_matches_scipy_and_bounds(lp):
    p = np.exp(lp)
    h = it.entropy(lp)
    assert math.isclose(h, scipy.stats.entropy(p), rel_tol=1e-9, abs_tol=1e-12)
    assert -1e-12 <= h <= math.log((p > 0).sum()) + 1e-9


@FAST
@given(pairs())
def test_kl_matches_scipy_and_is_nonnegative(pq):
    lp, lq = pq
    p, q = np.exp(lp), np.exp(lq)
    d = it.kl(lp, lq)
    ref = scipy.stats.entropy(p, q)
    assert d >= 0
    if math.isinf(ref):
        assert math.isinf(d)
    else:
        assert math.isclose(d, ref, rel_tol=1e-7, abs_tol=1e-9)
    # cross entropy = entropy + KL, both infinite together
    ce = it.cross_entropy(lp, lq)
    assert math.isinf(ce) == math.isinf(d)
    if math.isfinite(d):
        assert math.isclose(ce, it.entropy(lp) + d, rel_tol=1e-9, abs_tol=1e-9)
    assert it.kl(lp, lp) == 0.0


def test_kl_support_mismatch_is_infinite_and_zeros_of_p_are_free():
    p = log([0.5, 0.5, 0.0])
    q = log([0.25, 0.25, 0.5])
    assert math.isclose(it.kl(p, q), math.log(2))
    assert it.kl(q, p) == math.inf
    assert it.cross_entropy(q, p) == math.inf


def test_kl_of_far_apart_distributions_does_not_overflow():
    lp = it.normalize(np.array([0.0, -2000.0]))
    lq = it.normalize(np.array([-2000.0, 0.0]))
    d = it.kl(lp, lq)
    assert math.isfinite(d) and math.isclose(d, 2000.0, rel_tol=1e-12)


@FAST
@given(pairs())
def test_tvd_and_pinsker(pq):
    lp, lq = pq
    t = it.tvd(lp, lq)
    assert 0 <= t <= 1
    assert math.isclose(t, 0.5 * np.abs(np.exp(lp) - np.exp(lq)).sum(), abs_tol=1e-12)
    d = it.kl(lp, lq)
    assert t <= math.sqrt(d / 2) + 1e-9  # Pinsker's inequality


@FAST
@given(pairs(), st.floats(0.05, 20))
def test_renyi_formula_and_monotone_in_order(pq, alpha):
    lp, lq = pq
    p, q = np.exp(lp), np.exp(lq)
    d = it.renyi(lp, lq, alpha)
    assert d >= 0
    if alpha != 1:
        on = (p > 0) & (q > 0)
        miss = ((p > 0) & (q == 0)).any()
        if alpha > 1 and miss or not on.any():
            assert d == math.inf
        else:
            s = logsumexp(alpha * lp[on] + (1 - alpha) * lq[on])
            assert math.isclose(d, max(s / (alpha - 1), 0.0), rel_tol=1e-9, abs_tol=1e-9)
    # D_α is non-decreasing in α, and D_∞ bounds them all
    d2 = it.renyi(lp, lq, alpha * 1.5)
    dinf = it.renyi(lp, lq, math.inf)
    assert math.isinf(d2) or d2 >= d - 1e-9 * (1 + abs(d))
    assert math.isinf(dinf) or dinf >= d2 - 1e-9 * (1 + abs(d2))


@FAST
@given(pairs(zeros=False))
def test_renyi_tends_to_kl_at_order_one(pq):
    lp, lq = pq
    d = it.kl(lp, lq)
    assert it.renyi(lp, lq, 1.0) == d
    for a in (1 - 1e-5, 1 + 1e-5):
        assert math.isclose(it.renyi(lp, lq, a), d, rel_tol=1e-3, abs_tol=1e-6)


def test_renyi_special_orders():
    lp, lq = log([0.5, 0.5, 0.0]), log([0.25, 0.25, 0.5])
    assert math.isclose(it.renyi(lp, lq, math.inf), math.log(2))
    assert math.isclose(it.renyi(lp, lq, 2.0), math.log((0.25 / 0.25) * 2))
    # disjoint supports: every order is infinite
    a, b = log([1.0, 0.0]), log([0.0, 1.0])
    assert all(it.renyi(a, b, o) == math.inf for o in (0.3, 1.0, 2.0, math.inf))


def test_batched_rows_equal_separate_calls():
    rng = np.random.default_rng(0)
    lp = it.normalize(rng.normal(size=(4, 5)) * 3)
    lq = it.normalize(rng.normal(size=(4, 5)) * 3)
    for f in (it.kl, it.tvd, it.cross_entropy):
        np.testing.assert_allclose(f(lp, lq), [f(a, b) for a, b in zip(lp, lq)])
    np.testing.assert_allclose(it.renyi(lp, lq, 0.5), [it.renyi(a, b, 0.5) for a, b in zip(lp, lq)])
    np.testing.assert_allclose(it.entropy(lp), [it.entropy(a) for a in lp])


def test_renyi_entropy_rows_and_order_arrays():
    """One Rényi entropy serves rows of next-token tables (chapter 07) and grids of orders (chapter 05)."""
    rows = np.log(np.array([[0.5, 0.5, 1e-300], [0.6, 0.3, 0.1]]))
    rows[0, 2] = -np.inf  # a token outside the support
    orders = np.array([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, np.inf])
    h = it.renyi_entropy(rows, orders)
    assert h.shape == (7, 2)
    np.testing.assert_allclose(h[:, 0], np.log(2), atol=1e-12)  # uniform on its support: every order
    p = np.array([0.6, 0.3, 0.1])
    direct = [-np.log(0.1), np.log(np.sum(p ** -1.0)) / 2, np.log(3), np.log(np.sum(p ** 0.5)) / 0.5,
              -np.sum(p * np.log(p)), -np.log(np.sum(p ** 2)), -np.log(0.6)]
    np.testing.assert_allclose(h[:, 1], direct, rtol=1e-12)
    assert np.all(np.diff(h[:, 1]) < 0)  # strictly decreasing for a non-uniform p
    assert it.renyi_entropy(rows[1], 2.0) == pytest.approx(direct[5])
    with pytest.raises(ValueError, match="order"):
        it.renyi_entropy(rows, float("nan"))


def test_tvd_of_probabilities_equals_tvd_of_logs():
    rng = np.random.default_rng(5)
    p, q = rng.dirichlet(np.ones(6), size=4), rng.dirichlet(np.ones(6))
    p[0, :2] = [0.0, p[0, 0] + p[0, 1]]
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(it.tvd(p, q, log=False), it.tvd(np.log(p), np.log(q)), atol=1e-15)
    assert it.tvd(p[1], q, log=False) == 0.5 * np.abs(p[1] - q).sum()
    with pytest.raises(ValueError, match="not normalized"):
        it.tvd(np.array([0.5, 0.6]), np.array([0.5, 0.5]), log=False)
    with pytest.raises(ValueError, match="probabilities"):
        it.tvd(np.array([1.5, -0.5]), np.array([0.5, 0.5]), log=False)
