"""One loss column of every row on one panel: the comparison a report draws when it ranks
settings by their loss curves (report 5's latent sweep by G and D losses, its optimizer
sweep by D's loss on real images). A suite asks for it by column::

    [suite]
    compare_losses = ["loss_d_real", "loss_g"]

Each row (a group of seeds) is one line: at every logged step the mean over its seeds,
smoothed by a trailing moving average, with the seeds' min–max band faintly. Written to
plots/<column>_vs_step.png. matplotlib is imported inside the functions, so that
`ganbench list` stays fast.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from .board import PLOTS, Group, PlotEntry
from .plotkit import COLOURS, label_of, new_figure, read_losses, save_png, smooth, style_axes, varying_axes

SMOOTH = 10  # logged points in the moving average


def draw_loss_comparison(axes: list[str], groups: list[Group], column: str, out_dir: Path) -> list[PlotEntry]:
    """The plot for `column`, or nothing when no run logged it."""
    lines = []
    for g in groups:
        per_seed = [read_losses(r.dir) for r in g.runs]
        per_seed = [c for c in per_seed if column in c and "step" in c]
        if not per_seed:
            continue
        steps = sorted({int(s) for c in per_seed for s in c["step"]})
        at = [{int(s): v for s, v in zip(c["step"], c[column]) if not math.isnan(v)} for c in per_seed]
        vals = [[a[s] for a in at if s in a] for s in steps]
        keep = [(s, v) for s, v in zip(steps, vals) if v]
        if keep:
            lines.append((g, len(per_seed), keep))
    if not lines:
        return []
    varying = varying_axes(axes, groups)
    fig = new_figure(7.5, 4.4)
    ax = fig.subplots()
    for i, (g, n, keep) in enumerate(lines):
        colour = COLOURS[i % len(COLOURS)]
        steps = [s for s, _ in keep]
        mean = smooth([statistics.fmean(v) for _, v in keep], SMOOTH)
        label = label_of(g.coords, varying) or label_of(g.coords, axes)
        ax.plot(steps, mean, color=colour, linewidth=1.6, label=f"{label} ({n} seed{'s' if n != 1 else ''})")
        if n > 1:
            ax.fill_between(steps, smooth([min(v) for _, v in keep], SMOOTH),
                            smooth([max(v) for _, v in keep], SMOOTH), color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel("G step")
    ax.set_ylabel(column)
    ax.set_title(f"{column} against G step (moving average of {SMOOTH} logged points; band: seeds' min–max)",
                 fontsize=9)
    style_axes(ax)
    ax.legend(fontsize=7, frameon=False, loc="best")
    path = out_dir / f"{column}_vs_step.png"
    save_png(fig, path)
    return [PlotEntry(f"{PLOTS}/{path.name}", "loss-curve", f"{column} against G step, one line per row")]
