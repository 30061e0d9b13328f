"""The strings of the aggregation experiment: the data's continuations on the sampler's string space,
sampled strings with their log-probabilities, determinism and the cache."""

import numpy as np
import pytest

from lmdist.lm import aggregate as ag
from lmdist.lm import data, evaluators, sampling

MODEL = "tiny-imdb"
NAMES = ["rep-1", "tr-4", "length"]  # cheap ones: no encoder, no classifier


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMDIST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def lm():
    return ag._load(MODEL, "cpu")


def test_review_pairs_live_on_the_samplers_string_space(lm):
    _, tok = lm
    k, L = 8, 12
    prompts, conts = ag.review_pairs(40, k, L, tok, split="validation", seed=3)
    assert len(prompts) == len(conts) == 40
    assert prompts == data.prompts(40, k, tok, split="validation", seed=3)  # the same reviews, the same prompts
    eos = tok.eos_token_id
    for c in conts:
        assert 1 <= len(c) <= L
        assert eos not in c[:-1]  # EOS only as the last token
        if c[-1] == eos:
            continue
        assert len(c) == L  # a continuation without EOS fills the window (the review goes on)
    assert any(c[-1] == eos for c in ag.review_pairs(200, k, 64, tok, split="validation", seed=3)[1])


def test_data_strings_are_scored_and_evaluated(lm):
    model, tok = lm
    s = ag.data_strings(MODEL, 6, 8, 10, NAMES, split="test", seed=1, device="cpu")
    prompts, conts = ag.review_pairs(6, 8, 10, tok, split="test", seed=1)
    assert s.prompts == tuple(prompts) and s.source == "data:test"
    assert s.prompt_index.tolist() == list(range(6)) and [list(t) for t in s.token_ids] == conts
    scored = sampling.score(model, tok, prompts, conts, device="cpu", progress=False)
    np.testing.assert_array_equal(s.logp, [c.logprob_model for c in scored])
    assert np.isnan(s.logq).all()
    np.testing.assert_array_equal(s.features, evaluators.features(prompts, list(s.texts), NAMES))
    np.testing.assert_array_equal(s.feature("length"), s.features[:, 2])
    np.testing.assert_allclose(s.surprisal, -s.logp / s.n_tokens)


def test_sample_strings_ancestral_and_adapted(lm):
    prompts = ["This movie was", "I watched it twice and"]
    anc = ag.sample_strings(MODEL, prompts, 3, 8, NAMES, seed=5, device="cpu")
    assert len(anc) == 6 and anc.prompt_index.tolist() == [0, 0, 0, 1, 1, 1] and anc.source == "ancestral"
    # no adaptor: q̃ = p_θ, computed by a second float32 log-softmax: |error| <= ~1e-6 per token (log-probs
    # of size <= ~10, float32 epsilon 1.2e-7) over <= 8 tokens
    np.testing.assert_allclose(anc.logq, anc.logp, rtol=0, atol=1e-5)
    assert [g.tolist() for g in anc.grouped()] == [[0, 1, 2], [3, 4, 5]]
    top = ag.sample_strings(MODEL, prompts, 3, 8, NAMES, adaptor={"top_k": 5}, seed=5, device="cpu")
    assert top.source == "top_k=5"
    # top-k renormalises the kept mass: q̃_t(y_t) = p(y_t) / Z_t >= p(y_t), so log q̃(y) >= log p(y)
    assert np.all(top.logq >= top.logp - 1e-5) and np.any(top.logq > top.logp + 1e-3)
    with pytest.raises(ValueError, match="top_k|adaptor"):
        ag.sample_strings(MODEL, prompts, 3, 8, NAMES, adaptor={"top_q": 5})


def test_deterministic_cached_and_uncached(private_cache):
    prompts = ["The acting"]
    a = ag.sample_strings(MODEL, prompts, 4, 8, NAMES, seed=2, device="cpu", use_cache=False)
    assert not private_cache.exists() or not any(private_cache.iterdir())
    b = ag.sample_strings(MODEL, prompts, 4, 8, NAMES, seed=2, device="cpu")
    c = ag.sample_strings(MODEL, prompts, 4, 8, NAMES, seed=2, device="cpu")  # read back from the cache
    for x in (b, c):
        assert x.texts == a.texts and x.token_ids == a.token_ids
        np.testing.assert_array_equal(x.logp, a.logp)
        np.testing.assert_array_equal(x.features, a.features)
    d = ag.sample_strings(MODEL, prompts, 4, 8, NAMES, seed=3, device="cpu")
    assert d.texts != a.texts


def test_cache_keeps_one_column_per_name(private_cache):
    ag.sample_strings(MODEL, ["Great"], 2, 6, ["length"], seed=0, device="cpu")
    (folder,) = private_cache.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["feature-length.npy", "strings.json"]
    s = ag.sample_strings(MODEL, ["Great"], 2, 6, ["rep-2", "length"], seed=0, device="cpu")
    assert sorted(p.name for p in folder.iterdir()) == ["feature-length.npy", "feature-rep-2.npy", "strings.json"]
    assert s.names == ("rep-2", "length") and s.features.shape == (2, 2)
    with pytest.raises(ValueError, match="not among"):
        s.feature("tr-4")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="allowed"):
        ag.sample_strings(MODEL, ["x"], 2, 4, ["repetition"])
    with pytest.raises(ValueError, match="prompts"):
        ag.sample_strings(MODEL, "x", 2, 4, ["length"])
    with pytest.raises(ValueError, match="split"):
        ag.data_strings(MODEL, 2, 4, 4, ["length"], split="dev")
    with pytest.raises(ValueError, match="max_new_tokens"):
        ag.data_strings(MODEL, 2, 4, 0, ["length"])


def test_coherence_keeps_the_embeddings(private_cache):
    names = ["coherence", "length"]
    s = ag.sample_strings(MODEL, ["A fine film", "The worst"], 2, 8, names, seed=4, device="cpu")
    assert s.embeddings.shape == (4, 384)
    prompts = [s.prompts[i] for i in s.prompt_index]
    # the column is exactly what evaluators.features computes, and the cosine of the kept embeddings
    direct = evaluators.features(prompts, list(s.texts), ["coherence"])[:, 0]
    np.testing.assert_array_equal(s.feature("coherence"), direct)
    e_prompt = evaluators.minilm().embed(prompts + list(s.texts))[:4]
    np.testing.assert_array_equal(s.feature("coherence"), evaluators.cosine(e_prompt, s.embeddings))
    again = ag.sample_strings(MODEL, ["A fine film", "The worst"], 2, 8, names, seed=4, device="cpu")  # cached
    np.testing.assert_array_equal(again.embeddings, s.embeddings)
    np.testing.assert_array_equal(again.features, s.features)
    assert ag.sample_strings(MODEL, ["A fine film"], 2, 8, ["length"], seed=4, device="cpu").embeddings is None
