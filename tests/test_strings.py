"""lmdist.exact.strings: the string space's indexing and the toy autoregressive models."""

import itertools
import time

import numpy as np
import pytest
from scipy.special import logsumexp

from lmdist.exact import strings


def brute_force_logp(lm: strings.ToyLM) -> np.ndarray:
    """log p(y) = sum_t log p(y_t | y_<t) + log p(EOS | y), one string at a time, by string names."""
    s = lm.space
    out = []
    for i in range(s.size):
        toks = [int(c) for c in s.tokens[i, : s.lengths[i]]]
        total = 0.0
        for t in range(len(toks) + 1):
            ctx = s.index(toks[:t])
            nxt = toks[t] if t < len(toks) else s.eos
            total += lm.next_logprobs[ctx, nxt]
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("v,n", [(1, 0), (1, 4), (2, 3), (3, 2), (4, 3)])
def test_space_enumerates_every_string_once_in_shortlex_order(v, n):
    s = strings.StringSpace(v, n)
    expected = [tuple(w) for k in range(n + 1) for w in itertools.product(range(v), repeat=k)]
    got = [tuple(int(c) for c in s.tokens[i, : s.lengths[i]]) for i in range(s.size)]
    assert got == expected
    assert s.size == len(expected) == strings.space_size(v, n)
    assert all(s.index(list(w)) == i for i, w in enumerate(expected))
    assert (s.tokens[s.lengths[:, None] <= np.arange(n)[None, :]] == -1).all()


def test_tree_structure_is_consistent():
    s = strings.StringSpace(3, 3)
    for i in range(1, s.size):
        assert s.children[s.parent[i], s.last_token[i]] == i
        assert s.lengths[s.parent[i]] == s.lengths[i] - 1
    assert (s.children[s.level(3)] == -1).all()
    for i in range(s.size):
        n = s.lengths[i]
        assert [s.prefixes[i, t] for t in range(n + 1)] == [s.index(list(s.tokens[i, :t])) for t in range(n + 1)]
        assert s.next_symbol[i, n] == s.eos and (s.prefixes[i, n + 1:] == -1).all()


def test_decode_and_index_round_trip():
    s = strings.StringSpace(3, 2)
    assert s.labels() == ["ε", "a", "b", "c", "aa", "ab", "ac", "ba", "bb", "bc", "ca", "cb", "cc"]
    assert all(s.index(s.decode(i)) == i for i in range(s.size))
    assert s.decode(0, empty="") == ""
    with pytest.raises(ValueError, match="not in this space"):
        s.index("abc")


def test_random_lm_is_normalized_and_matches_brute_force():
    rng = np.random.default_rng(1)
    for v, n, c, z in [(2, 4, 1.0, 0.0), (3, 3, 0.05, 0.0), (3, 3, 1.0, 0.5), (1, 5, 2.0, 0.0)]:
        lm = strings.random_lm(strings.StringSpace(v, n), rng, concentration=c, hole_prob=z)
        assert abs(logsumexp(lm.logp)) < 1e-12
        np.testing.assert_allclose(lm.logp, brute_force_logp(lm), rtol=0, atol=1e-12)
        np.testing.assert_allclose(lm.token_logprobs.sum(1), lm.logp, rtol=0, atol=1e-12)
        assert not np.isnan(lm.logp).any()


def test_hole_prob_creates_holes_in_the_support():
    lm = strings.random_lm(strings.StringSpace(3, 4), np.random.default_rng(2), hole_prob=0.5)
    assert np.isneginf(lm.logp).any() and abs(logsumexp(lm.logp)) < 1e-12


def test_large_space_is_fast():
    s = strings.StringSpace(3, 10)  # 88,573 strings
    assert s.size > 8e4
    t0 = time.perf_counter()
    lm = strings.random_lm(s, np.random.default_rng(0))
    lp = lm.logp
    elapsed = time.perf_counter() - t0
    assert abs(logsumexp(lp)) < 1e-10
    assert elapsed < 1.0, f"building and scoring {s.size} strings took {elapsed:.2f} s"


def test_sequence_logscores_of_a_normalized_table_is_logp():
    lm = strings.random_lm(strings.StringSpace(2, 3), np.random.default_rng(3))
    np.testing.assert_allclose(strings.sequence_logscores(lm.space, lm.next_logprobs), lm.logp)
    # an unnormalized table (temperature 1/2 on each row) gives an unnormalized global score
    s2 = strings.sequence_logscores(lm.space, 2 * lm.next_logprobs)
    np.testing.assert_allclose(s2, 2 * lm.logp)


def test_rewards():
    s = strings.StringSpace(2, 3)
    r = strings.random_reward(s, np.random.default_rng(0), scale=3.0)
    assert r.shape == (s.size,) and np.isfinite(r).all()
    lin = strings.linear_reward(s, np.array([1.0, -2.0]), eos_weight=0.5)
    assert lin[s.index("abb")] == 1 - 2 - 2 + 0.5 and lin[0] == 0.5


def test_sampling_draws_from_p():
    lm = strings.random_lm(strings.StringSpace(2, 2), np.random.default_rng(4))
    draws = lm.sample(np.random.default_rng(5), 200_000)
    freq = np.bincount(draws, minlength=lm.space.size) / len(draws)
    p = np.exp(lm.logp)
    # 5-sigma binomial band per string
    assert (np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(draws)) + 1e-12).all()


@pytest.mark.parametrize("kwargs,name", [
    (dict(alphabet_size=0, max_len=2), "alphabet_size"),
    (dict(alphabet_size=2, max_len=-1), "max_len"),
    (dict(alphabet_size=2.5, max_len=2), "alphabet_size"),
    (dict(alphabet_size=10, max_len=12), "max_len"),
])
def test_bad_spaces_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        strings.StringSpace(**kwargs)


def test_bad_models_and_rewards_are_rejected():
    s = strings.StringSpace(2, 2)
    rng = np.random.default_rng(0)
    for c in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="concentration"):
            strings.random_lm(s, rng, concentration=c)
    with pytest.raises(ValueError, match="scale"):
        strings.random_reward(s, rng, scale=0.0)
    table = strings.random_lm(s, rng).next_logprobs.copy()
    table[0, 0] += 0.1
    with pytest.raises(ValueError, match="sums to"):
        strings.ToyLM(s, table)
