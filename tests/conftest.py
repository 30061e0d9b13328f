"""Shared fixtures: the chapters executed once at the smoke profile, and a book built from them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests search the same examples on every run (a CI run must not differ from the one before it);
# HYPOTHESIS_PROFILE=explore searches afresh each time, for hunting counterexamples by hand.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
LMDIST = [str(Path(sys.executable).with_name("lmdist"))]  # the installed console script


def lmdist(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the `lmdist` command as a user would, capturing its output."""
    return subprocess.run([*LMDIST, *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """A copy of the book's sources whose chapters are executed at `smoke` by `lmdist run`.

    A copy, so that the tests never overwrite the reader's `book/_executed` (from `make book`).
    """
    site = tmp_path_factory.mktemp("site")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("_executed"))
    out = site / "book" / "_executed"
    proc = lmdist("run", *map(str, NOTEBOOKS), "--profile", "smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-4000:]
    proc = lmdist("report", "--executed", str(out), "--paper", str(ROOT / "results" / "paper"),
                  "--out", str(out / "reproduction-table.md"))
    assert proc.returncode == 0, proc.stderr
    return site


def build(site: Path) -> subprocess.CompletedProcess:
    """`jupyter-book build . -W -n --keep-going` in `site`, as `make book` does."""
    jb = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jb), "build", ".", "-W", "-n", "--keep-going"], cwd=site,
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def html(site: Path) -> Path:
    """The HTML book built from the smoke-executed chapters, with warnings as errors."""
    proc = build(site)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return site / "_build" / "html"


# Debian's Chromium, headless, without the background traffic a closed network refuses.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make test installs it "
                                                             "where apt-get and root are available)")


@contextmanager
def serve(directory: Path, handler=SimpleHTTPRequestHandler):
    """Serve ``directory`` over HTTP on a free localhost port; yields the base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=directory))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def lm():
    """The tiny word-level GPT-2 of tests/tiny_lm.py and its tokenizer, on one thread (a tiny model: more
    threads only wait on each other)."""
    import torch

    import tiny_lm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_lm.model(), tiny_lm.tokenizer()
    torch.set_num_threads(threads)
