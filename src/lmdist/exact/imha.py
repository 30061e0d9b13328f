"""The Independent Metropolis–Hastings Algorithm (IMHA) and the effective sample size (numpy only).

IMHA samples a target π known up to a constant, π ∝ π̃, from i.i.d. proposals y'_1, y'_2, ... ~ q:
the chain starts at the first proposal and, at step i, moves from y to y'_i with probability

    α(y, y'_i) = min(1, π̃(y'_i) q(y) / (π̃(y) q(y'_i))) = min(1, w(y'_i) / w(y)),   w = π̃ / q,

else stays at y. Its stationary distribution is π. With w* = max_y π(y)/q(y) (π, q normalised) the
chain is uniformly ergodic, ||P^n(y, .) - π||_TV <= (1 - 1/w*)^n (Mengersen & Tweedie, 1996), and
its spectrum lies in [0, 1 - 1/w*] (Liu, 1996). For sampling adaptors π̃ = prod_t γ̃_t(y_t), the
globally normalised adapted model, and q = prod_t q̃_t(y_t), the locally normalised sampler, so
log w(y) = sum_t log Z_t(y_<t) (see :mod:`lmdist.exact.adaptors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Chain:
    """An IMHA run: ``states[i]`` is the index (into the proposals) of the chain's state after step i
    (``states[0] = 0``, the first proposal), ``accepted[i]`` whether step i moved (``accepted[0]`` is
    True: the start), and ``acceptance_rate`` = mean of ``accepted[1:]``."""

    states: np.ndarray
    accepted: np.ndarray
    acceptance_rate: float


def _log_values(x: np.ndarray | list[float], name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    if np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError(f"{name} holds NaN or +inf")
    return a


def imha_chain(log_target: np.ndarray, log_proposal: np.ndarray, rng: np.random.Generator) -> Chain:
    """Run IMHA over a stream of proposals drawn i.i.d. from q, in the order given.

    ``log_target[i]`` = log π̃(y'_i) (unnormalised; -inf outside the target's support) and
    ``log_proposal[i]`` = log q(y'_i) (finite: a proposal was drawn, so q(y'_i) > 0). Step i >= 1
    accepts y'_i iff log U_i < log w(y'_i) - log w(y), U_i ~ Uniform(0, 1), log w = log π̃ - log q;
    a chain sitting at a state of zero target weight always moves. Returns :class:`Chain`.
    """
    lt = _log_values(log_target, "log_target")
    lq = _log_values(log_proposal, "log_proposal")
    if lt.shape != lq.shape:
        raise ValueError(f"log_target and log_proposal differ in shape: {lt.shape} vs {lq.shape}")
    if np.isneginf(lq).any():
        raise ValueError("log_proposal holds -inf: a proposal drawn from q has q > 0")
    logw = (lt - lq).tolist()
    logu = np.log(rng.random(lt.size - 1)).tolist() if lt.size > 1 else []
    n = lt.size
    states = np.empty(n, dtype=np.int64)
    accepted = np.empty(n, dtype=bool)
    states[0], accepted[0] = 0, True
    cur, cur_w = 0, logw[0]
    # A plain loop: each step depends on the previous state (lists keep it ~0.2 µs per step).
    for i in range(1, n):
        w = logw[i]
        move = cur_w == -math.inf or logu[i - 1] < w - cur_w
        if move:
            cur, cur_w = i, w
        states[i], accepted[i] = cur, move
    rate = float(accepted[1:].mean()) if n > 1 else float("nan")
    return Chain(states=states, accepted=accepted, acceptance_rate=rate)


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """ρ_k = (1/n) sum_{t=1}^{n-k} (x_t - x̄)(x_{t+k} - x̄) / s²,  s² = (1/n) sum (x_t - x̄)², k = 0..n-1
    (the standard biased estimator, computed by FFT). All zeros except ρ_0 = 1 when s² = 0."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    d = x - x.mean()
    var = float(d @ d) / n
    if var == 0.0:
        out = np.zeros(n)
        out[0] = 1.0
        return out
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(d, size)
    acov = np.fft.irfft(f * np.conj(f), size)[:n] / n
    return acov / acov[0]


def effective_sample_size(x: np.ndarray) -> float:
    """ESS of a stationary scalar series by Geyer's (1992) initial monotone sequence estimator:

        ESS = n / τ,   τ = -1 + 2 sum_{m=0}^{M} Γ_m,   Γ_m = ρ_{2m} + ρ_{2m+1},

    where the pair sums Γ_m are taken while positive (initial positive sequence) and made
    non-increasing (initial monotone sequence); ρ_k from :func:`autocorrelation`. For i.i.d. draws
    τ ≈ 1. Capped at n log10(n) (antithetic chains can exceed n; a cap keeps it finite). A series
    with zero variance (a chain that never moved, or a constant statistic) gives 1.0: it carries no
    information about variability.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"x must be a 1-D series of length >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or inf")
    n = x.size
    rho = autocorrelation(x)
    if np.all(rho[1:] == 0.0) and np.var(x) == 0.0:
        return 1.0
    m = n // 2
    gamma = rho[0 : 2 * m : 2] + rho[1 : 2 * m : 2]
    positive = gamma > 0
    stop = int(np.argmin(positive)) if not positive.all() else gamma.size
    gamma = np.minimum.accumulate(gamma[:stop]) if stop else gamma[:0]
    tau = -1.0 + 2.0 * float(gamma.sum())
    tau = max(tau, 1.0 / math.log10(max(n, 10)))
    return float(n / tau)


def chain_ess(chain: Chain, statistic: np.ndarray) -> float:
    """ESS of a statistic of the proposals (``statistic[i]`` = f(y'_i)) along the chain:
    :func:`effective_sample_size` of f(states)."""
    f = np.asarray(statistic, dtype=np.float64)
    return effective_sample_size(f[chain.states])


def max_weight_ratio(log_target: np.ndarray, log_proposal: np.ndarray) -> float:
    """w* = max_y π(y)/q(y) over a finite space, for normalised log π and log q (exact quantities on a
    toy): 1/w* bounds IMHA's spectral gap from below and (1 - 1/w*)^n its distance to π after n steps."""
    lt = np.asarray(log_target, dtype=np.float64)
    lq = np.asarray(log_proposal, dtype=np.float64)
    on = lt > -np.inf
    if np.any(on & np.isneginf(lq)):
        return math.inf
    return float(np.exp(np.max(lt[on] - lq[on])))
