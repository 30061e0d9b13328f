"""Information measures of distributions given by their log-probabilities, in nats.

Every function takes arrays of log-probabilities (``-inf`` for probability zero) that are
normalized along the last axis, and reduces over that axis: a 1-D input gives a np.float64, a
``(..., K)`` input an array of shape ``(...)`` (e.g. one value per prefix of a next-token table);
two arguments broadcast against each other (many q against one p).
Zeros are handled exactly, with the conventions 0 log 0 = 0 and 0 log(0/q) = 0, and
p log(p/0) = +inf for p > 0: a divergence is ``inf`` when the second argument misses part of
the first one's support. numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import checks


def normalize(logw: np.ndarray) -> np.ndarray:
    """log-softmax along the last axis: log w(y) - log sum_y' w(y').

    Raises if a row has no positive weight (all ``-inf``): it cannot be normalized.
    """
    logw = checks.array(logw, "logw")
    lz = logsumexp(logw, axis=-1, keepdims=True)
    if np.isneginf(lz).any():
        raise ValueError("logw is -inf everywhere (zero total weight) in some row: nothing to normalize")
    return logw - lz


def entropy(logp: np.ndarray) -> np.float64 | np.ndarray:
    """H(p) = -sum_y p(y) log p(y), with 0 log 0 = 0."""
    lp = checks.logprobs(logp, "logp")
    p = np.exp(lp)
    terms = np.where(p > 0, -p * np.where(p > 0, lp, 0.0), 0.0)
    return checks.as_result(np.maximum(terms.sum(-1), 0.0))


def cross_entropy(logp: np.ndarray, logq: np.ndarray) -> np.float64 | np.ndarray:
    """H(p, q) = -sum_y p(y) log q(y); +inf when q(y) = 0 < p(y) for some y. Equals H(p) + KL(p||q)."""
    lp, lq = checks.logprob_pair(logp, logq)
    p = np.exp(lp)
    on = p > 0
    miss = (on & np.isneginf(lq)).any(-1)
    terms = np.where(on & ~np.isneginf(lq), -p * np.where(np.isneginf(lq), 0.0, lq), 0.0)
    return checks.as_result(np.where(miss, np.inf, terms.sum(-1)))


def kl(logp: np.ndarray, logq: np.ndarray) -> np.float64 | np.ndarray:
    """KL(p||q) = sum_y p(y) log(p(y)/q(y)); +inf when q(y) = 0 < p(y) for some y.

    Computed as sum_y [p log(p/q) - p + q] = sum_{p>0} p (d + expm1(-d)) + sum_{p=0} q with
    d = log p - log q (written as q (d e^d - expm1(d)) where d < 0, so nothing overflows): equal to KL for
    normalized p and q, and every term is >= 0, so rounding never makes the result negative and KL(p||p) is
    exactly 0.
    """
    lp, lq = checks.logprob_pair(logp, logq)
    on = lp > -np.inf
    miss = (on & np.isneginf(lq)).any(-1)
    ok = on & ~np.isneginf(lq)
    d = np.where(ok, lp - np.where(ok, lq, 0.0), 0.0)
    # p (d - 1 + e^-d) for d >= 0 and, equal to it, q (d e^d - (e^d - 1)) for d < 0: no overflow.
    dp, dn = np.maximum(d, 0.0), np.minimum(d, 0.0)
    pos = np.exp(np.where(ok, lp, -np.inf)) * (dp + np.expm1(-dp))
    neg = np.exp(np.where(ok, lq, -np.inf)) * (dn * np.exp(dn) - np.expm1(dn))
    inside = np.where(d >= 0, pos, neg)
    outside = np.where(on, 0.0, np.exp(lq))
    return checks.as_result(np.where(miss, np.inf, np.maximum(inside.sum(-1) + outside.sum(-1), 0.0)))


def tvd(logp: np.ndarray, logq: np.ndarray, *, log: bool = True) -> np.float64 | np.ndarray:
    """TV(p, q) = (1/2) sum_y |p(y) - q(y)|, in [0, 1].

    ``log=False`` takes the probabilities p and q themselves (non-negative, normalized along the
    last axis to :data:`lmdist.exact.checks.MASS_TOL`), e.g. the marginals of a Markov chain.
    """
    if log:
        lp, lq = checks.logprob_pair(logp, logq)
        p, q = np.exp(lp), np.exp(lq)
    else:
        p, q = _probs(logp, "p"), _probs(logq, "q")
        if p.shape[-1] != q.shape[-1]:
            raise ValueError(f"p and q differ in support size: {p.shape} vs {q.shape}")
    return checks.as_result(np.clip(0.5 * np.abs(p - q).sum(-1), 0.0, 1.0))


def _probs(x: np.ndarray, name: str) -> np.ndarray:
    """Probabilities along the last axis: finite, >= 0, total mass one to MASS_TOL in every row."""
    a = checks.array(x, name)
    if np.any(a < 0) or np.isinf(a).any():
        raise ValueError(f"{name} must hold probabilities (finite and >= 0)")
    if np.any(np.abs(a.sum(-1) - 1.0) > checks.MASS_TOL):
        raise ValueError(f"{name} is not normalized along the last axis (total mass off by "
                         f"{float(np.abs(a.sum(-1) - 1.0).max()):.3g})")
    return a


def renyi_entropy(logp: np.ndarray, order: float | np.ndarray) -> np.float64 | np.ndarray:
    """Rényi entropy of any real order α, along the last axis:

        H_α(p) = 1/(1-α) log sum_{y in supp p} p(y)^α      (α ≠ 1),
        H_1 = H(p),   H_∞ = -log max p,   H_-∞ = -log min_{supp p} p.

    Non-increasing in α. ``order`` may be an array: the result has shape order.shape + logp.shape[:-1].
    """
    lp = checks.logprobs(logp, "logp")
    a = np.asarray(order, dtype=np.float64)
    if np.isnan(a).any():
        raise ValueError(f"order must hold numbers, not NaN: {order!r}")
    on = lp > -np.inf
    inner = np.where(on, lp, 0.0)
    values = []
    for alpha in a.reshape(-1):
        if alpha == 1.0:
            v = np.asarray(entropy(lp))
        elif alpha == np.inf:
            v = -lp.max(axis=-1)
        elif alpha == -np.inf:
            v = -np.where(on, lp, np.inf).min(axis=-1)
        else:
            v = logsumexp(np.where(on, alpha * inner, -np.inf), axis=-1) / (1.0 - alpha)
        values.append(v)
    return checks.as_result(np.stack(values).reshape(a.shape + lp.shape[:-1]))


def renyi(logp: np.ndarray, logq: np.ndarray, order: float) -> np.float64 | np.ndarray:
    """Rényi divergence of order α > 0:

        D_α(p||q) = 1/(α-1) log sum_y p(y)^α q(y)^(1-α)      (α ≠ 1, α < ∞),
        D_1(p||q) = KL(p||q),
        D_∞(p||q) = log max_{y: p(y)>0} p(y)/q(y).

    The sum runs over supp p. For α > 1 (and α = ∞) D_α = +inf when q(y) = 0 < p(y); for α < 1
    those terms are 0, and D_α = +inf only when p and q have disjoint supports.
    """
    alpha = float(order)
    if np.isnan(alpha) or alpha <= 0:
        raise ValueError(f"order must be > 0 (or inf), got {order!r}")
    if alpha == 1.0:
        return kl(logp, logq)
    lp, lq = checks.logprob_pair(logp, logq)
    on = lp > -np.inf
    both = on & (lq > -np.inf)
    miss = (on & ~both).any(-1)
    if np.isinf(alpha):
        ratio = np.where(both, lp - np.where(both, lq, 0.0), -np.inf).max(-1)
        return checks.as_result(np.where(miss, np.inf, np.maximum(ratio, 0.0)))
    terms = np.where(both, alpha * np.where(both, lp, 0.0) + (1 - alpha) * np.where(both, lq, 0.0), -np.inf)
    with np.errstate(divide="ignore"):
        s = logsumexp(terms, axis=-1)
    value = np.maximum(s / (alpha - 1.0), 0.0)  # s = -inf (disjoint supports, α < 1) gives +inf
    if alpha > 1:
        value = np.where(miss, np.inf, value)
    return checks.as_result(value)
