"""Sampling and scoring with sampling adaptors on transformers language models (the engine).

The adaptors themselves are mathematics (:mod:`lmdist.exact.adaptors`, numpy); here each one is mapped to
transformers' own logits warper (``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ...), applied —
unlike in ``generate`` — to the *normalized* log-probabilities log_softmax(logits), so that the
warpers' output is the adaptor's log γ̃ of the normalized distribution. For every token of every string
we record

* log p(y_t | y_<t), the unadapted model;
* log q̃_t(y_t) = log γ̃_t(y_t) - log Z_t, the locally normalized adapted distribution that was sampled;
* log γ̃_t(y_t), the unnormalized adapted weight, whose sum over t is log π̃(y), the unnormalized
  globally normalized adapted distribution π ∝ prod_t γ̃(p(. | y_<t))(y_t).

:func:`sample` is one batched decoding loop with a KV cache that records all three while sampling
(no second forward pass); :func:`score` computes them for given completions in one forward pass;
:func:`imha` runs the Independent Metropolis–Hastings Algorithm whose target is π and whose proposal
is the sampler. A string stops after its first EOS token (whose log-probability counts) or after
``max_new_tokens`` tokens (then ``eos`` is False and the log-probabilities are those of that prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import (
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)
from transformers.generation.logits_process import LogitsProcessor

from lmdist.exact import adaptors as ad
from lmdist.exact import checks
from lmdist.exact.imha import Chain, chain_ess, imha_chain
from lmdist.lm import decode
from lmdist.lm.models import resolve_device

AdaptorLike = ad.Adaptor | dict | str | None

#: adaptor step → (transformers' warper, its argument, the step's field that gives it)
WARPERS: dict[type, tuple[type, str, str]] = {
    ad.Temperature: (TemperatureLogitsWarper, "temperature", "temperature"),
    ad.TopK: (TopKLogitsWarper, "top_k", "k"),
    ad.TopP: (TopPLogitsWarper, "top_p", "p"),
    ad.MinP: (MinPLogitsWarper, "min_p", "min_p"),
    ad.TypicalP: (TypicalLogitsWarper, "mass", "mass"),
    ad.Epsilon: (EpsilonLogitsWarper, "epsilon", "epsilon"),
    ad.Eta: (EtaLogitsWarper, "epsilon", "eta"),
}


# --------------------------------------------------------------------------- adaptors as warpers

def logits_processors(adaptor: AdaptorLike, device: str | torch.device = "cpu") -> list[LogitsProcessor]:
    """transformers' warpers for the adaptor's steps, in its order of application.

    Apply them to log_softmax(logits), not to raw logits: then their output is log γ̃ of the
    normalized distribution, the same as the numpy adaptor (``tests/test_adaptors.py`` checks it).
    """
    out: list[LogitsProcessor] = []
    for step in ad.from_spec(adaptor).steps:
        if type(step) not in WARPERS:
            raise TypeError(f"no transformers warper for adaptor step {step!r}")
        warper, argument, field = WARPERS[type(step)]
        value = getattr(step, field)
        kwargs = {argument: int(value) if isinstance(step, ad.TopK) else float(value)}
        if isinstance(step, ad.Eta):  # the only warper that allocates a tensor
            kwargs["device"] = str(resolve_device(device))
        out.append(warper(**kwargs))
    return out


@dataclass(frozen=True)
class _Adapter:
    """The adaptor on a batch of logits rows, in torch."""

    processors: list[LogitsProcessor]
    inverse_temperature: float
    # k when the adaptor keeps at most the top k tokens before any other truncation (only a
    # temperature may come first: it does not change the order), else None.
    top_k: int | None

    @classmethod
    def make(cls, adaptor: AdaptorLike, device: torch.device) -> _Adapter:
        a = ad.from_spec(adaptor)
        first = next((s for s in a.steps if not isinstance(s, ad.Temperature)), None)
        return cls(logits_processors(a, device), a.inverse_temperature,
                   first.k if isinstance(first, ad.TopK) else None)

    def __call__(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """For logits (N, V): (log p, log q̃, the warpers' output on log p - max log p, offset) with
        log γ̃ = output + offset and offset = max log p · prod(1/T) (float64, per row).

        Warping log p - max log p (each row's max is 0) is exact — truncations ignore a per-row
        constant and a temperature divides it by T — and keeps log q̃ finite at any temperature.
        """
        logp = torch.log_softmax(logits.float(), dim=-1)
        m = logp.max(dim=-1, keepdim=True).values
        warped = self._warp(logp - m)
        logq = torch.log_softmax(warped, dim=-1)
        m64 = m.squeeze(-1).double()
        offset = torch.where(m64 == 0, torch.zeros_like(m64), m64 * self.inverse_temperature)
        return logp, logq, warped, offset

    def _warp(self, scores: torch.Tensor) -> torch.Tensor:
        """The warpers on each row; after a top-k, on the k kept columns only (the others are -inf
        whatever the later steps do), which spares sorting the whole vocabulary at every step."""
        k = self.top_k
        # CPU only: the tie check below waits for the device, which on a GPU costs more than the sort.
        if k is not None and k < scores.shape[-1] and scores.device.type == "cpu":
            kept, idx = scores.topk(k, dim=-1)
            # A tie at the k-th value keeps more than k tokens: then take the full path.
            if not bool(((scores >= kept[..., -1:]).sum(-1) > k).any()):
                return torch.full_like(scores, -torch.inf).scatter(-1, idx, self._apply(kept))
        return self._apply(scores)

    def _apply(self, scores: torch.Tensor) -> torch.Tensor:
        dummy_ids = torch.empty((scores.shape[0], 0), dtype=torch.long, device=scores.device)
        for proc in self.processors:  # the warpers ignore input_ids
            scores = proc(dummy_ids, scores)
        return scores


# --------------------------------------------------------------------------- results

@dataclass
class Completion(decode.Decoded):
    """One string (:class:`lmdist.lm.decode.Decoded`), its prompt and per-token log-probabilities
    (float64, one per completion token, EOS included):

    * ``token_logprobs_model[t]`` = log p(y_t | x, y_<t),
    * ``token_logprobs_adapted[t]`` = log q̃_t(y_t) (-inf where the adaptor removed y_t),
    * ``token_log_weights[t]`` = log γ̃(p(. | x, y_<t))(y_t);

    ``logprob_model``, ``logprob_adapted`` and ``log_weight`` (= log π̃(y)) are their sums.
    """

    prompt: str
    token_logprobs_model: np.ndarray
    token_logprobs_adapted: np.ndarray
    token_log_weights: np.ndarray

    @property
    def logprob_model(self) -> float:
        return float(self.token_logprobs_model.sum())

    @property
    def logprob_adapted(self) -> float:
        return float(self.token_logprobs_adapted.sum())

    @property
    def log_weight(self) -> float:
        return float(self.token_log_weights.sum())


# --------------------------------------------------------------------------- draws

def uniforms(seed: int, prompt_index: int, sample_index: int, n: int) -> torch.Tensor:
    """The string's own stream of uniforms, so that a string depends only on (seed, prompt, sample
    index) and not on the batch it was drawn in."""
    state = np.random.SeedSequence([int(seed), int(prompt_index), int(sample_index)]).generate_state(2)
    g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.rand(n, generator=g, dtype=torch.float64)


def draw(logq: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling from exp(logq) (N, V) with one uniform per row: the first v with
    Σ_{w≤v} q(w) > u · Σ_w q(w) (float64 cumulative sums; a zero-probability token is never returned)."""
    probs = logq.double().exp()
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
    idx = idx.clamp(max=probs.shape[-1] - 1)
    bad = probs.gather(-1, idx.unsqueeze(-1)).squeeze(-1) <= 0  # only at u * total rounding up to total
    return torch.where(bad, probs.argmax(-1), idx)  # no .any(): no device sync per step


# --------------------------------------------------------------------------- tokens

def _setup(model: Any, tokenizer: Any, prompts: Sequence[str], adaptor: AdaptorLike,
           device: str | torch.device, dtype: torch.dtype | None,
           eos_token_id: int | Sequence[int] | None) -> tuple[torch.device, _Adapter, list[int], int, list[list[int]]]:
    """What sampling and scoring both need: the device, the adaptor in torch, EOS ids, pad id, prompt ids."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a list of strings")
    dev = decode.prepare(model, device, dtype)
    eos = decode.eos_ids(model, tokenizer, eos_token_id)
    return dev, _Adapter.make(adaptor, dev), eos, decode.pad_id(tokenizer, eos), decode.encode(tokenizer, prompts)


# --------------------------------------------------------------------------- sampling

@torch.inference_mode()
def sample(model: Any, tokenizer: Any, prompts: Sequence[str], n: int, max_new_tokens: int,
           adaptor: AdaptorLike = None, seed: int = 0, batch_size: int = 16,
           device: str | torch.device = "auto", dtype: torch.dtype | None = None,
           eos_token_id: int | Sequence[int] | None = None, progress: bool | None = None,
           static_cache: bool = False) -> list[Completion]:
    """``n`` strings per prompt from the locally normalized adapted model q̃_t ∝ γ̃(p(. | x, y_<t)).

    Batched (strings of several prompts share a batch; prompts left-padded) with a KV cache; every
    string draws its tokens by inverse CDF from its own uniforms (seeded by ``seed``, the prompt's
    index and the sample's index through ``torch.Generator``), so results do not depend on
    ``batch_size`` beyond float rounding. ``eos_token_id`` defaults to the model's generation config,
    then the tokenizer's; ``[]`` means never stop early. Returns ``len(prompts) * n`` completions,
    prompt-major. ``static_cache=True`` decodes with :class:`lmdist.lm.decode.StaticDecoder` (a fixed-size
    KV cache; on CUDA each decode step is replayed as a CUDA graph): the same strings up to float
    rounding, for large models with small batches, where launch overhead bounds the speed.
    """
    for name, value in (("n", n), ("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        checks.integer(value, name, lo=1)
    if not isinstance(static_cache, bool):
        raise ValueError(f"static_cache must be True or False, got {static_cache!r}")
    dev, adapter, eos, pad, encoded = _setup(model, tokenizer, prompts, adaptor, device, dtype, eos_token_id)
    jobs = [(i, k) for i in range(len(prompts)) for k in range(n)]
    results: list[Completion] = []
    for chunk in decode.batches(jobs, batch_size, progress, "sampling"):
        results.extend(_sample_batch(model, tokenizer, prompts, encoded, chunk, max_new_tokens, adapter,
                                     seed, dev, eos, pad, static_cache))
    return results


def _sample_batch(model: Any, tokenizer: Any, prompts: Sequence[str], encoded: list[list[int]],
                  jobs: list[tuple[int, int]], max_new_tokens: int, adapter: _Adapter, seed: int,
                  dev: torch.device, eos: list[int], pad: int, static_cache: bool) -> list[Completion]:
    b = len(jobs)
    ids, mask = decode.pad_rows([encoded[i] for i, _ in jobs], pad, dev)
    u = torch.stack([uniforms(seed, i, k, max_new_tokens) for i, k in jobs]).to(dev)
    eos_t = torch.tensor(eos, dtype=torch.long, device=dev)
    # Checking "all strings ended" syncs with the device: every step on a CPU, every 8th on a GPU.
    check_every = 1 if dev.type == "cpu" else 8
    decoder = (decode.StaticDecoder(model, ids, mask, max_new_tokens, graph=dev.type == "cuda") if static_cache
               else decode.DynamicDecoder(model, ids, mask))
    logits = decoder.logits
    tokens = torch.full((b, max_new_tokens), pad, dtype=torch.long, device=dev)
    lp_model = torch.zeros((b, max_new_tokens), dtype=torch.float64, device=dev)
    lp_adapted = torch.zeros_like(lp_model)
    lw = torch.zeros_like(lp_model)
    live = torch.ones((b, max_new_tokens), dtype=torch.bool, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    steps = 0
    for t in range(max_new_tokens):
        logp, logq, warped, offset = adapter(logits)
        tok = draw(logq, u[:, t])
        tok = torch.where(done, torch.full_like(tok, pad), tok)  # nothing is sampled after EOS
        col = tok.unsqueeze(-1)
        tokens[:, t] = tok
        live[:, t] = ~done
        lp_model[:, t] = logp.gather(-1, col).squeeze(-1).double()
        lp_adapted[:, t] = logq.gather(-1, col).squeeze(-1).double()
        lw[:, t] = warped.gather(-1, col).squeeze(-1).double() + offset
        steps = t + 1
        if eos:
            done = done | torch.isin(tok, eos_t)
        if t + 1 == max_new_tokens or (eos and (t + 1) % check_every == 0 and bool(done.all())):
            break
        logits = decoder.step(tok)
    tokens, live = tokens[:, :steps].cpu(), live[:, :steps].cpu()
    lp_model, lp_adapted, lw = (x[:, :steps].cpu().numpy() for x in (lp_model, lp_adapted, lw))
    results = []
    for r, (i, k) in enumerate(jobs):
        length = int(live[r].sum())
        tok_list = tokens[r, :length].tolist()
        text, ended = decode.detokenize(tokenizer, tok_list, eos)
        results.append(Completion(
            prompt=prompts[i], prompt_index=i, sample_index=k, token_ids=tok_list, text=text, eos=ended,
            token_logprobs_model=lp_model[r, :length].copy(),
            token_logprobs_adapted=lp_adapted[r, :length].copy(),
            token_log_weights=lw[r, :length].copy()))
    return results


# --------------------------------------------------------------------------- scoring

#: Elements of a (rows x vocabulary) float32 block adapted at once in :func:`score` (64 MB).
_SCORE_BLOCK = 1 << 24


@torch.inference_mode()
def score(model: Any, tokenizer: Any, prompts: Sequence[str], completions: Sequence[Sequence[int]],
          adaptor: AdaptorLike = None, batch_size: int = 16, device: str | torch.device = "auto",
          dtype: torch.dtype | None = None, eos_token_id: int | Sequence[int] | None = None,
          progress: bool | None = None) -> list[Completion]:
    """Exact log-probabilities of given completions (token ids, one per prompt):

        log p(y | x) = sum_t log p(y_t | x, y_<t),   log q̃(y | x) = sum_t log q̃_t(y_t),
        log π̃(y | x) = sum_t log γ̃(p(. | x, y_<t))(y_t),

    -inf for the adapted ones when the adaptor removed one of the tokens. The tokens are scored as
    given (an EOS inside a completion is not treated specially). One forward pass per batch;
    ``completions[j]`` continues ``prompts[j]``. ``sample_index`` is j.
    """
    if len(prompts) != len(completions):
        raise ValueError(f"prompts and completions differ in length: {len(prompts)} vs {len(completions)}")
    checks.integer(batch_size, "batch_size", lo=1)
    dev, adapter, eos, pad, encoded = _setup(model, tokenizer, prompts, adaptor, device, dtype, eos_token_id)
    comps = [[int(t) for t in c] for c in completions]
    results: list[Completion] = []
    for idx in decode.batches(range(len(comps)), batch_size, progress, "scoring"):
        width = max(len(comps[j]) for j in idx)
        if width == 0:
            arrays = [(np.zeros(0), np.zeros(0), np.zeros(0)) for _ in idx]
        else:
            ids, mask = decode.pad_rows([encoded[j] for j in idx], pad, dev)
            comp, cmask = decode.pad_rows([comps[j] for j in idx], pad, dev, left=False)
            full_ids = torch.cat([ids, comp], dim=1)
            full_mask = torch.cat([mask, cmask], dim=1)
            # Only the logits that predict completion tokens: columns L-1 .. L+width-2.
            out = model(input_ids=full_ids, attention_mask=full_mask, position_ids=decode.positions(full_mask),
                        use_cache=False, **decode.keep_kwargs(model, width + 1))
            logits = out.logits[:, -(width + 1):-1, :]
            vocab = logits.shape[-1]
            if int(comp.max()) >= vocab:
                raise ValueError(f"a completion token id is >= the model's vocabulary size {vocab}")
            rows = logits.reshape(-1, vocab)
            flat_tok = comp.reshape(-1, 1)
            step = max(1, _SCORE_BLOCK // vocab)
            parts = ([], [], [])
            for s in range(0, rows.shape[0], step):
                logp, logq, warped, offset = adapter(rows[s:s + step])
                col = flat_tok[s:s + step]
                parts[0].append(logp.gather(-1, col).squeeze(-1).double())
                parts[1].append(logq.gather(-1, col).squeeze(-1).double())
                parts[2].append(warped.gather(-1, col).squeeze(-1).double() + offset)
            lp_model, lp_adapted, lw = (torch.cat(p).reshape(len(idx), width).cpu().numpy() for p in parts)
            arrays = [(lp_model[r, : len(comps[j])].copy(), lp_adapted[r, : len(comps[j])].copy(),
                       lw[r, : len(comps[j])].copy()) for r, j in enumerate(idx)]
        for (a_model, a_adapted, a_w), j in zip(arrays, idx):
            text, ended = decode.detokenize(tokenizer, comps[j], eos)
            results.append(Completion(
                prompt=prompts[j], prompt_index=j, sample_index=j, token_ids=comps[j], text=text, eos=ended,
                token_logprobs_model=a_model, token_logprobs_adapted=a_adapted, token_log_weights=a_w))
    return results


# --------------------------------------------------------------------------- IMHA

@dataclass
class IMHAResult:
    """An IMHA run on a language model: the proposals (:class:`Completion`, i.i.d. from the local
    sampler q̃), the chain over them, and its states as completions. ``ess`` is the effective sample
    size (Geyer's initial monotone sequence, :func:`lmdist.exact.imha.effective_sample_size`) of the
    model log-probability log p(y | x) along the chain."""

    proposals: list[Completion]
    chain: Chain
    acceptance_rate: float
    ess: float

    @property
    def states(self) -> list[Completion]:
        return [self.proposals[i] for i in self.chain.states]


def imha(model: Any, tokenizer: Any, prompt: str, adaptor: AdaptorLike, n_proposals: int, seed: int = 0,
         max_new_tokens: int = 64, batch_size: int = 16, device: str | torch.device = "auto",
         dtype: torch.dtype | None = None, eos_token_id: int | Sequence[int] | None = None,
         progress: bool | None = None) -> IMHAResult:
    """Independent Metropolis–Hastings for the globally normalized adapted distribution

        π(y | x) ∝ prod_t γ̃(p(. | x, y_<t))(y_t)      (target, γ̃ on the normalized model),
        q̃(y | x) = prod_t γ̃_t(y_t) / Z_t                (proposal: the sampler, :func:`sample`),

    accepting y' from y with probability min(1, π̃(y') q̃(y) / (π̃(y) q̃(y'))) =
    min(1, prod_t Z_t(y') / prod_t Z_t(y)). ``n_proposals`` fresh proposals; the accept/reject
    uniforms come from a stream of ``seed`` separate from the proposals'. Strings cut at
    ``max_new_tokens`` enter with the weights of their prefix (the target is then π on the sampler's
    output space).
    """
    proposals = sample(model, tokenizer, [prompt], n_proposals, max_new_tokens, adaptor=adaptor, seed=seed,
                       batch_size=batch_size, device=device, dtype=dtype, eos_token_id=eos_token_id,
                       progress=progress)
    log_target = np.array([c.log_weight for c in proposals])
    log_proposal = np.array([c.logprob_adapted for c in proposals])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A4A]))
    chain = imha_chain(log_target, log_proposal, rng)
    stat = np.array([c.logprob_model for c in proposals])
    ess = chain_ess(chain, stat) if len(proposals) > 1 else 1.0
    return IMHAResult(proposals=proposals, chain=chain, acceptance_rate=chain.acceptance_rate, ess=ess)
