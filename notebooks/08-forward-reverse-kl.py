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
# # Forward and reverse KL
#
# Maximum likelihood and KL-regularised RL both fit a model to a distribution by a KL divergence, but in
# opposite directions: maximum likelihood minimises $\mathrm{KL}(p_d\|p_\theta)$ from the data, RLHF minimises
# $\mathrm{KL}(\pi_\theta\|\pi^*_\beta)$ to the Gibbs distribution of {doc}`01-kl-regularised-alignment`. When the
# model family contains the target the direction does not matter; when it does not — always, for a real
# language model — the two fits differ. {cite:t}`ji2024beyond` builds on this reading; this chapter derives
# each of its statements and checks it exactly on a finite string space, and says where a slide is loose.
#
# :::{admonition} About this chapter
# :class: chapter-opening
#
# - **Shows.** Maximum likelihood is forward-KL fitting (exactly, up to the data's entropy). In a misspecified
#   family the forward fit covers the modes of a target and the reverse fit seeks one. The RLHF optimum within
#   any family is the reverse-KL projection of $\pi^*_\beta$; in a mixture family, two independent, certified fits
#   of the two problems agree. The generalised objective with $\beta_r$ and $\beta_\pi$ has the optimum
#   $\pi^*_{\beta_r\beta_\pi}$ only over all policies, and only up to the mass a policy puts where $\pi_{\mathrm{sft}}$
#   has none. Within a misspecified family the split of $\beta$ changes the optimum: at small $\beta_\pi$ it is a
#   least-squares fit weighted by the reference, shown with a sticky reference and a memoryless family.
# - **Assumes.** {doc}`01-kl-regularised-alignment` (the Gibbs distribution and its theorem). Probability on
#   finite sets, the KL divergence, gradients.
# - **Runs.** This run: profile {glue:text}`param-profile`, {glue:text}`run-time`; the committed
#   paper-profile run: {glue:text}`paper-run-time`.
# - **Re-execute.** `lmdist run notebooks/08-forward-reverse-kl.py --profile smoke -p seed=1`
#   (`lmdist params notebooks/08-forward-reverse-kl.py` lists every parameter).
# :::
#
# The fits live in `lmdist.exact.projections` (the memoryless family, the two KL projections, the
# geometric-mean policy), the closed forms in `lmdist.exact.align`.

# %% tags=["parameters"]
profile = "default"    # smoke | default | paper
seed = 0
device = "auto"
alphabet_size = None   # None: the profile's value
max_len = None
n_samples = None
n_models = None
mix_weight = None
mode_strength = None
n_starts = None
n_grid = None
n_instances = None
n_outcomes = None
n_features = None
n_components = None
beta = None
stickiness = None
n_rewards = None
n_splits = None
n_split_starts = None
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"alphabet_size": 2, "max_len": 4, "n_samples": 200, "n_models": 10, "mix_weight": 0.6,
              "mode_strength": 2.5, "n_starts": 6, "n_grid": 25, "n_instances": 15, "n_outcomes": 10,
              "n_features": 2, "n_components": 3, "beta": 0.5, "stickiness": 0.9, "n_rewards": 3, "n_splits": 3,
              "n_split_starts": 1},
    "default": {"alphabet_size": 3, "max_len": 5, "n_samples": 2000, "n_models": 40, "mix_weight": 0.6,
                "mode_strength": 2.5, "n_starts": 10, "n_grid": 41, "n_instances": 40, "n_outcomes": 16,
                "n_features": 2, "n_components": 4, "beta": 0.5, "stickiness": 0.9, "n_rewards": 6, "n_splits": 5,
                "n_split_starts": 2},
    "paper": {"alphabet_size": 4, "max_len": 6, "n_samples": 20000, "n_models": 200, "mix_weight": 0.6,
              "mode_strength": 2.5, "n_starts": 20, "n_grid": 81, "n_instances": 400, "n_outcomes": 30,
              "n_features": 3, "n_components": 6, "beta": 0.5, "stickiness": 0.9, "n_rewards": 12, "n_splits": 7,
              "n_split_starts": 3},
}
RULES = {
    "alphabet_size": {"type": "int", "min": 1, "max": 6, "doc": "V, the number of tokens of the MLE and split experiments"},
    "max_len": {"type": "int", "min": 2, "max": 7, "doc": "the longest string of the toy spaces"},
    "n_samples": {"type": "int", "min": 1, "max": 1000000, "doc": "strings drawn from the data distribution for maximum likelihood"},
    "n_models": {"type": "int", "min": 1, "max": 10000, "doc": "random models p_theta on which the MLE identity is checked"},
    "mix_weight": {"type": "float", "min": 0.01, "max": 0.99, "doc": "weight of the 'a' mode of the two-mode target"},
    "mode_strength": {"type": "float", "min": 0.1, "max": 10.0, "doc": "logit gap that makes each mode prefer its token"},
    "n_starts": {"type": "int", "min": 4, "max": 1000, "doc": "starts of the reverse-KL fit of the two-mode target, evenly spaced on a circle"},
    "n_grid": {"type": "int", "min": 5, "max": 401, "doc": "grid points per axis of the KL landscapes"},
    "n_instances": {"type": "int", "min": 1, "max": 100000, "doc": "random instances of each theorem check"},
    "n_outcomes": {"type": "int", "min": 3, "max": 200, "doc": "outcomes of a random instance"},
    "n_features": {"type": "int", "min": 1, "max": 20, "doc": "dimension of the log-linear policy family of the random instances"},
    "n_components": {"type": "int", "min": 2, "max": 50, "doc": "policies mixed in the mixture family of the independent-fits check"},
    "beta": {"type": "float", "min": 0.01, "max": 1.0, "doc": "the KL coefficient of the split experiment (DPO's split needs beta <= 1)"},
    "stickiness": {"type": "float", "min": 0.01, "max": 0.99, "doc": "probability that the split experiment's pi_sft repeats its previous token"},
    "n_rewards": {"type": "int", "min": 1, "max": 1000, "doc": "random rewards of the split experiment"},
    "n_splits": {"type": "int", "min": 2, "max": 200, "doc": "values of beta_pi in [beta, 1] in the split experiment"},
    "n_split_starts": {"type": "int", "min": 1, "max": 100, "doc": "starts of each fit of the split experiment"},
}

# %%
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy.optimize import minimize
from scipy.special import logsumexp

from lmdist.book import chapter, plots
from lmdist.exact import align, instances, projections, strings
from lmdist.exact import infotheory as it

rec = chapter.start(globals())
rng = np.random.default_rng(seed)
SRC = "Ji 2024 (slides)"

# %% [markdown]
# (ch08-mle)=
# ## Maximum likelihood is forward KL
#
# ```{prf:theorem} MLE as forward KL
# :label: thm-mle-fkl
#
# Let $p_d$ be a distribution on a finite set $\mathcal Y$ and $p_\theta$ a model on it. Then
#
# $$\mathbb E_{y\sim p_d}[-\log p_\theta(y)] = \mathrm{KL}(p_d\,\|\,p_\theta) + H(p_d),$$
#
# both sides $+\infty$ exactly when $p_\theta$ misses part of the support of $p_d$. Taking $p_d=\hat p_N$, the
# empirical distribution of $N$ strings, the left side is the mean negative log-likelihood of the sample; since
# $H(p_d)$ does not depend on $\theta$, maximum likelihood *is* forward-KL minimisation.
# ```
#
# ```{prf:proof}
# On $\mathrm{supp}\,p_d$ write $-\log p_\theta = \log\frac{p_d}{p_\theta} - \log p_d$ and take the expectation
# under $p_d$: the first term gives $\mathrm{KL}(p_d\|p_\theta)$, the second $H(p_d)$, which is finite on a finite
# set. If $p_\theta(y)=0<p_d(y)$ for some $y$, both the left side and the KL are $+\infty$.
# ```
#
# The slide states this with $p_d$ the data distribution; the sample's version is the same identity with
# $\hat p_N$. On a countable string space $H(p_d)$ can be infinite, and then the identity reads
# $\infty=\infty$ and says nothing: the finite-entropy hypothesis is needed. We check it exactly: the data
# distribution is a random autoregressive model on all strings of length up to {glue:text}`param-max_len` over
# {glue:text}`param-alphabet_size` tokens, and {glue:text}`param-n_models` random models, with holes in their
# support, are scored by both sides — the likelihood of the sample directly, the divergence and entropy by
# their own formulas.

# %%
space = strings.StringSpace(alphabet_size, max_len)
log_pd = strings.random_lm(space, rng).logp
sample = strings.autoregressive(space, log_pd).sample(rng, n_samples)
with np.errstate(divide="ignore"):
    log_emp = np.log(np.bincount(sample, minlength=space.size) / n_samples)   # the empirical distribution
models = [strings.random_lm(space, rng, concentration=c, hole_prob=instances.HOLE_PROB).logp
          for c in 10 ** rng.uniform(-1, 1, n_models)]


def gap(a, b):
    """|a - b| relative to 1 + |a|; 0 when both are +inf, inf when only one is."""
    if np.isinf(a) or np.isinf(b):
        return 0.0 if a == b else np.inf
    return abs(a - b) / (1 + abs(a))


nll = [-lq[sample].mean() for lq in models]                      # the MLE loss of the sample
pop = [-np.sum(np.exp(log_pd) * lq) if np.all(lq > -np.inf) else np.inf for lq in models]
err_emp = max(gap(a, it.kl(log_emp, lq) + it.entropy(log_emp)) for a, lq in zip(nll, models))
err_pop = max(gap(a, it.kl(log_pd, lq) + it.entropy(log_pd)) for a, lq in zip(pop, models))

# %% tags=["hide-input"]
rec.check("mle-fkl-sample", "max relative |mean NLL of the sample - (KL(p_hat||p_theta) + H(p_hat))| over the random models",
          err_emp, at_most=1e-12, source=SRC)
rec.check("mle-fkl-population", "max relative |E_pd[-log p_theta] - (KL(p_d||p_theta) + H(p_d))| over the random models",
          err_pop, at_most=1e-12, source=SRC)
_ = rec.figure("mle-missing-support", "random models that miss part of the sample's support (both sides +inf)",
               int(np.isinf(nll).sum()))

# %% [markdown]
# The two sides differ by at most {glue:text}`mle-fkl-sample:.1g` (relative) on the sample, and by at most
# {glue:text}`mle-fkl-population:.1g` under $p_d$. {glue:text}`mle-missing-support` of the {glue:text}`param-n_models` models give the
# sample likelihood zero, and there both sides are $+\infty$.
#
# Within a family, maximum likelihood is therefore the *forward-KL projection* of $\hat p_N$. For the
# *memoryless* family — one next-symbol distribution $u=\mathrm{softmax}(\eta)$ over the tokens and EOS, used at
# every prefix, with EOS forced at length $L$ — that projection has a closed form
# ({ref}`ex-08-unigram`): $u(v)$ is the frequency of symbol $v$ among the symbols the sample's strings emit
# (EOS counted only where it was a choice, $|y|<L$). We compare it with a numerical minimisation of
# $\mathrm{KL}(\hat p_N\|q_\eta)$.

# %%
def memoryless(eta):
    return projections.memoryless(space, eta)


log_u_mle = projections.memoryless_mle(space, log_emp)
lq_mle = memoryless(log_u_mle)
lq_num, _ = projections.project(memoryless, log_emp, "forward", [np.zeros(alphabet_size + 1)])

# %% tags=["hide-input"]
_ = rec.check("mle-unigram-closed-form", "TV(numerical forward-KL fit, closed-form symbol frequencies) in the memoryless family",
              it.tvd(lq_num, lq_mle), at_most=1e-5)

# %% [markdown]
# The two agree to {glue:text}`mle-unigram-closed-form:.1g` in total variation (the optimiser's tolerance).
#
# (ch08-modes)=
# ## Mode covering and mode seeking
#
# The slides' example of misspecification is a mixture of Gaussians fitted by one Gaussian. Its string
# analogue: a target with two modes, a mixture of two memoryless models over the tokens `a` and `b`, one
# preferring `a` and one `b` (logit gap {glue:text}`param-mode_strength`, weight {glue:text}`param-mix_weight`
# on the `a` mode), fitted within the memoryless family. The family has two free parameters here ($u$ is unchanged
# by a shift of $\eta$, so we fix $\eta_{\mathrm{EOS}}=0$), and both KLs can be drawn over the whole plane.

# %%
space2 = strings.StringSpace(2, max_len)


def memoryless2(eta_ab):
    """The memoryless model over {a, b} with logits (eta_a, eta_b, 0)."""
    return projections.memoryless(space2, np.r_[eta_ab, 0.0])


mode_a = memoryless2(np.array([mode_strength, -mode_strength]))
mode_b = memoryless2(np.array([-mode_strength, mode_strength]))
log_mix = np.logaddexp(np.log(mix_weight) + mode_a, np.log1p(-mix_weight) + mode_b)
lq_fwd = memoryless2(projections.memoryless_mle(space2, log_mix)[:2] - projections.memoryless_mle(space2, log_mix)[2])
BOX = 6.0   # the fits stay in [-BOX, BOX]^2, the square of the landscapes below
phase = rng.uniform(0, 2 * np.pi)   # the starts: evenly spaced on a circle of radius BOX / 2, randomly rotated
starts = [BOX / 2 * np.array([np.cos(a), np.sin(a)]) for a in phase + 2 * np.pi * np.arange(n_starts) / n_starts]
rev_fits = [projections.project(memoryless2, log_mix, "reverse", [s], tol=1e-12, bounds=[(-BOX, BOX)] * 2,
                                jacobian=lambda e: projections.memoryless_jacobian(space2, np.r_[e, 0.0])[:, :2])
            for s in starts]   # one fit per start
rev_kl = np.array([it.kl(lq, log_mix) for lq, _ in rev_fits])
lq_rev, eta_rev = rev_fits[int(np.argmin(rev_kl))]
# local minima: fits more than 1e-3 apart in TV are different minima
minima = []
for lq, eta in sorted(rev_fits, key=lambda f: it.kl(f[0], log_mix)):
    if all(it.tvd(lq, m) > 1e-3 for m, _ in minima):
        minima.append((lq, eta))

# %% [markdown]
# The forward fit is the closed form of {ref}`ex-08-unigram`. The reverse fit is run once from each of
# {glue:text}`param-n_starts` starts, evenly spaced on a circle with a random rotation, and kept inside the square
# of {numref}`fig-kl-landscapes`. Far outside it the model is almost a point mass and the gradient vanishes, so an
# unbounded fit can stall there. The distinct end points are the local minima.

# %%
both = (space2.tokens == 0).any(1) & (space2.tokens == 1).any(1)    # strings that mix a and b
mass = {name: np.exp(logsumexp(lq[both])) for name, lq in (("target", log_mix), ("fwd", lq_fwd), ("rev", lq_rev))}
mode_of = ["a" if eta[0] > eta[1] else "b" for _, eta in minima]

# %% tags=["hide-input"]
rec.figure("rev-local-minima", "distinct local minima reached by the reverse-KL fits", len(minima), source=SRC)
rec.figure("rev-best-mode", "the mode the best reverse-KL fit sits on", mode_of[0])
rec.figure("rev-kl-best", "KL(q_rev||p_mix) at the best reverse fit", it.kl(lq_rev, log_mix))
rec.figure("rev-kl-worst", "KL(q||p_mix) at the worst local minimum of the reverse fit", it.kl(minima[-1][0], log_mix))
rec.figure("mixed-mass-target", "target mass on strings that contain both a and b", mass["target"])
rec.figure("mixed-mass-fwd", "forward-fit mass on strings that contain both a and b", mass["fwd"])
rec.figure("mixed-mass-rev", "best reverse-fit mass on strings that contain both a and b", mass["rev"])
dh = it.entropy(lq_fwd) - it.entropy(lq_rev)
rec.figure("fwd-rev-entropy", "H(forward fit) - H(best reverse fit), nats", dh)
_ = rec.figure("fwd-rev-entropy-direction", "whether the forward fit has more entropy", "more" if dh > 0 else "less")

# %% tags=["hide-input"]
grid = np.linspace(-BOX, BOX, n_grid)
land = {"forward": np.empty((n_grid, n_grid)), "reverse": np.empty((n_grid, n_grid))}
for i, ea in enumerate(grid):
    for j, eb in enumerate(grid):
        lq = memoryless2(np.array([ea, eb]))
        land["forward"][j, i], land["reverse"][j, i] = it.kl(log_mix, lq), it.kl(lq, log_mix)
fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4), sharey=True)
for ax, (name, z) in zip(axes, land.items()):
    cs = ax.contourf(grid, grid, np.log10(z), levels=14, cmap="viridis")
    ax.set(title=f"log10 {name} KL", xlabel=r"$\eta_a$")
    for _, eta in minima:
        ax.plot(*eta, "o", color=plots.ROLE["aligned"], ms=6, mec="white")
    eta_f = projections.memoryless_mle(space2, log_mix)
    ax.plot(*(eta_f[:2] - eta_f[2]), "s", color=plots.ROLE["prior"], ms=6, mec="white")
    fig.colorbar(cs, ax=ax, shrink=0.8)
axes[0].set_ylabel(r"$\eta_b$")
plots.publish("fig-kl-landscapes", fig)

# %% [markdown]
# ```{glue:figure} fig-kl-landscapes
# :name: fig-kl-landscapes
# :alt: Two contour maps over the logits of a and b of the memoryless model: the forward KL to the two-mode target, with one basin, and the reverse KL, with a basin near each mode; squares mark the forward fit, circles the local minima of the reverse fit.
#
# The two KLs over the memoryless family (logits $\eta_a,\eta_b$; $\eta_{\mathrm{EOS}}=0$). Square: the forward
# fit; circles: the local minima reached by the reverse fits. The forward KL has one basin between the modes;
# the reverse KL has one basin per mode.
# ```

# %% tags=["hide-input"]
top = np.argsort(-log_mix)[:rec.figure("n-top-strings", "strings shown in the bar chart of the fits", 12)]
models_shown = {r"target $p_{\mathrm{mix}}$": log_mix, "forward fit": lq_fwd, "best reverse fit": lq_rev}
if len(minima) > 1:
    models_shown["other reverse minimum"] = minima[1][0]
df = pd.DataFrame([{"string": space2.decode(k), "probability": np.exp(lq[k]), "model": name}
                   for name, lq in models_shown.items() for k in top])
fig, ax = plt.subplots(figsize=(7.5, 3.4))
sns.barplot(df, x="string", y="probability", hue="model", ax=ax, saturation=1,
            palette=[plots.ROLE[k] for k in ("aligned", "prior", "reference", "other")][:len(models_shown)])
ax.set(title="Fitting a two-mode target with a memoryless model")
ax.legend(fontsize="small")
plots.publish("fig-mode-fits", fig)

# %% [markdown]
# ```{glue:figure} fig-mode-fits
# :name: fig-mode-fits
# :alt: Grouped bar chart over the most likely strings of the two-mode target: the target's probabilities, the forward fit spread over both modes, and the reverse fits each concentrated on one mode.
#
# The {glue:text}`n-top-strings` most likely strings of the two-mode target, with the forward fit and the reverse
# fits.
# ```
#
# The forward fit ({numref}`fig-mode-fits`, squares in {numref}`fig-kl-landscapes`) must give every string of
# the target some probability, so it sits between the modes. It puts {glue:text}`mixed-mass-fwd:.3f` of its mass
# on strings that mix `a` and `b`, where the target has {glue:text}`mixed-mass-target:.3f`. This is *mode
# covering*; the forward fit has {glue:text}`fwd-rev-entropy-direction` entropy than the best reverse fit
# (difference {glue:text}`fwd-rev-entropy:.3f` nats). The reverse fit pays for every string it produces that the
# target does not, so it settles on one mode ({glue:text}`mixed-mass-rev:.3f` of its mass on mixed strings). This
# is *mode seeking*.
#
# "Mode seeking" is loose in one respect the slides do not mention: the reverse KL is not convex. The reverse fits
# end at {glue:text}`rev-local-minima` distinct local minima (circles in {numref}`fig-kl-landscapes`), and
# which one a fit reaches depends on its start. The best sits on the mode that prefers
# {glue:text}`rev-best-mode`, with KL {glue:text}`rev-kl-best:.3f`; the worst has {glue:text}`rev-kl-worst:.3f`. A gradient method finds *a* mode, not necessarily the best one.
#
# (ch08-rlhf-reverse)=
# ## The RLHF objective is a reverse-KL projection
#
# ```{prf:theorem} RLHF within a family
# :label: thm-rlhf-projection
#
# Let $\pi^*_\beta=\pi_{\mathrm{sft}}e^{r/\beta}/Z_\beta$ with $Z_\beta<\infty$. For every policy $\pi$,
#
# $$\begin{aligned}
# J_\beta(\pi)&=\mathbb E_\pi r-\beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{sft}})\\
# &=\beta\log Z_\beta-\beta\,\mathrm{KL}(\pi\,\|\,\pi^*_\beta).
# \end{aligned}$$
#
# Hence for *any* family $\{\pi_\theta\}$, $\arg\max_\theta J_\beta(\pi_\theta)=\arg\min_\theta\mathrm{KL}(\pi_\theta\|\pi^*_\beta)$:
# the RLHF optimum in the family is the reverse-KL projection of $\pi^*_\beta$ onto it.
# ```
#
# ```{prf:proof}
# The identity is the Gibbs theorem of {doc}`01-kl-regularised-alignment`. Since $\beta>0$ and $\beta\log Z_\beta$
# does not depend on $\theta$, $J_\beta(\pi_\theta)$ is a decreasing function of $\mathrm{KL}(\pi_\theta\|\pi^*_\beta)$,
# so the two problems have the same maximisers (and the same local ones).
# ```
#
# The slide states the equivalence with a prompt distribution and attributes it to {cite:t}`korbak2022rlkl`.
# Per prompt the identity holds with $Z_\beta(x)$, and $\mathbb E_x\beta\log Z_\beta(x)$ does not depend on
# $\theta$, so the prompt average changes nothing. The slide writes the target as $\pi^*_{\beta_r}$; for the plain
# objective with coefficient $\beta$ the target is $\pi^*_\beta$ (the subscript $\beta_r$ belongs to the
# generalised objective below). And "equivalent" needs $Z_\beta<\infty$ ({doc}`01-kl-regularised-alignment`).
#
# We check the theorem on {glue:text}`param-n_instances` random instances drawn by `lmdist.exact.instances`:
# {glue:text}`param-n_outcomes` outcomes, with holes; concentration and reward scale log-uniform between
# {glue:text}`scale-min:g` and {glue:text}`scale-max:g`; $\beta$ log-uniform between {glue:text}`beta-min:g` and
# {glue:text}`beta-max:g`. First the identity itself, on a cloud of {glue:text}`cloud-size` members of a
# *log-linear* family $\pi_\theta\propto\pi_{\mathrm{sft}}e^{\Phi\theta}$, with {glue:text}`param-n_features` random
# Gaussian features per instance. The family contains $\pi^*_\beta$ only if $r$ is in the span of the features
# (almost never).

# %%
SCALES = (rec.figure("scale-min", "smallest concentration and reward scale of the random instances", 0.1),
          rec.figure("scale-max", "largest concentration and reward scale of the random instances", 10.0))
BETAS = (rec.figure("beta-min", "smallest beta of the random instances", 0.05),
         rec.figure("beta-max", "largest beta of the random instances", 20.0))
N_CLOUD = rec.figure("cloud-size", "members of the log-linear family per instance", 50)


def log_uniform(rng, lo_hi):
    """A draw log-uniform between the two ends of lo_hi."""
    return 10 ** rng.uniform(*np.log10(lo_hi))


def rlhf_instance(rng):
    """One random instance: (log pi_sft, r, beta)."""
    lsft = instances.random_logdist(rng, n_outcomes, concentration=log_uniform(rng, SCALES))
    rr = instances.random_reward(rng, n_outcomes, scale=log_uniform(rng, SCALES))
    return lsft, rr, log_uniform(rng, BETAS)


# %%
def discordant(a, b, tol):
    """Pairs (i, j) that a ranks one way and b the other, each by more than tol."""
    da, db = a[:, None] - a[None, :], b[:, None] - b[None, :]
    return int(((da > tol) & (db < -tol)).sum())


def second_differences(lsft, rr, b, phi, rng, n=21):
    """J_beta along a random line of the log-linear family; its largest second difference, relative."""
    th0, d = 2 * rng.normal(size=n_features), rng.normal(size=n_features)
    j = np.array([align.objective(it.normalize(lsft + phi @ (th0 + t * d)), lsft, rr, b) for t in np.linspace(-3, 3, n)])
    return (j[2:] - 2 * j[1:-1] + j[:-2]).max() / (1 + np.abs(j).max())


rows = []
for _ in range(n_instances):
    lsft, rr, b = rlhf_instance(rng)
    phi = rng.normal(size=(n_outcomes, n_features))
    target = align.gibbs(lsft, rr, b)
    cloud = [it.normalize(lsft + phi @ th) for th in 3 * rng.normal(size=(N_CLOUD, n_features))]
    j_c = np.array([align.objective(lq, lsft, rr, b) for lq in cloud])
    ident = b * align.log_partition(lsft, rr, b) - b * np.array([it.kl(lq, target) for lq in cloud])
    rows.append({"identity": (np.abs(j_c - ident) / (1 + np.abs(j_c))).max(),
                 "fwd discordant": discordant(j_c, -np.array([it.kl(target, lq) for lq in cloud]), 1e-9 * (1 + np.abs(j_c).max())),
                 "convexity": second_differences(lsft, rr, b, phi, rng)})
cloud_df = pd.DataFrame(rows)

# %% tags=["hide-input"]
rec.check("rlhf-identity", "max relative |J_beta(pi) - (beta log Z - beta KL(pi||pi*_beta))| over the members of every instance's family",
          cloud_df["identity"].max(), at_most=1e-12, source=SRC)
rec.figure("rlhf-ranking-forward", "pairs of family members that J_beta and -KL(pi*||pi) rank in opposite orders (beyond 1e-9), over all instances",
           int(cloud_df["fwd discordant"].sum()))
_ = rec.figure("rlhf-loglinear-nonconcave", "instances where J_beta has a positive second difference (> 1e-9 relative) along a random line of the log-linear family",
               int((cloud_df["convexity"] > 1e-9).sum()))

# %% [markdown]
# The identity holds on every member to {glue:text}`rlhf-identity:.1g` (relative; the two sides are computed by
# different formulas), so $J_\beta$ and $-\mathrm{KL}(\pi_\theta\|\pi^*_\beta)$ rank every pair of members the same
# way, while the forward KL ranks {glue:text}`rlhf-ranking-forward` pairs the other way.
#
# (ch08-independent-fits)=
# ### Two independent fits reach the same optimum
#
# The theorem's consequence for *optimisers* is this: maximise $J_\beta$ in the family, or minimise the reverse KL
# to $\pi^*_\beta$, each from its own start, and you reach the same policy. That can be checked only where an
# optimiser finds the optimum. The log-linear family is the wrong place for it, because $J_\beta(\pi_\theta)$ is
# not concave in $\theta$. Along a random line it has a positive second difference on
# {glue:text}`rlhf-loglinear-nonconcave` of the {glue:text}`param-n_instances` instances, and the reverse KL of a
# multimodal target has one basin per mode ({numref}`fig-kl-landscapes`). Two fits can then stop at different
# local optima without contradicting anything.
#
# The *mixture family* $\pi_w=\sum_k w_kq_k$ of {glue:text}`param-n_components` fixed policies is the right place
# ($w$ in the simplex; here $q_1=\pi_{\mathrm{sft}}$ and the others random tilts $q_k\propto\pi_{\mathrm{sft}}e^{s_k}$).
# Its image is convex, $J_\beta$ is concave in the distribution and $\mathrm{KL}(\cdot\|\pi^*_\beta)$ convex. So both
# problems are convex in $w$, and every local optimum is global.
#
# Better, a fit carries a certificate. For a convex loss $F$ with gradient $g_k$ along component $k$, the
# Frank–Wolfe gap $\sum_kw_kg_k-\min_kg_k$ bounds $F(\pi_w)-\min F$ (`projections.simplex_gap`), whatever the
# optimiser did. So each fit proves its own tolerance. Let $\varepsilon_J$ and $\varepsilon_{\mathrm{KL}}$ be the
# certificates of the two fits $w_J$ and $w_{\mathrm{KL}}$. The theorem then implies
#
# $$|J_\beta(\pi_{w_J})-J_\beta(\pi_{w_{\mathrm{KL}}})|\le\max(\varepsilon_J,\beta\varepsilon_{\mathrm{KL}}).$$
#
# And since $-J_\beta$ is $\beta$-strongly convex in the $\ell_1$ norm (Pinsker), the two policies are within
# $\sqrt{\varepsilon_J/(2\beta)}+\sqrt{\varepsilon_{\mathrm{KL}}/2}$ in total variation. Each instance is fitted
# three times by L-BFGS-B on $w\ge0$ (normalised), each fit from its own random start: $\max J_\beta$, the reverse
# projection, and the forward projection. The last is a control, to show that the check can fail.

# %%
def fit_mixture(lc, loss, grad_pi, rng):
    """Minimise a loss F(pi_w), convex in pi, over the mixture family; grad_pi(log pi) is its gradient in pi
    (used where pi > 0). Returns (log pi_w, Frank-Wolfe certificate). L-BFGS over w = softmax(theta) from a fresh
    random start, tol 1e-15: stop only at rounding level. The softmax keeps w on the simplex without bounds
    (bounds let a step clip every weight to 0); dF/dtheta = w * (dF/dw - w . dF/dw). Restarted twice."""
    def objective(theta):
        w = np.exp(theta - logsumexp(theta))
        lq, jac = projections.mixture(lc, w), projections.mixture_jacobian(lc, w)
        on = lq > -np.inf
        with np.errstate(invalid="ignore", over="ignore"):   # grad_pi is nan or inf where pi = 0; unused there
            gw = (np.exp(lq[on]) * grad_pi(lq)[on]) @ jac[on]
        return loss(lq), w * (gw - w @ gw)
    theta = np.log(rng.exponential(size=len(lc)))
    for _ in range(3):
        theta = minimize(objective, theta, jac=True, method="L-BFGS-B", tol=1e-15).x
    w = np.exp(theta - logsumexp(theta))
    lq = projections.mixture(lc, w)
    with np.errstate(invalid="ignore", over="ignore"):
        grad = np.where(lq > -np.inf, grad_pi(lq), np.nan)
    return lq, projections.simplex_gap(lc, w, grad)


def fits(lc, lsft, rr, b, rng):
    """Three certified fits, each from its own start: max J_beta (the gradient of -J_beta in pi is
    -(r - beta log(pi/pi_sft)) + beta; a constant changes neither the fit nor the certificate, so it is left
    out), the reverse projection of pi*_beta and its forward projection."""
    target = align.gibbs(lsft, rr, b)
    return {"direct": fit_mixture(lc, lambda lq: -align.objective(lq, lsft, rr, b), lambda lq: -(rr - b * (lq - lsft)), rng),
            "reverse": fit_mixture(lc, lambda lq: it.kl(lq, target), lambda lq: lq - target, rng),
            "forward": fit_mixture(lc, lambda lq: it.kl(target, lq), lambda lq: -np.exp(target - lq), rng)}


# %%
rows = []
for _ in range(n_instances):
    lsft, rr, b = rlhf_instance(rng)
    lc = np.array([lsft] + [it.normalize(lsft + instances.random_reward(rng, n_outcomes, scale=log_uniform(rng, SCALES)))
                            for _ in range(n_components - 1)])
    (lq_j, eps_j), (lq_r, eps_r), (lq_f, eps_f) = fits(lc, lsft, rr, b, rng).values()
    j = {name: align.objective(lq, lsft, rr, b) for name, lq in (("direct", lq_j), ("reverse", lq_r), ("forward", lq_f))}
    slack = 1e-12 * (1 + abs(j["direct"]))   # float rounding of J itself (|J| up to ~1e2, 16 digits)
    rows.append({**{f"J {k}": v for k, v in j.items()}, "eps J": eps_j, "eps KL": b * eps_r, "eps fwd": eps_f,
                 "value bound": max(eps_j, b * eps_r) + slack, "tv": it.tvd(lq_j, lq_r),
                 "tv bound": np.sqrt(eps_j / (2 * b)) + np.sqrt(eps_r / 2) + slack, "slack": slack,
                 "vertex": int(np.isclose(lq_j, lc, rtol=0, atol=1e-9).all(axis=1).any())})
mix_df = pd.DataFrame(rows)

# %% tags=["hide-input"]
scale = 1 + mix_df["J direct"].abs()
differ_value = int((np.abs(mix_df["J direct"] - mix_df["J reverse"]) > mix_df["value bound"]).sum())
rec.check("rlhf-fits-same-value", "instances where max J_beta and the reverse projection, fitted independently, differ in J_beta by more than the larger of their certificates",
          differ_value, equals=0, source=SRC)
rec.check("rlhf-fits-same-policy", "instances where the two independent fits are farther apart in TV than the strong-concavity bound of their certificates",
          int((mix_df["tv"] > mix_df["tv bound"]).sum()), equals=0, source=SRC)
rec.figure("rlhf-certificate-max", "largest certificate (Frank-Wolfe gap, in J_beta units) of any direct or reverse fit, relative to 1 + |J|",
           (mix_df[["eps J", "eps KL"]].max(axis=1) / scale).max())
rec.figure("rlhf-fits-tv-max", "largest TV between the two independent fits of an instance", mix_df["tv"].max())
rec.figure("rlhf-vertex-fraction", "fraction of instances whose optimum is a single component (a vertex of the simplex)", mix_df["vertex"].mean())
rec.figure("rlhf-forward-certificate-max", "largest certificate (Frank-Wolfe gap) of a forward projection, in forward-KL units",
           mix_df["eps fwd"].max())
fwd_below = mix_df["J direct"] - mix_df["J forward"] > mix_df["value bound"]
rec.figure("rlhf-forward-below", "instances where the forward projection's J_beta is below the certified optimum by more than the certificates",
           int(fwd_below.sum()))
_ = rec.figure("rlhf-forward-loss-median", "median (J_beta at max J - J_beta at the forward projection), relative to 1 + |J|",
               ((mix_df["J direct"] - mix_df["J forward"]) / scale).median())

# %% [markdown]
# On all {glue:text}`param-n_instances` instances the two independent fits agree. They differ in value by more
# than their certificates on {glue:text}`rlhf-fits-same-value` instances, and in total variation by more than the
# bound on {glue:text}`rlhf-fits-same-policy`. The certificates are small,
# at most {glue:text}`rlhf-certificate-max:.1g` of $1+|J_\beta|$, so the tolerance is tight; the fits are at most
# {glue:text}`rlhf-fits-tv-max:.1g` apart in total variation. {glue:text}`rlhf-vertex-fraction:.0%` of the optima
# are a single component, the rest proper mixtures.
#
# The check can fail. The forward projection is the fit that maximum likelihood would give to samples of
# $\pi^*_\beta$, and it is certified optimal for its own loss (to {glue:text}`rlhf-forward-certificate-max:.1g` in
# forward KL). Yet it falls below the certified optimum of $J_\beta$ by more than the certificates on
# {glue:text}`rlhf-forward-below` of the {glue:text}`param-n_instances` instances, by a median
# {glue:text}`rlhf-forward-loss-median:.2g` of $1+|J_\beta|$. Chapter 09 shows that DPO with soft labels, at
# $\beta_\pi=1$ (the split of {ref}`the next section <ch08-generalised>`), is this forward fit.


# %% [markdown]
# (ch08-generalised)=
# ## The generalised objective and its geometric-mean policy
#
# {cite:t}`ji2024beyond` (after {cite:t}`ji2024exo`) splits the coefficient as $\beta=\beta_r\beta_\pi$ and
# applies the RLHF objective with $\beta_r$ to a *geometric mean* of the policy and $\pi_{\mathrm{sft}}$:
#
# $$\begin{aligned}
# \pi_\theta^{(\beta_\pi)}(y)&\propto\pi_\theta(y)^{\beta_\pi}\,\pi_{\mathrm{sft}}(y)^{1-\beta_\pi}
# \qquad(0<\beta_\pi\le 1),\\
# J^{\beta_r}(\pi_\theta^{(\beta_\pi)})&=\mathbb E_{\pi_\theta^{(\beta_\pi)}}r\\
# &\quad-\beta_r\,\mathrm{KL}\big(\pi_\theta^{(\beta_\pi)}\,\|\,\pi_{\mathrm{sft}}\big),
# \end{aligned}$$
#
# with $\pi_\theta^{(\beta_\pi)}$ normalised to sum to one.
#
# ```{prf:theorem} Optimum of the generalised objective
# :label: thm-generalised
#
# Over all policies $\pi_\theta$ with $\pi_\theta^{(\beta_\pi)}$ defined, $J^{\beta_r}(\pi_\theta^{(\beta_\pi)})\le\beta_r\log Z_{\beta_r}$,
# with equality iff $\pi_\theta^{(\beta_\pi)}=\pi^*_{\beta_r}$, that is iff $\pi_\theta$ restricted to
# $\mathrm{supp}\,\pi_{\mathrm{sft}}$ and renormalised is $\pi^*_{\beta_r\beta_\pi}$. For $\beta_\pi=1$ this forces
# $\pi_\theta=\pi^*_\beta$; for $\beta_\pi<1$ the mass $\pi_\theta$ puts outside $\mathrm{supp}\,\pi_{\mathrm{sft}}$ is free.
# PPO's setting ($\beta_\pi=1,\beta_r=\beta$) and DPO's ($\beta_\pi=\beta,\beta_r=1$) are the two ends of
# $\beta_r\beta_\pi=\beta$ and share the optimum $\pi^*_\beta$ on $\mathrm{supp}\,\pi_{\mathrm{sft}}$.
# ```
#
# ```{prf:proof}
# Apply the Gibbs theorem to the distribution $\pi_\theta^{(\beta_\pi)}$:
# $J^{\beta_r}(\pi_\theta^{(\beta_\pi)})=\beta_r\log Z_{\beta_r}-\beta_r\mathrm{KL}(\pi_\theta^{(\beta_\pi)}\|\pi^*_{\beta_r})$,
# maximal iff $\pi_\theta^{(\beta_\pi)}=\pi^*_{\beta_r}$. On $\mathrm{supp}\,\pi_{\mathrm{sft}}$ take logarithms:
# $\beta_\pi\log\pi_\theta+(1-\beta_\pi)\log\pi_{\mathrm{sft}}=\log\pi_{\mathrm{sft}}+r/\beta_r+c$, i.e.
# $\log\pi_\theta=\log\pi_{\mathrm{sft}}+r/(\beta_r\beta_\pi)+c/\beta_\pi$, which is $\pi^*_{\beta_r\beta_\pi}$ up to the
# normalising constant. Off $\mathrm{supp}\,\pi_{\mathrm{sft}}$, $\pi_{\mathrm{sft}}^{1-\beta_\pi}=0$ when $\beta_\pi<1$, so
# $\pi_\theta^{(\beta_\pi)}$ is $0$ there whatever $\pi_\theta$ is, and the normalisation removes any factor
# $1-m$ that mass $m$ outside takes from the support. For $\beta_\pi=1$ mass outside makes
# $\mathrm{KL}(\pi_\theta\|\pi_{\mathrm{sft}})=\infty$.
# ```
#
# So the slide's "analytic solution is also $\pi^*_\beta$" holds for $\pi_\theta$, on the support of
# $\pi_{\mathrm{sft}}$. The distribution that is matched in reverse KL is the geometric mean, though, and its target
# is $\pi^*_{\beta_r}$, not $\pi^*_\beta$. With holes in $\pi_{\mathrm{sft}}$ (top-$k$ or top-$p$ truncated reference
# models have them) the solution is not unique for $\beta_\pi<1$, DPO's case.
#
# We maximise the objective numerically over all policies, on random instances with holes, at PPO's split, DPO's,
# and a random one. The variables are $\pi_\theta$'s logits $\theta$ on $\mathrm{supp}\,\pi_{\mathrm{sft}}$, from a
# random start. With $g=\pi_\theta^{(\beta_\pi)}$ and $f=r-\beta_r\log(g/\pi_{\mathrm{sft}})$, the gradient is
# $\beta_\pi\,g\odot(f-\mathbb E_g f)$ and the Fisher information of $g$ in $\theta$ is
# $F=\beta_\pi^2(\mathrm{diag}\,g-gg^\top)$. The Hessian is $-\beta_r F$ plus terms that vanish at a stationary point,
# where $f$ is constant.
#
# Plain gradient ascent crawls: its step is proportional to $g$, and the optimum's log-probabilities can lie
# $r/\beta_r$ nats above the start, hundreds of nats for a small $\beta_r$. We take Newton's step with those terms
# dropped (Fisher scoring):
#
# $$\theta\leftarrow\theta+\frac{f-\mathbb E_g f}{\beta_r\beta_\pi}.$$
#
# This is $(\beta_rF)^+\nabla J$ up to a constant, which does not change $\pi_\theta$, and its size does not depend
# on $g$. We stop when no logit moves by more than {glue:text}`fisher-step-tol:.0e` relative to the largest. The
# method uses only the objective's gradient, never the closed form; the closed form enters only in the checks.
# Both checks are held to float precision: the log-probabilities reach $10^3$ nats, where rounding is
# $\approx 2\cdot10^{-13}$, so we ask for $10^{-12}$ in total variation and in relative value.

# %%
def general_policy(lsft, theta):
    """log pi with log pi = theta - logsumexp(theta) on supp pi_sft and -inf off it."""
    lpi = np.full(lsft.shape, -np.inf)
    lpi[lsft > -np.inf] = theta - logsumexp(theta)
    return lpi


def maximise_general(lsft, rr, beta_r, beta_pi, theta, max_steps=50):
    """argmax over pi (logits theta on supp pi_sft) of J^{beta_r}(pi^(beta_pi)) by Fisher scoring;
    returns (log pi, J, steps taken)."""
    on, steps, step = lsft > -np.inf, 0, np.inf
    while np.abs(step).max() > STEP_TOL * (1 + np.abs(theta).max()) and steps < max_steps:
        lg = projections.geometric_policy(general_policy(lsft, theta), lsft, beta_pi)[on]
        f = rr[on] - beta_r * (lg - lsft[on])
        step = (f - np.exp(lg) @ f) / (beta_r * beta_pi)   # (beta_r F)^+ grad J, up to a constant
        theta, steps = theta + step, steps + 1
    lpi = general_policy(lsft, theta)
    return lpi, align.objective(projections.geometric_policy(lpi, lsft, beta_pi), lsft, rr, beta_r), steps


STEP_TOL = rec.figure("fisher-step-tol", "Fisher scoring stops when no logit moves by more than this, relative", 1e-12)
rows = []
for _ in range(n_instances):
    lsft = instances.random_logdist(rng, n_outcomes, concentration=log_uniform(rng, SCALES))
    rr = instances.random_reward(rng, n_outcomes, scale=log_uniform(rng, SCALES))
    b = 10 ** rng.uniform(-1.5, 0)
    b_pi = rng.uniform(b, 1)
    for split, (beta_pi, beta_r) in {"PPO": (1.0, b), "DPO": (b, 1.0), "random": (b_pi, b / b_pi)}.items():
        lpi, j, steps = maximise_general(lsft, rr, beta_r, beta_pi, rng.normal(size=int((lsft > -np.inf).sum())))
        rows.append({"split": split, "tv": it.tvd(lpi, align.gibbs(lsft, rr, b)), "steps": steps,
                     "value gap": (beta_r * align.log_partition(lsft, rr, beta_r) - j) / (1 + abs(j))})
gen = pd.DataFrame(rows)

# %% tags=["hide-input"]
rec.check("general-optimum-is-gibbs", "max TV(numerical argmax of J^{beta_r}(pi^(beta_pi)), pi*_{beta_r beta_pi}) over instances and splits",
          gen["tv"].max(), at_most=1e-12, source=SRC)
rec.check("general-value", "relative gap beta_r log Z_{beta_r} - max J^{beta_r}(pi^(beta_pi)) farthest from 0, over instances and splits (>= 0 by the theorem)",
          gen["value gap"].loc[gen["value gap"].abs().idxmax()], inside=(-1e-12, 1e-12), source=SRC)
_ = rec.figure("general-steps", "most Fisher-scoring steps any instance took (the last one confirms convergence)", int(gen["steps"].max()))

# %% [markdown]
# Every numerical optimum, at every split, is within {glue:text}`general-optimum-is-gibbs:.1g` of
# $\pi^*_{\beta_r\beta_\pi}$ in total variation, and its value is $\beta_r\log Z_{\beta_r}$ to
# {glue:text}`general-value:.1g`. No instance needed more than {glue:text}`general-steps` steps. Fisher scoring is
# exact here: whatever $\theta$ is, $\theta+f/(\beta_r\beta_\pi)=\log\pi_{\mathrm{sft}}+r/(\beta_r\beta_\pi)+\text{const}$.
# So the first step lands on the stationary point, and the next moves it only by rounding.
#
# The non-uniqueness is exact too. Put a mass $m$ on a string outside $\mathrm{supp}\,\pi_{\mathrm{sft}}$, and spread
# the rest, $1-m$, as $\pi^*_\beta$.

# %%
lsft = instances.random_logdist(rng, n_outcomes, concentration=1.0, support=np.arange(n_outcomes) > 0)
rr = instances.random_reward(rng, n_outcomes)
m_off = 0.3                                                       # any m in (0, 1) does
lpi_off = np.logaddexp(np.log1p(-m_off) + align.gibbs(lsft, rr, beta),
                       np.log(m_off) + np.where(np.arange(n_outcomes) == 0, 0.0, -np.inf))
j_off = {name: align.objective(projections.geometric_policy(lpi_off, lsft, bp), lsft, rr, br)
         for name, (bp, br) in {"dpo": (beta, 1.0), "ppo": (1.0, beta)}.items()}

# %% tags=["hide-input"]
rec.figure("off-support-mass", "mass m of the policy outside supp pi_sft", m_off)
rec.check("dpo-split-off-support", "|J^1(pi^(beta)) - log Z_1| for pi with mass m outside supp pi_sft (DPO's split)",
          abs(j_off["dpo"] - align.log_partition(lsft, rr, 1.0)), at_most=1e-12, source=SRC)
rec.figure("off-support-tv", "TV(that pi, pi*_beta)", it.tvd(lpi_off, align.gibbs(lsft, rr, beta)))
_ = rec.figure("ppo-split-off-support", "J^beta(pi) of the same pi at PPO's split",
               "−∞" if np.isneginf(j_off["ppo"]) else j_off["ppo"])

# %% [markdown]
# With $m=$ {glue:text}`off-support-mass`, that policy reaches the maximum at DPO's split (to
# {glue:text}`dpo-split-off-support:.1g`), although it is {glue:text}`off-support-tv:.2f` from $\pi^*_\beta$ in
# total variation. At PPO's split its objective is {glue:text}`ppo-split-off-support`.

# %% [markdown]
# (ch08-split)=
# ### The split matters in a misspecified family
#
# "Without loss of generality", says the slide. Over all policies, yes; within a family, no. The generalised
# objective is the reverse KL from the family's *geometric means* to $\pi^*_{\beta_r}$, a different projection for
# each split. Only PPO's split ($\beta_\pi=1$) is the reverse projection of $\pi^*_\beta$ itself, which maximises
# $J_\beta(\pi_\theta)$ in the family by {prf:ref}`thm-rlhf-projection`. How the other splits differ is seen most
# clearly at the far end, as $\beta_\pi\to0$.
#
# ```{prf:proposition} The split at small $\beta_\pi$
# :label: prop-small-split
#
# Let $\pi_\theta>0$ on $\mathrm{supp}\,\pi_{\mathrm{sft}}$, $\beta_r=\beta/\beta_\pi$ and $\ell=\log\pi_\theta-\log\pi^*_\beta$.
# As $\beta_\pi\to0$,
#
# $$\mathrm{KL}\big(\pi_\theta^{(\beta_\pi)}\,\big\|\,\pi^*_{\beta_r}\big)=\tfrac{\beta_\pi^2}{2}\,\mathrm{Var}_{\pi_{\mathrm{sft}}}(\ell)+O(\beta_\pi^3).$$
# ```
#
# ```{prf:proof}
# Write $s=\pi_{\mathrm{sft}}$, $b=\beta_\pi$, $\lambda=\log\pi_\theta-\log s$ and $\rho=r/\beta$, so $\ell=\lambda-\rho+\log Z_\beta$.
# Then $\log\pi_\theta^{(b)}=\log s+b\lambda-\log\mathbb E_se^{b\lambda}$ and
# $\log\pi^*_{\beta_r}=\log s+b\rho-\log\mathbb E_se^{b\rho}$, so
#
# $$\begin{aligned}
# \mathrm{KL}&=b\,\mathbb E_{\pi_\theta^{(b)}}[\lambda-\rho]\\
# &\quad-\log\mathbb E_se^{b\lambda}+\log\mathbb E_se^{b\rho}.
# \end{aligned}$$
#
# Expand to second order, for any $h$:
#
# $$\begin{aligned}
# \mathbb E_{\pi_\theta^{(b)}}h&=\mathbb E_sh+b\,\mathrm{Cov}_s(\lambda,h)+O(b^2),\\
# \log\mathbb E_se^{bh}&=b\,\mathbb E_sh+\tfrac{b^2}2\mathrm{Var}_sh+O(b^3).
# \end{aligned}$$
#
# The first-order terms cancel, and the second-order ones give
#
# $$\begin{aligned}
# &b^2\big[\mathrm{Var}_s\lambda-\mathrm{Cov}_s(\lambda,\rho)-\tfrac12\mathrm{Var}_s\lambda+\tfrac12\mathrm{Var}_s\rho\big]\\
# &\quad=\tfrac{b^2}2\mathrm{Var}_s(\lambda-\rho)=\tfrac{b^2}2\mathrm{Var}_s\ell.
# \end{aligned}$$
# ```
#
# So the split interpolates between two fits of $\log\pi_\theta$ to $\log\pi^*_\beta$. At $\beta_\pi=1$ it is the
# reverse KL, an average of the log-ratio over the *policy* $\pi_\theta$. As $\beta_\pi\to0$ it becomes a
# least-squares fit of the log-ratio, up to a constant, weighted by the *reference* $\pi_{\mathrm{sft}}$. The two
# agree when the family contains $\pi^*_\beta$ (both vanish there). They differ when it does not and
# $\pi_{\mathrm{sft}}$ puts its mass where the reverse fit puts little. DPO's split $\beta_\pi=\beta$ sits near the
# second end when $\beta$ is small.
#
# We build an instance for that. The reference $\pi_{\mathrm{sft}}$ is *sticky*: its first symbol is uniform over
# the tokens and EOS; after that it repeats its previous token with probability {glue:text}`param-stickiness` and
# spreads the rest evenly over the other symbols. It lives on the space of the MLE section and is fitted in the
# memoryless family, which has no memory at all. We take $\beta=${glue:text}`param-beta` and
# {glue:text}`param-n_rewards` random rewards $r(y)\sim\mathcal N(0,\sigma^2)$, with $\sigma=$
# {glue:text}`split-reward-scale:g`. For each reward we find the family's optimum at {glue:text}`param-n_splits`
# splits $\beta_\pi\in[\beta,1]$, with $\beta_r=\beta/\beta_\pi$.
#
# Each optimum comes from `projections.project` with the exact gradient (the Jacobian of the memoryless family,
# carried through the geometric mean), as the best of the same starts for every split. There is one start in each
# mode a sticky target can have (a run of one token, or the empty string), one at the forward fit of
# $\pi^*_\beta$, and {glue:text}`param-n_split_starts` drawn at random. L-BFGS-B stops when a step lowers the KL by less
# than {glue:text}`split-fit-tol:.0e` of $\max(\mathrm{KL},1)$. Each optimum is then scored by the plain objective
# $J_\beta(\pi_\theta)$.

# %%
def sticky_lm(space, stick):
    """log pi of the sticky model: repeat the previous token with probability stick, spread the rest evenly."""
    v = space.alphabet_size
    last = space.tokens[np.arange(space.size), np.maximum(space.lengths - 1, 0)]
    table = np.full((space.size, v + 1), np.log((1 - stick) / v))
    table[np.arange(space.size), last] = np.log(stick)
    table[space.level(0)] = -np.log(v + 1)
    table[space.level(space.max_len)] = np.r_[np.full(v, -np.inf), 0.0]
    return strings.ToyLM(space, table).logp


def split_fit(lsft, rr, beta_pi, starts):
    """The memoryless eta maximising J^{beta/beta_pi}(pi_eta^(beta_pi)), i.e. the reverse projection of
    pi*_{beta/beta_pi} from the geometric means (best of the starts)."""
    geo = lambda eta: projections.geometric_policy(memoryless(eta), lsft, beta_pi)   # noqa: E731
    geo_jac = lambda eta: projections.geometric_jacobian(geo(eta), projections.memoryless_jacobian(space, eta), beta_pi)   # noqa: E731
    return projections.project(geo, align.gibbs(lsft, rr, beta / beta_pi), "reverse", starts, jacobian=geo_jac, tol=FIT_TOL)[1]


FIT_TOL = rec.figure("split-fit-tol", "L-BFGS-B stops when a step lowers the KL by less than this (relative)", 1e-12)
lsft_lm = sticky_lm(space, stickiness)
rows = []
sigma = rec.figure("split-reward-scale", "standard deviation of the random rewards of the split experiment", 2.0)
rewards = [strings.random_reward(space, rng, scale=sigma) for _ in range(n_rewards)]
for i, r_lm in enumerate(rewards):
    # one start in each mode a sticky target can have (a run of one token, or the empty string), the
    # forward fit of pi*_beta (which covers them all) and random ones
    starts = ([4 * np.eye(alphabet_size + 1)[v] for v in range(alphabet_size + 1)]
              + [projections.memoryless_mle(space, align.gibbs(lsft_lm, r_lm, beta))]
              + [rng.normal(size=alphabet_size + 1) for _ in range(n_split_starts)])
    for beta_pi in np.geomspace(beta, 1.0, n_splits):
        eta = split_fit(lsft_lm, r_lm, beta_pi, starts)
        rows.append({"reward": i, "beta_pi": beta_pi, "J": align.objective(memoryless(eta), lsft_lm, r_lm, beta), "eta": eta,
                     "beta log Z": beta * align.log_partition(lsft_lm, r_lm, beta)})
splits = pd.DataFrame(rows)

# %%
ends = splits.groupby("reward").agg(j_dpo=("J", "first"), j_ppo=("J", "last"), eta_dpo=("eta", "first"), eta_ppo=("eta", "last"))
ends["best other"] = splits.groupby("reward").apply(lambda g: g["J"].iloc[:-1].max(), include_groups=False)
ends["tv"] = [it.tvd(memoryless(a), memoryless(b)) for a, b in zip(ends["eta_dpo"], ends["eta_ppo"])]
ends["loss"] = (ends["j_ppo"] - ends["j_dpo"]) / (1 + ends["j_ppo"].abs())
# A split's fit stops where a step lowers its KL by < FIT_TOL, i.e. about sqrt(FIT_TOL) = 1e-6 from its stationary
# point in eta; J_beta is not stationary there, so it is known to about 1e-6 (relative): smaller losses are ties.
LOSS_TOL = np.sqrt(FIT_TOL)
n_lose = int((ends["loss"] > LOSS_TOL).sum())


def small_split_error(lq, rr, b):
    """KL(pi^(b) || pi*_{beta/b}) / (b^2/2 Var_sft(log pi - log pi*_beta)) - 1 (the proposition: O(b))."""
    ell = lq - align.gibbs(lsft_lm, rr, beta)
    p = np.exp(lsft_lm)
    var = p @ ell**2 - (p @ ell) ** 2
    return it.kl(projections.geometric_policy(lq, lsft_lm, b), align.gibbs(lsft_lm, rr, beta / b)) / (b**2 / 2 * var) - 1


SMALL = (rec.figure("small-split-a", "the larger beta_pi of the expansion check", 1e-2),
         rec.figure("small-split-b", "the smaller beta_pi of the expansion check", 1e-3))
small = [small_split_error(memoryless(ends["eta_ppo"].iloc[0]), rewards[0], b) for b in SMALL]

# %% tags=["hide-input"]
rec.check("split-ppo-best", "min over rewards of J_beta(PPO-split optimum) - max over the other splits of J_beta, relative (>= 0: PPO's split maximises J_beta itself)",
          (ends["j_ppo"] - ends["best other"]).div(1 + ends["j_ppo"].abs()).min(), at_least=-1e3 * FIT_TOL)
rec.figure("split-tv-median", "median TV between the memoryless optima of DPO's and PPO's splits, over the rewards", ends["tv"].median(), source=SRC)
rec.figure("split-tv-max", "largest TV between the memoryless optima of DPO's and PPO's splits", ends["tv"].max())
rec.figure("split-loss-median", "median relative loss of J_beta at DPO's split against PPO's", ends["loss"].median())
rec.figure("split-loss-tol", "resolution of J_beta at a split's optimum, sqrt(FIT_TOL) (relative)", LOSS_TOL)
rec.figure("split-n-lose", "rewards on which DPO's split loses J_beta by more than sqrt(FIT_TOL) (relative)", n_lose)
rec.figure("split-direction", "whether DPO's split loses J_beta on most rewards", "loses" if 2 * n_lose > n_rewards else "does not lose")
rec.figure("small-split-error-a", "relative error of the small-beta_pi expansion at the larger beta_pi", small[0])
rec.figure("small-split-error-b", "relative error of the small-beta_pi expansion at the smaller beta_pi", small[1])
rec.figure("small-split-beta-ratio", "ratio of the two beta_pi of the expansion check", SMALL[0] / SMALL[1])
_ = rec.figure("small-split-error-ratio", "ratio of the two relative errors (the beta_pi ratio if the error is O(beta_pi))",
               small[0] / small[1])

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.4, 3.2))
for i, g in splits.groupby("reward"):
    ax.plot(g["beta_pi"], g["J"] - g["J"].iloc[-1], "o-", ms=3, color=plots.ROLE["aligned"], alpha=0.7,
            label="one reward" if i == 0 else None)
ax.axhline(0, color=plots.ROLE["reference"], ls="--", lw=1, label="PPO's split")
ax.set(xscale="log", xlabel=r"$\beta_\pi$ ($\beta_r=\beta/\beta_\pi$; DPO's split at the left, PPO's at the right)",
       ylabel=r"$J_\beta(\pi_\theta)-J_\beta(\pi_{\mathrm{PPO}})$", title="The split of beta within a memoryless family")
ax.legend(fontsize="small", loc="lower right")
for axis_formatter in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
    axis_formatter(mpl.ticker.FormatStrFormatter("%g"))  # 0.5, not 5×10⁻¹
plots.publish("fig-split", fig)

# %% [markdown]
# ```{glue:figure} fig-split
# :name: fig-split
# :alt: Line plot, one line per random reward, of the plain RLHF objective of the memoryless optimum of each split minus that of PPO's split, against beta_pi on a log axis; every line is at or below zero and ends at zero at beta_pi = 1.
#
# The RLHF objective $J_\beta$ of the memoryless policy that each split of $\beta=\beta_r\beta_\pi$ selects, against
# PPO's split, one line per reward, with a sticky $\pi_{\mathrm{sft}}$. Over all policies every split gives
# $\beta\log Z_\beta$; within the family PPO's split attains the family's best $J_\beta$, and the others can fall
# below it.
# ```
#
# No split beats PPO's on any reward, as {prf:ref}`thm-rlhf-projection` says; the smallest margin is
# {glue:text}`split-ppo-best:.1g` of $1+|J_\beta|$. And the split does change the optimum. The optima of DPO's
# and PPO's splits are a median {glue:text}`split-tv-median:.2g` apart in total variation (at most
# {glue:text}`split-tv-max:.2g`). DPO's split {glue:text}`split-direction` $J_\beta$ on most rewards
# ({numref}`fig-split`): it loses by more than the fits' resolution, {glue:text}`split-loss-tol:.0e`, on
# {glue:text}`split-n-lose` of {glue:text}`param-n_rewards`, by a median {glue:text}`split-loss-median:.2g` of
# $1+|J_\beta|$.
#
# The proposition's expansion is visible in the numbers. At the PPO optimum of the first reward, its relative
# error is {glue:text}`small-split-error-a:.2g` at $\beta_\pi=$ {glue:text}`small-split-a:g` and
# {glue:text}`small-split-error-b:.2g` at $\beta_\pi=$ {glue:text}`small-split-b:g`. The ratio of the two errors
# is {glue:text}`small-split-error-ratio:.1f`; an error of order $\beta_\pi$ would give about
# {glue:text}`small-split-beta-ratio:g`, the ratio of the two $\beta_\pi$. Which $\pi_\theta$ each *method* reaches in a misspecified family is the subject of chapter 09: EXO
# fits the geometric mean in reverse KL, DPO in forward KL.
#
# (ch08-exercises)=
# ## Exercises
#
# ```{exercise}
# :label: ex-08-unigram
#
# Show that the forward-KL projection of $p$ onto the memoryless family is $u(v)=\mathbb E_p[c_v]/\sum_{v'}\mathbb E_p[c_{v'}]$,
# where $c_v(y)$ counts symbol $v$ in $y$ and $c_{\mathrm{EOS}}(y)=[|y|<L]$.
# ```
#
# ```{solution} ex-08-unigram
# :class: dropdown
#
# $\log q_u(y)=\sum_v c_v(y)\log u(v)$ (the forced EOS at length $L$ contributes $\log 1=0$), so
# $\mathbb E_p\log q_u=\sum_v\mathbb E_p[c_v]\log u(v)$. Maximising $\sum_v a_v\log u(v)$ over the simplex (a Lagrange
# multiplier for $\sum_v u(v)=1$) gives $u(v)=a_v/\sum_{v'}a_{v'}$, and minimising $\mathrm{KL}(p\|q_u)$ is maximising
# $\mathbb E_p\log q_u$ ({prf:ref}`thm-mle-fkl`).
# ```
#
# ```{exercise}
# :label: ex-08-gaussian
#
# The slides' example: fit one Gaussian $\mathcal N(\mu,\sigma^2)$ to a mixture $p$ in forward KL. Show that the fit
# matches the mixture's mean and variance. Why can the reverse fit not do this for two well-separated components?
# ```
#
# ```{solution} ex-08-gaussian
# :class: dropdown
#
# $\mathrm{KL}(p\|\mathcal N)=\mathrm{const}+\tfrac12\log\sigma^2+\mathbb E_p(y-\mu)^2/(2\sigma^2)$; setting the
# derivatives to $0$ gives $\mu=\mathbb E_p y$ and $\sigma^2=\mathrm{Var}_p y$. In reverse KL,
# $\mathbb E_{\mathcal N}\log(\mathcal N/p)$ is large wherever the Gaussian puts mass where $p$ is small — between
# well-separated components — so a Gaussian on one component beats the moment-matched one, and there is one
# such local minimum per component, as in {numref}`fig-kl-landscapes`.
# ```
#
# ```{exercise}
# :label: ex-08-split
#
# Show that for $\beta_\pi<1$, $J^{\beta_r}(\pi_\theta^{(\beta_\pi)})$ depends on $\pi_\theta$ only through its values on
# $\mathrm{supp}\,\pi_{\mathrm{sft}}$ up to a constant factor. What does this say about a DPO-trained policy's
# probability of strings the reference model never produces?
# ```
#
# ```{solution} ex-08-split
# :class: dropdown
#
# $\pi_\theta^{(\beta_\pi)}\propto\pi_\theta^{\beta_\pi}\pi_{\mathrm{sft}}^{1-\beta_\pi}$ is zero off the support, and a
# factor $c$ on $\pi_\theta$ becomes $c^{\beta_\pi}$, which the normalisation removes. So the objective is blind to
# the mass off the support: nothing in it keeps that mass at zero. The end of
# {ref}`the generalised objective's section <ch08-generalised>` shows a maximiser that puts any fraction $m<1$ of
# its mass there.
# ```
#
# (ch08-summary)=
# ## Summary
#
# * Maximum likelihood is forward-KL minimisation: mean NLL $=\mathrm{KL}(\hat p_N\|p_\theta)+H(\hat p_N)$ to
#   {glue:text}`mle-fkl-sample:.1g` on every random model. The identity needs $H(p_d)<\infty$.
# * Fitting a two-mode target in a memoryless family, the forward fit covers both modes: it puts
#   {glue:text}`mixed-mass-fwd:.3f` of its mass on mixed strings, where the target has
#   {glue:text}`mixed-mass-target:.3f`. The reverse fit seeks a mode; the reverse KL is not convex, and which of its
#   {glue:text}`rev-local-minima` local minima a fit reaches depends on the start.
# * $J_\beta(\pi)=\beta\log Z_\beta-\beta\,\mathrm{KL}(\pi\|\pi^*_\beta)$ on every member of every family (to
#   {glue:text}`rlhf-identity:.1g`), so the RLHF optimum in a family is the reverse-KL projection of $\pi^*_\beta$.
#   In a mixture family both problems are convex and each fit certifies itself. There, independent fits of the two
#   agree on every instance ({glue:text}`rlhf-fits-same-value` disagreements), while the forward projection falls
#   short on {glue:text}`rlhf-forward-below` of {glue:text}`param-n_instances`.
# * Over all policies, the generalised objective's optimum is $\pi^*_{\beta_r\beta_\pi}$ for $\pi_\theta$ (to
#   {glue:text}`general-optimum-is-gibbs:.1g` in TV) at PPO's, DPO's and random splits. For $\beta_\pi<1$ this holds
#   only on the support of $\pi_{\mathrm{sft}}$: the mass outside it is free.
# * In a misspecified family the split is not "without loss of generality". PPO's split maximises $J_\beta$ in the
#   family; as $\beta_\pi\to0$ the split becomes a least-squares fit of $\log\pi^*_\beta$ weighted by
#   $\pi_{\mathrm{sft}}$ ({prf:ref}`prop-small-split`). With a sticky $\pi_{\mathrm{sft}}$ and a memoryless family,
#   DPO's and PPO's splits select policies a median {glue:text}`split-tv-median:.2g` apart in TV, and DPO's split
#   {glue:text}`split-direction` $J_\beta$ on most rewards.
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-08>`;
# {ref}`execution-status` says when it was last run.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
