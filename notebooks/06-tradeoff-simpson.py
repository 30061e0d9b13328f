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
# # The probability–quality trade-off and Simpson's paradox
#
# {cite:t}`tan2024tradeoff` observe that an aligned model $q\propto p\,e^{r/\beta}$ produces corpora whose
# average log-probability under the prior $p$ and average reward $r$ are *anti*-correlated, although single
# strings with a high $p$ tend to have a high reward, and they call it a Simpson's paradox. This chapter takes
# the observation apart. An identity puts every corpus on a line; a lemma shows that averaging cannot reverse
# a correlation; what is left is which strings are counted, which corpora are kept and which are pooled. We
# redo Tan et al.'s toy at its own settings, then repeat the experiment on small neural models.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# - **Shows.** Every corpus of an aligned model satisfies $\overline{\log p}+\overline r/\beta=\overline{\log q}+\log Z$,
#   and corpus averages keep their strings' correlation. On Tan et al.'s toy the corpus-level $-0.92$ comes
#   from counting outcomes uniformly, keeping typical corpora and resampling bins; a band on the aligned
#   model's average log-probability can strengthen the anti-correlation or weaken it, and a bivariate-normal
#   formula, checked on toy and neural corpora, says which.
# - **Assumes.** {doc}`01-kl-regularised-alignment` (the aligned model as a tilt of the prior, DPO's implicit
#   reward) and {doc}`05-typicality` (typical corpora); Pearson and Spearman correlations, the bivariate normal
#   distribution, the bootstrap.
# - **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed
#   paper-profile run: {glue:text}`paper-run-time`.
# - **Re-execute.** `lmdist run notebooks/06-tradeoff-simpson.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/06-tradeoff-simpson.py` lists every parameter; `-p policy=/path/to/model` swaps a model).
# :::
#
# Throughout, $r$ is a reward; correlation coefficients are named in words (Pearson, Spearman's $\rho$). The
# mathematics lives in `lmdist.exact.stats` (correlations, bootstraps, the band formula) and
# `lmdist.exact.tan2024` (the toy world); chapter 05 treats typicality and chapter 07 sampling adaptors.

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"
toy_seed = None        # the seed of the toy world (numpy legacy; Tan et al.'s 42)
toy_size = None        # outcomes of the toy world
toy_corpora = None     # corpora drawn from the aligned toy model (corpus c seeded with c)
toy_corpus_size = None # strings per toy corpus
eps = None             # typicality tolerance epsilon (nats)
n_bins = None          # bins of Tan et al.'s corpus-level estimator
per_bin = None         # corpora drawn per bin (with replacement)
n_boot = None          # bootstrap repeats for the binned estimator's interval
prior = None           # the prior (a bundled name, a local folder or a cached Hugging Face id)
policy = None          # the aligned model, DPO-trained from the prior
beta_dpo = None        # the DPO beta the policy was trained with
n_prompts = None
prompt_tokens = None
n_per_prompt = None    # strings sampled per prompt
max_new_tokens = None
n_prompt_boot = None   # repeats of the prompt-cluster bootstrap behind every neural interval
n_corpora = None       # bootstrap corpora of neural strings
corpus_size = None     # strings per bootstrap corpus
neural_band = None     # half-width of the neural band, in standard deviations of avg log pi
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"toy_seed": 42, "toy_size": 1000, "toy_corpora": 300, "toy_corpus_size": 100000, "eps": 0.001,
              "n_bins": 10, "per_bin": 100, "n_boot": 100,
              "prior": "tiny-imdb", "policy": "tiny-imdb-positive", "beta_dpo": 0.3,
              "n_prompts": 8, "prompt_tokens": 8, "n_per_prompt": 4, "max_new_tokens": 24, "n_prompt_boot": 50,
              "n_corpora": 200, "corpus_size": 16, "neural_band": 0.25},
    "default": {"toy_seed": 42, "toy_size": 1000, "toy_corpora": 1000, "toy_corpus_size": 100000, "eps": 0.001,
                "n_bins": 10, "per_bin": 100, "n_boot": 300,
                "prior": "tiny-imdb", "policy": "tiny-imdb-positive", "beta_dpo": 0.3,
                "n_prompts": 150, "prompt_tokens": 8, "n_per_prompt": 2, "max_new_tokens": 200,
                "n_prompt_boot": 400, "n_corpora": 1000, "corpus_size": 100, "neural_band": 0.25},
    "paper": {"toy_seed": 42, "toy_size": 1000, "toy_corpora": 1000, "toy_corpus_size": 100000, "eps": 0.001,
              "n_bins": 10, "per_bin": 100, "n_boot": 1000,
              "prior": "tiny-imdb", "policy": "tiny-imdb-positive", "beta_dpo": 0.3,
              "n_prompts": 1000, "prompt_tokens": 8, "n_per_prompt": 2, "max_new_tokens": 200,
              "n_prompt_boot": 400, "n_corpora": 2000, "corpus_size": 2000, "neural_band": 0.25},
}
RULES = {
    "toy_seed": {"type": "int", "min": 0, "doc": "seed of the toy world, numpy's legacy generator (Tan et al.'s 42)"},
    "toy_size": {"type": "int", "min": 10, "max": 100000, "doc": "outcomes of the toy world (Tan et al.'s 1000)"},
    "toy_corpora": {"type": "int", "min": 50, "max": 100000, "doc": "toy corpora (Tan et al.'s 1000)"},
    "toy_corpus_size": {"type": "int", "min": 100, "max": 10000000,
                        "doc": "strings per toy corpus (Tan et al.'s 100000)"},
    "eps": {"type": "float", "min": 1e-6, "max": 10.0, "doc": "typicality tolerance epsilon in nats (Tan et al.'s 0.001)"},
    "n_bins": {"type": "int", "min": 2, "max": 1000, "doc": "equal-width bins of average log p (Tan et al.'s 10)"},
    "per_bin": {"type": "int", "min": 1, "max": 100000, "doc": "corpora drawn per bin with replacement (Tan et al.'s 100)"},
    "n_boot": {"type": "int", "min": 20, "max": 100000, "doc": "bootstrap repeats of the binned estimator"},
    "prior": {"type": "str", "doc": "the prior: a bundled name (tiny-imdb), a local folder or a cached Hugging Face id"},
    "policy": {"type": "str", "doc": "the aligned model (tiny-imdb-positive: DPO-trained from the prior), sampled from"},
    "beta_dpo": {"type": "float", "min": 1e-6, "max": 1000.0, "doc": "the beta the policy was DPO-trained with"},
    "n_prompts": {"type": "int", "min": 2, "max": 100000, "doc": "prompts (held-out IMDB openings)"},
    "prompt_tokens": {"type": "int", "min": 1, "max": 64, "doc": "tokens per prompt"},
    "n_per_prompt": {"type": "int", "min": 2, "max": 10000, "doc": "strings sampled from the policy per prompt"},
    "max_new_tokens": {"type": "int", "min": 1, "max": 1024, "doc": "tokens per completion"},
    "n_prompt_boot": {"type": "int", "min": 20, "max": 100000,
                      "doc": "repeats of the prompt-cluster bootstrap (prompts resampled with their strings)"},
    "n_corpora": {"type": "int", "min": 20, "max": 1000000, "doc": "bootstrap corpora of neural strings"},
    "corpus_size": {"type": "int", "min": 2, "max": 1000000, "doc": "strings per bootstrap corpus"},
    "neural_band": {"type": "float", "min": 0.01, "max": 10.0,
                    "doc": "half-width of the band kept on avg log pi, in standard deviations across corpora"},
}

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from lmdist.book import chapter, plots, results
from lmdist.exact import align, stats, tan2024
from lmdist.exact import infotheory as it
from lmdist.exact import typicality as ty

rec = chapter.start(globals())
SRC = "Tan et al. 2024 (tan2024tradeoff), toy experiment"
SRC_NEURAL = "Tan et al. 2024 (tan2024tradeoff), neural experiments"
LEVEL = 1 - 1e-4  # the level of every interval that a checked claim rests on (false failure <= 1e-4)
# Tan et al.'s own toy settings: are we at them? (Otherwise their figures are recorded as not comparable.)
TAN2024_WORLD = (toy_seed, toy_size) == (42, 1000)  # their toy world (its entropies, string-level figures)
AT_TAN2024 = (toy_seed, toy_size, toy_corpora, toy_corpus_size, eps, n_bins, per_bin) == (42, 1000, 1000, 100000,
                                                                                         0.001, 10, 100)
NOT_TAN2024 = "" if AT_TAN2024 else ("not at Tan et al.'s toy settings (toy_seed 42, 1000 outcomes, 1000 corpora "
                                     "of 100,000, eps 0.001, 10 bins x 100)")


def ci(c):
    """A stats.Correlation as (low, high)."""
    return (c.low, c.high)


# %% [markdown]
# ## The identity
#
# ```{prf:theorem} The trade-off identity
# :label: thm-tradeoff-identity
#
# Let $q(y)=p(y)\,e^{r(y)/\beta}/Z$ on a countable set, with $\beta>0$ and $Z=\sum_y p(y)e^{r(y)/\beta}<\infty$.
# Then **every** corpus $y_1,\dots,y_N$ of strings in the support of $q$ satisfies
#
# $$\frac1N\sum_n\log p(y_n)+\frac1{\beta}\,\frac1N\sum_n r(y_n)=\frac1N\sum_n\log q(y_n)+\log Z .$$
#
# If the corpus is $\varepsilon$-typical for $q$, i.e. $\bigl|-\frac1N\sum_n\log q(y_n)-H(q)\bigr|\le\varepsilon$
# (chapter 05's definition), then $\overline{\log p}+\overline r/\beta$ lies within $\varepsilon$ of $\log Z-H(q)$:
# the corpus sits in a band of width $2\varepsilon$ around the line $\overline{\log p}+\overline r/\beta=\log Z-H(q)$.
# ```
#
# ```{prf:proof}
# Taking logarithms of the definition, $\log p(y)+r(y)/\beta=\log q(y)+\log Z$ for every $y$ with $q(y)>0$.
# Average this over the corpus: averaging is linear. The second statement substitutes
# $\overline{\log q}=-H(q)+\delta$ with $|\delta|\le\varepsilon$.
# ```
#
# Nothing random is involved: the identity holds for atypical corpora too; typicality only says *where on
# the line* a corpus lands (near $\overline{\log q}\approx-H(q)$), and it is likely when $N$ is large (chapter 05).
# A line of slope $-\beta$ in the $(\overline{\log p},\overline r)$ plane is a trade-off only if the corpora spread
# *along* it more than *across* it. Whether they do is a question about variances, which the next result answers.
#
# ```{prf:theorem} Averaging keeps the correlation
# :label: thm-averaging-keeps-correlation
#
# Let $(U_n,W_n)$, $n=1..N$, be i.i.d. copies of $(U,W)$ with finite, non-zero variances — e.g. $U=\log p(y)$,
# $W=r(y)$ for $y\sim q$, or strings drawn with replacement from a pool (the bootstrap). Then the corpus averages
# $(\bar U,\bar W)$ have the same Pearson correlation as a single string, for every $N$:
# $\operatorname{corr}(\bar U,\bar W)=\operatorname{corr}(U,W)$.
# ```
#
# ```{prf:proof}
# By independence, $\operatorname{Cov}(\bar U,\bar W)=\frac1{N^2}\sum_n\operatorname{Cov}(U_n,W_n)=\operatorname{Cov}(U,W)/N$,
# and likewise $\operatorname{Var}\bar U=\operatorname{Var}U/N$, $\operatorname{Var}\bar W=\operatorname{Var}W/N$. The factors $1/N$
# cancel in the correlation.
# ```
#
# So averaging alone cannot turn a positive correlation into a negative one. If corpora of the aligned model
# show an anti-correlation that its strings do not, something else happened between the two levels: the
# strings were weighted differently (uniformly over outcomes rather than as $q$ draws them), the corpora were
# *selected* (the typicality filter), or corpora of *different* distributions were pooled (different sampling
# adaptors, temperatures or prompts — a genuine Simpson's paradox, chapter 07). The toy below separates these.
#
# ## Tan et al.'s toy world
#
# Outcomes $\mathcal Y=\{0,\dots,K-1\}$. The aligned model is $q\sim\mathrm{Dirichlet}(0.1\cdot\mathbf 1)$; the
# prior is $p=\mathrm{softmax}(q^{1/42}+u)$ with $u_y\sim U(-0.42,0.42)$; the reward is $r=\log q-\log p$, so that
# $q=p\,e^{r/\beta}/Z$ with $\beta=1$, $Z=1$. We draw these with Tan et al.'s random numbers (numpy's legacy
# generator, seeded with `toy_seed`: the Dirichlet draw, then the uniforms) and draw corpus $c$ of $N$ strings
# from $q$ with the legacy generator seeded with $c$, exactly as their notebook does, so their corpora are ours
# (`tan2024.toy_world`, `tan2024.corpus_counts`).

# %%
world = tan2024.toy_world(seed=toy_seed, size=toy_size)
H_q, H_p = it.entropy(world.log_q), it.entropy(world.log_p)
counts = tan2024.corpus_counts(world.log_q, toy_corpora, toy_corpus_size)
avg_lq = stats.count_means(world.log_q, counts)
avg_lp = stats.count_means(world.log_p, counts)
avg_r = stats.count_means(world.reward, counts)
gap = tan2024.identity_gap(avg_lp, avg_r, avg_lq, world.beta, world.log_z)
is_typ = ty.typical(-avg_lq, H_q, eps)
n_typ = int(is_typ.sum())
band = np.abs(avg_lp[is_typ] + avg_r[is_typ] / world.beta - (world.log_z - H_q))

# %% tags=["hide-input"]
rec.figure("toy-entropy-q", "H(q) of the toy's aligned model (nats, exact)", H_q, paper_value=5.01, source=SRC,
           comparable=TAN2024_WORLD, note=NOT_TAN2024)
rec.figure("toy-entropy-p", "H(p) of the toy's prior (nats, exact)", H_p, paper_value=6.87, source=SRC,
           comparable=TAN2024_WORLD, note=NOT_TAN2024)
rec.figure("toy-typical-count", f"corpora (of {toy_corpora}) that are eps-typical for q", n_typ,
           paper_value=213, source=SRC, comparable=AT_TAN2024, note=NOT_TAN2024)
# Both hold by construction (r = log q - log p; typical means |avg log q + H(q)| <= eps): figures of float rounding.
rec.figure("toy-identity-error", "max over all corpora of |avg log p + avg r/beta - avg log q - log Z|",
           np.abs(gap).max())
_ = rec.figure("toy-band-max", "max over typical corpora of |avg log p + avg r/beta - (log Z - H(q))|",
               band.max() if n_typ else 0.0)

# %% [markdown]
# $H(q)=${glue:text}`toy-entropy-q:.4f` and $H(p)=${glue:text}`toy-entropy-p:.4f` nats (Tan et al.: 5.01 and 6.87).
# Of {glue:text}`param-toy_corpora` corpora of {glue:text}`param-toy_corpus_size` strings,
# {glue:text}`toy-typical-count` are $\varepsilon$-typical at $\varepsilon=${glue:text}`param-eps` (Tan et al.: 213 of
# 1,000; their code tests $<\varepsilon$, and no corpus average falls exactly on the boundary). The identity of
# {prf:ref}`thm-tradeoff-identity` holds on every corpus to {glue:text}`toy-identity-error:.2g` (float
# rounding), and every typical corpus lies in the band: its largest distance to the line is
# {glue:text}`toy-band-max:.2g` $\le\varepsilon$.
#
# ## String level: which strings?
#
# Tan et al. correlate $\log p(y)$ with $r(y)$ over the {glue:text}`param-toy_size` *outcomes*, each counted once.
# But a reader of the aligned model meets outcome $y$ with probability $q(y)$, and Dirichlet(0.1) puts almost
# all of its mass on a few outcomes. Weighted by $q$ (`stats.weighted_correlation`), the correlation is that
# of the strings the model actually produces — and, by {prf:ref}`thm-averaging-keeps-correlation`, the one that
# corpora of $q$ inherit. Both are exact for this world (every outcome enters), so they carry no interval.

# %%
s_r = stats.correlation(world.log_p, world.reward, "pearson")
s_rho = stats.correlation(world.log_p, world.reward, "spearman")
w_r = stats.weighted_correlation(world.log_p, world.reward, world.log_q, "pearson")
w_rho = stats.weighted_correlation(world.log_p, world.reward, world.log_q, "spearman")
q_mass = np.sort(np.exp(world.log_q))[::-1]
top = int(np.searchsorted(np.cumsum(q_mass), 0.9) + 1)

# %% tags=["hide-input"]
rec.figure("toy-string-spearman", "string-level Spearman rho of (log p, r), unweighted over outcomes (exact)",
           s_rho.value, paper_value=0.43, source=SRC, comparable=TAN2024_WORLD, note=NOT_TAN2024)
rec.figure("toy-string-pearson", "string-level Pearson r of (log p, r), unweighted over outcomes (exact)",
           s_r.value, paper_value=0.49, source=SRC, comparable=TAN2024_WORLD, note=NOT_TAN2024)
rec.figure("toy-string-pearson-q", "string-level Pearson r of (log p, r) weighted by q (exact)", w_r)
rec.figure("toy-string-spearman-q", "string-level Spearman rho of (log p, r) weighted by q (exact)", w_rho)
rec.figure("toy-top-outcomes", "outcomes that carry 90% of q's mass", top)
display(pd.DataFrame({"unweighted (Tan et al.)": [s_rho.value, s_r.value], "weighted by q": [w_rho, w_r]},
                     index=["Spearman", "Pearson"]).round(3))

# %% [markdown]
# Unweighted, Spearman's $\rho=${glue:text}`toy-string-spearman:.3f` and Pearson {glue:text}`toy-string-pearson:.3f`
# (Tan et al.: 0.43 and 0.49). Weighted by $q$ — {glue:text}`toy-top-outcomes` outcomes carry 90 % of its mass —
# the signs flip: the $q$-weighted Spearman $\rho_q=${glue:text}`toy-string-spearman-q:.3f` and Pearson
# $\operatorname{corr}_q=${glue:text}`toy-string-pearson-q:.3f`.
# The positive string-level correlation is a property of the outcome *list*, dominated by the many outcomes that
# $q$ almost never produces (their $r=\log q-\log p$ is very negative and their $\log p$ low), not of the strings
# the aligned model emits.
#
# ## Corpus level, three ways
#
# 1. **Tan et al.'s estimator**: typical corpora only; their $\overline{\log p}$ cut into {glue:text}`param-n_bins`
#    equal-width bins; {glue:text}`param-per_bin` corpora drawn per bin with replacement; Pearson and Spearman of
#    the drawn set (`tan2024.binned_correlation`; interval: percentiles of the whole estimator repeated on typical
#    corpora resampled with replacement — a Fisher-z interval on the drawn pairs would count each repeated corpus
#    as new evidence).
# 2. **Each typical corpus once**.
# 3. **All corpora, no filter**.
#
# The corpora are i.i.d. draws of the model, so an interval over them is about the model's corpus-level
# correlation. For 2 and 3 it is the Fisher-z interval, which assumes the corpus averages are bivariate normal:
# they are averages of {glue:text}`param-toy_corpus_size` i.i.d. strings, so very nearly; for typical corpora,
# whose $\overline{\log q}$ is cut to a band, it is an approximation.

# %%
rng = np.random.default_rng(seed)
ways = {}
if n_typ >= 4:
    x_t, y_t = avg_lp[is_typ], avg_r[is_typ]
    for m in ("pearson", "spearman"):
        ways[("binned", m)] = tan2024.binned_correlation(rng, x_t, y_t, m, n_bins, per_bin, n_boot)
        ways[("typical once", m)] = stats.correlation(x_t, y_t, m)
for m in ("pearson", "spearman"):
    ways[("all corpora", m)] = stats.correlation(avg_lp, avg_r, m)

# %% tags=["hide-input"]
rows = [dict(estimator=way, method=m, value=c.value, low=c.low, high=c.high, corpora=c.n)
        for (way, m), c in ways.items()]
display(pd.DataFrame(rows).round(3))
for (way, m), c in ways.items():
    key = {"binned": "binned", "typical once": "typical", "all corpora": "all"}[way]
    paper = {("binned", "pearson"): -0.92, ("binned", "spearman"): -0.92}.get((key, m))
    how = "percentile bootstrap" if key == "binned" else "Fisher-z over corpora"
    rec.figure(f"toy-corpus-{key}-{m}", f"corpus-level {m} of (avg log p, avg r), {way} (95% {how})", c.value,
               paper_value=paper, interval=ci(c), source=SRC if paper is not None else "",
               comparable=AT_TAN2024 if paper is not None else True, note=NOT_TAN2024 if paper is not None else "")

# %% [markdown]
# Tan et al.'s estimator gives Pearson {glue:text}`toy-corpus-binned-pearson:.3f` and Spearman's
# $\rho=${glue:text}`toy-corpus-binned-spearman:.3f` (Tan et al.: −0.92 and −0.92). Each typical corpus counted once:
# Pearson {glue:text}`toy-corpus-typical-pearson:.3f`, $\rho=${glue:text}`toy-corpus-typical-spearman:.3f`. All
# corpora, without the filter: Pearson {glue:text}`toy-corpus-all-pearson:.3f`,
# $\rho=${glue:text}`toy-corpus-all-spearman:.3f` — close to the $q$-weighted *string-level*
# $\operatorname{corr}_q=${glue:text}`toy-string-pearson-q:.3f`, as {prf:ref}`thm-averaging-keeps-correlation` says
# it must be.
#
# (ch06-band-law)=
# ### Where the anti-correlation comes from
#
# Write $X=\overline{\log p}$ and $B=\overline{\log q}$ for a corpus. By {prf:ref}`thm-tradeoff-identity`,
# $\overline r/\beta=B-X+\log Z$ exactly, so over any set of corpora the correlation of $X$ and $\overline r$ is
# that of $X$ and $B-X$, a function of the three moments of $(X,B)$:
#
# $$\operatorname{corr}(X,\overline r)=\frac{\operatorname{Cov}(X,B)-\operatorname{Var}X}
# {\sqrt{\operatorname{Var}X\,\bigl(\operatorname{Var}X+\operatorname{Var}B-2\operatorname{Cov}(X,B)\bigr)}} .$$
#
# The table computes these moments on each set of corpora (column `exact`: the formula, equal to the measured
# Pearson correlation of the set).

# %%
def moments(idx):
    x, b = avg_lp[idx], avg_lq[idx]
    vx, vb, cxb = np.var(x), np.var(b), np.cov(x, b, bias=True)[0, 1]
    return dict(var_X=vx, var_B=vb, cov_XB=cxb, ratio=vb / vx, exact=(cxb - vx) / math.sqrt(vx * (vx + vb - 2 * cxb)))


sets = {"all corpora": np.arange(toy_corpora)}
if n_typ >= 4:
    typ_idx = np.flatnonzero(is_typ)
    sets["typical once"] = typ_idx
    sets["binned (one draw)"] = typ_idx[tan2024.binned_resample(np.random.default_rng(seed), avg_lp[typ_idx],
                                                           n_bins, per_bin)]
mom = pd.DataFrame({k: moments(v) for k, v in sets.items()}).T

# %% tags=["hide-input"]
display(mom.map(lambda v: f"{v:.3g}"))
rec.figure("toy-ratio-all", "Var(avg log q)/Var(avg log p) over all corpora", mom.loc["all corpora", "ratio"])
if n_typ >= 4:
    rec.figure("toy-ratio-typical", "Var(avg log q)/Var(avg log p) over typical corpora",
               mom.loc["typical once", "ratio"])
    rec.figure("toy-ratio-binned", "Var(avg log q)/Var(avg log p) over one binned draw",
               mom.loc["binned (one draw)", "ratio"])
    rec.figure("toy-varx-binned-over-typical", "Var(avg log p) of a binned draw / of the typical corpora once",
               mom.loc["binned (one draw)", "var_X"] / mom.loc["typical once", "var_X"])

# %% [markdown]
# Across all corpora, $\operatorname{Var}B/\operatorname{Var}X=${glue:text}`toy-ratio-all:.3g`: corpora spread far more
# across the line than along it, and the correlation is the weak string-level one. The filter cuts the ratio to
# {glue:text}`toy-ratio-typical:.3g`; the binned draw multiplies $\operatorname{Var}X$ by
# {glue:text}`toy-varx-binned-over-typical:.3g` and brings the ratio down to {glue:text}`toy-ratio-binned:.3g`.
#
# How far a filter on $B$ moves the correlation, and in which direction, follows from the joint law of $(X,B)$.
# Each is an average of $N$ i.i.d. terms, so to a good approximation it is bivariate normal.
#
# ```{prf:proposition} The correlation inside a band
# :label: prop-band-law
#
# Let $(X,B)$ be bivariate normal, $b=\operatorname{Cov}(X,B)/\operatorname{Var}B$ the slope of $X$ on $B$, and
# $V_E=\operatorname{Var}X-b^2\operatorname{Var}B=\operatorname{Var}(X\mid B)$ the spread of $X$ at fixed $B$. Keep the pairs
# with $|B-\mathbb EB|\le\varepsilon$ and let $V_t=\operatorname{Var}(B\mid\text{kept})$, the variance of a normal
# truncated to $\pm\varepsilon$ (`stats.truncated_normal_variance`). Then over the kept pairs, with $\kappa=V_t/V_E$,
#
# $$\operatorname{corr}(X,B-X)=\frac{b(1-b)\,\kappa-1}{\sqrt{(b^2\kappa+1)\,\bigl((1-b)^2\kappa+1\bigr)}} .$$
#
# Without a band the same formula holds with $\kappa=\operatorname{Var}B/V_E$.
# ```
#
# ```{prf:proof}
# Write $X=\mathbb EX+b(B-\mathbb EB)+E$. For a bivariate normal, $E$ is normal with variance $V_E$ and
# independent of $B$, so a selection on $B$ leaves its law alone. Over the kept pairs
# $\operatorname{Var}X=b^2V_t+V_E$, $\operatorname{Cov}(X,B-X)=bV_t-b^2V_t-V_E$ and
# $\operatorname{Var}(B-X)=(1-b)^2V_t+V_E$; divide each by $V_E$. (`stats.band_covariance` does the same for a
# normal vector of any dimension.)
# ```
#
# Two things decide the result: the band's width against the spread of $X$ at fixed $B$ (that is $\kappa$), and
# the slope $b$. With $b=0$ the formula is $-(1+\kappa)^{-1/2}$: any narrowing of the band pushes the correlation
# towards $-1$. With $b$ near 1 the term $(1-b)^2\kappa$ stays small until $\kappa$ is of order $1/(1-b)^2$; for $b$
# slightly above 1 the formula's magnitude dips to about $2\sqrt{b-1}$ near $\kappa\approx1/(b-1)$, and for $b$ slightly
# below 1 it crosses 0 near $\kappa\approx1/(1-b)$. A band that brings $\kappa$ from $\operatorname{Var}B/V_E$ down
# towards $1/|b-1|$ *weakens* the anti-correlation. For $0<b<1$ the numerator is positive once $\kappa>1/(b(1-b))$: a
# band can even reverse the sign. On the toy, $X$ barely follows $B$.

# %%
def corr_in_band(cov, halfwidth, u, w, axis=1):
    """Pearson correlation of u·Z and w·Z for Z normal with covariance cov, kept where |Z_axis - E Z_axis| <= halfwidth."""
    c = stats.band_covariance(cov, axis, halfwidth)
    return u @ c @ w / math.sqrt((u @ c @ u) * (w @ c @ w))


def band_law(cov, halfwidth):
    """Slope b of X on B, and kappa = V/V_E without the band and inside it, for Z = (X, B) with covariance cov."""
    b = cov[0, 1] / cov[1, 1]
    v_e = cov[0, 0] - b * b * cov[1, 1]
    return b, cov[1, 1] / v_e, stats.truncated_normal_variance(cov[1, 1], halfwidth) / v_e


# (X, B) = (avg log p, avg log q) of a corpus of N strings from q: the q-weighted covariance of one string, / N.
toy_cov = np.cov(np.vstack([world.log_p, world.log_q]), aweights=np.exp(world.log_q), bias=True) / toy_corpus_size
E_X, DIFF = np.array([1.0, 0.0]), np.array([-1.0, 1.0])  # X and B - X (= avg r/beta - log Z)
pred_band = corr_in_band(toy_cov, eps, E_X, DIFF)
toy_b, toy_kappa_all, toy_kappa_band = band_law(toy_cov, eps)

# %% tags=["hide-input"]
rec.figure("toy-band-slope", "slope b of avg log p on avg log q across corpora of q (normal approximation)", toy_b)
rec.figure("toy-kappa-all", "kappa = Var(avg log q)/V_E without the band (toy)", toy_kappa_all)
rec.figure("toy-kappa-band", "kappa = V_t/V_E inside the typicality band (toy)", toy_kappa_band)
rec.figure("toy-band-prediction", "corpus-level Pearson r over typical corpora predicted by the identity + normal "
           "approximation (Proposition: the correlation inside a band)", pred_band)
rec.figure("toy-spearman-from-r", "(6/pi) arcsin(corr_q/2): the Spearman rho of a bivariate normal with the strings' "
           "q-weighted Pearson r (the large-N limit of the all-corpora rho)", 6 / math.pi * math.asin(w_r / 2))
band_word = "(with too few typical corpora, says nothing about)"
if n_typ >= 4:
    r_typ, r_all = ways[("typical once", "pearson")].value, ways[("all corpora", "pearson")].value
    band_word = "strengthens" if abs(r_typ) > abs(r_all) else "weakens"
_ = rec.figure("toy-band-direction", "what the typicality band does to the magnitude of the toy's corpus-level "
               "Pearson r (typical corpora once vs all corpora)", band_word)

# %% [markdown]
# On the toy $b=${glue:text}`toy-band-slope:.3f`: $\overline{\log p}$ hardly moves with $\overline{\log q}$. Without the
# filter $\kappa=${glue:text}`toy-kappa-all:.3g`; the typicality band cuts it to {glue:text}`toy-kappa-band:.3g`, and the
# proposition predicts Pearson {glue:text}`toy-band-prediction:.3f` over typical corpora (measured:
# {glue:text}`toy-corpus-typical-pearson:.3f`): the band {glue:text}`toy-band-direction` the anti-correlation. The
# binning then replaces the bell-shaped spread of $X$ by a nearly flat one over the same range, raising
# $\operatorname{Var}X$ again, and pushes it further.
#
# Two checks with a false-failure rate of at most $10^{-4}$ turn this explanation into claims. Without the filter,
# {prf:ref}`thm-averaging-keeps-correlation` predicts the corpus-level correlation exactly: the $q$-weighted
# string-level $\operatorname{corr}_q$. With the filter, {prf:ref}`prop-band-law` predicts it. Each prediction must lie
# in the $1-10^{-4}$ Fisher-z interval of the measured correlation (the interval assumes bivariate normal corpus
# averages, which the prediction assumes too).

# %%
all_r_hi = stats.correlation(avg_lp, avg_r, "pearson", level=LEVEL)
rec.check("toy-lemma-check", "q-weighted string-level Pearson r lies in the 1-1e-4 Fisher-z interval of the "
          "all-corpora corpus-level r (Theorem: averaging keeps the correlation)", w_r,
          inside=(all_r_hi.low, all_r_hi.high))
if n_typ >= 10:
    typ_r_hi = stats.correlation(avg_lp[is_typ], avg_r[is_typ], "pearson", level=LEVEL)
    rec.check("toy-band-check", "the predicted typical-corpus r lies in the 1-1e-4 Fisher-z interval of the "
              "measured one", pred_band, inside=(typ_r_hi.low, typ_r_hi.high))

# %% [markdown]
# Each is listed, with its status, in the reproduction report. So, on Tan et al.'s own toy, of the corpus-level $-0.92$: the
# aligned model's strings are anti-correlated only weakly ($\operatorname{corr}_q=${glue:text}`toy-string-pearson-q:.2f`,
# which is also what all its corpora show); the typicality filter moves this to
# {glue:text}`toy-corpus-typical-pearson:.2f`, as {prf:ref}`prop-band-law` predicts; the equal-count resampling moves
# it on to {glue:text}`toy-corpus-binned-pearson:.2f`. None of it needs the reward to be "about quality": it is the
# identity $\overline r/\beta=B-X+\log Z$ with $B$ held in a band while $X$ scatters freely.
#
# ## Simpson's paradox, both levels in one figure

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
ax = axes[0]
qq = np.exp(world.log_q)
ax.scatter(world.log_p, world.reward, s=4 + 400 * qq / qq.max(), color=plots.ROLE["prior"], alpha=0.5, lw=0,
           label="outcomes (area ∝ q)")
xs = np.linspace(world.log_p.min(), world.log_p.max(), 2)
for wts, col, ls, lab in ((np.ones_like(qq), "black", "--", f"fit, unweighted (Pearson {s_r.value:.2f})"),
                          (qq, plots.ROLE["aligned"], "-", f"fit, weighted by q (Pearson {w_r:.2f})")):
    slope, icpt = np.polyfit(world.log_p, world.reward, 1, w=np.sqrt(wts))
    ax.plot(xs, icpt + slope * xs, color=col, ls=ls, lw=2, label=lab)
ax.set(xlabel="log p(y)", ylabel="r(y)", title="Strings")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
ax = axes[1]
ax.scatter(avg_lp, avg_r, s=6, color="0.7", lw=0,
           label=f"all corpora (Pearson {ways[('all corpora', 'pearson')].value:.2f})")
if n_typ >= 4:
    ax.scatter(avg_lp[is_typ], avg_r[is_typ], s=8, color=plots.ROLE["aligned"], lw=0,
               label=f"typical (Pearson {ways[('typical once', 'pearson')].value:.2f})")
xx = np.linspace(avg_lp.min(), avg_lp.max(), 2)
for off, ls in ((0, "-"), (eps, ":"), (-eps, ":")):
    ax.plot(xx, world.beta * (world.log_z - H_q + off - xx), "k", ls=ls, lw=1)
ax.set(xlabel="average log p", ylabel="average r", title="Corpora of q")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
plots.publish("fig-toy-simpson", fig)

# %% [markdown]
# ```{glue:figure} fig-toy-simpson
# :name: fig-toy-simpson
# :alt: Left, a scatter of the toy's outcomes, log p against reward, with a rising dashed black fit line (outcomes counted once) and a slightly falling orange fit line (weighted by q). Right, the corpora's average log p against average reward: a grey cloud of all corpora, the orange typical corpora inside a thin band around a black line of slope minus one.
#
# Simpson's paradox on Tan et al.'s toy. Left: the outcomes, area proportional to $q(y)$; the fit over outcomes
# counted once (dashed black) rises, the fit weighted by $q$ (orange) falls slightly. Right: each corpus's
# averages; all corpora (grey) and the typical ones (orange), with the line
# $\overline{\log p}+\overline r=\log Z-H(q)$ (black; dotted: $\pm\varepsilon$).
# ```
#
# In {numref}`fig-toy-simpson`, left, the few outcomes the model actually produces sit on a nearly flat cloud:
# the seemingly positive string level is the outcome list's. Right, all corpora form an elongated cloud
# *across* the line; the typical ones are the slice of that cloud inside the band. Because $\overline{\log p}$
# hardly follows $\overline{\log q}$ here ($b=${glue:text}`toy-band-slope:.3f`), the slice is strongly
# anti-correlated. The reversal from left to right is real, but it is the weighting and the filter, not the
# averaging, that make it.

# %% [markdown]
# ## Neural models
#
# The bundled prior `tiny-imdb` and its DPO-aligned version `tiny-imdb-positive` (trained from it with
# $\beta=${glue:text}`param-beta_dpo:g`; any pair of model ids can be passed as parameters). In this section the
# aligned model is $\pi$ and the prior $\pi_{\rm ref}$ (the toy's $q$ and $p$). We sample
# {glue:text}`param-n_per_prompt` strings for each of {glue:text}`param-n_prompts` held-out IMDB openings $x$ from the
# policy, with at most {glue:text}`param-max_new_tokens` new tokens (`corpora.sample_corpus`), score them under the
# prior (with the prompt) and by two rewards:
#
# * the **sentiment reward**, the log-odds of a TF-IDF classifier of positive reviews (`rewards.sentiment`),
#   which stands in for Tan et al.'s RLHF reward model;
# * the **DPO implicit reward** $r(x,y)=\beta\log\frac{\pi(y\mid x)}{\pi_{\rm ref}(y\mid x)}+\beta\log Z(x)$
#   {cite:p}`rafailov2023dpo`, the reward for which the policy is exactly the tilt $\pi\propto\pi_{\rm ref}e^{r/\beta}$.
#   The per-prompt term $\beta\log Z(x)$ is *not identified*: every choice gives the same policy, so only
#   comparisons within a prompt are meaningful; pooled over prompts, the correlation depends on a choice DPO
#   never made. We take $\log Z(x)=0$, the choice Tan et al. make implicitly.
#
# Tan et al.'s code scores strings by $\log\pi_{\rm ref}-\log\pi$ (`create_figures.py`, the "secret reward"). With
# $\log Z(x)=0$ that is exactly $-r/\beta$, string by string, so **every** correlation with it — within prompts,
# pooled over prompts, and over corpora — is the negative of the one with the defined reward. With the implicit
# reward and $\log Z(x)=0$, {prf:ref}`thm-tradeoff-identity` reads
# $\overline{\log\pi_{\rm ref}}+\overline r/\beta=\overline{\log\pi}$ on every corpus.

# %%
import warnings

# transformers imports tqdm.auto, which warns in a kernel without ipywidgets; the chapter shows no bars
warnings.filterwarnings("ignore", message="IProgress not found")
from lmdist.lm import corpora, data, models, rewards

pol, tok = models.load_lm(policy, device=device)
ref, ref_tok = models.load_lm(prior, device=device)
prompts = data.prompts(n_prompts, prompt_tokens, tok, split="test", seed=seed)
reward_fn = rewards.sentiment()
corpus = corpora.sample_corpus(pol, tok, ref, prompts, n_per_prompt, max_new_tokens, reward_fn,
                               seed=seed, batch_size=64, device=device, prior_tokenizer=ref_tok,
                               progress=False)
g = corpus.prompt_index
x = corpus.logp_prior
r_sent = corpus.reward
r_dpo = align.dpo_implicit_reward(corpus.logp_policy, corpus.logp_prior, beta_dpo)
r_tan2024 = corpus.logp_prior - corpus.logp_policy  # Tan et al.'s "secret reward": log pi_ref - log pi
REWARDS = {"sentiment": r_sent, "DPO implicit": r_dpo, "Tan et al.'s sign": r_tan2024}
SHORT = {"sentiment": "sentiment", "DPO implicit": "dpo", "Tan et al.'s sign": "tan2024"}

# %% tags=["hide-input"]
rec.figure("neural-strings", "strings sampled", len(corpus))
_ = rec.figure("neural-mean-reward", "mean sentiment reward of the policy's strings", r_sent.mean())

# %% [markdown]
# (ch06-neural-intervals)=
# ### Intervals about the models
#
# The strings of one prompt share it, so they are not independent: a Fisher-z interval over the pooled strings
# would count them as such. Every neural interval below is a **prompt-cluster bootstrap** instead
# (`stats.cluster_bootstrap`): the prompts are resampled with replacement, each with all its strings,
# {glue:text}`param-n_prompt_boot` times, the figure is recomputed on each resample, and the 2.5 % and 97.5 %
# percentiles are the interval. It is about the models and prompts, not about one sample of them. The same
# prompt draws serve every figure, so intervals of different figures are jointly resampled.

# %%
def prompt_boot(statistic):
    """statistic(index array into the strings) -> (value on all strings, 95% prompt-cluster bootstrap interval)."""
    return stats.cluster_bootstrap(np.random.default_rng(seed + 2), statistic, g, n_prompt_boot)


def string_corr(rv, how, m):
    if how == "pooled":
        return lambda i: stats.correlation(x[i], rv[i], m).value
    return lambda i: stats.within_correlation(x[i], rv[i], g[i], m).value


res = {(name, how, m): prompt_boot(string_corr(rv, how, m))
       for name, rv in REWARDS.items() for how in ("pooled", "within prompt") for m in ("pearson", "spearman")}

# %% tags=["hide-input"]
def label(low, high):
    return f"[{low:.3f}, {high:.3f}]"


display(pd.DataFrame([{"reward": name, "strings": how, "Pearson": res[(name, how, "pearson")][0],
                       "Pearson 95%": label(*res[(name, how, "pearson")][1:]),
                       "Spearman": res[(name, how, "spearman")][0],
                       "Spearman 95%": label(*res[(name, how, "spearman")][1:])}
                      for name in REWARDS for how in ("pooled", "within prompt")]).round(3))
for (name, how, m), (v, lo, hi) in res.items():
    cid = f"neural-string-{SHORT[name]}-{'pooled' if how == 'pooled' else 'within'}-{m}"
    rec.figure(cid, f"string-level {m} of (log p_prior, {name} reward), {how} (95% prompt-cluster bootstrap)", v,
               interval=(lo, hi))
    if m == "pearson":
        rec.figure(cid + "-ci", f"95% prompt-cluster bootstrap interval of {cid}", label(lo, hi))
# Tan et al.'s reward is exactly -r_DPO/beta here (log Z(x) = 0): the sums are zero by construction (float rounding).
_ = rec.figure("neural-sign-flip-exact", "max over pooled and within prompts of |Pearson(log p_prior, Tan et al.'s "
               "reward) + Pearson(log p_prior, DPO implicit reward)|",
               max(abs(res[("DPO implicit", how, "pearson")][0] + res[("Tan et al.'s sign", how, "pearson")][0])
                   for how in ("pooled", "within prompt")))

# %% [markdown]
# String level, against $\log\pi_{\rm ref}(y\mid x)$ (within prompt: both variables centred per prompt). Sentiment
# reward, pooled: Pearson {glue:text}`neural-string-sentiment-pooled-pearson:.3f`
# ({glue:text}`neural-string-sentiment-pooled-pearson-ci`), Spearman's $\rho=${glue:text}`neural-string-sentiment-pooled-spearman:.3f`;
# within prompt: Pearson {glue:text}`neural-string-sentiment-within-pearson:.3f`
# ({glue:text}`neural-string-sentiment-within-pearson-ci`). DPO implicit reward, within prompt: Pearson
# {glue:text}`neural-string-dpo-within-pearson:.3f` ({glue:text}`neural-string-dpo-within-pearson-ci`),
# $\rho=${glue:text}`neural-string-dpo-within-spearman:.3f`; pooled: {glue:text}`neural-string-dpo-pooled-pearson:.3f`
# ({glue:text}`neural-string-dpo-pooled-pearson-ci`). With Tan et al.'s sign the pooled Pearson is
# {glue:text}`neural-string-tan2024-pooled-pearson:.3f` — the exact negative, pooled as well as within prompts (the two
# sum to {glue:text}`neural-sign-flip-exact:.2g`, float rounding).
#
# One possible driver of the sentiment figure is length. A completion that ends early (an end-of-sequence token
# before the cap) has fewer tokens, so a higher $\log\pi_{\rm ref}$, and the classifier's log-odds grow in magnitude
# with the number of words it sees. If length were all, $\log\pi_{\rm ref}$ per token would not track the reward.
# The cell measures both links and the per-token correlation:

# %%
def length_corr(v):
    """Pearson r of (completion length, v) on the strings i; 0 when every length is the same (no correlation)."""
    return lambda i: stats.correlation(n_tok[i], v[i]).value if np.ptp(n_tok[i]) > 0 else 0.0


n_tok = corpus.n_tokens.astype(np.float64)
length_stats = {
    "neural-length-prior": prompt_boot(length_corr(x)),
    "neural-length-sentiment": prompt_boot(length_corr(r_sent)),
    "neural-pertoken-sentiment": prompt_boot(lambda i: stats.correlation(x[i] / n_tok[i], r_sent[i]).value),
}

# %% tags=["hide-input"]
rec.figure("neural-eos-fraction", "fraction of completions that end with end-of-sequence before the token cap",
           corpus.eos.mean())
what = {"neural-length-prior": "(completion length, log p_prior)",
        "neural-length-sentiment": "(completion length, sentiment reward)",
        "neural-pertoken-sentiment": "(log p_prior per token, sentiment reward)"}
for cid, (v, lo, hi) in length_stats.items():
    rec.figure(cid, f"pooled Pearson r of {what[cid]} (95% prompt-cluster bootstrap)", v, interval=(lo, hi))
    rec.figure(cid + "-ci", f"95% prompt-cluster bootstrap interval of {cid}", label(lo, hi))

# %% [markdown]
# A fraction {glue:text}`neural-eos-fraction:.2f` of the completions end before the cap of
# {glue:text}`param-max_new_tokens` tokens. Length correlates with $\log\pi_{\rm ref}$ as
# {glue:text}`neural-length-prior:.3f` ({glue:text}`neural-length-prior-ci`) and with the sentiment reward as
# {glue:text}`neural-length-sentiment:.3f` ({glue:text}`neural-length-sentiment-ci`); per token, $\log\pi_{\rm ref}$
# and the reward correlate as {glue:text}`neural-pertoken-sentiment:.3f` ({glue:text}`neural-pertoken-sentiment-ci`)
# (whole strings: {glue:text}`neural-string-sentiment-pooled-pearson:.3f`). When few completions end — a cap far
# below a review's length; try `-p max_new_tokens=40` — every string has about the cap's length and this route is
# closed; the `default` and `paper` profiles use a cap of 200 tokens.
#
# ### The per-prompt term
#
# Pooling prompts adds, to each string's implicit reward, an arbitrary per-prompt constant $\beta\log Z(x)$ — and to
# its $\log\pi_{\rm ref}(y\mid x)$ the prompt's own typical level. Different choices of the constant give
# different pooled correlations; none of them is "the" correlation. Three choices: $\log Z(x)=0$ (the usual
# $\beta\log\pi/\pi_{\rm ref}$), $\log Z(x)$ chosen to centre the reward within each prompt, and $\log Z(x)$ chosen so
# that the reward's prompt means equal the prompt means of $\log\pi_{\rm ref}$ (a legitimate choice too).

# %%
prompt_mean_x = x - stats.within(x, g)
choices = {
    "log Z(x) = 0": r_dpo,
    "reward centred per prompt": stats.within(r_dpo, g),
    "reward's prompt mean = prompt mean of log p_ref": stats.within(r_dpo, g) + prompt_mean_x,
}
ztab = pd.DataFrame([dict(choice=name, pearson=stats.correlation(x, rv, "pearson").value)
                     for name, rv in choices.items()])

# %% tags=["hide-input"]
rec.figure("neural-logz-pooled-range", "pooled Pearson r of (log p_prior, DPO implicit reward) for three choices of "
           "the unidentified log Z(x): [min, max]", label(ztab.pearson.min(), ztab.pearson.max()))
rec.figure("neural-logz-zero", "pooled Pearson r with log Z(x) = 0", ztab.pearson.iloc[0])
display(ztab.round(3))

# %% [markdown]
# Pooled over prompts, the Pearson correlation between $\log\pi_{\rm ref}$ and the implicit reward ranges over
# {glue:text}`neural-logz-pooled-range` across three equally valid choices of $\log Z(x)$ ({glue:text}`neural-logz-zero:.3f`
# with $\log Z=0$). Only the within-prompt figures are properties of the models.
#
# ### Corpus level
#
# Corpora of {glue:text}`param-corpus_size` strings drawn with replacement from the pool
# (`stats.bootstrap_corpora`, {glue:text}`param-n_corpora` corpora), as Tan et al. do. By
# {prf:ref}`thm-averaging-keeps-correlation`, their Pearson correlation estimates the pool's string-level one —
# there is nothing for the averaging to reverse. A Fisher-z interval over these corpora would measure only the
# Monte-Carlo noise of the resampling (its width is set by the number of corpora drawn, which is ours to choose),
# not what is uncertain about the models. The interval of each corpus-level Pearson figure below is the
# prompt-cluster bootstrap: resample the prompts, rebuild the pool from their strings, redraw the same corpus
# positions, recompute.

# %%
idx = stats.bootstrap_corpora(np.random.default_rng(seed + 1), len(corpus), n_corpora, corpus_size)
pol_lp = corpus.logp_policy
cx, c_pol = stats.corpus_means(x, idx), stats.corpus_means(pol_lp, idx)
cmeans = {name: stats.corpus_means(rv, idx) for name, rv in REWARDS.items()}


def corpus_corr(rv, m="pearson"):
    """On the pool resampled by prompts (index array i), the correlation over the same corpus positions idx.
    Every prompt has n_per_prompt strings, so a resample has as many strings as the pool and idx fits it."""
    return lambda i: stats.correlation(stats.corpus_means(x[i], idx), stats.corpus_means(rv[i], idx), m).value


cres = {name: prompt_boot(corpus_corr(rv)) for name, rv in REWARDS.items()}
cres_rho = {name: stats.correlation(cx, cmeans[name], "spearman").value for name in REWARDS}
# r_DPO = beta (log pi - log p_ref) string by string, so the identity holds by construction (float rounding).
neural_gap = tan2024.identity_gap(cx, cmeans["DPO implicit"], c_pol, beta_dpo, 0.0)
# Monte-Carlo noise of the resampling, given the pool: the interval that compares the corpus level with the pool.
c_hi = stats.correlation(cx, cmeans["sentiment"], "pearson", level=LEVEL)

# %% tags=["hide-input"]
rec.figure("neural-identity-error", "max over bootstrap corpora of |avg log p_ref + avg r_DPO/beta - avg log pi|",
           np.abs(neural_gap).max())
s_val = res[("sentiment", "pooled", "pearson")][0]
rec.figure("neural-lemma-consistent", "pooled string-level r (sentiment) lies in the 1-1e-4 Fisher-z interval of the "
           "bootstrap corpus-level r (Monte-Carlo noise of the resampling; reported: corpus means of few strings need "
           "not be normal)", bool(c_hi.low <= s_val <= c_hi.high), interval=ci(c_hi))
dpo_signs = {np.sign(res[("DPO implicit", "pooled", "pearson")][0]), np.sign(cres["DPO implicit"][0])}
rec.figure("neural-dpo-levels", "signs of the pooled string-level and the corpus-level Pearson r of (log p_prior, DPO "
           "implicit reward)", "of opposite signs at the two levels" if len(dpo_signs) > 1
           else ("negative" if dpo_signs == {-1.0} else "positive") + " at both levels")
for name, (v, lo, hi) in cres.items():
    cid = f"neural-corpus-{SHORT[name]}-pearson"
    rec.figure(cid, f"corpus-level Pearson r of (avg log p_prior, avg {name} reward), bootstrap corpora (95% "
               "prompt-cluster bootstrap)", v, interval=(lo, hi))
    rec.figure(cid + "-ci", f"95% prompt-cluster bootstrap interval of {cid}", label(lo, hi))
    rec.figure(f"neural-corpus-{SHORT[name]}-spearman", f"corpus-level Spearman rho of (avg log p_prior, avg {name} "
               "reward), bootstrap corpora", cres_rho[name])
display(pd.DataFrame([{"reward": name, "corpus Pearson": cres[name][0], "95% interval": label(*cres[name][1:]),
                       "corpus Spearman": cres_rho[name], "string Pearson (pooled)": res[(name, "pooled", "pearson")][0]}
                      for name in REWARDS]).round(3))

# %% tags=["hide-input"]
# Tan et al.'s neural figures, each beside ours computed their way (pooled over prompts, their reward's sign), not
# comparable: other models, prompts and rewards, and they pool corpora of 31 sampling adaptors resampled from IMH chains.
NOTE_RLHF = ("Tan et al.: rlhf-7b-harmless vs Llama-2-7b with a learned reward model on hh-rlhf prompts, corpora "
             "resampled from IMH chains of 31 sampling adaptors and pooled; ours: DPO tiny-imdb-positive vs "
             "tiny-imdb with a sentiment classifier, one adaptor, i.i.d. samples")
NOTE_DPO = ("Tan et al.: janus-dpo-7b vs Mistral-7B-v0.2, reward log pi_ref - log pi (= -r_DPO/beta with log Z(x) = 0), "
            "pooled over prompts and 31 sampling adaptors; ours: tiny-imdb-positive vs tiny-imdb with the same sign, "
            "pooled over prompts, one adaptor (with the defined reward every figure changes sign)")
tan2024_neural = [
    ("rlhf-string-spearman", res[("sentiment", "pooled", "spearman")], 0.38, NOTE_RLHF),
    ("rlhf-string-pearson", res[("sentiment", "pooled", "pearson")], 0.23, NOTE_RLHF),
    ("rlhf-corpus-spearman", (cres_rho["sentiment"], None, None), -0.83, NOTE_RLHF),
    ("rlhf-corpus-pearson", cres["sentiment"], -0.93, NOTE_RLHF),
    ("dpo-string-spearman", res[("Tan et al.'s sign", "pooled", "spearman")], 0.41, NOTE_DPO),
    ("dpo-string-pearson", res[("Tan et al.'s sign", "pooled", "pearson")], 0.45, NOTE_DPO),
    ("dpo-corpus-spearman", (cres_rho["Tan et al.'s sign"], None, None), -0.97, NOTE_DPO),
    ("dpo-corpus-pearson", cres["Tan et al.'s sign"], -0.97, NOTE_DPO),
]
for cid, (v, lo, hi), paper, note in tan2024_neural:
    rec.figure(f"neural-paper-{cid}", f"our {cid.replace('-', ' ')} beside Tan et al.'s, computed their way "
               "(95% prompt-cluster bootstrap where given)", v, paper_value=paper,
               interval=None if lo is None else (lo, hi), source=SRC_NEURAL, comparable=False, note=note)

# %% [markdown]
# Sentiment reward, corpus level: Pearson {glue:text}`neural-corpus-sentiment-pearson:.3f`
# ({glue:text}`neural-corpus-sentiment-pearson-ci`), against the pooled string-level
# {glue:text}`neural-string-sentiment-pooled-pearson:.3f`; DPO implicit reward: {glue:text}`neural-corpus-dpo-pearson:.3f`
# ({glue:text}`neural-corpus-dpo-pearson-ci`), and with Tan et al.'s sign {glue:text}`neural-corpus-tan2024-pearson:.3f`
# ({glue:text}`neural-corpus-tan2024-pearson-ci`). The corpus-level figures track the string-level ones, as
# {prf:ref}`thm-averaging-keeps-correlation` says (the pooled string-level Pearson lies in the $1-10^{-4}$
# Fisher-z interval of the corpus-level one, which measures only the resampling's noise:
# {glue:text}`neural-lemma-consistent`; reported rather than checked, since means of few heavy-tailed strings need not
# be normal). The identity holds on every bootstrap corpus to {glue:text}`neural-identity-error:.2g`.
#
# With the sentiment reward, one policy, one sampling adaptor and no filter, bootstrap corpora inherit the
# strings' correlation: no room for a reversal. With the DPO implicit reward and the sign its definition gives,
# the correlation is {glue:text}`neural-dpo-levels`; whatever its sign, the corpora inherit it from the strings, so
# again no paradox.
#
# (ch06-dpo-sign)=
# ### Tan et al.'s DPO panel, with the defined sign
#
# Tan et al.'s DPO panel reports a positive string-level $\rho$ (0.41) next to a corpus-level Pearson of $-0.97$,
# both computed with $\log\pi_{\rm ref}-\log\pi$. That score is $-1/\beta$ times the implicit reward with
# $\log Z(x)=0$, string by string, so every correlation changes sign with the defined reward — pooled and
# corpus-level, not only within prompts: the panel reads $\rho=-0.41$ at the string level and Pearson $+0.97$ at
# the corpus level. Either way the two levels have opposite signs. By {prf:ref}`thm-averaging-keeps-correlation`,
# corpora of i.i.d. draws from the distribution whose strings gave the string-level figure could not show that.
# Tan et al.'s corpora are not such draws: they are resampled from the output of independent Metropolis–Hastings
# chains, one per sampling adaptor (chapter 07), and pooled across 31 adaptors. A chain's output follows at best
# its target, which weights the pooled strings differently from the list the string-level figure counts (the
# toy's unweighted against $q$-weighted correlation is the same gap); its states repeat, so its corpora are not
# independent draws; and corpora of different adaptors sit at different points of the trade-off line. Which of
# these produces the reversal cannot be told from the published figures. Our figures computed their way are in
# the reproduction report (not comparable: other models and rewards).
#
# ### Two more departures of Tan et al.'s scoring
#
# Tan et al.'s code scored $\pi_{\rm ref}$ *without the prompt*, i.e. $\pi_{\rm ref}(y)$ instead of
# $\pi_{\rm ref}(y\mid x)$, and clamped every token's log-loss $-\log\pi_{\rm ref}(y_t\mid\cdot)$ to $[0,25]$. The lower
# clamp does nothing (a log-loss is never negative); the upper one caps tokens rarer than $e^{-25}$. We rescore
# the same strings both ways (one forward pass each) and recompute the within-prompt correlations.

# %%
from lmdist.lm import sampling

with_prompt = sampling.score(ref, ref_tok, list(corpus.prompts[i] for i in g), list(corpus.prior_token_ids),
                             batch_size=64, device=device, progress=False)
no_prompt = sampling.score(ref, ref_tok, [""] * len(corpus), list(corpus.prior_token_ids), batch_size=64,
                           device=device, progress=False)
x_rescored = np.array([s.logprob_model for s in with_prompt])
x_noprompt = np.array([s.logprob_model for s in no_prompt])
x_clamped = np.array([-np.clip(-s.token_logprobs_model, 0, 25).sum() for s in with_prompt])
tok_losses = np.concatenate([-s.token_logprobs_model for s in with_prompt])
srows = []
for name, xv in (("log p_ref(y | x)", x), ("log p_ref(y), no prompt", x_noprompt), ("clamped at 25", x_clamped)):
    dpo_v = align.dpo_implicit_reward(corpus.logp_policy, xv, beta_dpo)
    srows.append(dict(prior_score=name, sentiment=stats.within_correlation(xv, r_sent, g).value,
                      dpo_implicit=stats.within_correlation(xv, dpo_v, g).value))
stab = pd.DataFrame(srows)

# %% tags=["hide-input"]
# The same scoring function, model, inputs and batch size as sample_corpus used: a figure, not a check.
rec.figure("neural-rescore-error", "max |log p_prior(y|x) rescored - as in the corpus|", np.max(np.abs(x_rescored - x)))
rec.figure("neural-tokens-over-25", "fraction of tokens whose log-loss under the prior exceeds 25 nats (Tan et al.'s "
           "cap)", np.mean(tok_losses > 25))
rec.figure("neural-clamp-changed", "fraction of strings whose prior score changes when token log-losses are capped "
           "at 25", np.mean(np.abs(x_clamped - x_rescored) > 1e-9))
rec.figure("neural-noprompt-sentiment", "within-prompt Pearson r of (log p_ref(y) without the prompt, sentiment "
           "reward)", stab.sentiment.iloc[1])
rec.figure("neural-noprompt-dpo", "within-prompt Pearson r of (log p_ref(y) without the prompt, DPO implicit reward "
           "computed with it)", stab.dpo_implicit.iloc[1])
rec.figure("neural-noprompt-shift", "mean of log p_ref(y) - log p_ref(y|x) over the strings (nats)",
           np.mean(x_noprompt - x))
display(stab.round(3))

# %% [markdown]
# Rescoring reproduces the corpus's $\log\pi_{\rm ref}(y\mid x)$ to {glue:text}`neural-rescore-error:.2g`. Without the
# prompt the prior's log-probability of a completion moves by {glue:text}`neural-noprompt-shift:.3g` nats on average,
# and the within-prompt correlations become {glue:text}`neural-noprompt-sentiment:.3f` (sentiment) and
# {glue:text}`neural-noprompt-dpo:.3f` (DPO implicit reward, which then is no longer the reward DPO's identity is about):
# the prompt-free score measures how likely the completion is *as a text on its own*, a different quantity.
# A fraction {glue:text}`neural-tokens-over-25:.2g` of the tokens have a log-loss above 25 nats, and the cap changes the
# score of a fraction {glue:text}`neural-clamp-changed:.2g` of the strings (the table's third row); with large
# vocabularies and truncation-free sampling it can bite on rare tokens.
#
# (ch06-neural-band)=
# ### The band on neural corpora
#
# Tan et al.'s toy keeps typical corpora only; on neural corpora $H(\pi)$ is unknown, but the same selection can be
# imitated: keep the bootstrap corpora whose $\overline{\log\pi}$ lies within {glue:text}`param-neural_band:g` standard
# deviations of its mean (the pool's mean $\log\pi$), $|\overline{\log\pi}-\mathbb E\,\overline{\log\pi}|\le\varepsilon$.
# For the DPO implicit reward the identity pins $\overline r/\beta=\overline{\log\pi}-\overline{\log\pi_{\rm ref}}$, so
# {prf:ref}`prop-band-law` applies with $X=\overline{\log\pi_{\rm ref}}$ and $B=\overline{\log\pi}$: the bootstrap
# corpus averages have the pool's covariance divided by the corpus size, nearly normal. The sentiment reward obeys no
# such identity; the same normal model of $(X,B,\overline r_{\rm sent})$ (`stats.band_covariance`) predicts it too,
# as a figure.

# %%
sd_B = math.sqrt(np.var(pol_lp) / corpus_size)  # sd of avg log pi across bootstrap corpora, given the pool
halfwidth = neural_band * sd_B
kept = np.abs(c_pol - pol_lp.mean()) <= halfwidth
n_cov = np.cov(np.vstack([x, pol_lp, r_sent]), bias=True) / corpus_size  # of (X, B, avg sentiment) of a corpus
E3_X, E3_DIFF, E3_S = np.array([1.0, 0, 0]), np.array([-1.0, 1, 0]), np.array([0, 0, 1.0])
pred_dpo, pred_sent = corr_in_band(n_cov, halfwidth, E3_X, E3_DIFF), corr_in_band(n_cov, halfwidth, E3_X, E3_S)
neural_b, neural_kappa_all, neural_kappa_band = band_law(n_cov[:2, :2], halfwidth)


def band_corr(rv):
    """In-band Pearson r over the same corpus positions idx, on the pool resampled by prompts (index array i)."""
    def statistic(i):
        xb, bb, rb = (stats.corpus_means(v[i], idx) for v in (x, pol_lp, rv))
        keep = np.abs(bb - pol_lp[i].mean()) <= neural_band * math.sqrt(np.var(pol_lp[i]) / corpus_size)
        return stats.correlation(xb[keep], rb[keep]).value
    return statistic


enough = kept.sum() >= 10
bres = {name: prompt_boot(band_corr(REWARDS[name])) for name in ("sentiment", "DPO implicit")} if enough else {}
if enough:  # Monte-Carlo noise of the corpora given the pool: what the prediction (made from the pool) must meet
    band_hi = stats.correlation(cx[kept], cmeans["DPO implicit"][kept], "pearson", level=LEVEL)

# %% tags=["hide-input"]
rec.figure("neural-kept", "bootstrap corpora inside the band", int(kept.sum()))
rec.figure("neural-band-slope", "slope b of avg log p_prior on avg log pi across bootstrap corpora", neural_b)
rec.figure("neural-kappa-all", "kappa = Var(avg log pi)/V_E without the band (neural)", neural_kappa_all)
rec.figure("neural-kappa-band", "kappa = V_t/V_E inside the band (neural)", neural_kappa_band)
rec.figure("neural-kappa-weakest", "1/|b - 1|: the kappa near which the band formula's anti-correlation is weakest",
           1 / abs(neural_b - 1))
rec.figure("neural-band-prediction-dpo", "in-band Pearson r of (avg log p_prior, avg DPO implicit reward) predicted "
           "by the band proposition", pred_dpo)
rec.figure("neural-band-prediction-sentiment", "in-band Pearson r of (avg log p_prior, avg sentiment reward) "
           "predicted by the normal model", pred_sent)
direction = "(with too few corpora in the band, says nothing about)"
for name, (v, lo, hi) in bres.items():
    cid = f"neural-band-{SHORT[name]}"
    rec.figure(cid, f"Pearson r of (avg log p_prior, avg {name} reward) over corpora in the band (95% prompt-cluster "
               "bootstrap)", v, interval=(lo, hi))
    rec.figure(cid + "-ci", f"95% prompt-cluster bootstrap interval of {cid}", label(lo, hi))
for name in () if enough else ("sentiment", "DPO implicit"):
    rec.figure(f"neural-band-{SHORT[name]}", "too few corpora in the band", None)
    rec.figure(f"neural-band-{SHORT[name]}-ci", "too few corpora in the band", "")
if enough:
    rec.check("neural-band-check", "the predicted in-band r (DPO implicit reward) lies in the 1-1e-4 Fisher-z "
              "interval of the measured one over the kept corpora", pred_dpo, inside=(band_hi.low, band_hi.high))
    direction = "weakens" if abs(bres["DPO implicit"][0]) < abs(cres["DPO implicit"][0]) else "strengthens"
_ = rec.figure("neural-band-direction", "what the band does to the magnitude of the corpus-level Pearson r of "
               "(avg log p_prior, avg DPO implicit reward)", direction)

# %% tags=["hide-input"]
def measured_in_band(b_avg, centre, sd, x_avg, y_avg, a):
    keep = np.abs(b_avg - centre) <= a * sd
    return stats.correlation(x_avg[keep], y_avg[keep]) if keep.sum() >= 10 else None


CB = sns.color_palette(plots.PALETTE)
grid = np.geomspace(0.03, 10, 120)
fig, ax = plt.subplots(figsize=(7.5, 4.2))
worlds = ((f"toy (b = {toy_b:.2f})", toy_cov, (avg_lq, -H_q, avg_lp, avg_r), CB[0]),
          (f"neural, DPO reward (b = {neural_b:.2f})", n_cov[:2, :2],
           (c_pol, pol_lp.mean(), cx, cmeans["DPO implicit"]), CB[3]))
for name, cov, (b_avg, centre, x_avg, y_avg), col in worlds:
    sd = math.sqrt(cov[1, 1])
    ax.plot(grid, [corr_in_band(cov, a * sd, E_X, DIFF) for a in grid], color=col, lw=2, label=f"{name}: prediction")
    pts = [(a, measured_in_band(b_avg, centre, sd, x_avg, y_avg, a)) for a in (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)]
    pts = [(a, c) for a, c in pts if c is not None]
    if pts:
        ax.errorbar([a for a, _ in pts], [c.value for _, c in pts], fmt="o", color=col, capsize=3,
                    yerr=np.array([[c.value - c.low, c.high - c.value] for _, c in pts]).T,
                    label=f"{name}: measured (95% Fisher-z)")
ax.axvline(eps / math.sqrt(toy_cov[1, 1]), color=CB[0], ls=":", lw=1)
ax.axvline(neural_band, color=CB[3], ls=":", lw=1)
ax.set(xscale="log", xlabel="half-width of the band on B, in standard deviations of B",
       ylabel="Pearson r of (X, B − X) in the band", ylim=(-1.02, 0.05))
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
plots.publish("fig-band-law", fig)

# %% [markdown]
# ```{glue:figure} fig-band-law
# :name: fig-band-law
# :alt: Two curves of the in-band correlation against the band's half-width on a log scale. The toy's curve rises from minus one at narrow bands to about minus 0.12 at wide ones; the neural curve starts at minus one, climbs to a weak anti-correlation at a quarter of a standard deviation and falls back to its all-corpora value at wide bands. Measured points with error bars lie on both curves; dotted vertical lines mark the bands the chapter uses.
#
# The correlation inside a band on $B$, as a function of the band's half-width. Lines: {prf:ref}`prop-band-law`
# with each world's moments. Points: measured on the chapter's corpora, with the Fisher-z interval over the kept
# corpora (for the neural points this is the resampling noise given the pool, the scale at which the prediction,
# made from the pool, is tested). Dotted: the typicality band of the toy and the band of this section.
# ```
#
# Over the {glue:text}`neural-kept` corpora in the band, the DPO implicit reward gives Pearson
# {glue:text}`neural-band-dpo:.3f` ({glue:text}`neural-band-dpo-ci`; all corpora: {glue:text}`neural-corpus-dpo-pearson:.3f`);
# the proposition predicted {glue:text}`neural-band-prediction-dpo:.3f`, checked against the measured value's
# $1-10^{-4}$ Fisher-z interval over the kept corpora (the resampling's noise given the pool, which is what a
# prediction made from the pool must meet; like the prediction it assumes normal corpus averages). Here the band {glue:text}`neural-band-direction` the anti-correlation, and
# {numref}`fig-band-law` shows why. $\overline{\log\pi_{\rm ref}}$ follows $\overline{\log\pi}$ with slope
# $b=${glue:text}`neural-band-slope:.3f`; $\kappa$ is {glue:text}`neural-kappa-all:.3g` without the band and
# {glue:text}`neural-kappa-band:.3g` inside it, against $1/|b-1|=${glue:text}`neural-kappa-weakest:.3g`, near which the
# anti-correlation is weakest. Without the band, $X$ and the reward covary mainly through $B$ (the term
# $b(1-b)\kappa$ of the proposition); the band shrinks that term, and what is left, the scatter $V_E$ that enters $X$
# and $B-X$ with opposite signs, is small against the spread $b^2V_t$ that $X$ keeps inside the band. On the toy, with
# $b$ near 0, a band of about the same width (in standard deviations of $B$) {glue:text}`toy-band-direction` the
# anti-correlation. A filter on the aligned model's average log-probability does not manufacture an anti-correlation
# in general: the sign and size of the change are set by $b$ and $\kappa$. The sentiment reward gives
# {glue:text}`neural-band-sentiment:.3f` ({glue:text}`neural-band-sentiment-ci`; all corpora:
# {glue:text}`neural-corpus-sentiment-pearson:.3f`; the normal model predicted
# {glue:text}`neural-band-prediction-sentiment:.3f`).

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
for ax, name in zip(axes, ("sentiment", "DPO implicit")):
    cr = cmeans[name]
    ax.scatter(cx, cr, s=6, alpha=0.5, color="0.6", lw=0, label=f"all corpora (Pearson {cres[name][0]:.2f})")
    ax.scatter(cx[kept], cr[kept], s=8, alpha=0.8, color=plots.ROLE["aligned"], lw=0,
               label=f"avg log π in the band ({int(kept.sum())})")
    ax.set(xlabel="average log p_prior", ylabel=f"average {name} reward", title=f"Bootstrap corpora: {name} reward")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
plots.publish("fig-neural-tradeoff", fig)

# %% [markdown]
# ```{glue:figure} fig-neural-tradeoff
# :name: fig-neural-tradeoff
# :alt: Two scatter plots of bootstrap corpora, average prior log-probability against average reward: sentiment reward on the left, DPO implicit reward on the right. Grey points are all corpora, orange points those whose average policy log-probability lies in the band.
#
# The neural trade-off. Bootstrap corpora of the policy's strings, pooled over prompts, against the sentiment
# reward (left) and the DPO implicit reward (right); orange: the corpora kept by the band on $\overline{\log\pi}$.
# ```
#
# In {numref}`fig-neural-tradeoff` the grey clouds are the corpus-level figures of the previous sections and the
# orange slices the band's. With $b$ near 1 (here {glue:text}`neural-band-slope:.3f`) holding $\overline{\log\pi}$ in the
# band nearly holds $\overline{\log\pi_{\rm ref}}$ too, so the slice is narrow in $\overline{\log\pi_{\rm ref}}$ and what
# is left to correlate with the reward is the scatter $V_E$. The sentiment reward obeys no identity; the band moves
# its correlation only in so far as it tracks the implicit reward:

# %%
sd_link = prompt_boot(lambda i: stats.within_correlation(r_sent[i], r_dpo[i], g[i]).value)

# %% tags=["hide-input"]
_ = rec.figure("neural-sentiment-vs-dpo", "within-prompt Pearson r of (sentiment reward, DPO implicit reward) (95% "
               "prompt-cluster bootstrap)", sd_link[0], interval=sd_link[1:])

# %% [markdown]
# within prompts the two rewards correlate as {glue:text}`neural-sentiment-vs-dpo:.3f` (the policy was DPO-trained
# towards positive reviews).
#
# ### This run beside the paper-profile run
#
# The rendered chapter runs at a smaller size than the `paper` profile (fewer prompts and bootstrap corpora,
# the same completion length). The table sets this run's main neural figures, with their 95 % prompt-cluster
# intervals, beside those of the committed paper-profile run (read from `results/paper/`; a dash where that run
# did not record the figure).

# %% tags=["hide-input"]
committed = Path.cwd().parent / "results" / "paper" / "06-tradeoff-simpson.results.json"
paper_run = {c["id"]: c for c in results.load(committed)["claims"]} if committed.is_file() else {}
mine = {c.id: vars(c) for c in rec.claims}


def shown(claim):
    if not claim or not isinstance(claim["value"], float):
        return "—"
    return f"{claim['value']:.3f}" + (f" {label(*claim['interval'])}" if claim["interval"] else "")


MAIN = {"neural-string-sentiment-pooled-pearson": "strings, sentiment, pooled",
        "neural-string-sentiment-within-pearson": "strings, sentiment, within prompt",
        "neural-string-dpo-within-pearson": "strings, DPO implicit, within prompt",
        "neural-corpus-sentiment-pearson": "corpora, sentiment", "neural-corpus-dpo-pearson": "corpora, DPO implicit",
        "neural-pertoken-sentiment": "per token, sentiment", "neural-band-dpo": "corpora in the band, DPO implicit",
        "neural-band-sentiment": "corpora in the band, sentiment"}
if profile == "paper":
    display(Markdown("This is a paper-profile run: its figures are the committed ones once it is committed."))
else:
    display(pd.DataFrame({f"this run ({profile})": [shown(mine.get(k)) for k in MAIN],
                          "paper-profile run": [shown(paper_run.get(k)) for k in MAIN]},
                         index=pd.Index(MAIN.values(), name="Pearson r of log p_prior with the reward")))

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-06-band
#
# Suppose $(X,B)$ is bivariate normal with $\operatorname{Cov}(X,B)=0$ and corpora are kept when $|B-\mathbb EB|\le\varepsilon$.
# Show that the correlation of $X$ and $B-X$ over the kept corpora tends to $-1$ as $\varepsilon\to0$, and give its value
# when $\operatorname{Var}B\gg\varepsilon^2$.
# ```
#
# ```{solution} ex-06-band
# :class: dropdown
#
# This is {prf:ref}`prop-band-law` with $b=0$: independence survives the selection, so
# $\operatorname{corr}(X,B-X)=-\sqrt{V_X/(V_X+V_t)}$ with $V_X=\operatorname{Var}X$ and $V_t$ the variance of $B$ truncated to
# $\mathbb EB\pm\varepsilon$. When $\operatorname{Var}B\gg\varepsilon^2$, $B$ is nearly uniform on the band, $V_t\approx\varepsilon^2/3$, and
# the correlation is $-(1+\varepsilon^2/(3V_X))^{-1/2}\to-1$. Nothing about rewards or quality enters.
# ```
#
# ```{exercise}
# :label: ex-06-band-sign
#
# In {prf:ref}`prop-band-law` take $b=1/2$. Which values does the in-band correlation take as the band widens from
# $0$ to $\infty$? What does that say about a filter that keeps corpora of typical $\overline{\log\pi}$?
# ```
#
# ```{solution} ex-06-band-sign
# :class: dropdown
#
# With $b=1/2$, $b(1-b)=1/4$ and $b^2=(1-b)^2=1/4$, so the correlation is $(\kappa/4-1)/(\kappa/4+1)$, increasing from
# $-1$ at $\kappa=0$ through $0$ at $\kappa=4$ to $+1$ as $\kappa\to\infty$. A band can make the correlation of
# $\overline{\log\pi_{\rm ref}}$ and the implicit reward negative, zero or positive depending on its width: the filter
# alone says nothing about the sign.
# ```
#
# ```{exercise}
# :label: ex-06-pooling
#
# Two prompts with equally many strings; within each, $\log\pi_{\rm ref}$ and $r$ are uncorrelated. Adding a constant
# $c$ to every implicit reward of the second prompt (a different $\log Z$) changes nothing within prompts. Which
# values can the pooled correlation take as $c$ varies? When do they approach $(-1,1)$?
# ```
#
# ```{solution} ex-06-pooling
# :class: dropdown
#
# Let $V_{\rm ref},V_r$ be the within-prompt variances of $\log\pi_{\rm ref}$ and $r$, $(\mu_1,\nu_1)$ and $(\mu_2,\nu_2+c)$ the prompt means of
# $(\log\pi_{\rm ref},r)$, $d=\mu_2-\mu_1$ and $e=\nu_2+c-\nu_1$. Pooling adds the between-prompt terms:
# $\operatorname{Cov}=de/4$, $\operatorname{Var}\log\pi_{\rm ref}=V_{\rm ref}+d^2/4$, $\operatorname{Var}r=V_r+e^2/4$, so the pooled
# correlation is $\dfrac{de/4}{\sqrt{(V_{\rm ref}+d^2/4)(V_r+e^2/4)}}$. As $c$ (hence $e$) runs over $\mathbb R$ this is
# continuous, odd in $e$ and monotone, with limits $\pm\frac{|d|/2}{\sqrt{V_{\rm ref}+d^2/4}}$: every value strictly between
# them. The limits approach $\pm1$ when the prompts' mean $\log\pi_{\rm ref}$ differ by much more than its
# within-prompt spread — the usual case for prompts of different lengths or topics. With $d=0$ the pooled
# correlation is $0$ for every $c$.
# ```
#
# ```{exercise}
# :label: ex-06-spearman
#
# {prf:ref}`thm-averaging-keeps-correlation` is about Pearson's correlation. Does it hold for Spearman's $\rho$?
# Consider $N=1$ and $N\to\infty$.
# ```
#
# ```{solution} ex-06-spearman
# :class: dropdown
#
# Not in general. At $N=1$ the corpus $\rho$ is the string-level $\rho$. As $N\to\infty$ the averages become bivariate
# normal with the strings' Pearson correlation $c$, and the Spearman correlation of a bivariate normal is
# $\frac6\pi\arcsin(c/2)$ — a function of $c$, not of the strings' $\rho$. On the toy, the strings' $q$-weighted
# $\rho_q=${glue:text}`toy-string-spearman-q:.3f` and $\operatorname{corr}_q=${glue:text}`toy-string-pearson-q:.3f` differ;
# $\frac6\pi\arcsin(\operatorname{corr}_q/2)=${glue:text}`toy-spearman-from-r:.3f`, and the all-corpora $\rho$ is
# {glue:text}`toy-corpus-all-spearman:.3f`.
# ```
#
# ## Summary
#
# * Every corpus of an aligned model lies on the line $\overline{\log p}+\overline r/\beta=\overline{\log q}+\log Z$
#   (to {glue:text}`toy-identity-error:.2g` on the toy), and averaging keeps the strings' Pearson correlation.
# * On Tan et al.'s toy the string-level Pearson {glue:text}`toy-string-pearson:.2f` counts outcomes once; weighted by
#   $q$ it is {glue:text}`toy-string-pearson-q:.2f`, and all corpora show {glue:text}`toy-corpus-all-pearson:.2f`. The
#   typicality band moves it to {glue:text}`toy-corpus-typical-pearson:.2f` (predicted
#   {glue:text}`toy-band-prediction:.2f`) and the binned resampling to {glue:text}`toy-corpus-binned-pearson:.2f`.
# * A band on $B$ changes the correlation as $b$ and $\kappa$ dictate ({prf:ref}`prop-band-law`): on the toy
#   ($b=${glue:text}`toy-band-slope:.2f`) it {glue:text}`toy-band-direction` the anti-correlation, on the neural models
#   ($b=${glue:text}`neural-band-slope:.3f`) it {glue:text}`neural-band-direction` it, from
#   {glue:text}`neural-corpus-dpo-pearson:.2f` to {glue:text}`neural-band-dpo:.2f` (predicted
#   {glue:text}`neural-band-prediction-dpo:.2f`).
# * On the neural models the pooled sentiment correlation is {glue:text}`neural-string-sentiment-pooled-pearson:.2f`
#   ({glue:text}`neural-string-sentiment-pooled-pearson-ci`, prompt-cluster bootstrap), per token
#   {glue:text}`neural-pertoken-sentiment:.2f`, and length correlates with the reward as
#   {glue:text}`neural-length-sentiment:.2f`; corpora inherit the strings' figure ({glue:text}`neural-corpus-sentiment-pearson:.2f`).
# * With the DPO implicit reward as defined, every correlation is the negative of the one with Tan et al.'s
#   $\log\pi_{\rm ref}-\log\pi$: here {glue:text}`neural-string-dpo-pooled-pearson:.2f` against
#   {glue:text}`neural-string-tan2024-pooled-pearson:.2f`, pooled and over corpora as well as within prompts; their
#   DPO panel's two figures change sign, and its reversal needs more than averaging (IMH chains, pooled adaptors).
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-06>`; when, at which
# profile and for how long each chapter last ran is on {ref}`the execution status page <execution-status>`.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
