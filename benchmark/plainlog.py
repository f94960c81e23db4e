"""Progress for logs nobody watches live: when stdout is not a terminal (nohup, a cluster
job, CI) rich draws no bars, so without this a long suite is silent between "done" lines.
Every `every` seconds per run (and at its first log) one plain line:

    01:12:03 dcgan-cifar10-s0-ab12cd34: step 1,500/5,000 (30%), 312 img/s, ETA 18 min, D 0.912 G 2.031

The ETA is the run's own pace since it (re)started, so a resumed run's is not skewed by the
steps it did before.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def duration(seconds: float) -> str:
    """90 s, 12 min, 1.5 h: a time as people read it (estimates and ETAs)."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class PlainProgress:
    """One line per run every `every` seconds; `write` prints a line (console.print)."""

    write: Callable[[str], None]
    every: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _runs: dict[str, tuple[float, int, int, float]] = field(default_factory=dict)  # start, step0, steps, last

    def started(self, run_id: str, steps: int) -> None:
        self._runs[run_id] = (self.clock(), -1, steps, -float("inf"))

    def update(self, run_id: str, step: int, extra: dict[str, Any]) -> None:
        if run_id not in self._runs:
            return
        start, step0, steps, last = self._runs[run_id]
        now = self.clock()
        if step0 < 0:  # the first log: the pace counts from here (a resumed run starts late)
            start, step0 = now, step
        if now - last < self.every and step < steps:
            self._runs[run_id] = (start, step0, steps, last)
            return
        self._runs[run_id] = (start, step0, steps, now)
        line = f"{time.strftime('%H:%M:%S')} {run_id}: step {step:,}/{steps:,} ({100 * step / max(steps, 1):.0f}%)"
        if extra.get("img_per_s"):
            line += f", {extra['img_per_s']:.0f} img/s"
        if step > step0 and now > start:
            line += f", ETA {duration((now - start) / (step - step0) * (steps - step))}"
        if "loss_d" in extra and "loss_g" in extra:
            line += f", D {extra['loss_d']:.3f} G {extra['loss_g']:.3f}"
        self.write(line)

    def finished(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
