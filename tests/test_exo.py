"""Tests of lmdist.exact.exo: the K-sample losses against brute force, their gradients against finite
differences, the K = ∞ limits, the pair losses and the variance formulas.

Tolerances: sums of at most a few thousand float64 terms of size O(1) agree to ~1e-13, so 1e-10 leaves room;
central finite differences with step h = 1e-6 have error O(h²·f''') + O(eps/h) ≈ 1e-10, so 1e-7.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from lmdist.exact import align, exo, instances, projections
from lmdist.exact import infotheory as it


def _instance(seed: int, n: int = 4, holes: bool = True):
    rng = np.random.default_rng(seed)
    lsft = instances.random_logdist(rng, n, concentration=1.0, hole_prob=0.2 if holes else 0.0)
    r = instances.random_reward(rng, n)
    theta = np.where(lsft > -np.inf, rng.normal(size=n), -np.inf)
    return lsft, r, theta


def _brute(lpi, lsft, r, beta_r, beta_pi, k, kind):
    """E over ordered K-tuples of the per-index loss (no grouping)."""
    on = np.flatnonzero(lsft > -np.inf)
    f = exo.log_ratio(lpi, lsft, beta_pi)
    total = 0.0
    for tup in itertools.product(on, repeat=k):
        t = np.array(tup)
        total += math.exp(lsft[t].sum()) * float(exo.sample_loss(f[t], r[t] / beta_r, kind))
    return total


@pytest.mark.parametrize("kind", exo.KINDS)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_expected_loss_is_the_mean_over_ordered_tuples(kind, k):
    lsft, r, theta = _instance(1)
    lpi = it.normalize(theta)
    exact = exo.expected_loss(lpi, lsft, r, 0.7, 0.4, k, kind)[0]
    assert abs(exact - _brute(lpi, lsft, r, 0.7, 0.4, k, kind)) < 1e-10


def test_multisets_count_and_sum():
    c = exo.multisets(4, 5)
    assert c.shape == (math.comb(8, 5), 4)
    assert (c.sum(1) == 5).all() and (c >= 0).all()
    assert len({tuple(row) for row in c}) == len(c)
    # multinomial probabilities sum to one
    lq = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    assert abs(np.exp(exo.multinomial_logprob(c, lq)).sum() - 1) < 1e-12


@pytest.mark.parametrize("kind", exo.KINDS)
@pytest.mark.parametrize("k", [2, 5, None])
def test_gradients_match_finite_differences(kind, k):
    lsft, r, theta = _instance(2, holes=False)
    beta_r, beta_pi = 0.6, 0.5

    def value(th):
        lpi = it.normalize(th)
        if k is None:
            return exo.population(lpi, lsft, r, beta_r, beta_pi, kind)[0]
        return exo.expected_loss(lpi, lsft, r, beta_r, beta_pi, k, kind)[0]

    lpi = it.normalize(theta)
    jac = np.eye(len(theta)) - np.exp(lpi)
    gf = (exo.population(lpi, lsft, r, beta_r, beta_pi, kind) if k is None
          else exo.expected_loss(lpi, lsft, r, beta_r, beta_pi, k, kind))[1]
    grad = exo.theta_gradient(gf, jac, beta_pi)
    h = 1e-6
    fd = np.array([(value(theta + h * e) - value(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    assert np.abs(grad - fd).max() < 1e-7


def test_population_values_are_the_two_kls():
    lsft, r, theta = _instance(3)
    lpi = it.normalize(theta)
    lg = projections.geometric_policy(lpi, lsft, 0.3)
    ls = align.gibbs(lsft, r, 2.0)
    assert abs(exo.population(lpi, lsft, r, 2.0, 0.3, "exo")[0] - it.kl(lg, ls)) < 1e-12
    assert abs(exo.population(lpi, lsft, r, 2.0, 0.3, "dpo")[0] - it.kl(ls, lg)) < 1e-12


@pytest.mark.parametrize("kind", exo.KINDS)
def test_large_k_gradient_approaches_the_limit_at_rate_one_over_k(kind):
    # full support, moderate probabilities: K pi_min >= 50 at K = 256, so the 1/K expansion applies
    lsft = np.log(np.array([0.2, 0.3, 0.5]))
    r = np.array([0.0, 1.0, -0.5])
    lpi = np.log(np.array([0.5, 0.3, 0.2]))
    jac = np.eye(3) - np.exp(lpi)
    g = {k: exo.theta_gradient(exo.expected_loss(lpi, lsft, r, 0.8, 0.6, k, kind)[1], jac, 0.6) for k in (128, 256)}
    g_inf = exo.theta_gradient(exo.population(lpi, lsft, r, 0.8, 0.6, kind)[1], jac, 0.6)
    gap = np.linalg.norm(g[128] - g_inf)
    assert gap > 0
    assert np.linalg.norm(2 * g[256] - g[128] - g_inf) < 0.1 * gap   # the 1/K term is removed
    assert np.linalg.norm(g[256] - g_inf) < 0.6 * gap                  # and the gap halves


def test_dpo_loss_is_forward_kl_plus_entropy():
    rng = np.random.default_rng(4)
    f, s = rng.normal(size=(20, 6)), rng.normal(size=(20, 6))
    ce = exo.sample_loss(f, s, "dpo")
    assert np.abs(ce - it.entropy(it.normalize(s)) - it.kl(it.normalize(s), it.normalize(f))).max() < 1e-12


def test_grouped_losses_equal_index_losses():
    rng = np.random.default_rng(5)
    f, s = rng.normal(size=3), rng.normal(size=3)
    c = np.array([2.0, 0.0, 3.0])
    idx = np.repeat(np.arange(3), c.astype(int))
    for kind in exo.KINDS:
        assert abs(exo.sample_loss(f, s, kind, c) - exo.sample_loss(f[idx], s[idx], kind)) < 1e-12


def test_pair_losses():
    lsft, r, theta = _instance(6, holes=False)
    lpi = it.normalize(theta)
    # DPO with BT labels and eps = 0 is DPO-rw at K = 2 with beta_r = 1 (the cross-entropy is linear in the label)
    v, g = exo.pair_loss(lpi, lsft, r, 0.4, 0.0, "dpo")
    v2, g2 = exo.expected_loss(lpi, lsft, r, 1.0, 0.4, 2, "dpo")
    assert abs(v - v2) < 1e-12 and np.abs(g - g2).max() < 1e-12
    # EXO pair on two strings: optimum margin tanh(dr/2) log((1-eps)/eps)
    lsft2, r2, eps = np.log(np.array([0.3, 0.7])), np.array([1.0, -0.5]), 0.01
    res = minimize_scalar(lambda x: exo.pair_loss(it.normalize(np.array([x, 0.0])), lsft2, r2, 1.0, eps, "exo")[0],
                          bracket=(-6.0, 6.0), tol=1e-10)
    x_best = res.x - (lsft2[0] - lsft2[1])        # f_1 - f_2 at the optimum
    # the loss is smooth with curvature O(0.1) at the optimum: Brent's tolerance gives ~1e-6 on x
    assert abs(x_best - math.tanh(0.75) * math.log((1 - eps) / eps)) < 1e-5
    with pytest.raises(ValueError):
        exo.pair_loss(lpi, lsft, r, 0.4, 0.0, "exo")


def test_slide_formula_offset():
    rng = np.random.default_rng(7)
    f, r = rng.normal(size=5), rng.normal(size=5)
    beta_r = 0.3
    val = exo.slide_snis_value(f, r, beta_r)
    kl = exo.sample_loss(f, r / beta_r, "exo")
    offset = np.log(np.exp(r).sum()) - np.log(np.exp(r / beta_r).sum()) - np.log(beta_r)
    assert abs(val - kl - offset) < 1e-12
    assert abs(exo.slide_snis_value(f, r, 1.0) - exo.sample_loss(f, r, "exo")) < 1e-12


def test_variances_against_enumeration():
    lsft = np.log(np.array([0.3, 0.3, 0.4]))
    r = np.array([0.5, -1.0, 0.2])
    lpi = np.log(np.array([0.2, 0.3, 0.5]))
    k = 400
    c = exo.multisets(3, k)
    w = np.exp(exo.multinomial_logprob(c, lsft))
    ell = lpi - align.gibbs(lsft, r, 0.7)
    est = exo.snis_kl_estimates(lpi - lsft, ell, c)
    kvar = k * (w @ (est - w @ est) ** 2)
    # the delta method's error is O(1/K) relative: at K pi_min = 120 well under 5 %
    assert abs(kvar - exo.snis_kl_variance(lpi, lsft, r, 0.7, 1.0, "known")) < 0.05 * kvar
    loss = exo.sample_loss(np.broadcast_to(lpi - lsft, c.shape), np.broadcast_to(r / 0.7, c.shape), "exo", c)
    kvl = k * (w @ (loss - w @ loss) ** 2)
    assert abs(kvl - exo.snis_kl_variance(lpi, lsft, r, 0.7, 1.0, "estimated")) < 0.05 * kvl
    # PPO's on-policy variance is Var_pi(l)
    p = np.exp(lpi)
    assert abs(exo.onpolicy_kl_variance(lpi, lsft, r, 0.7, 1.0) - (p @ ell**2 - (p @ ell) ** 2)) < 1e-12


def test_gradient_variances():
    lsft = np.log(np.array([0.3, 0.3, 0.4]))
    r = np.array([0.5, -1.0, 0.2])
    lpi = np.log(np.array([0.2, 0.3, 0.5]))
    jac = np.eye(3) - np.exp(lpi)
    # K = 1: p_f = p_r = 1, the loss and its gradient are 0
    assert exo.sample_gradient_variance(lpi, jac, lsft, r, 0.7, 1.0, 1, "exo") == pytest.approx(0.0, abs=1e-15)
    v = exo.sample_gradient_variance(lpi, jac, lsft, r, 0.7, 1.0, 4, "exo")
    assert v > 0
    # on-policy: brute force over the 3 outcomes
    p = np.exp(lpi)
    ell = lpi - align.gibbs(lsft, r, 0.7)
    h = (ell - p @ ell)[:, None] * (jac - p @ jac)
    mean = p @ h
    assert abs(exo.onpolicy_gradient_variance(lpi, jac, lsft, r, 0.7) - (p @ (h * h).sum(1) - mean @ mean)) < 1e-12


def test_sampled_loss_is_unbiased():
    lsft, r, theta = _instance(8, holes=False)
    lpi = it.normalize(theta)
    rng = np.random.default_rng(9)
    loss, grad = exo.sampled_loss(lpi, lsft, r, 0.5, 1.0, 3, "exo", rng, 40000)
    exact, gexact = exo.expected_loss(lpi, lsft, r, 0.5, 1.0, 3, "exo")
    # Hoeffding at delta = 1e-6 for a loss in [0, B]
    b = np.ptp(exo.log_ratio(lpi, lsft, 1.0)) + np.ptp(r / 0.5)
    assert abs(loss.mean() - exact) < b * math.sqrt(math.log(2e6) / (2 * 40000))
    assert grad.shape == (40000, len(lsft))


def test_bad_arguments():
    lsft, r, theta = _instance(10)
    lpi = it.normalize(theta)
    with pytest.raises(ValueError):
        exo.population(lpi, lsft, r, 1.0, 0.5, "ppo")
    with pytest.raises(ValueError):
        exo.population(lpi, lsft, r, 1.0, 1.5, "exo")
    with pytest.raises(ValueError):
        exo.multisets(60, 60)
