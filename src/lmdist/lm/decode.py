"""The batched decoder shared by :mod:`lmdist.lm.sampling` and :mod:`lmdist.lm.guidance`: prompts
tokenized and left-padded into one batch, position ids that ignore the padding, a prefill of the
whole batch, then one token per :meth:`step` with a KV cache (:class:`DynamicDecoder`, transformers'
growing cache; :class:`StaticDecoder`, fixed shapes replayed as a CUDA graph). Also the decoder's
inputs (device, EOS and padding ids) and outputs (:class:`Decoded` strings), and the batches it runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from tqdm import tqdm  # the plain bar: tqdm.auto wants ipywidgets in a kernel and warns without it

from lmdist.lm.models import resolve_device

T = TypeVar("T")


# --------------------------------------------------------------------------- inputs

def prepare(model: Any, device: str | torch.device, dtype: torch.dtype | None) -> torch.device:
    """Put the model on the device (and dtype, e.g. torch.bfloat16), in eval mode; in place like .to()."""
    dev = resolve_device(device)
    model.to(dev)
    if dtype is not None:
        model.to(dtype)
    model.eval()
    return dev


def eos_ids(model: Any, tokenizer: Any, eos_token_id: int | Sequence[int] | None) -> list[int]:
    """The ids that end a string: ``eos_token_id`` if given, else the model's generation config's, else
    the tokenizer's; ``[]`` when none is known (strings then run to ``max_new_tokens``)."""
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
    """The tokenizer's pad id, else the first EOS id, else 0 (padding is masked: its value never counts)."""
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = eos[0] if eos else 0
    return int(pad)


def encode(tokenizer: Any, prompts: Sequence[str | Sequence[int]]) -> list[list[int]]:
    """Token ids of each prompt: a string is tokenized (all strings in one call; an empty one becomes
    ``[BOS]``, as ``generate`` does), a prompt given as token ids is kept (it must not be empty)."""
    if isinstance(prompts, str) or not all(isinstance(p, str) or _is_ids(p) for p in prompts):
        raise ValueError("prompts must be a list of strings or of token-id lists")
    texts = [p for p in prompts if isinstance(p, str)]
    tokenized = iter(tokenizer(texts)["input_ids"] if texts else [])
    bos = getattr(tokenizer, "bos_token_id", None)
    out = []
    for p in prompts:
        seq = [int(t) for t in (next(tokenized) if isinstance(p, str) else p)]
        if not seq and not isinstance(p, str):
            raise ValueError("a prompt given as token ids must not be empty")
        if not seq:
            if bos is None:
                raise ValueError(f"prompt {p!r} has no tokens and the tokenizer has no bos_token_id")
            seq = [int(bos)]
        out.append(seq)
    return out


def _is_ids(x: Any) -> bool:
    return isinstance(x, (Sequence, np.ndarray)) and all(isinstance(t, (int, np.integer)) for t in x)


def pad_rows(seqs: Sequence[Sequence[int]], pad: int, device: torch.device, *, left: bool = True,
             width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` of shape (len(seqs), width): each row's tokens at the end (``left``: left
    padding, so that every prompt ends at the last column, where decoding continues) or at the start,
    ``pad`` elsewhere; mask 1 on the tokens, 0 on the padding. ``width`` defaults to the longest row."""
    width = max(map(len, seqs)) if width is None else width
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            cols = slice(width - len(s), width) if left else slice(0, len(s))
            ids[i, cols] = torch.tensor(list(s), dtype=torch.long)
            mask[i, cols] = 1
    return ids.to(device), mask.to(device)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding: cumsum(mask) − 1, clamped to 0 on the pads."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def batches(items: Sequence[T], size: int, show: bool | None, desc: str) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of ``size``, with a progress bar that counts items (``show``
    None: tqdm's own choice, shown on a terminal and hidden in logs and tests)."""
    with tqdm(total=len(items), desc=desc, disable=None if show is None else not show, leave=False) as bar:
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            yield chunk
            bar.update(len(chunk))


# --------------------------------------------------------------------------- outputs

@dataclass
class Decoded:
    """One decoded string: the ``sample_index``-th of prompt ``prompt_index``, its completion token
    ids, their text, and whether it ended with EOS (else it was cut at ``max_new_tokens``)."""

    prompt_index: int
    sample_index: int
    token_ids: list[int]
    text: str
    eos: bool

    def __len__(self) -> int:
        return len(self.token_ids)


def detokenize(tokenizer: Any, token_ids: list[int], eos: Sequence[int]) -> tuple[str, bool]:
    """The text of completion ids (special tokens skipped) and whether the last one is an EOS id."""
    return tokenizer.decode(token_ids, skip_special_tokens=True), bool(token_ids) and token_ids[-1] in eos


# --------------------------------------------------------------------------- transformers' interface

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
