"""Writes each run's losses.csv from the step hook: the harness's own logger is a
plugin like any other (a TensorBoard logger would look the same)."""
from __future__ import annotations

import csv

from ganbench import hookimpl

FIELDS = ("step", "loss_d", "loss_g", "d_real", "d_fake", "img_per_s")


@hookimpl
def ganbench_step_finished(run, step, losses):
    path = run.dir / "losses.csv"
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({"step": step, **{k: f"{v:.6g}" for k, v in losses.items()}})
