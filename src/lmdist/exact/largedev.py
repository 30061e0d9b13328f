"""Large deviations of an additive reward under a memoryless model. numpy and scipy only; log space.

Setting: a memoryless model over strings of n tokens, p(y) = prod_i p(y_i), and a linear reward
r(y) = sum_i r(y_i), given by a per-token distribution ``logp`` (over V tokens) and per-token rewards
``r`` (V numbers). With R_n = r(Y), Y ~ p:

* cumulant generating function  Lambda(lam) = log E_p e^{lam r} = log sum_v p_v e^{lam r_v}, and
  (1/n) log E e^{lam R_n} = Lambda(lam) for every n;
* rate function (Legendre transform)  I(x) = sup_lam (lam x - Lambda(lam)); for min r < x < max r the
  sup is attained at the lam with Lambda'(lam) = E_{p_lam}[r] = x, where p_lam ∝ p e^{lam r} is the
  per-token tilt, and I(x) = KL(p_lam || p); I(max r) = -log p(r = max r), I(x) = +inf outside
  [min r, max r]; for two tokens with rewards r_0 < r_1, I is the binary KL
  I(x) = kl(theta || p_1), theta = (x - r_0)/(r_1 - r_0);
* Cramer's theorem: -(1/n) log P(R_n >= n x) -> I(x) for E r < x <= max r; Chernoff:
  P(R_n >= n x) <= e^{-n I(x)} for every n and x >= E r; Bahadur-Rao (lattice of span h, n x on the
  lattice): P(R_n >= n x) ~ e^{-n I(x)} h / ((1 - e^{-lam h}) sigma_lam sqrt(2 pi n)),
  sigma_lam^2 = Lambda''(lam);
* Renyi cross entropy H_a(p, q) = (1/(1-a)) log sum_v p_v q_v^{a-1} (a != 1; H_1 = cross entropy): with
  q = softmax(r) (so r_v = log q_v + c, c = logsumexp(r)), Lambda(lam) = lam c - lam H_{1+lam}(p, q).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp

from lmdist.exact import checks, tilting
from lmdist.exact import infotheory as it


def _check_x(x: float) -> float:
    x = float(x)
    if math.isnan(x):
        raise ValueError("x must be a number, got NaN")
    return x


def legendre_lambda(logp: np.ndarray, r: np.ndarray, x: float) -> float:
    """The lam with Lambda'(lam) = x, for min r < x < max r (Brent's method; Lambda' is increasing).

    Returns +inf at x = max r and -inf at x = min r; raises outside [min r, max r].
    """
    lp, r = tilting.token_model(logp, r)
    x = _check_x(x)
    live = lp > -np.inf
    lo_r, hi_r = r[live].min(), r[live].max()
    if x > hi_r or x < lo_r:
        raise ValueError(f"x = {x!r} lies outside [min r, max r] = [{lo_r}, {hi_r}] on supp p: I(x) = inf")
    if x == hi_r:
        return math.inf
    if x == lo_r:
        return -math.inf
    f = lambda lam: tilting.tilted_mean(lp, r, lam) - x  # noqa: E731
    spread = max(hi_r - lo_r, 1e-300)
    a, b = -1.0 / spread, 1.0 / spread
    while f(a) > 0:
        a *= 2.0
    while f(b) < 0:
        b *= 2.0
    return brentq(f, a, b, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)


def _lambda_roots(lp: np.ndarray, r: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Vectorised root of Lambda'(lam) = x for every x in (min r, max r): bisection on a bracket doubled
    until it holds every root, 200 halvings (to the float resolution of lam)."""
    def mean(lam: np.ndarray) -> np.ndarray:
        w = lp[None, :] + lam[:, None] * r[None, :]
        w = np.exp(w - w.max(1, keepdims=True))
        return (w @ r) / w.sum(1)

    spread = max(float(np.ptp(r[lp > -np.inf])), 1e-300)
    lo, hi = np.full(len(xs), -1.0 / spread), np.full(len(xs), 1.0 / spread)
    for _ in range(2000):
        bad = mean(lo) > xs
        if not bad.any():
            break
        lo[bad] *= 2.0
    for _ in range(2000):
        bad = mean(hi) < xs
        if not bad.any():
            break
        hi[bad] *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = mean(mid) < xs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(np.abs(lo), np.abs(hi))):
            break
    return 0.5 * (lo + hi)


@overload
def rate_function(logp: np.ndarray, r: np.ndarray, x: float) -> np.float64: ...
@overload
def rate_function(logp: np.ndarray, r: np.ndarray, x: np.ndarray) -> np.ndarray: ...


def rate_function(logp: np.ndarray, r: np.ndarray, x: float | np.ndarray) -> np.float64 | np.ndarray:
    """I(x) = sup_lam (lam x - Lambda(lam)), numerically (elementwise in ``x``).

    Computed as lam* x - Lambda(lam*) at the root lam* of Lambda'(lam) = x (vectorised bisection; the sup
    is attained there, Lambda being strictly convex when r is not constant on supp p); equal to
    KL(p_lam* || p). I(E r) = 0; I(max r) = -log p(r = max r); I(min r) = -log p(r = min r); +inf outside.
    """
    lp, r = tilting.token_model(logp, r)
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if np.isnan(xs).any():
        raise ValueError("x must be a number, got NaN")
    live = lp > -np.inf
    lo_r, hi_r = r[live].min(), r[live].max()
    out = np.full(len(xs), np.inf)
    out[xs == hi_r] = -float(logsumexp(lp[live & (r == hi_r)]))
    out[xs == lo_r] = -float(logsumexp(lp[live & (r == lo_r)]))
    inner = (xs > lo_r) & (xs < hi_r)
    if inner.any():
        lam = _lambda_roots(lp, r, xs[inner])
        lam_cgf = tilting.cgf(lp, r, lam)
        out[inner] = np.maximum(lam * xs[inner] - lam_cgf, 0.0)
    return checks.as_result(out[0] if np.ndim(x) == 0 else out)


def binary_rate_function(p1: float, r0: float, r1: float, x: float | np.ndarray) -> np.float64 | np.ndarray:
    """Closed form for two tokens with rewards r0 < r1 and P(token 1) = p1:

        I(x) = theta log(theta/p1) + (1 - theta) log((1 - theta)/(1 - p1)),   theta = (x - r0)/(r1 - r0),

    the binary KL (0 log 0 = 0); +inf for x outside [r0, r1].
    """
    if not (0.0 < p1 < 1.0):
        raise ValueError(f"p1 must lie in (0, 1), got {p1!r}")
    if not r0 < r1:
        raise ValueError(f"need r0 < r1, got r0={r0!r}, r1={r1!r}")
    xs = np.asarray(x, dtype=np.float64)
    th = (xs - r0) / (r1 - r0)
    inside = (th >= 0) & (th <= 1)
    t = np.clip(th, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(t > 0, t * np.log(t / p1), 0.0)
        b = np.where(t < 1, (1 - t) * np.log((1 - t) / (1 - p1)), 0.0)
    return checks.as_result(np.where(inside, a + b, np.inf))


def lattice(r: np.ndarray, tol: float = 1e-9) -> tuple[float, float, np.ndarray]:
    """(a, h, k) with r_v = a + h k_v, k_v >= 0 integers with gcd 1 (h the span), or ValueError.

    Found as the gcd of the differences r_v - min r, in units of the smallest positive difference
    divided by integers up to 1000 (rationals with small denominators are lattice-valued).
    """
    r = np.asarray(r, dtype=np.float64)
    a = float(r.min())
    d = r - a
    pos = d[d > tol * max(1.0, float(np.abs(r).max()))]
    if len(pos) == 0:
        return a, 1.0, np.zeros(len(r), dtype=np.int64)
    base = float(pos.min())
    for m in range(1, 1001):
        h = base / m
        k = d / h
        if np.all(np.abs(k - np.round(k)) <= tol * max(1.0, float(k.max()))):
            ki = np.round(k).astype(np.int64)
            g = int(np.gcd.reduce(ki[ki > 0]))
            return a, h * g, ki // g
    raise ValueError("r is not lattice-valued (no span h = min difference / m for m <= 1000): "
                     "exact tails need rewards on a lattice a + h Z")


def sum_distribution(logp: np.ndarray, r: np.ndarray, ns: list[int] | np.ndarray) -> dict[int, np.ndarray]:
    """Exact law of K_n = sum_i k(Y_i) (R_n = n a + h K_n) for every n in ``ns``, by convolution in log space:

        log P(K_t = j) = logsumexp_v [log P(K_{t-1} = j - k_v) + log p_v],   t = 1..max(ns).

    Returns {n: array of log P(K_n = j), j = 0..n max k}. Cost O(V max(ns)^2 max k).
    """
    lp = checks.logprobs(logp, "logp")
    _, _, k = lattice(r)
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 1:
        raise ValueError(f"ns must be a non-empty list of integers >= 1, got {ns!r}")
    kmax = int(k.max())
    live = np.flatnonzero(lp > -np.inf)
    cur = np.zeros(1)
    out = {}
    for t in range(1, ns[-1] + 1):
        nxt = np.full(len(cur) + kmax, -np.inf)
        for v in live:
            seg = nxt[k[v]:k[v] + len(cur)]
            nxt[k[v]:k[v] + len(cur)] = np.logaddexp(seg, cur + lp[v])
        cur = nxt
        if t in ns:
            out[t] = cur.copy()
    return out


def log_tail(log_pmf: np.ndarray, a: float, h: float, n: int, x: float | np.ndarray) -> float | np.ndarray:
    """log P(R_n >= n x) from the law of K_n (R_n = n a + h K_n): logsumexp over j >= (n x - n a)/h.

    The threshold is rounded up to the lattice with a relative tolerance of 1e-9 (so n x on the
    lattice counts as reached).
    """
    lpmf = np.asarray(log_pmf, dtype=np.float64)
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    suffix = np.append(np.logaddexp.accumulate(lpmf[::-1])[::-1], -np.inf)  # log P(K >= j)
    j = (n * xs - n * a) / h
    j0 = np.ceil(j - 1e-9 * np.maximum(1.0, np.abs(j)))
    j0 = np.clip(j0, 0, len(lpmf)).astype(np.int64)
    return float(suffix[j0][0]) if np.ndim(x) == 0 else suffix[j0]


def bahadur_rao(logp: np.ndarray, r: np.ndarray, x: float, n: int | np.ndarray) -> float | np.ndarray:
    """The Bahadur-Rao approximation of -(1/n) log P(R_n >= n x) for a lattice reward of span h and n x on
    the lattice, E r < x < max r:

        I(x) + [ (1/2) log(2 pi n) + log sigma_lam + log(1 - e^{-lam h}) - log h ] / n,

    with lam = Lambda'^{-1}(x), sigma_lam^2 = Lambda''(lam). The relative error of the probability is O(1/n).
    """
    lp, rr = tilting.token_model(logp, r)
    _, h, _ = lattice(rr)
    lam = legendre_lambda(lp, rr, x)
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"x = {x!r} must satisfy E r < x < max r")
    sig = math.sqrt(tilting.tilted_variance(lp, rr, lam))
    n = np.asarray(n, dtype=np.float64)
    c = math.log(sig) + math.log(-math.expm1(-lam * h)) - math.log(h)
    return checks.as_result(float(rate_function(lp, rr, x)) + (0.5 * np.log(2 * math.pi * n) + c) / n)


def product_space(logp: np.ndarray, r: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(log p(y), r(y)) for every y in V^n under the memoryless model (V^n entries; small n only)."""
    lp, rr = tilting.token_model(logp, r)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 or len(lp) ** n > 2_000_000:
        raise ValueError(f"n must be an integer >= 1 with V^n <= 2e6, got n={n!r}, V={len(lp)}")
    out_lp, out_r = np.zeros(1), np.zeros(1)
    for _ in range(n):
        out_lp = (out_lp[:, None] + lp[None, :]).ravel()
        out_r = (out_r[:, None] + rr[None, :]).ravel()
    return out_lp, out_r


def renyi_cross_entropy(logp: np.ndarray, logq: np.ndarray, order: float) -> float:
    """H_a(p, q) = (1/(1 - a)) log sum_v p_v q_v^{a-1} for a != 1, and the cross entropy -sum p log q at a = 1.

    Non-increasing in a (it is -(1/lam) Lambda(lam) for the reward log q, lam = a - 1); H_inf = -log max_{supp p} q.
    The sum runs over supp p; q must be positive there.
    """
    lp, lq = checks.logprob_pair(logp, logq)
    a = float(order)
    if math.isnan(a):
        raise ValueError("order must be a number")
    on = lp > -np.inf
    if np.isneginf(lq[on]).any():
        raise ValueError("logq must be finite on supp p")
    if a == 1.0:
        return float(it.cross_entropy(lp, lq))
    if math.isinf(a):
        return float(-lq[on].max()) if a > 0 else float(-lq[on].min())
    return float(logsumexp(lp[on] + (a - 1.0) * lq[on]) / (1.0 - a))
