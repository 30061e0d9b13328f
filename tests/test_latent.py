"""Tests of lmdist.exact.latent: the ELBO bound, its gap, collapse with a strong decoder, plans."""

import numpy as np
import pytest

from lmdist.exact import infotheory as it
from lmdist.exact import latent as lt
from lmdist.exact import projections, strings


def _instance(seed, k=4, holes=False, q_conc=None):
    rng = np.random.default_rng(seed)
    space = strings.StringSpace(2, 4)
    prior = np.log(rng.dirichlet(np.full(k, 10 ** rng.uniform(-1, 1))))
    lik = np.stack([strings.random_lm(space, rng, concentration=10 ** rng.uniform(-1, 1)).logp for _ in range(k)])
    q = rng.dirichlet(np.full(k, 10 ** rng.uniform(-2, 1) if q_conc is None else q_conc), size=space.size).T
    if holes:
        q[0] = 0.0
        q /= q.sum(0)
    with np.errstate(divide="ignore"):
        return space, prior, lik, np.log(q)


@pytest.mark.parametrize("seed", range(20))
def test_elbo_is_a_lower_bound_with_the_posterior_gap(seed):
    _, prior, lik, lq = _instance(seed)
    tol = lt.rounding_tolerance(prior, lik)   # float64 rounding of K-term sums (see its docstring)
    m = lt.marginal(prior, lik)
    recon, rate, value = lt.elbo(lq, prior, lik)
    assert np.all(value <= m + tol)
    gap = it.kl(lq.T, lt.posterior(prior, lik).T)
    assert np.all(np.abs(m - value - gap) <= tol)
    assert np.allclose(value, recon - rate)
    # at the posterior the bound is tight
    assert np.all(np.abs(lt.elbo(lt.posterior(prior, lik), prior, lik)[2] - m) <= tol)


def test_importance_identity_needs_covering_support():
    _, prior, lik, lq = _instance(1, q_conc=1.0)
    assert np.allclose(lt.importance_estimate(lq, prior, lik), lt.marginal(prior, lik), atol=1e-12)
    _, prior, lik, lq = _instance(1, holes=True, q_conc=1.0)
    est, m = lt.importance_estimate(lq, prior, lik), lt.marginal(prior, lik)
    missed = np.exp(prior[0] + lik[0])             # the mass of the z that q never proposes
    assert np.allclose(np.exp(m) - np.exp(est), missed, atol=1e-15)
    assert np.any(est < m)


def test_collapse_with_the_strongest_decoder():
    space = strings.StringSpace(2, 5)
    a = projections.memoryless(space, np.array([2.0, -2.0, 0.0]))
    b = projections.memoryless(space, np.array([-2.0, 2.0, 0.0]))
    lpd = np.logaddexp(np.log(0.6) + a, np.log(0.4) + b)
    uniform = np.full(2, -np.log(2))
    counts = projections.symbol_counts(space)
    codes = (counts[:, 1] > counts[:, 0]).astype(int)
    values = []
    for eps in np.linspace(0, 1, 6):
        q = lt.noisy_encoder(codes, uniform, eps)
        v, rate = lt.population_elbo(lpd, q, uniform, lt.best_decoder(lpd, q))
        assert v <= -it.entropy(lpd) + 1e-12
        # with the aggregate as prior every encoder reaches the maximum (the ELBO is flat in the rate)
        assert abs(lt.population_elbo(lpd, q, lt.aggregate(lpd, q), lt.best_decoder(lpd, q))[0]
                   + it.entropy(lpd)) < 1e-12
        values.append((v, rate))
    best = max(values)
    assert best == values[-1] and best[1] == 0.0


def test_memoryless_decoder_is_normalised():
    space = strings.StringSpace(2, 3)
    rng = np.random.default_rng(0)
    lpd = strings.random_lm(space, rng).logp
    q = lt.noisy_encoder(lt.plan_codes(space, 1, 3), np.full(3, -np.log(3)), 0.2)
    dec = lt.memoryless_decoder(space, lpd, q)
    assert np.allclose(np.exp(dec).sum(1), 1.0, atol=1e-12)


@pytest.mark.parametrize("n_codes,code_size", [(1, 2), (2, 2), (2, 3), (3, 3)])
def test_plan_rate_is_at_most_capacity(n_codes, code_size):
    space = strings.StringSpace(2, 4)
    lpd = strings.random_lm(space, np.random.default_rng(n_codes * 7 + code_size)).logp
    codes = lt.plan_codes(space, n_codes, code_size)
    assert codes.min() >= 0 and codes.max() < code_size ** n_codes
    pz = lt.code_distribution(codes, lpd, code_size ** n_codes)
    assert it.entropy(pz) <= n_codes * np.log(code_size) + 1e-12
    # the deterministic encoder with its own prior and decoder makes the ELBO tight
    q = lt.noisy_encoder(codes, pz if np.all(pz > -np.inf) else it.normalize(np.logaddexp(pz, -30)), 0.0)
    dec = lt.best_decoder(lpd, q)
    v, rate = lt.population_elbo(lpd, q, lt.aggregate(lpd, q), dec)
    assert abs(v + it.entropy(lpd)) < 1e-10 and abs(rate - it.entropy(pz)) < 1e-10


def test_input_validation():
    with pytest.raises(ValueError):
        lt.marginal(np.log([0.5, 0.5]), np.zeros((3, 4)))
    with pytest.raises(ValueError):
        lt.noisy_encoder(np.array([0, 5]), np.log([0.5, 0.5]), 0.1)
