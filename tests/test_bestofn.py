"""lmdist.exact.bestofn: exact best-of-N with ties, its KL and reward, the bounds, and SNIS."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmdist.exact import bestofn as bon
from lmdist.exact import infotheory as it

FAST = settings(max_examples=60, deadline=None)


@st.composite
def instances(draw):
    """(log p, r): up to 8 strings, some zeros of p, rewards on a coarse grid (so ties are common)."""
    k = draw(st.integers(1, 8))
    logits = np.array(draw(st.lists(st.floats(-8, 8), min_size=k, max_size=k)))
    mask = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
    mask[draw(st.integers(0, k - 1))] = False
    r = np.array(draw(st.lists(st.integers(-3, 3), min_size=k, max_size=k)), dtype=float)
    return it.normalize(np.where(mask, -np.inf, logits)), r


def brute_force(p, r, n):
    """P(BoN = y) by enumerating all N-tuples, ties among the draws broken uniformly."""
    out = np.zeros(len(p))
    for draws in itertools.product(range(len(p)), repeat=n):
        pr = np.prod(p[list(draws)])
        best = max(r[d] for d in draws)
        winners = [d for d in draws if r[d] == best]
        for d in winners:
            out[d] += pr / len(winners)
    return out


@settings(max_examples=25, deadline=None)
@given(instances(), st.integers(1, 4))
def test_matches_brute_force_with_ties(inst, n):
    lp, r = inst
    assert np.allclose(np.exp(bon.best_of_n(lp, r, n)), brute_force(np.exp(lp), r, n), atol=1e-12)


@FAST
@given(instances(), st.floats(0, 60))
def test_distribution_bounds_and_limits(inst, log_n):
    lp, r = inst
    lq = bon.best_of_n(lp, r, log_n=log_n)
    assert abs(np.logaddexp.reduce(lq)) < 1e-9                        # sums to 1
    assert ((lq > -np.inf) <= (lp > -np.inf)).all()                   # never leaves supp p
    kl = bon.kl_to_prior(lp, r, log_n=log_n)
    assert kl == pytest.approx(it.kl(lq, lp), abs=1e-9)
    assert kl <= bon.kl_bound(log_n=log_n) + 1e-9                     # log N - (N-1)/N
    assert kl <= bon.renyi_inf_bound(lp, r, log_n=log_n) + 1e-9       # D_inf, bounded in N
    assert bon.renyi_inf_bound(lp, r, log_n=log_n) == pytest.approx(it.renyi(lq, lp, math.inf), abs=1e-9)


@FAST
@given(instances())
def test_n_equal_one_is_p(inst):
    lp, r = inst
    assert np.allclose(np.exp(bon.best_of_n(lp, r, 1)), np.exp(lp), atol=1e-15)
    assert bon.kl_bound(1) == 0.0


def test_bound_is_strict_and_tight_in_the_continuum():
    # N >= 2 on a finite space: strictly below the bound; with K equal atoms the gap -> 0 as K grows.
    gaps = []
    for k in (10, 100, 10000):
        lp, r = np.full(k, -math.log(k)), np.arange(k, dtype=float)
        gaps.append(bon.kl_bound(8) - bon.kl_to_prior(lp, r, 8))
    assert all(g > 0 for g in gaps) and gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-5
    # large N with one top string: KL -> -log p_top while the bound grows like log N
    lp, r = np.log([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    assert bon.kl_to_prior(lp, r, log_n=500.0) == pytest.approx(-math.log(0.2), abs=1e-12)


def test_win_rates_against_brute_force_and_n_over_n_plus_one():
    p, r = np.array([0.2, 0.3, 0.1, 0.4]), np.array([0.0, 1.0, 1.0, 2.0])
    n = 3
    strict = weak = 0.0
    for draws in itertools.product(range(4), repeat=n + 1):
        pr = np.prod(p[list(draws)])
        m = max(r[d] for d in draws[:n])
        strict += pr * (m > r[draws[n]])
        weak += pr * (m >= r[draws[n]])
    s, w = bon.win_rates(np.log(p), r, n)
    assert s == pytest.approx(strict, abs=1e-12) and w == pytest.approx(weak, abs=1e-12)
    assert s <= n / (n + 1) <= w


def test_expected_reward_and_u_statistics():
    lp, r = np.log([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    assert bon.expected_reward(lp, r, 1) == pytest.approx(0.7)
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0])
    subsets = list(itertools.combinations(range(5), 3))
    assert bon.max_of_subsets(x, 3) == pytest.approx(np.mean([x[list(s)].max() for s in subsets]))
    # win U-statistic against brute force over ordered (N-subset, other) choices
    wins = [(x[list(s)].max() > x[j], x[list(s)].max() >= x[j])
            for j in range(5) for s in itertools.combinations([i for i in range(5) if i != j], 2)]
    s, w = bon.win_rate_ustat(x, 2)
    assert s == pytest.approx(np.mean([a for a, _ in wins])) and w == pytest.approx(np.mean([b for _, b in wins]))


def test_snis_matches_exact_tilt_on_a_finite_space():
    from lmdist.exact import align
    rng = np.random.default_rng(0)
    lp = it.normalize(rng.normal(size=6))
    r = rng.normal(size=6)
    beta = 0.7
    idx = rng.choice(6, size=200_000, p=np.exp(lp))
    est = bon.snis(r[idx], beta)
    lq = align.gibbs(lp, r, beta)
    assert est.reward == pytest.approx(align.expected_reward(lq, r), abs=0.02)
    assert est.kl == pytest.approx(it.kl(lq, lp), abs=0.02)
    assert 1 <= est.ess <= 200_000
    assert bon.snis(np.zeros(5), 1.0).kl == 0.0 and bon.snis(np.zeros(5), 1.0).ess == pytest.approx(5)


@pytest.mark.parametrize("bad", [dict(n=0.5), dict(n=float("inf")), dict(log_n=-1.0), dict(n=2, log_n=1.0), {}])
def test_bad_n_is_refused(bad):
    with pytest.raises(ValueError, match="n"):
        bon.best_of_n(np.log([0.5, 0.5]), np.array([0.0, 1.0]), **bad)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="logp"):
        bon.best_of_n(np.log([0.5, 0.6]), np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="finite"):
        bon.best_of_n(np.log([0.5, 0.5]), np.array([0.0, np.nan]), 2)
    with pytest.raises(ValueError, match="beta"):
        bon.snis(np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="n must"):
        bon.win_rate_ustat(np.zeros(3), 3)
