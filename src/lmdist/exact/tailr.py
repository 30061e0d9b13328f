"""Total variation, the optimal classifier, and the TaiLr objective of Ji et al. (ICLR 2023), exactly.

Total variation and classification. With a label c ~ Bernoulli(1/2) and y ~ p if c = 1, y ~ q if c = 0,
a classifier f: Y -> {0, 1} errs with probability

    err(f) = ½ Σ_{y: f(y)=1} q(y) + ½ Σ_{y: f(y)=0} p(y),

minimised by the Bayes rule f*(y) = [p(y) > q(y)], whose error is ½ Σ_y min(p, q), so that

    TV(p, q) = ½ Σ_y |p − q| = 1 − Σ_y min(p, q) = 1 − 2 err(f*).

Gradients. For a family q_θ with Jacobian J_y = ∂ log q_θ(y)/∂θ,

    ∇ KL(p ‖ q_θ) = −Σ_y p(y) J_y = E_{y~p}[−∇q_θ(y)/q_θ(y)],
    ∇ TV(p, q_θ)  = −Σ_{y: q_θ(y) < p(y)} q_θ(y) J_y = E_{y~p}[−∇q_θ(y)/p(y) · [q_θ(y) < p(y)]]

(the second wherever no y has q_θ(y) = p(y) > 0; it uses Σ_y ∇q_θ(y) = 0).

TaiLr. The released criterion (thu-coai/TaiLr, ``fairseq/criterions/tailr.py``) weights each target
token's negative log-likelihood by a *detached* weight

    w(p) = clamp( p / (γ + (1 − γ) p), min = m, max = 1 ),   p = p_θ(y_t | y_<t),

and adds label smoothing ε unweighted: loss_t = (1 − ε) w(p) (−log p) + (ε/V) Σ_v (−log p_θ(v | y_<t)).
Since w is held constant, ∂loss/∂θ = −(1 − ε) w(p) ∇p/p + (LS term), which is exactly the gradient of

    L_{γ,m}(p) = −log(1 − (1−γ)(1−p)) / (1 − γ)                    for p >= p_m,
    L_{γ,m}(p) = L_{γ,m}(p_m) + m (log p_m − log p)                for p <  p_m,
    p_m = m γ / (1 − m (1 − γ))  (where the floor starts: w(p_m) = m),

with L(1) = 0. γ → 0 gives −log p (maximum likelihood); γ = 1 gives 1 − p (the token's probability,
not total variation); the floor m makes the tail logarithmic again (m (−log p)). The population
optimum of Σ_v p_d(v) L(q(v)) over next-token distributions q is :func:`optimum`.

numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from lmdist.exact import checks, strings

#: The released settings (γ, m, ε) of thu-coai/TaiLr's training scripts: examples/<task>/train_tailr.sh.
RELEASED = {
    "synthetic (COCO oracle)": (1e-7, 0.2, 0.0),
    "translation (IWSLT14)": (0.1, 0.3, 0.1),
    "summarization (Gigaword)": (0.8, 0.2, 0.1),
    "long text (WritingPrompts)": (1e-7, 0.2, 0.0),
}


def _params(gamma: float, min_weight: float) -> tuple[float, float]:
    return (checks.real(gamma, "gamma", lo=0.0, hi=1.0), checks.real(min_weight, "min_weight", lo=0.0, hi=1.0))


# ------------------------------------------------------------------------- TV and the classifier
def classifier_error(says_p: ArrayLike, logp: ArrayLike, logq: ArrayLike) -> np.float64:
    """err(f) = ½ Σ_{f(y)=1} q(y) + ½ Σ_{f(y)=0} p(y): the error, with equal priors, of the classifier
    that says "from p" exactly where ``says_p`` (a boolean per outcome) is True."""
    lp, lq = checks.logprob_pair(logp, logq)
    f = np.asarray(says_p, dtype=bool)
    if f.shape != lp.shape:
        raise ValueError(f"says_p must have one entry per outcome {lp.shape}, got {f.shape}")
    return np.float64(0.5 * np.exp(lq[f]).sum() + 0.5 * np.exp(lp[~f]).sum())


def bayes_rule(logp: ArrayLike, logq: ArrayLike) -> np.ndarray:
    """The optimal classifier with equal priors: f*(y) = [p(y) > q(y)] (ties go to q; either is optimal)."""
    lp, lq = checks.logprob_pair(logp, logq)
    return lp > lq


def bayes_error(logp: ArrayLike, logq: ArrayLike) -> np.float64:
    """The optimal error with equal priors, ½ Σ_y min(p(y), q(y)); TV(p, q) = 1 − 2 · this."""
    lp, lq = checks.logprob_pair(logp, logq)
    return np.float64(0.5 * np.exp(np.minimum(lp, lq)).sum())


def plugin_rule(counts_p: ArrayLike, counts_q: ArrayLike) -> np.ndarray:
    """The classifier fitted on equal-size samples: f̂(y) = [n_p(y) > n_q(y)], the Bayes rule of the two
    empirical distributions (ties, unseen outcomes included, go to q)."""
    a, b = np.asarray(counts_p), np.asarray(counts_q)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"counts_p and counts_q must be 1-D of one shape, got {a.shape} and {b.shape}")
    return a > b


# ------------------------------------------------------------------------- gradients
def tv_gradient(logp: ArrayLike, logq: ArrayLike, jac: ArrayLike) -> np.ndarray:
    """The slides' estimator in expectation, E_{y~p}[−∇q_θ(y)/p(y) · [q_θ(y) < p(y)]]
    = −Σ_{y: q(y) < p(y)} q(y) J_y; equal to ∇_θ TV(p, q_θ) where no outcome has q = p > 0."""
    lp, lq = checks.logprob_pair(logp, logq)
    j = checks.array(jac, "jac", ndim=2)
    under = lq < lp
    return -np.exp(lq[under]) @ j[under]


# ------------------------------------------------------------------------- TaiLr
def floor_start(gamma: float, min_weight: float) -> float:
    """p_m = m γ / (1 − m (1 − γ)), the probability below which the floor m is the weight (1 if m = 1)."""
    g, m = _params(gamma, min_weight)
    return 1.0 if m == 1.0 else m * g / (1.0 - m * (1.0 - g))


def weight(p: ArrayLike, gamma: float, min_weight: float) -> np.ndarray:
    """The released detached weight w(p) = clamp(p / (γ + (1 − γ) p), m, 1), elementwise, p in [0, 1]."""
    g, m = _params(gamma, min_weight)
    p = checks.array(p, "p")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must hold probabilities in [0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(p > 0, p / (g + (1.0 - g) * p), 0.0 if g > 0 else 1.0)
    return checks.as_result(np.clip(w, m, 1.0))


def _smooth_part(p: np.ndarray, gamma: float) -> np.ndarray:
    """−log(1 − (1−γ)(1−p)) / (1−γ), and its limit 1 − p at γ = 1 (no cancellation near γ = 1)."""
    if gamma == 1.0:
        return 1.0 - p
    a = 1.0 - gamma
    with np.errstate(divide="ignore"):
        return -np.log1p(-a * (1.0 - p)) / a


def objective(p: ArrayLike, gamma: float, min_weight: float) -> np.ndarray:
    """L_{γ,m}(p), the per-token loss whose exact gradient is the released criterion's (see the module
    docstring); +inf at p = 0 when m > 0 or γ = 0."""
    g, m = _params(gamma, min_weight)
    p = checks.array(p, "p")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p must hold probabilities in [0, 1]")
    pm = floor_start(g, m)
    upper = _smooth_part(np.maximum(p, pm), g)
    with np.errstate(divide="ignore"):
        below = m * (np.log(pm) - np.log(p)) if pm > 0 else np.zeros_like(p)
    return checks.as_result(np.where(p >= pm, upper, _smooth_part(np.asarray(pm), g) + below))


def derivative(p: ArrayLike, gamma: float, min_weight: float) -> np.ndarray:
    """dL_{γ,m}/dp = −w(p)/p."""
    p = checks.array(p, "p")
    with np.errstate(divide="ignore"):
        return checks.as_result(-weight(p, gamma, min_weight) / p)


def token_losses(logp: ArrayLike, targets: ArrayLike, gamma: float, min_weight: float,
                 label_smoothing: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(released surrogate, derived objective) per row of ``logp`` (N, V) with targets (N,):

        surrogate_t = (1 − ε) w(p_t) (−log p_t) + (ε/V) Σ_v (−log p_v),
        objective_t = (1 − ε) L_{γ,m}(p_t)      + (ε/V) Σ_v (−log p_v),    p_t = p(target_t).
    """
    lp = checks.logprobs(logp, "logp")
    y = np.asarray(targets)
    eps = checks.real(label_smoothing, "label_smoothing", lo=0.0, hi=1.0)
    if lp.ndim != 2 or y.shape != lp.shape[:1]:
        raise ValueError(f"logp must be (N, V) and targets (N,), got {lp.shape} and {y.shape}")
    lt = lp[np.arange(len(y)), y]
    smooth = (eps / lp.shape[1]) * (-lp).sum(1)
    pt = np.exp(lt)
    return ((1 - eps) * weight(pt, gamma, min_weight) * (-lt) + smooth,
            (1 - eps) * objective(pt, gamma, min_weight) + smooth)


def logit_gradient(logp: ArrayLike, targets: ArrayLike, gamma: float, min_weight: float,
                   label_smoothing: float = 0.0) -> np.ndarray:
    """∂ objective_t / ∂ z_t (z the logits, p = softmax z) per row:

        −(1 − ε) w(p_t) (e_t − p) + ε (p − 1/V).
    """
    lp = checks.logprobs(logp, "logp")
    y = np.asarray(targets)
    eps = checks.real(label_smoothing, "label_smoothing", lo=0.0, hi=1.0)
    p = np.exp(lp)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    w = weight(p[np.arange(len(y)), y], gamma, min_weight)
    return -(1 - eps) * w[:, None] * (onehot - p) + eps * (p - 1.0 / p.shape[1])


def optimum(logp_data: ArrayLike, gamma: float, min_weight: float) -> np.ndarray:
    """log q* for q* = argmin over distributions q of Σ_v p_d(v) L_{γ,m}(q(v)) (L convex: unique for γ < 1).

    Stationarity gives, with a multiplier λ fixed by Σ_v q(v) = 1,

        q(v) = (p_d(v)/λ − γ)/(1 − γ)   if that is >= p_m,   else   m p_d(v)/λ

    (without a floor, m = 0: a sharpened p_d, cut to 0 below p_d(v) = γλ). At γ = 1 (L = 1 − q above
    m): q(v) = m p_d(v)/max p_d off the mode(s), the rest shared by the modes, if max p_d >= m; else q = p_d.
    """
    lp = checks.logprobs(logp_data, "logp_data")
    g, m = _params(gamma, min_weight)
    p = np.exp(lp)
    if g == 0.0 or m == 1.0:
        return lp.copy()
    with np.errstate(divide="ignore"):
        if g == 1.0:
            top = p.max()
            if top < m:
                return lp.copy()
            modes = p == top
            q = np.where(modes, 0.0, m * p / top)
            q[modes] = (1.0 - q.sum()) / modes.sum()
            return np.log(q)
        pm = floor_start(g, m)

        def q_of(log_lam: float) -> np.ndarray:
            r = p * np.exp(-log_lam)
            smooth = (r - g) / (1.0 - g)
            return np.where(smooth >= pm, smooth, m * r)

        # at lo the largest q exceeds 1; at hi every smooth part is <= 0 and the floored sum m/λ is <= 1/e
        lo, hi = float(np.log(p.max())) - 1.0, float(np.log(max(p.max() / g, m))) + 1.0
        s = brentq(lambda t: q_of(t).sum() - 1.0, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)
        q = q_of(s)
        return np.log(q / q.sum())


# ------------------------------------------------------------------------- tied-context fits on a toy
def bigram_context(space: strings.StringSpace) -> np.ndarray:
    """The context of each prefix for a bigram model: its last token (0..V−1), V for the empty prefix."""
    return np.where(space.last_token >= 0, space.last_token, space.alphabet_size)


def context_counts(space: strings.StringSpace, logp: ArrayLike, context: ArrayLike) -> np.ndarray:
    """A[c, v] = Σ_{h: context(h) = c, |h| < L} M(h) p(v | h): the expected number of times the data emit
    symbol v (EOS = V) in context c, M(h) the probability that a string passes through prefix h."""
    lp = checks.logprobs(logp, "logp")
    ctx = np.asarray(context)
    marg = strings.prefix_log_marginals(space, lp)
    table = strings.next_token_table(space, lp)
    inner = space.lengths < space.max_len
    out = np.zeros((int(ctx.max()) + 1, space.alphabet_size + 1))
    np.add.at(out, ctx[inner], np.exp(marg[inner, None] + table[inner]))
    return out


def fit_tied(space: strings.StringSpace, logp: ArrayLike, context: ArrayLike, gamma: float,
             min_weight: float) -> np.ndarray:
    """log q over the strings for the model with one next-symbol row per context (EOS forced at length L)
    that minimises the TaiLr objective E_{y~p} Σ_t L_{γ,m}(q(y_t | y_<t)) — maximum likelihood at γ = 0.
    The objective is Σ_c Σ_v A[c, v] L(q_c(v)) (:func:`context_counts`), so each row is :func:`optimum`
    of its context's normalised counts."""
    ctx = np.asarray(context)
    counts = context_counts(space, logp, ctx)
    rows = np.zeros_like(counts)
    for c, a in enumerate(counts):
        if a.sum() > 0:
            with np.errstate(divide="ignore"):
                rows[c] = optimum(np.log(a) - np.log(a.sum()), gamma, min_weight)
        else:
            rows[c] = np.log(np.full(len(a), 1.0 / len(a)))
    table = rows[ctx].copy()
    table[space.level(space.max_len)] = np.r_[np.full(space.alphabet_size, -np.inf), 0.0]
    return strings.ToyLM(space, table).logp


def tied_objective(space: strings.StringSpace, logp: ArrayLike, context: ArrayLike, logq_rows: ArrayLike,
                   gamma: float, min_weight: float) -> np.float64:
    """Σ_c Σ_v A[c, v] L_{γ,m}(q_c(v)) for rows log q_c (one per context): the objective :func:`fit_tied` minimises."""
    counts = context_counts(space, logp, context)
    q = np.exp(checks.array(logq_rows, "logq_rows"))
    on = counts > 0
    return np.float64((counts[on] * objective(q[on], gamma, min_weight)).sum())

