"""Figures for the report and the MLflow runs: one house style, drawn without pyplot.

Each figure gets an explicit Agg canvas inside the call: no global backend switch and no pyplot
state, so drawing is safe in Prefect workers and threads and changes nothing at import time.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
STYLE = {
    "font.size": 9.5,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "legend.frameon": False,
    "axes.axisbelow": True,
    "figure.dpi": 110,
}


@contextmanager
def figure(width: float = 9.0, height: float = 3.4, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """A styled figure on its own Agg canvas and its axes; yields ``(figure, axes)``.

    Draw inside the ``with`` block: the style applies to what is created there.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        drawn = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(drawn)
        yield drawn, drawn.subplots(**subplots)


def png(drawn: Any) -> bytes:
    """The figure as PNG bytes (white background), e.g. for a self-contained HTML page."""
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
