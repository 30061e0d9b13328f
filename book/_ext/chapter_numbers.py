"""Number theorems, exercises and figures by chapter: Theorem 2.3, Exercise 5.1, Figure 6.2.

Sphinx numbers enumerable nodes either across the whole book or by the section numbers of a numbered
toctree, which restart at 1 in every part. The chapters' file names carry their numbers
(``01-kl-regularised-alignment``), so after Sphinx has assigned its numbers this extension renumbers the
nodes of each chapter as (chapter, 1), (chapter, 2), … per kind, in document order. Other pages keep
Sphinx's numbers.
"""

from __future__ import annotations

import re
from typing import Any

CHAPTER = re.compile(r"(?:^|/)(\d\d)-[^/]+$")


def renumber(app: Any, env: Any) -> list[str]:
    changed = []
    for docname, kinds in env.toc_fignumbers.items():
        match = CHAPTER.search(docname)
        if not match:
            continue
        chapter = int(match.group(1))
        for numbers in kinds.values():
            for i, node_id in enumerate(numbers):
                numbers[node_id] = (chapter, i + 1)
        changed.append(docname)
    return changed


def setup(app: Any) -> dict[str, Any]:
    app.connect("env-get-updated", renumber, priority=900)  # after Sphinx's own numbering (priority 500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
