"""lmdist.exact.tan2024: the toy world, corpora, identity, binned estimator, 35 settings and pool scheme of
Tan et al. (2024)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from lmdist.exact import adaptors as ad
from lmdist.exact import align, imha, stats
from lmdist.exact import globalnorm as gn
from lmdist.exact import infotheory as it
from lmdist.exact import strings as st
from lmdist.exact import tan2024 as tan
from lmdist.exact import typicality as ty


@pytest.fixture(scope="module")
def world():
    return tan.toy_world()


def test_toy_world_matches_the_paper(world):
    # The paper's own settings give its published entropies (5.01 and 6.87 nats) and string-level correlations.
    assert round(float(it.entropy(world.log_q)), 2) == 5.01
    assert round(float(it.entropy(world.log_p)), 2) == 6.87
    assert round(float(stats.correlation(world.log_p, world.reward, "spearman").value), 2) == 0.43
    assert round(float(stats.correlation(world.log_p, world.reward, "pearson").value), 2) == 0.49


def test_toy_world_is_a_gibbs_tilt_with_log_z_zero(world):
    # Independently of how the world builds r: the Gibbs tilt of p by r at beta is q, and log Z (a sum over all
    # outcomes) is the world's log_z.
    np.testing.assert_allclose(align.gibbs(world.log_p, world.reward, world.beta), world.log_q, atol=1e-12)
    assert abs(align.log_partition(world.log_p, world.reward, world.beta) - world.log_z) < 1e-12


def test_toy_world_uses_the_legacy_global_stream_and_leaves_it_alone():
    state = np.random.get_state()[1].copy()
    w = tan.toy_world(seed=7, size=50)
    assert np.array_equal(np.random.get_state()[1], state)
    np.random.seed(7)
    q = np.random.dirichlet(np.full(50, 0.1))
    u = np.random.uniform(-0.42, 0.42, size=50)
    logits = q ** (1 / 42) + u
    assert np.array_equal(w.log_q, np.log(q))
    np.testing.assert_allclose(w.log_p, logits - np.log(np.exp(logits).sum()), atol=1e-14)


def test_corpus_counts_equal_numpy_choice(world):
    q = np.exp(world.log_q)
    counts = tan.corpus_counts(world.log_q, 3, 20000, first_seed=5)
    for c in range(3):
        y = np.random.RandomState(5 + c).choice(len(q), 20000, p=q)
        assert np.array_equal(np.bincount(y, minlength=len(q)), counts[c])


def test_paper_typical_count_is_213(world):
    # The paper's experiment: 1,000 corpora of 100,000, corpus c seeded with c, eps = 0.001 -> 213 typical.
    counts = tan.corpus_counts(world.log_q, 1000, 100_000)
    avg_lq = stats.count_means(world.log_q, counts)
    assert ty.typical(-avg_lq, it.entropy(world.log_q), 1e-3).sum() == 213


def test_identity_gap_measures_a_broken_identity(world):
    # Break the identity on one outcome by d: the gap of a corpus is then d/beta times that outcome's frequency,
    # and zero (to rounding) when the identity holds.
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5, size=(20, len(world.log_q)))
    broken = world.reward.copy()
    broken[3] += 0.7
    gap = tan.identity_gap(stats.count_means(world.log_p, counts), stats.count_means(broken, counts),
                           stats.count_means(world.log_q, counts), world.beta, world.log_z)
    np.testing.assert_allclose(gap, 0.7 / world.beta * counts[:, 3] / counts.sum(axis=1), atol=1e-9)
    exact = tan.identity_gap(stats.count_means(world.log_p, counts), stats.count_means(world.reward, counts),
                             stats.count_means(world.log_q, counts), world.beta, world.log_z)
    assert np.abs(exact).max() < 1e-9


def test_binned_resample_draws_per_bin():
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros(5), np.ones(50)]
    idx = tan.binned_resample(rng, x, n_bins=2, per_bin=10)
    assert len(idx) == 20 and (x[idx[:10]] == 0).all() and (x[idx[10:]] == 1).all()
    idx = tan.binned_resample(rng, np.r_[0.0, 0.1, 1.0], n_bins=4, per_bin=3)  # empty bins are skipped
    assert len(idx) == 6
    with pytest.raises(ValueError, match="n_bins"):
        tan.binned_resample(rng, x, n_bins=0)


def test_binned_correlation_keeps_pairs_together():
    # y = 2 - 3x exactly: every resample (if it keeps x_i with y_i) has correlation -1, so must the interval.
    x = np.random.default_rng(2).normal(size=200)
    c = tan.binned_correlation(np.random.default_rng(0), x, 2 - 3 * x, n_boot=20)
    assert c.value == pytest.approx(-1, abs=1e-12) and c.low == pytest.approx(-1, abs=1e-12)
    assert c.high == pytest.approx(-1, abs=1e-12)


def test_binned_correlation_interval_covers_its_target():
    # x ~ U(0, 1), y = x + N(0, s^2): equal-width bins of a uniform x keep it uniform, so the estimator targets the
    # population r = sqrt(1/12) / sqrt(1/12 + s^2). The percentile interval (corpora and resampling) must cover it at
    # about its level; a hit count below the binomial band of 0.9 at 1e-4 means the interval is too narrow.
    rng = np.random.default_rng(3)
    s, n, trials, level = 0.3, 300, 100, 0.9
    truth = math.sqrt(1 / 12) / math.sqrt(1 / 12 + s * s)
    hits = 0
    for _ in range(trials):
        x = rng.random(n)
        c = tan.binned_correlation(rng, x, x + s * rng.normal(size=n), "pearson", 10, 30, 100, level)
        hits += c.low <= truth <= c.high
    assert hits >= sps.binom.ppf(1e-4, trials, level), hits


def test_settings_are_the_35_of_the_paper():
    s = tan.settings()
    assert len(s) == 35 and len({x.name for x in s}) == 35
    assert {x.temperature for x in s} == set(tan.TEMPERATURES)
    assert all("top_k" in x.spec for x in s)  # never a hidden default
    assert s[0].adaptor() == ad.Temperature(0.5)
    assert isinstance(s[2].adaptor(), ad.Identity)  # ancestral at T = 1


def test_with_default_top_k():
    assert tan.with_default_top_k({"temperature": 1.0, "top_k": 0, "top_p": 0.9})["top_k"] == 50
    assert tan.with_default_top_k({"temperature": 1.0, "top_k": 30}) == {"temperature": 1.0, "top_k": 30}
    assert tan.with_default_top_k({"temperature": 0.5, "top_k": 0}) == {"temperature": 0.5, "top_k": 0}


def test_pool_scheme_target_and_limit():
    rng = np.random.default_rng(3)
    space = st.StringSpace(6, 3)
    prior = st.random_lm(space, rng, concentration=0.3)
    logq = it.normalize(prior.logp + st.random_reward(space, rng))
    a = gn.adapt(st.autoregressive(space, logq), ad.Temperature(0.5))
    pool = rng.choice(space.size, size=300, p=np.exp(a.log_local) / np.exp(a.log_local).sum())
    tgt = tan.pool_target(pool, logq, a.log_local, space.size)
    nu = np.bincount(pool, minlength=space.size) / pool.size
    with np.errstate(divide="ignore"):
        k = imha.imha_kernel(tgt, np.log(nu))
    np.testing.assert_allclose(imha.imha_step(k, k.pi), k.pi, atol=1e-14)   # stationary for the pool chain
    assert set(np.flatnonzero(tgt > -np.inf)) == set(pool.tolist())
    # the limit undoes the temperature: it is the untempered policy
    assert it.tvd(tan.pool_limit(logq, a.log_local), logq) < 1e-12
    picks, chain = tan.pool_chain(logq[pool], a.log_local[pool], 50, rng)
    assert picks.shape == (50,) and chain.states.max() < 50


def test_validation_messages_name_the_parameter(world):
    with pytest.raises(ValueError, match="seed"):
        tan.toy_world(seed=-1)
    with pytest.raises(ValueError, match="size"):
        tan.toy_world(size=1)
    with pytest.raises(ValueError, match="alpha"):
        tan.toy_world(alpha=0.0)
    with pytest.raises(ValueError, match="n_corpora"):
        tan.corpus_counts(world.log_q, 0, 10)
    with pytest.raises(ValueError, match="beta"):
        tan.identity_gap(0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="n_boot"):
        tan.binned_correlation(np.random.default_rng(0), np.arange(5.0), np.arange(5.0), n_boot=2)
    with pytest.raises(ValueError, match="pool"):
        tan.pool_target(np.array([5]), np.zeros(3), np.zeros(3), 3)
