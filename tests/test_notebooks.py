"""Every chapter at the smoke profile, through `lmdist run`: it executes and all its claims hold."""

import json

import pytest

from conftest import NOTEBOOKS
from lmdist.book import params

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


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_structure(notebook):
    """Parameters first, then the spec; exercises have solutions; a figure; one recorder write."""
    import jupytext

    nb = jupytext.read(notebook)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "spec" in code[1].metadata.get("tags", [])
    text = "\n".join(c.source for c in nb.cells)
    assert text.count("rec.write(") == 1
    exercises, solutions = text.count("```{exercise}"), text.count("```{solution}")
    assert exercises >= 2 and exercises == solutions
    assert "{prf:theorem}" in text and "{prf:proof}" in text
    assert "plots.use()" in text


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
