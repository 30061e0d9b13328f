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


# ---------------------------------------------------------------------------------------------
# K samples per prompt: reward/preference targets, EXO (reverse KL) and DPO with soft labels (forward KL)
# ---------------------------------------------------------------------------------------------

def numpy_kl(logp, logq):
    """Σ p (log p − log q) per row, 0 · log 0 = 0 (numpy reference)."""
    p = np.exp(logp)
    return np.where(p > 0, p * (np.where(p > 0, logp, 0) - logq), 0).sum(-1)


def numpy_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def group(rng, b, k):
    return [torch.tensor(rng.normal(-40, 10, size=(b, k))) for _ in range(2)]


@pytest.mark.parametrize("k", [2, 3, 8])
@pytest.mark.parametrize("beta_pi", [0.1, 1.0])
def test_exo_and_dpo_soft_match_numpy_kls(k, beta_pi):
    rng = np.random.default_rng(k)
    pol, ref = group(rng, 32, k)
    rewards = torch.tensor(rng.normal(size=(32, k)))
    log_pt = losses.reward_targets(rewards, beta_r=0.5)
    log_pf = numpy_log_softmax(beta_pi * (pol - ref).numpy())
    np.testing.assert_allclose(log_pt.numpy(), numpy_log_softmax(rewards.numpy() / 0.5), rtol=1e-12, atol=1e-12)
    exo = losses.exo_loss(pol, ref, log_pt, beta_pi, reduction="none")
    dpo = losses.dpo_soft_loss(pol, ref, log_pt, beta_pi, reduction="none")
    assert exo.shape == dpo.shape == (32,)
    # float64 throughout: agreement to ~1e-12 relative; KLs of O(1) values
    np.testing.assert_allclose(exo.numpy(), numpy_kl(log_pf, log_pt.numpy()), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dpo.numpy(), numpy_kl(log_pt.numpy(), log_pf), rtol=1e-9, atol=1e-12)
    assert (exo >= 0).all() and (dpo >= 0).all()
    assert losses.exo_loss(pol, ref, log_pt, beta_pi, reduction="sum").item() == pytest.approx(exo.sum().item())
    assert losses.dpo_soft_loss(pol, ref, log_pt, beta_pi).item() == pytest.approx(dpo.mean().item())


def test_losses_vanish_when_the_implicit_distribution_is_the_target():
    # β_π (log π_θ − log π_sft) = r / β_r + c(x) ⇒ p_f = p_t ⇒ both KLs are 0
    rng = np.random.default_rng(3)
    r = torch.tensor(rng.normal(size=(8, 4)))
    ref = torch.tensor(rng.normal(-30, 5, size=(8, 4)))
    pol = ref + (r / 0.5) / 2.0 + torch.tensor(rng.normal(size=(8, 1)))
    t = losses.reward_targets(r, 0.5)
    assert losses.exo_loss(pol, ref, t, 2.0).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.dpo_soft_loss(pol, ref, t, 2.0).item() == pytest.approx(0.0, abs=1e-12)


def test_preference_targets_put_one_minus_eps_on_the_chosen():
    t = losses.preference_targets(torch.tensor([0, 2, 1]), 3, 0.1, dtype=torch.float64)
    np.testing.assert_allclose(t.exp().numpy(), [[0.9, 0.05, 0.05], [0.05, 0.05, 0.9], [0.05, 0.9, 0.05]],
                               rtol=1e-12)
    hard = losses.preference_targets(torch.tensor([1, 0]), 2, 0.0)
    assert hard[0, 1] == 0 and hard[1, 0] == 0 and torch.isneginf(hard[0, 0]) and torch.isneginf(hard[1, 1])


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_dpo_soft_at_k2_is_dpo_loss(eps):
    rng = np.random.default_rng(4)
    pol, ref = group(rng, 64, 2)
    chosen = torch.tensor(rng.integers(0, 2, size=64))
    other = 1 - chosen
    rows = torch.arange(64)
    soft = losses.dpo_soft_loss(pol, ref, losses.preference_targets(chosen, 2, eps, dtype=torch.float64), 0.3,
                                reduction="none")
    pair = losses.dpo_loss(pol[rows, chosen], pol[rows, other], ref[rows, chosen], ref[rows, other], beta=0.3,
                           label_smoothing=eps, reduction="none")
    # dpo_loss is the cross-entropy; the KL differs from it by the label's entropy H(ε) (0 at ε = 0)
    h = 0.0 if eps == 0 else -(eps * np.log(eps) + (1 - eps) * np.log(1 - eps))
    np.testing.assert_allclose(soft.numpy(), pair.numpy() - h, rtol=1e-10, atol=1e-12)


def test_exo_pref_at_k2_is_trl_exo_pair_formula():
    # TRL 1.16.0 exo_pair: qw (log qw − log(1−ε)) + ql (log ql − log ε), qw = σ(βΔ) (see test_trl_reference.py
    # for the check against TRL itself)
    rng = np.random.default_rng(5)
    pol, ref = group(rng, 64, 2)
    eps, beta = 1e-3, 0.1
    d = beta * ((pol[:, 0] - ref[:, 0]) - (pol[:, 1] - ref[:, 1])).numpy()
    lq, lql = -np.logaddexp(0, -d), -np.logaddexp(0, d)
    want = np.exp(lq) * (lq - np.log1p(-eps)) + np.exp(lql) * (lql - np.log(eps))
    got = losses.exo_loss(pol, ref, losses.preference_targets(torch.zeros(64, dtype=torch.long), 2, eps,
                                                              dtype=torch.float64), beta, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)


def test_exo_pref_minimum_is_the_finite_margin():
    # d/dΔ KL(p_f ‖ p_t) = 0 at β Δ = log((1−ε)/ε): the EXO-pref optimum is a finite margin
    eps, beta = 0.01, 0.5
    margin = np.log((1 - eps) / eps) / beta
    delta = torch.tensor([[margin, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = losses.exo_loss(delta, torch.zeros(1, 2, dtype=torch.float64),
                           losses.preference_targets(torch.tensor([0]), 2, eps, dtype=torch.float64), beta)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    assert np.abs(delta.grad.numpy()).max() < 1e-12


def test_gradients_raise_the_target_favourite():
    rng = np.random.default_rng(6)
    ref = torch.tensor(rng.normal(-20, 3, size=(16, 4)))
    r = torch.tensor(rng.normal(size=(16, 4)))
    t = losses.reward_targets(r, 0.3)
    for loss_fn in (losses.exo_loss, losses.dpo_soft_loss):
        pol = ref.clone().requires_grad_(True)  # p_f uniform: the best sample is under-weighted
        loss_fn(pol, ref, t, 1.0).backward()
        best = r.argmax(1)
        assert (pol.grad[torch.arange(16), best] < 0).all()  # a descent step raises log π_θ of the best
        # at π_θ = π_sft: ∂KL(p_t‖p_f)/∂z = β (p_f − p_t) / B ; ∂KL(p_f‖p_t)/∂z = β p_f (log p_f/p_t − KL) / B
        pf = torch.full((16, 4), 0.25, dtype=torch.float64)
        if loss_fn is losses.dpo_soft_loss:
            want = (pf - t.exp()) / 16
        else:
            kl = (pf * (pf.log() - t)).sum(-1, keepdim=True)
            want = pf * (pf.log() - t - kl) / 16
        np.testing.assert_allclose(pol.grad.numpy(), want.numpy(), rtol=1e-9, atol=1e-14)


def test_eps_zero_one_hot_target():
    x = torch.zeros(2, 2, dtype=torch.float64)
    hard = losses.preference_targets(torch.tensor([0, 1]), 2, 0.0, dtype=torch.float64)
    with pytest.raises(ValueError, match="full support"):
        losses.exo_loss(x, x, hard, 0.1)
    pol = x.clone().requires_grad_(True)
    loss = losses.dpo_soft_loss(pol, x, hard, 0.1)
    loss.backward()
    assert loss.item() == pytest.approx(np.log(2))  # −log σ(0)
    assert torch.isfinite(pol.grad).all()


def test_k_group_losses_validate_arguments():
    x = torch.zeros(3, 4)
    t = losses.reward_targets(torch.zeros(3, 4), 1.0)
    with pytest.raises(ValueError, match="beta_pi"):
        losses.exo_loss(x, x, t, 0.0)
    with pytest.raises(ValueError, match="beta_r"):
        losses.reward_targets(x, -1.0)
    with pytest.raises(ValueError, match="K ≥ 2"):
        losses.exo_loss(torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(3, 1), 1.0)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        losses.dpo_soft_loss(torch.zeros(4), torch.zeros(4), torch.zeros(4), 1.0)
    with pytest.raises(ValueError, match="differ"):
        losses.exo_loss(x, torch.zeros(3, 5), t, 1.0)
    with pytest.raises(ValueError, match="normalised"):
        losses.exo_loss(x, x, torch.zeros(3, 4), 1.0)  # raw rewards passed as a target
    with pytest.raises(ValueError, match="NaN"):
        losses.exo_loss(x, x, torch.full((3, 4), float("nan")), 1.0)
    with pytest.raises(ValueError, match="finite"):
        losses.dpo_soft_loss(torch.full((3, 4), -float("inf")), x, t, 1.0)
    with pytest.raises(ValueError, match="reduction"):
        losses.exo_loss(x, x, t, 1.0, reduction="max")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.preference_targets(torch.tensor([0]), 2, 0.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.preference_targets(torch.tensor([0]), 2, -0.1)
    with pytest.raises(ValueError, match="chosen"):
        losses.preference_targets(torch.tensor([2]), 2, 0.1)
    with pytest.raises(ValueError, match="chosen"):
        losses.preference_targets(torch.tensor([0.0]), 2, 0.1)
    with pytest.raises(ValueError, match="k"):
        losses.preference_targets(torch.tensor([0]), 1, 0.1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        losses.exo_loss(np.zeros((3, 4)), x, t, 1.0)
