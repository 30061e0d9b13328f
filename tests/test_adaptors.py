"""lmdist.exact.adaptors: sampling adaptors on normalized next-token distributions, and against transformers."""

import math
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

from lmdist.exact import adaptors as A
from lmdist.exact import infotheory as it
from lmdist.lm.sampling import _Adapter, logits_processors

FAST = settings(max_examples=60, deadline=None)
TRUNCATIONS = (A.TopK, A.TopP, A.MinP, A.TypicalP, A.Epsilon, A.Eta)


@st.composite
def logprobs(draw, max_size=12):
    """A normalized log-probability vector (logits within 40 nats), sometimes with exact zeros."""
    k = draw(st.integers(1, max_size))
    logits = np.array(draw(st.lists(st.floats(-20, 20), min_size=k, max_size=k)))
    mask = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
    if mask.all():
        mask[draw(st.integers(0, k - 1))] = False
    return it.normalize(np.where(mask, -np.inf, logits))


unit = st.floats(0.01, 0.99)
adaptor_strategy = st.one_of(
    st.floats(0.05, 20).map(A.Temperature),
    st.integers(1, 15).map(A.TopK),
    st.floats(0.01, 1.0).map(A.TopP),
    st.floats(0.0, 1.0).map(A.MinP),
    unit.map(A.TypicalP),
    unit.map(A.Epsilon),
    unit.map(A.Eta),
)


def kept(adaptor, logp):
    return adaptor(logp) > -np.inf


# --------------------------------------------------------------------------- properties

@FAST
@given(logprobs(), st.lists(adaptor_strategy, min_size=1, max_size=3))
def test_normalized_finite_and_within_support(logp, steps):
    a = A.compose(*steps)
    logw, logq = a(logp), a.normalize(logp)
    assert not np.isnan(logw).any() and not np.isposinf(logw).any()
    assert math.isclose(np.exp(logsumexp(logq)), 1.0, abs_tol=1e-12)
    assert np.all((logq > -np.inf) == (logw > -np.inf))  # same support
    assert np.all(~(logw > -np.inf) | (logp > -np.inf))  # nothing outside supp p is created
    assert (logw > -np.inf).any()  # at least one token survives
    # log γ̃ = log q̃ + log Z
    on = logw > -np.inf
    np.testing.assert_allclose(logw[on], (logq + a.log_normalizer(logp))[on], rtol=1e-12, atol=1e-9)


@FAST
@given(logprobs(), adaptor_strategy.filter(lambda a: not isinstance(a, A.Temperature)))
def test_truncations_keep_probabilities(logp, a):
    """γ̃ = p · 1[kept]: a truncation never changes the probabilities it keeps."""
    logw = a(logp)
    on = logw > -np.inf
    np.testing.assert_array_equal(logw[on], logp[on])


@FAST
@given(logprobs(), adaptor_strategy.filter(lambda a: not isinstance(a, (A.Temperature, A.TypicalP))))
def test_most_probable_token_kept(logp, a):
    assert kept(a, logp)[logp == logp.max()].any()


@FAST
@given(logprobs(), st.integers(1, 14), st.integers(0, 5))
def test_top_k_nesting(logp, k, extra):
    small, large = kept(A.TopK(k), logp), kept(A.TopK(k + extra), logp)
    assert np.all(~small | large)
    assert small.sum() >= min(k, (logp > -np.inf).sum())  # ties at the k-th value are all kept


@FAST
@given(logprobs(), st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_top_p_nesting_and_mass(logp, p1, p2):
    lo, hi = sorted((p1, p2))
    small, large = kept(A.TopP(lo), logp), kept(A.TopP(hi), logp)
    assert np.all(~small | large)
    mass = np.exp(logp)
    assert mass[large].sum() >= hi - 1e-12 or large.all()
    # smallest such set: without its least probable kept token the mass is below p
    weakest = np.flatnonzero(large)[np.argmin(mass[large])]
    assert mass[large].sum() - mass[weakest] < hi + 1e-12 or large.sum() == 1


@FAST
@given(logprobs(), st.sampled_from([A.MinP, A.TypicalP, A.Epsilon, A.Eta]), unit, unit)
def test_threshold_nesting(logp, cls, x1, x2):
    lo, hi = sorted((x1, x2))
    a_lo, a_hi = cls(lo), cls(hi)
    if cls is A.TypicalP:  # more mass keeps more
        assert np.all(~kept(a_lo, logp) | kept(a_hi, logp))
    else:  # a higher threshold keeps less
        assert np.all(~kept(a_hi, logp) | kept(a_lo, logp))


@FAST
@given(logprobs())
def test_eta_threshold_formula(logp):
    eta = 0.05
    h = it.entropy(logp)
    thr = min(eta, math.sqrt(eta) * math.exp(-h))
    p = np.exp(logp)
    expected = (p >= thr) | (logp == logp.max())
    np.testing.assert_array_equal(kept(A.Eta(eta), logp), expected & (p > 0))


@FAST
@given(logprobs(), st.floats(0.05, 20))
def test_temperature_is_power(logp, t):
    np.testing.assert_allclose(A.Temperature(t)(logp), logp / t, rtol=1e-12)
    np.testing.assert_allclose(A.Temperature(1.0).normalize(logp), logp, atol=1e-12)


@FAST
@given(st.lists(st.integers(-40, 0), min_size=1, max_size=12))
def test_temperature_limits(half_nats):
    """T -> 0: uniform on the argmax set (greedy); T -> inf: uniform on the support."""
    logp = it.normalize(np.array(half_nats, dtype=float) / 2)  # gaps of at least half a nat
    top = logp == logp.max()
    q0 = np.exp(A.Temperature(1e-300).normalize(logp))
    np.testing.assert_allclose(q0, top / top.sum(), atol=1e-12)
    qinf = np.exp(A.Temperature(1e300).normalize(logp))
    np.testing.assert_allclose(qinf, np.full(len(logp), 1 / len(logp)), atol=1e-12)


@FAST
@given(logprobs(), st.sampled_from([1e-300, 1e-30, 1e-3, 1e3, 1e30, 1e300]),
       st.lists(adaptor_strategy, max_size=2))
def test_no_nan_at_extreme_temperature(logp, t, rest):
    for a in (A.compose(A.Temperature(t), *rest), A.compose(*rest, A.Temperature(t))):
        logw, logq = a(logp), a.normalize(logp)
        assert not np.isnan(logw).any() and not np.isnan(logq).any()
        assert not np.isposinf(logw).any()
        assert math.isclose(np.exp(logsumexp(logq)), 1.0, abs_tol=1e-12)


def test_batched_rows_match_single_rows():
    rng = np.random.default_rng(0)
    logp = it.normalize(rng.normal(size=(3, 4, 30)) * 3)
    a = A.from_spec("temperature=0.8,top_k=10,top_p=0.9,typical_p=0.95,eta_cutoff=0.01")
    out = a.normalize(logp)
    for idx in np.ndindex(3, 4):
        np.testing.assert_allclose(out[idx], a.normalize(logp[idx]), atol=1e-12)


# --------------------------------------------------------------------------- validation and specs

@pytest.mark.parametrize("make, name", [
    (lambda: A.Temperature(0), "temperature"), (lambda: A.Temperature(-1), "temperature"),
    (lambda: A.Temperature(math.inf), "temperature"), (lambda: A.Temperature(math.nan), "temperature"),
    (lambda: A.TopK(0), "top_k"), (lambda: A.TopK(2.5), "top_k"), (lambda: A.TopK(True), "top_k"),
    (lambda: A.TopP(0), "top_p"), (lambda: A.TopP(1.5), "top_p"),
    (lambda: A.MinP(-0.1), "min_p"), (lambda: A.MinP(1.1), "min_p"),
    (lambda: A.TypicalP(1.0), "typical_p"), (lambda: A.TypicalP(0), "typical_p"),
    (lambda: A.Epsilon(0), "epsilon_cutoff"), (lambda: A.Epsilon(1), "epsilon_cutoff"),
    (lambda: A.Eta(0), "eta_cutoff"), (lambda: A.Eta(2), "eta_cutoff"),
    (lambda: A.from_spec({"top_k": -3}), "top_k"), (lambda: A.from_spec("top_p=2"), "top_p"),
    (lambda: A.from_spec("temperature=0"), "temperature"),
])
def test_out_of_range_parameters_raise(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_unnormalized_input_raises():
    with pytest.raises(ValueError, match="normalized"):
        A.TopK(2)(np.array([0.0, 0.0, 0.0]))


def test_from_spec_order_aliases_and_off_values():
    a = A.from_spec("top_k=50, temperature=0.7")
    b = A.from_spec({"temperature": 0.7, "top_k": 50})
    assert a == b and a.spec() == "temperature=0.7,top_k=50"
    assert [type(s) for s in A.from_spec({"eta": 0.1, "top_p": 0.9, "min_p": 0.05, "temperature": 2.0,
                                          "epsilon": 0.01, "typical_p": 0.5, "top_k": 5}).steps] == \
        [A.Temperature, A.TopK, A.TopP, A.MinP, A.TypicalP, A.Epsilon, A.Eta]
    assert A.from_spec("top_k=0,top_p=1.0,temperature=1,typical_p=1,eta_cutoff=0,epsilon_cutoff=0") == A.Identity()
    assert A.from_spec(None) == A.from_spec("") == A.from_spec({}) == A.Identity()
    assert A.from_spec(A.from_spec(a.spec())) == a  # round trip
    with pytest.raises(ValueError, match="unknown"):
        A.from_spec("top_q=3")
    with pytest.raises(ValueError, match="twice"):
        A.from_spec("top_k=3,top_k=4")
    with pytest.raises(ValueError, match="top_k"):
        A.from_spec("top_k=2.5")
    # compose keeps the order it is given, flattening compositions
    c = A.compose(A.TopK(3), A.compose(A.Temperature(2.0), A.TopP(0.5)))
    assert c.steps == (A.TopK(3), A.Temperature(2.0), A.TopP(0.5))
    assert A.compose() == A.Identity() and A.compose(A.TopK(3)) == A.TopK(3)


def test_tables_of_a_toy_model():
    """Applied row by row to a ToyLM's next-symbol table (V tokens + EOS)."""
    from lmdist.exact.strings import StringSpace, random_lm
    lm = random_lm(StringSpace(3, 3), np.random.default_rng(1))
    a = A.from_spec({"temperature": 0.5, "top_k": 2})
    table = a(lm.next_logprobs)
    assert table.shape == lm.next_logprobs.shape
    assert np.all((table > -np.inf).sum(1) >= 1)


# --------------------------------------------------------------------------- against transformers

SPECS = [
    {"temperature": 0.7}, {"temperature": 1.9}, {"top_k": 1}, {"top_k": 5}, {"top_k": 49}, {"top_p": 0.3},
    {"top_p": 0.9}, {"top_p": 0.999}, {"min_p": 0.05}, {"min_p": 0.5}, {"typical_p": 0.2},
    {"typical_p": 0.9}, {"epsilon_cutoff": 3e-4}, {"epsilon_cutoff": 0.05}, {"eta_cutoff": 3e-4},
    {"eta_cutoff": 0.02}, {"temperature": 0.7, "top_k": 20, "top_p": 0.9},
    {"temperature": 1.5, "typical_p": 0.8, "eta_cutoff": 0.01}, {"temperature": 0.5, "min_p": 0.1, "top_k": 30},
    {"top_k": 40, "epsilon_cutoff": 0.01},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: A.from_spec(s).spec())
def test_matches_transformers_warpers(spec):
    """The numpy adaptor on log_softmax(logits) equals transformers' warpers (float32) on random logits:
    the same kept tokens, the same local distribution, the same log γ̃ (through the engine's mapping)."""
    rng = np.random.default_rng(zlib.crc32(A.from_spec(spec).spec().encode()))
    logits = rng.normal(size=(64, 50)) * rng.uniform(0.5, 4, size=(64, 1))
    logp = logits - logsumexp(logits, axis=-1, keepdims=True)
    a = A.from_spec(spec)
    logw_np, logq_np = a(logp), a.normalize(logp)
    adapter = _Adapter.make(a, torch.device("cpu"))
    _, logq_t, warped, offset = adapter(torch.tensor(logits, dtype=torch.float32))
    logw_t = warped.double().numpy() + offset.numpy()[:, None]
    np.testing.assert_array_equal(logq_t.numpy() > -np.inf, logq_np > -np.inf)
    np.testing.assert_allclose(np.exp(logq_t.double().numpy()), np.exp(logq_np), atol=2e-6)
    on = logw_np > -np.inf
    np.testing.assert_allclose(logw_t[on], logw_np[on], rtol=1e-5, atol=2e-5)
    # generate's way — the warpers on raw logits — gives the same local distribution
    scores = torch.tensor(logits, dtype=torch.float32)
    for proc in logits_processors(a):
        scores = proc(None, scores)
    np.testing.assert_allclose(torch.softmax(scores, -1).double().numpy(), np.exp(logq_np), atol=2e-6)


@pytest.mark.parametrize("spec", [{"top_k": 2}, {"top_k": 3}, {"top_p": 0.5}, {"top_p": 0.6}, {"top_p": 0.8},
                                  {"typical_p": 0.5}, {"min_p": 0.5}, {"epsilon_cutoff": 0.2},
                                  {"eta_cutoff": 0.3}])
def test_ties_as_transformers(spec):
    """Exactly tied probabilities (probabilities that are exact in binary): the same kept set."""
    rows = np.log(np.array([[0.25, 0.25, 0.25, 0.25], [0.5, 0.125, 0.125, 0.25],
                            [0.125, 0.375, 0.375, 0.125], [0.0625, 0.4375, 0.0625, 0.4375]]))
    a = A.from_spec(spec)
    scores = torch.tensor(rows, dtype=torch.float32)
    for proc in logits_processors(a):
        scores = proc(None, scores)
    np.testing.assert_array_equal(scores.numpy() > -np.inf, a(rows) > -np.inf)
