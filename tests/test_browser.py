"""The built book as a reader sees it, in real headless Chromium at a desktop and a phone width.

Each chapter page is served with a small script (tests/browser/audit.js) that measures, after MathJax has
typeset the page, what a reader would see as broken; Chromium's --dump-dom returns the measurements.
"""

import html as html_module
import json
import re
import subprocess
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from conftest import CHROMIUM, CHROMIUM_FLAGS, NOTEBOOKS, needs_chromium, serve

pytestmark = pytest.mark.book

FLAGS = [*CHROMIUM_FLAGS, "--virtual-time-budget=20000"]
WIDTHS = {"desktop": "1280,900", "phone": "412,900"}
AUDIT = (Path(__file__).parent / "browser" / "audit.js").read_text()
MACHINE_PATH = re.compile(r"(/tmp/|/home/|/root/|/work/|/Users/|[A-Z]:\\\\Users)")


class _Audited(SimpleHTTPRequestHandler):
    """Serves the book; chapter pages get the audit script before </body>."""

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if "/_executed/" in self.path and path.suffix == ".html" and path.is_file():
            body = path.read_text().replace("</body>", f"<script>{AUDIT}</script></body>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def audits(html, tmp_path_factory):
    """{(chapter, width): measurements} for every chapter page at both widths."""
    out = {}
    with serve(html, _Audited) as base_url:
        for notebook in NOTEBOOKS:
            for width, size in WIDTHS.items():
                profile = tmp_path_factory.mktemp("chromium")
                url = f"{base_url}/book/_executed/{notebook.stem}.html"
                dom = subprocess.run([CHROMIUM, *FLAGS, f"--window-size={size}", f"--user-data-dir={profile}",
                                      "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
                found = re.search(r'<pre id="lmdist-audit">(.*?)</pre>', dom, re.S)
                assert found, f"{notebook.stem} ({width}): the audit script did not run"
                out[notebook.stem, width] = json.loads(html_module.unescape(found.group(1)))
    return out


@needs_chromium
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_outputs_are_quiet_and_figures_numbered(audits, notebook):
    seen = audits[notebook.stem, "desktop"]
    for kind in ("stderr", "warnings", "bars", "echoes", "cut", "unnumbered"):
        assert not seen[kind], f"{kind}: {seen[kind][:5]}"
    assert seen["opening"] == 1, "the chapter needs one opening box (class chapter-opening)"


@needs_chromium
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_content_fits_its_column(audits, notebook):
    desktop, phone = audits[notebook.stem, "desktop"], audits[notebook.stem, "phone"]
    assert not desktop["wide"], f"wider than the column at 1280 px: {desktop['wide'][:5]}"
    assert phone["pageOverflow"] <= 1, "the page scrolls sideways at 412 px"


def test_no_machine_path_in_any_page_or_downloadable_notebook(html):
    offenders = []
    for page in html.rglob("*"):
        if page.suffix in (".html", ".ipynb", ".md", ".txt") and page.is_file():
            text = page.read_text(errors="ignore")
            hit = MACHINE_PATH.search(text)
            if hit:
                offenders.append(f"{page.relative_to(html)}: …{text[hit.start():hit.start() + 60]}")
    assert not offenders, offenders[:5]
