"""lmdist.exact.tradeoff: the seed's toy world, corpora, the identity, typicality and the correlation estimators."""

import math

import numpy as np
import pytest
from scipy import stats

from lmdist.exact import infotheory as it
from lmdist.exact import tradeoff as tr


@pytest.fixture(scope="module")
def world():
    return tr.toy_world()


def test_toy_world_matches_the_seed(world):
    # The seed's own settings give its published entropies (5.01 and 6.87 nats) and string-level correlations.
    assert round(it.entropy(world.log_q), 2) == 5.01
    assert round(it.entropy(world.log_p), 2) == 6.87
    assert round(tr.correlation(world.log_p, world.reward, "spearman").value, 2) == 0.43
    assert round(tr.correlation(world.log_p, world.reward, "pearson").value, 2) == 0.49


def test_toy_world_is_a_tilt(world):
    # q = p e^{r/beta} / Z with beta = 1, Z = 1; both normalised.
    assert np.allclose(world.log_p + world.reward / world.beta - world.log_z, world.log_q, atol=1e-12)
    assert math.isclose(np.exp(world.log_q).sum(), 1, rel_tol=1e-12)
    assert math.isclose(np.exp(world.log_p).sum(), 1, rel_tol=1e-12)


def test_toy_world_uses_the_legacy_global_stream():
    np.random.seed(7)
    q = np.random.dirichlet(np.full(50, 0.1))
    u = np.random.uniform(-0.42, 0.42, size=50)
    w = tr.toy_world(seed=7, size=50)
    logits = q ** (1 / 42) + u
    assert np.allclose(w.log_q, np.log(q), atol=0)
    assert np.allclose(w.log_p, logits - np.log(np.exp(logits).sum()), atol=1e-14)


def test_corpus_counts_equal_numpy_choice(world):
    q = np.exp(world.log_q)
    counts = tr.corpus_counts(world.log_q, 3, 20000, first_seed=5)
    for c in range(3):
        y = np.random.RandomState(5 + c).choice(len(q), 20000, p=q)
        assert np.array_equal(np.bincount(y, minlength=len(q)), counts[c])
    assert (counts.sum(axis=1) == 20000).all()


def test_seed_typical_count_is_213(world):
    # The seed's experiment: 1,000 corpora of 100,000, corpus c seeded with c, eps = 0.001 -> 213 typical.
    counts = tr.corpus_counts(world.log_q, 1000, 100_000)
    avg_lq = tr.count_means(counts, world.log_q)
    assert tr.typical(-avg_lq, it.entropy(world.log_q), 1e-3).sum() == 213


def test_identity_gap_is_zero_on_any_corpus(world):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5, size=(20, len(world.log_q)))  # arbitrary corpora, not drawn from q
    gap = tr.identity_gap(tr.count_means(counts, world.log_p), tr.count_means(counts, world.reward),
                          tr.count_means(counts, world.log_q), world.beta, world.log_z)
    assert np.abs(gap).max() < 1e-9


def test_count_means_equal_corpus_means():
    rng = np.random.default_rng(1)
    v = rng.normal(size=7)
    idx = rng.integers(0, 7, size=(4, 30))
    counts = np.stack([np.bincount(row, minlength=7) for row in idx])
    assert np.allclose(tr.count_means(counts, v), tr.corpus_means(v, idx))


def test_typical_and_validation():
    assert tr.typical(np.array([1.0, 1.0005, 1.002]), 1.0, 1e-3).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="eps"):
        tr.typical(np.zeros(2), 0.0, 0.0)


def test_binned_resample_draws_per_bin():
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros(5), np.ones(50)]
    idx = tr.binned_resample(rng, x, n_bins=2, per_bin=10)
    assert len(idx) == 20 and (x[idx[:10]] == 0).all() and (x[idx[10:]] == 1).all()
    # an empty bin is skipped
    idx = tr.binned_resample(rng, np.r_[0.0, 0.1, 1.0], n_bins=4, per_bin=3)
    assert len(idx) == 6
    with pytest.raises(ValueError, match="n_bins"):
        tr.binned_resample(rng, x, n_bins=0)


def test_binned_correlation_interval_contains_value():
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    y = -x + 0.5 * rng.normal(size=200)
    c = tr.binned_correlation(np.random.default_rng(0), x, y, n_boot=50)
    assert c.low <= c.value <= c.high and -1 < c.value < 0
    again = tr.binned_correlation(np.random.default_rng(0), x, y, n_boot=50)
    assert again == c


def test_band_correlation_matches_simulation():
    # Bivariate normal (X, B) with B truncated to a band: the formula against a large simulation.
    rng = np.random.default_rng(3)
    k = 40
    log_q = np.log(rng.dirichlet(np.ones(k)))
    log_p = np.log(rng.dirichlet(np.ones(k)))
    q = np.exp(log_q)
    n, eps = 400, 0.02
    pred = tr.band_correlation(log_q, log_p, n, eps)
    counts = rng.multinomial(n, q, size=200_000)
    x, b = counts @ log_p / n, counts @ log_q / n
    keep = np.abs(b - q @ log_q) < eps
    sim = stats.pearsonr(x[keep], b[keep] - x[keep]).statistic
    assert abs(sim - pred) < 0.03, (sim, pred, keep.sum())


def test_within_and_within_correlation():
    g = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    v = np.arange(9.0) + 10 * g
    w = tr.within(v, g)
    assert np.allclose(w, np.tile([-1.0, 0.0, 1.0], 3))
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=9), rng.normal(size=9)
    # invariant to any per-group constant added to either variable
    c1 = tr.within_correlation(x, y, g)
    c2 = tr.within_correlation(x + 5 * g, y - 3 * g**2, g)
    assert math.isclose(c1.value, c2.value, abs_tol=1e-12) and c1.n == 9 - 2
    with pytest.raises(ValueError, match="groups"):
        tr.within(v, g[:-1])


def test_dpo_implicit_reward_sign_and_identity():
    lp, lr = np.array([-3.0, -5.0]), np.array([-4.0, -4.0])
    r = tr.dpo_implicit_reward(lp, lr, 0.5)
    assert np.allclose(r, [0.5, -0.5])  # the more the policy prefers y than the reference, the higher r
    # the identity: log pi_ref + r/beta = log pi + log Z
    assert np.allclose(lr + tr.dpo_implicit_reward(lp, lr, 0.5, 2.0) / 0.5, lp + 2.0)
    with pytest.raises(ValueError, match="beta"):
        tr.dpo_implicit_reward(lp, lr, 0.0)


def test_averaging_keeps_pearson_correlation():
    # Theorem: corr of i.i.d. corpus averages = corr of single draws; bootstrap corpora of a pool.
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    y = 0.6 * x + rng.normal(size=300)
    idx = tr.bootstrap_corpora(rng, 300, 20_000, 25)
    c = tr.correlation(tr.corpus_means(x, idx), tr.corpus_means(y, idx), level=1 - 1e-4)
    assert c.low <= stats.pearsonr(x, y).statistic <= c.high


def test_weighted_correlation_with_uniform_weights_is_plain():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert math.isclose(tr.weighted_correlation(x, y, np.zeros(50)), stats.pearsonr(x, y).statistic, abs_tol=1e-12)
    assert math.isclose(tr.weighted_correlation(x, y, np.zeros(50), "spearman"), stats.spearmanr(x, y).statistic,
                        abs_tol=1e-12)


def test_validation_messages_name_the_parameter(world):
    with pytest.raises(ValueError, match="seed"):
        tr.toy_world(seed=-1)
    with pytest.raises(ValueError, match="size"):
        tr.toy_world(size=1)
    with pytest.raises(ValueError, match="n_corpora"):
        tr.corpus_counts(world.log_q, 0, 10)
    with pytest.raises(ValueError, match="counts"):
        tr.count_means(np.ones((2, 3)), np.ones(4))
