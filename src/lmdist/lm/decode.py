"""The pieces of a batched decoding loop with a KV cache, shared by :mod:`lmdist.lm.sampling` and
:mod:`lmdist.lm.guidance`: devices, EOS and padding ids, left padding and positions, the cache handles of
transformers' models, each string's own seeded uniforms and the inverse-CDF draw, progress bars.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lmdist.lm.models import resolve_device


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


# --------------------------------------------------------------------------- decoders

class DynamicDecoder:
    """Prefill the left-padded prompts, then one token per :meth:`step`, with transformers' default
    (growing) KV cache. ``logits`` holds the next-token logits (batch, vocabulary)."""

    def __init__(self, model: Any, ids: torch.Tensor, mask: torch.Tensor):
        self.model, self.mask = model, mask
        self.cache_kw, self.keep = cache_kwarg(model), keep_kwargs(model, 1)
        self.pos = positions(mask)[:, -1]
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True, **self.keep)
        self.cache, self.logits = out_cache(out), out.logits[:, -1, :]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        self.pos = self.pos + 1
        out = self.model(input_ids=tokens.unsqueeze(-1), attention_mask=self.mask, position_ids=self.pos.unsqueeze(-1),
                         use_cache=True, **self.keep, **{self.cache_kw: self.cache})
        self.cache, self.logits = out_cache(out), out.logits[:, -1, :]
        return self.logits


class StaticDecoder:
    """The same steps with every tensor of a fixed shape, so that on CUDA one decode step (the whole
    forward pass) is captured once as a CUDA graph and replayed: the KV cache is transformers'
    ``StaticCache`` of length prompt + ``max_new_tokens``, and the attention mask is passed ready-made
    as (batch, 1, query, cache length) additive float mask — a key slot is visible when it holds a
    prompt token (not padding) or an already generated token; slots not yet written stay masked.

    Replaying kernels removes the per-layer launch and Python overhead that bounds decoding of
    small batches. On a CPU (``graph=False``) the same code runs eagerly, which is how its
    equivalence with :class:`DynamicDecoder` is tested.
    """

    def __init__(self, model: Any, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, graph: bool):
        from transformers import StaticCache

        b, width = ids.shape
        dev, self.model, self.dtype = ids.device, model, next(model.parameters()).dtype
        self.keep, self.cache_kw = keep_kwargs(model, 1), cache_kwarg(model)
        self.cache = StaticCache(config=model.config, max_cache_len=width + max_new_tokens)
        self.visible = torch.zeros((b, width + max_new_tokens), dtype=torch.bool, device=dev)
        self.visible[:, :width] = mask.bool()
        # Prefill: query i sees key j <= i when j is not padding (finite minimum, not -inf: the rows
        # of padding queries see nothing, and their outputs are never used).
        causal = torch.ones((width, width + max_new_tokens), dtype=torch.bool, device=dev).tril()
        out = model(input_ids=ids, attention_mask=self._additive(causal & self.visible[:, None, :]),
                    position_ids=positions(mask), cache_position=torch.arange(width, device=dev),
                    use_cache=True, **self.keep, **{self.cache_kw: self.cache})
        self.logits = out.logits[:, -1, :].clone()
        self.tokens = torch.zeros((b, 1), dtype=torch.long, device=dev)
        self.pos = positions(mask)[:, -1:].clone()
        self.slot = torch.tensor([width], dtype=torch.long, device=dev)
        self.graph = self._capture() if graph else None

    def _additive(self, visible: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros((), dtype=self.dtype, device=visible.device)
        return torch.where(visible, zero, torch.finfo(self.dtype).min).unsqueeze(1)

    def _forward(self) -> None:
        """One step on the fixed buffers: token ``tokens`` at position ``pos + 1`` into cache slot ``slot``."""
        self.pos += 1
        self.visible.index_fill_(1, self.slot, True)
        out = self.model(input_ids=self.tokens, attention_mask=self._additive(self.visible[:, None, :]),
                         position_ids=self.pos, cache_position=self.slot, use_cache=True, **self.keep,
                         **{self.cache_kw: self.cache})
        self.logits.copy_(out.logits[:, -1, :])
        self.slot += 1

    def _capture(self) -> Any:
        # Warm up on a side stream (as torch.cuda.graphs asks), then restore the state the warm-up
        # advanced: the cache slots it wrote are rewritten before any query can see them.
        saved = [t.clone() for t in (self.pos, self.slot, self.visible)]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._forward()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._forward()
        for t, s in zip((self.pos, self.slot, self.visible), saved):
            t.copy_(s)
        return graph

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.tokens.copy_(tokens.unsqueeze(-1))
        if self.graph is None:
            self._forward()
        else:
            self.graph.replay()
        return self.logits
