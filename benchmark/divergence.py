"""When a training run has gone wrong though every number is finite: explosion and collapse.

Checked at every loss log (the loop's host sync), on the logged columns (losses, D's raw
scores, per-term losses, penalties; not d_updates) and on G's last training batch:

* explosion: a column's |value| > train.explode_max at any log, or, from the second log on,
  > train.explode_factor x max(1, its |value| at the first log of the run);
* collapse: the mean over pixels of the per-pixel standard deviation across G's last
  training batch < train.collapse_std at train.collapse_logs logs in a row: G draws one
  image whatever z is (for a conditional G, one image for the whole batch's labels).

Either stops the run as diverged, with the rule and the step in its status. Each threshold
at 0 turns its rule off. The first log's values and the collapse count travel in the
checkpoint, so a resumed run is judged as an unbroken one.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .config import TrainConfig
from .updates import Diverged

#: logged columns that are counts, not losses or scores
NOT_WATCHED = frozenset({"d_updates"})


def rules_text(t: TrainConfig) -> str:
    """The rules as a run states them."""
    parts = []
    if t.explode_max:
        parts.append(f"|loss| > {t.explode_max:g} (train.explode_max)")
    if t.explode_factor:
        parts.append(f"|loss| > {t.explode_factor:g} x max(1, |loss| at the first log) (train.explode_factor)")
    if t.collapse_std:
        parts.append(f"mean per-pixel std across G's batch < {t.collapse_std:g} at {t.collapse_logs} logs in a row "
                     "(train.collapse_std, train.collapse_logs)")
    return "; ".join(parts) or "off"


def batch_spread(fake: torch.Tensor | None) -> float | None:
    """The mean over pixels of the per-pixel std across the batch (None for fewer than 2 images)."""
    if fake is None or fake.shape[0] < 2:
        return None
    return float(fake.detach().float().flatten(1).std(dim=0).mean())


class DivergenceWatch:
    """The explosion and collapse rules over one run's logs."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.first: dict[str, float] = {}  # |value| of each column at the run's first log
        self.flat = 0  # consecutive logs with a collapsed batch

    def check(self, step: int, losses: dict[str, float], idle: set[str], spread: float | None) -> None:
        """Raise Diverged when a rule fires at this log."""
        t = self.cfg
        watched = {k: abs(v) for k, v in losses.items() if k not in NOT_WATCHED and k not in idle and math.isfinite(v)}
        for k, v in watched.items():
            if t.explode_max and v > t.explode_max:
                raise Diverged(f"loss explosion at step {step}: |{k}| = {v:.4g} > {t.explode_max:g} (rule: "
                               "train.explode_max)")
            base = self.first.get(k)
            if base is not None and t.explode_factor and v > t.explode_factor * max(1.0, base):
                raise Diverged(f"loss explosion at step {step}: |{k}| = {v:.4g} > {t.explode_factor:g} x max(1, "
                               f"{base:.4g} at the first log) (rule: train.explode_factor)")
        for k, v in watched.items():
            self.first.setdefault(k, v)
        if t.collapse_std and spread is not None:
            self.flat = self.flat + 1 if spread < t.collapse_std else 0
            if self.flat >= t.collapse_logs:
                raise Diverged(f"mode collapse at step {step}: G's batch has a mean per-pixel std of {spread:.3g} "
                               f"< {t.collapse_std:g} across its samples at {self.flat} logs in a row (rule: "
                               "train.collapse_std, train.collapse_logs): G draws one image whatever z is")

    def state_dict(self) -> dict[str, Any]:
        return {"first": dict(self.first), "flat": self.flat}

    def load_state_dict(self, sd: dict[str, Any] | None) -> None:
        """A checkpoint from before the watch has none: the first log after resuming sets the baseline."""
        if sd:
            self.first = {str(k): float(v) for k, v in sd.get("first", {}).items()}
            self.flat = int(sd.get("flat", 0))
