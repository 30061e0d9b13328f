"""The pieces of a batched decoding loop with a KV cache, shared by :mod:`lmdist.sampling` and
:mod:`lmdist.guidance`: devices, EOS and padding ids, left padding and positions, the cache handles of
transformers' models, each string's own seeded uniforms and the inverse-CDF draw, progress bars.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lmdist.models import resolve_device


def prepare(model: Any, device: str | torch.device, dtype: torch.dtype | None) -> torch.device:
    """Put the model on the device (and dtype, e.g. torch.bfloat16), in eval mode; in place like .to()."""
    dev = resolve_device(device)
    model.to(dev)
    if dtype is not None:
        model.to(dtype)
    model.eval()
    return dev


def eos_ids(model: Any, tokenizer: Any, eos_token_id: int | Sequence[int] | None) -> list[int]:
    if eos_token_id is None:
        cfg = getattr(model, "generation_config", None)
        eos_token_id = getattr(cfg, "eos_token_id", None) if cfg is not None else None
        if eos_token_id is None:
            eos_token_id = getattr(tokenizer, "eos_token_id", None)
    if eos_token_id is None:
        return []
    ids = [eos_token_id] if isinstance(eos_token_id, (int, np.integer)) else list(eos_token_id)
    return [int(i) for i in ids]


def pad_id(tokenizer: Any, eos: list[int]) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = eos[0] if eos else 0
    return int(pad)


def encode(tokenizer: Any, prompts: Sequence[str]) -> list[list[int]]:
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a list of strings")
    ids = tokenizer(list(prompts))["input_ids"]
    bos = getattr(tokenizer, "bos_token_id", None)
    out = []
    for p, seq in zip(prompts, ids):
        seq = [int(t) for t in seq]
        if not seq:  # an empty prompt: condition on BOS, as generate does
            if bos is None:
                raise ValueError(f"prompt {p!r} has no tokens and the tokenizer has no bos_token_id")
            seq = [int(bos)]
        out.append(seq)
    return out


def left_pad(seqs: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding: (cumsum(mask) - 1), 0 on the pads."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def cache_kwarg(model: Any) -> str:
    """The name of the KV-cache argument: ``cache`` in transformers >= 5.x, ``past_key_values`` before."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def keep_kwargs(model: Any, n: int) -> dict[str, int]:
    """``logits_to_keep=n`` where the model takes it: the LM head then runs on the last n positions only."""
    return {"logits_to_keep": n} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def out_cache(out: Any) -> Any:
    c = out.get("cache", None) if hasattr(out, "get") else None
    return c if c is not None else out.past_key_values


def uniforms(seed: int, prompt_index: int, sample_index: int, n: int) -> torch.Tensor:
    """The string's own stream of uniforms, so that a string depends only on (seed, prompt, sample
    index) and not on the batch it was drawn in."""
    state = np.random.SeedSequence([int(seed), int(prompt_index), int(sample_index)]).generate_state(2)
    g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.rand(n, generator=g, dtype=torch.float64)


def draw(logq: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling from exp(logq) (N, V) with one uniform per row (float64 cumulative sums;
    a zero-probability token is never returned)."""
    probs = logq.double().exp()
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    idx = idx.clamp(max=probs.shape[-1] - 1)
    bad = probs.gather(-1, idx.unsqueeze(-1)).squeeze(-1) <= 0  # only at u * total rounding up to total
    return torch.where(bad, probs.argmax(-1), idx)  # no .any(): no device sync per step


def positive_int(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def progress(total: int, show: bool | None, desc: str) -> tqdm:
    # None: tqdm's own choice (shown on a terminal, hidden in logs and tests)
    return tqdm(total=total, desc=desc, disable=None if show is None else not show, leave=False)
