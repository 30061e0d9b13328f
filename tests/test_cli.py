"""The `lmdist` command on a small fixture chapter: parameters, results file, exit status."""

import json
from pathlib import Path

import pytest

from conftest import NOTEBOOKS, ROOT, lmdist

TOY = Path(__file__).parent / "fixtures" / "toy-chapter.py"


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    proc = lmdist("run", str(TOY), "--profile", "smoke", "-p", "n=25", "-p", "betas=[0.1,1]",
                  "-p", "scale=1e-3", "-p", "seed=4", "--out", str(out))
    return proc, out


def test_run_writes_notebook_and_results(toy_run):
    proc, out = toy_run
    assert proc.returncode == 0, proc.stderr
    assert (out / "toy-chapter.ipynb").is_file()
    doc = json.loads((out / "toy-chapter.results.json").read_text())
    # -p values win over the profile; the profile fills the rest; every value is recorded.
    assert doc["parameters"] == {"profile": "smoke", "seed": 4, "device": "auto", "n": 25,
                                 "scale": 1e-3, "betas": [0.1, 1.0], "fail": False}
    assert doc["profile"] == "smoke" and doc["chapter"] == "toy"
    assert doc["title"] == "A toy chapter for testing the pipeline"  # from the notebook's heading
    assert [c["id"] for c in doc["claims"]] == ["mean-near-zero", "inf-value"]
    assert doc["claims"][1]["value"] == "inf"
    assert "1/1 checked claims hold" in proc.stderr
    executed = json.loads((out / "toy-chapter.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0]["metadata"]["tags"]
    # no machine path in the executed notebook: the results path is relative to the chapter's folder
    assert not {"input_path", "output_path"} & set(executed["metadata"].get("papermill", {}))
    line = next(s for s in injected[0]["source"] if s.startswith("results_path"))
    assert line.split("=", 1)[1].strip().strip("\"'") == "toy-chapter.results.json", line


def test_failing_claim_gives_nonzero_exit(tmp_path):
    proc = lmdist("run", str(TOY), "--profile", "smoke", "-p", "fail=true", "--out", str(tmp_path))
    assert proc.returncode == 1
    assert "FAILED false-claim" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["-p", "bogus=1"], ["unknown parameter", "bogus", "'seed'", "'betas'"]),
    (["-p", "n=0"], ["'n'", "[1, 100000]"]),
    (["-p", "n=ten"], ["'n'", "expected int"]),
    (["-p", "device=tpu"], ["'device'", "['auto', 'cpu', 'cuda']"]),
    (["-p", "betas=[1,-1]"], ["'betas[1]'"]),
    (["-p", "seed"], ["NAME=VALUE"]),
    (["--profile", "huge"], ["invalid choice", "huge"]),
])
def test_bad_parameters_fail_before_any_work(tmp_path, args, words):
    proc = lmdist("run", str(TOY), *args, "--out", str(tmp_path))
    assert proc.returncode != 0
    for word in words:
        assert word in proc.stderr
    assert not list(tmp_path.iterdir()), "nothing may be executed when a parameter is bad"


def test_missing_notebook_is_named(tmp_path):
    proc = lmdist("run", "notebooks/99-absent.py", "--out", str(tmp_path))
    assert proc.returncode != 0 and "99-absent.py" in proc.stderr and "does not exist" in proc.stderr


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_rejects_unknown_and_bad_parameters(tmp_path, notebook):
    proc = lmdist("run", str(notebook), "-p", "not_a_parameter=1", "--out", str(tmp_path))
    assert proc.returncode != 0 and "not_a_parameter" in proc.stderr and "'seed'" in proc.stderr
    proc = lmdist("run", str(notebook), "-p", "seed=-1", "--out", str(tmp_path))
    assert proc.returncode != 0 and "'seed'" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_params_lists_every_parameter_with_its_profiles(notebook):
    proc = lmdist("params", str(notebook))
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:6] == ["name", "type", "default", "smoke", "default", "paper"]
    assert {r.split()[0] for r in rows} >= {"profile", "seed", "device"}


def test_cache_path_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LMDIST_CACHE", str(tmp_path / "c"))
    proc = lmdist("cache", "path")
    assert proc.stdout.strip() == str(tmp_path / "c")
    (tmp_path / "c" / "x").mkdir(parents=True)
    assert lmdist("cache", "clear").returncode == 0 and not (tmp_path / "c").exists()


def test_default_output_folder_is_book_executed():
    assert "book/_executed" in lmdist("run", "--help", cwd=ROOT).stdout


def test_changed_only_refreshes_text_and_reruns_on_code_or_parameter_change(tmp_path):
    chapter = tmp_path / "toy-chapter.py"
    chapter.write_text(TOY.read_text())
    out = tmp_path / "out"
    run = lambda *extra: lmdist("run", str(chapter), "--profile", "smoke", "--changed-only", "--out", str(out), *extra)
    assert run().returncode == 0
    first = json.loads((out / "toy-chapter.results.json").read_text())["run"]["started"]
    chapter.write_text(chapter.read_text().replace("It claims that", "It says that"))
    proc = run()
    assert proc.returncode == 0 and "not re-executed" in proc.stderr
    nb = json.loads((out / "toy-chapter.ipynb").read_text())
    assert "It says that" in "".join(nb["cells"][0]["source"])
    assert json.loads((out / "toy-chapter.results.json").read_text())["run"]["started"] == first
    assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "outputs are kept"
    assert "not re-executed" not in run("-p", "n=11").stderr  # a parameter changed
    chapter.write_text(chapter.read_text().replace("normal(size=n)", "normal(size=n) * 1.0"))
    assert "not re-executed" not in run("-p", "n=11").stderr  # a code cell changed
