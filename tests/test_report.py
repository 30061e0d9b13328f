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


def test_table_lists_every_claim_of_every_file(tmp_path):
    from lmdist.book import results

    for stem, ids in (("01-a", ["x", "y"]), ("02-b", ["z"])):
        rec = results.Recorder(chapter=stem[:2], title=stem, parameters={"profile": "smoke"})
        for i in ids:
            rec.claim(i, f"claim {i} | with a bar", 1.0, True)
        rec.write(tmp_path / f"{stem}.results.json")
    text = report.build(tmp_path, tmp_path / "absent")
    body = [line for line in text.splitlines() if line.startswith("| 0")]
    assert len(body) == 3 and all(line.endswith("| holds |") for line in body)
    assert "claim x \\| with a bar" in text and "ours (smoke)" in text
