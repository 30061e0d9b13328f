"""lmdist.book.results: the results file's schema, JSON encoding and determinism."""

import json
import math

import numpy as np
import pytest

from lmdist.book import results


def make(parameters=None):
    rec = results.Recorder(chapter="99", title="t", parameters=parameters or {"profile": "smoke", "seed": 1})
    rec.claim("a", "a checked claim", np.float64(0.5), np.bool_(True), source="seed 001 §1")
    rec.claim("b", "a reported figure", [1.0, math.inf, -math.inf], paper_value=0.43,
              interval=(0.1, np.float32(0.9)))
    return rec


def test_schema_and_encoding(tmp_path):
    doc = make().write(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == doc
    assert set(doc) == {"chapter", "title", "profile", "parameters", "claims", "run"}
    assert set(doc["run"]) == {"seconds", "started", "versions"}
    a, b = doc["claims"]
    assert set(a) == {"id", "statement", "value", "holds", "paper_value", "interval", "source",
                      "note", "comparable"}
    assert a["holds"] is True and a["value"] == 0.5 and b["holds"] is None
    assert b["value"] == [1.0, "inf", "-inf"] and results.from_json(b["value"][1]) == math.inf
    assert b["paper_value"] == 0.43 and b["interval"] == [0.1, pytest.approx(0.9)]


def test_same_parameters_same_file_but_for_run(tmp_path):
    one, two = make().write(None), make().write(None)
    one.pop("run"), two.pop("run")
    assert one == two


def test_bad_claims_are_refused():
    rec = make()
    with pytest.raises(ValueError, match="twice"):
        rec.claim("a", "again", 1)
    with pytest.raises(TypeError, match="holds"):
        rec.claim("c", "holds must be a bool", 1, holds=1)
    with pytest.raises(ValueError, match="NaN"):
        rec.claim("d", "not a number", float("nan"))
    assert [c.id for c in rec.failed] == []
