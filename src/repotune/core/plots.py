"""One small chart as PNG bytes (dataset card, loss curve): matplotlib without a display, imported only here
and only when a chart is drawn (it comes with the steps' extras, not the base install)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any


def chart_png(draw: Callable[[Any], Any], *, xlabel: str = "", ylabel: str = "") -> bytes:
    """A 5x3 inch, 100 dpi chart: `draw(ax)` fills the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    try:
        draw(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    finally:
        plt.close(fig)
