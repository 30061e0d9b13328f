"""The probability–quality trade-off (seed 000, Tan et al. 2024): corpora, their averages, and
correlations with intervals at the string and the corpus level.

A *corpus* is a multiset of N strings; its averages are (1/N) Σ_n log p(y_n) and (1/N) Σ_n r(y_n).
Here corpora are index arrays into a pool of scored strings, so one pool serves every estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats


def _vector(x: np.ndarray | list[float], name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a one-dimensional array of finite numbers")
    return v


def bootstrap_corpora(rng: np.random.Generator, n_strings: int, n_corpora: int, corpus_size: int) -> np.ndarray:
    """``n_corpora`` corpora of ``corpus_size`` strings drawn uniformly with replacement from a pool of
    ``n_strings``: an (n_corpora, corpus_size) array of indices."""
    for name, v in (("n_strings", n_strings), ("n_corpora", n_corpora), ("corpus_size", corpus_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return rng.integers(0, n_strings, size=(n_corpora, corpus_size))


def corpus_means(values: np.ndarray, corpora: np.ndarray) -> np.ndarray:
    """Average of ``values`` over each corpus (row of indices): (1/N) Σ_n values[corpora[c, n]]."""
    return _vector(values, "values")[np.asarray(corpora)].mean(axis=-1)


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its two-sided confidence interval at ``level`` over ``n`` pairs."""

    method: str
    value: float
    low: float
    high: float
    n: int
    level: float


def correlation(x: np.ndarray, y: np.ndarray, method: str = "pearson", level: float = 0.95) -> Correlation:
    """Pearson's r or Spearman's ρ with a Fisher-z interval:

        z = artanh(c),  c ∈ tanh(z ± z_{(1+level)/2} · se),
        se = 1/√(n−3) (Pearson, bivariate normal),  se = √((1 + ρ²/2)/(n−3)) (Spearman; Bonett & Wright 2000).
    """
    x, y = _vector(x, "x"), _vector(y, "y")
    if len(x) != len(y) or len(x) < 4:
        raise ValueError(f"x and y must have the same length >= 4, got {len(x)} and {len(y)}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if method == "pearson":
        c = float(stats.pearsonr(x, y).statistic)
        se = 1 / math.sqrt(len(x) - 3)
    elif method == "spearman":
        c = float(stats.spearmanr(x, y).statistic)
        se = math.sqrt((1 + c * c / 2) / (len(x) - 3))
    else:
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    z, half = math.atanh(max(min(c, 1 - 1e-15), -1 + 1e-15)), stats.norm.ppf((1 + level) / 2) * se
    return Correlation(method, c, math.tanh(z - half), math.tanh(z + half), len(x), level)


def weighted_correlation(x: np.ndarray, y: np.ndarray, log_w: np.ndarray, method: str = "pearson") -> float:
    """The correlation of (X, Y) when outcome i has probability w_i ∝ exp(log_w_i):

        Pearson: Cov_w(X, Y) / √(Var_w X · Var_w Y);  Spearman: Pearson of the w-weighted mid-ranks
        (each value's rank is its mid-point cumulative weight F_w).
    """
    x, y, lw = _vector(x, "x"), _vector(y, "y"), np.asarray(log_w, dtype=np.float64)
    if not (len(x) == len(y) == len(lw)):
        raise ValueError("x, y and log_w must have the same length")
    w = np.exp(lw - lw.max())
    w = w / w.sum()
    if method == "spearman":
        x, y = _weighted_ranks(x, w), _weighted_ranks(y, w)
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    dx, dy = x - w @ x, y - w @ y
    return float((w @ (dx * dy)) / math.sqrt((w @ dx**2) * (w @ dy**2)))


def _weighted_ranks(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-point cumulative weight of each value, ties sharing one rank: F_w(v⁻) + w(v)/2."""
    uniq, inv = np.unique(v, return_inverse=True)
    mass = np.bincount(inv, weights=w, minlength=len(uniq))
    below = np.concatenate([[0.0], np.cumsum(mass)[:-1]])
    return (below + mass / 2)[inv]


# --- The seed's toy world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyWorld:
    """A finite outcome space {0, …, K−1} with an aligned model q, a prior p and a reward r such that
    q(y) = p(y) exp(r(y)/β) / Z exactly (here β = 1, Z = 1: r = log q − log p)."""

    log_q: np.ndarray
    log_p: np.ndarray
    reward: np.ndarray
    beta: float
    log_z: float


def toy_world(seed: int = 42, size: int = 1000, alpha: float = 0.1, scaling: float = 42.0,
              noise: float = 0.42) -> ToyWorld:
    """The toy of Tan et al. (2024), with their random-number usage (numpy's legacy generator):

        q ~ Dirichlet(α·1_K);  u_y ~ U(−noise, noise);  p = softmax(q^{1/scaling} + u);  r = log q − log p,

    drawn in that order from ``numpy.random.RandomState(seed)`` (the same stream as
    ``np.random.seed(seed)``), so q = p·e^{r/β}/Z with β = 1 and Z = 1.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an integer >= 2, got {size!r}")
    for name, v in (("alpha", alpha), ("scaling", scaling)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rs = np.random.RandomState(seed)
    q = rs.dirichlet(np.full(size, float(alpha)))
    u = rs.uniform(-noise, noise, size=size)
    if np.any(q <= 0):
        raise ValueError(f"the Dirichlet draw (seed={seed}, alpha={alpha}) has outcomes of probability 0 in "
                         "float64; raise alpha")
    logits = q ** (1.0 / scaling) + u
    log_p = logits - special.logsumexp(logits)
    log_q = np.log(q)
    return ToyWorld(log_q=log_q, log_p=log_p, reward=log_q - log_p, beta=1.0, log_z=0.0)


def corpus_counts(log_q: np.ndarray, n_corpora: int, corpus_size: int, first_seed: int = 0) -> np.ndarray:
    """Counts (n_corpora, K) of corpora of ``corpus_size`` i.i.d. draws from q; corpus c is the multiset
    that ``numpy.random.RandomState(first_seed + c).choice(K, corpus_size, p=q)`` draws (inverse CDF
    of the legacy uniforms, y = #{k : F(k) ≤ u}), counted by sorting the uniforms."""
    lq = _vector(log_q, "log_q")
    for name, v in (("n_corpora", n_corpora), ("corpus_size", corpus_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if isinstance(first_seed, bool) or not isinstance(first_seed, (int, np.integer)) or first_seed < 0:
        raise ValueError(f"first_seed must be an integer >= 0, got {first_seed!r}")
    cdf = np.cumsum(np.exp(lq))
    cdf /= cdf[-1]
    out = np.empty((n_corpora, len(cdf)), dtype=np.int64)
    for c in range(n_corpora):
        u = np.sort(np.random.RandomState(first_seed + c).random_sample(corpus_size))
        below = np.searchsorted(u, cdf, side="left")  # #{u < F(k)}
        out[c] = np.diff(below, prepend=0)
    return out


def count_means(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Corpus averages from counts: (1/N_c) Σ_y n_c(y) v(y) for each corpus (row) c."""
    n = np.asarray(counts, dtype=np.float64)
    v = _vector(values, "values")
    if n.ndim != 2 or n.shape[1] != len(v) or np.any(n < 0) or np.any(n.sum(axis=1) <= 0):
        raise ValueError(f"counts must be a (corpora, {len(v)}) array of non-negative counts, each row non-empty")
    return (n @ v) / n.sum(axis=1)


def identity_gap(avg_log_p: np.ndarray, avg_reward: np.ndarray, avg_log_q: np.ndarray, beta: float,
                 log_z: float | np.ndarray) -> np.ndarray:
    """avg log p + avg r/β − avg log q − log Z: zero for every corpus when q = p·e^{r/β}/Z, since the
    identity log p(y) + r(y)/β = log q(y) + log Z holds string by string and averaging is linear."""
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    return np.asarray(avg_log_p) + np.asarray(avg_reward) / beta - np.asarray(avg_log_q) - np.asarray(log_z)


def typical(avg_info: np.ndarray, entropy: float, eps: float) -> np.ndarray:
    """Which corpora are ε-typical: |(1/N) Σ_n −log q(y_n) − H(q)| < ε (a property of a corpus)."""
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    return np.abs(np.asarray(avg_info, dtype=np.float64) - entropy) < eps


def binned_resample(rng: np.random.Generator, x: np.ndarray, n_bins: int = 10, per_bin: int = 100) -> np.ndarray:
    """The seed's corpus-level estimator: cut [min x, max x] into ``n_bins`` equal-width bins and draw
    ``per_bin`` indices with replacement from each non-empty bin; returns the drawn indices (bin order)."""
    v = _vector(x, "x")
    for name, k in (("n_bins", n_bins), ("per_bin", per_bin)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    if len(v) == 0:
        raise ValueError("x must not be empty")
    edges = np.linspace(v.min(), v.max(), n_bins + 1)
    bins = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n_bins - 1)
    return np.concatenate([rng.choice(np.flatnonzero(bins == b), per_bin, replace=True)
                           for b in range(n_bins) if np.any(bins == b)])


def binned_correlation(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, method: str = "pearson",
                       n_bins: int = 10, per_bin: int = 100, n_boot: int = 200, level: float = 0.95) -> Correlation:
    """The seed's binned-resampling correlation (``binned_resample`` of x, then ``correlation``), with a
    percentile interval from ``n_boot`` repeats of the whole estimator on corpora resampled with
    replacement (so it covers both the corpora and the resampling; a Fisher-z interval on the
    n_bins·per_bin resampled pairs would count repeated corpora as new ones)."""
    x, y = _vector(x, "x"), _vector(y, "y")
    if len(x) != len(y) or len(x) < 4:
        raise ValueError(f"x and y must have the same length >= 4, got {len(x)} and {len(y)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")

    def once(xs: np.ndarray, ys: np.ndarray) -> float:
        i = binned_resample(rng, xs, n_bins, per_bin)
        return correlation(xs[i], ys[i], method).value

    value = once(x, y)
    boot = []
    for _ in range(n_boot):
        j = rng.integers(0, len(x), len(x))
        boot.append(once(x[j], y[j]))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Correlation(method, value, float(low), float(high), len(x), level)


def band_correlation(log_q: np.ndarray, log_p: np.ndarray, corpus_size: int, eps: float) -> float:
    """Correlation of (avg log p, avg r) over ε-typical corpora of size N from q, predicted by the
    identity avg r/β = B − X + log Z (X = avg log p, B = avg log q) and the normal approximation:

        (X, B) ~ N(·, Σ_q/N), b = Cov(X, B)/Var B, V_E = Var X − b² Var B;
        B | typical: normal truncated to E B ± ε, V_t = Var B·(1 − 2aφ(a)/(2Φ(a) − 1)), a = ε/√Var B;
        corr = (b V_t − (b² V_t + V_E)) / √((b² V_t + V_E)((1 − b)² V_t + V_E)).
    """
    lq, lp = _vector(log_q, "log_q"), _vector(log_p, "log_p")
    if len(lq) != len(lp):
        raise ValueError("log_q and log_p must have the same length")
    if isinstance(corpus_size, bool) or not isinstance(corpus_size, (int, np.integer)) or corpus_size < 1:
        raise ValueError(f"corpus_size must be an integer >= 1, got {corpus_size!r}")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    q = np.exp(lq - special.logsumexp(lq))
    dx, db = lp - q @ lp, lq - q @ lq
    vx, vb, cxb = (q @ dx**2) / corpus_size, (q @ db**2) / corpus_size, (q @ (dx * db)) / corpus_size
    b, a = cxb / vb, eps / math.sqrt(vb)
    vt = vb * (1 - 2 * a * stats.norm.pdf(a) / (2 * stats.norm.cdf(a) - 1))
    ve = vx - b * b * vb
    vx_t = b * b * vt + ve
    return float((b * vt - vx_t) / math.sqrt(vx_t * ((1 - b) ** 2 * vt + ve)))


# --- Groups (prompts) and the DPO implicit reward ---------------------------------------------------


def within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Deviations from the group means: v_i − mean{v_j : g_j = g_i} (removes any per-group constant)."""
    v = _vector(values, "values")
    g = np.asarray(groups)
    if g.shape != v.shape:
        raise ValueError(f"groups must have the shape of values {v.shape}, got {g.shape}")
    _, inv = np.unique(g, return_inverse=True)
    return v - (np.bincount(inv, weights=v) / np.bincount(inv))[inv]


def within_correlation(x: np.ndarray, y: np.ndarray, groups: np.ndarray, method: str = "pearson",
                       level: float = 0.95) -> Correlation:
    """The pooled within-group correlation: ``correlation`` of the group-centred values, its Fisher-z
    interval on n − (g − 1) pairs (one degree of freedom lost per group mean beyond the first)."""
    x, y = _vector(x, "x"), _vector(y, "y")
    g = np.asarray(groups)
    n_groups = len(np.unique(g))
    c = correlation(within(x, g), within(y, g), method, level)
    n_eff = len(x) - (n_groups - 1)
    if n_eff < 4:
        raise ValueError(f"within-group correlation needs n − (groups − 1) >= 4, got {n_eff}")
    se = (1 if method == "pearson" else math.sqrt(1 + c.value**2 / 2)) / math.sqrt(n_eff - 3)
    z, half = math.atanh(max(min(c.value, 1 - 1e-15), -1 + 1e-15)), stats.norm.ppf((1 + level) / 2) * se
    return Correlation(method, c.value, math.tanh(z - half), math.tanh(z + half), n_eff, level)


def dpo_implicit_reward(logp_policy: np.ndarray, logp_ref: np.ndarray, beta: float,
                        log_z: float | np.ndarray = 0.0) -> np.ndarray:
    """r(x, y) = β log π(y|x)/π_ref(y|x) + β log Z(x) (Rafailov et al. 2023), the reward for which π is
    the KL-regularised optimum π ∝ π_ref e^{r/β}; log Z(x) is a per-prompt constant DPO leaves free."""
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    lp, lr = _vector(logp_policy, "logp_policy"), _vector(logp_ref, "logp_ref")
    if len(lp) != len(lr):
        raise ValueError("logp_policy and logp_ref must have the same length")
    return beta * (lp - lr) + beta * np.asarray(log_z, dtype=np.float64)
