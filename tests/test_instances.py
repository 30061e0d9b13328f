"""lmdist.exact.instances: the one generator of random instances (sparse Dirichlet with holes)."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import binom

from lmdist.exact import instances


def test_holes_at_the_stated_rate():
    """The number of holes among n outcomes is Binomial(n, HOLE_PROB): it lies in the central
    1 - 1e-4 interval (a wrong rate of 0.09 or 0.11 would fall outside it at this n)."""
    n = 400_000
    for seed, hole_prob in ((0, instances.HOLE_PROB), (1, 0.5)):
        lp = instances.random_logdist(np.random.default_rng(seed), n, concentration=1.0, hole_prob=hole_prob)
        holes = int(np.isneginf(lp).sum())
        lo, hi = binom.ppf(0.5e-4, n, hole_prob), binom.ppf(1 - 0.5e-4, n, hole_prob)
        assert lo <= holes <= hi, (hole_prob, holes, lo, hi)


@pytest.mark.parametrize("conc", [1e-3, 0.05, 1.0, 50.0])
def test_always_normalized_and_only_holes_are_zero(conc):
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 10, 100):
        for hole_prob in (0.0, instances.HOLE_PROB, 0.9, 1.0):
            lp = instances.random_logdist(rng, n, concentration=conc, hole_prob=hole_prob)
            assert lp.shape == (n,) and not np.isnan(lp).any() and not np.isposinf(lp).any()
            assert abs(logsumexp(lp)) < 1e-12
            assert (lp > -np.inf).any()                     # at least one outcome kept
            if hole_prob == 0.0:
                assert np.isfinite(lp).all()                # tiny concentrations never underflow to 0


def test_deterministic_per_rng_and_support_respected():
    a = instances.random_logdist(np.random.default_rng(7), 50, concentration=0.3)
    b = instances.random_logdist(np.random.default_rng(7), 50, concentration=0.3)
    c = instances.random_logdist(np.random.default_rng(8), 50, concentration=0.3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    support = np.arange(20) % 3 == 0
    for seed in range(20):
        lp = instances.random_logdist(np.random.default_rng(seed), 20, concentration=0.5, hole_prob=1.0,
                                      support=support)
        assert np.isneginf(lp[~support]).all() and (lp[support] > -np.inf).sum() == 1


def test_random_reward():
    r = instances.random_reward(np.random.default_rng(3), 100_000, scale=2.0)
    assert r.shape == (100_000,) and np.isfinite(r).all()
    # the sample standard deviation of 1e5 normals is within 1% of the scale with probability > 1 - 1e-9
    assert abs(r.std() / 2.0 - 1) < 0.01
    np.testing.assert_array_equal(r[:5], instances.random_reward(np.random.default_rng(3), 5, scale=2.0))


@pytest.mark.parametrize("kwargs,name", [
    (dict(n=0, concentration=1.0), "n"),
    (dict(n=2.0, concentration=1.0), "n"),
    (dict(n=3, concentration=0.0), "concentration"),
    (dict(n=3, concentration=1.0, hole_prob=1.5), "hole_prob"),
    (dict(n=3, concentration=1.0, support=[True, False]), "support"),
    (dict(n=3, concentration=1.0, support=[False] * 3), "support"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        instances.random_logdist(np.random.default_rng(0), **kwargs)
    with pytest.raises(ValueError, match="scale"):
        instances.random_reward(np.random.default_rng(0), 3, scale=-1.0)
