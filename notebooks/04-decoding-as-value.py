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
# # Decoding as optimising an action-state value
#
# {cite:t}`chang2023decoding` read every decoding algorithm — temperature sampling, greedy decoding,
# classifier guidance, classifier-free guidance, KL-divergence guided temperature — as the solution of
# one optimisation problem per step: decoding is a Markov decision process whose state is the prefix and
# whose action is the next token, and each algorithm picks, at each state, the next-token distribution
# $\pi$ that maximises an *action-state value* made of three information terms with weights:
# **sensibleness** $-\mathrm{KL}(\pi\,\|\,p)$, closeness to the pretrained model $p$; **diversity**
# $H(\pi)$, the entropy; and **attribution** $\mathbb E_\pi[u]$, a pointwise information about a class or
# an evidence $e$.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# * **Shows.** Each of the five algorithms is the exact per-step maximiser of its value (one closed form,
#   checked against a constrained optimiser), but not the sequence-level optimum that dynamic programming
#   finds; the "mutual information" term is a difference of two divergences; and each knob trades
#   sensibleness, diversity and attribution, exactly on a toy world and with intervals on a small IMDB model.
# * **Assumes.** {doc}`01-kl-regularised-alignment` (the Gibbs variational principle); entropy, KL
#   divergence and mutual information; Lagrange multipliers. One remark uses the globally normalised
#   sampler of {doc}`07-sampling-adaptors`.
# * **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed
#   paper-profile run: {glue:text}`paper-run-time`.
# * **Re-execute.** `lmdist run notebooks/04-decoding-as-value.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/04-decoding-as-value.py` lists every parameter; `-p model=/path/to/model`
#   swaps the language model).
# :::
#
# The chapter states the value of each algorithm, derives its optimal policy in closed form (one
# Lagrangian serves all five), and checks it against a constrained numerical optimiser on the simplex. It
# is precise where the paper is loose: the "mutual information" term of a single policy is a difference of
# two KL divergences that can be negative, and becomes a mutual information only on average over the
# evidence, for the model's own conditionals. It writes the KL-guided temperature schedule as the authors'
# code computes it, works out the sign and offset conventions of classifier-free guidance, and separates
# the per-step optimum from the sequence-level one (dynamic programming) on an exact toy world. Then it
# draws the trade-off curves of each knob, exactly on the toy and with intervals on the bundled IMDB model.
#
# The mathematics lives in `lmdist.exact.decoding`; guided sampling on a neural model in `lmdist.lm.guidance`.

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"
alphabet_size = None   # the toy string space
max_len = None
n_evidence = None      # values of the toy evidence e
relevance = None       # probability that a prefix's next-token distribution depends on e
concentration = None   # Dirichlet concentration of the toy's next-token rows
n_random = None        # random (next-token distribution, policy) pairs for the per-step identity
n_optimised = None     # random instances per algorithm solved by SLSQP on the simplex
vocab_max = None       # largest vocabulary of a random per-step instance
n_worlds = None        # random toy worlds for the sequence-level (DP) checks
temperatures = None    # knob of temperature sampling
cfg_weights = None     # knob w of classifier-free guidance
cg_lambdas = None      # knob λ of classifier guidance
kl_t0s = None          # base temperatures T0 of KL-guided temperature
kl_bandwidth = None    # half-life h (nats) of KL-guided temperature
model = None           # bundled name, local folder or cached Hugging Face id
n_prompts = None       # held-out reviews (evidence + query) for the neural experiments
n_samples = None       # strings per prompt and setting
max_new_tokens = None
k_evidence = None      # tokens of the review used as evidence
k_query = None         # tokens of the review that follow it: the prompt seen with and without evidence
top_k = None           # candidates rescored by the reward in classifier guidance
batch_size = None
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"alphabet_size": 2, "max_len": 3, "n_evidence": 3, "relevance": 0.5, "concentration": 1.0,
              "n_random": 300, "n_optimised": 6, "vocab_max": 8, "n_worlds": 20,
              "temperatures": [0.5, 1.0, 1.5], "cfg_weights": [0.0, 1.0, 3.0], "cg_lambdas": [0.0, 1.0, 3.0],
              "kl_t0s": [0.5, 1.0, 1.5], "kl_bandwidth": 0.5, "model": "tiny-imdb", "n_prompts": 2,
              "n_samples": 4, "max_new_tokens": 8, "k_evidence": 24, "k_query": 8, "top_k": 8, "batch_size": 16},
    "default": {"alphabet_size": 3, "max_len": 4, "n_evidence": 3, "relevance": 0.5, "concentration": 1.0,
                "n_random": 3000, "n_optimised": 30, "vocab_max": 12, "n_worlds": 200,
                "temperatures": [0.3, 0.5, 0.7, 1.0, 1.3, 1.6], "cfg_weights": [0.0, 0.5, 1.0, 2.0, 4.0],
                "cg_lambdas": [0.0, 1.0, 2.0, 4.0, 8.0], "kl_t0s": [0.5, 0.7, 1.0, 1.3, 1.6], "kl_bandwidth": 0.5,
                "model": "tiny-imdb", "n_prompts": 8, "n_samples": 6, "max_new_tokens": 20, "k_evidence": 48,
                "k_query": 8, "top_k": 10, "batch_size": 48},
    "paper": {"alphabet_size": 4, "max_len": 5, "n_evidence": 4, "relevance": 0.5, "concentration": 1.0,
              "n_random": 20000, "n_optimised": 200, "vocab_max": 30, "n_worlds": 2000,
              "temperatures": [0.2, 0.3, 0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.6, 2.0],
              "cfg_weights": [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0], "cg_lambdas": [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
              "kl_t0s": [0.3, 0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.6, 2.0], "kl_bandwidth": 0.5,
              "model": "tiny-imdb", "n_prompts": 64, "n_samples": 16, "max_new_tokens": 48, "k_evidence": 64,
              "k_query": 16, "top_k": 20, "batch_size": 128},
}
RULES = {
    "alphabet_size": {"type": "int", "min": 2, "max": 6, "doc": "V, tokens of the toy string space"},
    "max_len": {"type": "int", "min": 2, "max": 6, "doc": "longest string of the toy space"},
    "n_evidence": {"type": "int", "min": 2, "max": 10, "doc": "number of values of the toy evidence e"},
    "relevance": {"type": "float", "min": 0.0, "max": 1.0, "doc": "probability that a toy prefix's next-token distribution depends on e"},
    "concentration": {"type": "float", "min": 0.05, "max": 20.0, "doc": "Dirichlet concentration of the toy rows"},
    "n_random": {"type": "int", "min": 10, "max": 1000000, "doc": "random (distribution, policy) pairs for the per-step identity"},
    "n_optimised": {"type": "int", "min": 1, "max": 10000, "doc": "random per-step instances per algorithm solved by SLSQP"},
    "vocab_max": {"type": "int", "min": 2, "max": 200, "doc": "largest vocabulary of a random per-step instance"},
    "n_worlds": {"type": "int", "min": 1, "max": 100000, "doc": "random toy worlds for the sequence-level checks"},
    "temperatures": {"type": "list[float]", "min": 0.01, "max": 100.0, "doc": "temperatures T (must include 1.0)"},
    "cfg_weights": {"type": "list[float]", "min": 0.0, "max": 100.0, "doc": "classifier-free guidance weights w (diffusion convention)"},
    "cg_lambdas": {"type": "list[float]", "min": 0.0, "max": 100.0, "doc": "classifier guidance weights lambda"},
    "kl_t0s": {"type": "list[float]", "min": 0.01, "max": 100.0, "doc": "base temperatures T0 of KL-guided temperature"},
    "kl_bandwidth": {"type": "float", "min": 0.001, "max": 1000.0, "doc": "half-life h (nats of KL) of KL-guided temperature"},
    "model": {"type": "str", "doc": "language model: a bundled name, a local folder or a cached Hugging Face id"},
    "n_prompts": {"type": "int", "min": 1, "max": 10000, "doc": "held-out reviews used as evidence + query"},
    "n_samples": {"type": "int", "min": 2, "max": 10000, "doc": "strings per prompt and setting"},
    "max_new_tokens": {"type": "int", "min": 1, "max": 1024, "doc": "longest completion"},
    "k_evidence": {"type": "int", "min": 1, "max": 1024, "doc": "tokens of a review used as evidence"},
    "k_query": {"type": "int", "min": 1, "max": 256, "doc": "tokens after the evidence: the prompt seen with and without it"},
    "top_k": {"type": "int", "min": 1, "max": 1000, "doc": "candidates rescored by the reward in classifier guidance"},
    "batch_size": {"type": "int", "min": 1, "max": 4096, "doc": "strings decoded at once"},
}


# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display
from scipy import stats
from scipy.special import logsumexp

from lmdist.book import chapter, params, plots
from lmdist.exact import decoding as dc
from lmdist.exact import infotheory as it
from lmdist.exact import instances, strings

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC = "Chang et al. 2023 (arXiv 2311.10083) §3"
SRC_KL = "Chang, Reitter, Aksitov & Sung 2023 (arXiv 2306.01286), code google-research/kl_guided_sampling"
if 1.0 not in temperatures:
    raise params.ParameterError("parameter 'temperatures' must include 1.0 (the pretrained model itself)")

# %% [markdown]
# ## Decoding as a Markov decision process
#
# ```{prf:definition} Decoding MDP and the per-step value
# :label: def-decoding-mdp
#
# A *state* is a prefix $s_t=(x,y_{<t})$, an *action* the next symbol $a$ (a token or EOS), and a
# *policy* a next-symbol distribution $\pi(\cdot\mid s_t)$; EOS ends the episode. For a score vector
# $\sigma$ over actions and a weight $\tau\ge0$ the *per-step value* of a distribution $\pi$ is
#
# $$V_\tau(\pi;\sigma)=\mathbb E_{a\sim\pi}[\sigma(a)]+\tau\,H(\pi).$$
# ```
#
# Every algorithm of {cite:t}`chang2023decoding` is one choice of $(\sigma,\tau)$, and rearranging the
# terms gives their information reading. With $p=p(\cdot\mid s)$ the model the algorithm starts from,
# $p_e=p(\cdot\mid s,e)$ the model with an evidence (or class) $e$ in its context,
# $p_\varnothing$ the same model without it, and $g(a)=\log p_e(a)-\log p_\varnothing(a)$ the
# pointwise mutual information of the next token and the evidence under the model, the five algorithms
# are:
#
# | algorithm | knob | score $\sigma$ | weight $\tau$ | optimal policy |
# | --- | --- | --- | --- | --- |
# | temperature | $T$ | $\log p$ | $T$ | $\propto p^{1/T}$ |
# | greedy | — | $\log p$ | $0$ | $\delta_{\arg\max p}$ |
# | classifier guidance | $\lambda$ | $\log p+\lambda\log P(c\mid s\cdot a)$ | $1$ | $\propto p\,P(c\mid s\cdot a)^\lambda$ |
# | classifier-free guidance | $w$ | $\log p_e+w\,g$ | $1$ | $\propto p_e^{1+w}p_\varnothing^{-w}$ |
# | KL-guided temperature | $T_0,h$ | $\log p_e$ | $T_t$ | $\propto p_e^{1/T_t}$ |
#
# and their values in information terms:
#
# | algorithm | value $V_\tau(\pi;\sigma)$ in information terms |
# | --- | --- |
# | temperature | $-\mathrm{KL}(\pi\|p)+(T-1)H(\pi)$ |
# | greedy | $-\mathrm{KL}(\pi\|p)-H(\pi)=-H(\pi,p)$ |
# | classifier guidance | $-\mathrm{KL}(\pi\|p)+\lambda\,\mathbb E_\pi\log P(c\mid s\cdot a)$ |
# | classifier-free guidance | $-\mathrm{KL}(\pi\|p_e)+w\,\mathbb E_\pi g$ |
# | KL-guided temperature | $-\mathrm{KL}(\pi\|p_e)+(T_t-1)H(\pi)$ |
#
# The identities behind the second table: $-\mathrm{KL}(\pi\|p)=\mathbb E_\pi\log p+H(\pi)$, so
# $\mathbb E_\pi\log p+TH(\pi)=-\mathrm{KL}(\pi\|p)+(T-1)H(\pi)$: temperature trades sensibleness against
# diversity with weight $\eta=T-1$, which *rewards* entropy for $T>1$ and *penalises* it for $T<1$;
# greedy decoding is the end point $\eta=-1$, the negative cross entropy, linear in $\pi$. In the
# guidance rows $\lambda\,\mathbb E_\pi\log P(c\mid s\cdot a)$ differs from $\lambda\,\mathbb E_\pi[\log
# P(c\mid s\cdot a)-\log P(c\mid s)]$, the paper's pointwise-information form, by a constant in $\pi$.
# Which model classifier guidance starts from depends on its class: on the toy world below the class is
# the evidence itself and $p=p_\varnothing$; on the neural model it is a sentiment and $p=p_e$ (both
# explained where they are used).
#
# ```{prf:theorem} One closed form for all five
# :label: thm-soft-optimum
#
# For $\tau>0$ the unique maximiser of $V_\tau(\cdot;\sigma)$ over the simplex is
# $\pi^*(a)=e^{\sigma(a)/\tau}/\sum_b e^{\sigma(b)/\tau}$, its value is $\tau\log\sum_a e^{\sigma(a)/\tau}$, and
# for every $\pi$
#
# $$V_\tau(\pi;\sigma)=\tau\log\textstyle\sum_a e^{\sigma(a)/\tau}-\tau\,\mathrm{KL}(\pi\,\|\,\pi^*).$$
#
# For $\tau=0$ the maximisers are the distributions on $\arg\max\sigma$, with value $\max\sigma$.
# ```
#
# ```{prf:proof}
# *Lagrangian.* On the relative interior of the simplex, stationarity of
# $\sum_a\pi(a)\sigma(a)-\tau\sum_a\pi(a)\log\pi(a)+\mu(\sum_a\pi(a)-1)$ gives
# $\sigma(a)-\tau(\log\pi(a)+1)+\mu=0$, i.e. $\log\pi(a)=\sigma(a)/\tau+\text{const}$; the constant is fixed
# by normalisation. $V_\tau$ is strictly concave for $\tau>0$ (the entropy is), so the stationary point is
# the unique maximum; the boundary is no exception, since $\partial V/\partial\pi(a)\to+\infty$ as
# $\pi(a)\to0$. *Identity* (which proves the same without calculus): substitute
# $\sigma(a)=\tau\log\pi^*(a)+\tau\log Z$ with $Z=\sum_b e^{\sigma(b)/\tau}$ into $V_\tau$:
#
# $$\begin{aligned}
# V_\tau(\pi)&=\tau\textstyle\sum_a\pi(a)\log\pi^*(a)+\tau\log Z-\tau\sum_a\pi(a)\log\pi(a)\\
# &=\tau\log Z-\tau\,\mathrm{KL}(\pi\|\pi^*),
# \end{aligned}$$
#
# and Gibbs' inequality finishes it. At $\tau=0$, $V_0(\pi)=\sum_a\pi(a)\sigma(a)\le\max\sigma$ with equality
# iff $\pi$ lives on $\arg\max\sigma$. Actions with $\sigma(a)=-\infty$ (the top-$k$ restriction of FUDGE
# {cite:p}`yang2021fudge`, zeros of $p$) get $\pi^*(a)=0$.
# ```
#
# This is the Gibbs theorem of {doc}`01-kl-regularised-alignment` once more, one step at a time: with
# $\tau=1$, $\sigma=\log p+r$, $\pi^*\propto p\,e^{r}$.
#
# (ch04-kl-guided)=
# ### The KL-divergence guided temperature, as the code computes it
#
# The formula for it in {cite:t}`chang2023decoding` is garbled. The companion paper
# {cite}`chang2023klguided` ships its code (`google-research/kl_guided_sampling`, `decoding.py`, function
# `temperature_sample`): two decodings run in parallel, one with the evidence in the input and one
# without, fed the same tokens; at each step
#
# $$D_t=\mathrm{KL}\big(p(\cdot\mid s_t,e)\,\big\|\,p(\cdot\mid s_t)\big),\qquad
# T_t=T_0\cdot 2^{-D_t/h},$$
#
# (`kl_between_two_logits`, then `temperature * exp(-log(2) / kl_bandwidth * kl)`), and the token is
# drawn from $p(\cdot\mid s_t,e)^{1/T_t}$. The KL is from the *with-evidence* distribution to the
# *without* one, $h$ (`kl_bandwidth`) is a half-life: every $h$ nats of KL halve the temperature, and
# $T_t\in(0,T_0]$. The code clips probabilities at $10^{-7}$ before the KL and treats $h=0$ as "no
# guidance"; we use the exact KL and $h=\infty$ for that. By {prf:ref}`thm-soft-optimum` with
# $\sigma=\log p_e$, $\tau=T_t$, each step maximises
#
# $$-\mathrm{KL}(\pi\|p_e)+\eta_t H(\pi),\qquad \eta_t=T_0\,2^{-D_t/h}-1 :$$
#
# a temperature value whose diversity weight falls as the evidence becomes relevant to the step
# (with $T_0\le1$, $\eta_t\le0$ always: diversity is only ever penalised, and the more so the more the
# evidence matters).

# %% [markdown]
# ### Checking the closed forms
#
# For each algorithm we draw random next-token instances broadly — vocabulary sizes $2$ to
# {glue:text}`param-vocab_max`, Dirichlet rows with concentration log-uniform over $[0.05,5]$, each token an exact
# zero with probability `instances.HOLE_PROB` $=0.1$, discriminator probabilities uniform on $(0,1)$ with a random top-$k$ restriction,
# knobs log-uniform over $[10^{-2},10^{1}]$ — and check two things. First the identity of
# {prf:ref}`thm-soft-optimum` at random policies $\pi$ (Dirichlet draws and perturbations of $\pi^*$).
# Second, and independently of the formula, a constrained optimiser: SLSQP over the simplex
# (equality $\sum\pi=1$, bounds $0\le\pi\le1$, exact gradient), from the uniform distribution and a random
# start. It must never beat the closed form; how close it gets is a property of SLSQP, reported.

# %%
def random_row(rng, k, zeros=True):
    conc = 10 ** rng.uniform(np.log10(0.05), np.log10(5))
    return instances.random_logdist(rng, k, concentration=conc, hole_prob=instances.HOLE_PROB if zeros else 0.0)


def random_instance(rng, name):
    k = int(rng.integers(2, vocab_max + 1))
    p = random_row(rng, k)
    p_u = np.logaddexp(p, random_row(rng, k, zeros=False)) - math.log(2)     # covers p: supp p ⊆ supp p_u
    log_class = np.log(rng.uniform(1e-3, 1, k))
    if rng.random() < 0.5:                                                  # FUDGE's top-k restriction
        keep = np.argsort(-p)[: int(rng.integers(1, k + 1))]
        log_class = np.where(np.isin(np.arange(k), keep), log_class, -np.inf)
    rows = {"p": p, "p_u": p_u, "log_class": log_class, "bandwidth": 10 ** rng.uniform(-1, 1)}
    knob = 10 ** rng.uniform(-2, 1)
    if name == "classifier guidance" and np.all(np.isneginf(dc.ALGORITHMS[name].score(rows, knob))):
        rows["log_class"] = np.log(rng.uniform(1e-3, 1, k))
    return rows, knob


# %%
ident_err, n_pairs, n_beaten = 0.0, 0, 0
for name, alg in dc.ALGORITHMS.items():
    for _ in range(n_random // len(dc.ALGORITHMS)):
        rows, knob = random_instance(rng, name)
        s, tau = alg.score(rows, knob), float(alg.tau(rows, knob))
        star, best = alg.policy(rows, knob), dc.soft_optimal_value(s, tau)
        live = s > -np.inf
        eps = 10 ** rng.uniform(-6, 0)
        cand = [np.where(live, np.log(rng.dirichlet(np.ones(len(s)))), -np.inf),
                np.where(live, np.where(star > -np.inf, star, -30.0) + eps * rng.normal(size=len(s)), -np.inf)]
        for lq in cand:
            lq = it.normalize(lq)
            v = alg.value(lq, rows, knob)
            scale = 1 + abs(best) + tau * np.abs(s[live]).max()
            n_pairs += 1
            n_beaten += int(v > best + 1e-10 * scale)
            if tau > 0 and np.all(star[live] > -np.inf):   # (a tiny T_t can underflow π* to a vertex)
                ident_err = max(ident_err, abs(v - (best - tau * it.kl(lq, star))) / scale)

# %% tags=["hide-input"]
rec.figure("perstep-pairs", "random (instance, policy) pairs compared with the closed form", n_pairs, source=SRC)
rec.check("perstep-beaten", "pairs where a random policy had a larger per-step value than the closed form (beyond 1e-10 relative)",
          n_beaten, equals=0, source=SRC)
_ = rec.check("perstep-identity", "max relative error of V(pi) = tau log Z - tau KL(pi||pi*) over all pairs with tau > 0",
              ident_err, below=1e-9, source=SRC)

# %% [markdown]
# Over {glue:text}`perstep-pairs` pairs a random policy beat the closed form {glue:text}`perstep-beaten`
# times; the identity held to a relative error of {glue:text}`perstep-identity:.2g`. Now SLSQP,
# algorithm by algorithm:

# %%
opt_rows = []
for name, alg in dc.ALGORITHMS.items():
    for _ in range(n_optimised):
        rows, knob = random_instance(rng, name)
        s, tau = alg.score(rows, knob), float(alg.tau(rows, knob))
        v_closed = alg.value(alg.policy(rows, knob), rows, knob)
        _, v_num = dc.maximise_on_simplex(s, tau, starts=2, rng=rng)
        scale = 1 + abs(v_closed)
        opt_rows.append(dict(algorithm=name, k=len(s), knob=knob, tau=tau, closed=v_closed, numerical=v_num,
                             excess=(v_num - v_closed) / scale, shortfall=(v_closed - v_num) / scale))
opt = pd.DataFrame(opt_rows)

# %% tags=["hide-input"]
for name, g in opt.groupby("algorithm", sort=False):
    key = name.lower().replace(" ", "-")
    rec.check(f"simplex-gap-{key}", f"{name}: max (V_SLSQP - V_closed)/(1 + |V_closed|) over the instances; the closed form is never beaten",
              g.excess.max(), at_most=1e-9, source=SRC)
    rec.figure(f"simplex-shortfall-{key}", f"{name}: median (V_closed - V_SLSQP)/(1 + |V_closed|) of SLSQP", g.shortfall.median())
opt_table = opt.groupby("algorithm", sort=False).agg(**{"largest excess": ("excess", "max"),
                                                        "median shortfall": ("shortfall", "median")})
display(opt_table.map("{:.1e}".format))

# %% [markdown]
# The largest relative excess of SLSQP over the closed form, per algorithm: temperature
# {glue:text}`simplex-gap-temperature:.2g`, greedy {glue:text}`simplex-gap-greedy:.2g`, classifier
# guidance {glue:text}`simplex-gap-classifier-guidance:.2g`, classifier-free guidance
# {glue:text}`simplex-gap-classifier-free-guidance:.2g`, KL-guided temperature
# {glue:text}`simplex-gap-kl-guided-temperature:.2g` (each checked to be at most $10^{-9}$, i.e. rounding:
# the closed form is never beaten). SLSQP's median relative shortfall, a property of the optimiser:
# temperature {glue:text}`simplex-shortfall-temperature:.1g`, greedy {glue:text}`simplex-shortfall-greedy:.1g`
# (there the optimum is a vertex and the value linear), classifier guidance
# {glue:text}`simplex-shortfall-classifier-guidance:.1g`, classifier-free guidance
# {glue:text}`simplex-shortfall-classifier-free-guidance:.1g`, KL-guided temperature
# {glue:text}`simplex-shortfall-kl-guided-temperature:.1g`.
#
# ## Classifier-free guidance: two conventions, one policy
#
# The diffusion literature {cite:p}`ho2022classifier` combines noise predictions
# $\tilde\varepsilon=(1+w)\varepsilon(x,c)-w\,\varepsilon(x)$, with $w=0$ the plain conditional model; since
# $\varepsilon\propto-\nabla\log p$, this is the score of $p_c^{1+w}p_\varnothing^{-w}$ (the sign of
# $\varepsilon$ multiplies both terms and cancels). The language-model literature
# {cite:p}`sanchez2023stay` writes logits $\log p_\varnothing+\gamma(\log p_c-\log p_\varnothing)$, with
# $\gamma=1$ the plain conditional model. **Our convention is the diffusion one, $w\ge0$.**
#
# ```{prf:proposition} The conventions agree
# :label: prop-cfg-conventions
#
# With $\gamma=1+w$ both give $\pi\propto p_c^{1+w}p_\varnothing^{-w}$, whether applied to log-probabilities
# or to raw logits: logits $z=\log p+o(s)$ carry a per-state offset $o(s)$, which the combination turns
# into $(1+w)o_c-w\,o_\varnothing$ — again a per-state constant, removed by the softmax.
# ```
#
# With a Bayes-consistent classifier the two guidances are even the same family: if $P(e\mid s\cdot a)$ is
# the model's own posterior, $P(e\mid s\cdot a)/P(e\mid s)=p(a\mid s,e)/p(a\mid s)$, so classifier guidance
# started from $p_\varnothing$, $\propto p_\varnothing\,P(e\mid s\cdot a)^\lambda\propto p_\varnothing^{1-\lambda}p_e^{\lambda}$,
# is classifier-free guidance at $w=\lambda-1$ (the motivation of {cite:t}`ho2022classifier`). Both are
# checked on random instances:

# %%
conv_err, bayes_err = 0.0, 0.0
for _ in range(200):
    k = int(rng.integers(2, vocab_max + 1))
    zc, zu = rng.normal(0, 3, k), rng.normal(0, 3, k)
    w = 10 ** rng.uniform(-2, 1)
    a = dc.cfg_policy(it.normalize(zc), it.normalize(zu), w)
    b = dc.cfg_policy_lm(zc + rng.normal(0, 10), zu + rng.normal(0, 10), 1 + w)   # raw logits, random offsets
    conv_err = max(conv_err, it.tvd(a, b))
    m = int(rng.integers(2, 5))
    prior = it.normalize(np.log(rng.dirichlet(np.ones(m))))
    pe = np.stack([random_row(rng, k, zeros=False) for _ in range(m)])
    pu = logsumexp(prior[:, None] + pe, axis=0)
    lam = 1 + w
    cg = dc.classifier_guidance_policy(pu, prior[0] + pe[0] - pu, lam)     # discriminator: the Bayes posterior of e0
    bayes_err = max(bayes_err, it.tvd(cg, dc.cfg_policy(pe[0], pu, lam - 1)))

# %% tags=["hide-input"]
rec.check("cfg-conventions", "max TV between the diffusion (w) and LM (gamma = 1 + w, raw logits with offsets) CFG policies",
          conv_err, below=1e-12)
_ = rec.check("cg-is-cfg", "max TV between classifier guidance at lambda (Bayes discriminator) and CFG at w = lambda - 1",
              bayes_err, below=1e-12)

# %% [markdown]
# Largest distance between the two conventions: {glue:text}`cfg-conventions:.2g`; between classifier
# guidance with the Bayes discriminator and classifier-free guidance at $w=\lambda-1$:
# {glue:text}`cg-is-cfg:.2g`.
#
# (ch04-attribution)=
# ## What the "mutual information" term is
#
# {cite:t}`chang2023decoding` call $\mathbb E_\pi[\log p(a\mid s,e)-\log p(a\mid s)]$ a mutual information.
# For *one* evidence value $e$ and *one* policy $\pi$ it is not:
#
# ```{prf:proposition} Attribution as a difference of divergences
# :label: prop-attribution
#
# Let $A(\pi)=\mathbb E_\pi[\log p_e-\log p_\varnothing]$, with $p_\varnothing=\sum_e P(e)\,p_e$. Then
#
# 1. $A(\pi)=\mathrm{KL}(\pi\|p_\varnothing)-\mathrm{KL}(\pi\|p_e)$; at $\pi=p_\varnothing$ it is
#    $-\mathrm{KL}(p_\varnothing\|p_e)$, non-positive (negative unless $p_e=p_\varnothing$), and at $\pi=p_e$
#    it is $\mathrm{KL}(p_e\|p_\varnothing)\ge0$;
# 2. for a family of policies $\pi_e$, one per evidence value, with joint $P(e)\pi_e(y)$, mutual
#    information $I_\pi(E;Y)$ and marginal $\bar\pi=\sum_eP(e)\pi_e$,
#
#    $$\begin{aligned}
#    \textstyle\sum_eP(e)\,A(\pi_e)={}&I_\pi(E;Y)+\mathrm{KL}(\bar\pi\|p_\varnothing)\\
#    &-\textstyle\sum_eP(e)\,\mathrm{KL}(\pi_e\|p_e),
#    \end{aligned}$$
#
#    so for the model's own conditionals, $\pi_e=p_e$ for every $e$, it is the model's mutual information
#    $I(E;Y)$.
# ```
#
# ```{prf:proof}
# (1): add and subtract $\log\pi$ inside the expectation. (2): write
# $\log\frac{p_e}{p_\varnothing}=\log\frac{\pi_e}{\bar\pi}+\log\frac{\bar\pi}{p_\varnothing}-\log\frac{\pi_e}{p_e}$ and average
# under $P(e)\pi_e(y)$; the three terms are $I_\pi(E;Y)$, $\mathrm{KL}(\bar\pi\|p_\varnothing)$ (because
# $\sum_eP(e)\pi_e=\bar\pi$) and $\sum_eP(e)\mathrm{KL}(\pi_e\|p_e)$. If $\pi_e=p_e$ the last two vanish
# ($\bar\pi=p_\varnothing$). By the chain rule the same holds token by token, with every term conditioned
# on the state, and the per-step sums along a string add up to the sequence-level quantities.
# ```
#
# What (2) implies, and what it does not. It is an accounting identity for the guided joint
# $P(e)\pi_e(y)$, and nothing in it bounds that joint's mutual information by the model's: a family of
# policies that makes $Y$ depend more strongly on $E$ than the model does has more mutual information
# than the model, and guidance with $w>0$ does just that. Rearranged,
#
# $$I_\pi(E;Y)=\textstyle\sum_eP(e)A(\pi_e)+\sum_eP(e)\,\mathrm{KL}(\pi_e\|p_e)-\mathrm{KL}(\bar\pi\|p_\varnothing):$$
#
# the average attribution falls short of the policy's own mutual information by the sensibleness paid
# and exceeds it by the drift of the marginal away from $p_\varnothing$. So
# $I_\pi(E;Y)\ge\sum_eP(e)A(\pi_e)-\mathrm{KL}(\bar\pi\|p_\varnothing)$, and a family that keeps the
# marginal ($\bar\pi=p_\varnothing$) has at least as much mutual information as its average attribution.
#
# The smallest example: two tokens, a uniform prior over two evidence values with
# $p_{e_0}=(0.6,0.4)$ and $p_{e_1}=(0.4,0.6)$ (so $p_\varnothing$ is uniform), and classifier-free guidance at
# $w=1$. By symmetry the guided marginal is $p_\varnothing$ again, so no attribution can come from the
# marginal's drift.

# %%
def decomposition(log_prior, policies, conditionals, log_marginal):
    """The terms of prop-attribution (2): sum_e P(e) A(pi_e), I_pi(E;Y), KL(pi_bar||p_∅), sum_e P(e) KL(pi_e||p_e)."""
    weight = np.exp(log_prior)
    bar = logsumexp(log_prior[:, None] + np.stack(policies), axis=0)
    return {"average attribution": sum(weight[e] * dc.attribution(policies[e], conditionals[e], log_marginal)
                                       for e in range(len(weight))),
            "I_pi(E;Y)": sum(weight[e] * it.kl(policies[e], bar) for e in range(len(weight))),
            "KL(pi_bar||p_0)": it.kl(bar, log_marginal),
            "sensibleness paid": sum(weight[e] * it.kl(policies[e], conditionals[e]) for e in range(len(weight)))}


two_prior = np.log([0.5, 0.5])
two_cond = np.log([[0.6, 0.4], [0.4, 0.6]])
two_marg = logsumexp(two_prior[:, None] + two_cond, axis=0)
two_model = decomposition(two_prior, list(two_cond), list(two_cond), two_marg)
two_cfg = decomposition(two_prior, [dc.cfg_policy(row, two_marg, 1.0) for row in two_cond], list(two_cond), two_marg)

# %% tags=["hide-input"]
rec.figure("two-token-mi-model", "two-token example: the model's mutual information I(E;Y) (nats)", two_model["I_pi(E;Y)"])
rec.figure("two-token-mi-cfg", "two-token example: I_pi(E;Y) of the CFG (w = 1) joint (nats)", two_cfg["I_pi(E;Y)"])
rec.check("two-token-mi-gain", "two-token example: I_pi(E;Y) of the CFG (w = 1) joint minus the model's I(E;Y) (nats)",
          two_cfg["I_pi(E;Y)"] - two_model["I_pi(E;Y)"], above=0)
rec.figure("two-token-mi-direction", "two-token example: the CFG joint's mutual information compared with the model's",
           "larger" if two_cfg["I_pi(E;Y)"] > two_model["I_pi(E;Y)"] else "not larger")
rec.figure("two-token-kl-marginal", "two-token example: KL(pi_bar || p_∅) of the CFG (w = 1) family", two_cfg["KL(pi_bar||p_0)"])
rec.figure("two-token-attribution", "two-token example: average attribution of the CFG (w = 1) policies (nats)",
           two_cfg["average attribution"])
_ = rec.figure("two-token-paid", "two-token example: sum_e P(e) KL(pi_e || p_e) of the CFG (w = 1) policies (nats)",
               two_cfg["sensibleness paid"])

# %% [markdown]
# The model's mutual information is {glue:text}`two-token-mi-model:.3f` nats; the guided joint's is
# {glue:text}`two-token-mi-cfg:.3f` nats, {glue:text}`two-token-mi-direction`, and
# $\mathrm{KL}(\bar\pi\|p_\varnothing)=${glue:text}`two-token-kl-marginal:.2g`: nothing came from the marginal. The
# average attribution,
# {glue:text}`two-token-attribution:.3f` nats, is the guided mutual information less the sensibleness paid
# ({glue:text}`two-token-paid:.3f` nats), as (2) says. Guidance creates mutual information; what (2)
# adds is that the attribution counts it net of the sensibleness it costs. The toy world below checks
# (1), (2) and the comparison of $I_\pi$ with $I$ on a larger example.

# %% [markdown]
# ## The toy world: an evidence that matters at some steps
#
# All strings of at most {glue:text}`param-max_len` tokens over an alphabet of
# {glue:text}`param-alphabet_size` tokens. The evidence $e$ takes
# {glue:text}`param-n_evidence` values with a uniform prior; the model with evidence $p(\cdot\mid s,e)$
# shares a base next-token row with every other $e$ except at a random fraction
# ({glue:text}`param-relevance`) of the prefixes, where each $e$ has its own Dirichlet row: the evidence is
# relevant at some steps and irrelevant at others, which is what KL-guided temperature is built for.
# The model without evidence is the exact marginal $p_\varnothing(y)=\sum_eP(e)p(y\mid e)$, whose
# next-token table is the posterior-weighted mixture of the rows (`strings.next_token_table`). We decode
# with evidence $e_0$.

# %%
def evidence_world(rng, space, m, rho, conc):
    """(log P(e), [ToyLM p(.|e)], ToyLM p_∅): p(.|s,e) = a shared base row except at a fraction rho of prefixes."""
    base = strings.random_lm(space, rng, concentration=conc).next_logprobs
    inner = int(space.offsets[space.max_len])
    lms = []
    for _ in range(m):
        table = base.copy()
        own = strings.random_lm(space, rng, concentration=conc).next_logprobs
        pick = np.flatnonzero(rng.random(inner) < rho)
        table[pick] = own[pick]
        lms.append(strings.ToyLM(space, table))
    log_prior = np.full(m, -math.log(m))
    log_marg = logsumexp(log_prior[:, None] + np.stack([lm.logp for lm in lms]), axis=0)
    table_u = strings.next_token_table(space, log_marg)
    dead = strings.prefix_log_marginals(space, log_marg) == -np.inf   # prefixes no model reaches: any row will
    table_u[dead] = base[dead]                                         # do; keep the base row (finite where p_e is)
    return log_prior, lms, strings.ToyLM(space, table_u)


# %%
space = strings.StringSpace(alphabet_size, max_len)
log_prior, lms, lm_u = evidence_world(rng, space, n_evidence, relevance, concentration)
lm_e = lms[0]
TAB_E, TAB_U = lm_e.next_logprobs, lm_u.next_logprobs
LOGP_E, LOGP_U = lm_e.logp, lm_u.logp
log_post = log_prior[0] + LOGP_E - LOGP_U                                   # log P(e0 | y)
log_post_prefix = dc.prefix_log_expectation(space, LOGP_U, log_post)         # log P(e0 | prefix)
CLASS_TAB = dc.child_table(space, log_post_prefix, log_post)                 # FUDGE's rescoring, exact
D_STEP = it.kl(TAB_E, TAB_U)
mi_world = sum(np.exp(log_prior[e]) * it.kl(lms[e].logp, LOGP_U) for e in range(len(lms)))

# %% tags=["hide-input"]
rec.figure("toy-size", "strings in the toy space", space.size)
rec.figure("toy-mi", "mutual information I(E;Y) of the toy world (nats)", mi_world)
_ = rec.figure("toy-relevant-steps", "fraction of non-final toy prefixes where KL(p_e0 || p_∅) > 1e-12",
               np.mean(D_STEP[: int(space.offsets[space.max_len])] > 1e-12))

# %% [markdown]
# The space has {glue:text}`toy-size` strings; $I(E;Y)=${glue:text}`toy-mi:.3f` nats, and the evidence
# changes the next-token distribution at {glue:text}`toy-relevant-steps:.0%` of the prefixes where a
# token can still follow. The posterior prefix classifier $P(e_0\mid s)$ is computed exactly, so
# FUDGE-style classifier guidance has an exact discriminator here.
#
# Checking {prf:ref}`prop-attribution` on this world, at the sequence level, for the model's own
# conditionals and for classifier-free guidance at every weight $w$ of the grid:

# %%
pol_e = [lm.logp for lm in lms]
cond_e = [lm.logp for lm in lms]
res = {"model": decomposition(log_prior, pol_e, cond_e, LOGP_U)}
for w in sorted(set(cfg_weights) | {1.0}):
    pols = [strings.sequence_logscores(space, dc.cfg_policy(lm.next_logprobs, TAB_U, w)) for lm in lms]
    res[w] = decomposition(log_prior, pols, cond_e, LOGP_U)
cfg1 = res[1.0]
decomp_err = abs(cfg1["average attribution"]
                 - (cfg1["I_pi(E;Y)"] + cfg1["KL(pi_bar||p_0)"] - cfg1["sensibleness paid"]))
a_at_u = dc.attribution(LOGP_U, LOGP_E, LOGP_U)           # A(p_∅), by prop-attribution (1) = -KL(p_∅ || p_e0)
kl_u_e = it.kl(LOGP_U, LOGP_E)
a_at_u_err = 0.0 if np.isinf(a_at_u) and np.isinf(kl_u_e) else abs(a_at_u + kl_u_e)
cfg_table = pd.DataFrame([{"w": w, **res[w]} for w in sorted(cfg_weights)]).set_index("w").astype(float)

# %% tags=["hide-input"]
rec.figure("attr-at-marginal", "A(p_∅) = E_{p_∅}[log p_e0 - log p_∅] in the toy world (nats)", a_at_u)
rec.figure("attr-at-marginal-sign", "sign of A(p_∅) in the toy world",
           "negative" if a_at_u < 0 else "zero (p_e0 = p_∅ in this world)")
rec.check("attr-at-marginal-identity", "|A(p_∅) + KL(p_∅ || p_e0)| in the toy world (prop-attribution (1))",
          a_at_u_err, below=1e-12)
# the same sum as I(E;Y) term by term (KL(p_e || p_∅) = E_{p_e}[log p_e - log p_∅]): reported, not checked
rec.figure("attr-mi-model", "|average attribution of the model's own conditionals - I(E;Y)|",
           abs(res["model"]["average attribution"] - mi_world))
rec.check("attr-decomposition", "|sum_e P(e) A(pi_e) - [I_pi + KL(pi_bar||p_∅) - sum_e P(e) KL(pi_e||p_e)]| for CFG at w = 1",
          decomp_err, below=1e-10)
rec.figure("attr-cfg-average", "average attribution of CFG (w = 1) policies", cfg1["average attribution"])
rec.figure("attr-cfg-direction", "the average attribution of CFG (w = 1) compared with I(E;Y)",
           "raises" if cfg1["average attribution"] > mi_world else "lowers")
rec.figure("attr-cfg-mi", "mutual information I_pi(E;Y) of the CFG (w = 1) joint", cfg1["I_pi(E;Y)"])
rec.check("attr-cfg-mi-gain", "I_pi(E;Y) of the CFG (w = 1) joint minus the model's I(E;Y), toy world (nats)",
          cfg1["I_pi(E;Y)"] - mi_world, above=0)
rec.figure("attr-cfg-mi-direction", "the CFG (w = 1) joint's mutual information compared with the model's, toy world",
           "larger" if cfg1["I_pi(E;Y)"] > mi_world else "not larger")
rec.figure("attr-cfg-kl-marginal", "KL(pi_bar || p_∅) of the CFG (w = 1) family, toy world", cfg1["KL(pi_bar||p_0)"])
display(cfg_table.rename(columns={"average attribution": "Σ P(e) A(π_e)", "I_pi(E;Y)": "I_π(E;Y)",
                                  "KL(pi_bar||p_0)": "KL(π̄‖p_∅)", "sensibleness paid": "Σ P(e) KL(π_e‖p_e)"}).round(4))

# %% [markdown]
# At $\pi=p_\varnothing$ the attribution is {glue:text}`attr-at-marginal:.3f` nats,
# {glue:text}`attr-at-marginal-sign`, and equals $-\mathrm{KL}(p_\varnothing\|p_{e_0})$ to
# {glue:text}`attr-at-marginal-identity:.1g`. Averaged over $e$ for the model's own conditionals it equals
# $I(E;Y)$ (difference {glue:text}`attr-mi-model:.1g`; the two are the same sum term by term, so this is
# reported, not checked). Classifier-free guidance at $w=1$ {glue:text}`attr-cfg-direction` the average
# attribution from $I(E;Y)=${glue:text}`toy-mi:.3f` to {glue:text}`attr-cfg-average:.3f` nats; the mutual
# information of its own joint is {glue:text}`attr-cfg-mi:.3f` nats, {glue:text}`attr-cfg-mi-direction`
# than the model's, while its marginal drifted by $\mathrm{KL}(\bar\pi\|p_\varnothing)=${glue:text}`attr-cfg-kl-marginal:.3f`
# nats. The decomposition of {prf:ref}`prop-attribution` holds to {glue:text}`attr-decomposition:.1g`. The
# table above gives the four terms of (2) for every weight of the grid ($w=0$ is the model itself).

# %% [markdown]
# (ch04-dp-vs-myopic)=
# ## The per-step optimum is not the sequence-level optimum
#
# {cite:t}`chang2023decoding` formulate decoding "using dynamic programming" and describe the algorithms
# as the optimal policies of their value functions. Every algorithm above is *myopic*: it maximises the
# value of the next step only ({prf:ref}`thm-soft-optimum` with the immediate score $\sigma$). The
# sequence-level problem sums the per-step values along the string,
#
# $$\begin{aligned}
# J(\pi)=\mathbb E_{y\sim\pi}\Big[&\textstyle\sum_t\big(\sigma(s_t,a_t)+\tau(s_t)H(\pi(\cdot\mid s_t))\big)\\
# &+R(y)\Big],
# \end{aligned}$$
#
# ($R$ an optional reward of the finished string) and is solved by dynamic programming.
#
# ```{prf:theorem} Soft Bellman equation
# :label: thm-bellman
#
# Let $Q(s,a)=\sigma(s,a)+V^*(s\cdot a)$ for a token, $Q(s,\mathrm{EOS})=\sigma(s,\mathrm{EOS})+R(s)$, and
# $V^*(s)=\max_\pi V_{\tau(s)}(\pi;Q(s,\cdot))=\tau(s)\log\sum_ae^{Q(s,a)/\tau(s)}$ (or $\max_aQ(s,a)$ at
# $\tau(s)=0$), computed from the longest prefixes back. The policy $\pi^*(\cdot\mid s)\propto e^{Q(s,\cdot)/\tau(s)}$
# maximises $J$, with $J(\pi^*)=V^*(s_1)$, $s_1$ the empty prefix. If $\tau>0$ is constant, $\pi^*$'s distribution over
# strings is the global Gibbs distribution $\pi^*(y)=e^{S(y)/\tau}/Z$, $S(y)=\sum_t\sigma(s_t,y_t)+R(y)$,
# and for every policy $J(\pi)=\tau\log Z-\tau\,\mathrm{KL}(\pi\|\pi^*)$.
# ```
#
# ```{prf:proof}
# By induction from the longest prefixes: the value of a policy from state $s$ is
# $\mathbb E_{\pi(\cdot|s)}[\sigma(s,a)+J_{s\cdot a}]+\tau(s)H(\pi(\cdot\mid s))$, which for fixed continuation values
# is $V_{\tau(s)}(\pi(\cdot\mid s);\sigma(s,\cdot)+J_{s\cdot\cdot})$, maximised by {prf:ref}`thm-soft-optimum`; and
# the continuation values are largest for the optimal continuation (monotonicity in $Q$). For constant
# $\tau$, the entropy of a string distribution is the expected sum of its per-step entropies (chain
# rule), so $J(\pi)=\mathbb E_\pi S+\tau H(\pi)$ over strings, which is {prf:ref}`thm-soft-optimum` on the
# set of strings: maximised by $e^{S/\tau}/Z$ with the stated identity.
# ```
#
# The myopic policy uses $\sigma$ where $\pi^*$ uses $Q$: the two coincide only when the future values
# $V^*(s\cdot a)$ do not depend on $a$. For temperature sampling ($\sigma=\log p$, $\tau=T$) the myopic policy
# is the *locally* normalised $p^{1/T}$, the DP optimum the *globally* normalised $p(y)^{1/T}/Z$
# ({doc}`07-sampling-adaptors`); for greedy decoding it is the greedy path against the most probable
# string; for classifier guidance with a string-level reward $R=\lambda\log P(c\mid y)$, the exact DP
# rescoring is $V^*(s\cdot a)=\log\mathbb E_p[P(c\mid y)^\lambda\mid s\cdot a]$, while FUDGE
# {cite:p}`yang2021fudge` rescores with $\lambda\log\mathbb E_p[P(c\mid y)\mid s\cdot a]$: by Jensen these agree
# for every $p$ only at $\lambda\in\{0,1\}$. At $\lambda=1$ FUDGE with an exact prefix classifier is Bayes'
# rule token by token and *is* the sequence-level optimum $p(y)P(c\mid y)/P(c)$.
#
# On the toy world we solve the Bellman equation for each algorithm's $(\sigma,\tau)$ and compare the DP
# policy with the algorithm's own myopic policy and with random policies. Classifier guidance here starts
# from $p_\varnothing$ and rewards the string's posterior $P(e_0\mid y)$, as in the trade-off curves below.

# %%
def seq(table):
    return strings.sequence_logscores(space, table)


def dp_rows(sigma, tau, terminal=None):
    """(DP table, J(DP), myopic table, J(myopic))."""
    table, values = dc.bellman(space, sigma, tau, terminal)
    my = dc.myopic_policy(sigma, tau)
    return table, dc.sequence_objective(space, table, sigma, tau, terminal), my, dc.sequence_objective(space, my, sigma, tau, terminal)


# %%
T_ILL, W_ILL, LAM_ILL = 0.5, 2.0, 3.0
t0_ill = max(kl_t0s)
tau_kl = dc.kl_guided_temperature(TAB_E, TAB_U, t0_ill, kl_bandwidth)
cases = {   # (sigma, tau, terminal): the per-step scores of each algorithm in the toy world
    f"temperature T={T_ILL:g}": (TAB_E, T_ILL, None),
    "greedy": (TAB_E, 0.0, None),
    f"classifier guidance λ={LAM_ILL:g}, string reward": (TAB_U, 1.0, LAM_ILL * log_post),
    f"classifier-free guidance w={W_ILL:g}": (np.where(TAB_E > -np.inf, (1 + W_ILL) * TAB_E - W_ILL * np.where(TAB_E > -np.inf, TAB_U, 0), -np.inf), 1.0, None),
    f"KL-guided T0={t0_ill:g}": (TAB_E, tau_kl, None),
}
rows_dp, worst_dp, worst_id = [], 0.0, 0.0
for name, (sig, tau, term) in cases.items():
    tab, j_dp, my, j_my = dp_rows(sig, tau, term)
    if name.startswith("classifier guidance"):   # the myopic algorithm is FUDGE with the exact prefix classifier
        my = dc.classifier_guidance_policy(TAB_U, CLASS_TAB, LAM_ILL)
        j_my = dc.sequence_objective(space, my, sig, tau, term)
    rand = [it.normalize(np.where(np.isfinite(sig), rng.normal(0, 2, sig.shape), -np.inf)) for _ in range(20)]
    j_rand = max(dc.sequence_objective(space, r_, sig, tau, term) for r_ in rand)
    worst_dp = max(worst_dp, j_my - j_dp, j_rand - j_dp)
    if np.ndim(tau) == 0 and tau > 0:
        worst_id = max(worst_id, abs((j_dp - j_my) - tau * it.kl(seq(my), seq(tab))))
    rows_dp.append({"algorithm": name, "J(DP)": j_dp, "J(myopic)": j_my, "J(best random)": j_rand,
                    "TV(myopic, DP)": it.tvd(seq(my), seq(tab))})
dp_df = pd.DataFrame(rows_dp).set_index("algorithm")

# %%
tab_T, vals_T = dc.bellman(space, TAB_E, T_ILL)
dp_global_tv = it.tvd(seq(tab_T), it.normalize(LOGP_E / T_ILL))      # the DP temperature policy vs p_e(y)^(1/T)/Z
# FUDGE: exact at lambda = 1, not at other lambda
fudge_tv = {lam: it.tvd(seq(dc.classifier_guidance_policy(TAB_U, CLASS_TAB, lam)),
                        dc.soft_optimum(LOGP_U + lam * log_post, 1.0)) for lam in (1.0, LAM_ILL)}

# %% tags=["hide-input"]
rec.check("dp-optimal", "max over the five algorithms of J(myopic or random policy) - J(DP) (DP is optimal)",
          worst_dp, at_most=1e-10, source=SRC)
rec.check("dp-gap-identity", "max |J(DP) - J(myopic) - tau KL(myopic || DP)| (constant tau > 0)", worst_id, below=1e-10)
rec.check("dp-is-global", "TV between the DP policy's strings and the global p_e(y)^(1/T)/Z at T = 0.5",
          dp_global_tv, below=1e-12)
rec.figure("dp-tv-temperature", "TV(local p^(1/T), global p^(1/T)) at T = 0.5 in the toy world",
           dp_df["TV(myopic, DP)"].iloc[0])
rec.check("fudge-exact-lambda1", "TV(FUDGE with the exact prefix classifier, p_∅(y) P(e0|y)^λ / Z) at λ = 1 (Bayes: p_e0)",
          fudge_tv[1.0], below=1e-12)
rec.figure("fudge-tv-lambda", f"the same TV at λ = {LAM_ILL:g}", fudge_tv[LAM_ILL])
display(dp_df.round(4))

# %% [markdown]
# On the illustrated world, no myopic or random policy beats the DP optimum (largest excess
# {glue:text}`dp-optimal:.2g`; the table gives $J$ of each policy and the distance between the myopic and
# the DP policy's distributions over strings), and $J(\pi^*)-J(\pi_{\text{myopic}})=\tau\,\mathrm{KL}(\pi_{\text{myopic}}\|\pi^*)$ to
# {glue:text}`dp-gap-identity:.1g`. The DP temperature policy is the global $p_e(y)^{1/T}/Z$ (TV
# {glue:text}`dp-is-global:.1g`), while the sampler's local one is {glue:text}`dp-tv-temperature:.3f` away in
# total variation at $T=0.5$. FUDGE with the exact prefix classifier reproduces $p_{e_0}$ exactly at
# $\lambda=1$ (TV {glue:text}`fudge-exact-lambda1:.1g`) but is {glue:text}`fudge-tv-lambda:.3f` away from the
# sequence-level optimum at $\lambda=3$.
#
# Over many random worlds (the alphabet and length limit of this profile, concentrations log-uniform over $[0.05,5]$):
# how often is the greedy path not the most probable string, and does the DP optimum win everywhere?

# %%
n_miss, worst_w, tv_local = 0, 0.0, []
for _ in range(n_worlds):
    conc = 10 ** rng.uniform(np.log10(0.05), np.log10(5))
    lp_w, lms_w, lu_w = evidence_world(rng, space, n_evidence, rng.uniform(0, 1), conc)
    te, tu = lms_w[0].next_logprobs, lu_w.next_logprobs
    greedy_string = seq(dc.greedy_policy(te))
    n_miss += int(lms_w[0].logp[greedy_string > -np.inf].max() < lms_w[0].logp.max() - 1e-12)
    t = 10 ** rng.uniform(-1, 0.5)
    sig_cfg = np.where(te > -np.inf, 2 * te - np.where(te > -np.inf, tu, 0), -np.inf)
    tau_w = dc.kl_guided_temperature(te, tu, 10 ** rng.uniform(-1, 0.5), 10 ** rng.uniform(-1, 1))
    for sig, tau in ((te, t), (te, 0.0), (sig_cfg, 1.0), (te, tau_w)):
        _, j_dp, my, j_my = dp_rows(sig, tau)
        worst_w = max(worst_w, j_my - j_dp)
    tv_local.append(it.tvd(seq(dc.temperature_policy(te, t)), it.normalize(lms_w[0].logp / t)))

# %% tags=["hide-input"]
rec.check("worlds-dp-optimal", "max excess of the myopic policy's J over the DP optimum, over random worlds x algorithms",
          worst_w, at_most=1e-10, source=SRC)
rec.figure("worlds-greedy-misses-mode", "fraction of random worlds where the greedy path is not the most probable string",
           n_miss / n_worlds)
_ = rec.figure("worlds-median-tv-local-global", "median TV(local, global temperature) over random worlds and T", np.median(tv_local))

# %% [markdown]
# Over {glue:text}`param-n_worlds` random worlds, the greedy path missed the most probable string in
# {glue:text}`worlds-greedy-misses-mode:.0%` of them; the median distance between the local and the global
# temperature distribution was {glue:text}`worlds-median-tv-local-global:.3f`; and the myopic policy never
# beat the DP optimum (largest excess {glue:text}`worlds-dp-optimal:.1g`).

# %% [markdown]
# (ch04-directions)=
# ## Which way each knob moves
#
# ```{prf:proposition} Direction of each knob, per step
# :label: prop-directions
#
# Let $\pi_\nu\propto\rho\,e^{\nu u}$ on $\mathrm{supp}\,\rho$, for a base distribution $\rho$, a score $u$
# and a tilt $\nu\in\mathbb R$. Then $\frac{d}{d\nu}\mathbb E_{\pi_\nu}u=\mathrm{Var}_{\pi_\nu}u\ge0$ and
# $\frac{d}{d\nu}\mathrm{KL}(\pi_\nu\|\rho)=\nu\,\mathrm{Var}_{\pi_\nu}u$. Hence, at every state:
#
# * temperature ($\rho=p$, $u=\log p$, $\nu=1/T-1$): $H(\pi_T)$ is non-decreasing in $T$, and
#   $\mathrm{KL}(\pi_T\|p)$ is non-increasing on $(0,1]$ and non-decreasing on $[1,\infty)$;
# * classifier guidance ($\rho=p$ the model it starts from, $u=\log P(c\mid s\cdot a)$, $\nu=\lambda$): the
#   attribution to the class $\mathbb E_\pi u$ and $\mathrm{KL}(\pi\|p)$ are non-decreasing in $\lambda\ge0$;
# * classifier-free guidance ($\rho=p_e$, $u=g$, $\nu=w$): $\mathbb E_\pi g$ and $\mathrm{KL}(\pi\|p_e)$
#   are non-decreasing in $w\ge0$;
# * KL-guided temperature: $T_t$ is non-decreasing in $T_0$ and in $h$, so $H(\pi_t)$ is too.
# ```
#
# ```{prf:proof}
# $\log\pi_\nu=\log\rho+\nu u-\Lambda(\nu)$ with $\Lambda(\nu)=\log\mathbb E_\rho e^{\nu u}$, so
# $\Lambda'=\mathbb E_{\pi_\nu}u$ and $\Lambda''=\mathrm{Var}_{\pi_\nu}u$. Then
# $\mathrm{KL}(\pi_\nu\|\rho)=\nu\Lambda'(\nu)-\Lambda(\nu)$, whose derivative is $\nu\Lambda''(\nu)$. For
# temperature, $\pi_T\propto p^{1/T}$ is the family $e^{\kappa\log p-\Lambda_1(\kappa)}$ on $\mathrm{supp}\,p$
# with natural parameter $\kappa=1/T$, and $H(\pi_T)=\Lambda_1(\kappa)-\kappa\Lambda_1'(\kappa)$, so
# $dH/d\kappa=-\kappa\,\mathrm{Var}_{\pi_T}(\log p)\le0$, and $\kappa$ falls as $T$ rises. The KL-guided schedule $T_0\,2^{-D/h}$ with $D\ge0$ increases with $T_0$ and with $h$.
# ```
#
# These are per-step statements: they hold at every state, for every model. Whole strings are another
# matter, because a policy also chooses which states it visits. For the locally normalised temperature
# sampler, the entropy of the string distribution need **not** increase with $T$. In the tree below the
# first symbol is the token $a$ (probability 0.6) or EOS (0.4); after $a$ every symbol is equally likely
# until the length limit. A low temperature commits to $a$ and then samples the large subtree below it,
# whose uniform rows no temperature changes (a uniform row stays uniform under $p^{1/T}$); at $T=1$ the
# sampler ends at once 40 % of the time and enters the subtree only 60 % of the time. (The globally
# normalised $p(y)^{1/T}/Z$ is an exponential family on strings, so its entropy *is* monotone in $T$.)


# %%
def row_mono(values, increasing=True, tol=1e-9):
    """violations of monotonicity along axis 0 (grid) for arrays (grid, rows)."""
    d = np.diff(values, axis=0)
    scale = tol * (1 + np.abs(values[:-1]))
    return int((d < -scale).sum()) if increasing else int((d > scale).sum())


def direction_checks(tab_e, tab_u, temps, ws, t0s, h, log_class=None):
    """Per-step monotonicity violations of the knobs on every row of the tables (prop-directions)."""
    out = {}
    ts = np.sort(np.asarray(temps, float))
    pis = [dc.temperature_policy(tab_e, t) for t in ts]
    out["temperature: entropy"] = row_mono(np.stack([it.entropy(x) for x in pis]))
    kls = np.stack([it.kl(x, tab_e) for x in pis])
    out["temperature: KL below 1"] = row_mono(kls[ts <= 1], increasing=False)
    out["temperature: KL above 1"] = row_mono(kls[ts >= 1])
    wsort = np.sort(np.asarray(ws, float))
    pis = [dc.cfg_policy(tab_e, tab_u, w) for w in wsort]
    out["CFG: attribution"] = row_mono(np.stack([dc.attribution(x, tab_e, tab_u) for x in pis]))
    out["CFG: KL"] = row_mono(np.stack([it.kl(x, tab_e) for x in pis]))
    if log_class is not None:
        lams = np.sort(np.asarray(cg_lambdas, float))
        pis = [dc.classifier_guidance_policy(tab_u, log_class, lam) for lam in lams]
        out["CG: E log P(c|s.a)"] = row_mono(np.stack([dc.soft_value(x, log_class, 0.0) for x in pis]))
        out["CG: KL"] = row_mono(np.stack([it.kl(x, tab_u) for x in pis]))
    t0 = np.sort(np.asarray(t0s, float))
    out["KL-guided: entropy in T0"] = row_mono(np.stack([it.entropy(dc.kl_guided_policy(tab_e, tab_u, x, h)) for x in t0]))
    hs = h * np.array([0.25, 0.5, 1.0, 2.0, 4.0, np.inf])
    out["KL-guided: entropy in h"] = row_mono(np.stack([it.entropy(dc.kl_guided_policy(tab_e, tab_u, t0[0], x)) for x in hs]))
    return out


# %%
toy_dirs = direction_checks(TAB_E, TAB_U, temperatures, cfg_weights, kl_t0s, kl_bandwidth, CLASS_TAB)

# %% tags=["hide-input"]
rec.check("toy-directions", "per-step monotonicity violations of every knob over every prefix of the toy world (prop-directions)",
          sum(toy_dirs.values()), equals=0)
display(pd.Series(toy_dirs, name="violations (toy, every prefix)").to_frame())

# %%
# the counterexample: string entropy of the local temperature sampler falls as T rises from 0.05 to 1
cx_space = strings.StringSpace(2, 4)
cx = np.full((cx_space.size, 3), -math.log(3))
cx[0] = np.log([0.6, 1e-300, 0.4])
cx[0, 1] = -np.inf
cx[cx_space.level(4)] = [-np.inf, -np.inf, 0.0]
cx_lm = strings.ToyLM(cx_space, cx)
cx_ts = np.array([0.05, 0.25, 0.5, 1.0])
h_local = [it.entropy(strings.sequence_logscores(cx_space, dc.temperature_policy(cx, t))) for t in cx_ts]
h_global = [it.entropy(it.normalize(cx_lm.logp / t)) for t in cx_ts]

# %% tags=["hide-input"]
rec.check("local-entropy-falls", "string entropy of local temperature sampling at T = 0.05 minus at T = 1 in the counterexample",
          h_local[0] - h_local[-1], above=0.1)
rec.figure("local-entropy-direction", "how the local sampler's string entropy moves from T = 0.05 to T = 1",
           "drops" if h_local[-1] < h_local[0] else "rises")
rec.check("global-entropy-rises", "steps of the T grid where the global p^(1/T) string entropy falls by more than 1e-12",
          np.sum(np.diff(h_global) < -1e-12), equals=0)
display(pd.DataFrame({"T": cx_ts, "H local (nats)": h_local, "H global (nats)": h_global}).set_index("T").round(4))

# %% [markdown]
# Every knob moved the way {prf:ref}`prop-directions` says at every prefix of the toy world
# ({glue:text}`toy-directions` violations). In the counterexample the local sampler's string entropy
# {glue:text}`local-entropy-direction` by {glue:text}`local-entropy-falls:.3f` nats from $T=0.05$ to $T=1$,
# while the global one never falls along the grid ({glue:text}`global-entropy-rises` violations).

# %% [markdown]
# ## Trade-off curves on the toy (exact)
#
# For every algorithm and knob value we compute, at the sequence level and exactly, sensibleness
# $-\mathrm{KL}(\pi\|p_{e_0})$ (the model with the evidence is the one we decode from), diversity
# $H(\pi)$ and attribution $A(\pi)=\mathbb E_\pi[\log p_{e_0}(y)-\log p_\varnothing(y)]$.
#
# Classifier guidance here starts from the model **without** the evidence, $p_\varnothing$ ($\lambda=0$), and
# its classifier is the exact prefix posterior $P(e_0\mid s)$. The reason: its class *is* the evidence, so
# the classifier already carries what $p_{e_0}$ adds to $p_\varnothing$, and by Bayes' rule
# $p_\varnothing(a\mid s)P(e_0\mid s\cdot a)/P(e_0\mid s)=p_{e_0}(a\mid s)$. Started from $p_\varnothing$, the knob
# $\lambda$ brings the evidence in: $\lambda=0$ ignores it, $\lambda=1$ is $p_{e_0}$ exactly, $\lambda>1$ is
# classifier-free guidance at $w=\lambda-1$. Started from $p_{e_0}$, it would count the evidence twice.
# {numref}`fig-toy-tradeoffs` draws the curves.

# %%
def toy_point(table, algorithm, knob):
    lq = seq(table)
    return {"algorithm": algorithm, "knob": knob, "sensibleness": -it.kl(lq, LOGP_E), "diversity": it.entropy(lq),
            "attribution": dc.attribution(lq, LOGP_E, LOGP_U)}


toy_rows = [toy_point(dc.temperature_policy(TAB_E, t), "temperature", t) for t in temperatures]
toy_rows.append(toy_point(dc.greedy_policy(TAB_E), "greedy", 0.0))
toy_rows += [toy_point(dc.cfg_policy(TAB_E, TAB_U, w), "classifier-free guidance", w) for w in cfg_weights]
toy_rows += [toy_point(dc.classifier_guidance_policy(TAB_U, CLASS_TAB, lam), "classifier guidance", lam) for lam in cg_lambdas]
toy_rows += [toy_point(dc.kl_guided_policy(TAB_E, TAB_U, t0, kl_bandwidth), "KL-guided temperature", t0) for t0 in kl_t0s]
toy = pd.DataFrame(toy_rows)

# %% tags=["hide-input"]
CB = sns.color_palette(plots.PALETTE)
PAL = {"temperature": CB[0], "greedy": "k", "classifier guidance": CB[4], "classifier-free guidance": CB[2],
       "KL-guided temperature": CB[3]}
MARK = {"temperature": "o", "greedy": "*", "classifier guidance": "s", "classifier-free guidance": "^",
        "KL-guided temperature": "D"}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for name, g in toy.groupby("algorithm", sort=False):
    g = g.sort_values("knob")
    for ax, y in zip(axes, ("attribution", "diversity")):
        ax.plot(g.sensibleness, g[y], marker=MARK[name], ms=5, color=PAL[name], label=name)
for ax, y in zip(axes, ("attribution (nats)", "diversity H(π) (nats)")):
    ax.set(xlabel=r"sensibleness $-$KL$(\pi\,\|\,p_{e_0})$ (nats)", ylabel=y)
axes[0].axhline(mi_world, color="0.6", ls=":", lw=1)
axes[0].set_title("attribution vs sensibleness")
axes[1].set_title("diversity vs sensibleness")
fig.tight_layout()
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
           fontsize="small")
plots.publish("fig-toy-tradeoffs", fig)

# %% [markdown]
# ```{glue:figure} fig-toy-tradeoffs
# :name: fig-toy-tradeoffs
# :alt: Two panels with sensibleness on the horizontal axis; the left shows attribution, the right diversity, of the five decoding algorithms on the toy world, one line per algorithm through its grid of knob values.
#
# The exact trade-offs on the toy world. Each line is one knob (markers: the grid values); $p_{e_0}$
# itself sits at sensibleness $0$. Temperature (blue circles) moves along the diversity axis in both
# directions from $T=1$ and ends at greedy (black star); classifier-free guidance (green triangles) starts
# at $p_{e_0}$ ($w=0$) and moves attribution against sensibleness; classifier guidance (purple squares)
# starts at $p_\varnothing$ ($\lambda=0$, attribution {glue:text}`attr-at-marginal-sign`,
# {prf:ref}`prop-attribution`), passes through $p_{e_0}$ at $\lambda=1$ and then follows the classifier-free
# curve (the same family here); KL-guided temperature (vermillion diamonds) is a temperature curve that
# cools only where the evidence matters. Dotted: $I(E;Y)$.
# ```
#
# ### Does the KL guidance improve on a fixed temperature?
#
# Compare the two temperature families in the diversity–attribution plane: at equal diversity, which
# has more attribution? We interpolate the fixed-temperature curve at the diversity of each KL-guided
# point (within its range).

# %%
def advantage(fixed, guided):
    """A_guided - A_fixed(H_guided) for guided points inside the fixed curve's diversity range."""
    f = fixed.sort_values("diversity")
    inside = guided[(guided.diversity >= f.diversity.min()) & (guided.diversity <= f.diversity.max())]
    return inside.attribution.values - np.interp(inside.diversity.values, f.diversity.values, f.attribution.values), inside


fixed_toy = toy[toy.algorithm == "temperature"]
guided_toy = toy[toy.algorithm == "KL-guided temperature"]
adv_toy, _ = advantage(fixed_toy, guided_toy)
toy_gain = adv_toy.mean() if len(adv_toy) else 0.0

# %% tags=["hide-input"]
rec.figure("toy-kl-advantage", "toy: mean attribution gain of KL-guided over fixed temperature at equal diversity (nats)",
           toy_gain, source=SRC_KL)
rec.figure("toy-kl-direction", "toy: KL-guided temperature has more or less attribution at equal diversity",
           "more" if toy_gain > 0 else "less" if toy_gain < 0 else "the same")
rec.figure("toy-kl-size", "toy: |mean attribution gain| of KL-guided over fixed temperature (nats)", abs(toy_gain))
fig, ax = plt.subplots()
for name, g in (("temperature", fixed_toy), ("KL-guided temperature", guided_toy)):
    g = g.sort_values("knob")
    ax.plot(g.diversity, g.attribution, marker=MARK[name], color=PAL[name], label=name)
ax.set(xlabel="diversity H(π) (nats)", ylabel="attribution (nats)", title=f"toy world, h = {kl_bandwidth:g}")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
plots.publish("fig-toy-kl-vs-fixed", fig)

# %% [markdown]
# ```{glue:figure} fig-toy-kl-vs-fixed
# :name: fig-toy-kl-vs-fixed
# :alt: Attribution against diversity on the toy world for fixed-temperature sampling and for KL-guided temperature, one line each through its grid of temperatures.
#
# Fixed vs KL-guided temperature on the toy world. Up and to the right is better.
# ```
#
# In {numref}`fig-toy-kl-vs-fixed`, at equal diversity, the KL-guided curve has on average
# {glue:text}`toy-kl-size:.3f` nats {glue:text}`toy-kl-direction` attribution than the fixed-temperature
# curve. This is one world: the sign depends on how the relevant steps are placed.

# %% [markdown]
# ## The neural model
#
# Now the bundled IMDB model. The evidence is the first {glue:text}`param-k_evidence` tokens of a held-out
# review, the query the {glue:text}`param-k_query` tokens that follow; "with evidence" decodes from
# evidence ⊕ query, "without" from the query alone, fed the same tokens (`lmdist.lm.guidance.sample_guided`).
# Every string records, per step, the exact $\mathrm{KL}(\pi_t\|p_{e,t})$, $H(\pi_t)$ and
# $\mathbb E_{\pi_t}g_t$; their sums along the string are unbiased estimates of the string-level
# sensibleness, diversity and attribution (chain rule), with lower variance than log-ratios of sampled
# strings. Intervals: 95 %, over strings.
#
# Classifier guidance here rescores the top {glue:text}`param-top_k` next tokens with the sentiment reward
# of the extended text, FUDGE-style {cite:p}`yang2021fudge`, toward *positive*, and it starts from the model
# **with** the evidence, $p_e$ ($\lambda=0$ is top-$k$ sampling from $p_e$), unlike on the toy world. The
# reason: its class is a sentiment, not the evidence. No classifier of the evidence (a review's opening)
# exists to bring it in as on the toy, so the guidance is added on top of the model every other algorithm
# here decodes from, and its attribution to the evidence is measured, as theirs, against $p_\varnothing$.

# %%
from lmdist.lm import data, guidance, models, rewards

lm, tok = models.load_lm(model, device=device)
texts = data.prompts(n_prompts, k_evidence + k_query, tok, split="test", seed=seed)
ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
ids = [x if len(x) > k_evidence else tok(t)["input_ids"] for x, t in zip(ids, texts)]
ctx_with = [x for x in ids]
ctx_without = [x[k_evidence:] for x in ids]
queries = [tok.decode(x[k_evidence:]) for x in ids]
reward = rewards.sentiment()

# %%
bank = []   # next-token rows (with, without) at the states the T = 1 sampler visits: for the exact direction checks


def stash(policy, keep):
    def wrapped(logps, state):
        if keep:
            live = ~state.done
            bank.append(logps[:, live][:, : max(1, 64 // max(1, max_new_tokens))])
        return policy(logps, state)
    return wrapped


settings = [("temperature", t, lambda lp, s, t=t: dc.temperature_policy(lp[0], t)) for t in temperatures]
settings.append(("greedy", 0.0, lambda lp, s: dc.greedy_policy(lp[0])))
settings += [("classifier-free guidance", w, lambda lp, s, w=w: dc.cfg_policy(lp[0], lp[1], w)) for w in cfg_weights]
settings += [("KL-guided temperature", t0, lambda lp, s, t0=t0: dc.kl_guided_policy(lp[0], lp[1], t0, kl_bandwidth))
             for t0 in kl_t0s]
# stream 0 is the model with the evidence: classifier guidance starts from p_e (see the text above)
settings += [("classifier guidance", lam, guidance.fudge_policy(reward, tok, queries, lam, top_k, stream=0))
             for lam in cg_lambdas]

# %%
nn_rows, chain_d = [], []
for name, knob, pol in settings:
    keep = name == "temperature" and knob == 1.0
    comps = guidance.sample_guided(lm, tok, [ctx_with, ctx_without], n_samples, max_new_tokens, stash(pol, keep),
                                   seed=seed, batch_size=batch_size, device=device, progress=False)
    r = reward([queries[c.prompt_index] for c in comps], [c.text for c in comps])
    for c, rr in zip(comps, r):
        nn_rows.append({"algorithm": name, "knob": knob, "sensibleness": -c.kl(0), "diversity": c.entropy,
                        "attribution": c.attribution(0, 1), "reward": rr, "p_positive": 1 / (1 + math.exp(-rr)),
                        "mean_D": float(c.step_stream_kl[1].mean()) if len(c) else 0.0, "length": len(c)})
        # chain rule: log π(y) - log p_e(y) has the same mean as Σ_t KL(π_t || p_e,t)
        chain_d.append((c.logprob_policy - c.logprob_stream(0)) - c.kl(0))
nn = pd.DataFrame(nn_rows)

# %% tags=["hide-input"]
_ = rec.figure("nn-strings", "strings decoded in all neural settings", len(nn))

# %% [markdown]
# A sampled check of the estimators: for every string, $\log\pi(y)-\log p_e(y)$ and
# $\sum_t\mathrm{KL}(\pi_t\|p_{e,t})$ have the same expectation. Pooled over all strings, the mean difference
# must lie in a $t$-interval at false-failure rate $10^{-4}$.

# %%
chain_d = np.asarray(chain_d)
sd = float(chain_d.std(ddof=1))
half = stats.t.ppf(1 - 0.5e-4, len(chain_d) - 1) * sd / math.sqrt(len(chain_d)) if sd > 0 else 1e-8
chain_mean = chain_d.mean()
rows_bank = np.concatenate(bank, axis=1) if bank else np.zeros((2, 0, 1))
nn_dirs = direction_checks(rows_bank[0], rows_bank[1], temperatures, cfg_weights, kl_t0s, kl_bandwidth)

# %% tags=["hide-input"]
# |mean| within the t half-width (plus float slack) <=> its 1e-4 t-interval contains 0
rec.check("nn-chain-rule", "mean of [log pi(y) - log p_e(y)] - sum_t KL(pi_t||p_e,t) over all strings",
          chain_mean, inside=(-half - 1e-8, half + 1e-8), interval=(chain_mean - half, chain_mean + half))
rec.figure("nn-bank-states", "neural states (prefixes visited at T = 1) used for the exact direction checks", rows_bank.shape[1])
rec.check("nn-directions", "per-step monotonicity violations of every knob at the neural states (prop-directions)",
          sum(nn_dirs.values()), equals=0)
display(pd.Series(nn_dirs, name="violations (neural states)").to_frame())

# %% [markdown]
# The chain-rule check: mean difference {glue:text}`nn-chain-rule:.2g`, inside its interval. At
# {glue:text}`nn-bank-states` neural states every knob moved as {prf:ref}`prop-directions` says
# ({glue:text}`nn-directions` violations, exact per-step computations on the model's own
# next-token distributions over its whole vocabulary).

# %%
def summarise(df, cols=("sensibleness", "diversity", "attribution", "reward", "p_positive")):
    out = []
    for (name, knob), g in df.groupby(["algorithm", "knob"], sort=False):
        row = {"algorithm": name, "knob": knob, "n": len(g)}
        for c in cols:
            m, s = g[c].mean(), g[c].std(ddof=1) / math.sqrt(len(g))
            row[c], row[c + "_ci"] = m, 1.96 * s
        out.append(row)
    return pd.DataFrame(out)


summ = summarise(nn)

# %% tags=["hide-input"]
shown = summ.set_index(["algorithm", "knob"])[["sensibleness", "diversity", "attribution", "p_positive"]]
shown = shown.rename(columns={"p_positive": "P(positive)"}).round(3)
temperature_family = ["temperature", "greedy", "KL-guided temperature"]
in_family = shown.index.get_level_values("algorithm").isin(temperature_family)
display(Markdown("**Temperature family**, means over strings:"), shown[in_family])
display(Markdown("**Guidance**, means over strings:"), shown[~in_family])

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for name, g in summ.groupby("algorithm", sort=False):
    g = g.sort_values("knob")
    for ax, y in zip(axes, ("attribution", "diversity")):
        ax.errorbar(g.sensibleness, g[y], xerr=g.sensibleness_ci, yerr=g[y + "_ci"], marker=MARK[name], ms=4,
                    capsize=2, color=PAL[name], label=name)
for ax, y in zip(axes, ("attribution to the evidence (nats)", "diversity H(π) (nats)")):
    ax.set(xlabel=r"sensibleness $-$KL$(\pi\,\|\,p_e)$ (nats)", ylabel=y)
axes[0].set_title(f"{model}: attribution vs sensibleness")
axes[1].set_title(f"{model}: diversity vs sensibleness")
fig.tight_layout()
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
           fontsize="small")
plots.publish("fig-nn-tradeoffs", fig)

# %% [markdown]
# ```{glue:figure} fig-nn-tradeoffs
# :name: fig-nn-tradeoffs
# :alt: Two panels with the sensibleness of strings sampled from the IMDB model on the horizontal axis; the left shows attribution to the evidence, the right diversity, for the five decoding algorithms, with 95 % error bars.
#
# The trade-offs on the neural model, per string of {glue:text}`param-max_new_tokens` new tokens, with 95 %
# intervals over strings. Colours and markers as in {numref}`fig-toy-tradeoffs`.
# ```
#
# The tables above give the means of {numref}`fig-nn-tradeoffs`, each over
# {glue:text}`param-n_prompts` prompts × {glue:text}`param-n_samples` strings. Compare it with the toy
# ({numref}`fig-toy-tradeoffs`): per step, {prf:ref}`prop-directions` fixes which way each knob moves
# sensibleness, diversity and attribution; over strings the sampler also chooses which states it visits.
# Classifier guidance toward *positive*, whose attribution is to a class, not to the evidence, is shown
# against its own class in {numref}`fig-nn-classifier-guidance`.

# %% tags=["hide-input"]
cg = summ[summ.algorithm == "classifier guidance"].sort_values("knob")
fig, ax = plt.subplots()
ax.errorbar(cg.sensibleness, cg.p_positive, xerr=cg.sensibleness_ci, yerr=cg.p_positive_ci, marker=MARK["classifier guidance"],
            capsize=2, color=PAL["classifier guidance"])
for _, row in cg.iterrows():
    ax.annotate(f"λ={row.knob:g}", (row.sensibleness, row.p_positive), fontsize=8, xytext=(3, 3), textcoords="offset points")
ax.set(xlabel=r"sensibleness $-$KL$(\pi\,\|\,p_e)$ (nats)", ylabel="P(positive | query ⊕ completion)",
       title="Classifier guidance with the sentiment reward")
plots.publish("fig-nn-classifier-guidance", fig)
cg_lo, cg_hi = cg.iloc[0], cg.iloc[-1]
rec.figure("nn-cg-ppos-low", "mean P(positive) at the smallest lambda (top-k sampling)", cg_lo.p_positive,
           interval=(cg_lo.p_positive - cg_lo.p_positive_ci, cg_lo.p_positive + cg_lo.p_positive_ci))
_ = rec.figure("nn-cg-ppos-high", "mean P(positive) at the largest lambda", cg_hi.p_positive,
               interval=(cg_hi.p_positive - cg_hi.p_positive_ci, cg_hi.p_positive + cg_hi.p_positive_ci))

# %% [markdown]
# ```{glue:figure} fig-nn-classifier-guidance
# :name: fig-nn-classifier-guidance
# :alt: The classifier's mean probability that query and completion are positive, against sensibleness, for classifier guidance at each weight lambda, with 95 % error bars and each point labelled with its lambda.
#
# Classifier guidance toward positive sentiment on the neural model, started from $p_e$, with 95 %
# intervals over strings.
# ```
#
# In {numref}`fig-nn-classifier-guidance` the attribution is the reward of the class: the classifier's mean
# probability that query ⊕ completion is positive is {glue:text}`nn-cg-ppos-low:.2f` at the smallest λ
# (λ = 0 is plain top-$k$ sampling from $p_e$) and {glue:text}`nn-cg-ppos-high:.2f` at the largest; the x
# axis shows the sensibleness paid for it.
#
# ### KL-guided vs fixed temperature on the neural model

# %%
fixed_nn = summ[summ.algorithm == "temperature"]
guided_nn = summ[summ.algorithm == "KL-guided temperature"]
adv_nn, inside = advantage(fixed_nn, guided_nn)
tab_adv = []
f_sorted = fixed_nn.sort_values("diversity")
for (_, grow), a in zip(inside.iterrows(), adv_nn):
    j = int(np.clip(np.searchsorted(f_sorted.diversity.values, grow.diversity), 1, len(f_sorted) - 1))
    lo, hi = f_sorted.iloc[j - 1], f_sorted.iloc[j]
    wgt = (grow.diversity - lo.diversity) / max(hi.diversity - lo.diversity, 1e-12)
    se = math.sqrt((grow.attribution_ci / 1.96) ** 2 + ((1 - wgt) * lo.attribution_ci / 1.96) ** 2
                   + (wgt * hi.attribution_ci / 1.96) ** 2)
    tab_adv.append({"T0": grow.knob, "diversity": grow.diversity, "attribution gain": a, "95% half-width": 1.96 * se})
tab_adv = pd.DataFrame(tab_adv)
n_better = int(((tab_adv["attribution gain"] - tab_adv["95% half-width"]) > 0).sum()) if len(tab_adv) else 0
n_worse = int(((tab_adv["attribution gain"] + tab_adv["95% half-width"]) < 0).sum()) if len(tab_adv) else 0
if len(tab_adv) and n_better > len(tab_adv) / 2 and n_worse == 0:
    verdict = f"improves the trade-off ({n_better} of {len(tab_adv)} settings significantly better, none worse)"
elif len(tab_adv) and n_worse > len(tab_adv) / 2 and n_better == 0:
    verdict = f"worsens the trade-off ({n_worse} of {len(tab_adv)} settings significantly worse, none better)"
else:
    verdict = f"shows no clear difference ({n_better} better, {n_worse} worse of {len(tab_adv)} comparable settings)"
t1 = nn[(nn.algorithm == "temperature") & (nn.knob == 1.0)]

# %% tags=["hide-input"]
rec.figure("nn-kl-compared", "KL-guided settings whose diversity lies inside the fixed-temperature range", len(tab_adv), source=SRC_KL)
rec.figure("nn-kl-better", "of those, settings whose 95% interval of the attribution gain lies above 0", n_better, source=SRC_KL)
rec.figure("nn-kl-worse", "of those, settings whose 95% interval lies below 0", n_worse, source=SRC_KL)
rec.figure("nn-kl-mean-gain", "mean attribution gain of KL-guided over fixed temperature at equal diversity (nats)",
           adv_nn.mean() if len(adv_nn) else 0.0, source=SRC_KL)
rec.figure("nn-mean-d", "mean per-step KL(p_e || p_∅) along T = 1 strings (nats)", t1.mean_D.mean())
rec.figure("nn-mean-factor", "mean over T = 1 strings of 2^(-mean_t D_t / h)", np.mean(np.exp2(-t1.mean_D / kl_bandwidth)))
rec.figure("nn-kl-verdict", "what the intervals say about KL-guided vs fixed temperature on the neural model", verdict, source=SRC_KL)
display(tab_adv.set_index("T0").round(3))
fig, ax = plt.subplots()
for name, g in (("temperature", fixed_nn), ("KL-guided temperature", guided_nn)):
    g = g.sort_values("knob")
    ax.errorbar(g.diversity, g.attribution, xerr=g.diversity_ci, yerr=g.attribution_ci, marker=MARK[name], capsize=2,
                color=PAL[name], label=name)
ax.set(xlabel="diversity H(π) (nats)", ylabel="attribution to the evidence (nats)",
       title=f"{model}: fixed vs KL-guided temperature (h = {kl_bandwidth:g})")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
plots.publish("fig-nn-kl-vs-fixed", fig)

# %% [markdown]
# ```{glue:figure} fig-nn-kl-vs-fixed
# :name: fig-nn-kl-vs-fixed
# :alt: Attribution to the evidence against diversity on the IMDB model, for fixed-temperature sampling and for KL-guided temperature, with 95 % error bars.
#
# Fixed vs KL-guided temperature on the neural model, with 95 % intervals over strings. Up and to the
# right is better.
# ```
#
# The table above gives, for each KL-guided setting inside the fixed curve's diversity range, its
# attribution gain over the fixed curve at equal diversity. Of the {glue:text}`nn-kl-compared` KL-guided
# settings in {numref}`fig-nn-kl-vs-fixed` that are comparable, {glue:text}`nn-kl-better` have a gain whose
# interval lies above zero and {glue:text}`nn-kl-worse` below (mean gain {glue:text}`nn-kl-mean-gain:.3f`
# nats; the interval treats the matched diversity as known). Verdict of this run: KL guidance
# {glue:text}`nn-kl-verdict`. The evidence moves the next-token distribution by {glue:text}`nn-mean-d:.3f`
# nats per step on average along $T=1$ strings, so the schedule multiplies $T_0$ by
# $2^{-D_t/h}=${glue:text}`nn-mean-factor:.2f` on average: the guidance can only act where $D_t$ is large.
# The companion paper {cite:p}`chang2023klguided` reports gains in conversational QA and summarisation
# with large models, where the evidence carries the answer; its figures are not comparable with a
# 4-layer IMDB model.

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-04-temperature-lambda
#
# Show that $\pi\propto p^{1/T}$ maximises $-\mathrm{KL}(\pi\|p)+(T-1)H(\pi)$ by writing the value as
# $T\big(\log Z_T-\mathrm{KL}(\pi\|p^{1/T}/Z_T)\big)$. What is the value at the optimum, and what does it
# become as $T\to0$?
# ```
#
# ```{solution} ex-04-temperature-lambda
# :class: dropdown
#
# $$\begin{aligned}
# -\mathrm{KL}(\pi\|p)+(T-1)H(\pi)&=\textstyle\sum_a\pi(a)\log p(a)+TH(\pi)\\
# &=T\textstyle\sum_a\pi(a)\big[\log p(a)^{1/T}-\log\pi(a)\big]\\
# &=T\log Z_T-T\,\mathrm{KL}(\pi\|p^{1/T}/Z_T)
# \end{aligned}$$
#
# with $Z_T=\sum_ap(a)^{1/T}$. The maximum is
# $T\log\sum_ap(a)^{1/T}$, which tends to $\log\max_ap(a)$ as $T\to0$ (the largest term dominates the sum):
# the greedy value $\max_a\log p(a)$.
# ```
#
# ```{exercise}
# :label: ex-04-cfg-negative
#
# Classifier-free guidance with a negative weight $w\in(-1,0)$: which distribution is
# $p_e^{1+w}p_\varnothing^{-w}$, and what does its value $-\mathrm{KL}(\pi\|p_e)+w\,\mathbb E_\pi g$ reward?
# ```
#
# ```{solution} ex-04-cfg-negative
# :class: dropdown
#
# For $w\in(-1,0)$ it is the normalised geometric mean $p_e^{1-|w|}p_\varnothing^{|w|}$, between the models with
# and without evidence; the value now *penalises* attribution: it pulls the policy towards what the
# model would say without the evidence. At $w=-1$ it is $p_\varnothing$.
# ```
#
# ```{exercise}
# :label: ex-04-fudge
#
# Let $R(y)=\lambda\log P(c\mid y)$. Show that the sequence-level optimum of
# $\mathbb E_\pi[\log p(y)+R(y)]+H(\pi)$ is $\propto p(y)P(c\mid y)^\lambda$, that its next-token form is
# $p(a\mid s)\,\mathbb E[P(c\mid y)^\lambda\mid s\cdot a]/\mathbb E[P(c\mid y)^\lambda\mid s]$, and that FUDGE's
# $p(a\mid s)P(c\mid s\cdot a)^\lambda$ equals it for every model only at $\lambda\in\{0,1\}$.
# ```
#
# ```{solution} ex-04-fudge
# :class: dropdown
#
# The first claim is {prf:ref}`thm-bellman` with $\tau=1$, $\sigma=\log p$. Its next-token conditionals are
# ratios of prefix sums: $\sum_{y\sqsupseteq s\cdot a}p(y)P(c|y)^\lambda/\sum_{y\sqsupseteq s}p(y)P(c|y)^\lambda$, and
# dividing both by the prefix probabilities gives the stated form. FUDGE uses
# $\mathbb E[P(c|y)\mid s\cdot a]^\lambda$; at $\lambda=1$ the two coincide, at $\lambda=0$ both are $1$; for other
# $\lambda$, Jensen's inequality is strict whenever $P(c\mid y)$ varies among the continuations of $s\cdot a$
# (on the toy world FUDGE at $\lambda=3$ is {glue:text}`fudge-tv-lambda:.3f` away from the optimum in total
# variation).
# ```
#
# ## Summary
#
# * Each of the five algorithms is the per-step maximiser of its value: over {glue:text}`perstep-pairs`
#   random pairs no policy beat the closed form ({glue:text}`perstep-beaten` times), and the identity
#   $V_\tau(\pi)=\tau\log Z-\tau\,\mathrm{KL}(\pi\|\pi^*)$ held to {glue:text}`perstep-identity:.1g`.
# * They are not the sequence-level optimum: dynamic programming beats the myopic policy (never the
#   reverse: largest excess {glue:text}`worlds-dp-optimal:.1g` over {glue:text}`param-n_worlds` worlds); local
#   temperature sampling at $T=0.5$ is {glue:text}`dp-tv-temperature:.3f` from the global $p(y)^{1/T}/Z$ in
#   total variation, and the greedy path missed the most probable string in
#   {glue:text}`worlds-greedy-misses-mode:.0%` of the random worlds.
# * The attribution of one policy is a difference of two divergences, {glue:text}`attr-at-marginal-sign`
#   ({glue:text}`attr-at-marginal:.3f` nats) at $p_\varnothing$. Guidance creates mutual information: in the
#   two-token example classifier-free guidance at $w=1$ has $I_\pi=${glue:text}`two-token-mi-cfg:.3f` against
#   the model's {glue:text}`two-token-mi-model:.3f` nats, on the toy world {glue:text}`attr-cfg-mi:.3f` against
#   {glue:text}`toy-mi:.3f`; the average attribution counts it net of the sensibleness paid.
# * Per step every knob moves the way {prf:ref}`prop-directions` says ({glue:text}`toy-directions` violations
#   on the toy, {glue:text}`nn-directions` on the neural model), but over strings the local temperature
#   sampler's entropy can fall as $T$ rises (by {glue:text}`local-entropy-falls:.3f` nats in the counterexample).
# * KL-guided temperature, at equal diversity: {glue:text}`toy-kl-size:.3f` nats {glue:text}`toy-kl-direction`
#   attribution than fixed temperature on the toy world; on the neural model it {glue:text}`nn-kl-verdict`.
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-04>`; when, at which
# profile and for how long each chapter last ran is on {ref}`the execution status page <execution-status>`.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
