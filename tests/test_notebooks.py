"""Every chapter at the smoke profile, through `lmdist run`: it executes and all its claims hold."""

import json

import pytest

from conftest import NOTEBOOKS
from lmdist import params

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
