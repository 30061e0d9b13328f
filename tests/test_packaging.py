"""environment.yml mirrors pyproject.toml; the layout and the two commands are in place."""

import re
import tomllib

import pytest
import yaml

from conftest import ROOT

CONDA_NAME = {"torch": "pytorch"}  # conda-forge's name for a PyPI package, where they differ


def split(requirement: str) -> tuple[str, str]:
    """'transformers>=5,<6' -> ('transformers', '>=5,<6'); conda's 'pytorch >=2.4 cpu*' (name, version,
    build) -> ('pytorch', '>=2.4')."""
    name, rest = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower(), (rest.split() or [""])[0]


def test_environment_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = dict(split(d) for d in env["dependencies"] if isinstance(d, str))
    assert conda.pop("python") == "=3.11" and conda.pop("pip") == ""
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    extras = ",".join(sorted(project["optional-dependencies"]))
    assert pip[-1] == f"-e .[{extras}]"
    pip_only = dict(map(split, pip[:-1]))  # PyPI-only packages, installed by pip before the project
    assert not set(pip_only) & set(conda)
    wanted = {CONDA_NAME.get(n, n): s for n, s in map(split, project["dependencies"])}
    assert {**conda, **pip_only} == wanted


def dry_run(*targets: str) -> list[str]:
    """The commands `make` would run for ``targets`` (all of them, as on a fresh clone)."""
    import subprocess

    out = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_install_pins_cpu_torch_before_the_project():
    lines = dry_run(".venv/.installed")
    torch = next(i for i, s in enumerate(lines) if "pip install" in s and "torch==" in s)
    project = next(i for i, s in enumerate(lines) if "pip install" in s and "-e" in s)
    assert torch < project, "an open torch range resolved by the project would pull a CUDA build"


def test_make_targets_run_what_the_readme_says():
    book = dry_run("book")
    assert any("lmdist run notebooks/" in s and "--profile default" in s for s in book)
    assert any("jupyter-book build . -W -n --keep-going" in s for s in book)
    assert any("pytest" in s for s in dry_run("test"))
    lint = dry_run("lint")
    assert any("ruff check" in s for s in lint) and any("mypy" in s for s in lint)


def test_ci_runs_lint_then_the_full_tests(tmp_path):
    """.ci/run with a stand-in `make` that records what it is asked to do."""
    import os
    import subprocess

    log = tmp_path / "calls"
    fake = tmp_path / "make"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run([str(ROOT / ".ci" / "run")], env=env, check=True)
    assert log.read_text().split("\n")[:-1] == ["lint", "test"]


def test_layout_and_quick_start():
    for path in ("_config.yml", "_toc.yml", "environment.yml", "book", "notebooks", "src/lmdist",
                 "tests", "README.md", "Makefile", "pyproject.toml", ".ci/run", "LICENSE",
                 "CITATION.cff"):
        assert (ROOT / path).exists(), path
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert not list((ROOT / "notebooks").glob("*.ipynb")), "notebooks live in git as py:percent only"


def test_toc_lists_exactly_the_notebooks():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    chapters = sorted(f.split("/")[-1] for f in files if f.startswith("book/_executed/"))
    assert chapters == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.py"))


LAYERS = ("exact", "lm", "book")  # each may import only the layers before it
THIRD_PARTY_FORBIDDEN = {"exact": {"torch", "transformers"}, "lm": set(), "book": set()}


def imports_of(path) -> set[str]:
    """Dotted names that a module imports (relative imports resolved against its package)."""
    import ast

    package = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out |= {f"{base}.{a.name}" for a in node.names} | {base}
    return out


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_downward(layer):
    """exact <- lm <- book: a module imports lmdist only from its own layer or the layers before it."""
    allowed = LAYERS[: LAYERS.index(layer) + 1]
    modules = sorted((ROOT / "src" / "lmdist" / layer).glob("*.py"))
    assert modules, layer
    for path in modules:
        names = imports_of(path)
        inner = {n for n in names if n.startswith("lmdist.")}
        bad = {n for n in inner if n.split(".")[1] not in allowed}
        assert not bad, f"{path.name} ({layer}) imports {sorted(bad)}"
        assert not {n.split(".")[0] for n in names} & THIRD_PARTY_FORBIDDEN[layer], path.name


def test_every_module_sits_in_a_layer():
    top = {p.name for p in (ROOT / "src" / "lmdist").iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", *LAYERS}


def test_api_reference_documents_every_module():
    documented = set(re.findall(r"automodule:: (lmdist\.[a-z]+\.[a-z0-9_]+)", (ROOT / "book" / "api.md").read_text()))
    modules = {f"lmdist.{p.parent.name}.{p.stem}" for layer in LAYERS
               for p in (ROOT / "src" / "lmdist" / layer).glob("*.py") if p.stem != "__init__"}
    assert modules - documented == set(), "add them to book/api.md"
    assert documented - modules == set(), "book/api.md documents modules that do not exist"


@pytest.mark.parametrize("package", ["lmdist", "lmdist.exact"])
def test_importing_the_mathematics_never_imports_torch(package):
    import subprocess
    import sys

    exact = sorted(p.stem for p in (ROOT / "src" / "lmdist" / "exact").glob("[a-z]*.py"))
    code = (f"import sys, importlib; [importlib.import_module('{package}.' + m) for m in {exact!r}]"
            if package == "lmdist.exact" else f"import sys, {package}")
    code += "; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
