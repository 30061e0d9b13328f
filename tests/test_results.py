"""lmdist.book.results: the two claim calls, the results file's schema, JSON encoding and determinism."""

import json
import math

import numpy as np
import pytest

from lmdist.book import chapter, results


def make(parameters=None):
    rec = results.Recorder(parameters=parameters or {"profile": "smoke", "seed": 1})
    rec.check("a", "a checked claim", np.float64(0.5), at_most=np.float64(0.75), source="Huang 2024 §1")
    rec.figure("b", "a reported figure", [1.0, math.inf, -math.inf], paper_value=0.43,
               interval=(0.1, np.float32(0.9)))
    return rec


def test_schema_and_encoding(tmp_path):
    path = tmp_path / "07-some-chapter.results.json"
    doc = make().write(path)
    assert json.loads(path.read_text()) == doc
    assert set(doc) == {"chapter", "title", "profile", "parameters", "claims", "run"}
    assert doc["chapter"] == "07"
    assert set(doc["run"]) == {"seconds", "started", "versions"}
    a, b = doc["claims"]
    assert set(a) == {"id", "statement", "value", "holds", "condition", "paper_value", "interval", "source",
                      "note", "comparable"}
    assert a["holds"] is True and a["value"] == 0.5 and b["holds"] is None
    assert a["source"] == "Huang 2024 §1" and b["source"] == "derived in chapter 07"
    assert b["value"] == [1.0, "inf", "-inf"] and results.from_json(b["value"][1]) == math.inf
    assert b["paper_value"] == 0.43 and b["interval"] == [0.1, pytest.approx(0.9)]


@pytest.mark.parametrize("condition, value, holds, shown", [
    ({"at_most": 1e-12}, 3e-13, True, "value ≤ 1e-12"),
    ({"at_most": 1e-12}, 2e-12, False, "value ≤ 1e-12"),
    ({"below": 1}, 1, False, "value < 1"),
    ({"at_least": 0.5}, 0.5, True, "value ≥ 0.5"),
    ({"above": 0}, -1e-300, False, "value > 0"),
    ({"equals": 0}, np.int64(0), True, "value = 0"),
    ({"equals": True}, np.bool_(False), False, "value = True"),
    ({"inside": (0.25, 0.5)}, 0.5, True, "value ∈ [0.25, 0.5]"),
    ({"inside": (0.25, 0.5)}, 0.51, False, "value ∈ [0.25, 0.5]"),
])
def test_check_decides_holds_from_its_one_condition_and_shows_it(condition, value, holds, shown):
    rec = results.Recorder(parameters={"profile": "smoke"})
    assert rec.check("c", "a statement", value, **condition) is holds
    claim = rec.claims[0]
    assert claim.holds is holds and claim.condition == shown
    assert claim.statement == f"a statement ({shown})"
    assert rec.failed == ([] if holds else [claim])


def test_same_parameters_same_file_but_for_run(tmp_path):
    one, two = make().write(None), make().write(None)
    one.pop("run"), two.pop("run")
    assert one == two


@pytest.mark.parametrize("call, error", [
    (lambda r: r.figure("a", "again", 1), "twice"),
    (lambda r: r.figure("Bad_Id", "not kebab-case", 1), "kebab-case"),
    (lambda r: r.figure("param-seed", "a parameter's name", 1), "param-"),
    (lambda r: r.figure("d", "not a number", float("nan")), "NaN"),
    (lambda r: r.check("e", "no condition", 1), "exactly one condition"),
    (lambda r: r.check("e", "two conditions", 1, at_most=2, at_least=0), "exactly one condition"),
    (lambda r: r.check("e", "unknown condition", 1, roughly=1), "exactly one condition"),
])
def test_bad_claims_are_refused(call, error):
    rec = make()
    with pytest.raises((ValueError, TypeError), match=error):
        call(rec)
    assert [c.id for c in rec.claims] == ["a", "b"]


def test_start_publishes_the_resolved_parameters_into_the_namespace():
    namespace = {"profile": "smoke", "seed": 3, "device": "auto", "n": None, "results_path": None,
                 "PROFILES": {p: {"n": k} for p, k in (("smoke", 2), ("default", 20), ("paper", 200))},
                 "RULES": {"n": {"type": "int", "min": 1, "doc": "a size"}}}
    rec = chapter.start(namespace)
    assert namespace["n"] == 2 and rec.parameters == {"seed": 3, "device": "auto", "n": 2, "profile": "smoke"}
    namespace["n"] = 0
    with pytest.raises(ValueError, match="'n'"):
        chapter.start(namespace)
