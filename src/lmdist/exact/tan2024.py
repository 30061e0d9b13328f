"""Tan, Valvoda, Liu, Svete, Qin, Kan and Cotterell (2024), "A Fundamental Trade-off in Aligned Language
Models and its Relation to Sampling Adaptors" (arXiv 2406.10203), reconstructed: the paper of chapters 05–07.

What is specific to that paper lives here, with its random-number usage where it matters:

* its toy world (:func:`toy_world`): an aligned model q, a prior p and a reward r with q = p·e^{r/β}/Z,
  and its corpora (:func:`corpus_counts`, corpus c drawn with numpy's legacy generator seeded with c);
* the identity its trade-off rests on, averaged over a corpus (:func:`identity_gap`);
* its corpus-level estimator: binned resampling of typical corpora (:func:`binned_resample`,
  :func:`binned_correlation`);
* its 35 adaptor settings (:func:`settings`, :func:`with_default_top_k`);
* its IMHA scheme: proposals drawn with replacement from a fixed pool of sampled strings, with the
  untempered policy as target (:func:`pool_chain`, :func:`pool_target`, :func:`pool_limit`). IMHA with
  proposal law ν and weight w targets ∝ ν · w, so that chain targets ν̂ · q/q̃ (ν̂ the pool's empirical
  law), which tends to q restricted to supp q̃ as the pool grows: the temperature is undone.

The general mathematics these use is elsewhere: correlations and corpus averages in
:mod:`lmdist.exact.stats`, typicality in :mod:`lmdist.exact.typicality`, IMHA in :mod:`lmdist.exact.imha`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from lmdist.exact import adaptors as ad
from lmdist.exact import checks, stats
from lmdist.exact import infotheory as it
from lmdist.exact.imha import Chain, imha_chain

# --------------------------------------------------------------------------- the 35 settings

#: The paper's seven adaptor families (name, transformers parameters other than the temperature).
#: ``top_k`` is always explicit (0 = none): transformers' old default of 50 is never implied.
FAMILIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ancestral", {"top_k": 0}),
    ("top-k 50", {"top_k": 50}),
    ("top-k 30", {"top_k": 30}),
    ("top-p 0.90", {"top_k": 0, "top_p": 0.90}),
    ("top-p 0.95", {"top_k": 0, "top_p": 0.95}),
    ("typical-p 0.90", {"top_k": 0, "typical_p": 0.90}),
    ("eta 0.0009", {"top_k": 0, "eta_cutoff": 0.0009}),
)
#: The paper's five temperatures.
TEMPERATURES: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
#: transformers' generation default that the paper's runs left active when no top_k was passed.
TRANSFORMERS_DEFAULT_TOP_K = 50


@dataclass(frozen=True)
class Setting:
    """One adaptor setting: a family at a temperature, with its full transformers spec."""

    name: str
    family: str
    temperature: float
    spec: dict[str, Any]

    def adaptor(self) -> ad.Adaptor:
        """The numpy adaptor, composed in transformers' order (temperature first)."""
        return ad.from_spec(self.spec)


def settings() -> tuple[Setting, ...]:
    """The paper's 7 families × 5 temperatures = 35 settings, family-major, e.g.
    ``Setting("top-p 0.90, T=0.5", "top-p 0.90", 0.5, {"temperature": 0.5, "top_k": 0, "top_p": 0.9})``."""
    return tuple(Setting(f"{fam}, T={t:g}", fam, t, {"temperature": t, **extra})
                 for fam, extra in FAMILIES for t in TEMPERATURES)


def with_default_top_k(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec the paper's code actually ran: transformers' ``top_k = 50`` added when ``top_k`` is 0
    for a family that is not ancestral (its top-p, typical and η runs passed no ``top_k``)."""
    out = dict(spec)
    truncates = any(k in out for k in ("top_p", "typical_p", "eta_cutoff", "epsilon_cutoff", "min_p"))
    if truncates and out.get("top_k", 0) == 0:
        out["top_k"] = TRANSFORMERS_DEFAULT_TOP_K
    return out


# --------------------------------------------------------------------------- the toy world and its corpora

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
    """The paper's toy, with its random-number usage (numpy's legacy generator):

        q ~ Dirichlet(α·1_K);  u_y ~ U(−noise, noise);  p = softmax(q^{1/scaling} + u);  r = log q − log p,

    drawn in that order from ``numpy.random.RandomState(seed)`` (the same stream as
    ``np.random.seed(seed)``, without touching the global state), so q = p·e^{r/β}/Z with β = 1, Z = 1.
    """
    seed = checks.integer(seed, "seed", lo=0)
    size = checks.integer(size, "size", lo=2)
    alpha = checks.real(alpha, "alpha", lo=0.0, open_lo=True)
    scaling = checks.real(scaling, "scaling", lo=0.0, open_lo=True)
    noise = checks.real(noise, "noise", lo=0.0)
    rs = np.random.RandomState(seed)
    q = rs.dirichlet(np.full(size, alpha))
    u = rs.uniform(-noise, noise, size=size)
    if np.any(q <= 0):
        raise ValueError(f"the Dirichlet draw (seed={seed}, alpha={alpha}) has outcomes of probability 0 in "
                         "float64; raise alpha")
    logits = q ** (1.0 / scaling) + u
    log_p = logits - special.logsumexp(logits)
    log_q = np.log(q)
    return ToyWorld(log_q=log_q, log_p=log_p, reward=log_q - log_p, beta=1.0, log_z=0.0)


def corpus_counts(log_q: ArrayLike, n_corpora: int, corpus_size: int, first_seed: int = 0) -> np.ndarray:
    """Counts (n_corpora, K) of the paper's corpora of ``corpus_size`` i.i.d. draws from q: corpus c is the
    multiset that ``numpy.random.RandomState(first_seed + c).choice(K, corpus_size, p=q)`` draws (inverse
    CDF of the legacy uniforms, y = #{k : F(k) ≤ u}), counted by sorting the uniforms.

    It lives here, not in :mod:`lmdist.exact.stats`, because what it adds is the paper's random stream
    (one legacy seed per corpus); averages over the counts are :func:`lmdist.exact.stats.count_means`."""
    lq = checks.finite_vector(log_q, "log_q")
    n_corpora = checks.integer(n_corpora, "n_corpora", lo=1)
    corpus_size = checks.integer(corpus_size, "corpus_size", lo=1)
    first_seed = checks.integer(first_seed, "first_seed", lo=0)
    cdf = np.cumsum(np.exp(lq))
    cdf /= cdf[-1]
    out = np.empty((n_corpora, len(cdf)), dtype=np.int64)
    for c in range(n_corpora):
        u = np.sort(np.random.RandomState(first_seed + c).random_sample(corpus_size))
        below = np.searchsorted(u, cdf, side="left")  # #{u < F(k)}
        out[c] = np.diff(below, prepend=0)
    return out


def identity_gap(avg_log_p: ArrayLike, avg_reward: ArrayLike, avg_log_q: ArrayLike, beta: float,
                 log_z: float | ArrayLike) -> np.ndarray:
    """avg log p + avg r/β − avg log q − log Z: zero for every corpus when q = p·e^{r/β}/Z, since the
    identity log p(y) + r(y)/β = log q(y) + log Z holds string by string and averaging is linear.

    It lives here, not in :mod:`lmdist.exact.typicality`, because it is the paper's identity (its
    trade-off is this line in the (avg log p, avg r) plane) and holds for every corpus, typical or not."""
    beta = checks.real(beta, "beta", lo=0.0, open_lo=True)
    return checks.as_result(np.asarray(avg_log_p, dtype=np.float64) + np.asarray(avg_reward, dtype=np.float64)
                            / beta - np.asarray(avg_log_q, dtype=np.float64) - np.asarray(log_z, dtype=np.float64))


# --------------------------------------------------------------------------- the binned estimator

def binned_resample(rng: np.random.Generator, x: ArrayLike, n_bins: int = 10, per_bin: int = 100) -> np.ndarray:
    """The paper's corpus-level estimator: cut [min x, max x] into ``n_bins`` equal-width bins and draw
    ``per_bin`` indices with replacement from each non-empty bin; returns the drawn indices (bin order)."""
    v = checks.finite_vector(x, "x")
    n_bins = checks.integer(n_bins, "n_bins", lo=1)
    per_bin = checks.integer(per_bin, "per_bin", lo=1)
    edges = np.linspace(v.min(), v.max(), n_bins + 1)
    bins = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n_bins - 1)
    return np.concatenate([rng.choice(np.flatnonzero(bins == b), per_bin, replace=True)
                           for b in range(n_bins) if np.any(bins == b)])


def binned_correlation(rng: np.random.Generator, x: ArrayLike, y: ArrayLike, method: str = "pearson",
                       n_bins: int = 10, per_bin: int = 100, n_boot: int = 200,
                       level: float = 0.95) -> stats.Correlation:
    """The paper's binned-resampling correlation (:func:`binned_resample` of x, then
    :func:`lmdist.exact.stats.correlation`), with a percentile interval from ``n_boot`` repeats of the
    whole estimator on corpora resampled with replacement (so it covers both the corpora and the
    resampling; a Fisher-z interval on the n_bins·per_bin resampled pairs would count repeated corpora
    as new ones)."""
    x, y = checks.finite_vector(x, "x"), checks.finite_vector(y, "y")
    if len(x) != len(y) or len(x) < 4:
        raise ValueError(f"x and y must have the same length >= 4, got {len(x)} and {len(y)}")
    n_boot = checks.integer(n_boot, "n_boot", lo=10)
    method, level = stats.check_method(method), stats.confidence_level(level)

    def once(xs: np.ndarray, ys: np.ndarray) -> np.float64:
        i = binned_resample(rng, xs, n_bins, per_bin)
        return stats.correlation(xs[i], ys[i], method).value

    value = once(x, y)
    boot = []
    for _ in range(n_boot):
        j = rng.integers(0, len(x), len(x))
        boot.append(once(x[j], y[j]))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return stats.Correlation(method, value, np.float64(low), np.float64(high), len(x), level)


# --------------------------------------------------------------------------- the pool scheme of IMHA

def pool_chain(pool_log_target: ArrayLike, pool_log_proposal: ArrayLike, n: int,
               rng: np.random.Generator) -> tuple[np.ndarray, Chain]:
    """The paper's scheme: n proposals drawn uniformly *with replacement* from a fixed pool of
    already sampled strings, accepted with min(1, w(y')/w(y)), w = target/proposal density of each
    pool string (:func:`lmdist.exact.imha.imha_chain`). Returns (pool positions of the proposals, chain)."""
    lt = checks.array(pool_log_target, "pool_log_target", ndim=1)
    lq = checks.array(pool_log_proposal, "pool_log_proposal", ndim=1)
    if lt.shape != lq.shape:
        raise ValueError(f"pool_log_target and pool_log_proposal differ in shape: {lt.shape} vs {lq.shape}")
    n = checks.integer(n, "n", lo=1)
    picks = rng.integers(0, lt.size, size=n)
    return picks, imha_chain(lt[picks], lq[picks], rng)


def pool_target(pool: ArrayLike, log_target: ArrayLike, log_proposal: ArrayLike, size: int) -> np.ndarray:
    """The stationary law of the pool scheme, as log-probabilities over the space {0, …, size−1}:

        ν̂(y) = #{pool entries equal to y} / M,    law(y) ∝ ν̂(y) · exp(log_target(y) − log_proposal(y)),

    since IMHA with proposal law ν and acceptance min(1, w'/w) satisfies detailed balance for ν·w."""
    size = checks.integer(size, "size", lo=1)
    idx = np.asarray(pool, dtype=np.int64)
    if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= size:
        raise ValueError(f"pool must be a non-empty 1-D array of indices in [0, {size - 1}]")
    lt, lq = checks.array(log_target, "log_target", ndim=1), checks.array(log_proposal, "log_proposal", ndim=1)
    counts = np.bincount(idx, minlength=size).astype(float)
    on = counts > 0
    score = np.full(size, -np.inf)
    score[on] = np.log(counts[on]) + lt[on] - lq[on]
    return it.normalize(score)


def pool_limit(log_target: ArrayLike, log_proposal: ArrayLike) -> np.ndarray:
    """The pool scheme's target as the pool grows (ν̂ → q̃): the target restricted to supp q̃,

        law(y) ∝ target(y) 1[q̃(y) > 0]."""
    lt, lq = checks.array(log_target, "log_target", ndim=1), checks.array(log_proposal, "log_proposal", ndim=1)
    return it.normalize(np.where(lq > -np.inf, lt, -np.inf))
