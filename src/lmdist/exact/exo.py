"""EXO and DPO with soft labels on a finite space: the K-sample losses, their exact expectations and
expected gradients, their K = ∞ limits, and the variances of the SNIS and on-policy KL estimators.

Notation (Ji et al. 2024). A reference policy π_sft, a policy π_θ, a reward r, and a split of the KL
coefficient β = β_r β_π. The *log policy ratio* and the *scaled reward* of a string are

    f_θ(y) = β_π (log π_θ(y) − log π_sft(y)),        s(y) = r(y) / β_r.

Draw y_1, ..., y_K i.i.d. from π_sft and form two distributions over the K indices,

    p_f(i) = e^{f_θ(y_i)} / Σ_j e^{f_θ(y_j)},        p_r(i) = e^{s(y_i)} / Σ_j e^{s(y_j)}.

The K-sample losses are

    EXO:     ℓ_exo = KL(p_f ‖ p_r)                       (reverse KL over the K samples),
    DPO-rw:  ℓ_dpo = −Σ_i p_r(i) log p_f(i) = KL(p_r ‖ p_f) + H(p_r)   (soft-label cross-entropy),

and L_K = E_{y_{1:K} ~ π_sft}[ℓ]. Strings that repeat among the K draws give equal entries, so ℓ depends
on the draw only through its *counts* c(y) (a multiset), and the index distributions group into
P_f(y) ∝ c(y) e^{f_θ(y)}, P_r(y) ∝ c(y) e^{s(y)} on the distinct strings, with ℓ_exo = KL(P_f ‖ P_r).

**The limits.** As K → ∞, c/K → π_sft, so P_f → π_θ^{(β_π)} ∝ π_θ^{β_π} π_sft^{1−β_π} (the geometric
mean, :func:`lmdist.exact.projections.geometric_policy`) and P_r → π*_{β_r} ∝ π_sft e^{r/β_r}
(:func:`lmdist.exact.align.gibbs`). Hence

    L_exo,K → KL(π_θ^{(β_π)} ‖ π*_{β_r}),      L_dpo,K − E H(p_r) → KL(π*_{β_r} ‖ π_θ^{(β_π)}),

and the same for the gradients. Everything is a function of f on the support of π_sft; with
J = ∂ log π_θ / ∂θ the θ-gradient of any of them is β_π Σ_y (∂ℓ/∂f(y)) J_y, where (exactly)

    ∂ℓ_exo/∂f(y) = P_f(y) (log P_f(y)/P_r(y) − ℓ_exo),       ∂ℓ_dpo/∂f(y) = P_f(y) − P_r(y),

and the K = ∞ gradients are the same expressions with (P_f, P_r) replaced by (π_θ^{(β_π)}, π*_{β_r}).

**Variances.** For one draw of K strings, :func:`snis_kl_variance` gives K·Var of the SNIS estimate of
KL(π_θ^{(β_π)} ‖ π*_{β_r}) from π_sft as K → ∞ (delta method), :func:`onpolicy_kl_variance` the
variance of the on-policy (PPO-style) Monte-Carlo estimate from π_θ^{(β_π)} itself.
numpy and scipy only.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy.special import gammaln, logsumexp

from lmdist.exact import align, checks, projections
from lmdist.exact import infotheory as it

KINDS = ("exo", "dpo")

#: The most multisets :func:`multisets` builds (the enumeration of :func:`expected_loss` is exact but
#: grows as C(n + K − 1, K)).
MULTISET_LIMIT = 3_000_000


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} ('exo': KL(p_f||p_r); 'dpo': soft-label DPO), got {kind!r}")
    return kind


def _split(beta_r: float, beta_pi: float) -> tuple[float, float]:
    return (checks.real(beta_r, "beta_r", lo=0.0, open_lo=True),
            checks.real(beta_pi, "beta_pi", lo=0.0, hi=1.0, open_lo=True))


def log_ratio(logpi: np.ndarray, logsft: np.ndarray, beta_pi: float) -> np.ndarray:
    """f_θ(y) = β_π (log π_θ(y) − log π_sft(y)) on supp π_sft (−inf where π_θ = 0 < π_sft, NaN off
    supp π_sft: such strings are never drawn)."""
    lpi, lsft = checks.logprob_pair(logpi, logsft, ("logpi", "logsft"))
    b = checks.real(beta_pi, "beta_pi", lo=0.0, hi=1.0, open_lo=True)
    out = np.full(lsft.shape, np.nan)
    on = lsft > -np.inf
    out[on] = b * (lpi[on] - lsft[on])
    return out


# --------------------------------------------------------------------------- the K-sample losses

def sample_loss(f: np.ndarray, s: np.ndarray, kind: str, counts: np.ndarray | None = None) -> np.ndarray:
    """ℓ for draws given by f = f_θ(y_i) and s = s(y_i) along the last axis (one draw per row):

        exo: KL(p_f ‖ p_r),        dpo: −Σ_i p_r(i) log p_f(i),

    p_f = softmax(f), p_r = softmax(s) over the K entries. With ``counts`` (same shape) the entries are
    distinct strings drawn c times each: p_f ∝ c e^f, p_r ∝ c e^s (entries with c = 0 are absent).
    """
    lpf, lpr = _index_logdists(f, s, counts)
    if _kind(kind) == "exo":
        return np.asarray(it.kl(lpf, lpr))
    # per index p_f(i) = P_f(y)/c(y): −Σ_i p_r(i) log p_f(i) = −Σ_y P_r(y) (log P_f(y) − log c(y))
    lc = np.zeros(lpf.shape) if counts is None else np.log(np.maximum(np.asarray(counts, dtype=np.float64), 1.0))
    on = lpr > -np.inf
    return -np.where(on, np.exp(lpr) * np.where(on, lpf - lc, 0.0), 0.0).sum(-1)


def sample_grad_f(f: np.ndarray, s: np.ndarray, kind: str, counts: np.ndarray | None = None) -> np.ndarray:
    """∂ℓ/∂f per entry (per distinct string with ``counts``: the sum over its copies):

        exo: P_f (log P_f − log P_r − KL(P_f ‖ P_r)),        dpo: P_f − P_r.
    """
    lpf, lpr = _index_logdists(f, s, counts)
    pf, pr = np.exp(lpf), np.exp(lpr)
    if _kind(kind) == "dpo":
        return pf - pr
    kl = np.asarray(it.kl(lpf, lpr))[..., None]
    with np.errstate(invalid="ignore"):
        return np.where(pf > 0, pf * (np.where(pf > 0, lpf - lpr, 0.0) - kl), 0.0)


def _index_logdists(f: np.ndarray, s: np.ndarray, counts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(f, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    if f.shape != s.shape or f.ndim == 0:
        raise ValueError(f"f and s must be arrays of the same shape, got {f.shape} and {s.shape}")
    if counts is not None:
        c = np.asarray(counts, dtype=np.float64)
        if c.shape != f.shape:
            raise ValueError(f"counts must have the shape of f {f.shape}, got {c.shape}")
        with np.errstate(divide="ignore"):
            lc = np.log(c)
        f = np.where(c > 0, f + lc, -np.inf)
        s = np.where(c > 0, s + lc, -np.inf)
    return it.normalize(f), it.normalize(s)


# --------------------------------------------------------------------------- exact expectations over K draws

def multisets(n: int, k: int) -> np.ndarray:
    """All count vectors c ∈ N^n with Σ c = k (the multisets of size k of n outcomes), one per row,
    C(n + k − 1, k) rows (stars and bars)."""
    return _multisets(checks.integer(n, "n", lo=1), checks.integer(k, "k", lo=1)).copy()


@functools.lru_cache(maxsize=32)
def _multisets(n: int, k: int) -> np.ndarray:
    m = math.comb(n + k - 1, k)
    if m > MULTISET_LIMIT:
        raise ValueError(f"{m} multisets of size k={k} over n={n} outcomes exceed MULTISET_LIMIT={MULTISET_LIMIT}; "
                         "use the Monte-Carlo estimate (sample_counts) instead")
    if n == 1:
        return np.array([[k]])
    bars = np.array(list(itertools.combinations(range(n + k - 1), n - 1)), dtype=np.int64).reshape(m, n - 1)
    edges = np.c_[np.full(m, -1), bars, np.full(m, n + k - 1)]
    return np.diff(edges, axis=1) - 1


def multinomial_logprob(counts: np.ndarray, logq: np.ndarray) -> np.ndarray:
    """log P(counts) = log k! − Σ log c(y)! + Σ c(y) log q(y) for k i.i.d. draws from q."""
    c = np.asarray(counts, dtype=np.float64)
    lq = np.asarray(logq, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        term = np.where(c > 0, c * lq, 0.0)
    return gammaln(c.sum(-1) + 1) - gammaln(c + 1).sum(-1) + term.sum(-1)


def sample_counts(rng: np.random.Generator, logq: np.ndarray, k: int, size: int) -> np.ndarray:
    """``size`` independent count vectors of k i.i.d. draws from q (multinomial), one per row."""
    q = np.exp(checks.logprobs(logq, "logq"))
    return rng.multinomial(checks.integer(k, "k", lo=1), q / q.sum(), size=checks.integer(size, "size", lo=1))


def expected_loss(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float, beta_pi: float, k: int,
                  kind: str) -> tuple[np.float64, np.ndarray]:
    """(L_K, ∂L_K/∂f) exactly: the expectation of :func:`sample_loss` and :func:`sample_grad_f` over the
    K-multisets of supp π_sft, each with its multinomial probability. ∂L_K/∂f is indexed like ``logsft``
    (0 off its support); the θ-gradient is β_π (∂L_K/∂f) @ J, J = ∂ log π_θ/∂θ (:func:`theta_gradient`).
    Cost C(n + K − 1, K) × n for n strings in the support.
    """
    f, s, lsft, on = _fs(logpi, logsft, r, beta_r, beta_pi)
    c = _multisets(int(on.sum()), checks.integer(k, "k", lo=1))
    w = np.exp(multinomial_logprob(c, lsft[on]))
    fo, so = np.broadcast_to(f[on], c.shape), np.broadcast_to(s[on], c.shape)
    loss = w @ sample_loss(fo, so, kind, c)
    grad = np.zeros(lsft.shape)
    grad[on] = w @ sample_grad_f(fo, so, kind, c)
    return np.float64(loss), grad


def sampled_loss(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float, beta_pi: float, k: int,
                 kind: str, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo: (ℓ, ∂ℓ/∂f) for ``size`` independent draws of K strings from π_sft, one per row —
    unbiased for (L_K, ∂L_K/∂f); average the rows and put an interval on the mean."""
    f, s, lsft, on = _fs(logpi, logsft, r, beta_r, beta_pi)
    c = sample_counts(rng, lsft[on], k, size)
    fo, so = np.broadcast_to(f[on], c.shape), np.broadcast_to(s[on], c.shape)
    grad = np.zeros((size, len(lsft)))
    grad[:, on] = sample_grad_f(fo, so, kind, c)
    return sample_loss(fo, so, kind, c), grad


def _fs(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float,
        beta_pi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    br, bp = _split(beta_r, beta_pi)
    f = log_ratio(logpi, logsft, bp)
    lsft = checks.logprobs(logsft, "logsft")
    rr = checks.finite_vector(r, "r")
    if rr.shape != lsft.shape:
        raise ValueError(f"r must have one entry per string ({lsft.shape}), got {rr.shape}")
    return f, rr / br, lsft, lsft > -np.inf


def theta_gradient(grad_f: np.ndarray, jac: np.ndarray, beta_pi: float) -> np.ndarray:
    """∇_θ = β_π Σ_y (∂L/∂f(y)) J_y, the chain rule through f_θ = β_π (log π_θ − log π_sft)."""
    g = np.asarray(grad_f, dtype=np.float64)
    b = checks.real(beta_pi, "beta_pi", lo=0.0, hi=1.0, open_lo=True)
    return b * (g @ checks.array(jac, "jac", ndim=2))


# --------------------------------------------------------------------------- K = 2 with preference labels

def pair_loss(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_pi: float, eps: float,
              kind: str) -> tuple[np.float64, np.ndarray]:
    """(L, ∂L/∂f) for pairs y, y' ~ π_sft i.i.d. labelled by Bradley–Terry, P(y ≻ y') = σ(r(y) − r(y')),
    with the label-smoothed target t = (1 − ε, ε) on (winner, loser) and x = f_θ(winner) − f_θ(loser):

        exo:  KL(σ(x) ‖ 1 − ε) (binary; TRL's ``exo_pair``),  ∂/∂x = σ(x)σ(−x)(x − m),  m = log((1 − ε)/ε);
        dpo:  −(1 − ε) log σ(x) − ε log σ(−x) (ε = 0: TRL's ``sigmoid``),  ∂/∂x = ε − σ(−x).

    L = Σ_{y,y'} π_sft(y)π_sft(y') [σ(Δr) ℓ(Δf) + σ(−Δr) ℓ(−Δf)], exactly (n² pairs). The EXO loss needs
    0 < ε <= 1/2 (at ε = 0 it is +∞ wherever σ(x) < 1); with ε = 0 the DPO loss in expectation over the
    labels is :func:`expected_loss` at K = 2, kind "dpo", β_r = 1 (the cross-entropy is linear in the label).
    """
    e = checks.real(eps, "eps", lo=0.0, hi=0.5, open_lo=_kind(kind) == "exo")
    f, s, lsft, on = _fs(logpi, logsft, r, 1.0, beta_pi)
    q, fo, ro = np.exp(lsft[on]), f[on], s[on]
    with np.errstate(invalid="ignore"):
        x = fo[:, None] - fo[None, :]
    x = np.where(np.isnan(x), 0.0, x)                 # two strings with π_θ = 0: a tie
    dr = ro[:, None] - ro[None, :]
    b, b_not = 1.0 / (1.0 + np.exp(-dr)), 1.0 / (1.0 + np.exp(dr))    # σ(Δr), σ(−Δr) = 1 − σ(Δr) without cancellation
    if kind == "exo":
        m = math.log1p(-e) - math.log(e)

        def loss(z: np.ndarray) -> np.ndarray:
            lp, lm = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
            return np.exp(lp) * (lp - math.log1p(-e)) + np.exp(lm) * (lm - math.log(e))

        def dloss(z: np.ndarray) -> np.ndarray:
            return np.exp(-np.logaddexp(0.0, -z) - np.logaddexp(0.0, z)) * (z - m)
    else:
        def loss(z: np.ndarray) -> np.ndarray:
            return (1 - e) * np.logaddexp(0.0, -z) + e * np.logaddexp(0.0, z)

        def dloss(z: np.ndarray) -> np.ndarray:
            return e - 1.0 / (1.0 + np.exp(z))       # σ(z) − (1 − ε) without cancellation
    pq = q[:, None] * q[None, :]
    val = pq * (b * loss(x) + b_not * loss(-x))
    d = pq * (b * dloss(x) - b_not * dloss(-x))       # ∂/∂x of each ordered pair's term
    grad = np.zeros(lsft.shape)
    grad[on] = 2.0 * d.sum(1)                         # x_ij = f_i − f_j and the (j, i) term is the same
    return np.float64(val.sum()), grad


# --------------------------------------------------------------------------- K = ∞

def population(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float, beta_pi: float,
               kind: str) -> tuple[np.float64, np.ndarray]:
    """The K = ∞ objective and its gradient in f: with g = π_θ^{(β_π)} and π* = π*_{β_r},

        exo: KL(g ‖ π*),  ∂/∂f = g (log g/π* − KL);        dpo: KL(π* ‖ g),  ∂/∂f = g − π*.

    (The DPO-rw loss itself tends to this plus E H(p_r), which does not depend on θ.) −β_r times the
    EXO value plus β_r log Z_{β_r} is the generalised RLHF objective J^{β_r}(π_θ^{(β_π)}).
    """
    br, bp = _split(beta_r, beta_pi)
    lsft = checks.logprobs(logsft, "logsft")
    lg = projections.geometric_policy(logpi, lsft, bp)
    lstar = align.gibbs(lsft, r, br)
    g, star = np.exp(lg), np.exp(lstar)
    if _kind(kind) == "exo":
        kl = it.kl(lg, lstar)
        with np.errstate(invalid="ignore"):
            return np.float64(kl), np.where(g > 0, g * (np.where(g > 0, lg - lstar, 0.0) - kl), 0.0)
    return np.float64(it.kl(lstar, lg)), g - star


# --------------------------------------------------------------------------- the slides' SNIS formula

def slide_snis_value(f: np.ndarray, r: np.ndarray, beta_r: float, counts: np.ndarray | None = None) -> np.ndarray:
    """The SNIS reverse-KL formula as the slide prints it, with the normaliser Σ_j (1/β_r) e^{r(y_j)}
    in place of Σ_j e^{r(y_j)/β_r}:

        Σ_i p_f(i) log [ p_f(i) / (e^{r_i/β_r} / Σ_j β_r^{-1} e^{r_j}) ].

    It equals KL(p_f ‖ p_r) + log Σ_j e^{r_j}/β_r − log Σ_j e^{r_j/β_r} exactly, so its K → ∞ limit is
    KL(π_θ^{(β_π)} ‖ π*_{β_r}) + log Z_1 − log Z_{β_r} − log β_r: right gradient, wrong value unless β_r = 1.
    """
    br = checks.real(beta_r, "beta_r", lo=0.0, open_lo=True)
    rr = np.asarray(r, dtype=np.float64)
    c = np.ones_like(rr) if counts is None else np.asarray(counts, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lc = np.log(c)
    lpf = it.normalize(np.where(c > 0, np.asarray(f) + lc, -np.inf))
    log_pr_slide = rr / br - (logsumexp(np.where(c > 0, rr + lc, -np.inf), axis=-1, keepdims=True) - math.log(br))
    pf = np.exp(lpf)
    return np.where(pf > 0, pf * (np.where(pf > 0, lpf, 0.0) - np.where(pf > 0, log_pr_slide + lc, 0.0)), 0.0).sum(-1)


# --------------------------------------------------------------------------- variances

def _ell(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float,
         beta_pi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.float64]:
    """(g, π_sft, ℓ = log g/π*, KL(g‖π*)) on supp π_sft."""
    br, bp = _split(beta_r, beta_pi)
    lsft = checks.logprobs(logsft, "logsft")
    lg = projections.geometric_policy(logpi, lsft, bp)
    lstar = align.gibbs(lsft, r, br)
    on = lsft > -np.inf
    with np.errstate(invalid="ignore"):
        ell = np.where(lg[on] > -np.inf, lg[on] - lstar[on], 0.0)
    return np.exp(lg[on]), np.exp(lsft[on]), ell, np.float64(it.kl(lg, lstar))


def onpolicy_kl_variance(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float,
                         beta_pi: float) -> np.float64:
    """Var_{y~g}[log g(y)/π*(y)] = E_g[(ℓ − KL)²], g = π_θ^{(β_π)}, π* = π*_{β_r}: K times the variance of
    the on-policy (PPO-style) estimate (1/K) Σ_i ℓ(y_i), y_i ~ g (exact at every K)."""
    g, _, ell, kl = _ell(logpi, logsft, r, beta_r, beta_pi)
    return np.float64(g @ (ell - kl) ** 2)


def snis_kl_variance(logpi: np.ndarray, logsft: np.ndarray, r: np.ndarray, beta_r: float, beta_pi: float,
                     normaliser: str = "known") -> np.float64:
    """lim_K K·Var of the SNIS estimate of KL(g ‖ π*) from K draws of π_sft (delta method), w = g/π_sft
    (so E_{π_sft} w = 1):

    * ``"known"`` — π* normalised and known, estimate Σ_i w̃_i ℓ(y_i) with w̃ = w / Σ w:
      E_{π_sft}[w² (ℓ − KL)²] = E_g[w (ℓ − KL)²];
    * ``"estimated"`` — the EXO loss KL(p_f ‖ p_r), which also estimates both normalisers:
      E_{π_sft}[(w (ℓ − KL − 1) + π*/π_sft)²];
    * ``"slide"`` — the slides' formula, E_g[w/E_g[w] (ℓ − KL)²] (normaliser E_g w = 1 + χ²(g‖π_sft)
      instead of E_{π_sft} w = 1).
    """
    g, q, ell, kl = _ell(logpi, logsft, r, beta_r, beta_pi)
    w = g / q
    if normaliser == "known":
        return np.float64(g @ (w * (ell - kl) ** 2))
    if normaliser == "slide":
        return np.float64(g @ (w / (g @ w) * (ell - kl) ** 2))
    if normaliser == "estimated":
        lstar = align.gibbs(checks.logprobs(logsft, "logsft"), r, beta_r)
        star = np.exp(lstar[np.asarray(logsft) > -np.inf])
        return np.float64(q @ (w * (ell - kl - 1) + star / q) ** 2)
    raise ValueError(f"normaliser must be 'known', 'estimated' or 'slide', got {normaliser!r}")


def snis_kl_estimates(f: np.ndarray, ell: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The SNIS estimate Σ_i w̃_i ℓ(y_i) for draws given by counts (one row per draw), w̃ ∝ c e^f."""
    lpf, _ = _index_logdists(np.broadcast_to(f, counts.shape), np.broadcast_to(f, counts.shape), counts)
    return np.exp(lpf) @ np.asarray(ell, dtype=np.float64)


def onpolicy_gradient_variance(logpi: np.ndarray, jac: np.ndarray, logsft: np.ndarray, r: np.ndarray,
                               beta_r: float) -> np.float64:
    """tr Cov of PPO's single-sample score-function gradient of KL(π_θ ‖ π*_{β_r}) (β_π = 1) with the exact
    baseline KL: (ℓ(y) − KL) ∇ log π_θ(y), y ~ π_θ, whose mean is ∇ KL. K draws divide it by K."""
    g, _, ell, kl = _ell(logpi, logsft, r, beta_r, 1.0)
    on = np.asarray(logsft) > -np.inf
    j = checks.array(jac, "jac", ndim=2)[on]
    score = j - g @ j
    h = (ell - kl)[:, None] * score
    mean = g @ h
    return np.float64(g @ (h * h).sum(1) - mean @ mean)


def sample_gradient_variance(logpi: np.ndarray, jac: np.ndarray, logsft: np.ndarray, r: np.ndarray,
                             beta_r: float, beta_pi: float, k: int, kind: str) -> np.float64:
    """tr Cov of the K-sample θ-gradient β_π (∂ℓ/∂f) @ J over draws of K strings from π_sft, exactly by
    enumeration of the multisets (cost as :func:`expected_loss`)."""
    f, s, lsft, on = _fs(logpi, logsft, r, beta_r, beta_pi)
    c = _multisets(int(on.sum()), checks.integer(k, "k", lo=1))
    w = np.exp(multinomial_logprob(c, lsft[on]))
    gf = sample_grad_f(np.broadcast_to(f[on], c.shape), np.broadcast_to(s[on], c.shape), kind, c)
    gt = beta_pi * gf @ checks.array(jac, "jac", ndim=2)[on]
    mean = w @ gt
    return np.float64(w @ (gt * gt).sum(1) - mean @ mean)
