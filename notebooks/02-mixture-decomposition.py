# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Preference tuning shrinks, but does not truncate: the mixture decomposition
#
# Seed 001 {cite}`huang2024shift` writes the reference model's output distribution for a prompt as a
# mixture of an "aligned" and an "unaligned" component,
#
# $$
# p_{\mathrm{ref}}(y) = \alpha\, p_A(y) + (1 - \alpha)\, p_U(y), \qquad 0 \le \alpha \le 1,
# $$
#
# and asks what the KL-regularised optimum of chapter 01,
# $p_\theta(y) = p_{\mathrm{ref}}(y)\, e^{r(y)/\beta} / Z$ with $Z = \sum_y p_{\mathrm{ref}}(y)\, e^{r(y)/\beta}$,
# does to each component. Its two results are an exact rewriting (Lemma 1) and an inequality on the
# *total probability mass* of each component after tuning (Theorem 2). This chapter
#
# * checks Lemma 1 exactly on many random instances;
# * shows that Theorem 2, as stated, is **false**: its hypotheses (reward positively correlated with
#   $p_A$ and negatively with $p_U$) do not imply its conclusion, because the proof's key step — a
#   monotone transform preserves the sign of a correlation — does not hold for Pearson correlations;
# * states and proves the condition that is really needed,
#   $\mathbb{E}_{p_A}[e^{r/\beta}] \ge \mathbb{E}_{p_U}[e^{r/\beta}]$, necessary and sufficient, and
#   checks it with zero violations;
# * checks "shrinks, not truncates" (the support of $p_\theta$ is that of $p_{\mathrm{ref}}$ when $r$ is
#   finite), the edge cases, and how much unaligned mass is left for prompts whose unaligned component
#   dominates;
# * works out the note's contrastive logits at the sequence level (an exact Gibbs tilt at a smaller
#   $\beta$) and token by token (what decoding does, which is not the same distribution).
#
# Throughout, $w(y) = e^{r(y)/\beta}$, $\mathbb{E}_A$ and $\mathbb{E}_U$ are expectations under $p_A$ and
# $p_U$, $S = \mathrm{supp}\, p_{\mathrm{ref}}$, and $u$ is the uniform distribution on $S$. We drop the
# prompt $x$: every statement is for one fixed prompt.

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"
n_instances = None     # random instances of Theorem 2
n_max = None           # the largest number of strings in a random instance
n_betas = None         # points of every β grid
alphabet_size = None   # the string space of the toy mixture (contrastive decoding)
max_len = None
alpha_toy = None       # the toy mixture's aligned weight
beta_toy = None        # the toy's KL coefficient
reward_scale = None    # the toy's reward scale
concentration = None   # Dirichlet concentration of the toy components' next-token rows
gammas = None          # contrastive strengths γ: logits (1+γ)·logits_θ − γ·logits_ref
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"n_instances": 300, "n_max": 20, "n_betas": 9, "alphabet_size": 2, "max_len": 4,
              "alpha_toy": 0.3, "beta_toy": 1.0, "reward_scale": 2.0, "concentration": 1.0,
              "gammas": [0.0, 0.5, 1.0, 3.0]},
    "default": {"n_instances": 3000, "n_max": 40, "n_betas": 17, "alphabet_size": 3, "max_len": 5,
                "alpha_toy": 0.3, "beta_toy": 1.0, "reward_scale": 2.0, "concentration": 1.0,
                "gammas": [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]},
    "paper": {"n_instances": 100000, "n_max": 80, "n_betas": 61, "alphabet_size": 4, "max_len": 6,
              "alpha_toy": 0.3, "beta_toy": 1.0, "reward_scale": 2.0, "concentration": 1.0,
              "gammas": [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]},
}
RULES = {
    "n_instances": {"type": "int", "min": 10, "doc": "random (p_A, p_U, alpha, r, beta) instances checking Lemma 1 and Theorem 2"},
    "n_max": {"type": "int", "min": 2, "max": 1000, "doc": "the largest number of strings in a random instance"},
    "n_betas": {"type": "int", "min": 3, "max": 1001, "doc": "points of every beta grid"},
    "alphabet_size": {"type": "int", "min": 2, "max": 8, "doc": "alphabet of the toy string space"},
    "max_len": {"type": "int", "min": 1, "max": 8, "doc": "longest string of the toy string space"},
    "alpha_toy": {"type": "float", "min": 0.01, "max": 0.99, "doc": "aligned weight alpha of the toy mixture"},
    "beta_toy": {"type": "float", "min": 0.001, "max": 1000.0, "doc": "KL coefficient beta of the toy"},
    "reward_scale": {"type": "float", "min": 0.001, "max": 100.0, "doc": "scale of the toy reward"},
    "concentration": {"type": "float", "min": 0.01, "max": 100.0, "doc": "Dirichlet concentration of the toy components' next-token rows"},
    "gammas": {"type": "list[float]", "min": 0.0, "max": 100.0, "doc": "contrastive strengths gamma (a = 1 + gamma, b = gamma)"},
}

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from scipy.optimize import brentq

from lmdist.book import chapter, plots
from lmdist.exact import align, decoding, mixture, strings
from lmdist.exact import infotheory as it

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC = "seed 001 §1.2–1.3"

# %% [markdown]
# ## Lemma 1: the tuned model is a reweighted mixture
#
# ```{prf:lemma} Mixture decomposition (seed 001, Lemma 1)
# :label: lem-mixture
#
# Let $p_\theta = p_{\mathrm{ref}}\, e^{r/\beta} / Z$ be the maximiser of
# $\mathbb{E}_q[r] - \beta\, \mathrm{KL}(q \Vert p_{\mathrm{ref}})$ and
# $p_{\mathrm{ref}} = \alpha p_A + (1-\alpha) p_U$. With no assumption on $p_A$, $p_U$,
#
# $$
# p_\theta(y) = \alpha_A(y)\, p_A(y) + \alpha_U(y)\, p_U(y), \qquad
# \alpha_A(y) = \frac{\alpha\, e^{r(y)/\beta}}{Z}, \quad \alpha_U(y) = \frac{(1-\alpha)\, e^{r(y)/\beta}}{Z}.
# $$
# ```
#
# ```{prf:proof}
# The Gibbs form of $p_\theta$ is proved in chapter 01 (Gibbs' inequality). Substitute the mixture:
# $p_\theta(y) = \big(\alpha p_A(y) + (1-\alpha) p_U(y)\big) e^{r(y)/\beta} / Z$ and distribute.
# The seed writes $Z$ as a sum over $\mathrm{supp}\, p_\theta$; it is the same as the sum over all $y$,
# since the terms off the support are 0.
# ```
#
# The lemma is algebra, so the check is of the code: on every random instance (drawn by
# `mixture.random_instance`, described in the next section) we compute $p_\theta$ with
# `align.gibbs` and the right-hand side from the weights, and compare. Two float64 routes to the same
# probability can differ by a few multiples of $\varepsilon\,(1 + \max_S |r|/\beta)$ (rounding $r/\beta$
# and subtracting $\log Z$), not of $\varepsilon$; the tolerance is `mixture.ULPS` of those units.

# %%
instances = [mixture.random_instance(rng, n_max=n_max) for _ in range(n_instances)]

rows = []
for k, inst in enumerate(instances):
    mix, r, beta = inst.mix, inst.r, inst.beta
    a = mixture.analyse(mix, r, beta)
    s = mix.support
    pa, pu = np.exp(mix.log_p_a), np.exp(mix.log_p_u)
    ubar = r[s].mean()
    cov_a = np.mean(r[s] * pa[s]) - ubar * np.mean(pa[s])
    rows.append(dict(
        k=k, alpha=mix.alpha, beta=beta, n=inst.kind["n"], support=inst.kind["support"], reward=inst.kind["reward"],
        beta_rel=beta / max(np.std(r[s]), 1e-300), lemma_err_units=a["lemma1_error"] / a["rounding"],
        tpm_a=a["tpm_a"], tpm_u=a["tpm_u"], sum_err_units=abs(a["tpm_a"] + a["tpm_u"] - 1) / a["rounding"],
        tol=a["tol"],
        log_ea=a["log_ea"], log_eu=a["log_eu"], log_tpm_u=a["log_tpm_u"],
        hyp=a["hypotheses"], hyp_spearman=a["hypotheses_spearman"], concl=a["conclusion"],
        corrected=a["corrected"], covariance=a["covariance"], sign_wa=a["sign_wa"], sign_wu=a["sign_wu"],
        mean_a=float(pa @ r), mean_u=float(pu @ r), ubar=ubar,
        cov_identity_err=abs(cov_a - (pa @ r - ubar) / s.sum()) / (1 + np.abs(r[s]).max()),
        same_support=a["same_support"], ratio_err=a["ratio_error"], dominates=a["dominates"],
    ))
df = pd.DataFrame(rows)

# %%
rec.check("lemma1-max-error-units",
          "Lemma 1: max |p_θ − (α_A p_A + α_U p_U)| over all strings and instances, in units of ε(1 + max|r|/β)",
          df.lemma_err_units.max(), at_most=mixture.ULPS, source="seed 001 Lemma 1")
rec.check("tpm-sum-max-error-units", "TPM(A) + TPM(U) = 1: max |TPM(A) + TPM(U) − 1| over the instances, in units "
          "of ε(1 + max|r|/β)", df.sum_err_units.max(), at_most=mixture.ULPS, source="seed 001 Theorem 2")

# %% [markdown]
# On all {glue:text}`param-n_instances` instances Lemma 1 holds to {glue:text}`lemma1-max-error-units:.3g`
# rounding units, and $\mathrm{TPM}(A) + \mathrm{TPM}(U) = 1$ (largest deviation
# {glue:text}`tpm-sum-max-error-units:.2g` rounding units).
#
# ## Theorem 2 as stated, and why its proof fails
#
# Summing the two terms of {prf:ref}`lem-mixture` over $y$ gives the total probability masses
#
# $$
# \mathrm{TPM}(A) = \sum_y \alpha_A(y) p_A(y) = \frac{\alpha\, \mathbb{E}_A[w]}{Z}, \qquad
# \mathrm{TPM}(U) = \frac{(1-\alpha)\, \mathbb{E}_U[w]}{Z}, \qquad
# Z = \alpha\, \mathbb{E}_A[w] + (1-\alpha)\, \mathbb{E}_U[w].
# $$
#
# ```{prf:theorem} Seed 001, Theorem 2 (as stated — false)
# :label: thm-tpm-seed
#
# If $r$ is finite, $r$ and $p_A$ are positively correlated, and $r$ and $p_U$ are negatively
# correlated, then $1 > \mathrm{TPM}(A) \ge \alpha$ and $0 < \mathrm{TPM}(U) \le 1 - \alpha$.
# ```
#
# The proof (seed §1.3) takes the correlations over $u$, the uniform distribution on
# $\mathrm{supp}\, p_\theta = S$. Because $\sum_{y \in S} p_A(y) = 1$, the uniform mean of $p_A$ is $1/|S|$
# and
#
# $$
# \mathrm{Cov}_u(f, p_A) = \frac{1}{|S|}\big(\mathbb{E}_A[f] - \bar f\big), \qquad \bar f = \frac{1}{|S|}\sum_{y\in S} f(y),
# $$
#
# for any $f$ (likewise for $p_U$). So the hypotheses say exactly $\mathbb{E}_U[r] < \bar r < \mathbb{E}_A[r]$:
# **they constrain only the mean reward** under each component. The proof then says that since
# $\alpha_A(y) \propto e^{r(y)/\beta}$ is increasing in $r$, "the correlation properties are preserved", and
# uses
#
# $$
# \text{(i)}\ \ \mathbb{E}_u[\alpha_A p_A] > \mathbb{E}_u[\alpha_A]\,\mathbb{E}_u[p_A], \qquad
# \text{(ii)}\ \ \mathbb{E}_u[\alpha_U p_U] < \mathbb{E}_u[\alpha_U]\,\mathbb{E}_u[p_U],
# $$
#
# that is $\mathrm{Cov}_u(w, p_A) > 0$ and $\mathrm{Cov}_u(w, p_U) < 0$, i.e.
# $\mathbb{E}_U[w] < \bar w < \mathbb{E}_A[w]$. This is where it breaks: the sign of a **Pearson**
# correlation is *not* preserved by increasing transforms. $\mathbb{E}_A[r] > \mathbb{E}_U[r]$ does not give
# $\mathbb{E}_A[e^{r/\beta}] > \mathbb{E}_U[e^{r/\beta}]$: an exponential moment is dominated by the largest
# rewards, so a little unaligned mass on a string with a very high reward outweighs everything else
# when $\beta$ is small. (The rest of the proof — dividing (i) by (ii), adding 1 and multiplying by $|S|$ —
# is correct: (i) and (ii) do imply the conclusion.) Read as Spearman (rank) correlations the
# hypotheses *are* preserved by the transform, but then (i) and (ii), which are statements about
# covariances, no longer follow from them either.
#
# ### A counterexample
#
# Four strings; $p_A$ on the first two, $p_U$ mostly on a bad string $y_3$ with a little mass on $y_4$,
# the string with the highest reward of all.

# %%
cx_pa = np.array([0.6, 0.4, 0.0, 0.0])
cx_pu = np.array([0.0, 0.0, 0.95, 0.05])
cx_r = np.array([2.0, 1.0, 0.0, 3.0])
cx_alpha = 0.5
cx = mixture.Mixture(mixture.safe_log(cx_pa), mixture.safe_log(cx_pu), cx_alpha)
cx_beta = 0.1
pearson = mixture.uniform_correlations(cx, cx_r)
spearman = mixture.uniform_correlations(cx, cx_r, "spearman")
cx_tpm_a, cx_tpm_u = mixture.tpm(cx, cx_r, cx_beta)
cx_p_theta = np.exp(align.gibbs(cx.log_p_ref, cx_r, cx_beta))
cx_w = np.exp(cx_r / cx_beta)
cx_table = pd.DataFrame({
    "p_A": cx_pa, "p_U": cx_pu, "p_ref": np.exp(cx.log_p_ref), "r": cx_r,
    f"w = e^(r/{cx_beta:g})": cx_w, "p_θ": cx_p_theta,
}, index=["y1", "y2", "y3", "y4"])
display(cx_table.style.format("{:.4g}"))

# %%
rec.check("cx-pearson-a", "counterexample: Pearson corr_u(r, p_A), positive as seed hypothesis 1 requires",
          pearson[0], above=0, source=SRC)
rec.check("cx-pearson-u", "counterexample: Pearson corr_u(r, p_U), negative as seed hypothesis 2 requires",
          pearson[1], below=0, source=SRC)
rec.check("cx-spearman-a", "counterexample: Spearman corr_u(r, p_A), positive (hypothesis 1, rank reading)",
          spearman[0], above=0, source=SRC)
rec.check("cx-spearman-u", "counterexample: Spearman corr_u(r, p_U), negative (hypothesis 2, rank reading)",
          spearman[1], below=0, source=SRC)
rec.check("cx-tpm-a", f"counterexample at β = {cx_beta:g}: TPM(A), below α, so Theorem 2's conclusion fails",
          cx_tpm_a, below=cx_alpha, source="seed 001 Theorem 2")
rec.check("cx-tpm-u", f"counterexample at β = {cx_beta:g}: TPM(U), above 1 − α", cx_tpm_u, above=1 - cx_alpha,
          source="seed 001 Theorem 2")
rec.figure("cx-alpha", "counterexample: the aligned weight α", cx_alpha)
rec.figure("cx-beta", "counterexample: the KL coefficient β", cx_beta)
ubar_w = cx_w.mean()
n_strings = cx.support.sum()
rec.check("cx-cov-w-a", f"counterexample at β = {cx_beta:g}: Cov_u(w, p_A) = (E_A w − mean_u w)/|S|, negative, "
          "so inequality (i) of the seed's proof is false", (cx_pa @ cx_w - ubar_w) / n_strings, below=0,
          source="seed 001 §1.3")
rec.check("cx-cov-w-u", f"counterexample at β = {cx_beta:g}: Cov_u(w, p_U), negative: inequality (ii) holds",
          (cx_pu @ cx_w - ubar_w) / n_strings, below=0, source="seed 001 §1.3")


# %%
def gap(b):
    """log E_A[e^{r/b}] − log E_U[e^{r/b}] on the counterexample; the conclusion holds from its root β* on."""
    return np.subtract(*mixture.log_tilted_expectations(cx, cx_r, b))


cx_beta_star = brentq(gap, 0.05, 10.0, xtol=1e-14)
tpm_star = mixture.tpm(cx, cx_r, cx_beta_star)[0]
rec.figure("cx-beta-star", "counterexample: the β* solving E_A[e^{r/β}] = E_U[e^{r/β}] (TPM(A) ≥ α iff β ≥ β*)",
           cx_beta_star, source="seed 001 Theorem 2")
rec.check("cx-tpm-at-star", "counterexample at β*: |TPM(A) − α| (equality, not the strict > the seed's proof derives)",
          abs(tpm_star - cx_alpha), at_most=1e3 * mixture.tolerance(cx, cx_r, cx_beta_star), source="seed 001 §1.3")
cx_betas = np.geomspace(0.02, 100, 4 * n_betas)
cx_curve = np.exp(mixture.log_tpm_curve(cx, cx_r, cx_betas)[0])
below_star = cx_betas < cx_beta_star
away = np.abs(np.log(cx_betas / cx_beta_star)) > 1e-6  # at β* itself TPM(A) = α up to rounding: either side
rec.figure("cx-curve-n-below", "counterexample: points of the β grid from 0.02 to 100 that lie below β*",
           int(below_star.sum()))
rec.check("cx-curve-disagreements", "counterexample: points of the β grid from 0.02 to 100 (away from β*) where "
          "TPM(A) < α disagrees with β < β*", int(((cx_curve < cx_alpha) != below_star)[away].sum()), equals=0)

# %% [markdown]
# Over $u$ (uniform on the four strings) the reward is positively correlated with $p_A$
# (Pearson {glue:text}`cx-pearson-a:.3f`, Spearman {glue:text}`cx-spearman-a:.3f`) and negatively with
# $p_U$ (Pearson {glue:text}`cx-pearson-u:.3f`, Spearman {glue:text}`cx-spearman-u:.3f`): the hypotheses
# hold in either reading. Yet at $\beta$ = {glue:text}`cx-beta:g` the tuned model has
# $\mathrm{TPM}(A)$ = {glue:text}`cx-tpm-a:.3g` $< \alpha$ = {glue:text}`cx-alpha:g`, and
# $\mathrm{TPM}(U)$ = {glue:text}`cx-tpm-u:.4f`: tuning moved mass *towards* the unaligned component,
# because its rare string $y_4$ has the top reward and $e^{r/\beta}$ amplifies it most. In the proof,
# inequality (i) is false: $\mathrm{Cov}_u(w, p_A)$ = {glue:text}`cx-cov-w-a:.3g` $< 0$, while (ii)
# holds ({glue:text}`cx-cov-w-u:.3g`). The conclusion holds again from $\beta^*$ =
# {glue:text}`cx-beta-star:.4f`, where $\mathbb{E}_A[w] = \mathbb{E}_U[w]$ and $\mathrm{TPM}(A) = \alpha$ with
# equality (to {glue:text}`cx-tpm-at-star:.2g`) — so the strict inequality "$\mathrm{TPM}(A) > \alpha$"
# that the proof derives fails there too, under the hypotheses. (On a $\beta$ grid from 0.02 to 100 the
# conclusion fails exactly at the {glue:text}`cx-curve-n-below` grid points below $\beta^*$.)

# %%
fig, ax = plt.subplots()
sns.lineplot(x=cx_betas, y=cx_curve, ax=ax, color=plots.ROLE["aligned_component"], label="TPM(A) after tuning")
ax.axhline(cx_alpha, color=plots.ROLE["reference"], ls="--", label="α (before tuning)")
ax.axvline(cx_beta_star, color=plots.ROLE["other"], ls=":", label="β*")
ax.set(xscale="log", xlabel="β", ylabel="aligned mass", title="The counterexample: TPM(A) against β")
ax.legend()
plt.show()

# %% [markdown]
# **Figure 02.1.** For the four-string counterexample, the tuned model's aligned mass $\mathrm{TPM}(A)$ (solid)
# falls below the reference's $\alpha$ (dashed) for every $\beta < \beta^*$ (dotted), although the seed's
# hypotheses hold: strong tuning moves mass to the unaligned component's rare top-reward string. As
# $\beta \to \infty$ it tends to $\alpha$ from above (since $\mathbb{E}_A r > \mathbb{E}_U r$), as $\beta \to 0$ to 0.
#
# ### The corrected theorem
#
# ```{prf:theorem} Total probability mass under preference tuning (corrected)
# :label: thm-tpm-corrected
#
# Let $0 < \alpha < 1$, $\beta > 0$, and $r$ finite on $S$. Then
#
# $$
# \mathrm{TPM}(A) - \alpha = \frac{\alpha (1-\alpha)}{Z}\Big(\mathbb{E}_A[e^{r/\beta}] - \mathbb{E}_U[e^{r/\beta}]\Big),
# \qquad 0 < \mathrm{TPM}(A) < 1 .
# $$
#
# Hence $\mathrm{TPM}(A) \ge \alpha$ (equivalently $\mathrm{TPM}(U) \le 1-\alpha$) **if and only if**
# $\mathbb{E}_A[e^{r/\beta}] \ge \mathbb{E}_U[e^{r/\beta}]$, with equality iff the two expectations are equal.
# In particular:
#
# 1. $\mathrm{Cov}_u(e^{r/\beta}, p_A) > 0$ and $\mathrm{Cov}_u(e^{r/\beta}, p_U) < 0$ (the inequalities the
#    seed's proof uses) suffice, and give the strict inequality;
# 2. if the law of $r$ under $p_A$ first-order stochastically dominates its law under $p_U$, then
#    $\mathrm{TPM}(A) \ge \alpha$ for **every** $\beta$;
# 3. as $\beta \to \infty$, $\beta\,(\mathrm{TPM}(A) - \alpha) \to \alpha(1-\alpha)\big(\mathbb{E}_A[r] - \mathbb{E}_U[r]\big)$:
#    the seed's hypotheses (which give $\mathbb{E}_A r > \bar r > \mathbb{E}_U r$) imply the conclusion for all
#    $\beta$ large enough, but not for all $\beta$;
# 4. as $\beta \to 0$, the sign is decided by which component holds the best string: with
#    $M_X = \max_{\mathrm{supp}\, p_X} r$ and $m_X = p_X(\{r = M_X\})$, if $M_A > M_U$ then
#    $\mathrm{TPM}(A) \ge \alpha$ for all $\beta \le (M_A - M_U)/\log(1/m_A)$, and if $M_U > M_A$ then
#    $\mathrm{TPM}(A) \le \alpha$ for all $\beta \le (M_U - M_A)/\log(1/m_U)$.
# ```
#
# ```{prf:proof}
# With $w = e^{r/\beta}$, $\mathrm{TPM}(A) - \alpha = \big(\alpha\,\mathbb{E}_A w - \alpha Z\big)/Z$ and
# $\alpha\,\mathbb{E}_A w - \alpha Z = \alpha\,\mathbb{E}_A w - \alpha^2\,\mathbb{E}_A w - \alpha(1-\alpha)\,\mathbb{E}_U w
# = \alpha(1-\alpha)(\mathbb{E}_A w - \mathbb{E}_U w)$. As $r$ is finite, $w > 0$ on $S$, so $\mathbb{E}_A w > 0$,
# $\mathbb{E}_U w > 0$, $Z > 0$, and both masses lie strictly between 0 and 1; with $\alpha(1-\alpha) > 0$ the
# sign of $\mathrm{TPM}(A) - \alpha$ is that of $\mathbb{E}_A w - \mathbb{E}_U w$.
# (1) $\mathrm{Cov}_u(w, p_X) = (\mathbb{E}_X w - \bar w)/|S|$, so the two covariance signs say
# $\mathbb{E}_U w < \bar w < \mathbb{E}_A w$. (2) $w$ is increasing in $r$, and first-order dominance gives
# $\mathbb{E}_A f(r) \ge \mathbb{E}_U f(r)$ for every increasing $f$. (3) $\mathbb{E}_X w = 1 + \mathbb{E}_X[r]/\beta + O(\beta^{-2})$
# and $Z \to 1$. (4) If $M_A > M_U$: $\mathbb{E}_A w \ge m_A e^{M_A/\beta}$ and $\mathbb{E}_U w \le e^{M_U/\beta}$, and
# $m_A e^{M_A/\beta} \ge e^{M_U/\beta}$ iff $\beta \le (M_A - M_U)/\log(1/m_A)$; symmetrically for $M_U > M_A$.
# ```
#
# Condition 2 is sufficient but not necessary for "every $\beta$" ({ref}`ex-02-laplace`); "for every
# $\beta > 0$" is exactly the *Laplace-transform order* $\mathbb{E}_A e^{tr} \ge \mathbb{E}_U e^{tr}$ for all $t > 0$.
#
# ### Many random instances
#
# `mixture.random_instance` draws everything the hypotheses leave free and is **not** conditioned on
# them: 2 to `n_max` strings (sometimes with extra strings outside $S$), supports full, disjoint,
# overlapping, nested either way, or random; Dirichlet weights from very peaked to nearly uniform;
# $\alpha$ uniform or close to 0 or 1; rewards normal, uniform, heavy-tailed, integer (ties), a noisy
# function of $\log p_A/p_U$, or sparse spikes, at scales $10^{-2}$ to $10^{2}$ with either sign; and
# $\beta$ from $10^{-3}$ to $10^{3}$. Each instance is then classified.

# %%
tol = df.tol
hyp = df[df.hyp]
n_hyp = rec.figure("n-hyp", "instances satisfying the seed's hypotheses (Pearson, over unif(supp p_ref))",
                   int(len(hyp)), source="seed 001 Theorem 2")
n_viol = rec.figure("n-hyp-violations", "of those, instances violating Theorem 2's conclusion (a finding, not a check)",
                    int((~hyp.concl).sum()), source="seed 001 Theorem 2")
rec.figure("frac-hyp-violations", "fraction of hypothesis-satisfying instances that violate the conclusion",
           n_viol / max(n_hyp, 1), source="seed 001 Theorem 2")
hyp_s = df[df.hyp_spearman]
rec.figure("n-hyp-spearman", "instances satisfying the hypotheses read as Spearman correlations", int(len(hyp_s)),
           source="seed 001 Theorem 2")
rec.figure("n-hyp-spearman-violations", "of those, instances violating the conclusion", int((~hyp_s.concl).sum()),
           source="seed 001 Theorem 2")

# %%
# corrected theorem: the condition E_A w >= E_U w decides TPM(A) >= α (up to float tolerance)
bad_iff = (df.corrected & (df.tpm_a < df.alpha - tol)) | (~df.corrected & (df.tpm_a > df.alpha + tol))
rec.check("corrected-iff-disagreements",
          "corrected theorem: instances where E_A[e^{r/β}] ≥ E_U[e^{r/β}] disagrees with TPM(A) ≥ α (beyond tolerance)",
          int(bad_iff.sum()), equals=0, source="this chapter, Theorem thm-tpm-corrected")
rec.figure("n-corrected", "instances satisfying the corrected condition E_A[e^{r/β}] ≥ E_U[e^{r/β}]",
           int(df.corrected.sum()))
bad_cov = df.covariance & ~df.concl
rec.figure("n-covariance", "instances satisfying Cov_u(w, p_A) > 0 and Cov_u(w, p_U) < 0", int(df.covariance.sum()))
rec.check("covariance-violations", "instances satisfying the covariance condition that violate the seed's conclusion",
          int(bad_cov.sum()), equals=0, source="this chapter, Theorem thm-tpm-corrected (1)")
strict_fail = df.log_tpm_u == -np.inf
rec.check("strict-failures", "instances (0 < α < 1, finite r) with TPM(U) = 0, i.e. TPM(A) = 1", int(strict_fail.sum()),
          equals=0, source="seed 001 Theorem 2")

# %%
viol = hyp[~hyp.concl]
where = (viol.sign_wa <= 0) | (viol.sign_wu >= 0)
rec.check("violations-break-covariance", "violations under the seed's hypotheses that have inequality (i) or (ii) false "
          "(all of them)", int(where.sum()), equals=int(len(viol)), source="seed 001 §1.3")
rec.figure("violations-break-i", "violations where inequality (i), Cov_u(w, p_A) > 0, is false",
           int((viol.sign_wa <= 0).sum()))
rec.figure("violations-break-ii", "violations where inequality (ii), Cov_u(w, p_U) < 0, is false",
           int((viol.sign_wu >= 0).sum()))
# the hypotheses only order the means
rec.check("cov-identity-max-error", "Cov_u(r, p_A) = (E_A r − mean_u r)/|S| on every instance: max relative error",
          df.cov_identity_err.max(), at_most=1e-12)
mean_bad = hyp.mean_a <= hyp.mean_u
rec.check("hyp-imply-mean-order", "instances satisfying the hypotheses with E_A r ≤ E_U r",
          int(mean_bad.sum()), equals=0, source="seed 001 Theorem 2")

# %%
display(pd.DataFrame({
    "instances": [len(df), len(hyp), len(hyp_s), int(df.corrected.sum()), int(df.covariance.sum())],
    "violating the conclusion": [int((~df.concl).sum()), n_viol, int((~hyp_s.concl).sum()),
                                 int((df.corrected & ~df.concl).sum()), int(bad_cov.sum())],
}, index=["all", "seed's hypotheses (Pearson)", "seed's hypotheses (Spearman)",
          "E_A w ≥ E_U w (corrected)", "Cov_u(w,p_A)>0>Cov_u(w,p_U)"]))

# %% [markdown]
# Of {glue:text}`param-n_instances` instances, {glue:text}`n-hyp` satisfy the seed's hypotheses and
# **{glue:text}`n-hyp-violations` of them violate the conclusion of {prf:ref}`thm-tpm-seed`** (a fraction
# {glue:text}`frac-hyp-violations:.2f`); with the rank reading, {glue:text}`n-hyp-spearman-violations` of
# {glue:text}`n-hyp-spearman`. Every violation has one of the proof's inequalities (i), (ii) false
# ({glue:text}`violations-break-i` break (i), {glue:text}`violations-break-ii` break (ii)). The
# corrected condition decides $\mathrm{TPM}(A) \ge \alpha$ on every instance
# ({glue:text}`corrected-iff-disagreements` disagreements among the {glue:text}`n-corrected` instances that
# satisfy it and the rest), the covariance condition (satisfied by {glue:text}`n-covariance`) has
# {glue:text}`covariance-violations` violations, and no instance with $0<\alpha<1$ and finite $r$ has
# $\mathrm{TPM}(U) = 0$ ({glue:text}`strict-failures`). As derived above, the hypotheses imply
# $\mathbb{E}_A r > \mathbb{E}_U r$ on every instance ({glue:text}`hyp-imply-mean-order` exceptions; the
# identity $\mathrm{Cov}_u(r, p_A) = (\mathbb{E}_A r - \bar r)/|S|$ holds to {glue:text}`cov-identity-max-error:.2g`).
#
# Violations come from strong tuning: measured in units of the reward's spread on $S$, they sit at
# small $\beta$, where $e^{r/\beta}$ is dominated by the top rewards.

# %%
hyp_plot = hyp.assign(log_beta_rel=np.log10(hyp.beta_rel.clip(1e-6, 1e6)),
                      violated=~hyp.concl)
bins = np.linspace(-6, 6, 13)
hyp_plot["bin"] = pd.cut(hyp_plot.log_beta_rel, bins)
rate = hyp_plot.groupby("bin", observed=True).violated.agg(["mean", "size"]).reset_index()
rate["centre"] = [b.mid for b in rate["bin"]]
fig, ax = plt.subplots()
sns.lineplot(data=rate, x="centre", y="mean", marker="o", ax=ax, color=plots.ROLE["unaligned_component"])
ax.set(xlabel="log10(β / sd_S(r))", ylabel="fraction violating Theorem 2",
       title="Seed's hypotheses hold: how often the conclusion fails")
plt.show()

# %% [markdown]
# **Figure 02.2.** Among random instances that satisfy the seed's hypotheses, the fraction that violate its
# conclusion, against $\beta$ relative to the reward's spread. Violations occur for strong tuning (small
# $\beta$) and vanish for weak tuning, as parts 3 and 4 of {prf:ref}`thm-tpm-corrected` predict.
#
# ### The limits, checked
#
# Part 4 of {prf:ref}`thm-tpm-corrected` gives an explicit $\beta_0$; on every instance where the two
# components' best rewards differ we evaluate $\mathrm{TPM}(A)$ at $\beta_0/2$ (or at $\beta = 1$ when
# $\beta_0 = \infty$) and check the predicted side. Part 2 is checked on a grid of $\beta$ spanning twelve
# orders of magnitude on every instance where the dominance holds.

# %%
n_small, bad_small, n_dom, bad_dom = 0, 0, 0, 0
beta_grid = np.geomspace(1e-6, 1e6, n_betas)
for inst, row in zip(instances, rows):
    mix, r = inst.mix, inst.r
    sign, b0 = mixture.small_beta_thresholds(mix, r)
    if sign != 0 and b0 > 0:
        b = 1.0 if np.isinf(b0) else b0 / 2
        n_small += 1
        ta = mixture.tpm(mix, r, b)[0]
        t = mixture.tolerance(mix, r, b)
        bad_small += int(ta < mix.alpha - t) if sign > 0 else int(ta > mix.alpha + t)
    if row["dominates"]:
        n_dom += 1
        scale = np.abs(r[mix.support]).max()
        grid = beta_grid * (scale if scale > 0 else 1.0)
        curve = np.exp(mixture.log_tpm_curve(mix, r, grid)[0])
        tols = np.array([mixture.tolerance(mix, r, b) for b in grid])
        bad_dom += int(np.any(curve < mix.alpha - tols))
rec.figure("n-small-beta", "instances whose components' maximal rewards differ (part 4 applies)", n_small)
rec.check("small-beta-violations", "part 4: instances where TPM(A) is on the wrong side of α below β0",
          bad_small, equals=0, source="this chapter, Theorem thm-tpm-corrected (4)")
rec.figure("n-dominance", "instances where r under p_A first-order dominates r under p_U", n_dom)
rec.check("dominance-violations", "part 2: dominating instances with TPM(A) < α at some β of the grid",
          bad_dom, equals=0, source="this chapter, Theorem thm-tpm-corrected (2)")

# %%
# part 3 on the counterexample: β (TPM(A) − α) → α(1−α)(E_A r − E_U r)
big = np.geomspace(1e2, 1e6, 5)
lim = cx_alpha * (1 - cx_alpha) * (cx_pa @ cx_r - cx_pu @ cx_r)
scaled = np.array([b * mixture.tpm_gap(cx, cx_r, b) for b in big])
rec.figure("large-beta-limit", "counterexample: α(1−α)(E_A r − E_U r), the limit of β(TPM(A) − α)", lim)
rec.check("large-beta-error", "counterexample: |β(TPM(A) − α) − limit| at β = 1e4", abs(scaled[2] - lim), below=1e-3)
rec.check("large-beta-error-shrinks", "counterexample: |β(TPM(A) − α) − limit| at β = 1e5 over the same at β = 1e3 "
          "(the error shrinks like 1/β)", abs(scaled[3] - lim) / abs(scaled[1] - lim), below=1)
print(pd.DataFrame({"beta": big, "beta*(TPM(A)-alpha)": scaled, "limit": lim}))

# %% [markdown]
# Part 4 applies to {glue:text}`n-small-beta` instances and is never contradicted
# ({glue:text}`small-beta-violations`); {glue:text}`n-dominance` instances have dominance, with
# {glue:text}`dominance-violations` violations over the grid. On the counterexample,
# $\beta(\mathrm{TPM}(A) - \alpha)$ tends to $\alpha(1-\alpha)(\mathbb{E}_A r - \mathbb{E}_U r)$ =
# {glue:text}`large-beta-limit:.4f` (error {glue:text}`large-beta-error:.2g` at $\beta = 10^4$).
#
# ## Where the assumptions break
#
# * $\alpha = 1$: $p_{\mathrm{ref}} = p_A$, $\mathrm{TPM}(A) = 1$, so "$1 > \mathrm{TPM}(A)$" and
#   "$0 < \mathrm{TPM}(U)$" fail. $\alpha = 0$: $\mathrm{TPM}(A) = 0 = \alpha$; the non-strict statement holds
#   trivially and the strict $\mathrm{TPM}(A) > \alpha$ of the proof fails. The corrected theorem assumes
#   $0 < \alpha < 1$.
# * $r = -\infty$ on some strings (a reward that forbids them): $w = 0$ there, and $p_\theta$ is
#   **truncated** to $S \cap \{r > -\infty\}$. If that removes all of $\mathrm{supp}\, p_U$, then
#   $\mathrm{TPM}(U) = 0$ and $\mathrm{TPM}(A) = 1$.
# * $\mathbb{E}_A w = \mathbb{E}_U w$ (e.g. $p_A = p_U$): $\mathrm{TPM}(A) = \alpha$ for that $\beta$ — equality.

# %%
edge = {}
for a in (0.0, 1.0):
    m = mixture.Mixture(cx.log_p_a, cx.log_p_u, a)
    edge[a] = mixture.log_tpm(m, cx_r, 1.0)
# a factor log(1 − α) or log α of −∞ multiplies every term: exactly 0 by construction, reported, not checked
rec.figure("alpha1-tpm-u", "α = 1: TPM(U), exactly 0 (so TPM(A) = 1 and '1 > TPM(A)', '0 < TPM(U)' fail)",
           np.exp(edge[1.0][1]), source="seed 001 Theorem 2")
rec.figure("alpha0-tpm-a", "α = 0: TPM(A), exactly 0 = α (no strict increase possible)", np.exp(edge[0.0][0]),
           source="seed 001 Theorem 2")
# r = -inf on the unaligned-only strings of the counterexample: truncation
forbidden = (cx_pa == 0) & (cx_pu > 0)
r_trunc = cx_r.copy()
r_trunc[forbidden] = -np.inf
lp_tr = align.gibbs(cx.log_p_ref, r_trunc, 1.0)
trunc_tpm = mixture.tpm(cx, r_trunc, 1.0)
rec.check("trunc-n-removed", "r = −∞ on the strings only p_U produces: strings of supp p_ref with p_θ = 0",
          int(np.sum(cx.support & (lp_tr == -np.inf))), equals=int(forbidden.sum()))
# every string of supp p_U now has e^{r/β} = 0: exactly 0 by construction, reported, not checked
rec.figure("trunc-tpm-u", "with r = −∞ on supp p_U: TPM(U), exactly 0, so '0 < TPM(U)' fails", trunc_tpm[1],
           source="seed 001 Theorem 2")
# equal components
same = mixture.Mixture(cx.log_p_a, cx.log_p_a, 0.3)
eq_err = max(abs(mixture.tpm(same, cx_r, b)[0] - 0.3) for b in np.geomspace(0.01, 100, n_betas))
rec.check("equal-components-error", "p_A = p_U: max over β of |TPM(A) − α|, at rounding level (equality)",
          eq_err, at_most=1e-12)

# %%
# random truncations: r = -inf on a random part of S
n_tr, bad_tr, n_tr_u0 = 0, 0, 0
for inst in instances[: max(10, len(instances) // 10)]:
    mix, r = inst.mix, inst.r.copy()
    s_idx = np.flatnonzero(mix.support)
    if s_idx.size < 2:
        continue
    kill = rng.choice(s_idx, size=int(rng.integers(1, s_idx.size)), replace=False)
    r[kill] = -np.inf
    lp = align.gibbs(mix.log_p_ref, r, inst.beta)
    n_tr += 1
    bad_tr += int(not np.array_equal(lp > -np.inf, mix.support & (r > -np.inf)))
    n_tr_u0 += int(mixture.log_tpm(mix, r, inst.beta)[1] == -np.inf)
rec.figure("trunc-random-n", "random instances with r = −∞ on a random nonempty part of S", n_tr)
rec.check("trunc-random-support-errors", "of those, instances where supp p_θ ≠ S ∩ {r > −∞}", bad_tr, equals=0)
rec.figure("trunc-random-tpm-u-zero", "of those, instances where the truncation removes all of supp p_U (TPM(U) = 0)",
           n_tr_u0)

# %% [markdown]
# With $\alpha = 1$, $\mathrm{TPM}(U)$ = {glue:text}`alpha1-tpm-u`; with $\alpha = 0$, $\mathrm{TPM}(A)$ =
# {glue:text}`alpha0-tpm-a`.
# Setting $r = -\infty$ on the counterexample's two unaligned-only strings removes them
# ({glue:text}`trunc-n-removed` strings get probability 0) and leaves $\mathrm{TPM}(U)$ =
# {glue:text}`trunc-tpm-u`. On {glue:text}`trunc-random-n` random instances with a random part of $S$
# forbidden, $\mathrm{supp}\, p_\theta = S \cap \{r > -\infty\}$ every time
# ({glue:text}`trunc-random-support-errors` exceptions), and {glue:text}`trunc-random-tpm-u-zero` of
# them lose the unaligned component entirely. With $p_A = p_U$, $|\mathrm{TPM}(A) - \alpha| \le$
# {glue:text}`equal-components-error:.2g` for every $\beta$.
#
# ## Shrinks, not truncates
#
# For finite $r$, $p_\theta(y)/p_{\mathrm{ref}}(y) = e^{r(y)/\beta}/Z \in
# \big[e^{\min_S r/\beta}/Z,\ e^{\max_S r/\beta}/Z\big]$ on $S$, so $\mathrm{supp}\, p_\theta = S$: every output
# the reference could produce, including those only the unaligned component produces, keeps at least
# the fraction $e^{\min_S r/\beta}/Z$ of its probability. That fraction can be astronomically small —
# finite is not large.

# %%
rec.check("support-equal", "random instances with finite r where supp p_θ = supp p_ref (all of them)",
          int(df.same_support.sum()), equals=n_instances, source="seed 001 §1.4")
rec.check("ratio-formula-error", "max over instances of the error of min/max log p_θ/p_ref against (min_S r or "
          "max_S r)/β − log Z (relative to 1 + max|r|/β)", df.ratio_err.max(), at_most=1e-12)

# %% [markdown]
# On all instances $\mathrm{supp}\, p_\theta = \mathrm{supp}\, p_{\mathrm{ref}}$ ({glue:text}`support-equal`
# of {glue:text}`param-n_instances`), and the extreme ratios match the formula (error
# {glue:text}`ratio-formula-error:.2g`).
#
# ## Prompts dominated by the unaligned component
#
# The seed's informal worry (§1.4): for a prompt whose reference distribution is mostly unaligned
# ($\alpha$ small), tuning shrinks the unaligned component but may leave it dominant. Theorem
# {prf:ref}`thm-tpm-corrected` makes this exact in odds form:
#
# $$
# \frac{\mathrm{TPM}(U)}{\mathrm{TPM}(A)} = \frac{1-\alpha}{\alpha}\cdot\frac{\mathbb{E}_U[e^{r/\beta}]}{\mathbb{E}_A[e^{r/\beta}]},
# \qquad
# \operatorname{logit}\mathrm{TPM}(U) = \operatorname{logit}(1-\alpha) - \log\rho(\beta),\quad
# \rho(\beta) = \frac{\mathbb{E}_A[e^{r/\beta}]}{\mathbb{E}_U[e^{r/\beta}]}.
# $$
#
# Tuning subtracts the same amount $\log\rho(\beta)$ from the log-odds of the unaligned component
# whatever $\alpha$ is; the tuned model is still mostly unaligned whenever
# $1 - \alpha > \rho/(1+\rho)$. We build a toy on a string space: $p_A$ and $p_U$ are two random
# autoregressive models (`strings.random_lm`), $r$ favours strings that $p_A$ prefers,
# $r = s\tanh\!\big(\tfrac12 \log p_A/p_U\big) + \text{noise}$, and $p_{\mathrm{ref}}$ is their mixture.

# %%
space = strings.StringSpace(alphabet_size, max_len)
lm_a = strings.random_lm(space, rng, concentration)
lm_u = strings.random_lm(space, rng, concentration)
llr = lm_a.logp - lm_u.logp
r_toy = reward_scale * np.tanh(llr / 2) + strings.random_reward(space, rng, 0.5 * reward_scale)
toy = mixture.Mixture(lm_a.logp, lm_u.logp, alpha_toy)

# %%
betas = np.geomspace(0.05, 20, n_betas)
one_minus = np.linspace(0.01, 0.99, 99)
curves = []
odds_err = 0.0
for b in betas:
    shift = mixture.log_odds_shift(toy, r_toy, b)
    for om in one_minus:
        m = mixture.Mixture(toy.log_p_a, toy.log_p_u, 1 - om)
        tu = mixture.tpm(m, r_toy, b)[1]
        pred = 1 / (1 + np.exp(-(np.log(om / (1 - om)) + shift)))
        odds_err = max(odds_err, abs(tu - pred))
        curves.append(dict(beta=b, one_minus_alpha=om, tpm_u=tu))
curves = pd.DataFrame(curves)
rec.check("odds-identity-error", "toy: max |TPM(U) − expit(logit(1−α) + log E_U w − log E_A w)| over α and β",
          odds_err, at_most=mixture.tolerance(toy, r_toy, betas.min()))

# %%
rho_toy = np.exp(-mixture.log_odds_shift(toy, r_toy, beta_toy))
rec.figure("toy-rho", "toy at β = beta_toy: ρ = E_A[e^{r/β}] / E_U[e^{r/β}]", rho_toy)
rec.figure("toy-dominant-threshold", "toy at β = beta_toy: TPM(U) > 1/2 exactly when 1 − α exceeds ρ/(1+ρ)",
           rho_toy / (1 + rho_toy))
tpm_toy = mixture.tpm(toy, r_toy, beta_toy)
rec.figure("toy-tpm-u", "toy at α = alpha_toy, β = beta_toy: TPM(U) after tuning", tpm_toy[1])
rec.figure("toy-size", "toy: number of strings", space.size)

# %%
show = curves[curves.beta.isin(betas[:: max(1, len(betas) // 5)])].copy()
show["β"] = show.beta.map(lambda b: f"{b:.3g}")
fig, ax = plt.subplots()
sns.lineplot(data=show, x="one_minus_alpha", y="tpm_u", hue="β", palette="viridis", ax=ax,
             hue_order=sorted(show["β"].unique(), key=float))
ax.plot([0, 1], [0, 1], ls="--", color=plots.ROLE["reference"], label="no tuning")
ax.axhline(0.5, color="grey", lw=0.7)
ax.set(xlabel="1 − α (unaligned weight before tuning)", ylabel="TPM(U) after tuning",
       title="Unaligned mass after tuning")
ax.legend(title="β", fontsize=8, loc="upper left")
plt.show()

# %% [markdown]
# **Figure 02.3.** Unaligned mass after tuning against the unaligned weight before tuning, on the string-space
# toy ({glue:text}`toy-size` strings), for several $\beta$ (colour). Each curve is the diagonal with its
# log-odds lowered by $\log\rho(\beta)$: prompts whose unaligned component dominates
# ($1 - \alpha$ near 1) keep most of their unaligned mass unless $\beta$ is small.
#
# At $\beta$ = {glue:text}`param-beta_toy:g`, $\rho$ = {glue:text}`toy-rho:.3g`: the tuned model is still
# mostly unaligned for every prompt with $1 - \alpha >$ {glue:text}`toy-dominant-threshold:.3f`; at
# $\alpha$ = {glue:text}`param-alpha_toy:g` it has $\mathrm{TPM}(U)$ = {glue:text}`toy-tpm-u:.3f`. The odds
# identity holds to {glue:text}`odds-identity-error:.2g`.
#
# ## Contrastive logits
#
# The note ends with `logits = α·logits_θ − β·logits_ref`. Since $\alpha$ and $\beta$ already name the
# mixture weight and the KL coefficient, write the coefficients $a, b$, and mostly $a = 1+\gamma$,
# $b = \gamma$ ("amplify what tuning changed"), $\gamma \ge 0$.
#
# **At the sequence level**, $q_c(y) \propto p_\theta(y)^a\, p_{\mathrm{ref}}(y)^{-b}$ on $S$. With
# $p_\theta = p_{\mathrm{ref}} e^{r/\beta}/Z$,
#
# $$
# q_c(y) \propto p_{\mathrm{ref}}(y)^{a-b}\, e^{a\, r(y)/\beta},
# $$
#
# so for $a - b = 1$ it is exactly the Gibbs tilt at $\beta/a$: a stronger alignment, with the same
# support (no truncation), and its unaligned mass is $\mathrm{TPM}(U)$ at $\beta/(1+\gamma)$, which is
# smaller than at $\beta$ only when the corrected condition holds along the way. For $a - b \ne 1$ the
# reference is also tempered by $p_{\mathrm{ref}}^{a-b-1}$.
#
# **Token by token** (what a decoder does), at each prefix $h$,
# $c(v \mid h) = \mathrm{softmax}_v\big(a \log p_\theta(v \mid h) - b \log p_{\mathrm{ref}}(v \mid h)\big)$, and
# $Q(y) = \prod_t c(y_t \mid y_{<t})\, c(\mathrm{EOS} \mid y)$. The tuned model's next-token distributions
# come from its prefix marginals: with $V_\beta(h) = \mathbb{E}_{p_{\mathrm{ref}}}[e^{r/\beta} \mid \text{prefix } h]$
# (and $V_\beta(h\cdot\mathrm{EOS}) = e^{r(h)/\beta}$), $p_\theta(v \mid h) = p_{\mathrm{ref}}(v \mid h)\,V_\beta(hv)/V_\beta(h)$, so
#
# $$
# c(v \mid h) \propto p_{\mathrm{ref}}(v \mid h)^{a-b}\, V_\beta(hv)^{a}
# \quad\text{whereas}\quad
# q_c(v \mid h) = \frac{W(hv)}{W(h)},\quad W(h) = \sum_{y \text{ starts with } h} p_{\mathrm{ref}}(y)^{a-b}\, e^{a\, r(y)/\beta}.
# $$
#
# For $a - b = 1$ the sequence-level conditional is $\propto p_{\mathrm{ref}}(v\mid h)\, V_{\beta/a}(hv)$ with
# $V_{\beta/a}(hv) = \mathbb{E}[e^{a r/\beta} \mid hv] \ge V_\beta(hv)^a$ (Jensen, $a \ge 1$): the token-level
# rule raises a conditional *expectation* to the power $a$ instead of taking the expectation of the
# power, so it under-weights continuations whose reward is high but uncertain. The two agree at $a = 1$
# and at the last step (where $V$ is a single term). We compute both exactly.

# %%
lp_ref_toy = toy.log_p_ref
# float tolerance of the toy's checks: rounding of a·r/β, relative to the probabilities
tol_toy = mixture.ULPS * mixture.EPS * (1 + max(gammas)) * (1 + np.abs(r_toy).max() / beta_toy)
lp_theta_toy = align.gibbs(toy.log_p_ref, r_toy, beta_toy)
ar_ref = strings.autoregressive(space, lp_ref_toy)
ar_err = np.max(np.abs(np.exp(ar_ref.logp) - np.exp(lp_ref_toy)))
rec.check("prefix-factorisation-error", "toy: the next-token table from prefix marginals reproduces p_ref (max abs error)",
          ar_err, at_most=tol_toy)
# V_β(h): prefix values; check c(v|h) ∝ p_ref(v|h) V(hv)^a
w_toy = np.exp(r_toy / beta_toy - np.max(r_toy / beta_toy))
log_v = strings.prefix_log_marginals(space, lp_ref_toy + np.log(w_toy)) - strings.prefix_log_marginals(space, lp_ref_toy)
tab_ref = strings.next_token_table(space, lp_ref_toy)

# %%
gamma_rows, formula_err, seq_err, gen_err = [], 0.0, 0.0, 0.0
inner = space.children[:, 0] >= 0
for g in gammas:
    a, b = 1.0 + g, g
    q_seq = decoding.contrastive_sequence(lp_theta_toy, lp_ref_toy, a, b)
    q_gibbs = align.gibbs(lp_ref_toy, r_toy, beta_toy / a)
    seq_err = max(seq_err, float(np.max(np.abs(np.exp(q_seq) - np.exp(q_gibbs)))))
    ctab = decoding.contrastive_table(space, lp_theta_toy, lp_ref_toy, a, b)
    logits = np.full_like(tab_ref, -np.inf)
    logits[inner, :alphabet_size] = tab_ref[inner, :alphabet_size] + a * log_v[space.children[inner]]
    logits[:, alphabet_size] = tab_ref[:, alphabet_size] + a * (r_toy / beta_toy - np.max(r_toy / beta_toy))
    pred = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    formula_err = max(formula_err, float(np.max(np.abs(np.exp(ctab) - np.exp(pred)))))
    q_tok = decoding.contrastive_tokenwise(space, lp_theta_toy, lp_ref_toy, a, b)
    gamma_rows.append(dict(
        gamma=g, tvd=it.tvd(q_tok, q_seq), kl_tok_seq=it.kl(q_tok, q_seq), kl_seq_tok=it.kl(q_seq, q_tok),
        unaligned_seq=mixture.component_mass(toy, q_seq)[1], unaligned_tok=mixture.component_mass(toy, q_tok)[1],
        reward_seq=align.expected_reward(q_seq, r_toy), reward_tok=align.expected_reward(q_tok, r_toy),
        same_support=bool(np.array_equal(q_tok > -np.inf, toy.support) and np.array_equal(q_seq > -np.inf, toy.support)),
    ))
cg = pd.DataFrame(gamma_rows)
# a − b ≠ 1: q ∝ p_ref^{a−b} e^{a r/β}
for a, b in [(2.0, 0.5), (1.0, 1.0), (0.5, 0.0)]:
    q = decoding.contrastive_sequence(lp_theta_toy, lp_ref_toy, a, b)
    pred = it.normalize((a - b) * lp_ref_toy + a * r_toy / beta_toy)
    gen_err = max(gen_err, float(np.max(np.abs(np.exp(q) - np.exp(pred)))))

# %%
rec.check("contrastive-seq-gibbs-error", "sequence level, a = 1+γ, b = γ: max |q_c − Gibbs(p_ref, r, β/(1+γ))| over γ",
          seq_err, at_most=tol_toy, source="seed 001 §1.4 (last line)")
rec.check("contrastive-seq-general-error", "sequence level, any a, b: max |q_c − normalize(p_ref^{a−b} e^{a r/β})|",
          gen_err, at_most=tol_toy, source="seed 001 §1.4 (last line)")
rec.check("contrastive-tok-formula-error", "token level: max |c(v|h) − softmax(log p_ref(v|h) + a log V_β(hv))|",
          formula_err, at_most=tol_toy)
tv0 = it.tvd(decoding.contrastive_tokenwise(space, lp_theta_toy, lp_ref_toy, 1.0, 0.0), lp_theta_toy)
rec.check("contrastive-tok-gamma0-tvd", "token level at γ = 0 (a = 1, b = 0): TV distance to p_θ",
          tv0, at_most=tol_toy * space.size)
rec.check("contrastive-support", "values of γ where supp Q_token = supp q_seq = supp p_ref (no truncation; all of them)",
          int(cg.same_support.sum()), equals=len(gammas))
rec.figure("contrastive-max-tvd", "max over γ of TV(Q_token, q_seq)", cg.tvd.max())
rec.figure("contrastive-gamma-max", "largest γ of the grid", cg.gamma.max())

# %%
last = cg.iloc[-1]
component_u_ref = mixture.component_mass(toy, lp_ref_toy)[1]
rec.figure("unaligned-ref", "toy: unaligned mass of p_ref (= 1 − α)", component_u_ref)
rec.figure("unaligned-theta", "toy: unaligned mass of p_θ (= TPM(U))", mixture.component_mass(toy, lp_theta_toy)[1])
rec.figure("unaligned-seq-last", "toy: unaligned mass of the sequence-level contrastive model at the largest γ",
           float(last.unaligned_seq))
rec.figure("unaligned-tok-last", "toy: unaligned mass of the token-level contrastive model at the largest γ",
           float(last.unaligned_tok))
display(cg.round(4))

# %%
long = cg.melt(id_vars="gamma", value_vars=["unaligned_seq", "unaligned_tok"], var_name="level", value_name="mass")
long["level"] = long.level.map({"unaligned_seq": "sequence level (Gibbs at β/(1+γ))", "unaligned_tok": "token by token"})
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
sns.lineplot(data=long, x="gamma", y="mass", hue="level", marker="o", ax=axes[0])
axes[0].axhline(component_u_ref, ls="--", color=plots.ROLE["reference"], label="p_ref (1 − α)")
axes[0].set(xlabel="γ", ylabel="unaligned mass", title="Unaligned mass under contrastive logits")
axes[0].legend(fontsize=8)
sns.lineplot(data=cg, x="gamma", y="tvd", marker="o", ax=axes[1], color=plots.ROLE["other"])
axes[1].set(xlabel="γ", ylabel="TV(token level, sequence level)", title="Local vs global normalisation")
plt.show()

# %% [markdown]
# **Figure 02.4.** Contrastive logits $(1+\gamma)\log p_\theta - \gamma \log p_{\mathrm{ref}}$ on the toy. Left: the
# unaligned mass of the sequence-level distribution (the Gibbs tilt at $\beta/(1+\gamma)$) and of the
# token-by-token decoder; neither reaches 0, since neither truncates. Right: how far the decoder is
# from the sequence-level distribution; the two coincide at $\gamma = 0$ and separate as $\gamma$ grows.
#
# The next-token tables built from prefix marginals reproduce $p_{\mathrm{ref}}$ to
# {glue:text}`prefix-factorisation-error:.2g`, and at $\gamma = 0$ the token-level decoder is $p_\theta$ itself
# (TV {glue:text}`contrastive-tok-gamma0-tvd:.2g`).
# The sequence-level identity holds to {glue:text}`contrastive-seq-gibbs-error:.2g` (and, for general
# $a, b$, to {glue:text}`contrastive-seq-general-error:.2g`); the token-level rule matches
# $p_{\mathrm{ref}}(v\mid h)\,V_\beta(hv)^a$ to {glue:text}`contrastive-tok-formula-error:.2g`. The token-level
# decoder differs from the sequence-level distribution by up to {glue:text}`contrastive-max-tvd:.3f` in
# total variation over the grid. On this toy the unaligned mass goes from {glue:text}`unaligned-ref:.3f`
# ($p_{\mathrm{ref}}$) to {glue:text}`unaligned-theta:.3f` ($p_\theta$), and at $\gamma$ =
# {glue:text}`contrastive-gamma-max:g` to {glue:text}`unaligned-seq-last:.3f` (sequence level) and
# {glue:text}`unaligned-tok-last:.3f` (token level). Both keep every string of $S$ (at all
# {glue:text}`contrastive-support` values of $\gamma$): contrastive
# decoding strengthens the shrinking but does not truncate either.
#
# ## Exercises
#
# ```{exercise}
# :label: ex-02-odds
# Show that $\mathrm{TPM}(A) - \alpha = \alpha(1-\alpha)\big(\mathbb{E}_A[w] - \mathbb{E}_U[w]\big)/Z$ and deduce
# the odds form $\mathrm{TPM}(U)/\mathrm{TPM}(A) = \frac{1-\alpha}{\alpha}\,\mathbb{E}_U[w]/\mathbb{E}_A[w]$.
# For which $\alpha$ is the change $\mathrm{TPM}(A) - \alpha$ largest, for fixed $p_A, p_U, r, \beta$?
# ```
#
# ```{solution} ex-02-odds
# :class: dropdown
# The first identity is the proof of {prf:ref}`thm-tpm-corrected`. Dividing
# $\mathrm{TPM}(U) = (1-\alpha)\mathbb{E}_U w/Z$ by $\mathrm{TPM}(A) = \alpha\,\mathbb{E}_A w/Z$ gives the odds form.
# With $\rho = \mathbb{E}_A w/\mathbb{E}_U w$, $\mathrm{TPM}(A) = \alpha\rho/(\alpha\rho + 1 - \alpha)$, and
# $\frac{d}{d\alpha}\big(\mathrm{TPM}(A) - \alpha\big) = \rho/(\alpha\rho + 1-\alpha)^2 - 1 = 0$ at
# $\alpha^* = 1/(1+\sqrt\rho)$, where the change is $(\sqrt\rho - 1)/(\sqrt\rho + 1)$. Prompts with a
# balanced mixture in the odds sense move most; prompts with $\alpha$ near 0 barely move.
# ```
#
# ```{exercise}
# :label: ex-02-laplace
# (a) Show that if the law of $r$ under $p_A$ first-order stochastically dominates its law under $p_U$, then
# $\mathrm{TPM}(A) \ge \alpha$ for every $\beta > 0$. (b) Show that the converse fails: take $r \in \{0, 2\}$
# with probability $\tfrac12$ each under $p_A$ and $r = 1$ under $p_U$.
# ```
#
# ```{solution} ex-02-laplace
# :class: dropdown
# (a) $y \mapsto e^{r(y)/\beta}$ is an increasing function of $r$, and dominance means
# $\mathbb{E}_A f(r) \ge \mathbb{E}_U f(r)$ for every increasing $f$; apply {prf:ref}`thm-tpm-corrected`.
# (b) $P_A(r > 0.5) = \tfrac12 < 1 = P_U(r > 0.5)$, so there is no dominance, but
# $\mathbb{E}_A e^{r/\beta} = \tfrac12(1 + e^{2/\beta}) \ge e^{1/\beta} = \mathbb{E}_U e^{r/\beta}$ by the AM–GM
# inequality, for every $\beta$. "For every $\beta$" is the Laplace-transform order of the two reward laws.
# ```
#
# ```{exercise}
# :label: ex-02-uniform
# The seed's proof measures correlations over the uniform distribution on $\mathrm{supp}\,p_\theta$ "WLOG".
# Show that the choice matters: add to the counterexample a string $z$ with $p_A(z) = p_U(z) = 0$ and
# reward $r(z)$ = {glue:text}`ex-u-rz:g`, and take the uniform distribution over all five strings. Which hypothesis changes,
# and does $p_\theta$ change?
# ```
#
# ```{solution} ex-02-uniform
# :class: dropdown
# Over a set $T \supseteq S$, $\mathrm{Cov}(r, p_A) = (\mathbb{E}_A r - \bar r_T)/|T|$. With $z$ added,
# $\bar r_T$ = {glue:text}`ex-u-mean-r:.3g` $> \mathbb{E}_A r$ = {glue:text}`ex-u-mean-a:.3g`, so $r$ becomes *negatively* correlated
# with $p_A$ (and still negatively with $p_U$): the first hypothesis fails. $p_\theta$ does not change,
# since $p_{\mathrm{ref}}(z) = 0$. A hypothesis that depends on rewards of impossible strings cannot be the
# right one; the corrected condition involves only $\mathbb{E}_A$ and $\mathbb{E}_U$.
# ```
#
# ```{exercise}
# :label: ex-02-contrastive
# Show that, with $a - b = 1$, the unaligned mass of the sequence-level contrastive distribution is
# $\mathrm{TPM}(U)$ evaluated at $\beta/a$. Use the counterexample to show that contrastive logits can
# *increase* the unaligned mass even when the tuned model itself satisfies $\mathrm{TPM}(A) \ge \alpha$.
# ```
#
# ```{solution} ex-02-contrastive
# :class: dropdown
# The sequence-level distribution is $\propto p_{\mathrm{ref}} e^{a r/\beta}$, the Gibbs tilt at $\beta/a$,
# whose component masses are those of {prf:ref}`thm-tpm-corrected` at $\beta/a$. In the counterexample
# take $\beta$ = {glue:text}`ex-c-beta:g` $> \beta^*$: $\mathrm{TPM}(U)$ = {glue:text}`ex-c-tpm-u-theta:.3f`
# $\le 1 - \alpha$. With $\gamma$ = {glue:text}`ex-c-gamma:g` ($a = 1+\gamma$), the contrastive distribution is
# the tilt at $\beta/a$ = {glue:text}`ex-c-beta-a:.3g` $< \beta^*$, whose unaligned mass is
# {glue:text}`ex-c-tpm-u-contrast:.3f` $> 1 - \alpha$. Whether stronger tuning helps depends on how
# $\rho(\beta') = \mathbb{E}_A[e^{r/\beta'}]/\mathbb{E}_U[e^{r/\beta'}]$ at $\beta' = \beta/a$ compares with
# $\rho(\beta)$, not on $\rho(\beta) \ge 1$ alone.
# ```

# %%
ex_beta, ex_gamma = 0.6, 2.0
ex_tpm_theta = mixture.tpm(cx, cx_r, ex_beta)[1]
q_ex = decoding.contrastive_sequence(align.gibbs(cx.log_p_ref, cx_r, ex_beta), cx.log_p_ref, 1 + ex_gamma, ex_gamma)
ex_tpm_c = mixture.component_mass(cx, q_ex)[1]
rec.figure("ex-c-beta", "exercise: β of the example", ex_beta)
rec.figure("ex-c-gamma", "exercise: γ of the example", ex_gamma)
rec.figure("ex-c-beta-a", "exercise: β/(1+γ)", ex_beta / (1 + ex_gamma))
rec.check("ex-c-tpm-u-theta", f"exercise: counterexample at β = {ex_beta:g}: TPM(U), at most 1 − α", ex_tpm_theta,
          at_most=1 - cx_alpha)
rec.check("ex-c-tpm-u-contrast", f"exercise: unaligned mass of its contrastive distribution (γ = {ex_gamma:g}), "
          "above 1 − α", ex_tpm_c, above=1 - cx_alpha)
z_reward = 10.0
z_r = np.append(cx_r, z_reward)
rec.figure("ex-u-mean-r", f"exercise: uniform mean of r over the counterexample's strings plus z (r(z) = {z_reward:g})",
           z_r.mean())
rec.figure("ex-u-mean-a", "exercise: E_A r in the counterexample", cx_pa @ cx_r)
rec.figure("ex-u-rz", "exercise: r(z)", z_reward)

# %% tags=["hide-input"]
rec.write(results_path)
rec.table()
