"""Aggregating evaluation functions into an energy (Ji et al. 2024, "decoding as direct metrics
optimisation"), exactly on a finite set of strings.

Given a base model p_θ, evaluation functions f_1..f_K (a matrix F, one row per string) and the data's
expectations b_k = E_{p_d} f_k, the problem

    min_p KL(p ‖ p_θ)   subject to   E_p f_k = b_k  (k = 1..K)

has, when b lies in the relative interior of the convex hull of {f(y) : p_θ(y) > 0}, the solution

    p*(y) = p_θ(y) exp(-μ*·f(y)) / Z(μ*),   Z(μ) = E_{p_θ} e^{-μ·f},

with μ* the minimiser of the convex dual  g(μ) = log Z(μ) + μ·b  (∇g = b - E_{p_μ} f,
∇²g = Cov_{p_μ} f). Then supp p* = supp p_θ, and for every distribution p_d with E_{p_d} f = b,

    H(p_d, p*) = H(p_d, p_θ) - KL(p* ‖ p_θ)   (finite when supp p_d ⊆ supp p_θ).

For any μ (not only μ*) the exact relation is
H(p_d, p_μ) = H(p_d, p_θ) - KL(p_μ ‖ p_θ) + μ·(E_{p_d} f - E_{p_μ} f). numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linprog, minimize

from lmdist.exact import align, checks, imha
from lmdist.exact import infotheory as it


def _features(logp: np.ndarray, features: ArrayLike) -> np.ndarray:
    f = checks.array(features, "features")
    if f.ndim == 1:
        f = f[:, None]
    if f.ndim != 2 or f.shape[0] != logp.shape[0]:
        raise ValueError(f"features must have one row per string ({logp.shape[0]}), got shape {f.shape}")
    if not np.isfinite(f[logp > -np.inf]).all():
        raise ValueError("features must be finite on supp p_theta")
    return np.where(np.isfinite(f), f, 0.0)


def tilted(logp: ArrayLike, features: ArrayLike, mu: ArrayLike) -> np.ndarray:
    """log p_μ(y) = log p_θ(y) - μ·f(y) - log Z(μ) (:func:`lmdist.exact.align.gibbs` with reward -μ·f, β = 1)."""
    lp = checks.logprobs(logp, "logp")
    f = _features(lp, features)
    mu = checks.finite_vector(mu, "mu")
    return align.gibbs(lp, -(f @ mu), 1.0)


def moments(logq: ArrayLike, features: ArrayLike) -> np.ndarray:
    """E_q f_k for every k."""
    lq = checks.logprobs(logq, "logq")
    f = _features(lq, features)
    return np.asarray(np.exp(lq) @ f)


def dual(mu: ArrayLike, logp: ArrayLike, features: ArrayLike, target: ArrayLike
         ) -> tuple[np.float64, np.ndarray, np.ndarray]:
    """g(μ) = log E_{p_θ} e^{-μ·f} + μ·b with its gradient b - E_{p_μ} f and Hessian Cov_{p_μ}(f)."""
    lp = checks.logprobs(logp, "logp")
    f = _features(lp, features)
    mu = checks.finite_vector(mu, "mu")
    b = checks.finite_vector(target, "target")
    lq = tilted(lp, f, mu)
    q = np.exp(lq)
    m = q @ f
    centred = f - m
    return (np.float64(align.log_partition(lp, -(f @ mu), 1.0) + mu @ b), b - m,
            (centred * q[:, None]).T @ centred)


def interior_margin(logp: ArrayLike, features: ArrayLike, target: ArrayLike) -> np.float64:
    """max t such that some q on supp p_θ with q(y) >= t everywhere there has E_q f = b (a linear
    programme). t > 0 iff b is in the relative interior of conv{f(y) : p_θ(y) > 0} (μ* finite);
    t = 0 on its boundary (μ* infinite); -inf when b is outside (no p ≪ p_θ matches b)."""
    lp = checks.logprobs(logp, "logp")
    f = _features(lp, features)[lp > -np.inf]
    b = checks.finite_vector(target, "target")
    m = f.shape[0]
    # variables (q_1..q_m, t): maximise t s.t. F^T q = b, sum q = 1, q_i - t >= 0
    a_eq = np.c_[np.r_[f.T, np.ones((1, m))], np.zeros(f.shape[1] + 1)]
    a_ub = np.c_[-np.eye(m), np.ones(m)]
    res = linprog(np.r_[np.zeros(m), -1.0], A_ub=a_ub, b_ub=np.zeros(m), A_eq=a_eq, b_eq=np.r_[b, 1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    if res.status == 2:
        return np.float64(-np.inf)
    if res.status != 0:
        raise RuntimeError(f"interior_margin: linprog failed ({res.message})")
    return np.float64(max(-res.fun, 0.0))


@dataclass(frozen=True)
class Aggregate:
    """The dual solution: μ*, log p*, the moment error max_k |E_{p*} f_k - b_k|, and the solver's iterations."""

    mu: np.ndarray
    logp: np.ndarray
    moment_error: float
    iterations: int


def solve(logp: ArrayLike, features: ArrayLike, target: ArrayLike, mu0: ArrayLike | None = None,
          gtol: float = 1e-12) -> Aggregate:
    """μ* = argmin_μ g(μ) (:func:`dual`) by scipy's trust-region Newton method with the exact Hessian,
    and p* = p_{μ*}. Needs b in the relative interior of the hull (:func:`interior_margin` > 0);
    otherwise g has no minimiser and the returned μ is where the solver stopped (check moment_error)."""
    lp = checks.logprobs(logp, "logp")
    f = _features(lp, features)
    b = checks.finite_vector(target, "target")
    if b.shape != (f.shape[1],):
        raise ValueError(f"target must hold one expectation per feature ({f.shape[1]}), got {b.shape}")
    x0 = np.zeros(f.shape[1]) if mu0 is None else checks.finite_vector(mu0, "mu0")
    res = minimize(lambda m: dual(m, lp, f, b)[0], x0, jac=lambda m: dual(m, lp, f, b)[1],
                   hess=lambda m: dual(m, lp, f, b)[2], method="trust-exact", options={"gtol": gtol, "maxiter": 500})
    mu = _polish(lambda m: dual(m, lp, f, b), res.x)
    lq = tilted(lp, f, mu)
    return Aggregate(mu=mu, logp=lq, moment_error=float(np.abs(moments(lq, f) - b).max()), iterations=int(res.nit))


def _polish(fun, mu: np.ndarray, steps: int = 8) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Newton steps μ ← μ − H⁺∇g while they shrink the gradient. Near the optimum g changes by less than
    its rounding error, where a trust-region method stops; the gradient b − E_{p_μ} f is still accurate."""
    grad = fun(mu)[1]
    for _ in range(steps):
        _, _, hess = fun(mu)
        cand = mu - np.linalg.lstsq(hess, grad, rcond=None)[0]
        g_new = fun(cand)[1]
        if not np.all(np.isfinite(cand)) or np.abs(g_new).max() >= np.abs(grad).max():
            break
        mu, grad = cand, g_new
    return mu


def perplexity_gap(log_data: ArrayLike, logp: ArrayLike, logq: ArrayLike) -> np.float64:
    """H(p_d, q) - [H(p_d, p_θ) - KL(q ‖ p_θ)]: zero when the perplexity identity holds
    (inf - inf, both sides infinite, is returned as NaN)."""
    ld = checks.logprobs(log_data, "log_data")
    lp, lq = checks.logprobs(logp, "logp"), checks.logprobs(logq, "logq")
    with np.errstate(invalid="ignore"):
        return np.float64(it.cross_entropy(ld, lq) - (it.cross_entropy(ld, lp) - it.kl(lq, lp)))


def support_report(log_data: ArrayLike, logp: ArrayLike, logq: ArrayLike) -> dict[str, float | bool]:
    """Which inclusions supp p_d ⊆ supp q ⊆ supp p_θ hold, whether supp q = supp p_θ, and the mass of
    p_d that q loses, p_d(supp p_d \\ supp q)."""
    ld, lp, lq = (checks.logprobs(x, n) for x, n in ((log_data, "log_data"), (logp, "logp"), (logq, "logq")))
    sd, sp, sq = ld > -np.inf, lp > -np.inf, lq > -np.inf
    return {"data_in_q": bool(np.all(sq[sd])), "q_in_base": bool(np.all(sp[sq])),
            "q_equals_base": bool(np.array_equal(sq, sp)), "lost_mass": float(np.exp(ld[sd & ~sq]).sum())}


# --------------------------------------------------------------------------- from samples (neural models)

def _groups(groups: ArrayLike, n: int) -> tuple[np.ndarray, int]:
    g = np.asarray(groups, dtype=np.int64)
    if g.shape != (n,):
        raise ValueError(f"groups must hold one group id per sample ({n}), got shape {g.shape}")
    n_groups = int(g.max()) + 1 if n else 0
    if g.min(initial=0) < 0 or np.bincount(g, minlength=n_groups).min(initial=1) == 0:
        raise ValueError("groups must be 0..G-1, each with at least one sample")
    return g, n_groups


def group_log_means(log_weights: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """log Ẑ_g = log (1/M_g) sum_{i in g} e^{l_i} for each group g (one prompt's M_g proposals)."""
    lw = checks.array(log_weights, "log_weights", ndim=1)
    g, n_groups = _groups(groups, lw.size)
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, g, lw)
    top = np.where(np.isfinite(top), top, 0.0)
    sums = np.bincount(g, weights=np.exp(lw - top[g]), minlength=n_groups)
    with np.errstate(divide="ignore"):
        return np.log(sums) + top - np.log(np.bincount(g, minlength=n_groups))


def sir(log_weights: ArrayLike, groups: ArrayLike, rng: np.random.Generator, size: int = 1) -> np.ndarray:
    """Sampling-importance-resampling within each group: for group g, ``size`` indices i of g drawn with
    probability w_i / sum_{j in g} w_j (:func:`lmdist.exact.imha.snis_weights`), returned as indices into
    the full arrays, shape (G, size). With proposals from p_θ and the EBM p_θ e^{-μ·f}, l = -μ·f;
    with proposals from q, l = log p_θ - μ·f - log q."""
    lw = checks.array(log_weights, "log_weights", ndim=1)
    g, n_groups = _groups(groups, lw.size)
    size = checks.integer(size, "size", lo=1)
    out = np.empty((n_groups, size), dtype=np.int64)
    for k in range(n_groups):
        idx = np.flatnonzero(g == k)
        w = imha.snis_weights(lw[idx], np.zeros(idx.size))
        out[k] = idx[rng.choice(idx.size, size=size, p=w)]
    return out


def sample_dual(mu: ArrayLike, features: ArrayLike, groups: ArrayLike, target: ArrayLike,
                log_base_weights: ArrayLike | None = None) -> tuple[np.float64, np.ndarray, np.ndarray]:
    """The dual with each prompt's partition function replaced by its importance-sampling estimate:

        ĝ(μ) = (1/G) sum_g log Ẑ_g(μ) + μ·b,   Ẑ_g(μ) = (1/M_g) sum_{i in g} e^{l_i - μ·f_i},

    (l_i = ``log_base_weights``, 0 for proposals from p_θ itself), with gradient b - (1/G) sum_g Ê_g f
    (SNIS means) and Hessian (1/G) sum_g Ĉov_g f. Its minimiser matches the SNIS estimate of E_{p_μ} f,
    averaged over prompts, to b: moment matching under importance resampling."""
    f = checks.array(features, "features", ndim=2)
    mu = checks.finite_vector(mu, "mu")
    b = checks.finite_vector(target, "target")
    g, n_groups = _groups(groups, f.shape[0])
    base = (np.zeros(f.shape[0]) if log_base_weights is None
            else checks.array(log_base_weights, "log_base_weights", ndim=1))
    lw = base - f @ mu
    lz = group_log_means(lw, g)
    w = np.exp(lw - lz[g]) / np.bincount(g, minlength=n_groups)[g]          # SNIS weights, sum 1 per group
    mean_g = np.zeros((n_groups, f.shape[1]))
    np.add.at(mean_g, g, w[:, None] * f)
    c = f - mean_g[g]
    hess = (c * w[:, None]).T @ c / n_groups
    return np.float64(lz.mean() + mu @ b), b - mean_g.mean(0), hess


def sample_interior_margin(features: ArrayLike, groups: ArrayLike, target: ArrayLike) -> np.float64:
    """The margin of :func:`interior_margin` for the sample dual: max t such that distributions q_g on
    the proposals of each group g, every q_g(i) >= t, have (1/G) sum_g E_{q_g} f = b. t > 0 iff the
    minimiser of :func:`sample_dual` exists; -inf when no choice of q_g reaches b."""
    f = checks.array(features, "features", ndim=2)
    b = checks.finite_vector(target, "target")
    g, n_groups = _groups(groups, f.shape[0])
    n = f.shape[0]
    onehot = np.zeros((n_groups, n))
    onehot[g, np.arange(n)] = 1.0
    a_eq = np.c_[np.r_[f.T / n_groups, onehot], np.zeros(f.shape[1] + n_groups)]
    a_ub = np.c_[-np.eye(n), np.ones(n)]
    res = linprog(np.r_[np.zeros(n), -1.0], A_ub=a_ub, b_ub=np.zeros(n), A_eq=a_eq, b_eq=np.r_[b, np.ones(n_groups)],
                  bounds=[(0, None)] * n + [(None, None)], method="highs")
    if res.status == 2:
        return np.float64(-np.inf)
    if res.status != 0:
        raise RuntimeError(f"sample_interior_margin: linprog failed ({res.message})")
    return np.float64(max(-res.fun, 0.0))


def solve_samples(features: ArrayLike, groups: ArrayLike, target: ArrayLike,
                  log_base_weights: ArrayLike | None = None, gtol: float = 1e-10) -> Aggregate:
    """μ̂ = argmin ĝ (:func:`sample_dual`) by trust-region Newton; ``logp`` of the result holds the
    per-sample SNIS weight log w_i (normalised within each group) and moment_error the largest |∇ĝ|."""
    f = checks.array(features, "features", ndim=2)
    b = checks.finite_vector(target, "target")
    g, n_groups = _groups(groups, f.shape[0])

    def fun(m: np.ndarray) -> tuple[np.float64, np.ndarray, np.ndarray]:
        return sample_dual(m, f, g, b, log_base_weights)

    res = minimize(lambda m: fun(m)[0], np.zeros(f.shape[1]), jac=lambda m: fun(m)[1], hess=lambda m: fun(m)[2],
                   method="trust-exact", options={"gtol": gtol, "maxiter": 500})
    mu = _polish(fun, res.x)
    base = np.zeros(f.shape[0]) if log_base_weights is None else np.asarray(log_base_weights, float)
    lw = base - f @ mu
    lw = lw - group_log_means(lw, g)[g] - np.log(np.bincount(g, minlength=n_groups)[g])
    return Aggregate(mu=mu, logp=lw, moment_error=float(np.abs(fun(mu)[1]).max()), iterations=int(res.nit))
