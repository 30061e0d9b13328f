"""lmdist.lm.sampling: the batched sampler with a KV cache, scoring, and IMHA on a tiny random GPT-2."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from lmdist.exact import adaptors as A
from lmdist.lm import sampling as S
from tiny_lm import EOS, VOCAB

PROMPTS = ["w1 w2", "w3 w4 w5 w6 w7", ""]  # different lengths (left padding), and an empty one (BOS)


def run(lm, adaptor=None, **kw):
    args = dict(n=6, max_new_tokens=24, seed=3, batch_size=8, device="cpu") | kw
    return S.sample(*lm, PROMPTS, adaptor=adaptor, **args)


ADAPTORS = [None, "temperature=0.7,top_k=6", "top_p=0.8", "typical_p=0.7", "eta_cutoff=0.05",
            "epsilon_cutoff=0.05", "min_p=0.2,temperature=1.5"]


@pytest.mark.parametrize("adaptor", ADAPTORS)
def test_score_reproduces_sampler(lm, adaptor):
    """score(sample) gives the sampler's per-token log-probabilities to 1e-4 in float32."""
    samples = run(lm, adaptor)
    scored = S.score(*lm, [c.prompt for c in samples], [c.token_ids for c in samples], adaptor=adaptor,
                     batch_size=4, device="cpu")
    for s, r in zip(samples, scored):
        assert s.token_ids == r.token_ids and s.eos == r.eos
        for field in ("token_logprobs_model", "token_logprobs_adapted", "token_log_weights"):
            a, b = getattr(s, field), getattr(r, field)
            assert np.all(np.isfinite(a)) and a.dtype == np.float64
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
        assert math.isclose(s.logprob_adapted, r.logprob_adapted, abs_tol=1e-4 * max(1, len(s)))


def test_deterministic_and_seeded(lm):
    a, b, c = run(lm, "top_k=8"), run(lm, "top_k=8"), run(lm, "top_k=8", seed=4)
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    assert all(np.array_equal(x.token_logprobs_adapted, y.token_logprobs_adapted) for x, y in zip(a, b))
    assert [x.token_ids for x in a] != [x.token_ids for x in c]


def test_batch_size_invariance(lm):
    """A string depends on (seed, prompt, sample index) only: batching changes nothing but rounding."""
    kw = dict(n=3, max_new_tokens=16)
    ref = run(lm, "temperature=0.9,top_p=0.95", batch_size=1, **kw)
    for bs in (4, 9):
        other = run(lm, "temperature=0.9,top_p=0.95", batch_size=bs, **kw)
        assert [x.token_ids for x in ref] == [x.token_ids for x in other]
        for x, y in zip(ref, other):
            np.testing.assert_allclose(x.token_logprobs_model, y.token_logprobs_model, atol=1e-5)


def test_eos_handling(lm):
    samples = run(lm, n=20, batch_size=60)
    ended = [c for c in samples if c.eos]
    cut = [c for c in samples if not c.eos]
    assert ended and cut  # both cases occur
    for c in ended:
        assert c.token_ids[-1] == EOS and EOS not in c.token_ids[:-1]  # nothing sampled after EOS
        assert len(c.token_ids) == len(c.token_logprobs_model) <= 24
    for c in cut:
        assert EOS not in c.token_ids and len(c.token_ids) == 24
    # the EOS token's log-probability counts: scoring without it misses exactly that term
    c = ended[0]
    full, short = S.score(*lm, [c.prompt] * 2, [c.token_ids, c.token_ids[:-1]], device="cpu")
    assert full.logprob_model == pytest.approx(c.logprob_model, abs=1e-4)
    assert full.logprob_model - short.logprob_model == pytest.approx(c.token_logprobs_model[-1], abs=1e-4)
    assert c.token_logprobs_model[-1] < 0
    # eos_token_id=[]: never stops early
    assert all(len(x) == 24 for x in run(lm, eos_token_id=[], batch_size=18))
    assert [x.sample_index for x in samples[:20]] == list(range(20))
    assert {x.prompt_index for x in samples} == {0, 1, 2}


def test_removed_token_scores_minus_inf(lm):
    c = run(lm, None, n=1)[0]
    greedy = S.score(*lm, [c.prompt], [c.token_ids], adaptor="top_k=1", device="cpu")[0]
    # a random sample under the model almost surely leaves the greedy path somewhere
    off_path = np.isneginf(greedy.token_logprobs_adapted)
    assert off_path.any()
    assert greedy.logprob_adapted == -math.inf and greedy.log_weight == -math.inf
    assert np.all(np.isfinite(greedy.token_logprobs_model))
    np.testing.assert_array_equal(np.isneginf(greedy.token_log_weights), off_path)


def test_first_token_distribution(lm):
    """The first tokens of many strings follow q̃ (chi-square test at level 1e-4)."""
    adaptor = "temperature=0.8,top_k=10"
    out = S.sample(*lm, ["w3"], n=4000, max_new_tokens=1, adaptor=adaptor, seed=11, batch_size=1000,
                   device="cpu")
    counts = np.bincount([c.token_ids[0] for c in out], minlength=VOCAB)
    with torch.no_grad():
        logits = lm[0](input_ids=torch.tensor([[3]])).logits[0, -1].double().numpy()
    q = np.exp(A.from_spec(adaptor).normalize(logits - np.logaddexp.reduce(logits)))
    assert np.all(counts[q == 0] == 0)
    keep = q > 0
    assert scipy.stats.chisquare(counts[keep], 4000 * q[keep] / q[keep].sum()).pvalue > 1e-4


def test_extreme_temperature_no_nan(lm):
    out = run(lm, "temperature=1e-30", n=2, max_new_tokens=8)
    for c in out:
        assert not np.isnan(c.token_logprobs_adapted).any() and not np.isnan(c.token_log_weights).any()
        np.testing.assert_allclose(c.token_logprobs_adapted, 0.0, atol=1e-6)  # greedy: q̃ = 1


def test_validation(lm):
    with pytest.raises(ValueError, match="n must"):
        run(lm, n=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        run(lm, max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        run(lm, "top_p=1.5")
    with pytest.raises(ValueError, match="differ in length"):
        S.score(*lm, ["w1"], [[1], [2]], device="cpu")


def test_imha_on_the_model(lm):
    res = S.imha(*lm, "w1", "temperature=0.6,top_k=4", n_proposals=60, seed=0, max_new_tokens=6,
                 batch_size=60, device="cpu")
    assert len(res.proposals) == 60 and len(res.states) == 60
    assert 0 <= res.acceptance_rate <= 1 and 1 <= res.ess
    w = np.array([c.log_weight - c.logprob_adapted for c in res.proposals])  # sum_t log Z_t
    assert np.all(np.isfinite(w)) and np.all(w <= 1e-6)  # Z_t <= 1 for T < 1 and truncation
    again = S.imha(*lm, "w1", "temperature=0.6,top_k=4", n_proposals=60, seed=0, max_new_tokens=6,
                   batch_size=25, device="cpu")
    np.testing.assert_array_equal(res.chain.states, again.chain.states)


@pytest.mark.parametrize("spec", ["top_k=5", "temperature=0.7,top_k=5,top_p=0.8", "top_k=5,typical_p=0.5",
                                  "top_k=5,eta_cutoff=0.01", "top_k=5,min_p=0.2", "top_p=0.9"])
def test_top_k_first_takes_the_same_path_as_the_full_warpers(spec):
    """The adapter warps only the k kept columns after a top-k: the same result as all warpers on all
    columns, also when rows have ties at the k-th value (then it takes the full path)."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 40, generator=gen) * 3
    logits[:8, :10] = 1.0  # ties at the k-th value
    adapter = S._Adapter.make(spec, torch.device("cpu"))
    logp = torch.log_softmax(logits, -1)
    full = adapter._apply(logp - logp.max(-1, keepdim=True).values)
    for rows in (slice(0, 64), slice(8, 64)):
        _, logq, warped, _ = adapter(logits[rows])
        assert torch.equal(torch.isinf(warped), torch.isinf(full[rows]))
        torch.testing.assert_close(torch.log_softmax(full[rows], -1).exp(), logq.exp(), atol=1e-6, rtol=0)


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=VOCAB, bos_token_id=EOS, eos_token_id=EOS)
    torch.manual_seed(1)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(8.0)
    return model


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("adaptor", [None, "temperature=0.7,top_p=0.9"])
def test_static_cache_decodes_like_the_dynamic_cache(lm, arch, adaptor):
    """StaticDecoder (fixed shapes, ready-made 4D mask; the CUDA-graph path runs the same code) gives the
    same strings as the default cache, and the same log-probabilities up to float32 rounding; left
    padding, an empty prompt and EOS included."""
    model = lm[0] if arch == "gpt2" else tiny_llama()
    pair = (model, lm[1])
    ref = S.sample(*pair, PROMPTS, n=4, max_new_tokens=20, adaptor=adaptor, seed=5, batch_size=6, device="cpu")
    got = S.sample(*pair, PROMPTS, n=4, max_new_tokens=20, adaptor=adaptor, seed=5, batch_size=6, device="cpu",
                   static_cache=True)
    assert [x.token_ids for x in ref] == [x.token_ids for x in got]
    assert any(x.eos for x in got) and any(len(x) > 1 for x in got)
    for x, y in zip(ref, got):
        for field in ("token_logprobs_model", "token_logprobs_adapted", "token_log_weights"):
            np.testing.assert_allclose(getattr(x, field), getattr(y, field), atol=1e-4, rtol=0)


def test_static_cache_must_be_a_bool(lm):
    with pytest.raises(ValueError, match="static_cache"):
        run(lm, static_cache="yes")
