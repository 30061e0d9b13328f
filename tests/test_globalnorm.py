"""lmdist.exact.globalnorm: local vs global normalisation, the exact IMHA kernel, the seed's pool scheme."""

import math

import numpy as np
import pytest

from lmdist.exact import adaptors as ad
from lmdist.exact import globalnorm as gn
from lmdist.exact import infotheory as it
from lmdist.exact import strings as st
from lmdist.exact.imha import imha_chain


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    space = st.StringSpace(6, 3)
    prior = st.random_lm(space, rng, concentration=0.3)
    r = st.random_reward(space, rng)
    logq = it.normalize(prior.logp + r)
    return space, prior, r, logq, st.autoregressive(space, logq)


def test_seed_settings_are_the_35_of_the_seed():
    s = gn.seed_settings()
    assert len(s) == 35 and len({x.name for x in s}) == 35
    assert {x.temperature for x in s} == set(gn.SEED_TEMPERATURES)
    assert all("top_k" in x.spec for x in s)  # never a hidden default
    assert s[0].adaptor() == ad.Temperature(0.5)
    assert isinstance(gn.seed_settings()[2].adaptor(), ad.Identity)  # ancestral at T = 1


def test_with_default_top_k():
    assert gn.with_default_top_k({"temperature": 1.0, "top_k": 0, "top_p": 0.9})["top_k"] == 50
    assert gn.with_default_top_k({"temperature": 1.0, "top_k": 30}) == {"temperature": 1.0, "top_k": 30}
    assert gn.with_default_top_k({"temperature": 0.5, "top_k": 0}) == {"temperature": 0.5, "top_k": 0}


@pytest.mark.parametrize("setting", gn.seed_settings(), ids=lambda s: s.name)
def test_adapt_matches_definition_and_normalises(toy, setting):
    space, _, _, _, policy = toy
    a = gn.adapt(policy, setting.adaptor())
    assert abs(np.exp(a.log_local).sum() - 1) < 1e-12 and abs(np.exp(a.log_global).sum() - 1) < 1e-12
    for i in range(0, space.size, 7):
        bf = gn.brute_force_log_weight(policy, setting.adaptor(), i)
        assert (bf == a.log_weight[i] == -np.inf) or abs(bf - a.log_weight[i]) < 1e-10
    on = a.log_w > -np.inf
    np.testing.assert_allclose(a.log_weight[on], a.log_local[on] + a.log_w[on], atol=1e-10)
    # local = global iff W is constant on the support
    assert (it.tvd(a.log_local, a.log_global) < 1e-12) == (np.ptp(a.log_w[on]) < 1e-12)


@pytest.mark.parametrize("temperature", [1e-3, 0.5, 1.5, 50.0])
def test_push_to_prior_and_extreme_temperatures(toy, temperature):
    _, prior, r, _, policy = toy
    for extra in ({}, {"top_p": 0.8}, {"top_k": 2}):
        a = gn.adapt(policy, ad.from_spec({"temperature": temperature, **extra}))
        assert not np.isnan(a.log_global).any() and not np.isnan(a.log_local).any()
        kept = a.log_w > -np.inf
        pushed = gn.pushed_to_prior(prior.logp, r, 1.0, temperature, kept)
        assert np.array_equal(pushed > -np.inf, kept)
        np.testing.assert_allclose(pushed[kept], a.log_global[kept], atol=1e-8 * max(1, 1 / temperature))


def test_renyi_identity(toy):
    _, _, _, _, policy = toy
    for t in (0.5, 2.0):
        logw, _ = gn.adapted_tables(policy, ad.Temperature(t))
        rows = policy.next_logprobs[: logw.shape[0]]
        log_z = np.logaddexp.reduce(logw, axis=-1)
        np.testing.assert_allclose(log_z, (1 - 1 / t) * it.renyi_entropy(rows, 1 / t), atol=1e-10)
    assert abs(it.renyi_entropy(np.log([0.5, 0.5]), 3.0) - math.log(2)) < 1e-12


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
    k = gn.imha_kernel(lt, lq)
    dense = _dense_kernel(lt, lq)
    mu = rng.dirichlet(np.ones(25))
    np.testing.assert_allclose(gn.imha_step(k, mu), mu @ dense, atol=1e-14)
    np.testing.assert_allclose(gn.imha_step(k, k.pi), k.pi, atol=1e-14)
    # the diagonal is the rejection probability plus the self-proposal (counted as an accepted move)
    np.testing.assert_allclose(np.diag(dense), k.stay + k.q, atol=1e-14)
    assert abs(gn.acceptance_probability(k, mu) - mu @ (1 - k.stay)) < 1e-15


def test_marginals_bound_and_acceptance_sandwich(toy):
    _, _, _, _, policy = toy
    for s in gn.seed_settings()[::3]:
        a = gn.adapt(policy, s.adaptor())
        mus = gn.imha_marginals(a.log_global, a.log_local, 12)
        k = gn.imha_kernel(a.log_global, a.log_local)
        tv = [gn.tvd_prob(m, k.pi) for m in mus]
        assert all(x <= gn.mengersen_tweedie_bound(float(k.w.max()), n) + 1e-12 for n, x in enumerate(tv))
        assert all(np.diff(tv) <= 1e-12)
        acc = gn.stationary_acceptance(a.log_global, a.log_local)
        d = it.tvd(a.log_local, a.log_global)
        assert d - 1e-12 <= 1 - acc <= 2 * d + 1e-12


def test_independent_chains_follow_the_exact_kernel(toy):
    space, _, _, _, policy = toy
    a = gn.adapt(policy, ad.from_spec({"temperature": 0.5, "top_p": 0.9}))
    n, r = 4, 4000
    finals, last = gn.independent_chains(a.log_weight, a.log_local, r, n, np.random.default_rng(0))
    mus = gn.imha_marginals(a.log_global, a.log_local, n)
    k = gn.imha_kernel(a.log_global, a.log_local)
    delta = 1e-6
    assert abs(last.mean() - gn.acceptance_probability(k, mus[-2])) <= gn.hoeffding_halfwidth(r, 1.0, delta)
    lengths = space.lengths.astype(float)
    assert abs(lengths[finals].mean() - mus[-1] @ lengths) <= gn.hoeffding_halfwidth(r, space.max_len, delta)


def test_pool_scheme_target_and_limit(toy):
    space, _, _, logq, policy = toy
    a = gn.adapt(policy, ad.Temperature(0.5))
    rng = np.random.default_rng(2)
    pool = rng.choice(space.size, size=300, p=np.exp(a.log_local) / np.exp(a.log_local).sum())
    tgt = gn.pool_target(pool, logq, a.log_local, space.size)
    nu = np.bincount(pool, minlength=space.size) / pool.size
    with np.errstate(divide="ignore"):
        k = gn.imha_kernel(tgt, np.log(nu))
    np.testing.assert_allclose(gn.imha_step(k, k.pi), k.pi, atol=1e-14)   # stationary for the pool chain
    assert set(np.flatnonzero(tgt > -np.inf)) == set(pool.tolist())
    # the limit undoes the temperature: it is the untempered policy
    assert it.tvd(gn.pool_limit(logq, a.log_local), logq) < 1e-12
    picks, chain = gn.pool_chain(logq[pool], a.log_local[pool], 50, rng)
    assert picks.shape == (50,) and chain.states.max() < 50


def test_validation():
    with pytest.raises(ValueError):
        gn.mengersen_tweedie_bound(0.5, 3)
    with pytest.raises(ValueError):
        gn.hoeffding_halfwidth(0, 1.0, 0.1)
    with pytest.raises(ValueError):
        gn.pushed_to_prior(np.zeros(3), np.zeros(3), 0.0, 1.0)
    with pytest.raises(ValueError):
        gn.imha_kernel(np.log([0.5, 0.5]), np.array([0.0, -np.inf]))   # supp π not in supp q
    with pytest.raises(TypeError):
        gn.adapted_tables(np.zeros((3, 3)), ad.Identity())
    with pytest.raises(ValueError):
        it.renyi_entropy(np.log([0.5, 0.5]), float("nan"))
    assert gn.mengersen_tweedie_bound(1.0, 3) == 0.0 and gn.mengersen_tweedie_bound(4.0, 0) == 1.0


def test_imha_chain_reexport_is_the_engine_one():
    assert gn.imha_chain is imha_chain
