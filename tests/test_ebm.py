"""lmdist.exact.ebm: partition functions over futures, the ranking-NCE population objective, and the exact
law of SIR, each against a brute-force computation on small string spaces. Tolerances: exact sums in
float64 agree to ~1e-12; numerical quadrature is asked for 1e-11 relative; optimisers stop at a gradient
of ~1e-10, which moves a strongly convex optimum by ~1e-6 at the curvatures of these toys."""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime, minimize
from scipy.special import logsumexp

from lmdist.exact import align, ebm, strings
from lmdist.exact import infotheory as it


@pytest.fixture
def space():
    return strings.StringSpace(2, 3)


@pytest.mark.parametrize("seed", range(5))
def test_conditionals_are_ratios_of_future_partition_functions(space, seed):
    rng = np.random.default_rng(seed)
    energy = rng.normal(0, 2, size=space.size)
    table = ebm.conditionals(space, energy)
    np.testing.assert_allclose(strings.ToyLM(space, table).logp, ebm.ebm_logp(energy), atol=1e-12)
    labels = space.labels(empty="")
    for h in range(int(space.offsets[space.max_len])):                 # brute force: sum over all futures
        futures = [i for i, y in enumerate(labels) if y.startswith(labels[h])]
        lz_h = logsumexp(-energy[futures])
        for v in range(space.alphabet_size):
            child = [i for i in futures if labels[i].startswith(labels[h] + "ab"[v])]
            assert table[h, v] == pytest.approx(logsumexp(-energy[child]) - lz_h, abs=1e-12)
        assert table[h, space.eos] == pytest.approx(-energy[h] - lz_h, abs=1e-12)
    assert ebm.future_log_partitions(space, energy)[0] == pytest.approx(ebm.log_partition(energy), abs=1e-12)


def test_local_normalisation_differs_from_the_ebm_with_the_same_scores(space):
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 2, size=(space.size, space.alphabet_size + 1))
    scores[space.level(space.max_len), : space.alphabet_size] = -np.inf
    local = ebm.local_normalisation(space, scores)
    energy = ebm.additive_energy(space, scores)
    assert it.tvd(local.logp, ebm.ebm_logp(energy)) > 1e-2            # label bias: the futures are dropped
    # and the EBM of the locally normalised model's own energy is that model
    np.testing.assert_allclose(ebm.ebm_logp(-local.logp), local.logp, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_nce_population_equals_brute_force_expectation(k):
    rng = np.random.default_rng(k)
    n = 5
    ld = it.normalize(rng.normal(size=n))
    ln = it.normalize(np.r_[rng.normal(size=n - 1), -np.inf])         # noise misses one string
    s = rng.normal(size=n)
    brute = 0.0
    for yp in range(n):
        for negs in itertools.product(range(n - 1), repeat=k):
            prob = math.exp(ld[yp] + sum(ln[j] for j in negs))
            brute += prob * float(ebm.nce_loss(s[[yp]], s[list(negs)][None, :])[0])
    val, grad = ebm.nce_population(s, ld, ln, k)
    assert val == pytest.approx(brute, rel=1e-12)
    np.testing.assert_allclose(grad, approx_fprime(s, lambda x: ebm.nce_population(x, ld, ln, k)[0], 1e-7), atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_nce_population_optimum_is_log_density_ratio(space, k):
    rng = np.random.default_rng(10 + k)
    ld, ln = strings.random_lm(space, rng).logp, strings.random_lm(space, rng).logp
    ms = ebm.noise_multisets(ln, k)
    res = minimize(lambda s: ebm.nce_population(s, ld, ln, k, ms), np.zeros(space.size), jac=True,
                   method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 3000})
    assert np.ptp(res.x - (ld - ln)) < 1e-5


def test_nce_limit_is_large_k_limit():
    rng = np.random.default_rng(0)
    ld, ln, s = it.normalize(rng.normal(size=4)), it.normalize(rng.normal(size=4)), rng.normal(size=4)
    gaps = [ebm.nce_population(s, ld, ln, k)[0] - math.log(k) - ebm.nce_limit(s, ld, ln) for k in (4, 16, 64)]
    assert 0 < gaps[2] < gaps[1] < gaps[0]                               # L_K - log K decreases to the limit
    assert gaps[2] < 0.05


@pytest.mark.parametrize("seed", range(3))
def test_sir_distribution_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    lb, energy = it.normalize(rng.normal(size=4)), rng.normal(0, 1.5, size=4)
    w = np.exp(-energy)
    for k in (1, 2, 3):
        q = np.zeros(4)
        for props in itertools.product(range(4), repeat=k):
            prob = math.exp(sum(lb[j] for j in props))
            for j in props:
                q[j] += prob * w[j] / w[list(props)].sum()
        np.testing.assert_allclose(np.exp(ebm.sir_distribution(lb, energy, k)), q, rtol=1e-9)
    target = align.gibbs(lb, -energy, 1.0)
    tvs = [it.tvd(ebm.sir_distribution(lb, energy, k), target) for k in (1, 4, 16, 64)]
    assert all(a > b for a, b in zip(tvs, tvs[1:]))
    assert all(tv <= ebm.sir_tv_bound(lb, energy, k) for tv, k in zip(tvs, (1, 4, 16, 64)))


def test_log_z_mean_against_brute_force():
    rng = np.random.default_rng(1)
    lb, energy = it.normalize(rng.normal(size=3)), rng.normal(size=3)
    lz = logsumexp(lb - energy)
    for k in (1, 2, 4):
        brute = sum(math.exp(sum(lb[j] for j in props)) * (logsumexp(-energy[list(props)]) - math.log(k) - lz)
                    for props in itertools.product(range(3), repeat=k))
        assert ebm.log_z_mean(lb, energy, k) == pytest.approx(brute, abs=1e-9)
        assert ebm.log_z_mean(lb, energy, k) <= 0


def test_sir_sample_frequencies():
    rng = np.random.default_rng(0)
    lb, energy = it.normalize(rng.normal(size=5)), rng.normal(size=5)
    n = 200_000
    draws, _ = ebm.sir_sample(rng, lb, energy, 3, n)
    q = np.exp(ebm.sir_distribution(lb, energy, 3))
    freq = np.bincount(draws, minlength=5) / n
    # each frequency is a binomial mean: 4.5 standard errors bound all five at false-failure rate < 1e-4
    assert np.all(np.abs(freq - q) <= 4.5 * np.sqrt(q * (1 - q) / n))
