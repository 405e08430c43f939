"""One look for every figure: seaborn theme, colour-blind-safe palette, deterministic PNGs.

Library code draws on axes it is given (``plot_x(table, ax)``) or composes a figure
(``fig_x(table) -> Figure``) inside :func:`theme`; only stages call :func:`save_figure`.
Nothing here edits global ``rcParams`` outside a context manager, and importing this module
selects no backend: the program that starts (``bonta``, the test session) chooses Agg once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns

#: Okabe & Ito (2008) colour-blind-safe palette; distinct in greyscale when paired with
#: :data:`LINESTYLES` / :data:`MARKERS`.
PALETTE: list[str] = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
]
LINESTYLES: list[str | tuple[int, tuple[int, ...]]] = [
    "-",
    "--",
    "-.",
    ":",
    (0, (5, 1)),
    (0, (3, 1, 1, 1)),
    (0, (1, 1)),
    "-",
]
MARKERS: list[str] = ["o", "s", "^", "D", "v", "P", "X", "*"]

#: Print resolution used for every saved figure.
DPI = 200
#: Width of the printed text column (A4 with 15 mm margins) and the smallest font a journal
#: accepts there: a figure wider than the column is scaled down, and its fonts with it.
PRINT_WIDTH_IN = 7.0
MIN_PRINT_PT = 8.0
#: Line styles that never look like the dotted overlay of a fitted model.
SERIES_LINESTYLES: list[str | tuple[int, tuple[int, ...]]] = [
    "-",
    "--",
    "-.",
    (0, (6, 2)),
    (0, (3, 1, 1, 1, 1, 1)),
]


def smallest_print_pt(fig: plt.Figure, print_width_in: float = PRINT_WIDTH_IN) -> float:
    """Smallest visible text of ``fig`` in points once printed ``print_width_in`` wide at most
    (the width of the saved image: the figure or, if wider, its tight bounding box).

    Examples
    --------
    A 14-inch figure with 10 pt labels prints at half size: 5 pt.
    """
    # saved with bbox_inches="tight": text outside the axes can widen the saved image
    tight = fig.get_tightbbox()
    width = max(float(fig.get_figwidth()), float(tight.width))
    scale = min(1.0, print_width_in / width)
    sizes = [
        float(t.get_fontsize()) * scale
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return min(sizes, default=float("inf"))


@contextmanager
def theme() -> Iterator[None]:
    """Apply the study theme for the duration of a ``with`` block."""
    rc: dict[str, Any] = {
        "figure.dpi": 100,
        "savefig.dpi": DPI,
        "font.family": "DejaVu Sans",
        "axes.titleweight": "bold",
        "svg.hashsalt": "bonta",
    }
    with (
        matplotlib.rc_context(rc),  # type: ignore[arg-type]
        sns.axes_style("whitegrid"),
        sns.plotting_context("paper", font_scale=1.25),
        sns.color_palette(PALETTE),
    ):
        yield


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG with no embedded software/version/time metadata, then close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path
