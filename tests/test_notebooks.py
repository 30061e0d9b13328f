"""Every chapter at the smoke profile, through `lmdist run`: it executes and all its claims hold."""

import json
import re

import pytest

from conftest import NOTEBOOKS
from lmdist.book import params, results

pytestmark = pytest.mark.notebooks


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_claims_hold_at_smoke(site, notebook):
    doc = json.loads((site / "book" / "_executed" / f"{notebook.stem}.results.json").read_text())
    assert doc["profile"] == "smoke"
    # The recorded parameters are the complete resolved set, as `lmdist run` injected it.
    assert doc["parameters"] == params.resolve(params.load_spec(notebook), {"profile": "smoke"})
    checked = [c for c in doc["claims"] if c["holds"] is not None]
    assert checked, "a chapter must check at least one claim"
    failed = [f"{c['id']}: {c['statement']} (value {c['value']})" for c in checked if not c["holds"]]
    assert not failed, failed
    for claim in doc["claims"]:
        assert claim["statement"] and claim["source"], f"{claim['id']} needs a statement and a source"


MAX_CELL_LINES = 40  # one idea per cell; the parameters and spec cells are exempt


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_structure(notebook):
    """Parameters first, then the spec; short cells; every exercise has a solution; a theorem with a proof."""
    import jupytext

    nb = jupytext.read(notebook)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "spec" in code[1].metadata.get("tags", [])
    long = [(i, len(c.source.splitlines())) for i, c in enumerate(code[2:], 2)
            if len(c.source.splitlines()) > MAX_CELL_LINES]
    assert not long, f"code cells (index, lines) over {MAX_CELL_LINES} lines: {long}"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    exercises = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", text)
    solved = re.findall(r"```\{solution\} (\S+)", text)
    assert len(exercises) >= 2 and sorted(exercises) == sorted(solved)
    assert "{prf:theorem}" in text and "{prf:proof}" in text


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_source_has_no_control_characters(notebook):
    """A tab or backspace in the source is almost always an escape gone wrong ("\\theta" written "\theta"
    in a Python string), which MathJax then shows as broken mathematics."""
    bad = [(i, line[:60]) for i, line in enumerate(notebook.read_text().splitlines(), 1)
           if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line)]
    assert not bad, f"control characters at (line, text): {bad[:5]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_cites_only_recorded_claims_and_parameters(site, notebook):
    """Every `{glue}` reference in the chapter's text names a claim it records or one of its parameters."""
    import jupytext

    doc = json.loads((site / "book" / "_executed" / f"{notebook.stem}.results.json").read_text())
    known = {c["id"] for c in doc["claims"]} | {f"param-{n}" for n in doc["parameters"]} | set(results.RUN_GLUES)
    text = "\n".join(c.source for c in jupytext.read(notebook).cells if c.cell_type == "markdown")
    cited = set(re.findall(r"\{glue:[a-z]+\}`([^`:]+)", text))
    assert cited, "the prose cites no computed value"
    assert not cited - known, f"cited but never recorded: {sorted(cited - known)}"


def _without_run(path):
    doc = json.loads(path.read_text())
    doc.pop("run")
    return doc


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_is_deterministic_and_holds_for_other_seeds(site, notebook, tmp_path):
    """Same parameters and seed → the same results file (but `run`); another seed → claims still hold."""
    from conftest import lmdist

    again, other = tmp_path / "again", tmp_path / "other"
    assert lmdist("run", str(notebook), "--profile", "smoke", "--out", str(again)).returncode == 0
    name = f"{notebook.stem}.results.json"
    assert _without_run(again / name) == _without_run(site / "book" / "_executed" / name)
    proc = lmdist("run", str(notebook), "--profile", "smoke", "-p", "seed=20261126", "--out", str(other))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _without_run(other / name)["parameters"]["seed"] == 20261126
