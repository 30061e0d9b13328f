"""Rewards: the sentiment classifier's held-out accuracy, VADER's sign, any HF classifier, validation."""

import os

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, pre_tokenizers
from tokenizers import models as tk_models
from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

from lmdist.lm import data, rewards


@pytest.fixture(scope="session")
def sentiment(tmp_path_factory):
    """Fitted once per session, into a cache under tmp (LMDIST_CACHE), never the user's."""
    old = os.environ.get("LMDIST_CACHE")
    os.environ["LMDIST_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield rewards.sentiment()
    finally:
        if old is None:
            del os.environ["LMDIST_CACHE"]
        else:
            os.environ["LMDIST_CACHE"] = old


def test_sentiment_held_out_accuracy(sentiment):
    texts, y = data.texts("test"), data.labels("test")
    r = sentiment(texts, [""] * len(texts))
    accuracy = float(((r > 0) == (y == 1)).mean())
    assert accuracy >= 0.85
    assert accuracy == pytest.approx(sentiment.test_accuracy)


def test_sentiment_is_cached_and_deterministic(sentiment):
    prompts = ["This movie was", "The acting"]
    completions = [" wonderful, a delight from start to finish.", " was awful and the plot made no sense."]
    a = sentiment(prompts, completions)
    again = rewards.sentiment()  # same parameters: loaded from the cache entry, not refitted
    assert np.array_equal(a, again(prompts, completions))
    assert a[0] > 0 > a[1]
    assert a.dtype == np.float64 and a.shape == (2,)


def test_sentiment_validates_parameters():
    with pytest.raises(ValueError, match="ngram_max"):
        rewards.sentiment(ngram_max=0)
    with pytest.raises(ValueError, match="C must be"):
        rewards.sentiment(C=-1.0)
    with pytest.raises(ValueError, match="min_df"):
        rewards.sentiment(min_df=0)


def test_vader_sign_and_prompt_plus_completion():
    v = rewards.vader()
    r = v(["", "", "The film was"], ["I love this wonderful, brilliant film!",
                                      "This is a horrible, terrible, boring mess.", ""])
    assert r[0] > 0.5 and r[1] < -0.5 and r[2] == 0.0
    assert np.array_equal(r, v(["", "", "The film was"], ["I love this wonderful, brilliant film!",
                                                          "This is a horrible, terrible, boring mess.", ""]))
    # the reward scores prompt + completion: the same text, however it is cut
    assert v(["I love"], [" it"])[0] == v(["I love it"], [""])[0]


@pytest.mark.parametrize("prompts, completions, match", [
    (["a", "b"], ["c"], "differ in length"),
    ("ab", ["c", "d"], "prompts must be"),
    (["a"], [3], "completions must be"),
])
def test_rewards_validate_their_arguments(prompts, completions, match):
    with pytest.raises(ValueError, match=match):
        rewards.vader()(prompts, completions)


@pytest.fixture()
def classifier_folder(tmp_path):
    words = ["<pad>", "good", "bad", "film"]
    tok = Tokenizer(tk_models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<pad>").save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=4, n_positions=16, n_embd=8, n_layer=1, n_head=2, num_labels=3,
                        pad_token_id=0, id2label={0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"},
                        label2id={"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2})
    GPT2ForSequenceClassification(config).save_pretrained(tmp_path, safe_serialization=True)
    return tmp_path


def test_hf_classifier_log_odds(classifier_folder):
    reward = rewards.hf_classifier(classifier_folder, label="positive", device="cpu")
    r = reward(["good", "bad film"], [" film", ""])
    model = GPT2ForSequenceClassification.from_pretrained(classifier_folder).eval()
    with torch.no_grad():
        for text, value in zip(["good film", "bad film"], r):
            ids = torch.tensor([[{"good": 1, "bad": 2, "film": 3}[w] for w in text.split()]])
            p = torch.softmax(model(ids).logits[0].double(), -1)
            assert value == pytest.approx(float(torch.log(p[2]) - torch.log1p(-p[2])), abs=1e-5)
    assert np.array_equal(r, rewards.hf_classifier(classifier_folder, label=2, device="cpu")(
        ["good", "bad film"], [" film", ""]))


def test_hf_classifier_errors(classifier_folder, tmp_path_factory):
    with pytest.raises(ValueError, match="label must be one of"):
        rewards.hf_classifier(classifier_folder, label="joy", device="cpu")
    with pytest.raises(ValueError, match=r"label must be an integer in \[0, 2\]"):
        rewards.hf_classifier(classifier_folder, label=7, device="cpu")
    with pytest.raises(ValueError, match="local folder"):
        rewards.hf_classifier("no-such-owner/no-such-classifier", label="positive", device="cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        rewards.hf_classifier(classifier_folder, label="positive", device="tpu")
