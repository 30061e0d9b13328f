"""Benchmark: lmdist.lm.sampling.sample (one decoding loop that also scores) against the plain route.

The plain route is what a paper's code does: ``model.generate(..., do_sample=True)`` with the adaptor as
transformers' warpers, then a separate forward pass over prompt + completion to get the per-token
log-probabilities under the model and under the adapted distribution. Both routes use the same model,
prompts, number of strings, completion length (EOS disabled in both, so every string has exactly
``--max-new-tokens`` tokens) and batch size; they are timed alternately, ``--repeats`` times each, and
the median is reported, at ``--batch-size`` and at the seed's batch of 2.

    .venv/bin/python benchmarks/sampling.py --random gpt2-small                    # CPU
    .venv/bin/python benchmarks/sampling.py --model tiny-imdb                      # lmdist.lm.models.load_lm
    python3 benchmarks/sampling.py --random-llama-7b --batch-size 16 --n-strings 64 --max-new-tokens 128
    python3 benchmarks/sampling.py --random-llama-7b --static-cache ...             # CUDA graphs

With ``--random-llama-7b`` (CUDA, bfloat16, randomly initialised weights of Llama-2-7B's shape) it also
reports the fraction of the memory-bandwidth roofline reached: bytes of weights read per decode step ×
decode steps per second ÷ ``--peak-bandwidth`` (default H100 SXM, 3.35e12 B/s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout too

from lmdist.exact import adaptors as A
from lmdist.lm import sampling as S
from lmdist.lm.models import resolve_device


def stub_tokenizer(vocab_size: int) -> Any:
    """A word-level tokenizer "t0" .. "t{V-1}" for randomly initialised models (no download needed)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {f"t{i}": i for i in range(vocab_size)}
    tk = Tokenizer(models.WordLevel(words, unk_token="t0"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token=f"t{vocab_size - 1}",
                                   bos_token=f"t{vocab_size - 1}", pad_token=f"t{vocab_size - 1}")


def random_gpt2(size: str) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    shapes = {"gpt2-small": dict(n_layer=12, n_embd=768, n_head=12),
              "gpt2-tiny": dict(n_layer=2, n_embd=128, n_head=4)}
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(**shapes[size]))


def random_llama_7b(device: torch.device) -> Any:
    """Llama-2-7B's shape (6.7e9 parameters), random weights, bfloat16, built directly on the device."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096,
                      bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(default)
    return model


def weight_bytes(model: Any) -> int:
    """Bytes of the weights one decode step reads: every parameter once (tied ones once), except an
    input embedding table that is not also the output layer (a step gathers only a few of its rows)."""
    emb, out = model.get_input_embeddings(), model.get_output_embeddings()
    skip = set() if out is not None and out.weight.data_ptr() == emb.weight.data_ptr() else {emb.weight.data_ptr()}
    seen, total = set(skip), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel() * p.element_size()
    return total


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- the two routes

def ours(model: Any, tok: Any, prompts: list[str], adaptor: A.Adaptor, n_new: int, bs: int,
         device: torch.device, static_cache: bool = False) -> list:
    return S.sample(model, tok, prompts, n=1, max_new_tokens=n_new, adaptor=adaptor, seed=0, batch_size=bs,
                    device=device, eos_token_id=[], progress=False, static_cache=static_cache)


@torch.inference_mode()
def plain(model: Any, tok: Any, prompts: list[str], adaptor: A.Adaptor, n_new: int, bs: int,
          device: torch.device) -> list:
    """generate(do_sample=True) with the adaptor's warpers, then one forward pass to score."""
    from transformers import GenerationConfig, LogitsProcessorList

    procs = S.logits_processors(adaptor, device)
    # No default warper of generate may add itself: top_k is set explicitly (0 = off), EOS is off.
    gen_cfg = GenerationConfig(do_sample=True, max_new_tokens=n_new, top_k=0, top_p=1.0, temperature=1.0,
                               eos_token_id=None, pad_token_id=tok.pad_token_id)
    tok.padding_side = "left"
    out = []
    for start in range(0, len(prompts), bs):
        enc = tok(prompts[start:start + bs], return_tensors="pt", padding=True).to(device)
        seqs = model.generate(**enc, generation_config=gen_cfg, logits_processor=LogitsProcessorList(procs))
        # the separate scoring pass over prompt + completion
        mask = torch.cat([enc["attention_mask"], torch.ones_like(seqs[:, enc["input_ids"].shape[1]:])], dim=1)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=seqs, attention_mask=mask, position_ids=pos).logits
        width = seqs.shape[1] - enc["input_ids"].shape[1]
        logits = logits[:, -width - 1:-1].float()
        target = seqs[:, -width:].unsqueeze(-1)
        logp = torch.log_softmax(logits, -1)
        scores = logp.reshape(-1, logp.shape[-1])
        for p in procs:
            scores = p(None, scores)
        logq = torch.log_softmax(scores, -1).reshape(logp.shape)
        out.append((seqs, logp.gather(-1, target).squeeze(-1).cpu(), logq.gather(-1, target).squeeze(-1).cpu()))
    return out


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a name or folder for lmdist.lm.models.load_lm")
    src.add_argument("--random", choices=["gpt2-small", "gpt2-tiny"], help="a randomly initialised GPT-2")
    src.add_argument("--random-llama-7b", action="store_true",
                     help="a randomly initialised Llama-2-7B-sized model (bfloat16, CUDA)")
    ap.add_argument("--adaptor", default="top_k=50,top_p=0.95", help="adaptor spec (default %(default)s)")
    ap.add_argument("--n-strings", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=16, help="prompt length for random models")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default=None)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    ap.add_argument("--static-cache", action="store_true",
                    help="ours with a static KV cache (each decode step a CUDA graph on a GPU)")
    ap.add_argument("--peak-bandwidth", type=float, default=3.35e12, help="bytes/s (default H100 SXM)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.random_llama_7b:
        if device.type != "cuda":
            ap.error("--random-llama-7b needs a CUDA device")
        model = random_llama_7b(device)
        tok = stub_tokenizer(model.config.vocab_size)
    elif args.random:
        model = random_gpt2(args.random)
        tok = stub_tokenizer(model.config.vocab_size)
    else:
        try:
            from lmdist.lm.models import load_lm
        except ImportError as err:
            ap.error(f"--model needs lmdist.lm.models.load_lm ({err}); use --random gpt2-small")
        model, tok = load_lm(args.model)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, None: None}[args.dtype]
    model.to(device)
    if dtype is not None:
        model.to(dtype)
    model.eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token

    adaptor = A.from_spec(args.adaptor)
    g = torch.Generator().manual_seed(0)
    vocab = len(tok)
    if args.random or args.random_llama_7b:
        prompts = [" ".join(f"t{int(i)}" for i in torch.randint(0, vocab - 1, (args.prompt_tokens,), generator=g))
                   for _ in range(args.n_strings)]
    else:
        prompts = ["This movie was"] * args.n_strings
    n_tokens = args.n_strings * args.max_new_tokens
    wbytes = weight_bytes(model)
    print(f"model: {type(model).__name__}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"{wbytes / 1e9:.2f} GB of weights, dtype {next(model.parameters()).dtype}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f", {args.threads} threads"))
    cache = "static KV cache" + (", CUDA graphs" if device.type == "cuda" else "")
    print(f"ours: {cache if args.static_cache else 'dynamic KV cache'}")
    print(f"adaptor: {adaptor.spec()}; {args.n_strings} strings x {args.max_new_tokens} new tokens, "
          f"prompts of ~{len(tok(prompts[0])['input_ids'])} tokens, EOS off; median of {args.repeats}")

    # warm-up (allocator, kernels, lazy inits) on one small batch of each route
    ours(model, tok, prompts[:2], adaptor, 4, 2, device, args.static_cache)
    plain(model, tok, prompts[:2], adaptor, 4, 2, device)

    sizes = sorted({args.batch_size, 2}, reverse=True)
    print(f"{'batch':>5} {'ours tok/s':>11} {'plain tok/s':>12} {'ratio':>6}"
          + (f" {'ours roofline':>14} {'plain roofline':>15}" if device.type == "cuda" else ""))
    for bs in sizes:
        t_ours, t_plain = [], []
        for _ in range(args.repeats):  # alternate, so that a busy machine slows both alike
            # bs=bs binds this iteration's batch size into the closure
            t_ours.append(timed(lambda bs=bs: ours(model, tok, prompts, adaptor, args.max_new_tokens, bs, device,
                                                   args.static_cache), device))
            t_plain.append(timed(lambda bs=bs: plain(model, tok, prompts, adaptor, args.max_new_tokens, bs, device),
                                 device))
        a, b = statistics.median(t_ours), statistics.median(t_plain)
        line = f"{bs:>5} {n_tokens / a:>11.1f} {n_tokens / b:>12.1f} {b / a:>6.2f}"
        if device.type == "cuda":
            steps = -(-args.n_strings // bs) * args.max_new_tokens  # decode steps (one per token per batch)
            roof_ours, roof_plain = (wbytes * steps / t / args.peak_bandwidth for t in (a, b))
            line += f" {roof_ours:>14.1%} {roof_plain:>15.1%}"
        print(line, flush=True)
        print(f"      (ours {', '.join(f'{t:.2f}' for t in t_ours)} s; "
              f"plain {', '.join(f'{t:.2f}' for t in t_plain)} s)")


if __name__ == "__main__":
    main()
