"""Information measures of distributions given by their log-probabilities, in nats.

Every function takes arrays of log-probabilities (``-inf`` for probability zero) that are
normalised along the last axis, and reduces over that axis: a 1-D input gives a float, a
``(..., K)`` input an array of shape ``(...)`` (e.g. one value per prefix of a next-token table);
two arguments broadcast against each other (many q against one p).
Zeros are handled exactly, with the conventions 0 log 0 = 0 and 0 log(0/q) = 0, and
p log(p/0) = +inf for p > 0: a divergence is ``inf`` when the second argument misses part of
the first one's support. numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

#: How far from 1 the total probability of an input may be.
MASS_TOL = 1e-6


def _logp(x: np.ndarray, name: str, check_mass: bool = True) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty array of log-probabilities")
    if np.isnan(x).any():
        raise ValueError(f"{name} holds NaN")
    if np.isposinf(x).any():
        raise ValueError(f"{name} holds +inf (a log-probability is at most 0)")
    if check_mass:
        mass = np.exp(logsumexp(x, axis=-1))
        if np.any(np.abs(mass - 1.0) > MASS_TOL):
            worst = float(np.max(np.abs(mass - 1.0)))
            raise ValueError(f"{name} is not normalised (total mass off by {worst:.3g}); "
                             f"pass it through infotheory.normalize first")
    return x


def _pair(logp: np.ndarray, logq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lp, lq = _logp(logp, "logp"), _logp(logq, "logq")
    if lp.shape[-1] != lq.shape[-1]:
        raise ValueError(f"logp and logq differ in shape: {lp.shape} vs {lq.shape}")
    try:
        return tuple(np.broadcast_arrays(lp, lq))
    except ValueError as err:
        raise ValueError(f"logp and logq shapes do not broadcast: {lp.shape} vs {lq.shape}") from err


def _out(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def normalize(logw: np.ndarray) -> np.ndarray:
    """log-softmax along the last axis: log w(y) - log sum_y' w(y').

    Raises if a row has no positive weight (all ``-inf``): it cannot be normalised.
    """
    logw = np.asarray(logw, dtype=np.float64)
    if logw.ndim == 0 or logw.shape[-1] == 0 or np.isnan(logw).any():
        raise ValueError("logw must be a non-empty array of log-weights without NaN")
    if np.isposinf(logw).any():
        raise ValueError("logw holds +inf: an infinite weight cannot be normalised")
    lz = logsumexp(logw, axis=-1, keepdims=True)
    if np.isneginf(lz).any():
        raise ValueError("logw is -inf everywhere (zero total weight): nothing to normalise")
    return logw - lz


def entropy(logp: np.ndarray) -> float | np.ndarray:
    """H(p) = -sum_y p(y) log p(y), with 0 log 0 = 0."""
    lp = _logp(logp, "logp")
    p = np.exp(lp)
    terms = np.where(p > 0, -p * np.where(p > 0, lp, 0.0), 0.0)
    return _out(np.maximum(terms.sum(-1), 0.0))


def cross_entropy(logp: np.ndarray, logq: np.ndarray) -> float | np.ndarray:
    """H(p, q) = -sum_y p(y) log q(y); +inf when q(y) = 0 < p(y) for some y. Equals H(p) + KL(p||q)."""
    lp, lq = _pair(logp, logq)
    p = np.exp(lp)
    on = p > 0
    miss = (on & np.isneginf(lq)).any(-1)
    terms = np.where(on & ~np.isneginf(lq), -p * np.where(np.isneginf(lq), 0.0, lq), 0.0)
    return _out(np.where(miss, np.inf, terms.sum(-1)))


def kl(logp: np.ndarray, logq: np.ndarray) -> float | np.ndarray:
    """KL(p||q) = sum_y p(y) log(p(y)/q(y)); +inf when q(y) = 0 < p(y) for some y.

    Computed as sum_y [p log(p/q) - p + q] = sum_{p>0} p (d + expm1(-d)) + sum_{p=0} q with
    d = log p - log q (written as q (d e^d - expm1(d)) where d < 0, so nothing overflows): equal to KL for normalised p and q, and every term is >= 0, so rounding
    never makes the result negative and KL(p||p) is exactly 0.
    """
    lp, lq = _pair(logp, logq)
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
    return _out(np.where(miss, np.inf, np.maximum(inside.sum(-1) + outside.sum(-1), 0.0)))


def tvd(logp: np.ndarray, logq: np.ndarray) -> float | np.ndarray:
    """TV(p, q) = (1/2) sum_y |p(y) - q(y)|, in [0, 1]."""
    lp, lq = _pair(logp, logq)
    return _out(np.clip(0.5 * np.abs(np.exp(lp) - np.exp(lq)).sum(-1), 0.0, 1.0))


def renyi_entropy(logp: np.ndarray, order: float | np.ndarray) -> float | np.ndarray:
    """Rényi entropy of any real order α, along the last axis:

        H_α(p) = 1/(1-α) log sum_{y in supp p} p(y)^α      (α ≠ 1),
        H_1 = H(p),   H_∞ = -log max p,   H_-∞ = -log min_{supp p} p.

    Non-increasing in α. ``order`` may be an array: the result has shape order.shape + logp.shape[:-1].
    """
    lp = _logp(logp, "logp")
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
    return _out(np.stack(values).reshape(a.shape + lp.shape[:-1]))


def renyi(logp: np.ndarray, logq: np.ndarray, order: float) -> float | np.ndarray:
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
    lp, lq = _pair(logp, logq)
    on = lp > -np.inf
    both = on & (lq > -np.inf)
    miss = (on & ~both).any(-1)
    if np.isinf(alpha):
        ratio = np.where(both, lp - np.where(both, lq, 0.0), -np.inf).max(-1)
        return _out(np.where(miss, np.inf, np.maximum(ratio, 0.0)))
    terms = np.where(both, alpha * np.where(both, lp, 0.0) + (1 - alpha) * np.where(both, lq, 0.0), -np.inf)
    with np.errstate(divide="ignore"):
        s = logsumexp(terms, axis=-1)
    value = np.maximum(s / (alpha - 1.0), 0.0)  # s = -inf (disjoint supports, α < 1) gives +inf
    if alpha > 1:
        value = np.where(miss, np.inf, value)
    return _out(value)
