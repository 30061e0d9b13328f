"""The torch ranking-NCE loss against its numpy twin (lmdist.exact.ebm.nce_loss) and the exact empirical
objective; its gradient against the closed form."""

import numpy as np
import pytest
import torch

from lmdist.exact import ebm
from lmdist.lm import losses


@pytest.mark.parametrize("k", [1, 2, 7])
def test_nce_loss_matches_numpy(k):
    rng = np.random.default_rng(k)
    pos, neg = rng.normal(0, 5, size=32), rng.normal(0, 5, size=(32, k))
    got = losses.nce_loss(torch.tensor(pos), torch.tensor(neg), reduction="none").numpy()
    # both are logsumexp - s+ in float64: they agree to rounding (1e-12 relative at |loss| <~ 30)
    np.testing.assert_allclose(got, ebm.nce_loss(pos, neg), rtol=1e-12, atol=1e-12)
    assert losses.nce_loss(torch.tensor(pos), torch.tensor(neg)).item() == pytest.approx(ebm.nce_loss(pos, neg).mean(),
                                                                                         rel=1e-12)


def test_nce_loss_gradient_is_softmax_minus_indicator():
    rng = np.random.default_rng(0)
    pos = torch.tensor(rng.normal(size=5), requires_grad=True)
    neg = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    losses.nce_loss(pos, neg, reduction="sum").backward()
    soft = torch.softmax(torch.cat([pos[:, None], neg], 1), 1).detach()
    torch.testing.assert_close(pos.grad, soft[:, 0] - 1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(neg.grad, soft[:, 1:], rtol=1e-12, atol=1e-12)


def test_nce_loss_torch_agrees_with_tabular_empirical_objective():
    rng = np.random.default_rng(3)
    s = rng.normal(size=10)
    pos, neg = rng.integers(0, 10, 50), rng.integers(0, 10, (50, 4))
    st = torch.tensor(s, requires_grad=True)
    loss = losses.nce_loss(st[torch.tensor(pos)], st[torch.tensor(neg)])
    loss.backward()
    val, grad = ebm.nce_empirical(s, pos, neg)
    assert loss.item() == pytest.approx(val, rel=1e-12)
    np.testing.assert_allclose(st.grad.numpy(), grad, rtol=1e-10, atol=1e-14)


def test_nce_loss_rejects_bad_shapes():
    with pytest.raises(ValueError):
        losses.nce_loss(torch.zeros(3), torch.zeros(4, 2))
    with pytest.raises(ValueError):
        losses.nce_loss(torch.zeros(3), torch.zeros(3, 0))
    with pytest.raises(ValueError):
        losses.nce_loss(torch.zeros(3), torch.zeros(3, 2), reduction="avg")
