"""The book's one figure style. Every chapter calls :func:`use` once, before its first figure."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import seaborn as sns

PALETTE = "colorblind"
# Fixed roles, so that a reader sees the same colour for the same object in every chapter.
ROLE = dict(zip(("prior", "aligned", "aligned_component", "unaligned_component", "reference", "other"),
                sns.color_palette(PALETTE, 6)))


def use() -> None:
    """Apply the seaborn theme and the figure defaults shared by all chapters."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 110,
        "savefig.bbox": "tight",
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    })


def publish(name: str, fig: Any) -> None:
    """Make ``fig`` a numbered figure of the chapter: glue it under ``name`` and close it (so the cell
    shows nothing). The chapter's markdown places it, with its number, caption and alt text::

        ```{glue:figure} fig-gibbs-frontier
        :name: fig-gibbs-frontier
        :alt: what the figure shows, for a reader who cannot see it

        Caption: what to see.
        ```

    and cites it as ``{numref}`fig-gibbs-frontier``` (Figure 1.2)."""
    import matplotlib.pyplot as plt

    from lmdist.book.results import glue

    if not name.startswith("fig-"):
        raise ValueError(f"name must start with 'fig-' (figure labels are fig-<what>), got {name!r}")
    glue(name, fig)
    plt.close(fig)
