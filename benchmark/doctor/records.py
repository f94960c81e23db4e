"""The doctor's records: one Check per verdict, and the Report that holds them all.

Every figure in a check was measured in the same doctor run. A non-finite figure is kept
as its text ("nan", "inf") so that report.json stays valid JSON with finite numbers only;
the check that produced it says what went wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

Status = Literal["pass", "fail", "skipped"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "skipped")
NEEDS_CUDA = "needs CUDA"


def clean(value: Any) -> Any:
    """A figure as JSON can hold it: finite numbers stay, NaN and infinities become text,
    tuples lists, paths and other objects their text."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    try:
        return clean(float(value))  # numpy and torch scalars
    except (TypeError, ValueError):
        return str(value)


def finite(*values: Any) -> bool:
    """Every value a finite number."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


@dataclass
class Check:
    """One verdict: what was measured, the figures, the rule they were held to, the status.

    reason: why it was skipped or failed (empty when it passed)."""

    section: str
    name: str
    status: Status
    criterion: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "status": self.status, "criterion": self.criterion,
                "figures": clean(self.figures), "reason": self.reason}


def judge(section: str, name: str, ok: bool, criterion: str, figures: dict[str, Any],
          why_not: str = "") -> Check:
    """pass when ``ok``, else fail with ``why_not`` (default: the criterion was not met)."""
    return Check(section, name, "pass" if ok else "fail", criterion, figures,
                 "" if ok else (why_not or f"not met: {criterion}"))


def skip(section: str, name: str, reason: str, criterion: str = "",
         figures: Optional[dict[str, Any]] = None) -> Check:
    return Check(section, name, "skipped", criterion, figures or {}, reason)


@dataclass
class Report:
    """Everything one doctor run found, and on what."""

    started: str
    command: str
    commit: Optional[str]
    ganbench: str
    mode: str  # "full" or "tiny"
    environment: dict[str, Any]
    settings: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    section_seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in STATUSES}

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return clean({
            "ganbench": self.ganbench, "started": self.started, "command": self.command, "commit": self.commit,
            "mode": self.mode, "environment": self.environment, "settings": self.settings,
            "seconds": self.seconds, "section_seconds": self.section_seconds, "counts": self.counts(),
            "checks": [c.to_json() for c in self.checks]})
