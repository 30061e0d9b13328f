"""The preference-training engine (lmdist.lm.preference) on the bundled prior, at toy sizes.

A cheap deterministic reward (the completion's length) stands in for the sentiment classifier, so the tests
need no fitted classifier; every cache entry goes to a temporary cache root.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch

from lmdist.lm import cache, models, preference, sampling, zoo


class LengthReward:
    """r(x, y) = len(y) / 10 characters: diverse, deterministic, learnable (longer completions)."""

    def __call__(self, prompts, completions):
        return np.array([len(c) / 10 for c in completions], dtype=np.float64)

    def __repr__(self) -> str:
        return "length-reward()"


REWARD = LengthReward()
SIZES = dict(prior="tiny-imdb", reward_name=REWARD, n_prompts=8, k=3, prompt_tokens=4, max_new_tokens=12,
             device="cpu")
TRAIN = dict(beta_r=0.5, beta_pi=0.5, steps=6, lr=1e-4, batch_size=4, label_smoothing=0.05, device="cpu")


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LMDIST_CACHE", str(tmp_path_factory.mktemp("lmdist-cache")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def data():
    return preference.collect(seed=0, **SIZES)


@pytest.fixture(scope="module")
def prior():
    model, _ = models.load_lm("tiny-imdb", device="cpu")
    return model


def test_collect_is_cached_and_its_reference_logprobs_are_the_samplers(data):
    again = preference.collect(seed=0, **SIZES)
    assert again.prompts == data.prompts and again.completion_ids == data.completion_ids
    np.testing.assert_array_equal(again.rewards, data.rewards)
    np.testing.assert_array_equal(again.ref_logps, data.ref_logps)
    assert data.rewards.shape == data.ref_logps.shape == (8, 3)
    # an independent computation of log π_sft(y|x): the sampler's own, token by token with a KV cache.
    # float32 sums of ≤ 13 log-probabilities of O(1-10): 1e-3 absolute is far above rounding (~1e-5)
    model, tok = models.load_lm("tiny-imdb", device="cpu")
    scored = sampling.score(model, tok, [p for p in data.prompts for _ in range(3)],
                            [c for row in data.completion_ids for c in row], device="cpu", progress=False)
    np.testing.assert_allclose(data.ref_logps.ravel(), [s.logprob_model for s in scored], atol=1e-3)
    np.testing.assert_allclose(data.rewards, [[len(t) / 10 for t in row] for row in data.texts])


@pytest.mark.parametrize("method", preference.METHODS)
def test_each_method_reduces_its_own_loss_on_the_training_data(data, prior, method):
    before = preference.objective(prior, data, method, TRAIN["beta_r"], TRAIN["beta_pi"], TRAIN["label_smoothing"])
    policy = preference.train(data, method, seed=0, **TRAIN)
    after = preference.objective(policy, data, method, TRAIN["beta_r"], TRAIN["beta_pi"], TRAIN["label_smoothing"])
    assert after < before, (method, before, after)
    assert len(policy.preference_card["loss_history"]) == TRAIN["steps"]
    if method == "dpo":
        assert before == pytest.approx(np.log(2), abs=1e-4)  # π_θ = π_sft: h = 0 up to float rounding


def test_training_is_cached_and_deterministic(data):
    policy = preference.train(data, "exo-reward", seed=0, **TRAIN)
    t0 = time.time()
    again = preference.train(data, "exo-reward", seed=0, **TRAIN)
    assert time.time() - t0 < 2.0  # loaded, not trained
    assert cache.model_digest(again) == cache.model_digest(policy)
    assert again.preference_card == policy.preference_card
    cache.clear()  # now train again from scratch, data included: the same seed gives the same weights
    fresh = preference.train(preference.collect(seed=0, **SIZES), "exo-reward", seed=0, **TRAIN)
    assert cache.model_digest(fresh) == cache.model_digest(policy)
    other = preference.train(data, "exo-reward", seed=1, **TRAIN)
    assert cache.model_digest(other) != cache.model_digest(policy)


def test_unused_parameters_do_not_retrain(data):
    a = preference.train(data, "dpo", seed=0, **TRAIN)
    b = preference.train(data, "dpo", seed=0, **{**TRAIN, "beta_r": 3.0, "label_smoothing": 0.2})
    assert a.preference_card == b.preference_card


def test_bad_arguments_raise(data):
    with pytest.raises(ValueError, match=r"\['dpo', 'exo-pref', 'exo-reward', 'dpo-reward'\]"):
        preference.train(data, "ppo", **TRAIN)
    with pytest.raises(ValueError, match="label_smoothing"):
        preference.train(data, "exo-pref", **{**TRAIN, "label_smoothing": 0.0})
    with pytest.raises(ValueError, match="prior"):
        preference.train(data, "dpo", prior="tiny-imdb-positive", **TRAIN)
    with pytest.raises(ValueError, match="reward_name"):
        preference.collect(**{**SIZES, "reward_name": "length"})


def test_evaluation_at_the_prior_and_for_a_copy_of_it(prior):
    kw = dict(prior="tiny-imdb", reward_name=REWARD, n_prompts=4, k=2, prompt_tokens=4, max_new_tokens=10,
              seed=0, device="cpu")
    at_prior = preference.evaluate(None, **kw)
    assert at_prior["kl"] == 0.0 and at_prior["rewards"].shape == (4, 2)
    copy_ = preference.evaluate(copy.deepcopy(prior), **kw)  # scored, not assumed: log-ratios ≈ 0 (float32)
    np.testing.assert_array_equal(copy_["rewards"], at_prior["rewards"])  # same seed: the same strings
    assert np.abs(copy_["log_ratios"]).max() < 1e-3
    # zoo.align's evaluation goes through the same zoo.policy_samples
    model, tok = models.load_lm("tiny-imdb", device="cpu")
    cfg = dict(eval_prompts=4, eval_samples_per_prompt=2, prompt_tokens=4, max_new_tokens=10)
    z = zoo.evaluate_alignment(copy.deepcopy(model), model, tok, REWARD, 0, cfg, torch.device("cpu"))
    assert z["reward_gain"] == 0.0 and abs(z["kl_aligned_to_prior_nats"]) < 1e-3


def test_best_of_n_and_density_ratios(prior):
    kw = dict(prior="tiny-imdb", reward_name=REWARD, n_prompts=3, n_samples=4, prompt_tokens=4, max_new_tokens=10,
              seed=0, device="cpu")
    bon = preference.best_of_n(**kw)
    assert bon["n"].tolist() == [1, 2, 4]
    r = bon["rewards"]
    np.testing.assert_allclose(bon["reward"][[0, -1]], [r.mean(), r.max(1).mean()])  # N = 1: mean; N = M: max
    assert np.all(np.diff(bon["reward"]) >= 0)
    np.testing.assert_allclose(bon["kl_bound"], np.log([1, 2, 4]) - np.array([0, 1 / 2, 3 / 4]))
    dr = preference.density_ratios(prior, beta=0.5, **kw)
    assert np.abs(dr["log_ratio_policy"]).max() < 1e-5  # π_θ = π_sft, same forward pass
    want = r / 0.5 - np.log(np.exp(r / 0.5).mean(1, keepdims=True))
    np.testing.assert_allclose(dr["log_ratio_optimal"], want, rtol=1e-10, atol=1e-12)
