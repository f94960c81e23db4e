"""A suite folder read back: one :class:`RunRecord` per run folder, grouped into rows.

Grouping rule: a :class:`Group` holds the runs of one matrix cell (every coordinate but the
seed) whose resolved training configs are equal: config.json without run id, coordinates,
seed, the evaluation settings ([metrics], which split tables by protocol anyway) and the
[train] keys in :data:`NEUTRAL`. Where one cell has runs of several configs (a suite edit, a
``--set``), the config of the newest run (config.json written last) makes the current group;
the others are *stale* groups: their own rows on the board, marked, unranked and named in a
warning, never averaged into the current row, and left out of the score and throughput plots.
Nothing here writes to the suite folder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .references import read_references
from .results import get_status, read_json, read_jsonl
from .runspec import show_value

#: [train] keys that change no weight (logs, checkpoints, pictures, the evaluation cadence: evaluations
#: run under their own RNG) and the device: runs differing only in these still share a row
NEUTRAL = frozenset({"log_every", "checkpoint_every", "eval_every", "sample_every", "num_final_images", "num_best_images",
                     "grid_size", "device"})


@dataclass(frozen=True)
class RunRecord:
    """One run folder as written: config.json, status.json, evals.jsonl, throughput.json."""

    dir: Path
    config: dict[str, Any]
    status: dict[str, Any]
    evals: list[dict[str, Any]]
    final: dict[str, Any] | None
    throughput: dict[str, Any]
    written: int = 0  # config.json's mtime (ns): when the run was last started with this config

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def coords(self) -> dict[str, Any]:
        return self.config.get("coords", {})

    @property
    def seed(self) -> int | None:
        """The seed coordinate, else train.seed (a suite without a seed axis)."""
        return self.coords.get("seed", self.config.get("train", {}).get("seed"))

    @property
    def state(self) -> str:
        return self.status.get("state", "pending")


def load_run(run_dir: Path) -> RunRecord:
    run_dir = Path(run_dir)
    evals = read_jsonl(run_dir / "evals.jsonl")
    try:
        written = (run_dir / "config.json").stat().st_mtime_ns
    except FileNotFoundError:
        written = 0
    return RunRecord(dir=run_dir, config=read_json(run_dir / "config.json", {}), status=get_status(run_dir),
                     evals=evals, final=next((e for e in reversed(evals) if e.get("final")), None),
                     throughput=read_json(run_dir / "throughput.json", {}), written=written)


def list_runs(suite_dir: Path) -> list[RunRecord]:
    """Every folder of the suite that has a config.json, in name order."""
    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        return []
    return [load_run(p) for p in sorted(suite_dir.iterdir()) if (p / "config.json").is_file()]


@dataclass(frozen=True)
class Group:
    """Runs that differ only in their seed: one line of a curve, one leaderboard row (or
    more, when their seeds were scored under different protocols). A stale group shares
    its coordinates with a newer config's group; ``differs`` says how its config differs."""

    coords: dict[str, Any]
    runs: list[RunRecord]
    stale: bool = False
    differs: str = ""


def training_config(config: dict[str, Any]) -> dict[str, Any]:
    """What a row's runs must share: config.json without run id, coordinates, the seed, the
    evaluation settings ([metrics]) and the [train] keys in NEUTRAL."""
    out = {k: v for k, v in config.items() if k not in ("run_id", "coords", "metrics")}
    if isinstance(out.get("train"), dict):
        out["train"] = {k: v for k, v in out["train"].items() if k != "seed" and k not in NEUTRAL}
    return out


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(config: dict[str, Any], current: dict[str, Any], limit: int = 4) -> str:
    """How one training config differs from another, in a line: "train.steps 30 (newest: 31)"."""
    a, b = _flat(training_config(config)), _flat(training_config(current))
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "∅") != b.get(k, "∅"))
    text = [f"{k} {show_value(a.get(k, '–'))} (newest: {show_value(b.get(k, '–'))})" for k in keys[:limit]]
    return "; ".join(text + ([f"{len(keys) - limit} more"] if len(keys) > limit else []))


def group_runs(runs: list[RunRecord]) -> tuple[list[str], list[Group]]:
    """(axes, groups): runs grouped by every matrix coordinate except the seed and by their
    training config, in the suite's order; each cell's newest config first, stale ones after it."""
    axes: list[str] = []
    for r in runs:
        for a in r.coords:
            if a != "seed" and a not in axes:
                axes.append(a)
    cells: dict[str, tuple[dict[str, Any], dict[str, list[RunRecord]]]] = {}
    for r in runs:
        coords = {a: r.coords.get(a) for a in axes}
        cell = cells.setdefault(json.dumps(coords, sort_keys=True, default=str), (coords, {}))
        cell[1].setdefault(json.dumps(training_config(r.config), sort_keys=True, default=str), []).append(r)
    groups: list[Group] = []
    for coords, configs in cells.values():
        newest = max(configs, key=lambda k: max(r.written for r in configs[k]))
        groups.append(Group(coords, configs[newest]))
        groups += [Group(coords, members, True, differences(members[0].config, configs[newest][0].config))
                   for k, members in configs.items() if k != newest]
    return axes, groups


@dataclass(frozen=True)
class SuiteResults:
    """A suite folder: its runs, grouped, and its provenance.json."""

    dir: Path
    runs: list[RunRecord]
    provenance: dict[str, Any]
    axes: list[str]
    groups: list[Group]
    references: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current(self) -> list[Group]:
        """The groups of each cell's newest config (what the plots draw)."""
        return [g for g in self.groups if not g.stale]

    @property
    def name(self) -> str:
        return self.provenance.get("suite", self.dir.name)

    @property
    def primary(self) -> str:
        """The score that ranks: the suite's, else the first run config's that names metrics."""
        return self.provenance.get("primary") or next(
            (r.config["metrics"].get("primary") for r in self.runs if r.config.get("metrics")), "") or ""

    @property
    def device(self) -> str:
        return self.provenance.get("device") or next(
            (r.throughput["device"] for r in self.runs if r.throughput.get("device")), "?")


def read_suite(suite_dir: Path) -> SuiteResults:
    suite_dir = Path(suite_dir)
    runs = list_runs(suite_dir)
    axes, groups = group_runs(runs)
    return SuiteResults(suite_dir, runs, read_json(suite_dir / "provenance.json", {}) or {}, axes, groups,
                        read_references(suite_dir))
