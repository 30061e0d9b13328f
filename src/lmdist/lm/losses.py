"""Training losses, written once in torch, for the toy worlds and the neural models alike.

Each function states the equation it implements. The sequence log-probability is the quantity every
preference loss is built from.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lmdist.exact import checks
from lmdist.lm.decode import positions


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``out[b, t] = log p(x_{t+1} | x_{≤t})`` from logits of shape (B, T, V): shape (B, T−1)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def completion_logprobs(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        completion_mask: torch.Tensor) -> torch.Tensor:
    """Sequence log-probabilities of completions given their prompts, one per row.

        log π(y | x) = Σ_t completion_mask[t] · log π(s_t | s_{<t}),   s = x ⊕ y

    ``input_ids`` holds prompt and completion (left- or right-padded); ``completion_mask`` is 1 on
    the completion's tokens (including a final EOS, which is part of the completion) and 0 on the
    prompt and padding, so the prompt's own probability is not counted. Positions are counted from
    the first non-pad token, so left padding does not shift them.
    """
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask)).logits
    return (token_logprobs(logits, input_ids) * completion_mask[:, 1:].to(logits.dtype)).sum(-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float,
             label_smoothing: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Direct Preference Optimisation (Rafailov et al. 2023), TRL's ``sigmoid`` loss.

    With sequence log-probabilities of the chosen y_w and the rejected y_l under the policy π and the
    frozen reference π_ref, and the margin of implicit rewards

        h = β [ (log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x)) ],

        loss = −(1 − ε) log σ(h) − ε log σ(−h)

    where ε = ``label_smoothing`` is the probability that the label is flipped (conservative DPO;
    ε = 0 is the original loss: −log σ(h)). Gradient: ∂loss/∂h = σ(h) − (1 − ε) (for ε = 0,
    −σ(−h) < 0), so a step raises log π(y_w) and lowers log π(y_l).
    ``reduction``: "mean", "sum" or "none" (one loss per pair).
    """
    checks.real(beta, "beta", lo=0, open_lo=True)
    if not 0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing!r}")
    h = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    # logsigmoid is the stable form of log σ: no overflow for large |h|.
    losses = -(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)
    return _reduce(losses, reduction)


# ---------------------------------------------------------------------------------------------
# K samples per prompt: EXO and DPO as the two directions of a KL between two softmaxes
# ---------------------------------------------------------------------------------------------
# Ji et al. 2024 ("Towards Efficient Exact Optimization of Language Model Alignment", arXiv 2402.00856;
# code: haozheji/exact-optimization, src/align_stage/loss.py). For a prompt x and K completions y_1..y_K:
#
#   p_f(i) = softmax_i( β_π (log π_θ(y_i|x) − log π_sft(y_i|x)) )     the policy's implicit distribution
#   p_t(i)                                                              the target (from rewards or a label)
#
# EXO minimises the reverse KL(p_f ‖ p_t) (mode-seeking), DPO the forward KL(p_t ‖ p_f) (mean-seeking).

REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")


def _group(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a floating (B, K) tensor with K ≥ 2 and no NaN; a clear error otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, K), got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] < 2:
        raise ValueError(f"{name} must have shape (B, K) with K ≥ 2 samples per prompt, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {x.dtype}")
    if torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN")
    return x


def _implicit_logprobs(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta_pi: float) -> torch.Tensor:
    """log p_f = log_softmax(β_π (log π_θ − log π_sft)) over the K samples (last axis)."""
    checks.real(beta_pi, "beta_pi", lo=0, open_lo=True)
    _group(policy_logps, "policy_logps")
    _group(ref_logps, "ref_logps")
    if policy_logps.shape != ref_logps.shape:
        raise ValueError(f"policy_logps {tuple(policy_logps.shape)} and ref_logps {tuple(ref_logps.shape)} differ")
    if not (torch.isfinite(policy_logps).all() and torch.isfinite(ref_logps).all()):
        raise ValueError("policy_logps and ref_logps must be finite sequence log-probabilities")
    return torch.log_softmax(beta_pi * (policy_logps - ref_logps), dim=-1)


def _targets(target_logprobs: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Validated log p_t of the same shape as ``like``: normalised over the last axis, no +inf."""
    _group(target_logprobs, "target_logprobs")
    if target_logprobs.shape != like.shape:
        raise ValueError(f"target_logprobs has shape {tuple(target_logprobs.shape)}, expected {tuple(like.shape)}")
    t = target_logprobs.detach().to(like.dtype)
    if (t == float("inf")).any() or (t > 1e-6).any():
        raise ValueError("target_logprobs must be log-probabilities (≤ 0, −inf allowed)")
    # normalised within float32 rounding of a log_softmax (≈ 1e-7 per entry); 1e-4 leaves room, rejects raw rewards
    total = torch.logsumexp(t, dim=-1)
    if (total.abs() > 1e-4).any():
        raise ValueError("target_logprobs must be normalised over the K samples (logsumexp = 0 on each row); "
                         f"largest |logsumexp| = {total.abs().max().item():.3g}")
    return t


def reward_targets(rewards: torch.Tensor, beta_r: float) -> torch.Tensor:
    """Log target from rewards: the optimal policy restricted to the K samples of each prompt,

        log p_r(i) = log_softmax_i( r(x, y_i) / β_r ),

    i.e. π*(y) ∝ π_sft(y) exp(r/β_r) self-normalised over samples y_i ∼ π_sft (the π_sft factors cancel).
    ``rewards``: (B, K), finite. Returns a (B, K) tensor of the same dtype.
    """
    checks.real(beta_r, "beta_r", lo=0, open_lo=True)
    _group(rewards, "rewards")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards must be finite")
    return torch.log_softmax(rewards / beta_r, dim=-1)


def preference_targets(chosen: torch.Tensor, k: int, label_smoothing: float,
                       dtype: torch.dtype | None = None) -> torch.Tensor:
    """Log target from a preference label: mass 1 − ε on the chosen sample, ε/(K − 1) on each other one,

        log p_t(i) = log(1 − ε)  if i = chosen,   log(ε / (K − 1))  otherwise,

    ε = ``label_smoothing`` ∈ [0, (K − 1)/K) (the chosen keeps the largest mass). ε = 0 gives −inf off the
    chosen (a one-hot target): fine for :func:`dpo_soft_loss` (= DPO), infinite for :func:`exo_loss`, which
    therefore refuses it. At K = 2 the EXO optimum sits at the finite implicit-reward margin
    β_π Δ = log((1 − ε)/ε). ``chosen``: LongTensor (B,) of indices in [0, K). Returns (B, K) of ``dtype``
    (default: torch's default float dtype).
    """
    k = checks.integer(k, "k", lo=2)
    if not isinstance(chosen, torch.Tensor) or chosen.dim() != 1 or chosen.dtype not in (torch.int64, torch.int32):
        raise ValueError("chosen must be an integer tensor of shape (B,)")
    if len(chosen) and (chosen.min() < 0 or chosen.max() >= k):
        lo, hi = chosen.min().item(), chosen.max().item()
        raise ValueError(f"chosen indices must lie in [0, {k}), got range [{lo}, {hi}]")
    eps = checks.real(label_smoothing, "label_smoothing", lo=0)
    if not eps < (k - 1) / k:
        raise ValueError(f"label_smoothing must be in [0, (K−1)/K) = [0, {(k - 1) / k:.4g}) so that the chosen "
                         f"sample keeps the largest mass, got {label_smoothing!r}")
    dtype = dtype or torch.get_default_dtype()
    other = math.log(eps / (k - 1)) if eps > 0 else -math.inf
    out = torch.full((len(chosen), k), other, dtype=dtype, device=chosen.device)
    out[torch.arange(len(chosen), device=chosen.device), chosen.long()] = math.log1p(-eps)
    return out


def exo_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, target_logprobs: torch.Tensor,
             beta_pi: float, reduction: str = "mean") -> torch.Tensor:
    """EXO (Ji et al. 2024): the reverse KL from the policy's implicit distribution to the target,

        loss = KL(p_f ‖ p_t) = Σ_i p_f(i) (log p_f(i) − log p_t(i)),
        p_f(i) = softmax_i( β_π (log π_θ(y_i|x) − log π_sft(y_i|x)) ),

    over the K samples of each prompt (shapes (B, K); one loss per prompt). With p_t = :func:`reward_targets`
    it is EXO-rw; with p_t = :func:`preference_targets` at K = 2 it is EXO-pref = TRL's ``exo_pair``
    (label_smoothing ε). p_f > 0 everywhere, so a target with a zero (log p_t = −inf, e.g. ε = 0) makes the
    loss infinite: refused with a ValueError. ``target_logprobs`` is treated as a constant (no gradient).
    """
    log_pf = _implicit_logprobs(policy_logps, ref_logps, beta_pi)
    log_pt = _targets(target_logprobs, log_pf)
    if torch.isinf(log_pt).any():
        raise ValueError("exo_loss needs a target with full support: KL(p_f ‖ p_t) = ∞ where p_t = 0, since "
                         "p_f > 0 on every sample; use label_smoothing > 0 (TRL refuses ε = 0 for exo_pair too)")
    return _reduce((log_pf.exp() * (log_pf - log_pt)).sum(-1), reduction)


def dpo_soft_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, target_logprobs: torch.Tensor,
                  beta_pi: float, reduction: str = "mean") -> torch.Tensor:
    """DPO with soft labels over K samples: the forward KL from the target to the implicit distribution,

        loss = KL(p_t ‖ p_f) = Σ_i p_t(i) (log p_t(i) − log p_f(i)),   0 · log 0 = 0,

    p_f as in :func:`exo_loss`. With p_t = :func:`reward_targets` it is "DPO-rw" of the slides (the official
    code's soft cross-entropy −Σ p_t log p_f differs by the constant H(p_t)); at K = 2 with a one-hot target
    (ε = 0) it is −log σ(β_π Δ) = :func:`dpo_loss`. Shapes (B, K); one loss per prompt.
    """
    log_pf = _implicit_logprobs(policy_logps, ref_logps, beta_pi)
    log_pt = _targets(target_logprobs, log_pf)
    zero = torch.isinf(log_pt)  # p_t = 0: the term is 0 (and so is its gradient)
    terms = torch.where(zero, torch.zeros_like(log_pf), log_pt.exp() * (log_pt.masked_fill(zero, 0.0) - log_pf))
    return _reduce(terms.sum(-1), reduction)


def nce_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Noise-contrastive estimation, ranking form (Jozefowicz et al. 2016; Deng et al. 2020), one term per row:

        ℓ = −log e^{s(y+)} / (e^{s(y+)} + Σ_{k=1}^K e^{s(y−_k)}),   s = −E − log p_N

    (for a residual EBM p_θ e^{−E} with noise p_N = p_θ, s = −E). ``pos_scores`` (B,) are the scores of
    the data strings, ``neg_scores`` (B, K) those of K ≥ 1 noise strings each. The numpy twin (and its
    exact population version) is :func:`lmdist.exact.ebm.nce_loss`.
    """
    if not isinstance(pos_scores, torch.Tensor) or not isinstance(neg_scores, torch.Tensor):
        raise TypeError("pos_scores and neg_scores must be torch tensors")
    if pos_scores.dim() != 1 or neg_scores.dim() != 2 or neg_scores.shape[0] != pos_scores.shape[0] \
            or neg_scores.shape[1] < 1:
        raise ValueError(f"pos_scores must be (B,) and neg_scores (B, K) with K ≥ 1, got "
                         f"{tuple(pos_scores.shape)} and {tuple(neg_scores.shape)}")
    if torch.isnan(pos_scores).any() or torch.isnan(neg_scores).any():
        raise ValueError("scores contain NaN")
    logits = torch.cat([pos_scores[:, None], neg_scores], dim=1)
    return _reduce(torch.logsumexp(logits, dim=1) - pos_scores, reduction)


def tailr_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float, min_weight: float,
               label_smoothing: float = 0.0, ignore_index: int = -100, reduction: str = "mean") -> torch.Tensor:
    """TaiLr (Ji et al., ICLR 2023) exactly as the released criterion computes it.

    Source: thu-coai/TaiLr, ``fairseq/criterions/tailr.py`` (commit 6884733), function ``tailr_loss``:
    ``nll_loss = -lprobs.gather(target)``; ``smooth_loss = -lprobs.sum(-1)``; under ``torch.no_grad()``
    ``w = exp(log p - log(gamma + (1 - gamma) p))`` clamped to ``[min_weight, 1.0]``; ``loss = (1 - eps) ·
    w · nll + eps / V · smooth`` (its ``--density-ratio-threshold`` is γ, ``--density-min-weight`` is m).
    Per target token, p = p_θ(y_t | y_<t) = softmax(logits)[y_t]:

        loss_t = (1 − ε) · sg[clamp(p / (γ + (1 − γ) p), m, 1)] · (−log p) + (ε/V) Σ_v (−log p_θ(v | y_<t)),

    sg = stop-gradient; label smoothing is *not* weighted. Its gradient is exactly that of
    (1 − ε) L_{γ,m}(p) + LS term, L from :mod:`lmdist.exact.tailr` (γ = 0 or m = 1: maximum likelihood).
    The weight is computed from the log-probability (``exp(log p − log(γ + (1−γ)p))``, as the released
    code does), so an underflowing p still gets its floor. Positions whose target is ``ignore_index`` count
    zero. ``reduction``: "mean" (over the counted tokens; fairseq divides its sum by the token count),
    "sum", or "none" (shape of ``targets``). logits (B, T, V) with targets (B, T), or (N, V) with (N,).
    """
    checks.real(gamma, "gamma", lo=0.0, hi=1.0)
    checks.real(min_weight, "min_weight", lo=0.0, hi=1.0)
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} must be targets {tuple(targets.shape)} plus a vocabulary axis")
    lprobs = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
    keep = targets != ignore_index
    lp_t = lprobs.gather(-1, targets.masked_fill(~keep, 0).unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        w = (lp_t - torch.log(gamma + (1 - gamma) * lp_t.exp())).exp().clamp(min=min_weight, max=1.0)
    per = (1 - label_smoothing) * w * (-lp_t)
    if label_smoothing > 0:
        per = per + label_smoothing / lprobs.size(-1) * (-lprobs.sum(-1))
    per = per * keep
    if reduction == "mean":
        return per.sum() / keep.sum().clamp(min=1)
    if reduction == "sum":
        return per.sum()
    if reduction == "none":
        return per
    raise ValueError(f"reduction must be one of ['mean', 'sum', 'none'], got {reduction!r}")
