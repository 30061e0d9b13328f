"""The ``lmdist`` command: run chapters, list their parameters, build the reproduction report.

    lmdist run NOTEBOOK... [--profile smoke|default|paper] [-p NAME=VALUE ...] [--out DIR]
    lmdist params NOTEBOOK
    lmdist report [--executed DIR] [--paper DIR] [--out FILE]
    lmdist cache path | clear
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from lmdist.lm import cache
from lmdist.book import params, report, results

EXECUTED = Path("book/_executed")


def run_notebooks(paths: list[Path], given: dict[str, Any], out: Path) -> int:
    """Execute each notebook with its resolved parameters; return the number of failures.

    All notebooks' parameters are resolved and validated before the first one starts, so a bad
    parameter costs no work.
    """
    resolved = {}
    for path in paths:
        try:
            resolved[path] = params.resolve(params.load_spec(path), given)
        except (params.ParameterError, FileNotFoundError) as err:
            raise SystemExit(f"lmdist run: {path}: {err}") from None

    import jupytext
    import papermill

    out.mkdir(parents=True, exist_ok=True)
    # The kernels inherit this: OpenMP threads that spin while they wait make torch many times slower
    # on a shared CPU (measured ≈20× on 2 busy cores); sleeping threads cost nothing on an idle one.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    failures = 0
    for path, values in resolved.items():
        target, results_file = out / f"{path.stem}.ipynb", out / f"{path.stem}.results.json"
        results_file.unlink(missing_ok=True)  # a failed run must not leave an old file behind
        print(f"lmdist run: {path.name} at profile {values['profile']!r}", file=sys.stderr)
        try:
            executed = papermill.execute_notebook(
                jupytext.read(path), str(target), kernel_name="python3", progress_bar=True,
                parameters={**values, "results_path": str(results_file.resolve())},
                cwd=str(path.parent))
        except papermill.PapermillExecutionError as err:
            print(f"lmdist run: {path.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}",
                  file=sys.stderr)
            failures += 1
            continue
        _fold_injected_parameters(executed, target)
        failures += _summarise(path, results_file)
    return failures


def _fold_injected_parameters(nb: Any, target: Path) -> None:
    """Fold the cell papermill injects (the resolved values and a machine-specific results path)
    in the rendered book: a reader opens it on demand; the results file records the values too."""
    import nbformat

    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
    nbformat.write(nb, str(target))


def _summarise(path: Path, results_file: Path) -> int:
    if not results_file.is_file():
        print(f"lmdist run: {path.name} wrote no results file (it must call rec.write(results_path))",
              file=sys.stderr)
        return 1
    doc = results.load(results_file)
    failed = [c for c in doc["claims"] if c["holds"] is False]
    checked = sum(c["holds"] is not None for c in doc["claims"])
    print(f"lmdist run: {path.name}: {checked - len(failed)}/{checked} checked claims hold, "
          f"{len(doc['claims']) - checked} reported, {doc['run']['seconds']:.1f} s", file=sys.stderr)
    for c in failed:
        print(f"  FAILED {c['id']}: {c['statement']} (value {c['value']})", file=sys.stderr)
    return int(bool(failed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmdist", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute chapters with papermill and record their claims")
    run.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    run.add_argument("--profile", choices=params.PROFILE_NAMES,
                     help="fills every parameter not given with -p (default: the notebook's own)")
    run.add_argument("-p", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter; VALUE is JSON or YAML (seed=3, betas=[0.1,1])")
    run.add_argument("--out", type=Path, default=EXECUTED, help=f"output folder (default {EXECUTED})")

    show = sub.add_parser("params", help="list a chapter's parameters, defaults and profiles")
    show.add_argument("notebook", type=Path)

    rep = sub.add_parser("report", help="build the reproduction report from the results files")
    rep.add_argument("--executed", type=Path, default=EXECUTED)
    rep.add_argument("--paper", type=Path, default=Path("results/paper"))
    rep.add_argument("--out", type=Path, default=EXECUTED / "reproduction-table.md")

    cache_cmd = sub.add_parser("cache", help="where lmdist caches fitted objects; clear them")
    cache_cmd.add_argument("action", choices=("path", "clear"))

    args = parser.parse_args(argv)
    if args.command == "run":
        try:
            given = params.parse_assignments(args.assignments)
        except params.ParameterError as err:
            parser.error(str(err))
        if args.profile:
            given["profile"] = args.profile
        return min(run_notebooks(args.notebooks, given, args.out), 1)
    if args.command == "params":
        try:
            print(params.describe(params.load_spec(args.notebook)))
        except (params.ParameterError, FileNotFoundError) as err:
            raise SystemExit(f"lmdist params: {err}") from None
        return 0
    if args.command == "report":
        text = report.build(args.executed, args.paper)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"lmdist report: wrote {args.out}", file=sys.stderr)
        return 0
    if args.action == "path":
        print(cache.root())
    else:
        print(f"lmdist cache: cleared {cache.clear()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
