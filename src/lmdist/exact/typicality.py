"""Typicality and concentration of the information content (chapter 05). numpy and scipy only; log space.

Setting: a distribution q on a finite set, given by ``logq`` (log-probabilities, ``-inf`` for 0). Its
*information content* is I(y) = -log q(y); its entropy H(q) = E_q I and its varentropy V(q) = Var_q I.
A *corpus* is N iid draws Y_1..Y_N ~ q; it is eps-typical when its average information content
A_N = (1/N) sum_n I(Y_n) satisfies |A_N - H(q)| <= eps (typicality is a property of corpora).

* Chebyshev:  P(|A_N - H| >= eps) <= V / (N eps^2).
* Chernoff:   log E_q e^{lam I} = log sum_y q(y)^{1-lam} = lam H_{1-lam}(q)  (a Renyi entropy), so
  P(A_N >= H + eps) <= exp(-N I_+(eps)),  I_+(eps) = sup_{lam>0} lam (H + eps - H_{1-lam}(q)),
  P(A_N <= H - eps) <= exp(-N I_-(eps)),  I_-(eps) = sup_{mu>0} mu (H_{1+mu}(q) - H + eps);
  I_+ and I_- are the Legendre transform of the CGF at H +- eps (``largedev.rate_function``).
* Exact: for a small support the law of A_N is a sum over the multinomial compositions of N.
* Selection: keeping only the eps-typical corpora (``typical``) changes correlations between corpus
  averages (:func:`lmdist.exact.stats.band_covariance` gives the law that survives the filter).
* A distribution of infinite entropy: q(n) = log 2 (1/log n - 1/log(n+1)), n >= 2 (the "log-log tail"),
  whose tail is P(Y >= n) = log 2 / log n exactly; q(n) ~ log 2 / (n log^2 n).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, logsumexp, ndtr

from lmdist.exact import checks, tilting
from lmdist.exact import infotheory as it
from lmdist.exact import largedev as ld

#: Largest number of multinomial compositions :func:`exact_atypicality` enumerates.
MAX_COMPOSITIONS = 20_000_000
#: Shevtsova (2011): sup_x |P(S_N <= x) - Phi(x)| <= C rho / (sigma^3 sqrt N) for iid sums.
BERRY_ESSEEN_C = 0.4748


def _q(logq: ArrayLike) -> np.ndarray:
    lq = checks.logprobs(logq, "logq")
    if lq.ndim != 1:
        raise ValueError(f"logq must be one-dimensional (one entry per outcome), got shape {lq.shape}")
    return lq


def _n(n: int) -> int:
    return checks.integer(n, "n (the corpus size)", lo=1)


def _eps(eps: float) -> float:
    return checks.real(eps, "eps", lo=0.0, open_lo=True)


def information(logq: ArrayLike) -> np.ndarray:
    """I(y) = -log q(y) on the support of q (``+inf`` off it)."""
    return -_q(logq)


def moments(logq: ArrayLike) -> tuple[np.float64, np.float64, np.float64]:
    """(H, V, rho): H = E_q I, V = E_q (I - H)^2 (the varentropy), rho = E_q |I - H|^3, over supp q."""
    lq = _q(logq)
    on = lq > -np.inf
    p, i = np.exp(lq[on]), -lq[on]
    p = p / p.sum()
    h = np.float64(p @ i)
    d = np.abs(i - h)
    return h, np.float64(p @ d**2), np.float64(p @ d**3)


def varentropy(logq: ArrayLike) -> np.float64:
    """V(q) = Var_q[I] = sum_y q(y) (log q(y) + H(q))^2."""
    return moments(logq)[1]


def information_cgf(logq: ArrayLike, lam: float | ArrayLike) -> np.float64 | np.ndarray:
    """Lambda(lam) = log E_q e^{lam I} = log sum_y q(y)^{1 - lam} = lam H_{1-lam}(q) (= 0 at lam = 0)."""
    lq = _q(logq)
    on = lq > -np.inf
    return tilting.cgf(lq[on], -lq[on], lam)


def chebyshev_bound(logq: ArrayLike, n: int, eps: float, clip: bool = True) -> np.float64:
    """min(1, V(q) / (n eps^2)) >= P(|A_n - H(q)| >= eps); ``clip=False`` gives V / (n eps^2) itself."""
    n, eps = _n(n), _eps(eps)
    b = varentropy(logq) / (n * eps * eps)
    return np.float64(min(1.0, b) if clip else b)


def chernoff_exponents(logq: ArrayLike, eps: float) -> tuple[np.float64, np.float64]:
    """(I_+(eps), I_-(eps)): the Legendre transform of Lambda at H + eps and H - eps,

        I_+ = sup_{lam>0} lam (H + eps - H_{1-lam}),   I_- = sup_{mu>0} mu (H_{1+mu} - H + eps);

    ``inf`` where H +- eps lies outside [min I, max I] (the tail is then empty).
    """
    eps = _eps(eps)
    lq = _q(logq)
    on = lq > -np.inf
    lp = it.normalize(lq[on])
    i = -lq[on]
    h = float(np.exp(lp) @ i)
    up, lo = ld.rate_function(lp, i, np.array([h + eps, h - eps]))
    return np.float64(up), np.float64(lo)


def log_chernoff_bound(logq: ArrayLike, n: int, eps: float, clip: bool = True) -> np.float64:
    """log min(1, e^{-n I_+(eps)} + e^{-n I_-(eps)}) >= log P(|A_n - H(q)| >= eps); ``clip=False``: without the min."""
    n = _n(n)
    up, lo = chernoff_exponents(logq, eps)
    b = float(np.logaddexp(-n * up, -n * lo))
    return np.float64(min(0.0, b) if clip else b)


def clt_atypicality(logq: ArrayLike, n: int, eps: float) -> np.float64:
    """The normal approximation P(|A_n - H| > eps) ~ 2 Phi(-eps sqrt(n / V)) (0 when V = 0)."""
    n, eps = _n(n), _eps(eps)
    v = varentropy(logq)
    return np.float64(0.0 if v == 0 else 2.0 * ndtr(-eps * math.sqrt(n / v)))


def berry_esseen_halfwidth(logq: ArrayLike, n: int) -> np.float64:
    """2 C rho / (V^{3/2} sqrt n), C = 0.4748: |P(|A_n - H| > eps) - 2 Phi(-eps sqrt(n/V))| is at most this,
    for every eps (each of the two tails is within C rho / (V^{3/2} sqrt n) of its normal value)."""
    n = _n(n)
    _, v, rho = moments(logq)
    if v == 0:
        return np.float64(0.0)
    return np.float64(min(1.0, 2.0 * BERRY_ESSEEN_C * rho / (v**1.5 * math.sqrt(n))))


def compositions(n: int, k: int) -> np.ndarray:
    """All (c_1..c_k) of non-negative integers with sum n, as an (C(n+k-1, k-1), k) int array."""
    n = checks.integer(n, "n", lo=0)
    k = checks.integer(k, "k", lo=1)
    if math.comb(n + k - 1, k - 1) > MAX_COMPOSITIONS:
        raise ValueError(f"n = {n}, k = {k} gives {math.comb(n + k - 1, k - 1)} compositions, above "
                         f"MAX_COMPOSITIONS = {MAX_COMPOSITIONS}")
    rem = np.array([n], dtype=np.int64)
    cols: list[np.ndarray] = []
    for _ in range(k - 1):
        counts = rem + 1
        idx = np.repeat(np.arange(len(rem)), counts)
        starts = np.cumsum(counts) - counts
        c = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
        cols = [col[idx] for col in cols] + [c]
        rem = rem[idx] - c
    return np.stack(cols + [rem], axis=1)


def average_information_law(logq: ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact law of A_n = (1/n) sum I(Y_i): (values, log-probabilities), one entry per composition c of n
    over supp q, with log P(c) = log n! - sum_y log c_y! + sum_y c_y log q(y) and value sum_y c_y I(y) / n."""
    n = _n(n)
    lq = _q(logq)
    lq = it.normalize(lq[lq > -np.inf])
    c = compositions(n, len(lq))
    logp = gammaln(n + 1) - gammaln(c + 1).sum(1) + c @ lq
    return (c @ -lq) / n, logp


def exact_atypicality(logq: ArrayLike, n: int, eps: float, closed: bool = False
                      ) -> tuple[np.float64, np.float64, np.float64]:
    """(log P(A_n - H > eps), log P(A_n - H < -eps), log P(|A_n - H| > eps)), exactly, by enumerating the
    multinomial compositions of n (small supports only). ``closed=True`` uses >= eps instead (the events the
    Chebyshev and Chernoff bounds control), with a relative tolerance of 1e-12 on the comparison."""
    eps = _eps(eps)
    lq = _q(logq)
    h = moments(lq)[0]
    vals, logp = average_information_law(lq, n)
    d = vals - h
    tol = 1e-12 * (np.abs(vals) + abs(h))  # the rounding error of d is below 1e-15 (|A_n| + H): I >= 0
    thr = eps - tol if closed else eps + tol
    hi_mask, lo_mask = d >= thr, d <= -thr
    up = min(0.0, float(logsumexp(logp[hi_mask]))) if hi_mask.any() else -math.inf
    lo = min(0.0, float(logsumexp(logp[lo_mask]))) if lo_mask.any() else -math.inf
    return np.float64(up), np.float64(lo), np.float64(min(0.0, float(np.logaddexp(up, lo))))


def corpus_averages(rng: np.random.Generator, logq: ArrayLike, n: int, size: int) -> np.ndarray:
    """``size`` independent corpus averages A_n, each from n iid draws of q (drawn as multinomial counts,
    which is the same law): an array of ``size`` floats."""
    n = _n(n)
    size = checks.integer(size, "size", lo=1)
    lq = _q(logq)
    on = lq > -np.inf
    p = np.exp(lq[on])
    p, i = p / p.sum(), -lq[on]
    batch = max(1, 4_000_000 // len(p))  # bounds the memory of the count matrix
    return np.concatenate([(rng.multinomial(n, p, size=min(batch, size - s)) @ i) / n for s in range(0, size, batch)])


def typical(avg_info: ArrayLike, entropy: float, eps: float) -> np.ndarray:
    """Which corpora are ε-typical: |A_N − H(q)| ≤ ε for each corpus average A_N = (1/N) Σ_n −log q(y_n)
    (a property of a corpus). The book's one convention is ≤ ε (Tan et al. 2024 write < ε; the two differ
    only on the boundary, which a continuous average hits with probability 0)."""
    eps = _eps(eps)
    return np.abs(checks.array(avg_info, "avg_info") - checks.real(entropy, "entropy", lo=0.0)) <= eps


# --- the log-log tail: a distribution of infinite entropy ---------------------------------------------

LOG2 = math.log(2.0)


def loglog_logq(n: np.ndarray) -> np.ndarray:
    """log q(n) for q(n) = log 2 (1/log n - 1/log(n+1)) = log 2 log(1 + 1/n) / (log n log(n+1)), n >= 2."""
    n = np.asarray(n, dtype=np.float64)
    if (n < 2).any() or (n != np.floor(n)).any():
        raise ValueError("n must hold integers >= 2")
    return math.log(LOG2) + np.log(np.log1p(1.0 / n)) - np.log(np.log(n)) - np.log(np.log1p(n))


def loglog_tail(n: np.ndarray) -> np.ndarray:
    """P(Y >= n) = log 2 / log n for n >= 2 (the sum of q telescopes)."""
    n = np.asarray(n, dtype=np.float64)
    if (n < 2).any():
        raise ValueError("n must be >= 2")
    return LOG2 / np.log(n)


def loglog_sample_log(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """log Y for Y ~ q, exactly: Y = floor(2^{1/U}) with U ~ Uniform(0, 1] has P(Y >= n) = P(U <= log 2/log n).

    Y overflows a float for small U, so log Y is returned: log floor(e^x), x = log 2 / U, computed exactly for
    x < 36 and as x (error below e^{-x} < 1e-15) beyond."""
    u = 1.0 - rng.random(size)  # in (0, 1]
    x = LOG2 / u
    small = x < 36.0
    out = x.copy()
    out[small] = np.log(np.floor(np.exp(x[small])))
    return out


def loglog_information(logy: np.ndarray) -> np.ndarray:
    """I(Y) = -log q(Y) from L = log Y: -log log 2 - log log(1 + 1/Y) + log log Y + log log(Y + 1), evaluated
    exactly for Y < e^36 and as -log log 2 + L + 2 log L beyond (relative error below 1e-15)."""
    L = np.asarray(logy, dtype=np.float64)
    if (L < LOG2 - 1e-12).any():
        raise ValueError("logy must be >= log 2")
    out = -math.log(LOG2) + L + 2.0 * np.log(L)
    small = L < 36.0
    y = np.round(np.exp(L[small]))
    out[small] = -loglog_logq(y)
    return out


def loglog_truncated_entropies(ks: list[int] | np.ndarray, chunk: int = 1_000_000) -> np.ndarray:
    """H(q_K) for q_K = q(. | Y <= K), for every K in ``ks``: with M_K = 1 - log 2/log(K+1),

        H(q_K) = (1/M_K) sum_{n=2}^K q(n) I(n) + log M_K,

    summed exactly in chunks of ``chunk`` integers (cost O(max K))."""
    ks = np.asarray(ks, dtype=np.int64)
    if ks.ndim != 1 or len(ks) == 0 or (ks < 3).any():
        raise ValueError("ks must be a non-empty list of integers >= 3")
    order = np.argsort(ks)
    out = np.empty(len(ks))
    acc, start = 0.0, 2
    for j in order:
        k = int(ks[j])
        while start <= k:
            stop = min(k, start + chunk - 1)
            n = np.arange(start, stop + 1, dtype=np.float64)
            lq = loglog_logq(n)
            acc += float(np.sum(np.exp(lq) * -lq))
            start = stop + 1
        m = 1.0 - LOG2 / math.log(k + 1.0)
        out[j] = acc / m + math.log(m)
    return out


def loglog_drift_bound(n: int | ArrayLike, s: float) -> np.float64 | np.ndarray:
    """b_n(s) = log 2 (log n - s):  P(A_n < b_n(s)) <= e^{-s^2/4} for the log-log tail, every n >= 1 and s > 0.

    Proof sketch: I(y) > log y (q(n) < 1/n), log Y >= log 2 (W - 1) with W = 1/U ~ Pareto(1), and for
    X = min(W, n) >= 0: E X = 1 + log n, E X^2 = 2n - 1, so Maurer's inequality
    P(avg X <= E X - s) <= exp(-n s^2 / (2 E X^2)) <= e^{-s^2/4}."""
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"s must be a finite number > 0, got {s!r}")
    n = np.asarray(n, dtype=np.float64)
    if (n < 1).any():
        raise ValueError("n must be >= 1")
    return checks.as_result(LOG2 * (np.log(n) - s))
