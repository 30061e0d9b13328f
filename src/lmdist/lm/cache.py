"""Where lmdist keeps what it fits once and reuses (a reward classifier, say).

The root is ``$LMDIST_CACHE`` if set, else ``~/.cache/lmdist``; each entry's folder name is a
hash of every parameter that affects it, so a change of any of them is a new entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def root() -> Path:
    return Path(os.environ.get("LMDIST_CACHE") or Path.home() / ".cache" / "lmdist").expanduser()


def entry(name: str, **key: Any) -> Path:
    """The folder for ``name`` fitted with the parameters ``key`` (created if missing)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = root() / f"{name}-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear() -> Path:
    """Remove every entry; return the root that was cleared."""
    shutil.rmtree(root(), ignore_errors=True)
    return root()


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts, in order (each hashed, so no separator can collide): the data part of a key."""
    h = hashlib.sha256()
    for t in texts:
        h.update(hashlib.sha256(t.encode("utf-8")).digest())
    return h.hexdigest()[:16]


def model_digest(model: Any) -> str:
    """sha256 of a torch model's weights (names, shapes, dtypes, bytes): the model part of a key, so two
    models share an entry only when every weight agrees."""
    import torch

    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(f"{name}:{tuple(p.shape)}:{p.dtype}".encode())
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
