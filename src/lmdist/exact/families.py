"""The parametric families of sequence models of Lin et al. (NAACL 2021), with one constructive example each.

Lin et al.'s table (as the slides of Ji 2024 show it):

    family            compact parameters  efficient scoring  efficient sampling  support can be
    autoregressive          yes                yes                 yes          some but not all S in P
    energy-based            yes                yes*                no           all S in P
    latent-variable         yes                no                  yes          all S in NP
    look-up                 no                 yes                 yes          all S

"compact" = parameters growing as poly(n) with the string length n; "efficient" = time poly(n); the
separations hold under NP ⊄ P/poly. (*) An energy-based model scores the *unnormalised* weight
efficiently; its normalised probability needs the partition function.

The toy is satisfiability. For n variables, a random 3-CNF formula φ with a planted solution defines
the language S_φ = {a ∈ {0,1}^n : φ(a)} (membership in P: evaluate φ) and the distribution p_φ uniform
on it. Costs are counted in *literal evaluations* (one look at one literal of one clause) for formula
work, and in *steps* (one table look-up or one draw) otherwise:

* energy-based: w(a) = 1[φ(a)]; parameters the 3m literals; the weight costs 3m; the normalised
  probability needs Z = #SAT(φ) (3m·2^n); rejection sampling from the uniform proposal needs 2^n/Z
  proposals on average;
* autoregressive, compact (the formula is the only parameter): p(a_t | a_<t) = N(a_≤t)/N(a_<t), N(h) the
  number of satisfying completions of the prefix h, counted by enumeration (2^{n−t} assignments each);
* autoregressive, tabulated: the 2^n − 1 conditionals stored (exponential parameters, n look-ups);
* latent-variable: the string is a *formula* (clause tokens), the latent an assignment z ~ uniform,
  each clause drawn among those z satisfies: sampling is a draw of z then of the clauses, scoring sums
  over the 2^n assignments, and the support is exactly the satisfiable formulas (a language in NP);
* look-up: the strings of S_φ stored (parameters n·|S_φ|); scoring and sampling walk a trie (n steps);
  any set S is the support of some look-up model.

Everything here is numpy only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import checks

#: Lin et al.'s table as the slides give it: (family, compact parameters, efficient scoring,
#: efficient sampling, support).
TABLE = (
    ("autoregressive", True, True, True, "some but not all S ∈ P"),
    ("energy-based", True, True, False, "all S ∈ P"),
    ("latent-variable", True, False, True, "all S ∈ NP"),
    ("look-up", False, True, True, "all S"),
)


@dataclass(frozen=True)
class CNF:
    """A CNF formula over ``n_vars`` variables: clause j is OR_i (x[var[j, i]] == sign[j, i])."""

    n_vars: int
    var: np.ndarray    # (m, width) variable indices
    sign: np.ndarray   # (m, width) booleans: True = the positive literal

    @property
    def n_clauses(self) -> int:
        return int(self.var.shape[0])

    @property
    def n_literals(self) -> int:
        return int(self.var.size)


def assignments(n: int) -> np.ndarray:
    """All 2^n assignments as a (2^n, n) 0/1 array; row i is i in binary, most significant bit first
    (so the assignments with a given prefix form a contiguous block)."""
    n = checks.integer(n, "n", lo=0, hi=24)
    return ((np.arange(2 ** n)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1).astype(np.int8)


def random_cnf(rng: np.random.Generator, n_vars: int, n_clauses: int, width: int = 3) -> CNF:
    """A random ``width``-CNF with a planted solution s ~ uniform{0,1}^n: each clause has ``width``
    distinct variables and random signs; a clause that s falsifies gets one literal (chosen at random)
    flipped, so φ(s) holds and S_φ is never empty."""
    n = checks.integer(n_vars, "n_vars", lo=1)
    m = checks.integer(n_clauses, "n_clauses", lo=0)
    w = checks.integer(width, "width", lo=1, hi=n)
    s = rng.integers(0, 2, n).astype(bool)
    var = np.array([rng.choice(n, w, replace=False) for _ in range(m)], dtype=np.int64).reshape(m, w)
    sign = rng.integers(0, 2, (m, w)).astype(bool)
    bad = ~(s[var] == sign).any(1)
    flip = rng.integers(0, w, m)
    sign[bad, flip[bad]] = ~sign[bad, flip[bad]]
    return CNF(n, var, sign)


def satisfied(cnf: CNF, bits: np.ndarray) -> np.ndarray:
    """φ(a) for each row a of ``bits`` (shape (N, n_vars)); costs 3m literal evaluations per row."""
    b = np.asarray(bits).astype(bool)
    if b.ndim != 2 or b.shape[1] != cnf.n_vars:
        raise ValueError(f"bits must be N × {cnf.n_vars}, got shape {b.shape}")
    if cnf.n_clauses == 0:
        return np.ones(len(b), dtype=bool)
    return (b[:, cnf.var] == cnf.sign[None]).any(2).all(1)


def prefix_counts(sat: np.ndarray, t: int) -> np.ndarray:
    """N(h) for the 2^t prefixes h of length t: the number of satisfying completions of h. ``sat`` is
    :func:`satisfied` over :func:`assignments` (in that order), so the completions of h are a block."""
    s = np.asarray(sat, dtype=np.int64)
    n = int(round(math.log2(len(s))))
    if 2 ** n != len(s) or not 0 <= t <= n:
        raise ValueError(f"sat must have 2^n entries and 0 <= t <= n, got {len(s)} entries and t={t}")
    return s.reshape(2 ** t, 2 ** (n - t)).sum(1)


def autoregressive_logprobs(sat: np.ndarray) -> np.ndarray:
    """log p(a) of the autoregressive model built from completion counts,

        p(a_t | a_<t) = N(a_≤t) / N(a_<t),   log p(a) = Σ_t log N(a_≤t) − log N(a_<t),

    for every assignment (−inf off S_φ). It equals the uniform distribution on S_φ (the product
    telescopes to N(a)/N(∅) = 1[φ(a)]/#SAT); computed here factor by factor, as an AR model would."""
    s = np.asarray(sat, dtype=bool)
    n = int(round(math.log2(len(s))))
    if not s.any():
        raise ValueError("S_φ is empty: no autoregressive model has this support")
    out = np.zeros(len(s))
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(1, n + 1):
            num = np.repeat(np.log(prefix_counts(s, t)), 2 ** (n - t))
            den = np.repeat(np.log(prefix_counts(s, t - 1)), 2 ** (n - t + 1))
            out += np.where(np.isneginf(den), -np.inf, num - den)
    return out


def family_costs(cnf: CNF, n_sat: int) -> dict[str, dict[str, float]]:
    """Parameters, cost of scoring one string and (expected) cost of sampling one string, for the four
    constructive examples at n = ``cnf.n_vars`` (see the module docstring; units: literal evaluations
    for formula work, steps for look-ups and draws). ``n_sat`` = #SAT(φ) = |S_φ| (> 0)."""
    n, lits = cnf.n_vars, cnf.n_literals
    if not 1 <= n_sat <= 2 ** n:
        raise ValueError(f"n_sat must be in 1..2^n = {2 ** n}, got {n_sat}")
    counting = lits * 2 * (2 ** n - 1)           # both children's completion counts at each of n steps
    n_formula = cnf.n_clauses                     # the latent-variable example's strings: m clauses
    vocab = 2 ** 3 * math.comb(n, 3) if n >= 3 else 2 ** n
    return {
        "energy-based": {"parameters": lits, "score (unnormalised)": lits, "score": lits * 2 ** n,
                         "sample": lits * 2 ** n / n_sat},
        "autoregressive (compact)": {"parameters": lits, "score": counting, "sample": counting},
        "autoregressive (tabulated)": {"parameters": 2 ** n - 1, "score": n, "sample": n},
        "latent-variable": {"parameters": 1 + vocab, "score": 2 ** n * (n_formula + 1) * 3,
                            "sample": n + (n_formula + 1) * 3},
        "look-up": {"parameters": n * n_sat, "score": n, "sample": n},
    }


# ----------------------------------------------------------------------------- the latent-variable example

def clause_vocabulary(n_vars: int, width: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Every clause of ``width`` distinct variables and any signs: (var, sign) arrays of shape
    (C(n, width)·2^width, width), in a fixed order (variables lexicographic, then signs)."""
    n = checks.integer(n_vars, "n_vars", lo=1)
    w = checks.integer(width, "width", lo=1, hi=n)
    var, sign = [], []
    for vs in itertools.combinations(range(n), w):
        for sg in itertools.product((False, True), repeat=w):
            var.append(vs)
            sign.append(sg)
    return np.array(var, dtype=np.int64), np.array(sign, dtype=bool)


def clause_truth(var: np.ndarray, sign: np.ndarray, n_vars: int) -> np.ndarray:
    """(2^n, C) table: clause c is satisfied by assignment z."""
    z = assignments(n_vars).astype(bool)
    return (z[:, var] == sign[None]).any(2)


def latent_formula_logprobs(tokens: np.ndarray, lengths: np.ndarray, truth: np.ndarray, stop: float
                            ) -> tuple[np.ndarray, np.ndarray]:
    """The latent-variable model of formulas: z ~ uniform over the 2^n assignments; given z, each step
    ends the formula with probability ``stop`` (forced at the longest length) or emits a clause drawn
    uniformly among the clauses z satisfies. With C_z = #{clauses z satisfies} and T = ``tokens``
    (strings × max_len, −1 after the end),

        log p(y | z) = Σ_t [log(1 − stop) − log C_z + log 1[z ⊨ y_t]] + [|y| < L] log stop,
        log p(y) = logsumexp_z (−n log 2 + log p(y | z))        (2^n terms: the costly part).

    Returns (log p(y), log p(y | z) as a 2^n × strings array)."""
    st = checks.real(stop, "stop", lo=0.0, hi=1.0, open_lo=True)
    tr = np.asarray(truth, dtype=bool)
    tok = np.asarray(tokens)
    n_len = np.asarray(lengths)
    max_len = tok.shape[1]
    n_z = tr.shape[0]
    c_z = tr.sum(1)
    if np.any(c_z == 0):
        raise ValueError("every assignment must satisfy at least one clause")
    with np.errstate(divide="ignore"):
        ok = np.ones((n_z, len(tok)), dtype=bool)
        for t in range(max_len):
            live = tok[:, t] >= 0
            ok[:, live] &= tr[:, tok[live, t]]
        base = n_len[None, :] * (math.log1p(-st) - np.log(c_z)[:, None]) if st < 1 else \
            np.where(n_len[None, :] > 0, -np.inf, 0.0) * np.ones((n_z, 1))
        end = np.where(n_len < max_len, math.log(st), 0.0)
        cond = np.where(ok, base + end[None, :], -np.inf)
    return logsumexp(cond, axis=0) - np.log(n_z), cond


def formula_satisfiable(tokens: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Whether each formula (clause ids, −1 after the end) has a satisfying assignment: brute force over
    the 2^n assignments (the witness search an NP language allows)."""
    tr = np.asarray(truth, dtype=bool)
    tok = np.asarray(tokens)
    ok = np.ones((tr.shape[0], len(tok)), dtype=bool)
    for t in range(tok.shape[1]):
        live = tok[:, t] >= 0
        ok[:, live] &= tr[:, tok[live, t]]
    return np.asarray(ok.any(0))


# ----------------------------------------------------------------------------- look-up models

def lookup_logprobs(stored: np.ndarray, size: int) -> np.ndarray:
    """The look-up model of a stored multiset of string indices: p(y) = count(y)/N (its support is
    exactly the set stored, whatever that set is)."""
    s = np.asarray(stored, dtype=np.int64)
    if s.ndim != 1 or len(s) == 0 or s.min() < 0 or s.max() >= size:
        raise ValueError(f"stored must be a non-empty 1-D array of indices in [0, {size}), got {s!r}")
    with np.errstate(divide="ignore"):
        return np.log(np.bincount(s, minlength=size)) - math.log(len(s))


def lookup_mixture(log_lookup: np.ndarray, log_model: np.ndarray, lam: float) -> np.ndarray:
    """log(λ p_B + (1 − λ) p_θ) elementwise, in log space:

        logaddexp(log λ + log p_B, log(1 − λ) + log p_θ),

    with λ = 0 giving log p_θ and λ = 1 giving log p_B exactly (log 0 terms dropped, so −inf entries of
    log p_B, tokens with no neighbour, never produce NaN)."""
    lam = checks.real(lam, "lam", lo=0.0, hi=1.0)
    a, b = np.asarray(log_lookup, dtype=np.float64), np.asarray(log_model, dtype=np.float64)
    if lam == 0.0:
        return b.copy()
    if lam == 1.0:
        return a.copy()
    return np.logaddexp(math.log(lam) + a, math.log1p(-lam) + b)


def mixture_cross_entropy(log_lookup: np.ndarray, log_model: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """H(λ) = −(1/N) Σ_j log(λ p_B(w_j) + (1 − λ) p_θ(w_j)) for each λ of ``lams`` (nats per token)."""
    return np.array([-lookup_mixture(log_lookup, log_model, float(lam)).mean() for lam in np.asarray(lams)])


def mixture_slope_at_zero(log_lookup: np.ndarray, log_model: np.ndarray) -> np.float64:
    """dH/dλ at λ = 0: 1 − (1/N) Σ_j p_B(w_j)/p_θ(w_j). Negative exactly when mixing in a little of the
    look-up model lowers the cross-entropy."""
    return np.float64(1.0 - np.exp(np.asarray(log_lookup, float) - np.asarray(log_model, float)).mean())


def second_differences(values: np.ndarray) -> np.ndarray:
    """Δ²f_i = f_{i−1} − 2 f_i + f_{i+1} on a uniform grid (≥ 0 for a convex f)."""
    v = checks.finite_vector(values, "values")
    return v[:-2] - 2.0 * v[1:-1] + v[2:]


def rounding_tolerance(max_abs_term: float, n_terms: int) -> np.float64:
    """A bound on the float64 rounding error of a second difference of means of ``n_terms`` terms, each
    at most ``max_abs_term`` in absolute value: a term (a log of a logaddexp) is off by a few ε·|term|,
    a pairwise-summed mean by at most (log2 N + 4)·ε·max|term|, and a second difference adds four such
    errors (weights 1, 2, 1):

        tol = 4 (log2 N + 4) ε max|term|.
    """
    m = checks.real(max_abs_term, "max_abs_term", lo=0.0)
    n = checks.integer(n_terms, "n_terms", lo=1)
    return np.float64(4.0 * (math.log2(n) + 4.0) * np.finfo(np.float64).eps * m)
