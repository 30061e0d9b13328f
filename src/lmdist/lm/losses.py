"""Training losses, written once in torch, for the toy worlds and the neural models alike.

Each function states the equation it implements. The sequence log-probability is the quantity every
preference loss is built from.
"""

from __future__ import annotations

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
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be one of ['mean', 'sum', 'none'], got {reduction!r}")
