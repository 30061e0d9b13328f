"""KL projections of a target distribution onto a parametrised family, on a finite set of strings.

A *family* is a map θ ↦ log q_θ (normalized log-probabilities over the same outcomes as the target
p). Its two projections of p are

    forward:  θ_F = argmin_θ KL(p || q_θ)   (maximum likelihood under p: mass-covering),
    reverse:  θ_R = argmin_θ KL(q_θ || p)   (what KL-regularised RL finds when p = q*_β: mode-seeking).

Neither has a closed form in general; :func:`project` runs L-BFGS-B from each start and keeps the
best. Two families are here: the *memoryless* model on a :class:`~lmdist.exact.strings.StringSpace`
(one next-symbol distribution softmax(η) at every prefix), whose forward projection has the closed form
:func:`memoryless_mle`, and the *mixture family* of fixed distributions (:func:`mixture`), whose image is
convex, so that every loss convex in the distribution has no spurious local minimum over it and a fit is
certified by :func:`simplex_gap`; and the *geometric-mean policy* of a generalised alignment objective.
numpy and scipy only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from lmdist.exact import checks, strings
from lmdist.exact import infotheory as it

DIRECTIONS = ("forward", "reverse")


def memoryless(space: strings.StringSpace, eta: np.ndarray) -> np.ndarray:
    """log q_η(y) for the memoryless model: u = softmax(η) over the V tokens and EOS at every prefix,

        log q_η(y) = sum_{t=1}^{n} log u(y_t) + [n < L] log u(EOS),

    EOS being forced (probability 1) at length L = max_len.
    """
    eta = checks.finite_vector(eta, "eta")
    v = space.alphabet_size
    if eta.shape != (v + 1,):
        raise ValueError(f"eta must hold V + 1 = {v + 1} logits (tokens, then EOS), got shape {eta.shape}")
    row = eta - logsumexp(eta)
    table = np.tile(row, (space.size, 1))
    table[space.level(space.max_len)] = np.r_[np.full(v, -np.inf), 0.0]
    return strings.ToyLM(space, table).logp


def symbol_counts(space: strings.StringSpace) -> np.ndarray:
    """The (strings, V + 1) matrix of c_v(y): how often y emits token v, and c_EOS(y) = [|y| < L]
    (the EOS at length L = max_len is forced, not a choice of the model), so that for the memoryless
    model log q_η(y) = sum_v c_v(y) log u(v).
    """
    v = space.alphabet_size
    tokens = (space.tokens[:, :, None] == np.arange(v)).sum(axis=1)
    return np.c_[tokens, space.lengths < space.max_len].astype(np.float64)


def memoryless_jacobian(space: strings.StringSpace, eta: np.ndarray) -> np.ndarray:
    """∂ log q_η(y) / ∂η_v = c_v(y) − n(y) u(v), with u = softmax(η), c = :func:`symbol_counts` and
    n(y) = sum_v c_v(y) the number of symbols y's model chooses: the (strings, V + 1) Jacobian of
    :func:`memoryless`, for :func:`project`'s ``jacobian``.
    """
    eta = checks.finite_vector(eta, "eta")
    c = symbol_counts(space)
    if eta.shape != (c.shape[1],):
        raise ValueError(f"eta must hold V + 1 = {c.shape[1]} logits (tokens, then EOS), got shape {eta.shape}")
    u = np.exp(eta - logsumexp(eta))
    return c - c.sum(axis=1, keepdims=True) * u


def memoryless_mle(space: strings.StringSpace, logp: np.ndarray) -> np.ndarray:
    """The forward-KL projection of p onto the memoryless family, in closed form: log u with

        u(v) = E_p[c_v(y)] / sum_v' E_p[c_v'(y)],

    where c_v(y) counts token v in y and c_EOS(y) = [|y| < L] (the forced EOS at length L is not a
    choice of the model). It maximises sum_v E_p[c_v] log u(v), i.e. E_p log q_u, over the simplex.
    Returns log u (−inf for a symbol p never emits), which is also a valid η for :func:`memoryless`
    when every symbol is emitted.
    """
    lp = checks.logprobs(logp, "logp")
    if lp.shape != (space.size,):
        raise ValueError(f"logp must have one entry per string ({space.size}), got shape {lp.shape}")
    counts = np.exp(lp) @ symbol_counts(space)
    with np.errstate(divide="ignore"):
        return np.log(counts) - np.log(counts.sum())


def forward_kl_gradient(logp: np.ndarray, logq: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """∇_θ KL(p ‖ q_θ) = −Σ_y p(y) J_y, J = ∂ log q_θ / ∂θ (one row per outcome): the gradient
    :func:`project` follows in the forward direction."""
    lp, _ = checks.logprob_pair(logp, logq)
    return _forward_kl_gradient(lp, checks.array(jac, "jac", ndim=2))


def _forward_kl_gradient(lp: np.ndarray, jac: np.ndarray) -> np.ndarray:
    on = lp > -np.inf
    return -np.exp(lp[on]) @ jac[on]


def project(family: Callable[[np.ndarray], np.ndarray], logtarget: np.ndarray, direction: str,
            starts: Sequence[np.ndarray],
            jacobian: Callable[[np.ndarray], np.ndarray] | None = None,
            tol: float | None = None,
            bounds: Sequence[tuple[float | None, float | None]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(log q_θ̂, θ̂) for θ̂ = the best of L-BFGS-B runs, one from each start, minimising

        KL(p || q_θ)  (``direction="forward"``)   or   KL(q_θ || p)  (``direction="reverse"``),

    p = exp(``logtarget``). Without ``jacobian`` the gradients are finite differences (scipy's
    default), so any family works. With ``jacobian(θ)`` = J = ∂ log q_θ / ∂θ (one row per outcome;
    rows where q_θ = 0 are not used) they are exact:

        ∇ KL(p || q_θ) = −sum_y p(y) J_y,    ∇ KL(q_θ || p) = sum_y q_θ(y) (log q_θ(y) − log p(y)) J_y

    (the term sum_y q_θ(y) J_y of the second is the gradient of sum_y q_θ(y) = 1, zero). ``tol`` is
    scipy's: a run stops when a step lowers the loss by less than ``tol`` relative to max(|loss|, 1) or
    every gradient component is below ``tol`` (None: scipy's defaults, 2.2e-9 and 1e-5). ``bounds``
    (one (lo, hi) per parameter, None for no bound) are L-BFGS-B's box constraints, e.g. (0, None)
    for the weights of :func:`mixture`.
    A non-convex loss (the reverse KL of a multimodal p) has local minima: the result is the best
    over ``starts``, not a certified global minimum.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if len(starts) == 0:
        raise ValueError("starts must hold at least one starting parameter vector")
    lt = checks.logprobs(logtarget, "logtarget")

    def loss(theta: np.ndarray) -> float:
        lq = family(theta)
        return float(it.kl(lq, lt) if direction == "reverse" else it.kl(lt, lq))

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        assert jacobian is not None   # only used when it is given
        lq, jac = family(theta), jacobian(theta)
        if direction == "forward":
            return float(it.kl(lt, lq)), _forward_kl_gradient(lt, jac)
        on = lq > -np.inf
        return float(it.kl(lq, lt)), (np.exp(lq[on]) * (lq[on] - lt[on])) @ jac[on]

    fun = loss if jacobian is None else loss_and_grad
    best = min((minimize(fun, s, jac=jacobian is not None, method="L-BFGS-B", tol=tol, bounds=bounds)
                for s in starts),
               key=lambda res: res.fun)
    return family(best.x), best.x


def mixture(logcomponents: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """log π_w(y) = log sum_k w_k q_k(y) − log sum_k w_k, the *mixture family* of K fixed distributions
    q_k (the rows of ``logcomponents``) with nonnegative weights w (not all zero; normalized here).

    Its image is the convex hull of the q_k, so a loss that is convex in the distribution (KL(π||p),
    KL(p||π), −E_π r + β KL(π||p_ref)) is convex in w on the simplex: every local minimum is global,
    and :func:`simplex_gap` certifies how far a fit is from it.
    """
    lc = checks.array(logcomponents, "logcomponents", ndim=2)
    w = checks.finite_vector(weights, "weights")
    if w.shape != (lc.shape[0],) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(f"weights must be {lc.shape[0]} nonnegative numbers, not all zero, got {w!r}")
    for k in range(lc.shape[0]):
        checks.logprobs(lc[k], f"logcomponents[{k}]")
    with np.errstate(divide="ignore"):
        return logsumexp(np.log(w)[:, None] + lc, axis=0) - np.log(w.sum())


def mixture_jacobian(logcomponents: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """∂ log π_w(y) / ∂w_k = (q_k(y) / π_w(y) − 1) / sum_j w_j on the support of π_w (0 off it): the
    (outcomes, K) Jacobian of :func:`mixture`, for :func:`project`'s ``jacobian``.
    """
    lc = np.asarray(logcomponents, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    lp = mixture(lc, w)
    on = lp > -np.inf
    out = np.zeros((lc.shape[1], lc.shape[0]))
    out[on] = (np.exp(lc[:, on] - lp[on]).T - 1.0) / w.sum()
    return out


def simplex_gap(logcomponents: np.ndarray, weights: np.ndarray, grad: np.ndarray) -> np.float64:
    """The Frank–Wolfe gap of a loss F(π) that is convex in the distribution π, at π_w = :func:`mixture`:

        gap(w) = sum_k w_k g_k − min_k g_k,   g_k = sum_y q_k(y) ∇F(π_w)(y),

    with w normalized and ``grad`` = ∇F(π_w) over the outcomes (F extended to nonnegative measures;
    entries outside every q_k's support are not used, so they may be nan). By convexity
    F(π_w) − min_{w'} F(π_{w'}) <= gap(w): a certificate of a fit's distance from the global minimum
    over the mixture family, whatever optimiser produced w. For a concave objective G to be maximised,
    pass grad = −∇G. Clipped at 0 (rounding can make it −1e-17).
    """
    lc = checks.array(logcomponents, "logcomponents", ndim=2)
    w = checks.finite_vector(weights, "weights")
    g = np.asarray(grad, dtype=np.float64)
    if g.shape != (lc.shape[1],) or w.shape != (lc.shape[0],):
        raise ValueError(f"grad must have {lc.shape[1]} entries and weights {lc.shape[0]}, got {g.shape}, {w.shape}")
    on = (lc > -np.inf).any(axis=0)
    if not np.isfinite(g[on]).all():
        raise ValueError("grad must be finite on the support of the components")
    gk = np.exp(lc[:, on]) @ g[on]
    return np.float64(max(0.0, gk @ (w / w.sum()) - gk.min()))


def geometric_policy(logpi: np.ndarray, logref: np.ndarray, beta_pi: float) -> np.ndarray:
    """log π^(β_π)(y) = β_π log π(y) + (1 − β_π) log π_ref(y) − log Z, the normalized geometric mean

        π^(β_π) ∝ π^β_π π_ref^(1−β_π),   0 < β_π <= 1,

    (β_π = 1 gives π itself; a zero of either factor with a positive exponent is a zero). Raises if
    π and π_ref have disjoint supports (Z = 0).
    """
    lpi, lref = checks.logprob_pair(logpi, logref, ("logpi", "logref"))
    b = checks.real(beta_pi, "beta_pi", lo=0.0, hi=1.0, open_lo=True)
    if b == 1.0:
        return it.normalize(lpi)
    return it.normalize(b * lpi + (1.0 - b) * lref)


def geometric_jacobian(logg: np.ndarray, jac: np.ndarray, beta_pi: float) -> np.ndarray:
    """∂ log π^(β_π) / ∂θ = β_π (J − E_{π^(β_π)} J) on the support of π^(β_π) (0 off it), for the
    geometric mean ``logg`` = :func:`geometric_policy` of π_θ and J = ∂ log π_θ / ∂θ (the normalizer
    log Z contributes −β_π E_{π^(β_π)} J; π_ref does not depend on θ).
    """
    lg = checks.logprobs(logg, "logg")
    j = checks.array(jac, "jac", ndim=2)
    if j.shape[0] != lg.shape[0]:
        raise ValueError(f"jac must have one row per outcome ({lg.shape[0]}), got shape {j.shape}")
    b = checks.real(beta_pi, "beta_pi", lo=0.0, hi=1.0, open_lo=True)
    on = lg > -np.inf
    out = np.zeros_like(j)
    out[on] = b * (j[on] - np.exp(lg[on]) @ j[on])
    return out
