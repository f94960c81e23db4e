"""Publishing a suite folder: bring its plots up to date, then write the leaderboard pages.

The plots come first so the pages link the current ones; a plotting failure (matplotlib
missing, a damaged losses.csv) costs the plots and is said on the pages, never the
leaderboard.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .board import Board, build_board
from .containment import check_suite_dir
from .errors import GanbenchError
from .leaderboard import ALIASES, FORMATS, LINKED
from .plots import draw_all
from .plugins import Plugins
from .results import atomic_write_text


def _draw(suite_dir: Path, plugins: Plugins | None) -> str | None:
    """Draw the plots; what went wrong, if anything, as one line for the pages."""
    try:
        draw_all(suite_dir, plugins)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _board(suite_dir: Path, plugins: Plugins | None, draw: bool) -> Board:
    check_suite_dir(suite_dir)
    error = _draw(suite_dir, plugins) if draw else None
    board = build_board(suite_dir, plugins)
    return replace(board, plot_error=error) if error else board


def write_all(suite_dir: Path, plugins: Plugins | None = None) -> Board:
    """Plots, then leaderboard.md / .html / .json / .csv in the suite folder (atomic writes)."""
    suite_dir = Path(suite_dir)
    board = _board(suite_dir, plugins, draw=True)
    for fmt, render_fn in FORMATS.items():
        atomic_write_text(suite_dir / f"leaderboard.{fmt}", render_fn(board))
    return board


def render(suite_dir: Path, fmt: str, plugins: Plugins | None = None, out: Path | None = None,
           draw: bool = False) -> str:
    """One format as text (written to `out` when given). Paths in md and HTML are made
    relative to `out`'s folder, so a page published elsewhere still finds the images.
    draw=True brings the plots up to date first."""
    return render_board(suite_dir, fmt, plugins, out, draw)[0]


def render_board(suite_dir: Path, fmt: str, plugins: Plugins | None = None, out: Path | None = None,
                 draw: bool = False) -> tuple[str, Board]:
    """:func:`render`, and the board it rendered (what the command line reports on)."""
    fmt = ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise GanbenchError(f"unknown format '{fmt}'", hint=f"one of: {', '.join(FORMATS)}")
    suite_dir = Path(suite_dir)
    board = _board(suite_dir, plugins, draw)
    prefix = ""
    if out is not None and fmt in LINKED:
        rel = Path(os.path.relpath(suite_dir.resolve(), Path(out).resolve().parent)).as_posix()
        prefix = "" if rel == "." else rel.rstrip("/") + "/"
    text = FORMATS[fmt](board, prefix) if fmt in LINKED else FORMATS[fmt](board)
    if out is not None:
        atomic_write_text(Path(out), text)
    return text, board
