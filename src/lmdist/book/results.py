"""The claims recorder: the one place a chapter's results file is written.

A chapter gets its :class:`Recorder` from :func:`lmdist.book.chapter.start`, records every number its
prose states with one of two calls, and calls :meth:`Recorder.write` once at the end:

* :meth:`Recorder.figure` — a figure we report (a correlation, an estimate, a source's number compared);
* :meth:`Recorder.check` — a statement we check: the value and the one condition it must meet
  (``at_most=1e-12``, ``equals=0``, ``inside=(lo, hi)``, …). The condition is written once: it decides
  ``holds`` and is shown in the statement's text, so the two can never disagree.

The file is JSON::

    {"chapter", "title", "profile", "parameters", "claims": [{"id", "statement", "value", "holds",
     "condition", "paper_value", "interval", "source", "note", "comparable"}], "run": {...}}

Everything but ``run`` depends only on the parameters and the seed. ``holds`` is true/false for a checked
claim and null for a reported figure; ``paper_value`` is a source's published figure (or null);
``interval`` an optional 95 % interval [lo, hi] for our value. ``chapter`` and ``title`` come from the
notebook (its file name and first heading), filled in by ``lmdist run``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

LIBRARIES = ("lmdist", "numpy", "scipy", "pandas", "torch", "transformers", "seaborn", "statsmodels")
CLAIM_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")  # kebab-case; "param-" is kept for parameters
PARAMETER_PREFIX = "param-"
RUN_GLUES = ("run-time", "paper-run-time")  # glued by the machinery for every chapter's opening box
RESULTS_DIR = "LMDIST_RESULTS_DIR"  # set by `lmdist run`: where a results file named without a folder goes
# A check's condition: keyword -> (symbol shown in the statement, test of value against the bound).
CONDITIONS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "at_most": ("≤", operator.le),
    "below": ("<", operator.lt),
    "at_least": ("≥", operator.ge),
    "above": (">", operator.gt),
    "equals": ("=", operator.eq),
    "inside": ("∈", lambda v, b: b[0] <= v <= b[1]),
}


@dataclass
class Claim:
    id: str
    statement: str
    value: Any
    holds: bool | None
    condition: str = ""
    paper_value: Any = None
    interval: list[float] | None = None
    source: str = ""
    note: str = ""
    comparable: bool = True


@dataclass
class Recorder:
    """Collects a chapter's claims; ``write`` puts them in the results file."""

    parameters: dict[str, Any]
    source: str = ""  # the default source of this chapter's claims; "" = "derived in chapter NN"
    claims: list[Claim] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def figure(self, id: str, statement: str, value: Any, *, paper_value: Any = None,
               interval: tuple[float, float] | None = None, source: str = "", note: str = "",
               comparable: bool = True) -> Any:
        """Record a reported figure and return it. ``paper_value`` is a source's published figure
        (``comparable=False`` when it is from another setting: say why in ``note``); ``interval`` a
        95 % interval for our value. The value is glued under ``id`` for the prose:
        ``{glue:text}`id:.3f` ``."""
        self._add(Claim(id=id, statement=statement, value=to_json(value), holds=None,
                        paper_value=to_json(paper_value), interval=_interval(interval),
                        source=source, note=note, comparable=comparable), value)
        return value

    def check(self, id: str, statement: str, value: Any, *, source: str = "", note: str = "",
              paper_value: Any = None, interval: tuple[float, float] | None = None,
              comparable: bool = True, **condition: Any) -> bool:
        """Record a checked statement: ``value`` must meet exactly one condition, given as a keyword
        of :data:`CONDITIONS` (``at_most=tol``, ``below``, ``at_least``, ``above``, ``equals``,
        ``inside=(lo, hi)``). Returns whether it holds; the value is glued under ``id``."""
        if len(condition) != 1 or next(iter(condition)) not in CONDITIONS:
            raise TypeError(f"claim {id!r}: give exactly one condition of {list(CONDITIONS)}, got {list(condition)}")
        (kind, bound), = condition.items()
        symbol, test = CONDITIONS[kind]
        holds = bool(test(_plain(value), _plain(bound)))
        # an interval's ends can agree to 3 digits: show it with 6, so the reader sees its width
        shown = f"value {symbol} {_show(bound, 6 if kind == 'inside' else 3)}"
        self._add(Claim(id=id, statement=f"{statement} ({shown})", value=to_json(value), holds=holds,
                        condition=shown, paper_value=to_json(paper_value), interval=_interval(interval),
                        source=source, note=note, comparable=comparable), value)
        return holds

    def _add(self, claim: Claim, value: Any) -> None:
        if not CLAIM_ID.match(claim.id) or claim.id.startswith(PARAMETER_PREFIX) or claim.id in RUN_GLUES:
            raise ValueError(f"claim id {claim.id!r}: ids are kebab-case (a-z, 0-9, single hyphens) and "
                             f"may not start with {PARAMETER_PREFIX!r} (kept for parameters) nor be one of {RUN_GLUES}")
        if any(c.id == claim.id for c in self.claims):
            raise ValueError(f"claim id {claim.id!r} is recorded twice")
        self.claims.append(claim)
        glue(claim.id, value)

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if c.holds is False]

    def table(self) -> Any:
        """Every claim as one row of a Markdown table — claim, value, status — complete (never cut in the
        middle like a long DataFrame), for the folded table at the end of a chapter."""
        from IPython.display import Markdown

        status = {True: "✔ holds", False: "✘ FAILS", None: "· reported"}
        rows = [f"| {c.statement.replace('|', '∣')} | {_show(from_json(c.value)).replace('|', '∣')} "
                f"| {status[c.holds]} |" for c in self.claims]
        return Markdown("\n".join(["| claim | value | status |", "|---|---|---|", *rows]))

    def write(self, path: str | Path | None) -> dict[str, Any]:
        """Write the results file (if ``path``) and return its content. The chapter number is the
        results file's name up to the first hyphen (``01-….results.json`` → ``"01"``). A relative ``path`` is
        taken in the folder ``$LMDIST_RESULTS_DIR`` names (set by `lmdist run`), else the current one."""
        chapter = Path(path).name.split("-")[0] if path else ""
        source = self.source or (f"derived in chapter {chapter}" if chapter else "derived in this chapter")
        doc = {
            "chapter": chapter,
            "title": "",  # filled in from the notebook's first heading by `lmdist run`
            "profile": self.parameters.get("profile"),
            "parameters": to_json(self.parameters),
            "claims": [{**asdict(c), "source": c.source or source} for c in self.claims],
            "run": {
                "seconds": round(time.time() - self.started, 3),
                "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
                "versions": versions(),
            },
        }
        if path:
            save(Path(os.environ.get(RESULTS_DIR, ".")) / path if not Path(path).is_absolute() else path, doc)
        glue("run-time", duration(doc["run"]["seconds"]))
        return doc


def save(path: str | Path, doc: dict[str, Any]) -> None:
    """Write a results document (strict JSON: ±inf encoded, NaN refused)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")


def _plain(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return type(x)(_plain(v) for v in x)
    return x.item() if isinstance(x, np.generic) else x


def _show(x: Any, digits: int = 3) -> str:
    """A bound or value as the statement shows it: ``digits`` significant digits for floats."""
    x = _plain(x)
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    if isinstance(x, (tuple, list)):
        return "[" + ", ".join(_show(v, digits) for v in x) + "]"
    return str(x)


def _interval(interval: tuple[float, float] | None) -> list[Any] | None:
    return None if interval is None else [to_json(float(x)) for x in interval]


def glue(name: str, value: Any) -> None:
    """Make ``value`` citable in the chapter's prose (myst-nb glue), when running in a kernel."""
    try:
        from IPython import get_ipython
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    if get_ipython() is not None:
        value = value.item() if isinstance(value, np.generic) else value
        myst_glue(name, _Text(value) if isinstance(value, str) else value, display=False)


class _Text(str):
    """A string glued as itself: ``{glue:text}`` shows ``default``, not ``'default'``."""

    def __repr__(self) -> str:
        return str(self)


def duration(seconds: float) -> str:
    """One way to phrase a runtime in every chapter: "42 s" below two minutes, else "3.5 min"."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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
