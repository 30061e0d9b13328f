"""A look-up language model: the kNN-LM of Khandelwal et al. (ICLR 2020), with exact search.

The datastore holds one (key, value) pair per token of a set of texts: the key is the model's hidden
state at position t — the last layer's output after the final layer norm, the vector the LM head reads —
and the value the next token x_{t+1}:

    B = {(h(x_{≤t}), x_{t+1})}.

For a query context c with hidden state q, with N_k(q) its k nearest keys in squared Euclidean distance
d(q, h) = ‖q − h‖² = ‖q‖² − 2 q·h + ‖h‖²,

    p_kNN(w | c) = Σ_{(h, v) ∈ N_k(q), v = w} exp(−d(q, h)/T) / Σ_{(h, v) ∈ N_k(q)} exp(−d(q, h)/T),

computed in log space (logsumexp); a token with no neighbour gets log p_kNN = −inf. The kNN-LM is the
mixture λ p_kNN + (1 − λ) p_θ, done as logaddexp(log λ + log p_kNN, log(1 − λ) + log p_θ)
(:func:`lmdist.exact.families.lookup_mixture`).

The search is exact: distances by matrix products in chunks of queries, then ``topk``. At the sizes a
CPU build uses (10⁵–10⁶ keys of dimension 192) this is seconds, and an approximate index such as faiss
is not needed. The datastore is cached (:func:`lmdist.lm.cache.entry`) under a key made of every
parameter that changes it: the model's weights (a hash), the texts (a hash), ``max_tokens``, the context
length and the dtype of the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lmdist.exact import checks
from lmdist.lm import cache, decode
from lmdist.lm.models import resolve_device

KEY_DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclass
class Tokens:
    """Per-token results of running a model over texts: row j is the prediction of one token.

    ``logp[j] = log p_θ(x_{t+1} | x_{≤t})``, ``hidden[j] = h(x_{≤t})`` (N × d), ``targets[j] = x_{t+1}``,
    ``text[j]`` the index of the text it comes from and ``position[j] = t``.
    """

    logp: np.ndarray
    hidden: torch.Tensor
    targets: np.ndarray
    text: np.ndarray
    position: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class Datastore:
    """Keys (N × d, float32 or float16) and values (the next-token ids, N) of a kNN-LM."""

    keys: torch.Tensor
    values: torch.Tensor

    def __len__(self) -> int:
        return int(self.values.shape[0])


def sequences(tokenizer: Any, texts: Sequence[str], max_tokens: int, context: int) -> list[list[int]]:
    """Each text as ``[EOS] + ids + [EOS]`` (the prior was trained on reviews separated by EOS, so EOS
    opens a text), cut to ``context`` tokens; texts are taken in order until they hold ``max_tokens``
    predicted tokens (the last one cut to fit). A sequence of n ids predicts n − 1 tokens."""
    checks.integer(max_tokens, "max_tokens", lo=1)
    checks.integer(context, "context", lo=2)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token, which opens and closes each text")
    out: list[list[int]] = []
    total = 0
    step = 256
    for start in range(0, len(texts), step):
        # the backend tokenizer: reviews are longer than model_max_length, and we cut them ourselves
        encoded = tokenizer.backend_tokenizer.encode_batch(list(texts[start:start + step]), add_special_tokens=False)
        for e in encoded:
            seq = ([eos] + list(e.ids) + [eos])[:context]
            seq = seq[:max_tokens - total + 1]
            if len(seq) < 2:
                continue
            out.append(seq)
            total += len(seq) - 1
            if total >= max_tokens:
                return out
    return out


@torch.no_grad()
def token_logprobs(model: Any, tokenizer: Any, texts: Sequence[str], max_tokens: int, *, context: int | None = None,
                   batch_size: int = 16, device: str | torch.device = "auto", progress: bool = False,
                   with_logprobs: bool = True) -> Tokens:
    """Run ``model`` over ``texts`` (:func:`sequences`) and return every predicted token's log p_θ, the
    hidden state it was predicted from (float32, on the CPU) and its target (:class:`Tokens`).

    Texts are batched by length (right padding: a causal model's earlier positions never see the pads);
    the log-probabilities are those of :func:`lmdist.lm.losses.token_logprobs` (log-softmax of the LM head).
    ``with_logprobs=False`` runs the body only (``model.base_model``: no LM head) and leaves ``logp`` NaN.
    """
    from lmdist.lm.losses import token_logprobs as gather_logprobs

    n_pos = int(getattr(model.config, "n_positions", 0) or getattr(model.config, "max_position_embeddings", 0) or 1024)
    ctx = n_pos if context is None else min(checks.integer(context, "context", lo=2), n_pos)
    dev = decode.prepare(model, device, None)
    seqs = sequences(tokenizer, texts, max_tokens, ctx)
    order = np.argsort([-len(s) for s in seqs], kind="stable")
    pad = decode.pad_id(tokenizer, [tokenizer.eos_token_id])
    parts: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
    for chunk in decode.batches(list(order), batch_size, progress, "tokens"):
        rows = [seqs[i] for i in chunk]
        ids, mask = decode.pad_rows(rows, pad, dev, left=False)
        if with_logprobs:
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            logp = gather_logprobs(out.logits, ids).float().cpu().numpy()
            hidden = out.hidden_states[-1].float().cpu()
        else:
            hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state.float().cpu()
            logp = np.full(hidden.shape[:2], np.nan, dtype=np.float32)
        for r, i in enumerate(chunk):
            n = len(rows[r]) - 1
            parts[int(i)] = (logp[r, :n], hidden[r, :n].clone())
    lengths = [len(s) - 1 for s in seqs]
    return Tokens(logp=np.concatenate([parts[i][0] for i in range(len(seqs))]).astype(np.float32),
                  hidden=torch.cat([parts[i][1] for i in range(len(seqs))]),
                  targets=np.concatenate([np.asarray(s[1:], dtype=np.int64) for s in seqs]),
                  text=np.repeat(np.arange(len(seqs)), lengths),
                  position=np.concatenate([np.arange(n) for n in lengths]))


def build_datastore(model: Any, tokenizer: Any, texts: Sequence[str], max_tokens: int, *,
                    context: int | None = None, dtype: str = "float32", batch_size: int = 16,
                    device: str | torch.device = "auto", progress: bool = False, use_cache: bool = True) -> Datastore:
    """The datastore of the first ``max_tokens`` predicted tokens of ``texts`` (:func:`token_logprobs`):
    keys = hidden states (``dtype`` float32 or float16), values = next-token ids.

    Cached (when ``use_cache``) under ``cache.entry("knn-datastore", ...)`` keyed by the model's weights,
    the texts, ``max_tokens``, ``context`` and ``dtype``; a second call with the same key loads the file.
    """
    if dtype not in KEY_DTYPES:
        raise ValueError(f"dtype must be one of {list(KEY_DTYPES)}, got {dtype!r}")
    folder = None
    if use_cache:
        folder = cache.entry("knn-datastore", model=cache.model_digest(model), texts=cache.texts_digest(texts),
                             max_tokens=int(max_tokens), context=context, dtype=dtype)
        path = folder / "datastore.safetensors"
        if path.is_file():
            saved = load_file(str(path))
            return Datastore(keys=saved["keys"], values=saved["values"])
    toks = token_logprobs(model, tokenizer, texts, max_tokens, context=context, batch_size=batch_size,
                          device=device, progress=progress, with_logprobs=False)
    store = Datastore(keys=toks.hidden.to(KEY_DTYPES[dtype]).contiguous(),
                      values=torch.from_numpy(toks.targets).contiguous())
    if folder is not None:
        tmp = folder / "datastore.safetensors.tmp"
        save_file({"keys": store.keys, "values": store.values}, str(tmp))
        tmp.replace(folder / "datastore.safetensors")
    return store


@torch.no_grad()
def neighbours(datastore: Datastore, queries: torch.Tensor, k: int, *, chunk: int = 1024,
               device: str | torch.device = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The k nearest keys of each query by exact search: squared distances (M × k, ascending, float64)
    and the values (next-token ids, M × k) of those keys.

        d(q, h) = ‖q‖² − 2 q·h + ‖h‖²   (clamped at 0: the expansion can round below it)
    """
    n = len(datastore)
    k = checks.integer(k, "k", lo=1, hi=n)
    if queries.ndim != 2 or queries.shape[1] != datastore.keys.shape[1]:
        raise ValueError(f"queries must be M × {datastore.keys.shape[1]}, got shape {tuple(queries.shape)}")
    dev = resolve_device(device)
    keys = datastore.keys.to(dev, torch.float32)
    key_sq = (keys * keys).sum(1)
    dist, idx = [], []
    for start in range(0, queries.shape[0], chunk):
        q = queries[start:start + chunk].to(dev, torch.float32)
        # ‖h‖² − 2 q·h in one fused product; ‖q‖² is the same for every key of a row: added after topk
        part = torch.addmm(key_sq[None, :].expand(q.shape[0], -1), q, keys.T, alpha=-2.0)
        val, ind = torch.topk(part, k, dim=1, largest=False, sorted=True)
        dist.append((val + (q * q).sum(1, keepdim=True)).clamp_min(0.0).double().cpu())
        idx.append(ind.cpu())
    ids = torch.cat(idx)
    return torch.cat(dist).numpy(), datastore.values[ids].numpy()


def knn_logprobs_from(dist: np.ndarray, values: np.ndarray, temperature: float,
                      targets: np.ndarray | None = None, vocab_size: int | None = None) -> np.ndarray:
    """log p_kNN from neighbours (:func:`neighbours`): for ``targets`` (M,) the vector
    log p_kNN(targets[j] | c_j); else the M × ``vocab_size`` matrix of log p_kNN(w | c_j).

        log p_kNN(w) = logsumexp_{i: v_i = w}(−d_i/T) − logsumexp_i(−d_i/T)   (−inf where no v_i = w)
    """
    t = checks.real(temperature, "temperature", lo=0.0, open_lo=True)
    d = np.asarray(dist, dtype=np.float64)
    v = np.asarray(values)
    if d.shape != v.shape or d.ndim != 2:
        raise ValueError(f"dist and values must be M × k arrays of one shape, got {d.shape} and {v.shape}")
    s = -d / t
    top = s.max(1, keepdims=True)
    w = np.exp(s - top)                     # the largest weight of each row is 1: no overflow
    log_z = np.log(w.sum(1)) + top[:, 0]
    if targets is not None:
        tg = np.asarray(targets)
        if tg.shape != (d.shape[0],):
            raise ValueError(f"targets must hold one id per query ({d.shape[0]}), got shape {tg.shape}")
        hit = (w * (v == tg[:, None])).sum(1)
        with np.errstate(divide="ignore"):
            return np.log(hit) + top[:, 0] - log_z
    vs = checks.integer(vocab_size, "vocab_size", lo=1)
    mass = np.zeros((d.shape[0], vs))
    np.add.at(mass, (np.repeat(np.arange(d.shape[0]), d.shape[1]), v.ravel()), w.ravel())
    with np.errstate(divide="ignore"):
        return np.log(mass) + (top[:, 0] - log_z)[:, None]


def knn_logprobs(datastore: Datastore, queries: torch.Tensor, k: int, temperature: float,
                 targets: np.ndarray | None = None, vocab_size: int | None = None, *, chunk: int = 1024,
                 device: str | torch.device = "auto") -> np.ndarray:
    """log p_kNN of the ``targets`` (or the full M × ``vocab_size`` matrix) for each query:
    :func:`neighbours` then :func:`knn_logprobs_from`."""
    dist, values = neighbours(datastore, queries, k, chunk=chunk, device=device)
    return knn_logprobs_from(dist, values, temperature, targets, vocab_size)
