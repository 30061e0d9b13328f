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
# - **Shows.** Maximum likelihood is forward-KL fitting (exactly, up to the data's entropy); in a misspecified
#   family the forward fit covers the modes of a target and the reverse fit picks one; the RLHF optimum within
#   any family is the reverse-KL projection of $\pi^*_\beta$; the generalised objective with $\beta_r$ and
#   $\beta_\pi$ has the optimum $\pi^*_{\beta_r\beta_\pi}$ only over all policies, and only up to the mass a
#   policy puts where $\pi_{\mathrm{sft}}$ has none.
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
beta = None
n_splits = None
results_path = None    # set by `lmdist run`

# %% tags=["spec", "hide-cell"]
PROFILES = {
    "smoke": {"alphabet_size": 2, "max_len": 4, "n_samples": 200, "n_models": 10, "mix_weight": 0.6,
              "mode_strength": 2.5, "n_starts": 6, "n_grid": 25, "n_instances": 15, "n_outcomes": 10,
              "n_features": 2, "beta": 0.5, "n_splits": 5},
    "default": {"alphabet_size": 3, "max_len": 5, "n_samples": 2000, "n_models": 40, "mix_weight": 0.6,
                "mode_strength": 2.5, "n_starts": 10, "n_grid": 41, "n_instances": 60, "n_outcomes": 16,
                "n_features": 2, "beta": 0.5, "n_splits": 9},
    "paper": {"alphabet_size": 4, "max_len": 6, "n_samples": 20000, "n_models": 200, "mix_weight": 0.6,
              "mode_strength": 2.5, "n_starts": 20, "n_grid": 81, "n_instances": 400, "n_outcomes": 30,
              "n_features": 3, "beta": 0.5, "n_splits": 17},
}
RULES = {
    "alphabet_size": {"type": "int", "min": 1, "max": 6, "doc": "V, the number of tokens of the MLE and split experiments"},
    "max_len": {"type": "int", "min": 2, "max": 7, "doc": "the longest string of the toy spaces"},
    "n_samples": {"type": "int", "min": 1, "max": 1000000, "doc": "strings drawn from the data distribution for maximum likelihood"},
    "n_models": {"type": "int", "min": 1, "max": 10000, "doc": "random models p_theta on which the MLE identity is checked"},
    "mix_weight": {"type": "float", "min": 0.01, "max": 0.99, "doc": "weight of the 'a' mode of the two-mode target"},
    "mode_strength": {"type": "float", "min": 0.1, "max": 10.0, "doc": "logit gap that makes each mode prefer its token"},
    "n_starts": {"type": "int", "min": 2, "max": 1000, "doc": "independent starts of the reverse-KL fit of the two-mode target"},
    "n_grid": {"type": "int", "min": 5, "max": 401, "doc": "grid points per axis of the KL landscapes"},
    "n_instances": {"type": "int", "min": 1, "max": 100000, "doc": "random instances of each theorem check"},
    "n_outcomes": {"type": "int", "min": 3, "max": 200, "doc": "outcomes of a random instance"},
    "n_features": {"type": "int", "min": 1, "max": 20, "doc": "dimension of the log-linear policy family of the random instances"},
    "beta": {"type": "float", "min": 0.01, "max": 1.0, "doc": "the KL coefficient of the split experiment (DPO's split needs beta <= 1)"},
    "n_splits": {"type": "int", "min": 2, "max": 200, "doc": "values of beta_pi in [beta, 1] in the split experiment"},
}

# %%
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
# The two sides agree to {glue:text}`mle-fkl-sample:.1g` on the sample and {glue:text}`mle-fkl-population:.1g`
# under $p_d$ (relative); {glue:text}`mle-missing-support` of the models give the sample likelihood zero, and
# there both sides are $+\infty$.
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
starts = [3 * rng.normal(size=2) for _ in range(n_starts)]
rev_fits = [projections.project(memoryless2, log_mix, "reverse", [s]) for s in starts]   # one fit per start
rev_kl = np.array([it.kl(lq, log_mix) for lq, _ in rev_fits])
lq_rev, eta_rev = rev_fits[int(np.argmin(rev_kl))]
# local minima: fits more than 1e-3 apart in TV are different minima
minima = []
for lq, eta in sorted(rev_fits, key=lambda f: it.kl(f[0], log_mix)):
    if all(it.tvd(lq, m) > 1e-3 for m, _ in minima):
        minima.append((lq, eta))

# %% [markdown]
# The forward fit is the closed form of {ref}`ex-08-unigram`; the reverse fit is run once from each of
# {glue:text}`param-n_starts` random starts, and the distinct end points are its local minima.

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
_ = rec.figure("fwd-rev-entropy-direction", "whether the forward fit has more entropy", "more" if dh > 0 else "not more")

# %% tags=["hide-input"]
grid = np.linspace(-6, 6, n_grid)
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
top = np.argsort(-log_mix)[:12]
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
# :alt: Grouped bar chart over the twelve most likely strings of the two-mode target: the target's probabilities, the forward fit spread over both modes, and the reverse fits each concentrated on one mode.
#
# The twelve most likely strings of the two-mode target, with the forward fit and the reverse fits.
# ```
#
# The forward fit ({numref}`fig-mode-fits`, squares in {numref}`fig-kl-landscapes`) must give every string of
# the target some probability, so it sits between the modes: it puts {glue:text}`mixed-mass-fwd:.3f` of its mass
# on strings that mix `a` and `b`, where the target has {glue:text}`mixed-mass-target:.3f` — *mode covering*,
# with {glue:text}`fwd-rev-entropy-direction` entropy than the best reverse fit (difference
# {glue:text}`fwd-rev-entropy:.3f` nats). The reverse fit pays for every string it produces that the target
# does not, so it settles on one mode ({glue:text}`mixed-mass-rev:.3f` on mixed strings) — *mode seeking*.
# "Mode seeking" is loose in one respect the slides do not mention: the reverse KL is not convex, and its
# {glue:text}`rev-local-minima` local minima here are the modes, reached according to the start. The best
# sits on the `{glue:text}`rev-best-mode`` mode with KL {glue:text}`rev-kl-best:.3f`; the worst local minimum
# has {glue:text}`rev-kl-worst:.3f`. A gradient method finds *a* mode, not necessarily the best one.
#
# (ch08-rlhf-reverse)=
# ## The RLHF objective is a reverse-KL projection
#
# ```{prf:theorem} RLHF within a family
# :label: thm-rlhf-projection
#
# Let $\pi^*_\beta=\pi_{\mathrm{sft}}e^{r/\beta}/Z_\beta$ with $Z_\beta<\infty$. For every policy $\pi$,
#
# $$J_\beta(\pi)=\mathbb E_\pi r-\beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{sft}})=\beta\log Z_\beta-\beta\,\mathrm{KL}(\pi\,\|\,\pi^*_\beta).$$
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
# The slide attributes the equivalence to {cite:t}`korbak2022rlkl` and writes its target as $\pi^*_{\beta_r}$;
# for the plain objective with coefficient $\beta$ the target is $\pi^*_\beta$ (the subscript $\beta_r$ belongs
# to the generalised objective below). We check the theorem on {glue:text}`param-n_instances` random instances
# drawn by `lmdist.exact.instances` ({glue:text}`param-n_outcomes` outcomes, holes, concentration and reward
# scale log-uniform over two decades, $\beta$ log-uniform in $[0.05, 20]$) with a *log-linear* family
# $\pi_\theta\propto\pi_{\mathrm{sft}}e^{\Phi\theta}$ of {glue:text}`param-n_features` random Gaussian features,
# which contains $\pi^*_\beta$ only if $r$ is in their span (almost never). Each instance is fitted three times,
# each from its own random starts: by maximising $J_\beta$ directly, by the reverse projection, and by the
# forward projection.

# %%
def rlhf_instance(rng):
    """One random instance: (log pi_sft, r, beta, Phi)."""
    lsft = instances.random_logdist(rng, n_outcomes, concentration=10 ** rng.uniform(-1, 1))
    rr = instances.random_reward(rng, n_outcomes, scale=10 ** rng.uniform(-1, 1))
    return lsft, rr, 10 ** rng.uniform(np.log10(0.05), np.log10(20)), rng.normal(size=(n_outcomes, n_features))


def fit_rlhf(lsft, rr, b, phi, rng):
    """J_beta at the direct and the two projected fits (two fresh random starts each), and log Z."""
    family = lambda th: it.normalize(lsft + phi @ th)   # noqa: E731
    fresh = lambda: [rng.normal(size=n_features) for _ in range(2)]   # noqa: E731
    best_j = min((minimize(lambda th: -align.objective(family(th), lsft, rr, b), s, method="L-BFGS-B")
                  for s in fresh()), key=lambda res: res.fun)
    target = align.gibbs(lsft, rr, b)
    lq_r, _ = projections.project(family, target, "reverse", fresh())
    lq_f, _ = projections.project(family, target, "forward", fresh())
    j = [align.objective(lq, lsft, rr, b) for lq in (family(best_j.x), lq_r, lq_f)]
    return j, b * align.log_partition(lsft, rr, b) - b * it.kl(lq_r, target)


def discordant(a, b, tol):
    """Pairs (i, j) that a ranks one way and b the other, each by more than tol."""
    da, db = a[:, None] - a[None, :], b[:, None] - b[None, :]
    return int(((da > tol) & (db < -tol)).sum())


rows = []
for _ in range(n_instances):
    lsft, rr, b, phi = rlhf_instance(rng)
    (j_direct, j_rev, j_fwd), j_identity = fit_rlhf(lsft, rr, b, phi, rng)
    target = align.gibbs(lsft, rr, b)
    cloud = [it.normalize(lsft + phi @ th) for th in 3 * rng.normal(size=(100, n_features))]
    j_c = np.array([align.objective(lq, lsft, rr, b) for lq in cloud])
    tol = 1e-9 * (1 + np.abs(j_c).max())
    rows.append({"J direct": j_direct, "J reverse": j_rev, "J forward": j_fwd, "identity": j_identity,
                 "rev discordant": discordant(j_c, -b * np.array([it.kl(lq, target) for lq in cloud]), tol),
                 "fwd discordant": discordant(j_c, -np.array([it.kl(target, lq) for lq in cloud]), tol)})
rl = pd.DataFrame(rows)

# %% tags=["hide-input"]
scale = 1 + rl["J reverse"].abs()
rec.check("rlhf-identity", "max relative |J(q_rev) - (beta log Z - beta KL(q_rev||q*))| over the instances",
          ((rl["J reverse"] - rl["identity"]).abs() / scale).max(), at_most=1e-12, source=SRC)
rec.check("rlhf-ranking-reverse", "pairs of family members that J_beta and -KL(q||q*) rank in opposite orders, over all instances",
          int(rl["rev discordant"].sum()), equals=0, source=SRC)
rec.figure("rlhf-ranking-forward", "pairs of family members that J_beta and -KL(q*||q) rank in opposite orders", int(rl["fwd discordant"].sum()))
agree = ((rl["J direct"] - rl["J reverse"]).abs() / scale) <= 1e-6
rec.figure("rlhf-fits-agree", "fraction of instances where argmax J and the reverse projection, started independently, agree to 1e-6", agree.mean())
rec.figure("rlhf-forward-better", "instances where the forward projection found a larger J than the reverse one (beyond 1e-6)",
           int(((rl["J forward"] - rl["J reverse"]) / scale > 1e-6).sum()))
_ = rec.figure("rlhf-forward-loss-median", "median J(reverse fit) - J(forward fit) over the instances",
               (rl["J reverse"] - rl["J forward"]).median())

# %% [markdown]
# The exact statement holds on every instance: over 100 random members of each family, $J_eta$ and
# $-\mathrm{KL}(\pi_	heta\|\pi^*_eta)$ rank every pair the same way ({glue:text}`rlhf-ranking-reverse` discordant
# pairs), while the forward KL ranks {glue:text}`rlhf-ranking-forward` pairs the other way; the identity holds at the
# fits to {glue:text}`rlhf-identity:.1g`. The *optimisers* are another matter: on
# {glue:text}`rlhf-fits-agree:.0%` of the instances the directly maximised $J_eta$ and the reverse projection,
# started independently, agree to $10^{-6}$. The rest is not a failure of the theorem but of "the optimum": the
# objective has several local maxima in a log-linear family, and its supremum is often approached only as
# $\|	heta\|	o\infty$ (the family is not closed), where a finite-difference optimiser stops early. The forward
# projection — the fit maximum likelihood would give to samples of $\pi^*_eta$ — found a larger $J_eta$ on
# {glue:text}`rlhf-forward-better` instances and lost a median {glue:text}`rlhf-forward-loss-median:.3g`. Chapter 09
# shows that DPO with soft labels is this forward fit.

# %% [markdown]
# (ch08-generalised)=
# ## The generalised objective and its geometric-mean policy
#
# {cite:t}`ji2024beyond` (after {cite:t}`ji2024exo`) splits the coefficient as $\beta=\beta_r\beta_\pi$ and
# applies the RLHF objective with $\beta_r$ to a *geometric mean* of the policy and $\pi_{\mathrm{sft}}$:
#
# $$\begin{aligned}
# \pi_\theta^{(\beta_\pi)}(y)&=\frac{\pi_\theta(y)^{\beta_\pi}\,\pi_{\mathrm{sft}}(y)^{1-\beta_\pi}}{\sum_{y'}\pi_\theta(y')^{\beta_\pi}\,\pi_{\mathrm{sft}}(y')^{1-\beta_\pi}},
# \qquad 0<\beta_\pi\le 1,\\
# J^{\beta_r}(\pi_\theta^{(\beta_\pi)})&=\mathbb E_{\pi_\theta^{(\beta_\pi)}}r-\beta_r\,\mathrm{KL}\big(\pi_\theta^{(\beta_\pi)}\,\|\,\pi_{\mathrm{sft}}\big).
# \end{aligned}$$
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
# So the slide's "analytic solution is also $\pi^*_\beta$" holds for $\pi_\theta$, while the distribution that
# is matched in reverse KL is the geometric mean, and its target is $\pi^*_{\beta_r}$, not $\pi^*_\beta$; and
# with holes in $\pi_{\mathrm{sft}}$ (top-$k$ or top-$p$ truncated reference models have them) the solution is not
# unique for $\beta_\pi<1$, DPO's case. We maximise the objective numerically over all policies on random
# instances with holes, at PPO's split, DPO's, and a random one, over $\pi_\theta$'s logits $\theta$ on
# $\mathrm{supp}\,\pi_{\mathrm{sft}}$ from a random start. With $g=\pi_\theta^{(\beta_\pi)}$ and
# $f=r-\beta_r\log(g/\pi_{\mathrm{sft}})$ the gradient is $\beta_\pi\,g\odot(f-\mathbb E_g f)$, the Fisher information
# of $g$ in $\theta$ is $F=\beta_\pi^2(\mathrm{diag}\,g-gg^\top)$, and the Hessian is $-\beta_r F$ plus terms that
# vanish where $f$ is constant, at a stationary point. Plain gradient ascent crawls: its step is proportional to
# $g$, and the optimum can lie $r/\beta_r\approx 300$ nats above the start (reward scale 10, $\beta_r=0.03$).
# We take Newton's step with those terms dropped (Fisher scoring),
# $\theta\leftarrow\theta+(f-\mathbb E_g f)/(\beta_r\beta_\pi)$ (this is $(\beta_rF)^+\nabla J$ up to a constant, which
# does not change $\pi_\theta$), whose size does not depend on $g$, until no logit moves by more than $10^{-12}$ relative to the largest. It uses only the objective's
# gradient, never the closed form; the closed form enters only in the checks. Both are held to float precision
# (the log-probabilities reach $10^3$ nats, where rounding is $\approx 2\cdot10^{-13}$): $10^{-12}$ in total
# variation and in relative value.

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


STEP_TOL = 1e-12   # stop when no logit moves by more than this, relative to the largest logit
rows = []
for _ in range(n_instances):
    lsft = instances.random_logdist(rng, n_outcomes, concentration=10 ** rng.uniform(-1, 1))
    rr = instances.random_reward(rng, n_outcomes, scale=10 ** rng.uniform(-1, 1))
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
# {glue:text}`general-value:.1g`. No instance needed more than {glue:text}`general-steps` steps: Fisher scoring
# is exact here, since $\theta+f/(\beta_r\beta_\pi)=\log\pi_{\mathrm{sft}}+r/(\beta_r\beta_\pi)+\text{const}$
# whatever $\theta$ is — the first step lands on the stationary point and the second moves nothing. The non-uniqueness is exact too: put mass $m=0.3$ on a string outside
# $\mathrm{supp}\,\pi_{\mathrm{sft}}$ and the rest as $\pi^*_\beta$.

# %%
lsft = instances.random_logdist(rng, n_outcomes, concentration=1.0, support=np.arange(n_outcomes) > 0)
rr = instances.random_reward(rng, n_outcomes)
lpi_off = np.logaddexp(np.log(0.7) + align.gibbs(lsft, rr, beta), np.log(0.3) + np.where(np.arange(n_outcomes) == 0, 0.0, -np.inf))
j_off = {name: align.objective(projections.geometric_policy(lpi_off, lsft, bp), lsft, rr, br)
         for name, (bp, br) in {"dpo": (beta, 1.0), "ppo": (1.0, beta)}.items()}

# %% tags=["hide-input"]
rec.check("dpo-split-off-support", "|J^1(pi^(beta)) - log Z_1| for pi with mass 0.3 outside supp pi_sft (DPO's split)",
          abs(j_off["dpo"] - align.log_partition(lsft, rr, 1.0)), at_most=1e-12, source=SRC)
rec.figure("off-support-tv", "TV(that pi, pi*_beta)", it.tvd(lpi_off, align.gibbs(lsft, rr, beta)))
_ = rec.figure("ppo-split-off-support", "J^beta(pi) of the same pi at PPO's split", j_off["ppo"])

# %% [markdown]
# At DPO's split that policy reaches the maximum (error {glue:text}`dpo-split-off-support:.1g`) although it is
# {glue:text}`off-support-tv:.2f` from $\pi^*_\beta$ in total variation; at PPO's split its objective is
# {glue:text}`ppo-split-off-support`.
#
# (ch08-split)=
# ### The split matters in a misspecified family
#
# "Without loss of generality", says the slide. Over all policies, yes; within a family, no: the generalised
# objective is the reverse KL from the family's *geometric means* to $\pi^*_{\beta_r}$, a different projection for
# each split. We take a random autoregressive $\pi_{\mathrm{sft}}$ and reward on the space of the MLE section,
# $\beta=${glue:text}`param-beta`, and the memoryless family, and find its optimum at {glue:text}`param-n_splits`
# splits $\beta_\pi\in[\beta,1]$, $\beta_r=\beta/\beta_\pi$, scoring each by the plain RLHF objective $J_\beta(\pi_\theta)$.
# The fits use the exact gradient of the reverse KL (`projections.project` with the Jacobian of the memoryless
# family, carried through the geometric mean), and L-BFGS-B stops when a step lowers the KL by less than
# $10^{-12}$ of it; PPO's split may trail another split by at most $10^{3}$ times that, relative to $1+|J_\beta|$.

# %%
lsft_lm = strings.random_lm(space, rng).logp
r_lm = strings.random_reward(space, rng, scale=2.0)
split_starts = [np.zeros(alphabet_size + 1), rng.normal(size=alphabet_size + 1)]
FIT_TOL = 1e-12   # L-BFGS-B stops when a step lowers the KL by less than this (relative)
rows = []
for beta_pi in np.geomspace(beta, 1.0, n_splits):
    geo = lambda eta, bp=beta_pi: projections.geometric_policy(memoryless(eta), lsft_lm, bp)   # noqa: E731
    geo_jac = lambda eta, bp=beta_pi, fam=geo: projections.geometric_jacobian(   # noqa: E731
        fam(eta), projections.memoryless_jacobian(space, eta), bp)
    _, eta = projections.project(geo, align.gibbs(lsft_lm, r_lm, beta / beta_pi), "reverse", split_starts,
                                 jacobian=geo_jac, tol=FIT_TOL)
    rows.append({"beta_pi": beta_pi, "J_beta(pi_theta)": align.objective(memoryless(eta), lsft_lm, r_lm, beta),
                 "eta": eta})
splits = pd.DataFrame(rows)
j_ppo, j_dpo = splits["J_beta(pi_theta)"].iloc[-1], splits["J_beta(pi_theta)"].iloc[0]
tv_split = it.tvd(memoryless(splits["eta"].iloc[0]), memoryless(splits["eta"].iloc[-1]))

# %% tags=["hide-input"]
rec.figure("split-tv", "TV between the memoryless optima of DPO's and PPO's splits", tv_split, source=SRC)
rec.figure("split-j-gap", "J_beta(PPO-split optimum) - J_beta(DPO-split optimum)", j_ppo - j_dpo)
rec.check("split-ppo-best", "J_beta(PPO-split optimum) - max over the other splits of J_beta (>= 0: PPO's split maximises J_beta itself)",
          j_ppo - splits["J_beta(pi_theta)"].iloc[:-1].max(), at_least=-1e3 * FIT_TOL * (1 + abs(j_ppo)))
_ = rec.figure("split-direction", "whether DPO's split loses J_beta in the family", "loses" if j_ppo - j_dpo > 1e-9 else "does not lose")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6.4, 3.2))
ax.plot(splits["beta_pi"], splits["J_beta(pi_theta)"], "o-", color=plots.ROLE["aligned"], label=r"memoryless optimum of the split")
ax.axhline(beta * align.log_partition(lsft_lm, r_lm, beta), color=plots.ROLE["reference"], ls="--",
           label=r"$\beta\log Z_\beta$ (all policies)")
ax.set(xscale="log", xlabel=r"$\beta_\pi$ ($\beta_r=\beta/\beta_\pi$; DPO's split at the left, PPO's at the right)",
       ylabel=r"$J_\beta(\pi_\theta)$", title="The split of beta within a memoryless family")
ax.legend(fontsize="small", loc="lower left")
plots.publish("fig-split", fig)

# %% [markdown]
# ```{glue:figure} fig-split
# :name: fig-split
# :alt: Line plot of the plain RLHF objective of the memoryless optimum of each split against beta_pi on a log axis, rising towards PPO's split at beta_pi = 1, with a dashed line at beta log Z above it.
#
# The RLHF objective $J_\beta$ of the memoryless policy that each split of $\beta=\beta_r\beta_\pi$ selects. Over all
# policies every split gives $\beta\log Z_\beta$ (dashed); within the family they differ.
# ```
#
# In {numref}`fig-split` the optima of DPO's and PPO's splits are {glue:text}`split-tv:.3f` apart in total variation,
# and DPO's split {glue:text}`split-direction` {glue:text}`split-j-gap:.3g` of $J_\beta$ against PPO's, which by
# {prf:ref}`thm-rlhf-projection` is the best the family can do for $J_\beta$ (no split beat it:
# {glue:text}`split-ppo-best:.2g`). Which $\pi_\theta$ each method reaches in a misspecified family is the
# subject of chapter 09.
#
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
# the mass off the support: nothing in it keeps that mass at zero, and {ref}`ch08-generalised` shows a maximiser
# with $0.3$ of its mass there.
# ```
#
# ## Summary
#
# * Maximum likelihood is forward-KL minimisation: mean NLL $=\mathrm{KL}(\hat p_N\|p_\theta)+H(\hat p_N)$ to
#   {glue:text}`mle-fkl-sample:.1g` on every random model.
# * Fitting a two-mode target in a memoryless family, the forward fit covers both modes
#   ({glue:text}`mixed-mass-fwd:.3f` of its mass on strings the target gives {glue:text}`mixed-mass-target:.3f`), the
#   reverse fit has {glue:text}`rev-local-minima` local minima, one per mode reached.
# * The RLHF objective within a family ranks members exactly as the reverse KL to $\pi^*_\beta$ does
#   ({glue:text}`rlhf-ranking-reverse` discordant pairs; the forward KL: {glue:text}`rlhf-ranking-forward`); independent
#   optimisers agree on {glue:text}`rlhf-fits-agree:.0%` of instances, the rest lost to local maxima and unattained suprema.
# * The generalised objective's optimum is $\pi^*_{\beta_r\beta_\pi}$ for $\pi_\theta$ (to
#   {glue:text}`general-optimum-is-gibbs:.1g` in TV) at PPO's, DPO's and random splits, but for $\beta_\pi<1$ only on the
#   support of $\pi_{\mathrm{sft}}$; in a memoryless family DPO's split {glue:text}`split-direction`
#   {glue:text}`split-j-gap:.3g` of $J_\beta$ against PPO's.
#
# Every number of this chapter, with its status, is in {ref}`the reproduction report <report-08>`.

# %% tags=["remove-input", "hide-output"]
rec.write(results_path)
rec.table()
