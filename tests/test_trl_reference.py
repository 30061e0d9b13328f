"""TRL as the reference for the pair losses: a real ``trl.DPOTrainer`` (trl 1.16.0) on the tiny test model.

TRL computes its own log-probabilities (its fused LM head) on its own collated batch; we compute ours on the
same batch with :func:`lmdist.lm.losses.completion_logprobs` and compare the losses: DPO (TRL ``sigmoid``) with
:func:`lmdist.lm.losses.dpo_loss` and EXO-pref (TRL ``exo_pair``, label smoothing ε) with
:func:`lmdist.lm.losses.exo_loss` on :func:`lmdist.lm.losses.preference_targets` at K = 2.
"""

from __future__ import annotations

import copy
import logging
import warnings

import pytest
import torch
from datasets import Dataset, disable_progress_bars
from trl import DPOConfig, DPOTrainer

from lmdist.lm import losses

PROMPTS = ["w1 w2", "w3", "w4 w5 w6", "w7", "w2 w2 w9"]
CHOSEN = [" w7 w8", " w9", " w1 w2 w3", " w3 w3 w3 w3", " w10"]
REJECTED = [" w3", " w4 w5", " w6", " w11 w12", " w13 w14 w1 w2"]


def trainer(lm, tmp_path, loss_type: str, beta: float, eps: float) -> DPOTrainer:
    model, tokenizer = lm
    # Fresh copies for each trainer: TRL patches the models it is given (its fused LM head), and a reference
    # object handed to a second DPOTrainer gives TRL log-probabilities that differ from the model's own by ~1e-2.
    model = copy.deepcopy(model)
    policy = copy.deepcopy(model)  # a policy that differs from the reference: perturbed weights
    policy.eval()  # no dropout: TRL's forward and ours must see the same network
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in policy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    data = Dataset.from_dict({"prompt": PROMPTS, "chosen": CHOSEN, "rejected": REJECTED})
    disable_progress_bars()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers 5's renamed gradient-checkpointing args
        args = DPOConfig(output_dir=str(tmp_path), loss_type=[loss_type], beta=beta, label_smoothing=eps,
                         report_to="none", use_cpu=True, per_device_train_batch_size=len(PROMPTS),
                         disable_tqdm=True, logging_strategy="no", save_strategy="no")
        return DPOTrainer(model=policy, ref_model=model, args=args, train_dataset=data, processing_class=tokenizer)


def both(tr: DPOTrainer) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """TRL's loss and our (B, 2) policy/reference log-probabilities [chosen, rejected] on TRL's batch."""
    batch = tr.data_collator([tr.train_dataset[i] for i in range(len(PROMPTS))])  # in order, no shuffling
    args = batch["input_ids"].clone(), batch["attention_mask"].clone(), batch["completion_mask"].clone()
    with torch.no_grad():
        pol = losses.completion_logprobs(tr.model, *args).reshape(2, -1).T  # TRL's batch is [chosen; rejected]
        ref = losses.completion_logprobs(tr.ref_model, *args).reshape(2, -1).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trl_loss = tr.compute_loss(tr.model, batch)
    return trl_loss, pol, ref


# float32 model, ~10-token sequences: the log-probabilities agree to ~1e-6 (TRL's fused head vs log_softmax),
# and the losses (O(1)) to ~1e-6; 1e-5 absolute leaves room for reduction order.
TOL = 1e-5


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_dpo_loss_is_trl_sigmoid(lm, tmp_path, beta):
    tr = trainer(lm, tmp_path, "sigmoid", beta, 0.0)
    trl_loss, pol, ref = both(tr)
    ours = losses.dpo_loss(pol[:, 0], pol[:, 1], ref[:, 0], ref[:, 1], beta=beta)
    assert abs((pol - ref).abs().max().item()) > 0.1  # the test compares something: policy ≠ reference
    assert ours.item() == pytest.approx(trl_loss.item(), abs=TOL)
    # and the K-sample soft form with a one-hot target (ε = 0) is the same loss
    hard = losses.preference_targets(torch.zeros(len(PROMPTS), dtype=torch.long), 2, 0.0)
    assert losses.dpo_soft_loss(pol, ref, hard, beta).item() == pytest.approx(trl_loss.item(), abs=TOL)


@pytest.mark.parametrize(("beta", "eps"), [(0.1, 1e-3), (1.0, 1e-3), (0.5, 0.2)])
def test_exo_loss_is_trl_exo_pair(lm, tmp_path, beta, eps):
    tr = trainer(lm, tmp_path, "exo_pair", beta, eps)
    trl_loss, pol, ref = both(tr)
    target = losses.preference_targets(torch.zeros(len(PROMPTS), dtype=torch.long), 2, eps)
    assert losses.exo_loss(pol, ref, target, beta).item() == pytest.approx(trl_loss.item(), abs=TOL)


def test_trl_gradient_matches_ours(lm, tmp_path):
    tr = trainer(lm, tmp_path, "exo_pair", 0.5, 0.1)
    batch = tr.data_collator([tr.train_dataset[i] for i in range(len(PROMPTS))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tr.compute_loss(tr.model, batch).backward()
    theirs = [p.grad.clone() for p in tr.model.parameters()]
    tr.model.zero_grad()
    args = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    pol = losses.completion_logprobs(tr.model, *args).reshape(2, -1).T
    with torch.no_grad():
        ref = losses.completion_logprobs(tr.ref_model, *args).reshape(2, -1).T
    losses.exo_loss(pol, ref, losses.preference_targets(torch.zeros(len(PROMPTS), dtype=torch.long), 2, 0.1),
                    0.5).backward()
    for a, b in zip(theirs, (p.grad for p in tr.model.parameters())):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)  # float32 backprop through 2 layers


def test_trl_refuses_exo_pair_without_label_smoothing(lm, tmp_path):
    # TRL's paper_index.md "reproduce the paper" config for exo_pair sets no label_smoothing (default 0.0):
    # TRL 1.16.0 refuses it, as exo_loss refuses a target with a zero.
    logging.getLogger("trl").setLevel(logging.ERROR)
    with pytest.raises(ValueError, match="Label smoothing must be greater than 0.0"):
        trainer(lm, tmp_path, "exo_pair", 0.1, 0.0)
    with pytest.raises(ValueError, match="full support"):
        x = torch.zeros(1, 2)
        losses.exo_loss(x, x, losses.preference_targets(torch.tensor([0]), 2, 0.0), 0.1)
