"""lmdist.exact.globalnorm: local vs global normalization of sampling adaptors on an exact toy LM."""

import math

import numpy as np
import pytest

from lmdist.exact import adaptors as ad
from lmdist.exact import globalnorm as gn
from lmdist.exact import infotheory as it
from lmdist.exact import strings as st
from lmdist.exact import tan2024 as tan


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(3)
    space = st.StringSpace(6, 3)
    prior = st.random_lm(space, rng, concentration=0.3)
    r = st.random_reward(space, rng)
    logq = it.normalize(prior.logp + r)
    return space, prior, r, logq, st.autoregressive(space, logq)


@pytest.mark.parametrize("setting", tan.settings(), ids=lambda s: s.name)
def test_adapt_matches_definition_and_normalizes(toy, setting):
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


def test_validation():
    with pytest.raises(ValueError, match="beta"):
        gn.pushed_to_prior(np.zeros(3), np.zeros(3), 0.0, 1.0)
    with pytest.raises(ValueError, match="reward"):
        gn.pushed_to_prior(np.zeros(3), np.zeros(4), 1.0, 1.0)
    with pytest.raises(TypeError):
        gn.adapted_tables(np.zeros((3, 3)), ad.Identity())
