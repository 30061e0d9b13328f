"""Where lmdist keeps what it fits once and reuses (a reward classifier, say).

The root is ``$LMDIST_CACHE`` if set, else ``~/.cache/lmdist``; each entry's folder name is a
hash of every parameter that affects it, so a change of any of them is a new entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
