"""lmdist.exact.largedev: CGF, rate function, exact lattice tails, Bahadur-Rao, the memoryless tilt."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from lmdist.exact import align, tilting
from lmdist.exact import infotheory as it
from lmdist.exact import largedev as ld

FAST = settings(max_examples=40, deadline=None)

probs = st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3).map(lambda w: np.log(np.array(w) / sum(w)))


@FAST
@given(probs, st.floats(0.05, 0.95))
def test_rate_function_is_legendre_and_kl_of_the_tilt(lp, frac):
    r = np.array([0.0, 1.0, 2.0])
    mean = float(np.exp(lp) @ r)
    x = mean + frac * (2.0 - mean)
    lam = ld.legendre_lambda(lp, r, x)
    i = ld.rate_function(lp, r, x)
    assert tilting.tilted_mean(lp, r, lam) == pytest.approx(x, abs=1e-10)
    assert i == pytest.approx(it.kl(tilting.tilt(lp, r, lam), lp), abs=1e-10)
    # sup over a grid of lambda never exceeds I(x), and the root attains it
    grid = np.linspace(-5, 5 + 2 * lam, 401)
    assert (grid * x - tilting.cgf(lp, r, grid)).max() <= i + 1e-10
    assert ld.rate_function(lp, r, mean) == pytest.approx(0.0, abs=1e-12)
    assert ld.rate_function(lp, r, 2.0) == pytest.approx(-lp[2])
    assert ld.rate_function(lp, r, 2.5) == math.inf


@FAST
@given(st.floats(0.02, 0.98), st.floats(0.01, 0.99))
def test_two_token_rate_is_binary_kl(p1, theta):
    lp = np.log([1 - p1, p1])
    r = np.array([-1.0, 2.0])
    x = -1.0 + 3.0 * theta
    assert ld.rate_function(lp, r, x) == pytest.approx(ld.binary_rate_function(p1, -1.0, 2.0, x), abs=1e-9)


def test_sum_distribution_is_binomial_and_chernoff_holds():
    lp, r = np.log([0.7, 0.3]), np.array([0.0, 1.0])
    d = ld.sum_distribution(lp, r, [10, 400])
    assert np.allclose(d[400], binom.logpmf(np.arange(401), 400, 0.3), atol=1e-9)
    a, h, _ = ld.lattice(r)
    for n in (10, 400):
        for x in (0.35, 0.5, 0.9, 1.0):
            tail = ld.log_tail(d[n], a, h, n, x)
            assert tail == pytest.approx(binom.logsf(math.ceil(n * x - 1e-9) - 1, n, 0.3), abs=1e-8)
            assert -tail / n >= ld.rate_function(lp, r, x) - 1e-12       # Chernoff, every n
    assert ld.log_tail(d[400], a, h, 400, 1.0) == pytest.approx(400 * math.log(0.3), abs=1e-8)


def test_bahadur_rao_is_accurate_to_order_one_over_n():
    lp, r = np.log([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    d = ld.sum_distribution(lp, r, [64, 1024])
    a, h, _ = ld.lattice(r)
    errs = [abs(-ld.log_tail(d[n], a, h, n, 1.5) - n * ld.bahadur_rao(lp, r, 1.5, n)) for n in (64, 1024)]
    assert errs[1] < errs[0] / 8 and errs[1] < 1e-3


def test_lattice_and_product_space():
    a, h, k = ld.lattice(np.array([0.5, 1.25, 2.0]))
    assert (a, h) == (0.5, pytest.approx(0.75)) and list(k) == [0, 1, 2]
    with pytest.raises(ValueError, match="lattice"):
        ld.lattice(np.array([0.0, 1.0, math.sqrt(2)]))
    lp, r = np.log([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    lpn, rn = ld.product_space(lp, r, 3)
    assert len(lpn) == 27 and abs(np.logaddexp.reduce(lpn)) < 1e-12
    # the KL-regularised policy of a memoryless model is the per-token tilt
    beta = 0.8
    per = ld.product_space(align.gibbs(lp, r, beta), r, 3)[0]
    assert np.allclose(align.gibbs(lpn, rn, beta), per, atol=1e-12)


@FAST
@given(probs, st.floats(-3, 3))
def test_cgf_is_renyi_cross_entropy(lp, lam):
    r = np.array([0.3, -1.0, 2.0])
    q = it.normalize(r)
    c = float(np.logaddexp.reduce(r))
    rhs = lam * c - lam * ld.renyi_cross_entropy(lp, q, 1 + lam) if lam != 0 else 0.0
    assert tilting.cgf(lp, r, lam) == pytest.approx(rhs, abs=1e-10)
    assert ld.renyi_cross_entropy(lp, q, 1.0) == pytest.approx(it.cross_entropy(lp, q))


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="logp"):
        tilting.cgf(np.log([0.5, 0.6]), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="r must"):
        tilting.cgf(np.log([0.5, 0.5]), np.array([0.0, np.inf]), 1.0)
    with pytest.raises(ValueError, match="x ="):
        ld.legendre_lambda(np.log([0.5, 0.5]), np.array([0.0, 1.0]), 2.0)
    with pytest.raises(ValueError, match="p1"):
        ld.binary_rate_function(1.5, 0.0, 1.0, 0.5)
