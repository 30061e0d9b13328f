"""Exponential tilting of a finite distribution by a reward. numpy and scipy only; log space.

For a distribution p (``logp``, ``-inf`` for probability zero) and a reward r (finite, or ``-inf`` for
an outcome that must never be produced), the exponential tilt at λ is

    q_λ(y) = p(y) e^{λ r(y)} / E_p e^{λ r},      Λ(λ) = log E_p e^{λ r} = log sum_y p(y) e^{λ r(y)},

Λ the cumulant generating function (CGF) of r under p; Λ'(λ) = E_{q_λ}[r] and Λ''(λ) = Var_{q_λ}[r].
The same distribution written with a temperature T = 1/λ is ``tempered``: q ∝ p e^{r/T}, which is the
maximiser of E_q r - T KL(q || p) (:func:`lmdist.exact.align.gibbs`). The limits are exact:

* λ → 0 (T = ∞): p restricted to R = {y : p(y) > 0, r(y) > -inf}, renormalized;
* λ → ∞ (T = 0): p restricted to argmax_R r, renormalized (ties share by p);
* λ < 0 tilts towards low reward: q_λ for r is q_{-λ} for -r (r must then be finite on supp p).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from lmdist.exact import checks
from lmdist.exact import infotheory as it


def reward_array(r: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    """The reward as a float64 array broadcast to ``shape`` (that of logp): no NaN, no +inf."""
    r = np.asarray(r, dtype=np.float64)
    if r.shape != shape:
        try:
            r = np.broadcast_to(r, shape)
        except ValueError as err:
            raise ValueError(f"reward shape {r.shape} does not match logp shape {shape}") from err
    if np.isnan(r).any():
        raise ValueError("reward holds NaN")
    if np.isposinf(r).any():
        raise ValueError("reward holds +inf: the tilt is not defined (E_q r is unbounded)")
    return r


def live_support(logp: np.ndarray, r: np.ndarray) -> np.ndarray:
    """R = {y : p(y) > 0 and r(y) > -inf}, the support of every tilt q_λ, λ >= 0 (per row)."""
    live = (logp > -np.inf) & (r > -np.inf)
    if not live.any(-1).all():
        raise ValueError("the reward is -inf on all of supp p: no tilt of p has finite reward")
    return live


def tempered(logp: ArrayLike, r: ArrayLike, temperature: float) -> np.ndarray:
    """log q = log p + r/T - log E_p e^{r/T}: the tilt at λ = 1/T, for T in [0, ∞] (module docstring).

    Computed as ``normalize(log p + (r - max_R r)/T)`` on R (the shift by max_R r cancels in the
    normalization and keeps every exponent <= 0, so no overflow for any T). T = 0 gives p restricted
    to argmax_R r, T = ∞ gives p restricted to R. Works along the last axis (one distribution per row).
    """
    lp = checks.logprobs(logp, "logp")
    r = reward_array(r, lp.shape)
    t = checks.real(temperature, "temperature", lo=0.0, allow_inf=True)
    live = live_support(lp, r)
    rmax = np.where(live, r, -np.inf).max(-1, keepdims=True)
    if t == 0:
        return it.normalize(np.where(live & (r == rmax), lp, -np.inf))
    if math.isinf(t):
        return it.normalize(np.where(live, lp, -np.inf))
    with np.errstate(over="ignore", invalid="ignore"):
        shift = np.where(live, (np.where(live, r, 0.0) - rmax) / t, -np.inf)
    return it.normalize(np.where(live, lp + shift, -np.inf))


def tilt(logp: ArrayLike, r: ArrayLike, lam: float) -> np.ndarray:
    """log q_λ = log p + λ r - Λ(λ), for every real λ (±inf: the limits of the module docstring).

    λ > 0 is :func:`tempered` at T = 1/λ; λ < 0 is the tilt of -r at -λ; λ = 0 gives p itself
    when r is finite on supp p (else p restricted to R).
    """
    lam = checks.real(lam, "lam", allow_inf=True)
    if lam == 0:
        lp = checks.logprobs(logp, "logp")
        r = reward_array(r, lp.shape)
        if np.isfinite(r[lp > -np.inf]).all():
            return lp.copy()  # q_0 = p exactly: no renormalization rounding
    if lam < 0:
        r = -np.asarray(r, dtype=np.float64)
        lam = -lam
    return tempered(logp, r, math.inf if lam == 0 else 1.0 / lam)


def token_model(logp: ArrayLike, r: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """One distribution (1-D logp) and a finite reward of the same length, validated (e.g. the
    per-token model of :mod:`lmdist.exact.largedev`)."""
    lp = checks.logprobs(logp, "logp")
    r = np.asarray(r, dtype=np.float64)
    if lp.ndim != 1 or r.shape != lp.shape:
        raise ValueError(f"logp and r must be 1-D of the same length (one entry per outcome), "
                         f"got {lp.shape} and {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("r must hold finite rewards")
    return lp, r


def cgf(logp: ArrayLike, r: ArrayLike, lam: float | ArrayLike) -> np.float64 | np.ndarray:
    """Λ(λ) = log sum_y p(y) e^{λ r(y)} (elementwise in ``lam``; r finite, λ finite)."""
    lp, r = token_model(logp, r)
    lam = np.asarray(lam, dtype=np.float64)
    if not np.isfinite(lam).all():
        raise ValueError(f"lam must be finite, got {lam!r}")
    out = logsumexp(lp[None, :] + lam.reshape(-1, 1) * r[None, :], axis=1).reshape(lam.shape)
    return checks.as_result(out)


def tilted_mean(logp: ArrayLike, r: ArrayLike, lam: float) -> np.float64:
    """Λ'(λ) = E_{q_λ}[r] = sum_y q_λ(y) r(y)."""
    lp, r = token_model(logp, r)
    return np.float64(np.exp(tilt(lp, r, lam)) @ r)


def tilted_variance(logp: ArrayLike, r: ArrayLike, lam: float) -> np.float64:
    """Λ''(λ) = Var_{q_λ}[r] = sum_y q_λ(y) (r(y) - Λ'(λ))^2."""
    lp, r = token_model(logp, r)
    q = np.exp(tilt(lp, r, lam))
    m = q @ r
    return np.float64(q @ (r - m) ** 2)
