"""A report's published numbers as data: ``[[reported]]`` tables in a suite.

A suite that reproduces a paper or a report states what that report measured, so its
leaderboard can show the published number beside ours::

    [[reported]]
    match = { model = "dcgan" }                 # the cells it stands for (matrix axes)
    scores = { fid_inception = 36.21 }          # ganbench score names, so columns line up
    statistic = "final"                         # or "best": the minimum/maximum over training
    protocol = "FID, 2,560 generated vs 2,560 real automobile training images, one seed"
    source = "report 1, table 1"

The row is never ranked and never averaged with ours: it was measured under the report's
protocol, which its row states, and which is rarely the table's own.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .errors import GanbenchError, did_you_mean

REPORTED = "reported"  # the reference-row kind
KEYS = ("match", "scores", "statistic", "protocol", "source")
STATISTICS = ("final", "best")


@dataclass(frozen=True)
class Reported:
    """One published result: the cells it stands for, its scores and how they were made."""

    match: dict[str, Any]
    scores: dict[str, float]
    statistic: str
    protocol: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reported:
        return cls(dict(d.get("match", {})), {k: float(v) for k, v in d.get("scores", {}).items()},
                   str(d.get("statistic", "final")), str(d.get("protocol", "")), str(d.get("source", "")))

    def label(self) -> str:
        return f"reported ({self.source})" if self.source else "reported"

    def detail(self) -> str:
        stat = "best over training" if self.statistic == "best" else "final"
        return f"{self.protocol}; {stat}; not scored by ganbench, never ranked"


def check_reported(entries: Any, axes: dict[str, list[Any]], where: Any) -> list[Reported]:
    """Validate the suite's [[reported]] tables against its matrix; `where(key)` names the place."""
    if not isinstance(entries, list):
        raise GanbenchError("expected [[reported]] tables", where=where("reported"))
    out = []
    for i, entry in enumerate(entries):
        at = f"reported[{i}]"
        if not isinstance(entry, dict):
            raise GanbenchError(f"expected a table, found {type(entry).__name__}", where=where(at))
        for key in entry:
            if key not in KEYS:
                raise GanbenchError(f"unknown key '{key}'{did_you_mean(key, KEYS)}", where=where(f"{at}.{key}"))
        for key in ("scores", "protocol", "source"):
            if key not in entry:
                raise GanbenchError(f"a [[reported]] row needs `{key}`", where=where(at),
                                    hint='e.g. scores = { fid_inception = 36.2 }, protocol = "FID on 2,560 vs '
                                         '2,560 images", source = "report 1"')
        match = entry.get("match", {})
        if not isinstance(match, dict):
            raise GanbenchError("match must be a table of matrix axes, e.g. match = { model = \"dcgan\" }",
                                where=where(f"{at}.match"))
        for axis, value in match.items():
            if axis not in axes:
                raise GanbenchError(f"'{axis}' is not an axis of this suite's matrix{did_you_mean(axis, axes)}",
                                    where=where(f"{at}.match.{axis}"))
            if value not in axes[axis]:
                raise GanbenchError(f"{axis} = {value!r} is not in the matrix ({axes[axis]}): the row would "
                                    "stand for no cell", where=where(f"{at}.match.{axis}"))
        scores = entry["scores"]
        if not isinstance(scores, dict) or not scores:
            raise GanbenchError("scores must be a non-empty table, e.g. { fid_inception = 36.2 }",
                                where=where(f"{at}.scores"))
        for name, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise GanbenchError(f"expected a finite number, found {value!r}", where=where(f"{at}.scores.{name}"))
        statistic = entry.get("statistic", "final")
        if statistic not in STATISTICS:
            raise GanbenchError(f"statistic must be one of {', '.join(STATISTICS)}, found {statistic!r}",
                                where=where(f"{at}.statistic"))
        for key in ("protocol", "source"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise GanbenchError(f"{key} must say it in words", where=where(f"{at}.{key}"))
        out.append(Reported(dict(match), {k: float(v) for k, v in scores.items()}, statistic,
                            entry["protocol"].strip(), entry["source"].strip()))
    return out


def matches(reported: Reported, coords: dict[str, Any]) -> bool:
    """Does the reported row stand for a row with these coordinates?"""
    return all(coords.get(axis) == value for axis, value in reported.match.items())
