"""Evaluation functions: each metric on hand-made strings with answers computed by hand, the features
matrix, the validation of names, and the MiniLM sentence encoder (coherence)."""

import numpy as np
import pytest

from lmdist.lm import evaluators as ev

# --------------------------------------------------------------------------- n-gram metrics, by hand

@pytest.mark.parametrize("text, n, expected", [
    ("a b a b", 2, 1 / 3),      # bigrams ab, ba, ab: 2 unique of 3
    ("a b a b", 1, 1 / 2),      # words a, b, a, b: 2 unique of 4
    ("a b a b", 3, 0.0),        # aba, bab: all unique
    ("a a a a", 1, 3 / 4),
    ("a a a a", 2, 2 / 3),      # aa, aa, aa: 1 unique of 3
    ("x y z", 2, 0.0),
    ("a b", 3, 0.0),            # fewer words than n: no n-gram, no repetition
    ("", 2, 0.0),
    ("  the cat   the cat\nthe ", 2, 1 / 2),  # any whitespace splits: the cat, cat the, the cat, cat the
])
def test_rep_by_hand(text, n, expected):
    assert ev.rep(text, n) == pytest.approx(expected, abs=1e-15)
    assert ev.distinct(text, n) == pytest.approx(1 - expected, abs=1e-15)


def test_diversity_by_hand():
    # "a b a b": rep-2 = 1/3, rep-3 = 0 (aba, bab), rep-4 = 0 (one 4-gram): (2/3)(1)(1)
    assert ev.diversity("a b a b") == pytest.approx(2 / 3, abs=1e-15)
    # "a a a a a": rep-2 = 3/4, rep-3 = 2/3, rep-4 = 1/2: (1/4)(1/3)(1/2)
    assert ev.diversity("a a a a a") == pytest.approx(1 / 24, abs=1e-15)
    assert ev.diversity("") == 1.0


@pytest.mark.parametrize("text, window, expected", [
    ("a b a c", 2, 1 / 4),      # only the second a: its 2 previous words are a, b
    ("a b a c", 1, 0.0),        # the second a's previous word is b
    ("a a a", 1, 2 / 3),
    ("a b c a", 2, 0.0),        # a is 3 words back
    ("a b c a", 3, 1 / 4),
    ("", 32, 0.0),
])
def test_token_repetition_by_hand(text, window, expected):
    assert ev.token_repetition(text, window) == pytest.approx(expected, abs=1e-15)


def test_corpus_distinct_pools_ngrams_across_strings():
    # bigrams: (a b) | (a b), (b c): 2 unique of 3
    assert ev.corpus_distinct(["a b", "a b c"], 2) == pytest.approx(2 / 3, abs=1e-15)
    assert np.isnan(ev.corpus_distinct(["a", "b"], 2))
    with pytest.raises(ValueError, match="n"):
        ev.corpus_distinct(["a"], 0)


# --------------------------------------------------------------------------- the features matrix

class CountingReward:
    """A stand-in for the sentiment reward: the number of 'good' in prompt ⊕ completion."""

    def __init__(self):
        self.calls = 0

    def __call__(self, prompts, completions):
        self.calls += 1
        return np.array([(p + c).count("good") for p, c in zip(prompts, completions)], dtype=float)


def test_features_columns_match_the_functions():
    prompts = ["p", "good q", "r"]
    comps = ["a b a b", "good good film", ""]
    names = ["rep-2", "distinct-1", "diversity", "tr-2", "length", "sentiment"]
    reward = CountingReward()
    F = ev.features(prompts, comps, names, reward=reward)
    assert F.shape == (3, 6) and F.dtype == np.float64
    expected = np.array([[1 / 3, 1 / 2, 2 / 3, 1 / 2, 4, 0],    # tr-2: the 2nd a and the 2nd b repeat
                         [0, 2 / 3, 1, 1 / 3, 3, 3],
                         [0, 1, 1, 0, 0, 0]])
    np.testing.assert_allclose(F, expected, rtol=0, atol=1e-15)
    assert reward.calls == 1


def test_features_of_no_strings_is_empty():
    assert ev.features([], [], ["rep-2", "length"]).shape == (0, 2)


@pytest.mark.parametrize("names", [["rep"], ["rep-0"], ["rep-n"], ["tr-L"], ["perplexity"], ["length", "length"],
                                   [], "length", [3]])
def test_bad_names_raise_with_the_allowed_values(names):
    with pytest.raises(ValueError) as err:
        ev.features(["x"], ["y"], names)
    assert "rep-n" in str(err.value) or "repeat" in str(err.value)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="differ in length"):
        ev.features(["x", "y"], ["z"], ["length"])
    with pytest.raises(ValueError, match="completions"):
        ev.features(["x"], "y", ["length"])


# --------------------------------------------------------------------------- MiniLM and coherence

@pytest.fixture(scope="module")
def encoder():
    return ev.minilm("cpu")


def test_minilm_is_the_published_model(encoder):
    # sentence-transformers' documented example for all-MiniLM-L6-v2: cosine similarities 0.6946, 0.9429,
    # 0.2569 (printed to 4 decimals; float32 rounding on another CPU moves the 6th decimal, so 1e-3 is safe).
    s = ["That is a happy person", "That is a happy dog", "That is a very happy person", "Today is a sunny day"]
    sims = encoder.similarity([s[0]] * 3, s[1:])
    np.testing.assert_allclose(sims, [0.6946, 0.9429, 0.2569], atol=1e-3)


def test_coherence_of_identical_texts_is_one(encoder):
    texts = ["The film was a delight.", "I did not like the ending at all, it dragged on."]
    F = ev.features(texts, texts, ["coherence"], encoder=encoder)
    # unit vectors in float32: |e|^2 = 1 to ~1e-6 (and the cosine is clipped at 1)
    np.testing.assert_allclose(F[:, 0], 1.0, atol=1e-5)
    assert np.all(F[:, 0] <= 1.0)
    assert ev.features([""], [""], ["coherence"], encoder=encoder)[0, 0] == 1.0  # 1 + 1.3e-7 before clipping
    E = encoder.embed(texts)
    assert E.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)


def test_embeddings_do_not_depend_on_order_or_repeats(encoder):
    a, b = "a good movie", "the plot was thin and the acting wooden"
    e1 = encoder.embed([a, b])
    e2 = encoder.embed([b, a, b])
    # each distinct text is embedded once, in an order fixed by the set of texts: bit-identical
    assert np.array_equal(e1[0], e2[1]) and np.array_equal(e1[1], e2[0]) and np.array_equal(e2[0], e2[2])


def test_coherence_ranks_related_above_unrelated(encoder):
    prompt = "This movie was a great comedy with very funny actors."
    sims = encoder.similarity([prompt] * 2, ["The jokes in this film made me laugh a lot.",
                                             "The quarterly tax report is due on Friday."])
    assert sims[0] > sims[1] + 0.2


def test_vader_column_is_the_vader_reward():
    from lmdist.lm import rewards

    prompts, comps = ["The film", "The film"], [" was wonderful and moving.", " was dull, a waste of time."]
    F = ev.features(prompts, comps, ["vader"])
    np.testing.assert_array_equal(F[:, 0], rewards.vader()(prompts, comps))
    assert F[0, 0] > 0 > F[1, 0]


def test_mauve_of_equal_and_of_unrelated_sets(encoder):
    films = [f"The film number {i} had {w} acting and a {v} plot." for i, (w, v) in
             enumerate([("great", "clever"), ("poor", "thin"), ("fine", "silly"), ("wooden", "gripping")] * 5)]
    taxes = [f"Form {i} of the quarterly tax return is due before the {d} deadline." for i, d in
             enumerate(["April", "June", "September", "January"] * 5)]
    # equal sets: equal histograms, every point of the curve is (1, 1), area 1 up to rounding
    assert ev.mauve(films, films, encoder=encoder) == pytest.approx(1.0, abs=1e-9)
    # two topics with nothing in common fall into different clusters: the histograms barely overlap
    m = ev.mauve(films, taxes, encoder=encoder)
    assert 0.0 <= m < 0.2
    assert ev.mauve(films, taxes, encoder=encoder) == m  # deterministic (k-means random_state=seed)
    # the embeddings in place of the texts: the same computation
    assert ev.mauve(encoder.embed(films), np.array(taxes), encoder=encoder) == m
    with pytest.raises(ValueError, match="at least 2"):
        ev.mauve(films[:1], taxes, encoder=encoder)


def test_corpus_rep_and_diversity_by_hand():
    # all n-grams: "a b a b" has bigrams ab, ba, ab (2 unique of 3)
    assert ev.corpus_rep(["a b a b"], 2) == pytest.approx(1 / 3, abs=1e-15)
    # SimCTG's loop drops the last n-gram: ab, ba, both unique
    assert ev.corpus_rep(["a b a b"], 2, drop_last=True) == 0.0
    # a ratio of sums: "a a" (1 unique of 2 words) and "b b b" (1 of 3): 1 - 2/5
    assert ev.corpus_rep(["a a", "b b b"], 1) == pytest.approx(3 / 5, abs=1e-15)
    # dropping the last word of each: "a" (1 of 1) and "b b" (1 of 2): 1 - 2/3
    assert ev.corpus_rep(["a a", "b b b"], 1, drop_last=True) == pytest.approx(1 / 3, abs=1e-15)
    assert np.isnan(ev.corpus_rep(["a b"], 3))
    # "a a a a a": corpus of one string, so the per-string diversity (1/4)(1/3)(1/2)
    assert ev.corpus_diversity(["a a a a a"]) == pytest.approx(ev.diversity("a a a a a"), abs=1e-15)
