"""lmdist.book.report: the status of a claim against a seed's figure."""

import pytest

from lmdist.book import report


@pytest.mark.parametrize("paper, ours, interval, expected", [
    (0.43, 0.4312, None, True),      # agrees to the two decimals the seed prints
    (0.43, 0.436, None, False),
    (-0.92, -0.9249, None, True),
    (213, 213, None, True),
    (213, 214, None, False),
    (0.43, 0.50, [0.40, 0.55], True),  # inside our interval
    (0.43, 0.50, [0.45, 0.55], False),
    (0.43, 0.50, ["-inf", 0.6], True),
])
def test_agrees(paper, ours, interval, expected):
    assert report.agrees(paper, ours, interval) is expected


@pytest.mark.parametrize("claim, value, expected", [
    ({"holds": False, "paper_value": None}, 1, "fails"),
    ({"holds": True, "paper_value": None}, 1, "holds"),
    ({"holds": None, "paper_value": None}, 1, "reported"),
    ({"holds": None, "paper_value": 0.43}, None, "not run"),
    ({"holds": None, "paper_value": 0.43, "comparable": False}, 0.9, "not comparable"),
    ({"holds": None, "paper_value": 0.43}, 0.43, "reproduced"),
    ({"holds": None, "paper_value": 0.43}, 0.9, "differs"),
])
def test_status(claim, value, expected):
    assert report.status(claim, value) == expected


def test_report_has_a_section_per_chapter_with_source_comparisons_first(tmp_path):
    from lmdist.book import results

    for stem, title in (("01-a", "First"), ("02-b", "Second")):
        rec = results.Recorder(parameters={"profile": "smoke"})
        rec.check("x", "claim x | with a bar", 1.0, at_most=2.0)
        rec.figure("y", "a reported figure", 0.5)
        rec.figure("z", "compared with a source", 0.431, paper_value=0.43)
        doc = rec.write(tmp_path / f"{stem}.results.json")
        results.save(tmp_path / f"{stem}.results.json", {**doc, "title": title})
    text = report.build(tmp_path, tmp_path / "absent")
    assert text.index("(report-01)=") < text.index("## 01 · First") < text.index("(report-02)=")
    assert "## 02 · Second" in text and "ours (smoke)" in text
    section = text[text.index("## 01"):text.index("(report-02)=")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "claim |" not in line]
    assert [r.split(" | ")[-1] for r in rows] == ["★ reproduced |", "✔ holds |", "· reported |"]
    assert "claim x \\| with a bar" in text
    assert text.startswith("6 claims from 2 executed chapter(s)")


def test_status_page_counts_checks_and_flags_failures(tmp_path):
    from lmdist.book import results

    rec = results.Recorder(parameters={"profile": "default"})
    rec.check("a", "holds", 1.0, at_most=2.0)
    rec.check("b", "fails", 3.0, at_most=2.0)
    rec.figure("c", "a figure", 0.5)
    doc = rec.write(tmp_path / "03-x.results.json")
    results.save(tmp_path / "03-x.results.json", {**doc, "title": "Third"})
    page = report.status_page(tmp_path, tmp_path / "absent")
    row = next(line for line in page.splitlines() if "Third" in line)
    assert "<report-03>" in row and "| default |" in row and "| 1/2 ✘ | 1 |" in row
    assert "numpy" in page
    assert "No results files" in report.status_page(tmp_path / "none", tmp_path / "absent")


def test_lists_are_shown_whole():
    assert report.fmt(list(range(9))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8]"
    assert report.fmt([0.123456, "inf", None]) == "[0.1235, inf, —]"
