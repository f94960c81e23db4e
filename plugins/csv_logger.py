"""Writes each run's losses.csv from the step hook: the harness's own logger is a
plugin like any other (a TensorBoard logger would look the same).

The first six columns are those of every version (other tools read them by position);
the per-term columns a run logs (ganbench.losslog) follow in the order of its first
log, and a resumed run appends under the header its file already has. A value that is
NaN because its network was not updated in the interval is written as an empty cell.
"""
from __future__ import annotations

import csv
import math

from ganbench import hookimpl

FIELDS = ("step", "loss_d", "loss_g", "d_real", "d_fake", "img_per_s")


def _header(path):
    """The existing file's columns, or None for a new (or empty) file."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), None)
    except FileNotFoundError:
        return None


@hookimpl
def ganbench_step_finished(run, step, losses):
    path = run.dir / "losses.csv"
    header = _header(path)
    fields = header or [*FIELDS, *(k for k in losses if k not in FIELDS)]
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if header is None:
            w.writeheader()
        w.writerow({"step": step, **{k: "" if math.isnan(v) else f"{v:.6g}" for k, v in losses.items()}})
