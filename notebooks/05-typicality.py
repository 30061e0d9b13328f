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
# {cite:t}`tan2024tradeoff` build their probability–quality trade-off on one fact: a corpus of many strings drawn
# from an aligned model $q$ has an average information content close to the entropy of $q$, with high
# probability. They state it with Chebyshev's inequality and with a Chernoff bound written through Rényi
# entropies, say that it breaks for a model of infinite entropy, and give a Rényi-gap version for Transformer
# language models. We work from a summary of the paper, so every statement below is derived here and checked.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# - **Shows.** When the average information content of a corpus concentrates around the entropy: the Chebyshev
#   and Chernoff–Rényi bounds, proved and checked against exact probabilities; that neither says anything at
#   Tan et al.'s own corpus size and tolerance; what the Rényi-gap bound needs of a model with an
#   end-of-sequence symbol; and a distribution of infinite entropy whose corpus averages drift upwards.
# - **Assumes.** Entropy and Kullback–Leibler divergence ({doc}`01-kl-regularised-alignment`); the rate function
#   and the Bahadur–Rao refinement of {doc}`03-asymptotics-bon-vs-rl`; Markov's inequality and moment generating
#   functions.
# - **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed paper-profile
#   run: {glue:text}`paper-run-time`.
# - **Re-execute.** `lmdist run notebooks/05-typicality.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/05-typicality.py` lists every parameter).
# :::
#
# The chapter covers, in order: the typical set of corpora and the Chebyshev bound; the Chernoff bound, whose
# cumulant generating function **is** a Rényi entropy; both bounds against the **exact** probability of
# atypicality and against simulation; Tan et al.'s own setting ($N=100{,}000$, $\varepsilon=0.001$, their
# Dirichlet toy), with the normal approximation and a rigorous Berry–Esseen bracket; a distribution of
# infinite entropy; and the Rényi-gap bound for a language model with an end-of-sequence symbol. The mathematics
# lives in `lmdist.exact.typicality` (with the cumulant generating function of `lmdist.exact.tilting` and the
# rate function of `lmdist.exact.largedev`).

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
toy_seed = None        # numpy legacy seed of Tan et al.'s Dirichlet toy
toy_outcomes = None    # outcomes of the toy
toy_concentration = None  # Dirichlet concentration of the toy
toy_corpus_size = None    # N of Tan et al.'s corpora
toy_eps = None         # epsilon of Tan et al.'s typicality test
toy_corpora = None     # simulated corpora at Tan et al.'s setting
ll_ks = None           # truncation points K of the infinite-entropy distribution
ll_ns = None           # corpus sizes N for the infinite-entropy distribution
ll_corpora = None      # simulated corpora per N there
lm_alphabet = None     # symbols of the bigram model with an end-of-sequence symbol
lm_logit_bound = None  # its logits are drawn uniformly in [-bound, bound]
lm_max_len = None      # longest string of the toy string space enumerated
lm_eps = None          # epsilon (nats) of its upper-tail exponent
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"n_instances": 40, "grid_ns": [1, 2, 5, 10, 30, 100], "fig_q": [0.5, 0.3, 0.2], "fig_eps": 0.1,
              "fig_ns": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], "n_sim": 20000,
              "toy_seed": 42, "toy_outcomes": 1000, "toy_concentration": 0.1, "toy_corpus_size": 100000,
              "toy_eps": 0.001, "toy_corpora": 2000,
              "ll_ks": [10, 100, 1000, 10000, 100000], "ll_ns": [10, 100, 1000, 10000], "ll_corpora": 100,
              "lm_alphabet": 2, "lm_logit_bound": 2.0, "lm_max_len": 10, "lm_eps": 0.5},
    "default": {"n_instances": 400, "grid_ns": [1, 2, 3, 5, 10, 20, 50, 100, 200], "fig_q": [0.5, 0.3, 0.2],
                "fig_eps": 0.1, "fig_ns": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048], "n_sim": 100000,
                "toy_seed": 42, "toy_outcomes": 1000, "toy_concentration": 0.1, "toy_corpus_size": 100000,
                "toy_eps": 0.001, "toy_corpora": 20000,
                "ll_ks": [10, 100, 1000, 10000, 100000, 1000000, 10000000],
                "ll_ns": [10, 100, 1000, 10000, 100000], "ll_corpora": 200,
                "lm_alphabet": 2, "lm_logit_bound": 2.0, "lm_max_len": 16, "lm_eps": 0.5},
    "paper": {"n_instances": 3000, "grid_ns": [1, 2, 3, 5, 10, 20, 50, 100, 200, 400], "fig_q": [0.5, 0.3, 0.2],
              "fig_eps": 0.1, "fig_ns": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096], "n_sim": 1000000,
              "toy_seed": 42, "toy_outcomes": 1000, "toy_concentration": 0.1, "toy_corpus_size": 100000,
              "toy_eps": 0.001, "toy_corpora": 100000,
              "ll_ks": [10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000],
              "ll_ns": [10, 100, 1000, 10000, 100000, 1000000], "ll_corpora": 200,
              "lm_alphabet": 2, "lm_logit_bound": 2.0, "lm_max_len": 18, "lm_eps": 0.5},
}
RULES = {
    "n_instances": {"type": "int", "min": 5, "max": 1000000, "doc": "random distributions q for the exact bound checks"},
    "grid_ns": {"type": "list[int]", "min": 1, "max": 2000, "doc": "corpus sizes N for the exact checks on random q"},
    "fig_q": {"type": "list[float]", "min": 0.0, "max": 1.0, "doc": "probabilities of the figure's small distribution (2 to 4 outcomes, sum 1)"},
    "fig_eps": {"type": "float", "min": 1e-6, "max": 100.0, "doc": "epsilon of the figure"},
    "fig_ns": {"type": "list[int]", "min": 1, "max": 8192, "doc": "corpus sizes N of the figure"},
    "n_sim": {"type": "int", "min": 100, "max": 100000000, "doc": "simulated corpora per N in the figure"},
    "toy_seed": {"type": "int", "min": 0, "max": 4294967295, "doc": "numpy legacy seed of the Dirichlet toy (Tan et al.'s 42)"},
    "toy_outcomes": {"type": "int", "min": 2, "max": 100000, "doc": "outcomes of the toy (Tan et al.'s 1000)"},
    "toy_concentration": {"type": "float", "min": 0.05, "max": 1000.0, "doc": "Dirichlet concentration of the toy (Tan et al.'s 0.1); "
                          "at least 0.05: a gamma(a) draw is below 1e-300 with probability about 1e-300^a, so smaller "
                          "concentrations give outcomes of probability 0 in float64 and toy_world refuses the draw "
                          "(at 0.01 for about half the seeds with 1,000 outcomes)"},
    "toy_corpus_size": {"type": "int", "min": 1, "max": 100000000, "doc": "N of Tan et al.'s corpora (100000)"},
    "toy_eps": {"type": "float", "min": 1e-9, "max": 100.0, "doc": "epsilon of Tan et al.'s typicality test (0.001)"},
    "toy_corpora": {"type": "int", "min": 100, "max": 10000000, "doc": "simulated corpora at Tan et al.'s setting"},
    "ll_ks": {"type": "list[int]", "min": 3, "max": 1000000000, "doc": "truncation points K of the infinite-entropy distribution"},
    "ll_ns": {"type": "list[int]", "min": 1, "max": 10000000, "doc": "corpus sizes N for the infinite-entropy distribution (at least two)"},
    "ll_corpora": {"type": "int", "min": 10, "max": 100000, "doc": "simulated corpora per N for the infinite-entropy distribution"},
    "lm_alphabet": {"type": "int", "min": 2, "max": 4, "doc": "symbols of the bigram model with an end-of-sequence symbol "
                    "(its string space has about lm_alphabet^lm_max_len strings: at most 2 million)"},
    "lm_logit_bound": {"type": "float", "min": 0.1, "max": 10.0, "doc": "bound B of the bigram model's logits, drawn uniformly in [-B, B]"},
    "lm_max_len": {"type": "int", "min": 2, "max": 20, "doc": "longest string of the toy string space enumerated for the bigram model"},
    "lm_eps": {"type": "float", "min": 1e-3, "max": 100.0, "doc": "epsilon (nats) of the bigram model's upper-tail exponent"},
}

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from scipy import stats
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax, logsumexp
from statsmodels.stats.proportion import proportion_confint

from lmdist.book import chapter, params, plots
from lmdist.exact import infotheory as it
from lmdist.exact import instances, tan2024
from lmdist.exact import strings as st
from lmdist.exact import typicality as ty

# %%
rec = chapter.start(globals())
if not 2 <= len(fig_q) <= 4 or abs(sum(fig_q) - 1) > 1e-9 or min(fig_q) <= 0:
    raise params.ParameterError(f"parameter 'fig_q' = {fig_q}: need 2 to 4 positive probabilities summing to 1")
if len(set(ll_ns)) < 2:
    raise params.ParameterError(f"parameter 'll_ns' = {ll_ns}: need at least two different corpus sizes (a slope is fitted)")
if st.space_size(lm_alphabet, lm_max_len) > st.SIZE_LIMIT:
    raise params.ParameterError(f"parameters 'lm_alphabet' = {lm_alphabet}, 'lm_max_len' = {lm_max_len}: the toy string "
                                f"space would hold {st.space_size(lm_alphabet, lm_max_len):,} strings, above {st.SIZE_LIMIT:,}")
rng = np.random.default_rng(seed)
SRC = "Tan et al. 2024"
ALPHA = 1e-4  # false-failure rate of every sampled claim


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
# $$
# \begin{aligned}
# H(q)&=\mathbb E_q I=-\sum_y q(y)\log q(y),\\
# V(q)&=\operatorname{Var}_q I=\sum_y q(y)\big(\log q(y)+H(q)\big)^2 .
# \end{aligned}
# $$
#
# A **corpus** is $\mathbf Y=(Y_1,\dots,Y_N)$, $Y_n\stackrel{\text{iid}}{\sim}q$, and its average information content is
# $A_N=\frac1N\sum_n I(Y_n)=-\frac1N\log q(\mathbf Y)$.
#
# ```{prf:definition} Typical corpora
# :label: def-typical
#
# A corpus is **$\varepsilon$-typical** when $|A_N-H(q)|\le\varepsilon$; the typical set $T^\varepsilon_N$ is the set
# of $\varepsilon$-typical $N$-tuples, and the probability of **atypicality** is
# $P_N(\varepsilon)=P\big(|A_N-H(q)|>\varepsilon\big)=1-q^{\otimes N}(T^\varepsilon_N)$.
# ```
#
# This book uses "$\le\varepsilon$" in this definition everywhere (chapter 06 too). A strict inequality would
# change nothing below: both bounds control $P(|A_N-H|\ge\varepsilon)$, which contains the atypical corpora under
# either convention.
#
# Typicality is a property of a *corpus*, not of an outcome (a single string is a corpus only when $N=1$). The
# single most probable corpus, the most probable outcome repeated $N$ times, has $A_N=-\log\max q<H(q)$ (unless $q$
# is uniform on its support), so it is atypical for every $N$ as soon as $\varepsilon<H(q)+\log\max q$. The
# question is how much of $q^{\otimes N}$ the typical set holds.

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
#
# $$
# \begin{aligned}
# P(|A_N-H|\ge\varepsilon)&=P\big((A_N-H)^2\ge\varepsilon^2\big)\\
# &\le\mathbb E(A_N-H)^2/\varepsilon^2=V/(N\varepsilon^2).
# \end{aligned}
# $$
#
# Only $V(q)<\infty$ is used, so the bound holds verbatim on a countable $\mathcal Y$ when the varentropy is finite.
# ```
#
# (ch05-chernoff-renyi)=
# ## The Chernoff bound and the Rényi entropy
#
# The **Rényi entropy** of order $\alpha\ne1$ is $H_\alpha(q)=\frac1{1-\alpha}\log\sum_{y\in\operatorname{supp}q}q(y)^\alpha$
# (any real $\alpha$ on a finite space; $H_1=H$ by continuity); it is non-increasing in $\alpha$.
#
# ```{prf:lemma} The cumulant generating function of the information content is a Rényi entropy
# :label: lem-cgf-renyi
#
# For every real $\lambda\ne0$ (and $\Lambda(0)=0$),
#
# $$\Lambda(\lambda)=\log\mathbb E_q e^{\lambda I(Y)}=\log\sum_y q(y)^{1-\lambda}=\lambda\,H_{1-\lambda}(q).$$
# ```
#
# ```{prf:proof}
# $e^{\lambda I(y)}=q(y)^{-\lambda}$, so $\mathbb E_q e^{\lambda I}=\sum_y q(y)\,q(y)^{-\lambda}$. With $\alpha=1-\lambda$,
# $\frac1{1-\alpha}\log\sum q^\alpha=\frac1\lambda\log\sum q^{1-\lambda}$, i.e. $\log\sum q^{1-\lambda}=\lambda H_{1-\lambda}(q)$.
# ```
#
# Write the two **Rényi gaps** $\Delta_+(\lambda)=H_{1-\lambda}(q)-H(q)\ge0$ (orders below 1) and
# $\Delta_-(\mu)=H(q)-H_{1+\mu}(q)\ge0$ (orders above 1), for $\lambda,\mu>0$.
#
# ```{prf:theorem} Chernoff–Rényi typicality bound
# :label: thm-chernoff-typical
#
# For every finite $q$, $N\ge1$ and $\varepsilon>0$,
#
# $$
# \begin{aligned}
# P(A_N\ge H+\varepsilon)&\le e^{-N I_+(\varepsilon)}, & I_+(\varepsilon)&=\sup_{\lambda>0}\lambda\big(\varepsilon-\Delta_+(\lambda)\big),\\
# P(A_N\le H-\varepsilon)&\le e^{-N I_-(\varepsilon)}, & I_-(\varepsilon)&=\sup_{\mu>0}\mu\big(\varepsilon-\Delta_-(\mu)\big),
# \end{aligned}
# $$
#
# so $P_N(\varepsilon)\le e^{-NI_+(\varepsilon)}+e^{-NI_-(\varepsilon)}$: orders below 1 control the upper tail, orders
# above 1 the lower tail. $I_\pm(\varepsilon)$ is the Legendre transform of $\Lambda$ at $H\pm\varepsilon$ (the rate
# function of chapter 03 for the "reward" $I$); it is positive when $V>0$, $+\infty$ when $H\pm\varepsilon$ lies
# outside $[\min I,\max I]$, and $I_\pm(\varepsilon)=\frac{\varepsilon^2}{2V}+O(\varepsilon^3)$ as $\varepsilon\to0$.
# ```
#
# ```{prf:proof}
# *Upper tail.* For $\lambda>0$, Markov's inequality for $e^{\lambda NA_N}$ and independence give
#
# $$P(A_N\ge H+\varepsilon)\le e^{-\lambda N(H+\varepsilon)}\,\mathbb E e^{\lambda\sum_nI(Y_n)}=e^{-N[\lambda(H+\varepsilon)-\Lambda(\lambda)]},$$
#
# and by the lemma $\lambda(H+\varepsilon)-\Lambda(\lambda)=\lambda(H+\varepsilon-H_{1-\lambda})=\lambda(\varepsilon-\Delta_+(\lambda))$;
# optimise over $\lambda>0$.
#
# *Lower tail.* For $\mu>0$, Markov's inequality for $e^{-\mu NA_N}$ gives
#
# $$
# \begin{aligned}
# P(A_N\le H-\varepsilon)&\le e^{\mu N(H-\varepsilon)}\,\mathbb E e^{-\mu\sum_nI(Y_n)}\\
# &=e^{-N[\mu(\varepsilon-H)-\Lambda(-\mu)]},
# \end{aligned}
# $$
#
# and $\Lambda(-\mu)=\log\sum_y q(y)^{1+\mu}=-\mu H_{1+\mu}(q)$, so the exponent is
# $\mu(\varepsilon-H)+\mu H_{1+\mu}=\mu(\varepsilon-\Delta_-(\mu))$; optimise over $\mu>0$. A union bound adds the
# tails. Since $\Lambda$ is convex with $\Lambda'(0)=H$, the supremum over $\lambda>0$ at $x=H+\varepsilon>H$ equals
# the unrestricted Legendre transform $\sup_\lambda(\lambda x-\Lambda(\lambda))$ (likewise for $\mu$ at $H-\varepsilon$),
# and $\Lambda''(0)=V$ gives the quadratic behaviour.
# ```
#
# Two remarks that matter beyond finite spaces. The lower-tail exponent only needs $\sum_y q(y)^{1+\mu}\le1$,
# which always holds (given $H<\infty$, so that $H-\varepsilon$ means something): **the lower tail always
# concentrates exponentially**. The upper tail needs $\sum_y q(y)^{1-\lambda}<\infty$ for some $\lambda>0$, which
# fails for some countable $q$ of finite entropy and finite varentropy ({ref}`ex-05-no-mgf`, and a language
# model in {ref}`ch05-renyi-eos`); there only the Chebyshev bound is left.
#
# We check the lemma and the variational formula on random $q$: $\Lambda$ (from `tilting.cgf`) against
# $\lambda H_{1-\lambda}$ (an independent formula); and $I_\pm$ (from `largedev.rate_function`, at the root of
# $\Lambda'(\lambda)=H\pm\varepsilon$) against the maximum over $\lambda$ of the Rényi-gap form
# $\lambda(\varepsilon-\Delta_\pm(\lambda))$, found by a one-dimensional search (scipy's bounded Brent method; the
# form is concave in $\lambda$, so the search finds its maximum). A grid of 60 positive $\lambda$ must stay below
# that maximum. The random $q$ are drawn broadly: 2 to 4 outcomes (and, here, up to 50), Dirichlet weights of
# concentration log-uniform in $[0.05,5]$, each outcome removed (given probability 0) with probability 0.1
# (`instances.random_logdist`, the book's one generator of random distributions).

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
def renyi_gap_form(lq, eps, lam, tail):
    """lam (eps - Delta(lam)): Delta = H_{1-lam}(q) - H(q) for the upper tail, H(q) - H_{1+lam}(q) for the lower."""
    h = it.entropy(lq)
    gap = it.renyi_entropy(lq, 1 - lam) - h if tail == "upper" else h - it.renyi_entropy(lq, 1 + lam)
    return lam * (eps - gap)


def sup_renyi_gap_form(lq, eps, tail):
    """(max, argmax) over lam > 0 of renyi_gap_form, by scipy's bounded search. The form is concave in lam (it is
    lam x - Lambda(+-lam) with Lambda convex): once it decreases from b to 2b, its maximum lies in (0, 2b)."""
    f = lambda lam: -renyi_gap_form(lq, eps, lam, tail)  # noqa: E731
    b = 1.0 / np.ptp(-lq[lq > -np.inf])
    while f(2 * b) < f(b):
        b *= 2
    res = minimize_scalar(f, bounds=(0.0, 2 * b), method="bounded", options={"xatol": 1e-13 * b})
    return -res.fun, res.x


# %%
cgf_err, sup_err, grid_excess, grid_short, n_finite = 0.0, 0.0, -math.inf, 0.0, 0
lams = np.concatenate([-np.logspace(-3, 1.5, 60)[::-1], np.logspace(-3, 1.5, 60)])
pos_l = lams[lams > 0]
for _ in range(max(20, n_instances // 4)):
    lq = draw_q(rng, kmax=50)
    max_i = (-lq[lq > -np.inf]).max()  # |lam| max I sets the rounding error of Lambda(lam)
    renyi_form = lams * it.renyi_entropy(lq, 1 - lams)
    cgf_err = max(cgf_err, float(np.max(np.abs(ty.information_cgf(lq, lams) - renyi_form) / (1 + np.abs(lams) * max_i))))
    eps = draw_eps(rng, lq)
    for tail, exact in zip(("upper", "lower"), ty.chernoff_exponents(lq, eps)):
        if not math.isfinite(exact):
            continue  # H +- eps outside [min I, max I]: the tail is empty and the form grows without bound
        n_finite += 1
        best, lam_best = sup_renyi_gap_form(lq, eps, tail)
        on_grid = float(np.max(renyi_gap_form(lq, eps, pos_l, tail)))
        scale = 1 + lam_best * max_i
        sup_err = max(sup_err, abs(best - exact) / scale)
        grid_excess = max(grid_excess, (on_grid - best) / scale)
        grid_short = max(grid_short, (best - on_grid) / best)

# %% tags=["hide-input"]
rec.check("cgf-renyi-error", "max |log E_q e^{lam I} - lam H_{1-lam}(q)| over random q and lam in [-31.6, 31.6], "
          "in units of 1 + |lam| max I", cgf_err, below=1e-12, source=SRC)
rec.check("renyi-sup-error", "max over random (q, eps) and both tails of |max_lam lam (eps - Renyi gap) - I_pm(eps)|: the "
          "maximum found by scipy's bounded search, I_pm from the root of Lambda' = H +- eps; in units of 1 + lam* max I",
          sup_err, at_most=1e-9, source=SRC)
rec.check("renyi-grid-excess", "max over the same of (maximum on a 60-point lambda grid - maximum found by the search) of "
          "the Renyi-gap form, in units of 1 + lam* max I: the grid stays below the maximum", grid_excess, at_most=1e-12)
rec.figure("renyi-grid-shortfall", "largest relative shortfall of the 60-point lambda-grid maximum below the searched "
           "maximum of the Renyi-gap form", grid_short)
_ = rec.figure("renyi-finite-pairs", "(q, eps, tail) triples with a finite exponent I_pm compared", n_finite)

# %% [markdown]
# Over random distributions the cumulant generating function and $\lambda H_{1-\lambda}$ agree to
# {glue:text}`cgf-renyi-error:.2g` (relative). On {glue:text}`renyi-finite-pairs` tails with a finite exponent, the
# maximum of the Rényi-gap form equals the Legendre transform $I_\pm(\varepsilon)$ to {glue:text}`renyi-sup-error:.2g`
# (relative): the two computations share nothing but $q$ and $\varepsilon$. A grid of 60 positive $\lambda$ stays
# below that maximum (largest excess {glue:text}`renyi-grid-excess:.2g`) and falls short of it by up to a relative
# {glue:text}`renyi-grid-shortfall:.2g`.
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

# %% tags=["hide-input"]
rec.figure("exact-points", "(q, N, eps) points compared exactly", len(grid))
rec.check("chebyshev-violations", "points where the exact P(|A_N - H| >= eps) exceeds V/(N eps^2)", cheb_viol, equals=0)
rec.check("chernoff-violations", "points where an exact tail exceeds its Chernoff-Renyi bound exp(-N I_pm(eps))",
          chern_viol, equals=0, source=SRC)
rec.figure("chernoff-tighter-fraction", "fraction of points (with a bound below 1) where Chernoff is tighter than Chebyshev",
           tighter)
rec.figure("chebyshev-slack-median", "median over points with exact P > 0 of log10(Chebyshev bound / exact P)",
           np.median((informative.log_cheb - informative.log_exact) / math.log(10)))
_ = rec.figure("chernoff-slack-median", "median over points with exact P > 0 of log10(Chernoff bound / exact P)",
               np.median((informative.log_chern - informative.log_exact) / math.log(10)))

# %% [markdown]
# At {glue:text}`exact-points` points the exact probability exceeded the Chebyshev bound at
# {glue:text}`chebyshev-violations` points and either Chernoff tail bound at {glue:text}`chernoff-violations`.
# Where a bound says anything (is below 1), Chernoff is the tighter one at a fraction
# {glue:text}`chernoff-tighter-fraction:.2f` of the points; the median slack is
# {glue:text}`chebyshev-slack-median:.2f` decades for Chebyshev and {glue:text}`chernoff-slack-median:.2f` for
# Chernoff. Chebyshev can be tight only for small $N$; Chernoff is off by a factor of order $\sqrt N$ (the
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

# %% tags=["hide-input"]
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
_ = rec.figure("fig-clt-ratio-last", "exact P(atypical) / normal approximation at the largest N of the figure",
               float(last.exact / last.clt) if last.clt > 0 else math.inf)

# %% tags=["hide-input"]
with pd.option_context("display.float_format", "{:.3g}".format):
    display(fig_df[["N", "exact", "chebyshev", "chernoff", "clt", "simulated"]].rename(columns={"clt": "normal"})
            .set_index("N"))

# %% tags=["hide-input"]
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
ax.legend(fontsize="small", loc="lower left")
plots.publish("fig-atypicality", fig)

# %% [markdown]
# ```{glue:figure} fig-atypicality
# :name: fig-atypicality
# :alt: Log-log plot of the probability that a corpus is atypical against the corpus size N, for a three-outcome distribution: the exact probability falls steeply, the Chebyshev bound falls like 1/N, the Chernoff bound runs parallel to the exact curve a little above it, the normal approximation follows the exact curve, and simulated frequencies with intervals sit on it.
#
# The probability that a corpus is atypical, exactly (black) and bounded, for the small $q$ of the parameters.
# The Chebyshev bound (squares) falls only like $1/N$; the Chernoff bound (triangles) has the exact slope; the
# normal approximation (dotted) is not a bound. Crosses: simulated frequencies with Clopper–Pearson intervals.
# ```
#
# For this $q$ ($H=${glue:text}`fig-entropy:.3f` nats, $V=${glue:text}`fig-varentropy:.3f`), {numref}`fig-atypicality`
# shows the exact probability falling exponentially in $N$, while the Chebyshev bound falls only like $1/N$ and is
# {glue:text}`fig-chebyshev-last:.3g` at the largest $N$, where the exact value is {glue:text}`fig-exact-last:.3g`
# and the Chernoff bound {glue:text}`fig-chernoff-last:.3g`. The Chernoff exponents
# $I_+=${glue:text}`fig-rate-up:.4f` and $I_-=${glue:text}`fig-rate-lo:.4f` are close to
# $\varepsilon^2/2V=${glue:text}`fig-quadratic:.4f`, and the bound stays a $\sqrt N$-type factor above the exact
# value. The normal approximation is excellent while $P$ is not small, but it is an approximation, not a bound: at
# the largest $N$ the exact value is {glue:text}`fig-clt-ratio-last:.3g` times the normal one. The simulated
# frequencies missed the exact value at {glue:text}`fig-sim-misses` of the $N$.
#
# (ch05-tan-setting)=
# ## Tan et al.'s setting: $N=100{,}000$, $\varepsilon=0.001$
#
# Tan et al.'s toy aligned model is $q\sim\mathrm{Dirichlet}(0.1\cdot\mathbf 1)$ on 1,000 outcomes, drawn with
# numpy's legacy generator seeded with 42, and a corpus of $N=100{,}000$ draws is called typical at
# $\varepsilon=0.001$ (chapter 06 builds the whole toy world and reproduces their count of typical corpora). Here
# we only ask what the two bounds say about that $q$, $N$ and $\varepsilon$. Each simulated corpus is drawn as a
# multinomial vector of counts (the same law as $N$ iid draws).

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
# Tan et al. counted typical corpora among 1,000: predict that count with a rigorous 95 % range
p_typ_lo, p_typ_hi = 1 - min(1.0, clt_t + be_t), 1 - max(0.0, clt_t - be_t)
count_lo = int(stats.binom.ppf(0.025, 1000, p_typ_lo))
count_hi = int(stats.binom.ppf(0.975, 1000, p_typ_hi))


def n_needed(target):
    """Smallest N at which each bound (and the normal approximation) reaches the probability ``target``."""
    n_cheb = v_t / (target * eps_toy**2)
    n_clt = v_t * (stats.norm.isf(target / 2) / eps_toy) ** 2
    f = lambda n: np.logaddexp(-n * i_up_t, -n * i_lo_t) - math.log(target)  # noqa: E731
    n_chern = brentq(f, 1.0, 1e15)
    return n_cheb, n_chern, n_clt


n_cheb05, n_chern05, n_clt05 = n_needed(0.05)

# %% tags=["hide-input"]
rec.figure("toy-entropy", "H(q) of Tan et al.'s Dirichlet toy (nats)", h_t)
rec.figure("toy-varentropy", "V(q) = Var I of Tan et al.'s Dirichlet toy", v_t)
rec.figure("toy-chebyshev", "Chebyshev bound V/(N eps^2) at Tan et al.'s N = 100,000, eps = 0.001 (unclipped; > 1 says nothing)",
           cheb_raw, source=SRC)
rec.figure("toy-rate-up", "I_+(eps) at Tan et al.'s eps", i_up_t)
rec.figure("toy-rate-lo", "I_-(eps) at Tan et al.'s eps", i_lo_t)
rec.figure("toy-chernoff-quadratic", "I_+(eps) / (eps^2 / (2V)) at Tan et al.'s eps", i_up_t / (eps_toy**2 / (2 * v_t)))
rec.figure("toy-chernoff", "Chernoff bound exp(-N I_+) + exp(-N I_-) at Tan et al.'s setting (unclipped; > 1 says nothing)",
           chern_raw, source=SRC)
n_vacuous = int(cheb_raw >= 1) + int(chern_raw >= 1)
rec.figure("toy-bounds-verdict", "what the two bounds say at Tan et al.'s setting (a bound >= 1 on a probability says nothing)",
           ["both bounds say something", "only one of the two bounds says anything", "neither bound says anything"][n_vacuous],
           source=SRC)
rec.figure("toy-clt", "normal approximation 2 Phi(-eps sqrt(N/V)) of P(atypical) at Tan et al.'s setting", clt_t)
rec.figure("toy-eps-in-sd", "eps sqrt(N/V): Tan et al.'s eps in standard deviations of A_N", eps_toy * math.sqrt(N_toy / v_t))
rec.figure("toy-typical-prob", "1 - normal approximation: the probability that a corpus is typical at Tan et al.'s setting", 1 - clt_t)
rec.figure("toy-berry-esseen", "Berry-Esseen half-width 2 C rho/(V^1.5 sqrt N), C = 0.4748: P(atypical) is within it of the normal value",
           be_t, source="Shevtsova 2011")
rec.figure("toy-sim-atypical", "simulated fraction of atypical corpora at Tan et al.'s setting", atyp_hits / toy_corpora,
           interval=cp_interval(atyp_hits, toy_corpora, 0.05))
rec.check("toy-sim-vs-clt", f"gap between the Clopper-Pearson interval (level 1 - {ALPHA:g}) of the simulated atypical fraction "
          "and the Berry-Esseen bracket [normal - BE, normal + BE] of the true probability (they meet when it is <= 0)",
          bracket_gap, at_most=0.0)
rec.figure("toy-typical-of-1000", "typical corpora expected among 1,000 at Tan et al.'s setting, 1000 (1 - normal approximation); "
           "interval: 95 % range of the count, any probability in the Berry-Esseen bracket", 1000 * (1 - clt_t),
           paper_value=213, interval=(count_lo, count_hi), source=SRC,
           note="Tan et al. drew 1,000 corpora of 100,000 from this q (their public code); chapter 06 reproduces their draws")
rec.figure("toy-count-verdict", "where Tan et al.'s 213 typical corpora of 1,000 lie against the 95 % range of the count",
           "inside" if count_lo <= 213 <= count_hi else "outside", source=SRC)
rec.figure("toy-n-cheb-05", "N (millions) at which the Chebyshev bound reaches 0.05 at Tan et al.'s eps", n_cheb05 / 1e6)
rec.figure("toy-n-chern-05", "N (millions) at which the Chernoff bound reaches 0.05 at Tan et al.'s eps", n_chern05 / 1e6)
_ = rec.figure("toy-n-clt-05", "N (millions) at which the normal approximation reaches 0.05 at Tan et al.'s eps", n_clt05 / 1e6)

# %% tags=["hide-input"]
display(pd.DataFrame({"quantity": ["H(q)", "V(q)", "Chebyshev V/(Nε²)", "Chernoff", "normal 2Φ(−ε√(N/V))",
                                   "Berry–Esseen ±", "simulated P(atypical)"],
                      "value": [h_t, v_t, cheb_raw, chern_raw, clt_t, be_t, atyp_hits / toy_corpora]})
        .set_index("quantity").round(5))

# %% [markdown]
# For this $q$, $H=${glue:text}`toy-entropy:.3f` nats and $V=${glue:text}`toy-varentropy:.3f`. At Tan et al.'s
# $N$ and $\varepsilon$, {glue:text}`toy-bounds-verdict`:
#
# * the **Chebyshev bound** is $V/(N\varepsilon^2)=${glue:text}`toy-chebyshev:.3g`;
# * the **Chernoff bound** has $I_+=${glue:text}`toy-rate-up:.4g` and $I_-=${glue:text}`toy-rate-lo:.4g` per draw
#   (ratio {glue:text}`toy-chernoff-quadratic:.4f` to $\varepsilon^2/2V$), so $e^{-NI_+}+e^{-NI_-}=${glue:text}`toy-chernoff:.3g`;
# * the **normal approximation** gives $P(\text{atypical})\approx${glue:text}`toy-clt:.4f`, and it is not a guess:
#   by the Berry–Esseen theorem (for iid sums, with the constant 0.4748 of {cite:t}`shevtsova2011berryesseen`) the
#   true probability is within {glue:text}`toy-berry-esseen:.2g` of it; a fraction {glue:text}`toy-sim-atypical:.4f`
#   of our simulated corpora was atypical, and the Clopper–Pearson interval of that fraction meets the bracket
#   (gap {glue:text}`toy-sim-vs-clt:.2g`, where any value $\le0$ means they overlap).
#
# So about {glue:text}`toy-typical-of-1000:.0f` of 1,000 corpora are expected to be typical; Tan et al. found 213
# of 1,000, {glue:text}`toy-count-verdict` the 95 % range of that count. Concentration is not what makes their
# corpora line up; it only says they will, for $\varepsilon$ of this size, at much larger $N$: the Chebyshev bound
# reaches 0.05 at $N\approx${glue:text}`toy-n-cheb-05:.3g` million draws, the Chernoff bound at
# {glue:text}`toy-n-chern-05:.3g` million, and the normal approximation predicts 0.05 at
# {glue:text}`toy-n-clt-05:.3g` million. Their $\varepsilon$ is {glue:text}`toy-eps-in-sd:.3f` standard deviations
# of $A_N$ ($\varepsilon\sqrt{N/V}$): a filter that keeps the central {glue:text}`toy-typical-prob:.1%` of the
# corpora, not a statement of concentration.

# %% [markdown]
# (ch05-infinite-entropy)=
# ## A distribution of infinite entropy
#
# Concentration needs $H(q)<\infty$ (for the law of large numbers) and $V(q)<\infty$ (for Chebyshev). On a countable
# space both can fail. Take, on $j\in\{2,3,\dots\}$,
#
# $$
# \begin{aligned}
# q(j)&=\log2\Big(\frac1{\log j}-\frac1{\log(j+1)}\Big)\\
# &=\frac{\log 2\,\log(1+1/j)}{\log j\,\log(j+1)}\;\sim\;\frac{\log2}{j\log^2j},
# \end{aligned}
# $$
#
# whose tail telescopes, $P(Y\ge j)=\log2/\log j$, so $Y=\lfloor2^{1/U}\rfloor$ with $U\sim\mathrm U(0,1]$ samples it exactly.
#
# ```{prf:theorem} Infinite entropy: corpus averages drift to infinity
# :label: thm-infinite-entropy
#
# For this $q$: (i) $H(q)=\infty$; (ii) the truncations $q_K=q(\cdot\mid Y\le K)$ have finite entropies with
# $H(q_K)\to\infty$ as $K\to\infty$; (iii) $A_N\to\infty$ almost surely; (iv) for every $N\ge1$ and $s>0$,
# $P\big(A_N<\log2\,(\log N-s)\big)\le e^{-s^2/4}$; (v) for every $N\ge1$ and $s\ge1$,
# $P\big(A_N>\log2\,(\log N+6s)+\kappa_0\big)\le4/s$, with $\kappa_0=\log2+\log\log2\approx0.327$.
#
# So $A_N-\log2\cdot\log N$ is bounded in probability, uniformly in $N$: the corpus average grows like
# $\log2\cdot\log N$ (in particular $A_N/\log N\to\log2$ in probability), and no $\varepsilon$-typical set exists
# for any $\varepsilon$.
# ```
#
# ```{prf:proof}
# $\log(1+1/j)\le1/j$ and $\log j\log(j+1)\ge\log2\log3$ give $q(j)<1/(j\log3)<1/j$, so $I(j)>\log j$.
# Write $W=1/U$ (Pareto: $P(W>w)=1/w$, $w\ge1$); $Y=\lfloor2^W\rfloor\ge2^W/2$, so $\log Y\ge\log2\,(W-1)$ and
# $I(Y)>\log2\,(W-1)$. (i) $H=\mathbb EI(Y)\ge\log2\,(\mathbb EW-1)=\infty$. (ii) $H(q_K)=\mathbb E[I\mid Y\le K]+\log P(Y\le K)$
# and $\mathbb E[I\mid Y\le K]\ge\mathbb E[I\,1\{Y\le K\}]$, which tends to $H=\infty$ by monotone convergence, while
# $\log P(Y\le K)\to0$.
# (iii) For any $\tau>0$, $A_N\ge\frac1N\sum_n\min(I(Y_n),\tau)\to\mathbb E\min(I,\tau)$ a.s. by the strong law; so $\liminf A_N\ge\mathbb E\min(I,\tau)$
# for every $\tau$, and the right side tends to $\infty$. (iv) $X_n=\min(W_n,N)\ge0$ has $\mathbb EX=1+\log N$ and
# $\mathbb EX^2=\int_0^N2w\,P(W>w)\,dw=2N-1$. Maurer's inequality for non-negative summands {cite:p}`maurer2003bound`,
# $P(\bar X\le\mathbb EX-s)\le\exp(-Ns^2/2\mathbb EX^2)\le e^{-s^2/4}$, and $A_N>\log2\,(\bar W-1)\ge\log2\,(\bar X-1)$ give (iv).
#
# (v) From above: $\log(1+1/j)\ge1/(j+1)$ and $\log\log j\le\log\log(j+1)$ give
# $I(j)\le-\log\log2+\log(j+1)+2\log\log(j+1)$, and $Y+1\le2^W+1\le2^{W+1}$, so
# $I(Y)\le\log2\cdot W+\kappa_0+2\log(1+W)$ and $A_N\le\kappa_0+\log2\cdot\bar W+2\bar G$ with $\bar G$ the mean of
# $G_n=\log(1+W_n)$, whose expectation is $\int_1^\infty\log(1+w)\,w^{-2}dw=2\log2$. The maximum of the $W_n$ exceeds $Ns\ge1$ with
# probability at most $N/(Ns)=1/s$; below it $\bar W=\bar X'$ for $X'_n=\min(W_n,Ns)$, with
# $\mathbb EX'=1+\log(Ns)$ and $\operatorname{Var}\bar X'\le(2Ns-1)/N<2s$, so by Chebyshev
# $P(\bar X'>1+\log N+\log s+s)<2/s$. As $1+\log s+s\le2s$, $P(\bar W>\log N+2s)\le3/s$. Markov's inequality gives
# $P(\bar G>2\log2\cdot s)\le1/s$. Outside these events,
# $A_N\le\kappa_0+\log2\,(\log N+2s)+4\log2\cdot s=\log2\,(\log N+6s)+\kappa_0$.
# ```
#
# The slope of the *median* of $A_N$ against $\log N$ tends to $\log2$: $\bar W-\log N$ converges in distribution
# (a sum of Pareto variables of index 1 lies in the domain of attraction of a stable law of index 1), and the rest of
# $A_N-\log2\cdot\bar W$ is an average of variables with finite mean, so $A_N-\log2\cdot\log N$ converges in
# distribution to a law with a positive density.
#
# Checks: the telescoping mass $\sum_{j\le K}q(j)=1-\log2/\log(K+1)$, summed numerically; $H(q_K)$ for growing $K$;
# the sampler's tail frequency against $\log2/\log j$; and the **drift slope**: the least-squares slope of the
# median $A_N$ against $\log N$ must contain $\log2$ in its interval (normal, with a bootstrap standard error over
# the simulated corpora, level $1-10^{-4}$). The bounds (iv) and (v) are no check at these $N$: for a false-failure
# rate of $10^{-4}$ over all corpora, (iv) needs $s\approx8$, and $\log2\,(\log N-8)$ is negative for $N\le e^8$ and
# far below every corpus beyond. The share of corpora below the $s=2$ line (bound $e^{-1}$) is reported.

# %%
K_mass = min(max(ll_ks), 10**6)
n_all = np.arange(2, K_mass + 1, dtype=np.float64)
mass_err = abs(np.exp(ty.loglog_logq(n_all)).sum() - (1 - math.log(2) / math.log(K_mass + 1)))
ks = np.array(ll_ks)
h_ks = ty.loglog_truncated_entropies(ks)

# %% tags=["hide-input"]
rec.check("ll-mass-error", f"|sum_(j<=K) q(j) - (1 - log 2/log(K+1))| at K = {K_mass}", mass_err, below=1e-9)
rec.figure("ll-truncated-entropies", "H(q_K) for K in ll_ks (nats)", h_ks)
rec.figure("ll-entropy-first", "H(q_K) at the smallest K of ll_ks (nats)", h_ks[np.argmin(ks)])
rec.figure("ll-entropy-last", "H(q_K) at the largest K of ll_ks (nats)", h_ks[np.argmax(ks)])
rec.check("ll-entropy-increasing", "smallest increase of H(q_K) between consecutive K of ll_ks (nats): H(q_K) strictly "
          "increasing", np.diff(h_ks[np.argsort(ks)]).min(initial=math.inf), above=0.0)
_ = rec.figure("ll-entropy-vs-loglog", "H(q_K) - log 2 log log K at the largest K (H(q_K) = log 2 log log K + O(1))",
               h_ks[np.argmax(ks)] - math.log(2) * math.log(math.log(ks.max())))

# %%
n_draws, n0 = 0, 10**6
tail_hits = 0
ll_rows, ll_averages = [], []
for n in ll_ns:
    rows_per_batch = max(1, 2_000_000 // n)
    a = []
    for start in range(0, ll_corpora, rows_per_batch):
        logy = ty.loglog_sample_log(rng, (min(rows_per_batch, ll_corpora - start), n))
        tail_hits += int((logy >= math.log(n0) - 1e-12).sum())
        n_draws += logy.size
        a.append(ty.loglog_information(logy.ravel()).reshape(logy.shape).mean(1))
    a = np.concatenate(a)
    ll_averages.append(a)
    b2 = ty.loglog_drift_bound(n, 2.0)
    ll_rows.append(dict(N=n, median=float(np.median(a)), q10=float(np.quantile(a, 0.1)), q90=float(np.quantile(a, 0.9)),
                        bound_s2=b2, frac_below_s2=np.mean(a < b2)))
ll = pd.DataFrame(ll_rows)

# %%
N_BOOT = 2000  # bootstrap resamples of the corpora at each N: a standard error to a few per cent
x_log = np.log(ll.N.to_numpy(dtype=float))
w_fit = (x_log - x_log.mean()) / ((x_log - x_log.mean()) ** 2).sum()  # least-squares slope = w_fit @ medians
slope = float(w_fit @ ll["median"].to_numpy())
boot_medians = np.stack([np.median(a[rng.integers(0, len(a), (N_BOOT, len(a)))], axis=1) for a in ll_averages], axis=1)
slope_se = float(np.std(boot_medians @ w_fit, ddof=1))
z_check, z_95 = stats.norm.isf(ALPHA / 2), stats.norm.isf(0.025)

# %% tags=["hide-input"]
t_lo, t_hi = cp_interval(tail_hits, n_draws, ALPHA)
rec.check("ll-tail-check", f"P(Y >= 1e6) = log 2/log 1e6, against the Clopper-Pearson interval (level 1 - {ALPHA:g}) of the "
          "sampled frequency", ty.loglog_tail(n0), inside=(t_lo, t_hi))
rec.figure("ll-medians", "median corpus average A_N for N in ll_ns", ll["median"].tolist())
rec.figure("ll-median-first", "median corpus average A_N at the smallest N of ll_ns", float(ll["median"].iloc[0]))
rec.figure("ll-median-last", "median corpus average A_N at the largest N of ll_ns", float(ll["median"].iloc[-1]))
rec.figure("ll-slope", "least-squares slope of the median A_N against log N (interval: 95 %, normal with a bootstrap "
           "standard error)", slope, interval=(slope - z_95 * slope_se, slope + z_95 * slope_se))
rec.check("ll-slope-check", f"the predicted slope log 2 of the median A_N against log N, against the fitted slope's interval "
          f"(normal with a bootstrap standard error over {N_BOOT} resamples of the corpora, level 1 - {ALPHA:g})",
          math.log(2), inside=(slope - z_check * slope_se, slope + z_check * slope_se))
rec.figure("ll-frac-below-s2", "largest fraction of corpora below log 2 (log N - 2) over N (bound: e^-1 = 0.368)",
           float(ll.frac_below_s2.max()))
rec.figure("ll-band-first", "width of the 10-90 % band of A_N at the smallest N of ll_ns", float(ll.q90.iloc[0] - ll.q10.iloc[0]))
_ = rec.figure("ll-band-last", "width of the 10-90 % band of A_N at the largest N of ll_ns", float(ll.q90.iloc[-1] - ll.q10.iloc[-1]))

# %% tags=["hide-input"]
display(ll.set_index("N").round(3))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
ax = axes[0]
ax.plot(ks, h_ks, "o-", color=plots.ROLE["aligned"], label=r"$H(q_K)$")
ax.plot(ks, math.log(2) * np.log(np.log(ks)) + (h_ks[-1] - math.log(2) * math.log(math.log(ks[-1]))), ":", color="k",
        label=r"$\log2\,\log\log K$ + const")
ax.set(xscale="log", xlabel="truncation K", ylabel="entropy (nats)", title="Truncated entropies grow without bound")
ax.legend(fontsize="small", loc="lower right")
ax = axes[1]
ax.fill_between(ll.N, ll.q10, ll.q90, color=plots.ROLE["aligned"], alpha=0.25, label="10–90 % of corpora")
ax.plot(ll.N, ll["median"], "o-", color=plots.ROLE["aligned"], label="median $A_N$")
ax.plot(ll.N, ll.bound_s2, "--", color=plots.ROLE["prior"], label=r"$\log2(\log N-2)$: below w.p. $\leq e^{-1}$")
ax.set(xscale="log", xlabel="corpus size N", ylabel="corpus average information $A_N$", title="Corpus averages drift up")
ax.legend(fontsize="small", loc="upper left")
fig.tight_layout()
plots.publish("fig-infinite-entropy", fig)

# %% [markdown]
# ```{glue:figure} fig-infinite-entropy
# :name: fig-infinite-entropy
# :alt: Two panels on logarithmic horizontal axes. Left, the entropy of the truncated distribution rises with the truncation point K, following log 2 times log log K. Right, the median corpus average information content rises linearly in log N, with its 10 to 90 per cent band, above the dashed proven lower line log 2 (log N - 2).
#
# No concentration without finite entropy. Left: the entropy of the truncation $q_K$ grows without bound, but only
# like $\log2\,\log\log K$. Right: the corpus averages climb with $\log N$; the dashed line is the proven lower
# bound (iv) at $s=2$.
# ```
#
# In {numref}`fig-infinite-entropy` (left) the entropy of the truncation $q_K$ goes from
# {glue:text}`ll-entropy-first:.3f` nats to {glue:text}`ll-entropy-last:.3f` nats over $K\in${glue:text}`param-ll_ks`
# (smallest step {glue:text}`ll-entropy-increasing:.3f` nats), like $\log2\,\log\log K$ (offset
# {glue:text}`ll-entropy-vs-loglog:.3f` at the largest $K$), since
# $\sum_{j\le K}q(j)\log j\approx\int_2^K\frac{\log2\,dj}{j\log j}=\log2\,(\log\log K-\log\log2)$ and the other terms of
# $I$ contribute $O(1)$: no truncation a computer can hold reveals the divergence. On the right, the median corpus
# average goes from {glue:text}`ll-median-first:.2f` to {glue:text}`ll-median-last:.2f` over
# $N\in${glue:text}`param-ll_ns`, a slope of {glue:text}`ll-slope:.3f` per unit of $\log N$ against the predicted
# $\log2\approx0.693$ (the check requires $\log2$ to lie in the slope's interval at level $1-10^{-4}$), and the 10–90 % band is {glue:text}`ll-band-first:.2f` nats wide at the smallest
# $N$ and {glue:text}`ll-band-last:.2f` at the largest. The share of corpora below $\log2(\log N-2)$ is at most
# {glue:text}`ll-frac-below-s2:.3f` (bound $e^{-1}$), the sampler's tail matches $\log2/\log j$
# ($P(Y\ge10^6)=${glue:text}`ll-tail-check:.4f` lies in the interval of the sampled frequency), and the telescoping
# mass identity holds to {glue:text}`ll-mass-error:.2g`.
#
# A corpus of $N$ draws behaves like a draw from a truncation at a $K$ with $\log K$ of order $N$ (its largest
# $\log Y$ is of order $N$), which is why the averages grow like $\log N$ while the truncated entropies grow only like $\log\log K$.

# %% [markdown]
# (ch05-renyi-eos)=
# ## The Rényi-gap bound for a language model with an end-of-sequence symbol
#
# The summary of {cite:t}`tan2024tradeoff` names a third result, their Theorem 2: a concentration bound whose rate
# is set by a *Rényi gap* and which applies to Transformer-based language models. The summary does not
# reproduce the statement, so we examine it in the form {prf:ref}`thm-chernoff-typical` gives it: every $\lambda>0$
# at which the Rényi gap $\Delta_+(\lambda)=H_{1-\lambda}(q)-H(q)$ is finite gives
# $P(A_N\ge H+\varepsilon)\le e^{-N\lambda(\varepsilon-\Delta_+(\lambda))}$, and the lower tail needs nothing.
#
# A language model with an end-of-sequence symbol $\mathrm{EOS}$ puts its mass on $\Sigma^*$, all finite strings
# over its alphabet $\Sigma$: a countable space, on which $H_{1-\lambda}(q)$ can be infinite for every $\lambda>0$
# (then the bound is empty), and even $H(q)$ can be (the previous section). What a hypothesis on the model must
# deliver is one thing: **some Rényi entropy of order below 1 is finite**.
#
# ```{prf:theorem} Bounded next-symbol probabilities give finite Rényi gaps
# :label: thm-eos-renyi
#
# Let $q(y)=\prod_{t=1}^{|y|}q(y_t\mid y_{<t})\,q(\mathrm{EOS}\mid y)$ on $\Sigma^*$, and suppose that at every
# prefix $h$, of every length, $q(v\mid h)\ge\delta$ for every $v\in\Sigma\cup\{\mathrm{EOS}\}$ and
# $q(\mathrm{EOS}\mid h)\ge\delta_{\mathrm{EOS}}$ (so $\delta_{\mathrm{EOS}}\ge\delta>0$). Then
#
# 1. $q$ is tight, $\sum_{y\in\Sigma^*}q(y)=1$, and $P(|Y|\ge T)\le(1-\delta_{\mathrm{EOS}})^T$;
# 2. for $0<\lambda<\lambda_0=\log\frac1{1-\delta_{\mathrm{EOS}}}\big/\log\frac1\delta$,
#
#    $$
#    \begin{aligned}
#    \Lambda(\lambda)\le\bar\Lambda(\lambda)={}&\lambda\log\tfrac1\delta+\log\delta_{\mathrm{EOS}}\\
#    &-\log\big(1-\delta^{-\lambda}(1-\delta_{\mathrm{EOS}})\big)<\infty;
#    \end{aligned}
#    $$
#
# 3. so $\Delta_+(\lambda)$ is finite on $(0,\lambda_0)$, $\Delta_+(\lambda)\to0$ as $\lambda\downarrow0$, and
#    $I_+(\varepsilon)>0$ for every $\varepsilon>0$;
# 4. whatever the model, $I_+(\varepsilon)\le\lambda_c\,\varepsilon$ for the **critical order**
#    $\lambda_c=\sup\{\lambda:\Lambda(\lambda)<\infty\}$, which the hypothesis makes at least $\lambda_0$.
# ```
#
# ```{prf:proof}
# (1) At every prefix the string ends with probability at least $\delta_{\mathrm{EOS}}$, so it reaches length $T$
# with probability at most $(1-\delta_{\mathrm{EOS}})^T\to0$: no mass is left on infinite sequences. (2) Every factor
# of $q(y)$ is at least $\delta$, so $q(y)\ge\delta^{|y|+1}$ and $q(y)^{-\lambda}\le z^{|y|+1}$ with $z=\delta^{-\lambda}$;
# hence $e^{\Lambda(\lambda)}=\mathbb E\,q(Y)^{-\lambda}\le z\,\mathbb E z^{|Y|}$. Summing by parts,
#
# $$
# \begin{aligned}
# \mathbb E z^{|Y|}&=1+\textstyle\sum_{T\ge1}(z^T-z^{T-1})P(|Y|\ge T)\\
# &\le1+(z-1)\textstyle\sum_{T\ge1}z^{T-1}(1-\delta_{\mathrm{EOS}})^T=\dfrac{\delta_{\mathrm{EOS}}}{1-z(1-\delta_{\mathrm{EOS}})}
# \end{aligned}
# $$
#
# when $z(1-\delta_{\mathrm{EOS}})<1$, that is $\lambda<\lambda_0$; take logarithms. (3) $\Lambda$ is finite on
# $(-\infty,\lambda_0)$ (for $\lambda\le0$, $\sum_yq(y)^{1-\lambda}\le1$), an open interval around 0, so it is analytic
# there with $\Lambda'(0)=H$; hence $\Delta_+(\lambda)=\Lambda(\lambda)/\lambda-H\to0$, and
# $\lambda(\varepsilon-\Delta_+(\lambda))>0$ for small $\lambda$. (4) $\Delta_+\ge0$ (Rényi entropies do not increase
# with the order) and $\Delta_+=\infty$ beyond $\lambda_c$, so $\lambda(\varepsilon-\Delta_+(\lambda))\le\lambda_c\varepsilon$
# wherever it is finite.
# ```
#
# What the hypotheses mean for a model with $\mathrm{EOS}$:
#
# * **Transformers.** A softmax over logits bounded by $B$ in absolute value gives every probability at least
#   $e^{-2B}/(|\Sigma|+1)$. A Transformer of fixed depth with bounded weights, bounded positional encodings and layer
#   normalisation has logits bounded uniformly over prefixes of every length (the argument by which Du et al.,
#   2023, show that such Transformer language models are tight), so the theorem applies with
#   $\delta=e^{-2B}/(|\Sigma|+1)$. Nothing else about Transformers is used: any autoregressive model with uniformly
#   bounded logits qualifies, and a model whose $\mathrm{EOS}$ logit can fall without bound as the prefix grows is
#   not covered.
# * **The aligned model.** Concentration is applied to the aligned model, not to the prior. If
#   $q(y)\propto p(y)e^{r(y)/\beta}$ with $|r|\le R$, then
#   $q(v\mid h)=p(v\mid h)\,\mathbb E_p[e^{r/\beta}\mid hv]/\mathbb E_p[e^{r/\beta}\mid h]\ge p(v\mid h)\,e^{-2R/\beta}$
#   (the expectations over the strings that start with $hv$ and with $h$; likewise for $\mathrm{EOS}$), so the
#   hypothesis passes from $p$ to $q$ with $\delta e^{-2R/\beta}$; with an unbounded reward it need not.
# * **A length limit.** A model cut off at $L$ tokens ($\mathrm{EOS}$ forced at length $L$, as in generation with a
#   token limit and in the book's toy string spaces) lives on a finite space: every Rényi entropy is finite and
#   {prf:ref}`thm-chernoff-typical` applies as proved, with nothing to assume.
# * **The rate.** The hypothesis buys finiteness, not a useful rate. $\bar\Lambda$ is convex with slope
#   $\log(1/\delta)/\delta_{\mathrm{EOS}}$ at 0 (a bound on the mean information content, not $H$), so the exponent it
#   guarantees, $\sup_\lambda[\lambda(H+\varepsilon)-\bar\Lambda(\lambda)]$, is zero unless
#   $\varepsilon>\log(1/\delta)/\delta_{\mathrm{EOS}}-H$; and $\lambda_0\approx\delta_{\mathrm{EOS}}/\log(1/\delta)$ is
#   tiny for a large vocabulary. The rate that matters is the model's own $I_+(\varepsilon)$, set by its Rényi gaps.
#
# **What cannot be checked, and what can.** The hypothesis quantifies over prefixes of every length, and
# $\sum_yq(y)^{1-\lambda}$ runs over infinitely many strings: for a Transformer neither is computable. On the book's
# toy string spaces (strings of length at most $L$, $\mathrm{EOS}$ forced at $L$) both are finite and the theorem says
# nothing beyond {prf:ref}`thm-chernoff-typical`, checked exactly above. What can be checked is the mechanism, on a
# model whose sums over all of $\Sigma^*$ have a closed form: a **bigram model** (the next-symbol distribution depends
# on the last token only; state 0 is the start) with logits drawn uniformly in $[-B,B]$. With
# $M_\alpha[a,b]=q(b\mid a)^\alpha$ (token $b$ moves to state $b$) and $e_\alpha[a]=q(\mathrm{EOS}\mid a)^\alpha$,
#
# $$\sum_{|y|\le L}q(y)^\alpha=\Big[\sum_{T=0}^{L}M_\alpha^T e_\alpha\Big]_{\mathrm{start}}\;\xrightarrow[L\to\infty]{}\;\big[(\mathbf 1-M_\alpha)^{-1}e_\alpha\big]_{\mathrm{start}},$$
#
# finite exactly when the spectral radius $\rho(M_\alpha)<1$, so $\lambda_c$ solves $\rho(M_{1-\lambda})=1$. We
# enumerate the toy string space of length {glue:text}`param-lm_max_len` with the bigram's own $\mathrm{EOS}$
# probabilities (no forced end) to check these sums length by length. As a counterpoint, the **slow-EOS model**:
# tokens uniform, $q(\mathrm{EOS}\mid h)=1-\big(\tfrac{t+1}{t+2}\big)^3$ at length $t$, so $P(|Y|\ge T)=(T+1)^{-3}$. Its
# $\mathrm{EOS}$ probability decays like $3/t$, which bounded logits forbid. It is tight and $H$, $V$ are finite
# ($\mathbb E|Y|^2<\infty$), but $\sum_yq(y)^{1-\lambda}=\sum_TP(|Y|=T)^{1-\lambda}|\Sigma|^{\lambda T}=\infty$ for every
# $\lambda>0$: no Rényi entropy of order below 1 is finite, and only Chebyshev is left.

# %%
n_sym = lm_alphabet
log_next = log_softmax(rng.uniform(-lm_logit_bound, lm_logit_bound, size=(n_sym + 1, n_sym + 1)), axis=1)
next_p = np.exp(log_next)  # row a: the state (0 = start, 1 + v = last token v); columns: the tokens, then EOS
delta, delta_eos = next_p.min(), next_p[:, n_sym].min()
lam_0 = math.log(1 / (1 - delta_eos)) / math.log(1 / delta)


def transfer(alpha):
    """M_alpha[a, 1 + v] = q(v | a)^alpha (token v moves to state 1 + v) and e_alpha[a] = q(EOS | a)^alpha."""
    m = np.zeros((n_sym + 1, n_sym + 1))
    m[:, 1:] = next_p[:, :n_sym] ** alpha
    return m, next_p[:, n_sym] ** alpha


def spectral_radius(alpha):
    return np.abs(np.linalg.eigvals(transfer(alpha)[0])).max()


def bigram_cgf(lam):
    """Lambda(lam) = log sum over all strings of q(y)^(1-lam) = log [(1 - M)^-1 e]_start; inf when rho(M) >= 1."""
    if spectral_radius(1 - lam) >= 1:
        return math.inf
    m, e = transfer(1 - lam)
    return math.log(np.linalg.solve(np.eye(n_sym + 1) - m, e)[0])


def bigram_partial(alpha, max_len):
    """log sum_{|y| <= L} q(y)^alpha for L = 0..max_len: the start row of sum_{T <= L} M^T e."""
    m, e = transfer(alpha)
    row, total, out = np.eye(n_sym + 1)[0], 0.0, []
    for _ in range(max_len + 1):
        total += row @ e
        out.append(math.log(total))
        row = row @ m
    return np.array(out)


def cgf_bound(lam):
    """The theorem's bound on Lambda(lam) from delta and delta_eos alone, for 0 < lam < lam_0."""
    return lam * math.log(1 / delta) + math.log(delta_eos) - math.log(1 - delta ** -lam * (1 - delta_eos))


# %%
def slow_length_logpmf(t):
    """log P(|Y| = t) for the slow-EOS model, P(|Y| >= t) = (t + 1)^-3."""
    t = np.asarray(t, dtype=float)
    return np.log((t + 1) ** -3.0 - (t + 2) ** -3.0)


def slow_partial(alpha, max_len):
    """log sum_{|y| <= L} q(y)^alpha = log sum_{T <= L} P(|Y| = T)^alpha |Sigma|^((1 - alpha) T), L = 0..max_len."""
    t = np.arange(max_len + 1)
    return np.logaddexp.accumulate(alpha * slow_length_logpmf(t) + (1 - alpha) * t * math.log(n_sym))


t_all = np.arange(10**6 + 1)  # H and V of the slow-EOS model: the terms beyond 10^6 add below 1e-5
lp_len = slow_length_logpmf(t_all)
i_len = -lp_len + t_all * math.log(n_sym)  # I(y) for |y| = t: every string of one length has the same probability
h_slow = float(np.exp(lp_len) @ i_len)
v_slow = float(np.exp(lp_len) @ (i_len - h_slow) ** 2)

# the toy string space: every string of length <= L, scored by each model's own EOS probabilities (no forced end)
space = st.StringSpace(n_sym, lm_max_len)
t_len = space.lengths.astype(float)
keep = 3 * np.log((t_len + 1) / (t_len + 2))  # log(1 - q(EOS | h)) of the slow-EOS model at length t
slow_table = np.column_stack([np.repeat((keep - math.log(n_sym))[:, None], n_sym, axis=1), np.log(-np.expm1(keep))])
log_q_models = {"bigram": st.sequence_logscores(space, log_next[space.last_token + 1]),
                "slow": st.sequence_logscores(space, slow_table)}


def enumerated_partial(log_q, alpha):
    """log sum_{|y| <= L} q(y)^alpha for L = 0..max_len, summed over the enumerated strings of each length."""
    return np.logaddexp.accumulate([logsumexp(alpha * log_q[space.level(n)]) for n in range(space.max_len + 1)])

# %%
lam_c = brentq(lambda lam: spectral_radius(1 - lam) - 1, 0.0, 1.0, xtol=1e-15)  # rho = |Sigma| > 1 at lam = 1
visits = np.linalg.solve((np.eye(n_sym + 1) - transfer(1.0)[0]).T, np.eye(n_sym + 1)[0])  # expected visits per state
h_lm = float(visits @ -(next_p * log_next).sum(1))  # H = sum over states of visits x next-symbol entropy
lam_fig = 0.8 * lam_c  # the order of the figure: inside the critical order, where the slow-EOS sum diverges visibly
alphas = (1.0, 1 - lam_fig, 1 - 1.5 * lam_c)  # orders 1, inside and beyond the critical order
partial_err = max(float(np.abs(enumerated_partial(log_q_models["bigram"], a) - bigram_partial(a, lm_max_len)).max())
                  for a in alphas)
slow_err = max(float(np.abs(enumerated_partial(log_q_models["slow"], a) - slow_partial(a, lm_max_len)).max())
               for a in alphas)
lam_grid = lam_0 * np.linspace(0.01, 0.99, 50)
cgf_excess = max(bigram_cgf(lam) - cgf_bound(lam) for lam in lam_grid)
res = minimize_scalar(lambda lam: bigram_cgf(lam) - lam * (h_lm + lm_eps), bounds=(0.0, lam_c * (1 - 1e-9)),
                      method="bounded", options={"xatol": 1e-12})
rate_up_lm = -res.fun
ETA = 1e-4  # fourth-order central difference: truncation ~ ETA^4 Lambda^(5)/30, rounding ~ 1e-15/ETA
h_from_cgf = (8 * (bigram_cgf(ETA) - bigram_cgf(-ETA)) - (bigram_cgf(2 * ETA) - bigram_cgf(-2 * ETA))) / (12 * ETA)
# the closed forms are followed until a slow-EOS term P(|Y|=T)^(1-lam) |Sigma|^(lam T) exceeds the first by e^4
# (the terms fall like T^(-4(1-lam)) before the exponential wins), and at least to length 60
t_far = np.arange(5001)
big = np.nonzero((1 - lam_fig) * (slow_length_logpmf(t_far) - slow_length_logpmf(0)) + lam_fig * t_far * math.log(n_sym) >= 4)[0]
FAR = int(max(60, big[0] if len(big) else 5000))
growth = np.diff(slow_partial(1 - lam_fig, FAR)[[FAR // 2, FAR]])[0] / (FAR - FAR // 2)

# %% tags=["hide-input"]
rec.figure("lm-delta", "smallest next-symbol probability delta of the bigram model", delta)
rec.figure("lm-delta-eos", "smallest EOS probability of the bigram model", delta_eos)
rec.figure("lm-lam0", "lambda_0 = log(1/(1 - delta_EOS)) / log(1/delta): the order guaranteed by the theorem", lam_0)
rec.check("lm-critical-order", "critical order lambda_c of the bigram model (rho(M_{1-lambda_c}) = 1), against the guaranteed "
          "lambda_0", lam_c, at_least=lam_0)
rec.check("lm-cgf-bound-excess", "max over 50 lambda in (0, lambda_0) of Lambda(lambda) - (the theorem's bound from delta alone)",
          cgf_excess, at_most=1e-12)
rec.check("lm-partial-error", "max |log partial sum of q(y)^alpha over strings of length <= L, enumerated - transfer matrix| "
          "over L <= lm_max_len and alpha in {1, 1 - 0.8 lambda_c, 1 - 1.5 lambda_c}", partial_err, at_most=1e-12)
rec.check("slow-partial-error", "the same for the slow-EOS model, enumerated - closed form", slow_err, at_most=1e-12)
rec.figure("lm-entropy", "H of the bigram model over all strings (nats)", h_lm)
rec.check("lm-entropy-check", "|H of the bigram model (expected visits x next-symbol entropies) - Lambda'(0) (central "
          "difference of the transfer-matrix CGF)|", abs(h_lm - h_from_cgf), at_most=1e-7)
rec.check("lm-rate-up", "I_+(eps) of the bigram model at eps = lm_eps, against the cap lambda_c eps", rate_up_lm,
          at_most=lam_c * lm_eps)
rec.figure("lm-eps-needed", "log(1/delta)/delta_EOS - H: the eps below which the bound from delta alone guarantees no exponent",
           math.log(1 / delta) / delta_eos - h_lm)
rec.figure("slow-entropy", "H of the slow-EOS model (nats; lengths to 10^6)", h_slow)
rec.figure("slow-varentropy", "V of the slow-EOS model (lengths to 10^6)", v_slow)
rec.figure("slow-growth", f"growth per unit length of log sum_(|y|<=L) q(y)^(1-lambda) of the slow-EOS model, L = {FAR // 2} "
           f"to {FAR}, lambda = 0.8 lambda_c", growth)
_ = rec.figure("slow-growth-limit", "lambda log |Sigma| at lambda = 0.8 lambda_c: the growth rate in the limit", lam_fig * math.log(n_sym))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
ax = axes[0]
lam_line = np.logspace(math.log10(lam_c) - 3, math.log10(lam_c * 0.999), 200)
ax.plot(lam_line, [bigram_cgf(lam) / lam - h_lm for lam in lam_line], color=plots.ROLE["aligned"],
        label=r"$\Delta_+(\lambda)$, bigram model")
lam_low = np.logspace(math.log10(lam_0) - 3, math.log10(lam_0 * 0.999), 100)
ax.plot(lam_low, [cgf_bound(lam) / lam - h_lm for lam in lam_low], "--", color=plots.ROLE["prior"],
        label=r"bound from $\delta$ alone")
ax.axvline(lam_0, color=plots.ROLE["prior"], ls=":", lw=1)
ax.axvline(lam_c, color=plots.ROLE["aligned"], ls=":", lw=1)
ax.set(xscale="log", yscale="log", xlabel=r"$\lambda$ (order $1-\lambda$)", ylabel="Rényi gap (nats)",
       title=r"Finite up to $\lambda_c$; guaranteed up to $\lambda_0$")
ax.legend(fontsize="small", loc="lower right")
ax = axes[1]
ls = np.arange(FAR + 1)
for name, closed, color in (("bigram", bigram_partial, plots.ROLE["aligned"]), ("slow-EOS", slow_partial, plots.ROLE["prior"])):
    ax.plot(ls, closed(1 - lam_fig, FAR), color=color, label=f"{name} model, closed form")
    ax.plot(np.arange(lm_max_len + 1), enumerated_partial(log_q_models[name.split("-")[0]], 1 - lam_fig), "o", ms=3, color=color,
            label=f"{name} model, enumerated")
ax.axhline(bigram_cgf(lam_fig), color=plots.ROLE["aligned"], ls="--", lw=1)
ax.set(xlabel="longest string length L", ylabel=r"$\log\sum_{|y|\leq L} q(y)^{1-\lambda}$",
       title=r"$\lambda=0.8\,\lambda_c$: one sum converges, one does not")
ax.legend(fontsize="small", loc="upper left")
fig.tight_layout()
plots.publish("fig-renyi-eos", fig)

# %% [markdown]
# ```{glue:figure} fig-renyi-eos
# :name: fig-renyi-eos
# :alt: Two panels. Left, on logarithmic axes, the Rényi gap of the bigram model rises from near zero and blows up at the critical order, while the gap bound computed from the smallest next-symbol probability alone is far higher and ends at a much smaller order. Right, against the longest string length, the log of the partial Rényi sums: the bigram model's curve levels off at its limit, the slow-EOS model's curve keeps rising; dots from enumerating the toy string space lie on both curves.
#
# Rényi gaps of a model with an end-of-sequence symbol. Left: the bigram model's gap $\Delta_+(\lambda)$ is finite
# up to $\lambda_c$ (right dotted line); the theorem, from $\delta$ alone, guarantees finiteness up to $\lambda_0$ (left
# dotted line) with a far larger gap (dashed). Right: the partial sums $\sum_{|y|\le L}q(y)^{1-\lambda}$ at
# $\lambda=0.8\,\lambda_c$ converge for the bigram model (to the dashed level) and grow without bound for the slow-EOS
# model; dots enumerate the toy string space.
# ```
#
# The bigram model drawn here has next-symbol probabilities at least $\delta=${glue:text}`lm-delta:.3g` and
# $\mathrm{EOS}$ probabilities at least {glue:text}`lm-delta-eos:.3g`, so the theorem guarantees finite Rényi gaps up to
# $\lambda_0=${glue:text}`lm-lam0:.3g`; the exact critical order is $\lambda_c=${glue:text}`lm-critical-order:.3f`
# ({numref}`fig-renyi-eos`, left). The transfer-matrix sums agree with the enumeration of the toy string space to
# {glue:text}`lm-partial-error:.1g` (and the slow-EOS closed form to {glue:text}`slow-partial-error:.1g`), the
# exact $\Lambda$ stays below the theorem's bound on $(0,\lambda_0)$ (largest excess
# {glue:text}`lm-cgf-bound-excess:.3g`), and the entropy $H=${glue:text}`lm-entropy:.3f` nats from the expected
# state visits agrees with $\Lambda'(0)$ to {glue:text}`lm-entropy-check:.1g`. The model's own upper-tail exponent
# at $\varepsilon=${glue:text}`param-lm_eps` is $I_+=${glue:text}`lm-rate-up:.4f` per string, within the cap
# $\lambda_c\varepsilon$; the bound from $\delta$ alone guarantees an exponent only for $\varepsilon$ above
# {glue:text}`lm-eps-needed:.1f` nats. The slow-EOS model has finite $H=${glue:text}`slow-entropy:.3f` nats and
# $V=${glue:text}`slow-varentropy:.3f`, yet its partial sums grow by {glue:text}`slow-growth:.3f` per unit of length
# over the second half of the lengths shown (the limit rate is $\lambda\log|\Sigma|=${glue:text}`slow-growth-limit:.3f`; at these
# lengths the polynomial decay of $P(|Y|=T)^{1-\lambda}$ still slows the growth).
#
# (ch05-what-it-means)=
# ## What this means for Tan et al.
#
# * Their Chebyshev statement, $P(\mathbf Y\notin T^\varepsilon_N)\le V(I)/(N\varepsilon^2)=O(1/N)$, is correct and
#   needs only $V<\infty$ (which implies $H<\infty$). Their "break condition" ("infinite entropy **or** infinite
#   variance") is the right pair of hypotheses for the two statements: with $H<\infty=V$ the law of large numbers still
#   gives $q^{\otimes N}(T^\varepsilon_N)\to1$, only without the $O(1/N)$ rate.
# * The Chernoff bound is a statement about Rényi entropies of **all** orders: orders below 1 (including negative ones,
#   $\lambda>1$) for the upper tail, above 1 for the lower tail; its exponent is the Legendre transform of $\lambda H_{1-\lambda}$
#   and is $\approx\varepsilon^2/2V$ for small $\varepsilon$. On an infinite space the upper-tail half can fail while $V<\infty$.
# * For a language model with $\mathrm{EOS}$, what the Rényi-gap bound needs of "Transformer-based" is a lower bound
#   on the next-symbol (in particular the $\mathrm{EOS}$) probabilities that holds at prefixes of every length. It
#   guarantees that the upper tail concentrates exponentially, not how fast; a model whose $\mathrm{EOS}$ probability
#   decays with the length can have finite entropy and varentropy and no finite Rényi entropy of order below 1.
# * At their own $N$ and $\varepsilon$, {glue:text}`toy-bounds-verdict` (values {glue:text}`toy-chebyshev:.3g` and
#   {glue:text}`toy-chernoff:.3g`); their 213 typical corpora out of 1,000 lie {glue:text}`toy-count-verdict` the
#   95 % range that the normal approximation with its Berry–Esseen bracket gives.
#   Their trade-off rests on the *identity* of chapter 06, exact for every corpus, and on the spread of $A_N$ around
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
# With $m$ first outcomes, $A_N=\frac mN I_1+(1-\frac mN)I_2$, $I_1=-\log\theta$, $I_2=-\log(1-\theta)$, and $H=\theta I_1+(1-\theta)I_2$,
# so $A_N-H=(\frac mN-\theta)(I_1-I_2)$ and $V=\theta(1-\theta)\log^2\frac{\theta}{1-\theta}$. Atypicality is
# $|\frac mN-\theta|>\varepsilon/|I_1-I_2|$, and the Legendre transform of a two-point variable is
# $\mathrm{kl}(\theta'\|\theta)$ at $\theta'=\theta\pm\varepsilon/|I_1-I_2|$ (chapter 03, {ref}`ex-03-binary`). At
# $\theta=\frac12$, $I$ is constant: $V=0$, $A_N=H$ for every corpus, and every corpus is typical for every $\varepsilon>0$
# — the same holds for any $q$ uniform on its support, and only for those.
# ```
#
# ```{exercise}
# :label: ex-05-no-mgf
#
# Let $q(j)\propto 1/(j\log^4j)$ on $j\ge2$. Show that $H(q)<\infty$ and $V(q)<\infty$, but $\sum_jq(j)^{1-\lambda}=\infty$ for
# every $\lambda>0$. Which of the two bounds of this chapter apply? Does the lower tail still concentrate exponentially?
# ```
#
# ```{solution} ex-05-no-mgf
# :class: dropdown
#
# $I(j)=\log Z+\log j+4\log\log j$, so $\mathbb EI^2<\infty$ iff $\sum\frac{\log^2j}{j\log^4j}=\sum\frac1{j\log^2j}<\infty$, which holds
# (integral test), hence $H,V<\infty$. But $q(j)^{1-\lambda}$ is at least a positive constant times $j^{-(1-\lambda)}(\log j)^{-4}$, and
# $\sum j^{-(1-\lambda)}(\log j)^{-4}=\infty$ for $\lambda>0$: $\Lambda(\lambda)=\infty$ and the upper Chernoff bound is empty.
# Chebyshev applies: $P_N(\varepsilon)\le V/(N\varepsilon^2)$. The lower tail uses $\Lambda(-\mu)=\log\sum q^{1+\mu}\le0$,
# finite, so $P(A_N\le H-\varepsilon)\le e^{-NI_-(\varepsilon)}$ with $I_->0$ still holds: atypically *low* information
# content is exponentially rare, atypically *high* is only polynomially rare. The slow-EOS model of
# {ref}`ch05-renyi-eos` is the same phenomenon for a language model.
# ```
#
# ```{exercise}
# :label: ex-05-sample-size
#
# To guarantee $P_N(\varepsilon)\le\eta$, how large must $N$ be by Chebyshev, and approximately by Chernoff (use
# $I_\pm\approx\varepsilon^2/2V$)? Compare the two for $\eta=0.05$ and $\eta=10^{-6}$, and with the computed
# values of this chapter at Tan et al.'s $\varepsilon$.
# ```
#
# ```{solution} ex-05-sample-size
# :class: dropdown
#
# Chebyshev: $N\ge V/(\eta\varepsilon^2)$. Chernoff: $2e^{-N\varepsilon^2/2V}\le\eta$, i.e. $N\ge\frac{2V}{\varepsilon^2}\log\frac2\eta$.
# The ratio Chebyshev/Chernoff is $\frac1{2\eta\log(2/\eta)}$: about 2.7 at $\eta=0.05$ and $3.5\times10^4$ at $\eta=10^{-6}$.
# The normal approximation needs $N\approx\frac V{\varepsilon^2}z_{\eta/2}^2$ ($z_{0.025}^2\approx3.84$, against $2\log40\approx7.4$ for
# Chernoff and $20$ for Chebyshev). At Tan et al.'s $\varepsilon$ the cells above give {glue:text}`toy-n-cheb-05:.3g`,
# {glue:text}`toy-n-chern-05:.3g` and {glue:text}`toy-n-clt-05:.3g` million draws, roughly in the ratio $20:7.4:3.84$
# (the exact exponents are slightly below $\varepsilon^2/2V$).
# ```
#
# ## Summary
#
# * The Chebyshev and Chernoff–Rényi bounds on atypicality are proved and checked against exact probabilities at
#   {glue:text}`exact-points` points ({glue:text}`chebyshev-violations` and {glue:text}`chernoff-violations`
#   violations); the maximum of the Rényi-gap form equals the Legendre transform to {glue:text}`renyi-sup-error:.1g`.
# * At Tan et al.'s setting {glue:text}`toy-bounds-verdict` (Chebyshev {glue:text}`toy-chebyshev:.3g`, Chernoff
#   {glue:text}`toy-chernoff:.3g`); the normal approximation, bracketed by Berry–Esseen, expects
#   {glue:text}`toy-typical-of-1000:.0f` typical corpora of 1,000, against their 213.
# * For a distribution of infinite entropy the corpus average is $\log2\cdot\log N+O_P(1)$, proved from both sides;
#   the simulated medians climb with slope {glue:text}`ll-slope:.3f` per unit of $\log N$.
# * A language model with $\mathrm{EOS}$ whose next-symbol probabilities are bounded below has finite Rényi gaps near
#   order 1 (guaranteed up to $\lambda_0=${glue:text}`lm-lam0:.3g` for the bigram model, whose critical order is
#   {glue:text}`lm-critical-order:.3f`); with an $\mathrm{EOS}$ probability decaying like $3/t$, $H=${glue:text}`slow-entropy:.3f`
#   and $V=${glue:text}`slow-varentropy:.3f` are finite but no Rényi entropy of order below 1 is.
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-05>`; when, at which
# profile and for how long each chapter last ran is on {ref}`the execution status page <execution-status>`.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
