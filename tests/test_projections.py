"""lmdist.exact.projections: forward and reverse KL projections, the memoryless family, the geometric mean."""

import numpy as np
import pytest
from scipy.special import logsumexp

from lmdist.exact import infotheory as it
from lmdist.exact import projections, strings

SPACE = strings.StringSpace(2, 3)


def family(eta):
    return projections.memoryless(SPACE, eta)


def test_memoryless_is_the_product_of_one_next_symbol_distribution():
    eta = np.array([0.3, -1.0, 0.5])
    u = np.exp(eta) / np.exp(eta).sum()
    lq = family(eta)
    assert abs(logsumexp(lq)) < 1e-12
    # "ab" = a, b, EOS; "aba" (length L = 3) = a, b, a and the forced EOS
    assert np.isclose(lq[SPACE.index("ab")], np.log(u[0] * u[1] * u[2]), rtol=0, atol=1e-12)
    assert np.isclose(lq[SPACE.index("aba")], np.log(u[0] * u[1] * u[0]), rtol=0, atol=1e-12)


def test_memoryless_mle_is_the_forward_projection_and_beats_perturbations():
    rng = np.random.default_rng(3)
    lp = strings.random_lm(SPACE, rng).logp
    eta_mle = projections.memoryless_mle(SPACE, lp)
    lq_num, _ = projections.project(family, lp, "forward", [np.zeros(3)])
    # both minimise a smooth function: the optimiser's answer agrees to its tolerance (~1e-5 in η)
    assert it.tvd(family(eta_mle), lq_num) < 1e-5
    ce = it.cross_entropy(lp, family(eta_mle))
    for _ in range(50):
        assert ce <= it.cross_entropy(lp, family(eta_mle + 0.1 * rng.normal(size=3))) + 1e-12


def test_projection_recovers_a_member_in_both_directions():
    target = family(np.array([1.0, -0.5, 0.2]))
    for direction in projections.DIRECTIONS:
        lq, _ = projections.project(family, target, direction, [np.zeros(3)])
        assert it.tvd(lq, target) < 1e-5, direction


def test_reverse_projection_of_a_bimodal_target_has_two_local_minima():
    mode_a, mode_b = family(np.array([3.0, -3.0, 0.0])), family(np.array([-3.0, 3.0, 0.0]))
    target = it.normalize(np.logaddexp(mode_a + np.log(0.6), mode_b + np.log(0.4)))
    near_a, near_b = np.array([2.0, -2.0, 0.0]), np.array([-2.0, 2.0, 0.0])
    lq_a, _ = projections.project(family, target, "reverse", [near_a])
    lq_b, _ = projections.project(family, target, "reverse", [near_b])
    assert it.tvd(lq_a, lq_b) > 0.5                    # two different local minima
    best, _ = projections.project(family, target, "reverse", [near_b, near_a])
    assert it.kl(best, target) == min(it.kl(lq_a, target), it.kl(lq_b, target))
    # the forward projection covers both modes: more entropy than either reverse fit
    fwd, _ = projections.project(family, target, "forward", [near_a])
    assert it.entropy(fwd) > max(it.entropy(lq_a), it.entropy(lq_b))


def numerical_jacobian(f, x, h=1e-6):
    """Central differences, one column per coordinate of x: error O(h^2) + rounding O(1e-16 / h)."""
    return np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)], axis=1)


def test_symbol_counts_reproduce_the_memoryless_model():
    c = projections.symbol_counts(SPACE)
    assert c[SPACE.index("ab")].tolist() == [1, 1, 1]     # a, b, then EOS chosen
    assert c[SPACE.index("aba")].tolist() == [2, 1, 0]    # length L: EOS forced, not counted
    eta = np.array([0.3, -1.0, 0.5])
    np.testing.assert_allclose(c @ (eta - logsumexp(eta)), family(eta), rtol=0, atol=1e-12)


def test_memoryless_and_geometric_jacobians_match_finite_differences():
    rng = np.random.default_rng(5)
    eta = rng.normal(size=3)
    # central differences with h = 1e-6 on log-probabilities of size ~10: error ~1e-9
    np.testing.assert_allclose(projections.memoryless_jacobian(SPACE, eta), numerical_jacobian(family, eta),
                               rtol=0, atol=1e-8)
    lref = it.normalize(np.where(np.arange(SPACE.size) == 2, -np.inf, rng.normal(size=SPACE.size)))

    def geo(e):
        return projections.geometric_policy(family(e), lref, 0.4)

    jac = projections.geometric_jacobian(geo(eta), projections.memoryless_jacobian(SPACE, eta), 0.4)
    on = lref > -np.inf
    np.testing.assert_allclose(jac[on], numerical_jacobian(lambda e: geo(e)[on], eta), rtol=0, atol=1e-8)
    assert np.all(jac[~on] == 0)                       # a hole of π_ref: log π^(β_π) = −inf for every θ


@pytest.mark.parametrize("direction", projections.DIRECTIONS)
def test_exact_gradient_gives_the_finite_difference_projection(direction):
    rng = np.random.default_rng(7)
    target = strings.random_lm(SPACE, rng).logp
    starts = [np.zeros(3), rng.normal(size=3)]
    lq_fd, _ = projections.project(family, target, direction, starts)
    lq, eta = projections.project(family, target, direction, starts,
                                  jacobian=lambda e: projections.memoryless_jacobian(SPACE, e), tol=1e-12)
    assert it.tvd(lq, lq_fd) < 1e-5                    # the finite-difference fit's tolerance (as above)
    # at the exact-gradient fit the loss does not drop along any coordinate (to second order in 1e-4)
    loss = (lambda e: it.kl(family(e), target)) if direction == "reverse" else (lambda e: it.kl(target, family(e)))
    for step in 1e-4 * np.r_[np.eye(3), -np.eye(3)]:
        assert loss(eta + step) >= loss(eta) - 1e-14


def test_geometric_policy():
    rng = np.random.default_rng(0)
    lpi = it.normalize(rng.normal(size=6))
    lref = it.normalize(np.r_[rng.normal(size=5), -np.inf])
    np.testing.assert_allclose(projections.geometric_policy(lpi, lref, 1.0), lpi, rtol=0, atol=1e-15)
    g = projections.geometric_policy(lpi, lref, 0.3)
    w = np.exp(lpi) ** 0.3 * np.exp(lref) ** 0.7
    np.testing.assert_allclose(np.exp(g), w / w.sum(), rtol=1e-12, atol=0)
    assert g[-1] == -np.inf                             # a hole of π_ref stays a hole for β_π < 1


@pytest.mark.parametrize("kwargs, match", [
    ({"direction": "sideways"}, "direction"),
    ({"starts": []}, "starts"),
])
def test_project_rejects_bad_input(kwargs, match):
    args = {"family": family, "logtarget": family(np.zeros(3)), "direction": "reverse", "starts": [np.zeros(3)]}
    with pytest.raises(ValueError, match=match):
        projections.project(**(args | kwargs))


def test_bad_eta_and_beta_pi():
    with pytest.raises(ValueError, match="eta"):
        family(np.zeros(2))
    with pytest.raises(ValueError, match="beta_pi"):
        projections.geometric_policy(np.log([0.5, 0.5]), np.log([0.5, 0.5]), 0.0)
    with pytest.raises(ValueError, match="logp"):
        projections.memoryless_mle(SPACE, np.log([0.5, 0.5]))
    with pytest.raises(ValueError, match="eta"):
        projections.memoryless_jacobian(SPACE, np.zeros(4))
    with pytest.raises(ValueError, match="jac"):
        projections.geometric_jacobian(family(np.zeros(3)), np.zeros((3, 3)), 0.5)
    with pytest.raises(ValueError, match="beta_pi"):
        projections.geometric_jacobian(family(np.zeros(3)), np.zeros((SPACE.size, 3)), 1.5)


def _components(rng, k=3, n=8):
    return np.array([it.normalize(rng.normal(size=n) * 2) for _ in range(k)])


def test_mixture_and_its_jacobian():
    rng = np.random.default_rng(5)
    lc = _components(rng)
    w = np.array([0.5, 1.5, 0.0])
    assert np.allclose(np.exp(projections.mixture(lc, w)), np.exp(lc).T @ (w / w.sum()), rtol=0, atol=1e-15)
    # central differences: error O(h^2) ~ 1e-10 at h = 1e-5, far below the 1e-7 allowed
    v, h = np.array([0.3, 1.2, 0.7]), 1e-5
    jac = projections.mixture_jacobian(lc, v)
    for k in range(3):
        e = np.eye(3)[k] * h
        fd = (projections.mixture(lc, v + e) - projections.mixture(lc, v - e)) / (2 * h)
        assert np.allclose(jac[:, k], fd, rtol=0, atol=1e-7)


def test_simplex_gap_bounds_the_distance_to_the_minimum_and_vanishes_there():
    rng = np.random.default_rng(6)
    lc = _components(rng)
    lp = it.normalize(rng.normal(size=8))
    fam = lambda v: projections.mixture(lc, v)
    jac = lambda v: projections.mixture_jacobian(lc, v)
    lq, w = projections.project(fam, lp, "reverse", [np.ones(3)], jacobian=jac, tol=1e-15,
                                bounds=[(0, None)] * 3)
    best = it.kl(lq, lp)
    # at the fit the gap is the optimiser's residual (L-BFGS-B at tol 1e-15: far below 1e-8)
    assert projections.simplex_gap(lc, w, lq - lp) < 1e-8
    # at random weights the gap is an upper bound on the excess loss (convexity; 1e-12 for rounding)
    for _ in range(200):
        v = rng.exponential(size=3)
        lv = fam(v)
        assert it.kl(lv, lp) - best <= projections.simplex_gap(lc, v, lv - lp) + 1e-12
    # a non-optimal vertex has a positive gap
    assert projections.simplex_gap(lc, np.eye(3)[np.argmax([it.kl(c, lp) for c in lc])], lc[0] - lp) > 0


def test_mixture_rejects_bad_weights():
    lc = _components(np.random.default_rng(0))
    with pytest.raises(ValueError, match="nonnegative"):
        projections.mixture(lc, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="nonnegative"):
        projections.mixture(lc, np.zeros(3))
