"""lmdist.exact.align: the Gibbs solution of KL-regularised alignment and everything built on it."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lmdist.exact import align, strings
from lmdist.exact import infotheory as it

FAST = settings(max_examples=40, deadline=None)


@st.composite
def problems(draw, zeros=True, neg_inf_reward=False):
    """(log p, r): p with zeros sometimes (logits over 40 nats), rewards of scale 1 to 10."""
    k = draw(st.integers(2, 10))
    logits = np.array(draw(st.lists(st.floats(-20, 20), min_size=k, max_size=k)))
    if zeros:
        mask = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
        mask[draw(st.integers(0, k - 1))] = False
        logits = np.where(mask, -np.inf, logits)
    scale = draw(st.floats(1.0, 10.0))
    r = scale * np.array(draw(st.lists(st.floats(-1, 1), min_size=k, max_size=k)))
    if neg_inf_reward:
        drop = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
        live = np.flatnonzero(logits > -np.inf)
        drop[draw(st.sampled_from(list(live)))] = False
        r = np.where(drop, -np.inf, r)
    return it.normalize(logits), r


betas = st.floats(-4, 4).map(lambda e: 10.0 ** e)


def tolerance(lp, r, beta):
    """Rounding of β log Z and β KL: a few ulps of max(|r|, β |log p|)."""
    big = max(np.abs(r[np.isfinite(r)]).max(initial=0.0), beta * np.abs(lp[np.isfinite(lp)]).max())
    return 1e-12 * (1.0 + big) * 100


@FAST
@given(problems(), betas)
def test_no_nan_or_inf_over_eight_orders_of_beta(prob, beta):
    lp, r = prob
    lq = align.gibbs(lp, r, beta)
    assert not np.isnan(lq).any()
    assert ((lq > -np.inf) == (lp > -np.inf)).all()  # finite reward: supp q* = supp p
    assert abs(np.logaddexp.reduce(lq)) < 1e-12
    for v in (align.log_partition(lp, r, beta), align.expected_reward(lq, r), it.kl(lq, lp),
              align.objective(lq, lp, r, beta)):
        assert math.isfinite(v)


@FAST
@given(problems(), betas)
def test_objective_at_gibbs_is_beta_log_z(prob, beta):
    lp, r = prob
    lq = align.gibbs(lp, r, beta)
    j = align.objective(lq, lp, r, beta)
    assert abs(j - beta * align.log_partition(lp, r, beta)) <= tolerance(lp, r, beta)


@FAST
@given(problems(), betas, st.integers(0, 2**32 - 1))
def test_gibbs_beats_random_and_perturbed_q(prob, beta, seed):
    lp, r = prob
    rng = np.random.default_rng(seed)
    lq_star = align.gibbs(lp, r, beta)
    best = align.objective(lq_star, lp, r, beta)
    log_z = align.log_partition(lp, r, beta)
    tol = tolerance(lp, r, beta)
    k = len(lp)
    with np.errstate(divide="ignore"):
        candidates = [np.log(rng.dirichlet(np.full(k, c))) for c in (0.1, 1.0, 10.0)]
    live = lp > -np.inf
    for eps in (1e-6, 1e-3, 1e-1, 1.0):
        candidates.append(it.normalize(np.where(live, lq_star + eps * rng.normal(size=k), -np.inf)))
    for lq in candidates:
        lq = it.normalize(lq)
        j = align.objective(lq, lp, r, beta)
        assert j <= best + tol
        d = it.kl(lq, lq_star)
        if math.isfinite(d):  # J(q) = -β KL(q || q*) + β log Z
            assert j == pytest.approx(-beta * d + beta * log_z, abs=tol + 1e-9 * beta * d)
        else:
            assert j == -math.inf


@FAST
@given(problems(neg_inf_reward=True))
def test_frontier_is_monotone(prob):
    lp, r = prob
    bs = np.logspace(-4, 4, 33)
    rewards, kls = align.frontier(lp, r, bs)
    assert np.isfinite(rewards).all() and np.isfinite(kls).all()
    # as β grows, KL(q*_β || p) and E_{q*_β} r both decrease (weakly)
    assert (np.diff(kls) <= 1e-12 * (1 + kls[:-1])).all()
    assert (np.diff(rewards) <= 1e-12 * (1 + np.abs(rewards[:-1]))).all()
    kl_inf, kl_0 = align.kl_range(lp, r)
    assert kl_inf - 1e-12 <= kls.min() and kls.max() <= kl_0 + 1e-12


@FAST
@given(problems(neg_inf_reward=True), st.floats(0.001, 0.999))
def test_beta_for_kl_round_trips(prob, frac):
    lp, r = prob
    kl_inf, kl_0 = align.kl_range(lp, r)
    assume(kl_0 - kl_inf > 1e-6)
    delta = kl_inf + frac * (kl_0 - kl_inf)
    beta = align.beta_for_kl(lp, r, delta)
    got = it.kl(align.gibbs(lp, r, beta), lp)
    assert got == pytest.approx(delta, rel=1e-8, abs=1e-10)


@FAST
@given(problems(zeros=False), st.floats(-2, 2).map(lambda e: 10.0 ** e))
def test_beta_for_kl_recovers_beta_where_identified(prob, beta0):
    lp, r = prob
    delta = it.kl(align.gibbs(lp, r, beta0), lp)
    _, kl_0 = align.kl_range(lp, r)
    assume(1e-6 < delta < kl_0 * (1 - 1e-6))
    beta = align.beta_for_kl(lp, r, delta)
    assert it.kl(align.gibbs(lp, r, beta), lp) == pytest.approx(delta, rel=1e-8, abs=1e-12)


def test_beta_for_kl_ends():
    lp = np.log([0.5, 0.3, 0.2])
    r = np.array([0.0, 1.0, 2.0])
    kl_inf, kl_0 = align.kl_range(lp, r)
    assert kl_inf == 0.0 and kl_0 == pytest.approx(-math.log(0.2))
    assert align.beta_for_kl(lp, r, 0.0) == math.inf
    assert align.beta_for_kl(lp, r, kl_0) == 0.0
    with pytest.raises(ValueError, match="slack"):
        align.beta_for_kl(lp, r, kl_0 + 0.1)
    assert align.beta_for_kl(lp, r, kl_0 + 0.1, slack="zero") == 0.0
    with pytest.raises(ValueError, match="delta"):
        align.beta_for_kl(lp, r, -0.1)
    # a -inf reward: the smallest reachable KL is -log p(r > -inf)
    r2 = np.array([-np.inf, 1.0, 2.0])
    kl_inf, kl_0 = align.kl_range(lp, r2)
    assert kl_inf == pytest.approx(-math.log(0.5))
    with pytest.raises(ValueError, match="unreachable"):
        align.beta_for_kl(lp, r2, 0.1)
    assert align.beta_for_kl(lp, r2, kl_inf) == math.inf


def test_limits_of_beta():
    lp = np.log([0.5, 0.3, 0.2])
    r = np.array([0.0, 2.0, 2.0])  # a tie at the top: q*_0 shares by p
    np.testing.assert_allclose(np.exp(align.gibbs(lp, r, 0.0)), [0, 0.6, 0.4])
    np.testing.assert_allclose(np.exp(align.gibbs(lp, r, 1e-3)), [0, 0.6, 0.4], atol=1e-300)
    np.testing.assert_allclose(align.gibbs(lp, r, math.inf), lp)
    assert it.tvd(align.gibbs(lp, r, 1e6), lp) < 1e-5
    assert align.objective(lp, lp, r, math.inf) == pytest.approx(1.0)
    assert align.objective(align.gibbs(lp, r, 1.0), lp, r, math.inf) == -math.inf


@FAST
@given(problems(neg_inf_reward=True), betas)
def test_minus_inf_reward_truncates(prob, beta):
    lp, r = prob
    lq = align.gibbs(lp, r, beta)
    assert ((lq > -np.inf) == ((lp > -np.inf) & (r > -np.inf))).all()
    assert math.isfinite(align.objective(lq, lp, r, beta))
    # any q that keeps mass on a -inf-reward string has objective -inf
    if ((lp > -np.inf) & (r == -np.inf)).any():
        assert align.objective(lp, lp, r, beta) == -math.inf


@FAST
@given(problems(), betas)
def test_dpo_implicit_reward_recovers_r_up_to_beta_log_z(prob, beta):
    lp, r = prob
    lq = align.gibbs(lp, r, beta)
    log_z = align.log_partition(lp, r, beta)
    on = lp > -np.inf
    full = align.dpo_implicit_reward(lq, lp, beta, log_z)
    shifted = align.dpo_implicit_reward(lq, lp, beta)
    tol = tolerance(lp, r, beta) + 1e-12 * beta * abs(log_z)
    np.testing.assert_allclose(full[on], r[on], rtol=0, atol=tol)
    np.testing.assert_allclose((r - shifted)[on], beta * log_z, rtol=0, atol=tol)
    assert np.isnan(full[~on]).all()  # p = q = 0: not identified


def test_works_on_a_string_space():
    space = strings.StringSpace(3, 4)
    rng = np.random.default_rng(0)
    lm = strings.random_lm(space, rng, hole_prob=0.3)
    r = strings.random_reward(space, rng, 2.0)
    lq = align.gibbs(lm.logp, r, 0.5)
    assert align.objective(lq, lm.logp, r, 0.5) == pytest.approx(0.5 * align.log_partition(lm.logp, r, 0.5))


def test_batched_gibbs_rows():
    rng = np.random.default_rng(1)
    lp = it.normalize(rng.normal(size=(3, 6)))
    r = rng.normal(size=(3, 6))
    np.testing.assert_allclose(align.gibbs(lp, r, 0.7), [align.gibbs(a, b, 0.7) for a, b in zip(lp, r)])
    np.testing.assert_allclose(align.log_partition(lp, r, 0.7),
                               [align.log_partition(a, b, 0.7) for a, b in zip(lp, r)])


def test_bad_inputs():
    lp = np.log([0.5, 0.5])
    with pytest.raises(ValueError, match=r"\+inf"):
        align.gibbs(lp, np.array([0.0, np.inf]), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        align.gibbs(lp, np.array([0.0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="beta"):
        align.gibbs(lp, np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="-inf on all"):
        align.gibbs(lp, np.full(2, -np.inf), 1.0)
    with pytest.raises(ValueError, match="shape"):
        align.gibbs(lp, np.zeros(3), 1.0)
