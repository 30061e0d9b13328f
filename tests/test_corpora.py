"""lmdist.lm.corpora: sampling from a policy and scoring under a prior and a reward."""

import numpy as np
import pytest

from lmdist.lm import corpora, models, rewards


@pytest.fixture(scope="module")
def lms():
    policy, tok = models.load_lm("tiny-imdb-positive", device="cpu")
    prior, _ = models.load_lm("tiny-imdb", device="cpu")
    return policy, tok, prior


def length_reward(prompts, completions):
    return np.array([float(len(c)) for c in completions])


def test_policy_as_prior_scores_its_own_samples(lms):
    # With the policy as its own prior and no adaptor, the prior's score is the sampler's, to float32 rounding.
    policy, tok, _ = lms
    c = corpora.sample_corpus(policy, tok, policy, ["The film", "I"], 3, 12, length_reward, seed=1, device="cpu")
    assert len(c) == 6 and list(c.prompt_index) == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(c.logp_prior, c.logp_policy, atol=1e-4)
    np.testing.assert_allclose(c.logq_local, c.logp_policy, atol=1e-9)
    assert np.all(c.reward == [len(t) for t in c.texts])
    assert c.token_ids.shape == (6,) and all(len(ids) == n for ids, n in zip(c.token_ids, c.n_tokens))
    assert all(a == b for a, b in zip(c.token_ids, c.prior_token_ids))  # one tokenizer: the same ids


def test_prior_differs_and_adaptor_truncates(lms):
    policy, tok, prior = lms
    c = corpora.sample_corpus(policy, tok, prior, ["This movie"], 8, 16, rewards.vader(), adaptor={"top_k": 5},
                              seed=2, device="cpu")
    assert not np.allclose(c.logp_prior, c.logp_policy)
    # top-k renormalizes upward: q~(y) >= pi(y) token by token, and the global weight is pi restricted.
    assert np.all(c.logq_local >= c.logp_policy - 1e-9)
    np.testing.assert_allclose(c.log_weight, c.logp_policy, atol=1e-9)


def test_deterministic(lms):
    policy, tok, prior = lms
    a, b = (corpora.sample_corpus(policy, tok, prior, ["It"], 4, 10, length_reward, seed=5, device="cpu")
            for _ in range(2))
    assert list(a.texts) == list(b.texts) and np.array_equal(a.logp_prior, b.logp_prior)


class _Chars:
    """A stand-in tokenizer with another vocabulary: one id per character."""

    def get_vocab(self):
        return {chr(i): i for i in range(128)}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(ch) % 128 for ch in text]}


def test_retokenises_for_another_vocabulary():
    comp = type("C", (), {})()
    comp.text, comp.eos, comp.token_ids = "ab", True, [7]
    ids = corpora._prior_ids([comp], type("T", (), {"get_vocab": lambda self: {"x": 0}})(), _Chars(), [0])
    assert ids == [[97, 98, 0]]
    with pytest.raises(ValueError, match="no EOS"):
        corpora._prior_ids([comp], type("T", (), {"get_vocab": lambda self: {"x": 0}})(), _Chars(), [])
