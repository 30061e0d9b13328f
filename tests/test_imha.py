"""lmdist.exact.imha: IMHA's accept/reject step, its exact kernel, the effective sample size and SNIS weights,
checked on exact toy LMs.

On a finite string space the globally normalized adapted distribution π ∝ prod_t γ̃(p(.|y<t))(y_t) and
the locally normalized sampler q̃ are exact, so the chain's empirical distribution can be compared
with π itself. The tolerance is derived, not tuned (false-failure rate at most 1e-4 overall):

* the chain starts at an exact draw from π, so it is stationary; IMHA is reversible with spectrum in
  [0, 1 - 1/w*], w* = max π/q̃ (Liu, 1996), so each empirical frequency has
  Var(π̂(y)) <= π(y)(1 - π(y)) (2w* - 1)/n and E TVD(π̂, π) <= (1/2) sum_y sqrt(that);
* TVD(π̂, π) changes by at most 1/n when one state changes, and the chain mixes as
  d(t) <= (1 - 1/w*)^t (Mengersen & Tweedie, 1996), so McDiarmid's inequality for Markov chains
  (Paulin, 2015, Cor. 2.10, with the conservative constant 9 τ(1/4) >= τ_min) gives
  P(TVD - E TVD >= s) <= 2 exp(-2 s² n / (9 τ(1/4))).
"""

import math

import numpy as np
import pytest

from lmdist.exact import adaptors as A
from lmdist.exact import globalnorm as gn
from lmdist.exact import imha, stats, tan2024
from lmdist.exact import infotheory as it
from lmdist.exact import strings as st
from lmdist.exact.imha import autocorrelation, chain_ess, effective_sample_size, imha_chain, max_weight_ratio
from lmdist.exact.strings import StringSpace, random_lm, sequence_logscores

DELTA = 1e-4
LENGTHS = (1_000, 10_000, 100_000, 400_000)


def toy(spec: dict, seed: int):
    """Exact log π (normalized), log π̃ (unnormalized) and log q̃ on every string of a random toy LM."""
    space = StringSpace(3, 4)
    lm = random_lm(space, np.random.default_rng(seed))
    a = A.from_spec(spec)
    log_target = sequence_logscores(space, a(lm.next_logprobs))  # log π̃ = sum_t log γ̃
    log_local = sequence_logscores(space, a.normalize(lm.next_logprobs))  # log q̃ = sum_t log q̃_t
    return space, lm, a, log_target, it.normalize(log_target), log_local


def tolerance(pi: np.ndarray, w_star: float, n: int, delta: float) -> float:
    """E-bound + McDiarmid margin for TVD(π̂_n, π) of a stationary IMHA chain (module docstring)."""
    mean = 0.5 * float(np.sum(np.sqrt(pi * (1 - pi) * (2 * w_star - 1) / n)))
    tau = 1 if w_star <= 1 else math.ceil(math.log(0.25) / math.log1p(-1 / w_star))
    return mean + math.sqrt(9 * tau * math.log(2 / delta) / (2 * n))


@pytest.mark.parametrize("spec, seed", [({"temperature": 0.7, "top_k": 3}, 1),
                                        ({"temperature": 1.5, "eta_cutoff": 0.1}, 2)])
def test_chain_approaches_global_target(spec, seed):
    space, lm, a, log_target, log_pi, log_q = toy(spec, seed)
    pi, q = np.exp(log_pi), np.exp(log_q)
    w_star = max_weight_ratio(log_pi, log_q)
    gap = it.tvd(log_pi, log_q)  # what local normalization gets wrong
    tols = [tolerance(pi, w_star, n, DELTA / len(LENGTHS)) for n in LENGTHS]
    assert all(b < a_ for a_, b in zip(tols, tols[1:]))
    assert tols[-1] < gap / 2  # sharp enough to tell π from q̃

    rng = np.random.default_rng(seed)
    start = rng.choice(space.size, p=pi / pi.sum())  # an exact draw from π: a stationary chain
    proposals = np.concatenate([[start], rng.choice(space.size, size=LENGTHS[-1] - 1, p=q / q.sum())])
    chain = imha_chain(log_target[proposals], log_q[proposals], rng)
    states = proposals[chain.states]
    assert 0 < chain.acceptance_rate < 1
    for n, tol in zip(LENGTHS, tols):
        emp = np.bincount(states[:n], minlength=space.size) / n
        with np.errstate(divide="ignore"):
            dist = it.tvd(np.log(emp), log_pi)
        print(f"n={n}: TVD={dist:.4f} <= tol={tol:.4f} (TVD(q, pi)={gap:.4f}, w*={w_star:.2f})")
        assert dist <= tol, (n, dist, tol)
    # the raw proposals estimate q̃, not π: their distance to π stays near the gap
    fresh = proposals[1:]  # i.i.d. from q̃
    emp_prop = np.bincount(fresh, minlength=space.size) / fresh.size
    with np.errstate(divide="ignore"):
        assert it.tvd(np.log(emp_prop), log_pi) > gap - tolerance(q, 1.0, fresh.size, DELTA)


def test_weights_are_products_of_local_normalizers():
    """log π̃(y) - log q̃(y) = sum_t log Z_t, exactly on every string."""
    space, lm, a, log_target, _, log_q = toy({"temperature": 0.6, "top_p": 0.8}, 0)
    log_z = a.log_normalizer(lm.next_logprobs)
    log_z_table = np.repeat(log_z[:, None], space.alphabet_size + 1, axis=1)
    on = log_target > -np.inf
    np.testing.assert_allclose(log_target[on] - log_q[on], sequence_logscores(space, log_z_table)[on], atol=1e-9)
    assert np.array_equal(on, log_q > -np.inf)


def test_accept_everything_when_target_is_proposal():
    rng = np.random.default_rng(0)
    lq = rng.normal(size=1000)
    chain = imha_chain(lq + 3.0, lq, rng)  # π̃ = e³ q: every ratio is 1
    assert chain.acceptance_rate == 1.0
    np.testing.assert_array_equal(chain.states, np.arange(1000))


def test_zero_target_never_entered_and_left_at_once():
    rng = np.random.default_rng(1)
    lt = np.array([-np.inf, 0.0, -np.inf, -1.0, -np.inf, 2.0])
    chain = imha_chain(lt, np.zeros(6), rng)
    assert chain.states[1] == 1  # a start of zero weight is left at the first chance
    assert np.all(np.isfinite(lt[chain.states[1:]]))


def test_acceptance_rule_by_hand():
    """Accept iff log U < log w(y') - log w(y), with the uniforms the generator hands out."""
    lt, lq = np.array([0.0, -1.0, 0.5, -3.0]), np.array([-1.0, -1.0, -0.5, -1.0])
    u = np.random.default_rng(7).random(3)
    chain = imha_chain(lt, lq, np.random.default_rng(7))
    logw, cur, expected = lt - lq, 0, [0]
    for i in range(1, 4):
        if math.log(u[i - 1]) < logw[i] - logw[cur]:
            cur = i
        expected.append(cur)
    np.testing.assert_array_equal(chain.states, expected)


def test_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="log_proposal"):
        imha_chain(np.zeros(3), np.array([0.0, -np.inf, 0.0]), rng)
    with pytest.raises(ValueError, match="shape"):
        imha_chain(np.zeros(3), np.zeros(4), rng)
    with pytest.raises(ValueError, match="NaN"):
        imha_chain(np.array([0.0, np.nan]), np.zeros(2), rng)


def test_effective_sample_size():
    rng = np.random.default_rng(3)
    n = 20_000
    iid = rng.normal(size=n)
    assert 0.85 * n < effective_sample_size(iid) < 1.15 * n
    rho, x = 0.9, np.empty(n)  # AR(1): ESS = n (1 - ρ)/(1 + ρ)
    x[0] = rng.normal() / math.sqrt(1 - rho**2)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + rng.normal()
    assert 0.7 < effective_sample_size(x) / (n * (1 - rho) / (1 + rho)) < 1.3
    assert effective_sample_size(np.ones(10)) == 1.0
    ac = autocorrelation(iid)
    assert ac[0] == pytest.approx(1.0) and abs(ac[1]) < 0.05


def test_chain_ess_of_a_sticky_chain_is_small():
    rng = np.random.default_rng(5)
    lq = np.zeros(5000)
    lt = rng.normal(size=5000) * 3  # heavy weights: many rejections
    chain = imha_chain(lt, lq, rng)
    stat = rng.normal(size=5000)
    assert chain_ess(chain, stat) < 0.5 * 5000


# --------------------------------------------------------------------------- the exact kernel

@pytest.fixture(scope="module")
def policy():
    rng = np.random.default_rng(3)
    space = st.StringSpace(6, 3)
    prior = st.random_lm(space, rng, concentration=0.3)
    return space, st.autoregressive(space, it.normalize(prior.logp + st.random_reward(space, rng)))


def _dense_kernel(lt, lq):
    pi, q = np.exp(lt), np.exp(lq)
    w = np.where(q > 0, pi / np.where(q > 0, q, 1), 0.0)
    n = len(q)
    k = np.zeros((n, n))
    for y in range(n):
        for z in range(n):
            k[y, z] = q[z] * (1.0 if w[y] == 0 else min(1.0, w[z] / w[y]))
        k[y, y] += 1 - k[y].sum()
    return k


def test_imha_step_matches_dense_kernel_with_ties_and_zeros():
    rng = np.random.default_rng(1)
    lt = it.normalize(np.round(rng.normal(size=25)))   # ties in w
    lq = it.normalize(rng.normal(size=25))
    lt[[2, 5]] = -np.inf
    lt = it.normalize(lt)
    k = imha.imha_kernel(lt, lq)
    dense = _dense_kernel(lt, lq)
    mu = rng.dirichlet(np.ones(25))
    np.testing.assert_allclose(imha.imha_step(k, mu), mu @ dense, atol=1e-14)
    np.testing.assert_allclose(imha.imha_step(k, k.pi), k.pi, atol=1e-14)
    # the diagonal is the rejection probability plus the self-proposal (counted as an accepted move)
    np.testing.assert_allclose(np.diag(dense), k.stay + k.q, atol=1e-14)
    # accepting = anything but a rejection; the dense diagonal minus the self-proposal is the rejection
    assert abs(imha.acceptance_probability(k, mu) - mu @ (1 - (np.diag(dense) - k.q))) < 1e-14
    mus = imha.imha_marginals(k, 3)
    np.testing.assert_allclose(mus[3], k.q @ np.linalg.matrix_power(dense, 3), atol=1e-14)


def test_marginals_bound_and_acceptance_sandwich(policy):
    _, lm = policy
    for s in tan2024.settings()[::3]:
        a = gn.adapt(lm, s.adaptor())
        k = imha.imha_kernel(a.log_global, a.log_local)
        w_star = imha.max_weight_ratio(a.log_global, a.log_local)
        assert w_star == pytest.approx(k.w.max(), rel=1e-15)
        with np.errstate(divide="ignore"):
            tv = [it.tvd(np.log(m), a.log_global) for m in imha.imha_marginals(k, 12)]
        assert all(x <= imha.mengersen_tweedie_bound(w_star, n) + 1e-12 for n, x in enumerate(tv))
        assert all(np.diff(tv) <= 1e-12)
        acc = imha.stationary_acceptance(a.log_global, a.log_local)
        d = it.tvd(a.log_local, a.log_global)
        assert d - 1e-12 <= 1 - acc <= 2 * d + 1e-12


def test_independent_chains_follow_the_exact_kernel(policy):
    space, lm = policy
    a = gn.adapt(lm, A.from_spec({"temperature": 0.5, "top_p": 0.9}))
    n, r = 4, 4000
    finals, last = imha.independent_chains(a.log_weight, a.log_local, r, n, np.random.default_rng(0))
    k = imha.imha_kernel(a.log_global, a.log_local)
    mus = imha.imha_marginals(k, n)
    delta = 1e-6
    assert abs(last.mean() - imha.acceptance_probability(k, mus[-2])) <= stats.hoeffding_halfwidth(r, 1.0, delta)
    lengths = space.lengths.astype(float)
    assert abs(lengths[finals].mean() - mus[-1] @ lengths) <= stats.hoeffding_halfwidth(r, space.max_len, delta)


def test_fresh_chain_runs_on_draws_from_the_proposal(policy):
    space, lm = policy
    a = gn.adapt(lm, A.Temperature(0.7))
    draws, chain = imha.fresh_chain(a.log_weight, a.log_local, 50, np.random.default_rng(4))
    assert draws.shape == (50,) and np.all(a.log_local[draws] > -np.inf) and chain.states.max() < 50


def test_snis_weights_estimate_the_target_mean():
    # Draws from q, weights pi~/q with pi~ unnormalized: sum w f -> E_pi f; the error is checked against the
    # delta-method standard error of the ratio estimator (6 sigma: false failure < 1e-8).
    rng = np.random.default_rng(8)
    lq = it.normalize(rng.normal(size=30))
    lt = it.normalize(rng.normal(size=30))
    f = rng.normal(size=30)
    draws = rng.choice(30, size=200_000, p=np.exp(lq))
    w = imha.snis_weights(lt[draws] + 5.0, lq[draws])
    assert w.sum() == pytest.approx(1.0, abs=1e-12) and np.all(w > 0)
    truth = np.exp(lt) @ f
    ratio = np.exp(lt - lq)
    se = math.sqrt(np.exp(lq) @ (ratio**2 * (f - truth) ** 2) / draws.size)
    assert abs(w @ f[draws] - truth) < 6 * se
    with pytest.raises(ValueError, match="log_target"):
        imha.snis_weights(np.full(3, -np.inf), np.zeros(3))


def test_kernel_validation():
    with pytest.raises(ValueError, match="w_star"):
        imha.mengersen_tweedie_bound(0.5, 3)
    with pytest.raises(ValueError, match="supp"):
        imha.imha_kernel(np.log([0.5, 0.5]), np.array([0.0, -np.inf]))   # supp π not in supp q
    with pytest.raises(ValueError, match="log_proposal"):
        imha.imha_kernel(np.log([0.5, 0.5]), np.log([0.5, 0.6]))        # not normalized
    with pytest.raises(ValueError, match="n_steps"):
        imha.imha_marginals(imha.imha_kernel(np.log([0.5, 0.5]), np.log([0.5, 0.5])), -1)
    assert imha.mengersen_tweedie_bound(1.0, 3) == 0.0 and imha.mengersen_tweedie_bound(4.0, 0) == 1.0
    assert imha.mengersen_tweedie_bound(4.0, 2) == pytest.approx(0.75**2)
