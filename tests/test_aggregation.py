"""lmdist.exact.aggregation: the dual's solution matches the moments, equals a direct KL minimisation under
the constraints, keeps the support of p_theta, and satisfies the perplexity identity; the sample version
recovers the exact one as the sample grows."""

import numpy as np
import pytest
from scipy.optimize import minimize

from lmdist.exact import aggregation as ag
from lmdist.exact import infotheory as it
from lmdist.exact import instances


@pytest.mark.parametrize("seed", range(8))
def test_dual_solution_matches_moments_and_identity(seed):
    rng = np.random.default_rng(seed)
    n = 12
    lp = instances.random_logdist(rng, n, concentration=10 ** rng.uniform(-1, 1))
    ld = instances.random_logdist(rng, n, concentration=1.0, support=lp > -np.inf)
    f = rng.normal(size=(n, 2))
    b = ag.moments(ld, f)
    if ag.interior_margin(lp, f, b) <= 0:
        pytest.skip("b on the boundary of the hull (mu* infinite)")
    sol = ag.solve(lp, f, b)
    assert sol.moment_error < 1e-9                                         # Newton converges quadratically
    assert np.array_equal(sol.logp > -np.inf, lp > -np.inf)              # supp p* = supp p_theta
    assert abs(ag.perplexity_gap(ld, lp, sol.logp)) < 1e-9


def test_dual_equals_constrained_kl_minimisation():
    rng = np.random.default_rng(0)
    n = 6
    lp, ld = it.normalize(rng.normal(size=n)), it.normalize(rng.normal(size=n))
    f = rng.normal(size=(n, 2))
    b = ag.moments(ld, f)
    sol = ag.solve(lp, f, b)
    cons = {"type": "eq", "fun": lambda th: np.exp(it.normalize(th)) @ f - b}
    res = minimize(lambda th: it.kl(it.normalize(th), lp), ld.copy(), constraints=[cons], method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 500})
    assert it.tvd(it.normalize(res.x), sol.logp) < 1e-5                   # SLSQP's own tolerance


def test_interior_margin_detects_boundary_and_outside():
    lp = it.normalize(np.zeros(4))
    f = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert ag.interior_margin(lp, f, [1.5]) > 0
    assert ag.interior_margin(lp, f, [0.0]) == 0
    assert ag.interior_margin(lp, f, [4.0]) == -np.inf


def test_perplexity_identity_fails_off_the_optimum():
    rng = np.random.default_rng(2)
    lp = it.normalize(rng.normal(size=8))
    f = rng.normal(size=(8, 2))
    # p_d = p_theta: mu* = 0; any other mu makes the cross-entropy worse
    q = ag.tilted(lp, f, np.array([0.3, -0.2]))
    assert it.cross_entropy(lp, q) > it.cross_entropy(lp, lp)
    assert abs(ag.perplexity_gap(lp, lp, q)) > 1e-3


def test_sample_dual_converges_to_exact():
    rng = np.random.default_rng(4)
    n = 10
    lp, ld = it.normalize(rng.normal(size=n)), it.normalize(rng.normal(size=n))
    f = rng.normal(size=(n, 2))
    b = ag.moments(ld, f)
    exact = ag.solve(lp, f, b).mu
    draws = rng.choice(n, size=(50, 4000), p=np.exp(lp))                # 50 prompts of the same p_theta
    groups = np.repeat(np.arange(50), 4000)
    est = ag.solve_samples(f[draws.ravel()], groups, b)
    assert est.moment_error < 1e-8
    assert np.abs(est.mu - exact).max() < 0.05                           # 2e5 draws: O(1/sqrt(n)) ~ 5e-3


def test_sir_groups():
    rng = np.random.default_rng(0)
    lw = np.array([0.0, -np.inf, 0.0, 5.0, -np.inf])
    out = ag.sir(lw, np.array([0, 0, 1, 1, 1]), rng, size=20)
    assert out.shape == (2, 20) and set(out[0]) == {0} and set(out[1]) <= {2, 3}
    lz = ag.group_log_means(np.log([1.0, 3.0, 2.0]), np.array([0, 0, 1]))
    np.testing.assert_allclose(lz, np.log([2.0, 2.0]))


def test_sample_interior_margin():
    f = np.array([[0.0], [2.0], [1.0], [3.0]])
    groups = np.array([0, 0, 1, 1])                                     # reachable averages: [0.5, 2.5]
    assert ag.sample_interior_margin(f, groups, [1.5]) > 0
    assert ag.sample_interior_margin(f, groups, [0.5]) == 0
    assert ag.sample_interior_margin(f, groups, [2.6]) == -np.inf
