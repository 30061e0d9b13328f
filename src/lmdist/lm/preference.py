"""Preference training of a small LM with DPO and EXO, from the prior's own samples ranked by a reward.

The neural experiment of chapter 09 (Ji et al. 2024, "Towards Efficient Exact Optimization of Language
Model Alignment"), in four steps, each cached in :func:`lmdist.lm.cache.entry` keyed by every parameter
that affects it:

* :func:`collect`: ``k`` completions of each of ``n_prompts`` train-split prompts from the prior π_sft,
  their rewards r and their log-probabilities log π_sft(y|x)  → :class:`PreferenceData`;
* :func:`train`: one policy per method (:data:`METHODS`), AdamW on the method's loss
  (:mod:`lmdist.lm.losses`), reference = the prior, frozen;
* :func:`evaluate`: reward and KL(π_θ ‖ π_sft) of the policy's own samples on test-split prompts (the same
  code as :func:`lmdist.lm.zoo.evaluate_alignment`: :func:`lmdist.lm.zoo.policy_samples`);
* :func:`best_of_n` and :func:`density_ratios`: the prior's samples on the same test prompts, for the
  best-of-N frontier and for log π_θ/π_sft against the SNIS estimate of log π*/π_sft.

With β_π the coefficient of the policy's log-ratio and β_r the reward temperature, the target of both
EXO and DPO is π_θ ∝ π_sft exp(r / (β_r β_π)) (the slides' β = β_r · β_π). Progress bars are off unless
``progress=True``; every random draw comes from ``seed``.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm  # the plain bar (never shown unless progress=True)

from lmdist.exact import bestofn, checks, imha
from lmdist.lm import cache, losses, models, rewards, sampling, zoo
from lmdist.lm import data as lmdata

METHODS = ("dpo", "exo-pref", "exo-reward", "dpo-reward")
PAIR_METHODS = ("dpo", "exo-pref")  # on the (best, worst) pair of each prompt; the others use all k samples
#: Fixed parts of the recipe (in every cache key): warm-up as a fraction of the steps, the cosine's final
#: learning rate as a fraction of the peak, AdamW's weight decay, the gradient-norm clip.
RECIPE = dict(warmup_fraction=0.1, min_lr_ratio=0.1, weight_decay=0.0, grad_clip=1.0, version=1)
BATCH = 64  # sequences per forward pass when scoring (no gradient)


# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------


@functools.cache
def _named_reward(name: str) -> Callable:
    return rewards.sentiment() if name == "sentiment" else rewards.vader()


REWARDS = ("sentiment", "vader")


def _reward_key(reward_name: str | Callable) -> str:
    """The cache key of a reward: its name ("sentiment" = :func:`lmdist.lm.rewards.sentiment` with its
    defaults, "vader"), or a reward object's repr, which must identify it (as :mod:`lmdist.lm.rewards`' do)."""
    if isinstance(reward_name, str):
        if reward_name not in REWARDS:
            raise ValueError(f"reward_name must be one of {list(REWARDS)} or a reward object, got {reward_name!r}")
        return reward_name
    if not callable(reward_name):
        raise ValueError(f"reward_name must be one of {list(REWARDS)} or a reward object, got {reward_name!r}")
    return repr(reward_name)


def _reward(reward_name: str | Callable) -> Callable:
    """The reward itself (loaded only when a cache entry is missing: loading the classifier takes seconds)."""
    return _named_reward(reward_name) if isinstance(reward_name, str) else reward_name


def _load(prior: str | Path, device: str | torch.device, progress: bool) -> tuple[Any, Any]:
    with models.quiet(progress):
        return models.load_lm(prior, device=str(device))


def _json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")


# ---------------------------------------------------------------------------------------------
# Data: the prior's own samples, their rewards and reference log-probabilities
# ---------------------------------------------------------------------------------------------

@dataclass
class PreferenceData:
    """``k`` completions of each of ``n`` prompts from π_sft, with rewards and log π_sft(y|x).

    ``completion_ids[i][j]`` is the j-th completion of prompt i (token ids, a final EOS included when
    sampled), ``texts[i][j]`` its text; ``rewards`` and ``ref_logps`` have shape (n, k); ``key`` holds
    the parameters that made it (the data part of :func:`train`'s cache key).
    """

    prompts: list[str]
    prompt_ids: list[list[int]]
    completion_ids: list[list[list[int]]]
    texts: list[list[str]]
    rewards: np.ndarray
    ref_logps: np.ndarray
    key: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.prompts)

    @property
    def k(self) -> int:
        return int(self.rewards.shape[1])

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, best, worst): the prompts whose rewards are not all tied (a tie is no preference), with
        the index of the highest- and of the lowest-reward completion (y_w, y_l)."""
        r = self.rewards
        rows = np.flatnonzero(r.max(1) > r.min(1))
        return rows, r.argmax(1)[rows], r.argmin(1)[rows]

    def save(self, folder: Path) -> None:
        np.savez(folder / "arrays.npz", rewards=self.rewards, ref_logps=self.ref_logps)
        _json(folder / "data.json", {"prompts": self.prompts, "prompt_ids": self.prompt_ids,
                                     "completion_ids": self.completion_ids, "texts": self.texts, "key": self.key})

    @classmethod
    def load(cls, folder: Path) -> PreferenceData:
        d = json.loads((folder / "data.json").read_text())
        with np.load(folder / "arrays.npz") as a:
            return cls(d["prompts"], d["prompt_ids"], d["completion_ids"], d["texts"], a["rewards"], a["ref_logps"],
                       d["key"])


def sequence_logprobs(model: Any, prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]],
                      pad: int, batch_size: int = BATCH) -> torch.Tensor:
    """log π(y_j | x_j) for each (prompt, completion) pair, one forward pass per ``batch_size`` pairs
    (:func:`lmdist.lm.zoo.pack`, :func:`lmdist.lm.losses.completion_logprobs`); keeps the graph when
    gradients are enabled."""
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(prompt_ids), batch_size):
        batch = zoo.pack(prompt_ids[s:s + batch_size], completion_ids[s:s + batch_size], pad, dev)
        out.append(losses.completion_logprobs(model, *batch))
    return torch.cat(out)


def collect(prior: str = "tiny-imdb", reward_name: str | Callable = "sentiment", n_prompts: int = 128, k: int = 4,
            prompt_tokens: int = 8, max_new_tokens: int = 48, seed: int = 0, device: str = "auto",
            progress: bool = False) -> PreferenceData:
    """``k`` completions of each of ``n_prompts`` train-split prompts (:func:`lmdist.lm.data.prompts`,
    ``seed``) from ``prior`` by ancestral sampling (:func:`lmdist.lm.sampling.sample`, seed ``seed``),
    their rewards r(x, y) (``reward_name``: "sentiment" = :func:`lmdist.lm.rewards.sentiment`, "vader", or
    a reward object) and log π_sft(y|x) (a forward pass of prompt ⊕ completion, as in training).
    Cached (npz + json) by every parameter and the device type.
    """
    for name, v in (("n_prompts", n_prompts), ("prompt_tokens", prompt_tokens), ("max_new_tokens", max_new_tokens)):
        checks.integer(v, name, lo=1)
    checks.integer(k, "k", lo=2)
    seed = checks.integer(seed, "seed", lo=0)
    reward_key = _reward_key(reward_name)
    dev = models.resolve_device(device)
    key = dict(prior=str(prior), reward=reward_key, n_prompts=n_prompts, k=k, prompt_tokens=prompt_tokens,
               max_new_tokens=max_new_tokens, seed=seed, device=dev.type, version=1)
    folder = cache.entry("preference-data", **key)
    if (folder / "data.json").is_file():
        return PreferenceData.load(folder)
    model, tokenizer = _load(prior, dev, progress)
    prompts = lmdata.prompts(n_prompts, prompt_tokens, tokenizer, split="train", seed=seed)
    comps = sampling.sample(model, tokenizer, prompts, k, max_new_tokens, seed=seed, batch_size=128, device=dev,
                            progress=progress)
    r = _reward(reward_name)([c.prompt for c in comps], [c.text for c in comps])
    r = np.asarray(r, dtype=np.float64).reshape(n_prompts, k)
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    with torch.no_grad():
        ref = sequence_logprobs(model, [prompt_ids[i // k] for i in range(len(comps))],
                                [c.token_ids for c in comps], tokenizer.pad_token_id)
    out = PreferenceData(prompts=prompts, prompt_ids=prompt_ids,
                         completion_ids=[[list(map(int, comps[i * k + j].token_ids)) for j in range(k)]
                                         for i in range(n_prompts)],
                         texts=[[comps[i * k + j].text for j in range(k)] for i in range(n_prompts)],
                         rewards=r, ref_logps=ref.double().cpu().numpy().reshape(n_prompts, k), key=key)
    out.save(folder)  # data.json last: an interrupted write leaves no entry
    return out


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    return method


@dataclass
class _Rows:
    """What a method trains on: rows (prompt indices), their columns (completion indices), reference
    log-probabilities (B, K') and log targets (B, K') (None for "dpo")."""

    rows: np.ndarray
    cols: np.ndarray
    ref: torch.Tensor
    target: torch.Tensor | None


def _rows(data: PreferenceData, method: str, beta_r: float, label_smoothing: float) -> _Rows:
    if method in PAIR_METHODS:
        rows, best, worst = data.pairs()
        if len(rows) == 0:
            raise ValueError("every prompt's rewards are tied: no preference pair to train on")
        cols = np.stack([best, worst], 1)  # chosen first: column 0
        target = (None if method == "dpo" else
                  losses.preference_targets(torch.zeros(len(rows), dtype=torch.long), 2, label_smoothing))
    else:
        rows = np.arange(data.n)
        cols = np.tile(np.arange(data.k), (data.n, 1))
        target = losses.reward_targets(torch.tensor(data.rewards, dtype=torch.float32), beta_r)
    ref = torch.tensor(np.take_along_axis(data.ref_logps[rows], cols, 1), dtype=torch.float32)
    return _Rows(rows, cols, ref, target)


def _policy_logps(model: Any, data: PreferenceData, rows: np.ndarray, cols: np.ndarray, pad: int) -> torch.Tensor:
    """log π_θ(y_{i,c} | x_i) for the chosen rows and columns, shape (len(rows), cols.shape[1])."""
    p = [data.prompt_ids[i] for i, cs in zip(rows, cols) for _ in cs]
    c = [data.completion_ids[i][j] for i, cs in zip(rows, cols) for j in cs]
    return sequence_logprobs(model, p, c, pad, batch_size=len(p)).reshape(len(rows), cols.shape[1])


def _loss(method: str, lp: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None, beta_pi: float,
          reduction: str = "mean") -> torch.Tensor:
    dev = lp.device
    ref = ref.to(dev)
    if method == "dpo":
        return losses.dpo_loss(lp[:, 0], lp[:, 1], ref[:, 0], ref[:, 1], beta=beta_pi, reduction=reduction)
    assert target is not None
    fn = losses.dpo_soft_loss if method == "dpo-reward" else losses.exo_loss
    return fn(lp, ref, target.to(dev), beta_pi, reduction=reduction)


def _train_key(data: PreferenceData, method: str, beta_r: float, beta_pi: float, steps: int, lr: float,
               batch_size: int, label_smoothing: float, seed: int, dev: torch.device) -> dict[str, Any]:
    """The cache key; parameters a method does not use are left out (changing them does not retrain)."""
    key: dict[str, Any] = dict(data=data.key, method=method, beta_pi=float(beta_pi), steps=steps, lr=float(lr),
                               batch_size=batch_size, seed=seed, device=dev.type, **RECIPE)
    if method in ("exo-reward", "dpo-reward"):
        key["beta_r"] = float(beta_r)
    if method == "exo-pref":
        key["label_smoothing"] = float(label_smoothing)
    return key


def train(data: PreferenceData, method: str, beta_r: float = 1.0, beta_pi: float = 0.3, steps: int = 60,
          lr: float = 3e-4, batch_size: int = 8, label_smoothing: float = 1e-3, seed: int = 0, device: str = "auto",
          prior: str | None = None, progress: bool = False) -> Any:
    """The prior (``data.key["prior"]``) trained for ``steps`` AdamW steps on ``method``'s loss; eval mode.

    * "dpo": :func:`lmdist.lm.losses.dpo_loss` (β = ``beta_pi``) on the pair (y_w, y_l) = (argmax r,
      argmin r) of each prompt (prompts with all rewards tied are left out);
    * "exo-pref": :func:`~lmdist.lm.losses.exo_loss` on the same pairs with
      :func:`~lmdist.lm.losses.preference_targets` (1 − ε on y_w, ε = ``label_smoothing``: TRL's ``exo_pair``);
    * "exo-reward": :func:`~lmdist.lm.losses.exo_loss` over all k samples with
      :func:`~lmdist.lm.losses.reward_targets` (``beta_r``);
    * "dpo-reward": :func:`~lmdist.lm.losses.dpo_soft_loss` over all k samples, same targets.

    Each step takes ``batch_size`` prompts (epochs of a ``seed``-ed permutation), the learning rate warming
    up over the first 10 % of the steps, then a cosine to 0.1 · ``lr`` (:func:`lmdist.lm.zoo.lr_at`,
    :func:`~lmdist.lm.zoo.optimizer`, :func:`~lmdist.lm.zoo.descend`, clip 1.0). The reference log-probabilities
    are ``data.ref_logps``. The policy runs in eval mode (no dropout: at step 0 it is exactly the reference).
    Cached (safetensors) by every parameter the method uses; ``policy.preference_card`` holds the key, the
    loss at each step and the training time.
    """
    _check_method(method)
    steps = checks.integer(steps, "steps", lo=1)
    batch_size = checks.integer(batch_size, "batch_size", lo=1)
    lr = checks.real(lr, "lr", lo=0, open_lo=True)
    checks.real(beta_pi, "beta_pi", lo=0, open_lo=True)
    checks.real(beta_r, "beta_r", lo=0, open_lo=True)
    seed = checks.integer(seed, "seed", lo=0)
    if method == "exo-pref" and not 0 < label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in (0, 0.5) for exo-pref (ε = 0 makes the EXO loss infinite), "
                         f"got {label_smoothing!r}")
    if prior is not None and str(prior) != data.key.get("prior"):
        raise ValueError(f"prior {prior!r} differs from the prior that sampled the data, {data.key.get('prior')!r}")
    dev = models.resolve_device(device)
    key = _train_key(data, method, beta_r, beta_pi, steps, lr, batch_size, label_smoothing, seed, dev)
    folder = cache.entry("preference-policy", **key)
    done = folder / "card.json"
    if done.is_file():
        policy, _ = _load(folder, dev, progress)
        policy.preference_card = json.loads(done.read_text())
        return policy
    policy, tokenizer = _load(data.key["prior"], dev, progress)
    work = _rows(data, method, beta_r, label_smoothing)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    policy.eval()
    for p in policy.parameters():
        p.requires_grad_(True)
    opt = zoo.optimizer(policy, lr, RECIPE["weight_decay"])
    warmup = int(RECIPE["warmup_fraction"] * steps)
    order: list[int] = []
    history, t0 = [], time.time()
    for step in tqdm(range(steps), desc=f"train {method}", disable=not progress, leave=False):
        if len(order) < min(batch_size, len(work.rows)):
            order.extend(rng.permutation(len(work.rows)).tolist())
        idx = np.array(order[:batch_size])
        del order[:batch_size]
        lp = _policy_logps(policy, data, work.rows[idx], work.cols[idx], tokenizer.pad_token_id)
        loss = _loss(method, lp, work.ref[idx], None if work.target is None else work.target[idx], beta_pi)
        zoo.descend(opt, policy, loss, zoo.lr_at(step, step / steps, lr, warmup, RECIPE["min_lr_ratio"]),
                    RECIPE["grad_clip"])
        history.append(round(loss.item(), 6))
    policy.eval()
    for p in policy.parameters():
        p.requires_grad_(False)
    with models.quiet(progress):
        policy.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    card = {**key, "rows": int(len(work.rows)), "loss_history": history, "train_seconds": round(time.time() - t0, 2),
            "device_name": zoo.device_name(dev)}
    _json(done, card)  # last: an interrupted run leaves no card, so it is trained again
    policy.preference_card = card
    return policy


@torch.no_grad()
def objective(policy: Any, data: PreferenceData, method: str, beta_r: float = 1.0, beta_pi: float = 0.3,
              label_smoothing: float = 1e-3) -> float:
    """``method``'s loss (as in :func:`train`) averaged over all its training rows, for ``policy``
    (the prior itself: pass the prior; at π_θ = π_sft the pair losses are log 2 for "dpo")."""
    _check_method(method)
    work = _rows(data, method, beta_r, label_smoothing)
    pad = _pad_id(policy)
    per_row = [_loss(method, _policy_logps(policy, data, work.rows[s:s + 32], work.cols[s:s + 32], pad),
                     work.ref[s:s + 32], None if work.target is None else work.target[s:s + 32], beta_pi,
                     reduction="none") for s in range(0, len(work.rows), 32)]
    return float(torch.cat(per_row).double().mean())


def _pad_id(model: Any) -> int:
    pad = model.config.pad_token_id
    return int(pad if pad is not None else model.config.eos_token_id)


# ---------------------------------------------------------------------------------------------
# Evaluation on test-split prompts
# ---------------------------------------------------------------------------------------------

def evaluate(policy: Any, prior: str = "tiny-imdb", reward_name: str | Callable = "sentiment", n_prompts: int = 64,
             k: int = 2, prompt_tokens: int = 8, max_new_tokens: int = 48, seed: int = 0, device: str = "auto",
             progress: bool = False) -> dict[str, Any]:
    """Reward and KL(π_θ ‖ π_sft) of ``policy``'s own samples on ``n_prompts`` test-split prompts.

    ``k`` samples per prompt (seed ``seed`` + 1, as :func:`lmdist.lm.zoo.evaluate_alignment`, by the same
    :func:`lmdist.lm.zoo.policy_samples`); KL = mean of log π_θ(y|x) − log π_sft(y|x) over them. Means ±
    standard errors with prompts as the independent units (:func:`lmdist.lm.zoo.mean_se`). ``policy=None``
    evaluates the prior (KL = 0). Returns reward, reward_se, kl, kl_se, positive_fraction, eos_fraction,
    mean_tokens, examples (3), and the arrays rewards and log_ratios (n_prompts, k). Cached by the policy's
    weights (:func:`lmdist.lm.cache.model_digest`) and every parameter.
    """
    for name, v in (("n_prompts", n_prompts), ("k", k), ("prompt_tokens", prompt_tokens),
                    ("max_new_tokens", max_new_tokens)):
        checks.integer(v, name, lo=2 if name == "n_prompts" else 1)
    seed = checks.integer(seed, "seed", lo=0)
    reward_key = _reward_key(reward_name)
    dev = models.resolve_device(device)
    ref, tokenizer = _load(prior, dev, progress)
    q = ref if policy is None else policy.to(dev)
    key = dict(policy=cache.model_digest(q), prior=str(prior), reward=reward_key, n_prompts=n_prompts, k=k,
               prompt_tokens=prompt_tokens, max_new_tokens=max_new_tokens, seed=seed, device=dev.type, version=1)
    folder = cache.entry("preference-eval", **key)
    if (folder / "summary.json").is_file():
        with np.load(folder / "arrays.npz") as a:
            return {**json.loads((folder / "summary.json").read_text()), "rewards": a["rewards"],
                    "log_ratios": a["log_ratios"]}
    prompts = lmdata.prompts(n_prompts, prompt_tokens, tokenizer, split="test", seed=seed)
    comps, r, log_ratio = zoo.policy_samples(q, ref, tokenizer, _reward(reward_name), prompts, k, max_new_tokens,
                                             seed + 1, dev, progress=progress)
    (rm, rse), (kl, klse) = zoo.mean_se(r.mean(1)), zoo.mean_se(log_ratio.mean(1))
    summary = {"reward": rm, "reward_se": rse, "kl": kl, "kl_se": klse, "n_prompts": n_prompts, "k": k,
               "positive_fraction": float((r > 0).mean()), "eos_fraction": float(np.mean([c.eos for c in comps])),
               "mean_tokens": float(np.mean([len(c) for c in comps])),
               "examples": [c.prompt + c.text for c in comps[: 3 * k: k]]}
    np.savez(folder / "arrays.npz", rewards=r, log_ratios=log_ratio)
    _json(folder / "summary.json", summary)
    return {**summary, "rewards": r, "log_ratios": log_ratio}


def prior_samples(prior: str = "tiny-imdb", reward_name: str | Callable = "sentiment", n_prompts: int = 64,
                  n_samples: int = 16, prompt_tokens: int = 8, max_new_tokens: int = 48, seed: int = 0,
                  device: str = "auto", progress: bool = False) -> dict[str, Any]:
    """``n_samples`` completions of each test prompt from the prior (the prompts of :func:`evaluate` for the
    same ``n_prompts``, ``prompt_tokens``, ``seed``; sampling seed ``seed`` + 2): "prompts", "prompt_ids",
    "completion_ids" (n × M), "rewards" (n, M) and "logps" (n, M) = log π_sft(y|x) by a forward pass.
    Cached; shared by :func:`best_of_n` and :func:`density_ratios`."""
    for name, v in (("n_prompts", n_prompts), ("n_samples", n_samples), ("prompt_tokens", prompt_tokens),
                    ("max_new_tokens", max_new_tokens)):
        checks.integer(v, name, lo=1)
    seed = checks.integer(seed, "seed", lo=0)
    reward_key = _reward_key(reward_name)
    dev = models.resolve_device(device)
    key = dict(prior=str(prior), reward=reward_key, n_prompts=n_prompts, n_samples=n_samples,
               prompt_tokens=prompt_tokens, max_new_tokens=max_new_tokens, seed=seed, device=dev.type, version=1)
    folder = cache.entry("preference-prior-samples", **key)
    if (folder / "samples.json").is_file():
        d = json.loads((folder / "samples.json").read_text())
        with np.load(folder / "arrays.npz") as a:
            return {**d, "rewards": a["rewards"], "logps": a["logps"]}
    model, tokenizer = _load(prior, dev, progress)
    prompts = lmdata.prompts(n_prompts, prompt_tokens, tokenizer, split="test", seed=seed)
    comps, r, _ = zoo.policy_samples(model, model, tokenizer, _reward(reward_name), prompts, n_samples,
                                     max_new_tokens, seed + 2, dev, progress=progress)
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    ids = [[list(map(int, comps[i * n_samples + j].token_ids)) for j in range(n_samples)] for i in range(n_prompts)]
    with torch.no_grad():
        logps = sequence_logprobs(model, [prompt_ids[i] for i in range(n_prompts) for _ in range(n_samples)],
                                  [c for row in ids for c in row], tokenizer.pad_token_id)
    d = {"prompts": prompts, "prompt_ids": prompt_ids, "completion_ids": ids}
    np.savez(folder / "arrays.npz", rewards=r, logps=logps.double().cpu().numpy().reshape(n_prompts, n_samples))
    _json(folder / "samples.json", d)  # last: an interrupted write leaves no entry
    with np.load(folder / "arrays.npz") as a:
        return {**d, "rewards": a["rewards"], "logps": a["logps"]}


def best_of_n(prior: str = "tiny-imdb", reward_name: str | Callable = "sentiment", n_prompts: int = 64,
              n_samples: int = 16, prompt_tokens: int = 8, max_new_tokens: int = 48, seed: int = 0,
              device: str = "auto", progress: bool = False) -> dict[str, Any]:
    """Best-of-N on the test prompts from :func:`prior_samples`: for N = 1, 2, 4, … ≤ ``n_samples``,

        reward(N) = mean over prompts of E[max of N rewards], estimated without bias per prompt by
                    :func:`lmdist.exact.bestofn.max_of_subsets` (all N-subsets of the M samples),
        kl_bound(N) = log N − (N − 1)/N  (:func:`lmdist.exact.bestofn.kl_bound`, an upper bound on KL(BoN ‖ π_sft)),

    with the standard error over prompts. Returns n, reward, reward_se, kl_bound (arrays) and rewards (n, M).
    """
    s = prior_samples(prior, reward_name, n_prompts, n_samples, prompt_tokens, max_new_tokens, seed, device, progress)
    ns = 2 ** np.arange(int(math.log2(n_samples)) + 1)
    per_prompt = np.array([[bestofn.max_of_subsets(row, int(n)) for n in ns] for row in s["rewards"]])
    stats = [zoo.mean_se(per_prompt[:, j]) for j in range(len(ns))]
    return {"n": ns, "reward": np.array([m for m, _ in stats]), "reward_se": np.array([e for _, e in stats]),
            "kl_bound": np.array([float(bestofn.kl_bound(int(n))) for n in ns]), "rewards": s["rewards"]}


@torch.no_grad()
def density_ratios(policy: Any, beta: float, prior: str = "tiny-imdb", reward_name: str | Callable = "sentiment",
                   n_prompts: int = 16, n_samples: int = 32, prompt_tokens: int = 8, max_new_tokens: int = 48,
                   seed: int = 0, device: str = "auto", progress: bool = False) -> dict[str, Any]:
    """On samples y_1..y_M ∼ π_sft of each test prompt (:func:`prior_samples`):

        log_ratio_policy[x, j]  = log π_θ(y_j|x) − log π_sft(y_j|x),
        log_ratio_optimal[x, j] = r(x, y_j)/β − log (1/M) Σ_i exp(r(x, y_i)/β) = log(M w_j),

    the second the SNIS estimate of log π*_β(y_j|x)/π_sft(y_j|x), π*_β ∝ π_sft e^{r/β}, w the self-normalised
    weights of :func:`lmdist.exact.imha.snis_weights` (target e^{r/β} π_sft, proposal π_sft). ``beta`` is the
    total temperature β = β_r · β_π that the trained policies aim at. Also returns rewards (n, M).
    """
    b = checks.real(beta, "beta", lo=0, open_lo=True)
    s = prior_samples(prior, reward_name, n_prompts, n_samples, prompt_tokens, max_new_tokens, seed, device, progress)
    m = n_samples
    lp = sequence_logprobs(policy, [p for p in s["prompt_ids"] for _ in range(m)],
                           [c for row in s["completion_ids"] for c in row], _pad_id(policy)).double().cpu().numpy()
    zeros = np.zeros(m)
    opt = np.array([np.log(m * imha.snis_weights(row / b, zeros)) for row in s["rewards"]])
    return {"log_ratio_policy": lp.reshape(n_prompts, m) - s["logps"], "log_ratio_optimal": opt,
            "rewards": s["rewards"]}
