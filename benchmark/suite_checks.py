"""Suite checks that need the whole matrix: bounded expansion, an axis given twice, and what
matches or changes nothing ([[override]], --filter, --set). Each would otherwise be a silent
no-op or a hang, so each is an error naming the key and what to do instead."""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from .errors import GanbenchError
from .registry import PLUGIN_TABLES
from .runspec import RunSpec, show_value

#: the most runs one suite may expand to: a bigger matrix is a typo, not a plan
MAX_RUNS = 10_000
#: the largest suite file read; a hand-written suite is a few kB
MAX_SUITE_BYTES = 1 << 20


def check_axes(axes: dict[str, list[Any]], path_of: Callable[[str], tuple[str, ...] | None],
               where: Callable[[str], str]) -> None:
    """No two axes set the same key (seed and "train.seed"), no value listed twice in one
    axis, and a matrix that expands to at most MAX_RUNS cells, checked before expanding."""
    seen: dict[tuple[str, ...], str] = {}
    for axis, values in axes.items():
        key = f'matrix."{axis}"' if "." in axis else f"matrix.{axis}"
        path = path_of(axis) or ("classes",)
        if path in seen:
            raise GanbenchError(f"axes '{seen[path]}' and '{axis}' both set {'.'.join(path)}",
                                where=where(key), hint="keep one of the two axes")
        seen[path] = axis
        shown: dict[str, int] = {}
        for i, v in enumerate(values):
            text = json.dumps(v, sort_keys=True, default=str)
            if text in shown:
                raise GanbenchError(f"{show_value(v)} is listed twice (items {shown[text]} and {i})",
                                    where=where(f"{key}[{i}]"), hint="each value of an axis makes its own runs: "
                                                                    "list it once (seeds: use other seeds)")
            shown[text] = i
    cells = math.prod(len(v) for v in axes.values())
    if cells > MAX_RUNS:
        sizes = " × ".join(f"{a} {len(v)}" for a, v in axes.items())
        raise GanbenchError(f"the matrix expands to {cells:,} runs ({sizes}); at most {MAX_RUNS:,} are allowed",
                            where=where("matrix"), hint="split it into several suites or shorten an axis")


def check_overrides_used(overrides: list[dict[str, Any]], used: set[int], where: Callable[[str], str],
                         set_axes: set[str] = frozenset()) -> None:
    """Every [[override]] must match at least one cell: one that matches none is a typo. Not so
    when a --set replaced an axis it matches on: narrowing the matrix on the command line
    (matrix.dataset=["mnist"]) leaves the other cells' overrides idle, as --filter does."""
    for i, ov in enumerate(overrides):
        if i not in used and not set_axes & set(ov["match"]):
            match = ", ".join(f"{k} = {show_value(v)}" for k, v in ov["match"].items())
            raise GanbenchError(f"match {{ {match} }} matches no run of the matrix", where=where(f"override[{i}]"),
                                hint="match an axis value the matrix lists, or delete the override")


def check_filters_used(wanted: dict[str, list[Any]], runs: Iterable[RunSpec],
                       matches: Callable[[Any, Any], bool]) -> None:
    """Every --filter value must select at least one run."""
    runs = list(runs)
    for axis, values in wanted.items():
        for v in values:
            if not any(matches(r.coords[axis], v) for r in runs):
                have = sorted({show_value(r.coords[axis]) for r in runs})
                raise GanbenchError(f"--filter {axis}={show_value(v)} matches no run; this suite's {axis} values: "
                                    f"{', '.join(have)}", hint="check the value's spelling and type (seed=0)")


def check_sets_used(cli: dict[str, Any], runs: list[RunSpec]) -> None:
    """A --set of a plugin's table must reach a run that uses that plugin; else it changes nothing."""
    uses: dict[str, set[str]] = {table: set() for table in (*PLUGIN_TABLES, "metrics")}
    for r in runs:
        uses["models"].add(r.model)
        uses["datasets"].add(r.dataset)
        uses["losses"].update(r.loss_options)
        uses["optimizers"].add(r.train.optimizer)
        uses["augments"].update(r.augment_options)
        uses["metrics"].update(r.metrics.names)
    for table in uses:
        for name, value in (cli.get(table) or {}).items():
            if table == "metrics" and not isinstance(value, dict):
                continue  # a [metrics] key (num_samples), not a metric's own table
            if name not in uses[table]:
                runs_use = ", ".join(sorted(uses[table])) or "none"
                raise GanbenchError(f"--set {table}.{name}...: no run of this suite uses {table[:-1]} '{name}', "
                                    f"so it changes nothing (the runs use: {runs_use})",
                                    hint="set the table of a plugin the runs use, or add it to the matrix")
