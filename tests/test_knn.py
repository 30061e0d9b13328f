"""Tests of lmdist.lm.knn on the tiny test model (tests/tiny_lm.py): the datastore, exact search, p_kNN."""

import numpy as np
import pytest
import torch

from lmdist.lm import knn

TEXTS = ["w1 w2 w3 w4 w5", "w3 w3 w7 w1", "w9 w8 w7 w6 w5 w4 w3", "w2"]


def test_token_logprobs_match_a_direct_forward(lm):
    model, tok = lm
    toks = knn.token_logprobs(model, tok, TEXTS, max_tokens=100, device="cpu")
    seqs = knn.sequences(tok, TEXTS, 100, 64)
    assert len(toks) == sum(len(s) - 1 for s in seqs) == 6 + 5 + 8 + 2
    for i, s in enumerate(seqs):
        ids = torch.tensor([s])
        with torch.no_grad():
            out = model(input_ids=ids, output_hidden_states=True)
        lp = torch.log_softmax(out.logits[0, :-1].float(), -1).gather(-1, ids[0, 1:, None])[:, 0].numpy()
        rows = toks.text == i
        # right padding never changes earlier positions of a causal model: same numbers up to float32 rounding
        assert np.allclose(toks.logp[rows], lp, atol=1e-5)
        assert torch.allclose(toks.hidden[torch.from_numpy(rows)], out.hidden_states[-1][0, :-1], atol=1e-5)
        assert np.array_equal(toks.targets[rows], s[1:])


def test_max_tokens_cuts_the_last_text(lm):
    model, tok = lm
    toks = knn.token_logprobs(model, tok, TEXTS, max_tokens=8, device="cpu")
    assert len(toks) == 8 and toks.text.max() == 1


def test_neighbours_are_exact(lm):
    g = torch.Generator().manual_seed(0)
    store = knn.Datastore(keys=torch.randn(500, 8, generator=g), values=torch.randint(0, 5, (500,), generator=g))
    q = torch.randn(40, 8, generator=g)
    dist, vals = knn.neighbours(store, q, 7, chunk=16, device="cpu")
    brute = ((q[:, None, :].double() - store.keys[None].double()) ** 2).sum(-1)
    order = brute.argsort(1)[:, :7]
    # float32 distances by expansion: relative error ~1e-6 of ‖q‖² + ‖h‖² (≈ 16 here)
    assert np.allclose(dist, np.take_along_axis(brute.numpy(), order.numpy(), 1), atol=1e-4)
    assert np.array_equal(vals, store.values[order].numpy())


def test_knn_logprobs_normalise_and_match_the_formula():
    rng = np.random.default_rng(0)
    d = np.sort(rng.uniform(0, 50, (30, 6)), 1)
    v = rng.integers(0, 9, (30, 6))
    full = knn.knn_logprobs_from(d, v, 3.0, vocab_size=9)
    assert np.allclose(np.exp(full).sum(1), 1.0)
    tg = rng.integers(0, 9, 30)
    assert np.allclose(knn.knn_logprobs_from(d, v, 3.0, targets=tg), full[np.arange(30), tg])
    w = np.exp(-d[0] / 3.0)
    assert np.isclose(np.exp(full[0, v[0, 0]]), w[v[0] == v[0, 0]].sum() / w.sum())
    assert np.isneginf(full[0, np.setdiff1d(np.arange(9), v[0])]).all()
    # huge distances do not underflow the normaliser
    assert np.isfinite(knn.knn_logprobs_from(d + 1e6, v, 1.0, targets=v[:, 0])).all()


def test_build_datastore_is_cached(lm, tmp_path, monkeypatch):
    monkeypatch.setenv("LMDIST_CACHE", str(tmp_path))
    model, tok = lm
    a = knn.build_datastore(model, tok, TEXTS, 10, device="cpu")
    assert len(list(tmp_path.glob("knn-datastore-*/datastore.safetensors"))) == 1
    b = knn.build_datastore(model, tok, TEXTS, 10, device="cpu")
    assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values) and len(a) == 10
    knn.build_datastore(model, tok, TEXTS, 10, dtype="float16", device="cpu")
    assert len(list(tmp_path.glob("knn-datastore-*"))) == 2
    with pytest.raises(ValueError):
        knn.build_datastore(model, tok, TEXTS, 10, dtype="int8", use_cache=False)


def test_body_only_gives_the_same_hidden_states(lm):
    model, tok = lm
    a = knn.token_logprobs(model, tok, TEXTS, 100, device="cpu")
    b = knn.token_logprobs(model, tok, TEXTS, 100, device="cpu", with_logprobs=False)
    assert torch.allclose(a.hidden, b.hidden, atol=1e-6) and np.isnan(b.logp).all()
