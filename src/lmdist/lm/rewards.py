"""Rewards: callables ``(prompts, completions) -> np.ndarray`` (one float per pair).

Every reward here scores the *text the reader sees*, prompt ⊕ completion (the prompt followed by the
completion's text, as decoded): a sentiment classifier judges a review as a whole, and a completion
that turns a negative opening around should be judged with that opening. Within one prompt the
prompt is common to all completions, so comparisons between completions of the same prompt (best-of-N,
preference pairs) are about the completions alone; across prompts, the prompt's own tone counts.

* :func:`sentiment` — log-odds P(positive)/P(negative) of a TF-IDF + logistic-regression classifier
  fitted on the train split of :mod:`lmdist.lm.data`, cached after the first fit;
* :func:`vader` — VADER's compound score in [−1, 1] (a lexicon and rules; no fitting);
* :func:`hf_classifier` — the log-odds of one label of any Hugging Face sequence classifier
  (a local folder or an id already in the local cache).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmdist.exact import checks
from lmdist.lm import cache, data

Reward = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def join(prompts: Sequence[str], completions: Sequence[str]) -> list[str]:
    """The texts a reward scores: ``prompt + completion`` for each pair (checked to be strings)."""
    for name, xs in (("prompts", prompts), ("completions", completions)):
        if isinstance(xs, str) or not all(isinstance(x, str) for x in xs):
            raise ValueError(f"{name} must be a sequence of strings")
    if len(prompts) != len(completions):
        raise ValueError(f"prompts and completions differ in length: {len(prompts)} vs {len(completions)}")
    return [p + c for p, c in zip(prompts, completions)]


class LogOddsReward:
    """A classifier's reward r(x, y) = log-odds of its label for the text x ⊕ y (:func:`join`);
    subclasses give :meth:`log_odds` of a list of texts."""

    def log_odds(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return self.log_odds(join(prompts, completions))


# ---------------------------------------------------------------------------------------------
# Sentiment classifier: TF-IDF + logistic regression on the train split
# ---------------------------------------------------------------------------------------------

class SentimentReward(LogOddsReward):
    """r(x, y) = log P(positive | x ⊕ y) − log P(negative | x ⊕ y) = w·tfidf(x ⊕ y) + b.

    ``test_accuracy`` is the classifier's accuracy on the test split of :mod:`lmdist.lm.data`
    (a review counts as positive when r > 0).
    """

    def __init__(self, pipeline: Any, params: dict[str, Any], metrics: dict[str, Any]):
        self.pipeline, self.params, self.metrics = pipeline, params, metrics

    @property
    def test_accuracy(self) -> float:
        return float(self.metrics["test_accuracy"])

    def log_odds(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.pipeline.decision_function(list(texts)), dtype=np.float64)

    def __repr__(self) -> str:
        return f"sentiment({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"


def _fit_sentiment(params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    t0 = time.time()
    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, params["ngram_max"]), min_df=params["min_df"],
                        max_features=params["max_features"], sublinear_tf=True, dtype=np.float32),
        LogisticRegression(C=params["C"], max_iter=1000))  # lbfgs: deterministic
    pipe.fit(data.texts("train"), data.labels("train"))
    fit_seconds = time.time() - t0
    y = data.labels("test")
    pred = (pipe.decision_function(data.texts("test")) > 0).astype(np.int64)
    acc = float((pred == y).mean())
    metrics = {"test_accuracy": acc, "test_accuracy_se": math.sqrt(acc * (1 - acc) / len(y)),
               "test_reviews": len(y), "train_reviews": len(data.labels("train")),
               "fit_seconds": round(fit_seconds, 2)}
    return pipe, metrics


def sentiment(ngram_max: int = 1, min_df: int = 2, max_features: int | None = 200_000, C: float = 4.0,
              refit: bool = False) -> SentimentReward:
    """The TF-IDF + logistic-regression sentiment reward (log-odds of *positive*).

    Fitted on the train split of :mod:`lmdist.lm.data` the first time, then loaded from
    ``cache.entry("sentiment", ...)``, keyed by every parameter here, the split sizes and the
    scikit-learn version. ``refit=True`` fits again and overwrites the entry.
    """
    import joblib
    import sklearn

    checks.integer(ngram_max, "ngram_max", lo=1, hi=3)
    checks.integer(min_df, "min_df", lo=1)
    if max_features is not None:
        checks.integer(max_features, "max_features", lo=1)
    checks.real(C, "C", lo=0, open_lo=True)
    params = {"ngram_max": ngram_max, "min_df": min_df, "max_features": max_features, "C": float(C)}
    folder = cache.entry("sentiment", **params, version=1, splits=data.sizes(), sklearn=sklearn.__version__)
    model_file, metrics_file = folder / "model.joblib", folder / "metrics.json"
    if refit or not (model_file.exists() and metrics_file.exists()):
        pipe, metrics = _fit_sentiment(params)
        # Write the metrics last: an interrupted fit leaves no metrics file, so it is fitted again.
        joblib.dump(pipe, model_file)
        metrics_file.write_text(json.dumps(metrics, indent=2))
    else:
        pipe, metrics = joblib.load(model_file), json.loads(metrics_file.read_text())
    return SentimentReward(pipe, params, metrics)


# ---------------------------------------------------------------------------------------------
# VADER
# ---------------------------------------------------------------------------------------------

class VaderReward:
    """r(x, y) = VADER's compound score of x ⊕ y, in [−1, 1] (Hutto & Gilbert 2014)."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        self.analyzer = SentimentIntensityAnalyzer()

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        return np.array([self.analyzer.polarity_scores(t)["compound"] for t in join(prompts, completions)],
                        dtype=np.float64)

    def __repr__(self) -> str:
        return "vader()"


def vader() -> VaderReward:
    """The VADER compound sentiment score of prompt ⊕ completion."""
    return VaderReward()


# ---------------------------------------------------------------------------------------------
# Any Hugging Face sequence classifier
# ---------------------------------------------------------------------------------------------

class HFClassifierReward(LogOddsReward):
    """r(x, y) = log P(label | x ⊕ y) − log(1 − P(label | x ⊕ y)) = z_label − logsumexp_{j≠label} z_j

    for the logits z of a sequence-classification model (softmax over its labels). Texts longer than
    ``max_length`` tokens are truncated (from the right).
    """

    def __init__(self, model: Any, tokenizer: Any, label_index: int, label_name: str, device: Any,
                 batch_size: int, max_length: int, source: str):
        self.model, self.tokenizer, self.label_index, self.label_name = model, tokenizer, label_index, label_name
        self.device, self.batch_size, self.max_length, self.source = device, batch_size, max_length, source

    def log_odds(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(list(texts[i:i + self.batch_size]), return_tensors="pt", padding=True,
                                     truncation=True, max_length=self.max_length).to(self.device)
                z = self.model(**enc).logits.float()
                if z.shape[-1] == 1:  # a single-logit (sigmoid) head: the logit is the log-odds
                    lo = z[:, 0] if self.label_index == 0 else -z[:, 0]
                else:
                    others = torch.cat([z[:, :self.label_index], z[:, self.label_index + 1:]], dim=-1)
                    lo = z[:, self.label_index] - torch.logsumexp(others, dim=-1)
                out.append(lo.double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def __repr__(self) -> str:
        return f"hf_classifier({self.source!r}, label={self.label_name!r})"


def hf_classifier(name_or_path: str | Path, label: str | int, device: str = "auto", batch_size: int = 32,
                  max_length: int = 512) -> HFClassifierReward:
    """The log-odds of ``label`` (a name in the model's ``id2label``, or an index) under a local
    sequence classifier (folder, or Hugging Face id in the local cache; safetensors only, no remote
    code, no download)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lmdist.lm.models import prepare_tokenizer, resolve_device

    dev = resolve_device(device)
    checks.integer(batch_size, "batch_size", lo=1)
    checks.integer(max_length, "max_length", lo=1)
    common = dict(local_files_only=True, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), **common)
        model = AutoModelForSequenceClassification.from_pretrained(str(name_or_path), use_safetensors=True,
                                                                   **common)
    except OSError as err:
        raise ValueError(f"cannot load sequence classifier {str(name_or_path)!r}: give a local folder (with "
                         f"config.json and *.safetensors) or a Hugging Face id already in the local cache "
                         f"(lmdist never downloads). ({err})") from err
    model.to(dev).eval()
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        prepare_tokenizer(tokenizer)
    if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id  # causal-LM classifiers find the last token by it
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    n = max(model.config.num_labels, 2)
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        raise ValueError(f"label must be a label name {sorted(id2label.values())} or an index, got {label!r}")
    if isinstance(label, int):
        index = checks.integer(label, "label", lo=0, hi=n - 1)
    else:
        names = {v.lower(): k for k, v in id2label.items()}
        if label.lower() not in names:
            raise ValueError(f"label must be one of {sorted(id2label.values())} (or an index), got {label!r}")
        index = names[label.lower()]
    return HFClassifierReward(model, tokenizer, index, id2label.get(index, str(index)), dev, batch_size,
                              max_length, str(name_or_path))
