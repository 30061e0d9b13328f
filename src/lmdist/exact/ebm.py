"""Energy-based models on a finite string space: partition functions, next-token conditionals, the
ranking form of noise-contrastive estimation (NCE), and sampling by importance resampling (SIR).

An energy E assigns every string a finite number; the EBM is

    p_E(y) = e^{-E(y)} / Z,   Z = sum_y e^{-E(y)},

and a *residual* EBM on top of a base model p_θ is p(y) = p_θ(y) e^{-E(y)} / Z with
Z = E_{p_θ} e^{-E} (:func:`lmdist.exact.align.gibbs` with reward -E and β = 1). Its next-token
conditional needs the partition function of every prefix h, a sum over all futures,

    Z(h) = sum_{y : y starts with h} e^{-E(y)},    p(v | h) = Z(h·v) / Z(h),   p(EOS | h) = e^{-E(h)} / Z(h),

which is :func:`lmdist.exact.strings.prefix_log_marginals` of the unnormalised weights -E.
numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import quad
from scipy.special import logsumexp

from lmdist.exact import align, checks, exo, strings
from lmdist.exact import infotheory as it

# --------------------------------------------------------------------------- the EBM and its conditionals

def ebm_logp(energy: ArrayLike) -> np.ndarray:
    """log p_E(y) = -E(y) - log Z,  Z = sum_y e^{-E(y)} (E finite)."""
    return it.normalize(-checks.finite_vector(energy, "energy"))


def log_partition(energy: ArrayLike) -> np.float64:
    """log Z = log sum_y e^{-E(y)}."""
    e = checks.array(energy, "energy", ndim=1)
    return np.float64(logsumexp(-e))


def future_log_partitions(space: strings.StringSpace, energy: ArrayLike) -> np.ndarray:
    """log Z(h) = log sum_{y starts with h} e^{-E(y)} for every prefix h (Z(ε) = Z): the sum over
    all futures of h, computed bottom-up along the generation tree."""
    return strings.prefix_log_marginals(space, -checks.array(energy, "energy", ndim=1))


def conditionals(space: strings.StringSpace, energy: ArrayLike) -> np.ndarray:
    """The EBM's next-symbol table, p(v | h) = Z(h·v) / Z(h) and p(EOS | h) = e^{-E(h)} / Z(h)
    (column V = EOS): a ratio of partition functions over futures. Its product along a string is
    p_E(y) exactly (the normalisers telescope to Z(ε) = Z)."""
    return strings.next_token_table(space, -checks.array(energy, "energy", ndim=1))


def local_normalisation(space: strings.StringSpace, score_table: ArrayLike) -> strings.ToyLM:
    """The locally normalised model of per-step scores ``score_table[h, v]`` = -e(h, v):

        q(v | h) = e^{-e(h, v)} / sum_{v'} e^{-e(h, v')},

    whereas the EBM with the additive energy E(y) = sum_t e(y_<t, y_t) + e(y, EOS) has
    p(v | h) ∝ e^{-e(h, v)} Z(h·v): the future's partition function, which a local softmax drops."""
    table = np.array(score_table, dtype=np.float64)
    table[space.level(space.max_len), : space.alphabet_size] = -np.inf
    return strings.ToyLM(space, it.normalize(table))


def additive_energy(space: strings.StringSpace, score_table: ArrayLike) -> np.ndarray:
    """E(y) = -sum_t score_table[y_<t, y_t] - score_table[y, EOS] (:func:`strings.sequence_logscores`)."""
    return -strings.sequence_logscores(space, np.asarray(score_table, dtype=np.float64))


# --------------------------------------------------------------------------- NCE, ranking form

def nce_loss(s_pos: ArrayLike, s_neg: ArrayLike) -> np.ndarray:
    """The ranking NCE loss of each example, with scores s = log(model / noise) (up to a constant):

        ℓ = -log e^{s(y+)} / (e^{s(y+)} + sum_{k=1}^K e^{s(y-_k)})

    ``s_pos`` shape (n,), ``s_neg`` shape (n, K). For an EBM, s = -E - log p_N; for a residual EBM
    with p_N = p_θ, s = -E."""
    sp = checks.finite_vector(s_pos, "s_pos")
    sn = checks.array(s_neg, "s_neg", ndim=2)
    if sn.shape[0] != sp.shape[0]:
        raise ValueError(f"s_neg must have one row per example ({sp.shape[0]}), got shape {sn.shape}")
    return logsumexp(np.c_[sp, sn], axis=1) - sp


def nce_empirical(scores: ArrayLike, pos: ArrayLike, neg: ArrayLike) -> tuple[np.float64, np.ndarray]:
    """Mean :func:`nce_loss` of a sample, as a function of a tabular score s (one per string), and
    its gradient: with π_i the softmax over the K+1 candidates of example i,

        ∂/∂s_j = (1/n) sum_i [ sum_c π_{i,c} 1[cand_{i,c} = j] - 1[y+_i = j] ].
    """
    s = checks.finite_vector(scores, "scores")
    pos = np.asarray(pos, dtype=np.int64)
    neg = np.asarray(neg, dtype=np.int64)
    cand = np.c_[pos, neg]
    logits = s[cand]
    lse = logsumexp(logits, axis=1)
    soft = np.exp(logits - lse[:, None])
    grad = np.bincount(cand.ravel(), weights=soft.ravel(), minlength=s.size)
    grad -= np.bincount(pos, minlength=s.size)
    n = pos.size
    return np.float64((lse - logits[:, 0]).mean()), grad / n


def noise_multisets(log_noise: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every multiset of K draws from p_N, as counts n (rows, over the strings) with its probability

        log P(n) = log K! - sum_j log n_j! + sum_j n_j log p_N(j)   (multinomial),

    enumerated over supp p_N (C(m + K - 1, K) multisets for m strings in the support; at most
    :data:`lmdist.exact.exo.MULTISET_LIMIT`) by :func:`lmdist.exact.exo.multisets`."""
    ln = checks.logprobs(log_noise, "log_noise")
    on = np.flatnonzero(ln > -np.inf)
    c = exo.multisets(on.size, checks.integer(k, "k", lo=1))
    counts = np.zeros((len(c), ln.size))
    counts[:, on] = c
    return counts, exo.multinomial_logprob(c, ln[on])


def nce_population(scores: ArrayLike, log_data: ArrayLike, log_noise: ArrayLike, k: int,
                   multisets: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.float64, np.ndarray]:
    """The exact population ranking-NCE objective and its gradient in a tabular score s:

        L_K(s) = E_{y+ ~ p_d, y-_{1:K} ~ p_N} [ log(e^{s(y+)} + sum_k e^{s(y-_k)}) - s(y+) ],

    as a finite sum over y+ and the multisets of :func:`noise_multisets` (pass them to reuse).
    L_K is convex in s and unchanged by s + c; over all tabular s its minimisers are
    s = log(p_d / p_N) + c when supp p_d ⊆ supp p_N. ``scores`` must be finite on supp p_d ∪ supp p_N."""
    s = checks.finite_vector(scores, "scores")
    ld = checks.logprobs(log_data, "log_data")
    counts, logprob = noise_multisets(log_noise, k) if multisets is None else multisets
    data = np.flatnonzero(ld > -np.inf)
    with np.errstate(divide="ignore"):
        tot = logsumexp(np.log(counts) + s, axis=1)           # log sum_k e^{s(y-_k)}, one per multiset
    lse = np.logaddexp(s[data][:, None], tot[None, :])       # (data strings, multisets)
    pd, pn = np.exp(ld[data]), np.exp(logprob)
    loss = pd @ ((lse - s[data][:, None]) @ pn)
    # d/ds_j: -p_d(j) + sum_n P(n) [p_d(j) e^{s_j - lse[j,n]} + n_j e^{s_j} sum_{y+} p_d(y+) e^{-lse[y+,n]}]
    grad = np.zeros(s.size)
    grad[data] += pd * (np.exp(s[data][:, None] - lse) @ pn) - pd
    inv = pd @ np.exp(-lse)                                    # (multisets,)
    grad += np.exp(s) * ((pn * inv) @ counts)
    return np.float64(loss), grad


def nce_limit(scores: ArrayLike, log_data: ArrayLike, log_noise: ArrayLike) -> np.float64:
    """The K → ∞ limit of L_K(s) - log K: -E_{p_d} s + log E_{p_N} e^{s}, the negative log-likelihood
    of the model p_N e^{s} / E_{p_N} e^{s} under p_d (NCE with infinitely many negatives is MLE)."""
    s = checks.finite_vector(scores, "scores")
    ld = checks.logprobs(log_data, "log_data")
    ln = checks.logprobs(log_noise, "log_noise")
    on = ld > -np.inf
    return np.float64(-np.exp(ld[on]) @ s[on] + logsumexp(ln + s))


# --------------------------------------------------------------------------- SIR

def normalised_weights(log_base: ArrayLike, energy: ArrayLike) -> np.ndarray:
    """w(y) = e^{-E(y)} / E_{p_θ} e^{-E}: the importance weight of the residual EBM against its base,
    scaled to mean one under p_θ (so the target is π = p_θ w)."""
    lb = checks.logprobs(log_base, "log_base")
    e = checks.finite_vector(energy, "energy")
    return np.exp(-e - align.log_partition(lb, -e, 1.0))


def weight_moment(log_base: ArrayLike, energy: ArrayLike) -> np.float64:
    """ρ = E_{p_θ}[w²] / (E_{p_θ} w)² = 1 + χ²(π ‖ p_θ) >= 1."""
    lb = checks.logprobs(log_base, "log_base")
    w = normalised_weights(lb, energy)
    return np.float64(np.exp(lb) @ w ** 2)


def _laplace(log_base: np.ndarray, w: np.ndarray):  # type: ignore[no-untyped-def]
    p = np.exp(log_base)
    on = p > 0
    p, w = p[on], w[on]
    return lambda t: float(p @ np.exp(-t * w))


def sir_distribution(log_base: ArrayLike, energy: ArrayLike, k: int) -> np.ndarray:
    """The exact law of one SIR draw: K proposals y_1..y_K ~ p_θ, output y_i with probability w_i / sum_j w_j,

        q_K(y) = K p_θ(y) w(y) E[1 / (w(y) + S_{K-1})] = K p_θ(y) w(y) ∫_0^∞ e^{-t w(y)} φ(t)^{K-1} dt,

    S_{K-1} a sum of K-1 weights of independent proposals and φ(t) = E_{p_θ} e^{-t w} (1/a = ∫ e^{-ta} dt).
    q_1 = p_θ and q_K → π = p_θ w. Returned as log q_K (quadrature error ~1e-10 relative)."""
    lb = checks.logprobs(log_base, "log_base")
    k = checks.integer(k, "k", lo=1)
    w = normalised_weights(lb, energy)
    phi = _laplace(lb, w)
    out = np.full(lb.size, -np.inf)
    for y in np.flatnonzero(lb > -np.inf):
        val, _ = quad(lambda t, wy=w[y]: math.exp(-t * wy) * phi(t) ** (k - 1), 0, np.inf,
                      epsabs=0, epsrel=1e-11, limit=200)
        out[y] = math.log(k) + lb[y] + math.log(w[y]) + math.log(val)
    return out


def sir_tv_bound(log_base: ArrayLike, energy: ArrayLike, k: int) -> np.float64:
    """TV(q_K, π) <= (2ρ - 1) / K (the bias of self-normalised importance sampling for indicator
    functions; proof in chapter 11), ρ = :func:`weight_moment`."""
    return np.float64((2 * weight_moment(log_base, energy) - 1) / checks.integer(k, "k", lo=1))


def log_z_mean(log_base: ArrayLike, energy: ArrayLike, k: int) -> np.float64:
    """E[log Ẑ_K] - log Z for Ẑ_K = (1/K) sum_i e^{-E(y_i)}, y_i ~ p_θ: exactly, by Frullani's integral
    log a = ∫_0^∞ (e^{-t} - e^{-ta}) / t dt with E e^{-t Ẑ_K / Z} = φ(t/K)^K,

        E log(Ẑ_K / Z) = ∫_0^∞ (e^{-t} - φ(t/K)^K) / t dt  <= 0   (Jensen; ≈ -(ρ - 1)/(2K) for large K)."""
    lb = checks.logprobs(log_base, "log_base")
    k = checks.integer(k, "k", lo=1)
    phi = _laplace(lb, normalised_weights(lb, energy))

    def integrand(t: float) -> float:
        return (math.exp(-t) - phi(t / k) ** k) / t if t > 0 else 0.0

    a, _ = quad(integrand, 0, 1, epsabs=1e-13, epsrel=1e-11, limit=200)
    b, _ = quad(integrand, 1, np.inf, epsabs=1e-13, epsrel=1e-11, limit=200)
    return np.float64(a + b)


def sir_sample(rng: np.random.Generator, log_base: ArrayLike, energy: ArrayLike, k: int, n: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """n independent SIR draws (indices) and the n estimates log Ẑ_K - log Z of their proposal sets:
    K proposals from p_θ each, one resampled with probability softmax(-E) over the K."""
    lb = checks.logprobs(log_base, "log_base")
    e = checks.finite_vector(energy, "energy")
    k = checks.integer(k, "k", lo=1)
    n = checks.integer(n, "n", lo=1)
    p = np.exp(lb)
    props = rng.choice(lb.size, size=(n, k), p=p / p.sum())
    lw = np.log(normalised_weights(lb, e))[props]            # (n, K)
    soft = np.exp(lw - logsumexp(lw, axis=1, keepdims=True))
    u = rng.random(n)[:, None]
    pick = np.minimum((np.cumsum(soft, axis=1) < u).sum(1), k - 1)
    return props[np.arange(n), pick], logsumexp(lw, axis=1) - math.log(k)
