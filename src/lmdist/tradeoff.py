"""The probability–quality trade-off (seed 000, Tan et al. 2024): corpora, their averages, and
correlations with intervals at the string and the corpus level.

A *corpus* is a multiset of N strings; its averages are (1/N) Σ_n log p(y_n) and (1/N) Σ_n r(y_n).
Here corpora are index arrays into a pool of scored strings, so one pool serves every estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


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
