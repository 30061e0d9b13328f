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
# # Typicality and concentration
#
# Seed 000 (Tan et al., arXiv 2406.10203; {cite}`tan2024tradeoff`) builds its probability–quality trade-off on
# one fact: a corpus of many strings drawn from an aligned model $q$ has an average information content close
# to the entropy of $q$, with high probability. The seed states this with Chebyshev's inequality and a
# Chernoff bound written through Rényi entropies, and notes that it breaks for a model of infinite entropy.
# We only have a summary of the seed, so every statement below is derived here and checked:
#
# * the *typical set of corpora*, and the Chebyshev bound $P(\text{atypical})\le V/(N\varepsilon^2)$;
# * the Chernoff bound, whose cumulant generating function **is** a Rényi entropy, $\log\mathbb E_q e^{\lambda I}=\lambda H_{1-\lambda}(q)$;
# * both bounds against the **exact** probability of atypicality (a sum over multinomial compositions) and
#   against simulation, as $N$ grows, on random distributions drawn broadly;
# * the seed's own setting ($N=100{,}000$, $\varepsilon=0.001$, its Dirichlet toy): whether either bound says
#   anything there (neither does), and the normal approximation with a rigorous Berry–Esseen bracket, which does;
# * a distribution of infinite entropy whose corpus averages drift upwards without limit.
#
# The mathematics lives in `lmdist.exact.typicality` (with the cumulant generating function of `lmdist.exact.tilting`
# and the rate function of `lmdist.exact.largedev`, chapter 03).

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"        # unused: this chapter runs on numpy alone
n_instances = None     # random distributions q for the exact bound checks
grid_ns = None         # corpus sizes N for the exact checks on random q
fig_q = None           # the small distribution of the figure (probabilities)
fig_eps = None         # its epsilon
fig_ns = None          # corpus sizes N of the figure
n_sim = None           # simulated corpora per N in the figure
toy_seed = None        # numpy legacy seed of the seed's Dirichlet toy
toy_outcomes = None    # outcomes of the toy
toy_concentration = None  # Dirichlet concentration of the toy
toy_corpus_size = None    # N of the seed's corpora
toy_eps = None         # epsilon of the seed's typicality test
toy_corpora = None     # simulated corpora at the seed's setting
ll_ks = None           # truncation points K of the infinite-entropy distribution
ll_ns = None           # corpus sizes N for the infinite-entropy distribution
ll_corpora = None      # simulated corpora per N there
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"n_instances": 40, "grid_ns": [1, 2, 5, 10, 30, 100], "fig_q": [0.5, 0.3, 0.2], "fig_eps": 0.1,
              "fig_ns": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], "n_sim": 20000,
              "toy_seed": 42, "toy_outcomes": 1000, "toy_concentration": 0.1, "toy_corpus_size": 100000,
              "toy_eps": 0.001, "toy_corpora": 2000,
              "ll_ks": [10, 100, 1000, 10000, 100000], "ll_ns": [10, 100, 1000, 10000], "ll_corpora": 100},
    "default": {"n_instances": 400, "grid_ns": [1, 2, 3, 5, 10, 20, 50, 100, 200], "fig_q": [0.5, 0.3, 0.2],
                "fig_eps": 0.1, "fig_ns": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048], "n_sim": 100000,
                "toy_seed": 42, "toy_outcomes": 1000, "toy_concentration": 0.1, "toy_corpus_size": 100000,
                "toy_eps": 0.001, "toy_corpora": 20000,
                "ll_ks": [10, 100, 1000, 10000, 100000, 1000000, 10000000],
                "ll_ns": [10, 100, 1000, 10000, 100000], "ll_corpora": 200},
    "paper": {"n_instances": 3000, "grid_ns": [1, 2, 3, 5, 10, 20, 50, 100, 200, 400], "fig_q": [0.5, 0.3, 0.2],
              "fig_eps": 0.1, "fig_ns": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096], "n_sim": 1000000,
              "toy_seed": 42, "toy_outcomes": 1000, "toy_concentration": 0.1, "toy_corpus_size": 100000,
              "toy_eps": 0.001, "toy_corpora": 100000,
              "ll_ks": [10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000],
              "ll_ns": [10, 100, 1000, 10000, 100000, 1000000], "ll_corpora": 200},
}
RULES = {
    "n_instances": {"type": "int", "min": 5, "max": 1000000, "doc": "random distributions q for the exact bound checks"},
    "grid_ns": {"type": "list[int]", "min": 1, "max": 2000, "doc": "corpus sizes N for the exact checks on random q"},
    "fig_q": {"type": "list[float]", "min": 0.0, "max": 1.0, "doc": "probabilities of the figure's small distribution (2 to 4 outcomes, sum 1)"},
    "fig_eps": {"type": "float", "min": 1e-6, "max": 100.0, "doc": "epsilon of the figure"},
    "fig_ns": {"type": "list[int]", "min": 1, "max": 8192, "doc": "corpus sizes N of the figure"},
    "n_sim": {"type": "int", "min": 100, "max": 100000000, "doc": "simulated corpora per N in the figure"},
    "toy_seed": {"type": "int", "min": 0, "max": 4294967295, "doc": "numpy legacy seed of the Dirichlet toy (the seed's 42)"},
    "toy_outcomes": {"type": "int", "min": 2, "max": 100000, "doc": "outcomes of the toy (the seed's 1000)"},
    "toy_concentration": {"type": "float", "min": 0.05, "max": 1000.0, "doc": "Dirichlet concentration of the toy (the seed's 0.1); "
                          "at least 0.05: a gamma(a) draw is below 1e-300 with probability about 1e-300^a, so smaller "
                          "concentrations give outcomes of probability 0 in float64 and toy_world refuses the draw "
                          "(at 0.01 for about half the seeds with 1,000 outcomes)"},
    "toy_corpus_size": {"type": "int", "min": 1, "max": 100000000, "doc": "N of the seed's corpora (100000)"},
    "toy_eps": {"type": "float", "min": 1e-9, "max": 100.0, "doc": "epsilon of the seed's typicality test (0.001)"},
    "toy_corpora": {"type": "int", "min": 100, "max": 10000000, "doc": "simulated corpora at the seed's setting"},
    "ll_ks": {"type": "list[int]", "min": 3, "max": 1000000000, "doc": "truncation points K of the infinite-entropy distribution"},
    "ll_ns": {"type": "list[int]", "min": 1, "max": 10000000, "doc": "corpus sizes N for the infinite-entropy distribution"},
    "ll_corpora": {"type": "int", "min": 10, "max": 100000, "doc": "simulated corpora per N for the infinite-entropy distribution"},
}

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from scipy import stats
from scipy.optimize import brentq
from statsmodels.stats.proportion import proportion_confint

from lmdist.book import chapter, params, plots
from lmdist.exact import infotheory as it
from lmdist.exact import instances, tan2024
from lmdist.exact import typicality as ty

rec = chapter.start(globals())
if not 2 <= len(fig_q) <= 4 or abs(sum(fig_q) - 1) > 1e-9 or min(fig_q) <= 0:
    raise params.ParameterError(f"parameter 'fig_q' = {fig_q}: need 2 to 4 positive probabilities summing to 1")
rng = np.random.default_rng(seed)
SRC = "seed 000 (Tan et al. 2024)"
ALPHA = 1e-4  # false-failure rate of every sampled claim
t_start = time.time()


def cp_interval(k, m, alpha):
    """Clopper-Pearson interval for a binomial proportion k/m at level 1 - alpha."""
    lo, hi = proportion_confint(k, m, alpha=alpha, method="beta")
    return float(np.nan_to_num(lo, nan=0.0)), float(np.nan_to_num(hi, nan=1.0))


# %% [markdown]
# ## Information content, entropy and typical corpora
#
# Let $q$ be a distribution on a finite set $\mathcal Y$. The **information content** of an outcome is
# $I(y)=-\log q(y)$ (nats); the **entropy** is its mean and the **varentropy** its variance,
#
# $$H(q)=\mathbb E_q I=-\sum_y q(y)\log q(y),\qquad V(q)=\operatorname{Var}_q I=\sum_y q(y)\big(\log q(y)+H(q)\big)^2 .$$
#
# A **corpus** is $\mathbf Y=(Y_1,\dots,Y_N)$, $Y_n\stackrel{\text{iid}}{\sim}q$, and its average information content is
# $A_N=\frac1N\sum_n I(Y_n)=-\frac1N\log q(\mathbf Y)$. The corpus is **$\varepsilon$-typical** when
#
# $$|A_N-H(q)|\le\varepsilon .$$
#
# Typicality is a property of a *corpus*, not of an outcome (a single string is a corpus only when $N=1$). The
# single most probable corpus, the most probable outcome repeated $N$ times, has $A_N=-\log\max q<H(q)$ (unless $q$
# is uniform on its support), so it is atypical for every $N$ as soon as $\varepsilon<H(q)+\log\max q$. The typical
# set $T^\varepsilon_N$ is a set of $N$-tuples; the question is how much of $q^{\otimes N}$ it holds.
#
# ```{prf:definition} Atypicality
# :label: def-atypical
#
# $P_N(\varepsilon)=P\big(|A_N-H(q)|>\varepsilon\big)=1-q^{\otimes N}(T^\varepsilon_N)$.
# ```

# %% [markdown]
# ## The Chebyshev bound
#
# ```{prf:theorem} Chebyshev typicality bound
# :label: thm-chebyshev-typical
#
# For every finite $q$, $N\ge1$ and $\varepsilon>0$: $\;P\big(|A_N-H(q)|\ge\varepsilon\big)\le\dfrac{V(q)}{N\varepsilon^2}$.
# In particular $P_N(\varepsilon)=O(1/N)$ and $q^{\otimes N}(T_N^\varepsilon)\to1$.
# ```
#
# ```{prf:proof}
# $A_N$ is an average of $N$ iid copies of $I(Y)$, so $\mathbb E A_N=H(q)$ and, by independence,
# $\operatorname{Var}A_N=V(q)/N$. Chebyshev's inequality (Markov's inequality for $(A_N-H)^2\ge0$) gives
# $P(|A_N-H|\ge\varepsilon)=P\big((A_N-H)^2\ge\varepsilon^2\big)\le\mathbb E(A_N-H)^2/\varepsilon^2=V/(N\varepsilon^2)$.
# Only $V(q)<\infty$ is used, so the bound holds verbatim on a countable $\mathcal Y$ when the varentropy is finite.
# ```
#
# ## The Chernoff bound and the Rényi entropy
#
# The **Rényi entropy** of order $\alpha\ne1$ is $H_\alpha(q)=\frac1{1-\alpha}\log\sum_{y\in\operatorname{supp}q}q(y)^\alpha$
# (any real $\alpha$ on a finite space; $H_1=H$ by continuity); it is non-increasing in $\alpha$.
#
# ```{prf:lemma} The cumulant generating function of the information content is a Rényi entropy
# :label: lem-cgf-renyi
#
# $\Lambda(\lambda)=\log\mathbb E_q e^{\lambda I(Y)}=\log\sum_y q(y)^{1-\lambda}=\lambda\,H_{1-\lambda}(q)$ for every real $\lambda\ne0$ (and $\Lambda(0)=0$).
# ```
#
# ```{prf:proof}
# $e^{\lambda I(y)}=q(y)^{-\lambda}$, so $\mathbb E_q e^{\lambda I}=\sum_y q(y)\,q(y)^{-\lambda}$. With $\alpha=1-\lambda$,
# $\frac1{1-\alpha}\log\sum q^\alpha=\frac1\lambda\log\sum q^{1-\lambda}$, i.e. $\log\sum q^{1-\lambda}=\lambda H_{1-\lambda}(q)$.
# ```
#
# ```{prf:theorem} Chernoff–Rényi typicality bound
# :label: thm-chernoff-typical
#
# For every finite $q$, $N\ge1$ and $\varepsilon>0$,
#
# $$P(A_N\ge H+\varepsilon)\le e^{-N I_+(\varepsilon)},\qquad I_+(\varepsilon)=\sup_{\lambda>0}\lambda\big(\varepsilon-[H_{1-\lambda}(q)-H(q)]\big),$$
#
# $$P(A_N\le H-\varepsilon)\le e^{-N I_-(\varepsilon)},\qquad I_-(\varepsilon)=\sup_{\mu>0}\mu\big(\varepsilon-[H(q)-H_{1+\mu}(q)]\big),$$
#
# so $P_N(\varepsilon)\le e^{-NI_+(\varepsilon)}+e^{-NI_-(\varepsilon)}$. The brackets are **Rényi gaps**: orders
# below 1 ($H_{1-\lambda}\ge H$) control the upper tail, orders above 1 ($H_{1+\mu}\le H$) the lower tail.
# $I_\pm(\varepsilon)$ is the Legendre transform of $\Lambda$ at $H\pm\varepsilon$ (the rate function of chapter 03
# for the "reward" $I$); it is positive when $V>0$, $+\infty$ when $H\pm\varepsilon$ lies outside $[\min I,\max I]$,
# and $I_\pm(\varepsilon)=\frac{\varepsilon^2}{2V}+O(\varepsilon^3)$ as $\varepsilon\to0$.
# ```
#
# ```{prf:proof}
# For $\lambda>0$, Markov's inequality for $e^{\lambda NA_N}$ and independence give
# $P(A_N\ge H+\varepsilon)\le e^{-\lambda N(H+\varepsilon)}\,\mathbb E e^{\lambda\sum_nI(Y_n)}=\exp\{-N[\lambda(H+\varepsilon)-\Lambda(\lambda)]\}$.
# By the lemma $\lambda(H+\varepsilon)-\Lambda(\lambda)=\lambda(H+\varepsilon-H_{1-\lambda})$; optimise over $\lambda>0$.
# For the lower tail apply the same to $-I$ with $\mu>0$: $P(A_N\le H-\varepsilon)\le\exp\{-N[\mu(\varepsilon-H)+\Lambda(-\mu)]\}$ and
# $\Lambda(-\mu)=-\mu H_{1+\mu}$. A union bound adds the tails. Since $\Lambda$ is convex with $\Lambda'(0)=H$, the
# supremum over $\lambda>0$ at $x=H+\varepsilon>H$ equals the unrestricted Legendre transform $\sup_\lambda(\lambda x-\Lambda(\lambda))$,
# and $\Lambda''(0)=V$ gives the quadratic behaviour.
# ```
#
# Two remarks that matter beyond finite spaces. The lower-tail exponent only needs $\sum_y q(y)^{1+\mu}\le1$,
# which always holds (given $H<\infty$, so that $H-\varepsilon$ means something): **the lower tail always concentrates exponentially**. The upper tail needs
# $\sum_y q(y)^{1-\lambda}<\infty$ for some $\lambda>0$, which fails for some countable $q$ of finite entropy and
# finite varentropy ({ref}`ex-05-no-mgf`); there only the Chebyshev bound is left.
#
# We check the lemma and the variational formula: $\Lambda$ (from `tilting.cgf`) against $\lambda H_{1-\lambda}$ (an
# independent formula), and $I_\pm$ (from `largedev.rate_function`, a root of $\Lambda'(\lambda)=H\pm\varepsilon$)
# against the maximum of $\lambda(\varepsilon-[H_{1-\lambda}-H])$ over a grid of $\lambda$, on random $q$ drawn broadly:
# 2 to 4 outcomes (and, here, up to 50), Dirichlet weights of concentration log-uniform in $[0.05,5]$, each outcome
# removed (given probability 0) with probability 0.1 (`instances.random_logdist`, the book's one generator of random
# distributions).

# %%
def draw_q(rng, kmax=4):
    """A random finite q: k in 2..kmax outcomes, Dirichlet of concentration log-uniform in [0.05, 5], with holes."""
    k = int(rng.integers(2, kmax + 1))
    return instances.random_logdist(rng, k, concentration=10 ** rng.uniform(math.log10(0.05), math.log10(5)))


def draw_eps(rng, lq):
    """epsilon log-uniform in [0.03, 5] standard deviations of I (in [0.03, 5] nats when V = 0)."""
    v = ty.varentropy(lq)
    return (math.sqrt(v) if v > 0 else 1.0) * 10 ** rng.uniform(math.log10(0.03), math.log10(5))


# %%
cgf_err, sup_excess, sup_gap = 0.0, 0.0, 0.0
lams = np.concatenate([-np.logspace(-3, 1.5, 60)[::-1], np.logspace(-3, 1.5, 60)])
pos_l = lams[lams > 0]
for _ in range(max(20, n_instances // 4)):
    lq = draw_q(rng, kmax=50)
    on = lq > -np.inf
    lam_cgf = ty.information_cgf(lq, lams)
    renyi_form = lams * it.renyi_entropy(lq, 1 - lams)
    cgf_err = max(cgf_err, float(np.max(np.abs(lam_cgf - renyi_form) / (1 + np.abs(lams) * (-lq[on]).max()))))
    h, v, _ = ty.moments(lq)
    eps = draw_eps(rng, lq)
    i_up, i_lo = ty.chernoff_exponents(lq, eps)
    # the Renyi-gap form on a lambda grid never exceeds the Legendre transform, and a fine grid nearly attains it
    up_grid = float(np.max(pos_l * (eps - (it.renyi_entropy(lq, 1 - pos_l) - h))))
    lo_grid = float(np.max(pos_l * (eps - (h - it.renyi_entropy(lq, 1 + pos_l)))))
    for grid_val, exact in ((up_grid, i_up), (lo_grid, i_lo)):
        sup_excess = max(sup_excess, grid_val - exact if math.isfinite(exact) else -math.inf)
        if math.isfinite(exact) and exact < 5:
            sup_gap = max(sup_gap, (exact - grid_val) / max(exact, 1e-12))

rec.check("cgf-renyi-error", "max |log E_q e^{lam I} - lam H_{1-lam}(q)| over random q and lam in [-31.6, 31.6], "
          "in units of 1 + |lam| max I", cgf_err, below=1e-12, source=SRC)
rec.check("renyi-sup-excess", "max over random q, eps of [grid sup of lam(eps - Renyi gap)] - I_pm(eps): the Renyi-gap form "
          "never exceeds the Legendre transform", sup_excess, at_most=1e-9, source=SRC)
rec.figure("renyi-sup-gap", "max relative shortfall of the lambda-grid sup below I_pm(eps) (finite I_pm < 5)", sup_gap)

# %% [markdown]
# Over random distributions the cumulant generating function and $\lambda H_{1-\lambda}$ agree to
# {glue:text}`cgf-renyi-error:.2g` (relative), and the Rényi-gap form of the exponent never exceeds the Legendre
# transform (largest excess {glue:text}`renyi-sup-excess:.2g`); a grid of 60 positive $\lambda$ gets within a
# relative {glue:text}`renyi-sup-gap:.2g` of it.
#
# ## Both bounds against the exact probability
#
# When $q$ has $k$ outcomes, a corpus is summarised by its composition $c=(c_1,\dots,c_k)$, $\sum c_y=N$, which is
# multinomial; $A_N=\frac1N\sum_y c_y I(y)$. Summing the multinomial probabilities of the compositions with
# $|A_N-H|\ge\varepsilon$ gives $P(|A_N-H|\ge\varepsilon)$ **exactly** (`typicality.exact_atypicality`; the
# closed event, the one both bounds control, compared with a relative tolerance of $10^{-12}$). For
# {glue:text}`param-n_instances` random $q$ with 2 to 4 outcomes, a random $\varepsilon$ (log-uniform between
# 0.03 and 5 standard deviations of $I$) and every $N$ of the grid with at most $6\times10^4$ compositions:

# %%
rows = []
for i in range(n_instances):
    lq = draw_q(rng, kmax=4)
    eps = draw_eps(rng, lq)
    k = int((lq > -np.inf).sum())
    i_up, i_lo = ty.chernoff_exponents(lq, eps)
    for n in grid_ns:
        if math.comb(n + k - 1, k - 1) > 60_000:
            continue
        up, lo, both = ty.exact_atypicality(lq, n, eps, closed=True)
        rows.append(dict(instance=i, k=k, n=n, eps=eps, log_exact=both, log_up=up, log_lo=lo,
                         log_cheb=math.log(max(ty.chebyshev_bound(lq, n, eps), 1e-320)),
                         log_chern_up=-n * i_up, log_chern_lo=-n * i_lo,
                         log_chern=min(0.0, float(np.logaddexp(-n * i_up, -n * i_lo)))))
grid = pd.DataFrame(rows)

# %%
TOL = 1e-9  # in log space: far above the rounding of the exact sums and the bounds
cheb_viol = int((grid.log_exact > grid.log_cheb + TOL).sum())
chern_viol = int(((grid.log_up > grid.log_chern_up + TOL) | (grid.log_lo > grid.log_chern_lo + TOL)).sum())
useful = grid[["log_chern", "log_cheb"]].min(axis=1) < 0  # points where some bound is below 1
tighter = float(((grid.log_chern < grid.log_cheb) & useful).sum() / max(1, useful.sum()))
informative = grid[grid.log_exact > -700]
rec.figure("exact-points", "(q, N, eps) points compared exactly", len(grid))
rec.check("chebyshev-violations", "points where the exact P(|A_N - H| >= eps) exceeds V/(N eps^2)", cheb_viol, equals=0)
rec.check("chernoff-violations", "points where an exact tail exceeds its Chernoff-Renyi bound exp(-N I_pm(eps))",
          chern_viol, equals=0, source=SRC)
rec.figure("chernoff-tighter-fraction", "fraction of points (with a bound below 1) where Chernoff is tighter than Chebyshev",
           tighter)
rec.figure("chebyshev-slack-median", "median over points with exact P > 0 of log10(Chebyshev bound / exact P)",
           np.median((informative.log_cheb - informative.log_exact) / math.log(10)))
rec.figure("chernoff-slack-median", "median over points with exact P > 0 of log10(Chernoff bound / exact P)",
           np.median((informative.log_chern - informative.log_exact) / math.log(10)))

# %% [markdown]
# At {glue:text}`exact-points` points the exact probability never exceeded the Chebyshev bound
# ({glue:text}`chebyshev-violations` violations) nor either Chernoff tail bound ({glue:text}`chernoff-violations`
# violations). Where a bound says anything (is below 1), Chernoff is the tighter one at a fraction
# {glue:text}`chernoff-tighter-fraction:.2f` of the points; the median slack is
# {glue:text}`chebyshev-slack-median:.2f` decades for Chebyshev and {glue:text}`chernoff-slack-median:.2f` for
# Chernoff — Chebyshev is tight only for small $N$, Chernoff is off by a factor of order $\sqrt N$ (the
# Bahadur–Rao prefactor of chapter 03) but has the right exponent.
#
# ### As $N$ grows
#
# For one small $q$ we follow $N$ up, with the exact probability, both bounds, the normal approximation
# $2\Phi(-\varepsilon\sqrt{N/V})$ and {glue:text}`param-n_sim` simulated corpora per $N$.

# %%
lq_fig = it.normalize(np.log(np.array(fig_q, dtype=float)))
eps_f = fig_eps
h_f, v_f, _ = ty.moments(lq_fig)
i_up_f, i_lo_f = ty.chernoff_exponents(lq_fig, eps_f)
fig_rows, sim_misses = [], 0
alpha_each = ALPHA / len(fig_ns)
for n in fig_ns:
    up, lo, both = ty.exact_atypicality(lq_fig, n, eps_f)          # the open event: atypical
    a = ty.corpus_averages(rng, lq_fig, n, n_sim)
    hits = int((np.abs(a - h_f) > eps_f * (1 + 1e-12) + 1e-12).sum())
    lo_ci, hi_ci = cp_interval(hits, n_sim, alpha_each)
    sim_misses += int(not (lo_ci <= math.exp(both) <= hi_ci))
    fig_rows.append(dict(N=n, exact=math.exp(both), chebyshev=ty.chebyshev_bound(lq_fig, n, eps_f),
                         chernoff=math.exp(ty.log_chernoff_bound(lq_fig, n, eps_f)), clt=ty.clt_atypicality(lq_fig, n, eps_f),
                         simulated=hits / n_sim, ci_lo=lo_ci, ci_hi=hi_ci))
fig_df = pd.DataFrame(fig_rows)

# %%
rec.figure("fig-entropy", "H(q) of the figure's q (nats)", h_f)
rec.figure("fig-varentropy", "V(q) of the figure's q", v_f)
rec.figure("fig-rate-up", "I_+(eps) of the figure's q", i_up_f)
rec.figure("fig-rate-lo", "I_-(eps) of the figure's q", i_lo_f)
rec.figure("fig-quadratic", "eps^2/(2V) for the figure's q (the small-eps value of I_pm)", eps_f**2 / (2 * v_f))
rec.check("fig-sim-misses", f"N of the figure where the exact P(atypical) lies outside the Clopper-Pearson interval of the "
          f"simulated frequency (level 1 - {ALPHA:g}/{len(fig_ns)} each; false-failure rate <= {ALPHA:g})",
          sim_misses, equals=0)
last = fig_df.iloc[-1]
rec.figure("fig-exact-last", "exact P(atypical) at the largest N of the figure", float(last.exact))
rec.figure("fig-chebyshev-last", "Chebyshev bound at the largest N of the figure", float(last.chebyshev))
rec.figure("fig-chernoff-last", "Chernoff bound at the largest N of the figure", float(last.chernoff))
rec.figure("fig-clt-ratio-last", "exact P(atypical) / normal approximation at the largest N of the figure",
           float(last.exact / last.clt) if last.clt > 0 else math.inf)

# %%
with pd.option_context("display.float_format", "{:.3g}".format):
    display(fig_df.assign(ratio_chebyshev=fig_df.chebyshev / fig_df.exact, ratio_chernoff=fig_df.chernoff / fig_df.exact))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(fig_df.N, fig_df.exact, "o-", color="k", lw=2, label="exact")
ax.plot(fig_df.N, fig_df.chebyshev, "s--", color=plots.ROLE["prior"], label=r"Chebyshev $V/(N\varepsilon^2)$")
ax.plot(fig_df.N, fig_df.chernoff, "^--", color=plots.ROLE["aligned"], label=r"Chernoff $e^{-NI_+}+e^{-NI_-}$")
ax.plot(fig_df.N, fig_df.clt, ":", color=plots.ROLE["other"], lw=2, label=r"normal $2\Phi(-\varepsilon\sqrt{N/V})$")
pos = fig_df[fig_df.simulated > 0]
ax.errorbar(pos.N, pos.simulated, yerr=[pos.simulated - pos.ci_lo, pos.ci_hi - pos.simulated], fmt="x",
            color=plots.ROLE["reference"], capsize=3, label="simulated (CP interval)")
ax.set(xscale="log", yscale="log", xlabel="corpus size N", ylabel=r"$P(|A_N-H|>\varepsilon)$",
       ylim=(max(1e-300, fig_df.exact[fig_df.exact > 0].min() / 10), 2), title=f"q = {fig_q}, ε = {eps_f}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: the probability that a corpus is atypical, exactly and bounded.** For the small $q$ of the parameters
# ($H=${glue:text}`fig-entropy:.3f` nats, $V=${glue:text}`fig-varentropy:.3f`), the exact probability (black) falls
# exponentially in $N$; the Chebyshev bound (squares) falls only like $1/N$ and is
# {glue:text}`fig-chebyshev-last:.3g` at the largest $N$, where the exact value is
# {glue:text}`fig-exact-last:.3g` and the Chernoff bound (triangles) {glue:text}`fig-chernoff-last:.3g`. The Chernoff
# bound has the exact slope — its exponents $I_+=${glue:text}`fig-rate-up:.4f` and $I_-=${glue:text}`fig-rate-lo:.4f` are close to $\varepsilon^2/2V=${glue:text}`fig-quadratic:.4f` — and stays a
# $\sqrt N$-type factor above. The normal approximation (dotted) is excellent while $P$ is not small, but it is an
# approximation, not a bound, and its relative error grows in the far tail: at the largest $N$ the exact value is
# {glue:text}`fig-clt-ratio-last:.3g` times the normal one. Simulations (crosses, with Clopper–Pearson intervals) contain the exact
# value at every $N$ ({glue:text}`fig-sim-misses` misses).
#
# ## The seed's setting: $N=100{,}000$, $\varepsilon=0.001$
#
# The seed's toy aligned model is $q\sim\mathrm{Dirichlet}(0.1\cdot\mathbf 1)$ on 1,000 outcomes, drawn with
# numpy's legacy generator seeded with 42, and a corpus of $N=100{,}000$ draws is called typical at $\varepsilon=0.001$
# (chapter 06 builds the whole toy world and reproduces the seed's count of typical corpora). Here we only ask
# what the two bounds say about that $q$, $N$ and $\varepsilon$. Each simulated corpus is drawn as a multinomial
# vector of counts (the same law as $N$ iid draws).

# %%
lq_toy = tan2024.toy_world(toy_seed, toy_outcomes, toy_concentration).log_q
N_toy, eps_toy = toy_corpus_size, toy_eps
h_t, v_t, rho_t = ty.moments(lq_toy)
i_up_t, i_lo_t = ty.chernoff_exponents(lq_toy, eps_toy)
cheb_raw = ty.chebyshev_bound(lq_toy, N_toy, eps_toy, clip=False)
chern_raw = math.exp(ty.log_chernoff_bound(lq_toy, N_toy, eps_toy, clip=False))
clt_t = ty.clt_atypicality(lq_toy, N_toy, eps_toy)
be_t = ty.berry_esseen_halfwidth(lq_toy, N_toy)
a_toy = ty.corpus_averages(rng, lq_toy, N_toy, toy_corpora)
atyp_hits = int((np.abs(a_toy - h_t) > eps_toy).sum())
sim_lo, sim_hi = cp_interval(atyp_hits, toy_corpora, ALPHA)
# distance between the simulated interval and the Berry-Esseen bracket of the true probability (<= 0: they meet)
bracket_gap = max(sim_lo - min(1.0, clt_t + be_t), max(0.0, clt_t - be_t) - sim_hi)

# %%
rec.figure("toy-entropy", "H(q) of the seed's Dirichlet toy (nats)", h_t)
rec.figure("toy-varentropy", "V(q) = Var I of the seed's Dirichlet toy", v_t)
rec.figure("toy-chebyshev", "Chebyshev bound V/(N eps^2) at the seed's N = 100,000, eps = 0.001 (unclipped; > 1 says nothing)",
           cheb_raw, source=SRC)
rec.figure("toy-rate-up", "I_+(eps) at the seed's eps", i_up_t)
rec.figure("toy-rate-lo", "I_-(eps) at the seed's eps", i_lo_t)
rec.figure("toy-chernoff-quadratic", "I_+(eps) / (eps^2 / (2V)) at the seed's eps", i_up_t / (eps_toy**2 / (2 * v_t)))
rec.figure("toy-chernoff", "Chernoff bound exp(-N I_+) + exp(-N I_-) at the seed's setting (unclipped; > 1 says nothing)",
           chern_raw, source=SRC)
rec.figure("toy-clt", "normal approximation 2 Phi(-eps sqrt(N/V)) of P(atypical) at the seed's setting", clt_t)
rec.figure("toy-eps-in-sd", "eps sqrt(N/V): the seed's eps in standard deviations of A_N", eps_toy * math.sqrt(N_toy / v_t))
rec.figure("toy-typical-prob", "1 - normal approximation: the probability that a corpus is typical at the seed's setting", 1 - clt_t)
rec.figure("toy-berry-esseen", "Berry-Esseen half-width 2 C rho/(V^1.5 sqrt N), C = 0.4748: P(atypical) is within it of the normal value",
           be_t, source="Shevtsova 2011")
rec.figure("toy-sim-atypical", "simulated fraction of atypical corpora at the seed's setting", atyp_hits / toy_corpora,
           interval=cp_interval(atyp_hits, toy_corpora, 0.05))
rec.check("toy-sim-vs-clt", f"gap between the Clopper-Pearson interval (level 1 - {ALPHA:g}) of the simulated atypical fraction "
          "and the Berry-Esseen bracket [normal - BE, normal + BE] of the true probability (they meet when it is <= 0)",
          bracket_gap, at_most=0.0)

# %%
# the seed counted typical corpora among 1,000: predict that count with a rigorous 95 % range
p_typ_lo, p_typ_hi = 1 - min(1.0, clt_t + be_t), 1 - max(0.0, clt_t - be_t)
count_lo = int(stats.binom.ppf(0.025, 1000, p_typ_lo))
count_hi = int(stats.binom.ppf(0.975, 1000, p_typ_hi))
rec.figure("toy-typical-of-1000", "typical corpora expected among 1,000 at the seed's setting, 1000 (1 - normal approximation); "
           "interval: 95 % range of the count, any probability in the Berry-Esseen bracket", 1000 * (1 - clt_t),
           paper_value=213, interval=(count_lo, count_hi), source=SRC,
           note="the seed drew 1,000 corpora of 100,000 from this q (its public code); chapter 06 reproduces its draws")


def n_needed(delta):
    """Smallest N at which each bound (and the normal approximation) reaches delta."""
    n_cheb = v_t / (delta * eps_toy**2)
    n_clt = v_t * (stats.norm.isf(delta / 2) / eps_toy) ** 2
    f = lambda n: np.logaddexp(-n * i_up_t, -n * i_lo_t) - math.log(delta)  # noqa: E731
    n_chern = brentq(f, 1.0, 1e15)
    return n_cheb, n_chern, n_clt


n_cheb05, n_chern05, n_clt05 = n_needed(0.05)
rec.figure("toy-n-cheb-05", "N (millions) at which the Chebyshev bound reaches 0.05 at the seed's eps", n_cheb05 / 1e6)
rec.figure("toy-n-chern-05", "N (millions) at which the Chernoff bound reaches 0.05 at the seed's eps", n_chern05 / 1e6)
rec.figure("toy-n-clt-05", "N (millions) at which the normal approximation reaches 0.05 at the seed's eps", n_clt05 / 1e6)

# %%
display(pd.DataFrame({"quantity": ["H(q)", "V(q)", "Chebyshev V/(Nε²)", "Chernoff", "normal 2Φ(−ε√(N/V))",
                                   "Berry–Esseen ±", "simulated P(atypical)"],
                      "value": [h_t, v_t, cheb_raw, chern_raw, clt_t, be_t, atyp_hits / toy_corpora]}).round(5))

# %% [markdown]
# For this $q$, $H=${glue:text}`toy-entropy:.3f` nats and $V=${glue:text}`toy-varentropy:.3f`. At the seed's
# $N$ and $\varepsilon$:
#
# * the **Chebyshev bound is vacuous**: $V/(N\varepsilon^2)=${glue:text}`toy-chebyshev:.3g`, far above 1;
# * the **Chernoff bound is vacuous too**: $I_+=${glue:text}`toy-rate-up:.4g` and $I_-=${glue:text}`toy-rate-lo:.4g` per draw (ratio
#   {glue:text}`toy-chernoff-quadratic:.4f` to $\varepsilon^2/2V$), so $e^{-NI_+}+e^{-NI_-}=${glue:text}`toy-chernoff:.3g`;
# * the **normal approximation** gives $P(\text{atypical})\approx${glue:text}`toy-clt:.4f`, and it is not a guess:
#   by the Berry–Esseen theorem (for iid sums, with the constant 0.4748 of {cite}`shevtsova2011berryesseen`) the true probability is
#   within {glue:text}`toy-berry-esseen:.2g` of it; {glue:text}`toy-sim-atypical:.4f` of our simulated corpora were
#   atypical, consistent with that bracket (the Clopper–Pearson interval of the simulated fraction meets it: gap
#   {glue:text}`toy-sim-vs-clt:.2g`, where any value $\le0$ means they overlap).
#
# So at the seed's setting *most* corpora are **atypical**: about {glue:text}`toy-typical-of-1000:.0f` of 1,000
# corpora are expected to be typical, which is what the seed found (213 of 1,000). Concentration is not what makes
# the seed's corpora line up; it only says they will, for $\varepsilon$ of this size, at much larger $N$: the
# Chebyshev bound reaches 0.05 at $N\approx${glue:text}`toy-n-cheb-05:.3g` million draws, the Chernoff bound at
# {glue:text}`toy-n-chern-05:.3g` million, and the normal approximation predicts 0.05 at {glue:text}`toy-n-clt-05:.3g` million. The
# $\varepsilon$ the seed uses is {glue:text}`toy-eps-in-sd:.3f` standard deviations of $A_N$ ($\varepsilon\sqrt{N/V}$): a filter that
# keeps the central {glue:text}`toy-typical-prob:.1%` of the corpora, not a statement of concentration.

# %% [markdown]
# ## A distribution of infinite entropy
#
# Concentration needs $H(q)<\infty$ (for the law of large numbers) and $V(q)<\infty$ (for Chebyshev). On a countable
# space both can fail. Take, on $n\in\{2,3,\dots\}$,
#
# $$q(n)=\log2\Big(\frac1{\log n}-\frac1{\log(n+1)}\Big)=\frac{\log 2\,\log(1+1/n)}{\log n\,\log(n+1)}\;\sim\;\frac{\log2}{n\log^2n},$$
#
# whose tail telescopes, $P(Y\ge n)=\log2/\log n$, so $Y=\lfloor2^{1/U}\rfloor$ with $U\sim\mathrm U(0,1]$ samples it exactly.
#
# ```{prf:theorem} Infinite entropy: corpus averages drift to infinity
# :label: thm-infinite-entropy
#
# For this $q$: (i) $H(q)=\infty$; (ii) the truncations $q_K=q(\cdot\mid Y\le K)$ have finite entropies with
# $H(q_K)\to\infty$ as $K\to\infty$; (iii) $A_N\to\infty$ almost surely; (iv) for every $N\ge1$ and $s>0$,
# $P\big(A_N<\log2\,(\log N-s)\big)\le e^{-s^2/4}$. So no $\varepsilon$-typical set exists for any $\varepsilon$,
# and the corpus average grows like $\log 2\cdot\log N$.
# ```
#
# ```{prf:proof}
# $\log(1+1/n)\le1/n$ and $\log n\log(n+1)\ge\log2\log3$ give $q(n)<1/(n\log3)<1/n$, so $I(n)>\log n$.
# Write $W=1/U$ (Pareto: $P(W>w)=1/w$, $w\ge1$); $Y=\lfloor2^W\rfloor\ge2^W/2$, so $\log Y\ge\log2\,(W-1)$ and
# $I(Y)>\log2\,(W-1)$. (i) $H=\mathbb EI(Y)\ge\log2\,(\mathbb EW-1)=\infty$. (ii) $H(q_K)=\mathbb E[I\mid Y\le K]+\log P(Y\le K)
# \ge\mathbb E[I\,1\{Y\le K\}]+\log P(Y\le K)$; the first term tends to $H=\infty$ by monotone convergence and the second to 0.
# (iii) For any $T$, $A_N\ge\frac1N\sum_n\min(I(Y_n),T)\to\mathbb E\min(I,T)$ a.s. by the strong law; so $\liminf A_N\ge\mathbb E\min(I,T)$
# for every $T$, and the right side tends to $\infty$. (iv) $X_n=\min(W_n,N)\ge0$ has $\mathbb EX=1+\log N$ and
# $\mathbb EX^2=\int_0^N2w\,P(W>w)\,dw=2N-1$. Maurer's inequality for non-negative summands {cite}`maurer2003bound`,
# $P(\bar X\le\mathbb EX-s)\le\exp(-Ns^2/2\mathbb EX^2)\le e^{-s^2/4}$, and $A_N>\log2\,(\bar W-1)\ge\log2\,(\bar X-1)$ give (iv).
# ```
#
# Checks: the telescoping mass $\sum_{n\le K}q(n)=1-\log2/\log(K+1)$, summed numerically; $H(q_K)$ for growing $K$;
# the sampler's tail frequency against $\log2/\log n$; and the drift bound (iv) on simulated corpora, with $s$ chosen so
# that a violation anywhere has probability at most $10^{-4}$.

# %%
K_mass = min(max(ll_ks), 10**6)
n_all = np.arange(2, K_mass + 1, dtype=np.float64)
mass_err = abs(np.exp(ty.loglog_logq(n_all)).sum() - (1 - math.log(2) / math.log(K_mass + 1)))
rec.check("ll-mass-error", f"|sum_(n<=K) q(n) - (1 - log 2/log(K+1))| at K = {K_mass}", mass_err, below=1e-9)
ks = np.array(ll_ks)
h_ks = ty.loglog_truncated_entropies(ks)
rec.figure("ll-truncated-entropies", "H(q_K) for K in ll_ks (nats)", h_ks)
rec.figure("ll-entropy-first", "H(q_K) at the smallest K of ll_ks (nats)", h_ks[np.argmin(ks)])
rec.figure("ll-entropy-last", "H(q_K) at the largest K of ll_ks (nats)", h_ks[np.argmax(ks)])
rec.check("ll-entropy-increasing", "smallest increase of H(q_K) between consecutive K of ll_ks (nats): H(q_K) strictly "
          "increasing", np.diff(h_ks[np.argsort(ks)]).min(initial=math.inf), above=0.0)
rec.figure("ll-entropy-vs-loglog", "H(q_K) - log 2 log log K at the largest K (H(q_K) = log 2 log log K + O(1))",
           h_ks[np.argmax(ks)] - math.log(2) * math.log(math.log(ks.max())))

# %%
n_draws, n0 = 0, 10**6
tail_hits = 0
total_corpora = len(ll_ns) * ll_corpora
s_star = math.sqrt(4 * math.log(total_corpora / ALPHA))
ll_rows, drift_viol = [], 0
for n in ll_ns:
    rows_per_batch = max(1, 2_000_000 // n)
    a = []
    for start in range(0, ll_corpora, rows_per_batch):
        logy = ty.loglog_sample_log(rng, (min(rows_per_batch, ll_corpora - start), n))
        tail_hits += int((logy >= math.log(n0) - 1e-12).sum())
        n_draws += logy.size
        a.append(ty.loglog_information(logy.ravel()).reshape(logy.shape).mean(1))
    a = np.concatenate(a)
    b = ty.loglog_drift_bound(n, s_star)
    drift_viol += int((a < b).sum())
    ll_rows.append(dict(N=n, median=float(np.median(a)), q10=float(np.quantile(a, 0.1)), q90=float(np.quantile(a, 0.9)),
                        bound=b, bound_s2=ty.loglog_drift_bound(n, 2.0), frac_below_s2=np.mean(a < ty.loglog_drift_bound(n, 2.0))))
ll = pd.DataFrame(ll_rows)

# %%
t_lo, t_hi = cp_interval(tail_hits, n_draws, ALPHA)
rec.check("ll-tail-check", f"P(Y >= 1e6) = log 2/log 1e6, against the Clopper-Pearson interval (level 1 - {ALPHA:g}) of the "
          "sampled frequency", ty.loglog_tail(n0), inside=(t_lo, t_hi))
rec.check("ll-drift-violations", f"simulated corpora with A_N < log 2 (log N - s), s = sqrt(4 log(corpora/{ALPHA:g})) "
          f"(false-failure rate <= {ALPHA:g})", drift_viol, equals=0)
rec.figure("ll-medians", "median corpus average A_N for N in ll_ns", ll["median"].tolist())
rec.figure("ll-median-first", "median corpus average A_N at the smallest N of ll_ns", float(ll["median"].iloc[0]))
rec.figure("ll-median-last", "median corpus average A_N at the largest N of ll_ns", float(ll["median"].iloc[-1]))
rec.figure("ll-slope", "least-squares slope of the median A_N against log N (log 2 = 0.693 predicted)",
           np.polyfit(np.log(ll.N), ll["median"], 1)[0])
rec.figure("ll-frac-below-s2", "largest fraction of corpora below log 2 (log N - 2) over N (bound: e^-1 = 0.368)",
           float(ll.frac_below_s2.max()))
display(ll.round(3))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
ax = axes[0]
ax.plot(ks, h_ks, "o-", color=plots.ROLE["aligned"], label=r"$H(q_K)$")
ax.plot(ks, math.log(2) * np.log(np.log(ks)) + (h_ks[-1] - math.log(2) * math.log(math.log(ks[-1]))), ":", color="k",
        label=r"$\log2\,\log\log K$ + const")
ax.set(xscale="log", xlabel="truncation K", ylabel="entropy (nats)", title="Truncated entropies grow without bound")
ax.legend(fontsize=8)
ax = axes[1]
ax.fill_between(ll.N, ll.q10, ll.q90, color=plots.ROLE["aligned"], alpha=0.25, label="10–90 % of corpora")
ax.plot(ll.N, ll["median"], "o-", color=plots.ROLE["aligned"], label="median $A_N$")
ax.plot(ll.N, ll.bound_s2, "--", color=plots.ROLE["prior"], label=r"$\log2(\log N-2)$: below w.p. $\leq e^{-1}$")
ax.set(xscale="log", xlabel="corpus size N", ylabel="corpus average information $A_N$", title="Corpus averages drift up")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: no concentration without finite entropy.** Left: the entropy of the truncation $q_K$ keeps growing —
# from {glue:text}`ll-entropy-first:.3f` nats to {glue:text}`ll-entropy-last:.3f` nats over $K\in${glue:text}`param-ll_ks`, strictly
# increasing (smallest step {glue:text}`ll-entropy-increasing:.3f` nats) — but only like $\log2\,\log\log K$ (offset {glue:text}`ll-entropy-vs-loglog:.3f`
# at the largest $K$), since $\sum_{n\le K}q(n)\log n\approx\int_2^K\frac{\log2\,dn}{n\log n}=\log2\,(\log\log K-\log\log2)$ and the
# other terms of $I$ contribute $O(1)$: no truncation a computer can hold reveals the divergence. Right: the corpus averages
# do not settle — the median goes from {glue:text}`ll-median-first:.2f` to {glue:text}`ll-median-last:.2f` over
# $N\in${glue:text}`param-ll_ns`; they climb with slope {glue:text}`ll-slope:.3f` per unit of
# $\log N$, against the $\log2\approx0.693$ of the theorem's lower bound, and the 10–90 % band does not narrow. The
# proven bound (iv) held for every simulated corpus ({glue:text}`ll-drift-violations` violations at the
# $10^{-4}$ level), the share of corpora below $\log2(\log N-2)$ never exceeded {glue:text}`ll-frac-below-s2:.3f`
# (bound $e^{-1}$), the sampler's tail matches $\log2/\log n$ ($P(Y\ge10^6)=${glue:text}`ll-tail-check:.4f` lies in the
# interval of the sampled frequency), and the telescoping mass
# identity holds to {glue:text}`ll-mass-error:.2g`.
#
# A corpus of $N$ draws behaves like a draw from a truncation at $K\approx e^{cN}$ (its largest $\log Y$ is of
# order $N$), which is why the averages grow like $\log N$ while the truncated entropies grow only like $\log\log K$.
#
# ## What this means for the seed
#
# * The seed's Chebyshev statement, $P(\mathbf Y\notin T^\varepsilon_N)\le V(I)/(N\varepsilon^2)=O(1/N)$, is correct and
#   needs only $V<\infty$ (which implies $H<\infty$). The seed's "break condition" ("infinite entropy **or** infinite
#   variance") is the right pair of hypotheses for the two statements: with $H<\infty=V$ the law of large numbers still
#   gives $q^{\otimes N}(T^\varepsilon_N)\to1$, only without the $O(1/N)$ rate.
# * The Chernoff bound is a statement about Rényi entropies of **all** orders: orders below 1 (including negative ones,
#   $\lambda>1$) for the upper tail, above 1 for the lower tail; its exponent is the Legendre transform of $\lambda H_{1-\lambda}$
#   and is $\approx\varepsilon^2/2V$ for small $\varepsilon$. On an infinite space the upper-tail half can fail while $V<\infty$.
# * At the seed's own $N$ and $\varepsilon$ neither bound says anything (values {glue:text}`toy-chebyshev:.3g` and
#   {glue:text}`toy-chernoff:.3g`); the seed's 213 typical corpora out of 1,000 are what the normal approximation predicts.
#   Its trade-off rests on the *identity* of chapter 06 — exact for every corpus — and on the spread of $A_N$ around
#   $H$, which is of order $\sqrt{V/N}$; the typicality filter is a selection of corpora, discussed there.

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-05-binary
#
# Let $q=(\theta,1-\theta)$ with $\theta\ne\frac12$. Show that $A_N$ is an affine function of the number of
# first outcomes, compute $V(q)$, and show that $I_\pm(\varepsilon)$ is a binary relative entropy. What happens at
# $\theta=\frac12$?
# ```
#
# ```{solution} ex-05-binary
# :class: dropdown
#
# With $K$ first outcomes, $A_N=\frac KN I_1+(1-\frac KN)I_2$, $I_1=-\log\theta$, $I_2=-\log(1-\theta)$, and $H=\theta I_1+(1-\theta)I_2$,
# so $A_N-H=(\frac KN-\theta)(I_1-I_2)$ and $V=\theta(1-\theta)\log^2\frac{\theta}{1-\theta}$. Atypicality is
# $|\frac KN-\theta|\ge\varepsilon/|I_1-I_2|$, and the Legendre transform of a two-point variable is
# $\mathrm{kl}(\theta'\|\theta)$ at $\theta'=\theta\pm\varepsilon/|I_1-I_2|$ (chapter 03, {ref}`ex-03-binary`). At
# $\theta=\frac12$, $I$ is constant: $V=0$, $A_N=H$ for every corpus, and every corpus is typical for every $\varepsilon>0$
# — the same holds for any $q$ uniform on its support, and only for those.
# ```
#
# ```{exercise}
# :label: ex-05-no-mgf
#
# Let $q(n)\propto 1/(n\log^4n)$ on $n\ge2$. Show that $H(q)<\infty$ and $V(q)<\infty$, but $\sum_nq(n)^{1-\lambda}=\infty$ for
# every $\lambda>0$. Which of the two bounds of this chapter apply? Does the lower tail still concentrate exponentially?
# ```
#
# ```{solution} ex-05-no-mgf
# :class: dropdown
#
# $I(n)=\log Z+\log n+4\log\log n$, so $\mathbb EI^2<\infty$ iff $\sum\frac{\log^2n}{n\log^4n}=\sum\frac1{n\log^2n}<\infty$, which holds
# (integral test), hence $H,V<\infty$. But $q(n)^{1-\lambda}\ge c\,n^{-(1-\lambda)}(\log n)^{-4}$, and $\sum n^{-(1-\lambda)}(\log n)^{-4}=\infty$
# for $\lambda>0$: $\Lambda(\lambda)=\infty$ and the upper Chernoff bound is empty. Chebyshev applies: $P_N(\varepsilon)\le V/(N\varepsilon^2)$.
# The lower tail uses $\Lambda(-\mu)=\log\sum q^{1+\mu}\le0$, finite, so $P(A_N\le H-\varepsilon)\le e^{-NI_-(\varepsilon)}$ with
# $I_->0$ still holds: atypically *low* information content is exponentially rare, atypically *high* is only polynomially rare.
# ```
#
# ```{exercise}
# :label: ex-05-sample-size
#
# To guarantee $P_N(\varepsilon)\le\delta$, how large must $N$ be by Chebyshev, and approximately by Chernoff (use
# $I_\pm\approx\varepsilon^2/2V$)? Compare the two for $\delta=0.05$ and $\delta=10^{-6}$, and with the computed
# values of this chapter at the seed's $\varepsilon$.
# ```
#
# ```{solution} ex-05-sample-size
# :class: dropdown
#
# Chebyshev: $N\ge V/(\delta\varepsilon^2)$. Chernoff: $2e^{-N\varepsilon^2/2V}\le\delta$, i.e. $N\ge\frac{2V}{\varepsilon^2}\log\frac2\delta$.
# The ratio Chebyshev/Chernoff is $\frac1{2\delta\log(2/\delta)}$: about 2.7 at $\delta=0.05$ and $3.5\times10^4$ at $\delta=10^{-6}$.
# The normal approximation needs $N\approx\frac V{\varepsilon^2}z_{\delta/2}^2$ ($z_{0.025}^2\approx3.84$, against $2\log40\approx7.4$ for
# Chernoff and $20$ for Chebyshev). At the seed's $\varepsilon$ the cells above give {glue:text}`toy-n-cheb-05:.3g`,
# {glue:text}`toy-n-chern-05:.3g` and {glue:text}`toy-n-clt-05:.3g` million draws, roughly in the ratio $20:7.4:3.84$
# (the exact exponents are slightly below $\varepsilon^2/2V$).
# ```

# %%
print(f"computations took {time.time() - t_start:.1f} s")
rec.write(results_path)

# %% tags=["hide-input"]
rec.table()
