"""The DPO loss against a direct numpy computation; its gradient's sign; completion log-probabilities."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lmdist.lm import losses


def numpy_dpo(pw, pl, rw, rl, beta, eps=0.0):
    h = beta * ((pw - rw) - (pl - rl))
    log_sig = lambda z: -np.log1p(np.exp(-z))
    return -(1 - eps) * log_sig(h) - eps * log_sig(-h)


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5, 2.0])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_dpo_loss_matches_numpy(beta, eps):
    rng = np.random.default_rng(0)
    pw, pl, rw, rl = (rng.normal(-40, 10, size=64) for _ in range(4))
    got = losses.dpo_loss(*(torch.tensor(x) for x in (pw, pl, rw, rl)), beta=beta, label_smoothing=eps,
                          reduction="none").numpy()
    np.testing.assert_allclose(got, numpy_dpo(pw, pl, rw, rl, beta, eps), rtol=1e-10, atol=1e-12)
    mean = losses.dpo_loss(*(torch.tensor(x) for x in (pw, pl, rw, rl)), beta=beta, label_smoothing=eps)
    assert mean.item() == pytest.approx(numpy_dpo(pw, pl, rw, rl, beta, eps).mean(), rel=1e-10)


def test_dpo_loss_at_equal_policy_and_reference_is_log2():
    x = torch.tensor([-3.0, -7.0])
    assert losses.dpo_loss(x, x, x, x, beta=0.1).item() == pytest.approx(np.log(2))


def test_dpo_loss_is_stable_for_large_margins():
    big = torch.tensor([1e4], dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    assert losses.dpo_loss(big, zero, zero, zero, beta=1.0).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.dpo_loss(zero, big, zero, zero, beta=1.0).item() == pytest.approx(1e4)


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    rng = np.random.default_rng(1)
    pw = torch.tensor(rng.normal(size=16), requires_grad=True)
    pl = torch.tensor(rng.normal(size=16), requires_grad=True)
    rw, rl = torch.tensor(rng.normal(size=16)), torch.tensor(rng.normal(size=16))
    losses.dpo_loss(pw, pl, rw, rl, beta=0.3).backward()
    assert (pw.grad < 0).all() and (pl.grad > 0).all()  # descent raises log π(y_w), lowers log π(y_l)
    # ∂loss/∂ log π(y_w) = −β σ(−h) / n
    h = 0.3 * ((pw - rw) - (pl - rl)).detach().numpy()
    np.testing.assert_allclose(pw.grad.numpy(), -0.3 / (1 + np.exp(h)) / 16, rtol=1e-10)


def test_dpo_loss_validates_arguments():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        losses.dpo_loss(x, x, x, x, beta=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.dpo_loss(x, x, x, x, beta=0.1, label_smoothing=0.5)
    with pytest.raises(ValueError, match="reduction"):
        losses.dpo_loss(x, x, x, x, beta=0.1, reduction="max")


def test_completion_logprobs_mask_the_prompt_and_ignore_left_padding():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=11, n_positions=16, n_embd=8, n_layer=1, n_head=2,
                                       bos_token_id=0, eos_token_id=0)).eval()
    prompt, completion = [3, 4, 5], [6, 7]
    full = torch.tensor([prompt + completion])
    with torch.no_grad():
        logp = torch.log_softmax(model(full).logits, -1)[0]
        direct = logp[2, 6] + logp[3, 7]  # log p(6 | 3 4 5) + log p(7 | 3 4 5 6)
        # the same row, left-padded by two tokens, beside another row
        ids = torch.tensor([[0, 0] + prompt + completion, [1, 2, 3, 4, 5, 8, 9]])
        mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1] * 7])
        cmask = torch.tensor([[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1, 1]])
        got = losses.completion_logprobs(model, ids, mask, cmask)
    assert got[0].item() == pytest.approx(direct.item(), abs=1e-5)
