"""Show docstrings in the API reference as they are written: a literal block each.

The module's docstrings carry formulas in plain text (``|x|``, ``p*``, ``sum_y``), which reST would read
as substitutions, emphasis and cross-references to targets that do not exist offline. Shown verbatim,
they read as they do in the source, and the book still builds with warnings as errors.
"""

from __future__ import annotations

from typing import Any


def verbatim(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if any(line.strip() for line in lines):
        lines[:] = ["::", "", *("    " + line for line in lines), ""]


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", verbatim)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
