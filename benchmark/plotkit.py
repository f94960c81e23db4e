"""What every ganbench figure shares: colours, labels from coordinates, losses.csv read as
columns, a moving average, and figures drawn with matplotlib's object API on the Agg
canvas (no pyplot, no global backend switch), written atomically. matplotlib is imported
inside the functions, so `ganbench list` and the commands that draw nothing never load it.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from .board import Group
from .results import atomic_write_bytes
from .runspec import show_value

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")


def varying_axes(axes: list[str], groups: list[Group]) -> list[str]:
    return [a for a in axes if len({show_value(g.coords.get(a)) for g in groups}) > 1]


def label_of(coords: dict[str, object], axes: list[str]) -> str:
    """A short label from the given axes: "dcgan, latent_dim=16"; names stand alone."""
    parts = []
    for a in axes:
        v = show_value(coords.get(a))
        parts.append(v if a in ("model", "dataset", "classes", "loss", "optimizer") else f"{a.split('.')[-1]}={v}")
    return ", ".join(parts)


def read_losses(run_dir: Path) -> dict[str, list[float]]:
    """losses.csv as columns of floats, aligned with "step": an empty cell (a network not
    updated in that interval) reads as NaN, a gap in the drawn line; rows that do not parse,
    e.g. cut by a crash, are skipped."""
    cols: dict[str, list[float]] = {}
    try:
        with open(run_dir / "losses.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                try:
                    values = {k: float(v) if v not in (None, "") else math.nan for k, v in row.items() if k}
                except ValueError:
                    continue
                if math.isnan(values.get("step", math.nan)):
                    continue
                for k, v in values.items():
                    cols.setdefault(k, []).append(v)
    except FileNotFoundError:
        pass
    return cols


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average (the raw curve is drawn faintly underneath)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_png(fig: Figure, path: Path) -> None:
    """PNG through the Agg canvas, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic_write_bytes(path, buf.getvalue())


def style_axes(ax: Axes) -> None:
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
