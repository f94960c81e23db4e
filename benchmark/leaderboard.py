"""Leaderboard pages: one typed :class:`~ganbench.board.Board` rendered as markdown,
HTML, JSON and CSV.

The board (built in ``board.py``) groups runs by every matrix axis except the seed and by
their resolved training config, aggregates scores as mean ± std (n), ranks by the primary
metric and never ranks rows whose evaluation protocols differ (they are separate tables).
Each table opens with its protocol's real-data row (the floor) and closes with its
untrained-G rows (the ceiling), marked and unranked, without thumbnails; stale rows (an
older config of the same coordinates) come after the ranked ones, marked "stale"; damaged
runs (a file that does not read back) are listed, with why, as runs the page left out. Every
link and image path is relative to the suite folder (or to a publishing prefix), so the
folder can be published as it is: a repository README, a wiki page, a static site.
"""
from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable
from urllib.parse import quote

from .board import Aggregate, Board, PlotEntry, ReferenceRow, Row, Table
from .references import REAL
from .reported import REPORTED
from .runspec import show_value


# -- shared pieces of the markdown and HTML renderings ---------------------------------
def _cell(agg: Aggregate | None, digits: int = 3) -> str:
    if agg is None:
        return "–"
    if agg.n > 1:
        return f"{agg.mean:.{digits}f} ± {agg.std:.{digits}f} ({agg.n})"
    return f"{agg.mean:.{digits}f} (1)"


def _reported_cell(agg: Aggregate | None) -> str:
    """A published number as published: no seed count, no spread."""
    return "–" if agg is None else f"{agg.mean:g}"


def _protocol_text(protocol: dict[str, object] | None) -> str:
    if not protocol:
        return "Protocol: no finished evaluation."
    parts = []
    for k, v in protocol.items():
        if isinstance(v, dict):
            parts.append(f"{k}: " + ", ".join(f"{a}={b}" for a, b in v.items()))
        else:
            parts.append(f"{k}={show_value(v) if v != [] else 'all'}")
    return "Protocol: " + "; ".join(parts)


def _url(prefix: str, path: str) -> str:
    """A relative link: the suite-relative path behind the publishing prefix, with
    characters that break markdown or HTML links (spaces, parentheses, quotes) escaped."""
    return quote(prefix + path, safe="/+-_.~:@!$&*,;=")


def _provenance_items(p: dict[str, object]) -> list[tuple[str, str]]:
    return [("ganbench", str(p.get("ganbench", "?"))), ("git", str(p.get("git_commit") or "n/a")),
            ("torch", str(p.get("torch", "?"))), ("device", str(p.get("device", "?"))),
            ("date", str(p.get("date", "?"))), ("suite hash", str(p.get("suite_hash", "?")))]


def _earlier(p: dict[str, object]) -> list[str]:
    """One line per earlier command on the folder: the runs it trained keep its commit."""
    return [f"git {e.get('git_commit', '?')}, {e.get('date', '?')}: {e.get('command', '')}"
            for e in p.get("earlier") or [] if isinstance(e, dict)]


EARLIER = "Earlier commands on this folder (the runs they trained or scored were made by them):"


def _head(board: Board) -> list[str]:
    dirs = board.directions
    return ["rank", *board.axes,
            *[f"{s} {'↑' if dirs.get(s) else '↓' if dirs.get(s) is False else ''}".strip() for s in board.scores],
            "train img/s", "best step", "runs", *board.extra_columns, "samples"]


def _cells(board: Board, row: Row | ReferenceRow) -> list[str]:
    """Every text cell of a row (or reference row: its label in the rank column, "–" for
    the axes its runs do not share) except the samples cell."""
    if isinstance(row, ReferenceRow):
        seeds = f", {len(row.seeds)} seed{'s' if len(row.seeds) != 1 else ''}" if row.seeds else ""
        return [row.label, *[show_value(row.coords[a]) if a in row.coords else "–" for a in board.axes],
                *[_reported_cell(row.scores.get(s)) if row.kind == REPORTED else _cell(row.scores.get(s))
                  for s in board.scores], "–", "–", REPORTED if row.kind == REPORTED else f"reference{seeds}",
                *["" for _ in board.extra_columns]]
    tp = row.train_img_per_s
    return ["stale" if row.stale else str(row.rank or "–"), *[show_value(row.coords.get(a)) for a in board.axes],
            *[_cell(row.scores.get(s)) for s in board.scores],
            f"{tp.mean:.0f}" if tp else "–", show_value(row.best_step) if row.best_step else "–",
            row.status_text, *[str(row.extra.get(c, "")) for c in board.extra_columns]]


def _ordered(t: Table) -> list[Row | ReferenceRow]:
    """The floor first, then the ranked rows (stale ones last), the ceilings, the reported rows."""
    real = [r for r in t.references if r.kind == REAL]
    reported = [r for r in t.references if r.kind == REPORTED]
    return [*real, *t.rows, *[r for r in t.references if r.kind not in (REAL, REPORTED)], *reported]


#: how the primary score is read, after the direction
HEADLINE = {"final": "",  # the default: each run's final evaluation
            "best": "; each run's best evaluation over training, as the report headlined it (its step: best step)"}
#: what every page says about its rows
RULES = ("Scores are mean ± std (n seeds) over runs whose resolved training configs differ in the seed alone; "
         "where runs of the same coordinates ran different configs, the newest config's runs make the row and "
         "the others are shown apart as stale, never averaged in.")
REFERENCE_NOTE = ("Reference rows, scored under each table's own protocol and never ranked: real data (floor), "
              "a real sample as large as the generated one, and untrained G (ceiling), each model at step 0.")


LEFT_OUT = ("Runs left out, their scores neither shown nor averaged in (a file of theirs does not read back; "
            "ganbench leaves their folders as they are):")


def _table_notes(t: Table) -> list[str]:
    """How each reference row was made, and what a table lacks."""
    return list(dict.fromkeys(f"{r.label}: {r.detail}." for r in t.references if r.detail)) + t.notes


def _loss_plot_groups(plots: list[PlotEntry]) -> list[tuple[str, list[PlotEntry]]]:
    groups: dict[str, list[PlotEntry]] = {}
    for e in plots:
        if e.kind == "losses":
            groups.setdefault(e.group or "", []).append(e)
    return list(groups.items())


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


# -- markdown ---------------------------------------------------------------------------
def to_markdown(board: Board, link_prefix: str = "") -> str:
    p = board.provenance
    arrow = "↑" if board.higher_is_better else "↓"
    lines = [f"# Leaderboard: {board.suite}", ""]
    if p.get("description"):
        lines += [p["description"], ""]
    lines += [f"Ranked by **{board.primary}** ({arrow} better{HEADLINE[board.headline]}). {RULES} {REFERENCE_NOTE}",
              ""]
    lines += ["Provenance: " + ", ".join(f"{k} {v}" for k, v in _provenance_items(p)), ""]
    if p.get("command"):
        lines += [f"Command: `{p['command']}`", ""]
    if _earlier(p):
        lines += [EARLIER, ""] + [f"- `{_md_escape(x)}`" for x in _earlier(p)] + [""]
    if board.warnings:
        lines += ["Warnings:", ""] + [f"- {_md_escape(w)}" for w in board.warnings] + [""]
    if board.left_out:
        lines += [LEFT_OUT, ""] + [f"- {x.run_id}: {_md_escape(x.message)}" for x in board.left_out] + [""]
    for i, t in enumerate(board.tables, 1):
        if len(board.tables) > 1:
            lines += [f"## Table {i} (one evaluation protocol)", ""]
        lines += [_protocol_text(t.protocol), ""]
        head = _head(board)
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for row in _ordered(t):
            img = ""
            if isinstance(row, Row) and row.images.sample:
                img = f"![samples]({_url(link_prefix, row.images.sample)})"
                target = row.images.gif or row.images.grid
                if target:
                    img = f"[{img}]({_url(link_prefix, target)})"
            cells = _cells(board, row)
            if isinstance(row, ReferenceRow):
                cells[0] = f"*{cells[0]}*"
            lines.append("| " + " | ".join(_md_escape(c) for c in [*cells, img]) + " |")
        lines.append("")
        if t.protocol:
            lines += [line for n in _table_notes(t) for line in (n, "")]
        if any(r.images.sample for r in t.rows):
            lines += ["Samples: the first seed's fixed-z samples at the last step; "
                      "each links to its progress GIF.", ""]
        errors = [e for row in t.rows for e in row.errors]
        if errors:
            lines += ["Failed or diverged runs:", ""] + [f"- {_md_escape(e.splitlines()[0])}" for e in errors] + [""]
    if board.plots:
        lines += ["## Plots", ""]
        for e in board.plots:
            if e.kind != "losses":
                lines += [f"### {e.title}", "", f"![{e.title}]({_url(link_prefix, e.path)})", ""]
        losses = _loss_plot_groups(board.plots)
        if losses:
            lines += ["### G and D losses per run", ""]
            for group, entries in losses:
                links = " · ".join(f"[seed {e.seed}]({_url(link_prefix, e.path)})" for e in entries)
                lines.append(f"- {group or 'run'}: {links}")
            lines.append("")
    if board.plot_error:
        lines += [f"Plots could not be drawn: {board.plot_error}", ""]
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
.errors li, .warnings li { color: #a40e26; }
tr.ref td { background: #eef6ee; font-style: italic; } tr.stale td { color: #6e7781; }
"""


def to_html(board: Board, link_prefix: str = "") -> str:
    """One static page: no script, no external style sheet or font; images by relative path."""
    e = html.escape
    p = board.provenance
    arrow = "↑" if board.higher_is_better else "↓"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Leaderboard: {e(str(board.suite))}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>Leaderboard: {e(str(board.suite))}</h1>"]
    if p.get("description"):
        out.append(f"<p>{e(p['description'])}</p>")
    out.append(f"<p>Ranked by <strong>{e(board.primary)}</strong> ({arrow} better{e(HEADLINE[board.headline])}). "
               f"{e(RULES)} "
               f"{e(REFERENCE_NOTE)}</p>")
    out.append('<dl class="prov">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _provenance_items(p))
               + (f"<dt>command</dt><dd><code>{e(p['command'])}</code></dd>" if p.get("command") else "") + "</dl>")
    if _earlier(p):
        out.append(f"<p>{e(EARLIER)}</p><ul>" + "".join(f"<li><code>{e(x)}</code></li>" for x in _earlier(p))
                   + "</ul>")
    if board.warnings:
        out.append('<p>Warnings:</p><ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in board.warnings)
                   + "</ul>")
    if board.left_out:
        out.append(f'<p>{e(LEFT_OUT)}</p><ul class="errors">'
                   + "".join(f"<li>{e(x.run_id)}: {e(x.message)}</li>" for x in board.left_out) + "</ul>")
    head = _head(board)
    first = 1 + len(board.axes)  # scores, train img/s and best step are right-aligned numbers
    numeric = {0, *range(first, first + len(board.scores) + 2)}
    for i, t in enumerate(board.tables, 1):
        if len(board.tables) > 1:
            out.append(f"<h2>Table {i} (one evaluation protocol)</h2>")
        out.append(f'<p class="protocol">{e(_protocol_text(t.protocol))}</p>')
        out.append("<table>")
        out.append("<thead><tr>" + "".join(f'<th scope="col">{e(h)}</th>' for h in head) + "</tr></thead>")
        out.append("<tbody>")
        for row in _ordered(t):
            ref = isinstance(row, ReferenceRow)
            cells = [f'<td class="num">{e(c)}</td>' if j in numeric and not (ref and j == 0) else f"<td>{e(c)}</td>"
                     for j, c in enumerate(_cells(board, row))]
            img = ""
            if ref:
                out.append('<tr class="ref">' + "".join(cells) + "<td></td></tr>")
                continue
            if row.images.sample:
                alt = f"samples of {', '.join(show_value(row.coords.get(a)) for a in board.axes)}, " \
                      f"seed {row.images.sample_seed}"
                img = f'<img class="thumb" src="{e(_url(link_prefix, row.images.sample))}" alt="{e(alt)}">'
                target = row.images.gif or row.images.grid
                if target:
                    img = f'<a href="{e(_url(link_prefix, target))}">{img}</a>'
            out.append(('<tr class="stale">' if row.stale else "<tr>") + "".join(cells) + f"<td>{img}</td></tr>")
        out.append("</tbody></table>")
        if t.protocol:
            out += [f'<p class="protocol">{e(n)}</p>' for n in _table_notes(t)]
        if any(r.images.sample for r in t.rows):
            out.append("<p>Samples: the first seed's fixed-z samples at the last step; "
                       "each links to its progress GIF.</p>")
        errors = [x for row in t.rows for x in row.errors]
        if errors:
            out.append("<p>Failed or diverged runs:</p><ul class=\"errors\">"
                       + "".join(f"<li>{e(x.splitlines()[0])}</li>" for x in errors) + "</ul>")
    if board.plots:
        out.append("<h2>Plots</h2>")
        for x in board.plots:
            if x.kind != "losses":
                src = e(_url(link_prefix, x.path))
                out.append(f'<figure><a href="{src}"><img src="{src}" alt="{e(x.title)}"></a>'
                           f"<figcaption>{e(x.title)}</figcaption></figure>")
        losses = _loss_plot_groups(board.plots)
        if losses:
            out.append("<h3>G and D losses per run</h3><ul>")
            for group, entries in losses:
                links = " · ".join(f'<a href="{e(_url(link_prefix, x.path))}">seed {e(str(x.seed))}</a>'
                                   for x in entries)
                out.append(f"<li>{e(group or 'run')}: {links}</li>")
            out.append("</ul>")
    if board.plot_error:
        out.append(f"<p>Plots could not be drawn: {e(board.plot_error)}</p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# -- CSV and JSON -----------------------------------------------------------------------
def to_csv(board: Board) -> str:
    """One line per row; ``kind`` is "run", "stale" or a reference row's label (its axes
    cells empty where its runs do not share them, no rank, no run counts), then one "left out"
    line per damaged run: its cell where known, why in ``note``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["table", "rank", "kind", *board.axes]
    for s in board.scores:
        head += [f"{s}_mean", f"{s}_std", f"{s}_n"]
    head += ["train_img_per_s", "done", "failed", "diverged", "interrupted", "damaged", "note", *board.extra_columns]
    w.writerow(head)
    for i, t in enumerate(board.tables, 1):
        for row in _ordered(t):
            ref = isinstance(row, ReferenceRow)
            kind = row.label if isinstance(row, ReferenceRow) else "stale" if row.stale else "run"
            cells: list[object] = [i, "" if ref else row.rank or "", kind,
                                   *[show_value(row.coords[a]) if a in row.coords else "" for a in board.axes]]
            for s in board.scores:
                a = row.scores.get(s)
                cells += [f"{a.mean:.6g}", f"{a.std:.6g}", a.n] if a else ["", "", 0]
            if isinstance(row, ReferenceRow):
                cells += ["", "", "", "", "", "", "", *["" for _ in board.extra_columns]]
            else:
                tp = row.train_img_per_s
                cells += [f"{tp.mean:.4g}" if tp else "", row.done, row.failed, row.diverged, row.interrupted,
                          row.damaged, row.differs, *[row.extra.get(c, "") for c in board.extra_columns]]
            w.writerow(cells)
    for x in board.left_out:
        w.writerow(["", "", "left out", *[show_value(x.coords[a]) if a in x.coords else "" for a in board.axes],
                    *["" for _ in board.scores for _ in range(3)], "", "", "", "", "", 1, x.message,
                    *["" for _ in board.extra_columns]])
    return buf.getvalue()


def to_json(board: Board) -> str:
    """leaderboard.json: the board as plain data."""
    return json.dumps(board.as_dict(), indent=2, default=str) + "\n"


#: renderers by format; md and html also take a link prefix
FORMATS: dict[str, Callable[..., str]] = {"md": to_markdown, "html": to_html, "json": to_json, "csv": to_csv}
#: formats whose links are rewritten when the file is written outside the suite folder
LINKED = ("md", "html")
ALIASES = {"markdown": "md", "htm": "html"}
