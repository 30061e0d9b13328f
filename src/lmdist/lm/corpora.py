"""Corpora: strings sampled from an aligned policy (under a sampling adaptor), each scored under the
policy, the prior and a reward — the raw material of the probability–quality trade-off (Part III).

For every string y of prompt x a :class:`Corpus` holds its text, its token ids (the policy's, and the
prior's: the same ones, or the re-tokenised text when the tokenizers differ) and

* ``logp_policy`` = log π(y | x), the policy without the adaptor;
* ``logq_local`` = log q̃(y | x) = Σ_t log q̃_t(y_t), the locally normalized adapted distribution that
  was sampled (the proposal of IMHA);
* ``log_weight`` = log π̃(y | x) = Σ_t log γ̃(π(· | x, y_<t))(y_t), the unnormalized *globally*
  normalized adapted distribution (the target of IMHA);
* ``logp_prior`` = log p(y | x), the prior, **with the prompt** (Tan et al. 2024 scored the prior without it);
* ``reward`` = r(x, y).

When the prior has the policy's tokenizer the token ids are scored as sampled; otherwise the
completion's text is re-tokenised with the prior's tokenizer (the canonical tokenisation), followed
by the prior's EOS when the string ended with EOS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmdist.lm import decode, sampling
from lmdist.lm.sampling import AdaptorLike


@dataclass(frozen=True)
class Corpus:
    """One row per string; every array has the same length (``len(corpus)``)."""

    prompts: tuple[str, ...]
    prompt_index: np.ndarray
    texts: np.ndarray
    token_ids: np.ndarray
    prior_token_ids: np.ndarray
    n_tokens: np.ndarray
    eos: np.ndarray
    logp_policy: np.ndarray
    logq_local: np.ndarray
    log_weight: np.ndarray
    logp_prior: np.ndarray
    reward: np.ndarray

    def __len__(self) -> int:
        return len(self.prompt_index)


def _same_vocabulary(a: Any, b: Any) -> bool:
    return a is b or a.get_vocab() == b.get_vocab()


def _prior_ids(completions: list[sampling.Completion], tokenizer: Any, prior_tokenizer: Any,
               prior_eos: list[int]) -> list[list[int]]:
    """Token ids of each completion for the prior: as sampled, or re-tokenised from the text."""
    if _same_vocabulary(tokenizer, prior_tokenizer):
        return [c.token_ids for c in completions]
    if not prior_eos:
        raise ValueError("the prior's tokenizer differs from the policy's and has no EOS id: cannot mark "
                         "where a re-tokenised string ends")
    out = []
    for c in completions:
        ids = [int(t) for t in prior_tokenizer(c.text, add_special_tokens=False)["input_ids"]]
        out.append(ids + [prior_eos[0]] if c.eos else ids)
    return out


def _object_array(rows: list[list[int]]) -> np.ndarray:
    """A 1-D object array of lists (np.array would make a 2-D array when all rows have one length)."""
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


@torch.inference_mode()
def sample_corpus(policy: Any, tokenizer: Any, prior: Any, prompts: Sequence[str], n: int, max_new_tokens: int,
                  reward: Callable[[Sequence[str], Sequence[str]], np.ndarray], adaptor: AdaptorLike = None,
                  seed: int = 0, batch_size: int = 64, device: str | torch.device = "auto",
                  prior_tokenizer: Any = None, progress: bool | None = None) -> Corpus:
    """``n`` strings per prompt from the policy under ``adaptor`` (locally normalized, as
    :func:`lmdist.lm.sampling.sample`), scored under the prior (prompt included) and by ``reward``.
    ``prior_tokenizer`` defaults to ``tokenizer``. Deterministic for a given ``seed``."""
    prior_tokenizer = tokenizer if prior_tokenizer is None else prior_tokenizer
    comps = sampling.sample(policy, tokenizer, prompts, n, max_new_tokens, adaptor=adaptor, seed=seed,
                            batch_size=batch_size, device=device, progress=progress)
    cprompts = [c.prompt for c in comps]
    ids = _prior_ids(comps, tokenizer, prior_tokenizer, decode.eos_ids(prior, prior_tokenizer, None))
    scored = sampling.score(prior, prior_tokenizer, cprompts, ids, batch_size=batch_size, device=device,
                            progress=progress)
    texts = [c.text for c in comps]
    return Corpus(
        prompts=tuple(prompts),
        prompt_index=np.array([c.prompt_index for c in comps], dtype=np.int64),
        texts=np.array(texts, dtype=object),
        token_ids=_object_array([c.token_ids for c in comps]),
        prior_token_ids=_object_array(ids),
        n_tokens=np.array([len(c) for c in comps], dtype=np.int64),
        eos=np.array([c.eos for c in comps], dtype=bool),
        logp_policy=np.array([c.logprob_model for c in comps]),
        logq_local=np.array([c.logprob_adapted for c in comps]),
        log_weight=np.array([c.log_weight for c in comps]),
        logp_prior=np.array([s.logprob_model for s in scored]),
        reward=np.asarray(reward(cprompts, texts), dtype=np.float64),
    )
