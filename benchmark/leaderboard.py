"""Leaderboards: group runs by every matrix axis except the seed, aggregate scores as
mean ± std (n), rank by the primary metric, and never rank rows whose evaluation
protocols differ (they go to separate tables)."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any, Optional

from .errors import GanbenchError
from .results import atomic_write_text, list_runs, read_json

#: protocol keys that describe a sample or timing, not how a score is defined
_VOLATILE = {"seconds", "generation_seconds", "time"}


def _directions(plugins: Any) -> dict[str, bool]:
    out: dict[str, bool] = {}
    if plugins is None:
        return out
    for name in plugins.metrics:
        for s in plugins.metrics.get(name).scores:
            out[s.name] = s.higher_is_better
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "+".join(str(x) for x in v)
    return str(v)


def _signature(protocol: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in protocol.items() if k not in _VOLATILE}, sort_keys=True, default=str)


def _agg(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def build(suite_dir: Path, plugins: Any = None) -> dict[str, Any]:
    """The leaderboard as data: {suite, provenance, primary, axes, tables: [...]}."""
    suite_dir = Path(suite_dir)
    runs = list_runs(suite_dir)
    if not runs:
        raise GanbenchError(f"no runs under {suite_dir}", hint="run a suite first: ganbench run suites/quickstart.toml")
    provenance = read_json(suite_dir / "provenance.json", {}) or {}
    directions = _directions(plugins)
    axes: list[str] = []
    for r in runs:
        for a in r["config"].get("coords", {}):
            if a != "seed" and a not in axes:
                axes.append(a)
    primary = provenance.get("primary") or next(
        (r["config"].get("metrics", {}).get("primary") for r in runs if r["config"].get("metrics")), "")
    higher = directions.get(primary, False)
    groups: dict[str, dict[str, Any]] = {}
    for r in runs:
        coords = r["config"].get("coords", {})
        key = json.dumps({a: coords.get(a) for a in axes}, sort_keys=True, default=str)
        g = groups.setdefault(key, {"coords": {a: coords.get(a) for a in axes}, "runs": []})
        g["runs"].append(r)
    tables: dict[str, dict[str, Any]] = {}
    for g in groups.values():
        done = [r for r in g["runs"] if r["status"].get("state") == "done" and r["final"]]
        states = [r["status"].get("state", "pending") for r in g["runs"]]
        sig = _signature(done[0]["final"].get("protocol", {})) if done else "null"
        # rows whose seeds were scored under different protocols are split too
        by_sig: dict[str, list[dict[str, Any]]] = {}
        for r in done:
            by_sig.setdefault(_signature(r["final"].get("protocol", {})), []).append(r)
        if not by_sig:
            by_sig[sig] = []
        for s, members in by_sig.items():
            scores: dict[str, list[float]] = {}
            for r in members:
                for k, v in r["final"]["scores"].items():
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        scores.setdefault(k, []).append(float(v))
            tp = [r["throughput"].get("train_img_per_s") for r in members if r["throughput"].get("train_img_per_s")]
            best_steps = [r["status"].get("best", {}).get("step") for r in members if r["status"].get("best")]
            sample = next((sorted((r["dir"] / "samples").glob("step_*.png"))[-1] for r in members
                           if (r["dir"] / "samples").is_dir() and any((r["dir"] / "samples").glob("step_*.png"))),
                          None)
            row = {
                "coords": g["coords"],
                "scores": {k: _agg(v) for k, v in sorted(scores.items())},
                "runs": [r["run_id"] for r in g["runs"]],
                "seeds": [r["config"].get("coords", {}).get("seed", r["config"].get("train", {}).get("seed"))
                          for r in members],
                "done": len(members), "failed": states.count("failed"), "diverged": states.count("diverged"),
                "pending": sum(1 for x in states if x in ("pending", "running")),
                "errors": [r["status"].get("error") for r in g["runs"] if r["status"].get("error")],
                "train_img_per_s": _agg(tp) if tp else None,
                "best_step": best_steps[0] if len(set(best_steps)) == 1 and best_steps else best_steps,
                "sample": os.path.relpath(sample, suite_dir) if sample else None,
                "extra": {},
            }
            t = tables.setdefault(s, {"protocol": json.loads(s) if s != "null" else None, "rows": []})
            t["rows"].append(row)
    extra_cols: list[str] = []
    if plugins is not None:
        all_rows = [row for t in tables.values() for row in t["rows"]]
        for cols in plugins.hook.ganbench_leaderboard_columns(rows=all_rows):
            extra_cols += [c for c in (cols or []) if c not in extra_cols]
    out_tables = []
    for t in tables.values():
        def key(row: dict[str, Any]) -> tuple[int, float]:
            s = row["scores"].get(primary)
            if s is None:
                return (1, 0.0)
            return (0, -s["mean"] if higher else s["mean"])
        t["rows"].sort(key=key)
        for i, row in enumerate(t["rows"], 1):
            row["rank"] = i if primary in row["scores"] else None
        out_tables.append(t)
    out_tables.sort(key=lambda t: t["protocol"] is None)
    score_names = sorted({k for t in out_tables for r in t["rows"] for k in r["scores"]},
                         key=lambda k: (k != primary, k))
    return {"suite": provenance.get("suite", suite_dir.name), "provenance": provenance, "primary": primary,
            "higher_is_better": higher, "axes": axes, "scores": score_names, "extra_columns": extra_cols,
            "directions": {k: directions.get(k) for k in score_names}, "tables": out_tables}


def _cell(agg: Optional[dict[str, Any]], digits: int = 3) -> str:
    if not agg:
        return "–"
    if agg["n"] > 1:
        return f"{agg['mean']:.{digits}f} ± {agg['std']:.{digits}f} ({agg['n']})"
    return f"{agg['mean']:.{digits}f} (1)"


def _protocol_lines(protocol: Optional[dict[str, Any]]) -> list[str]:
    if not protocol:
        return ["Protocol: no finished evaluation."]
    parts = []
    for k, v in protocol.items():
        if isinstance(v, dict):
            parts.append(f"{k}: " + ", ".join(f"{a}={b}" for a, b in v.items()))
        else:
            parts.append(f"{k}={_fmt(v) if v != [] else 'all'}")
    return ["Protocol: " + "; ".join(parts)]


def to_markdown(board: dict[str, Any], link_prefix: str = "") -> str:
    p = board["provenance"]
    arrow = "↑" if board["higher_is_better"] else "↓"
    lines = [f"# Leaderboard: {board['suite']}", ""]
    if p.get("description"):
        lines += [p["description"], ""]
    lines += [f"Ranked by **{board['primary']}** ({arrow} better). Scores are mean ± std (n seeds).", ""]
    prov = [f"ganbench {p.get('ganbench', '?')}", f"git {p.get('git_commit') or 'n/a'}",
            f"torch {p.get('torch', '?')}", f"device {p.get('device', '?')}", f"date {p.get('date', '?')}",
            f"suite hash {p.get('suite_hash', '?')}"]
    lines += ["Provenance: " + ", ".join(prov), ""]
    if p.get("command"):
        lines += [f"Command: `{p['command']}`", ""]
    scores = board["scores"]
    dirs = board["directions"]
    for i, t in enumerate(board["tables"], 1):
        if len(board["tables"]) > 1:
            lines += [f"## Table {i} (one evaluation protocol)", ""]
        lines += _protocol_lines(t["protocol"]) + [""]
        head = ["rank", *board["axes"],
                *[f"{s} {'↑' if dirs.get(s) else '↓' if dirs.get(s) is False else ''}".strip() for s in scores],
                "train img/s", "best step", "runs", *board["extra_columns"], "samples"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for row in t["rows"]:
            status = f"{row['done']} done"
            if row["failed"]:
                status += f", {row['failed']} failed"
            if row["diverged"]:
                status += f", {row['diverged']} diverged"
            if row["pending"]:
                status += f", {row['pending']} pending"
            img = f"![samples]({link_prefix}{row['sample']})" if row["sample"] else ""
            tp = row["train_img_per_s"]
            cells = [str(row["rank"] or "–"), *[_fmt(row["coords"].get(a)) for a in board["axes"]],
                     *[_cell(row["scores"].get(s)) for s in scores],
                     f"{tp['mean']:.0f}" if tp else "–", _fmt(row["best_step"]) if row["best_step"] else "–",
                     status, *[str(row["extra"].get(c, "")) for c in board["extra_columns"]], img]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        errors = [e for row in t["rows"] for e in row["errors"]]
        if errors:
            lines += ["Failed or diverged runs:", ""] + [f"- {e.splitlines()[0]}" for e in errors] + [""]
    plots = p.get("plots") or []
    if plots:
        lines += ["## Plots", ""] + [f"- [{Path(x).stem}]({link_prefix}{x})" for x in plots] + [""]
    return "\n".join(lines)


def to_csv(board: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["table", "rank", *board["axes"]]
    for s in board["scores"]:
        head += [f"{s}_mean", f"{s}_std", f"{s}_n"]
    head += ["train_img_per_s", "done", "failed", "diverged", *board["extra_columns"]]
    w.writerow(head)
    for i, t in enumerate(board["tables"], 1):
        for row in t["rows"]:
            cells: list[Any] = [i, row["rank"] or "", *[_fmt(row["coords"].get(a)) for a in board["axes"]]]
            for s in board["scores"]:
                a = row["scores"].get(s)
                cells += [f"{a['mean']:.6g}", f"{a['std']:.6g}", a["n"]] if a else ["", "", 0]
            tp = row["train_img_per_s"]
            cells += [f"{tp['mean']:.4g}" if tp else "", row["done"], row["failed"], row["diverged"],
                      *[row["extra"].get(c, "") for c in board["extra_columns"]]]
            w.writerow(cells)
    return buf.getvalue()


def to_json(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, default=str) + "\n"


FORMATS = {"md": to_markdown, "json": to_json, "csv": to_csv}


def write_all(suite_dir: Path, plugins: Any = None) -> dict[str, Any]:
    """leaderboard.md / .json / .csv in the suite folder (atomic writes)."""
    board = build(suite_dir, plugins)
    for fmt, render in FORMATS.items():
        atomic_write_text(Path(suite_dir) / f"leaderboard.{fmt}", render(board))
    return board


def render(suite_dir: Path, fmt: str, plugins: Any = None, out: Optional[Path] = None) -> str:
    if fmt not in FORMATS:
        raise GanbenchError(f"unknown format '{fmt}'", hint=f"one of: {', '.join(FORMATS)}")
    board = build(suite_dir, plugins)
    prefix = ""
    if out is not None and fmt == "md":
        rel = os.path.relpath(Path(suite_dir).resolve(), Path(out).resolve().parent)
        prefix = "" if rel == "." else rel.rstrip("/") + "/"
    text = FORMATS[fmt](board, prefix) if fmt == "md" else FORMATS[fmt](board)
    if out is not None:
        atomic_write_text(Path(out), text)
    return text
