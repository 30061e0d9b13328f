"""Local vs global normalization of sampling adaptors, exactly on a finite string space (numpy only).

A sampling adaptor γ̃ (:mod:`lmdist.exact.adaptors`) acts on each *normalized* next-token distribution
p_t = p(· | y_<t). Sampling token by token draws from the **locally normalized** adapted model

    q̃(y) = prod_t γ̃(p_t)(y_t) / Z_t,      Z_t = sum_v γ̃(p_t)(v),

while the **globally normalized** adapted model is

    π(y) = π̃(y) / sum_y' π̃(y'),          π̃(y) = prod_t γ̃(p_t)(y_t)   (EOS step included).

So π̃ = q̃ · W with W(y) = prod_t Z_t(y_<t): π = q̃ exactly iff W is constant on supp q̃. For a
temperature, log Z_t = (1 - 1/T) H_{1/T}(p_t) (a Rényi entropy); for a truncation, Z_t is the kept
mass. On an aligned policy q ∝ p exp(r/β), temperature T and a truncation that keeps the string set
K give π ∝ p^{1/T} 1_K exp(r/(βT)): the adaptor is pushed to the prior, with β scaled by T.

Sampling π from q̃ (IMHA with weight w = π̃/q̃ = W) is :mod:`lmdist.exact.imha`; the 35 settings and
the pool scheme of Tan et al. (2024) are :mod:`lmdist.exact.tan2024`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from lmdist.exact import adaptors as ad
from lmdist.exact import checks
from lmdist.exact import infotheory as it
from lmdist.exact import strings as st

# --------------------------------------------------------------------------- local and global models

@dataclass(frozen=True)
class Adapted:
    """An adaptor applied to every next-token row of a :class:`lmdist.exact.strings.ToyLM`, per string y:

    * ``log_weight`` = log π̃(y) = sum_t log γ̃(p_t)(y_t)  (-inf outside the kept set);
    * ``log_local``  = log q̃(y) = sum_t log q̃_t(y_t)     (normalized: what token-by-token sampling draws);
    * ``log_global`` = log π(y) = log π̃(y) - log sum π̃   (normalized);
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
    return a(inner), a.normalize(inner)


def adapt(lm: st.ToyLM, adaptor: ad.Adaptor) -> Adapted:
    """The locally and globally normalized adapted models of ``lm`` on its whole string space:

        log π̃(y) = sum_t log γ̃(p_t)(y_t),  log q̃(y) = sum_t log q̃_t(y_t),  π = π̃ / sum π̃.
    """
    a = ad.from_spec(adaptor)
    s = lm.space
    logw_tab, logq_tab = adapted_tables(lm, a)
    end_row = np.full(s.alphabet_size + 1, -np.inf)
    end_row[s.eos] = 0.0
    end_w, end_q = a(end_row), a.normalize(end_row)
    if not (end_w[s.eos] == 0.0 and end_q[s.eos] == 0.0):
        raise AssertionError("the adaptor does not map a certain EOS to weight one")
    # Strings of length max_len end with certainty: their rows are the EOS-only row, adapted.
    n_full = s.size - logw_tab.shape[0]
    lw = st.sequence_logscores(s, np.vstack([logw_tab, np.broadcast_to(end_w, (n_full, end_w.size))]))
    lq = st.sequence_logscores(s, np.vstack([logq_tab, np.broadcast_to(end_q, (n_full, end_q.size))]))
    on = lw > -np.inf
    if not np.array_equal(on, lq > -np.inf):
        raise AssertionError("supp π̃ and supp q̃ differ: an adaptor kept a token of weight zero")
    logw_ratio = np.where(on, lw - np.where(on, lq, 0.0), -np.inf)
    return Adapted(log_weight=lw, log_local=lq, log_global=it.normalize(lw), log_w=logw_ratio)


def brute_force_log_weight(lm: st.ToyLM, adaptor: ad.Adaptor, index: int) -> np.float64:
    """log π̃(y) for one string, straight from the definition: walk its prefixes, adapt each
    normalized row p(· | y_<t) on its own, and add log γ̃(p_t)(y_t) for t = 1..n and EOS."""
    s, a = lm.space, ad.from_spec(adaptor)
    index = checks.integer(index, "index", lo=0, hi=s.size - 1)
    total = np.float64(0.0)
    for t in range(int(s.lengths[index]) + 1):
        row = lm.next_logprobs[s.prefixes[index, t]]
        total += a(row)[s.next_symbol[index, t]]
    return total


def pushed_to_prior(logp_prior: ArrayLike, reward: ArrayLike, beta: float, temperature: float,
                    kept: ArrayLike | None = None) -> np.ndarray:
    """The globally normalized adapted aligned model written on the prior:

        log π(y) = log normalize( (1/T) log p(y) + r(y) / (β T) )  on K,   -inf off K,

    for q ∝ p e^{r/β} adapted by temperature T (then truncation to the string set K, ``kept``)."""
    lp = checks.array(logp_prior, "logp_prior", ndim=1)
    r = checks.array(reward, "reward", ndim=1)
    if lp.shape != r.shape:
        raise ValueError(f"logp_prior and reward differ in shape: {lp.shape} vs {r.shape}")
    beta = checks.real(beta, "beta", lo=0.0, open_lo=True)
    temperature = checks.real(temperature, "temperature", lo=0.0, open_lo=True)
    score = lp / temperature + r / (beta * temperature)
    if kept is not None:
        score = np.where(np.asarray(kept, dtype=bool), score, -np.inf)
    return it.normalize(score)


def plane_point(log_dist: ArrayLike, logp_prior: ArrayLike, reward: ArrayLike) -> tuple[np.float64, np.float64]:
    """(E log p, E r) under a distribution given by its normalized log-probabilities: where a corpus
    from it lands in the (average prior log-probability, average reward) plane as N → ∞."""
    w = np.exp(checks.logprobs(log_dist, "log_dist"))
    on = w > 0
    lp, r = checks.array(logp_prior, "logp_prior", ndim=1), checks.array(reward, "reward", ndim=1)
    if np.any(on & ~np.isfinite(lp)):
        raise ValueError("logp_prior is -inf on the distribution's support")
    return np.float64(w[on] @ lp[on]), np.float64(w[on] @ r[on])
