"""lmdist.exact.typicality: information moments, Renyi entropies, Chebyshev and Chernoff bounds, the exact law of the
corpus average, the typicality filter and the log-log tail of infinite entropy."""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import binom, norm

from lmdist.exact import infotheory as it
from lmdist.exact import largedev as ld
from lmdist.exact import typicality as ty

FAST = settings(max_examples=40, deadline=None)

probs = st.lists(st.floats(0.02, 1.0), min_size=2, max_size=4).map(lambda w: np.log(np.array(w) / sum(w)))


def test_moments_match_definitions():
    lq = np.log([0.5, 0.25, 0.25])
    h, v, rho = ty.moments(lq)
    i = -lq
    p = np.exp(lq)
    assert h == pytest.approx(it.entropy(lq))
    assert v == pytest.approx(p @ (i - h) ** 2)
    assert rho == pytest.approx(p @ np.abs(i - h) ** 3)
    assert ty.varentropy(np.log([0.25] * 4)) == pytest.approx(0.0, abs=1e-15)
    # zeros are off the support
    h0, v0, _ = ty.moments(np.array([np.log(0.5), -np.inf, np.log(0.5)]))
    assert (h0, v0) == pytest.approx((math.log(2), 0.0))


@FAST
@given(probs, st.floats(-4, 4))
def test_cgf_is_lambda_times_renyi(lq, lam):
    if abs(lam) < 1e-9:
        lam = 0.5
    assert ty.information_cgf(lq, lam) == pytest.approx(lam * it.renyi_entropy(lq, 1 - lam), abs=1e-10)
    assert it.renyi_entropy(lq, 1 - lam) == pytest.approx(ld.renyi_cross_entropy(lq, lq, 1 - lam), abs=1e-10)


def test_renyi_entropy_special_orders_and_monotone():
    lq = np.log([0.6, 0.3, 0.1])
    assert it.renyi_entropy(lq, 1.0) == pytest.approx(it.entropy(lq))
    assert it.renyi_entropy(lq, 0.0) == pytest.approx(math.log(3))
    assert it.renyi_entropy(lq, np.inf) == pytest.approx(-math.log(0.6))
    assert it.renyi_entropy(lq, -np.inf) == pytest.approx(-math.log(0.1))
    orders = np.linspace(-5, 5, 101)
    assert np.all(np.diff(it.renyi_entropy(lq, orders)) <= 1e-12)
    with pytest.raises(ValueError, match="order"):
        it.renyi_entropy(lq, float("nan"))


@FAST
@given(probs, st.floats(0.01, 2.0), st.integers(1, 40))
@example(np.log(np.array([1, 1 + 1e-16, 1 - 2e-16]) / 3), 1.0, 1)  # V ~ 1e-32: found by hypothesis in CI
def test_bounds_dominate_the_exact_probability(lq, eps_sd, n):
    # eps in standard deviations of I, but never below 1e-8: a nearly uniform q has V ~ 1e-32 and then
    # eps would sit below the float resolution (~1e-15 H) of A_n - H, where "exact" is rounding noise.
    eps = eps_sd * max(math.sqrt(ty.varentropy(lq)), 1e-6)
    up, lo, both = ty.exact_atypicality(lq, n, eps, closed=True)
    i_up, i_lo = ty.chernoff_exponents(lq, eps)
    assert both <= math.log(max(ty.chebyshev_bound(lq, n, eps), 1e-300)) + 1e-9
    assert up <= -n * i_up + 1e-9 and lo <= -n * i_lo + 1e-9
    assert both <= ty.log_chernoff_bound(lq, n, eps) + 1e-9


def test_exact_law_is_a_distribution_with_mean_h_and_variance_v_over_n():
    lq = np.log([0.5, 0.3, 0.2])
    h, v, _ = ty.moments(lq)
    vals, logp = ty.average_information_law(lq, 25)
    p = np.exp(logp)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert p @ vals == pytest.approx(h, abs=1e-12)
    assert p @ (vals - h) ** 2 == pytest.approx(v / 25, abs=1e-12)


def test_exact_atypicality_binary_equals_binomial_tail():
    theta, n = 0.3, 50
    lq = np.log([theta, 1 - theta])
    h = ty.moments(lq)[0]
    d = abs(math.log((1 - theta) / theta))
    eps = 0.13
    # A_n - H = (K/n - theta) * (I_1 - I_2), K ~ Bin(n, theta) first outcomes
    k = np.arange(n + 1)
    dev = (k / n - theta) * d
    exact = binom.pmf(k, n, theta)[np.abs(dev) > eps].sum()
    assert math.exp(ty.exact_atypicality(lq, n, eps)[2]) == pytest.approx(exact, rel=1e-10)
    assert h == pytest.approx(it.entropy(lq))


def test_exact_atypicality_tolerance_never_exceeds_eps():
    # a nearly deterministic q with eps far below the largest information content: nothing is atypical upward
    lq = it.normalize(np.log(np.array([1.0, 1.3e-23])))
    h, v, _ = ty.moments(lq)
    eps = 1.7e-11
    up, lo, both = ty.exact_atypicality(lq, 3, eps, closed=True)
    assert lo == -math.inf
    assert up == pytest.approx(math.log(3) + lq[1], rel=1e-9)
    assert both <= math.log(ty.chebyshev_bound(lq, 3, eps)) + 1e-12


def test_compositions_count_and_sum():
    c = ty.compositions(7, 3)
    assert c.shape == (math.comb(9, 2), 3)
    assert (c.sum(1) == 7).all() and (c >= 0).all()
    assert len({tuple(r) for r in c}) == len(c)
    with pytest.raises(ValueError, match="MAX_COMPOSITIONS"):
        ty.compositions(10**6, 4)


def test_chernoff_exponent_quadratic_for_small_eps_and_infinite_outside_range():
    lq = np.log([0.5, 0.3, 0.2])
    h, v, _ = ty.moments(lq)
    up, lo = ty.chernoff_exponents(lq, 1e-3)
    assert up == pytest.approx(1e-6 / (2 * v), rel=1e-2)
    assert lo == pytest.approx(1e-6 / (2 * v), rel=1e-2)
    up, lo = ty.chernoff_exponents(lq, 10.0)
    assert up == math.inf and lo == math.inf
    assert ty.log_chernoff_bound(lq, 5, 10.0) == -math.inf


def test_clt_and_berry_esseen():
    lq = np.log([0.5, 0.3, 0.2])
    assert ty.clt_atypicality(lq, 100, 0.1) == pytest.approx(2 * norm.sf(0.1 * math.sqrt(100 / ty.varentropy(lq))))
    exact = math.exp(ty.exact_atypicality(lq, 400, 0.02)[2])
    assert abs(exact - ty.clt_atypicality(lq, 400, 0.02)) <= ty.berry_esseen_halfwidth(lq, 400)
    assert ty.clt_atypicality(np.log([0.5, 0.5]), 10, 0.1) == 0.0


def test_validation_names_parameters():
    lq = np.log([0.5, 0.5])
    with pytest.raises(ValueError, match="n"):
        ty.chebyshev_bound(lq, 0, 0.1)
    with pytest.raises(ValueError, match="eps"):
        ty.chebyshev_bound(lq, 5, -1.0)
    with pytest.raises(ValueError, match="logq"):
        ty.moments(np.log([0.5, 0.6]))
    with pytest.raises(ValueError, match="size"):
        ty.corpus_averages(np.random.default_rng(0), lq, 5, 0)


def test_corpus_averages_have_the_right_mean():
    lq = np.log([0.5, 0.3, 0.2])
    h, v, _ = ty.moments(lq)
    a = ty.corpus_averages(np.random.default_rng(1), lq, 50, 20000)
    assert abs(a.mean() - h) < 6 * math.sqrt(v / 50 / 20000)


def test_typical_is_the_closed_band_around_the_entropy():
    # |A - H| <= eps: inside and on the band typical, outside not
    avg = np.array([1.0, 1.0005, 0.9995, 1.002, 0.998])
    assert ty.typical(avg, 1.0, 1e-3).tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="eps"):
        ty.typical(np.zeros(2), 0.0, 0.0)


def test_loglog_mass_tail_and_sampler():
    n = np.arange(2, 100001, dtype=float)
    assert np.exp(ty.loglog_logq(n)).sum() == pytest.approx(1 - math.log(2) / math.log(100001), abs=1e-12)
    assert ty.loglog_tail(2) == pytest.approx(1.0)
    logy = ty.loglog_sample_log(np.random.default_rng(0), 200000)
    assert (logy >= math.log(2) - 1e-12).all()
    for n0 in (3, 100, 10**6):
        freq = np.mean(logy >= math.log(n0) - 1e-12)
        p = ty.loglog_tail(n0)
        assert abs(freq - p) < 6 * math.sqrt(p * (1 - p) / len(logy))


def test_loglog_information_is_continuous_across_the_switch():
    ys = np.array([2.0, 3.0, 1e6, math.exp(35.9)])
    exact = -ty.loglog_logq(np.floor(ys))
    assert ty.loglog_information(np.log(np.floor(ys))) == pytest.approx(exact, rel=1e-12)
    L = np.array([35.999999, 36.000001])
    i = ty.loglog_information(L)
    assert i[1] - i[0] == pytest.approx(2e-6 * (1 + 2 / 36), rel=1e-3)


def test_loglog_truncated_entropies_increase_and_match_direct_sum():
    ks = [10, 1000, 5000]
    h = ty.loglog_truncated_entropies(ks, chunk=777)
    assert np.all(np.diff(h) > 0)
    n = np.arange(2, 1001, dtype=float)
    lq = it.normalize(ty.loglog_logq(n))
    assert h[1] == pytest.approx(it.entropy(lq), rel=1e-12)


def test_loglog_drift_bound_holds_on_simulation():
    rng = np.random.default_rng(3)
    n, m = 1000, 400
    a = ty.loglog_information(ty.loglog_sample_log(rng, (m, n)).ravel()).reshape(m, n).mean(1)
    # P(A_n < b_n(s)) <= e^{-s^2/4}: with s = 4, at most e^-4 = 1.8 %; allow a generous margin
    assert np.mean(a < ty.loglog_drift_bound(n, 4.0)) <= 0.1
    with pytest.raises(ValueError, match="s must"):
        ty.loglog_drift_bound(10, 0.0)
