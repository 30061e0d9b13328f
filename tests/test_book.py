"""The book builds with warnings as errors from the smoke-executed chapters, and renders."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from conftest import CHROMIUM, CHROMIUM_FLAGS, NOTEBOOKS, build, needs_chromium, serve

pytestmark = pytest.mark.book


def test_every_page_is_built(html):
    for page in ("book/intro", "book/how-to-use", "book/notation", "book/references",
                 "book/reproduction", "book/status", "book/api", "book/errata",
                 *(f"book/_executed/{p.stem}" for p in NOTEBOOKS)):
        assert (html / f"{page}.html").is_file(), page


def test_mathjax_is_served_offline(html):
    page = (html / "book/notation.html").read_text()
    assert "cdn.jsdelivr" not in page and "mathjax/tex-chtml.js" in page
    assert (html / "_static/mathjax/tex-chtml.js").is_file()


def test_reproduction_page_has_a_section_per_chapter_and_a_row_per_claim(site, html):
    from conftest import ROOT

    docs = [json.loads(p.read_text()) for p in (site / "book/_executed").glob("*.results.json")]
    table = (site / "book/_executed/reproduction-table.md").read_text()
    rows = [line for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| claim |")]
    ids = {(d["chapter"], c["id"]) for d in docs for c in d["claims"]}  # a claim only the paper run has counts too
    for committed in (ROOT / "results" / "paper").glob("*.results.json"):
        paper = json.loads(committed.read_text())
        ids |= {(paper["chapter"], c["id"]) for c in paper["claims"]}
    assert len(rows) == len(ids) > 0
    page = (html / "book/reproduction.html").read_text()
    assert page.count("<tr") == len(rows) + len(NOTEBOOKS)  # a header row per chapter's table
    status = (html / "book/status.html").read_text()
    for d in docs:  # every chapter's section has its anchor; the status page and the chapter link to it
        assert f'id="report-{d["chapter"]}"' in page
        assert f"reproduction.html#report-{d['chapter']}" in status
    for notebook in NOTEBOOKS:  # and every chapter links to the status page
        chapter = (html / f"book/_executed/{notebook.stem}.html").read_text()
        assert f"reproduction.html#report-{notebook.stem[:2]}" in chapter and "status.html#execution-status" in chapter


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_are_folded_by_default(html, notebook):
    page = (html / f"book/_executed/{notebook.stem}.html").read_text()
    assert len(re.findall(r'<div class="exercise[^"]*"', page)) >= 2
    solutions = re.findall(r'<div class="[^"]*solution[^"]*"', page)
    assert solutions and all("dropdown" in s for s in solutions)


def test_handout_switch_removes_solutions(site, html, tmp_path):
    """`hide_solutions: true` in _config.yml removes every solution; exercises stay."""
    handout = tmp_path / "handout"
    shutil.copytree(site, handout, ignore=shutil.ignore_patterns("_build"))
    config = (handout / "_config.yml").read_text()
    assert "hide_solutions: false" in config
    (handout / "_config.yml").write_text(config.replace("hide_solutions: false", "hide_solutions: true"))
    proc = build(handout)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    for notebook in NOTEBOOKS:
        page = (handout / f"_build/html/book/_executed/{notebook.stem}.html").read_text()
        assert len(re.findall(r'<div class="exercise[^"]*"', page)) >= 2
        assert not re.findall(r'<div class="[^"]*solution[^"]*"', page)


class _VisibleText(HTMLParser):
    """Text a reader sees as prose: outside code, scripts, styles and typeset math."""

    SKIP = {"script", "style", "pre", "code", "mjx-container", "textarea"}

    def __init__(self):
        super().__init__()
        self.depth, self.text = 0, []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.SKIP

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIP

    def handle_data(self, data):
        if not self.depth:
            self.text.append(data)


FLAGS = [*CHROMIUM_FLAGS, "--virtual-time-budget=15000", "--window-size=1280,2400"]


@needs_chromium
def test_chapter_01_renders_math_and_a_figure(html, tmp_path):
    import matplotlib.image

    with serve(html) as base_url:
        url = f"{base_url}/book/_executed/{NOTEBOOKS[0].stem}.html"
        base = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        shot = tmp_path / "ch01.png"
        subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert dom.count("<mjx-container") >= 10, "MathJax did not typeset the page"
    parser = _VisibleText()
    parser.feed(dom)
    prose = "".join(parser.text)
    for raw in ("$$", "\\begin", "\\frac", "\\mathrm"):
        assert raw not in prose, f"raw TeX {raw!r} is visible on the page"
    figures = re.findall(r'<img[^>]+src="([^"]+\.png)"', dom)
    assert figures and all((html / "book/_executed" / f).resolve().is_file() for f in figures)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 500 and pixels[..., :3].std() > 0.05, "the screenshot is blank"
