"""The claims recorder: the one place a chapter's results file is written.

A chapter creates one :class:`Recorder`, adds a claim for every number its prose states, and
calls :meth:`Recorder.write` once at the end. The file is JSON::

    {"chapter", "title", "profile", "parameters", "claims": [{"id", "statement", "value", "holds",
     "paper_value", "interval", "source", "note", "comparable"}], "run": {"seconds", "versions", "started"}}

Everything but ``run`` depends only on the parameters and the seed. ``holds`` is true/false
for a checked claim and null for a reported figure; ``paper_value`` is a seed's published
figure (or null); ``interval`` an optional 95 % interval [lo, hi] for our value.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

LIBRARIES = ("lmdist", "numpy", "scipy", "pandas", "torch", "transformers", "seaborn", "statsmodels")


@dataclass
class Claim:
    id: str
    statement: str
    value: Any
    holds: bool | None
    paper_value: Any = None
    interval: list[float] | None = None
    source: str = ""
    note: str = ""
    comparable: bool = True


@dataclass
class Recorder:
    """Collects a chapter's claims; ``write`` puts them in the results file."""

    chapter: str
    title: str
    parameters: dict[str, Any]
    source: str = ""  # the default source of this chapter's claims, e.g. "derived in chapter 01"
    claims: list[Claim] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def claim(self, id: str, statement: str, value: Any, holds: bool | None = None, *,
              paper_value: Any = None, interval: tuple[float, float] | None = None,
              source: str = "", note: str = "", comparable: bool = True) -> Any:
        """Record a claim and return its value (so a cell can print it too).

        ``holds`` must be a bool for a checked claim, None for a reported figure.
        ``comparable=False`` marks a ``paper_value`` from a different setting (say why in ``note``).
        The value is
        also glued under ``id`` so that the prose can cite it: ``{glue:text}`id:.3f` ``.
        """
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is recorded twice")
        if holds is not None and not isinstance(holds, (bool, np.bool_)):
            raise TypeError(f"claim {id!r}: holds must be True, False or None, got {holds!r}")
        self.claims.append(Claim(
            id=id, statement=statement, value=to_json(value),
            holds=None if holds is None else bool(holds), paper_value=to_json(paper_value),
            interval=None if interval is None else [to_json(float(x)) for x in interval],
            source=source or self.source, note=note, comparable=comparable))
        _glue(id, value)
        return value

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if c.holds is False]

    def table(self) -> "Any":
        """The claims as a pandas DataFrame, for display at the end of a chapter (an absent field shows
        as an empty cell, not as NaN)."""
        import pandas as pd

        df = pd.DataFrame([asdict(c) for c in self.claims]).set_index("id")
        return df.astype(object).where(df.notna(), "")

    def write(self, path: str | Path | None) -> dict[str, Any]:
        """Write the results file (if ``path``) and return its content."""
        doc = {
            "chapter": self.chapter,
            "title": self.title,
            "profile": self.parameters.get("profile"),
            "parameters": to_json(self.parameters),
            "claims": [asdict(c) for c in self.claims],
            "run": {
                "seconds": round(time.time() - self.started, 3),
                "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
                "versions": versions(),
            },
        }
        if path:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        return doc


def _glue(name: str, value: Any) -> None:
    """Make ``value`` citable in the chapter's prose (myst-nb glue), when running in a kernel."""
    try:
        from IPython import get_ipython
        from myst_nb import glue
    except ImportError:
        return
    if get_ipython() is not None:
        glue(name, value.item() if isinstance(value, np.generic) else value, display=False)


def to_json(value: Any) -> Any:
    """numpy scalars and arrays to Python; ±inf to "inf"/"-inf"; NaN is an error, not a value."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("a claim's value is NaN: record what went wrong, not NaN")
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def from_json(value: Any) -> Any:
    """Inverse of :func:`to_json` for infinities."""
    return {"inf": math.inf, "-inf": -math.inf}.get(value, value) if isinstance(value, str) else value


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def load(path: str | Path) -> dict[str, Any]:
    """Read a results file."""
    return json.loads(Path(path).read_text())
