"""Latent-variable models of strings with a discrete latent z: exact marginal likelihood, the ELBO,
posterior collapse and discrete latent plans.

A model is a prior p(z) over K latent values and a decoder p(y | z) for each z, given as arrays
``log_prior`` (K,) and ``log_lik`` (K, S) over the S strings of a finite space. Then

    log p(y) = logsumexp_z [log p(z) + log p(y | z)],                     (exact marginal: K terms)
    ELBO(q; y) = E_{q(z|y)}[log p(y | z)] − KL(q(·|y) ‖ p(z)) = log p(y) − KL(q(·|y) ‖ p(·|y)),

so ELBO ≤ log p(y), with equality iff q(·|y) is the posterior: the negative log-likelihood is *at most*
the reconstruction term plus the KL term, −log p(y) ≤ E_q[−log p(y|z)] + KL(q ‖ p(z)).
An encoder is an array ``log_q`` (K, S) of log q(z | y), one column per string.

Everything here is numpy only.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import checks, infotheory, projections, strings


def _model(log_prior: np.ndarray, log_lik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lp = checks.logprobs(log_prior, "log_prior")
    ll = np.asarray(log_lik, dtype=np.float64)
    if ll.ndim != 2 or ll.shape[0] != len(lp):
        raise ValueError(f"log_lik must be K × S with K = {len(lp)}, got shape {ll.shape}")
    if np.isnan(ll).any() or np.isposinf(ll).any():
        raise ValueError("log_lik holds NaN or +inf")
    return lp, ll


def _joint(log_prior: np.ndarray, log_lik: np.ndarray) -> np.ndarray:
    lp, ll = _model(log_prior, log_lik)
    return lp[:, None] + ll


def marginal(log_prior: np.ndarray, log_lik: np.ndarray) -> np.ndarray:
    """log p(y) = logsumexp_z [log p(z) + log p(y | z)] for every string (S,)."""
    return logsumexp(_joint(log_prior, log_lik), axis=0)


def posterior(log_prior: np.ndarray, log_lik: np.ndarray) -> np.ndarray:
    """log p(z | y) = log p(z) + log p(y | z) − log p(y), (K, S); a string of probability 0 gets the prior."""
    joint = _joint(log_prior, log_lik)
    lpy = logsumexp(joint, axis=0)
    out = np.where(np.isneginf(lpy)[None, :], np.asarray(log_prior, float)[:, None], joint - lpy[None, :])
    return out


def elbo(log_q: np.ndarray, log_prior: np.ndarray, log_lik: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ELBO's two terms and their difference for every string:

        recon(y) = Σ_z q(z|y) log p(y | z),   rate(y) = KL(q(·|y) ‖ p(z)),   ELBO(y) = recon − rate,

    terms with q(z|y) = 0 dropped (0 log 0 = 0). −inf where q puts mass on a z with p(y|z) = 0 or p(z) = 0."""
    lp, ll = _model(log_prior, log_lik)
    lq = np.asarray(log_q, dtype=np.float64)
    if lq.shape != ll.shape:
        raise ValueError(f"log_q must have the shape of log_lik {ll.shape}, got {lq.shape}")
    mass = np.exp(logsumexp(lq, axis=0))
    if not np.allclose(mass, 1.0, rtol=0, atol=checks.MASS_TOL):
        raise ValueError("each column of log_q must be a distribution over z")
    q = np.exp(lq)
    on = q > 0
    with np.errstate(invalid="ignore"):
        recon = np.where(on, q * ll, 0.0).sum(0)
        rate = infotheory.kl(lq.T, np.broadcast_to(lp, lq.T.shape))
    return recon, np.asarray(rate, dtype=np.float64), recon - rate


def importance_estimate(log_q: np.ndarray, log_prior: np.ndarray, log_lik: np.ndarray) -> np.ndarray:
    """log E_{q(z|y)}[p(y|z) p(z) / q(z|y)] = log Σ_{z: q(z|y) > 0} p(y, z): equal to log p(y) iff q
    covers the posterior's support; with holes it misses the mass of the z that q never proposes."""
    joint = _joint(log_prior, log_lik)
    lq = np.asarray(log_q, dtype=np.float64)
    return logsumexp(np.where(lq > -np.inf, joint, -np.inf), axis=0)


def rounding_tolerance(log_prior: np.ndarray, log_lik: np.ndarray) -> np.ndarray:
    """Per string, a bound on the float64 rounding error of ELBO or log p(y): each of the K terms of the
    sums is off by a few ε·|term|, the sum by K of them:  tol(y) = 16 K ε (1 + max_z |log p(y, z)|),
    over the finite entries."""
    joint = _joint(log_prior, log_lik)
    scale = np.where(np.isfinite(joint), np.abs(joint), 0.0).max(0)
    return 16.0 * joint.shape[0] * np.finfo(np.float64).eps * (1.0 + scale)


# ----------------------------------------------------------------------------- encoders and decoders

def noisy_encoder(codes: np.ndarray, log_prior: np.ndarray, eps: float) -> np.ndarray:
    """q_ε(z | y) = (1 − ε) 1[z = e(y)] + ε p(z): a deterministic code e(y) blurred towards the prior.
    ε = 1 is the collapsed encoder q(z|y) = p(z) (rate 0); ε = 0 the deterministic one."""
    lp = checks.logprobs(log_prior, "log_prior")
    e = checks.real(eps, "eps", lo=0.0, hi=1.0)
    c = np.asarray(codes, dtype=np.int64)
    if c.ndim != 1 or c.min() < 0 or c.max() >= len(lp):
        raise ValueError(f"codes must be a 1-D array of latent values in [0, {len(lp)})")
    q = e * np.exp(lp)[:, None] * np.ones((1, len(c)))
    q[c, np.arange(len(c))] += 1.0 - e
    with np.errstate(divide="ignore"):
        return np.log(q)


def aggregate(log_pd: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """The aggregate posterior log q̄(z) = log Σ_y p_d(y) q(z | y)."""
    return logsumexp(np.asarray(log_q, float) + np.asarray(log_pd, float)[None, :], axis=1)


def best_decoder(log_pd: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """The decoder that maximises E_{p_d} E_q[log p(y|z)] over *all* decoders (the strongest family):
    the encoder's own conditional q(y | z) = p_d(y) q(z|y) / q̄(z), (K, S); a z that q never uses gets p_d."""
    lpd = checks.logprobs(log_pd, "log_pd")
    lq = np.asarray(log_q, float)
    agg = aggregate(lpd, lq)
    used = ~np.isneginf(agg)
    dec = lpd[None, :] + lq - np.where(used, agg, 0.0)[:, None]
    return np.where(used[:, None], dec, lpd[None, :])


def memoryless_decoder(space: strings.StringSpace, log_pd: np.ndarray, log_q: np.ndarray,
                       codes: np.ndarray | None = None) -> np.ndarray:
    """A weak decoder: for each z the memoryless model (one next-symbol distribution u_z at every prefix,
    :func:`lmdist.exact.projections.memoryless`) fitted by maximum likelihood to the weights
    p_d(y) q(z|y) (:func:`lmdist.exact.projections.memoryless_mle`); (K, S) log p(y | z). With ``codes``
    (a plan e(y) per string) the decoder follows its plan: p(y | z) ∝ u_z(y) 1[e(y) = z]."""
    lpd = checks.logprobs(log_pd, "log_pd")
    lq = np.asarray(log_q, float)
    counts = projections.symbol_counts(space)
    out = np.empty(lq.shape)
    for z in range(lq.shape[0]):
        w = lpd + lq[z]
        log_u = (projections.memoryless_mle(space, infotheory.normalize(w)) if np.any(w > -np.inf)
                 else np.full(space.alphabet_size + 1, -np.log(space.alphabet_size + 1)))
        with np.errstate(invalid="ignore"):
            out[z] = np.where(counts > 0, counts * log_u[None, :], 0.0).sum(1)
        if codes is not None:
            out[z] = np.where(np.asarray(codes) == z, out[z], -np.inf)
            if np.any(out[z] > -np.inf):
                out[z] = infotheory.normalize(out[z])
    return out


def population_elbo(log_pd: np.ndarray, log_q: np.ndarray, log_prior: np.ndarray,
                    log_lik: np.ndarray) -> tuple[np.float64, np.float64]:
    """(E_{p_d}[ELBO(q; y)], E_{p_d}[KL(q(·|y) ‖ p(z))]): the training objective at the population level
    and its rate."""
    lpd = checks.logprobs(log_pd, "log_pd")
    _, rate, value = elbo(log_q, log_prior, log_lik)
    w = np.exp(lpd)
    on = w > 0
    return np.float64(np.sum(w[on] * value[on])), np.float64(np.sum(w[on] * rate[on]))


# ----------------------------------------------------------------------------- discrete latent plans

def plan_codes(space: strings.StringSpace, n_codes: int, code_size: int) -> np.ndarray:
    """A discrete latent plan of L = ``n_codes`` codes over K = ``code_size`` symbols for every string:
    z_l = s_l mod K, where s_l is the l-th symbol of y (EOS, id V, at and after the end), and the plan
    is read as one number z = Σ_l z_l K^{L−1−l} in [0, K^L). It is a deterministic encoder (Ji et al.
    2021 take the argmax of the posterior), so H(z) ≤ L log K bounds what the plan can carry."""
    n = checks.integer(n_codes, "n_codes", lo=1, hi=space.max_len + 1)
    k = checks.integer(code_size, "code_size", lo=1, hi=space.alphabet_size + 1)
    sym = space.next_symbol[:, :n].copy()
    sym[sym < 0] = space.eos
    digits = sym % k
    return (digits * (k ** np.arange(n - 1, -1, -1))[None, :]).sum(1).astype(np.int64)


def code_distribution(codes: np.ndarray, log_pd: np.ndarray, n_values: int) -> np.ndarray:
    """The maximum-likelihood prior over plans: log p(z) = log Σ_{y: e(y) = z} p_d(y), (n_values,)."""
    lpd = checks.logprobs(log_pd, "log_pd")
    mass = np.bincount(np.asarray(codes, dtype=np.int64), weights=np.exp(lpd), minlength=n_values)
    with np.errstate(divide="ignore"):
        return np.log(mass / mass.sum())
