"""A bench result as a terminal table, as markdown, and as JSON on disk (``--json``/``--from``).

Both tables show the same rows (:func:`table_rows`): one per ratio and one per training
efficiency, each with its goal and whether it was met.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Optional

from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import GanbenchError
from ..results import write_json
from .records import BenchResult

#: the variant each ratio compares ganbench with, and its short label in the table
_BASELINES = {"vs_dataloader": "plain_dataloader", "vs_tensor": "plain_tensor", "vs_plain": "plain",
              "vs_direct": "direct", "vs_sequential": "sequential", "vs_eager": "eager"}
_LABELS = {"plain_dataloader": "DataLoader", "plain_tensor": "tensor", "plain": "G(z) loop",
           "direct": "fidelity", "sequential": "sequential", "eager": "eager"}


class Row(NamedTuple):
    case: str
    against: str
    ganbench: str
    baseline: str
    unit: str
    ratio: str
    goal: str
    met: Optional[bool]


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _goal_text(value: float, goal: Optional[float], pct: bool = False) -> tuple[str, Optional[bool]]:
    if goal is None:
        return "", None
    return (f"≥ {100 * goal:.0f}%" if pct else f"≥ {goal:.2f}"), value >= goal


def table_rows(result: BenchResult) -> list[Row]:
    """Every ratio and efficiency: what both the terminal table and the markdown table show."""
    rows = []
    for c in result.cases:
        med = c.median
        ours = med[next(iter(med))]
        for key, value in c.ratios.items():
            base = _BASELINES.get(key, key)
            goal, met = _goal_text(value, c.goals.get(key))
            rows.append(Row(c.name, _LABELS.get(base, base), _num(ours), _num(med.get(base, float("nan"))),
                            c.unit, f"{value:.2f}x", goal, met))
    for name, e in result.efficiency.items():
        goal, met = _goal_text(e.efficiency, e.goal, pct=True)
        rows.append(Row(name, "matmul", f"{e.achieved_gflops:.1f}", f"{result.matmul_gflops:.0f}", "GFLOP/s",
                        f"{100 * e.efficiency:.0f}%", goal, met))
    return rows


def _title(result: BenchResult) -> str:
    return (f"ganbench bench{' --quick' if result.quick else ''}: {result.device}, "
            f"{result.threads} threads, matmul {result.matmul_gflops:.0f} GFLOP/s")


def _caption(result: BenchResult) -> str:
    la = result.load_average
    return (f"ratio = ganbench speed / baseline speed, median of per-repeat ratios; "
            f"load average {la.start:.1f} → {la.end:.1f}")


def render(result: BenchResult, console: Console) -> None:
    """The ratio table (rich), narrow enough for an 80-column CI log."""
    table = Table(title=_title(result), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, caption=_caption(result), caption_justify="left")
    table.add_column("case", no_wrap=True, min_width=17)
    for col in ("against", "ganbench", "baseline", "unit", "ratio", "goal"):
        table.add_column(col, justify="left" if col in ("against", "unit") else "right", no_wrap=True)
    for row in table_rows(result):
        table.add_row(*row[:6], row.goal + ("" if row.met is None else " [green]ok[/]" if row.met else " [red]no[/]"))
    console.print(table)
    missed = result.missed()
    if missed:
        console.print(f"missed goals ({', '.join(missed)}): "
                      "`python scripts/profile_step.py --model M --width W` shows where a step's time goes")
    if result.under_load:
        console.print("[bold yellow]UNDER LOAD[/]: the load average exceeded the cores while measuring; "
                      "these ratios are distorted, rerun on a quiet machine")
    for s in result.skipped:
        console.print(f"[yellow]skipped[/] {s.name}: {s.reason}")


def to_markdown(result: BenchResult) -> str:
    """The same table as markdown, for a README or a results page."""
    lines = [f"**{_title(result)}** ({_caption(result)})", "",
             "| case | against | ganbench | baseline | unit | ratio | goal |", "|---|---|---:|---:|---|---:|---|"]
    for row in table_rows(result):
        cells = [*row[:6], row.goal + ("" if row.met is None else " ✓" if row.met else " ✗")]
        lines.append("| " + " | ".join(cells) + " |")
    extra = [f"- compile/{c.name.split('/', 1)[1]}: first compiled step {c.details['first_step_seconds']:.1f} s "
             f"(compile ≈ {c.details['compile_seconds']:.1f} s)" for c in result.cases if c.kind == "compile"]
    extra += [f"- skipped {s.name}: {s.reason}" for s in result.skipped]
    if result.under_load:
        extra.append("- UNDER LOAD: the load average exceeded the cores while measuring")
    return "\n".join(lines + ([""] + extra if extra else [])) + "\n"


def write_result(result: BenchResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result.to_json())


def read_result(path: Path) -> BenchResult:
    """A result written by ``--json`` (by this version or an earlier one)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GanbenchError(f"cannot read a bench result from {path}: {exc}",
                            hint="pass a file written by `ganbench bench --json FILE`") from None
    return BenchResult.from_json(data, str(path))
