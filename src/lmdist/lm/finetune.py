"""Fine-tuning a bundled prior on reviews by maximum likelihood or TaiLr, cached; per-review perplexity.

* :func:`corrupt` makes noisy training data: a fraction of the reviews replaced by degenerate text.
* :func:`fine_tune` continues training a prior (``tiny-imdb``) on a list of texts with the MLE
  (cross-entropy) or the TaiLr loss (:func:`lmdist.lm.losses.tailr_loss`), nanoGPT-style like
  :mod:`lmdist.lm.zoo` (random windows of the concatenated reviews, AdamW, warm-up then cosine decay).
  The result is saved with ``save_pretrained`` (safetensors) in a :func:`lmdist.lm.cache.entry` keyed by
  every parameter, so a second call loads it.
* :func:`perplexity` scores whole reviews, one number per review, for intervals over reviews.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm  # the plain bar (never shown unless progress=True)

from lmdist.exact import checks
from lmdist.lm import cache, decode, losses, models, zoo

LOSSES = ("mle", "tailr")
CORRUPTIONS = ("shuffle", "random")
#: Fixed parts of the recipe (part of every cache key): warm-up steps (as a fraction of the run), the final
#: learning rate of the cosine as a fraction of the peak, AdamW's weight decay, the gradient-norm clip.
RECIPE = dict(warmup_fraction=0.1, min_lr_ratio=0.1, weight_decay=0.0, grad_clip=1.0, version=1)


# ---------------------------------------------------------------------------------------------
# Noisy data
# ---------------------------------------------------------------------------------------------

def corrupted_indices(n: int, fraction: float, seed: int) -> np.ndarray:
    """The sorted indices of the round(fraction · n) reviews to corrupt, drawn uniformly without
    replacement with ``numpy.random.default_rng(seed)``."""
    n = checks.integer(n, "n", lo=0)
    fraction = checks.real(fraction, "fraction", lo=0.0, hi=1.0)
    k = int(round(fraction * n))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


def corrupt(texts: Sequence[str], fraction: float, seed: int, how: str = "shuffle") -> list[str]:
    """``texts`` with the reviews of :func:`corrupted_indices` replaced by degenerate text:

    * ``how="shuffle"``: the review's own words (split at whitespace) in a uniformly random order —
      the same words, so the same unigram statistics, but no syntax;
    * ``how="random"``: as many words, each drawn uniformly (with replacement) from the distinct words of
      all of ``texts`` — word salad with a flat word distribution.

    The other reviews are unchanged; the order of the list is kept.
    """
    if how not in CORRUPTIONS:
        raise ValueError(f"how must be one of {list(CORRUPTIONS)}, got {how!r}")
    out = list(texts)
    idx = corrupted_indices(len(out), fraction, seed)
    rng = np.random.default_rng([seed, 1])
    vocab = sorted({w for t in out for w in t.split()}) if how == "random" else []
    for i in idx:
        words = out[i].split()
        if how == "shuffle":
            out[i] = " ".join(words[j] for j in rng.permutation(len(words)))
        else:
            out[i] = " ".join(vocab[j] for j in rng.integers(0, len(vocab), size=len(words)))
    return out


# ---------------------------------------------------------------------------------------------
# Fine-tuning
# ---------------------------------------------------------------------------------------------


def fine_tune(prior: str = "tiny-imdb", texts: Sequence[str] = (), loss: str = "mle", gamma: float = 0.0,
              min_weight: float = 0.0, steps: int = 60, lr: float = 1e-4, batch_size: int = 8, block: int = 128,
              seed: int = 0, device: str = "auto", label_smoothing: float = 0.0,
              progress: bool = False) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, tokenizer, card)``: ``prior`` trained ``steps`` more steps on ``texts``, loaded on ``device``.

    Each step draws ``batch_size`` windows of ``block + 1`` tokens at random offsets of the concatenated
    texts (each followed by EOS; :func:`lmdist.lm.zoo.encode_corpus`, :func:`~lmdist.lm.zoo.random_batch`)
    and takes an AdamW step (:func:`~lmdist.lm.zoo.optimizer`, :func:`~lmdist.lm.zoo.descend`) on

    * ``loss="mle"``: the mean cross-entropy −(1/N) Σ_t log p_θ(x_t | x_<t) (γ and m are ignored), or
    * ``loss="tailr"``: :func:`lmdist.lm.losses.tailr_loss` with ``gamma``, ``min_weight``, ``label_smoothing``,

    the learning rate warming up over the first 10 % of the steps, then decaying by a cosine to 0.1 · ``lr``
    (:func:`~lmdist.lm.zoo.lr_at`). Seeded by ``seed`` (torch and the batch sampler). The model is cached in
    :func:`lmdist.lm.cache.entry` keyed by every parameter (the texts by their sha256, the device by its
    type, since a GPU and a CPU give slightly different weights); ``card`` holds the key, the loss
    history and the training time.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    steps = checks.integer(steps, "steps", lo=1)
    batch_size = checks.integer(batch_size, "batch_size", lo=1)
    lr = checks.real(lr, "lr", lo=0.0, open_lo=True)
    if loss == "tailr":
        checks.real(gamma, "gamma", lo=0.0, hi=1.0)
        checks.real(min_weight, "min_weight", lo=0.0, hi=1.0)
    else:
        gamma, min_weight, label_smoothing = 0.0, 0.0, 0.0
    texts = list(texts)
    if not texts:
        raise ValueError("texts must hold at least one review")
    dev = models.resolve_device(device)
    key = dict(prior=str(prior), texts=cache.texts_digest(texts), n_texts=len(texts), loss=loss, gamma=float(gamma),
               min_weight=float(min_weight), label_smoothing=float(label_smoothing), steps=steps, lr=lr,
               batch_size=batch_size, block=int(block), seed=int(seed), device=dev.type, **RECIPE)
    folder = cache.entry("finetune", **key)
    done = folder / "card.json"
    if done.is_file():
        with models.quiet(progress):
            model, tokenizer = models.load_lm(folder, device=str(dev))
        return model, tokenizer, json.loads(done.read_text())
    with models.quiet(progress):
        model, tokenizer = models.load_lm(prior, device=str(dev))
    block = checks.integer(block, "block", lo=1, hi=int(model.config.n_positions))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    stream = zoo.encode_corpus(tokenizer, texts)
    if len(stream) < block + 2:
        raise ValueError(f"the texts hold {len(stream)} tokens, fewer than block + 2 = {block + 2}")
    model.train()
    opt = zoo.optimizer(model, lr, RECIPE["weight_decay"])
    warmup = int(RECIPE["warmup_fraction"] * steps)
    history, t0 = [], time.time()
    for i in tqdm(range(steps), desc=f"fine-tune {loss}", disable=not progress, leave=False):
        x = zoo.random_batch(stream, block, batch_size, rng).to(dev)
        logits = model(input_ids=x[:, :-1], attention_mask=torch.ones_like(x[:, :-1])).logits
        if loss == "mle":
            value = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        else:
            value = losses.tailr_loss(logits, x[:, 1:], gamma, min_weight, label_smoothing=label_smoothing)
        zoo.descend(opt, model, value, zoo.lr_at(i, i / steps, lr, warmup, RECIPE["min_lr_ratio"]),
                    RECIPE["grad_clip"])
        history.append(round(value.item(), 5))
    model.eval()
    with models.quiet(progress):
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    card = {**key, "train_seconds": round(time.time() - t0, 2), "train_tokens": int(len(stream)),
            "loss_history": history, "device_name": zoo.device_name(dev)}
    done.write_text(json.dumps(card, indent=1, allow_nan=False) + "\n")
    return model, tokenizer, card


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Perplexity:
    """Per-review negative log-likelihoods (nats, summed over the review's tokens) and token counts."""

    nll: np.ndarray
    tokens: np.ndarray

    @property
    def mean_nll(self) -> float:
        """H = Σ_i nll_i / Σ_i n_i, nats per token."""
        return float(self.nll.sum() / self.tokens.sum())

    @property
    def value(self) -> float:
        """Perplexity e^H."""
        return math.exp(self.mean_nll)

    def se(self) -> float:
        """Standard error of H over reviews (ratio estimator, delta method):
        se² = n/(n−1) Σ_i (nll_i − H n_i)² / (Σ_i n_i)²."""
        n = len(self.nll)
        r = self.nll - self.mean_nll * self.tokens
        return float(math.sqrt(n / max(n - 1, 1) * (r ** 2).sum()) / self.tokens.sum())


def encode_reviews(tokenizer: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """Each review's token ids, EOS appended (through the backend tokenizer: no length warning)."""
    eos = tokenizer.eos_token
    return [np.asarray(e.ids, dtype=np.int64) for e in
            tokenizer.backend_tokenizer.encode_batch([t + eos for t in texts], add_special_tokens=False)]


@torch.no_grad()
def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 16,
               max_tokens: int | None = None) -> Perplexity:
    """Score each review as the prior saw reviews in training: after an EOS, its tokens and a final EOS,

        nll_i = −Σ_{t=1}^{n_i} log p_θ(x_t | EOS, x_<t),

    cut to the first ``max_tokens`` tokens (default: the model's context minus one). Returns the
    per-review sums and counts (:class:`Perplexity`), whose ratio is the corpus perplexity."""
    if not texts:
        raise ValueError("texts must hold at least one review")
    limit = int(model.config.n_positions) - 1 if max_tokens is None else checks.integer(max_tokens, "max_tokens", lo=1)
    eos = tokenizer.eos_token_id
    rows = [np.r_[eos, ids[:limit]] for ids in encode_reviews(tokenizer, texts)]
    nll, count = np.zeros(len(rows)), np.zeros(len(rows), dtype=np.int64)
    dev = model.device
    was_training = model.training
    model.eval()
    for s in range(0, len(rows), batch_size):
        chunk = rows[s:s + batch_size]
        x, mask = decode.pad_rows([r.tolist() for r in chunk], eos, dev, left=False)
        per = -losses.token_logprobs(model(input_ids=x, attention_mask=mask).logits, x)
        keep = mask[:, 1:].to(per.dtype)
        nll[s:s + len(chunk)] = (per * keep).sum(1).double().cpu().numpy()
        count[s:s + len(chunk)] = keep.sum(1).long().cpu().numpy()
    model.train(was_training)
    return Perplexity(nll, count)
