"""The reproduction report: one table row per recorded claim, built from the results files only.

The page is generated, never typed, so it cannot disagree with the notebooks. Status of a claim:

* ``fails`` — a checked claim that does not hold;
* ``holds`` / ``reported`` — a checked claim that holds / a figure we report, with no seed figure;
* ``reproduced`` — the seed's figure lies in our 95 % interval, or agrees with our value to the
  precision it is printed with (paper-profile value when that profile was run, else the executed one);
* ``differs`` — it does not (the chapter explains why);
* ``not comparable`` — the chapter marks the seed's figure as from a different setting;
* ``not run`` — the claim is only in the paper-profile results and those were not run.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

from lmdist.book.results import from_json, load


def status(claim: dict[str, Any], value: Any) -> str:
    """The status of ``claim`` given our value for it (None when not run)."""
    if claim.get("holds") is False:
        return "fails"
    paper = claim.get("paper_value")
    if paper is None:
        return "holds" if claim.get("holds") else "reported"
    if value is None:
        return "not run"
    if not claim.get("comparable", True):
        return "not comparable"
    return "reproduced" if agrees(paper, value, claim.get("interval")) else "differs"


def agrees(paper: Any, ours: Any, interval: list[Any] | None = None) -> bool:
    """Seed figure within our interval, or equal to ours rounded to the seed's printed precision."""
    if isinstance(paper, (int, float)) and isinstance(ours, (int, float)):
        if interval is not None:
            lo, hi = (from_json(x) for x in interval)
            if lo <= paper <= hi:
                return True
        decimals = -Decimal(repr(paper)).as_tuple().exponent if isinstance(paper, float) else 0
        return math.isclose(round(float(ours), decimals), float(paper), abs_tol=10.0 ** -(decimals + 6))
    return paper == ours


def fmt(value: Any) -> str:
    """A compact rendering of a claim's value for the table."""
    value = from_json(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(fmt(v) for v in value[:4])
        return f"[{shown}{', …' if len(value) > 4 else ''}]"
    return str(value).replace("|", "\\|")


def rows(executed: dict[str, Any], paper: dict[str, Any]) -> list[list[str]]:
    """Table rows: chapter, claim, seed's figure, ours (executed), ours (paper), status."""
    out = []
    for stem in sorted(set(executed) | set(paper)):
        ex, pa = executed.get(stem), paper.get(stem)
        claims = {c["id"]: c for doc in (pa, ex) if doc for c in doc["claims"]}
        ex_values = {c["id"]: c["value"] for c in ex["claims"]} if ex else {}
        pa_values = {c["id"]: c["value"] for c in pa["claims"]} if pa else {}
        for cid, claim in claims.items():
            ours = pa_values.get(cid, ex_values.get(cid))
            chapter = (ex or pa)["chapter"]
            out.append([chapter, claim["statement"].replace("|", "\\|"), fmt(claim.get("paper_value")),
                        fmt(ex_values.get(cid)), fmt(pa_values.get(cid)), status(claim, ours)])
    return out


def build(executed_dir: Path, paper_dir: Path) -> str:
    """The report's Markdown table (included by ``book/reproduction.md``)."""
    executed = {p.name.removesuffix(".results.json"): load(p)
                for p in sorted(Path(executed_dir).glob("*.results.json"))}
    paper = {p.name.removesuffix(".results.json"): load(p)
             for p in sorted(Path(paper_dir).glob("*.results.json"))} if Path(paper_dir).is_dir() else {}
    profiles = sorted({doc["profile"] for doc in executed.values()})
    table = rows(executed, paper)
    head = ["chapter", "claim", "seed's figure", f"ours ({'/'.join(profiles) or 'not executed'})",
            "ours (paper)", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    counts = {s: sum(r[-1] == s for r in table) for s in dict.fromkeys(r[-1] for r in table)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no results files found"
    return (f"{len(table)} claims from {len(executed)} executed chapter(s) "
            f"and {len(paper)} paper-profile result file(s): {summary}.\n\n" + "\n".join(lines) + "\n")
