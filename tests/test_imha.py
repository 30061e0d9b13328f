"""lmdist.exact.imha: IMHA's accept/reject step and the effective sample size, checked on an exact toy LM.

On a finite string space the globally normalised adapted distribution π ∝ prod_t γ̃(p(.|y<t))(y_t) and
the locally normalised sampler q̃ are exact, so the chain's empirical distribution can be compared
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
from lmdist.exact import infotheory as it
from lmdist.exact.imha import autocorrelation, chain_ess, effective_sample_size, imha_chain, max_weight_ratio
from lmdist.exact.strings import StringSpace, random_lm, sequence_logscores

DELTA = 1e-4
LENGTHS = (1_000, 10_000, 100_000, 400_000)


def toy(spec: dict, seed: int):
    """Exact log π (normalised), log π̃ (unnormalised) and log q̃ on every string of a random toy LM."""
    space = StringSpace(3, 4)
    lm = random_lm(space, np.random.default_rng(seed))
    a = A.from_spec(spec)
    log_target = sequence_logscores(space, a(lm.next_logprobs))  # log π̃ = sum_t log γ̃
    log_local = sequence_logscores(space, a.normalise(lm.next_logprobs))  # log q̃ = sum_t log q̃_t
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
    gap = it.tvd(log_pi, log_q)  # what local normalisation gets wrong
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


def test_weights_are_products_of_local_normalisers():
    """log π̃(y) - log q̃(y) = sum_t log Z_t, exactly on every string."""
    space, lm, a, log_target, _, log_q = toy({"temperature": 0.6, "top_p": 0.8}, 0)
    log_z = a.log_normaliser(lm.next_logprobs)
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
