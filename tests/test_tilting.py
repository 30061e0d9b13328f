"""lmdist.exact.tilting: the exponential tilt q_λ ∝ p e^{λ r}, its CGF, mean and variance."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from lmdist.exact import infotheory as it
from lmdist.exact import instances, tilting

FAST = settings(max_examples=60, deadline=None)


def _instance(seed: int, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return instances.random_logdist(rng, n, concentration=0.5), instances.random_reward(rng, n, scale=2.0)


@FAST
@given(st.integers(0, 2**32 - 1), st.floats(-5.0, 5.0))
def test_tilt_is_the_normalized_product(seed, lam):
    lp, r = _instance(seed)
    lq = tilting.tilt(lp, r, lam)
    on = lp > -np.inf
    direct = np.where(on, lp + lam * r, -np.inf)
    direct = direct - logsumexp(direct)
    # |λ r| <= 5 * ~8 nats: both routes agree to a few hundred ulps of the exponent's size
    np.testing.assert_allclose(lq[on], direct[on], rtol=0, atol=1e-12 * (1 + np.abs(lam * r).max()))
    assert np.array_equal(lq > -np.inf, on)
    assert tilting.cgf(lp, r, lam) == pytest.approx(logsumexp(lp[on] + lam * r[on]), abs=1e-12)


@FAST
@given(st.integers(0, 2**32 - 1), st.floats(-2.0, 2.0))
def test_mean_and_variance_are_cgf_derivatives(seed, lam):
    lp, r = _instance(seed)
    h = 1e-4
    c = [float(tilting.cgf(lp, r, lam + k * h)) for k in (-1, 0, 1)]
    # central differences: error O(h^2 Λ''') plus rounding O(eps |Λ| / h^2) ~ 1e-7 for these scales
    assert tilting.tilted_mean(lp, r, lam) == pytest.approx((c[2] - c[0]) / (2 * h), abs=1e-6)
    assert tilting.tilted_variance(lp, r, lam) == pytest.approx((c[2] - 2 * c[1] + c[0]) / h**2, abs=1e-4)


def test_negative_lambda_tilts_minus_r_and_limits():
    lp = np.log([0.5, 0.3, 0.2])
    r = np.array([0.0, 2.0, 2.0])
    np.testing.assert_array_equal(tilting.tilt(lp, r, -0.7), tilting.tilt(lp, -r, 0.7))
    np.testing.assert_array_equal(tilting.tilt(lp, r, 0.0), lp)                   # q_0 = p exactly
    np.testing.assert_allclose(np.exp(tilting.tilt(lp, r, math.inf)), [0, 0.6, 0.4])   # argmax, ties by p
    np.testing.assert_allclose(np.exp(tilting.tilt(lp, r, -math.inf)), [1, 0, 0])
    np.testing.assert_allclose(tilting.tempered(lp, r, 0.25), tilting.tilt(lp, r, 4.0), atol=1e-15)
    # a reward of -inf is dropped at every λ >= 0, also at λ = 0
    r2 = np.array([1.0, -np.inf, 0.0])
    np.testing.assert_allclose(np.exp(tilting.tilt(lp, r2, 0.0)), [5 / 7, 0, 2 / 7])
    assert it.kl(tilting.tilt(lp, r2, 0.0), lp) == pytest.approx(-math.log(0.7))


def test_bad_inputs_name_the_parameter():
    lp = np.log([0.5, 0.5])
    with pytest.raises(ValueError, match="lam"):
        tilting.tilt(lp, np.zeros(2), float("nan"))
    with pytest.raises(ValueError, match="temperature"):
        tilting.tempered(lp, np.zeros(2), -1.0)
    with pytest.raises(ValueError, match=r"\+inf"):
        tilting.tilt(lp, np.array([0.0, np.inf]), 1.0)
    with pytest.raises(ValueError, match=r"\+inf"):              # λ < 0 with r = -inf: weight e^{+inf}
        tilting.tilt(lp, np.array([0.0, -np.inf]), -1.0)
    with pytest.raises(ValueError, match="-inf on all"):
        tilting.tilt(lp, np.full(2, -np.inf), 1.0)
    with pytest.raises(ValueError, match="not normalized"):
        tilting.cgf(np.log([0.5, 0.6]), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="lam"):
        tilting.cgf(lp, np.zeros(2), np.inf)
