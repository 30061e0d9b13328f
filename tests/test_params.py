"""lmdist.book.params: profiles fill only what was not set, and every bad value fails early and clearly."""

import pytest

from lmdist.book import params
from lmdist.book.params import ParameterError, Spec

RULES = {
    "n": {"type": "int", "min": 1, "max": 100, "doc": "size"},
    "beta": {"type": "float", "min": 0.0, "doc": "KL coefficient"},
    "betas": {"type": "list[float]", "min": 0.0, "doc": "several"},
    "flag": {"type": "bool", "doc": "a switch"},
}
PROFILES = {"smoke": {"n": 2, "beta": 0.5, "betas": [1.0]},
            "default": {"n": 10, "beta": 1.0, "betas": [0.1, 1.0]},
            "paper": {"n": 100, "beta": 2.0, "betas": [0.01]}}
DEFAULTS = {"profile": "default", "seed": 0, "device": "auto", "n": None, "beta": None,
            "betas": None, "flag": False, "results_path": None}
SPEC = Spec(defaults=DEFAULTS, profiles=PROFILES, rules=RULES)


def test_profile_fills_only_unset_values():
    out = params.resolve(SPEC, {"profile": "smoke", "n": 7})
    assert out == {"profile": "smoke", "seed": 0, "device": "auto", "n": 7, "beta": 0.5,
                   "betas": [1.0], "flag": False}


def test_default_profile_and_int_accepted_as_float():
    out = params.resolve(SPEC, {"beta": 3})
    assert out["n"] == 10 and out["beta"] == 3.0 and isinstance(out["beta"], float)


@pytest.mark.parametrize("given, words", [
    ({"n": 0}, ["'n'", "[1, 100]"]),
    ({"n": 2.5}, ["'n'", "expected int"]),
    ({"n": True}, ["'n'", "expected int"]),
    ({"beta": "big"}, ["'beta'", "expected float"]),
    ({"beta": float("inf")}, ["'beta'", "finite"]),
    ({"betas": []}, ["'betas'", "non-empty list"]),
    ({"betas": [1.0, -1.0]}, ["'betas[1]'", "[0.0, inf]"]),
    ({"device": "tpu"}, ["'device'", "['auto', 'cpu', 'cuda']"]),
    ({"flag": 1}, ["'flag'", "expected bool"]),
    ({"profile": "huge"}, ["'profile'", "['smoke', 'default', 'paper']"]),
    ({"bogus": 1}, ["['bogus']", "'seed'", "'betas'"]),
])
def test_bad_values_name_the_parameter_and_what_is_allowed(given, words):
    with pytest.raises(ParameterError) as err:
        params.resolve(SPEC, given)
    for word in words:
        assert word in str(err.value)


def test_spec_must_be_complete():
    with pytest.raises(ParameterError, match="RULES lacks a rule for \\['flag'\\]"):
        Spec(defaults=DEFAULTS, profiles=PROFILES, rules={k: v for k, v in RULES.items() if k != "flag"})
    with pytest.raises(ParameterError, match="exactly"):
        Spec(defaults=DEFAULTS, profiles={"smoke": {}}, rules=RULES)
    with pytest.raises(ParameterError, match="undeclared"):
        Spec(defaults=DEFAULTS, profiles={**PROFILES, "paper": {"m": 1}}, rules=RULES)


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("1e-3", 1e-3), ("[0.1, 1]", [0.1, 1]), ("[0.1,1]", [0.1, 1]), ("true", True),
    ("cpu", "cpu"), ('"1"', "1"), ("[a, b]", ["a", "b"]),
])
def test_values_are_json_then_yaml(text, value):
    assert params.parse_value(text) == value


def test_assignments_need_a_name_and_equals():
    assert params.parse_assignments(["seed=3", "betas=[0.1,1]"]) == {"seed": 3, "betas": [0.1, 1]}
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        params.parse_assignments(["seed3"])


def test_cells_must_be_literals():
    cell = "".join(f"{k} = {v!r}\n" for k, v in DEFAULTS.items())
    spec = params.spec_from_cells(cell, f"PROFILES = {PROFILES!r}\nRULES = {RULES!r}\n")
    assert spec == SPEC
    with pytest.raises(ParameterError, match="literal"):
        params.spec_from_cells("seed = f(1)\n", "PROFILES = {}\nRULES = {}\n")
    with pytest.raises(ParameterError, match="name = literal"):
        params.spec_from_cells("import os\n", "PROFILES = {}\nRULES = {}\n")


def test_from_namespace_matches_resolve():
    namespace = {**DEFAULTS, "profile": "paper", "n": 5, "PROFILES": PROFILES, "RULES": RULES}
    assert params.from_namespace(namespace) == params.resolve(SPEC, {"profile": "paper", "n": 5})


def test_seed_and_device_rules_are_common_and_not_redeclared():
    assert set(SPEC.rules) >= {"seed", "device"}
    with pytest.raises(ParameterError, match="redeclares"):
        Spec(defaults=DEFAULTS, profiles=PROFILES, rules={**RULES, "seed": {"type": "int", "doc": "mine"}})
    with pytest.raises(ParameterError, match="'seed'"):
        params.resolve(SPEC, {"seed": 2**32})
