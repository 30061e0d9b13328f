"""environment.yml mirrors pyproject.toml; the layout and the two commands are in place."""

import re
import tomllib

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


def test_torch_is_pinned_before_the_project_in_the_makefile():
    make = (ROOT / "Makefile").read_text()
    assert make.index("torch==2.13.0") < make.index('-e ".[book,test]"')
    assert "pytest" in make and "jupyter-book build . -W -n --keep-going" in make


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


MATHEMATICS = ("strings", "infotheory", "align", "mixture", "bestofn", "largedev", "decoding", "adaptors", "imha", "tradeoff", "typicality", "globalnorm")
ENGINE = ("data", "models", "rewards", "batched", "sampling", "guidance", "losses", "zoo", "cache", "corpora")
MACHINERY = ("params", "results", "report", "plots", "cli")


def imported(module: str) -> set[str]:
    """Top-level packages and lmdist modules that `module` imports."""
    import ast

    tree = ast.parse((ROOT / "src" / "lmdist" / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "lmdist" if node.level else node.module
            out |= {f"lmdist.{a.name}" for a in node.names} if base == "lmdist" else {f"{base}"}
    return {n if n.startswith("lmdist.") else n.split(".")[0] for n in out}


def test_layers_import_only_downward():
    """The mathematics imports neither torch nor the engine; the engine never imports the machinery."""
    for module in MATHEMATICS:
        names = imported(module)
        assert not names & {"torch", "transformers"}, module
        assert not {n for n in names if n.startswith("lmdist.")} - {f"lmdist.{m}" for m in MATHEMATICS}, module
    for module in ENGINE:
        assert not {n for n in imported(module) if n.removeprefix("lmdist.") in MACHINERY}, module
    listed = set(MATHEMATICS + ENGINE + MACHINERY)
    assert {p.stem for p in (ROOT / "src" / "lmdist").glob("*.py")} - {"__init__"} == listed
