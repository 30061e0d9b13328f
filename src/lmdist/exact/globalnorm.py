"""Local vs global normalisation of sampling adaptors, exactly on a finite string space (numpy only).

A sampling adaptor γ̃ (:mod:`lmdist.exact.adaptors`) acts on each *normalised* next-token distribution
p_t = p(· | y_<t). Sampling token by token draws from the **locally normalised** adapted model

    q̃(y) = prod_t γ̃(p_t)(y_t) / Z_t,      Z_t = sum_v γ̃(p_t)(v),

while the **globally normalised** adapted model is

    π(y) = π̃(y) / sum_y' π̃(y'),          π̃(y) = prod_t γ̃(p_t)(y_t)   (EOS step included).

So π̃ = q̃ · W with W(y) = prod_t Z_t(y_<t): π = q̃ exactly iff W is constant on supp q̃. For a
temperature, log Z_t = (1 - 1/T) H_{1/T}(p_t) (a Rényi entropy); for a truncation, Z_t is the kept
mass. On an aligned policy q ∝ p exp(r/β), temperature T and a truncation that keeps the string set
K give π ∝ p^{1/T} 1_K exp(r/(βT)): the adaptor is pushed to the prior, with β scaled by T.

IMHA with proposal q̃ and target π accepts with min(1, w(y')/w(y)), w = π/q̃ ∝ W. Its kernel on a
finite space is computable exactly after sorting by w (:func:`imha_step`). The seed's scheme
(Tan et al. 2024) drew proposals *with replacement from a fixed pool* of strings sampled from q̃,
and used the unadapted policy as target; IMHA with proposal law ν and weight w targets ∝ ν · w,
so that chain targets ν̂ · q/q̃ (ν̂ the pool's empirical law), which tends to q restricted to
supp q̃ as the pool grows (:func:`pool_target`, :func:`pool_limit`): the temperature is undone.

Everything is in log space where it can be; the exact kernel works with probabilities (float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import adaptors as ad
from lmdist.exact import infotheory as it
from lmdist.exact import strings as st
from lmdist.exact.imha import Chain, imha_chain

# --------------------------------------------------------------------------- the seed's settings

#: The seed's seven adaptor families (name, transformers parameters other than the temperature).
#: ``top_k`` is always explicit (0 = none): transformers' old default of 50 is never implied.
SEED_FAMILIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ancestral", {"top_k": 0}),
    ("top-k 50", {"top_k": 50}),
    ("top-k 30", {"top_k": 30}),
    ("top-p 0.90", {"top_k": 0, "top_p": 0.90}),
    ("top-p 0.95", {"top_k": 0, "top_p": 0.95}),
    ("typical-p 0.90", {"top_k": 0, "typical_p": 0.90}),
    ("eta 0.0009", {"top_k": 0, "eta_cutoff": 0.0009}),
)
#: The seed's five temperatures.
SEED_TEMPERATURES: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
#: transformers' generation default that the seed's runs left active when no top_k was passed.
TRANSFORMERS_DEFAULT_TOP_K = 50


@dataclass(frozen=True)
class Setting:
    """One adaptor setting: a family at a temperature, with its full transformers spec."""

    name: str
    family: str
    temperature: float
    spec: dict[str, Any]

    def adaptor(self) -> ad.Adaptor:
        """The numpy adaptor, composed in transformers' order (temperature first)."""
        return ad.from_spec(self.spec)


def seed_settings() -> tuple[Setting, ...]:
    """The seed's 7 families × 5 temperatures = 35 settings, family-major, e.g.
    ``Setting("top-p 0.90, T=0.5", "top-p 0.90", 0.5, {"temperature": 0.5, "top_k": 0, "top_p": 0.9})``."""
    return tuple(Setting(f"{fam}, T={t:g}", fam, t, {"temperature": t, **extra})
                 for fam, extra in SEED_FAMILIES for t in SEED_TEMPERATURES)


def with_default_top_k(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec the seed's code actually ran: transformers' ``top_k = 50`` added when ``top_k`` is 0
    for a family that is not ancestral (its top-p, typical and η runs passed no ``top_k``)."""
    out = dict(spec)
    truncates = any(k in out for k in ("top_p", "typical_p", "eta_cutoff", "epsilon_cutoff", "min_p"))
    if truncates and out.get("top_k", 0) == 0:
        out["top_k"] = TRANSFORMERS_DEFAULT_TOP_K
    return out


# --------------------------------------------------------------------------- local and global models

@dataclass(frozen=True)
class Adapted:
    """An adaptor applied to every next-token row of a :class:`lmdist.exact.strings.ToyLM`, per string y:

    * ``log_weight`` = log π̃(y) = sum_t log γ̃(p_t)(y_t)  (-inf outside the kept set);
    * ``log_local``  = log q̃(y) = sum_t log q̃_t(y_t)     (normalised: what token-by-token sampling draws);
    * ``log_global`` = log π(y) = log π̃(y) - log sum π̃   (normalised);
    * ``log_w`` = log π̃ - log q̃ = sum_t log Z_t(y_<t) on the support (-inf off it).
    """

    log_weight: np.ndarray
    log_local: np.ndarray
    log_global: np.ndarray
    log_w: np.ndarray


def adapted_tables(lm: st.ToyLM, adaptor: ad.Adaptor) -> tuple[np.ndarray, np.ndarray]:
    """(log γ̃(p_t), log q̃_t) for the *inner* prefix rows of ``lm.next_logprobs`` (strings shorter
    than ``max_len``), shape ``(offsets[max_len], V + 1)``. Rows at length ``max_len`` are EOS with
    probability one, which every adaptor maps to γ̃ = 1 (checked in :func:`adapt`)."""
    if not isinstance(lm, st.ToyLM):
        raise TypeError(f"lm must be a strings.ToyLM, got {type(lm).__name__}")
    a = ad.from_spec(adaptor)
    inner = lm.next_logprobs[: int(lm.space.offsets[lm.space.max_len])]
    if inner.shape[0] == 0:
        return inner.copy(), inner.copy()
    return a(inner), a.normalise(inner)


def _string_scores(space: st.StringSpace, inner_table: np.ndarray, eos_full: float) -> np.ndarray:
    """sum_t table[y_<t, y_t] + table[y, EOS] with the rows of full-length strings all equal to the
    EOS-only row (whose EOS entry is ``eos_full``): level by level, like strings.sequence_logscores."""
    out = np.zeros(space.size)
    for n in range(1, space.max_len + 1):
        sl = space.level(n)
        out[sl] = out[space.parent[sl]] + inner_table[space.parent[sl], space.last_token[sl]]
    n_inner = inner_table.shape[0]
    out[:n_inner] += inner_table[:, space.eos]
    out[n_inner:] += eos_full
    return out


def adapt(lm: st.ToyLM, adaptor: ad.Adaptor) -> Adapted:
    """The locally and globally normalised adapted models of ``lm`` on its whole string space:

        log π̃(y) = sum_t log γ̃(p_t)(y_t),  log q̃(y) = sum_t log q̃_t(y_t),  π = π̃ / sum π̃.
    """
    a = ad.from_spec(adaptor)
    s = lm.space
    logw_tab, logq_tab = adapted_tables(lm, a)
    end_row = np.full(s.alphabet_size + 1, -np.inf)
    end_row[s.eos] = 0.0
    end_w, end_q = a(end_row), a.normalise(end_row)
    if not (end_w[s.eos] == 0.0 and end_q[s.eos] == 0.0):
        raise AssertionError("the adaptor does not map a certain EOS to weight one")
    lw = _string_scores(s, logw_tab, 0.0)
    lq = _string_scores(s, logq_tab, 0.0)
    on = lw > -np.inf
    if not np.array_equal(on, lq > -np.inf):
        raise AssertionError("supp π̃ and supp q̃ differ: an adaptor kept a token of weight zero")
    logw_ratio = np.where(on, lw - np.where(on, lq, 0.0), -np.inf)
    return Adapted(log_weight=lw, log_local=lq, log_global=it.normalize(lw), log_w=logw_ratio)


def brute_force_log_weight(lm: st.ToyLM, adaptor: ad.Adaptor, index: int) -> float:
    """log π̃(y) for one string, straight from the definition: walk its prefixes, adapt each
    normalised row p(· | y_<t) on its own, and add log γ̃(p_t)(y_t) for t = 1..n and EOS."""
    s, a = lm.space, ad.from_spec(adaptor)
    n = int(s.lengths[index])
    total = 0.0
    for t in range(n + 1):
        row = lm.next_logprobs[s.prefixes[index, t]]
        total += float(a(row)[s.next_symbol[index, t]])
    return total


def pushed_to_prior(logp_prior: np.ndarray, reward: np.ndarray, beta: float, temperature: float,
                    kept: np.ndarray | None = None) -> np.ndarray:
    """The globally normalised adapted aligned model written on the prior:

        log π(y) = log normalise( (1/T) log p(y) + r(y) / (β T) )  on K,   -inf off K,

    for q ∝ p e^{r/β} adapted by temperature T (then truncation to the string set K, ``kept``)."""
    lp = np.asarray(logp_prior, dtype=np.float64)
    r = np.asarray(reward, dtype=np.float64)
    if lp.shape != r.shape or lp.ndim != 1:
        raise ValueError("logp_prior and reward must be 1-D arrays of the same length")
    if not (beta > 0 and temperature > 0 and math.isfinite(beta) and math.isfinite(temperature)):
        raise ValueError(f"beta and temperature must be finite and > 0, got {beta!r}, {temperature!r}")
    score = lp / temperature + r / (beta * temperature)
    if kept is not None:
        score = np.where(np.asarray(kept, dtype=bool), score, -np.inf)
    return it.normalize(score)


def plane_point(log_dist: np.ndarray, logp_prior: np.ndarray, reward: np.ndarray) -> tuple[float, float]:
    """(E log p, E r) under a distribution given by its normalised log-probabilities: where a corpus
    from it lands in the (average prior log-probability, average reward) plane as N → ∞."""
    w = np.exp(np.asarray(log_dist, dtype=np.float64))
    on = w > 0
    lp, r = np.asarray(logp_prior, float), np.asarray(reward, float)
    if np.any(on & ~np.isfinite(lp)):
        raise ValueError("log p_prior is -inf on the distribution's support")
    return float(w[on] @ lp[on]), float(w[on] @ r[on])


# --------------------------------------------------------------------------- IMHA, exactly

def _weights(log_target: np.ndarray, log_proposal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(π, q, w = π/q on supp q, 0 elsewhere) from normalised log π, log q with supp π ⊆ supp q."""
    lt, lq = np.asarray(log_target, float), np.asarray(log_proposal, float)
    if lt.shape != lq.shape or lt.ndim != 1:
        raise ValueError("log_target and log_proposal must be 1-D arrays of the same length")
    for name, x in (("log_target", lt), ("log_proposal", lq)):
        if abs(math.exp(logsumexp(x)) - 1.0) > it.MASS_TOL:
            raise ValueError(f"{name} is not normalised")
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


def imha_kernel(log_target: np.ndarray, log_proposal: np.ndarray) -> IMHAKernel:
    """Precompute the IMHA kernel P(y, y') = q(y') min(1, w(y')/w(y)) (y' ≠ y), w = π/q, with

        ρ(y) = 1 - sum_{y'} q(y') min(1, w(y')/w(y))
             = 1 - [ sum_{w(y') >= w(y)} q(y') + (1/w(y)) sum_{w(y') < w(y)} π(y') ]

    the probability that the chain stays at y for another reason than proposing y itself (the
    self-proposal counts as an accepted move, as in :func:`lmdist.exact.imha.imha_chain`)."""
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


def imha_step(kernel: IMHAKernel, mu: np.ndarray) -> np.ndarray:
    """One exact IMHA step of a distribution μ (probabilities over the space):

        (μP)(y') = μ(y') ρ(y') + q(y') [ sum_{w(y) <= w(y')} μ(y) + w(y') sum_{w(y) > w(y')} μ(y)/w(y) ],

    O(|Y|) after the sort of :func:`imha_kernel`. States with w(y) = 0 (outside supp π) move with
    probability one to any proposal (0 · ∞ = 1 by the chain's rule), which the formula covers by
    min(1, w'/0) = 1."""
    mu = np.asarray(mu, dtype=np.float64)
    k = kernel
    mu_sorted = mu[k.order]
    head = np.concatenate([[0.0], np.cumsum(mu_sorted)])                 # sum over sorted positions < j
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(k.w_sorted > 0, mu_sorted / k.w_sorted, 0.0)
    tail = np.concatenate([np.cumsum(inv[::-1])[::-1], [0.0]])           # sum over sorted positions >= j
    moved = head[k.right] + k.w * tail[k.right]
    return mu * k.stay + k.q * moved


def imha_marginals(log_target: np.ndarray, log_proposal: np.ndarray, n_steps: int) -> list[np.ndarray]:
    """μ_0 = q, μ_n = μ_{n-1} P for n = 1..n_steps: the exact law of the state of an IMHA chain that
    starts at its first proposal, after n accept/reject steps."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    k = imha_kernel(log_target, log_proposal)
    out = [k.q.copy()]
    for _ in range(int(n_steps)):
        out.append(imha_step(k, out[-1]))
    return out


def acceptance_probability(kernel: IMHAKernel, mu: np.ndarray) -> float:
    """P(the next step accepts) from a state drawn from μ: sum_y μ(y) (1 - ρ(y))."""
    return float(np.asarray(mu, float) @ (1.0 - kernel.stay))


def stationary_acceptance(log_target: np.ndarray, log_proposal: np.ndarray) -> float:
    """IMHA's acceptance rate at stationarity, E_{y ~ π, y' ~ q} min(1, w(y')/w(y)): 1 iff π = q."""
    k = imha_kernel(log_target, log_proposal)
    return acceptance_probability(k, k.pi)


def tvd_prob(a: np.ndarray, b: np.ndarray) -> float:
    """(1/2) sum |a - b| for two probability vectors."""
    return float(0.5 * np.abs(np.asarray(a, float) - np.asarray(b, float)).sum())


def mengersen_tweedie_bound(w_star: float, n: int) -> float:
    """(1 - 1/w*)^n, w* = max_y π(y)/q(y) >= 1: a bound on ||μ_n - π||_TV for every start of IMHA
    (Mengersen & Tweedie 1996), computed as exp(n log1p(-1/w*)); 0 for n >= 1 when w* = 1 (π = q)."""
    w = float(w_star)
    if not (w >= 1.0 - 1e-12) or math.isnan(w):
        raise ValueError(f"w_star = max π/q must be >= 1, got {w_star!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if n == 0:
        return 1.0
    if w <= 1.0:
        return 0.0
    return float(math.exp(n * math.log1p(-1.0 / w)))


# --------------------------------------------------------------------------- sampling chains on a toy

def fresh_chain(log_target: np.ndarray, log_proposal: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, Chain]:
    """Our scheme: n fresh i.i.d. proposals from q (indices into the space) and the IMHA chain of
    target π̃ ∝ exp(log_target) on them. Returns (proposal indices, chain); the chain's states
    index the proposals."""
    lq = np.asarray(log_proposal, float)
    q = np.exp(lq - logsumexp(lq))
    draws = rng.choice(lq.size, size=int(n), p=q / q.sum())
    return draws, imha_chain(np.asarray(log_target, float)[draws], lq[draws], rng)


def pool_chain(pool_log_target: np.ndarray, pool_log_proposal: np.ndarray, n: int,
               rng: np.random.Generator) -> tuple[np.ndarray, Chain]:
    """The seed's scheme: n proposals drawn uniformly *with replacement* from a fixed pool of
    already sampled strings, accepted with min(1, w(y')/w(y)), w = target/proposal density of each
    pool string. Returns (pool positions of the proposals, chain)."""
    lt, lq = np.asarray(pool_log_target, float), np.asarray(pool_log_proposal, float)
    if lt.shape != lq.shape or lt.ndim != 1 or lt.size == 0:
        raise ValueError("pool_log_target and pool_log_proposal must be 1-D arrays of the same length")
    picks = rng.integers(0, lt.size, size=int(n))
    return picks, imha_chain(lt[picks], lq[picks], rng)


def pool_target(pool: np.ndarray, log_target: np.ndarray, log_proposal: np.ndarray, size: int) -> np.ndarray:
    """The stationary law of the seed's pool scheme, as log-probabilities over the space:

        ν̂(y) = #{pool entries equal to y} / M,    law(y) ∝ ν̂(y) · exp(log_target(y) - log_proposal(y)),

    since IMHA with proposal law ν and acceptance min(1, w'/w) satisfies detailed balance for ν·w."""
    idx = np.asarray(pool, dtype=np.int64)
    counts = np.bincount(idx, minlength=int(size)).astype(float)
    lt, lq = np.asarray(log_target, float), np.asarray(log_proposal, float)
    on = counts > 0
    score = np.full(int(size), -np.inf)
    score[on] = np.log(counts[on]) + lt[on] - lq[on]
    return it.normalize(score)


def pool_limit(log_target: np.ndarray, log_proposal: np.ndarray) -> np.ndarray:
    """The pool scheme's target as the pool grows (ν̂ → q̃): target restricted to supp q̃,

        law(y) ∝ target(y) 1[q̃(y) > 0]."""
    lt, lq = np.asarray(log_target, float), np.asarray(log_proposal, float)
    return it.normalize(np.where(lq > -np.inf, lt, -np.inf))


def hoeffding_halfwidth(n: int, value_range: float, delta: float) -> float:
    """t with P(|mean of n i.i.d. values in an interval of length R - E| >= t) <= δ:
    t = R sqrt(log(2/δ) / (2n))."""
    if n < 1 or not (0 < delta < 1) or value_range < 0:
        raise ValueError("need n >= 1, 0 < delta < 1 and value_range >= 0")
    return float(value_range * math.sqrt(math.log(2.0 / delta) / (2.0 * n)))


def independent_chains(log_target: np.ndarray, log_proposal: np.ndarray, n_chains: int, n_steps: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_chains`` independent IMHA chains of ``n_steps`` accept/reject steps, each on its own
    ``n_steps + 1`` fresh proposals from q (:func:`lmdist.exact.imha.imha_chain`). Returns (final state of
    each chain, whether its last step accepted): i.i.d. draws from μ_n = q P^n and Bernoulli
    variables of mean :func:`acceptance_probability` (μ_{n-1}), which the exact kernel predicts."""
    if n_chains < 1 or n_steps < 1:
        raise ValueError(f"n_chains and n_steps must be >= 1, got {n_chains!r}, {n_steps!r}")
    lt, lq = np.asarray(log_target, float), np.asarray(log_proposal, float)
    q = np.exp(lq - logsumexp(lq))
    draws = rng.choice(lq.size, size=(int(n_chains), int(n_steps) + 1), p=q / q.sum())
    finals = np.empty(int(n_chains), dtype=np.int64)
    last = np.empty(int(n_chains), dtype=bool)
    for c in range(int(n_chains)):
        ch = imha_chain(lt[draws[c]], lq[draws[c]], rng)
        finals[c], last[c] = draws[c, ch.states[-1]], ch.accepted[-1]
    return finals, last
