"""The mixture decomposition of preference tuning (Huang's note, chapter 02).

A reference model is written as a mixture of an "aligned" and an "unaligned" component,

    p_ref(y) = α p_A(y) + (1 − α) p_U(y),                                   (2)

and the KL-regularised optimum is the Gibbs tilt p_θ(y) = p_ref(y) e^{r(y)/β} / Z (chapter 01,
:func:`lmdist.exact.align.gibbs`). This module holds the formulas of chapter 02: the weights of Lemma 1,
the total probability masses (TPM) of Theorem 2, Huang's hypotheses and the corrected condition, and a
broad generator of random instances (built on :mod:`lmdist.exact.instances`). Contrastive decoding of
p_θ against p_ref lives in :mod:`lmdist.exact.decoding`.

Everything works on natural-log probability vectors indexed by the strings of a finite space;
``-inf`` is probability 0. numpy/scipy only.

Notation used in the docstrings: w(y) = e^{r(y)/β}; E_A, E_U, E_ref are expectations under p_A, p_U,
p_ref; S = supp p_ref; u = the uniform distribution on S.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from lmdist.exact import align, checks, instances

__all__ = [
    "Mixture", "Instance", "safe_log", "rounding_scale", "tolerance", "log_tuned_weights",
    "lemma1_log_decomposition", "log_tilted_expectations", "log_tpm", "tpm", "log_tpm_curve", "tpm_gap", "analyse",
    "component_mass", "uniform_correlations", "uniform_covariance_signs", "huang_hypotheses_hold",
    "huang_conclusion_holds", "corrected_condition", "covariance_condition", "dominates",
    "small_beta_thresholds", "support_ratio_bounds", "log_odds_shift", "random_instance",
]

EPS = np.float64(np.finfo(float).eps)
#: How many units of :func:`rounding_scale` two float64 routes to the same probability may differ by.
ULPS = 64.0


def _lse(x: np.ndarray) -> np.float64:
    """log Σ e^{x} of a 1-d array (−inf entries allowed; a fast scipy.special.logsumexp)."""
    x = np.asarray(x, float)
    m = np.max(x, initial=-np.inf)
    if m == -np.inf or np.isnan(m):
        return np.float64(m)
    if m == np.inf:
        return np.float64("inf")
    return np.float64(m + np.log(np.sum(np.exp(x - m))))


def safe_log(x: np.ndarray | float) -> np.ndarray:
    """log x with log 0 = −inf and no warning."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(x)


@dataclass(frozen=True)
class Mixture:
    """p_ref = α p_A + (1 − α) p_U, stored as log-probability vectors over the same strings.

    ``alpha`` may be 0 or 1 (the edge cases of Theorem 2); the components must each sum to 1.
    """

    log_p_a: np.ndarray
    log_p_u: np.ndarray
    alpha: float

    def __post_init__(self) -> None:
        a, u = np.asarray(self.log_p_a, float), np.asarray(self.log_p_u, float)
        if a.shape != u.shape or a.ndim != 1:
            raise ValueError("log_p_a and log_p_u must be 1-d arrays of the same length")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha = {self.alpha}: must lie in [0, 1]")
        for name, lp in (("log_p_a", a), ("log_p_u", u)):
            if np.any(np.isnan(lp)) or np.any(lp > 1e-12) or abs(_lse(lp)) > 1e-9:
                raise ValueError(f"{name} is not a normalized log-probability vector")
        object.__setattr__(self, "log_p_a", a)
        object.__setattr__(self, "log_p_u", u)
        object.__setattr__(self, "alpha", np.float64(self.alpha))

    @property
    def log_p_ref(self) -> np.ndarray:
        """log p_ref(y) = log(α p_A(y) + (1 − α) p_U(y))."""
        return np.logaddexp(safe_log(self.alpha) + self.log_p_a, safe_log(1 - self.alpha) + self.log_p_u)

    @property
    def support(self) -> np.ndarray:
        """Boolean mask of S = supp p_ref."""
        return self.log_p_ref > -np.inf

    def log_responsibilities(self) -> tuple[np.ndarray, np.ndarray]:
        """log of ρ_A(y) = α p_A(y)/p_ref(y) and ρ_U(y) = (1 − α) p_U(y)/p_ref(y) on S (−inf off S)."""
        ref = self.log_p_ref
        with np.errstate(invalid="ignore"):
            ra = np.where(self.support, safe_log(self.alpha) + self.log_p_a - ref, -np.inf)
            ru = np.where(self.support, safe_log(1 - self.alpha) + self.log_p_u - ref, -np.inf)
        return ra, ru


@dataclass(frozen=True)
class Instance:
    """One random instance of Theorem 2: a mixture, a reward on its strings and a β."""

    mix: Mixture
    r: np.ndarray
    beta: float
    kind: dict = field(default_factory=dict)


def _scaled(r: np.ndarray, beta: float) -> np.ndarray:
    return np.asarray(r, float) / np.float64(beta)


def rounding_scale(mix: Mixture, r: np.ndarray, beta: float) -> np.float64:
    """ε · (1 + max_S |r|/β): the size of a float64 rounding error in log p_θ (relative, in p_θ).

    Rounding r/β (of size up to max|r|/β) and subtracting log Z ≈ max r/β costs about ε·max|r/β| in
    the log, so probabilities computed along two routes agree to a few multiples of this, not of ε.
    """
    s = mix.support & np.isfinite(np.asarray(r, float))
    return EPS * (1.0 + np.float64(np.max(np.abs(_scaled(r, beta)[s]), initial=0.0)))


def tolerance(mix: Mixture, r: np.ndarray, beta: float) -> np.float64:
    """ULPS · :func:`rounding_scale`: the tolerance of every float comparison in this module."""
    return ULPS * rounding_scale(mix, r, beta)


def log_tuned_weights(mix: Mixture, r: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Lemma 1's weights in log space: log α_A(y) = log α + r(y)/β − log Z, log α_U(y) = log(1−α) + r(y)/β − log Z."""
    log_z = align.log_partition(mix.log_p_ref, r, beta)
    s = _scaled(r, beta)
    return safe_log(mix.alpha) + s - log_z, safe_log(1 - mix.alpha) + s - log_z


def lemma1_log_decomposition(mix: Mixture, r: np.ndarray, beta: float) -> np.ndarray:
    """log of α_A(y) p_A(y) + α_U(y) p_U(y) — Lemma 1 says this equals log p_θ(y)."""
    la, lu = log_tuned_weights(mix, r, beta)
    with np.errstate(invalid="ignore"):
        return np.logaddexp(la + mix.log_p_a, lu + mix.log_p_u)


def log_tilted_expectations(mix: Mixture, r: np.ndarray, beta: float) -> tuple[np.float64, np.float64]:
    """(log E_A[w], log E_U[w]) with w = e^{r/β}: log Σ_y p_X(y) e^{r(y)/β}."""
    s = _scaled(r, beta)
    with np.errstate(invalid="ignore"):
        return _lse(mix.log_p_a + s), _lse(mix.log_p_u + s)


def log_tpm(mix: Mixture, r: np.ndarray, beta: float) -> tuple[np.float64, np.float64]:
    """(log TPM(A), log TPM(U)).

    TPM(A) = Σ_y α_A(y) p_A(y) = α E_A[w] / Z,   TPM(U) = (1 − α) E_U[w] / Z,
    Z = α E_A[w] + (1 − α) E_U[w] = E_ref[w]. Computed by summing Lemma 1's terms.
    """
    la, lu = log_tuned_weights(mix, r, beta)
    with np.errstate(invalid="ignore"):
        return _lse(la + mix.log_p_a), _lse(lu + mix.log_p_u)


def tpm(mix: Mixture, r: np.ndarray, beta: float) -> tuple[np.float64, np.float64]:
    """(TPM(A), TPM(U)) = (α E_A[w]/Z, (1 − α) E_U[w]/Z); they sum to 1."""
    a, u = log_tpm(mix, r, beta)
    return np.float64(np.exp(a)), np.float64(np.exp(u))


def log_tpm_curve(mix: Mixture, r: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log TPM(A), log TPM(U)) at every β of ``betas`` at once (Lemma 1's terms summed, as in :func:`log_tpm`).

    log Z(β) comes from ``align.log_partition`` applied row-wise to the rewards r/β with coefficient 1.
    """
    betas = np.asarray(betas, float).reshape(-1)
    sc = np.asarray(r, float)[None, :] / betas[:, None]
    log_z = np.asarray(align.log_partition(np.broadcast_to(mix.log_p_ref, sc.shape), sc, 1.0)).reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        la = safe_log(mix.alpha) + sc - log_z + mix.log_p_a[None, :]
        lu = safe_log(1 - mix.alpha) + sc - log_z + mix.log_p_u[None, :]
    la[np.isnan(la)] = -np.inf
    lu[np.isnan(lu)] = -np.inf
    return logsumexp(la, axis=1), logsumexp(lu, axis=1)


def tpm_gap(mix: Mixture, r: np.ndarray, beta: float) -> np.float64:
    """TPM(A) − α = α (1 − α) (E_A[w] − E_U[w]) / Z   (exact identity; the corrected theorem's proof)."""
    ea, eu = log_tilted_expectations(mix, r, beta)
    log_z = align.log_partition(mix.log_p_ref, r, beta)
    if mix.alpha in (0.0, 1.0):
        return np.float64(0.0)
    return np.float64(mix.alpha * (1 - mix.alpha) * (np.exp(ea - log_z) - np.exp(eu - log_z)))


def component_mass(mix: Mixture, log_q: np.ndarray) -> tuple[np.float64, np.float64]:
    """Aligned and unaligned mass of any q with supp q ⊆ S: (Σ_y q(y) ρ_A(y), Σ_y q(y) ρ_U(y)).

    ρ_A = α p_A / p_ref, ρ_U = (1 − α) p_U / p_ref are the reference's posterior responsibilities; for
    q = p_θ this is exactly (TPM(A), TPM(U)), for q = p_ref it is (α, 1 − α).
    """
    log_q = np.asarray(log_q, float)
    if np.any((log_q > -np.inf) & ~mix.support):
        raise ValueError("q puts mass outside supp p_ref: its component masses are undefined")
    ra, ru = mix.log_responsibilities()
    with np.errstate(invalid="ignore"):
        return np.float64(np.exp(_lse(log_q + ra))), np.float64(np.exp(_lse(log_q + ru)))


def uniform_correlations(mix: Mixture, f: np.ndarray, method: str = "pearson") -> tuple[np.float64, np.float64]:
    """(corr_u(f, p_A), corr_u(f, p_U)) over the uniform distribution u on S = supp p_ref.

    This is Huang's reading (its proof takes expectations over unif(supp p_θ) = unif(S)).
    ``method`` is "pearson" or "spearman" (rank). NaN where a variance is 0 (correlation undefined).
    """
    from scipy.stats import rankdata

    s = mix.support
    f = np.asarray(f, float)[s]
    pa, pu = np.exp(mix.log_p_a[s]), np.exp(mix.log_p_u[s])
    out = []
    for p in (pa, pu):
        if s.sum() < 2 or np.ptp(f) == 0 or np.ptp(p) == 0 or not np.all(np.isfinite(f)):
            out.append(np.float64("nan"))
        elif method == "pearson":
            out.append(np.float64(np.corrcoef(f, p)[0, 1]))
        elif method == "spearman":  # Pearson correlation of the (mid-)ranks
            out.append(np.float64(np.corrcoef(rankdata(f), rankdata(p))[0, 1]))
        else:
            raise ValueError(f"method = {method!r}: allowed values are 'pearson', 'spearman'")
    return out[0], out[1]


def huang_hypotheses_hold(mix: Mixture, r: np.ndarray, method: str = "pearson") -> bool:
    """Huang's hypotheses of Theorem 2: r finite, corr_u(r, p_A) > 0 and corr_u(r, p_U) < 0.

    Over u = unif(S), Cov_u(r, p_X) = (E_X[r] − ū)/|S| with ū the uniform mean of r on S (because
    Σ_{y∈S} p_X(y) = 1 for X ∈ {A, U} when 0 < α < 1), so with Pearson correlation the hypotheses
    say E_U[r] < ū < E_A[r]: a statement about first moments only.
    """
    r = np.asarray(r, float)
    if not np.all(np.isfinite(r[mix.support])):
        return False
    ca, cu = uniform_correlations(mix, r, method)
    return bool(ca > 0 and cu < 0)


def uniform_covariance_signs(mix: Mixture, r: np.ndarray, beta: float) -> tuple[int, int]:
    """Signs of Cov_u(w, p_A) and Cov_u(w, p_U), w = e^{r/β}, u = unif(S), computed stably.

    Cov_u(w, p_X) = (E_X[w] − mean_u(w)) / |S| (as Σ_{y∈S} p_X(y) = 1), so the sign is that of
    log E_X[w] − log mean_u(w). These are the two inequalities Huang's proof actually uses.
    """
    s = mix.support
    sc = _scaled(r, beta)[s]
    log_mean = _lse(sc) - np.float64(np.log(s.sum()))
    ea, eu = log_tilted_expectations(mix, r, beta)
    return int(np.sign(ea - log_mean)), int(np.sign(eu - log_mean))


def corrected_condition(mix: Mixture, r: np.ndarray, beta: float) -> bool:
    """E_A[e^{r/β}] ≥ E_U[e^{r/β}]: for 0 < α < 1 this holds iff TPM(A) ≥ α (iff TPM(U) ≤ 1 − α)."""
    ea, eu = log_tilted_expectations(mix, r, beta)
    return bool(ea >= eu)


def covariance_condition(mix: Mixture, r: np.ndarray, beta: float) -> bool:
    """The sufficient condition Huang's proof needs: Cov_u(w, p_A) > 0 and Cov_u(w, p_U) < 0."""
    sa, su = uniform_covariance_signs(mix, r, beta)
    return sa > 0 and su < 0


def huang_conclusion_holds(mix: Mixture, r: np.ndarray, beta: float, tol: float | None = None) -> bool:
    """Theorem 2's conclusion: 1 > TPM(A) ≥ α and 0 < TPM(U) ≤ 1 − α (the ≥, ≤ up to ``tol``).

    Strictness is tested in log space: 1 > TPM(A) ⇔ TPM(U) > 0 ⇔ log TPM(U) > −inf, and
    0 < TPM(U) likewise, so rounding 1 − 1e-20 to 1.0 is not mistaken for a violation.
    ``tol`` defaults to :func:`tolerance`.
    """
    tol = tolerance(mix, r, beta) if tol is None else tol
    la, lu = log_tpm(mix, r, beta)
    a, u = np.exp(la), np.exp(lu)
    return bool(lu > -np.inf and a >= mix.alpha - tol and u <= 1 - mix.alpha + tol)


def dominates(mix: Mixture, r: np.ndarray) -> bool:
    """First-order stochastic dominance of r under p_A over r under p_U: P_A(r > t) ≥ P_U(r > t) ∀t.

    Sufficient for TPM(A) ≥ α at every β (e^{r/β} is increasing in r); not necessary.
    """
    r = np.asarray(r, float)
    ts = np.unique(r)
    pa, pu = np.exp(mix.log_p_a), np.exp(mix.log_p_u)
    sa = np.array([pa[r > t].sum() for t in ts])
    su = np.array([pu[r > t].sum() for t in ts])
    return bool(np.all(sa >= su))  # no slack: a tail mass of 1e-30 under p_U decides small β


def small_beta_thresholds(mix: Mixture, r: np.ndarray) -> tuple[int, float]:
    """Which component wins as β → 0, and a β below which it provably has.

    M_X = max of r on supp p_X, m_X = p_X({y : r(y) = M_X}). Returns (sign, β₀):
    sign = +1 if M_A > M_U, then E_A[w] ≥ m_A e^{M_A/β} ≥ e^{M_U/β} ≥ E_U[w] (so TPM(A) ≥ α) for all
    β ≤ β₀ = (M_A − M_U)/log(1/m_A); sign = −1 symmetrically (TPM(A) ≤ α for β ≤ (M_U − M_A)/log(1/m_U));
    sign = 0 when M_A = M_U (no threshold, β₀ = 0). β₀ = inf when m = 1.
    """
    r = np.asarray(r, float)
    ma, mu = mix.log_p_a > -np.inf, mix.log_p_u > -np.inf
    top_a, top_u = r[ma].max(), r[mu].max()
    if top_a == top_u:
        return 0, 0.0
    sign, win, gap = (1, mix.log_p_a, top_a - top_u) if top_a > top_u else (-1, mix.log_p_u, top_u - top_a)
    top = max(top_a, top_u)
    log_m = _lse(win[r == top])
    return sign, (np.inf if log_m >= 0 else np.float64(gap / -log_m))


def support_ratio_bounds(mix: Mixture, r: np.ndarray, beta: float) -> tuple[np.float64, np.float64]:
    """(min, max) over S of log p_θ(y)/p_ref(y) by formula: (min_S r)/β − log Z and (max_S r)/β − log Z."""
    s = mix.support
    log_z = align.log_partition(mix.log_p_ref, r, beta)
    sc = _scaled(r, beta)[s]
    return np.float64(sc.min() - log_z), np.float64(sc.max() - log_z)


def log_odds_shift(mix: Mixture, r: np.ndarray, beta: float) -> np.float64:
    """logit TPM(U) − logit(1 − α) = log E_U[w] − log E_A[w]; the same for every α ∈ (0, 1).

    Odds form of Theorem 2: TPM(U)/TPM(A) = ((1 − α)/α) · E_U[w]/E_A[w].
    """
    ea, eu = log_tilted_expectations(mix, r, beta)
    return eu - ea


def analyse(mix: Mixture, r: np.ndarray, beta: float) -> dict:
    """Everything chapter 02 checks on one instance, with one Gibbs tilt and one partition function.

    Keys: ``log_p_theta``; ``lemma1_error`` (max |p_θ − (α_A p_A + α_U p_U)|); ``tpm_a``, ``tpm_u``,
    ``log_tpm_a``, ``log_tpm_u``; ``log_ea``, ``log_eu`` (log E_A[w], log E_U[w]); ``tol``
    (:func:`tolerance`), ``rounding`` (:func:`rounding_scale`); ``hypotheses``, ``hypotheses_spearman``
    (:func:`huang_hypotheses_hold`); ``conclusion`` (:func:`huang_conclusion_holds`); ``corrected``
    (:func:`corrected_condition`); ``sign_wa``, ``sign_wu`` (:func:`uniform_covariance_signs`);
    ``covariance`` (:func:`covariance_condition`); ``ratio_error`` (error of the extreme ratios
    p_θ/p_ref against :func:`support_ratio_bounds`, relative to 1 + max_S|r|/β); ``same_support``;
    ``dominates`` (:func:`dominates`).
    """
    r = np.asarray(r, float)
    ref, s = mix.log_p_ref, mix.support
    log_z = np.float64(align.log_partition(ref, r, beta))
    lp = align.gibbs(ref, r, beta)
    sc = _scaled(r, beta)
    with np.errstate(invalid="ignore"):
        wa = safe_log(mix.alpha) + sc - log_z + mix.log_p_a
        wu = safe_log(1 - mix.alpha) + sc - log_z + mix.log_p_u
        wa[np.isnan(wa)] = -np.inf
        wu[np.isnan(wu)] = -np.inf
        lemma = np.logaddexp(wa, wu)
    la, lu = _lse(wa), _lse(wu)
    with np.errstate(invalid="ignore"):
        ea, eu = _lse(mix.log_p_a + sc), _lse(mix.log_p_u + sc)
    rounding = rounding_scale(mix, r, beta)
    tol = ULPS * rounding
    ta, tu = np.float64(np.exp(la)), np.float64(np.exp(lu))
    finite = s & np.isfinite(r)
    log_mean = _lse(sc[s]) - np.float64(np.log(s.sum()))
    sign_wa, sign_wu = int(np.sign(ea - log_mean)), int(np.sign(eu - log_mean))
    ratio = lp[s] - ref[s]
    fin = np.isfinite(ratio)
    ratio_error = (max(abs(ratio[fin].min() - (sc[finite].min() - log_z)),
                       abs(ratio[fin].max() - (sc[finite].max() - log_z)))
                   / (1 + np.float64(np.max(np.abs(sc[finite]), initial=0.0)))) if fin.any() else 0.0
    return dict(
        log_p_theta=lp, lemma1_error=np.float64(np.max(np.abs(np.exp(lp) - np.exp(lemma)))),
        tpm_a=ta, tpm_u=tu, log_tpm_a=la, log_tpm_u=lu, log_ea=ea, log_eu=eu, tol=tol, rounding=rounding,
        hypotheses=huang_hypotheses_hold(mix, r), hypotheses_spearman=huang_hypotheses_hold(mix, r, "spearman"),
        conclusion=bool(lu > -np.inf and ta >= mix.alpha - tol and tu <= 1 - mix.alpha + tol),
        corrected=bool(ea >= eu), sign_wa=sign_wa, sign_wu=sign_wu, covariance=bool(sign_wa > 0 and sign_wu < 0),
        ratio_error=np.float64(ratio_error), same_support=bool(np.array_equal(lp > -np.inf, finite)),
        dominates=dominates(mix, r),
    )


# --------------------------------------------------------------------------------------------
# Random instances


SUPPORT_KINDS = ("full", "disjoint", "overlapping", "a-in-u", "u-in-a", "random")
REWARD_KINDS = ("normal", "uniform", "heavy-tailed", "integer", "log-ratio", "spike")


def random_instance(rng: np.random.Generator, n: int | None = None, n_max: int = 40,
                    zero_strings: bool = True) -> Instance:
    """A random (p_A, p_U, α, r, β), drawn broadly over what Theorem 2's hypotheses allow.

    * n strings (2 ≤ n ≤ n_max unless given), plus, with probability 1/3 if ``zero_strings``, a few
      strings outside supp p_ref (p_A = p_U = 0) that carry rewards too;
    * supports: full, disjoint, overlapping, nested either way, or "random" (each string a hole of
      each component independently with probability :data:`lmdist.exact.instances.HOLE_PROB`);
      Dirichlet weights (:func:`lmdist.exact.instances.random_logdist`) with concentration
      10^U(−1.5, 1) (from very peaked to nearly uniform);
    * α: half the time U(0, 1), half the time expit(N(0, 3²)) (close to 0 or 1);
    * r: normal, uniform, heavy-tailed (Student t₁), integer-valued (ties), a noisy multiple of
      log p_A/p_U (often satisfying Huang's hypotheses), or a few random spikes; scale
      10^U(−2, 2), random shift and sign;
    * β = 10^U(−3, 3).
    The generator is not conditioned on the hypotheses: callers classify instances afterwards.
    """
    n = int(rng.integers(2, n_max + 1)) if n is None else checks.integer(n, "n", lo=2)
    support_kind = str(rng.choice(SUPPORT_KINDS))
    idx = rng.permutation(n)
    if support_kind == "full":
        ma = mu = np.ones(n, bool)
    elif support_kind == "disjoint":
        k = int(rng.integers(1, n))
        ma, mu = np.isin(np.arange(n), idx[:k]), np.isin(np.arange(n), idx[k:])
    elif support_kind == "overlapping":
        k1 = int(rng.integers(0, n))
        k2 = int(rng.integers(k1 + 1, n + 1))
        ma, mu = np.isin(np.arange(n), idx[:k2]), np.isin(np.arange(n), idx[k1:])
    elif support_kind in ("a-in-u", "u-in-a"):
        k = int(rng.integers(1, n + 1))
        inner, outer = np.isin(np.arange(n), idx[:k]), np.ones(n, bool)
        ma, mu = (inner, outer) if support_kind == "a-in-u" else (outer, inner)
    holes = instances.HOLE_PROB if support_kind == "random" else 0.0  # the other kinds place holes by design
    if support_kind == "random":
        ma = mu = np.ones(n, bool)
    log_pa = instances.random_logdist(rng, n, concentration=10 ** rng.uniform(-1.5, 1), hole_prob=holes, support=ma)
    log_pu = instances.random_logdist(rng, n, concentration=10 ** rng.uniform(-1.5, 1), hole_prob=holes, support=mu)
    alpha = np.float64(rng.uniform(0, 1) if rng.random() < 0.5 else 1 / (1 + np.exp(-rng.normal(0, 3))))
    alpha = np.float64(min(max(alpha, 1e-6), 1 - 1e-6))  # Theorem 2 is about 0 < α < 1; the edges are shown apart
    n_zero = int(rng.integers(1, 4)) if zero_strings and rng.random() < 1 / 3 else 0
    if n_zero:
        log_pa = np.concatenate([log_pa, np.full(n_zero, -np.inf)])
        log_pu = np.concatenate([log_pu, np.full(n_zero, -np.inf)])
    m = n + n_zero
    reward_kind = str(rng.choice(REWARD_KINDS))
    if reward_kind == "normal":
        r = rng.normal(size=m)
    elif reward_kind == "uniform":
        r = rng.uniform(-1, 1, size=m)
    elif reward_kind == "heavy-tailed":
        r = rng.standard_t(1, size=m)
    elif reward_kind == "integer":
        r = rng.integers(-2, 3, size=m).astype(float)
    elif reward_kind == "log-ratio":
        with np.errstate(invalid="ignore"):
            lr = np.clip(np.nan_to_num(log_pa - log_pu, nan=0.0, posinf=30.0, neginf=-30.0), -30, 30)
        r = np.tanh(lr / 5) + rng.normal(0, rng.uniform(0, 1), size=m)
    else:
        r = np.zeros(m)
        k = int(rng.integers(1, max(2, m // 4) + 1))
        r[rng.choice(m, size=k, replace=False)] = rng.normal(0, 3, size=k)
    scale = 10 ** rng.uniform(-2, 2)
    r = scale * (r + rng.normal(0, 0.5)) * (1 if rng.random() < 0.8 else -1)
    beta = np.float64(10 ** rng.uniform(-3, 3))
    kind = {"support": support_kind, "reward": reward_kind, "n": n, "zero_strings": n_zero,
            "reward_scale": np.float64(scale)}
    return Instance(Mixture(log_pa, log_pu, alpha), r, beta, kind)
