"""report.json and report.md: every check with its status, figures and criterion, and the
machine, versions, command and commit that produced them.

The markdown shows the same checks as the JSON, section by section (config.SECTIONS), with
numbers rounded to four significant digits; the JSON keeps them whole.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..results import atomic_write_text, write_json
from .config import SECTIONS
from .records import Check, Report, clean

MARK = {"pass": "pass", "fail": "**FAIL**", "skipped": "skipped"}


def folder_name(started: str, device_name: str) -> str:
    """<date>-<device>, e.g. 2026-12-01-nvidia-h200 (letters, digits and '-' only)."""
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "device"
    return f"{started[:10]}-{slug}"


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_num(x) for x in v[:8]) + (", …" if len(v) > 8 else "") + "]"
    return str(v)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def figures_text(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_num(v)}" for k, v in clean(figures).items())


def _row(c: Check) -> str:
    note = c.criterion if c.status == "pass" else (c.reason + (f" (criterion: {c.criterion})"
                                                               if c.criterion and c.status == "fail" else ""))
    return f"| {_cell(c.name)} | {MARK[c.status]} | {_cell(figures_text(c.figures))} | {_cell(note)} |"


def to_markdown(report: Report) -> str:
    env = report.environment
    counts = report.counts()
    lines = [f"# ganbench doctor: {env.get('device')} ({report.mode})", "",
             f"- started {report.started}, {report.seconds:.0f} s in all; "
             f"**{counts['pass']} pass, {counts['fail']} fail, {counts['skipped']} skipped**",
             f"- command: `{report.command}`",
             f"- commit {report.commit or 'unknown'}, ganbench {report.ganbench}, torch {env.get('torch')}"
             + (f" (CUDA {env['cuda']}, cuDNN {env.get('cudnn')})" if env.get("cuda") else "")
             + f", torch-fidelity {env.get('torch_fidelity') or 'not installed'}",
             f"- machine: {env.get('machine')}; data: {report.settings.get('data')}", ""]
    for key, title, measures in SECTIONS:
        rows = [c for c in report.checks if c.section == key]
        if not rows:
            continue
        secs = report.section_seconds.get(key)
        label = f"{key}. {title}" if key[0].isdigit() else title
        lines += [f"## {label}" + (f" ({secs:.0f} s)" if secs is not None else ""), "", f"Measures: {measures}.", "",
                  "| check | status | figures | criterion, or why not |", "|---|---|---|---|"]
        lines += [_row(c) for c in rows] + [""]
    return "\n".join(lines)


def write_report(report: Report, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, js = folder / "report.md", folder / "report.json"
    write_json(js, report.to_json())
    atomic_write_text(md, to_markdown(report))
    return md, js
