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
# # KL-regularised alignment and its closed form
#
# Every method in this book — RLHF with PPO, DPO, EXO, best-of-$N$, the decoding rules of Part II —
# is measured against one optimisation problem: move a reference language model $p$ towards
# strings with high reward $r$, but pay, at rate $\beta$, for every nat of KL divergence from $p$.
# This chapter solves that problem exactly. We state the solution (a Gibbs distribution), prove it
# with Gibbs' inequality as {cite:t}`huang2024shift` does (§1.3), and then check every step on a finite
# string space where all sums are exact: against a black-box optimiser, against thousands of random
# distributions, along the whole reward–KL frontier, for a KL budget instead of a coefficient, through
# DPO's implicit reward, and in the cases where a hypothesis fails (zero probabilities, infinite rewards,
# an infinite partition function, $\beta \to 0$ and $\beta \to \infty$). We end with the reading of
# {cite:t}`ji2024beyond`: RLHF is *reverse*-KL probability matching.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# - **Shows.** The maximiser of $\mathbb E_q r-\beta\,\mathrm{KL}(q\|p)$ over all distributions is the Gibbs
#   distribution $p\,e^{r/\beta}/Z_\beta$, with value $\beta\log Z_\beta$; we check this, the reward–KL frontier,
#   KL budgets, DPO's implicit reward and the failures of each hypothesis exactly on a finite string space.
# - **Assumes.** No earlier chapter. Probability on finite sets, the KL divergence and Gibbs' inequality
#   ($\mathrm{KL}\ge 0$, with equality only for equal distributions), derivatives, Lagrange multipliers.
# - **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed
#   paper-profile run: {glue:text}`paper-run-time`.
# - **Re-execute.** `lmdist run notebooks/01-kl-regularised-alignment.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/01-kl-regularised-alignment.py` lists every parameter).
# :::
#
# The mathematics lives in three small modules: `lmdist.exact.strings` (the toy world),
# `lmdist.exact.infotheory` (divergences in log space) and `lmdist.exact.align` (the formulas of this chapter).

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"
alphabet_size = None   # None: the profile's value
max_len = None
concentration = None
reward_scale = None
beta = None
n_instances = None
n_random_q = None
n_optimised = None
n_betas = None
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"alphabet_size": 2, "max_len": 3, "concentration": 1.0, "reward_scale": 2.0, "beta": 1.0,
              "n_instances": 30, "n_random_q": 40, "n_optimised": 3, "n_betas": 41},
    "default": {"alphabet_size": 3, "max_len": 4, "concentration": 1.0, "reward_scale": 2.0, "beta": 1.0,
                "n_instances": 300, "n_random_q": 100, "n_optimised": 12, "n_betas": 81},
    "paper": {"alphabet_size": 4, "max_len": 5, "concentration": 1.0, "reward_scale": 2.0, "beta": 1.0,
              "n_instances": 2000, "n_random_q": 200, "n_optimised": 40, "n_betas": 161},
}
RULES = {
    "alphabet_size": {"type": "int", "min": 1, "max": 10, "doc": "V, the number of tokens (strings also end with EOS)"},
    "max_len": {"type": "int", "min": 1, "max": 8, "doc": "the longest string in the toy space"},
    "concentration": {"type": "float", "min": 0.01, "max": 100.0, "doc": "Dirichlet concentration of the illustrated reference model's next-token distributions"},
    "reward_scale": {"type": "float", "min": 0.01, "max": 100.0, "doc": "standard deviation of the illustrated reward"},
    "beta": {"type": "float", "min": 0.001, "max": 1000.0, "doc": "the KL coefficient of the illustrated instance"},
    "n_instances": {"type": "int", "min": 1, "max": 100000, "doc": "random (p, r, beta) instances for the theorem checks"},
    "n_random_q": {"type": "int", "min": 1, "max": 10000, "doc": "random distributions q compared with the Gibbs solution per instance"},
    "n_optimised": {"type": "int", "min": 1, "max": 1000, "doc": "instances solved by a black-box optimiser (L-BFGS-B)"},
    "n_betas": {"type": "int", "min": 5, "max": 2000, "doc": "points on the reward-KL frontier"},
}

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp
from scipy.stats import spearmanr

from lmdist.book import chapter, plots
from lmdist.exact import align, instances, projections, strings
from lmdist.exact import infotheory as it

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
rng_extra = np.random.default_rng([seed, 1])   # draws added later, so that the main stream is unchanged
SRC = "Huang 2024, §1.3"
SRC_DPO = "Rafailov et al. 2023 (DPO)"
SRC_REV = "Ji 2024 (slides): RLHF as reverse KL"

# %% [markdown]
# ## The toy world
#
# The string space $\mathcal Y$ holds every string of length $0,\dots,L$ over $V$ tokens, each followed
# by an end symbol. The reference model $p$ is autoregressive: at each prefix it draws the next
# symbol (a token or EOS) from a distribution that is itself drawn from a Dirichlet; so $p(y)$ is
# the product of next-symbol probabilities and sums to one over $\mathcal Y$ exactly. The reward is
# a Gaussian number per string.

# %%
space = strings.StringSpace(alphabet_size, max_len)
lm = strings.random_lm(space, rng, concentration=concentration)
logp = lm.logp
r = strings.random_reward(space, rng, scale=reward_scale)
live = logp > -np.inf   # supp p

# %% tags=["hide-input"]
rec.figure("space-size", "number of strings in the illustrated string space", space.size)
rec.check("p-normalised", "the reference model's probabilities sum to 1: |log sum p|",
          abs(logsumexp(logp)), at_most=1e-12)
top = np.argsort(-logp)[:6]
display(pd.DataFrame({"string": [space.decode(i) for i in top], "p(y)": np.exp(logp[top]),
                      "r(y)": r[top]}).round(4))

# %% [markdown]
# The space has {glue:text}`space-size` strings; the table shows the six most likely under $p$.
#
# (ch01-objective)=
# ## The objective and its solution
#
# ```{prf:definition} KL-regularised alignment
# :label: def-kl-alignment
#
# Given a reference distribution $p$ on $\mathcal Y$, a reward $r:\mathcal Y\to\mathbb R$ and a
# coefficient $\beta>0$, the *KL-regularised alignment objective* of a distribution $q$ on $\mathcal Y$ is
#
# $$J_\beta(q) = \mathbb E_{y\sim q}[r(y)] - \beta\,\mathrm{KL}(q\,\|\,p),
# \qquad \mathrm{KL}(q\|p)=\sum_y q(y)\log\frac{q(y)}{p(y)} .$$
#
# Its *Gibbs distribution* and *partition function* are
#
# $$q^*_\beta(y) = \frac{p(y)\,e^{r(y)/\beta}}{Z_\beta},\qquad Z_\beta=\sum_y p(y)\,e^{r(y)/\beta}.$$
# ```
#
# $J_\beta$ is a function of $q$; its largest value $\max_q J_\beta(q)$ is a number. {cite:t}`huang2024shift`
# writes its eq. (1) as $\mathcal L(\theta)=\max_\theta(\cdots)$, which makes the left side that number (the
# $\theta$ under the $\max$ is bound, so $\mathcal L$ does not depend on $\theta$) while the text goes on to
# rewrite $\mathcal L(\theta)$ as the objective of a given $\theta$. We keep the two apart.
#
# ```{prf:theorem} Gibbs solution
# :label: thm-gibbs
#
# Let $p$, $r$ and $\beta>0$ be as in {prf:ref}`def-kl-alignment`, with $Z_\beta<\infty$. For every
# distribution $q$ on $\mathcal Y$,
#
# $$J_\beta(q) = -\beta\,\mathrm{KL}(q\,\|\,q^*_\beta) + \beta\log Z_\beta .$$
#
# Hence, among *all* distributions on $\mathcal Y$, $q^*_\beta$ is the unique maximiser of $J_\beta$,
# and $\max_q J_\beta(q)=\beta\log Z_\beta$.
# ```
#
# ```{prf:proof}
# $Z_\beta>0$ because $p$ has mass somewhere and $e^{r/\beta}>0$. If $q$ puts mass where $p(y)=0$, both
# sides are $-\infty$ ($\mathrm{KL}(q\|p)=\infty$ and $q^*_\beta(y)=0$ there). Otherwise, writing
# $r(y)=\beta\log e^{r(y)/\beta}$,
#
# $$\begin{aligned}
# J_\beta(q) &= \beta\sum_y q(y)\Big[\log e^{r(y)/\beta} - \log\frac{q(y)}{p(y)}\Big]\\
# &= -\beta\sum_y q(y)\log\frac{q(y)}{p(y)\,e^{r(y)/\beta}/Z_\beta} + \beta\log Z_\beta ,
# \end{aligned}$$
#
# where we added and subtracted $\beta\log Z_\beta$ and used $\sum_y q(y)=1$. The sum is
# $\mathrm{KL}(q\|q^*_\beta)$, because $q^*_\beta$ is a probability distribution (this needs $Z_\beta<\infty$).
# By Gibbs' inequality $\mathrm{KL}(q\|q^*_\beta)\ge 0$ with equality iff $q=q^*_\beta$; so
# $J_\beta(q)\le\beta\log Z_\beta$ with equality iff $q=q^*_\beta$.
# ```
#
# The maximum is over all distributions on $\mathcal Y$. A policy is a *family* $\{p_\theta\}$ (a network's
# parameters $\theta$); the theorem says $p_\theta=q^*_\beta$ at the optimum only if some $\theta$ realises
# $q^*_\beta$. Otherwise the best $p_\theta$ is the one closest to $q^*_\beta$ in $\mathrm{KL}(p_\theta\|q^*_\beta)$
# and falls short of $\beta\log Z_\beta$ by $\beta$ times that KL: {ref}`ch01-realisability` measures this
# for a memoryless family.
#
# In code, the closed form is one line in log space:
# $\log q^*_\beta = \log p + r/\beta - \log Z_\beta$
# (computed with the largest reward subtracted first, so nothing overflows for any $\beta$).

# %%
logq_star = align.gibbs(logp, r, beta)
log_z = align.log_partition(logp, r, beta)
j_star = align.objective(logq_star, logp, r, beta)

# %% [markdown]
# The identity of {prf:ref}`thm-gibbs` at $q=q^*_\beta$: the objective equals $\beta\log Z_\beta$.

# %% tags=["hide-input"]
rec.figure("j-star", "J_beta(q*) on the illustrated instance", j_star, source=SRC)
_ = rec.check("j-star-equals-beta-log-z", "|J_beta(q*) - beta log Z| on the illustrated instance",
          abs(j_star - beta * log_z), at_most=1e-12 * (1 + abs(j_star)), source=SRC)

# %% [markdown]
# On the illustrated instance $J_\beta(q^*)=${glue:text}`j-star:.4f` and it differs from
# $\beta\log Z_\beta$ by {glue:text}`j-star-equals-beta-log-z:.2g`.
#
# (ch01-shrink-factor)=
# ### Which strings gain probability
#
# {cite:t}`huang2024shift` (§1.4) says the probability of an output "is shrunk by a factor of $e^{r/\beta}$".
# The factor is $q^*_\beta(y)/p(y)=e^{r(y)/\beta}/Z_\beta$: without $Z_\beta$ it is not even determined by
# the problem (adding a constant to $r$ changes $e^{r/\beta}$ but not $q^*_\beta$, {ref}`ex-01-shift`).
# It exceeds $1$ — the string is *amplified* — exactly when $r(y)>\beta\log Z_\beta$, and by Jensen's
# inequality $\beta\log Z_\beta\ge\mathbb E_p r$, so unless $r$ is constant some strings are always amplified
# and others shrunk.

# %%
log_ratio = logq_star - logp                      # log q*/p on supp p
amplified = live & (log_ratio > 0)
clear = live & (np.abs(r / beta - log_z) > 1e-9)  # strings not within rounding of the threshold
mismatch = int(((log_ratio > 0) != (r / beta > log_z))[clear].sum())

# %% tags=["hide-input"]
rec.check("amplified-threshold", "strings of supp p where q*(y) > p(y) disagrees with r(y) > beta log Z",
          mismatch, equals=0, source=SRC)
rec.figure("amplified-count", "strings with q*_beta(y) > p(y) on the illustrated instance", int(amplified.sum()),
           source=SRC)
rec.figure("amplified-p-mass", "p-mass of the amplified strings", np.exp(logsumexp(logp[amplified])))
_ = rec.figure("amplified-q-mass", "q*_beta-mass of the amplified strings", np.exp(logsumexp(logq_star[amplified])))

# %% [markdown]
# On the illustrated instance {glue:text}`amplified-count` of the {glue:text}`space-size` strings are
# amplified (the rule "amplified iff $r(y)>\beta\log Z_\beta$" failed on {glue:text}`amplified-threshold`);
# they hold {glue:text}`amplified-p-mass:.3f` of $p$'s mass and {glue:text}`amplified-q-mass:.3f` of
# $q^*_\beta$'s.
#
# (ch01-partition-finite)=
# ### When the partition function is infinite
#
# The proof needs $Z_\beta<\infty$, a hypothesis the source does not state. On a finite space with finite
# rewards it always holds. A language model's string space is countable, though, and then it can fail.
# Take a model that continues with probability $\gamma$ at every step, so that a string has length $n$ with
# probability $(1-\gamma)\gamma^n$, and a reward of $\kappa$ per token, $r=\kappa n$ (a length bonus). Then
# $Z_\beta=(1-\gamma)\sum_n(\gamma e^{\kappa/\beta})^n$ is infinite when $\gamma e^{\kappa/\beta}\ge 1$, and there is
# no maximiser: the Gibbs distribution of $p$ restricted to lengths $\le N$ has
# $J_\beta = \beta\log Z_{\beta,N}$, which grows by $\beta\log(\gamma e^{\kappa/\beta})$ per unit of $N$.
# With $\gamma=1/2$ and $\kappa=1$ the threshold is $\beta=1/\log 2\approx 1.44$: we compute $J_\beta$ directly
# (as $\mathbb E_q r-\beta\,\mathrm{KL}$, not through $Z$) at $\beta=1$, where $Z_\beta=\infty$, and at $\beta=2$,
# where it is finite.

# %%
gamma_len, kappa = 0.5, 1.0
n_len = np.arange(401)                                      # lengths 0..400 (the mass beyond is 2^-401)
lp_len = np.log1p(-gamma_len) + n_len * np.log(gamma_len)   # p(n) = (1 - γ) γ^n
r_len = kappa * n_len


def j_truncated(b, n_max):
    """J_β(q) for q = the Gibbs distribution of p restricted to lengths <= n_max (KL against the whole p)."""
    lq = align.gibbs(it.normalize(np.where(n_len <= n_max, lp_len, -np.inf)), r_len, b)
    return align.objective(lq, lp_len, r_len, b)


growth = (j_truncated(1.0, 400) - j_truncated(1.0, 200)) / 200
growth_pred = 1.0 * math.log(gamma_len * math.exp(kappa / 1.0))
j_finite, j_finite_pred = j_truncated(2.0, 400), 2.0 * (math.log1p(-gamma_len) - math.log1p(-gamma_len * math.exp(kappa / 2.0)))

# %% tags=["hide-input"]
rec.check("z-infinite-growth", "growth of J_beta per unit of length cap N at beta = 1 (Z = inf), against beta log(gamma e^(kappa/beta))",
          growth, inside=(growth_pred - 1e-9, growth_pred + 1e-9))
_ = rec.check("z-finite-limit", "|J_beta(cap N = 400) - beta log Z_beta| at beta = 2 (Z finite)", abs(j_finite - j_finite_pred),
          at_most=1e-9)

# %% [markdown]
# At $\beta=1$, $J_\beta$ grows by {glue:text}`z-infinite-growth:.6f` per unit of length cap, as predicted:
# $\sup_q J_\beta=+\infty$ and no distribution attains it. At $\beta=2$ it converges to $\beta\log Z_\beta$
# (difference at $N=400$: {glue:text}`z-finite-limit:.2g`).
#
# ### Checking the theorem on random instances
#
# One instance proves nothing. We draw instances broadly: the reference model's Dirichlet concentration
# log-uniform over $[0.05, 5]$ (peaked and flat models), with holes in its support (each token zeroed
# independently with probability `instances.HOLE_PROB` $=0.1$), rewards of scale log-uniform over $[0.1, 10]$, and
# $\beta$ log-uniform over eight orders of magnitude, $[10^{-4}, 10^{4}]$. For each we compare
# $q^*_\beta$ with random distributions $q$ of three kinds: Dirichlet draws on the support of $p$,
# Dirichlet draws on all of $\mathcal Y$ (which almost always leave the support of $p$: $J=-\infty$) —
# both with holes of their own, drawn by `instances.random_logdist` — and small to large perturbations
# of $q^*_\beta$ itself, where a wrong closed form would show first.
#
# Floating-point tolerance: $\beta\log Z_\beta$ and $\beta\,\mathrm{KL}$ are computed with a relative
# error of a few ulps of $\max(|r|, \beta|\log p|)$; we allow $10^{-10}$ times that (about $10^6$ ulps).

# %%
def draw_instance(rng, space):
    """A random (log p, r, beta) over everything the theorem's hypotheses allow."""
    conc = 10 ** rng.uniform(np.log10(0.05), np.log10(5))
    lp = strings.random_lm(space, rng, concentration=conc, hole_prob=instances.HOLE_PROB).logp
    rr = strings.random_reward(space, rng, scale=10 ** rng.uniform(-1, 1))
    return lp, rr, 10 ** rng.uniform(-4, 4)


def tolerance(lp, rr, b):
    return 1e-10 * (1 + np.abs(rr).max() + b * np.abs(lp[lp > -np.inf]).max())


def random_qs(rng, lp, lq_star, n):
    """n random log-distributions (rows), in turn: a sparse Dirichlet draw on supp p, one on all strings
    (instances.random_logdist), and a perturbation of q* by 1e-6 to 1 nat."""
    live = lp > -np.inf
    kind = np.arange(n) % 3
    eps = 10 ** rng.uniform(-6, 0, size=(n, 1))
    qs = it.normalize(np.where(live, lq_star + eps * rng.normal(size=(n, len(lp))), -np.inf))
    for k in np.flatnonzero(kind < 2):
        qs[k] = instances.random_logdist(rng, len(lp), concentration=10 ** rng.uniform(-1, 1),
                                         support=live if kind[k] == 0 else None)
    return qs


# %%
n_lost = 0
identity_err = 0.0
for _ in range(n_instances):
    lp, rr, b = draw_instance(rng, space)
    lq_s = align.gibbs(lp, rr, b)
    best, lz, tol = align.objective(lq_s, lp, rr, b), align.log_partition(lp, rr, b), tolerance(lp, rr, b)
    qs = random_qs(rng, lp, lq_s, n_random_q)
    j = align.objective(qs, lp, rr, b)
    d = it.kl(qs, lq_s)
    n_lost += int((j > best + tol).sum())
    fin = np.isfinite(d)   # J(q) = -beta KL(q||q*) + beta log Z; both sides -inf together
    err = np.abs(j[fin] - (-b * d[fin] + b * lz)) / (tol + 1e-12 * b * d[fin])
    identity_err = max(identity_err, err.max(initial=0.0), 0.0 if (j[~fin] == -np.inf).all() else np.inf)

# %% tags=["hide-input"]
rec.check("random-q-gibbs-lost", "pairs where a random q had a larger objective than q* (beyond float tolerance)",
          n_lost, equals=0, source=SRC)
_ = rec.check("identity-error", "max error of J(q) = -beta KL(q||q*) + beta log Z over all pairs, in units of the tolerance",
          identity_err, at_most=1.0, source=SRC)

# %% [markdown]
# Over {glue:text}`param-n_instances` instances, each with {glue:text}`param-n_random_q` random $q$, a random $q$ beat the
# Gibbs solution {glue:text}`random-q-gibbs-lost` times, and the identity
# $J_\beta(q)=-\beta\mathrm{KL}(q\|q^*_\beta)+\beta\log Z_\beta$ held to
# {glue:text}`identity-error:.2g` tolerance units at worst.
#
# ### Checking it against a black-box optimiser
#
# Random $q$ only probe the objective. A direct check is to maximise $J_\beta$ numerically without
# the formula. We parametrise $q_\theta\propto p\,e^{\theta}$ on the support of $p$ (start: $\theta=0$,
# i.e. $q=p$), and let L-BFGS-B maximise $J_\beta(q_\theta)/\beta$ with its exact gradient
# $\partial_{\theta_y} = q_\theta(y)\,(u_y-\mathbb E_{q_\theta}u)$, $u=r/\beta-\theta$. Two things must hold
# for every instance: the optimiser never beats $q^*_\beta$ (beyond float tolerance), and, since
# $J_\beta(q^*)-J_\beta(q)=\beta\mathrm{KL}(q\|q^*)$ by {prf:ref}`thm-gibbs`, Pinsker's inequality bounds
# how far the optimiser's answer can be from $q^*_\beta$: $\mathrm{TV}(q,q^*)\le\sqrt{(J^*-J(q))/(2\beta)}$.
# How *close* the optimiser gets is a property of the optimiser, not of the theorem; we report it.

# %%
def maximise_numerically(lp, rr, b, maxiter=500):
    """argmax_q J_beta(q) by L-BFGS-B over q_theta ∝ p e^theta, knowing nothing of the closed form."""
    live = lp > -np.inf
    lp_, u0 = lp[live], rr[live] / b

    def neg(theta):
        a = logsumexp(lp_ + theta)
        q = np.exp(lp_ + theta - a)
        u = u0 - theta
        return -(q @ u + a), -(q * (u - q @ u))

    res = minimize(neg, np.zeros(live.sum()), jac=True, method="L-BFGS-B",
                   options=dict(maxiter=maxiter, gtol=1e-13, ftol=1e-16))
    out = np.full(len(lp), -np.inf)
    out[live] = lp_ + res.x - logsumexp(lp_ + res.x)
    return out


# %%
rows = []
for _ in range(n_optimised):
    lp, rr, b = draw_instance(rng, space)
    lq_s, lq_o = align.gibbs(lp, rr, b), maximise_numerically(lp, rr, b)
    js, jo = align.objective(lq_s, lp, rr, b), align.objective(lq_o, lp, rr, b)
    tol = tolerance(lp, rr, b)
    rows.append(dict(beta=b, gap=js - jo, rel_gap=(js - jo) / (abs(js) + b), tv=it.tvd(lq_o, lq_s),
                     pinsker=math.sqrt(max(js - jo, 0.0) / (2 * b)) + 1e-7, tol=tol))
opt = pd.DataFrame(rows)
gap_beta_corr = spearmanr(opt.beta, opt.rel_gap).statistic if len(opt) > 1 else 0.0

# %% tags=["hide-input"]
rec.check("optimiser-beats-gibbs", "instances where L-BFGS-B found a larger objective than q* (beyond float tolerance)",
          int((opt.gap < -opt.tol).sum()), equals=0, source=SRC)
rec.check("optimiser-pinsker", "instances where TV(q_opt, q*) exceeds sqrt(gap / (2 beta)) (+1e-7 rounding)",
          int((opt.tv > opt.pinsker).sum()), equals=0, source=SRC)
rec.figure("optimiser-median-rel-gap", "median relative gap (J* - J_opt)/(|J*| + beta) of L-BFGS-B", opt.rel_gap.median())
rec.figure("optimiser-worst-rel-gap", "largest relative gap (J* - J_opt)/(|J*| + beta) of L-BFGS-B", opt.rel_gap.max())
rec.figure("optimiser-gap-beta-corr", "Spearman rank correlation of the relative gap with beta", gap_beta_corr)
_ = rec.figure("optimiser-gap-direction", "how the relative gap moves as beta decreases",
           "grows" if gap_beta_corr < 0 else "does not grow")

# %% tags=["hide-input"]
fig, ax = plt.subplots()
floor = 1e-17   # a gap of 0 (or a rounding-level negative one) is drawn at this floor
ax.scatter(opt.beta, np.maximum(opt.rel_gap, floor), color=plots.ROLE["other"], label=r"relative gap $(J^*-J_{\mathrm{opt}})/(|J^*|+\beta)$")
ax.scatter(opt.beta, np.maximum(opt.tv, floor), color=plots.ROLE["reference"], marker="x",
           label=r"TV$(q_{\mathrm{opt}}, q^*_\beta)$")
ax.set(xscale="log", yscale="log", xlabel=r"$\beta$", ylabel="gap, distance", title="L-BFGS-B against the closed form")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
plots.publish("fig-optimiser-gap", fig)

# %% [markdown]
# ```{glue:figure} fig-optimiser-gap
# :name: fig-optimiser-gap
# :alt: Log-log scatter plot against beta of two quantities per optimised instance: the relative gap between the closed-form optimum and the L-BFGS-B answer, and their total variation distance.
#
# How far L-BFGS-B stops from the closed form, one point per random instance. Gaps of zero are drawn at $10^{-17}$.
# ```
#
# The optimiser beat the closed form in {glue:text}`optimiser-beats-gibbs` instances and violated the
# Pinsker bound in {glue:text}`optimiser-pinsker`. Its median relative gap is
# {glue:text}`optimiser-median-rel-gap:.2g`, its worst {glue:text}`optimiser-worst-rel-gap:.2g`
# ({numref}`fig-optimiser-gap`); the gap {glue:text}`optimiser-gap-direction` as $\beta$ decreases (rank
# correlation with $\beta$: {glue:text}`optimiser-gap-beta-corr:.2f`). At small $\beta$, $J_\beta$ is nearly
# linear in $q$, $q^*_\beta$ is nearly a vertex of the simplex, and the softmax parametrisation saturates: its
# gradient $q_\theta(y)(\cdots)$ vanishes on strings whose mass has already gone to zero, so the optimiser can
# stall at whichever vertex it reached first. That is the practical argument for the closed form: it is exact
# for every $\beta$.
#
# ## The reward–KL frontier
#
# Write $S=\{y: p(y)>0,\ r(y)>-\infty\}$ for the strings that can be produced and rewarded, and
# $M=\arg\max_{y\in S}r(y)$ for the best of them (one string, or several tied). As $\beta$ runs from $\infty$
# to $0$, $q^*_\beta$ moves from $p$ to $p_M$, $p$ restricted to $M$ and renormalised. Each point
# $(\mathrm{KL}(q^*_\beta\|p),\ \mathbb E_{q^*_\beta}r)$ is *Pareto-optimal*: if some $q$ had
# $\mathrm{KL}(q\|p)\le\mathrm{KL}(q^*_\beta\|p)$ and more reward, it would have a larger $J_\beta$.
#
# ```{prf:proposition} Slope of the frontier
# :label: prop-frontier-slope
#
# Let $R(\beta)=\mathbb E_{q^*_\beta}r$ and $K(\beta)=\mathrm{KL}(q^*_\beta\|p)$. Then
# $R'(\beta) = -\mathrm{Var}_{q^*_\beta}(r)/\beta^2 \le 0$ and $K'(\beta)=R'(\beta)/\beta\le 0$: both decrease
# in $\beta$, and the frontier has slope $\mathrm dR/\mathrm dK=\beta$.
# ```
#
# ```{prf:proof}
# $\partial_\beta\log q^*_\beta(y) = -r(y)/\beta^2 - \partial_\beta\log Z_\beta = -(r(y)-R)/\beta^2$, so
# $R' = \sum_y r\,q^*_\beta\,\partial_\beta\log q^*_\beta = -\mathrm{Var}_{q^*_\beta}(r)/\beta^2$. Next
# $K=\mathbb E_{q^*}[\log q^*/p] = R/\beta-\log Z_\beta$, and $\partial_\beta\log Z_\beta=-R/\beta^2$, so
# $K' = R'/\beta - R/\beta^2 + R/\beta^2 = R'/\beta$.
# ```

# %%
spread = float(np.ptp(r))
betas = spread * np.logspace(-3, 3, n_betas)
front_r, front_kl = align.frontier(logp, r, betas)

# %% tags=["hide-input"]
rec.check("frontier-kl-monotone", "frontier points where KL(q*_beta||p) increases with beta (beyond 1e-12)",
          int((np.diff(front_kl) > 1e-12).sum()), equals=0)
_ = rec.check("frontier-reward-monotone", "frontier points where E_{q*_beta} r increases with beta (beyond 1e-12)",
          int((np.diff(front_r) > 1e-12).sum()), equals=0)

# %% [markdown]
# The slope, by central differences in $\log\beta$ at the $\beta$ that spend a tenth to nine tenths of the
# largest possible KL (where the frontier is not flat, so the differences are not rounding noise):

# %%
kl_inf, kl_0 = align.kl_range(logp, r)
slope_err = 0.0
for frac in np.linspace(0.1, 0.9, 9):
    b0 = align.beta_for_kl(logp, r, kl_inf + frac * (kl_0 - kl_inf))
    (r_lo, r_hi), (k_lo, k_hi) = align.frontier(logp, r, [b0 * (1 - 1e-4), b0 * (1 + 1e-4)])
    slope_err = max(slope_err, abs((r_hi - r_lo) / (k_hi - k_lo) / b0 - 1))

# %% tags=["hide-input"]
_ = rec.check("frontier-slope", "max relative error of dR/dK = beta by central differences (step 1e-4: error O(1e-8))",
          slope_err, below=1e-5)

# %% [markdown]
# The relative error of $\mathrm dR/\mathrm dK=\beta$ is {glue:text}`frontier-slope:.2g`.
# Now the picture, with random distributions on the support of $p$ (perturbations of $p$ of every
# size) underneath. No random $q$ may lie above the frontier. Since the frontier is concave with slope
# $\beta$, it is the lower envelope of its tangent lines $k\mapsto\beta\log Z_\beta+\beta k$, and
# {prf:ref}`thm-gibbs` says exactly that every $q$ lies below each of them:
# $\mathbb E_q r\le\beta\log Z_\beta+\beta\,\mathrm{KL}(q\|p)$.

# %%
n_cloud = 3 * n_random_q
eps = 10 ** rng.uniform(-2, 1, size=(n_cloud, 1))
cloud_q = it.normalize(np.where(live, logp + eps * rng.normal(size=(n_cloud, space.size)), -np.inf))
cloud = pd.DataFrame({"kl": it.kl(cloud_q, logp), "reward": align.expected_reward(cloud_q, r)})
# below the frontier <=> below every tangent line: E_q r <= beta log Z_beta + beta KL(q||p) for all beta
tangent = np.array([b * align.log_partition(logp, r, b) for b in betas])[None, :] + betas[None, :] * cloud.kl.values[:, None]
slack_t = tangent - cloud.reward.values[:, None]
above = (slack_t < -1e-10 * (1 + np.abs(tangent))).any(1)

# %% tags=["hide-input"]
_ = rec.check("frontier-random-above", "random q lying above a tangent line of the frontier (E_q r > beta log Z + beta KL, any grid beta)",
          int(above.sum()), equals=0)

# %% tags=["hide-input"]
fig, ax = plt.subplots()
ax.scatter(cloud.kl, cloud.reward, s=6, color="0.7", label="random $q$ (perturbations of $p$)")
ax.plot(front_kl, front_r, color=plots.ROLE["aligned"], lw=2, label=r"$q^*_\beta$, $\beta$ from $10^{3}$ to $10^{-3}$ × spread")
ax.scatter([0], [align.expected_reward(logp, r)], color=plots.ROLE["prior"], zorder=3, label=r"$p$ ($\beta=\infty$)")
ax.scatter([kl_0], [r[live].max()], color=plots.ROLE["other"], zorder=3, label=r"argmax limit ($\beta\to 0$)")
ax.scatter([it.kl(logq_star, logp)], [align.expected_reward(logq_star, r)], marker="*", s=120, color="k", zorder=4,
           label=rf"$\beta={beta:g}$")
ax.set(xlabel=r"KL$(q\,\|\,p)$ (nats)", ylabel=r"$\mathbb{E}_q[r]$", title="The reward–KL frontier")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
plots.publish("fig-frontier", fig)

# %% [markdown]
# ```{glue:figure} fig-frontier
# :name: fig-frontier
# :alt: Scatter of random distributions in the plane of KL from p (horizontal) and expected reward (vertical), under a rising concave curve traced by the Gibbs distributions from p at the origin to the argmax limit; a star marks the illustrated beta.
#
# The reward–KL frontier. The curve is traced by $q^*_\beta$; it starts at $p$ (no KL, the reference's mean
# reward) and ends at the argmax limit (KL $=-\log p(M)$, the largest reward). The random $q$ (grey) lie on
# or below it.
# ```
#
# In {numref}`fig-frontier`, {glue:text}`frontier-random-above` random $q$ lie above the frontier. The curve is
# concave: its slope at each point is the $\beta$ that produced it ({prf:ref}`prop-frontier-slope`).
#
# ## Solving for $\beta$ given a KL budget
#
# In practice one often fixes a budget $\Delta$ instead of $\beta$: maximise $\mathbb E_q r$ subject to
# $\mathrm{KL}(q\|p)\le\Delta$. The Lagrangian of this problem is $J_\beta$, so its solution is $q^*_\beta$
# with $\beta$ chosen so that $\mathrm{KL}(q^*_\beta\|p)=\Delta$; by {prf:ref}`prop-frontier-slope` that
# KL is monotone in $\beta$, and `align.beta_for_kl` finds it by Brent's method in $\log\beta$. The ends:
#
# * $\beta\to\infty$: $q^*_\beta\to p$ restricted to $S$, KL $\to -\log p(S)$ (zero when the reward is finite);
# * $\beta\to 0$: $q^*_\beta\to p$ restricted to $M$, KL $\to -\log p(M)$. A larger budget cannot be spent:
#   the constraint is *slack* (multiplier $\beta=0$). `beta_for_kl` raises an error naming the largest
#   reachable budget, or returns $0$ with `slack="zero"`.

# %%
budgets = [0.0, 0.1 * kl_0, 0.5 * kl_0, 0.9 * kl_0, kl_0, 1.5 * kl_0]
table, roundtrip = [], 0.0
for d in budgets:
    try:
        b_d, note = align.beta_for_kl(logp, r, d), ""
    except ValueError:
        b_d, note = align.beta_for_kl(logp, r, d, slack="zero"), "slack: β = 0"
    lq = align.gibbs(logp, r, b_d)
    got = it.kl(lq, logp)
    if d <= kl_0:
        roundtrip = max(roundtrip, abs(got - d))
    table.append({"budget Δ": d, "β": b_d, "KL(q*‖p)": got, "E r": align.expected_reward(lq, r), "note": note})
log_p_argmax = logsumexp(logp[live & (r == r[live].max())])
try:
    align.beta_for_kl(logp, r, 1.5 * kl_0)
    slack_raises = False
except ValueError as err:
    slack_raises = "slack" in str(err)

# %% tags=["hide-input"]
display(pd.DataFrame(table).round(4))
rec.check("budget-roundtrip", "max |KL(q*_beta(Delta)||p) - Delta| over the reachable budgets", roundtrip, below=1e-9)
# beta_for_kl returns inf for Delta = 0 by its definition: a figure, not a check
rec.figure("budget-zero-is-beta-inf", "Delta = 0 gives beta = inf", align.beta_for_kl(logp, r, 0.0))
rec.check("budget-max", "largest reachable budget KL(q*_0||p), which is -log p(argmax r)", kl_0,
          inside=(-log_p_argmax - 1e-12, -log_p_argmax + 1e-12))
_ = rec.figure("budget-slack-raises", "a budget above -log p(argmax r) raises an error that says the constraint is slack",
           slack_raises)

# %% [markdown]
# The round trip $\Delta\mapsto\beta\mapsto\mathrm{KL}$ is exact to {glue:text}`budget-roundtrip:.2g` nats;
# $\Delta=0$ gives $\beta=${glue:text}`budget-zero-is-beta-inf`; the largest reachable budget is
# {glue:text}`budget-max:.3f` nats.
#
# (ch01-slack-budget)=
# ### A slack budget: the maximiser need not be unique
#
# For $\Delta<-\log p(M)$ the constrained maximiser is unique ({ref}`ex-01-constrained`). For
# $\Delta\ge-\log p(M)$ every $q$ supported on $M$ with $\mathrm{KL}(q\|p)\le\Delta$ attains $\max r$; when $M$
# has two or more strings and $\Delta>-\log p(M)$ there are infinitely many. What is unique is the
# maximiser of least KL, $p_M$ ($p$ restricted to $M$, renormalised), because every $q$ supported on $M$ has
#
# $$\mathrm{KL}(q\,\|\,p)=\mathrm{KL}(q\,\|\,p_M)-\log p(M)\ \ge\ -\log p(M),$$
#
# with equality only at $q=p_M$. This $p_M$ is the $\beta\to0$ limit, and it is what `beta_for_kl(…,
# slack="zero")` and `gibbs(…, 0)` return; the same holds for $\max_q\mathbb E_q r$ itself (the objective at
# $\beta=0$). On a copy of the instance in which the likeliest string not already best is raised to the top
# reward, so that $M$ has two strings, we check the three statements:
# $q^*_\beta\to p_M$ (at the rate of {ref}`ch01-limits`, with $g$ the gap from the tied top to the next
# reward), the decomposition, and that no random $q$ on $M$ beats $p_M$'s KL.

# %%
top_r = r[live].max()
y_tie = int(np.argmax(np.where(live & (r < top_r), logp, -np.inf)))   # likeliest string not best
r_tie = r.copy()
r_tie[y_tie] = top_r                                  # it now shares the top reward
in_m = live & (r_tie == top_r)
lp_m = it.normalize(np.where(in_m, logp, -np.inf))    # p_M
floor_m = -logsumexp(logp[in_m])                      # -log p(M)
rest = live & ~in_m
gap_tie = top_r - r_tie[rest].max() if rest.any() else 1.0   # (no rest: q* = p_M)
tie_tv = it.tvd(align.gibbs(logp, r_tie, gap_tie / 50), lp_m)
tie_bound = math.expm1(floor_m) * math.exp(-50.0)     # (1-p(M))/p(M) e^(-g/β), β = g/50
qs_m = np.array([instances.random_logdist(rng_extra, space.size, concentration=10 ** rng_extra.uniform(-1, 1),
                                          support=in_m) for _ in range(n_random_q)])
kl_m = it.kl(qs_m, logp)
decomposition_err = np.abs(kl_m - (it.kl(qs_m, lp_m) + floor_m)).max()
tie_budget = -logp[in_m].min()                        # every point mass on M fits it

# %% tags=["hide-input"]
rec.check("tie-limit", "TV(q*_beta, p_M) at beta = g/50 on the tied instance, against (1 - p(M))/p(M) e^-50 (+1e-12)",
          tie_tv, at_most=tie_bound + 1e-12)
rec.check("tie-least-kl", "random q on M with KL(q||p) below -log p(M) (beyond 1e-12)",
          int((kl_m < floor_m - 1e-12).sum()), equals=0)
rec.check("tie-kl-decomposition", "max |KL(q||p) - KL(q||p_M) + log p(M)| over the random q on M",
          decomposition_err, at_most=1e-12 * (1 + floor_m))
rec.figure("tie-floor", "-log p(M) on the tied instance: the least KL of a reward maximiser", floor_m)
_ = rec.figure("tie-budget", "a budget that every point mass on M fits: -log min_{y in M} p(y)", tie_budget)

# %% [markdown]
# On the tied instance $-\log p(M)=${glue:text}`tie-floor:.3f`; at the budget
# $\Delta=${glue:text}`tie-budget:.3f` both point masses on $M$ and $p_M$ are maximisers, three different
# distributions with the same reward. Among {glue:text}`param-n_random_q` random $q$ on $M$,
# {glue:text}`tie-least-kl` had a KL below $-\log p(M)$; the decomposition held to
# {glue:text}`tie-kl-decomposition:.2g`, and at $\beta=g/50$ the Gibbs distribution is
# {glue:text}`tie-limit:.2g` from $p_M$ in total variation, so the $\beta\to0$ limit shares the top between the
# tied strings in proportion to $p$.
#
# ## Where the hypotheses fail
#
# ### A reward of $-\infty$: truncation, and a KL floor
#
# A hard constraint ("never output a string with a `b`") is a reward of $-\infty$. Then $e^{r/\beta}=0$:
# $q^*_\beta$ *truncates* those strings for every $\beta$, the support shrinks to $S$, and even
# $\beta=\infty$ costs $\mathrm{KL}=-\log p(S)>0$. A budget below that is unreachable.

# %%
# forbid every string containing token 1 ("b"); with a one-letter alphabet, every non-empty string
has_b = (space.tokens == 1).any(1) if space.alphabet_size > 1 else space.lengths >= 1
r_hard = np.where(has_b, -np.inf, r)
kl_inf_h, kl_0_h = align.kl_range(logp, r_hard)
log_p_allowed = logsumexp(logp[~has_b])
try:
    align.beta_for_kl(logp, r_hard, kl_inf_h / 2)
    unreachable = False
except ValueError as err:
    unreachable = "unreachable" in str(err)

# %% tags=["hide-input"]
rec.check("hard-kl-floor", "KL floor KL(q*_inf||p) of the hard constraint, which is -log p(S)", kl_inf_h,
          inside=(-log_p_allowed - 1e-12, -log_p_allowed + 1e-12))
_ = rec.figure("hard-below-floor-unreachable", "a budget below the floor raises 'unreachable'", unreachable)

# %% tags=["hide-input"]
fig, ax = plt.subplots()
bgrid = spread * np.logspace(-3, 3, n_betas)
for rr_, lab, col in ((r, "finite reward", plots.ROLE["aligned"]), (r_hard, "reward $-\\infty$ on strings with b", plots.ROLE["reference"])):
    _, kls_ = align.frontier(logp, rr_, bgrid)
    lo, hi = align.kl_range(logp, rr_)
    ax.plot(bgrid, kls_, color=col, label=lab)
    ax.axhline(lo, color=col, ls=":", lw=1)
    ax.axhline(hi, color=col, ls="--", lw=1)
for row in table:
    if 0 < row["β"] < math.inf:
        ax.scatter([row["β"]], [row["KL(q*‖p)"]], color="k", zorder=3, s=15)
ax.set(xscale="log", xlabel=r"$\beta$", ylabel=r"KL$(q^*_\beta\,\|\,p)$ (nats)", title="KL as a function of β")
ax.legend(fontsize="small")
plots.publish("fig-kl-beta", fig)

# %% [markdown]
# ```{glue:figure} fig-kl-beta
# :name: fig-kl-beta
# :alt: Two decreasing curves of the KL spent against beta on a log axis, one for the finite reward falling to zero and one for the hard constraint levelling off at a positive floor, each with dashed and dotted horizontal lines at its two limits.
#
# KL spent as a function of $\beta$. Dashed: the $\beta\to0$ limit $-\log p(M)$; dotted: the $\beta\to\infty$
# limit $-\log p(S)$. Black dots: the budgets solved in the table above.
# ```
#
# With a finite reward the curve of {numref}`fig-kl-beta` falls to $0$; with the hard constraint it levels off
# at the floor {glue:text}`hard-kl-floor:.3f` nats, which no $\beta$ can undercut.
#
# ### Zeros of $p$: the regulariser forbids leaving the support
#
# A string with $p(y)=0$ gets $q^*_\beta(y)=0$ for every $\beta$, even if its reward is the largest of all:
# $\mathrm{KL}(q\|p)=\infty$ for any $q$ that puts mass there. This is the "shrinks, not truncates" of
# {cite:t}`huang2024shift` read backwards: alignment can only reweight what $p$ already produces.

# %%
lm_holes = strings.random_lm(space, rng, concentration=concentration, hole_prob=0.5)
lp_h = lm_holes.logp
if np.isneginf(lp_h).any():
    r_h = r.copy()
    star = int(np.flatnonzero(np.isneginf(lp_h))[0])
    r_h[star] = r.max() + 10 * spread
    mass = max(float(np.exp(align.gibbs(lp_h, r_h, b)[star])) for b in betas)
else:   # rare: no hole drawn; then there is no such string
    mass = 0.0

# %% tags=["hide-input"]
# gibbs keeps q* = 0 off supp p explicitly: a figure, not a check
_ = rec.figure("zero-p-mass", "largest mass q*_beta puts, over the beta grid, on a string with p = 0 and the largest reward",
           mass)

# %% [markdown]
# The largest mass on that string over the whole $\beta$ grid: {glue:text}`zero-p-mass`.
#
# (ch01-limits)=
# ### How fast the two limits are reached
#
# Write $g$ for the gap between the largest and second-largest reward on $S$. Everything $q^*_\beta$
# puts outside $M$ is at most $\frac{1-p(M)}{p(M)}e^{-g/\beta}$, and since $q^*_\beta$ restricted to $M$ is
# proportional to $p$, that mass *is* $\mathrm{TV}(q^*_\beta,p_M)$: exponentially fast as $\beta\to0$.
# As $\beta\to\infty$, integrating {prf:ref}`prop-frontier-slope` with $\mathrm{Var}\le(\max r-\min r)^2/4$ gives
# $\mathrm{KL}(q^*_\beta\|p)\le(\max r-\min r)^2/(8\beta^2)$ ({ref}`ex-01-hoeffding`), so by Pinsker
# $\mathrm{TV}(q^*_\beta,p)\le(\max r-\min r)/(4\beta)$: only polynomially fast.

# %%
order = np.sort(np.unique(r[live]))[::-1]
gap_r = order[0] - order[1]
p_m = np.exp(logsumexp(logp[live & (r == order[0])]))
lq_0 = align.gibbs(logp, r, 0.0)
tv0 = np.array([it.tvd(align.gibbs(logp, r, b), lq_0) for b in betas])
bound0 = (1 - p_m) / p_m * np.exp(-gap_r / betas)
tvinf = np.array([it.tvd(align.gibbs(logp, r, b), logp) for b in betas])
boundinf = spread / (4 * betas)

# %% tags=["hide-input"]
rec.check("limit-zero-bound", "betas where TV(q*_beta, p_M) exceeds (1-p(M))/p(M) e^{-gap/beta} (+1e-12)",
          int((tv0 > bound0 + 1e-12).sum()), equals=0)
_ = rec.check("limit-inf-bound", "betas where TV(q*_beta, p) exceeds (max r - min r)/(4 beta) (+1e-12)",
          int((tvinf > boundinf + 1e-12).sum()), equals=0)

# %% tags=["hide-input"]
fig, ax = plt.subplots()
ax.plot(betas, tv0, color=plots.ROLE["other"], label=r"TV$(q^*_\beta, p_M)$")
ax.plot(betas, np.minimum(bound0, 1), color=plots.ROLE["other"], ls="--", label=r"$\frac{1-p(M)}{p(M)}e^{-g/\beta}$")
ax.plot(betas, tvinf, color=plots.ROLE["prior"], label=r"TV$(q^*_\beta, p)$")
ax.plot(betas, np.minimum(boundinf, 1), color=plots.ROLE["prior"], ls="--", label=r"$(\max r-\min r)/(4\beta)$")
ax.set(xscale="log", yscale="log", ylim=(1e-12, 2), xlabel=r"$\beta$", ylabel="total variation", title="The two limits")
ax.legend(fontsize="small")
plots.publish("fig-limits", fig)

# %% [markdown]
# ```{glue:figure} fig-limits
# :name: fig-limits
# :alt: Log-log plot of total variation against beta: the distance to the argmax limit rises steeply from the left under its exponential bound, and the distance to p falls on the right along a straight line of slope minus one under its bound.
#
# The two limits. Solid: the distance of $q^*_\beta$ to the argmax limit $p_M$ and to $p$; dashed: the bounds
# (capped at 1). As $\beta\to0$ the distance falls at the bound's exponential rate $e^{-g/\beta}$; as
# $\beta\to\infty$ only like $1/\beta$ (a straight line of slope $-1$).
# ```
#
# Violations of the two bounds over the grid of {numref}`fig-limits`: {glue:text}`limit-zero-bound` and
# {glue:text}`limit-inf-bound`.
#
# ### A reward of $+\infty$: no maximiser
#
# If $r(y_0)=+\infty$ for a string with $p(y_0)>0$, then every $q$ with $q(y_0)>0$ has $J=+\infty$ and
# there is nothing to maximise; `align.gibbs` refuses. As a limit, $r(y_0)=\max r+k\beta$ with $k\to\infty$ sends
# $q^*_\beta\to\delta_{y_0}$ for every fixed $\beta$, at KL cost $-\log p(y_0)$.

# %%
try:
    align.gibbs(logp, np.where(np.arange(space.size) == 0, np.inf, r), beta)
    refused = False
except ValueError as err:
    refused = True
    print("ValueError:", err)
y0 = int(np.argmax(np.where(live, logp, -np.inf)))
m_big = r.max() + 50 * beta                               # k = 50
mass_y0 = np.exp(align.gibbs(logp, np.where(np.arange(space.size) == y0, m_big, r), beta)[y0])
p0 = np.exp(logp[y0])
bound_y0 = 1 / (1 + (1 - p0) / p0 * np.exp(-50.0))   # since Z_rest <= (1 - p(y0)) e^{max r / beta}

# %% tags=["hide-input"]
# gibbs rejects +inf explicitly: a figure, not a check
rec.figure("plus-inf-refused", "align.gibbs refuses a reward of +inf", refused)
_ = rec.check("plus-big-mass", "q*_beta(y0) when r(y0) = max r + 50 beta, against 1/(1 + (1-p(y0))/p(y0) e^-50) (-1e-15 rounding)",
          mass_y0, at_least=bound_y0 - 1e-15)

# %% [markdown]
# With $k=50$ the Gibbs distribution already puts {glue:text}`plus-big-mass:.6f` of its mass on $y_0$.
#
# ## DPO's implicit reward
#
# Solve the Gibbs form for $r$: $r(y)=\beta\log\frac{q^*_\beta(y)}{p(y)}+\beta\log Z_\beta$. DPO
# {cite:p}`rafailov2023dpo` turns this around and *defines* the reward of a policy $q$ by it. The
# partition function is intractable for a language model, so DPO drops it: the implicit reward
# $\hat r(y)=\beta\log\frac{q(y)}{p(y)}$ is the true reward shifted by the same $-\beta\log Z_\beta$ for every
# $y$ — harmless within a prompt (differences, Bradley–Terry preferences $\sigma(\hat r(y)-\hat r(y'))$ and
# rankings are unchanged), but a different shift for every prompt.

# %%
r_full = align.dpo_implicit_reward(logq_star, logp, beta, log_z=log_z)
r_hat = align.dpo_implicit_reward(logq_star, logp, beta)
tol_r = 1e-12 * (1 + np.abs(r).max() + beta * abs(log_z)) * 100
shift = (r - r_hat)[live]
i, j = np.triu_indices(live.sum(), 1)
bt_true = 1 / (1 + np.exp(-(r[live][i] - r[live][j])))
bt_hat = 1 / (1 + np.exp(-(r_hat[live][i] - r_hat[live][j])))

# %% tags=["hide-input"]
rec.check("dpo-recovers-r", "max |beta log q*/p + beta log Z - r| on supp p", np.abs(r_full - r)[live].max(),
          below=tol_r, source=SRC_DPO)
rec.check("dpo-shift-constant", "spread (max - min) of r - r_hat over supp p: dropping log Z is one constant shift",
          np.ptp(shift), below=tol_r, source=SRC_DPO)
rec.check("dpo-shift", "the shift r - r_hat, which is beta log Z", np.mean(shift),
          inside=(beta * log_z - tol_r, beta * log_z + tol_r), source=SRC_DPO)
_ = rec.check("dpo-bt-unchanged", "max change of Bradley-Terry preference probabilities within the prompt",
          np.abs(bt_true - bt_hat).max(), below=1e-9, source=SRC_DPO)

# %% [markdown]
# Exactly: the recovered reward is off by {glue:text}`dpo-recovers-r:.2g`; dropping $\beta\log Z$ shifts
# every string by {glue:text}`dpo-shift:.4f` (spread of the shift {glue:text}`dpo-shift-constant:.2g`), and
# the Bradley–Terry probabilities move by {glue:text}`dpo-bt-unchanged:.2g`. Across prompts it is another
# matter: a second prompt (a second reference model and reward) has another $Z$, and comparing
# $\hat r$ across the two mixes rewards with the difference of their shifts.

# %%
lp2 = strings.random_lm(space, rng, concentration=concentration).logp
r2 = strings.random_reward(space, rng, scale=reward_scale)
lz2 = align.log_partition(lp2, r2, beta)
r_hat2 = align.dpo_implicit_reward(align.gibbs(lp2, r2, beta), lp2, beta)
live2 = lp2 > -np.inf
a_true, b_true = r[live][:, None], r2[live2][None, :]
a_hat, b_hat = r_hat[live][:, None], r_hat2[live2][None, :]
flips = np.mean((a_true > b_true) != (a_hat > b_hat))

# %% tags=["hide-input"]
rec.figure("dpo-cross-prompt-shift", "beta (log Z(x1) - log Z(x2)): the relative shift between two prompts", beta * (log_z - lz2), source=SRC_DPO)
_ = rec.figure("dpo-cross-prompt-flips", "fraction of cross-prompt string pairs whose reward order r_hat reverses", flips, source=SRC_DPO)

# %% [markdown]
# The two prompts' shifts differ by {glue:text}`dpo-cross-prompt-shift:.3f`, and
# {glue:text}`dpo-cross-prompt-flips:.1%` of cross-prompt pairs are ranked the wrong way round by $\hat r$.
# Chapter 09 estimates $\log Z(x)$ by self-normalised importance sampling instead.
#
# (ch01-dpo-conditions)=
# ### When DPO has the optimum of the KL-regularised objective
#
# {cite:t}`huang2024shift` says DPO "has the same optimal solution as the original preference-tuning
# objective". Its population loss, over pairs $(y,y')$ compared with Bradley–Terry labels,
#
# $$\begin{aligned}
# \mathcal L_{\mathrm{DPO}}(q)&=-\mathbb E_{(y,y')}\Big[s\log\sigma\big(\hat r(y)-\hat r(y')\big)
# +(1-s)\log\sigma\big(\hat r(y')-\hat r(y)\big)\Big],\\
# s&=\sigma\big(r(y)-r(y')\big),
# \end{aligned}$$
#
# is a cross-entropy, minimal exactly when $\hat r(y)-\hat r(y')=r(y)-r(y')$ on every compared pair. That
# pins down $q=q^*_\beta$ under three conditions: the Bradley–Terry rewards are finite (a preference of
# probability 1 is an infinite reward gap, which DPO can only approach by driving the loser's probability to
# 0: truncation, not the Gibbs form); the loss is the population loss (a finite sample in which a pair is
# seen once, with one winner, is minimised by the same infinite gap); and the *comparison graph* — strings as
# vertices, compared pairs as edges — is connected on the support of $p$. If it has two components, $\hat r$ is
# pinned only up to a separate constant on each, so every $q\propto p\,e^{(r+c)/\beta}$ with a constant $c$
# added on one component is a DPO optimum too, and only $c=0$ gives $q^*_\beta$. We take the comparisons to
# pair only strings that both begin with `a`, or both do not.

# %%
def dpo_population_loss(lq, lp, rr, b, pairs):
    """E over compared pairs (weights p(y) p(y')) of the DPO loss with Bradley-Terry labels s = σ(r(y) - r(y'))."""
    i, j = pairs
    r_imp = align.dpo_implicit_reward(lq, lp, b)
    s, d = expit(rr[i] - rr[j]), r_imp[i] - r_imp[j]
    w = np.exp(lp[i] + lp[j])
    return -(w * (s * log_expit(d) + (1 - s) * log_expit(-d))).sum() / w.sum()


def bt_entropy(lp, rr, pairs):
    """The smallest value of that cross-entropy: E over the pairs of the entropy of the label, H(s)."""
    i, j = pairs
    s, w = expit(rr[i] - rr[j]), np.exp(lp[i] + lp[j])
    return -(w * (s * log_expit(rr[i] - rr[j]) + (1 - s) * log_expit(rr[j] - rr[i]))).sum() / w.sum()


group = space.tokens[:, 0] == 0                       # strings that begin with "a"
ii, jj = np.triu_indices(space.size, 1)
both_live = live[ii] & live[jj]
within = (ii[both_live & (group[ii] == group[jj])], jj[both_live & (group[ii] == group[jj])])
every = (ii[both_live], jj[both_live])
lq_c = align.gibbs(logp, np.where(group, r + beta, r), beta)   # c = β on the "a" strings
excess = {name: dpo_population_loss(lq, logp, r, beta, within) - bt_entropy(logp, r, within)
          for name, lq in (("q*", logq_star), ("q_c", lq_c))}
excess_connected = dpo_population_loss(lq_c, logp, r, beta, every) - bt_entropy(logp, r, every)

# %% tags=["hide-input"]
rec.check("dpo-disconnected-optimal", "largest |excess| of the DPO population loss over its minimum H(s), at q* and at q_c (c = beta on one component)",
          max(abs(v) for v in excess.values()), at_most=1e-12, source=SRC_DPO)
rec.figure("dpo-disconnected-tv", "TV(q_c, q*): distance between two DPO optima of a disconnected comparison graph",
           it.tvd(lq_c, logq_star), source=SRC_DPO)
_ = rec.check("dpo-connected-identifies", "excess DPO loss of q_c once the two components are compared too",
          excess_connected, above=1e-9, source=SRC_DPO)

# %% [markdown]
# With the two components never compared, $q^*_\beta$ and $q_c$ ($c=\beta$ on the `a` component) both reach
# the smallest possible DPO loss (excess at most {glue:text}`dpo-disconnected-optimal:.2g`), though they are
# {glue:text}`dpo-disconnected-tv:.3f` apart in total variation; once pairs across the components are
# compared too, $q_c$'s loss exceeds the minimum by {glue:text}`dpo-connected-identifies:.3g`, and only
# $q^*_\beta$ remains.
#
# The same source adds that its analysis, which assumes only eq. (1), applies to KTO
# {cite:p}`ethayarajh2023halos` and SLiC-HF {cite:p}`zhao2023slichf`. That does not follow: those methods
# minimise other losses — KTO a prospect-theoretic value of the implicit reward relative to a reference point,
# SLiC-HF a hinge loss on the margin of sequence log-likelihoods plus a regulariser towards the fine-tuning
# data — and neither loss has eq. (1)'s maximiser as its optimum in general. What this chapter derives from
# the Gibbs form applies to them only where one shows that they reach it.
#
# (ch01-realisability)=
# ## RLHF as reverse-KL probability matching
#
# {prf:ref}`thm-gibbs` says more than "$q^*_\beta$ is optimal": up to the constant $\beta\log Z_\beta$,
# *the objective is a divergence*,
#
# $$\max_q\ \mathbb E_q r-\beta\,\mathrm{KL}(q\|p)\iff\min_q\ \mathrm{KL}(q\,\|\,q^*_\beta).$$
#
# {cite:t}`ji2024beyond` (after {cite:t}`korbak2022rlkl`; the slides write $\pi^*_\beta$ for $q^*_\beta$) calls this
# *probability matching*: RLHF fits the policy to $q^*_\beta$ in **reverse** KL. While $q$ ranges over all
# distributions the direction does not matter — both KLs are minimised at $q=q^*_\beta$. A real policy is a
# restricted family, and then it does: the family's best member falls short of $\beta\log Z_\beta$. We take the
# *memoryless* family: one next-symbol distribution $\mathrm{softmax}(\eta)$ shared by every prefix (a unigram
# model with an end symbol), and fit it to $q^*_\beta$ in both directions, each from the same four starts.

# %%
V = space.alphabet_size


def memoryless(eta):
    """log q_eta(y): the same next-symbol distribution softmax(eta) at every prefix (EOS forced at max_len)."""
    return projections.memoryless(space, eta)


def fit(direction, starts):
    """The best memoryless fit to q*_beta in forward or reverse KL, by L-BFGS-B from each start."""
    return projections.project(memoryless, logq_star, direction, starts)


# %%
starts = [np.zeros(V + 1)] + [rng.normal(size=V + 1) for _ in range(3)]
lq_fwd, eta_fwd = fit("forward", starts)
lq_rev, eta_rev = fit("reverse", starts)   # not started from the forward fit
j_rev, j_fwd = align.objective(lq_rev, logp, r, beta), align.objective(lq_fwd, logp, r, beta)
# random members: perturbations of the reverse fit (size 0.01 to 1), and broad draws
etas = eta_rev + 10 ** rng.uniform(-2, 0, size=(n_random_q, 1)) * rng.normal(size=(n_random_q, V + 1))
etas[::2] = 3 * rng.normal(size=etas[::2].shape)
j_family = np.array([align.objective(memoryless(e), logp, r, beta) for e in etas])

# %% tags=["hide-input"]
tol_j = 1e-9 * (1 + abs(j_rev))
rec.check("rev-kl-identity", "|J(q_rev) - (beta log Z - beta KL(q_rev||q*))|",
          abs(j_rev - (beta * log_z - beta * it.kl(lq_rev, logq_star))), below=tol_j, source=SRC_REV)
rec.check("rev-beats-fwd-on-rlhf", "J_beta(reverse-KL fit) - J_beta(forward-KL fit), each fitted from the same independent starts (-1e-12 (1 + |J|) rounding)",
          j_rev - j_fwd, at_least=-1e-12 * (1 + abs(j_rev)), source=SRC_REV)
rec.check("rev-best-in-family", "random memoryless models with a larger J_beta than the reverse-KL fit (beyond 1e-9 (1 + |J|))",
          int((j_family > j_rev + tol_j).sum()), equals=0, source=SRC_REV)
rec.figure("rev-shortfall", "beta log Z - J_beta(reverse-KL fit): what the memoryless family cannot reach", beta * log_z - j_rev,
           source=SRC_REV)
rec.figure("rev-fwd-tv", "TV distance between the reverse-KL and forward-KL memoryless fits", it.tvd(lq_rev, lq_fwd), source=SRC_REV)
rev_fwd_dh = it.entropy(lq_fwd) - it.entropy(lq_rev)
rec.figure("rev-fwd-entropy", "H(forward fit) - H(reverse fit), nats", rev_fwd_dh, source=SRC_REV)
_ = rec.figure("rev-fwd-entropy-direction", "whether the forward fit has more entropy than the reverse fit",
           "more" if rev_fwd_dh > 0 else "not more")

# %% tags=["hide-input"]
top = np.argsort(-logq_star)[:15]
df = pd.DataFrame({"string": [space.decode(k) for k in top] * 3,
                   "probability": np.r_[np.exp(logq_star[top]), np.exp(lq_rev[top]), np.exp(lq_fwd[top])],
                   "model": np.repeat([r"$q^*_\beta$", "reverse-KL fit", "forward-KL fit"], len(top))})
fig, ax = plt.subplots(figsize=(7.5, 3.4))
sns.barplot(df, x="string", y="probability", hue="model", ax=ax, saturation=1,
            palette=[plots.ROLE["aligned"], plots.ROLE["reference"], plots.ROLE["prior"]])
ax.set(title=r"Fitting $q^*_\beta$ within a memoryless family")
ax.legend(fontsize="small")
plots.publish("fig-rev-fwd", fig)

# %% [markdown]
# ```{glue:figure} fig-rev-fwd
# :name: fig-rev-fwd
# :alt: Grouped bar chart of the probabilities of the fifteen most likely strings under the Gibbs distribution, next to those of the best memoryless models in reverse and in forward KL.
#
# Reverse against forward KL in a restricted family: the fifteen most likely strings under $q^*_\beta$, and
# the two best memoryless models.
# ```
#
# The fits of {numref}`fig-rev-fwd` differ by {glue:text}`rev-fwd-tv:.3f` in total variation; the forward
# (mass-covering, MLE-like) fit has {glue:text}`rev-fwd-entropy-direction` entropy than the reverse
# (mode-seeking) one (difference {glue:text}`rev-fwd-entropy:.3f` nats). The reverse fit is what RLHF would
# find in this family: $J_\beta$(reverse fit) $-$ $J_\beta$(forward fit) $=$ {glue:text}`rev-beats-fwd-on-rlhf:.3g`,
# {glue:text}`rev-best-in-family` of {glue:text}`param-n_random_q` random memoryless models did better, and
# the identity $J=\beta\log Z-\beta\,\mathrm{KL}(q\|q^*_\beta)$ holds for it to {glue:text}`rev-kl-identity:.2g`.
# Even so it falls short of $\beta\log Z_\beta$ by {glue:text}`rev-shortfall:.3f`: the Gibbs optimum is not in
# the family, so "the tuned model *is* $q^*_\beta$" is not available to a memoryless policy.
# Chapter 08 takes the two directions apart; chapter 09 shows that DPO with soft labels is the
# forward one.
#
# ## Exercises
#
# ```{exercise}
# :label: ex-01-shift
#
# Show that replacing $r$ by $r+c$ for a constant $c$ leaves $q^*_\beta$ unchanged and changes
# $\log Z_\beta$ by $c/\beta$. What does this say about the term DPO drops, and why is it harmless within
# one prompt?
# ```
#
# ```{solution} ex-01-shift
# :class: dropdown
#
# $p\,e^{(r+c)/\beta} = e^{c/\beta}\,p\,e^{r/\beta}$, and the factor $e^{c/\beta}$ cancels in the
# normalisation while multiplying $Z_\beta$. So a reward is identified by $q^*_\beta$ only up to a
# constant per prompt: $\beta\log Z_\beta$ *is* that constant, and dropping it picks one representative.
# Any comparison of two strings of the same prompt is blind to it.
# ```
#
# ```{exercise}
# :label: ex-01-hoeffding
#
# Using {prf:ref}`prop-frontier-slope`, show $\mathrm{KL}(q^*_\beta\|p)\le(\max r-\min r)^2/(8\beta^2)$.
# *Hint:* with $t=1/\beta$, write $\mathrm{KL}$ as an integral of $t\,\mathrm{Var}_{q^*_{1/t}}(r)$ and use
# Popoviciu's inequality $\mathrm{Var}\le(\max r-\min r)^2/4$.
# ```
#
# ```{solution} ex-01-hoeffding
# :class: dropdown
#
# Let $\psi(t)=\log\mathbb E_p e^{tr}$. Then $\mathrm{KL}(q^*_{1/t}\|p)=t\psi'(t)-\psi(t)$, whose derivative is
# $t\psi''(t)=t\,\mathrm{Var}_{q^*_{1/t}}(r)$, and it is $0$ at $t=0$. So
# $\mathrm{KL}=\int_0^{1/\beta}s\,\mathrm{Var}_{q^*_{1/s}}(r)\,\mathrm ds\le\frac{(\max r-\min r)^2}{4}\cdot\frac{1}{2\beta^2}$.
# ```
#
# ```{exercise}
# :label: ex-01-constrained
#
# Let the reward be finite, $0<\Delta<-\log p(M)$, and $\beta$ with $\mathrm{KL}(q^*_\beta\|p)=\Delta$. Show that
# $q^*_\beta$ is the unique maximiser of $\mathbb E_q r$ among all $q$ with $\mathrm{KL}(q\|p)\le\Delta$. Which $q$
# maximise it when $\Delta\ge-\log p(M)$, when is the maximiser unique, and which maximiser has the least KL?
# ```
#
# ```{solution} ex-01-constrained
# :class: dropdown
#
# For such $q$, $\mathbb E_q r\le J_\beta(q)+\beta\Delta\le J_\beta(q^*_\beta)+\beta\Delta=\mathbb E_{q^*_\beta}r$,
# using $\mathrm{KL}(q\|p)\le\Delta$, {prf:ref}`thm-gibbs`, and $\mathrm{KL}(q^*_\beta\|p)=\Delta$; equality in the
# second step forces $q=q^*_\beta$ ({prf:ref}`thm-gibbs`), so the maximiser is unique. For $\Delta\ge-\log p(M)$,
# $p_M$ is feasible and attains $\max r$, which no $q$ exceeds; the maximisers are exactly the $q$ supported on
# $M$ with $\mathrm{KL}(q\|p)=\mathrm{KL}(q\|p_M)-\log p(M)\le\Delta$. At $\Delta=-\log p(M)$ that forces $q=p_M$;
# above it the maximiser is unique only when $M$ is a single string. In every case $p_M$ has the least KL,
# and the constraint is slack (multiplier $\beta=0$).
# ```
#
# ## Summary
#
# * Over all distributions, $J_\beta$ is maximised by the Gibbs distribution alone, with value
#   $\beta\log Z_\beta$: no random $q$ beat it ({glue:text}`random-q-gibbs-lost` of
#   {glue:text}`param-n_instances` × {glue:text}`param-n_random_q` pairs), and the identity held to
#   {glue:text}`identity-error:.2g` tolerance units. It needs $Z_\beta<\infty$: with a length bonus on an
#   unbounded-length model $J_\beta$ grows by {glue:text}`z-infinite-growth:.3f` per token of length cap.
# * The Gibbs factor is $e^{r/\beta}/Z_\beta$, not $e^{r/\beta}$: {glue:text}`amplified-count` of
#   {glue:text}`space-size` strings gain probability.
# * The reward–KL frontier is concave with slope $\beta$ (error {glue:text}`frontier-slope:.1g`); a KL budget
#   is met to {glue:text}`budget-roundtrip:.1g` nats up to $-\log p(M)$ ({glue:text}`budget-max:.3f` nats here),
#   beyond which the constraint is slack and only the least-KL maximiser $p_M$ is unique.
# * DPO's implicit reward is the reward shifted by $\beta\log Z_\beta$ ({glue:text}`dpo-shift:.3f` here), which
#   misranks {glue:text}`dpo-cross-prompt-flips:.1%` of cross-prompt pairs; with a disconnected comparison
#   graph DPO has optima {glue:text}`dpo-disconnected-tv:.3f` apart in total variation.
# * In a memoryless family the reverse-KL fit, which is RLHF's, has $J_\beta$ larger than the forward fit's by
#   {glue:text}`rev-beats-fwd-on-rlhf:.3g` and still falls short of $\beta\log Z_\beta$ by
#   {glue:text}`rev-shortfall:.3f`: the Gibbs optimum is not in the family.
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-01>`; when, at which
# profile and for how long each chapter last ran is on {ref}`the execution status page <execution-status>`.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
