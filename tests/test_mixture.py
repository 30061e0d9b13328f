"""Tests of lmdist.exact.mixture: Lemma 1, the total probability masses, the corrected Theorem 2,
Huang's counterexample, and the random instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmdist.exact import align, mixture


def _instance(seed: int) -> mixture.Instance:
    return mixture.random_instance(np.random.default_rng(seed), n_max=25)


seeds = st.integers(0, 2**32 - 1)


def _counterexample(alpha: float = 0.5) -> tuple[mixture.Mixture, np.ndarray]:
    pa = np.array([0.6, 0.4, 0.0, 0.0])
    pu = np.array([0.0, 0.0, 0.95, 0.05])
    return mixture.Mixture(mixture.safe_log(pa), mixture.safe_log(pu), alpha), np.array([2.0, 1.0, 0.0, 3.0])


# ------------------------------------------------------------------ Lemma 1 and TPM identities

@settings(max_examples=100, deadline=None)
@given(seeds)
def test_lemma1_decomposition_equals_gibbs(seed):
    inst = _instance(seed)
    lp = align.gibbs(inst.mix.log_p_ref, inst.r, inst.beta)
    rhs = mixture.lemma1_log_decomposition(inst.mix, inst.r, inst.beta)
    err = np.max(np.abs(np.exp(lp) - np.exp(rhs)))
    assert err <= mixture.tolerance(inst.mix, inst.r, inst.beta)


@settings(max_examples=100, deadline=None)
@given(seeds)
def test_tpm_sum_to_one_and_closed_form(seed):
    inst = _instance(seed)
    mix, r, beta = inst.mix, inst.r, inst.beta
    ta, tu = mixture.tpm(mix, r, beta)
    tol = mixture.tolerance(mix, r, beta)
    assert abs(ta + tu - 1) <= tol
    # TPM(A) - α = α(1-α)(E_A w - E_U w)/Z
    assert abs((ta - mix.alpha) - mixture.tpm_gap(mix, r, beta)) <= tol
    # TPM of p_θ is its component mass under the reference's responsibilities
    ca, cu = mixture.component_mass(mix, align.gibbs(mix.log_p_ref, r, beta))
    assert abs(ca - ta) <= tol and abs(cu - tu) <= tol


@settings(max_examples=120, deadline=None)
@given(seeds)
def test_corrected_condition_iff_tpm_at_least_alpha(seed):
    inst = _instance(seed)
    mix, r, beta = inst.mix, inst.r, inst.beta
    ta, tu = mixture.tpm(mix, r, beta)
    tol = mixture.tolerance(mix, r, beta)
    if mixture.corrected_condition(mix, r, beta):
        assert ta >= mix.alpha - tol and tu <= 1 - mix.alpha + tol
    else:
        assert ta <= mix.alpha + tol
    if mixture.covariance_condition(mix, r, beta):  # the seed's inequalities (i), (ii): sufficient
        assert mixture.huang_conclusion_holds(mix, r, beta)
    # strictness: 0 < α < 1 and finite r give 0 < TPM(U)
    assert mixture.log_tpm(mix, r, beta)[1] > -np.inf


@settings(max_examples=100, deadline=None)
@given(seeds)
def test_huang_hypotheses_order_the_means(seed):
    inst = _instance(seed)
    mix, r = inst.mix, inst.r
    s = mix.support
    pa, pu = np.exp(mix.log_p_a), np.exp(mix.log_p_u)
    if mixture.huang_hypotheses_hold(mix, r):
        assert pa @ r > r[s].mean() > pu @ r


@settings(max_examples=100, deadline=None)
@given(seeds)
def test_support_preserved_and_ratio_bounds(seed):
    inst = _instance(seed)
    mix, r, beta = inst.mix, inst.r, inst.beta
    lp = align.gibbs(mix.log_p_ref, r, beta)
    assert np.array_equal(lp > -np.inf, mix.support)
    lo, hi = mixture.support_ratio_bounds(mix, r, beta)
    ratio = lp[mix.support] - mix.log_p_ref[mix.support]
    scale = 1 + np.abs(r[mix.support]).max() / beta
    assert abs(ratio.min() - lo) <= 1e-12 * scale and abs(ratio.max() - hi) <= 1e-12 * scale


@settings(max_examples=100, deadline=None)
@given(seeds)
def test_small_beta_threshold(seed):
    inst = _instance(seed)
    mix, r = inst.mix, inst.r
    sign, b0 = mixture.small_beta_thresholds(mix, r)
    if sign == 0 or b0 == 0:
        return
    b = 1.0 if np.isinf(b0) else b0 / 2
    ta = mixture.tpm(mix, r, b)[0]
    tol = mixture.tolerance(mix, r, b)
    assert (ta >= mix.alpha - tol) if sign > 0 else (ta <= mix.alpha + tol)


@settings(max_examples=100, deadline=None)
@given(seeds)
def test_log_odds_shift_is_independent_of_alpha(seed):
    inst = _instance(seed)
    shift = mixture.log_odds_shift(inst.mix, inst.r, inst.beta)
    for a in (0.1, 0.5, 0.9):
        m = mixture.Mixture(inst.mix.log_p_a, inst.mix.log_p_u, a)
        la, lu = mixture.log_tpm(m, inst.r, inst.beta)
        assert abs((lu - la) - (np.log((1 - a) / a) + shift)) <= 1e3 * mixture.tolerance(m, inst.r, inst.beta)


# ------------------------------------------------------------------ the seed's theorem fails

def test_counterexample_satisfies_hypotheses_but_not_conclusion():
    mix, r = _counterexample()
    assert mixture.huang_hypotheses_hold(mix, r, "pearson")
    assert mixture.huang_hypotheses_hold(mix, r, "spearman")
    assert not mixture.huang_conclusion_holds(mix, r, 0.1)
    assert not mixture.corrected_condition(mix, r, 0.1)
    sa, su = mixture.uniform_covariance_signs(mix, r, 0.1)
    assert sa < 0 and su < 0  # inequality (i) of the proof fails, (ii) holds
    assert mixture.huang_conclusion_holds(mix, r, 1.0)  # weak tuning: fine


def test_edge_cases_alpha_and_truncation():
    mix, r = _counterexample()
    m1 = mixture.Mixture(mix.log_p_a, mix.log_p_u, 1.0)
    assert mixture.log_tpm(m1, r, 1.0)[1] == -np.inf
    assert not mixture.huang_conclusion_holds(m1, r, 1.0)
    m0 = mixture.Mixture(mix.log_p_a, mix.log_p_u, 0.0)
    assert mixture.log_tpm(m0, r, 1.0)[0] == -np.inf
    assert mixture.huang_conclusion_holds(m0, r, 1.0)
    r_tr = r.copy()
    r_tr[2:] = -np.inf
    lp = align.gibbs(mix.log_p_ref, r_tr, 1.0)
    assert np.all(lp[2:] == -np.inf) and np.all(lp[:2] > -np.inf)
    assert mixture.tpm(mix, r_tr, 1.0)[1] == 0.0
    assert not mixture.huang_hypotheses_hold(mix, r_tr)


def test_dominance_implies_all_beta():
    # A: r in {0, 2} w.p. 1/2 each; U: r = 1 — not dominance, but E_A e^{r/β} ≥ E_U e^{r/β} (AM–GM)
    pa = mixture.safe_log([0.5, 0.5, 0.0])
    pu = mixture.safe_log([0.0, 0.0, 1.0])
    mix, r = mixture.Mixture(pa, pu, 0.3), np.array([0.0, 2.0, 1.0])
    assert not mixture.dominates(mix, r)
    assert all(mixture.corrected_condition(mix, r, b) for b in np.geomspace(1e-3, 1e3, 13))
    mix2, r2 = mixture.Mixture(pa, pu, 0.3), np.array([1.0, 2.0, 0.5])
    assert mixture.dominates(mix2, r2)


def test_mixture_validation():
    with pytest.raises(ValueError):
        mixture.Mixture(np.log([0.5, 0.5]), np.log([0.2, 0.2]), 0.5)
    with pytest.raises(ValueError):
        mixture.Mixture(np.log([0.5, 0.5]), np.log([0.5, 0.5]), 1.5)
    with pytest.raises(ValueError):
        mixture.uniform_correlations(_counterexample()[0], np.arange(4.0), "kendall")


def test_random_instances_are_broad():
    rng = np.random.default_rng(0)
    insts = [mixture.random_instance(rng) for _ in range(300)]
    assert {i.kind["support"] for i in insts} == set(mixture.SUPPORT_KINDS)
    assert {i.kind["reward"] for i in insts} == set(mixture.REWARD_KINDS)
    hyp = [mixture.huang_hypotheses_hold(i.mix, i.r) for i in insts]
    assert 0 < sum(hyp) < len(insts)  # not conditioned on the hypotheses
    assert all(0 < i.mix.alpha < 1 for i in insts)
    betas = np.array([i.beta for i in insts])
    assert betas.min() < 1e-2 and betas.max() > 1e2


@settings(max_examples=60, deadline=None)
@given(seeds)
def test_analyse_agrees_with_the_single_functions(seed):
    inst = _instance(seed)
    mix, r, beta = inst.mix, inst.r, inst.beta
    a = mixture.analyse(mix, r, beta)
    ta, tu = mixture.tpm(mix, r, beta)
    assert abs(a["tpm_a"] - ta) <= a["tol"] and abs(a["tpm_u"] - tu) <= a["tol"]
    assert a["lemma1_error"] <= a["tol"]
    assert a["hypotheses"] == mixture.huang_hypotheses_hold(mix, r)
    assert a["corrected"] == mixture.corrected_condition(mix, r, beta)
    assert a["covariance"] == mixture.covariance_condition(mix, r, beta)
    assert a["conclusion"] == mixture.huang_conclusion_holds(mix, r, beta)
    assert a["same_support"] and a["ratio_error"] <= 1e-12
    curve_a, curve_u = mixture.log_tpm_curve(mix, r, [beta, 2 * beta])
    assert abs(np.exp(curve_a[0]) - ta) <= a["tol"] and abs(np.exp(curve_u[0]) - tu) <= a["tol"]
