"""lmdist.exact.tailr: TV as a classifier's error, the two gradients, and the TaiLr objective.

Finite differences are central, f'(x) ≈ (f(x+h) − f(x−h))/2h, with error ≈ h² |f'''|/6 + ε|f|/h
(ε = 2.2e-16): h = 1e-6 gives ~1e-10 for the smooth functions here, so 1e-7 is a safe tolerance.
"""

import numpy as np
import pytest
from scipy.special import softmax

from lmdist.exact import infotheory as it
from lmdist.exact import instances, projections, strings, tailr

H, FD_TOL = 1e-6, 1e-7


def draws(seed, n=40, k=9):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        c = 10 ** rng.uniform(-1, 1)
        yield rng, instances.random_logdist(rng, k, concentration=c), instances.random_logdist(rng, k, concentration=c)


def test_tv_is_one_minus_twice_the_bayes_error():
    for rng, lp, lq in draws(0):
        err = tailr.bayes_error(lp, lq)
        assert it.tvd(lp, lq) == pytest.approx(1 - 2 * err, abs=1e-14)
        assert tailr.classifier_error(tailr.bayes_rule(lp, lq), lp, lq) == pytest.approx(err, abs=1e-15)
        for _ in range(20):  # no rule does better than the Bayes rule
            assert tailr.classifier_error(rng.random(len(lp)) < 0.5, lp, lq) >= err - 1e-15


def test_plugin_rule_is_the_bayes_rule_of_the_counts():
    a, b = np.array([3, 0, 2, 5]), np.array([1, 0, 2, 6])
    assert tailr.plugin_rule(a, b).tolist() == [True, False, False, False]
    with pytest.raises(ValueError):
        tailr.plugin_rule(a, b[:3])


def fd_grad(f, theta):
    g = np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = H
        g[i] = (f(theta + e) - f(theta - e)) / (2 * H)
    return g


@pytest.mark.parametrize("which", ["fkl", "tv"])
def test_gradients_match_finite_differences(which):
    for rng, lp, _ in draws(1, n=25):
        theta = rng.normal(size=len(lp))
        lq = np.log(softmax(theta))
        jac = np.eye(len(lp)) - np.exp(lq)[None, :]          # ∂ log softmax(θ)_y / ∂θ
        if which == "fkl":
            f = lambda t, lp=lp: it.kl(lp, np.log(softmax(t)))
            got = projections.forward_kl_gradient(lp, lq, jac)
        else:
            f = lambda t, lp=lp: it.tvd(lp, np.log(softmax(t)))
            got = tailr.tv_gradient(lp, lq, jac)
        np.testing.assert_allclose(got, fd_grad(f, theta), atol=FD_TOL)


def test_weight_is_the_released_formula():
    p = np.array([0.0, 1e-9, 1e-3, 0.2, 0.5, 1.0])
    for g, m in [(0.1, 0.3), (0.8, 0.2), (1e-7, 0.2), (1.0, 0.0), (0.5, 0.0)]:
        with np.errstate(divide="ignore"):
            ref = np.clip(np.exp(np.log(p) - np.log(g + (1 - g) * p)), m, 1.0)
        np.testing.assert_allclose(tailr.weight(p, g, m), ref, rtol=1e-14)
    assert np.all(tailr.weight(p[1:], 0.0, 0.2) == 1.0)
    assert np.all(tailr.weight(p, 0.6, 1.0) == 1.0)


@pytest.mark.parametrize("g,m", [(0.1, 0.3), (0.8, 0.2), (1e-7, 0.2), (1.0, 0.2), (1.0, 0.0), (0.5, 0.0), (0.0, 0.0)])
def test_objective_derivative_is_minus_weight_over_p(g, m):
    p = np.array([2e-3, 0.05, 0.3, 0.7, 0.95])
    p = p[np.abs(p - tailr.floor_start(g, m)) > 1e-3]   # away from the kink of the derivative at p_m
    fd = (tailr.objective(p + H * p, g, m) - tailr.objective(p - H * p, g, m)) / (2 * H * p)
    np.testing.assert_allclose(fd, tailr.derivative(p, g, m), rtol=FD_TOL)
    assert tailr.objective(np.array([1.0]), g, m)[0] == pytest.approx(0.0, abs=1e-15)


def test_objective_limits():
    p = np.array([0.01, 0.3, 0.9])
    np.testing.assert_allclose(tailr.objective(p, 1e-12, 0.0), -np.log(p), rtol=1e-9)   # γ → 0: MLE
    np.testing.assert_allclose(tailr.objective(p, 1.0, 0.0), 1 - p, rtol=1e-15)          # γ = 1: 1 − p
    np.testing.assert_allclose(tailr.objective(p, 1 - 1e-9, 0.0), 1 - p, rtol=1e-6)
    pm = tailr.floor_start(0.3, 0.4)   # the two pieces meet at p_m
    assert tailr.objective(np.array([pm * (1 - 1e-12)]), 0.3, 0.4)[0] == pytest.approx(
        tailr.objective(np.array([pm]), 0.3, 0.4)[0], rel=1e-10)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_logit_gradient_matches_finite_differences_of_the_objective(eps):
    rng = np.random.default_rng(2)
    for g, m in [(0.1, 0.3), (0.8, 0.2), (1.0, 0.0), (0.0, 0.0)]:
        z = rng.normal(size=(6, 7)) * 2
        y = rng.integers(0, 7, size=6)
        got = tailr.logit_gradient(np.log(softmax(z, axis=1)), y, g, m, eps)
        for i in range(6):
            f = lambda zi, i=i, y=y, g=g, m=m: tailr.token_losses(
                np.log(softmax(zi))[None], y[i:i + 1], g, m, eps)[1][0]
            np.testing.assert_allclose(got[i], fd_grad(f, z[i]), atol=FD_TOL)


@pytest.mark.parametrize("g,m", [(0.1, 0.3), (0.8, 0.2), (1e-7, 0.2), (1.0, 0.2), (1.0, 0.0), (0.5, 0.0), (0.97, 0.05)])
def test_optimum_beats_every_random_distribution(g, m):
    for rng, lp, _ in draws(3, n=15, k=7):
        lq = tailr.optimum(lp, g, m)
        assert np.exp(lq).sum() == pytest.approx(1.0, abs=1e-12)
        p = np.exp(lp)
        on = p > 0

        def value(q, p=p, on=on):
            return float((p[on] * tailr.objective(q[on], g, m)).sum())

        best = value(np.exp(lq))
        for _ in range(200):   # random distributions, and small moves from the optimum
            q = rng.dirichlet(np.ones(len(p)) * 0.5) if rng.random() < 0.5 else \
                np.exp(lq) * np.exp(1e-3 * rng.normal(size=len(p)))
            assert value(q / q.sum()) >= best - 1e-12 * (1 + abs(best))


def test_optimum_at_gamma_zero_is_the_data():
    lp = instances.random_logdist(np.random.default_rng(4), 10, concentration=0.5)
    assert it.tvd(tailr.optimum(lp, 0.0, 0.3), lp) == 0.0


def test_tied_fit_at_gamma_zero_is_the_bigram_mle_and_minimises_the_objective():
    rng = np.random.default_rng(5)
    space = strings.StringSpace(3, 4)
    lp = strings.random_lm(space, rng, concentration=0.5).logp
    ctx = tailr.bigram_context(space)
    lq = tailr.fit_tied(space, lp, ctx, 0.0, 0.0)
    # the MLE: no random bigram model has a larger expected log-likelihood
    counts = tailr.context_counts(space, lp, ctx)
    table = strings.next_token_table(space, lq)
    rows = np.array([table[np.flatnonzero((ctx == c) & (space.lengths < space.max_len))[0]] for c in range(4)])
    best = tailr.tied_objective(space, lp, ctx, rows, 0.0, 0.0)
    assert best == pytest.approx(-(np.exp(lp) * lq).sum(), rel=1e-12)
    for g, m in [(0.1, 0.3), (1.0, 0.2)]:
        lq_g = tailr.fit_tied(space, lp, ctx, g, m)
        t_g = strings.next_token_table(space, lq_g)
        rows_g = np.array([t_g[np.flatnonzero((ctx == c) & (space.lengths < space.max_len))[0]] for c in range(4)])
        v = tailr.tied_objective(space, lp, ctx, rows_g, g, m)
        for _ in range(50):
            q = rng.dirichlet(np.ones(4), size=4)
            assert tailr.tied_objective(space, lp, ctx, np.log(q), g, m) >= v - 1e-12
    assert counts.sum() == pytest.approx((np.exp(lp) * (space.lengths + (space.lengths < space.max_len))).sum())
