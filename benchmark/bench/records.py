"""The records a bench produces: a case's per-repeat speeds and ratios, and the whole result.

They are what ``--json`` writes and ``--from`` reads back, so ``to_json``/``from_json`` keep
the layout of every result written so far (results/bench/*.json): a case's kind-specific
facts (model, width, FLOPs, ...) sit beside its common keys.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import GanbenchError
from .config import goal_for

METHOD = ("variants interleaved in rotating order; ratio = median over repeats of the per-repeat "
          "speed ratio; speeds > 1 favour ganbench")
_CASE_KEYS = ("name", "kind", "unit", "repeats", "median", "samples", "ratios", "goals")


def _get(data: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise GanbenchError(f"a bench result lacks '{key}'", where=where,
                            hint="pass a file written by `ganbench bench --json FILE`")
    return data[key]


@dataclass
class Case:
    """One measured case: each variant's speed per repeat (ganbench's variant first), the
    speed ratios derived from them, the goals they are held to, and what was measured."""

    name: str
    kind: str
    unit: str
    samples: dict[str, list[float]]
    ratios: dict[str, float] = field(default_factory=dict)
    goals: dict[str, float] = field(default_factory=dict)
    #: kind-specific facts: model, width, width_kind, steps_per_repeat, flops_per_image, ...
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def repeats(self) -> int:
        return len(next(iter(self.samples.values())))

    @property
    def median(self) -> dict[str, float]:
        return {k: statistics.median(v) for k, v in self.samples.items()}

    def add_ratio(self, key: str, value: float, width_kind: str = "any", device: str = "cpu") -> None:
        """Record a ratio, and its goal when the device kind has one for this case (config.goal_for)."""
        self.ratios[key] = value
        goal = goal_for(self.kind, self.name, width_kind, key, device)
        if goal is not None:
            self.goals[key] = goal

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "unit": self.unit, "repeats": self.repeats,
                "median": self.median, "samples": self.samples, "ratios": self.ratios, "goals": self.goals,
                **self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> "Case":
        return cls(name=_get(data, "name", where), kind=_get(data, "kind", where), unit=_get(data, "unit", where),
                   samples=_get(data, "samples", where), ratios=dict(data.get("ratios", {})),
                   goals=dict(data.get("goals", {})),
                   details={k: v for k, v in data.items() if k not in _CASE_KEYS})


@dataclass(frozen=True)
class Efficiency:
    """A training case's achieved FLOP/s against the matmul FLOP/s of the same machine."""

    efficiency: float
    achieved_gflops: float
    goal: Optional[float] = None


class Skip(Exception):
    """Raised by a case that cannot run in this checkout or on this machine (the reason is reported)."""


@dataclass(frozen=True)
class Skipped:
    """A case that did not run here, and why (a FAILED reason when it raised)."""

    name: str
    reason: str


@dataclass(frozen=True)
class LoadAverage:
    start: float
    end: float


@dataclass
class BenchResult:
    """Everything one `ganbench bench` measured, and on what."""

    device: str
    threads: int
    quick: bool
    matmul_gflops: float
    load_average: LoadAverage
    cases: list[Case]
    efficiency: dict[str, Efficiency] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    ganbench: str = ""
    torch: str = ""
    cpus: int = 0
    repeats: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    under_load: bool = False
    matmul_gflops_samples: list[float] = field(default_factory=list)
    seconds: float = 0.0
    method: str = METHOD

    def all_ratios(self) -> dict[str, float]:
        """Every ratio, keyed "case:ratio" (for tests, summaries and the exit status)."""
        return {f"{c.name}:{k}": v for c in self.cases for k, v in c.ratios.items()}

    def missed(self) -> list[str]:
        """Cases below one of their goals (ratio or efficiency), sorted."""
        names = {c.name for c in self.cases if any(c.ratios[k] < g for k, g in c.goals.items())}
        names |= {n for n, e in self.efficiency.items() if e.goal and e.efficiency < e.goal}
        return sorted(names)

    def to_json(self) -> dict[str, Any]:
        return {
            "ganbench": self.ganbench, "torch": self.torch, "device": self.device, "threads": self.threads,
            "cpus": self.cpus, "quick": self.quick, "repeats": self.repeats, "config": self.config,
            "load_average": {"start": self.load_average.start, "end": self.load_average.end},
            "under_load": self.under_load, "matmul_gflops": self.matmul_gflops,
            "matmul_gflops_samples": self.matmul_gflops_samples, "cases": [c.to_json() for c in self.cases],
            "efficiency": {k: {"efficiency": e.efficiency, "achieved_gflops": e.achieved_gflops, "goal": e.goal}
                           for k, e in self.efficiency.items()},
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            "seconds": self.seconds, "method": self.method,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "") -> "BenchResult":
        """A result as ``to_json`` (or any earlier `ganbench bench --json`) wrote it."""
        la = _get(data, "load_average", where)
        return cls(
            device=_get(data, "device", where), threads=_get(data, "threads", where),
            quick=bool(_get(data, "quick", where)), matmul_gflops=float(_get(data, "matmul_gflops", where)),
            load_average=LoadAverage(float(_get(la, "start", where)), float(_get(la, "end", where))),
            cases=[Case.from_json(c, f"{where}: cases[{i}]") for i, c in enumerate(_get(data, "cases", where))],
            efficiency={k: Efficiency(float(_get(e, "efficiency", where)), float(_get(e, "achieved_gflops", where)),
                                      e.get("goal")) for k, e in data.get("efficiency", {}).items()},
            skipped=[Skipped(_get(s, "name", where), _get(s, "reason", where)) for s in data.get("skipped", [])],
            ganbench=data.get("ganbench", ""), torch=data.get("torch", ""), cpus=int(data.get("cpus", 0)),
            repeats=int(data.get("repeats", 0)), config=dict(data.get("config", {})),
            under_load=bool(data.get("under_load", False)),
            matmul_gflops_samples=list(data.get("matmul_gflops_samples", [])),
            seconds=float(data.get("seconds", 0.0)), method=data.get("method", METHOD))
