"""A suite folder read back: one :class:`RunRecord` per run folder, grouped into rows.

Grouping rule: a :class:`Group` holds the runs of one matrix cell (every coordinate but the
seed) whose resolved training configs are equal: config.json without run id, coordinates,
seed, the evaluation settings ([metrics], which split tables by protocol anyway) and the
[train] keys in :data:`NEUTRAL`. Where one cell has runs of several configs (a suite edit, a
``--set``), the config of the newest run (config.json written last) makes the current group;
the others are *stale* groups: their own rows on the board, marked, unranked and named in a
warning, never averaged into the current row, and left out of the score and throughput plots.
A damaged run (``damage.py``: a file that does not read back) is in no group: the board lists
it, with why, among the runs it left out. Nothing here writes to the suite folder.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .damage import Damage, is_run_folder, read_run_files
from .references import read_references
from .results import read_json
from .runspec import show_value

#: [train] keys that change no weight (logs, checkpoints, pictures, the evaluation cadence: evaluations
#: run under their own RNG) and the device: runs differing only in these still share a row
NEUTRAL = frozenset({"log_every", "checkpoint_every", "eval_every", "sample_every", "num_final_images", "num_best_images",
                     "grid_size", "device", "explode_factor", "explode_max", "collapse_std",
                     "collapse_logs"})


@dataclass(frozen=True)
class RunRecord:
    """One run folder as written: config.json, status.json, evals.jsonl, throughput.json;
    ``damage`` when one of its files does not read back (then config is {} unless the damage
    is elsewhere, and its evaluations are not used)."""

    dir: Path
    config: dict[str, Any]
    status: dict[str, Any]
    evals: list[dict[str, Any]]
    final: dict[str, Any] | None
    throughput: dict[str, Any]
    written: int = 0  # config.json's mtime (ns): when the run was last started with this config
    damage: Damage | None = None

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
        return "damaged" if self.damage else self.status.get("state", "pending")


def load_run(run_dir: Path) -> RunRecord:
    run_dir = Path(run_dir)
    files = read_run_files(run_dir)
    try:
        written = (run_dir / "config.json").stat().st_mtime_ns
    except OSError:
        written = 0
    evals = files.evals
    return RunRecord(dir=run_dir, config=files.config, status=files.status, evals=evals,
                     final=next((e for e in reversed(evals) if e.get("final")), None),
                     throughput=files.throughput, written=written, damage=files.damage)


def list_runs(suite_dir: Path) -> list[RunRecord]:
    """Every run folder of the suite (one with a config.json, status.json, evals.jsonl or
    checkpoint.pt: a folder that lost its config.json is still a run, a damaged one), in name order."""
    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        return []
    return [load_run(p) for p in sorted(suite_dir.iterdir()) if is_run_folder(p)]


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
class LeftOut:
    """A damaged run: in no row's scores. coords: its matrix cell, when its config.json still says."""

    run_id: str
    file: str
    message: str
    coords: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "file": self.file, "message": self.message, "coords": self.coords}


@dataclass(frozen=True)
class SuiteResults:
    """A suite folder: its runs, grouped, and its provenance.json."""

    dir: Path
    runs: list[RunRecord]
    provenance: dict[str, Any]
    axes: list[str]
    groups: list[Group]
    references: list[dict[str, Any]] = field(default_factory=list)
    provenance_problem: str = ""  # how provenance.json does not read back (then provenance is {})

    @property
    def damaged(self) -> list[RunRecord]:
        """The runs left out of every group: a file of theirs does not read back."""
        return [r for r in self.runs if r.damage]

    @property
    def left_out(self) -> list[LeftOut]:
        """The damaged runs as the pages list them, each with its cell when its config.json can be trusted."""
        return [LeftOut(r.run_id, r.damage.file, r.damage.message, dict(r.coords) if r.config else {})
                for r in self.runs if r.damage]

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
    axes, groups = group_runs([r for r in runs if not r.damage])
    provenance, problem = read_provenance(suite_dir)
    return SuiteResults(suite_dir, runs, provenance, axes, groups, read_references(suite_dir), problem)


#: provenance.json keys the pages read, and the JSON types they must have
PROVENANCE_TYPES = {"suite": str, "primary": str, "device": str, "description": str, "command": str,
                    "reported": list, "compare_losses": list, "plots": list, "axes": list, "earlier": list}


def read_provenance(suite_dir: Path) -> tuple[dict[str, Any], str]:
    """(provenance.json, "") or ({}, how it does not read back); a missing one is ({}, "")."""
    path = Path(suite_dir) / "provenance.json"
    if not path.exists():
        return {}, ""
    data = read_json(path)
    if not isinstance(data, dict):
        return {}, "does not read back as a JSON object"
    bad = [k for k, t in PROVENANCE_TYPES.items() if data.get(k) is not None and not isinstance(data[k], t)]
    bad += [f"reported[{i}]" for i, e in enumerate(data.get("reported") or []) if not isinstance(e, dict)]
    bad += ["compare_losses"] if not all(isinstance(c, str) for c in data.get("compare_losses") or []) else []
    if bad:
        return {}, f"has keys of the wrong type ({', '.join(bad)})"
    return data, ""
