"""The torch TaiLr loss against lmdist.exact.tailr; corruption; cached fine-tuning; per-review perplexity."""

import time

import numpy as np
import pytest
import torch

from lmdist.exact import tailr
from lmdist.lm import data, finetune, losses, models

SETTINGS = [(0.1, 0.3, 0.1), (0.8, 0.2, 0.1), (1e-7, 0.2, 0.0), (1.0, 0.0, 0.0), (1.0, 0.2, 0.0), (0.5, 0.0, 0.3)]


@pytest.mark.parametrize("g,m,eps", SETTINGS)
def test_tailr_loss_matches_the_exact_module(g, m, eps):
    """Value = the released surrogate; autograd gradient = the exact gradient of the derived objective.
    float64 throughout: the two agree to rounding (1e-12)."""
    rng = np.random.default_rng(0)
    z = torch.tensor(rng.normal(size=(3, 5, 11)) * 3, requires_grad=True)
    y = torch.tensor(rng.integers(0, 11, size=(3, 5)))
    y[0, -1] = y[2, 0] = -100   # ignored positions
    per = losses.tailr_loss(z, y, g, m, label_smoothing=eps, reduction="none")
    keep = (y != -100).numpy()
    lp = torch.log_softmax(z, -1).detach().numpy()[keep]
    surrogate, _ = tailr.token_losses(lp, y.numpy()[keep], g, m, eps)
    np.testing.assert_allclose(per.detach().numpy()[keep], surrogate, rtol=1e-12)
    assert np.all(per.detach().numpy()[~keep] == 0)
    mean = losses.tailr_loss(z, y, g, m, label_smoothing=eps)
    assert mean.item() == pytest.approx(surrogate.mean(), rel=1e-12)
    mean.backward()
    want = np.zeros(z.shape)
    want[keep] = tailr.logit_gradient(lp, y.numpy()[keep], g, m, eps) / keep.sum()
    np.testing.assert_allclose(z.grad.numpy(), want, atol=1e-13)


def test_tailr_loss_reduces_to_cross_entropy():
    rng = np.random.default_rng(1)
    z = torch.tensor(rng.normal(size=(4, 9)))
    y = torch.tensor(rng.integers(0, 9, size=4))
    ce = torch.nn.functional.cross_entropy(z, y)
    for g, m in [(0.0, 0.0), (0.4, 1.0)]:
        assert losses.tailr_loss(z, y, g, m).item() == pytest.approx(ce.item(), rel=1e-12)
    assert losses.tailr_loss(z, y, 0.5, 0.0, reduction="sum").item() < ce.item() * 4   # down-weighted
    with pytest.raises(ValueError):
        losses.tailr_loss(z, y, 1.5, 0.0)
    with pytest.raises(ValueError):
        losses.tailr_loss(z, y[:3], 0.5, 0.0)


def test_corrupt():
    texts = [f"review number {i} is about film {i}" for i in range(40)]
    out = finetune.corrupt(texts, 0.25, seed=3)
    idx = finetune.corrupted_indices(40, 0.25, 3)
    assert len(idx) == 10
    assert [i for i in range(40) if out[i] != texts[i]] == [i for i in idx if out[i] != texts[i]]
    assert all(sorted(out[i].split()) == sorted(texts[i].split()) for i in idx)
    assert out == finetune.corrupt(texts, 0.25, seed=3)
    rnd = finetune.corrupt(texts, 1.0, seed=3, how="random")
    assert all(len(r.split()) == len(t.split()) for r, t in zip(rnd, texts))
    with pytest.raises(ValueError):
        finetune.corrupt(texts, 0.25, 3, how="reverse")


def test_fine_tune_is_cached_and_reproducible(tmp_path, monkeypatch):
    monkeypatch.setenv("LMDIST_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    texts = data.texts("validation")[:20]
    kw = dict(texts=texts, gamma=0.5, min_weight=0.2, steps=2, lr=1e-4, batch_size=2, block=16, seed=0, device="cpu")
    m1, tok, card = finetune.fine_tune(loss="tailr", **kw)
    t0 = time.time()
    m2, _, card2 = finetune.fine_tune(loss="tailr", **kw)
    assert time.time() - t0 < 2.0
    assert card2 == card and len(card["loss_history"]) == 2
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    m3, _, _ = finetune.fine_tune(loss="mle", **kw)   # another key: another model
    assert len(list(tmp_path.iterdir())) == 2
    prior, _ = models.load_lm("tiny-imdb", device="cpu")
    assert any(not torch.equal(a, b) for a, b in zip(prior.state_dict().values(), m3.state_dict().values()))


def test_perplexity_per_review():
    torch.set_num_threads(1)
    model, tok = models.load_lm("tiny-imdb", device="cpu")
    texts = data.texts("test")[:5]
    a = finetune.perplexity(model, tok, texts, batch_size=1)
    b = finetune.perplexity(model, tok, texts, batch_size=5)
    np.testing.assert_allclose(a.nll, b.nll, rtol=1e-4)   # padding changes nothing (float32 rounding)
    ids = finetune.encode_reviews(tok, texts[:1])[0][:255]
    x = torch.tensor(np.r_[tok.eos_token_id, ids])[None]
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=x).logits[0, :-1], -1)
    assert a.nll[0] == pytest.approx(-lp.gather(-1, x[0, 1:, None]).sum().item(), rel=1e-5)
    assert a.tokens[0] == len(ids)
    assert a.value == pytest.approx(np.exp(a.nll.sum() / a.tokens.sum()))
    assert a.se() > 0
