"""Sampling statistics shared by the chapters: correlation coefficients with Fisher-z intervals (plain,
weighted, within groups), corpora drawn from a pool and their averages, and Hoeffding's half-width.

A *corpus* is a multiset of N strings; its average of a value v is (1/N) Σ_n v(y_n). A corpus is given
either as a row of indices into a pool of scored strings (:func:`bootstrap_corpora`, :func:`corpus_means`)
or as a row of counts over an outcome space (:func:`count_means`); both give the same average.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from lmdist.exact import checks

METHODS = ("pearson", "spearman")


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its two-sided confidence interval at ``level`` over ``n`` pairs."""

    method: str
    value: np.float64
    low: np.float64
    high: np.float64
    n: int
    level: float


def check_method(method: str) -> str:
    """``method`` checked to be one of :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def confidence_level(level: float) -> float:
    """``level`` checked to be a number in the open interval (0, 1), as a float."""
    lv = checks.real(level, "level", lo=0.0, hi=1.0, open_lo=True)
    if lv == 1.0:
        raise ValueError(f"level must be a finite number in (0, 1), got {level!r}")
    return lv


def _pair(x: ArrayLike, y: ArrayLike, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
    xv, yv = checks.finite_vector(x, "x"), checks.finite_vector(y, "y")
    if len(xv) != len(yv) or len(xv) < min_len:
        raise ValueError(f"x and y must have the same length >= {min_len}, got {len(xv)} and {len(yv)}")
    return xv, yv


def fisher_z_interval(value: float, n: int, method: str = "pearson", level: float = 0.95
                      ) -> tuple[np.float64, np.float64]:
    """The Fisher-z interval of a correlation c estimated from n pairs:

        z = artanh(c),  c ∈ tanh(z ± z_{(1+level)/2} · se),
        se = 1/√(n−3) (Pearson, bivariate normal),  se = √((1 + c²/2)/(n−3)) (Spearman; Bonett & Wright 2000).

    c = ±1 is moved 1e-15 inside (−1, 1) so that artanh stays finite.
    """
    c = checks.real(value, "value", lo=-1.0, hi=1.0)
    n = checks.integer(n, "n", lo=4)
    se = 1 / math.sqrt(n - 3) if check_method(method) == "pearson" else math.sqrt((1 + c * c / 2) / (n - 3))
    z, half = math.atanh(max(min(c, 1 - 1e-15), -1 + 1e-15)), stats.norm.ppf((1 + confidence_level(level)) / 2) * se
    return np.float64(math.tanh(z - half)), np.float64(math.tanh(z + half))


def correlation(x: ArrayLike, y: ArrayLike, method: str = "pearson", level: float = 0.95) -> Correlation:
    """Pearson's r or Spearman's ρ of the pairs (x_i, y_i) with its :func:`fisher_z_interval`."""
    x, y = _pair(x, y, min_len=4)
    stat = stats.pearsonr if check_method(method) == "pearson" else stats.spearmanr
    c = np.float64(stat(x, y).statistic)
    return Correlation(method, c, *fisher_z_interval(c, len(x), method, level), len(x), confidence_level(level))


def weighted_correlation(x: ArrayLike, y: ArrayLike, log_w: ArrayLike, method: str = "pearson") -> np.float64:
    """The correlation of (X, Y) when outcome i has probability w_i ∝ exp(log_w_i):

        Pearson: Cov_w(X, Y) / √(Var_w X · Var_w Y);  Spearman: Pearson of the w-weighted mid-ranks
        (each value's rank is its mid-point cumulative weight F_w).
    """
    x, y = _pair(x, y)
    lw = checks.array(log_w, "log_w", ndim=1)
    if len(lw) != len(x):
        raise ValueError(f"log_w must have the length of x ({len(x)}), got {len(lw)}")
    w = np.exp(lw - lw.max())
    w = w / w.sum()
    if check_method(method) == "spearman":
        x, y = _weighted_ranks(x, w), _weighted_ranks(y, w)
    dx, dy = x - w @ x, y - w @ y
    return np.float64((w @ (dx * dy)) / math.sqrt((w @ dx**2) * (w @ dy**2)))


def _weighted_ranks(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-point cumulative weight of each value, ties sharing one rank: F_w(v⁻) + w(v)/2."""
    uniq, inv = np.unique(v, return_inverse=True)
    mass = np.bincount(inv, weights=w, minlength=len(uniq))
    below = np.concatenate([[0.0], np.cumsum(mass)[:-1]])
    return (below + mass / 2)[inv]


def within(values: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """Deviations from the group means: v_i − mean{v_j : g_j = g_i} (removes any per-group constant)."""
    v = checks.finite_vector(values, "values")
    g = np.asarray(groups)
    if g.shape != v.shape:
        raise ValueError(f"groups must have the shape of values {v.shape}, got {g.shape}")
    _, inv = np.unique(g, return_inverse=True)
    return v - (np.bincount(inv, weights=v) / np.bincount(inv))[inv]


def within_correlation(x: ArrayLike, y: ArrayLike, groups: ArrayLike, method: str = "pearson",
                       level: float = 0.95) -> Correlation:
    """The pooled within-group correlation: :func:`correlation` of the group-centred values (:func:`within`),
    with its Fisher-z interval on n − (g − 1) pairs (one degree of freedom lost per group mean beyond the first)."""
    x, y = _pair(x, y, min_len=4)
    g = np.asarray(groups)
    n_eff = len(x) - (len(np.unique(g)) - 1)
    if n_eff < 4:
        raise ValueError(f"within-group correlation needs n − (groups − 1) >= 4, got {n_eff}")
    c = correlation(within(x, g), within(y, g), method, level)
    return Correlation(method, c.value, *fisher_z_interval(c.value, n_eff, method, level), n_eff, c.level)


def bootstrap_corpora(rng: np.random.Generator, n_strings: int, n_corpora: int, corpus_size: int) -> np.ndarray:
    """``n_corpora`` corpora of ``corpus_size`` strings drawn uniformly with replacement from a pool of
    ``n_strings``: an (n_corpora, corpus_size) array of indices."""
    n_strings = checks.integer(n_strings, "n_strings", lo=1)
    n_corpora = checks.integer(n_corpora, "n_corpora", lo=1)
    corpus_size = checks.integer(corpus_size, "corpus_size", lo=1)
    return rng.integers(0, n_strings, size=(n_corpora, corpus_size))


def corpus_means(values: ArrayLike, corpora: ArrayLike) -> np.ndarray:
    """Average of ``values`` over each corpus given as a row of indices: (1/N) Σ_n values[corpora[c, n]]."""
    return checks.finite_vector(values, "values")[np.asarray(corpora)].mean(axis=-1)


def count_means(values: ArrayLike, counts: ArrayLike) -> np.ndarray:
    """Average of ``values`` over each corpus given as a row of counts: (1/N_c) Σ_y n_c(y) v(y)."""
    v = checks.finite_vector(values, "values")
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 2 or n.shape[1] != len(v) or np.any(n < 0) or np.any(n.sum(axis=1) <= 0):
        raise ValueError(f"counts must be a (corpora, {len(v)}) array of non-negative counts, each row non-empty")
    return (n @ v) / n.sum(axis=1)


def hoeffding_halfwidth(n: int, value_range: float, delta: float) -> np.float64:
    """t with P(|mean of n i.i.d. values in an interval of length R − E| >= t) <= δ (Hoeffding 1963):

        t = R √(log(2/δ) / (2n)).
    """
    n = checks.integer(n, "n", lo=1)
    value_range = checks.real(value_range, "value_range", lo=0.0)
    d = checks.real(delta, "delta", lo=0.0, hi=1.0, open_lo=True)
    if d == 1.0:
        raise ValueError(f"delta must be a finite number in (0, 1), got {delta!r}")
    return np.float64(value_range * math.sqrt(math.log(2.0 / d) / (2.0 * n)))


def percentile_bootstrap(values: ArrayLike, resamples: ArrayLike, level: float = 0.95
                         ) -> tuple[np.float64, np.float64, np.float64]:
    """The mean of ``values`` and its percentile-bootstrap interval at ``level``:

        (v̄,  Q_{(1−level)/2}(m),  Q_{(1+level)/2}(m)),   m_b = (1/n) Σ_j v[resamples[b, j]],

    with Q numpy's (linear) quantile over the resamples b. ``resamples`` is a (n_boot, n) array of
    indices into ``values`` (:func:`bootstrap_corpora`); passing the same array for several estimates
    over the same units (e.g. prompts) resamples them jointly.
    """
    v = checks.finite_vector(values, "values")
    idx = np.asarray(resamples)
    if idx.ndim != 2 or idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= len(v):
        raise ValueError(f"resamples must be a non-empty 2-D array of indices in [0, {len(v)}), got shape "
                         f"{idx.shape} of dtype {idx.dtype}")
    lv = confidence_level(level)
    low, high = np.quantile(corpus_means(v, idx), [(1 - lv) / 2, (1 + lv) / 2])
    return v.mean(), np.float64(low), np.float64(high)


def hoeffding_ustat_deviation(n: int, order: int, delta: float, *, n_groups: int = 1,
                              value_range: float = 1.0) -> np.float64:
    """One-sided: t with P(Ū − E Ū >= t) <= δ (and likewise P(E Ū − Ū >= t) <= δ), where Ū averages
    ``n_groups`` independent U-statistics, each of order k = ``order`` on n i.i.d. draws, with kernel
    values in an interval of length R (Hoeffding 1963, section 5: a U-statistic is an average of means
    of ⌊n/k⌋ independent kernel values, so the groups together give m independent values):

        t = R √(log(1/δ) / (2m)),   m = n_groups · ⌊n/k⌋.
    """
    n = checks.integer(n, "n", lo=1)
    order = checks.integer(order, "order", lo=1, hi=n)
    n_groups = checks.integer(n_groups, "n_groups", lo=1)
    value_range = checks.real(value_range, "value_range", lo=0.0)
    d = checks.real(delta, "delta", lo=0.0, hi=1.0, open_lo=True)
    if d == 1.0:
        raise ValueError(f"delta must be a finite number in (0, 1), got {delta!r}")
    m = n_groups * (n // order)
    return np.float64(value_range * math.sqrt(math.log(1.0 / d) / (2.0 * m)))


def cluster_bootstrap(rng: np.random.Generator, statistic: Callable[[np.ndarray], float], groups: ArrayLike,
                      n_boot: int, level: float = 0.95) -> tuple[np.float64, np.float64, np.float64]:
    """A statistic of clustered units and its percentile interval from resampling whole clusters:

        θ̂ = statistic(0, …, n−1);   θ*_b = statistic(I_b),   I_b = the unit indices of G clusters drawn
        uniformly with replacement from the G clusters (a cluster drawn twice contributes its units twice);
        returns (θ̂, Q_{(1−level)/2}(θ*), Q_{(1+level)/2}(θ*)).

    ``statistic`` maps an index array into the units (e.g. strings) to a real number; ``groups[i]`` is the
    cluster (e.g. prompt) of unit i. Units of one cluster are dependent (they share the prompt), so
    resampling units one by one would understate the spread; resampling clusters keeps that dependence
    (Davison & Hinkley 1997, section 3.8).
    """
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0:
        raise ValueError(f"groups must be a non-empty 1-D array of cluster labels, got shape {g.shape}")
    _, inv = np.unique(g, return_inverse=True)
    n_clusters = int(inv.max()) + 1
    if n_clusters < 2:
        raise ValueError(f"groups must hold at least 2 clusters to resample, got {n_clusters}")
    n_boot = checks.integer(n_boot, "n_boot", lo=2)
    lv = confidence_level(level)
    order = np.argsort(inv, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inv))[:-1])
    draws = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    thetas = np.array([statistic(np.concatenate([members[k] for k in row])) for row in draws], dtype=np.float64)
    if not np.all(np.isfinite(thetas)):
        raise ValueError("statistic must return a finite number on every resample")
    low, high = np.quantile(thetas, [(1 - lv) / 2, (1 + lv) / 2])
    return np.float64(statistic(np.arange(len(g)))), np.float64(low), np.float64(high)


def truncated_normal_variance(var: float, halfwidth: float) -> np.float64:
    """Var(B | |B − E B| ≤ ε) for B normal with variance σ² (a = ε/σ, φ and Φ the standard normal's
    density and distribution function):

        σ² (1 − 2aφ(a)/(2Φ(a) − 1)),   → ε²/3 as a → 0 (nearly uniform on the band), → σ² as a → ∞.
    """
    v = checks.real(var, "var", lo=0.0, open_lo=True)
    a = checks.real(halfwidth, "halfwidth", lo=0.0, open_lo=True) / math.sqrt(v)
    return np.float64(v * stats.truncnorm(-a, a).var())


def band_covariance(cov: ArrayLike, axis: int, halfwidth: float) -> np.ndarray:
    """The covariance matrix of a normal vector Z kept only where |Z_k − E Z_k| ≤ ε (k = ``axis``):

        Σ_t = Σ − (1 − V_t/Σ_kk) Σ_{·k} Σ_{k·} / Σ_kk,   V_t = :func:`truncated_normal_variance` (Σ_kk, ε).

    Why: Z = E Z + (Σ_{·k}/Σ_kk)(Z_k − E Z_k) + E with E independent of Z_k, so a selection on Z_k leaves
    E's law alone and only replaces Var Z_k by V_t.
    """
    c = checks.array(cov, "cov", ndim=2)
    if c.shape[0] != c.shape[1] or not np.allclose(c, c.T):
        raise ValueError(f"cov must be a symmetric square matrix, got shape {c.shape}")
    axis = checks.integer(axis, "axis", lo=0, hi=c.shape[0] - 1)
    vk = c[axis, axis]
    col = c[:, axis]
    return c - (1 - truncated_normal_variance(vk, halfwidth) / vk) * np.outer(col, col) / vk
