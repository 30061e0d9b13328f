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
# {cite:t}`huang2024shift` writes the reference model's output distribution for a prompt as a mixture of
# an "aligned" and an "unaligned" component, and asks what the KL-regularised optimum of
# {doc}`01-kl-regularised-alignment` does to each component. The note has two results: an exact rewriting
# (its Lemma 1) and an inequality on the *total probability mass* of each component after tuning (its
# Theorem 2). The first is right; the second, as stated, is false, and this chapter says what replaces it.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# * **Shows.** Huang (2024, Lemma 1) holds exactly; Huang (2024, Theorem 2) is false as stated (a
#   counterexample and thousands of random instances), and the condition that decides it,
#   $\mathbb{E}_{p_A}[e^{r/\beta}] \ge \mathbb{E}_{p_U}[e^{r/\beta}]$, is proved and checked; likewise for the
#   unaligned mass left by contrastive logits.
# * **Assumes.** The Gibbs form of the KL-regularised optimum ({doc}`01-kl-regularised-alignment`);
#   finite sums, expectations, covariance, the logit function and Jensen's inequality.
# * **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed
#   paper-profile run: {glue:text}`paper-run-time`.
# * **Re-execute.** `lmdist run notebooks/02-mixture-decomposition.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/02-mixture-decomposition.py` lists every parameter).
# :::
#
# The mixture is
#
# $$
# p_{\mathrm{ref}}(y) = \alpha\, p_A(y) + (1 - \alpha)\, p_U(y), \qquad 0 \le \alpha \le 1,
# $$
#
# and the KL-regularised optimum is $p_\theta(y) = p_{\mathrm{ref}}(y)\, e^{r(y)/\beta} / Z$ with
# $Z = \sum_y p_{\mathrm{ref}}(y)\, e^{r(y)/\beta}$. This chapter
#
# * checks the lemma exactly on many random instances, and names what it assumes without saying: the
#   optimum is over *all* distributions, and $Z < \infty$;
# * shows that Huang (2024, Theorem 2) is **false**: its hypotheses (reward positively correlated with
#   $p_A$ and negatively with $p_U$) do not imply its conclusion, because the proof's key step — a
#   monotone transform preserves the sign of a correlation — does not hold for Pearson correlations;
# * states and proves the condition that is really needed,
#   $\mathbb{E}_{p_A}[e^{r/\beta}] \ge \mathbb{E}_{p_U}[e^{r/\beta}]$, necessary and sufficient, and
#   checks it with zero violations;
# * checks "shrinks, not truncates" (the support of $p_\theta$ is that of $p_{\mathrm{ref}}$ when $r$ is
#   finite), measures how small the shrinking factor gets and what float64 and bfloat16 make of it,
#   checks the edge cases, and how much unaligned mass is left for prompts whose unaligned component
#   dominates;
# * works out the note's contrastive logits at the sequence level (an exact Gibbs tilt at a smaller
#   $\beta$, whose unaligned mass is smaller exactly when a ratio of tilted expectations grows) and token by
#   token (what decoding does, which is not the same distribution).
#
# Throughout, $w(y) = e^{r(y)/\beta}$, $\mathbb{E}_A$ and $\mathbb{E}_U$ are expectations under $p_A$ and
# $p_U$, $S = \mathrm{supp}\, p_{\mathrm{ref}}$, and $u$ is the uniform distribution on $S$. We drop the
# prompt $x$: every statement is for one fixed prompt.

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"
n_instances = None     # random instances of Huang (2024, Theorem 2)
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
    "n_instances": {"type": "int", "min": 10, "doc": "random (p_A, p_U, alpha, r, beta) instances checking Huang's Lemma 1 and Theorem 2"},
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
from scipy.optimize import brentq, minimize_scalar

from lmdist.book import chapter, plots
from lmdist.exact import align, decoding, mixture, strings
from lmdist.exact import infotheory as it

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC = "Huang 2024, §1.2–1.3"

# %% [markdown]
# ## Huang (2024, Lemma 1): the tuned model is a reweighted mixture
#
# ```{prf:lemma} Mixture decomposition (Huang 2024, Lemma 1)
# :label: lem-mixture
#
# Let $p_{\mathrm{ref}} = \alpha p_A + (1-\alpha) p_U$ and let $p_\theta = p_{\mathrm{ref}}\, e^{r/\beta} / Z$,
# with $Z < \infty$, be the maximiser of $\mathbb{E}_q[r] - \beta\, \mathrm{KL}(q \Vert p_{\mathrm{ref}})$ over
# **all** distributions $q$ on the strings. With no assumption on $p_A$, $p_U$,
#
# $$
# \begin{aligned}
# p_\theta(y) &= \alpha_A(y)\, p_A(y) + \alpha_U(y)\, p_U(y), \\
# \alpha_A(y) &= \frac{\alpha\, e^{r(y)/\beta}}{Z}, \qquad
# \alpha_U(y) = \frac{(1-\alpha)\, e^{r(y)/\beta}}{Z}.
# \end{aligned}
# $$
# ```
#
# ```{prf:proof}
# The Gibbs form of $p_\theta$ is proved in {doc}`01-kl-regularised-alignment` (Gibbs' inequality); it needs
# $Z < \infty$, for otherwise $p_{\mathrm{ref}} e^{r/\beta}/Z$ is not a distribution. Substitute the mixture:
# $p_\theta(y) = \big(\alpha p_A(y) + (1-\alpha) p_U(y)\big) e^{r(y)/\beta} / Z$ and distribute.
# Huang writes $Z$ as a sum over $\mathrm{supp}\, p_\theta$; it is the same as the sum over all $y$,
# since the terms off the support are 0.
# ```
#
# The note states neither condition. It calls $\theta$ "the optimal model parameters", but the
# Gibbs form is the optimum over all distributions: a model family that cannot represent it has another
# optimum ({ref}`ch02-assumptions` computes one). And $Z < \infty$ is automatic on a finite string space or
# for a bounded reward, but not for a finite reward on infinitely many strings (also computed there).
#
# The lemma is algebra, so the check is of the code: on every random instance (drawn by
# `mixture.random_instance`, described below) we compute $p_\theta$ with `align.gibbs` and the right-hand
# side from the weights, and compare. Two float64 routes to the same probability can differ by a few
# multiples of $\varepsilon\,(1 + \max_S |r|/\beta)$ (rounding $r/\beta$ and subtracting $\log Z$), not of
# $\varepsilon$; the tolerance is `mixture.ULPS` of those units.

# %%
instances = [mixture.random_instance(rng, n_max=n_max) for _ in range(n_instances)]

rows, theta_logs = [], []
for k, inst in enumerate(instances):
    mix, r, beta = inst.mix, inst.r, inst.beta
    a = mixture.analyse(mix, r, beta)
    theta_logs.append(a["log_p_theta"])
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

# %% tags=["hide-input"]
rec.check("lemma1-max-error-units",
          "Huang's Lemma 1: max |p_θ − (α_A p_A + α_U p_U)| over all strings and instances, in units of ε(1 + max|r|/β)",
          df.lemma_err_units.max(), at_most=mixture.ULPS, source="Huang 2024, Lemma 1")
_ = rec.check("tpm-sum-max-error-units", "TPM(A) + TPM(U) = 1: max |TPM(A) + TPM(U) − 1| over the instances, "
              "in units of ε(1 + max|r|/β)", df.sum_err_units.max(), at_most=mixture.ULPS,
              source="Huang 2024, Theorem 2")

# %% [markdown]
# On all {glue:text}`param-n_instances` instances {prf:ref}`lem-mixture` holds to
# {glue:text}`lemma1-max-error-units:.3g` rounding units, and $\mathrm{TPM}(A) + \mathrm{TPM}(U) = 1$ (largest deviation
# {glue:text}`tpm-sum-max-error-units:.2g` rounding units).
#
# (ch02-theorem2)=
# ## Huang (2024, Theorem 2) as stated, and why its proof fails
#
# Summing the two terms of {prf:ref}`lem-mixture` over $y$ gives the total probability masses
#
# $$
# \begin{aligned}
# \mathrm{TPM}(A) &= \sum_y \alpha_A(y) p_A(y) = \frac{\alpha\, \mathbb{E}_A[w]}{Z}, \qquad
# \mathrm{TPM}(U) = \frac{(1-\alpha)\, \mathbb{E}_U[w]}{Z}, \\
# Z &= \alpha\, \mathbb{E}_A[w] + (1-\alpha)\, \mathbb{E}_U[w].
# \end{aligned}
# $$
#
# ```{prf:theorem} Huang (2024, Theorem 2), as stated — false
# :label: thm-tpm-huang
# :nonumber:
#
# If $r$ is finite, $r$ and $p_A$ are positively correlated, and $r$ and $p_U$ are negatively
# correlated, then $1 > \mathrm{TPM}(A) \ge \alpha$ and $0 < \mathrm{TPM}(U) \le 1 - \alpha$.
# ```
#
# The proof (Huang 2024, §1.3) takes the correlations over $u$, the uniform distribution on
# $\mathrm{supp}\, p_\theta = S$. Because $\sum_{y \in S} p_A(y) = 1$, the uniform mean of $p_A$ is $1/|S|$
# and, for any $f$ (likewise for $p_U$),
#
# $$
# \mathrm{Cov}_u(f, p_A) = \frac{1}{|S|}\big(\mathbb{E}_A[f] - \bar f\big), \qquad
# \bar f = \frac{1}{|S|}\sum_{y\in S} f(y).
# $$
#
# So the hypotheses say exactly $\mathbb{E}_U[r] < \bar r < \mathbb{E}_A[r]$:
# **they constrain only the mean reward** under each component. The proof then says that since
# $\alpha_A(y) \propto e^{r(y)/\beta}$ is increasing in $r$, "the correlation properties are preserved", and
# uses
#
# $$
# \begin{aligned}
# \text{(i)}\ \ \mathbb{E}_u[\alpha_A p_A] &> \mathbb{E}_u[\alpha_A]\,\mathbb{E}_u[p_A], \\
# \text{(ii)}\ \ \mathbb{E}_u[\alpha_U p_U] &< \mathbb{E}_u[\alpha_U]\,\mathbb{E}_u[p_U],
# \end{aligned}
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
ubar_w = cx_w.mean()
n_strings = cx.support.sum()
cov_w = ((cx_pa @ cx_w - ubar_w) / n_strings, (cx_pu @ cx_w - ubar_w) / n_strings)  # Cov_u(w, p_A), Cov_u(w, p_U)

# %% tags=["hide-input"]
display(pd.DataFrame({
    "p_A": cx_pa, "p_U": cx_pu, "p_ref": np.exp(cx.log_p_ref), "r": cx_r,
    f"w = e^(r/{cx_beta:g})": cx_w, "p_θ": cx_p_theta,
}, index=["y1", "y2", "y3", "y4"]).style.format("{:.4g}"))

# %% tags=["hide-input"]
rec.check("cx-pearson-a", "counterexample: Pearson corr_u(r, p_A), positive as Huang's first hypothesis requires",
          pearson[0], above=0, source=SRC)
rec.check("cx-pearson-u", "counterexample: Pearson corr_u(r, p_U), negative as Huang's second hypothesis requires",
          pearson[1], below=0, source=SRC)
rec.check("cx-spearman-a", "counterexample: Spearman corr_u(r, p_A), positive (first hypothesis, rank reading)",
          spearman[0], above=0, source=SRC)
rec.check("cx-spearman-u", "counterexample: Spearman corr_u(r, p_U), negative (second hypothesis, rank reading)",
          spearman[1], below=0, source=SRC)
rec.check("cx-tpm-a", f"counterexample at β = {cx_beta:g}: TPM(A), below α, so the conclusion of Huang (2024, "
          "Theorem 2) fails", cx_tpm_a, below=cx_alpha, source="Huang 2024, Theorem 2")
rec.check("cx-tpm-u", f"counterexample at β = {cx_beta:g}: TPM(U), above 1 − α", cx_tpm_u, above=1 - cx_alpha,
          source="Huang 2024, Theorem 2")
rec.figure("cx-alpha", "counterexample: the aligned weight α", cx_alpha)
rec.figure("cx-beta", "counterexample: the KL coefficient β", cx_beta)
rec.check("cx-cov-w-a", f"counterexample at β = {cx_beta:g}: Cov_u(w, p_A) = (E_A w − mean_u w)/|S|, negative, "
          "so inequality (i) of Huang's proof is false", cov_w[0], below=0, source="Huang 2024, §1.3")
_ = rec.check("cx-cov-w-u", f"counterexample at β = {cx_beta:g}: Cov_u(w, p_U), negative: inequality (ii) holds",
              cov_w[1], below=0, source="Huang 2024, §1.3")


# %%
def gap(b):
    """log E_A[e^{r/b}] − log E_U[e^{r/b}] on the counterexample; the conclusion holds from its root β* on."""
    return np.subtract(*mixture.log_tilted_expectations(cx, cx_r, b))


cx_beta_star = brentq(gap, 0.05, 10.0, xtol=1e-14)
tpm_star = mixture.tpm(cx, cx_r, cx_beta_star)[0]
cx_betas = np.geomspace(0.02, 100, 4 * n_betas)
cx_curve = np.exp(mixture.log_tpm_curve(cx, cx_r, cx_betas)[0])
below_star = cx_betas < cx_beta_star
away = np.abs(np.log(cx_betas / cx_beta_star)) > 1e-6  # at β* itself TPM(A) = α up to rounding: either side

# %% tags=["hide-input"]
rec.figure("cx-beta-star", "counterexample: the β* solving E_A[e^{r/β}] = E_U[e^{r/β}] (TPM(A) ≥ α iff β ≥ β*)",
           cx_beta_star, source="Huang 2024, Theorem 2")
rec.check("cx-tpm-at-star", "counterexample at β*: |TPM(A) − α| (equality, not the strict > Huang's proof derives)",
          abs(tpm_star - cx_alpha), at_most=1e3 * mixture.tolerance(cx, cx_r, cx_beta_star), source="Huang 2024, §1.3")
rec.figure("cx-curve-n-below", "counterexample: points of the β grid from 0.02 to 100 that lie below β*",
           int(below_star.sum()))
_ = rec.check("cx-curve-disagreements", "counterexample: points of the β grid from 0.02 to 100 (away from β*) "
              "where TPM(A) < α disagrees with β < β*", int(((cx_curve < cx_alpha) != below_star)[away].sum()),
              equals=0)

# %% [markdown]
# Over $u$ (uniform on the four strings) the reward is positively correlated with $p_A$
# (Pearson {glue:text}`cx-pearson-a:.3f`, Spearman {glue:text}`cx-spearman-a:.3f`) and negatively with
# $p_U$ (Pearson {glue:text}`cx-pearson-u:.3f`, Spearman {glue:text}`cx-spearman-u:.3f`): the hypotheses
# hold in either reading. Yet at $\beta$ = {glue:text}`cx-beta:g` the tuned model has
# $\mathrm{TPM}(A)$ = {glue:text}`cx-tpm-a:.3g` $< \alpha$ = {glue:text}`cx-alpha:g`, and
# $\mathrm{TPM}(U)$ = {glue:text}`cx-tpm-u:.4f` $> 1 - \alpha$: tuning moved mass *towards* the unaligned
# component, because its rare string $y_4$ has the top reward and $e^{r/\beta}$ amplifies it most. In the
# proof, inequality (i) is false: $\mathrm{Cov}_u(w, p_A)$ = {glue:text}`cx-cov-w-a:.3g` $< 0$, while (ii)
# holds ({glue:text}`cx-cov-w-u:.3g`). The conclusion holds again from $\beta^*$ =
# {glue:text}`cx-beta-star:.4f`, where $\mathbb{E}_A[w] = \mathbb{E}_U[w]$ and $\mathrm{TPM}(A) = \alpha$ with
# equality (to {glue:text}`cx-tpm-at-star:.2g`) — so the strict inequality "$\mathrm{TPM}(A) > \alpha$"
# that the proof derives fails there too, under the hypotheses. On a $\beta$ grid from 0.02 to 100 the
# conclusion fails exactly at the {glue:text}`cx-curve-n-below` grid points below $\beta^*$
# ({numref}`fig-cx-tpm-curve`).

# %% tags=["hide-input"]
fig, ax = plt.subplots()
sns.lineplot(x=cx_betas, y=cx_curve, ax=ax, color=plots.ROLE["aligned_component"], label="TPM(A) after tuning")
ax.axhline(cx_alpha, color=plots.ROLE["reference"], ls="--", label="α (before tuning)")
ax.axvline(cx_beta_star, color=plots.ROLE["other"], ls=":", label="β*")
ax.set(xscale="log", xlabel="β", ylabel="aligned mass", title="The counterexample: TPM(A) against β")
ax.legend(fontsize="small", loc="lower right")
plots.publish("fig-cx-tpm-curve", fig)

# %% [markdown]
# ```{glue:figure} fig-cx-tpm-curve
# :name: fig-cx-tpm-curve
# :alt: A line plot on a logarithmic β axis from 0.02 to 100. The aligned mass TPM(A) rises from near 0 at small β, crosses the dashed horizontal line at α = 0.5 where a dotted vertical line marks β*, and stays above it, coming back towards 0.5 at large β.
#
# The four-string counterexample: the tuned model's aligned mass $\mathrm{TPM}(A)$ (solid) lies below the
# reference's $\alpha$ (dashed) for every $\beta < \beta^*$ (dotted), although Huang's hypotheses hold:
# strong tuning moves mass to the unaligned component's rare top-reward string. As $\beta \to \infty$ it
# tends to $\alpha$ from above (part 3 of {prf:ref}`thm-tpm-corrected`, since here
# $\mathbb{E}_A r > \mathbb{E}_U r$), as $\beta \to 0$ to 0 (part 4).
# ```
#
# (ch02-corrected)=
# ### The corrected theorem
#
# ```{prf:theorem} Total probability mass under preference tuning (corrected)
# :label: thm-tpm-corrected
#
# Let $0 < \alpha < 1$, $\beta > 0$, $r$ finite on $S$, $Z < \infty$, and $p_\theta$ the optimum over all
# distributions (as in {prf:ref}`lem-mixture`). Then $0 < \mathrm{TPM}(A) < 1$ and
#
# $$
# \mathrm{TPM}(A) - \alpha
# = \frac{\alpha (1-\alpha)}{Z}\Big(\mathbb{E}_A[e^{r/\beta}] - \mathbb{E}_U[e^{r/\beta}]\Big).
# $$
#
# Hence $\mathrm{TPM}(A) \ge \alpha$ (equivalently $\mathrm{TPM}(U) \le 1-\alpha$) **if and only if**
# $\mathbb{E}_A[e^{r/\beta}] \ge \mathbb{E}_U[e^{r/\beta}]$, with equality iff the two expectations are equal.
# In particular:
#
# 1. $\mathrm{Cov}_u(e^{r/\beta}, p_A) > 0$ and $\mathrm{Cov}_u(e^{r/\beta}, p_U) < 0$ (the inequalities
#    Huang's proof uses) suffice, and give the strict inequality;
# 2. if the law of $r$ under $p_A$ first-order stochastically dominates its law under $p_U$, then
#    $\mathrm{TPM}(A) \ge \alpha$ for **every** $\beta$;
# 3. as $\beta \to \infty$, $\beta\,(\mathrm{TPM}(A) - \alpha) \to \alpha(1-\alpha)\big(\mathbb{E}_A[r] - \mathbb{E}_U[r]\big)$:
#    Huang's hypotheses (which give $\mathbb{E}_A r > \bar r > \mathbb{E}_U r$) imply the conclusion for all
#    $\beta$ large enough, but not for all $\beta$;
# 4. as $\beta \to 0$, the sign is decided by which component holds the best string: with
#    $M_X = \max_{\mathrm{supp}\, p_X} r$ and $m_X = p_X(\{r = M_X\})$, if $M_A > M_U$ then
#    $\mathrm{TPM}(A) \ge \alpha$ for all $\beta \le (M_A - M_U)/\log(1/m_A)$, and if $M_U > M_A$ then
#    $\mathrm{TPM}(A) \le \alpha$ for all $\beta \le (M_U - M_A)/\log(1/m_U)$.
# ```
#
# ```{prf:proof}
# With $w = e^{r/\beta}$, $\mathrm{TPM}(A) - \alpha = \big(\alpha\,\mathbb{E}_A w - \alpha Z\big)/Z$ and
#
# $$
# \begin{aligned}
# \alpha\,\mathbb{E}_A w - \alpha Z
# &= \alpha\,\mathbb{E}_A w - \alpha^2\,\mathbb{E}_A w - \alpha(1-\alpha)\,\mathbb{E}_U w \\
# &= \alpha(1-\alpha)(\mathbb{E}_A w - \mathbb{E}_U w).
# \end{aligned}
# $$
#
# As $r$ is finite, $w > 0$ on $S$, so $\mathbb{E}_A w > 0$,
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
hyp = df[df.hyp]                        # Huang's hypotheses, Pearson reading
hyp_s = df[df.hyp_spearman]             # the rank reading
viol = hyp[~hyp.concl]                  # ... and the conclusion fails
# corrected theorem: the condition E_A w >= E_U w decides TPM(A) >= α (up to float tolerance)
bad_iff = (df.corrected & (df.tpm_a < df.alpha - tol)) | (~df.corrected & (df.tpm_a > df.alpha + tol))
bad_cov = df.covariance & ~df.concl
strict_fail = df.log_tpm_u == -np.inf
breaks_i, breaks_ii = viol.sign_wa <= 0, viol.sign_wu >= 0
mean_bad = hyp.mean_a <= hyp.mean_u     # the hypotheses only order the means

# %% tags=["hide-input"]
HUANG2 = "Huang 2024, Theorem 2"
CORRECTED = "this chapter, the corrected theorem (thm-tpm-corrected)"
n_hyp = rec.figure("n-hyp", "instances satisfying Huang's hypotheses (Pearson, over unif(supp p_ref))",
                   int(len(hyp)), source=HUANG2)
n_viol = rec.figure("n-hyp-violations", "of those, instances violating the conclusion of Huang (2024, Theorem 2) "
                    "(a finding, not a check)", int(len(viol)), source=HUANG2)
rec.figure("frac-hyp-violations", "fraction of hypothesis-satisfying instances that violate the conclusion",
           n_viol / max(n_hyp, 1), source=HUANG2)
rec.figure("n-hyp-spearman", "instances satisfying the hypotheses read as Spearman correlations", int(len(hyp_s)),
           source=HUANG2)
rec.figure("n-hyp-spearman-violations", "of those, instances violating the conclusion", int((~hyp_s.concl).sum()),
           source=HUANG2)
rec.check("corrected-iff-disagreements",
          "corrected theorem: instances where E_A[e^{r/β}] ≥ E_U[e^{r/β}] disagrees with TPM(A) ≥ α (beyond tolerance)",
          int(bad_iff.sum()), equals=0, source=CORRECTED)
rec.figure("n-corrected", "instances satisfying the corrected condition E_A[e^{r/β}] ≥ E_U[e^{r/β}]",
           int(df.corrected.sum()))
rec.figure("n-covariance", "instances satisfying Cov_u(w, p_A) > 0 and Cov_u(w, p_U) < 0", int(df.covariance.sum()))
rec.check("covariance-violations", "instances satisfying the covariance condition that violate Huang's conclusion",
          int(bad_cov.sum()), equals=0, source=CORRECTED + ", part 1")
rec.check("strict-failures", "instances (0 < α < 1, finite r) with TPM(U) = 0, i.e. TPM(A) = 1", int(strict_fail.sum()),
          equals=0, source=HUANG2)
rec.check("violations-break-covariance", "violations under Huang's hypotheses that have inequality (i) or (ii) "
          "false (all of them)", int((breaks_i | breaks_ii).sum()), equals=int(len(viol)), source="Huang 2024, §1.3")
rec.figure("violations-break-i", "violations where inequality (i), Cov_u(w, p_A) > 0, is false", int(breaks_i.sum()))
rec.figure("violations-break-ii", "violations where inequality (ii), Cov_u(w, p_U) < 0, is false",
           int(breaks_ii.sum()))
rec.check("cov-identity-max-error", "Cov_u(r, p_A) = (E_A r − mean_u r)/|S| on every instance: max relative error",
          df.cov_identity_err.max(), at_most=1e-12)
_ = rec.check("hyp-imply-mean-order", "instances satisfying the hypotheses with E_A r ≤ E_U r",
              int(mean_bad.sum()), equals=0, source=HUANG2)

# %% tags=["hide-input"]
display(pd.DataFrame({
    "instances": [len(df), len(hyp), len(hyp_s), int(df.corrected.sum()), int(df.covariance.sum())],
    "violating the conclusion": [int((~df.concl).sum()), n_viol, int((~hyp_s.concl).sum()),
                                 int((df.corrected & ~df.concl).sum()), int(bad_cov.sum())],
}, index=["all", "Huang's hypotheses (Pearson)", "Huang's hypotheses (Spearman)",
          "E_A w ≥ E_U w (corrected)", "Cov_u(w,p_A)>0>Cov_u(w,p_U)"]))

# %% [markdown]
# Of {glue:text}`param-n_instances` instances, {glue:text}`n-hyp` satisfy Huang's hypotheses and
# **{glue:text}`n-hyp-violations` of them violate the conclusion of Huang (2024, Theorem 2)** (a fraction
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
# Where do the violations sit? Measured against the reward's spread on $S$: of the instances that satisfy
# the hypotheses with $\beta$ below the standard deviation of $r$ on $S$ (strong tuning), a fraction
# {glue:text}`viol-rate-strong:.3f` violate the conclusion; with $\beta$ above it, a fraction
# {glue:text}`viol-rate-weak:.3f` ({numref}`fig-violation-rate`).

# %%
hyp_plot = hyp.assign(log_beta_rel=np.log10(hyp.beta_rel.clip(1e-6, 1e6)), violated=~hyp.concl)
bins = np.linspace(-6, 6, 13)
hyp_plot["bin"] = pd.cut(hyp_plot.log_beta_rel, bins)
rate = hyp_plot.groupby("bin", observed=True).violated.agg(["mean", "size"]).reset_index()
rate["centre"] = [b.mid for b in rate["bin"]]
strong = hyp_plot.log_beta_rel < 0      # β below the reward's spread on S

# %% tags=["hide-input"]
rec.figure("viol-rate-strong", "fraction violating Huang's conclusion among hypothesis-satisfying instances with "
           "β < sd_S(r)", hyp_plot.violated[strong].mean(), source=HUANG2)
rec.figure("viol-rate-weak", "the same fraction among those with β ≥ sd_S(r)", hyp_plot.violated[~strong].mean(),
           source=HUANG2)
fig, ax = plt.subplots()
sns.lineplot(data=rate, x="centre", y="mean", marker="o", ax=ax, color=plots.ROLE["unaligned_component"])
ax.set(xlabel="log10(β / sd_S(r))", ylabel="fraction violating Huang (2024, Th. 2)",
       title="Huang's hypotheses hold: how often the conclusion fails")
plots.publish("fig-violation-rate", fig)

# %% [markdown]
# ```{glue:figure} fig-violation-rate
# :name: fig-violation-rate
# :alt: A line plot with markers: on the horizontal axis log10 of β over the reward's standard deviation, from −6 to 6; on the vertical axis the fraction of hypothesis-satisfying random instances that violate the conclusion of Huang (2024, Theorem 2), in bins of one decade.
#
# Among random instances that satisfy Huang's hypotheses, the fraction that violate the conclusion of Huang
# (2024, Theorem 2), against $\beta$ relative to the reward's spread on $S$ (bins of one decade). Parts 3 and
# 4 of {prf:ref}`thm-tpm-corrected` say where to look: for large $\beta$ the hypotheses imply the
# conclusion, for small $\beta$ the best strings decide.
# ```
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
# part 3 on the counterexample: β (TPM(A) − α) → α(1−α)(E_A r − E_U r)
big = np.geomspace(1e2, 1e6, 5)
lim = cx_alpha * (1 - cx_alpha) * (cx_pa @ cx_r - cx_pu @ cx_r)
scaled = np.array([b * mixture.tpm_gap(cx, cx_r, b) for b in big])

# %% tags=["hide-input"]
rec.figure("n-small-beta", "instances whose components' maximal rewards differ (part 4 applies)", n_small)
rec.check("small-beta-violations", "part 4: instances where TPM(A) is on the wrong side of α below β0",
          bad_small, equals=0, source=CORRECTED + ", part 4")
rec.figure("n-dominance", "instances where r under p_A first-order dominates r under p_U", n_dom)
rec.check("dominance-violations", "part 2: dominating instances with TPM(A) < α at some β of the grid",
          bad_dom, equals=0, source=CORRECTED + ", part 2")
rec.figure("large-beta-limit", "counterexample: α(1−α)(E_A r − E_U r), the limit of β(TPM(A) − α)", lim)
rec.check("large-beta-error", "counterexample: |β(TPM(A) − α) − limit| at β = 1e4", abs(scaled[2] - lim), below=1e-3)
rec.check("large-beta-error-shrinks", "counterexample: |β(TPM(A) − α) − limit| at β = 1e5 over the same at β = 1e3 "
          "(the error shrinks like 1/β)", abs(scaled[3] - lim) / abs(scaled[1] - lim), below=1)
display(pd.DataFrame({"β": big, "β (TPM(A) − α)": scaled}).style.format({"β": "{:.0e}", "β (TPM(A) − α)": "{:.6f}"})
        .hide(axis="index"))

# %% [markdown]
# Part 4 applies to {glue:text}`n-small-beta` instances and is never contradicted
# ({glue:text}`small-beta-violations`); {glue:text}`n-dominance` instances have dominance, with
# {glue:text}`dominance-violations` violations over the grid. On the counterexample,
# $\beta(\mathrm{TPM}(A) - \alpha)$ tends to $\alpha(1-\alpha)(\mathbb{E}_A r - \mathbb{E}_U r)$ =
# {glue:text}`large-beta-limit:.4f` (error {glue:text}`large-beta-error:.2g` at $\beta = 10^4$; the table
# above shows the approach).
#
# (ch02-assumptions)=
# ## Where the assumptions break
#
# Huang (2024, Lemma 1 and Theorem 2) use four conditions, of which the note states one ($r$ finite):
#
# * $0 < \alpha < 1$. At $\alpha = 1$: $p_{\mathrm{ref}} = p_A$, $\mathrm{TPM}(A) = 1$, so "$1 > \mathrm{TPM}(A)$"
#   and "$0 < \mathrm{TPM}(U)$" fail. At $\alpha = 0$: $\mathrm{TPM}(A) = 0 = \alpha$; the non-strict statement
#   holds trivially and the strict $\mathrm{TPM}(A) > \alpha$ of the proof fails.
# * $r > -\infty$ on $S$ (stated). A reward of $-\infty$ forbids strings: $w = 0$ there, and $p_\theta$ is
#   **truncated** to $S \cap \{r > -\infty\}$. If that removes all of $\mathrm{supp}\, p_U$, then
#   $\mathrm{TPM}(U) = 0$ and $\mathrm{TPM}(A) = 1$.
# * $Z < \infty$. A finite reward is not enough on infinitely many strings: with
#   $p_{\mathrm{ref}}(y_n) = 2^{-n}$ for the string $y_n$ of length $n$ (stop after each token with probability
#   $\tfrac12$) and the length reward $r(y_n) = n$, $Z = \sum_n e^{n(1/\beta - \log 2)} = \infty$ for
#   $\beta \le 1/\log 2$. Then the objective has no maximiser: the tilt restricted to the $N$ shortest strings,
#   $q_N$, has $J(q_N) = \mathbb{E}_{q_N}[r] - \beta\,\mathrm{KL}(q_N \Vert p_{\mathrm{ref}}) = \beta \log Z_N \to \infty$.
# * The optimum is over **all** distributions. A tuned model is the best member of its family; if the family
#   cannot represent $p_{\mathrm{ref}} e^{r/\beta}/Z$, {prf:ref}`lem-mixture` does not describe it. The
#   extreme case is a model that can only re-weight the two components, $q_\lambda = \lambda p_A + (1-\lambda) p_U$: $J(q_\lambda)$ is
#   concave in $\lambda$, and its slope at $\lambda = \alpha$ (where $q_\lambda = p_{\mathrm{ref}}$ and the KL term
#   is stationary) is $\mathbb{E}_A r - \mathbb{E}_U r$, so its best weight $\lambda^*$ exceeds $\alpha$ exactly when
#   $\mathbb{E}_A r > \mathbb{E}_U r$ — which Huang's hypotheses do imply. For this family the note's conclusion
#   holds; for the optimum over all distributions it does not.
#
# Finally, $\mathbb{E}_A w = \mathbb{E}_U w$ (e.g. $p_A = p_U$) gives $\mathrm{TPM}(A) = \alpha$ for that
# $\beta$ — equality.

# %%
edge = {}
for a in (0.0, 1.0):
    m = mixture.Mixture(cx.log_p_a, cx.log_p_u, a)
    edge[a] = mixture.log_tpm(m, cx_r, 1.0)
# r = -inf on the unaligned-only strings of the counterexample: truncation
forbidden = (cx_pa == 0) & (cx_pu > 0)
r_trunc = cx_r.copy()
r_trunc[forbidden] = -np.inf
lp_tr = align.gibbs(cx.log_p_ref, r_trunc, 1.0)
trunc_tpm = mixture.tpm(cx, r_trunc, 1.0)
# equal components
same = mixture.Mixture(cx.log_p_a, cx.log_p_a, 0.3)
eq_err = max(abs(mixture.tpm(same, cx_r, b)[0] - 0.3) for b in np.geomspace(0.01, 100, n_betas))

# %% tags=["hide-input"]
# a factor log(1 − α) or log α of −∞ multiplies every term: exactly 0 by construction, reported, not checked
rec.figure("alpha1-tpm-u", "α = 1: TPM(U), exactly 0 (so TPM(A) = 1 and '1 > TPM(A)', '0 < TPM(U)' fail)",
           np.exp(edge[1.0][1]), source=HUANG2)
rec.figure("alpha0-tpm-a", "α = 0: TPM(A), exactly 0 = α (no strict increase possible)", np.exp(edge[0.0][0]),
           source=HUANG2)
rec.check("trunc-n-removed", "r = −∞ on the strings only p_U produces: strings of supp p_ref with p_θ = 0",
          int(np.sum(cx.support & (lp_tr == -np.inf))), equals=int(forbidden.sum()))
# every string of supp p_U now has e^{r/β} = 0: exactly 0 by construction, reported, not checked
rec.figure("trunc-tpm-u", "with r = −∞ on supp p_U: TPM(U), exactly 0, so '0 < TPM(U)' fails", trunc_tpm[1],
           source=HUANG2)
_ = rec.check("equal-components-error", "p_A = p_U: max over β of |TPM(A) − α|, at rounding level (equality)",
              eq_err, at_most=1e-12)


# %%
def truncated_tilt_objective(n_keep, beta):
    """J(q_N) = E_{q_N}[r] − β KL(q_N ‖ p_ref) for q_N ∝ p_ref e^{r/β} on the N
    shortest strings, with p_ref(y_n) = 2^{−n} and r(y_n) = n. The longer strings,
    where q_N = 0, are lumped into one (the KL does not see how p_ref spreads its
    mass there), whose reward −∞ keeps q_N off it."""
    n = np.arange(1, n_keep + 1)
    log_p = np.append(-n * np.log(2), -n_keep * np.log(2))
    r = np.append(n.astype(float), -np.inf)
    return align.objective(align.gibbs(log_p, r, beta), log_p, r, beta)


z_beta = 1.0  # below 1/log 2, so Z = Σ_n 2^{−n} e^{n/β} = ∞
z_objective = {n_keep: truncated_tilt_objective(n_keep, z_beta)
               for n_keep in (10, 100, 1000)}


# %%
def reweighting_objective(lam):
    """J(q_λ) = E_{q_λ}[r] − β KL(q_λ ‖ p_ref) for q_λ = λ p_A + (1 − λ) p_U: the
    counterexample at β = cx_beta, tuned by a model that can only re-weight the
    two components."""
    q = mixture.Mixture(cx.log_p_a, cx.log_p_u, lam).log_p_ref
    return align.objective(q, cx.log_p_ref, cx_r, cx_beta)


lam_star = minimize_scalar(lambda lam: -reweighting_objective(lam), bounds=(0.0, 1.0),
                           method="bounded", options={"xatol": 1e-10}).x
cx_log_theta = align.gibbs(cx.log_p_ref, cx_r, cx_beta)
j_gibbs = align.objective(cx_log_theta, cx.log_p_ref, cx_r, cx_beta)
q_star = mixture.Mixture(cx.log_p_a, cx.log_p_u, lam_star).log_p_ref

# %% tags=["hide-input"]
rec.figure("z-beta", "p_ref(y_n) = 2^−n, r(y_n) = n: the β of the example (below 1/log 2, so Z = ∞)", z_beta)
for n_keep, j in z_objective.items():
    rec.figure(f"z-objective-n{n_keep}", f"p_ref(y_n) = 2^−n, r(y_n) = n, β = {z_beta:g}: J(q_N) for N = {n_keep}", j)
rec.check("z-objective-growth", "the same: J(q_1000) − J(q_100), positive (the objective has no maximiser)",
          z_objective[1000] - z_objective[100], above=0, source="Huang 2024, Lemma 1 (Z < ∞ unstated)")
rec.figure("z-objective-slope", "the same: (J(q_1000) − J(q_100))/900, against 1 − β log 2",
           (z_objective[1000] - z_objective[100]) / 900)
rec.figure("realis-lambda-star", f"counterexample at β = {cx_beta:g}: the best weight λ* of q_λ = λ p_A + (1−λ) p_U",
           lam_star)
rec.check("realis-lambda-above-alpha", "the same: λ* − α, positive because E_A r > E_U r", lam_star - cx_alpha,
          above=0, source="Huang 2024, Theorem 2 (realisability)")
rec.check("realis-objective-gap", "the same: J(p_θ) − J(q_λ*), positive (the family does not contain p_θ)",
          j_gibbs - reweighting_objective(lam_star), above=0, source="Huang 2024, Lemma 1 (realisability)")
_ = rec.figure("realis-max-diff", "the same: max_y |q_λ*(y) − p_θ(y)|",
               np.max(np.abs(np.exp(q_star) - np.exp(cx_log_theta))))

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

# %% tags=["hide-input"]
rec.figure("trunc-random-n", "random instances with r = −∞ on a random nonempty part of S", n_tr)
rec.check("trunc-random-support-errors", "of those, instances where supp p_θ ≠ S ∩ {r > −∞}", bad_tr, equals=0)
_ = rec.figure("trunc-random-tpm-u-zero", "of those, instances where the truncation removes all of supp p_U "
               "(TPM(U) = 0)", n_tr_u0)

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
# With the length reward and $\beta$ = {glue:text}`z-beta:g`, the tilt on the 10, 100 and 1000 shortest strings reaches
# $J$ = {glue:text}`z-objective-n10:.2f`, {glue:text}`z-objective-n100:.2f` and
# {glue:text}`z-objective-n1000:.1f`, growing by {glue:text}`z-objective-slope:.4f` per string
# ($1 - \beta\log 2$): no distribution attains the supremum, and there is no $p_\theta$ to decompose.
# On the counterexample at $\beta$ = {glue:text}`cx-beta:g`, the best re-weighting of the components has
# $\lambda^*$ = {glue:text}`realis-lambda-star:.7f` $> \alpha$, while the optimum over all distributions has
# $\mathrm{TPM}(A)$ = {glue:text}`cx-tpm-a:.3g` $< \alpha$; the two differ by up to
# {glue:text}`realis-max-diff:.3f` on a string, and the family's best objective is
# {glue:text}`realis-objective-gap:.3f` below the optimum.
#
# (ch02-smallest-ratio)=
# ## Shrinks, not truncates
#
# For finite $r$, on $S$,
#
# $$
# \frac{p_\theta(y)}{p_{\mathrm{ref}}(y)} = \frac{e^{r(y)/\beta}}{Z}
# \in \Big[\frac{e^{\min_S r/\beta}}{Z},\ \frac{e^{\max_S r/\beta}}{Z}\Big],
# $$
#
# so $\mathrm{supp}\, p_\theta = S$: every output the reference could produce, including those only the
# unaligned component produces, keeps at least the fraction $e^{\min_S r/\beta}/Z$ of its probability. That
# fraction can be astronomically small — finite is not large — and a number format has a smallest positive
# value, {glue:text}`float64-smallest:.2g` for float64 and {glue:text}`bfloat16-smallest:.2g` for bfloat16
# (the format most language models run in); a probability or ratio below half of it is stored as 0.

# %%
def to_bfloat16(x):
    """x rounded to bfloat16 and back. A bfloat16 is the upper half of a float32
    (same exponent range, 7 stored mantissa bits), so round the float32's bit
    pattern to its upper 16 bits, to nearest, ties to even."""
    x32 = np.asarray(x, np.float64).astype(np.float32)
    bits = x32.view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


# log10 of min_S p_θ/p_ref = (min_S r/β − log Z)/log 10, and the ratio itself in float64
log10_ratio = np.array([mixture.support_ratio_bounds(inst.mix, inst.r, inst.beta)[0]
                        for inst in instances]) / np.log(10)
smallest_ratio = 10.0 ** log10_ratio
zero_in = {"float64": int((smallest_ratio == 0).sum()),
           "bfloat16": int((to_bfloat16(smallest_ratio) == 0).sum())}
# the smallest positive (subnormal) numbers of the two formats
tiny = {"float64": np.finfo(np.float64).smallest_subnormal,
        "bfloat16": to_bfloat16(2.0 ** (np.finfo(np.float32).minexp - 7))}

# %% tags=["hide-input"]
rec.check("support-equal", "random instances with finite r where supp p_θ = supp p_ref (all of them)",
          int(df.same_support.sum()), equals=n_instances, source="Huang 2024, §1.4")
rec.check("ratio-formula-error", "max over instances of the error of min/max log p_θ/p_ref against (min_S r or "
          "max_S r)/β − log Z (relative to 1 + max|r|/β)", df.ratio_err.max(), at_most=1e-12)
rec.figure("ratio-min-log10", "log10 of the smallest ratio min_S p_θ/p_ref over all random instances",
           log10_ratio.min(), source="Huang 2024, §1.4")
rec.figure("ratio-median-log10", "median over the instances of log10 min_S p_θ/p_ref", np.median(log10_ratio))
rec.figure("float64-smallest", "the smallest positive float64 number (subnormal)", tiny["float64"])
rec.figure("bfloat16-smallest", "the smallest positive bfloat16 number (subnormal)", tiny["bfloat16"])
rec.figure("ratio-zero-float64", "instances whose smallest ratio p_θ/p_ref rounds to 0 in float64",
           zero_in["float64"], source="Huang 2024, §1.4")
_ = rec.figure("ratio-zero-bfloat16", "instances whose smallest ratio p_θ/p_ref rounds to 0 in bfloat16",
               zero_in["bfloat16"], source="Huang 2024, §1.4")

# %% [markdown]
# On all instances $\mathrm{supp}\, p_\theta = \mathrm{supp}\, p_{\mathrm{ref}}$ ({glue:text}`support-equal`
# of {glue:text}`param-n_instances`), and the extreme ratios match the formula (error
# {glue:text}`ratio-formula-error:.2g`). The smallest ratio over the instances is
# $10^{x}$ with $x$ = {glue:text}`ratio-min-log10:,.0f` (median over instances: $x$ =
# {glue:text}`ratio-median-log10:.2f`). Stored as a number rather than as its logarithm, the smallest ratio
# is exactly 0 on {glue:text}`ratio-zero-float64` of the {glue:text}`param-n_instances` instances in
# float64 and on {glue:text}`ratio-zero-bfloat16` in bfloat16. This chapter computes in log space, where
# nothing is lost; a program that multiplies probabilities truncates what the mathematics only shrinks. (A
# language model stores next-token probabilities, each far larger than a whole string's, so what a
# sampler can still reach is decided token by token; the per-string figures bound what any format can
# represent.)
#
# ## Prompts dominated by the unaligned component
#
# Huang's informal worry (§1.4): for a prompt whose reference distribution is mostly unaligned
# ($\alpha$ small), tuning shrinks the unaligned component but may leave it dominant.
# {prf:ref}`thm-tpm-corrected` makes this exact in odds form:
#
# $$
# \begin{aligned}
# \frac{\mathrm{TPM}(U)}{\mathrm{TPM}(A)}
# &= \frac{1-\alpha}{\alpha}\cdot\frac{\mathbb{E}_U[e^{r/\beta}]}{\mathbb{E}_A[e^{r/\beta}]},\\
# \operatorname{logit}\mathrm{TPM}(U) &= \operatorname{logit}(1-\alpha) - \log\rho(\beta),\qquad
# \rho(\beta) = \frac{\mathbb{E}_A[e^{r/\beta}]}{\mathbb{E}_U[e^{r/\beta}]}.
# \end{aligned}
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
rho_toy = np.exp(-mixture.log_odds_shift(toy, r_toy, beta_toy))
tpm_toy = mixture.tpm(toy, r_toy, beta_toy)

# %% tags=["hide-input"]
rec.check("odds-identity-error", "toy: max |TPM(U) − expit(logit(1−α) + log E_U w − log E_A w)| over α and β",
          odds_err, at_most=mixture.tolerance(toy, r_toy, betas.min()))
rec.figure("toy-rho", "toy at β = beta_toy: ρ = E_A[e^{r/β}] / E_U[e^{r/β}]", rho_toy)
rec.figure("toy-dominant-threshold", "toy at β = beta_toy: TPM(U) > 1/2 exactly when 1 − α exceeds ρ/(1+ρ)",
           rho_toy / (1 + rho_toy))
rec.figure("toy-tpm-u", "toy at α = alpha_toy, β = beta_toy: TPM(U) after tuning", tpm_toy[1])
_ = rec.figure("toy-size", "toy: number of strings", space.size)

# %% tags=["hide-input"]
show = curves[curves.beta.isin(betas[np.linspace(0, len(betas) - 1, 5).round().astype(int)])].copy()
show["β"] = show.beta.map(lambda b: f"{b:.3g}")
order = sorted(show["β"].unique(), key=float)
fig, ax = plt.subplots()
sns.lineplot(data=show, x="one_minus_alpha", y="tpm_u", hue="β", hue_order=order, ax=ax,
             palette=sns.color_palette("colorblind", len(order)))
ax.plot([0, 1], [0, 1], ls="--", color="grey", label="no tuning")
ax.axhline(0.5, color="grey", lw=0.7)
ax.set(xlabel="1 − α (unaligned weight before tuning)", ylabel="TPM(U) after tuning",
       title="Unaligned mass after tuning")
ax.legend(title="β", fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
plots.publish("fig-unaligned-odds", fig)

# %% [markdown]
# ```{glue:figure} fig-unaligned-odds
# :name: fig-unaligned-odds
# :alt: Several increasing curves from (0, 0) to (1, 1), one per value of β, showing the unaligned mass after tuning against the unaligned weight 1 − α before tuning; a dashed grey diagonal marks no tuning and a thin grey horizontal line marks one half.
#
# Unaligned mass after tuning against the unaligned weight before tuning, on the string-space toy
# ({glue:text}`toy-size` strings), for several $\beta$ (colour). Each curve is the diagonal (dashed) with
# its log-odds shifted by $-\log\rho(\beta)$; where it crosses the thin line at one half, the tuned model
# stops being mostly unaligned.
# ```
#
# At $\beta$ = {glue:text}`param-beta_toy:g`, $\rho$ = {glue:text}`toy-rho:.3g`: the tuned model is still
# mostly unaligned for every prompt with $1 - \alpha >$ {glue:text}`toy-dominant-threshold:.3f`; at
# $\alpha$ = {glue:text}`param-alpha_toy:g` it has $\mathrm{TPM}(U)$ = {glue:text}`toy-tpm-u:.3f`. The odds
# identity holds to {glue:text}`odds-identity-error:.2g` ({numref}`fig-unaligned-odds`).
#
# (ch02-contrast)=
# ## Contrastive logits
#
# The note ends with `logits = α·logits_θ − β·logits_ref`. Since $\alpha$ and $\beta$ already name the
# mixture weight and the KL coefficient, write the coefficients $a, b$, and mostly $a = 1+\gamma$,
# $b = \gamma$ ("amplify what tuning changed"), $\gamma \ge 0$. For any distribution $q$ with
# $\mathrm{supp}\, q \subseteq S$, its *unaligned mass* is the mass the reference attributes to $p_U$,
# $\mathrm{mass}_U(q) = \sum_y q(y)\,(1-\alpha)\,p_U(y)/p_{\mathrm{ref}}(y)$: it is $1 - \alpha$ for
# $p_{\mathrm{ref}}$ and $\mathrm{TPM}(U)$ for $p_\theta$.
#
# **At the sequence level**, $q_c(y) \propto p_\theta(y)^a\, p_{\mathrm{ref}}(y)^{-b}$ on $S$. With
# $p_\theta = p_{\mathrm{ref}} e^{r/\beta}/Z$,
#
# $$
# q_c(y) \propto p_{\mathrm{ref}}(y)^{a-b}\, e^{a\, r(y)/\beta},
# $$
#
# so for $a - b = 1$ it is exactly the Gibbs tilt at $\beta/a$: a stronger alignment, with the same
# support (no truncation), whose unaligned mass is $\mathrm{TPM}(U)$ at $\beta' = \beta/(1+\gamma)$. For
# $a - b \ne 1$ the reference is also tempered by $p_{\mathrm{ref}}^{a-b-1}$. Is that unaligned mass smaller
# than the tuned model's? The answer is a comparison of $\rho$ at the two temperatures, not the corrected
# condition $\rho \ge 1$; write $\mathrm{TPM}_b(U)$ for the unaligned mass of the tilt at $b$.
#
# ```{prf:proposition} Contrast and unaligned mass
# :label: prop-contrast-mass
#
# Let $0 < \alpha < 1$, $\beta > 0$, $\gamma > 0$, $r$ finite on $S$ and $\beta' = \beta/(1+\gamma)$. Then
#
# $$
# \operatorname{logit}\mathrm{TPM}_{\beta'}(U) - \operatorname{logit}\mathrm{TPM}_{\beta}(U)
# = -\big(\log\rho(\beta') - \log\rho(\beta)\big),
# $$
#
# so $\mathrm{TPM}_{\beta'}(U) < \mathrm{TPM}_{\beta}(U)$ if and only if $\rho(\beta') > \rho(\beta)$, whatever
# $\alpha$ is (and equality iff $\rho(\beta') = \rho(\beta)$). Moreover, with $t = 1/b$ the inverse
# temperature and $\mathbb{E}_{X,t}$ the expectation under the tilted component
# $p_X e^{tr}/\mathbb{E}_X[e^{tr}]$,
#
# $$
# \log\rho(\beta') - \log\rho(\beta)
# = \int_{1/\beta}^{(1+\gamma)/\beta} \big(\mathbb{E}_{A,t}[r] - \mathbb{E}_{U,t}[r]\big)\,dt,
# $$
#
# so it suffices that the tilted aligned component has at least the tilted unaligned component's mean
# reward at every $t$ in between.
# ```
#
# ```{prf:proof}
# By the odds form above, $\operatorname{logit}\mathrm{TPM}_b(U) = \operatorname{logit}(1-\alpha) - \log\rho(b)$
# for every $b > 0$; subtract its values at $\beta'$ and $\beta$, and use that the logit is increasing. For the
# integral, $\log\rho(1/t) = \log\mathbb{E}_A[e^{tr}] - \log\mathbb{E}_U[e^{tr}]$ and
# $\frac{d}{dt}\log\mathbb{E}_X[e^{tr}] = \mathbb{E}_X[r e^{tr}]/\mathbb{E}_X[e^{tr}] = \mathbb{E}_{X,t}[r]$.
# ```
#
# The corrected condition "$\rho(b) \ge 1$ for every $b$ between $\beta'$ and $\beta$" is therefore neither
# necessary nor sufficient: $\rho$ may stay below 1 and still grow, or stay above 1 and shrink. We check the
# proposition on every random instance for every $\gamma > 0$ of the grid, comparing $\mathrm{TPM}_b(U)$ (from
# the terms of {prf:ref}`lem-mixture`) with $\rho(b)$ (from the two tilted expectations), and count how
# often the corrected condition along the way gets the direction wrong (checked at {glue:text}`param-n_betas` geometrically
# spaced values of $b$ from the smallest $\beta'$ to $\beta$, and at every $\beta'$).

# %%
g_pos = np.array([g for g in gammas if g > 0])


def contrast_pairs(k, inst):
    """One row per γ > 0: logit TPM(U) and log ρ at β and at β' = β/(1+γ),
    and the range of ρ on the way between."""
    mix, r, beta = inst.mix, inst.r, inst.beta
    ends = beta / (1 + np.append(0.0, g_pos))    # β, then each β'
    # b from the smallest β' up to β, and every β'
    way = np.union1d(ends, np.geomspace(ends[-1], beta, n_betas))
    # the lemma's terms at every b: logit TPM_b(U), and log ρ(b) by the odds form
    la, lu = mixture.log_tpm_curve(mix, r, np.concatenate([ends, way]))
    logit_u = (lu - la)[: ends.size]
    log_odds_alpha = np.log(mix.alpha / (1 - mix.alpha))
    log_rho_way = (la - lu)[ends.size:] - log_odds_alpha
    # ρ at β and at each β' by the other route: the two tilted expectations
    log_rho = np.array([np.subtract(*mixture.log_tilted_expectations(mix, r, b))
                        for b in ends])
    t = 2 * mixture.tolerance(mix, r, ends[-1])
    out = []
    for j, g in enumerate(g_pos, start=1):
        on = log_rho_way[way >= ends[j] * (1 - 1e-12)]
        out.append(dict(
            k=k, gamma=g, alpha=mix.alpha, beta=beta, t=t,
            d_logit=logit_u[j] - logit_u[0], d_rho=log_rho[j] - log_rho[0],
            tpm_u=np.exp(lu[0]), tpm_u_c=np.exp(lu[j]),
            log_rho=log_rho[0], log_rho_c=log_rho[j],
            log_rho_min=on.min(), log_rho_max=on.max(),
            fails=on.min() < -t, fails_all=on.max() < -t))
    return out


contrast = pd.DataFrame([row for k, inst in enumerate(instances)
                         for row in contrast_pairs(k, inst)])

# %%
# TPM(U) clearly down / up from β to β'
falls = contrast.d_logit < -contrast.t
rises = contrast.d_logit > contrast.t
# the proposition: TPM(U) falls iff ρ rises; count the pairs where both move the same way
wrong = (falls & (contrast.d_rho <= 0)) | (rises & (contrast.d_rho >= 0))
# a counterexample to "smaller only when ρ ≥ 1 along the way": ρ < 1 somewhere on
# the way (everywhere, if some pair has that), and the largest fall of TPM(U)
cx2 = (contrast[falls & contrast.fails]
       .assign(fall=lambda d: d.tpm_u - d.tpm_u_c)
       .sort_values(["fails_all", "fall"], ascending=False).iloc[0])

# %% tags=["hide-input"]
PROP = "this chapter, the proposition prop-contrast-mass"
rec.figure("contrast-n-cases", "pairs (random instance, γ > 0 of the grid) of the contrast check", len(contrast))
rec.figure("contrast-n-falls", "of those, pairs where TPM(U) at β/(1+γ) is below TPM(U) at β (beyond tolerance)",
           int(falls.sum()))
rec.check("contrast-disagreements", "pairs where TPM(U) at β/(1+γ) vs at β (beyond tolerance) moves the same way "
          "as ρ = E_A[e^{r/b}]/E_U[e^{r/b}], against the proposition", int(wrong.sum()), equals=0, source=PROP)
rec.figure("contrast-text-falls-fails", "pairs where TPM(U) falls although ρ < 1 somewhere between β/(1+γ) and β",
           int((falls & contrast.fails).sum()), source=PROP)
rec.figure("contrast-text-rises-holds", "pairs where TPM(U) rises although ρ ≥ 1 all the way between β/(1+γ) and β",
           int((rises & ~contrast.fails).sum()), source=PROP)
rec.figure("contrast-cx-instance", "counterexample: index of the random instance (largest fall of TPM(U) among "
           "pairs where ρ < 1 all the way, if any, else somewhere on the way)", int(cx2.k))
rec.figure("contrast-cx-gamma", "counterexample: γ", cx2.gamma)
rec.figure("contrast-cx-alpha", "counterexample: α", cx2.alpha)
rec.figure("contrast-cx-beta", "counterexample: β", cx2.beta)
rec.figure("contrast-cx-tpm-u", "counterexample: TPM(U) at β", cx2.tpm_u)
rec.figure("contrast-cx-tpm-u-contrast", "counterexample: TPM(U) at β/(1+γ)", cx2.tpm_u_c)
rec.check("contrast-cx-drop", "counterexample: TPM(U) at β minus TPM(U) at β/(1+γ), positive", cx2["fall"], above=0)
rec.check("contrast-cx-rho-min", "counterexample: smallest ρ on the grid from β/(1+γ) to β, below 1 (the corrected "
          "condition fails there)", np.exp(cx2.log_rho_min), below=1)
rec.figure("contrast-cx-rho-max", "counterexample: largest ρ on the grid from β/(1+γ) to β", np.exp(cx2.log_rho_max))
rec.figure("contrast-cx-rho", "counterexample: ρ at β", np.exp(cx2.log_rho))
rec.figure("contrast-cx-rho-contrast", "counterexample: ρ at β/(1+γ)", np.exp(cx2.log_rho_c))
_ = rec.check("contrast-cx-log-rho-rise", "counterexample: log ρ(β/(1+γ)) − log ρ(β), positive as the proposition "
              "requires", cx2.log_rho_c - cx2.log_rho, above=0, source=PROP)

# %% [markdown]
# Over {glue:text}`contrast-n-cases` pairs (instance, $\gamma$), the unaligned mass at $\beta/(1+\gamma)$ is
# smaller than at $\beta$ in {glue:text}`contrast-n-falls`, and the direction of $\rho$ decides it every time
# ({glue:text}`contrast-disagreements` disagreements with {prf:ref}`prop-contrast-mass`). The corrected
# condition along the way gets it wrong in both directions: in {glue:text}`contrast-text-falls-fails` pairs
# $\mathrm{TPM}(U)$ falls although $\rho < 1$ somewhere on the way, and in
# {glue:text}`contrast-text-rises-holds` it rises although $\rho \ge 1$ all the way. The largest such fall:
# random instance {glue:text}`contrast-cx-instance` with $\alpha$ = {glue:text}`contrast-cx-alpha:.3f`,
# $\beta$ = {glue:text}`contrast-cx-beta:.3g` and $\gamma$ = {glue:text}`contrast-cx-gamma:g`, where
# $\rho$ lies between {glue:text}`contrast-cx-rho-min:.3f` and {glue:text}`contrast-cx-rho-max:.3f` on the way
# (from {glue:text}`contrast-cx-rho:.3f` at $\beta$ to {glue:text}`contrast-cx-rho-contrast:.3f` at
# $\beta/(1+\gamma)$), and $\mathrm{TPM}(U)$ falls from {glue:text}`contrast-cx-tpm-u:.3f` to
# {glue:text}`contrast-cx-tpm-u-contrast:.3f`.
#
# **Token by token** (what a decoder does), at each prefix $h$,
# $c(v \mid h) = \mathrm{softmax}_v\big(a \log p_\theta(v \mid h) - b \log p_{\mathrm{ref}}(v \mid h)\big)$, and
# $Q(y) = \prod_t c(y_t \mid y_{<t})\, c(\mathrm{EOS} \mid y)$. The tuned model's next-token distributions
# come from its prefix marginals: with $V_\beta(h) = \mathbb{E}_{p_{\mathrm{ref}}}[e^{r/\beta} \mid \text{prefix } h]$
# (and $V_\beta(h\cdot\mathrm{EOS}) = e^{r(h)/\beta}$), $p_\theta(v \mid h) = p_{\mathrm{ref}}(v \mid h)\,V_\beta(hv)/V_\beta(h)$, so
#
# $$
# \begin{aligned}
# c(v \mid h) &\propto p_{\mathrm{ref}}(v \mid h)^{a-b}\, V_\beta(hv)^{a}
# \quad\text{whereas}\quad q_c(v \mid h) = \frac{W(hv)}{W(h)},\\
# W(h) &= \sum_{y \text{ starts with } h} p_{\mathrm{ref}}(y)^{a-b}\, e^{a\, r(y)/\beta}.
# \end{aligned}
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
tv0 = it.tvd(decoding.contrastive_tokenwise(space, lp_theta_toy, lp_ref_toy, 1.0, 0.0), lp_theta_toy)
component_u_ref = mixture.component_mass(toy, lp_ref_toy)[1]     # = 1 − α
component_u_theta = mixture.component_mass(toy, lp_theta_toy)[1]  # = TPM(U)

# %% tags=["hide-input"]
rec.check("prefix-factorisation-error", "toy: the next-token table from prefix marginals reproduces p_ref (max abs "
          "error)", ar_err, at_most=tol_toy)
rec.check("contrastive-seq-gibbs-error", "sequence level, a = 1+γ, b = γ: max |q_c − Gibbs(p_ref, r, β/(1+γ))| over γ",
          seq_err, at_most=tol_toy, source="Huang 2024, §1.4 (last line)")
rec.check("contrastive-seq-general-error", "sequence level, any a, b: max |q_c − normalize(p_ref^{a−b} e^{a r/β})|",
          gen_err, at_most=tol_toy, source="Huang 2024, §1.4 (last line)")
rec.check("contrastive-tok-formula-error", "token level: max |c(v|h) − softmax(log p_ref(v|h) + a log V_β(hv))|",
          formula_err, at_most=tol_toy)
rec.check("contrastive-tok-gamma0-tvd", "token level at γ = 0 (a = 1, b = 0): TV distance to p_θ",
          tv0, at_most=tol_toy * space.size)
rec.check("contrastive-support", "values of γ where supp Q_token = supp q_seq = supp p_ref (no truncation; all of them)",
          int(cg.same_support.sum()), equals=len(gammas))
rec.figure("contrastive-max-tvd", "max over γ of TV(Q_token, q_seq)", cg.tvd.max())
rec.figure("contrastive-max-tvd-gamma", "the γ of the grid where TV(Q_token, q_seq) is largest",
           cg.gamma[cg.tvd.idxmax()])
_ = rec.figure("contrastive-gamma-max", "largest γ of the grid", cg.gamma.max())

# %% tags=["hide-input"]
last = cg.iloc[-1]
rec.figure("unaligned-ref", "toy: unaligned mass of p_ref (= 1 − α)", component_u_ref)
rec.figure("unaligned-theta", "toy: unaligned mass of p_θ (= TPM(U))", component_u_theta)
rec.figure("unaligned-seq-last", "toy: unaligned mass of the sequence-level contrastive model at the largest γ",
           float(last.unaligned_seq))
rec.figure("unaligned-tok-last", "toy: unaligned mass of the token-level contrastive model at the largest γ",
           float(last.unaligned_tok))
for level in ("seq", "tok"):
    rec.figure(f"contrast-{level}-direction", f"toy: does the {level}-level contrast at the largest γ lower or raise "
               "the unaligned mass of p_θ?", "lowers" if last[f"unaligned_{level}"] < component_u_theta else "raises")
display(cg[["gamma", "tvd", "kl_tok_seq", "unaligned_seq", "unaligned_tok", "reward_seq", "reward_tok"]]
        .rename(columns={"gamma": "γ", "tvd": "TV", "kl_tok_seq": "KL(tok‖seq)", "unaligned_seq": "mass_U seq",
                         "unaligned_tok": "mass_U tok", "reward_seq": "E r seq", "reward_tok": "E r tok"})
        .style.format("{:.4f}").hide(axis="index"))

# %% tags=["hide-input"]
long = cg.melt(id_vars="gamma", value_vars=["unaligned_seq", "unaligned_tok"], var_name="level", value_name="mass")
long["level"] = long.level.map({"unaligned_seq": "sequence level (Gibbs at β/(1+γ))", "unaligned_tok": "token by token"})
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
sns.lineplot(data=long, x="gamma", y="mass", hue="level", marker="o", ax=axes[0],
             palette=[plots.ROLE["prior"], plots.ROLE["unaligned_component"]])
axes[0].axhline(component_u_ref, ls="--", color=plots.ROLE["reference"], label="p_ref (1 − α)")
axes[0].set(xlabel="γ", ylabel="unaligned mass", title="Unaligned mass under contrastive logits")
axes[0].legend(fontsize="small")
sns.lineplot(data=cg, x="gamma", y="tvd", marker="o", ax=axes[1], color=plots.ROLE["other"])
axes[1].set(xlabel="γ", ylabel="TV(token level, sequence level)", title="Local vs global normalisation")
plots.publish("fig-contrastive", fig)

# %% [markdown]
# ```{glue:figure} fig-contrastive
# :name: fig-contrastive
# :alt: Two line plots against γ. Left: the unaligned mass of the sequence-level and of the token-level contrastive distributions, with a dashed line at the reference's unaligned weight. Right: the total variation distance between the token-level and the sequence-level distributions.
#
# Contrastive logits $(1+\gamma)\log p_\theta - \gamma \log p_{\mathrm{ref}}$ on the toy. Left: the unaligned
# mass of the sequence-level distribution (the Gibbs tilt at $\beta/(1+\gamma)$) and of the token-by-token
# decoder, against the reference's $1 - \alpha$ (dashed); neither is 0, since neither truncates. Right: how
# far the decoder is from the sequence-level distribution in total variation; the two coincide at
# $\gamma = 0$.
# ```
#
# The next-token tables built from prefix marginals reproduce $p_{\mathrm{ref}}$ to
# {glue:text}`prefix-factorisation-error:.2g`, and at $\gamma = 0$ the token-level decoder is $p_\theta$ itself
# (TV {glue:text}`contrastive-tok-gamma0-tvd:.2g`).
# The sequence-level identity holds to {glue:text}`contrastive-seq-gibbs-error:.2g` (and, for general
# $a, b$, to {glue:text}`contrastive-seq-general-error:.2g`); the token-level rule matches
# $p_{\mathrm{ref}}(v\mid h)\,V_\beta(hv)^a$ to {glue:text}`contrastive-tok-formula-error:.2g`. The token-level
# decoder differs from the sequence-level distribution by up to {glue:text}`contrastive-max-tvd:.3f` in
# total variation over the grid (at $\gamma$ = {glue:text}`contrastive-max-tvd-gamma:g`;
# {numref}`fig-contrastive` and the table above, where $\mathrm{mass}_U$ is the unaligned mass and $\mathrm{E}\,r$
# the expected reward). On this toy the unaligned mass goes from {glue:text}`unaligned-ref:.3f`
# ($p_{\mathrm{ref}}$) to {glue:text}`unaligned-theta:.3f` ($p_\theta$), and at $\gamma$ =
# {glue:text}`contrastive-gamma-max:g` to {glue:text}`unaligned-seq-last:.3f` (sequence level: the contrast
# {glue:text}`contrast-seq-direction` it) and {glue:text}`unaligned-tok-last:.3f` (token level: the decoder
# {glue:text}`contrast-tok-direction` it). Both keep every string of $S$ (at all
# {glue:text}`contrastive-support` values of $\gamma$): contrastive decoding changes how much is shrunk, but
# does not truncate either.
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
# Huang's proof measures correlations over the uniform distribution on $\mathrm{supp}\,p_\theta$ "WLOG".
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
# {glue:text}`ex-c-tpm-u-contrast:.3f` $> 1 - \alpha$. By {prf:ref}`prop-contrast-mass`, whether stronger tuning
# helps depends on whether $\rho(\beta/a) > \rho(\beta)$, not on $\rho(\beta) \ge 1$: here
# $\rho(\beta/a) < 1 \le \rho(\beta)$.
# ```

# %%
ex_beta, ex_gamma = 0.6, 2.0
ex_tpm_theta = mixture.tpm(cx, cx_r, ex_beta)[1]
q_ex = decoding.contrastive_sequence(align.gibbs(cx.log_p_ref, cx_r, ex_beta), cx.log_p_ref, 1 + ex_gamma, ex_gamma)
ex_tpm_c = mixture.component_mass(cx, q_ex)[1]
z_reward = 10.0
z_r = np.append(cx_r, z_reward)

# %% tags=["hide-input"]
rec.figure("ex-c-beta", "exercise: β of the example", ex_beta)
rec.figure("ex-c-gamma", "exercise: γ of the example", ex_gamma)
rec.figure("ex-c-beta-a", "exercise: β/(1+γ)", ex_beta / (1 + ex_gamma))
rec.check("ex-c-tpm-u-theta", f"exercise: counterexample at β = {ex_beta:g}: TPM(U), at most 1 − α", ex_tpm_theta,
          at_most=1 - cx_alpha)
rec.check("ex-c-tpm-u-contrast", f"exercise: unaligned mass of its contrastive distribution (γ = {ex_gamma:g}), "
          "above 1 − α", ex_tpm_c, above=1 - cx_alpha)
rec.figure("ex-u-mean-r", f"exercise: uniform mean of r over the counterexample's strings plus z (r(z) = {z_reward:g})",
           z_r.mean())
rec.figure("ex-u-mean-a", "exercise: E_A r in the counterexample", cx_pa @ cx_r)
_ = rec.figure("ex-u-rz", "exercise: r(z)", z_reward)

# %% [markdown]
# ## Summary
#
# * Huang (2024, Lemma 1) is exact algebra once its unstated assumptions hold (optimum over all
#   distributions, $Z < \infty$): on {glue:text}`param-n_instances` random instances it holds to
#   {glue:text}`lemma1-max-error-units:.3g` rounding units.
# * Huang (2024, Theorem 2) is false as stated: in a four-string counterexample that meets its hypotheses,
#   $\mathrm{TPM}(A)$ = {glue:text}`cx-tpm-a:.3g` $< \alpha$ = {glue:text}`cx-alpha:g`, and
#   {glue:text}`n-hyp-violations` of the {glue:text}`n-hyp` random instances that meet them violate it.
# * $\mathrm{TPM}(A) \ge \alpha$ if and only if $\mathbb{E}_A[e^{r/\beta}] \ge \mathbb{E}_U[e^{r/\beta}]$
#   ({prf:ref}`thm-tpm-corrected`; {glue:text}`corrected-iff-disagreements` disagreements on the random
#   instances).
# * Tuning shrinks but does not truncate (same support on {glue:text}`support-equal` instances), yet the
#   shrinking factor reaches $10^{x}$, $x$ = {glue:text}`ratio-min-log10:,.0f`, and rounds to 0 on
#   {glue:text}`ratio-zero-float64` instances in float64 and {glue:text}`ratio-zero-bfloat16` in bfloat16.
# * Sequence-level contrastive logits are the Gibbs tilt at $\beta/(1+\gamma)$; they lower the unaligned mass
#   exactly when $\rho$ grows from $\beta$ to $\beta/(1+\gamma)$ ({prf:ref}`prop-contrast-mass`,
#   {glue:text}`contrast-disagreements` disagreements in {glue:text}`contrast-n-cases` pairs); token by token
#   they differ from it by up to {glue:text}`contrastive-max-tvd:.3f` in total variation on the toy.
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-02>`; when, at which
# profile and for how long each chapter last ran is on {ref}`the execution status page <execution-status>`.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
