"""The first call of every chapter: ``rec = chapter.start(globals())``.

It resolves the chapter's parameters (the profile fills what is unset, every value is validated, see
:mod:`lmdist.book.params`), writes the resolved values back into the notebook's namespace — papermill's
style: the code reads ``alphabet_size``, never ``P["alphabet_size"]`` — glues each one as
``param-<name>`` so that the prose can cite any parameter without recording a claim, applies the book's
figure style, and returns the chapter's :class:`~lmdist.book.results.Recorder`.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from lmdist.book import params, plots
from lmdist.book.results import PARAMETER_PREFIX, Recorder, duration, glue


def start(namespace: MutableMapping[str, Any], source: str = "") -> Recorder:
    """Resolve, publish and glue the parameters of the notebook whose globals are ``namespace``."""
    values = params.from_namespace(namespace)
    namespace.update(values)
    for name, value in values.items():
        glue(PARAMETER_PREFIX + name, value)
    plots.use()
    glue("paper-run-time", paper_run_time(namespace.get("results_path")))
    _show(values_table(values))
    return Recorder(parameters=values, source=source)


def paper_run_time(results_path: str | None) -> str:
    """How long the committed paper-profile run of this chapter took (``results/paper/``, found from the
    chapter's folder, where `lmdist run` starts its kernel), or a sentence saying there is none."""
    if not results_path:
        return "not known (the chapter was not started by lmdist run)"
    stem = Path(results_path).name.removesuffix(".results.json")
    committed = Path.cwd().parent / "results" / "paper" / f"{stem}.results.json"
    if not committed.is_file():
        return "not run (no committed paper-profile results)"
    return duration(json.loads(committed.read_text())["run"]["seconds"])


def values_table(values: dict[str, Any]) -> str:
    """The resolved parameters as a small Markdown table, the profile named."""
    rows = [f"| `{name}` | `{value!r}` |" for name, value in values.items() if name != "profile"]
    return "\n".join([f"**Values used in this run** (profile `{values['profile']}`; `lmdist params` lists "
                      "every profile and what each parameter allows)", "", "| parameter | value |", "|---|---|", *rows])


def _show(markdown: str) -> None:
    """Display Markdown when running in a kernel (a plain script shows nothing)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Markdown(markdown))
