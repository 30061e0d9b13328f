"""Chapter parameters: declare, fill from a profile, validate.

A chapter declares its parameters in two cells that are plain Python literals, so that
`lmdist run` can read them without executing anything:

* the cell tagged ``parameters`` assigns every parameter. ``profile``, ``seed`` and ``device``
  always have values; every size that a profile decides is ``None`` ("the profile's value");
* the cell tagged ``spec`` assigns ``PROFILES`` (for each of ``smoke``, ``default``, ``paper``
  a dict of values) and ``RULES`` (for each parameter: ``type``, optional ``min``/``max``/
  ``choices``, and a ``doc`` string).

:func:`resolve` fills every ``None`` from the chosen profile (so a profile never overrides an
explicit value), then checks every value against its rule. The notebook calls it on its own
globals; `lmdist run` calls it on the declared values plus the ``-p`` overrides. One function,
so the two can never disagree.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROFILE_NAMES = ("smoke", "default", "paper")
TYPES = ("int", "float", "str", "bool", "list[int]", "list[float]", "list[str]")
# Names the pipeline injects that are not chapter parameters.
RESERVED = ("results_path",)
# Every chapter has these parameters, with these rules; a chapter's RULES may not redeclare them.
COMMON_RULES: dict[str, dict[str, Any]] = {
    "seed": {"type": "int", "min": 0, "max": 2**32 - 1,
             "doc": "random seed of everything the chapter draws (numpy's legacy generators take < 2^32)"},
    "device": {"type": "str", "choices": ["auto", "cpu", "cuda"],
               "doc": "where neural models run: auto = cuda if available, else cpu (unused by chapters without one)"},
}


class ParameterError(ValueError):
    """A parameter is unknown, missing, of the wrong type or out of its allowed range."""


@dataclass(frozen=True)
class Spec:
    """What a chapter declares: parameter defaults, profiles and validation rules."""

    defaults: dict[str, Any]
    profiles: dict[str, dict[str, Any]]
    rules: dict[str, dict[str, Any]]

    def __post_init__(self) -> None:
        again = set(self.rules) & set(COMMON_RULES)
        if again:
            raise ParameterError(f"RULES redeclares {sorted(again)}: their rules are common to every chapter "
                                 f"(lmdist.book.params.COMMON_RULES)")
        object.__setattr__(self, "rules", {**COMMON_RULES, **self.rules})
        names = set(self.defaults) - set(RESERVED)
        missing = {"profile", "seed", "device"} - names
        if missing:
            raise ParameterError(f"the parameters cell must declare {sorted(missing)}")
        if set(self.profiles) != set(PROFILE_NAMES):
            raise ParameterError(
                f"PROFILES must define exactly {list(PROFILE_NAMES)}, got {sorted(self.profiles)}")
        for prof, values in self.profiles.items():
            extra = set(values) - names
            if extra:
                raise ParameterError(f"profile {prof!r} sets undeclared parameters {sorted(extra)}")
        unruled = names - set(self.rules) - {"profile"}
        if unruled:
            raise ParameterError(f"RULES lacks a rule for {sorted(unruled)}")
        for name, rule in self.rules.items():
            if rule.get("type") not in TYPES:
                raise ParameterError(f"rule for {name!r}: type must be one of {TYPES}")
            if not rule.get("doc"):
                raise ParameterError(f"rule for {name!r} needs a 'doc' string")

    @property
    def names(self) -> list[str]:
        return [n for n in self.defaults if n not in RESERVED]


def resolve(spec: Spec, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Resolve the chapter's parameters.

    value(name) = given[name] if given, else defaults[name] if not None, else PROFILES[profile][name].
    Every value is then validated; the first problem raises :class:`ParameterError` naming the
    parameter and what it allows.
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec.names))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {unknown}; this chapter's parameters are {spec.names}")
    profile = given.get("profile", spec.defaults["profile"])
    if profile not in PROFILE_NAMES:
        raise ParameterError(f"parameter 'profile' = {profile!r}: allowed values are {list(PROFILE_NAMES)}")
    values: dict[str, Any] = {}
    for name in spec.names:
        if name in given:
            value = given[name]
        elif spec.defaults[name] is not None:
            value = spec.defaults[name]
        elif name in spec.profiles[profile]:
            value = spec.profiles[profile][name]
        else:
            raise ParameterError(f"parameter {name!r} has no value: profile {profile!r} does not set it")
        values[name] = value if name == "profile" else check(name, value, spec.rules[name])
    return values


def check(name: str, value: Any, rule: Mapping[str, Any]) -> Any:
    """Validate one value against its rule and return it (ints are accepted where floats are)."""
    kind = rule["type"]
    if kind.startswith("list["):
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise ParameterError(f"parameter {name!r} = {value!r}: expected a non-empty list of {kind[5:-1]}")
        inner = dict(rule, type=kind[5:-1])
        return [check(f"{name}[{i}]", v, inner) for i, v in enumerate(value)]
    value = _coerce(name, value, kind)
    if "choices" in rule and value not in rule["choices"]:
        raise ParameterError(f"parameter {name!r} = {value!r}: allowed values are {rule['choices']}")
    lo, hi = rule.get("min"), rule.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ParameterError(f"parameter {name!r} = {value!r}: must lie in {_interval(rule)}")
    return value


def _coerce(name: str, value: Any, kind: str) -> Any:
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }[kind]
    if not ok:
        raise ParameterError(f"parameter {name!r} = {value!r} ({type(value).__name__}): expected {kind}")
    if kind == "float":
        value = float(value)
        if not math.isfinite(value):
            raise ParameterError(f"parameter {name!r} = {value!r}: expected a finite float")
    return value


def _interval(rule: Mapping[str, Any]) -> str:
    lo, hi = rule.get("min"), rule.get("max")
    if lo is None and hi is None and rule.get("type") in ("str", "bool"):
        return "any"
    return f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


def parse_value(text: str) -> Any:
    """Parse a ``-p NAME=VALUE`` value: JSON first (so ``1e-3`` is a float), then YAML (``[a, b]``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return yaml.safe_load(text)


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Turn ``["seed=3", "betas=[0.1,1]"]`` into ``{"seed": 3, "betas": [0.1, 1]}``."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-p expects NAME=VALUE, got {item!r}")
        out[name.strip()] = parse_value(text)
    return out


def spec_from_cells(parameters_source: str, spec_source: str) -> Spec:
    """Read a :class:`Spec` from the source of the ``parameters`` and ``spec`` cells (literals only)."""
    defaults = _literal_assignments(parameters_source, "parameters")
    spec = _literal_assignments(spec_source, "spec")
    for key in ("PROFILES", "RULES"):
        if key not in spec:
            raise ParameterError(f"the spec cell must assign {key}")
    return Spec(defaults=defaults, profiles=spec["PROFILES"], rules=spec["RULES"])


def _literal_assignments(source: str, cell: str) -> dict[str, Any]:
    out = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise ParameterError(f"the {cell} cell may only hold `name = literal` lines")
        try:
            out[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError as err:
            raise ParameterError(f"{cell} cell: {node.targets[0].id} is not a literal") from err
    return out


def spec_from_notebook(nb: Any) -> Spec:
    """The :class:`Spec` of a notebook object (as read by jupytext)."""
    cells = {tag: c.source for c in nb.cells if c.cell_type == "code"
             for tag in c.metadata.get("tags", []) if tag in ("parameters", "spec")}
    for tag in ("parameters", "spec"):
        if tag not in cells:
            raise ParameterError(f"the notebook has no code cell tagged {tag!r}")
    return spec_from_cells(cells["parameters"], cells["spec"])


def load_spec(path: str | Path) -> Spec:
    """The :class:`Spec` of a jupytext notebook file."""
    import jupytext  # the book extra; the engine never needs it

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {str(path)!r} does not exist")
    return spec_from_notebook(jupytext.read(path))


def from_namespace(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve inside a running notebook (through :func:`lmdist.book.chapter.start`).

    Uses the notebook's own ``PROFILES``/``RULES`` and the current values of its parameters, so
    the same rules apply whether the notebook runs through `lmdist run` or by hand in Jupyter.
    """
    names = [*COMMON_RULES, *namespace["RULES"], "profile"]
    defaults = {n: namespace[n] for n in names if n in namespace}
    spec = Spec(defaults={**defaults, **{n: None for n in names if n not in namespace}},
                profiles=namespace["PROFILES"], rules=namespace["RULES"])
    return resolve(spec)


def describe(spec: Spec) -> str:
    """A table of a chapter's parameters: name, type, default, each profile's value, allowed, doc."""
    rows = [("name", "type", "default", *PROFILE_NAMES, "allowed", "doc")]
    for name in spec.names:
        rule = spec.rules.get(name, {"type": "str", "choices": list(PROFILE_NAMES), "doc": "profile"})
        allowed = str(rule["choices"]) if "choices" in rule else _interval(rule)
        prof = [repr(spec.profiles[p].get(name, "·")) for p in PROFILE_NAMES]
        rows.append((name, rule["type"], repr(spec.defaults[name]), *prof, allowed, rule["doc"]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
