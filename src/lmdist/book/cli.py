"""The ``lmdist`` command: run chapters, list their parameters, build the reproduction report.

    lmdist run NOTEBOOK... [--profile smoke|default|paper] [-p NAME=VALUE ...] [--out DIR]
    lmdist params NOTEBOOK
    lmdist report [--executed DIR] [--paper DIR] [--out FILE]
    lmdist cache path | clear
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import lmdist
from lmdist.book import executed, params, report, results
from lmdist.lm import cache

EXECUTED = Path("book/_executed")


def run_notebooks(paths: list[Path], given: dict[str, Any], out: Path, *, threads: int = 2,
                  changed_only: bool = False) -> int:
    """Execute each notebook with its resolved parameters; return the number of failures.

    All notebooks' parameters are resolved and validated before the first one starts, so a bad
    parameter costs no work. With ``changed_only``, a chapter whose code cells, resolved parameters and
    ``lmdist`` sources are those of its last run is not executed again: its executed notebook takes the
    new text of the markdown cells and keeps its outputs.
    """
    import jupytext

    resolved = {}
    for path in paths:
        try:
            resolved[path] = params.resolve(params.load_spec(path), given)
        except (params.ParameterError, FileNotFoundError) as err:
            raise SystemExit(f"lmdist run: {path}: {err}") from None

    import papermill

    out.mkdir(parents=True, exist_ok=True)
    _set_threads(threads)
    failures = 0
    for path, values in resolved.items():
        target, results_file = out / f"{path.stem}.ipynb", out / f"{path.stem}.results.json"
        source = jupytext.read(path)
        key = fingerprint(source, values)
        if changed_only and executed.is_current(target, results_file, key):
            executed.refresh_text(source, target)
            print(f"lmdist run: {path.name} unchanged since its last run: text refreshed, not re-executed",
                  file=sys.stderr)
            continue
        results_file.unlink(missing_ok=True)  # a failed run must not leave an old file behind
        print(f"lmdist run: {path.name} at profile {values['profile']!r}", file=sys.stderr)
        # The notebook gets the results file's name only (no machine path in the book); the kernel finds
        # its folder in the environment it inherits.
        os.environ[results.RESULTS_DIR] = str(out.resolve())
        try:
            nb = papermill.execute_notebook(
                source, str(target), kernel_name="python3", progress_bar=True,
                parameters={**values, "results_path": results_file.name}, cwd=str(path.parent))
        except papermill.PapermillExecutionError as err:
            print(f"lmdist run: {path.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}",
                  file=sys.stderr)
            failures += 1
            continue
        executed.finish(nb, target, key)
        failures += _summarise(path, results_file, executed.title(source))
    return failures


def _set_threads(threads: int) -> None:
    """The kernels inherit these. The bundled models are small: past a couple of threads, synchronisation
    costs more than it saves; OpenMP threads that spin while they wait make torch many times slower on a
    shared CPU (measured ≈20× on 2 busy cores), while sleeping threads cost nothing on an idle one."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # The executed notebook is read, not watched: no download or weight-loading bars in its outputs.
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"


def fingerprint(nb: Any, values: dict[str, Any]) -> str:
    """A hash of what decides a chapter's outputs: its code cells, its resolved parameters and every file
    of the installed ``lmdist`` package (sources and bundled models)."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    digest.update(json.dumps(values, sort_keys=True).encode())
    package = Path(lmdist.__file__).parent
    for file in sorted(package.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            digest.update(str(file.relative_to(package)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _summarise(path: Path, results_file: Path, title: str) -> int:
    if not results_file.is_file():
        print(f"lmdist run: {path.name} wrote no results file (it must call rec.write(results_path))",
              file=sys.stderr)
        return 1
    doc = results.load(results_file)
    doc["title"] = title  # from the notebook's first heading: typed once, in the chapter
    results.save(results_file, doc)
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
    run.add_argument("--threads", type=int, default=2, help="CPU threads of torch and BLAS in the kernels (default 2)")
    run.add_argument("--changed-only", action="store_true",
                     help="skip a chapter whose code, parameters and lmdist sources are unchanged since its "
                          "last run (its text is still refreshed)")

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
        if args.threads < 1:
            parser.error(f"--threads must be an integer >= 1, got {args.threads}")
        return min(run_notebooks(args.notebooks, given, args.out, threads=args.threads,
                                 changed_only=args.changed_only), 1)
    if args.command == "params":
        try:
            print(params.describe(params.load_spec(args.notebook)))
        except (params.ParameterError, FileNotFoundError) as err:
            raise SystemExit(f"lmdist params: {err}") from None
        return 0
    if args.command == "report":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report.build(args.executed, args.paper))
        status = args.out.with_name("status-table.md")
        status.write_text(report.status_page(args.executed, args.paper))
        print(f"lmdist report: wrote {args.out} and {status}", file=sys.stderr)
        return 0
    if args.action == "path":
        print(cache.root())
    else:
        print(f"lmdist cache: cleared {cache.clear()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
