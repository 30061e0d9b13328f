"""A tiny GPT-2 over a word-level vocabulary w0 … w14 plus <eos> (id 15): the engine's tests run real
transformers code on it in milliseconds. Small, so that EOS comes up often."""

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

VOCAB = 16
EOS = VOCAB - 1


def tokenizer() -> PreTrainedTokenizerFast:
    words = {f"w{i}": i for i in range(VOCAB - 1)} | {"<eos>": EOS}
    tk = Tokenizer(models.WordLevel(words, unk_token="w0"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>", bos_token="<eos>")


def model(sharpen: float = 8.0) -> GPT2LMHeadModel:
    """Random weights (seed 0); embeddings scaled by ``sharpen`` for sharper next-token distributions than
    the default initialisation gives (1.0 keeps them as initialised)."""
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=64,
                                    bos_token_id=EOS, eos_token_id=EOS))
    with torch.no_grad():
        lm.transformer.wte.weight.mul_(sharpen)
    return lm.eval()
