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
# Seed 003 {cite}`chang2023decoding` reads every decoding algorithm — temperature sampling, greedy
# decoding, classifier guidance, classifier-free guidance, KL-divergence guided temperature — as the
# solution of one optimisation problem per step: decoding is a Markov decision process whose state is
# the prefix and whose action is the next token, and each algorithm picks, at each state, the
# next-token distribution $\pi$ that maximises an *action-state value* made of three information
# terms,
#
# * **sensibleness** $-\mathrm{KL}(\pi\,\|\,p)$, closeness to the pretrained model $p$;
# * **diversity** $H(\pi)$, the entropy;
# * **attribution** $\mathbb E_\pi[u]$, a pointwise information about a class or an evidence $e$,
#
# with weights. This chapter states the value of each algorithm, derives its optimal policy in closed
# form (one Lagrangian serves all five), and checks it against a constrained numerical optimiser on the
# simplex. It is precise where the seed is loose: the "mutual information" term of a single policy is
# a difference of two KL divergences that can be negative, and becomes a mutual information only on
# average over the evidence, for the model's own conditional. It writes the KL-guided temperature
# schedule as the authors' code computes it, works out the sign and offset conventions of
# classifier-free guidance, and separates the per-step optimum from the sequence-level one (dynamic
# programming) on an exact toy world. Then it draws the trade-off curves of each knob, exactly on the
# toy and with intervals on the bundled IMDB model.
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
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from scipy import stats
from scipy.special import logsumexp

from lmdist.book import chapter, params, plots
from lmdist.exact import decoding as dc
from lmdist.exact import infotheory as it
from lmdist.exact import instances, strings

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC = "seed 003 §3"
SRC_KL = "Chang et al. 2023 (arXiv 2306.01286), code google-research/kl_guided_sampling"
if 1.0 not in temperatures:
    raise params.ParameterError("parameter 'temperatures' must include 1.0 (the pretrained model itself)")
t_start = time.time()

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
# Every algorithm of the seed is one choice of $(\sigma,\tau)$, and rearranging the terms gives the
# seed's information reading. With $p=p(\cdot\mid s)$ the pretrained model, $p_e=p(\cdot\mid s,e)$ the
# model with an evidence (or class) $e$ in its context, $p_\varnothing=p(\cdot\mid s)$ the same model
# without it, and $g(a)=\log p_e(a)-\log p_\varnothing(a)$ the pointwise mutual information of the next
# token and the evidence under the model:
#
# | algorithm | knob | $\sigma$ | $\tau$ | value in information terms | optimal policy |
# | --- | --- | --- | --- | --- | --- |
# | temperature | $T$ | $\log p$ | $T$ | $-\mathrm{KL}(\pi\|p)+(T-1)H(\pi)$ | $\propto p^{1/T}$ |
# | greedy | — | $\log p$ | $0$ | $-\mathrm{KL}(\pi\|p)-H(\pi)=-H(\pi,p)$ | $\delta_{\arg\max p}$ |
# | classifier guidance | $\lambda$ | $\log p+\lambda\log P(c\mid s\cdot a)$ | $1$ | $-\mathrm{KL}(\pi\|p)+\lambda\,\mathbb E_\pi\log P(c\mid s\cdot a)$ | $\propto p\,P(c\mid s\cdot a)^\lambda$ |
# | classifier-free guidance | $w$ | $\log p_e+w\,g$ | $1$ | $-\mathrm{KL}(\pi\|p_e)+w\,\mathbb E_\pi g$ | $\propto p_e^{1+w}p_\varnothing^{-w}$ |
# | KL-guided temperature | $T_0,h$ | $\log p_e$ | $T_t$ | $-\mathrm{KL}(\pi\|p_e)+(T_t-1)H(\pi)$ | $\propto p_e^{1/T_t}$ |
#
# The identities behind the fourth column: $-\mathrm{KL}(\pi\|p)=\mathbb E_\pi\log p+H(\pi)$, so
# $\mathbb E_\pi\log p+TH(\pi)=-\mathrm{KL}(\pi\|p)+(T-1)H(\pi)$: temperature trades sensibleness against
# diversity with weight $\lambda=T-1$, which *rewards* entropy for $T>1$ and *penalises* it for $T<1$;
# greedy decoding is the end point $\lambda=-1$, the negative cross entropy, linear in $\pi$. In the
# guidance rows $\lambda\,\mathbb E_\pi\log P(c\mid s\cdot a)$ differs from $\lambda\,\mathbb E_\pi[\log
# P(c\mid s\cdot a)-\log P(c\mid s)]$, the seed's pointwise-information form, by a constant in $\pi$.
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
# $V_\tau(\pi)=\tau\sum_a\pi(a)\log\pi^*(a)+\tau\log Z-\tau\sum_a\pi(a)\log\pi(a)=\tau\log Z-\tau\mathrm{KL}(\pi\|\pi^*)$,
# and Gibbs' inequality finishes it. At $\tau=0$, $V_0(\pi)=\sum_a\pi(a)\sigma(a)\le\max\sigma$ with equality
# iff $\pi$ lives on $\arg\max\sigma$. Actions with $\sigma(a)=-\infty$ (FUDGE's top-$k$ restriction, zeros of
# $p$) get $\pi^*(a)=0$.
# ```
#
# This is chapter 01's Gibbs theorem once more, one step at a time: with $\tau=1$, $\sigma=\log p+r$,
# $\pi^*\propto p\,e^{r}$.
#
# ### The KL-divergence guided temperature, as the code computes it
#
# The seed's formula for it is garbled. The companion paper {cite}`chang2023klguided` ships its code
# (`google-research/kl_guided_sampling`, `decoding.py`, function `temperature_sample`): two decodings
# run in parallel, one with the evidence in the input and one without, fed the same tokens; at each
# step
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
# $$-\mathrm{KL}(\pi\|p_e)+\lambda_t H(\pi),\qquad \lambda_t=T_0\,2^{-D_t/h}-1 :$$
#
# a temperature value whose diversity weight falls as the evidence becomes relevant to the step
# (with $T_0\le1$, $\lambda_t\le0$ always: diversity is only ever penalised, and the more so the more the
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
rec.figure("perstep-pairs", "random (instance, policy) pairs compared with the closed form", n_pairs, source=SRC)
rec.check("perstep-beaten", "pairs where a random policy had a larger per-step value than the closed form (beyond 1e-10 relative)",
          n_beaten, equals=0, source=SRC)
rec.check("perstep-identity", "max relative error of V(pi) = tau log Z - tau KL(pi||pi*) over all pairs with tau > 0",
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
for name, g in opt.groupby("algorithm", sort=False):
    key = name.lower().replace(" ", "-")
    rec.check(f"simplex-gap-{key}", f"{name}: max (V_SLSQP - V_closed)/(1 + |V_closed|) over the instances; the closed form is never beaten",
              g.excess.max(), at_most=1e-9, source=SRC)
    rec.figure(f"simplex-shortfall-{key}", f"{name}: median (V_closed - V_SLSQP)/(1 + |V_closed|) of SLSQP", g.shortfall.median())
display(opt.groupby("algorithm", sort=False)[["excess", "shortfall"]].agg(["max", "median"]))

# %% [markdown]
# The largest relative excess of SLSQP over the closed form, per algorithm: temperature
# {glue:text}`simplex-gap-temperature:.2g`, greedy {glue:text}`simplex-gap-greedy:.2g`, classifier
# guidance {glue:text}`simplex-gap-classifier-guidance:.2g`, classifier-free guidance
# {glue:text}`simplex-gap-classifier-free-guidance:.2g`, KL-guided temperature
# {glue:text}`simplex-gap-kl-guided-temperature:.2g` (non-positive up to rounding: the closed form is
# never beaten). SLSQP's median relative shortfall, a property of the optimiser: temperature
# {glue:text}`simplex-shortfall-temperature:.1g`, greedy {glue:text}`simplex-shortfall-greedy:.1g` (there the
# optimum is a vertex and the value linear), classifier guidance
# {glue:text}`simplex-shortfall-classifier-guidance:.1g`, classifier-free guidance
# {glue:text}`simplex-shortfall-classifier-free-guidance:.1g`, KL-guided temperature
# {glue:text}`simplex-shortfall-kl-guided-temperature:.1g`.
#
# ## Classifier-free guidance: two conventions, one policy
#
# The diffusion literature (Ho & Salimans, arXiv 2207.12598) combines noise predictions
# $\tilde\varepsilon=(1+w)\varepsilon(x,c)-w\,\varepsilon(x)$, with $w=0$ the plain conditional model; since
# $\varepsilon\propto-\nabla\log p$, this is the score of $p_c^{1+w}p_\varnothing^{-w}$ (the sign of
# $\varepsilon$ multiplies both terms and cancels). The language-model literature (Sanchez et al., arXiv
# 2306.17806) writes logits $\log p_\varnothing+\gamma(\log p_c-\log p_\varnothing)$, with $\gamma=1$ the
# plain conditional model. **Our convention is the diffusion one, $w\ge0$.**
#
# ```{prf:proposition} The conventions agree
# :label: prop-cfg-conventions
#
# With $\gamma=1+w$ both give $\pi\propto p_c^{1+w}p_\varnothing^{-w}$, whether applied to log-probabilities
# or to raw logits: logits $z=\log p+c(s)$ carry a per-state offset $c(s)$, which the combination turns
# into $(1+w)c_c-wc_\varnothing$ — again a per-state constant, removed by the softmax.
# ```
#
# With a Bayes-consistent classifier the two guidances are even the same family: if $P(e\mid s\cdot a)$ is
# the model's own posterior, $P(e\mid s\cdot a)/P(e\mid s)=p(a\mid s,e)/p(a\mid s)$, so classifier guidance
# $\propto p_\varnothing\,P(e\mid s\cdot a)^\lambda\propto p_\varnothing^{1-\lambda}p_e^{\lambda}$ is classifier-free
# guidance at $w=\lambda-1$ (Ho & Salimans' motivation). Both are checked on random instances:

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
rec.check("cfg-conventions", "max TV between the diffusion (w) and LM (gamma = 1 + w, raw logits with offsets) CFG policies",
          conv_err, below=1e-12)
rec.check("cg-is-cfg", "max TV between classifier guidance at lambda (Bayes discriminator) and CFG at w = lambda - 1",
          bayes_err, below=1e-12)

# %% [markdown]
# Largest distance between the two conventions: {glue:text}`cfg-conventions:.2g`; between classifier
# guidance with the Bayes discriminator and classifier-free guidance at $w=\lambda-1$:
# {glue:text}`cg-is-cfg:.2g`.
#
# ## What the "mutual information" term is
#
# The seed calls $\mathbb E_\pi[\log p(a\mid s,e)-\log p(a\mid s)]$ a mutual information. For *one* evidence
# value $e$ and *one* policy $\pi$ it is not:
#
# ```{prf:proposition} Attribution as a difference of divergences
# :label: prop-attribution
#
# Let $A(\pi)=\mathbb E_\pi[\log p_e-\log p_\varnothing]$, with $p_\varnothing=\sum_e P(e)\,p_e$. Then
#
# 1. $A(\pi)=\mathrm{KL}(\pi\|p_\varnothing)-\mathrm{KL}(\pi\|p_e)$; it is negative at $\pi=p_\varnothing$
#    ($A=-\mathrm{KL}(p_\varnothing\|p_e)$) and equals $\mathrm{KL}(p_e\|p_\varnothing)\ge0$ at $\pi=p_e$;
# 2. for a family of policies $\pi_e$, one per evidence value, with joint $P(e)\pi_e(y)$ and marginal
#    $\bar\pi=\sum_eP(e)\pi_e$,
#
#    $$\textstyle\sum_eP(e)\,A(\pi_e)=I_\pi(E;Y)+\mathrm{KL}(\bar\pi\|p_\varnothing)-\sum_eP(e)\,\mathrm{KL}(\pi_e\|p_e),$$
#
#    so it is the mutual information $I(E;Y)$ of the model exactly when $\pi_e=p_e$ for every $e$.
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
# So guidance that pushes $A$ above $I(E;Y)$ (CFG with $w>0$) does not create mutual information: by (2),
# what it gains on average it gains through $\mathrm{KL}(\bar\pi\|p_\varnothing)$ and pays in
# $\mathrm{KL}(\pi_e\|p_e)$. We check both parts exactly on the toy world below.
#
# ## The toy world: an evidence that matters at some steps
#
# All strings of length at most $L$ over $V$ tokens. The evidence $e$ takes
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
rec.figure("toy-size", "strings in the toy space", space.size)
mi_world = sum(np.exp(log_prior[e]) * it.kl(lms[e].logp, LOGP_U) for e in range(len(lms)))
rec.figure("toy-mi", "mutual information I(E;Y) of the toy world (nats)", mi_world)
rec.figure("toy-relevant-steps", "fraction of non-final toy prefixes where KL(p_e0 || p_∅) > 1e-12",
           np.mean(D_STEP[: int(space.offsets[space.max_len])] > 1e-12))

# %% [markdown]
# The space has {glue:text}`toy-size` strings; $I(E;Y)=${glue:text}`toy-mi:.3f` nats, and the evidence
# changes the next-token distribution at {glue:text}`toy-relevant-steps:.0%` of the prefixes where a
# token can still follow. The posterior prefix classifier $P(e_0\mid s)$ is computed exactly, so
# FUDGE-style classifier guidance has an exact discriminator here.
#
# Checking {prf:ref}`prop-attribution` on this world, at the sequence level:

# %%
pol_e = [lm.logp for lm in lms]
w_check = 1.0
pol_cfg = [strings.sequence_logscores(space, dc.cfg_policy(lm.next_logprobs, TAB_U, w_check)) for lm in lms]
res = {}
for tag, pols in (("model", pol_e), ("cfg", pol_cfg)):
    pe_ = np.exp(log_prior)
    bar = logsumexp(log_prior[:, None] + np.stack(pols), axis=0)
    lhs = sum(pe_[e] * dc.attribution(pols[e], lms[e].logp, LOGP_U) for e in range(len(lms)))
    mi_pi = sum(pe_[e] * it.kl(pols[e], bar) for e in range(len(lms)))
    rhs = mi_pi + it.kl(bar, LOGP_U) - sum(pe_[e] * it.kl(pols[e], lms[e].logp) for e in range(len(lms)))
    res[tag] = (lhs, mi_pi, rhs)
a_at_u = dc.attribution(LOGP_U, LOGP_E, LOGP_U)
rec.check("attr-negative", "A(p_∅) = E_{p_∅}[log p_e0 - log p_∅] = -KL(p_∅ || p_e0) in the toy world", a_at_u, below=0)
# the same sum as I(E;Y) term by term (KL(p_e || p_∅) = E_{p_e}[log p_e - log p_∅]): reported, not checked
rec.figure("attr-mi-model", "|average attribution of the model's own conditionals - I(E;Y)|", abs(res["model"][0] - mi_world))
rec.check("attr-decomposition", "|sum_e P(e) A(pi_e) - [I_pi + KL(pi_bar||p_∅) - sum_e P(e) KL(pi_e||p_e)]| for CFG at w = 1",
          abs(res["cfg"][0] - res["cfg"][2]), below=1e-10)
rec.figure("attr-cfg-average", "average attribution of CFG (w = 1) policies", res["cfg"][0])
rec.figure("attr-cfg-mi", "mutual information I_pi(E;Y) of the CFG (w = 1) joint", res["cfg"][1])

# %% [markdown]
# At $\pi=p_\varnothing$ the attribution is {glue:text}`attr-negative:.3f` nats: negative. Averaged over $e$
# for the model's own conditionals it equals $I(E;Y)$ (error {glue:text}`attr-mi-model:.1g`). CFG at
# $w=1$ raises the average attribution to {glue:text}`attr-cfg-average:.3f` nats while the mutual
# information of its own joint is {glue:text}`attr-cfg-mi:.3f` nats; the decomposition of
# {prf:ref}`prop-attribution` holds to {glue:text}`attr-decomposition:.1g`.
#
# ## The per-step optimum is not the sequence-level optimum
#
# Every algorithm above is *myopic*: it maximises the value of the next step only. The sequence-level
# problem sums the per-step values along the string,
#
# $$J(\pi)=\mathbb E_{y\sim\pi}\Big[\textstyle\sum_t\big(\sigma(s_t,a_t)+\tau(s_t)H(\pi(\cdot\mid s_t))\big)+R(y)\Big],$$
#
# ($R$ an optional reward of the finished string) and is solved by dynamic programming.
#
# ```{prf:theorem} Soft Bellman equation
# :label: thm-bellman
#
# Let $Q(s,a)=\sigma(s,a)+V(s\cdot a)$ for a token, $Q(s,\mathrm{EOS})=\sigma(s,\mathrm{EOS})+R(s)$, and
# $V(s)=\max_\pi V_{\tau(s)}(\pi;Q(s,\cdot))=\tau(s)\log\sum_ae^{Q(s,a)/\tau(s)}$ (or $\max_aQ(s,a)$ at
# $\tau(s)=0$), computed from the longest prefixes back. The policy $\pi^*(\cdot\mid s)\propto e^{Q(s,\cdot)/\tau(s)}$
# maximises $J$, with $J(\pi^*)=V(\varepsilon)$. If $\tau>0$ is constant, $\pi^*$'s distribution over
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
# $V(s\cdot a)$ do not depend on $a$. For temperature sampling ($\sigma=\log p$, $\tau=T$) the myopic policy
# is the *locally* normalised $p^{1/T}$, the DP optimum the *globally* normalised $p(y)^{1/T}/Z$ (chapter 07);
# for greedy decoding it is the greedy path against the most probable string; for classifier guidance
# with a string-level reward $R=\lambda\log P(c\mid y)$, the exact DP rescoring is
# $V(s\cdot a)=\log\mathbb E_p[P(c\mid y)^\lambda\mid s\cdot a]$, while FUDGE rescores with
# $\lambda\log\mathbb E_p[P(c\mid y)\mid s\cdot a]$: by Jensen these agree for every $p$ only at $\lambda\in\{0,1\}$. At
# $\lambda=1$ FUDGE with an exact prefix classifier is Bayes' rule token by token and *is* the
# sequence-level optimum $p(y)P(c\mid y)/P(c)$.

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
dp_df = pd.DataFrame(rows_dp)
display(dp_df)

# %%
rec.check("dp-optimal", "max over the five algorithms of J(myopic or random policy) - J(DP) (DP is optimal)",
          worst_dp, at_most=1e-10, source=SRC)
rec.check("dp-gap-identity", "max |J(DP) - J(myopic) - tau KL(myopic || DP)| (constant tau > 0)", worst_id, below=1e-10)
tab_T, vals_T = dc.bellman(space, TAB_E, T_ILL)
rec.check("dp-is-global", "TV between the DP policy's strings and the global p_e(y)^(1/T)/Z at T = 0.5",
          it.tvd(seq(tab_T), it.normalize(LOGP_E / T_ILL)), below=1e-12)
rec.figure("dp-tv-temperature", "TV(local p^(1/T), global p^(1/T)) at T = 0.5 in the toy world", dp_df["TV(myopic, DP)"][0])
# FUDGE: exact at lambda = 1, not at other lambda
fudge_tv = {lam: it.tvd(seq(dc.classifier_guidance_policy(TAB_U, CLASS_TAB, lam)),
                        dc.soft_optimum(LOGP_U + lam * log_post, 1.0)) for lam in (1.0, LAM_ILL)}
rec.check("fudge-exact-lambda1", "TV(FUDGE with the exact prefix classifier, p_∅(y) P(e0|y)^λ / Z) at λ = 1 (Bayes: p_e0)",
          fudge_tv[1.0], below=1e-12)
rec.figure("fudge-tv-lambda", f"the same TV at λ = {LAM_ILL:g}", fudge_tv[LAM_ILL])

# %% [markdown]
# On the illustrated world, no myopic or random policy beats the DP optimum (largest excess
# {glue:text}`dp-optimal:.2g`), and $J(\pi^*)-J(\pi_{\text{myopic}})=\tau\,\mathrm{KL}(\pi_{\text{myopic}}\|\pi^*)$ to
# {glue:text}`dp-gap-identity:.1g`. The DP temperature policy is the global $p_e(y)^{1/T}/Z$ (TV
# {glue:text}`dp-is-global:.1g`), while the sampler's local one is {glue:text}`dp-tv-temperature:.3f` away in
# total variation at $T=0.5$. FUDGE with the exact prefix classifier reproduces $p_{e_0}$ exactly at
# $\lambda=1$ (TV {glue:text}`fudge-exact-lambda1:.1g`) but is {glue:text}`fudge-tv-lambda:.3f` away from the
# sequence-level optimum at $\lambda=3$.
#
# Over many random worlds (every $V$, $L$ of this profile, concentrations log-uniform over $[0.05,5]$):
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
rec.check("worlds-dp-optimal", "max excess of the myopic policy's J over the DP optimum, over random worlds x algorithms",
          worst_w, at_most=1e-10, source=SRC)
rec.figure("worlds-greedy-misses-mode", "fraction of random worlds where the greedy path is not the most probable string",
           n_miss / n_worlds)
rec.figure("worlds-median-tv-local-global", "median TV(local, global temperature) over random worlds and T", np.median(tv_local))

# %% [markdown]
# Over {glue:text}`param-n_worlds` random worlds, the greedy path missed the most probable string in
# {glue:text}`worlds-greedy-misses-mode:.0%` of them; the median distance between the local and the global
# temperature distribution was {glue:text}`worlds-median-tv-local-global:.3f`; and the myopic policy never
# beat the DP optimum (largest excess {glue:text}`worlds-dp-optimal:.1g`).

# %% [markdown]
# ## Which way each knob moves
#
# ```{prf:proposition} Direction of each knob, per step
# :label: prop-directions
#
# Let $\pi_\beta\propto q\,e^{\beta u}$ on $\mathrm{supp}\,q$. Then
# $\frac{d}{d\beta}\mathbb E_{\pi_\beta}u=\mathrm{Var}_{\pi_\beta}u\ge0$ and
# $\frac{d}{d\beta}\mathrm{KL}(\pi_\beta\|q)=\beta\,\mathrm{Var}_{\pi_\beta}u$. Hence, at every state:
#
# * temperature ($q=p$, $u=\log p$, $\beta=1/T-1$): $H(\pi_T)$ is non-decreasing in $T$, and
#   $\mathrm{KL}(\pi_T\|p)$ is non-increasing on $(0,1]$ and non-decreasing on $[1,\infty)$;
# * classifier guidance ($q=p_\varnothing$, $u=\log P(c\mid s\cdot a)$, $\beta=\lambda$): the attribution
#   $\mathbb E_\pi u$ and $\mathrm{KL}(\pi\|p_\varnothing)$ are non-decreasing in $\lambda\ge0$;
# * classifier-free guidance ($q=p_e$, $u=g$, $\beta=w$): $\mathbb E_\pi g$ and $\mathrm{KL}(\pi\|p_e)$
#   are non-decreasing in $w\ge0$;
# * KL-guided temperature: $T_t$ is non-decreasing in $T_0$ and in $h$, so $H(\pi_t)$ is too.
# ```
#
# ```{prf:proof}
# $\log\pi_\beta=\log q+\beta u-A(\beta)$ with $A'=\mathbb E_{\pi_\beta}u$, $A''=\mathrm{Var}_{\pi_\beta}u$. Then
# $\mathrm{KL}(\pi_\beta\|q)=\beta A'(\beta)-A(\beta)$, whose derivative is $\beta A''(\beta)$. For temperature,
# $\pi\propto p^{1/T}=p\cdot p^{1/T-1}$; $H(\pi)=A-\beta' A'$ in the natural parameter $\beta'=1/T$ of
# $e^{\beta'\log p}$, so $dH/d\beta'=-\beta'\mathrm{Var}(\log p)\le0$, and $\beta'$ falls as $T$ rises. The
# KL-guided schedule $T_0\,2^{-D/h}$ with $D\ge0$ increases with $T_0$ and with $h$.
# ```
#
# These are per-step statements: they hold at every state, for every model. Whole strings are another
# matter, because a policy also chooses which states it visits. For the locally normalised temperature
# sampler, the entropy of the string distribution need **not** increase with $T$: in the world below the
# first token is $a$ (probability 0.6) or EOS; after $a$ every symbol is equally likely. Low temperature
# commits to $a$ and then samples the uniform — and uniform — subtree; $T=1$ ends at once 40 % of the
# time. (The globally normalised $p(y)^{1/T}/Z$ is an exponential family on strings, so its entropy *is*
# monotone in $T$.)

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
display(pd.Series(toy_dirs, name="violations (toy, every prefix)"))
rec.check("toy-directions", "per-step monotonicity violations of every knob over every prefix of the toy world (prop-directions)",
          sum(toy_dirs.values()), equals=0)

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
rec.check("local-entropy-falls", "string entropy of local temperature sampling at T = 0.05 minus at T = 1 in the counterexample",
          h_local[0] - h_local[-1], above=0.1)
rec.check("global-entropy-rises", "steps of the T grid where the global p^(1/T) string entropy falls by more than 1e-12",
          np.sum(np.diff(h_global) < -1e-12), equals=0)
pd.DataFrame({"T": cx_ts, "H local (nats)": h_local, "H global (nats)": h_global})

# %% [markdown]
# Every knob moved the way {prf:ref}`prop-directions` says at every prefix of the toy world
# ({glue:text}`toy-directions` violations). In the counterexample the local sampler's string entropy
# *drops* by {glue:text}`local-entropy-falls:.3f` nats from $T=0.05$ to $T=1$, while the global one rises
# ({glue:text}`global-entropy-rises` violations).
#
# ## Trade-off curves on the toy (exact)
#
# For every algorithm and knob value we compute, at the sequence level and exactly, sensibleness
# $-\mathrm{KL}(\pi\|p_{e_0})$ (the model with the evidence is the one we decode from), diversity
# $H(\pi)$ and attribution $A(\pi)=\mathbb E_\pi[\log p_{e_0}(y)-\log p_\varnothing(y)]$. Classifier guidance
# starts from $p_\varnothing$ ($\lambda=0$) and uses the exact prefix classifier $P(e_0\mid s)$.

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
PAL = dict(zip(["temperature", "greedy", "classifier guidance", "classifier-free guidance", "KL-guided temperature"],
               [plots.ROLE["prior"], "k", plots.ROLE["other"], plots.ROLE["aligned"], plots.ROLE["unaligned_component"]]))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for name, g in toy.groupby("algorithm", sort=False):
    g = g.sort_values("knob")
    for ax, y in zip(axes, ("attribution", "diversity")):
        ax.plot(g.sensibleness, g[y], marker="o", ms=4, color=PAL[name], label=name)
for ax, y in zip(axes, ("attribution (nats)", "diversity H(π) (nats)")):
    ax.set(xlabel=r"sensibleness $-$KL$(\pi\,\|\,p_{e_0})$ (nats)", ylabel=y)
axes[0].axhline(mi_world, color="0.6", ls=":", lw=1)
axes[0].set_title("Toy world: attribution vs sensibleness")
axes[1].set_title("Toy world: diversity vs sensibleness")
axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
plt.show()

# %% [markdown]
# **Figure: the exact trade-offs on the toy world.** Each curve is one knob (markers: the grid values).
# $p_{e_0}$ itself sits at sensibleness $0$. Temperature (blue) moves along the diversity axis in both
# directions from $T=1$ and ends at greedy (black); classifier-free guidance (green) starts at $p_{e_0}$
# and buys attribution above $\mathrm{KL}(p_{e_0}\|p_\varnothing)$ at the price of sensibleness;
# classifier guidance (red) starts at $p_\varnothing$ (negative attribution, {prf:ref}`prop-attribution`),
# passes through $p_{e_0}$ at $\lambda=1$ and then follows the classifier-free curve (they are the same family
# here); KL-guided temperature (brown) is a temperature curve that cools only where the evidence matters.
# Dotted: $I(E;Y)$.
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
rec.figure("toy-kl-advantage", "toy: mean attribution gain of KL-guided over fixed temperature at equal diversity (nats)",
           adv_toy.mean() if len(adv_toy) else 0.0, source=SRC_KL)
fig, ax = plt.subplots()
for name, g in (("temperature", fixed_toy), ("KL-guided temperature", guided_toy)):
    g = g.sort_values("knob")
    ax.plot(g.diversity, g.attribution, marker="o", color=PAL[name], label=name)
ax.set(xlabel="diversity H(π) (nats)", ylabel="attribution (nats)", title=f"Toy world: h = {kl_bandwidth:g}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: fixed vs KL-guided temperature on the toy.** Up and to the right is better. On this world
# the KL-guided curve has, at equal diversity, {glue:text}`toy-kl-advantage:.3f` nats more attribution on
# average (negative: less). This is one world: the sign depends on how the relevant steps are placed.
#
# ## The neural model
#
# Now the bundled IMDB model. The evidence is the first {glue:text}`param-k_evidence` tokens of a held-out
# review, the query the {glue:text}`param-k_query` tokens that follow; "with evidence" decodes from
# evidence ⊕ query, "without" from the query alone, fed the same tokens (`lmdist.lm.guidance.sample_guided`).
# Every string records, per step, the exact $\mathrm{KL}(\pi_t\|p_{e,t})$, $H(\pi_t)$ and
# $\mathbb E_{\pi_t}g_t$; their sums along the string are unbiased estimates of the string-level
# sensibleness, diversity and attribution (chain rule), with lower variance than log-ratios of sampled
# strings. Classifier guidance rescores the top {glue:text}`param-top_k` next tokens with the sentiment
# reward of the extended text (FUDGE-style, toward *positive*). Intervals: 95 %, over strings.

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
settings += [("classifier guidance", lam, guidance.fudge_policy(reward, tok, queries, lam, top_k)) for lam in cg_lambdas]

# %%
nn_rows, chain_d = [], []
t_nn = time.time()
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
print(f"neural settings decoded in {time.time() - t_nn:.1f} s")
rec.figure("nn-strings", "strings decoded in all neural settings", len(nn))

# %% [markdown]
# A sampled check of the estimators: for every string, $\log\pi(y)-\log p_e(y)$ and
# $\sum_t\mathrm{KL}(\pi_t\|p_{e,t})$ have the same expectation. Pooled over all strings, the mean difference
# must lie in a $t$-interval at false-failure rate $10^{-4}$.

# %%
chain_d = np.asarray(chain_d)
sd = float(chain_d.std(ddof=1))
half = stats.t.ppf(1 - 0.5e-4, len(chain_d) - 1) * sd / math.sqrt(len(chain_d)) if sd > 0 else 1e-8
chain_mean = chain_d.mean()
# |mean| within the t half-width (plus float slack) <=> its 1e-4 t-interval contains 0
rec.check("nn-chain-rule", "mean of [log pi(y) - log p_e(y)] - sum_t KL(pi_t||p_e,t) over all strings",
          chain_mean, inside=(-half - 1e-8, half + 1e-8), interval=(chain_mean - half, chain_mean + half))

# %%
rows_bank = np.concatenate(bank, axis=1) if bank else np.zeros((2, 0, 1))
nn_dirs = direction_checks(rows_bank[0], rows_bank[1], temperatures, cfg_weights, kl_t0s, kl_bandwidth)
rec.figure("nn-bank-states", "neural states (prefixes visited at T = 1) used for the exact direction checks", rows_bank.shape[1])
rec.check("nn-directions", "per-step monotonicity violations of every knob at the neural states (prop-directions)",
          sum(nn_dirs.values()), equals=0)
display(pd.Series(nn_dirs, name="violations (neural states)"))

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
display(summ[["algorithm", "knob", "n", "sensibleness", "diversity", "attribution", "p_positive"]].round(3))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for name, g in summ.groupby("algorithm", sort=False):
    g = g.sort_values("knob")
    for ax, y in zip(axes, ("attribution", "diversity")):
        ax.errorbar(g.sensibleness, g[y], xerr=g.sensibleness_ci, yerr=g[y + "_ci"], marker="o", ms=4, capsize=2,
                    color=PAL[name], label=name)
for ax, y in zip(axes, ("attribution to the evidence (nats)", "diversity H(π) (nats)")):
    ax.set(xlabel=r"sensibleness $-$KL$(\pi\,\|\,p_e)$ (nats)", ylabel=y)
axes[0].set_title(f"{model}: attribution vs sensibleness")
axes[1].set_title(f"{model}: diversity vs sensibleness")
axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
plt.show()

# %% [markdown]
# **Figure: the trade-offs on the neural model, with 95 % intervals.** Per string of
# {glue:text}`param-max_new_tokens` new tokens. Compare with the toy figure: temperature spends sensibleness on
# both sides of $T=1$ and moves diversity; classifier-free guidance moves attribution to the evidence
# against sensibleness; see where the KL-guided curve lies relative to the temperature curve (next
# section), and how much classifier guidance toward *positive*, whose attribution is to a class (next
# figure), moves the evidence attribution.

# %%
cg = summ[summ.algorithm == "classifier guidance"].sort_values("knob")
fig, ax = plt.subplots()
ax.errorbar(cg.sensibleness, cg.p_positive, xerr=cg.sensibleness_ci, yerr=cg.p_positive_ci, marker="o", capsize=2,
            color=PAL["classifier guidance"])
for _, row in cg.iterrows():
    ax.annotate(f"λ={row.knob:g}", (row.sensibleness, row.p_positive), fontsize=8, xytext=(3, 3), textcoords="offset points")
ax.set(xlabel=r"sensibleness $-$KL$(\pi\,\|\,p_e)$ (nats)", ylabel="P(positive | query ⊕ completion)",
       title="Classifier guidance with the sentiment reward")
plt.show()
cg_lo, cg_hi = cg.iloc[0], cg.iloc[-1]
rec.figure("nn-cg-ppos-low", "mean P(positive) at the smallest lambda (top-k sampling)", cg_lo.p_positive,
           interval=(cg_lo.p_positive - cg_lo.p_positive_ci, cg_lo.p_positive + cg_lo.p_positive_ci))
rec.figure("nn-cg-ppos-high", "mean P(positive) at the largest lambda", cg_hi.p_positive,
           interval=(cg_hi.p_positive - cg_hi.p_positive_ci, cg_hi.p_positive + cg_hi.p_positive_ci))

# %% [markdown]
# **Figure: classifier guidance toward positive sentiment.** The attribution here is the reward of the
# class: the classifier's mean probability that query ⊕ completion is positive is
# {glue:text}`nn-cg-ppos-low:.2f` at the smallest λ (λ = 0 is plain top-$k$ sampling) and
# {glue:text}`nn-cg-ppos-high:.2f` at the largest; the x axis shows the sensibleness paid for it.
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
    se = math.sqrt((grow.attribution_ci / 1.96) ** 2 + ((1 - wgt) * lo.attribution_ci / 1.96) ** 2 + (wgt * hi.attribution_ci / 1.96) ** 2)
    tab_adv.append({"T0": grow.knob, "diversity": grow.diversity, "attribution gain": a, "95% half-width": 1.96 * se})
tab_adv = pd.DataFrame(tab_adv)
display(tab_adv.round(3))
n_better = int(((tab_adv["attribution gain"] - tab_adv["95% half-width"]) > 0).sum()) if len(tab_adv) else 0
n_worse = int(((tab_adv["attribution gain"] + tab_adv["95% half-width"]) < 0).sum()) if len(tab_adv) else 0
rec.figure("nn-kl-compared", "KL-guided settings whose diversity lies inside the fixed-temperature range", len(tab_adv), source=SRC_KL)
rec.figure("nn-kl-better", "of those, settings whose 95% interval of the attribution gain lies above 0", n_better, source=SRC_KL)
rec.figure("nn-kl-worse", "of those, settings whose 95% interval lies below 0", n_worse, source=SRC_KL)
rec.figure("nn-kl-mean-gain", "mean attribution gain of KL-guided over fixed temperature at equal diversity (nats)",
           adv_nn.mean() if len(adv_nn) else 0.0, source=SRC_KL)
t1 = nn[(nn.algorithm == "temperature") & (nn.knob == 1.0)]
rec.figure("nn-mean-d", "mean per-step KL(p_e || p_∅) along T = 1 strings (nats)", t1.mean_D.mean())
rec.figure("nn-mean-factor", "mean over T = 1 strings of 2^(-mean_t D_t / h)", np.mean(np.exp2(-t1.mean_D / kl_bandwidth)))
if len(tab_adv) and n_better > len(tab_adv) / 2 and n_worse == 0:
    verdict = f"improves the trade-off ({n_better} of {len(tab_adv)} settings significantly better, none worse)"
elif len(tab_adv) and n_worse > len(tab_adv) / 2 and n_better == 0:
    verdict = f"worsens the trade-off ({n_worse} of {len(tab_adv)} settings significantly worse, none better)"
else:
    verdict = f"shows no clear difference ({n_better} better, {n_worse} worse of {len(tab_adv)} comparable settings)"
rec.figure("nn-kl-verdict", "what the intervals say about KL-guided vs fixed temperature on the neural model", verdict, source=SRC_KL)
fig, ax = plt.subplots()
for name, g in (("temperature", fixed_nn), ("KL-guided temperature", guided_nn)):
    g = g.sort_values("knob")
    ax.errorbar(g.diversity, g.attribution, xerr=g.diversity_ci, yerr=g.attribution_ci, marker="o", capsize=2,
                color=PAL[name], label=name)
ax.set(xlabel="diversity H(π) (nats)", ylabel="attribution to the evidence (nats)",
       title=f"{model}: fixed vs KL-guided temperature (h = {kl_bandwidth:g})")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure: fixed vs KL-guided temperature on the neural model, 95 % intervals.** Up and to the right
# is better. Of the {glue:text}`nn-kl-compared` KL-guided settings inside the fixed curve's diversity
# range, {glue:text}`nn-kl-better` have an attribution gain whose interval lies above zero and
# {glue:text}`nn-kl-worse` below (mean gain {glue:text}`nn-kl-mean-gain:.3f` nats; the interval treats the
# matched diversity as known). Verdict of this run: KL guidance {glue:text}`nn-kl-verdict`. The evidence
# moves the next-token distribution by {glue:text}`nn-mean-d:.3f` nats per step on average along $T=1$
# strings, so the schedule multiplies $T_0$ by $2^{-D_t/h}=${glue:text}`nn-mean-factor:.2f` on average: the
# guidance can only act where $D_t$ is large. The companion paper reports gains in conversational QA
# and summarisation with large models, where the evidence carries the answer; its figures are not
# comparable with a 4-layer IMDB model.
#
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
# $-\mathrm{KL}(\pi\|p)+(T-1)H(\pi)=\sum_a\pi(a)\log p(a)+TH(\pi)=T\sum_a\pi(a)\big[\log p(a)^{1/T}-\log\pi(a)\big]
# =T\log Z_T-T\,\mathrm{KL}(\pi\|p^{1/T}/Z_T)$ with $Z_T=\sum_ap(a)^{1/T}$. The maximum is
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
# (the toy's FUDGE check above shows a positive distance at $\lambda=3$).
# ```

# %%
print(f"chapter ran in {time.time() - t_start:.1f} s")
rec.write(results_path)

# %% tags=["hide-input"]
rec.table()
