"""The canonical IMDB split: sizes, disjointness, determinism by hash, labels, prompts."""

import hashlib

import numpy as np
import pytest

from lmdist.lm import data


def test_split_sizes_are_80_10_10_and_balanced():
    sizes = data.sizes()
    total = sum(sizes.values())
    assert 24_800 <= total <= 25_000  # the IMDB train release, exact duplicates kept once
    for split, fraction in {"train": 0.8, "validation": 0.1, "test": 0.1}.items():  # the documented buckets
        assert abs(sizes[split] / total - fraction) < 0.01, (split, sizes)
        assert abs(data.labels(split).mean() - 0.5) < 0.03  # both labels in every split


def test_splits_are_disjoint_and_follow_the_hash():
    sets = {s: set(data.texts(s)) for s in data.SPLITS}
    assert not sets["train"] & sets["validation"]
    assert not sets["train"] & sets["test"]
    assert not sets["validation"] & sets["test"]
    for split in data.SPLITS:
        for text in data.texts(split)[:50]:
            bucket = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 100
            assert data.split_of(text) == split
            assert (bucket < 80) == (split == "train")


def test_reviews_are_cleaned_imdb_reviews():
    texts = data.texts("validation")
    assert not any("<br" in t for t in texts)
    assert min(map(len, texts)) > 20  # no Rotten Tomatoes snippets of a few words
    assert data.clean("Good.<br /><br />Bad.<br/>  Ugly ") == "Good. Bad. Ugly"
    assert data.reviews("test")[0].sentiment in data.LABELS


def test_bad_split_names_the_parameter():
    with pytest.raises(ValueError, match="split must be one of"):
        data.texts("dev")


class WordTokenizer:
    """A stand-in tokenizer: one token per whitespace-separated word."""

    def __call__(self, text, add_special_tokens=False, truncation=False, max_length=None):
        words = text.split()
        return {"input_ids": words[:max_length] if truncation else words}

    def decode(self, ids):
        return " ".join(ids)


def test_prompts_are_first_k_tokens_of_held_out_reviews_and_deterministic():
    tok = WordTokenizer()
    a = data.prompts(20, 5, tok, split="test", seed=3)
    assert a == data.prompts(20, 5, tok, split="test", seed=3)
    assert a != data.prompts(20, 5, tok, split="test", seed=4)
    assert len(set(a)) == 20 and all(len(p.split()) == 5 for p in a)
    starts = {" ".join(t.split()[:5]) for t in data.texts("test")}
    assert set(a) <= starts
    with pytest.raises(ValueError, match="k_tokens"):
        data.prompts(3, 0, tok)
    with pytest.raises(ValueError, match="n must be"):
        data.prompts(0, 4, tok)


def test_labels_align_with_texts():
    assert len(data.labels("train")) == len(data.texts("train"))
    assert set(np.unique(data.labels("train"))) == {0, 1}


def test_prompts_tokenize_no_more_than_needed_and_never_warn():
    """Reviews are tokenized only up to k_tokens + 1 tokens: no "sequence length is longer than the
    specified maximum" warning even when the tokenized prefix of a review would exceed the model's
    maximum length, and the prompts are still the first k_tokens tokens of reviews."""
    import logging

    from transformers import AutoTokenizer

    from lmdist.lm import models

    tok = AutoTokenizer.from_pretrained(models.bundled_path("tiny-imdb"))
    tok.model_max_length = 24  # below the ~60 tokens of the review prefix tokenized for k_tokens = 12
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers.tokenization_utils_base")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        out = data.prompts(5, 12, tok, split="test", seed=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert not [r for r in records if "longer than the specified maximum" in r.getMessage()]
    starts = {tok.decode(e.ids[:12]) for e in tok.backend_tokenizer.encode_batch(data.texts("test"),
                                                                                   add_special_tokens=False)}
    assert len(out) == 5 and set(out) <= starts
