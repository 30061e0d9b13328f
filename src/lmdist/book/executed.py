"""The executed notebook a chapter run leaves in ``book/_executed``: its finishing touches, the fingerprint
that tells whether it is current, and the refresh of its text without re-running its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

INJECTED = "injected-parameters"  # papermill's tag for the cell it adds after the parameters cell


def title(nb: Any) -> str:
    """The chapter's title: the first ``# `` heading of its first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("the notebook has no '# title' heading in a markdown cell")


def finish(nb: Any, target: Path, key: str) -> None:
    """Remove papermill's injected cell from the page (the chapter shows the resolved values itself) and the
    machine's paths papermill records (the output path; the input, which is the whole source notebook),
    record the fingerprint of the run, then write ``target``."""
    import nbformat

    for field in ("input_path", "output_path"):
        nb.metadata.get("papermill", {}).pop(field, None)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nb.metadata.setdefault("lmdist", {})["fingerprint"] = key
    nbformat.write(nb, str(target))


def is_current(target: Path, results_file: Path, key: str) -> bool:
    """True when ``target`` was executed with fingerprint ``key`` and its results file exists."""
    import nbformat

    if not (target.is_file() and results_file.is_file()):
        return False
    nb = nbformat.read(str(target), as_version=4)
    return nb.metadata.get("lmdist", {}).get("fingerprint") == key


def refresh_text(source: Any, target: Path) -> None:
    """Give the executed notebook ``target`` the markdown of ``source`` (same code cells, by the
    fingerprint), keeping every code cell's outputs and papermill's injected cell."""
    import nbformat

    old = nbformat.read(str(target), as_version=4)
    executed_code = [c for c in old.cells if c.cell_type == "code" and INJECTED not in c.metadata.get("tags", [])]
    injected = [c for c in old.cells if INJECTED in c.metadata.get("tags", [])]
    cells, code = [], iter(executed_code)
    for cell in source.cells:
        if cell.cell_type != "code":
            cells.append(nbformat.from_dict(dict(cell)))
            continue
        cells.append(next(code))
        if "parameters" in cell.metadata.get("tags", []):
            cells.extend(injected)
    old.cells = cells
    nbformat.write(old, str(target))
