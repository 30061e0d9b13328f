"""Best-of-N on a finite space, exactly, and the self-normalized importance sampling (SNIS) estimate
of the KL-regularised policy from samples of p. numpy and scipy only; log space throughout.

**Best-of-N.** Draw Y_1, ..., Y_N i.i.d. from p and return one with the largest reward; when several
draws tie at the maximum, return one of *those draws* uniformly at random. Group the strings into
reward levels L_1 < L_2 < ... (strings of equal reward share a level), with p_j = p(L_j),
F_j = sum_{i<=j} p_i and F_{j-1} = F_j - p_j. Then the level of the winner is L_j with probability

    pi_j = F_j^N - F_{j-1}^N,

and, given its level, the winner is distributed as p restricted to L_j (the tied draws are i.i.d.
p(. | L_j), and a uniform choice among them is again p(. | L_j)). Hence, for y in L_j,

    P(BoN = y) = p(y) / p_j * (F_j^N - F_{j-1}^N).

The formula defines a distribution for every real N > 0 (the CDF of the level is F^N); for integer N
it is the best of N draws. Large N (N = e^{n Delta}) is handled through ``log_n``: with
D_j = -log(F_{j-1}/F_j),

    log pi_j = N log F_j + log(1 - e^{-N D_j}),

where N log F_j and N D_j are formed as exp(log N + log(-log F_j)) etc., so nothing overflows.

**Its KL.** Since the within-level law is the same for BoN and p, KL(BoN || p) = KL(pi || p_levels).
BoN is the image of the law with density N u^{N-1} on [0, 1] (the largest of N uniforms) under the map
u -> level of u (level j owning [F_{j-1}, F_j)) followed by the kernel p(. | L_j), and p is the image of
the uniform law under the same map and kernel. The data-processing inequality gives

    KL(BoN || p) <= KL(Beta(N, 1) || U[0, 1]) = log N - (N - 1)/N,

with equality for N = 1 only (N u^{N-1} is never constant on an interval of positive length for N != 1).
Also KL <= D_inf(BoN || p) = log((1 - (1 - p_top)^N) / p_top), with p_top the probability of the top
level: a bound that stays finite as N -> infinity.

**SNIS.** For samples y_1..y_K ~ p with rewards r_i, the KL-regularised policy phi_beta ∝ p e^{r/beta} is
estimated by the self-normalized weights w_i = e^{r_i/beta} / sum_k e^{r_k/beta}:

    E_phi[f] ≈ sum_i w_i f(y_i),   log Z ≈ log (1/K) sum_i e^{r_i/beta},
    KL(phi || p) = E_phi[r]/beta - log Z ≈ sum_i w_i r_i / beta - log (1/K) sum_i e^{r_i/beta},

with effective sample size ESS = 1 / sum_i w_i^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import checks
from lmdist.exact import infotheory as it

_LOG2 = math.log(2.0)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - e^x) for x <= 0 (-inf at x = 0), accurate for x near 0 and for x very negative."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -_LOG2, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _log_neg_log1m(log_s: np.ndarray) -> np.ndarray:
    """log(-log(1 - s)) from log s, for 0 <= s <= 1 (s = 1 gives +inf, s = 0 gives -inf)."""
    log_s = np.asarray(log_s, dtype=np.float64)
    s = np.exp(log_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        small = log_s < -20.0  # -log(1-s) = s (1 + s/2 + ...), relative error below s^2
        direct = np.log(-np.log1p(-np.minimum(s, 1.0)))
        return np.where(small, log_s + np.log1p(s / 2.0), direct)


def _log_n(n: float | None, log_n: float | None) -> float:
    if (n is None) == (log_n is None):
        raise ValueError("give exactly one of n (the number of draws) and log_n (its logarithm)")
    if log_n is None:
        return math.log(checks.real(n, "n", lo=1.0))
    return checks.real(log_n, "log_n (n >= 1)", lo=0.0)


@dataclass(frozen=True)
class Levels:
    """The reward levels of (p, r): ``values`` ascending, ``logp`` = log p(L_j), ``index[y]`` = j."""

    values: np.ndarray
    logp: np.ndarray
    index: np.ndarray


def levels(logp: np.ndarray, r: np.ndarray) -> Levels:
    """Group supp p into levels of equal reward: L_j = {y : p(y) > 0, r(y) = v_j}, v_1 < v_2 < ...

    Strings outside supp p get ``index = -1``. Rewards must be finite on supp p.
    """
    lp = checks.logprobs(logp, "logp")
    r = np.asarray(r, dtype=np.float64)
    if lp.ndim != 1 or r.shape != lp.shape:
        raise ValueError(f"logp and r must be 1-D of the same length, got shapes {lp.shape} and {r.shape}")
    live = lp > -np.inf
    if not np.isfinite(r[live]).all():
        raise ValueError("r must be finite on supp p (best-of-N compares rewards)")
    values, inv = np.unique(r[live], return_inverse=True)
    logp_levels = np.full(len(values), -np.inf)
    np.logaddexp.at(logp_levels, inv, lp[live])
    index = np.full(len(lp), -1, dtype=np.int64)
    index[live] = inv
    return Levels(values, logp_levels - logsumexp(logp_levels), index)


def level_log_cdf(log_level_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log F_j, log S_j) for levels in ascending order: F_j = P(level <= j), S_j = P(level > j).

    log F_j is formed as log(1 - S_j) from the upper tail, so it is accurate when F_j is near 1
    (which is where best-of-N with large N lives).
    """
    lq = np.asarray(log_level_p, dtype=np.float64)
    if lq.ndim != 1 or len(lq) == 0:
        raise ValueError("log_level_p must be a non-empty 1-D array of level log-probabilities")
    rev = np.logaddexp.accumulate(lq[::-1])[::-1]        # log P(level >= j)
    log_s = np.append(rev[1:], -np.inf)                    # log P(level > j)
    return _log1mexp(np.minimum(log_s, 0.0)), log_s


def log_bon_levels(log_level_p: np.ndarray, n: float | None = None, *, log_n: float | None = None) -> np.ndarray:
    """log pi_j = log(F_j^N - F_{j-1}^N): the level law of best-of-N, levels in ascending order.

    Exact in log space for any N >= 1 (give ``log_n`` for N beyond float range).
    """
    ln = _log_n(n, log_n)
    lq = checks.logprobs(log_level_p, "log_level_p")
    log_f, _ = level_log_cdf(lq)
    with np.errstate(divide="ignore"):
        log_ratio = np.where(lq > -np.inf, lq - log_f, -np.inf)   # log(p_j / F_j) in [-inf, 0]
    a = _log_neg_log1m(np.minimum(log_ratio, 0.0))               # log D_j, D_j = -log(1 - p_j/F_j)
    b = _log_neg_log1m(_log1mexp(np.minimum(log_f, 0.0)))         # log(-log F_j)
    with np.errstate(over="ignore"):
        n_log_f = -np.exp(ln + b)                                 # N log F_j (0 at the top level)
        n_d = np.exp(ln + a)                                      # N D_j (inf at the bottom level)
    out = n_log_f + _log1mexp(-n_d)
    return np.where(lq > -np.inf, out, -np.inf)


def best_of_n(logp: np.ndarray, r: np.ndarray, n: float | None = None, *, log_n: float | None = None) -> np.ndarray:
    """log P(BoN = y) = log p(y) - log p(L_j) + log(F_j^N - F_{j-1}^N) for y in level L_j.

    Ties at the maximum are broken uniformly among the tied draws (module docstring). N = 1 gives p.
    """
    lp = checks.logprobs(logp, "logp")
    lv = levels(lp, r)
    lpi = log_bon_levels(lv.logp, n, log_n=log_n)
    out = np.full(len(lp), -np.inf)
    live = lv.index >= 0
    out[live] = lp[live] - lv.logp[lv.index[live]] + lpi[lv.index[live]]
    return out


def kl_bound(n: float | None = None, *, log_n: float | None = None) -> np.float64:
    """The widely quoted log N - (N - 1)/N = KL(Beta(N,1) || U[0,1]): an upper bound on KL(BoN || p)."""
    ln = _log_n(n, log_n)
    return np.float64(ln - (-math.expm1(-ln)))


def kl_to_prior(logp: np.ndarray, r: np.ndarray, n: float | None = None, *, log_n: float | None = None) -> np.float64:
    """Exact KL(BoN || p) = sum_j pi_j log(pi_j / p_j) (the within-level laws coincide)."""
    lv = levels(logp, r)
    return np.float64(it.kl(log_bon_levels(lv.logp, n, log_n=log_n), lv.logp))


def renyi_inf_bound(logp: np.ndarray, r: np.ndarray, n: float | None = None, *,
                    log_n: float | None = None) -> np.float64:
    """D_inf(BoN || p) = log max_y P(BoN = y)/p(y) = log((1 - (1 - p_top)^N) / p_top), p_top = p(top level).

    The ratio pi_j/p_j = (F_j^N - F_{j-1}^N)/(F_j - F_{j-1}) increases with j, so the top level attains
    the maximum. An upper bound on KL(BoN || p) that stays finite as N grows (it tends to -log p_top).
    """
    ln = _log_n(n, log_n)
    lv = levels(logp, r)
    lt = float(lv.logp[-1])
    # log(1 - (1 - p_top)^N) = log1mexp(N log(1 - p_top))
    log_one_minus = float(_log1mexp(np.array(lt)))
    if log_one_minus == -np.inf:      # p_top = 1: BoN = p
        return np.float64(0.0)
    n_log = -math.exp(ln + math.log(-log_one_minus))
    return np.float64(_log1mexp(np.array(n_log))) - lt


def expected_reward(logp: np.ndarray, r: np.ndarray, n: float | None = None, *,
                    log_n: float | None = None) -> np.float64:
    """E[r(BoN)] = sum_j pi_j v_j."""
    lv = levels(logp, r)
    return np.float64(np.exp(log_bon_levels(lv.logp, n, log_n=log_n)) @ lv.values)


def win_rates(logp: np.ndarray, r: np.ndarray, n: int) -> tuple[np.float64, np.float64]:
    """(P(r(BoN) > r(Y')), P(r(BoN) >= r(Y'))) for Y' ~ p independent, exactly:

        P(>) = sum_j p_j (1 - F_j^N),   P(>=) = sum_j p_j (1 - F_{j-1}^N),

    and P(>) <= N/(N+1) <= P(>=) (with uniform tie-breaking among N+1 draws the last one wins with
    probability 1/(N+1)); both equal N/(N+1) when there are no ties (all p_j -> 0).
    """
    lv = levels(logp, r)
    ln = _log_n(n, None)
    log_f, _ = level_log_cdf(lv.logp)
    log_fm = _log1mexp(np.minimum(np.logaddexp.accumulate(lv.logp[::-1])[::-1], 0.0))  # log F_{j-1}
    pj = np.exp(lv.logp)
    with np.errstate(over="ignore"):
        strict = pj @ -np.expm1(-np.exp(ln + _log_neg_log1m(_log1mexp(np.minimum(log_f, 0.0)))))
        weak = pj @ -np.expm1(-np.exp(ln + _log_neg_log1m(_log1mexp(np.minimum(log_fm, 0.0)))))
    return np.float64(strict), np.float64(weak)


# --------------------------------------------------------------------------- estimates from samples

def max_of_subsets(rewards: np.ndarray, n: int) -> np.float64:
    """The U-statistic for E[max of N draws]: the mean of max over all N-subsets of K samples,

        sum_i r_(i) C(i-1, N-1) / C(K, N)     (r_(1) <= ... <= r_(K)),

    an unbiased estimate of the expected reward of best-of-N (ties do not matter for the max).
    """
    x = np.sort(checks.finite_vector(rewards, "rewards"))
    k = len(x)
    n = checks.integer(n, "n", lo=1, hi=k)  # at most the number of samples
    from scipy.special import gammaln
    i = np.arange(1, k + 1)
    with np.errstate(invalid="ignore"):
        logw = np.where(i >= n, gammaln(i) - gammaln(n) - gammaln(i - n + 1), -np.inf)
    logw -= gammaln(k + 1) - gammaln(n + 1) - gammaln(k - n + 1)
    return np.float64(np.exp(logw) @ x)


def win_rate_ustat(rewards: np.ndarray, n: int) -> tuple[np.float64, np.float64]:
    """Unbiased estimates of (P(max of N > Y'), P(max of N >= Y')) from K i.i.d. rewards of one prompt:
    for each sample j playing Y', the fraction of N-subsets of the other K-1 whose max beats it,

        1 - C(#{i != j : r_i <= r_j}, N) / C(K-1, N)   (strict),   1 - C(#{i : r_i < r_j}, N) / C(K-1, N),

    averaged over j. Needs K >= N + 1. Hoeffding's bound for U-statistics applies with
    floor(K / (N+1)) independent blocks.
    """
    x = checks.finite_vector(rewards, "rewards")
    k = len(x)
    n = checks.integer(n, "n", lo=1, hi=k - 1)
    from scipy.special import comb
    le = (x[None, :] <= x[:, None]).sum(1) - 1      # others with r_i <= r_j
    lt = (x[None, :] < x[:, None]).sum(1)           # others with r_i < r_j
    tot = comb(k - 1, n, exact=False)
    strict = 1.0 - comb(le, n, exact=False) / tot
    weak = 1.0 - comb(lt, n, exact=False) / tot
    return np.float64(strict.mean()), np.float64(weak.mean())


@dataclass(frozen=True)
class SNIS:
    """SNIS estimates of the tilted policy phi_beta ∝ p e^{r/beta} from K samples of p (one prompt)."""

    reward: np.float64      # sum_i w_i r_i
    kl: np.float64          # sum_i w_i r_i / beta - log((1/K) sum_i e^{r_i/beta})
    log_z: np.float64       # log((1/K) sum_i e^{r_i/beta})
    ess: np.float64         # 1 / sum_i w_i^2, in [1, K]


def snis(rewards: np.ndarray, beta: float) -> SNIS:
    """Self-normalized importance sampling for phi_beta from samples of p (formulas in the module docstring).

    The KL estimate is consistent (K -> inf) but biased at finite K; it lies in [0, log K]
    (KL of the weights w to the uniform weights on the samples).
    """
    x = checks.finite_vector(rewards, "rewards")
    b = checks.real(beta, "beta", lo=0.0, open_lo=True)
    a = x / b
    log_z = np.float64(logsumexp(a) - math.log(len(x)))
    logw = it.normalize(a)
    w = np.exp(logw)
    reward = np.float64(w @ x)
    # KL estimate = sum_i w_i log(K w_i) = KL(w || uniform on the K samples); computed by infotheory.kl.
    kl = np.float64(it.kl(logw, np.full(len(x), -math.log(len(x)))))
    return SNIS(reward=reward, kl=kl, log_z=log_z, ess=np.float64(1.0 / np.sum(w * w)))
