"""The Independent Metropolis–Hastings Algorithm (IMHA): the chain, its exact kernel on a finite space,
its convergence, the effective sample size, and self-normalized importance weights (numpy only).

IMHA samples a target π known up to a constant, π ∝ π̃, from i.i.d. proposals y'_1, y'_2, ... ~ q:
the chain starts at the first proposal and, at step i, moves from y to y'_i with probability

    α(y, y'_i) = min(1, π̃(y'_i) q(y) / (π̃(y) q(y'_i))) = min(1, w(y'_i) / w(y)),   w = π̃ / q,

else stays at y. Its stationary distribution is π. With w* = max_y π(y)/q(y) (π, q normalized) the
chain is uniformly ergodic, ||P^n(y, .) - π||_TV <= (1 - 1/w*)^n (Mengersen & Tweedie, 1996), and
its spectrum lies in [0, 1 - 1/w*] (Liu, 1996). On a finite space the kernel is computable exactly
after sorting the states by w (:func:`imha_kernel`, :func:`imha_step`), so the law μ_n of the chain
after n steps is known (:func:`imha_marginals`).

For sampling adaptors π̃ = prod_t γ̃_t(y_t), the globally normalized adapted model, and
q = prod_t q̃_t(y_t), the locally normalized sampler, so log w(y) = sum_t log Z_t(y_<t)
(:mod:`lmdist.exact.globalnorm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from lmdist.exact import checks

# --------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class Chain:
    """An IMHA run: ``states[i]`` is the index (into the proposals) of the chain's state after step i
    (``states[0] = 0``, the first proposal), ``accepted[i]`` whether step i moved (``accepted[0]`` is
    True: the start), and ``acceptance_rate`` = mean of ``accepted[1:]``."""

    states: np.ndarray
    accepted: np.ndarray
    acceptance_rate: np.float64


def imha_chain(log_target: ArrayLike, log_proposal: ArrayLike, rng: np.random.Generator) -> Chain:
    """Run IMHA over a stream of proposals drawn i.i.d. from q, in the order given.

    ``log_target[i]`` = log π̃(y'_i) (unnormalized; -inf outside the target's support) and
    ``log_proposal[i]`` = log q(y'_i) (finite: a proposal was drawn, so q(y'_i) > 0). Step i >= 1
    accepts y'_i iff log U_i < log w(y'_i) - log w(y), U_i ~ Uniform(0, 1), log w = log π̃ - log q;
    a chain sitting at a state of zero target weight always moves. Returns :class:`Chain`.
    """
    lt = checks.array(log_target, "log_target", ndim=1)
    lq = checks.finite_vector(log_proposal, "log_proposal")
    if lt.shape != lq.shape:
        raise ValueError(f"log_target and log_proposal differ in shape: {lt.shape} vs {lq.shape}")
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
    rate = np.float64(accepted[1:].mean()) if n > 1 else np.float64("nan")
    return Chain(states=states, accepted=accepted, acceptance_rate=rate)


def fresh_chain(log_target: ArrayLike, log_proposal: ArrayLike, n: int,
                rng: np.random.Generator) -> tuple[np.ndarray, Chain]:
    """n fresh i.i.d. proposals from q (indices into a finite space) and the IMHA chain of target
    π̃ ∝ exp(log_target) on them. Returns (proposal indices, chain); the chain's states index the proposals."""
    lt, lq = _space_pair(log_target, log_proposal)
    n = checks.integer(n, "n", lo=1)
    q = np.exp(lq - logsumexp(lq))
    draws = rng.choice(lq.size, size=n, p=q / q.sum())
    return draws, imha_chain(lt[draws], lq[draws], rng)


def independent_chains(log_target: ArrayLike, log_proposal: ArrayLike, n_chains: int, n_steps: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_chains`` independent IMHA chains of ``n_steps`` accept/reject steps, each on its own
    ``n_steps + 1`` fresh proposals from q (:func:`imha_chain`). Returns (final state of each chain,
    whether its last step accepted): i.i.d. draws from μ_n = q P^n and Bernoulli variables of mean
    :func:`acceptance_probability` (μ_{n-1}), which the exact kernel predicts."""
    lt, lq = _space_pair(log_target, log_proposal)
    n_chains = checks.integer(n_chains, "n_chains", lo=1)
    n_steps = checks.integer(n_steps, "n_steps", lo=1)
    q = np.exp(lq - logsumexp(lq))
    draws = rng.choice(lq.size, size=(n_chains, n_steps + 1), p=q / q.sum())
    finals = np.empty(n_chains, dtype=np.int64)
    last = np.empty(n_chains, dtype=bool)
    for c in range(n_chains):
        ch = imha_chain(lt[draws[c]], lq[draws[c]], rng)
        finals[c], last[c] = draws[c, ch.states[-1]], ch.accepted[-1]
    return finals, last


def _space_pair(log_target: ArrayLike, log_proposal: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """log π̃ and log q over the states of one finite space: two 1-D arrays of one length (-inf allowed)."""
    lt = checks.array(log_target, "log_target", ndim=1)
    lq = checks.array(log_proposal, "log_proposal", ndim=1)
    if lt.shape != lq.shape:
        raise ValueError(f"log_target and log_proposal differ in shape: {lt.shape} vs {lq.shape}")
    return lt, lq


# --------------------------------------------------------------------------- ESS and importance weights

def autocorrelation(x: ArrayLike) -> np.ndarray:
    """ρ_k = (1/n) sum_{t=1}^{n-k} (x_t - x̄)(x_{t+k} - x̄) / s²,  s² = (1/n) sum (x_t - x̄)², k = 0..n-1
    (the standard biased estimator, computed by FFT). All zeros except ρ_0 = 1 when s² = 0."""
    x = checks.finite_vector(x, "x")
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


def effective_sample_size(x: ArrayLike) -> np.float64:
    """ESS of a stationary scalar series by Geyer's (1992) initial monotone sequence estimator:

        ESS = n / τ,   τ = -1 + 2 sum_{m=0}^{M} Γ_m,   Γ_m = ρ_{2m} + ρ_{2m+1},

    where the pair sums Γ_m are taken while positive (initial positive sequence) and made
    non-increasing (initial monotone sequence); ρ_k from :func:`autocorrelation`. For i.i.d. draws
    τ ≈ 1. Capped at n log10(n) (antithetic chains can exceed n; a cap keeps it finite). A series
    with zero variance (a chain that never moved, or a constant statistic) gives 1.0: it carries no
    information about variability.
    """
    x = checks.finite_vector(x, "x")
    if x.size < 2:
        raise ValueError(f"x must be a 1-D series of length >= 2, got shape {x.shape}")
    n = x.size
    rho = autocorrelation(x)
    if np.all(rho[1:] == 0.0) and np.var(x) == 0.0:
        return np.float64(1.0)
    m = n // 2
    gamma = rho[0 : 2 * m : 2] + rho[1 : 2 * m : 2]
    positive = gamma > 0
    stop = int(np.argmin(positive)) if not positive.all() else gamma.size
    gamma = np.minimum.accumulate(gamma[:stop]) if stop else gamma[:0]
    tau = -1.0 + 2.0 * float(gamma.sum())
    tau = max(tau, 1.0 / math.log10(max(n, 10)))
    return np.float64(n / tau)


def chain_ess(chain: Chain, statistic: ArrayLike) -> np.float64:
    """ESS of a statistic of the proposals (``statistic[i]`` = f(y'_i)) along the chain:
    :func:`effective_sample_size` of f(states)."""
    f = checks.finite_vector(statistic, "statistic")
    return effective_sample_size(f[chain.states])


def snis_weights(log_target: ArrayLike, log_proposal: ArrayLike) -> np.ndarray:
    """Self-normalized importance weights of draws y_1..y_K ~ q for a target π ∝ π̃:

        w_i = (π̃/q)(y_i) / sum_j (π̃/q)(y_j),   so that sum_i w_i f(y_i) estimates E_π f,

    computed as exp(l_i - max l) / sum_j exp(l_j - max l), l = log π̃ - log q (no overflow)."""
    lt = checks.array(log_target, "log_target", ndim=1)
    lq = checks.finite_vector(log_proposal, "log_proposal")
    if lt.shape != lq.shape:
        raise ValueError(f"log_target and log_proposal differ in shape: {lt.shape} vs {lq.shape}")
    if np.all(np.isneginf(lt)):
        raise ValueError("log_target is -inf at every draw: no draw has positive target weight")
    lw = lt - lq
    w = np.exp(lw - lw.max())
    return w / w.sum()


# --------------------------------------------------------------------------- the exact kernel

def max_weight_ratio(log_target: ArrayLike, log_proposal: ArrayLike) -> np.float64:
    """w* = max_y π(y)/q(y) over a finite space, for normalized log π and log q (exact quantities on a
    toy): 1/w* bounds IMHA's spectral gap from below and (1 - 1/w*)^n its distance to π after n steps;
    inf when supp π is not inside supp q."""
    lt, lq = _space_pair(log_target, log_proposal)
    on = lt > -np.inf
    if np.any(on & np.isneginf(lq)):
        return np.float64(math.inf)
    return np.float64(np.exp(np.max(lt[on] - lq[on])))


def _weights(log_target: ArrayLike, log_proposal: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(π, q, w = π/q on supp q, 0 elsewhere) from normalized log π, log q with supp π ⊆ supp q."""
    lt, lq = _space_pair(log_target, log_proposal)
    lt, lq = checks.logprob_pair(lt, lq, ("log_target", "log_proposal"))
    if np.any((lt > -np.inf) & (lq == -np.inf)):
        raise ValueError("supp π is not inside supp q: IMHA cannot reach it")
    on = lq > -np.inf
    w = np.zeros(lt.shape)
    w[on] = np.exp(lt[on] - lq[on])
    return np.exp(lt), np.exp(lq), w


@dataclass(frozen=True)
class IMHAKernel:
    """The exact IMHA kernel of proposal q and target π on a finite space (see :func:`imha_kernel`)."""

    pi: np.ndarray
    q: np.ndarray
    w: np.ndarray
    order: np.ndarray        # states of supp q sorted by increasing w
    w_sorted: np.ndarray
    right: np.ndarray        # per state: #{sorted states with w <= its w}
    stay: np.ndarray         # ρ(y): probability of staying (rejection, self-proposal excluded)


def imha_kernel(log_target: ArrayLike, log_proposal: ArrayLike) -> IMHAKernel:
    """Precompute the IMHA kernel P(y, y') = q(y') min(1, w(y')/w(y)) (y' ≠ y), w = π/q, with

        ρ(y) = 1 - sum_{y'} q(y') min(1, w(y')/w(y))
             = 1 - [ sum_{w(y') >= w(y)} q(y') + (1/w(y)) sum_{w(y') < w(y)} π(y') ]

    the probability that the chain stays at y for another reason than proposing y itself (the
    self-proposal counts as an accepted move, as in :func:`imha_chain`). Both arguments are
    normalized log-probabilities over the same finite space."""
    pi, q, w = _weights(log_target, log_proposal)
    on = np.flatnonzero(q > 0)
    order = on[np.argsort(w[on], kind="stable")]
    ws = w[order]
    right = np.searchsorted(ws, w, side="right")
    left = np.searchsorted(ws, w, side="left")
    q_tail = np.concatenate([np.cumsum(q[order][::-1])[::-1], [0.0]])   # sum over sorted positions >= j
    pi_head = np.concatenate([[0.0], np.cumsum(pi[order])])              # sum over sorted positions < j
    with np.errstate(divide="ignore", invalid="ignore"):
        accept = q_tail[left] + np.where(w > 0, pi_head[left] / w, 0.0)
    stay = np.clip(1.0 - accept, 0.0, 1.0)
    return IMHAKernel(pi, q, w, order, ws, right, stay)


def imha_step(kernel: IMHAKernel, mu: ArrayLike) -> np.ndarray:
    """One exact IMHA step of a distribution μ (probabilities over the space):

        (μP)(y') = μ(y') ρ(y') + q(y') [ sum_{w(y) <= w(y')} μ(y) + w(y') sum_{w(y) > w(y')} μ(y)/w(y) ],

    O(|Y|) after the sort of :func:`imha_kernel`. States with w(y) = 0 (outside supp π) move with
    probability one to any proposal (0 · ∞ = 1 by the chain's rule), which the formula covers by
    min(1, w'/0) = 1."""
    k = kernel
    mu = checks.array(mu, "mu", ndim=1)
    if mu.shape != k.q.shape:
        raise ValueError(f"mu must have one entry per state ({k.q.size}), got shape {mu.shape}")
    mu_sorted = mu[k.order]
    head = np.concatenate([[0.0], np.cumsum(mu_sorted)])                 # sum over sorted positions < j
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(k.w_sorted > 0, mu_sorted / k.w_sorted, 0.0)
    tail = np.concatenate([np.cumsum(inv[::-1])[::-1], [0.0]])           # sum over sorted positions >= j
    moved = head[k.right] + k.w * tail[k.right]
    return mu * k.stay + k.q * moved


def imha_marginals(kernel: IMHAKernel, n_steps: int) -> list[np.ndarray]:
    """μ_0 = q, μ_n = μ_{n-1} P for n = 1..n_steps (:func:`imha_step`): the exact law of the state of an
    IMHA chain that starts at its first proposal, after n accept/reject steps."""
    n_steps = checks.integer(n_steps, "n_steps", lo=0)
    out = [kernel.q.copy()]
    for _ in range(n_steps):
        out.append(imha_step(kernel, out[-1]))
    return out


def acceptance_probability(kernel: IMHAKernel, mu: ArrayLike) -> np.float64:
    """P(the next step accepts) from a state drawn from μ: sum_y μ(y) (1 - ρ(y))."""
    return np.float64(checks.array(mu, "mu", ndim=1) @ (1.0 - kernel.stay))


def stationary_acceptance(log_target: ArrayLike, log_proposal: ArrayLike) -> np.float64:
    """IMHA's acceptance rate at stationarity, E_{y ~ π, y' ~ q} min(1, w(y')/w(y)): 1 iff π = q."""
    k = imha_kernel(log_target, log_proposal)
    return acceptance_probability(k, k.pi)


def mengersen_tweedie_bound(w_star: float, n: int) -> np.float64:
    """(1 - 1/w*)^n, w* = max_y π(y)/q(y) >= 1: a bound on ||μ_n - π||_TV for every start of IMHA
    (Mengersen & Tweedie 1996), computed as exp(n log1p(-1/w*)); 0 for n >= 1 when w* = 1 (π = q).
    w* down to 1 - 1e-12 is accepted as 1 (the rounding of a ratio of two normalized distributions)."""
    w = checks.real(w_star, "w_star", lo=1.0 - 1e-12, allow_inf=True)
    n = checks.integer(n, "n", lo=0)
    if n == 0:
        return np.float64(1.0)
    if w <= 1.0:
        return np.float64(0.0)
    return np.float64(math.exp(n * math.log1p(-1.0 / w)))
