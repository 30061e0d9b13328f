"""KL-regularised alignment on a finite set of strings, in closed form.

The objective, for a reference distribution p, a reward r and a coefficient β > 0, is

    J_β(q) = E_{y~q}[r(y)] - β KL(q || p),

maximised over all distributions q. Its maximiser is the Gibbs (tilted) distribution

    q*_β(y) = p(y) exp(r(y)/β) / Z_β,      Z_β = sum_y p(y) exp(r(y)/β),

and J_β(q) = -β KL(q || q*_β) + β log Z_β for every q, so max J_β = β log Z_β.
Everything works in log space (``logp`` arrays, ``-inf`` for probability zero). Rewards are
finite or ``-inf`` (a string that must never be produced); ``+inf`` and NaN are rejected.
The two limits are handled exactly:

* β → ∞: q*_∞ = p restricted to R = {y : p(y) > 0, r(y) > -inf}, renormalized;
* β → 0: q*_0 = p restricted to A = argmax_{y in R} r(y), renormalized (ties share by p).

numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp

from lmdist.exact import checks, tilting
from lmdist.exact import infotheory as it


def _beta(beta: float, allow_zero: bool = True, allow_inf: bool = True) -> float:
    return checks.real(beta, "beta", lo=0.0, open_lo=not allow_zero, allow_inf=allow_inf)


def gibbs(logp: np.ndarray, r: np.ndarray, beta: float) -> np.ndarray:
    """log q*_β(y) = log p(y) + r(y)/β - log Z_β, the maximiser of E_q r - β KL(q||p).

    The exponential tilt of p at λ = 1/β (:func:`lmdist.exact.tilting.tempered` at temperature β):
    ``beta = 0`` gives the β → 0 limit (p restricted to argmax_R r), ``beta = inf`` the β → ∞ limit
    (p restricted to R). Works along the last axis (one distribution per row).
    """
    return tilting.tempered(logp, r, _beta(beta))


def log_partition(logp: np.ndarray, r: np.ndarray, beta: float) -> np.float64 | np.ndarray:
    """log Z_β = log sum_y p(y) exp(r(y)/β), for 0 < β <= ∞ (β = ∞ gives log p(R)).

    Computed as max_R r / β + logsumexp(log p + (r - max_R r)/β) so that nothing overflows.
    """
    lp = checks.logprobs(logp, "logp")
    r = tilting.reward_array(r, lp.shape)
    b = _beta(beta, allow_zero=False)
    live = tilting.live_support(lp, r)
    if math.isinf(b):
        return checks.as_result(logsumexp(np.where(live, lp, -np.inf), axis=-1))
    rmax = np.where(live, r, -np.inf).max(-1, keepdims=True)
    tilt = np.where(live, (np.where(live, r, 0.0) - rmax) / b, -np.inf)
    return checks.as_result(rmax[..., 0] / b + logsumexp(np.where(live, lp + tilt, -np.inf), axis=-1))


def expected_reward(logq: np.ndarray, r: np.ndarray) -> np.float64 | np.ndarray:
    """E_{y~q}[r(y)] = sum_{q(y)>0} q(y) r(y); -inf if q puts mass on a string with r = -inf."""
    lq = checks.logprobs(logq, "logq")
    r = tilting.reward_array(r, lq.shape)
    on = lq > -np.inf
    bad = (on & np.isneginf(r)).any(-1)
    ok = on & ~np.isneginf(r)
    val = np.where(ok, np.exp(np.where(ok, lq, 0.0)) * np.where(ok, r, 0.0), 0.0).sum(-1)
    return checks.as_result(np.where(bad, -np.inf, val))


def objective(logq: np.ndarray, logp: np.ndarray, r: np.ndarray, beta: float) -> np.float64 | np.ndarray:
    """J_β(q) = E_q[r] - β KL(q || p); -inf when KL(q||p) = inf or E_q r = -inf.

    At β = 0 it is E_q r; at β = ∞ it is E_q r when q = p (KL = 0) and -inf otherwise.
    """
    b = _beta(beta)
    er = np.asarray(expected_reward(logq, r))
    d = np.asarray(it.kl(logq, logp))
    if b == 0:
        return checks.as_result(er)
    with np.errstate(invalid="ignore"):
        pen = np.where(d == 0, 0.0, b * d)  # β KL with ∞ · 0 = 0
    return checks.as_result(np.where(np.isneginf(er) | np.isposinf(pen), -np.inf, er - pen))


def frontier(logp: np.ndarray, r: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reward–KL frontier: (E_{q*_β} r, KL(q*_β || p)) for each β in ``betas``.

    Every point is Pareto-optimal: no q has more reward at no more KL (q*_β maximises
    E_q r - β KL). As β decreases the KL grows and so does the reward.
    """
    betas = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    rewards, kls = np.empty(len(betas)), np.empty(len(betas))
    for k, b in enumerate(betas):
        lq = gibbs(logp, r, b)
        rewards[k] = expected_reward(lq, r)
        kls[k] = it.kl(lq, logp)
    return rewards, kls


def kl_range(logp: np.ndarray, r: np.ndarray) -> tuple[np.float64, np.float64]:
    """The KLs of the two limits, KL(q*_∞||p) = -log p(R) and KL(q*_0||p) = -log p(A).

    KL(q*_β||p) decreases (weakly) from the second to the first as β goes from 0 to ∞, so a
    budget Δ can be met with equality exactly when -log p(R) <= Δ <= -log p(A).
    """
    lp = checks.logprobs(logp, "logp")
    if lp.ndim != 1:
        raise ValueError("kl_range takes one distribution (a 1-D logp)")
    r = tilting.reward_array(r, lp.shape)
    return np.float64(it.kl(gibbs(lp, r, math.inf), lp)), np.float64(it.kl(gibbs(lp, r, 0.0), lp))


def beta_for_kl(logp: np.ndarray, r: np.ndarray, delta: float, slack: str = "raise",
                tol: float = 1e-10) -> np.float64:
    """The β with KL(q*_β || p) = Δ: the Lagrange multiplier of max E_q r s.t. KL(q||p) <= Δ.

    Solved by Brent's method in u = log β (KL(q*_{e^u}||p) is monotone in u). The ends, with
    (kl_inf, kl_0) = :func:`kl_range`:

    * Δ < kl_inf: unreachable (strings of reward -inf must be dropped, which costs kl_inf):
      ``ValueError``;
    * Δ = kl_inf (to ``tol``; Δ = 0 when r > -inf on supp p): β = inf, q* = p restricted to R;
    * Δ = kl_0 (to ``tol``): β = 0, q* = the argmax-reward limit;
    * Δ > kl_0: no β gives KL = Δ; the constraint is slack and the constrained optimum is the
      β → 0 limit. ``slack="raise"`` raises a ``ValueError`` naming kl_0; ``slack="zero"``
      returns 0.0 (the multiplier of a slack constraint).

    Also returns 0.0 or inf when Δ lies within floating-point resolution of an end (the bracket
    reaches β = 1e-300 or 1e300 times the reward spread without crossing Δ).
    """
    if slack not in ("raise", "zero"):
        raise ValueError(f"slack must be 'raise' or 'zero', got {slack!r}")
    d = checks.real(delta, "the KL budget delta", lo=0.0, allow_inf=True)
    lp = checks.logprobs(logp, "logp")
    r = tilting.reward_array(r, lp.shape)
    kl_inf, kl_0 = kl_range(lp, r)
    if d > kl_0 + tol * max(1.0, kl_0):
        if slack == "zero":
            return np.float64(0.0)
        raise ValueError(
            f"KL budget delta={d:.6g} exceeds {kl_0:.6g} = KL of the beta -> 0 limit (p restricted to "
            f"the reward's argmax): the constraint is slack and no beta reaches it; the largest "
            f"reachable budget is {kl_0:.6g} (pass slack='zero' to get beta = 0)")
    if d < kl_inf - tol * max(1.0, kl_inf):
        raise ValueError(
            f"KL budget delta={d:.6g} is unreachable: dropping the strings with reward -inf already "
            f"costs KL = {kl_inf:.6g}, the smallest KL of any q with finite objective")
    if abs(d - kl_inf) <= tol * max(1.0, kl_inf):
        return np.float64(math.inf)
    if abs(d - kl_0) <= tol * max(1.0, kl_0):
        return np.float64(0.0)
    live = tilting.live_support(lp, r)
    spread = float(np.ptp(r[live]))

    def f(u: float) -> float:
        return float(it.kl(gibbs(lp, r, math.exp(u)), lp)) - d

    ten = math.log(10.0)
    u0 = math.log(spread)
    lo = u0
    while f(lo) <= 0:
        lo -= ten
        if lo < u0 - 300 * ten:
            return np.float64(0.0)
    hi = u0
    while f(hi) >= 0:
        hi += ten
        if hi > u0 + 300 * ten:
            return np.float64(math.inf)
    return np.float64(math.exp(brentq(f, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=500)))


def dpo_implicit_reward(logq: np.ndarray, logp: np.ndarray, beta: float,
                        log_z: float | np.ndarray = 0.0) -> np.ndarray:
    """The reward a policy q implies under the Gibbs form (the DPO reparametrisation):

        r(y) = β log(q(y)/p(y)) + β log Z.

    If q = q*_β for a reward r, this returns r exactly on supp p when ``log_z`` = log Z_β; with
    the default ``log_z = 0`` it returns r - β log Z_β, the same shift for every string (so
    differences r(y) - r(y') and Bradley–Terry preferences are unchanged). Off the support:
    -inf where q = 0 < p (a truncated string), +inf where p = 0 < q (not a Gibbs tilt of p), NaN
    where p = q = 0 (the reward of a string p never produces is not identified). The formula acts
    string by string: ``logq`` and ``logp`` may be whole distributions or the log-probabilities of
    sampled strings under each model.
    """
    lq, lp = checks.logprob_pair(logq, logp, ("logq", "logp"), normalized=False)
    b = _beta(beta, allow_zero=False, allow_inf=False)
    lz = np.asarray(log_z, dtype=np.float64)
    if not np.isfinite(lz).all():
        raise ValueError(f"log_z must be finite, got {log_z!r}")
    with np.errstate(invalid="ignore"):
        diff = lq - lp  # -inf - -inf = NaN (both zero), which is intended
    return b * diff + b * lz
