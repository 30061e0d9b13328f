"""The reproduction report: one table row per recorded claim, built from the results files only.

The page is generated, never typed, so it cannot disagree with the notebooks. Status of a claim:

* ``fails`` — a checked claim that does not hold;
* ``holds`` / ``reported`` — a checked claim that holds / a figure we report, with no source's figure;
* ``reproduced`` — the source's figure lies in our 95 % interval, or agrees with our value to the
  precision it is printed with (paper-profile value when that profile was run, else the executed one);
* ``differs`` — it does not (the chapter explains why);
* ``not comparable`` — the chapter marks the source's figure as from a different setting;
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
    """A source's figure within our interval, or equal to ours rounded to the precision the source prints."""
    if isinstance(paper, (int, float)) and isinstance(ours, (int, float)):
        if interval is not None:
            lo, hi = (from_json(x) for x in interval)
            if lo <= paper <= hi:
                return True
        decimals = -Decimal(repr(paper)).as_tuple().exponent if isinstance(paper, float) else 0
        return math.isclose(round(float(ours), decimals), float(paper), abs_tol=10.0 ** -(decimals + 6))
    return paper == ours


def fmt(value: Any) -> str:
    """A compact rendering of a claim's value for the table: 4 significant digits, every item of a list."""
    value = from_json(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value).replace("|", "\\|")


# Glyphs every common font has (emoji would need a colour-emoji font the reader may not have).
BADGE = {"reproduced": "★ reproduced", "differs": "⚠ differs", "not comparable": "≈ not comparable",
         "not run": "○ not run", "fails": "✘ fails", "holds": "✔ holds", "reported": "· reported"}
ORDER = ("fails", "differs", "reproduced", "not comparable", "not run", "holds", "reported")


def chapter_rows(ex: dict[str, Any] | None, pa: dict[str, Any] | None) -> list[list[str]]:
    """One chapter's rows: claim, source's figure, ours (executed), ours (paper), status; the rows that
    compare with a source first, then checked claims, then reported figures (recording order within)."""
    claims = {c["id"]: c for doc in (pa, ex) if doc for c in doc["claims"]}
    ex_values = {c["id"]: c["value"] for c in ex["claims"]} if ex else {}
    pa_values = {c["id"]: c["value"] for c in pa["claims"]} if pa else {}
    out = []
    for cid, claim in claims.items():
        state = status(claim, pa_values.get(cid, ex_values.get(cid)))
        out.append((ORDER.index(state), [claim["statement"].replace("|", "\\|"), fmt(claim.get("paper_value")),
                                         fmt(ex_values.get(cid)), fmt(pa_values.get(cid)), BADGE[state]]))
    return [row for _, row in sorted(out, key=lambda pair: pair[0])]


def _load_all(folder: Path) -> dict[str, Any]:
    if not Path(folder).is_dir():
        return {}
    return {p.name.removesuffix(".results.json"): load(p) for p in sorted(Path(folder).glob("*.results.json"))}


def build(executed_dir: Path, paper_dir: Path) -> str:
    """The report's Markdown (included by ``book/reproduction.md``): a summary, then one section per chapter
    with the label ``report-NN`` (chapters link to it), its table with a status badge per row."""
    executed, paper = _load_all(executed_dir), _load_all(paper_dir)
    profiles = sorted({doc["profile"] for doc in executed.values()})
    head = ["claim", "source's figure", f"ours ({'/'.join(profiles) or 'not executed'})", "ours (paper)", "status"]
    sections, every = [], []
    for stem in sorted(set(executed) | set(paper)):
        ex, pa = executed.get(stem), paper.get(stem)
        doc = ex or pa
        table = chapter_rows(ex, pa)
        every += table
        sections += [f"(report-{doc['chapter']})=", f"## {doc['chapter']} · {doc.get('title') or stem}", "",
                     _summary(table), "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        sections += ["| " + " | ".join(r) + " |" for r in table] + [""]
    return (f"{len(every)} claims from {len(executed)} executed chapter(s) and {len(paper)} paper-profile "
            f"result file(s): {_summary(every) or 'no results files found'}.\n\n" + "\n".join(sections))


def _summary(table: list[list[str]]) -> str:
    counts = {badge: sum(r[-1] == badge for r in table) for badge in BADGE.values()}
    return ", ".join(f"{n} {badge}" for badge, n in counts.items() if n)


def status_page(executed_dir: Path, paper_dir: Path) -> str:
    """The execution-status table (as QuantEcon's): one row per results file — chapter, profile, when,
    runtime, checked claims holding, reported figures — then the library versions of the runs."""
    head = ["chapter", "profile", "run (UTC)", "runtime", "checks holding", "figures reported"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    versions: dict[str, set[str]] = {}
    for label, folder in (("executed", executed_dir), ("paper", paper_dir)):
        for stem, doc in _load_all(folder).items():
            checked = [c for c in doc["claims"] if c["holds"] is not None]
            held = sum(bool(c["holds"]) for c in checked)
            run = doc["run"]
            lines.append(f"| {{ref}}`{doc['chapter']} · {doc.get('title') or stem} <report-{doc['chapter']}>` | "
                         f"{doc['profile']}{' (committed)' if label == 'paper' else ''} | "
                         f"{run['started'][:16].replace('T', ' ')} | {run['seconds']:.0f} s | "
                         f"{held}/{len(checked)}{'' if held == len(checked) else ' ✘'} | "
                         f"{len(doc['claims']) - len(checked)} |")
            for lib, version in run.get("versions", {}).items():
                versions.setdefault(lib, set()).add(version)
    if len(lines) == 2:
        return "No results files found: run `make book` (or `lmdist run`) first.\n"
    libs = ", ".join(f"{lib} {' / '.join(sorted(v))}" for lib, v in versions.items())
    return "\n".join(lines) + f"\n\nLibrary versions of these runs: {libs}.\n"
