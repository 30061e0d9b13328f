"""lmdist.exact.stats: correlations with Fisher-z intervals, corpora and their averages, Hoeffding's half-width.

Coverage tests run many trials from a fixed generator and accept the hit count inside the two-sided binomial
interval of the stated level with false-failure probability at most 1e-4 (the Fisher-z intervals are
approximations; at n = 50 their coverage is within a few thousandths of nominal, far inside that band).
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from lmdist.exact import stats

TRIALS = 2000
ALPHA = 1e-4


def binomial_band(trials: int, p: float) -> tuple[int, int]:
    """Hit counts outside [lo, hi] have probability at most ALPHA under Binomial(trials, p)."""
    return int(sps.binom.ppf(ALPHA / 2, trials, p)), int(sps.binom.isf(ALPHA / 2, trials, p))


def bivariate_normal(rng, rho, n):
    x = rng.normal(size=n)
    return x, rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)


@pytest.mark.parametrize("method", stats.METHODS)
def test_fisher_z_interval_covers_the_true_correlation_at_its_level(method):
    rng = np.random.default_rng(0)
    rho, n, level = 0.6, 50, 0.9
    # Spearman's population rho of a bivariate normal: (6/pi) arcsin(rho/2).
    truth = rho if method == "pearson" else 6 / math.pi * math.asin(rho / 2)
    hits = 0
    for _ in range(TRIALS):
        c = stats.correlation(*bivariate_normal(rng, rho, n), method, level)
        hits += c.low <= truth <= c.high
    lo, hi = binomial_band(TRIALS, level)
    assert lo <= hits <= hi, (hits, lo, hi)


def test_within_correlation_covers_the_within_group_correlation():
    # 10 groups of 5 with large per-group offsets on both variables: the pooled correlation is dominated by the
    # offsets, the within-group one is rho; its interval uses n - (g - 1) pairs.
    rng = np.random.default_rng(1)
    rho, g, size, level = -0.4, 10, 5, 0.9
    groups = np.repeat(np.arange(g), size)
    hits = 0
    for _ in range(TRIALS):
        x, y = bivariate_normal(rng, rho, g * size)
        off = rng.normal(scale=5.0, size=g)
        c = stats.within_correlation(x + off[groups], y + off[groups], groups, "pearson", level)
        hits += c.low <= rho <= c.high
    assert c.n == g * size - (g - 1)
    lo, hi = binomial_band(TRIALS, level)
    assert lo <= hits <= hi, (hits, lo, hi)


def test_fisher_z_interval_formula():
    low, high = stats.fisher_z_interval(0.5, 28, "pearson", 0.95)
    half = sps.norm.ppf(0.975) / 5.0
    assert (low, high) == pytest.approx((math.tanh(math.atanh(0.5) - half), math.tanh(math.atanh(0.5) + half)))
    assert isinstance(low, np.float64)
    low_s, high_s = stats.fisher_z_interval(0.5, 28, "spearman", 0.95)
    assert low_s < low and high_s > high  # Bonett & Wright widen the interval by sqrt(1 + c^2/2)


def test_within_removes_group_means():
    g = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    v = np.arange(9.0) + 10 * g
    np.testing.assert_allclose(stats.within(v, g), np.tile([-1.0, 0.0, 1.0], 3))
    with pytest.raises(ValueError, match="groups"):
        stats.within(v, g[:-1])


def test_weighted_correlation_equals_the_correlation_of_repeated_data():
    # Integer weights w_i: the weighted correlation is the plain one of the data with outcome i repeated w_i times
    # (Spearman: the repeated data's average ranks are an affine map of the weighted mid-ranks).
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=40), rng.normal(size=40) + 0.5 * np.arange(40) / 40
    x[5] = x[6]  # a tie
    reps = rng.integers(1, 6, size=40)
    xr, yr = np.repeat(x, reps), np.repeat(y, reps)
    log_w = np.log(reps) + 3.0  # unnormalized on purpose
    assert stats.weighted_correlation(x, y, log_w) == pytest.approx(sps.pearsonr(xr, yr).statistic, abs=1e-12)
    assert stats.weighted_correlation(x, y, log_w, "spearman") == pytest.approx(sps.spearmanr(xr, yr).statistic,
                                                                                 abs=1e-12)


def test_corpus_averages_by_index_and_by_count_agree():
    rng = np.random.default_rng(1)
    v = rng.normal(size=7)
    idx = stats.bootstrap_corpora(rng, 7, 4, 30)
    assert idx.shape == (4, 30) and idx.min() >= 0 and idx.max() < 7
    counts = np.stack([np.bincount(row, minlength=7) for row in idx])
    np.testing.assert_allclose(stats.count_means(v, counts), stats.corpus_means(v, idx), atol=1e-14)
    np.testing.assert_allclose(stats.corpus_means(v, idx), [v[row].mean() for row in idx], atol=1e-14)


def test_averaging_keeps_pearson_correlation():
    # Theorem (chapter 06): corr of i.i.d. corpus averages = corr of single draws; corpora bootstrapped from a pool
    # draw i.i.d. from the pool's empirical law, so the corpus-level interval must hold the pool's correlation.
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    y = 0.6 * x + rng.normal(size=300)
    idx = stats.bootstrap_corpora(rng, 300, 20_000, 25)
    c = stats.correlation(stats.corpus_means(x, idx), stats.corpus_means(y, idx), level=1 - 1e-4)
    assert c.low <= sps.pearsonr(x, y).statistic <= c.high


def test_hoeffding_halfwidth_bounds_the_deviation_frequency():
    # Means of n fair coins: P(|mean - 1/2| >= t) <= delta. The exact binomial tail is far below delta, so the
    # frequency over many trials must stay under delta plus its binomial slack.
    rng = np.random.default_rng(2)
    n, delta, trials = 100, 0.05, 20_000
    t = stats.hoeffding_halfwidth(n, 1.0, delta)
    assert t == pytest.approx(math.sqrt(math.log(2 / delta) / (2 * n)))
    exceed = int(np.sum(np.abs(rng.binomial(n, 0.5, size=trials) / n - 0.5) >= t))
    assert exceed <= binomial_band(trials, delta)[1]
    assert stats.hoeffding_halfwidth(n, 3.0, delta) == pytest.approx(3 * t)


def test_validation_names_the_parameter():
    x = np.arange(5.0)
    with pytest.raises(ValueError, match="method"):
        stats.correlation(x, x**2, "kendall")
    with pytest.raises(ValueError, match="level"):
        stats.correlation(x, x**2, level=1.0)
    with pytest.raises(ValueError, match="same length"):
        stats.correlation(x, x[:4])
    with pytest.raises(ValueError, match="n_corpora"):
        stats.bootstrap_corpora(np.random.default_rng(0), 5, 0, 3)
    with pytest.raises(ValueError, match="counts"):
        stats.count_means(np.ones(4), np.ones((2, 3)))
    with pytest.raises(ValueError, match="log_w"):
        stats.weighted_correlation(x, x, np.zeros(4))
    with pytest.raises(ValueError, match="groups"):
        stats.within_correlation(x, x**2, np.arange(5))
    with pytest.raises(ValueError, match="n"):
        stats.hoeffding_halfwidth(0, 1.0, 0.1)
    with pytest.raises(ValueError, match="delta"):
        stats.hoeffding_halfwidth(3, 1.0, 1.0)


def test_percentile_bootstrap_matches_the_normal_approximation():
    # The bootstrap means of n values have mean v̄ and variance σ̂²/n (σ̂² with ddof 0), and for n = 400 normal
    # values they are close to normal: the 95 % interval is v̄ ± 1.96 σ̂/√n. With 20000 resamples the quantiles
    # are estimated to about 0.02 standard errors, and the skewness of the bootstrap law moves them by about
    # 0.01; 0.1 standard errors is far outside both.
    rng = np.random.default_rng(3)
    v = rng.normal(size=400)
    resamples = stats.bootstrap_corpora(rng, len(v), 20_000, len(v))
    mean, low, high = stats.percentile_bootstrap(v, resamples)
    se = v.std() / math.sqrt(len(v))
    assert mean == pytest.approx(v.mean(), rel=1e-12)
    z = sps.norm.ppf(0.975)
    assert abs(low - (v.mean() - z * se)) < 0.1 * se
    assert abs(high - (v.mean() + z * se)) < 0.1 * se
    _, low50, high50 = stats.percentile_bootstrap(v, resamples, level=0.5)
    assert abs(high50 - low50 - 2 * sps.norm.ppf(0.75) * se) < 0.1 * se


def test_percentile_bootstrap_of_the_identity_resample_is_the_mean():
    v = np.array([3.0, -1.0, 4.0, 1.5])
    mean, low, high = stats.percentile_bootstrap(v, np.tile(np.arange(4), (7, 1)))
    assert low == pytest.approx(mean) and high == pytest.approx(mean) and mean == pytest.approx(1.875)


def test_hoeffding_ustat_deviation_bounds_the_upper_tail():
    # Ū: the mean over 3 groups of the order-2 U-statistic of h(a, b) = 1{a + b > 1} on 12 uniforms (E h = 1/2).
    # At δ = 0.25 the frequency of Ū − 1/2 >= t must stay under δ plus its binomial slack.
    rng = np.random.default_rng(4)
    n, groups, delta, trials = 12, 3, 0.25, 4000
    t = stats.hoeffding_ustat_deviation(n, 2, delta, n_groups=groups)
    x = rng.random((trials, groups, n))
    i, j = np.triu_indices(n, 1)
    u = ((x[..., i] + x[..., j]) > 1).mean(axis=-1).mean(axis=-1)
    assert int(np.sum(u - 0.5 >= t)) <= binomial_band(trials, delta)[1]


def test_hoeffding_ustat_deviation_counts_independent_blocks():
    # m = n_groups · ⌊n/order⌋ independent values: 4 groups of ⌊10/3⌋ = 3 blocks are 12 single draws, and a
    # one-sided bound at δ is the two-sided half-width at 2δ.
    t = stats.hoeffding_ustat_deviation(10, 3, 0.01, n_groups=4)
    assert t == pytest.approx(stats.hoeffding_ustat_deviation(12, 1, 0.01))
    assert t == pytest.approx(stats.hoeffding_halfwidth(12, 1.0, 0.02))
    assert stats.hoeffding_ustat_deviation(10, 3, 0.01, n_groups=4, value_range=2.5) == pytest.approx(2.5 * t)


def test_bootstrap_and_ustat_validation_names_the_parameter():
    with pytest.raises(ValueError, match="resamples"):
        stats.percentile_bootstrap(np.ones(3), np.array([[0, 3]]))
    with pytest.raises(ValueError, match="level"):
        stats.percentile_bootstrap(np.ones(3), np.array([[0, 1]]), level=0.0)
    with pytest.raises(ValueError, match="order"):
        stats.hoeffding_ustat_deviation(3, 4, 0.1)
    with pytest.raises(ValueError, match="delta"):
        stats.hoeffding_ustat_deviation(3, 1, 0.0)


def test_cluster_bootstrap_resamples_whole_clusters():
    # Each resample must consist of G whole clusters (every unit of a drawn cluster, as often as it was drawn).
    rng = np.random.default_rng(5)
    groups = np.repeat(np.array([7, 3, 9, 1]), [2, 3, 1, 4])  # unequal sizes, unsorted labels
    seen = []

    def record(idx):
        seen.append(np.sort(idx))
        return float(len(idx))

    value, _, _ = stats.cluster_bootstrap(rng, record, groups, 50)
    assert value == len(groups) and np.array_equal(seen[-1], np.arange(len(groups)))
    for idx in seen[:-1]:
        copies = {}
        for label in np.unique(groups):
            members = np.flatnonzero(groups == label)
            counts = np.array([np.sum(idx == i) for i in members])
            assert np.all(counts == counts[0]), "a cluster was split"
            copies[label] = counts[0]
        assert sum(copies.values()) == 4 and len(idx) == sum(c * np.sum(groups == k) for k, c in copies.items())


def test_cluster_bootstrap_interval_of_a_mean_has_the_between_cluster_width():
    # 200 clusters of 3 units sharing a cluster effect (sd 1, unit noise sd 0.3). The cluster bootstrap of the
    # mean resamples the cluster means, so its 95 % interval is mean ± 1.96 s_G/√G (s_G: sd of the cluster
    # means, ddof 0) up to Monte-Carlo error (5000 resamples: about 0.04 s_G/√G per quantile); resampling
    # units instead would give an interval about √(design effect) ≈ 1.6 times narrower.
    rng = np.random.default_rng(6)
    g, m = 200, 3
    groups = np.repeat(np.arange(g), m)
    v = np.repeat(rng.normal(size=g), m) + 0.3 * rng.normal(size=g * m)
    mean, low, high = stats.cluster_bootstrap(rng, lambda i: v[i].mean(), groups, 5000)
    se = v.reshape(g, m).mean(axis=1).std() / math.sqrt(g)
    z = sps.norm.ppf(0.975)
    assert mean == pytest.approx(v.mean(), rel=1e-12)
    assert abs(low - (mean - z * se)) < 0.15 * se
    assert abs(high - (mean + z * se)) < 0.15 * se
    assert (high - low) / (2 * z * v.std() / math.sqrt(g * m)) > 1.3


def test_cluster_bootstrap_validation_names_the_parameter():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="groups"):
        stats.cluster_bootstrap(rng, lambda i: 0.0, np.zeros(5), 10)
    with pytest.raises(ValueError, match="n_boot"):
        stats.cluster_bootstrap(rng, lambda i: 0.0, np.arange(5), 1)
    with pytest.raises(ValueError, match="statistic"):
        stats.cluster_bootstrap(rng, lambda i: np.nan, np.arange(5), 10)


def test_truncated_normal_variance_matches_numerical_integration():
    # Var(B | |B| <= eps) = ∫ b² φ_σ(b) db / ∫ φ_σ(b) db over [-eps, eps], by quadrature, and the two limits.
    from scipy import integrate

    for var, eps in ((4.0, 1.0), (0.3, 0.5), (1.0, 3.0)):
        sd = math.sqrt(var)
        num = integrate.quad(lambda b, sd=sd: b * b * sps.norm.pdf(b, scale=sd), -eps, eps)[0]
        den = sps.norm.cdf(eps, scale=sd) - sps.norm.cdf(-eps, scale=sd)
        assert stats.truncated_normal_variance(var, eps) == pytest.approx(num / den, rel=1e-9)
    assert stats.truncated_normal_variance(1.0, 1e-4) == pytest.approx(1e-8 / 3, rel=1e-6)
    assert stats.truncated_normal_variance(1.0, 40.0) == pytest.approx(1.0, rel=1e-12)


def test_band_covariance_matches_a_selected_normal_sample():
    # Keep the draws of a 3-D normal with |Z_1| <= 0.5 and compare the sample covariance of the kept ones with
    # the formula; sampling sd of each entry about 1/√(kept) ≈ 0.003, tolerance 0.015. The correction itself
    # (the full covariance minus the band's) is above 0.2 in every entry that involves Z_1 or Z_0.
    rng = np.random.default_rng(7)
    cov = np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.3], [0.5, 0.3, 1.0]])
    z = rng.multivariate_normal(np.zeros(3), cov, size=400_000)
    kept = z[np.abs(z[:, 1]) <= 0.5]
    predicted = stats.band_covariance(cov, 1, 0.5)
    assert np.max(np.abs(np.cov(kept.T) - predicted)) < 0.015
    assert np.abs(cov - predicted)[:2, :2].min() > 0.2
    assert predicted[1, 1] == pytest.approx(stats.truncated_normal_variance(1.0, 0.5))


def test_band_covariance_validation_names_the_parameter():
    with pytest.raises(ValueError, match="cov"):
        stats.band_covariance(np.array([[1.0, 0.2], [0.3, 1.0]]), 0, 1.0)
    with pytest.raises(ValueError, match="axis"):
        stats.band_covariance(np.eye(2), 2, 1.0)
    with pytest.raises(ValueError, match="halfwidth"):
        stats.band_covariance(np.eye(2), 0, 0.0)


def test_band_covariance_predicts_the_correlation_of_typical_corpora():
    """Corpora of N draws from q kept when typical: corr(avg log p, avg r) with avg r = avg log q - avg log p,
    predicted from band_covariance of (X, B) = (avg log p, avg log q) under the normal approximation, against
    200,000 simulated corpora (about 10 % kept: the sampling sd of the correlation is below 0.01, so 0.03 is 3+ sd;
    the normal approximation at N = 400 adds less)."""
    rng = np.random.default_rng(3)
    k = 40
    log_q, log_p = np.log(rng.dirichlet(np.ones(k))), np.log(rng.dirichlet(np.ones(k)))
    q = np.exp(log_q)
    n, eps = 400, 0.02
    cov = np.cov(np.stack([log_p, log_q]), aweights=q, bias=True) / n
    band = stats.band_covariance(cov, 1, eps)
    var_x, var_b, c_xb = band[0, 0], band[1, 1], band[0, 1]
    predicted = (c_xb - var_x) / np.sqrt(var_x * (var_b - 2 * c_xb + var_x))
    counts = rng.multinomial(n, q, size=200_000)
    x, b = counts @ log_p / n, counts @ log_q / n
    keep = np.abs(b - q @ log_q) <= eps
    simulated = np.corrcoef(x[keep], b[keep] - x[keep])[0, 1]
    assert abs(simulated - predicted) < 0.03, (simulated, predicted, keep.sum())
