"""The book's one figure style. Every chapter calls :func:`use` once, before its first figure."""

from __future__ import annotations

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
