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
# with Gibbs' inequality as in seed 001 §1.3, and then check every step on a finite string space where
# all sums are exact: against a black-box optimiser, against thousands of random distributions, along
# the whole reward–KL frontier, for a KL budget instead of a coefficient, through DPO's implicit reward,
# and in the cases where a hypothesis fails (zero probabilities, infinite rewards, $\beta \to 0$ and
# $\beta \to \infty$). We end with the reading of seed 004: RLHF is *reverse*-KL probability matching.
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
from scipy.special import logsumexp

from lmdist.book import chapter, plots
from lmdist.exact import align, instances, strings
from lmdist.exact import infotheory as it

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC = "seed 001 §1.3"
SRC_DPO = "Rafailov et al. 2023 (DPO)"
SRC_REV = "seed 004 (RLHF as reverse KL)"

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
rec.figure("space-size", "number of strings in the illustrated string space", space.size)
rec.check("p-normalised", "the reference model's probabilities sum to 1: |log sum p|",
          abs(logsumexp(logp)), at_most=1e-12)
top = np.argsort(-logp)[:6]
pd.DataFrame({"string": [space.decode(i) for i in top], "p(y)": np.exp(logp[top]), "r(y)": r[top]})

# %% [markdown]
# The space has {glue:text}`space-size` strings.
#
# ## The objective and its solution
#
# ```{prf:definition} KL-regularised alignment
# :label: def-kl-alignment
#
# Given a reference distribution $p$ on $\mathcal Y$, a reward $r:\mathcal Y\to\mathbb R$ and a
# coefficient $\beta>0$, the *KL-regularised alignment objective* of a distribution $q$ is
#
# $$J_\beta(q) = \mathbb E_{y\sim q}[r(y)] - \beta\,\mathrm{KL}(q\,\|\,p),
# \qquad \mathrm{KL}(q\|p)=\sum_y q(y)\log\frac{q(y)}{p(y)} .$$
#
# Its *Gibbs distribution* and *partition function* are
#
# $$q^*_\beta(y) = \frac{p(y)\,e^{r(y)/\beta}}{Z_\beta},\qquad Z_\beta=\sum_y p(y)\,e^{r(y)/\beta}.$$
# ```
#
# ```{prf:theorem} Gibbs solution (seed 001 §1.3)
# :label: thm-gibbs
#
# For every distribution $q$ on $\mathcal Y$,
#
# $$J_\beta(q) = -\beta\,\mathrm{KL}(q\,\|\,q^*_\beta) + \beta\log Z_\beta .$$
#
# Hence $q^*_\beta$ is the unique maximiser of $J_\beta$, and $\max_q J_\beta(q)=\beta\log Z_\beta$.
# ```
#
# ```{prf:proof}
# If $q$ puts mass where $p(y)=0$, both sides are $-\infty$ ($\mathrm{KL}(q\|p)=\infty$ and
# $q^*_\beta(y)=0$ there). Otherwise, writing $r(y)=\beta\log e^{r(y)/\beta}$,
#
# $$J_\beta(q) = \beta\sum_y q(y)\Big[\log e^{r(y)/\beta} - \log\frac{q(y)}{p(y)}\Big]
# = -\beta\sum_y q(y)\log\frac{q(y)}{p(y)e^{r(y)/\beta}/Z_\beta} + \beta\log Z_\beta ,$$
#
# where we added and subtracted $\beta\log Z_\beta$ and used $\sum_y q(y)=1$. The sum is
# $\mathrm{KL}(q\|q^*_\beta)$, because $q^*_\beta$ is a probability distribution. By Gibbs'
# inequality $\mathrm{KL}(q\|q^*_\beta)\ge 0$ with equality iff $q=q^*_\beta$; so $J_\beta(q)\le\beta\log
# Z_\beta$ with equality iff $q=q^*_\beta$.
# ```
#
# The proof needs $Z_\beta$ finite and positive: it is, on a finite space with finite rewards. Below we
# see what happens when a reward is $\pm\infty$ or $p$ has zeros.
#
# In code, the closed form is one line in log space:
# $\log q^*_\beta = \log p + r/\beta - \log Z_\beta$
# (computed with the largest reward subtracted first, so nothing overflows for any $\beta$).

# %%
logq_star = align.gibbs(logp, r, beta)
log_z = align.log_partition(logp, r, beta)

# %% [markdown]
# The identity of {prf:ref}`thm-gibbs` at $q=q^*_\beta$: the objective equals $\beta\log Z_\beta$.

# %%
j_star = align.objective(logq_star, logp, r, beta)
rec.figure("j-star", "J_beta(q*) on the illustrated instance", j_star, source=SRC)
rec.check("j-star-equals-beta-log-z", "|J_beta(q*) - beta log Z| on the illustrated instance",
          abs(j_star - beta * log_z), at_most=1e-12 * (1 + abs(j_star)), source=SRC)

# %% [markdown]
# On the illustrated instance $J_\beta(q^*)=${glue:text}`j-star:.4f` and it differs from
# $\beta\log Z_\beta$ by {glue:text}`j-star-equals-beta-log-z:.2g`.
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

rec.check("random-q-gibbs-lost", "pairs where a random q had a larger objective than q* (beyond float tolerance)",
          n_lost, equals=0, source=SRC)
rec.check("identity-error", "max error of J(q) = -beta KL(q||q*) + beta log Z over all pairs, in units of the tolerance",
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

# %%
rec.check("optimiser-beats-gibbs", "instances where L-BFGS-B found a larger objective than q* (beyond float tolerance)",
          int((opt.gap < -opt.tol).sum()), equals=0, source=SRC)
rec.check("optimiser-pinsker", "instances where TV(q_opt, q*) exceeds sqrt(gap / (2 beta)) (+1e-7 rounding)",
          int((opt.tv > opt.pinsker).sum()), equals=0, source=SRC)
rec.figure("optimiser-median-rel-gap", "median relative gap (J* - J_opt)/(|J*| + beta) of L-BFGS-B", opt.rel_gap.median())
rec.figure("optimiser-worst-rel-gap", "largest relative gap (J* - J_opt)/(|J*| + beta) of L-BFGS-B", opt.rel_gap.max())
opt.sort_values("beta")[["beta", "gap", "rel_gap", "tv"]]

# %% [markdown]
# The optimiser beat the closed form in {glue:text}`optimiser-beats-gibbs` instances and violated the
# Pinsker bound in {glue:text}`optimiser-pinsker`. Its median relative gap is
# {glue:text}`optimiser-median-rel-gap:.2g`, its worst {glue:text}`optimiser-worst-rel-gap:.2g`: the large
# gaps sit at small $\beta$, where $J_\beta$ is nearly linear in $q$, $q^*_\beta$ nearly a vertex of the
# simplex, and the softmax parametrisation saturates (its gradient $q_\theta(y)(\cdots)$ vanishes on
# strings whose mass has already gone to zero, so the optimiser stalls at whichever vertex it reached
# first). That is the practical argument for the closed form: it is exact for every $\beta$.
#
# ## The reward–KL frontier
#
# As $\beta$ runs from $\infty$ to $0$, $q^*_\beta$ moves from $p$ to the best strings. Each point
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
rec.check("frontier-kl-monotone", "frontier points where KL(q*_beta||p) increases with beta (beyond 1e-12)",
          int((np.diff(front_kl) > 1e-12).sum()), equals=0)
rec.check("frontier-reward-monotone", "frontier points where E_{q*_beta} r increases with beta (beyond 1e-12)",
          int((np.diff(front_r) > 1e-12).sum()), equals=0)

# %% [markdown]
# The slope, by central differences in $\log\beta$ at the $\beta$ that spend a tenth to nine tenths of the
# largest possible KL (where the frontier is not flat, so the differences are not rounding noise):

# %%
kl_inf, kl_0 = align.kl_range(logp, r)
slope_err = 0.0
for frac in np.linspace(0.1, 0.9, 9):
    b0 = align.beta_for_kl(logp, r, kl_inf + frac * (kl_0 - kl_inf))
    (r1, r2), (k1, k2) = align.frontier(logp, r, [b0 * (1 - 1e-4), b0 * (1 + 1e-4)])
    slope_err = max(slope_err, abs((r2 - r1) / (k2 - k1) / b0 - 1))
rec.check("frontier-slope", "max relative error of dR/dK = beta by central differences (step 1e-4: error O(1e-8))",
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
rec.check("frontier-random-above", "random q lying above a tangent line of the frontier (E_q r > beta log Z + beta KL, any grid beta)",
          int(above.sum()), equals=0)

# %%

fig, ax = plt.subplots()
ax.scatter(cloud.kl, cloud.reward, s=6, color="0.7", label="random $q$ (perturbations of $p$)")
ax.plot(front_kl, front_r, color=plots.ROLE["aligned"], lw=2, label=r"$q^*_\beta$, $\beta$ from $10^{3}$ to $10^{-3}$ × spread")
ax.scatter([0], [align.expected_reward(logp, r)], color=plots.ROLE["prior"], zorder=3, label=r"$p$ ($\beta=\infty$)")
ax.scatter([kl_0], [r[live].max()], color=plots.ROLE["other"], zorder=3, label=r"argmax limit ($\beta\to 0$)")
lq_b = align.gibbs(logp, r, beta)
ax.scatter([it.kl(lq_b, logp)], [align.expected_reward(lq_b, r)], marker="*", s=120, color="k", zorder=4,
           label=rf"$\beta={beta:g}$")
ax.set(xlabel=r"KL$(q\,\|\,p)$ (nats)", ylabel=r"$\mathbb{E}_q[r]$", title="The reward–KL frontier")
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
plt.show()

# %% [markdown]
# **Figure: the reward–KL frontier.** The curve is traced by $q^*_\beta$; it starts at $p$ (no KL, the
# reference's mean reward) and ends at the argmax limit (KL $=-\log p(\arg\max r)$, the largest reward).
# Every random $q$ (grey) lies on or below it — {glue:text}`frontier-random-above` of them are above.
# The curve is concave: its slope at each point is the $\beta$ that produced it
# ({prf:ref}`prop-frontier-slope`).
#
# ## Solving for $\beta$ given a KL budget
#
# In practice one often fixes a budget $\Delta$ instead of $\beta$: maximise $\mathbb E_q r$ subject to
# $\mathrm{KL}(q\|p)\le\Delta$. The Lagrangian of this problem is $J_\beta$, so its solution is $q^*_\beta$
# with $\beta$ chosen so that $\mathrm{KL}(q^*_\beta\|p)=\Delta$; by {prf:ref}`prop-frontier-slope` that
# KL is monotone in $\beta$, and `align.beta_for_kl` finds it by Brent's method in $\log\beta$. The ends:
#
# * $\beta\to\infty$: $q^*_\beta\to p$ restricted to $R=\{y: p(y)>0,\ r(y)>-\infty\}$, KL $\to -\log p(R)$
#   (zero when the reward is finite);
# * $\beta\to 0$: $q^*_\beta\to p$ restricted to $A=\arg\max_R r$, KL $\to -\log p(A)$. A larger budget
#   cannot be spent: the constraint is *slack* and the answer is the $\beta\to0$ limit (multiplier $0$).
#   `beta_for_kl` raises an error naming the largest reachable budget, or returns $0$ with `slack="zero"`.

# %%
budgets = [0.0, 0.1 * kl_0, 0.5 * kl_0, 0.9 * kl_0, kl_0, 1.5 * kl_0]
table, roundtrip = [], 0.0
for d in budgets:
    try:
        b_d, note = align.beta_for_kl(logp, r, d), ""
    except ValueError as err:
        b_d, note = align.beta_for_kl(logp, r, d, slack="zero"), str(err).split(":")[0] + ": slack"
    lq = align.gibbs(logp, r, b_d)
    got = it.kl(lq, logp)
    if d <= kl_0:
        roundtrip = max(roundtrip, abs(got - d))
    table.append({"budget Δ": d, "β": b_d, "KL(q*‖p)": got, "E r": align.expected_reward(lq, r), "note": note})
display(pd.DataFrame(table))
rec.check("budget-roundtrip", "max |KL(q*_beta(Delta)||p) - Delta| over the reachable budgets", roundtrip, below=1e-9)
# beta_for_kl returns inf for Delta = 0 by its definition: a figure, not a check
rec.figure("budget-zero-is-beta-inf", "Delta = 0 gives beta = inf", align.beta_for_kl(logp, r, 0.0))
log_p_argmax = logsumexp(logp[live & (r == r[live].max())])
rec.check("budget-max", "largest reachable budget KL(q*_0||p), which is -log p(argmax r)", kl_0,
          inside=(-log_p_argmax - 1e-12, -log_p_argmax + 1e-12))
try:
    align.beta_for_kl(logp, r, 1.5 * kl_0)
    slack_raises = False
except ValueError as err:
    slack_raises = "slack" in str(err)
rec.figure("budget-slack-raises", "a budget above -log p(argmax r) raises an error that says the constraint is slack",
           slack_raises)

# %% [markdown]
# The round trip $\Delta\mapsto\beta\mapsto\mathrm{KL}$ is exact to {glue:text}`budget-roundtrip:.2g` nats;
# $\Delta=0$ gives $\beta=${glue:text}`budget-zero-is-beta-inf`; the largest reachable budget is
# {glue:text}`budget-max:.3f` nats.
#
# ## Where the hypotheses fail
#
# ### A reward of $-\infty$: truncation, and a KL floor
#
# A hard constraint ("never output a string with a `b`") is a reward of $-\infty$. Then $e^{r/\beta}=0$:
# $q^*_\beta$ *truncates* those strings for every $\beta$, the support shrinks to $R$, and even
# $\beta=\infty$ costs $\mathrm{KL}=-\log p(R)>0$. A budget below that is unreachable.

# %%
# forbid every string containing token 1 ("b"); with a one-letter alphabet, every non-empty string
has_b = (space.tokens == 1).any(1) if space.alphabet_size > 1 else space.lengths >= 1
r_hard = np.where(has_b, -np.inf, r)
kl_inf_h, kl_0_h = align.kl_range(logp, r_hard)
log_p_allowed = logsumexp(logp[~has_b])
rec.check("hard-kl-floor", "KL floor KL(q*_inf||p) of the hard constraint, which is -log p(R)", kl_inf_h,
          inside=(-log_p_allowed - 1e-12, -log_p_allowed + 1e-12))
try:
    align.beta_for_kl(logp, r_hard, kl_inf_h / 2)
    unreachable = False
except ValueError as err:
    unreachable = "unreachable" in str(err)
rec.figure("hard-below-floor-unreachable", "a budget below the floor raises 'unreachable'", unreachable)

# %%
fig, ax = plt.subplots()
bgrid = spread * np.logspace(-3, 3, n_betas)
for rr_, lab, col in ((r, "finite reward", plots.ROLE["aligned"]), (r_hard, "reward $-\\infty$ on strings with b", plots.ROLE["other"])):
    _, kls_ = align.frontier(logp, rr_, bgrid)
    lo, hi = align.kl_range(logp, rr_)
    ax.plot(bgrid, kls_, color=col, label=lab)
    ax.axhline(lo, color=col, ls=":", lw=1)
    ax.axhline(hi, color=col, ls="--", lw=1)
for row in table:
    if 0 < row["β"] < math.inf:
        ax.scatter([row["β"]], [row["KL(q*‖p)"]], color="k", zorder=3, s=15)
ax.set(xscale="log", xlabel=r"$\beta$", ylabel=r"KL$(q^*_\beta\,\|\,p)$ (nats)", title="KL as a function of β")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: KL spent as a function of $\beta$.** Dashed: the $\beta\to0$ limit $-\log p(A)$; dotted: the
# $\beta\to\infty$ limit $-\log p(R)$. With a finite reward the curve falls to $0$; with the hard
# constraint it levels off at the floor {glue:text}`hard-kl-floor:.3f` nats, which no $\beta$ can undercut.
# Black dots: the budgets solved in the table above.
#
# ### Zeros of $p$: the regulariser forbids leaving the support
#
# A string with $p(y)=0$ gets $q^*_\beta(y)=0$ for every $\beta$, even if its reward is the largest of all:
# $\mathrm{KL}(q\|p)=\infty$ for any $q$ that puts mass there. This is seed 001's "shrinks, not truncates"
# read backwards: alignment can only reweight what $p$ already produces.

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
# gibbs keeps q* = 0 off supp p explicitly: a figure, not a check
rec.figure("zero-p-mass", "largest mass q*_beta puts, over the beta grid, on a string with p = 0 and the largest reward",
           mass)

# %% [markdown]
# The largest mass on that string over the whole $\beta$ grid: {glue:text}`zero-p-mass`.
#
# ### $\beta\to0$ and $\beta\to\infty$: how fast the limits are reached
#
# Write $g$ for the gap between the largest and second-largest reward on $R$. Everything $q^*_\beta$
# puts outside $A$ is at most $\frac{1-p(A)}{p(A)}e^{-g/\beta}$, and since $q^*_\beta$ restricted to $A$ is
# proportional to $p$, that mass *is* $\mathrm{TV}(q^*_\beta,q^*_0)$: exponentially fast as $\beta\to0$.
# As $\beta\to\infty$, integrating {prf:ref}`prop-frontier-slope` with $\mathrm{Var}\le(\max r-\min r)^2/4$ gives
# $\mathrm{KL}(q^*_\beta\|p)\le(\max r-\min r)^2/(8\beta^2)$ ({ref}`ex-01-hoeffding`), so by Pinsker
# $\mathrm{TV}(q^*_\beta,p)\le(\max r-\min r)/(4\beta)$: only polynomially fast.

# %%
order = np.sort(np.unique(r[live]))[::-1]
gap_r = order[0] - order[1]
p_a = np.exp(logsumexp(logp[live & (r == order[0])]))
lq_0 = align.gibbs(logp, r, 0.0)
tv0 = np.array([it.tvd(align.gibbs(logp, r, b), lq_0) for b in betas])
bound0 = (1 - p_a) / p_a * np.exp(-gap_r / betas)
tvinf = np.array([it.tvd(align.gibbs(logp, r, b), logp) for b in betas])
boundinf = spread / (4 * betas)
rec.check("limit-zero-bound", "betas where TV(q*_beta, q*_0) exceeds (1-p(A))/p(A) e^{-gap/beta} (+1e-12)",
          int((tv0 > bound0 + 1e-12).sum()), equals=0)
rec.check("limit-inf-bound", "betas where TV(q*_beta, p) exceeds (max r - min r)/(4 beta) (+1e-12)",
          int((tvinf > boundinf + 1e-12).sum()), equals=0)

# %%
fig, ax = plt.subplots()
ax.plot(betas, tv0, color=plots.ROLE["other"], label=r"TV$(q^*_\beta, q^*_0)$")
ax.plot(betas, np.minimum(bound0, 1), color=plots.ROLE["other"], ls="--", label=r"$\frac{1-p(A)}{p(A)}e^{-g/\beta}$")
ax.plot(betas, tvinf, color=plots.ROLE["prior"], label=r"TV$(q^*_\beta, p)$")
ax.plot(betas, np.minimum(boundinf, 1), color=plots.ROLE["prior"], ls="--", label=r"$(\max r-\min r)/(4\beta)$")
ax.set(xscale="log", yscale="log", ylim=(1e-12, 2), xlabel=r"$\beta$", ylabel="total variation", title="The two limits")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: the two limits.** Solid: distance of $q^*_\beta$ to the argmax limit (brown) and to $p$
# (blue); dashed: the bounds (capped at 1). As $\beta\to0$ the distance falls at the bound's exponential
# rate $e^{-g/\beta}$; as $\beta\to\infty$ it falls only like $1/\beta$ (a straight line of slope $-1$). Violations over the grid: {glue:text}`limit-zero-bound` and
# {glue:text}`limit-inf-bound`.
#
# ### A reward of $+\infty$: no maximiser
#
# If $r(y_0)=+\infty$ for a string with $p(y_0)>0$, then every $q$ with $q(y_0)>0$ has $J=+\infty$ and
# there is nothing to maximise; `align.gibbs` refuses. As a limit, $r(y_0)=M\to\infty$ sends
# $q^*_\beta\to\delta_{y_0}$ for every fixed $\beta$, at KL cost $-\log p(y_0)$.

# %%
try:
    align.gibbs(logp, np.where(np.arange(space.size) == 0, np.inf, r), beta)
    refused = False
except ValueError as err:
    refused = True
    print("ValueError:", err)
y0 = int(np.argmax(np.where(live, logp, -np.inf)))
m_big = r.max() + 50 * beta
mass_y0 = np.exp(align.gibbs(logp, np.where(np.arange(space.size) == y0, m_big, r), beta)[y0])
# gibbs rejects +inf explicitly: a figure, not a check
rec.figure("plus-inf-refused", "align.gibbs refuses a reward of +inf", refused)
p0 = np.exp(logp[y0])
bound_y0 = 1 / (1 + (1 - p0) / p0 * np.exp(-50.0))   # since Z_rest <= (1 - p(y0)) e^{max r / beta}
rec.check("plus-big-mass", "q*_beta(y0) when r(y0) = max r + 50 beta, against 1/(1 + (1-p(y0))/p(y0) e^-50) (-1e-15 rounding)",
          mass_y0, at_least=bound_y0 - 1e-15)

# %% [markdown]
# With $r(y_0)=\max r+50\beta$ the Gibbs distribution already puts {glue:text}`plus-big-mass:.6f` of its mass on $y_0$.
#
# ## DPO's implicit reward
#
# Solve the Gibbs form for $r$: $r(y)=\beta\log\frac{q^*_\beta(y)}{p(y)}+\beta\log Z_\beta$. DPO
# (Rafailov et al., 2023) turns this around and *defines* the reward of a policy $q$ by it. The
# partition function is intractable for a language model, so DPO drops it: the implicit reward
# $\hat r(y)=\beta\log\frac{q(y)}{p(y)}$ is the true reward shifted by the same $-\beta\log Z_\beta$ for every
# $y$ — harmless within a prompt (differences, Bradley–Terry preferences $\sigma(\hat r(y)-\hat r(y'))$ and
# rankings are unchanged), but a different shift for every prompt.

# %%
r_full = align.dpo_implicit_reward(logq_star, logp, beta, log_z=log_z)
r_hat = align.dpo_implicit_reward(logq_star, logp, beta)
tol_r = 1e-12 * (1 + np.abs(r).max() + beta * abs(log_z)) * 100
rec.check("dpo-recovers-r", "max |beta log q*/p + beta log Z - r| on supp p", np.abs(r_full - r)[live].max(),
          below=tol_r, source=SRC_DPO)
shift = (r - r_hat)[live]
rec.check("dpo-shift-constant", "spread (max - min) of r - r_hat over supp p: dropping log Z is one constant shift",
          np.ptp(shift), below=tol_r, source=SRC_DPO)
rec.check("dpo-shift", "the shift r - r_hat, which is beta log Z", np.mean(shift),
          inside=(beta * log_z - tol_r, beta * log_z + tol_r), source=SRC_DPO)
i, j = np.triu_indices(live.sum(), 1)
bt_true = 1 / (1 + np.exp(-(r[live][i] - r[live][j])))
bt_hat = 1 / (1 + np.exp(-(r_hat[live][i] - r_hat[live][j])))
rec.check("dpo-bt-unchanged", "max change of Bradley-Terry preference probabilities within the prompt",
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
rec.figure("dpo-cross-prompt-shift", "beta (log Z(x1) - log Z(x2)): the relative shift between two prompts", beta * (log_z - lz2), source=SRC_DPO)
rec.figure("dpo-cross-prompt-flips", "fraction of cross-prompt string pairs whose reward order r_hat reverses", flips, source=SRC_DPO)

# %% [markdown]
# The two prompts' shifts differ by {glue:text}`dpo-cross-prompt-shift:.3f`, and
# {glue:text}`dpo-cross-prompt-flips:.1%` of cross-prompt pairs are ranked the wrong way round by $\hat r$.
# Chapter 09 estimates $\log Z(x)$ by self-normalised importance sampling instead.
#
# ## RLHF as reverse-KL probability matching (seed 004)
#
# {prf:ref}`thm-gibbs` says more than "$q^*_\beta$ is optimal": up to the constant $\beta\log Z_\beta$,
# *the objective is a divergence*,
#
# $$\max_q\ \mathbb E_q r-\beta\,\mathrm{KL}(q\|p)\iff\min_q\ \mathrm{KL}(q\,\|\,\pi^*),\qquad \pi^*=q^*_\beta\propto p\,e^{r/\beta}.$$
#
# Seed 004 (after Korbak et al., 2022) calls this *probability matching*: RLHF fits the policy to
# $\pi^*$ in **reverse** KL. While $q$ ranges over all distributions the direction does not matter —
# both KLs are minimised at $q=\pi^*$. A real policy is a restricted family, and then it does. We take
# the *memoryless* family: one next-symbol distribution $\eta$ shared by every prefix (a unigram model
# with an end symbol), and fit it to $\pi^*$ in both directions.

# %%
V = space.alphabet_size


def memoryless(eta):
    """log q_eta(y): the same next-symbol distribution softmax(eta) at every prefix (EOS forced at max_len)."""
    row = eta - logsumexp(eta)
    table = np.tile(row, (space.size, 1))
    table[space.level(space.max_len)] = np.r_[np.full(V, -np.inf), 0.0]
    return strings.ToyLM(space, table).logp


def fit(direction, starts):
    def loss(eta):
        lq = memoryless(eta)
        return it.kl(lq, logq_star) if direction == "reverse" else it.kl(logq_star, lq)
    best = min((minimize(loss, s, method="L-BFGS-B") for s in starts), key=lambda res: res.fun)
    return memoryless(best.x), best.x


# %%
starts = [np.zeros(V + 1)] + [rng.normal(size=V + 1) for _ in range(3)]
lq_fwd, eta_fwd = fit("forward", starts)
lq_rev, _ = fit("reverse", starts + [eta_fwd])   # the forward fit is one of its starts
j_rev, j_fwd = align.objective(lq_rev, logp, r, beta), align.objective(lq_fwd, logp, r, beta)
rec.check("rev-kl-identity", "|J(q_rev) - (beta log Z - beta KL(q_rev||pi*))|",
          abs(j_rev - (beta * log_z - beta * it.kl(lq_rev, logq_star))), below=1e-9 * (1 + abs(j_rev)), source="seed 004")
rec.check("rev-beats-fwd-on-rlhf", "J_beta(reverse-KL fit) - J_beta(forward-KL fit): the RLHF objective prefers the reverse fit (-1e-12 (1 + |J|) rounding)",
          j_rev - j_fwd, at_least=-1e-12 * (1 + abs(j_rev)), source="seed 004")
rec.figure("rev-fwd-tv", "TV distance between the reverse-KL and forward-KL memoryless fits", it.tvd(lq_rev, lq_fwd), source=SRC_REV)
rec.figure("rev-fwd-entropy", "H(forward fit) - H(reverse fit), nats", it.entropy(lq_fwd) - it.entropy(lq_rev), source=SRC_REV)

# %%
top = np.argsort(-logq_star)[:15]
df = pd.DataFrame({"string": [space.decode(k) for k in top] * 3,
                   "probability": np.r_[np.exp(logq_star[top]), np.exp(lq_rev[top]), np.exp(lq_fwd[top])],
                   "model": np.repeat([r"$\pi^*$", "reverse-KL fit", "forward-KL fit"], len(top))})
fig, ax = plt.subplots(figsize=(7.5, 3.4))
sns.barplot(df, x="string", y="probability", hue="model", ax=ax,
            palette=[plots.ROLE["aligned"], plots.ROLE["other"], plots.ROLE["prior"]])
ax.set(title="Fitting π* within a memoryless family")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: reverse vs forward KL in a restricted family.** The fifteen most likely strings under
# $\pi^*$, and the two best memoryless models. The fits differ by {glue:text}`rev-fwd-tv:.3f` in total
# variation; the forward (mass-covering, MLE-like) fit has {glue:text}`rev-fwd-entropy:.3f` nats more
# entropy than the reverse (mode-seeking) one. Only the reverse fit is what RLHF would find in this
# family: its objective exceeds the forward fit's by {glue:text}`rev-beats-fwd-on-rlhf:.3g`, and it
# satisfies the identity $J=\beta\log Z-\beta\,\mathrm{KL}(q\|\pi^*)$ to {glue:text}`rev-kl-identity:.2g`.
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
# Let $0<\Delta<-\log p(\arg\max r)$ and $\beta$ with $\mathrm{KL}(q^*_\beta\|p)=\Delta$. Show that $q^*_\beta$
# maximises $\mathbb E_q r$ among all $q$ with $\mathrm{KL}(q\|p)\le\Delta$. What is the solution when
# $\Delta\ge-\log p(\arg\max r)$?
# ```
#
# ```{solution} ex-01-constrained
# :class: dropdown
#
# For such $q$, $\mathbb E_q r\le J_\beta(q)+\beta\Delta\le J_\beta(q^*_\beta)+\beta\Delta=\mathbb E_{q^*_\beta}r$,
# using $\mathrm{KL}(q\|p)\le\Delta$, {prf:ref}`thm-gibbs`, and $\mathrm{KL}(q^*_\beta\|p)=\Delta$. For a larger
# budget, $p$ restricted to $\arg\max r$ is feasible and attains $\max r$, which no $q$ exceeds: the
# constraint is slack, and its multiplier is $\beta=0$.
# ```

# %%
rec.write(results_path)

# %% tags=["hide-input"]
rec.table()
