"""Guided sampling: decoding with a per-step policy computed from several next-token distributions.

:func:`lmdist.lm.sampling.sample` applies a fixed sampling adaptor to one model. Guidance needs more:
at every step the policy π_t is a function of *several* next-token distributions of the same
string — the model with the evidence in its context and without it (classifier-free guidance,
KL-divergence guided temperature), or one model and a discriminator of the extended prefixes
(classifier guidance). :func:`sample_guided` runs K *streams* in lockstep, each a (model, context)
pair with its own KV cache, feeds them the same sampled token, and at every step calls

    policy(logps, state) -> log π_t        logps: float64 array (K, B, V) of log p_k(· | context_k, y_<t)

(normalized), drawing y_t from π_t by inverse CDF with the same per-string uniforms as
:func:`lmdist.lm.sampling.sample` (so π = p_0 gives exactly the strings ``sample`` draws with no adaptor).
For every token it records log π_t(y_t) and log p_k(y_t | ·), and the exact per-step quantities

    KL(π_t ‖ p_k,t),   H(π_t),   KL(p_0,t ‖ p_k,t),

whose sums along a string are, in expectation, the sequence-level KL(π ‖ p_k), H(π) and the
expected KL between the streams (chain rule): low-variance estimators of the chapter-04 trade-off.
The policies themselves are mathematics (:mod:`lmdist.exact.decoding`); :func:`fudge_policy` wraps
classifier guidance with a sequence-level reward (rescore the top-k next tokens with the reward of
the extended prefix).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmdist.exact import checks
from lmdist.exact import decoding as dc
from lmdist.exact import infotheory as it
from lmdist.lm import decode, sampling


@dataclass
class GuidanceState:
    """What a policy may look at besides the distributions: for each row of the batch, the prompt
    index, the sample index, the tokens generated so far, and whether the string has ended."""

    prompt_index: list[int]
    sample_index: list[int]
    token_ids: list[list[int]]
    done: np.ndarray
    step: int


Policy = Callable[[np.ndarray, GuidanceState], np.ndarray]


@dataclass
class GuidedCompletion(decode.Decoded):
    """One guided string (:class:`lmdist.lm.decode.Decoded`). Arrays have one entry per completion
    token (EOS included); ``k`` indexes the streams:

    * ``token_logprobs_policy[t]`` = log π_t(y_t), ``token_logprobs_streams[k, t]`` = log p_k(y_t | ·);
    * ``step_kl[k, t]`` = KL(π_t ‖ p_k,t), ``step_entropy[t]`` = H(π_t),
      ``step_stream_kl[k, t]`` = KL(p_0,t ‖ p_k,t) (0 for k = 0).
    """

    token_logprobs_policy: np.ndarray
    token_logprobs_streams: np.ndarray
    step_kl: np.ndarray
    step_entropy: np.ndarray
    step_stream_kl: np.ndarray

    @property
    def logprob_policy(self) -> float:
        return float(self.token_logprobs_policy.sum())

    def logprob_stream(self, k: int) -> float:
        return float(self.token_logprobs_streams[k].sum())

    def kl(self, k: int = 0) -> float:
        """Σ_t KL(π_t ‖ p_k,t): unbiased for KL(π ‖ p_k) over strings (chain rule)."""
        return float(self.step_kl[k].sum())

    @property
    def entropy(self) -> float:
        """Σ_t H(π_t): unbiased for the entropy of π over strings."""
        return float(self.step_entropy.sum())

    def attribution(self, cond: int = 0, uncond: int = 1) -> float:
        """Σ_t E_{π_t}[log p_cond − log p_uncond] = Σ_t [KL(π_t‖p_uncond) − KL(π_t‖p_cond)]."""
        return float((self.step_kl[uncond] - self.step_kl[cond]).sum())


@torch.inference_mode()
def sample_guided(model: Any | Sequence[Any], tokenizer: Any, contexts: Sequence[Sequence[str | Sequence[int]]],
                  n: int, max_new_tokens: int, policy: Policy, seed: int = 0, batch_size: int = 16,
                  device: str | torch.device = "auto", dtype: torch.dtype | None = None,
                  eos_token_id: int | Sequence[int] | None = None,
                  progress: bool | None = None) -> list[GuidedCompletion]:
    """``n`` strings per prompt from the guided policy, for K streams.

    ``contexts[k][i]`` is stream k's context (text, or token ids) for prompt i; every stream has the
    same number of prompts. ``model`` is one model (all streams) or K models sharing ``tokenizer``.
    Returns ``len(contexts[0]) * n`` completions, prompt-major; a string depends only on
    (seed, prompt index, sample index) and the policy, not on the batch.
    """
    for name, value in (("n", n), ("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        checks.integer(value, name, lo=1)
    if not contexts or len({len(c) for c in contexts}) != 1:
        raise ValueError("contexts must be a non-empty list of streams, each with one context per prompt")
    k_streams = len(contexts)
    models = list(model) if isinstance(model, (list, tuple)) else [model] * k_streams
    if len(models) != k_streams:
        raise ValueError(f"{len(models)} models for {k_streams} streams")
    dev = None
    for m in {id(m): m for m in models}.values():
        dev = decode.prepare(m, device, dtype)
    eos = decode.eos_ids(models[0], tokenizer, eos_token_id)
    pad = decode.pad_id(tokenizer, eos)
    encoded = [decode.encode(tokenizer, c) for c in contexts]
    jobs = [(i, k) for i in range(len(contexts[0])) for k in range(n)]
    out: list[GuidedCompletion] = []
    for chunk in decode.batches(jobs, batch_size, progress, "guided sampling"):
        out.extend(_guided_batch(models, tokenizer, encoded, chunk, max_new_tokens, policy, seed, dev, eos, pad))
    return out


def _guided_batch(models: list[Any], tokenizer: Any, encoded: list[list[list[int]]], jobs: list[tuple[int, int]],
                  max_new_tokens: int, policy: Policy, seed: int, dev: torch.device, eos: list[int],
                  pad: int) -> list[GuidedCompletion]:
    b, k_streams = len(jobs), len(models)
    u = torch.stack([sampling.uniforms(seed, i, k, max_new_tokens) for i, k in jobs])
    streams = [decode.DynamicDecoder(m, *decode.pad_rows([enc[i] for i, _ in jobs], pad, dev))
               for m, enc in zip(models, encoded)]
    done = np.zeros(b, dtype=bool)
    generated: list[list[int]] = [[] for _ in range(b)]
    rec = {key: [] for key in ("pi", "streams", "kl", "h", "skl", "live")}
    for t in range(max_new_tokens):
        logps = np.stack([torch.log_softmax(s.logits.double(), dim=-1).cpu().numpy() for s in streams])
        state = GuidanceState([i for i, _ in jobs], [k for _, k in jobs], generated, done.copy(), t)
        logpi = it.normalize(np.asarray(policy(logps, state), dtype=np.float64))
        tok = sampling.draw(torch.from_numpy(logpi), u[:, t]).numpy()
        tok = np.where(done, pad, tok)
        rows = np.arange(b)
        rec["live"].append(~done)
        rec["pi"].append(logpi[rows, tok])
        rec["streams"].append(logps[:, rows, tok])
        rec["kl"].append(np.stack([np.asarray(it.kl(logpi, logps[j])) for j in range(k_streams)]))
        rec["h"].append(np.asarray(it.entropy(logpi)))
        rec["skl"].append(np.stack([np.zeros(b)] + [np.asarray(it.kl(logps[0], logps[j]))
                                                    for j in range(1, k_streams)]))
        for r in range(b):
            if not done[r]:
                generated[r].append(int(tok[r]))
        if eos:
            done = done | np.isin(tok, eos)
        if t + 1 == max_new_tokens or done.all():
            break
        col = torch.from_numpy(tok).long().to(dev)
        for s in streams:
            s.step(col)
    live = np.stack(rec["live"], axis=1)                    # (B, steps)
    pi = np.stack(rec["pi"], axis=1)
    st = np.stack(rec["streams"], axis=2)                    # (K, B, steps)
    kl = np.stack(rec["kl"], axis=2)
    h = np.stack(rec["h"], axis=1)
    skl = np.stack(rec["skl"], axis=2)
    out = []
    for r, (i, k) in enumerate(jobs):
        m = live[r]
        ids = generated[r]
        text, ended = decode.detokenize(tokenizer, ids, eos)
        out.append(GuidedCompletion(
            prompt_index=i, sample_index=k, token_ids=ids, text=text, eos=ended, token_logprobs_policy=pi[r, m].copy(),
            token_logprobs_streams=st[:, r, m].copy(), step_kl=kl[:, r, m].copy(), step_entropy=h[r, m].copy(),
            step_stream_kl=skl[:, r, m].copy()))
    return out


def fudge_policy(reward: Callable[[Sequence[str], Sequence[str]], np.ndarray], tokenizer: Any,
                 prompts: Sequence[str], lam: float, top_k: int, stream: int = 0) -> Policy:
    """Classifier guidance with a sequence-level reward, FUDGE-style (Yang & Klein 2021): at each
    step keep the ``top_k`` most probable next tokens of stream ``stream``, score each extended
    prefix with the discriminator log P(c | x, y_<t·a) = log σ(r(x, y_<t·a)) (``reward`` returns
    log-odds, e.g. :func:`lmdist.lm.rewards.sentiment`), and return
    :func:`lmdist.exact.decoding.classifier_guidance_policy` (∝ p(a) P(c | ·a)^λ on the top k; 0 elsewhere).
    ``prompts[i]`` is the text the reward sees before the completion of prompt i. Rows that have
    ended keep p. λ = 0 gives top-k sampling."""
    top_k = checks.integer(top_k, "top_k", lo=1)
    lam = checks.real(lam, "lam")

    def policy(logps: np.ndarray, state: GuidanceState) -> np.ndarray:
        lp = logps[stream]
        out = lp.copy()
        live = np.flatnonzero(~state.done)
        if not len(live):
            return out
        k = min(top_k, lp.shape[-1])
        cand = np.argpartition(-lp[live], k - 1, axis=-1)[:, :k]          # (L, k)
        texts, ctx = [], []
        for row, c in zip(live, cand):
            base = state.token_ids[row]
            ctx.extend([prompts[state.prompt_index[row]]] * k)
            texts.extend(tokenizer.decode(base + [int(a)], skip_special_tokens=True) for a in c)
        r = np.asarray(reward(ctx, texts), dtype=np.float64).reshape(len(live), k)
        log_class = np.full(lp[live].shape, -np.inf)
        np.put_along_axis(log_class, cand, -np.logaddexp(0.0, -r), axis=-1)   # log σ(r)
        out[live] = dc.classifier_guidance_policy(lp[live], log_class, lam)
        return out

    return policy
