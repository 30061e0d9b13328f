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
# # Total variation and TaiLr
#
# Maximum likelihood minimises the forward KL, which charges a model without limit for every data point it
# gives little probability — noise included. {cite:t}`ji2023tailr` propose the total variation distance instead,
# and a practical token-level objective, TaiLr, that down-weights tokens the model finds unlikely.
# {cite:t}`ji2024beyond` presents it in three slides: TV as the error of an optimal classifier, the two
# gradients, and the TaiLr loss with a parameter $\gamma$ that, the slide says, gives "unbiased TVD" at
# $\gamma=1$ and "bias to KLD" as $\gamma\to0$. This chapter checks the first two exactly, derives which
# objective the *released* TaiLr code is the gradient of, and measures what it does to noisy data on a toy and
# on a small language model.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# - **Shows.** TV is one minus twice the Bayes error, and a classifier fitted on samples bounds it from below;
#   the slides' gradients of forward KL and TV are exact in expectation; the released TaiLr criterion is the
#   exact gradient of a per-token objective $L_{\gamma,m}$, maximum likelihood as $\gamma\to0$ but the
#   token's probability, not TV, at $\gamma=1$; its optimum sharpens and truncates the data distribution, which
#   the floor $m$ prevents; what that does to noisy data, exactly on a toy and by fine-tuning a small LM.
# - **Assumes.** {doc}`08-forward-reverse-kl` (maximum likelihood is forward KL; the memoryless family).
#   Total variation, softmax gradients, convexity and Lagrange multipliers.
# - **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed
#   paper-profile run: {glue:text}`paper-run-time`.
# - **Re-execute.** `lmdist run notebooks/10-tvd-tailr.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/10-tvd-tailr.py` lists every parameter).
# :::
#
# The mathematics lives in `lmdist.exact.tailr`, the torch loss in `lmdist.lm.losses.tailr_loss`, the
# fine-tuning in `lmdist.lm.finetune`.

# %% tags=["parameters"]
profile = "default"      # smoke | default | paper
seed = 0
device = "auto"
alphabet_size = None     # V, tokens of the toy string space
max_len = None           # longest toy string
concentration = None     # Dirichlet concentration of the clean toy LM's next-token rows (small: peaked)
n_instances = None       # random instances of each exact check
n_classifier = None      # samples per class to fit, and again to test, the classifier
toy_noise = None         # fraction of noise strings in the toy's training distribution
noise_concentration = None   # concentration of the noise LM (large: near-uniform text)
n_gamma = None           # values of gamma on the toy's grid
prior = None             # the neural prior (bundled name or folder)
corruption = None        # how a training review is corrupted: shuffle | random
noise_fraction = None    # fraction of training reviews corrupted
n_train_reviews = None   # training reviews (validation split of the prior)
n_eval_reviews = None    # clean held-out reviews scored (test split)
steps = None
lr = None
batch_size = None
block = None
n_seeds = None           # training seeds per loss
tailr_gammas = None      # gamma of each TaiLr run of the neural experiment
tailr_floors = None      # its minimum weight m
results_path = None      # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"alphabet_size": 3, "max_len": 4, "concentration": 0.3, "n_instances": 20, "n_classifier": 2000,
              "toy_noise": 0.2, "noise_concentration": 20.0, "n_gamma": 9, "prior": "tiny-imdb",
              "corruption": "random", "noise_fraction": 0.5, "n_train_reviews": 200, "n_eval_reviews": 8,
              "steps": 3, "lr": 3e-4, "batch_size": 2, "block": 32, "n_seeds": 1,
              "tailr_gammas": [0.1], "tailr_floors": [0.3]},
    "default": {"alphabet_size": 4, "max_len": 5, "concentration": 0.3, "n_instances": 100, "n_classifier": 20000,
                "toy_noise": 0.2, "noise_concentration": 20.0, "n_gamma": 25, "prior": "tiny-imdb",
                "corruption": "random", "noise_fraction": 0.5, "n_train_reviews": 2000, "n_eval_reviews": 100,
                "steps": 40, "lr": 3e-4, "batch_size": 8, "block": 128, "n_seeds": 2,
                "tailr_gammas": [0.1], "tailr_floors": [0.3]},
    "paper": {"alphabet_size": 4, "max_len": 6, "concentration": 0.3, "n_instances": 1000, "n_classifier": 200000,
              "toy_noise": 0.2, "noise_concentration": 20.0, "n_gamma": 61, "prior": "tiny-imdb",
              "corruption": "random", "noise_fraction": 0.5, "n_train_reviews": 2453, "n_eval_reviews": 1000,
              "steps": 600, "lr": 3e-4, "batch_size": 16, "block": 256, "n_seeds": 5,
              "tailr_gammas": [1e-7, 0.1, 0.8, 1.0], "tailr_floors": [0.2, 0.3, 0.2, 0.2]},
}
RULES = {
    "alphabet_size": {"type": "int", "min": 2, "max": 6, "doc": "V, tokens of the toy string space"},
    "max_len": {"type": "int", "min": 2, "max": 7, "doc": "longest toy string"},
    "concentration": {"type": "float", "min": 0.01, "max": 100.0, "doc": "Dirichlet concentration of the clean toy LM"},
    "n_instances": {"type": "int", "min": 1, "max": 100000, "doc": "random instances of each exact check"},
    "n_classifier": {"type": "int", "min": 100, "max": 10000000, "doc": "samples per class to fit, and again to test, the classifier"},
    "toy_noise": {"type": "float", "min": 0.0, "max": 0.9, "doc": "fraction of noise strings in the toy's data"},
    "noise_concentration": {"type": "float", "min": 0.01, "max": 1000.0, "doc": "concentration of the toy noise LM"},
    "n_gamma": {"type": "int", "min": 3, "max": 1001, "doc": "values of gamma on the toy's grid"},
    "prior": {"type": "str", "doc": "neural prior: bundled name or local folder"},
    "corruption": {"type": "str", "choices": ["shuffle", "random"], "doc": "how a training review is corrupted"},
    "noise_fraction": {"type": "float", "min": 0.0, "max": 1.0, "doc": "fraction of training reviews corrupted"},
    "n_train_reviews": {"type": "int", "min": 10, "max": 2453, "doc": "training reviews (validation split)"},
    "n_eval_reviews": {"type": "int", "min": 2, "max": 2412, "doc": "clean held-out reviews scored (test split)"},
    "steps": {"type": "int", "min": 1, "max": 100000, "doc": "fine-tuning steps"},
    "lr": {"type": "float", "min": 1e-7, "max": 1e-2, "doc": "peak learning rate"},
    "batch_size": {"type": "int", "min": 1, "max": 512, "doc": "windows per step"},
    "block": {"type": "int", "min": 8, "max": 256, "doc": "tokens per window"},
    "n_seeds": {"type": "int", "min": 1, "max": 50, "doc": "training seeds per loss"},
    "tailr_gammas": {"type": "list[float]", "min": 0.0, "max": 1.0, "doc": "gamma of each TaiLr run"},
    "tailr_floors": {"type": "list[float]", "min": 0.0, "max": 1.0, "doc": "minimum weight m of each TaiLr run"},
}

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats as sps
from scipy.special import softmax

from lmdist.book import chapter, plots
from lmdist.exact import infotheory as it
from lmdist.exact import instances, projections, strings, tailr
from lmdist.exact import stats as st
from lmdist.lm import data, finetune, knn, losses, models

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC, PAPER = "Ji 2024 (slides)", "Ji et al. 2023 (ICLR)"
DELTA = 1e-4   # false-failure rate of each sampled check
if len(tailr_gammas) != len(tailr_floors):
    raise ValueError(f"tailr_gammas and tailr_floors must have one entry per TaiLr run, got {tailr_gammas} and {tailr_floors}")

# %% [markdown]
# (ch10-classifier)=
# ## Total variation is the error of the optimal classifier
#
# The slide's set-up: a label $c\sim\mathrm{Bernoulli}(\tfrac12)$, a string $y\sim p_d$ if $c=1$ and
# $y\sim p_\theta$ if $c=0$, and a classifier $f$ that guesses $c$ from $y$.
#
# ```{prf:theorem} TV as the Bayes error
# :label: thm-tv-bayes
#
# For distributions $p,q$ on a countable set, with equal priors,
# $\min_f \Pr(f(y)\ne c)=\tfrac12\sum_y\min(p(y),q(y))$, attained by $f^*(y)=[p(y)>q(y)]$, and
#
# $$\begin{aligned}\mathrm{TV}(p,q)&=\tfrac12\textstyle\sum_y|p(y)-q(y)|\\&=1-\textstyle\sum_y\min(p(y),q(y))\\&=1-2\min_f\Pr(f(y)\neq c).\end{aligned}$$
# ```
#
# ```{prf:proof}
# Term by term, with equality for $f^*$,
#
# $$\begin{aligned}\Pr(f\neq c)&=\tfrac12\textstyle\sum_{f(y)=1}q(y)+\tfrac12\sum_{f(y)=0}p(y)\\&\ge\tfrac12\textstyle\sum_y\min(p(y),q(y)).\end{aligned}$$
#
# And $|p-q|=p+q-2\min(p,q)$ summed gives $\sum_y|p-q|=2-2\sum_y\min(p,q)$.
# ```
#
# So the slide is right, with its equal priors (with priors $\pi,1-\pi$ the optimal error is
# $\sum_y\min(\pi p,(1-\pi)q)$, not a function of TV alone). We check it exactly on
# {glue:text}`param-n_instances` random pairs of distributions ({glue:text}`tv-outcomes` outcomes, with holes), against
# {glue:text}`tv-random-rules` random classifiers each, and then with samples. On the toy string space ({glue:text}`param-alphabet_size` tokens, strings
# up to length {glue:text}`param-max_len`) the data $p_d$ is a random autoregressive LM and the "model"
# $p_\theta$ is its best bigram fit; a classifier is fitted on {glue:text}`param-n_classifier` strings of each
# (the Bayes rule of the two empirical distributions) and its error measured on as many fresh ones.

# %%
N_OUTCOMES, N_RULES = 20, 50    # outcomes of each random pair; random classifiers tried against each
gaps, beaten = [], 0
for _ in range(n_instances):
    c = 10 ** rng.uniform(-1, 1)
    lp, lq = (instances.random_logdist(rng, N_OUTCOMES, concentration=c) for _ in range(2))
    err = tailr.bayes_error(lp, lq)
    gaps.append(abs(it.tvd(lp, lq) - (1 - 2 * err)))
    beaten += sum(tailr.classifier_error(rng.random(N_OUTCOMES) < 0.5, lp, lq) < err - 1e-15 for _ in range(N_RULES))

space = strings.StringSpace(alphabet_size, max_len)
clean = strings.random_lm(space, rng, concentration=concentration).logp
context = tailr.bigram_context(space)
bigram = tailr.fit_tied(space, clean, context, 0.0, 0.0)          # the bigram MLE of the clean LM
tv_exact = it.tvd(clean, bigram)
fit_p, fit_q, test_p, test_q = (np.bincount(strings.ToyLM(space, strings.next_token_table(space, lm)).sample(rng, n_classifier),
                                            minlength=space.size) for lm in (clean, bigram, clean, bigram))
rule = tailr.plugin_rule(fit_p, fit_q)
bayes = tailr.bayes_rule(clean, bigram)
# test error = mean of 2n independent 0/1 terms: Hoeffding, range 1
err_fit = (test_p[~rule].sum() + test_q[rule].sum()) / (2 * n_classifier)
err_bayes_hat = (test_p[~bayes].sum() + test_q[bayes].sum()) / (2 * n_classifier)
half = float(st.hoeffding_halfwidth(2 * n_classifier, 1.0, DELTA))

# %% tags=["hide-input"]
rec.figure("tv-outcomes", "outcomes of each random pair of distributions", N_OUTCOMES)
rec.figure("tv-random-rules", "random classifiers tried against the Bayes rule on each pair", N_RULES)
rec.check("tv-bayes-identity", "max |TV(p,q) - (1 - 2 Bayes error)| over random pairs", max(gaps), at_most=1e-14, source=SRC)
rec.check("tv-bayes-optimal", "random classifiers with a smaller error than the Bayes rule", int(beaten), equals=0, source=SRC)
rec.figure("toy-tv-data-model", "TV(p_d, bigram fit) on the toy, exact", tv_exact)
rec.check("bayes-error-sampled", "|Bayes rule's test error - its exact error| (Hoeffding at 1e-4)",
          abs(err_bayes_hat - tailr.bayes_error(clean, bigram)), at_most=half)
half95 = float(st.hoeffding_halfwidth(2 * n_classifier, 1.0, 0.05))
rec.figure("tv-fitted-estimate", "1 - 2 x (fitted classifier's test error), 95 % Hoeffding interval", 1 - 2 * err_fit,
           interval=(1 - 2 * (err_fit + half95), 1 - 2 * (err_fit - half95)))
rec.check("tv-fitted-lower-bound", "TV - (1 - 2 (test error + Hoeffding halfwidth)) of the fitted classifier (>= 0)",
          tv_exact - (1 - 2 * (err_fit + half)), at_least=0.0)
_ = rec.figure("fitted-rule-excess", "exact error of the fitted classifier - Bayes error",
               tailr.classifier_error(rule, clean, bigram) - tailr.bayes_error(clean, bigram))

# %% [markdown]
# The identity holds to {glue:text}`tv-bayes-identity:.1g` and no random classifier beats the Bayes rule
# ({glue:text}`tv-bayes-optimal`). On the toy, $\mathrm{TV}(p_d,p_\theta)=${glue:text}`toy-tv-data-model:.3f`;
# the Bayes rule's error measured on the test strings is within the Hoeffding half-width of its exact value
# ({glue:text}`bayes-error-sampled:.4f`). The fitted classifier estimates $1-2\,\mathrm{err}=$
# {glue:text}`tv-fitted-estimate:.3f`: any fitted classifier errs at least as often as the Bayes rule (its exact
# excess error here is {glue:text}`fitted-rule-excess:.4f`), so its test error gives a *lower* confidence bound
# on TV, which holds (margin {glue:text}`tv-fitted-lower-bound:.3f`). A classifier that is not optimal makes two
# distributions look closer than they are.

# %% [markdown]
# (ch10-gradients)=
# ## The gradients of forward KL and of TV
#
# ```{prf:theorem} The two gradients
# :label: thm-tv-gradient
#
# Let $q_\theta$ be a differentiable family with score $J_y=\nabla_\theta\log q_\theta(y)$. Then
#
# $$\nabla_\theta\mathrm{KL}(p_d\|q_\theta)=\mathbb E_{y\sim p_d}\Big[-\frac{\nabla_\theta q_\theta(y)}{q_\theta(y)}\Big],$$
#
# $$\begin{aligned}\nabla_\theta\mathrm{TV}(p_d,q_\theta)=\mathbb E_{y\sim p_d}\Big[&-\frac{\nabla_\theta q_\theta(y)}{p_d(y)}\\&\times[q_\theta(y)<p_d(y)]\Big],\end{aligned}$$
#
# the second at every $\theta$ where no $y$ has $q_\theta(y)=p_d(y)>0$ (elsewhere TV has a kink).
# ```
#
# ```{prf:proof}
# The first is $-\sum_y p_d\nabla\log q_\theta$. For the second, $\nabla\tfrac12\sum_y|p_d-q_\theta|=-\tfrac12\sum_y
# s_y\nabla q_\theta(y)$ with $s_y=\mathrm{sign}(p_d-q_\theta)$, and $\sum_y\nabla q_\theta(y)=\nabla 1=0$ lets us
# add $\tfrac12\sum_y\nabla q_\theta(y)$: $-\sum_y\tfrac{1+s_y}{2}\nabla q_\theta(y)=-\sum_{q_\theta<p_d}\nabla q_\theta(y)$,
# which is the expectation written on the right.
# ```
#
# The slides write "$\approx$" and drop the expectation: each is a one-sample unbiased estimate, with
# $y\sim p_d$. The TV estimate needs $p_d(y)$, which a data set never gives — the reason TaiLr exists. We
# check both against central finite differences ($h=10^{-6}$, error $\approx h^2\approx10^{-12}$, so the
# tolerance is $10^{-7}$) for the memoryless family of chapter 08 on
# {glue:text}`param-n_instances` random data LMs and parameters, skipping an instance where some string has
# $|q_\theta-p_d|$ within the reach of the step (a kink the difference would straddle).

# %%
H_FD, FD_TOL = 1e-6, 1e-7
err_fkl, err_tv, kinks = [], [], 0
for _ in range(n_instances):
    lpd = strings.random_lm(space, rng, concentration=10 ** rng.uniform(-1, 1)).logp
    eta = rng.normal(size=alphabet_size + 1)
    lq, jac = projections.memoryless(space, eta), projections.memoryless_jacobian(space, eta)
    if np.any(np.abs(np.exp(lq) - np.exp(lpd)) <= 10 * H_FD * np.exp(lq) * np.abs(jac).sum(1)):
        kinks += 1
        continue
    steps_fd = np.eye(len(eta)) * H_FD
    fd = {name: np.array([(f(projections.memoryless(space, eta + e)) - f(projections.memoryless(space, eta - e))) / (2 * H_FD)
                          for e in steps_fd])
          for name, f in (("fkl", lambda lx, lpd=lpd: it.kl(lpd, lx)), ("tv", lambda lx, lpd=lpd: it.tvd(lpd, lx)))}
    err_fkl.append(np.abs(projections.forward_kl_gradient(lpd, lq, jac) - fd["fkl"]).max())
    err_tv.append(np.abs(tailr.tv_gradient(lpd, lq, jac) - fd["tv"]).max())

# %% tags=["hide-input"]
rec.check("fkl-gradient-fd", "max |E_pd[-grad q/q] - finite difference of KL(p_d||q)| over instances", max(err_fkl), at_most=FD_TOL, source=SRC)
rec.check("tv-gradient-fd", "max |E_pd[-grad q/p_d [q<p_d]] - finite difference of TV(p_d,q)| over instances", max(err_tv), at_most=FD_TOL, source=SRC)
_ = rec.figure("tv-gradient-kinks", "instances skipped because a string sits within a step of a kink of TV", kinks)

# %% [markdown]
# Both formulas agree with the finite differences: to {glue:text}`fkl-gradient-fd:.1g` and
# {glue:text}`tv-gradient-fd:.1g` ({glue:text}`tv-gradient-kinks` instances skipped at a kink).

# %% [markdown]
# (ch10-tailr)=
# ## TaiLr as released, and the objective it optimises
#
# The slide's TaiLr loss for a target token $w$ with model probability $p=p_\theta(w\mid y_{<t})$ is
# $-\mathrm{sg}\big[\frac{p}{\gamma+(1-\gamma)p}\big]\log p$, "sg" a stop-gradient. The released criterion
# (`fairseq/criterions/tailr.py` of thu-coai/TaiLr) does two more things: it clamps the weight to $[m,1]$
# (`--density-min-weight` $m$; `--density-ratio-threshold` is $\gamma$), and it adds label smoothing
# $\varepsilon$ *unweighted*:
#
# $$\begin{aligned}\ell_t={}&(1-\varepsilon)\,\mathrm{sg}[w(p)]\,(-\log p)\\&+\tfrac{\varepsilon}{V}\textstyle\sum_v(-\log p_\theta(v\mid y_{<t})),\end{aligned}$$
#
# $$w(p)=\min\!\Big(1,\max\Big(m,\frac{p}{\gamma+(1-\gamma)p}\Big)\Big).$$
#
# Its training scripts use $(\gamma,m,\varepsilon)=(10^{-7},0.2,0)$ for the synthetic and long-text tasks,
# $(0.1,0.3,0.1)$ for translation and $(0.8,0.2,0.1)$ for summarisation. `lmdist.lm.losses.tailr_loss`
# implements $\ell_t$ line by line.
#
# ```{prf:theorem} What TaiLr is the gradient of
# :label: thm-tailr-objective
#
# With $p_m=m\gamma/(1-m(1-\gamma))$ (where $w(p_m)=m$), let
#
# $$L_{\gamma,m}(p)=-\frac{\log(\gamma+(1-\gamma)p)}{1-\gamma}\quad(p\ge p_m),$$
#
# $$L_{\gamma,m}(p)=L_{\gamma,m}(p_m)+m\log\frac{p_m}{p}\quad(p<p_m)$$
#
# ($L_{1,m}(p)=1-p$ above $p_m$, the limit). Then for every $\theta$
#
# $$\begin{aligned}\nabla_\theta\ell_t=\nabla_\theta\Big[&(1-\varepsilon)L_{\gamma,m}(p)\\&+\tfrac{\varepsilon}{V}\textstyle\sum_v(-\log p_\theta(v\mid y_{<t}))\Big].\end{aligned}$$
#
# In particular: $\gamma\to0$ gives $L=-\log p$ (maximum likelihood); $\gamma=1$ without a floor gives
# $L=1-p$, so TaiLr at $\gamma=1$ maximises $\mathbb E_{p_d}\sum_t p_\theta(y_t\mid y_{<t})$, the expected probability
# of each data token; the floor makes $L$ grow like $m(-\log p)$ as $p\to0$.
# ```
#
# ```{prf:proof}
# The weight is a constant for the gradient, so $\nabla\ell_t=-(1-\varepsilon)w(p)\nabla p/p+\nabla(\text{smoothing})$.
# Differentiating, $L'(p)=-1/(\gamma+(1-\gamma)p)=-w(p)/p$ for $p\ge p_m$ (there $w\ge m$; and $w\le1$ always),
# and $L'(p)=-m/p=-w(p)/p$ below; $L$ is continuous at $p_m$. So $\nabla L(p)=L'(p)\nabla p=-w(p)\nabla p/p$.
# ```
#
# We check the identity where it matters, on the torch loss: its autograd gradient against the closed-form
# gradient of the derived objective with respect to the logits $z$,
#
# $$\begin{aligned}\tfrac{\partial}{\partial z}\big[(1-\varepsilon)L(p)+\ldots\big]={}&-(1-\varepsilon)w(p)(e_w-p_\theta)\\&+\varepsilon(p_\theta-1/V)\end{aligned}$$
#
# (float64: rounding, $10^{-12}$), and against central finite differences of $L$ itself computed in numpy
# (tolerance $10^{-7}$ as above), on {glue:text}`param-n_instances` random batches of logits at the released
# settings and at random $(\gamma,m,\varepsilon)$.

# %%
settings = [*tailr.RELEASED.values(), (1.0, 0.0, 0.0), (0.5, 0.0, 0.0)]
err_auto, err_fd = [], []
for k in range(n_instances):
    g, m, eps = settings[k] if k < len(settings) else (rng.uniform(), rng.uniform(0, 0.5) * (rng.random() < 0.7), rng.uniform(0, 0.2))
    z = torch.tensor(rng.normal(size=(4, 12)) * 10 ** rng.uniform(-1, 0.7), requires_grad=True)
    y = torch.tensor(rng.integers(0, 12, size=4))
    losses.tailr_loss(z, y, g, m, label_smoothing=eps, reduction="sum").backward()
    lp = torch.log_softmax(z, -1).detach().numpy()
    err_auto.append(np.abs(z.grad.numpy() - tailr.logit_gradient(lp, y.numpy(), g, m, eps)).max())
    zz = z.detach().numpy()
    fd = np.zeros_like(zz)
    for i, j in np.ndindex(*zz.shape):
        e = np.zeros_like(zz)
        e[i, j] = H_FD
        obj = [tailr.token_losses(np.log(softmax(zz + s * e, axis=1)), y.numpy(), g, m, eps)[1].sum() for s in (1, -1)]
        fd[i, j] = (obj[0] - obj[1]) / (2 * H_FD)
    near_kink = np.abs(np.exp(lp[np.arange(4), y.numpy()]) - tailr.floor_start(g, m)) < 1e-4
    err_fd.append(np.abs(z.grad.numpy() - fd)[~near_kink].max(initial=0.0))

# %% tags=["hide-input"]
rec.check("tailr-autograd-identity", "max |autograd grad of the released TaiLr loss - grad of (1-eps) L_{gamma,m} + smoothing| (float64)",
          max(err_auto), at_most=1e-12, source="thu-coai/TaiLr fairseq/criterions/tailr.py")
_ = rec.check("tailr-fd-identity", "max |autograd grad of the released loss - finite difference of the derived objective|",
              max(err_fd), at_most=FD_TOL)

# %% [markdown]
# The released loss's gradient is the gradient of $L_{\gamma,m}$ to {glue:text}`tailr-autograd-identity:.1g`
# (closed form) and {glue:text}`tailr-fd-identity:.1g` (finite differences of the objective alone).

# %% [markdown]
# (ch10-gamma)=
# ## What each $\gamma$ optimises
#
# Fit one next-token distribution $q$ to data with next-token distribution $p_d$ (a model with a free row per
# context; {ref}`ch10-noise-toy` ties rows together). TaiLr minimises $\sum_v p_d(v)L_{\gamma,m}(q(v))$ over the simplex.
#
# ```{prf:theorem} TaiLr's optimum sharpens and truncates
# :label: thm-tailr-optimum
#
# For $\gamma<1$, $L_{\gamma,m}$ is strictly convex and decreasing, and the minimiser is, with $\lambda>0$ fixed by $\sum_v q(v)=1$,
#
# $$q^*(v)=\begin{cases}\dfrac{p_d(v)/\lambda-\gamma}{1-\gamma} & \text{if that is}\ \ge p_m,\\[1ex] m\,p_d(v)/\lambda & \text{otherwise.}\end{cases}$$
#
# Without a floor ($m=0$): $q^*(v)=\max\big(0,(p_d(v)/\lambda-\gamma)/(1-\gamma)\big)$ — an affine sharpening of $p_d$
# that gives probability $0$ to every token with $p_d(v)\le\gamma\lambda$; it equals $p_d$ only when $\gamma=0$ or $p_d$ is
# uniform on its support. At $\gamma=1$, $m=0$, every distribution on the modes of $p_d$ is optimal (a point mass on
# the mode when it is unique), with TV to $p_d$ equal to $1-\max_v p_d(v)$.
# ```
#
# ```{prf:proof}
# $L'(q)=-\max(w(q),m)/q$ is strictly increasing ($-1/(\gamma+(1-\gamma)q)$ above $p_m$, $-m/q$ below), so $L$ is
# strictly convex for $\gamma<1$ and the problem has one minimiser, characterised by the KKT conditions
# $p_d(v)L'(q(v))=-\lambda$ where $q(v)>0$ and $p_d(v)L'(0^+)\ge-\lambda$ where $q(v)=0$. Solving
# $p_d/(\gamma+(1-\gamma)q)=\lambda$ and $m\,p_d/q=\lambda$ gives the two branches; with $m=0$, $L'(0)=-1/\gamma$ is
# finite, hence the zeros. At $\gamma=1$, $m=0$ the objective is $1-\sum_v p_d(v)q(v)$, linear, minimised on the modes.
# ```
#
# `lmdist.exact.tailr.optimum` solves for $\lambda$ by root finding; we check that no random distribution nor any
# small move from it does better, on {glue:text}`param-n_instances` random $p_d$ and settings.

# %%
violations, tv_opt = 0, []
for _ in range(n_instances):
    lpd = instances.random_logdist(rng, 12, concentration=10 ** rng.uniform(-1, 1))
    g, m = rng.choice([rng.uniform(), 1.0, 10 ** rng.uniform(-7, 0)]), rng.choice([0.0, rng.uniform(0, 0.5)])
    lq = tailr.optimum(lpd, g, m)
    pd_, on = np.exp(lpd), lpd > -np.inf
    value = lambda q, pd_=pd_, on=on, g=g, m=m: float((pd_[on] * tailr.objective(q[on], g, m)).sum())   # noqa: E731
    best = value(np.exp(lq))
    for _ in range(40):
        q = rng.dirichlet(np.full(12, 0.5)) if rng.random() < 0.5 else np.exp(lq + 1e-3 * rng.normal(size=12))
        violations += value(q / q.sum()) < best - 1e-12 * (1 + abs(best))

# %% tags=["hide-input"]
_ = rec.check("tailr-optimum", "random distributions (or small moves) with a smaller TaiLr objective than the computed optimum",
              int(violations), equals=0)

# %% [markdown]
# (ch10-erratum-gamma)=
# ### Erratum: $\gamma=1$ is not "unbiased TVD"
#
# The slide says $\gamma$ trades bias for variance, "$\gamma=1$ (unbiased TVD), $\gamma\to0$ (bias to KLD)". The second half
# is right: $\gamma\to0$ *is* maximum likelihood ($w\to1$). The first is not. TaiLr replaces the unknown $p_d(w)$ in the TV
# gradient of {prf:ref}`thm-tv-gradient` by a proxy $\gamma\,[w=y]+(1-\gamma)p_\theta(w)$; at $\gamma=1$ the proxy, the
# one-hot of the observed token, is an unbiased estimate of $p_d(w)$ — but the gradient divides by it and thresholds it,
# and a non-linear function of an unbiased estimate is biased. The expected update at $\gamma=1$ is
# $-\sum_y p_d(y)\nabla p_\theta(y)=\nabla(1-\sum_y p_d p_\theta)$, the gradient of {prf:ref}`thm-tailr-objective`'s
# $1-p$, not $-\sum_{p_\theta<p_d}\nabla p_\theta(y)$. Its minimiser is the mode of each next-token distribution, not
# $p_d$ ({prf:ref}`thm-tailr-optimum`), and $p_\theta=p_d$ — where TV is zero — is not even a stationary point. How far the
# two directions are apart, on {glue:text}`param-n_instances` random $(p_d,\theta)$ with $p_\theta=\mathrm{softmax}(\theta)$
# over {glue:text}`gamma1-tokens` tokens:

# %%
ROW = 12   # tokens of each random next-token distribution
cosines, wrong_way, stat_norm = [], 0, []
for _ in range(n_instances):
    lpd = instances.random_logdist(rng, ROW, concentration=10 ** rng.uniform(-1, 1))
    lq = it.normalize(rng.normal(size=ROW) * 10 ** rng.uniform(-1, 0.5))
    jac = np.eye(ROW) - np.exp(lq)[None, :]
    g_tv = tailr.tv_gradient(lpd, lq, jac)
    g_one = -np.exp(lpd) @ (np.exp(lq)[:, None] * jac)          # E_{p_d}[grad of L_{1,0}] = -sum_y p_d grad q(y)
    cosines.append(g_tv @ g_one / (np.linalg.norm(g_tv) * np.linalg.norm(g_one)))
    wrong_way += g_tv @ g_one < 0                              # a small gamma=1 step raises TV
    jac_d = np.eye(ROW) - np.exp(lpd)[None, :]
    stat_norm.append(np.linalg.norm(-np.exp(lpd) @ (np.exp(lpd)[:, None] * jac_d)))   # gamma=1 gradient at q = p_d

# %% tags=["hide-input"]
rec.figure("gamma1-tokens", "tokens of each random next-token distribution of the gamma=1 comparison", ROW)
rec.figure("gamma1-cosine-median", "median cosine between the expected gamma=1 TaiLr gradient and the TV gradient", float(np.median(cosines)), source=SRC)
rec.figure("gamma1-wrong-way", "fraction of instances where a small expected gamma=1 step increases TV", wrong_way / n_instances, source=SRC)
_ = rec.figure("gamma1-not-stationary", "median norm of the expected gamma=1 gradient at p_theta = p_d (0 if p_d were stationary)",
               float(np.median(stat_norm)), source=SRC)

# %% [markdown]
# The median cosine between the two directions is {glue:text}`gamma1-cosine-median:.2f`; in
# {glue:text}`gamma1-wrong-way:.0%` of the instances a small step of expected $\gamma=1$ TaiLr *increases* the TV, and at
# $p_\theta=p_d$ its expected gradient has median norm {glue:text}`gamma1-not-stationary:.3f`, not 0. What $\gamma$ does
# instead is choose how hard the optimum is sharpened, {numref}`fig-tailr-optimum`.

# %% tags=["hide-input"]
ZIPF_S, ZIPF_V = 1.1, 10   # exponent and tokens of the illustrative Zipf row
zipf = it.normalize(-ZIPF_S * np.log(np.arange(1, ZIPF_V + 1)))
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.3))
shown = [(0.0, 0.0, "MLE ($\\gamma=0$)"), (0.1, 0.0, "$\\gamma=0.1$"), (0.5, 0.0, "$\\gamma=0.5$"), (0.1, 0.3, "$\\gamma=0.1$, $m=0.3$")]
width = 0.2
for k, (g, m, label) in enumerate(shown):
    axes[0].bar(np.arange(ZIPF_V) + (k - 1.5) * width, np.exp(tailr.optimum(zipf, g, m)), width, label=label,
                color=list(plots.ROLE.values())[k])
axes[0].set(xlabel="token (by data probability)", ylabel="optimal $q$", title="TaiLr's optimum for one row")
axes[0].legend(fontsize="x-small")
grid = np.r_[0.0, np.geomspace(1e-4, 1, n_gamma)]
floors = [0.0, 0.2, 0.3]   # the floors of this figure and of the noisy toy
tv_opt = {m: np.array([it.tvd(tailr.optimum(zipf, g, m), zipf) for g in grid[1:]]) for m in floors}
for k, m in enumerate(floors):
    axes[1].plot(grid[1:], tv_opt[m], color=list(plots.ROLE.values())[k], label=f"floor m = {m}")
axes[1].set(xscale="log", xlabel=r"$\gamma$", ylabel=r"TV$(q^*, p_d)$", title="Distance of the optimum from the data")
axes[1].legend(fontsize="x-small")
plots.publish("fig-tailr-optimum", fig)
rec.figure("zipf-exponent", "exponent s of the Zipf row p_d(v) ∝ v^-s of the figure", ZIPF_S)
rec.figure("zipf-tokens", "tokens of the Zipf row", ZIPF_V)
rec.figure("zipf-tv-gamma1", "TV(q*, p_d) of the Zipf row at gamma=1, m=0", float(tv_opt[0.0][-1]))
rec.figure("zipf-one-minus-max", "1 - max_v p_d(v) of the Zipf row", float(1 - np.exp(zipf).max()))
rec.figure("zipf-tv-trend", "whether TV(q*, p_d) rises with gamma on the grid without a floor",
           "rises" if np.all(np.diff(tv_opt[0.0]) >= -1e-12) else "does not rise monotonically")
peaked = all(np.argmax(tv_opt[m]) < len(grid) - 2 for m in floors[1:])
_ = rec.figure("zipf-floor-trend", "how TV(q*, p_d) moves with gamma for the floored curves",
               "peaks at an intermediate γ and falls back" if peaked else "rises too")

# %% [markdown]
# ```{glue:figure} fig-tailr-optimum
# :name: fig-tailr-optimum
# :alt: Left, grouped bars of the optimal next-token distribution for a Zipf-shaped data row under maximum likelihood and TaiLr at several gamma and floors; right, the total variation between TaiLr's optimum and the data row against gamma on a log axis, one line per floor.
#
# Left: TaiLr's optimum for a Zipf-shaped data row $p_d(v)\propto v^{-s}$, $s=${glue:text}`zipf-exponent`
# ({glue:text}`zipf-tokens` tokens). Maximum likelihood returns $p_d$; TaiLr raises the frequent tokens and cuts the rare
# ones to zero, unless a floor keeps them. Right: without a floor, TV between the optimum and $p_d$
# {glue:text}`zipf-tv-trend` with $\gamma$, to {glue:text}`zipf-tv-gamma1:.3f` at $\gamma=1$, which is
# $1-\max_v p_d(v)=${glue:text}`zipf-one-minus-max:.3f`; with a floor it {glue:text}`zipf-floor-trend`
# (near $\gamma=1$, $p_m\to m$ and every token below $m$ is kept in proportion to $p_d$).
# ```

# %% [markdown]
# (ch10-floor)=
# ## What the floor is for
#
# Without a floor, {prf:ref}`thm-tailr-optimum` gives probability exactly $0$ to every token with $p_d(v)\le\gamma\lambda$: a
# model trained to TaiLr's optimum assigns zero probability to data it was trained on, and its perplexity on held-out
# data is infinite. The floor turns the tail of $L$ back into $m(-\log p)$, which is $+\infty$ at $p=0$, so every token of
# the support keeps $q^*(v)\ge m\,p_d(v)/\lambda>0$. It also rescues training from a cold start: for a token the model
# gives $p\approx1/V$, the unfloored weight is $\approx1/(\gamma V)$ — with $V=${glue:text}`prior-vocab` (the vocabulary
# of the neural prior of {ref}`ch10-neural`) and $\gamma=${glue:text}`cold-start-gamma:g` (the translation setting),
# {glue:text}`cold-start-weight:.2g` — so a rare token is hardly learnt at all. The floor is the only thing that keeps
# TaiLr's optimum a model of the whole data; it also lets the noise back in, since every token the model finds less
# likely than $p_m$, noise included, gets the same weight $m$: maximum likelihood scaled by $m$.
#
# (ch10-noise-toy)=
# ## Noisy data: an exact toy
#
# The clean distribution $p_c$ is the random LM of {ref}`ch10-classifier` (concentration {glue:text}`param-concentration`);
# the noise $p_n$ is a near-uniform random LM (concentration {glue:text}`param-noise_concentration`), and the training
# distribution is $p_d=(1-\epsilon)p_c+\epsilon p_n$ with $\epsilon=${glue:text}`param-toy_noise`. The model is a bigram LM
# (one next-symbol row per previous token), which cannot represent $p_c$: the family is misspecified, as real models are.
# Each fit is exact: the token-level objective is $\sum_{c}\sum_v A_c(v)L_{\gamma,m}(q_c(v))$ with $A_c(v)$ the expected
# number of times the data emit $v$ after context $c$, so each row is {prf:ref}`thm-tailr-optimum`'s optimum of its
# normalised counts. We measure the fit's TV to the *clean* distribution, over {glue:text}`param-n_gamma` values of
# $\gamma$, the floors $m=${glue:text}`toy-floors`, and the released settings.

# %%
def toy_world(rng):
    lc = strings.random_lm(space, rng, concentration=concentration).logp
    ln = strings.random_lm(space, rng, concentration=noise_concentration).logp
    return lc, np.logaddexp(np.log1p(-toy_noise) + lc, np.log(toy_noise) + ln) if toy_noise > 0 else lc


def tv_to_clean(lc, ld, g, m):
    return it.tvd(tailr.fit_tied(space, ld, context, g, m), lc)


ld = np.logaddexp(np.log1p(-toy_noise) + clean, np.log(toy_noise) + strings.random_lm(space, rng, concentration=noise_concentration).logp)
sweep = pd.DataFrame([{"gamma": g, "m": m, "tv": tv_to_clean(clean, ld, g, m)} for m in floors for g in grid[1:]])
tv_mle, tv_mle_clean = tv_to_clean(clean, ld, 0.0, 0.0), tv_to_clean(clean, clean, 0.0, 0.0)
released = {name: tv_to_clean(clean, ld, g, m) for name, (g, m, _) in tailr.RELEASED.items()}
ZERO_GAMMA, ZERO_FLOOR = 0.5, 0.2   # the fit whose zero-probability clean mass is reported, without and with a floor
with np.errstate(divide="ignore"):
    zero_mass = {m: np.exp(clean[tailr.fit_tied(space, ld, context, ZERO_GAMMA, m) == -np.inf]).sum() for m in (0.0, ZERO_FLOOR)}
gains = {name: [] for name in tailr.RELEASED}   # TV(MLE fit, clean) - TV(TaiLr fit, clean) on random toys
for _ in range(n_instances):
    lc, ldi = toy_world(rng)
    base = tv_to_clean(lc, ldi, 0.0, 0.0)
    for name, (g, m, _) in tailr.RELEASED.items():
        gains[name].append(base - tv_to_clean(lc, ldi, g, m))
GAIN_MIN = 1e-3   # a toy counts as "closer" only beyond this TV margin

# %% tags=["hide-input"]
best = sweep.loc[sweep["tv"].idxmin()]
rec.figure("toy-tv-mle", "TV(bigram MLE of the noisy data, clean distribution)", tv_mle)
rec.figure("toy-tv-mle-clean", "TV(bigram MLE of the clean data, clean distribution): the family's own error", tv_mle_clean)
for name, key in zip(tailr.RELEASED, ("synthetic", "translation", "summarization", "long")):
    rec.figure(f"toy-tv-released-{key}", f"TV(TaiLr fit at the released {name} setting, clean)", released[name])
    rec.figure(f"toy-gain-{key}", f"median over random toys of TV(MLE, clean) - TV(TaiLr at the released {name} setting, clean)",
               float(np.median(gains[name])))
    rec.figure(f"toy-closer-{key}", f"fraction of random toys where the {name} setting is closer to clean than MLE by more than GAIN_MIN",
               float(np.mean(np.array(gains[name]) > GAIN_MIN)))
rec.figure("toy-gain-min", "GAIN_MIN, the TV margin by which a TaiLr fit counts as closer to clean than MLE", GAIN_MIN)
rec.figure("toy-floors", "the floors m of the toy's sweep", ", ".join(f"{m:g}" for m in floors[:-1]) + f" and {floors[-1]:g}")
rec.figure("toy-best-gamma", "gamma of the grid with the smallest TV to clean", float(best["gamma"]))
rec.figure("toy-best-floor", "its floor m", f"{best['m']:g}")
rec.figure("toy-tv-best", "that smallest TV to clean", float(best["tv"]))
rec.figure("toy-zero-gamma", "gamma of the fit whose zero-probability clean mass is reported", ZERO_GAMMA)
rec.figure("toy-zero-floor", "the floor m of the same fit's floored version", ZERO_FLOOR)
rec.figure("toy-zero-mass-nofloor", "clean probability mass the gamma=ZERO_GAMMA, m=0 fit gives probability 0", zero_mass[0.0])
rec.figure("toy-zero-mass-floor", "the same with the floor m=ZERO_FLOOR", zero_mass[ZERO_FLOOR])
diff = tv_mle - released["translation (IWSLT14)"]
_ = rec.figure("toy-direction", "whether TaiLr at the translation setting is closer to the clean distribution than MLE",
               "closer to it than MLE" if diff > 1e-12 else "no closer to it than MLE")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.8, 3.6))
for k, m in enumerate(floors):
    part = sweep[sweep["m"] == m]
    ax.plot(part["gamma"], part["tv"], color=list(plots.ROLE.values())[k], label=f"TaiLr, floor m = {m}")
ax.axhline(tv_mle, color=plots.ROLE["reference"], ls="--", label="MLE on the noisy data")
ax.axhline(tv_mle_clean, color=plots.ROLE["other"], ls=":", label="MLE on the clean data")
points: dict[tuple[float, float], list[str]] = {}  # settings that share a point get one label
for name, (g, _m, _) in tailr.RELEASED.items():
    points.setdefault((g, round(released[name], 12)), []).append(name.split(" (")[0])
for (g, tv), names in points.items():
    ax.plot(g, tv, "o", color="black", ms=5)
    ax.annotate(", ".join(names), (g, tv), fontsize="x-small", xytext=(3, 4), textcoords="offset points")
ax.set(xscale="log", xlabel=r"$\gamma$", ylabel="TV(fit, clean distribution)", title="A bigram model fitted to noisy data")
ax.legend(fontsize="x-small")
plots.publish("fig-noise-toy", fig)

# %% [markdown]
# ```{glue:figure} fig-noise-toy
# :name: fig-noise-toy
# :alt: Line plot of the total variation between the fitted bigram model and the clean distribution against gamma on a log axis, one line per floor, with dashed and dotted horizontal lines for maximum likelihood on noisy and on clean data and black dots at the released settings.
#
# The toy: TV between the bigram fit and the clean distribution, for TaiLr against $\gamma$ (one line per floor; black dots:
# the released settings, label smoothing left out), maximum likelihood on the noisy data (dashed) and on the clean data
# (dotted, the family's own error).
# ```
#
# Maximum likelihood on the noisy data ends {glue:text}`toy-tv-mle:.3f` from the clean distribution, against
# {glue:text}`toy-tv-mle-clean:.3f` for the same family fitted to clean data. TaiLr at the translation setting ends
# {glue:text}`toy-tv-released-translation:.3f` from it, {glue:text}`toy-direction`; the summarisation setting
# {glue:text}`toy-tv-released-summarization:.3f`; the two $\gamma=10^{-7}$ settings {glue:text}`toy-tv-released-synthetic:.3f`,
# within {glue:text}`released-vs-mle:.1g` of maximum likelihood's fit ({ref}`ch10-erratum-released`). The best point of
# the grid is $\gamma=${glue:text}`toy-best-gamma:.3g` with $m=${glue:text}`toy-best-floor` (TV
# {glue:text}`toy-tv-best:.3f`). Over {glue:text}`param-n_instances` random toys of the same kind, the translation
# setting is closer to clean than MLE (by more than {glue:text}`toy-gain-min:g` in TV) in
# {glue:text}`toy-closer-translation:.0%` of them (median gain {glue:text}`toy-gain-translation:.3f`), the
# summarisation setting in {glue:text}`toy-closer-summarization:.0%` (median gain
# {glue:text}`toy-gain-summarization:.3f`). Down-weighting can help only while the noise is what the model finds
# unlikely; it sharpens the clean part too, and without a floor the sharpening cuts support: the
# $\gamma=${glue:text}`toy-zero-gamma:g` fit with no floor gives probability $0$ to
# {glue:text}`toy-zero-mass-nofloor:.3f` of the clean mass, the same fit with $m=${glue:text}`toy-zero-floor:g` to
# {glue:text}`toy-zero-mass-floor:.3f`.

# %% [markdown]
# (ch10-neural)=
# ## Noisy data: fine-tuning a small language model
#
# The neural version: the prior {glue:text}`param-prior` is fine-tuned on {glue:text}`param-n_train_reviews` reviews it
# has not been trained on (the validation split), of which a fraction {glue:text}`param-noise_fraction` is corrupted
# (here {glue:text}`param-corruption`; `random` replaces each word of the review by a word drawn uniformly from all the words
# of the training reviews, `shuffle` permutes the review's own words; `lmdist.lm.finetune.corrupt`). Each run takes
# {glue:text}`param-steps` AdamW steps of {glue:text}`param-batch_size` windows of {glue:text}`param-block` tokens at peak
# learning rate {glue:text}`param-lr`, with maximum likelihood or with TaiLr (the released loss), for
# {glue:text}`param-n_seeds` training seeds each; the models are cached. We score {glue:text}`param-n_eval_reviews` clean
# held-out reviews (test split), each whole after an EOS, and compare perplexities $e^H$ ($H$ in nats per token).
# To see what TaiLr's weight can do here, we also compute, under the prior, the weight $w(p)$ of the first TaiLr setting
# on every token of the clean held-out reviews and of as many corrupted training reviews.

# %%
train_texts = data.texts("validation")[:n_train_reviews]
noisy = finetune.corrupt(train_texts, noise_fraction, seed, how=corruption)
held_out = data.texts("test")[:n_eval_reviews]
prior_lm, tok = models.load_lm(prior, device=device)
ppl_prior = finetune.perplexity(prior_lm, tok, held_out)
methods = [("MLE", "mle", 0.0, 0.0)] + [(f"TaiLr γ={g:g}, m={m:g}", "tailr", g, m) for g, m in zip(tailr_gammas, tailr_floors)]
runs = []
for s in range(n_seeds):
    for label, loss, g, m in methods:
        model, _, card = finetune.fine_tune(prior, noisy, loss=loss, gamma=g, min_weight=m, steps=steps, lr=lr,
                                            batch_size=batch_size, block=block, seed=seed * 1000 + s, device=device)
        runs.append({"method": label, "seed": s, "ppl": finetune.perplexity(model, tok, held_out)})
        del model
neural = pd.DataFrame([{"method": r["method"], "seed": r["seed"], "H": r["ppl"].mean_nll, "perplexity": r["ppl"].value} for r in runs])


def paired(a, b):
    """Mean of H_a - H_b and its 95 % interval: over seeds (t) when there are two or more, else over reviews."""
    d = (neural[neural.method == a].H.to_numpy() - neural[neural.method == b].H.to_numpy())
    if len(d) >= 2:
        h = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        return d.mean(), (d.mean() - h, d.mean() + h)
    pa, pb = (next(r["ppl"] for r in runs if r["method"] == x) for x in (a, b))
    diff = finetune.Perplexity(pa.nll - pb.nll, pa.tokens)
    return diff.mean_nll, (diff.mean_nll - 1.96 * diff.se(), diff.mean_nll + 1.96 * diff.se())

# %%
g0, m0 = tailr_gammas[0], tailr_floors[0]
bad = finetune.corrupted_indices(len(train_texts), noise_fraction, seed)[:n_eval_reviews]
weights = {name: tailr.weight(np.exp(knn.token_logprobs(prior_lm, tok, texts, 10 ** 7, device=device).logp), g0, m0)
           for name, texts in (("clean", held_out), ("noise", [noisy[i] for i in bad])) if texts}

# %% tags=["hide-input"]
for name in ("clean", "noise"):
    w = weights.get(name, np.array([np.nan]))    # no corrupted review when noise_fraction = 0
    what = "clean held-out" if name == "clean" else "corrupted training"
    rec.figure(f"nn-floor-{name}", f"fraction of {what} tokens whose weight under the prior is the floor (p < p_m)",
               float(np.mean(w <= m0 + 1e-12)))
    rec.figure(f"nn-weight-{name}", f"mean TaiLr weight under the prior of the {what} tokens", float(w.mean()))

# %% tags=["hide-input"]
mean_ppl = neural.groupby("method", sort=False)["perplexity"].mean()
rec.figure("nn-ppl-prior", "perplexity of the prior on the clean held-out reviews", ppl_prior.value,
           interval=tuple(np.exp(ppl_prior.mean_nll + np.array([-1.96, 1.96]) * ppl_prior.se())))
rec.figure("nn-ppl-mle", "perplexity after MLE fine-tuning on the noisy reviews (mean over seeds)", mean_ppl["MLE"])
d_mle = neural[neural.method == "MLE"].H.mean() - ppl_prior.mean_nll
rec.figure("nn-mle-minus-prior", "H(MLE fine-tuned) - H(prior), nats per token (mean over seeds)", d_mle)
for k, (label, *_) in enumerate(methods[1:]):
    d, ci = paired(label, "MLE")
    rec.figure(f"nn-ppl-tailr-{k}", f"perplexity after {label} fine-tuning on the noisy reviews (mean over seeds)", mean_ppl[label])
    rec.figure(f"nn-tailr-minus-mle-{k}", f"H({label}) - H(MLE), nats per token, 95 % interval ("
               + ("over seeds)" if n_seeds >= 2 else "over reviews, one seed)"), d, interval=ci)
    rec.figure(f"nn-direction-{k}", f"whether {label} has a lower clean perplexity than MLE (interval excludes 0)",
               "lower than" if ci[1] < 0 else "higher than" if ci[0] > 0 else "not distinguishable from")
rec.figure("nn-label-0", "the first TaiLr setting", methods[1][0])
rec.figure("prior-vocab", "vocabulary size V of the neural prior", len(tok))
rec.figure("cold-start-gamma", "gamma of the translation setting", tailr.RELEASED["translation (IWSLT14)"][0])
_ = rec.figure("cold-start-weight", "unfloored TaiLr weight w(1/V) at the translation gamma",
               float(tailr.weight(np.array([1.0 / len(tok)]), tailr.RELEASED["translation (IWSLT14)"][0], 0.0)[0]))

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.4, 3.2))
for k, (label, *_) in enumerate(methods):
    part = neural[neural.method == label]
    ax.plot(part["perplexity"], np.full(len(part), k) + rng.uniform(-0.1, 0.1, len(part)), "o",
            color=list(plots.ROLE.values())[k % 6], ms=6)
ax.axvline(ppl_prior.value, color=plots.ROLE["reference"], ls="--", label="prior, before fine-tuning")
ax.set(yticks=range(len(methods)), yticklabels=[m[0] for m in methods], xlabel="perplexity on clean held-out reviews",
       title="Fine-tuning on noisy reviews")
ax.legend(fontsize="x-small")
plots.publish("fig-neural-noise", fig)

# %% [markdown]
# ```{glue:figure} fig-neural-noise
# :name: fig-neural-noise
# :alt: Dot plot of the perplexity on clean held-out reviews of each fine-tuned model, one row per loss and one dot per training seed, with a dashed vertical line at the prior's perplexity.
#
# Perplexity on clean held-out reviews after fine-tuning on reviews of which a fraction is corrupted; one dot per
# training seed; dashed: the prior before fine-tuning.
# ```
#
# Before fine-tuning the prior's perplexity is {glue:text}`nn-ppl-prior:.2f`; maximum likelihood on the noisy reviews
# moves it to {glue:text}`nn-ppl-mle:.2f` (a change of {glue:text}`nn-mle-minus-prior:.3f` nats per token).
# {glue:text}`nn-label-0` reaches {glue:text}`nn-ppl-tailr-0:.2f`: {glue:text}`nn-direction-0` MLE's, a difference of
# {glue:text}`nn-tailr-minus-mle-0:.3f` nats per token (95 % interval in the {ref}`reproduction report <report-10>`).
# What the weight can do is limited on a model this small: under the prior, the weight sits at the floor for
# {glue:text}`nn-floor-clean:.0%` of the *clean* held-out tokens and {glue:text}`nn-floor-noise:.0%` of the corrupted
# ones (mean weight {glue:text}`nn-weight-clean:.3f` against {glue:text}`nn-weight-noise:.3f`). The closer these two
# are, the less TaiLr tells clean tokens from noise, and the more it merely lowers the effective learning rate. The
# paper-profile run adds the other released settings and more seeds.

# %% [markdown]
# (ch10-erratum-released)=
# ## Erratum: the slide's TaiLr is not the released TaiLr
#
# The slide's formula has no floor and no label smoothing; the released criterion has both, and they change what is
# optimised ({prf:ref}`thm-tailr-objective`): the floor makes the objective logarithmic below $p_m$, label smoothing adds
# an unweighted $\tfrac{\varepsilon}{V}\sum_v-\log p_\theta(v)$. Two of the four released settings use $\gamma=10^{-7}$,
# where $w(p)=1$ to within $10^{-7}/p$: TaiLr *is* maximum likelihood there except for tokens below $p_m$, which is
# {glue:text}`pm-synthetic:.2g` at $m=0.2$ — on the toy the two fits are {glue:text}`released-vs-mle:.1g` apart in TV.

# %%
pm_synthetic = tailr.floor_start(*tailr.RELEASED["synthetic (COCO oracle)"][:2])
tv_released_mle = it.tvd(tailr.fit_tied(space, ld, context, *tailr.RELEASED["synthetic (COCO oracle)"][:2]),
                         tailr.fit_tied(space, ld, context, 0.0, 0.0))

# %% tags=["hide-input"]
rec.figure("pm-synthetic", "p_m, the probability below which the floor acts, at gamma=1e-7, m=0.2", pm_synthetic)
_ = rec.figure("released-vs-mle", "TV between the toy fits at gamma=1e-7, m=0.2 and MLE", tv_released_mle)

# %% [markdown]
# (ch10-paper)=
# ## The published results
#
# The slides report TaiLr ahead of maximum likelihood on machine translation, long text generation and summarisation
# {cite:p}`ji2023tailr`. We do not run those tasks (they need the paper's data and models); the figures are listed in the
# {ref}`reproduction report <report-10>` beside this chapter's nearest analogue, the held-out perplexity difference of the
# neural experiment, and marked not comparable.

# %% tags=["hide-input"]
PUBLISHED = [("iwslt-test-bleu", "IWSLT14 De-En test BLEU, TaiLr (MLE: 34.27)", 35.05),
             ("iwslt-dev-bleu", "IWSLT14 De-En dev BLEU, TaiLr (MLE: 35.81)", 36.44),
             ("bibert-test-bleu", "IWSLT14 test BLEU, BiBERT + TaiLr, one-way (BiBERT: 38.01)", 39.12),
             ("wp-mauve", "WritingPrompts MAUVE, TaiLr (MLE: 56.42)", 64.64),
             ("wp-rep8", "WritingPrompts rep-8, TaiLr (MLE: 10.31)", 9.73),
             ("gigaword-rougel", "Gigaword ROUGE-L, TaiLr (MLE: 35.70)", 36.24)]
for key, statement, value in PUBLISHED:
    rec.figure(f"paper-{key}", statement, "not run", paper_value=value, source=SRC, comparable=False,
               note="a task this book does not run; the chapter's analogue is nn-tailr-minus-mle-0 (held-out perplexity)")

# %% [markdown]
# (ch10-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-10-priors
#
# With class priors $\pi$ and $1-\pi$, show that the optimal error is $\sum_y\min(\pi p(y),(1-\pi)q(y))$, and that it is
# not a function of $\mathrm{TV}(p,q)$ alone unless $\pi=\tfrac12$.
# ```
#
# ```{solution} ex-10-priors
# :class: dropdown
#
# As in {prf:ref}`thm-tv-bayes`, term by term. For $\pi\ne\tfrac12$ take $p=q$ (error $\min(\pi,1-\pi)$) and two
# disjoint $p,q$ (error 0): TV is 0 and 1; now take $p,q$ with TV $\tfrac12$ in two ways — $p=(1,0)$, $q=(\tfrac12,\tfrac12)$
# and its mirror $p=(\tfrac12,\tfrac12)$, $q=(1,0)$ — whose errors $\min(\pi,\tfrac{1-\pi}2)$ and $\min(\tfrac\pi2,1-\pi)$
# differ.
# ```
#
# ```{exercise}
# :label: ex-10-gamma-one
#
# Show that at $\gamma=1$, $m=0$, the TaiLr objective of a sequence model is $\mathbb E_{y\sim p_d}\sum_t(1-p_\theta(y_t\mid y_{<t}))$,
# and that over all autoregressive models it is minimised by greedy decoding of $p_d$'s next-token distributions.
# ```
#
# ```{solution} ex-10-gamma-one
# :class: dropdown
#
# $L_{1,0}(p)=1-p$ ({prf:ref}`thm-tailr-objective`). The objective splits over prefixes $h$ into
# $\Pr_{p_d}(h)\sum_v p_d(v\mid h)(1-q(v\mid h))$, each minimised by a point mass on $\arg\max_v p_d(v\mid h)$
# ({prf:ref}`thm-tailr-optimum`); the resulting model is deterministic: greedy decoding.
# ```
#
# ```{exercise}
# :label: ex-10-floor
#
# For $m>0$ show that every token with $p_d(v)>0$ gets $q^*(v)>0$, and that $q^*\to p_d$ as $m\to1$.
# ```
#
# ```{solution} ex-10-floor
# :class: dropdown
#
# Below $p_m$, $L'(q)=-m/q\to-\infty$ as $q\to0$, so the KKT condition $p_d(v)L'(q(v))=-\lambda$ has a positive solution for
# every $p_d(v)>0$: $q^*(v)\ge\min(p_m,m\,p_d(v)/\lambda)$. As $m\to1$, $p_m\to1$ and every token is on the floor branch,
# $q^*=m\,p_d/\lambda$, normalised: $p_d$.
# ```
#
# (ch10-summary)=
# ## Summary
#
# * TV is one minus twice the Bayes error, to {glue:text}`tv-bayes-identity:.1g` on random pairs; a fitted classifier's
#   test error gives a lower confidence bound on TV (estimate {glue:text}`tv-fitted-estimate:.3f`, exact
#   {glue:text}`toy-tv-data-model:.3f`).
# * The slides' gradients of forward KL and TV are exact in expectation under $p_d$ (finite differences to
#   {glue:text}`fkl-gradient-fd:.1g` and {glue:text}`tv-gradient-fd:.1g`); the TV one needs $p_d(y)$.
# * The released TaiLr loss is the exact gradient of $L_{\gamma,m}$ (to {glue:text}`tailr-autograd-identity:.1g`):
#   maximum likelihood as $\gamma\to0$, the expected token probability $1-p$ at $\gamma=1$ — not TV: at $p_\theta=p_d$
#   its expected gradient is not zero (median norm {glue:text}`gamma1-not-stationary:.3f`), its median cosine with the
#   TV gradient is {glue:text}`gamma1-cosine-median:.2f`, and a small step raises TV in
#   {glue:text}`gamma1-wrong-way:.0%` of random instances.
# * Its optimum sharpens the data distribution and, without the floor, cuts its tail to zero
#   ({glue:text}`toy-zero-mass-nofloor:.3f` of the clean mass on the toy; {glue:text}`toy-zero-mass-floor:.3f` with
#   $m=${glue:text}`toy-zero-floor:g`).
# * On the noisy toy, MLE ends {glue:text}`toy-tv-mle:.3f` from the clean distribution and TaiLr at the translation setting
#   {glue:text}`toy-tv-released-translation:.3f` ({glue:text}`toy-direction`); fine-tuning the small LM on noisy reviews, TaiLr's
#   clean perplexity is {glue:text}`nn-direction-0` MLE's ({glue:text}`nn-ppl-tailr-0:.2f` against {glue:text}`nn-ppl-mle:.2f`).
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-10>`;
# {ref}`execution-status` says when it was last run.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
