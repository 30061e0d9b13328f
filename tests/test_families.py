"""Tests of lmdist.exact.families: the SAT toy, the latent-variable formula model, look-up mixtures."""

import math

import numpy as np
import pytest

from lmdist.exact import families as fam
from lmdist.exact import strings


@pytest.mark.parametrize("seed", range(10))
def test_autoregressive_counts_give_the_uniform_distribution_on_the_language(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 11))
    cnf = fam.random_cnf(rng, n, int(rng.integers(0, 5 * n)), width=min(3, n))
    sat = fam.satisfied(cnf, fam.assignments(n))
    assert sat.any()                                  # the planted solution
    lp = fam.autoregressive_logprobs(sat)
    assert np.allclose(lp[sat], -math.log(sat.sum()), atol=1e-12)
    assert np.all(np.isneginf(lp[~sat]))
    assert fam.prefix_counts(sat, 0)[0] == sat.sum()


def test_satisfied_matches_brute_force():
    rng = np.random.default_rng(3)
    cnf = fam.random_cnf(rng, 5, 12)
    bits = fam.assignments(5)
    brute = [all(any(bool(a[v]) == s for v, s in zip(cv, cs)) for cv, cs in zip(cnf.var, cnf.sign)) for a in bits]
    assert np.array_equal(fam.satisfied(cnf, bits), brute)


def test_latent_formula_model_support_is_the_satisfiable_formulas():
    var, sign = fam.clause_vocabulary(3, 2)
    truth = fam.clause_truth(var, sign, 3)
    space = strings.StringSpace(len(var), 4)
    lp, cond = fam.latent_formula_logprobs(space.tokens, space.lengths, truth, 0.3)
    assert abs(np.exp(lp).sum() - 1) < 1e-12
    assert np.exp(cond).sum(1) == pytest.approx(np.ones(8), abs=1e-12)
    sat = fam.formula_satisfiable(space.tokens, truth)
    assert np.array_equal(lp > -np.inf, sat)
    assert not sat.all()                               # some 4-clause 2-CNFs over 3 variables are unsatisfiable


def test_lookup_model_support_is_what_is_stored():
    lp = fam.lookup_logprobs(np.array([3, 3, 5]), 8)
    assert np.array_equal(np.flatnonzero(lp > -np.inf), [3, 5])
    assert np.exp(lp).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(10))
def test_mixture_cross_entropy_is_convex_in_lambda(seed):
    rng = np.random.default_rng(seed)
    n = 500
    lm = np.log(rng.dirichlet(np.ones(20), n)[:, 0])
    knn = np.where(rng.random(n) < 0.3, -np.inf, np.log(rng.random(n)))
    lams = np.linspace(0, 1, 41)[:-1]
    h = fam.mixture_cross_entropy(knn, lm, lams)
    tol = fam.rounding_tolerance(np.abs(lm).max() + abs(math.log1p(-lams[-1])), n)
    assert np.all(fam.second_differences(h) >= -tol)
    # the slope at 0 matches a forward difference where the ratios p_B/p_θ are bounded
    # (p_θ ≥ 0.05, so H'' ≤ 400 and the difference is off by at most 200·h)
    lm2 = np.log(rng.uniform(0.05, 1.0, n))
    slope = fam.mixture_slope_at_zero(knn, lm2)
    fd = (fam.mixture_cross_entropy(knn, lm2, [1e-6])[0] - fam.mixture_cross_entropy(knn, lm2, [0.0])[0]) / 1e-6
    assert abs(slope - fd) < 1e-3


def test_mixture_ends():
    a, b = np.log([0.2, 0.0 + 1e-300]), np.log([0.5, 0.1])
    assert np.array_equal(fam.lookup_mixture(a, b, 0.0), b)
    assert np.array_equal(fam.lookup_mixture(a, b, 1.0), a)
    assert not np.isnan(fam.lookup_mixture(np.array([-np.inf]), np.array([-1.0]), 0.5)).any()


def test_family_costs_grow_as_stated():
    rng = np.random.default_rng(0)
    costs = []
    for n in (6, 8, 10):
        cnf = fam.random_cnf(rng, n, 2 * n)
        costs.append(fam.family_costs(cnf, int(fam.satisfied(cnf, fam.assignments(n)).sum())))
    assert costs[-1]["autoregressive (tabulated)"]["parameters"] == 2 ** 10 - 1
    assert costs[-1]["look-up"]["score"] == 10
    assert costs[0]["energy-based"]["score (unnormalised)"] == 3 * 12
