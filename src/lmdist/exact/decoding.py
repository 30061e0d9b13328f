"""Decoding as maximising an action-state value (Chang, Cohen & Sung 2023).

A decoder is an MDP: the state is the prefix s = (x, y_<t), the action the next symbol a (a token
or EOS), and a decoding algorithm is a policy π(· | s). Every algorithm of this module chooses, at
each state, the distribution π that maximises a *per-step value* built from three information
terms of a next-symbol distribution π over the vocabulary:

* sensibleness  −KL(π ‖ p)                (p the pretrained model's next-symbol distribution),
* diversity      H(π)                      (entropy),
* attribution    E_π[u]                    (u a pointwise score: log P(c | s·a), or the pointwise
                                            mutual information log p(a | s, e) − log p(a | s)).

All five values below are instances of one concave function of π,

    V_τ(π; σ) = E_{a~π}[σ(a)] + τ H(π),     σ a score vector (−inf allowed), τ >= 0,

whose maximiser over the simplex is, by the Lagrangian σ(a) − τ(log π(a) + 1) + μ = 0,

    π*(a) = exp(σ(a)/τ) / Σ_b exp(σ(b)/τ)       (τ > 0; unique, V_τ strictly concave),
    π*    = any distribution on argmax σ        (τ = 0; we return the uniform one),

with max V = τ log Σ_a exp(σ(a)/τ) (resp. max σ) and, for every π, the exact identity
V_τ(π) = max V − τ KL(π ‖ π*). The per-algorithm functions say which (σ, τ) they are.

The sequence-level (dynamic-programming) view lives on a :class:`lmdist.exact.strings.StringSpace`:
:func:`bellman` solves the soft Bellman equation for per-step scores (and an optional terminal
reward), :func:`sequence_objective` evaluates any policy table exactly, and :func:`myopic_policy`
is the per-step optimum that ignores the future. numpy and scipy only; divergences come from
:mod:`lmdist.exact.infotheory`, temperature and greedy from :mod:`lmdist.exact.adaptors`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from lmdist.exact import adaptors as ad
from lmdist.exact import checks, strings
from lmdist.exact import infotheory as it
from lmdist.exact.strings import StringSpace

# --------------------------------------------------------------------------- helpers

def _expect(logpi: np.ndarray, score: np.ndarray) -> np.float64 | np.ndarray:
    """E_π[score] with 0 · (−inf) = 0; −inf when π puts mass where score = −inf."""
    logpi, score = np.broadcast_arrays(np.asarray(logpi, float), np.asarray(score, float))
    pi = np.exp(logpi)
    on = pi > 0
    bad = (on & np.isneginf(score)).any(-1)
    val = np.where(on, pi * np.where(np.isfinite(score), score, 0.0), 0.0).sum(-1)
    return checks.as_result(np.where(bad, -np.inf, val))


# --------------------------------------------------------------------------- the general soft value

def soft_value(logpi: np.ndarray, score: np.ndarray, tau: float | np.ndarray) -> np.float64 | np.ndarray:
    """V_τ(π; σ) = E_π[σ] + τ H(π) for normalized ``logpi`` (τ broadcasts over leading axes)."""
    lp = checks.array(logpi, "logpi")
    tau = np.asarray(tau, dtype=np.float64)
    out = _expect(lp, checks.array(score, "score")) + tau * np.asarray(it.entropy(lp))
    return checks.as_result(out)


def soft_optimum(score: np.ndarray, tau: float | np.ndarray) -> np.ndarray:
    """log π* = log softmax(σ/τ) for τ > 0; the uniform distribution on argmax σ for τ = 0.

    ``tau`` may be an array broadcasting against the leading axes of ``score`` (one τ per row).
    """
    s = checks.array(score, "score")
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau < 0) or np.isnan(tau).any():
        raise ValueError(f"tau must be >= 0, got {tau!r}")
    if np.all(np.isneginf(s), axis=-1).any():
        raise ValueError("score is -inf everywhere in a row: no action is allowed")
    t = tau[..., None] if tau.ndim else tau
    m = s.max(-1, keepdims=True)
    greedy = np.where(s == m, 0.0, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        soft = (s - m) / np.where(t > 0, t, 1.0)
    out = np.where(t > 0, soft, greedy)
    return out - logsumexp(out, axis=-1, keepdims=True)


def soft_optimal_value(score: np.ndarray, tau: float | np.ndarray) -> np.float64 | np.ndarray:
    """max_π V_τ(π; σ) = τ log Σ_a exp(σ(a)/τ) for τ > 0, max_a σ(a) for τ = 0."""
    s = checks.array(score, "score")
    tau = np.asarray(tau, dtype=np.float64)
    m = s.max(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = tau[..., None] if tau.ndim else tau
        soft = m + tau * logsumexp((s - m[..., None]) / np.where(t > 0, t, 1.0), axis=-1)
    out = np.where(tau > 0, soft, m)
    return checks.as_result(out)


# --------------------------------------------------------------------------- the three information terms

def sensibleness(logpi: np.ndarray, logp: np.ndarray) -> np.float64 | np.ndarray:
    """−KL(π ‖ p): how close the policy stays to the pretrained model (0 at π = p)."""
    return -it.kl(logpi, logp)


def diversity(logpi: np.ndarray) -> np.float64 | np.ndarray:
    """H(π), in nats."""
    return it.entropy(logpi)


def pointwise_information(logp_cond: np.ndarray, logp_uncond: np.ndarray) -> np.ndarray:
    """g(a) = log p(a | s, e) − log p(a | s): the pointwise mutual information of the action and the
    evidence (or class) e under the model, given the state. −inf where p(a|s,e) = 0; raises where
    p(a|s,e) > 0 = p(a|s) (then e would be impossible, the model is inconsistent)."""
    c, u = checks.array(logp_cond, "logp_cond"), checks.array(logp_uncond, "logp_uncond")
    c, u = np.broadcast_arrays(c, u)
    if np.any((c > -np.inf) & np.isneginf(u)):
        raise ValueError("p(a | s, e) > 0 where p(a | s) = 0: the unconditional model must cover the conditional")
    with np.errstate(invalid="ignore"):
        return np.where(c > -np.inf, c - np.where(u > -np.inf, u, 0.0), -np.inf)


def attribution(logpi: np.ndarray, logp_cond: np.ndarray, logp_uncond: np.ndarray) -> np.float64 | np.ndarray:
    """A(π) = E_π[log p(a|s,e) − log p(a|s)] = KL(π ‖ p(·|s)) − KL(π ‖ p(·|s,e)).

    Not a mutual information in general: it is negative at π = p(·|s) (where it is −KL(p(·|s) ‖
    p(·|s,e))). At π = p(·|s,e) it is KL(p(·|s,e) ‖ p(·|s)) >= 0, whose average over e ~ P(e|s)
    is the mutual information I(A; E | s).
    """
    return _expect(logpi, pointwise_information(logp_cond, logp_uncond))


# --------------------------------------------------------------------------- temperature and greedy

def temperature_value(logpi: np.ndarray, logp: np.ndarray, temperature: float) -> np.float64 | np.ndarray:
    """V_T(π) = −KL(π ‖ p) + (T − 1) H(π) = E_π[log p] + T H(π)   (σ = log p, τ = T).

    λ = T − 1 is the weight of diversity: T > 1 rewards entropy, T < 1 penalises it."""
    t = checks.real(temperature, "temperature", lo=0.0)
    return soft_value(logpi, logp, t)


def temperature_policy(logp: np.ndarray, temperature: float) -> np.ndarray:
    """π*_T ∝ p^{1/T}: ``adaptors.Temperature(T)`` (T = 0: greedy, T = 1: p itself)."""
    t = checks.real(temperature, "temperature", lo=0.0)
    if t == 0:
        return greedy_policy(logp)
    return it.normalize(np.asarray(logp, float)) if t == 1 else ad.Temperature(t).normalize(logp)


def greedy_value(logpi: np.ndarray, logp: np.ndarray) -> np.float64 | np.ndarray:
    """V_0(π) = E_π[log p] = −KL(π ‖ p) − H(π) = −H(π, p)   (σ = log p, τ = 0): linear in π."""
    return soft_value(logpi, logp, 0.0)


def greedy_policy(logp: np.ndarray) -> np.ndarray:
    """The uniform distribution on argmax p (``adaptors.TopK(1)``, which keeps ties): the T → 0
    limit of p^{1/T}. Any distribution on argmax p has the same greedy value."""
    return ad.TopK(1).normalize(logp)


# --------------------------------------------------------------------------- classifier guidance

def classifier_guidance_value(logpi: np.ndarray, logp: np.ndarray, log_class: np.ndarray,
                              lam: float) -> np.float64 | np.ndarray:
    """V_λ(π) = −KL(π ‖ p) + λ E_π[log P(c | s·a)]   (σ = log p + λ log P(c|s·a), τ = 1).

    ``log_class[a]`` is the discriminator's log P(c | s·a) for the extended prefix (−inf removes a:
    FUDGE's top-k restriction is log_class = −inf off the top k)."""
    lam = checks.real(lam, "lam", lo=0.0)
    return soft_value(logpi, _guided_score(logp, log_class, lam), 1.0)


def _guided_score(logp: np.ndarray, log_class: np.ndarray, lam: float) -> np.ndarray:
    lp, lc = np.broadcast_arrays(checks.array(logp, "logp"), np.asarray(log_class, float))
    if np.isnan(lc).any() or np.any(lc > 1e-12):
        raise ValueError("log_class must hold log-probabilities (<= 0, -inf allowed)")
    keep = (lp > -np.inf) & (lc > -np.inf)
    return np.where(keep, lp + lam * np.where(keep, lc, 0.0), -np.inf)


def classifier_guidance_policy(logp: np.ndarray, log_class: np.ndarray, lam: float) -> np.ndarray:
    """π*_λ(a) ∝ p(a | s) P(c | s·a)^λ on the actions with P(c | s·a) > 0 (Dhariwal & Nichol 2021;
    FUDGE, Yang & Klein 2021)."""
    lam = checks.real(lam, "lam", lo=0.0)
    return soft_optimum(_guided_score(logp, log_class, lam), 1.0)


# --------------------------------------------------------------------------- classifier-free guidance

def cfg_value(logpi: np.ndarray, logp_cond: np.ndarray, logp_uncond: np.ndarray, w: float) -> np.float64 | np.ndarray:
    """V_w(π) = −KL(π ‖ p_c) + w E_π[log p_c − log p_u]   (σ = (1+w) log p_c − w log p_u, τ = 1).

    p_c = p(· | s, e) (with the condition), p_u = p(· | s) (without). The same policy maximises
    −KL(π ‖ p_u) + (1+w) E_π[log p_c − log p_u]: the anchor is a matter of bookkeeping."""
    return soft_value(logpi, _cfg_score(logp_cond, logp_uncond, w), 1.0)


def _cfg_score(logp_cond: np.ndarray, logp_uncond: np.ndarray, w: float) -> np.ndarray:
    w = checks.real(w, "w", lo=0.0)
    c = checks.array(logp_cond, "logp_cond")
    g = pointwise_information(c, logp_uncond)
    return np.where(g > -np.inf, np.broadcast_to(c, g.shape) + w * np.where(g > -np.inf, g, 0.0), -np.inf)


def cfg_policy(logp_cond: np.ndarray, logp_uncond: np.ndarray, w: float) -> np.ndarray:
    """π*_w ∝ p_c^{1+w} p_u^{−w} on supp p_c — the diffusion convention (Ho & Salimans 2022),
    ε̃ = (1+w) ε_c − w ε_u, w = 0 the plain conditional model."""
    return soft_optimum(_cfg_score(logp_cond, logp_uncond, w), 1.0)


def cfg_policy_lm(logits_cond: np.ndarray, logits_uncond: np.ndarray, gamma: float) -> np.ndarray:
    """The language-model convention (Sanchez et al. 2023): logits
    log p_u + γ (log p_c − log p_u), γ = 1 the plain conditional model, applied to raw logits or to
    log-probabilities alike (a per-row constant cancels in the softmax). Equals
    :func:`cfg_policy` at w = γ − 1."""
    lc = it.normalize(checks.array(logits_cond, "logits_cond"))
    lu = it.normalize(checks.array(logits_uncond, "logits_uncond"))
    g = checks.real(gamma, "gamma")
    if np.any((lc > -np.inf) & np.isneginf(lu)):
        raise ValueError("p_c > 0 where p_u = 0")
    with np.errstate(invalid="ignore"):
        x = np.where(lc > -np.inf, np.where(lu > -np.inf, lu, 0.0) + g * (lc - np.where(lu > -np.inf, lu, 0.0)),
                     -np.inf)
    return it.normalize(x)


# --------------------------------------------------------------------------- KL-divergence guided temperature

def kl_guided_temperature(logp_with: np.ndarray, logp_without: np.ndarray, t0: float,
                          bandwidth: float) -> np.float64 | np.ndarray:
    """The temperature of KL-divergence guided sampling (Chang et al. 2023, arXiv 2306.01286; code
    google-research/kl_guided_sampling, ``decoding.py``):

        T_t = T_0 · 2^{−D_t / h},    D_t = KL(p(· | s_t, e) ‖ p(· | s_t)),

    h > 0 the half-life ("kl_bandwidth": every h nats of KL halve the temperature), T_0 the base
    temperature; h = inf switches the guidance off (T_t = T_0). The code clips probabilities at
    1e-7 before the KL; we use the exact KL."""
    t0 = checks.real(t0, "t0", lo=0.0)
    h = checks.real(bandwidth, "bandwidth (inf: no guidance)", lo=0.0, open_lo=True, allow_inf=True)
    d = np.asarray(it.kl(logp_with, logp_without))
    out = t0 * np.exp2(-d / h) if math.isfinite(h) else np.full(d.shape, t0)
    return checks.as_result(out)


def kl_guided_value(logpi: np.ndarray, logp_with: np.ndarray, logp_without: np.ndarray, t0: float,
                    bandwidth: float) -> np.float64 | np.ndarray:
    """V(π) = −KL(π ‖ p_e) + λ_t H(π),  λ_t = T_t − 1 = T_0 2^{−D_t/h} − 1   (σ = log p_e, τ = T_t):
    a temperature value whose diversity weight falls as the evidence becomes relevant."""
    t = kl_guided_temperature(logp_with, logp_without, t0, bandwidth)
    return soft_value(logpi, logp_with, t)


def kl_guided_policy(logp_with: np.ndarray, logp_without: np.ndarray, t0: float, bandwidth: float) -> np.ndarray:
    """π_t ∝ p(· | s_t, e)^{1/T_t}, T_t from :func:`kl_guided_temperature` (greedy where T_t = 0)."""
    lp = checks.array(logp_with, "logp_with")
    t = np.asarray(kl_guided_temperature(lp, logp_without, t0, bandwidth))
    return soft_optimum(lp, t)


# --------------------------------------------------------------------------- the algorithms as (σ, τ)

@dataclass(frozen=True)
class Algorithm:
    """One decoding algorithm as a per-step soft value: ``score(rows)`` is σ and ``tau(rows)`` τ for a
    dict of next-symbol rows (``"p"``: the model decoded from; ``"p_u"``: without evidence;
    ``"log_class"``: a discriminator's log P(c | s·a)); ``policy`` is its closed form."""

    name: str
    knob: str
    score: Callable[[dict, float], np.ndarray]
    tau: Callable[[dict, float], np.float64 | np.ndarray]
    policy: Callable[[dict, float], np.ndarray]
    value: Callable[[np.ndarray, dict, float], np.float64 | np.ndarray]


ALGORITHMS = {
    "temperature": Algorithm(
        "temperature", "T", lambda r, k: checks.array(r["p"], "p"), lambda r, k: np.float64(k),
        lambda r, k: temperature_policy(r["p"], k), lambda pi, r, k: temperature_value(pi, r["p"], k)),
    "greedy": Algorithm(
        "greedy", "-", lambda r, k: checks.array(r["p"], "p"), lambda r, k: np.float64(0.0),
        lambda r, k: greedy_policy(r["p"]), lambda pi, r, k: greedy_value(pi, r["p"])),
    "classifier guidance": Algorithm(
        "classifier guidance", "λ", lambda r, k: _guided_score(r["p"], r["log_class"], k),
        lambda r, k: np.float64(1.0),
        lambda r, k: classifier_guidance_policy(r["p"], r["log_class"], k),
        lambda pi, r, k: classifier_guidance_value(pi, r["p"], r["log_class"], k)),
    "classifier-free guidance": Algorithm(
        "classifier-free guidance", "w", lambda r, k: _cfg_score(r["p"], r["p_u"], k), lambda r, k: np.float64(1.0),
        lambda r, k: cfg_policy(r["p"], r["p_u"], k), lambda pi, r, k: cfg_value(pi, r["p"], r["p_u"], k)),
    "KL-guided temperature": Algorithm(
        "KL-guided temperature", "T0", lambda r, k: checks.array(r["p"], "p"),
        lambda r, k: kl_guided_temperature(r["p"], r["p_u"], k, r.get("bandwidth", 1.0)),
        lambda r, k: kl_guided_policy(r["p"], r["p_u"], k, r.get("bandwidth", 1.0)),
        lambda pi, r, k: kl_guided_value(pi, r["p"], r["p_u"], k, r.get("bandwidth", 1.0))),
}


# --------------------------------------------------------------------------- numerical check on the simplex

def maximise_on_simplex(score: np.ndarray, tau: float, starts: int = 2,
                        rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.float64]:
    """argmax over the simplex of V_τ(π; σ) by SLSQP (equality Σπ = 1, bounds 0 <= π <= 1, exact
    gradient σ − τ(log π + 1)), knowing nothing of the closed form. Actions with σ = −inf are fixed
    at 0 (any mass there gives V = −inf). Starts: uniform, then Dirichlet(1) draws; returns
    (log π, V) of the best run. Used only to check :func:`soft_optimum`."""
    s = checks.array(score, "score")
    if s.ndim != 1:
        raise ValueError("maximise_on_simplex takes one score vector")
    tau = checks.real(tau, "tau", lo=0.0)
    live = s > -np.inf
    sl = s[live]
    k = int(live.sum())
    rng = rng or np.random.default_rng(0)

    def neg(x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.clip(x, 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            logx = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -745.0)
            h = -np.sum(np.where(x > 0, x * logx, 0.0))
        return -(x @ sl + tau * h), -(sl - tau * (logx + 1.0))

    best_x = None
    best_v: np.float64 | np.ndarray = np.float64(-np.inf)
    x0s = [np.full(k, 1.0 / k)] + [rng.dirichlet(np.ones(k)) for _ in range(max(starts - 1, 0))]
    for x0 in x0s:
        res = minimize(neg, x0, jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}],
                       options={"maxiter": 1000, "ftol": 1e-15})
        x = np.clip(res.x, 0.0, None)
        x = x / x.sum()
        with np.errstate(divide="ignore"):
            lx = np.log(x)
        v = soft_value(lx, sl, tau)
        if v > best_v:
            best_x, best_v = lx, v
    out = np.full(s.shape, -np.inf)
    out[live] = best_x
    return out, np.float64(best_v)


# --------------------------------------------------------------------------- the sequence level

def _tau_vector(space: StringSpace, tau: float | np.ndarray) -> np.ndarray:
    t = np.broadcast_to(np.asarray(tau, dtype=np.float64), (space.size,)).copy()
    if np.isnan(t).any() or np.any(t < 0) or np.isinf(t).any():
        raise ValueError("tau must be finite and >= 0 (one value, or one per prefix)")
    return t


def _scores(space: StringSpace, scores: np.ndarray, terminal: np.ndarray | None) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (space.size, space.alphabet_size + 1):
        raise ValueError(f"scores must have shape (size, V+1) = {(space.size, space.alphabet_size + 1)}")
    if np.isnan(s).any() or np.isposinf(s).any():
        raise ValueError("scores hold NaN or +inf")
    s = s.copy()
    s[space.level(space.max_len), : space.alphabet_size] = -np.inf  # strings end at max_len
    if terminal is not None:
        r = np.asarray(terminal, dtype=np.float64)
        if r.shape != (space.size,) or np.isnan(r).any() or np.isposinf(r).any():
            raise ValueError("terminal must be one finite (or -inf) reward per string")
        s[:, space.eos] = s[:, space.eos] + r
    return s


def bellman(space: StringSpace, scores: np.ndarray, tau: float | np.ndarray,
            terminal: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The sequence-level optimum by dynamic programming (the soft Bellman equation).

    The objective of a policy π (a next-symbol table) is

        J(π) = E_{y~π}[ Σ_t ( σ(s_t, a_t) + τ(s_t) H(π(·|s_t)) ) + R(y) ],

    σ = ``scores`` (rows: prefixes, columns: tokens then EOS), R = ``terminal`` (added at EOS).
    With Q(s, a) = σ(s, a) + V(s·a) for a token, Q(s, EOS) = σ(s, EOS) + R(s), the optimal value
    is V(s) = max_π [E_π Q(s, ·) + τ(s) H(π)] = τ(s) log Σ_a e^{Q(s,a)/τ(s)} (max_a Q at τ = 0), and
    the optimal policy is π*(a | s) = soft_optimum(Q(s, ·), τ(s)). Returns (log π* table, V).
    With a constant τ > 0 the string distribution of π* is exp((Σ_t σ + R)/τ) / Z: the global Gibbs
    distribution, and V(ε) = τ log Z.
    """
    s = _scores(space, scores, terminal)
    t = _tau_vector(space, tau)
    q = s.copy()
    values = np.zeros(space.size)
    table = np.full(s.shape, -np.inf)
    v = space.alphabet_size
    for n in range(space.max_len, -1, -1):
        sl = space.level(n)
        if n < space.max_len:
            q[sl, :v] = s[sl, :v] + values[space.children[sl]]
        table[sl] = soft_optimum(q[sl], t[sl])
        values[sl] = soft_optimal_value(q[sl], t[sl])
    return table, values


def myopic_policy(scores: np.ndarray, tau: float | np.ndarray) -> np.ndarray:
    """The per-step optimum, row by row: soft_optimum(σ(s, ·), τ(s)) — what the decoding algorithm
    does, ignoring the value of what follows."""
    s = np.asarray(scores, dtype=np.float64)
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), s.shape[:-1])
    return soft_optimum(s, tau)


def sequence_objective(space: StringSpace, log_policy: np.ndarray, scores: np.ndarray,
                       tau: float | np.ndarray, terminal: np.ndarray | None = None) -> np.float64:
    """J(π) of :func:`bellman`, exactly: Σ_h P_π(h) [E_{π(·|h)} Q₀(h, ·) + τ(h) H(π(·|h))] with
    Q₀ = σ (+ R at EOS), P_π(h) the probability that π visits prefix h. −inf if π takes an action
    whose score is −inf."""
    s = _scores(space, scores, terminal)
    t = _tau_vector(space, tau)
    lp = np.asarray(log_policy, dtype=np.float64)
    visit = strings.prefix_logscores(space, lp)
    on = visit > -np.inf
    rows = _expect(lp[on], s[on]) + t[on] * np.asarray(it.entropy(lp[on]))
    if np.isneginf(rows).any():
        return np.float64(-math.inf)
    return np.float64(np.exp(visit[on]) @ rows)


def prefix_log_expectation(space: StringSpace, logp: np.ndarray, log_f: np.ndarray) -> np.ndarray:
    """log E_p[f(y) | y starts with h] for every prefix h, f > 0 given as log f:
    log Σ_{y ⊒ h} p(y) f(y) − log Σ_{y ⊒ h} p(y). With f(y) = P(c | y) this is the exact prefix
    classifier log P(c | h) of FUDGE; with f = P(c|y)^λ it is the soft value of :func:`bellman`."""
    num = strings.prefix_log_marginals(space, np.asarray(logp, float) + np.asarray(log_f, float))
    den = strings.prefix_log_marginals(space, np.asarray(logp, float))
    with np.errstate(invalid="ignore"):
        return np.where(den > -np.inf, num - den, -np.inf)


def child_table(space: StringSpace, prefix_values: np.ndarray, string_values: np.ndarray) -> np.ndarray:
    """A (size, V+1) table for a prefix scorer: entry (h, a) is ``prefix_values`` at the prefix h·a for
    a token a (−inf where h·a does not exist), and ``string_values`` at the finished string h for
    a = EOS. With prefix_values = log P(c | prefix) (:func:`prefix_log_expectation`) and
    string_values = log P(c | y) this is what FUDGE rescores each next action with."""
    x = np.asarray(prefix_values, dtype=np.float64)
    out = np.full((space.size, space.alphabet_size + 1), -np.inf)
    inner = space.children[:, 0] >= 0
    out[inner, : space.alphabet_size] = x[space.children[inner]]
    out[:, space.alphabet_size] = np.asarray(string_values, dtype=np.float64)
    return out


# --------------------------------------------------------------------------- contrastive decoding

def contrastive_sequence(log_p_theta: np.ndarray, log_p_ref: np.ndarray, a: float, b: float) -> np.ndarray:
    """Sequence-level contrastive distribution q_c(y) ∝ p_θ(y)^a p_ref(y)^{−b} on supp p_ref.

    With p_θ = p_ref e^{r/β}/Z: q_c ∝ p_ref^{a−b} e^{a r/β}; for a − b = 1 this is the Gibbs tilt of
    p_ref at β/a. Strings outside supp p_ref get −inf.
    """
    lt, lr = np.asarray(log_p_theta, float), np.asarray(log_p_ref, float)
    s = lr > -np.inf
    logits = np.full(lr.shape, -np.inf)
    with np.errstate(invalid="ignore"):
        logits[s] = a * lt[s] - b * lr[s]
    logits[np.isnan(logits)] = -np.inf
    return it.normalize(logits)


def contrastive_table(space: strings.StringSpace, log_p_theta: np.ndarray, log_p_ref: np.ndarray,
                      a: float, b: float) -> np.ndarray:
    """Token-level contrastive next-symbol table: at every prefix h,

        c(· | h) = softmax(a · log p_θ(· | h) − b · log p_ref(· | h))

    over the V tokens and EOS, tokens with p_ref(v | h) = 0 excluded (their logit is −inf); the
    conditionals of p_θ and p_ref come from :func:`lmdist.exact.strings.next_token_table`.
    """
    tt = strings.next_token_table(space, log_p_theta)
    tr = strings.next_token_table(space, log_p_ref)
    ok = (tr > -np.inf) & (tt > -np.inf)
    logits = np.full(tr.shape, -np.inf)
    logits[ok] = a * tt[ok] - b * tr[ok]
    dead = np.all(logits == -np.inf, axis=1)
    logits[dead, space.alphabet_size] = 0.0
    return logits - logsumexp(logits, axis=1, keepdims=True)


def contrastive_tokenwise(space: strings.StringSpace, log_p_theta: np.ndarray, log_p_ref: np.ndarray,
                          a: float, b: float) -> np.ndarray:
    """Token-level contrastive decoding as a distribution over strings (exact):

        Q(y) = ∏_t c(y_t | y_<t) · c(EOS | y),   c from :func:`contrastive_table`.

    Locally normalized, so in general Q ≠ :func:`contrastive_sequence`.
    """
    return strings.sequence_logscores(space, contrastive_table(space, log_p_theta, log_p_ref, a, b))
