"""Leaderboards: group runs by every matrix axis except the seed, aggregate scores as
mean ± std (n), rank by the primary metric, and never rank rows whose evaluation
protocols differ (they go to separate tables).

Rendered as markdown, HTML, JSON and CSV. Every link and image path is relative to
the suite folder (or, with `out`, to the file written), so the folder can be
published as it is: a repository README, a wiki page, a static site.
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

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


def _rel(path: Optional[Path], suite_dir: Path) -> Optional[str]:
    return Path(os.path.relpath(path, suite_dir)).as_posix() if path is not None else None


def _images(members: list[dict[str, Any]], suite_dir: Path) -> dict[str, Optional[str]]:
    """The row's pictures, from its first seed that has them: a small thumbnail (thumb.png,
    or the last full grid for runs written before thumbnails), the last grid, the GIF."""
    for r in members:
        grids = sorted((r["dir"] / "samples").glob("step_*.png")) if (r["dir"] / "samples").is_dir() else []
        thumb = r["dir"] / "thumb.png"
        if not grids and not thumb.is_file():
            continue
        gif = r["dir"] / "progress.gif"
        last = grids[-1] if grids else None
        return {"sample": _rel(thumb if thumb.is_file() else last, suite_dir), "grid": _rel(last, suite_dir),
                "gif": _rel(gif, suite_dir) if gif.is_file() else None,
                "sample_seed": r["config"].get("coords", {}).get("seed", r["config"].get("train", {}).get("seed"))}
    return {"sample": None, "grid": None, "gif": None, "sample_seed": None}


def build(suite_dir: Path, plugins: Any = None) -> dict[str, Any]:
    """The leaderboard as data: {suite, provenance, primary, axes, tables: [...], plots}."""
    from .plots import group_runs, plot_index

    suite_dir = Path(suite_dir)
    runs = list_runs(suite_dir)
    if not runs:
        raise GanbenchError(f"no runs under {suite_dir}", hint="run a suite first: ganbench run suites/quickstart.toml")
    provenance = read_json(suite_dir / "provenance.json", {}) or {}
    directions = _directions(plugins)
    axes, groups = group_runs(runs)
    primary = provenance.get("primary") or next(
        (r["config"].get("metrics", {}).get("primary") for r in runs if r["config"].get("metrics")), "")
    higher = directions.get(primary, False)
    tables: dict[str, dict[str, Any]] = {}
    for g in groups:
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
                **_images(members or g["runs"], suite_dir),
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
    plots = plot_index(suite_dir) or [{"path": x, "kind": "other", "title": Path(x).stem}
                                      for x in provenance.get("plots") or [] if (suite_dir / x).is_file()]
    return {"suite": provenance.get("suite", suite_dir.name), "provenance": provenance, "primary": primary,
            "higher_is_better": higher, "axes": axes, "scores": score_names, "extra_columns": extra_cols,
            "directions": {k: directions.get(k) for k in score_names}, "tables": out_tables, "plots": plots}


# -- shared pieces of the markdown and HTML renderings ---------------------------------
def _cell(agg: Optional[dict[str, Any]], digits: int = 3) -> str:
    if not agg:
        return "–"
    if agg["n"] > 1:
        return f"{agg['mean']:.{digits}f} ± {agg['std']:.{digits}f} ({agg['n']})"
    return f"{agg['mean']:.{digits}f} (1)"


def _protocol_text(protocol: Optional[dict[str, Any]]) -> str:
    if not protocol:
        return "Protocol: no finished evaluation."
    parts = []
    for k, v in protocol.items():
        if isinstance(v, dict):
            parts.append(f"{k}: " + ", ".join(f"{a}={b}" for a, b in v.items()))
        else:
            parts.append(f"{k}={_fmt(v) if v != [] else 'all'}")
    return "Protocol: " + "; ".join(parts)


def _protocol_lines(protocol: Optional[dict[str, Any]]) -> list[str]:
    return [_protocol_text(protocol)]


def _url(prefix: str, path: str) -> str:
    """A relative link: the suite-relative path behind the publishing prefix, with
    characters that break markdown or HTML links (spaces, parentheses, quotes) escaped."""
    return quote(prefix + path, safe="/+-_.~:@!$&*,;=")


def _provenance_items(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [("ganbench", str(p.get("ganbench", "?"))), ("git", str(p.get("git_commit") or "n/a")),
            ("torch", str(p.get("torch", "?"))), ("device", str(p.get("device", "?"))),
            ("date", str(p.get("date", "?"))), ("suite hash", str(p.get("suite_hash", "?")))]


def _head(board: dict[str, Any]) -> list[str]:
    dirs = board["directions"]
    return ["rank", *board["axes"],
            *[f"{s} {'↑' if dirs.get(s) else '↓' if dirs.get(s) is False else ''}".strip() for s in board["scores"]],
            "train img/s", "best step", "runs", *board["extra_columns"], "samples"]


def _status(row: dict[str, Any]) -> str:
    status = f"{row['done']} done"
    if row["failed"]:
        status += f", {row['failed']} failed"
    if row["diverged"]:
        status += f", {row['diverged']} diverged"
    if row["pending"]:
        status += f", {row['pending']} pending"
    return status


def _cells(board: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """Every text cell of a row except the samples cell."""
    tp = row["train_img_per_s"]
    return [str(row["rank"] or "–"), *[_fmt(row["coords"].get(a)) for a in board["axes"]],
            *[_cell(row["scores"].get(s)) for s in board["scores"]],
            f"{tp['mean']:.0f}" if tp else "–", _fmt(row["best_step"]) if row["best_step"] else "–",
            _status(row), *[str(row["extra"].get(c, "")) for c in board["extra_columns"]]]


def _loss_plot_groups(plots: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in plots:
        if e.get("kind") == "losses":
            groups.setdefault(str(e.get("group", "")), []).append(e)
    return list(groups.items())


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


# -- markdown ---------------------------------------------------------------------------
def to_markdown(board: dict[str, Any], link_prefix: str = "") -> str:
    p = board["provenance"]
    arrow = "↑" if board["higher_is_better"] else "↓"
    lines = [f"# Leaderboard: {board['suite']}", ""]
    if p.get("description"):
        lines += [p["description"], ""]
    lines += [f"Ranked by **{board['primary']}** ({arrow} better). Scores are mean ± std (n seeds).", ""]
    lines += ["Provenance: " + ", ".join(f"{k} {v}" for k, v in _provenance_items(p)), ""]
    if p.get("command"):
        lines += [f"Command: `{p['command']}`", ""]
    for i, t in enumerate(board["tables"], 1):
        if len(board["tables"]) > 1:
            lines += [f"## Table {i} (one evaluation protocol)", ""]
        lines += _protocol_lines(t["protocol"]) + [""]
        head = _head(board)
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for row in t["rows"]:
            img = ""
            if row["sample"]:
                img = f"![samples]({_url(link_prefix, row['sample'])})"
                target = row.get("gif") or row.get("grid")
                if target:
                    img = f"[{img}]({_url(link_prefix, target)})"
            lines.append("| " + " | ".join(_md_escape(c) for c in [*_cells(board, row), img]) + " |")
        lines.append("")
        if any(r["sample"] for r in t["rows"]):
            lines += ["Samples: the first seed's fixed-z samples at the last step; "
                      "each links to its progress GIF.", ""]
        errors = [e for row in t["rows"] for e in row["errors"]]
        if errors:
            lines += ["Failed or diverged runs:", ""] + [f"- {e.splitlines()[0]}" for e in errors] + [""]
    plots = board.get("plots") or []
    if plots:
        lines += ["## Plots", ""]
        for e in plots:
            if e.get("kind") != "losses":
                lines += [f"### {e['title']}", "", f"![{e['title']}]({_url(link_prefix, e['path'])})", ""]
        losses = _loss_plot_groups(plots)
        if losses:
            lines += ["### G and D losses per run", ""]
            for group, entries in losses:
                links = " · ".join(f"[seed {e.get('seed')}]({_url(link_prefix, e['path'])})" for e in entries)
                lines.append(f"- {group or 'run'}: {links}")
            lines.append("")
    if board.get("plot_error"):
        lines += [f"Plots could not be drawn: {board['plot_error']}", ""]
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 78rem; padding: 0 1rem; color: #1b1f24; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .55rem; text-align: left; vertical-align: middle; }
th { background: #f6f8fa; } tbody tr:nth-child(even) { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
img.thumb { height: 6rem; image-rendering: pixelated; display: block; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { font-size: .85rem; color: #57606a; }
dl.prov { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; font-size: .9rem; }
dl.prov dt { font-weight: 600; } dl.prov dd { margin: 0; }
p.protocol { font-size: .85rem; color: #424a53; overflow-wrap: anywhere; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 3px; overflow-wrap: anywhere; }
.errors li { color: #a40e26; }
"""


def to_html(board: dict[str, Any], link_prefix: str = "") -> str:
    """One static page: no script, no external style sheet or font; images by relative path."""
    e = html.escape
    p = board["provenance"]
    arrow = "↑" if board["higher_is_better"] else "↓"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Leaderboard: {e(str(board['suite']))}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>Leaderboard: {e(str(board['suite']))}</h1>"]
    if p.get("description"):
        out.append(f"<p>{e(p['description'])}</p>")
    out.append(f"<p>Ranked by <strong>{e(board['primary'])}</strong> ({arrow} better). "
               "Scores are mean ± std (n seeds).</p>")
    out.append('<dl class="prov">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _provenance_items(p))
               + (f"<dt>command</dt><dd><code>{e(p['command'])}</code></dd>" if p.get("command") else "") + "</dl>")
    head = _head(board)
    first = 1 + len(board["axes"])  # scores, train img/s and best step are right-aligned numbers
    numeric = {0, *range(first, first + len(board["scores"]) + 2)}
    for i, t in enumerate(board["tables"], 1):
        if len(board["tables"]) > 1:
            out.append(f"<h2>Table {i} (one evaluation protocol)</h2>")
        out.append(f'<p class="protocol">{e(_protocol_text(t["protocol"]))}</p>')
        out.append("<table>")
        out.append("<thead><tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in head) + "</tr></thead>")
        out.append("<tbody>")
        for row in t["rows"]:
            cells = [f'<td class="num">{e(c)}</td>' if j in numeric else f"<td>{e(c)}</td>"
                     for j, c in enumerate(_cells(board, row))]
            img = ""
            if row["sample"]:
                alt = f"samples of {', '.join(_fmt(row['coords'].get(a)) for a in board['axes'])}, " \
                      f"seed {row.get('sample_seed')}"
                img = f'<img class="thumb" src="{e(_url(link_prefix, row["sample"]))}" alt="{e(alt)}">'
                target = row.get("gif") or row.get("grid")
                if target:
                    img = f'<a href="{e(_url(link_prefix, target))}">{img}</a>'
            out.append("<tr>" + "".join(cells) + f"<td>{img}</td></tr>")
        out.append("</tbody></table>")
        if any(r["sample"] for r in t["rows"]):
            out.append("<p>Samples: the first seed's fixed-z samples at the last step; "
                       "each links to its progress GIF.</p>")
        errors = [x for row in t["rows"] for x in row["errors"]]
        if errors:
            out.append("<p>Failed or diverged runs:</p><ul class=\"errors\">"
                       + "".join(f"<li>{e(x.splitlines()[0])}</li>" for x in errors) + "</ul>")
    plots = board.get("plots") or []
    if plots:
        out.append("<h2>Plots</h2>")
        for x in plots:
            if x.get("kind") != "losses":
                src = e(_url(link_prefix, x["path"]))
                out.append(f'<figure><a href="{src}"><img src="{src}" alt="{e(x["title"])}"></a>'
                           f"<figcaption>{e(x['title'])}</figcaption></figure>")
        losses = _loss_plot_groups(plots)
        if losses:
            out.append("<h3>G and D losses per run</h3><ul>")
            for group, entries in losses:
                links = " · ".join(f'<a href="{e(_url(link_prefix, x["path"]))}">seed {e(str(x.get("seed")))}</a>'
                                   for x in entries)
                out.append(f"<li>{e(group or 'run')}: {links}</li>")
            out.append("</ul>")
    if board.get("plot_error"):
        out.append(f"<p>Plots could not be drawn: {e(board['plot_error'])}</p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# -- CSV and JSON -----------------------------------------------------------------------
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


FORMATS = {"md": to_markdown, "html": to_html, "json": to_json, "csv": to_csv}
#: formats whose links are rewritten when the file is written outside the suite folder
LINKED = ("md", "html")
ALIASES = {"markdown": "md", "htm": "html"}


def _draw(suite_dir: Path, plugins: Any) -> Optional[str]:
    """Bring the plots up to date; a plotting failure costs the plots, never the leaderboard."""
    try:
        from .plots import draw_all
    except ImportError as exc:  # matplotlib missing
        return f"{exc}"
    try:
        draw_all(suite_dir, plugins)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def write_all(suite_dir: Path, plugins: Any = None) -> dict[str, Any]:
    """Plots, then leaderboard.md / .html / .json / .csv in the suite folder (atomic
    writes); the plots come first so the pages link the current ones."""
    error = _draw(Path(suite_dir), plugins)
    board = build(suite_dir, plugins)
    if error:
        board["plot_error"] = error
    for fmt, render_fn in FORMATS.items():
        atomic_write_text(Path(suite_dir) / f"leaderboard.{fmt}", render_fn(board))
    return board


def render(suite_dir: Path, fmt: str, plugins: Any = None, out: Optional[Path] = None,
           draw: bool = False) -> str:
    """One format as text (written to `out` when given). Paths in md and HTML are made
    relative to `out`'s folder, so a page published elsewhere still finds the images.
    draw=True brings the plots up to date first."""
    fmt = ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise GanbenchError(f"unknown format '{fmt}'", hint=f"one of: {', '.join(FORMATS)}")
    error = _draw(Path(suite_dir), plugins) if draw else None
    board = build(suite_dir, plugins)
    if error:
        board["plot_error"] = error
    prefix = ""
    if out is not None and fmt in LINKED:
        rel = Path(os.path.relpath(Path(suite_dir).resolve(), Path(out).resolve().parent)).as_posix()
        prefix = "" if rel == "." else rel.rstrip("/") + "/"
    text = FORMATS[fmt](board, prefix) if fmt in LINKED else FORMATS[fmt](board)
    if out is not None:
        atomic_write_text(Path(out), text)
    return text
