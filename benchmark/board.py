"""The leaderboard's model: a suite folder's runs and groups (``suite_results.py``) ranked
into a typed :class:`Board`.

A Board is one table of rows per evaluation protocol, each with the reference rows of its
protocol (real data, the floor, and an untrained G, the ceiling; see ``references.py``), the
stale groups as their own unranked rows, and warnings about them. The markdown, HTML, JSON
and CSV renderers all take the same Board, and the plots read the same records and groups,
so a table row and a curve always stand for the same runs. Damaged runs (a file that does
not read back, ``damage.py``) are in no row's scores: each is listed in ``Board.left_out``
with why, and counted in its row's run states when its config.json still says which row it
belongs to. Nothing here writes to the suite folder.
"""
from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import GanbenchError
from .plugins import Plugins
from .score import EXTERNAL, read_external, same_protocol
from .references import LABELS, REAL, UNTRAINED, model_config, protocol_signature
from .reported import REPORTED, Reported, matches
from .results import read_json
from .runspec import show_value
from .suite_results import Group, LeftOut, RunRecord, SuiteResults, read_suite

__all__ = ["INDEX", "PLOTS", "Aggregate", "Board", "Group", "Images", "LeftOut", "PlotEntry", "ReferenceRow", "Row",
           "RunRecord",
           "SuiteResults", "Table", "build_board", "plot_index", "read_suite", "score_directions"]

PLOTS = "plots"
INDEX = "index.json"


def score_directions(plugins: Plugins | None) -> dict[str, bool]:
    """Score name -> higher is better, from every registered metric's scores."""
    out: dict[str, bool] = {}
    if plugins is None:
        return out
    for name in plugins.metrics:
        for s in plugins.metrics.get(name).scores:
            out[s.name] = s.higher_is_better
    return out


# -- plots as the pages list them ------------------------------------------------------
@dataclass(frozen=True)
class PlotEntry:
    """One picture under plots/ (path relative to the suite folder); a loss plot also
    names its run, group label and seed."""

    path: str
    kind: str
    title: str
    run_id: str | None = None
    group: str | None = None
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The plots/index.json record."""
        per_run = {"run_id": self.run_id, "group": self.group, "seed": self.seed} if self.kind == "losses" else {}
        return {"path": self.path, "kind": self.kind, **per_run, "title": self.title}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlotEntry:
        return cls(d["path"], d.get("kind", "other"), d.get("title", Path(d["path"]).stem), d.get("run_id"),
                   d.get("group"), d.get("seed"))


def plot_index(suite_dir: Path) -> list[PlotEntry]:
    """The plots that exist for a suite (from plots/index.json), without drawing."""
    suite_dir = Path(suite_dir)
    index = read_json(suite_dir / PLOTS / INDEX, {})
    plots = index.get("plots") if isinstance(index, dict) else None  # a damaged index is redrawn by draw_all
    return [PlotEntry.from_dict(e) for e in plots if isinstance(e, dict) and isinstance(e.get("path"), str)
            and (suite_dir / e["path"]).is_file()] if isinstance(plots, list) else []


# -- the board -------------------------------------------------------------------------
@dataclass(frozen=True)
class Aggregate:
    """mean ± std over n seeds (std 0 for one seed)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Aggregate:
        n = len(values)
        return cls(statistics.fmean(values), statistics.stdev(values) if n > 1 else 0.0, n)

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass(frozen=True)
class Images:
    """A row's pictures, relative to the suite folder: thumbnail, last grid, progress GIF."""

    sample: str | None = None
    grid: str | None = None
    gif: str | None = None
    sample_seed: int | None = None


@dataclass(frozen=True)
class Row:
    """One group's seeds scored under one protocol: aggregated scores and run states."""

    coords: dict[str, Any]
    scores: dict[str, Aggregate]
    runs: list[str]
    seeds: list[int | None]
    done: int
    failed: int
    diverged: int
    pending: int
    errors: list[str]
    train_img_per_s: Aggregate | None
    best_step: int | list[int] | None
    images: Images
    extra: dict[str, Any] = field(default_factory=dict)
    rank: int | None = None
    stale: bool = False
    differs: str = ""
    interrupted: int = 0
    damaged: int = 0  # left out: see Board.left_out

    @property
    def status_text(self) -> str:
        text = f"{self.done} done"
        for count, word in ((self.failed, "failed"), (self.diverged, "diverged"), (self.interrupted, "interrupted"),
                            (self.pending, "pending"), (self.damaged, "damaged")):
            if count:
                text += f", {count} {word}"
        return text

    def as_dict(self) -> dict[str, Any]:
        """The row as leaderboard.json holds it (and, without rank, as plugins see it)."""
        return {"coords": self.coords, "scores": {k: a.as_dict() for k, a in self.scores.items()},
                "runs": self.runs, "seeds": self.seeds, "done": self.done, "failed": self.failed,
                "diverged": self.diverged, "interrupted": self.interrupted, "pending": self.pending,
                "damaged": self.damaged, "errors": self.errors,
                "train_img_per_s": self.train_img_per_s.as_dict() if self.train_img_per_s else None,
                "best_step": self.best_step, "sample": self.images.sample, "grid": self.images.grid,
                "gif": self.images.gif, "sample_seed": self.images.sample_seed, "extra": self.extra,
                "rank": self.rank, "stale": self.stale, "differs": self.differs}


@dataclass(frozen=True)
class ReferenceRow:
    """A reference row of a table: real data (the floor) or an untrained G (the ceiling),
    scored under the table's protocol; never ranked. coords: the axes the runs it stands
    for share (an untrained G stands for the rows of its model config)."""

    kind: str
    label: str
    coords: dict[str, Any]
    scores: dict[str, Aggregate]
    seeds: list[int | None]
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "reference": True, "coords": self.coords,
                "scores": {k: a.as_dict() for k, a in self.scores.items()}, "seeds": self.seeds, "detail": self.detail}


@dataclass(frozen=True)
class Table:
    """Rows scored under one evaluation protocol (None: no finished evaluation), ranked
    (stale rows last, unranked), with the protocol's reference rows and notes about them."""

    protocol: dict[str, Any] | None
    rows: list[Row]
    references: list[ReferenceRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "rows": [r.as_dict() for r in self.rows],
                "references": [r.as_dict() for r in self.references], "notes": self.notes}


@dataclass(frozen=True)
class Board:
    """The leaderboard every renderer takes: the score columns (``scores``, primary first)
    with their directions (None where no registered metric names the score), the plugins'
    extra columns, and one table per evaluation protocol."""

    suite: str
    provenance: dict[str, Any]
    primary: str
    higher_is_better: bool
    axes: list[str]
    scores: list[str]
    extra_columns: list[str]
    directions: dict[str, bool | None]
    tables: list[Table]
    plots: list[PlotEntry]
    plot_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    headline: str = "final"  # or "best": the primary score is each run's best evaluation over training
    left_out: list[LeftOut] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """What leaderboard.json holds."""
        out = {"suite": self.suite, "provenance": self.provenance, "primary": self.primary,
               "higher_is_better": self.higher_is_better, "axes": self.axes, "scores": self.scores,
               "extra_columns": self.extra_columns, "directions": self.directions,
               "tables": [t.as_dict() for t in self.tables], "plots": [p.as_dict() for p in self.plots],
               "warnings": self.warnings, "headline": self.headline}
        if self.plot_error:
            out["plot_error"] = self.plot_error
        if self.left_out:
            out["left_out"] = [x.as_dict() for x in self.left_out]
        return out


def _rel(path: Path | None, suite_dir: Path) -> str | None:
    return Path(os.path.relpath(path, suite_dir)).as_posix() if path is not None else None


def _images(members: list[RunRecord], suite_dir: Path) -> Images:
    """From the first run that has them: a small thumbnail (thumb.png, or the last full
    grid for runs written before thumbnails), the last grid, the GIF."""
    for r in members:
        grids = sorted((r.dir / "samples").glob("step_*.png")) if (r.dir / "samples").is_dir() else []
        thumb = r.dir / "thumb.png"
        if not grids and not thumb.is_file():
            continue
        gif = r.dir / "progress.gif"
        last = grids[-1] if grids else None
        return Images(_rel(thumb if thumb.is_file() else last, suite_dir), _rel(last, suite_dir),
                      _rel(gif, suite_dir) if gif.is_file() else None, r.seed)
    return Images()


def headline(members: list[RunRecord]) -> str:
    """"best" when the runs rank their best evaluation over training (metrics.headline), else "final"."""
    heads = {r.config.get("metrics", {}).get("headline", "final") for r in members}
    return "best" if heads == {"best"} else "final"


def _row(group: Group, members: list[RunRecord], suite_dir: Path, damaged: int = 0) -> Row:
    scores: dict[str, list[float]] = {}
    best = headline(members) == "best"
    for r in members:
        for k, v in (r.final or {})["scores"].items():
            b = r.status.get("best") or {}
            if best and b.get("score") == k and isinstance(b.get("value"), (int, float)):
                v = b["value"]  # metrics.headline = "best": the run's best evaluation over training
            if isinstance(v, (int, float)) and math.isfinite(v):
                scores.setdefault(k, []).append(float(v))
    tp = [r.throughput.get("train_img_per_s") for r in members if r.throughput.get("train_img_per_s")]
    best_steps = [r.status.get("best", {}).get("step") for r in members if r.status.get("best")]
    states = [r.state for r in group.runs]
    return Row(coords=group.coords, scores={k: Aggregate.of(v) for k, v in sorted(scores.items())},
               runs=[r.run_id for r in group.runs], seeds=[r.seed for r in members], done=len(members),
               failed=states.count("failed"), diverged=states.count("diverged"),
               pending=sum(1 for x in states if x in ("pending", "running")),
               errors=[r.status["error"] for r in group.runs if r.status.get("error") and r.state in ("failed", "diverged")],
               train_img_per_s=Aggregate.of(tp) if tp else None,
               best_step=best_steps[0] if len(set(best_steps)) == 1 and best_steps else best_steps,
               images=_images(members or group.runs, suite_dir), stale=group.stale, differs=group.differs,
               interrupted=states.count("interrupted"), damaged=0 if group.stale else damaged)


def _tables(suite: SuiteResults) -> dict[str, list[Row]]:
    """Rows by protocol signature; a group whose seeds were scored under different
    protocols is split, a group with no finished run goes to the "null" table. The damaged
    runs of a group's cell are counted in its first row (never in a stale one's)."""
    tables: dict[str, list[Row]] = {}
    left = [x.coords for x in suite.left_out if x.coords]
    for g in suite.groups:
        by_sig: dict[str, list[RunRecord]] = {}
        for r in g.runs:
            if r.state == "done" and r.final:
                by_sig.setdefault(protocol_signature(r.final.get("protocol", {})), []).append(r)
        damaged = sum(1 for c in left if _cell(c, suite.axes) == g.coords)
        for i, (sig, members) in enumerate((by_sig or {"null": []}).items()):
            tables.setdefault(sig, []).append(_row(g, members, suite.dir, damaged if i == 0 else 0))
    return tables


def _cell(coords: dict[str, Any], axes: list[str]) -> dict[str, Any]:
    return {a: coords.get(a) for a in axes}


def _extra_columns(plugins: Plugins | None, rows: list[Row],
                   warnings: list[str]) -> tuple[list[str], list[Row]]:
    """Ask ganbench_leaderboard_columns for columns: plugins see each row as a dict and
    set row["extra"][column]. Each plugin is asked on its own copy of the rows: one that
    raises (or returns nonsense) loses only its columns, with a warning naming it."""
    if plugins is None:
        return [], rows
    columns: list[str] = []
    extra = [dict(row.extra) for row in rows]
    for impl in reversed(plugins.hook.ganbench_leaderboard_columns.get_hookimpls()):
        views = [{**{k: v for k, v in row.as_dict().items() if k != "rank"}, "extra": dict(row.extra)}
                 for row in rows]
        try:
            cols = impl.function(rows=views)
            if cols is not None and (isinstance(cols, str) or not all(isinstance(c, str) for c in cols)):
                raise TypeError(f"returned {type(cols).__name__} {cols!r:.60}, not a list of column names")
        except Exception as exc:  # noqa: BLE001 - a plugin's bug costs its own columns only
            warnings.append(f"plugin {impl.plugin_name} raised in ganbench_leaderboard_columns "
                            f"({type(exc).__name__}: {exc}); its columns are left out")
            continue
        for column in cols or []:
            if column not in columns:
                columns.append(column)
            for i, view in enumerate(views):
                if isinstance(view.get("extra"), dict) and column in view["extra"]:
                    extra[i][column] = view["extra"][column]
    return columns, [replace(row, extra=e) for row, e in zip(rows, extra)]


def _shared(coords: list[dict[str, Any]]) -> dict[str, Any]:
    """The coordinates every one of these rows has in common."""
    return {a: v for a, v in coords[0].items() if all(c.get(a) == v for c in coords)} if coords else {}


def _reference_row(kind: str, records: list[dict[str, Any]], coords: dict[str, Any]) -> ReferenceRow:
    values: dict[str, list[float]] = {}
    for rec in records:
        for k, v in rec["scores"].items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                values.setdefault(k, []).append(float(v))
    details = list(dict.fromkeys(str(rec["sample"].get("description", "")) for rec in records
                                 if isinstance(rec.get("sample"), dict)))
    return ReferenceRow(kind, LABELS[kind], coords, {k: Aggregate.of(v) for k, v in sorted(values.items())},
                        sorted((rec.get("seed") for rec in records if kind == UNTRAINED), key=str),
                        "; ".join(d for d in details if d))


def _references(suite: SuiteResults, sig: str, rows: list[Row]) -> tuple[list[ReferenceRow], list[str]]:
    """The reference rows of one table, and a note for each kind it lacks: real data over the
    current rows' shared coordinates, then one untrained G per model config of the table's
    runs (aggregated over seeds), over the coordinates of the rows it stands for."""
    records = [r for r in suite.references if protocol_signature(r["protocol"]) == sig]
    by_id = {r.run_id: r for r in suite.runs}
    models: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for key in {json.dumps(model_config(by_id[i].config), sort_keys=True, default=str) for i in row.runs}:
            models.setdefault(key, []).append(row.coords)
    out, notes = [], []
    real = [r for r in records if r["kind"] == REAL]
    if real:  # real data stands for the data axes only: no model drew it
        data = _shared([r.coords for r in rows if not r.stale])
        out.append(_reference_row(REAL, real, {a: v for a, v in data.items()
                                               if a in ("dataset", "classes") or a.startswith("datasets.")}))
    untrained = {}
    for rec in records:
        key = json.dumps(rec.get("model"), sort_keys=True, default=str)
        if rec["kind"] == UNTRAINED and key in models:
            untrained.setdefault(key, []).append(rec)
    out += [_reference_row(UNTRAINED, untrained[key], _shared(models[key])) for key in models if key in untrained]
    missing = [LABELS[kind] for kind, present in ((REAL, real), (UNTRAINED, untrained)) if not present]
    if missing:
        notes.append(f"No {' and no '.join(missing)} row for this protocol: these results were written before "
                     "ganbench scored reference rows, or scoring them failed (see the warnings).")
    return out, notes


def _reported(suite: SuiteResults, rows: list[Row]) -> list[ReferenceRow]:
    """The suite's [[reported]] rows that stand for a current row of this table."""
    out = []
    for entry in suite.provenance.get("reported") or []:
        rep = Reported.from_dict(entry)
        if any(matches(rep, r.coords) for r in rows if not r.stale):
            out.append(ReferenceRow(REPORTED, rep.label(), rep.match,
                                    {k: Aggregate.of([v]) for k, v in rep.scores.items()}, [], rep.detail()))
    return out


def _external(externals: list[dict[str, Any]], sig: str, placed: set[str]) -> list[ReferenceRow]:
    """`ganbench score --into` rows of this table's protocol: compared with its rows, never ranked."""
    return [ReferenceRow(EXTERNAL, f"external: {x['name']}", {}, {k: Aggregate.of([v]) for k, v in x["scores"].items()},
                         [], f"samples from {x.get('source')}, scored by ganbench score")
            for x in same_protocol(externals, json.loads(sig), placed)]


def _warnings(suite: SuiteResults) -> list[str]:
    """Stale groups, and runs whose reference rows could not be scored."""
    out = []
    for g in suite.groups:
        if g.stale:
            where = ", ".join(f"{a}={show_value(v)}" for a, v in g.coords.items()) or "the suite's one cell"
            out.append(f"Stale runs shown apart, never averaged in: {where} (seeds "
                       f"{', '.join(str(r.seed) for r in g.runs)}) ran another config than the newest runs of "
                       f"these coordinates: {g.differs}.")
    if suite.provenance_problem:
        out.append(f"{suite.dir / 'provenance.json'} {suite.provenance_problem}: the provenance shown is incomplete; "
                   "the next `ganbench run` of the suite writes it again.")
    return out + [f"{r.run_id}: {r.status['reference_warning']}" for r in suite.runs
                  if r.status.get("reference_warning")]


def build_board(suite_dir: Path, plugins: Plugins | None = None) -> Board:
    """The ranked leaderboard of a suite folder; plugins give score directions and columns."""
    suite = read_suite(suite_dir)
    if not suite.runs:
        raise GanbenchError(f"no runs under {suite.dir}",
                            hint="run a suite first: ganbench run suites/quickstart.toml")
    directions = score_directions(plugins)
    primary = suite.primary
    higher = directions.get(primary, False)
    by_sig = _tables(suite)
    hook_warnings: list[str] = []
    extra_columns, rows = _extra_columns(plugins, [row for sig_rows in by_sig.values() for row in sig_rows],
                                         hook_warnings)

    def key(row: Row) -> tuple[bool, int, float]:
        s = row.scores.get(primary)
        if s is None:
            return (row.stale, 1, 0.0)
        return (row.stale, 0, -s.mean if higher else s.mean)

    tables, with_columns = [], iter(rows)
    externals, placed = read_external(suite.dir), set()
    for sig, sig_rows in by_sig.items():
        ranked = sorted((next(with_columns) for _ in sig_rows), key=key)
        ranked = [replace(r, rank=i if primary in r.scores and not r.stale else None) for i, r in enumerate(ranked, 1)]
        refs, notes = _references(suite, sig, ranked) if sig != "null" else ([], [])
        refs += _reported(suite, ranked) if sig != "null" else []
        refs += _external(externals, sig, placed) if sig != "null" else []
        tables.append(Table(json.loads(sig) if sig != "null" else None, ranked, refs, notes))
    tables.sort(key=lambda t: t.protocol is None)
    hook_warnings += [f"external row '{x.get('name')}' ({x.get('source')}) was scored under a protocol no table of "
                      f"this suite has; it is not shown" for x in externals if x.get("name") not in placed]
    score_names = sorted({k for t in tables for r in [*t.rows, *t.references] for k in r.scores},
                         key=lambda k: (k != primary, k))
    plots = plot_index(suite.dir) or [PlotEntry(x, "other", Path(x).stem) for x in suite.provenance.get("plots") or []
                                      if (suite.dir / x).is_file()]
    return Board(suite=suite.name, provenance=suite.provenance, primary=primary, higher_is_better=higher,
                 axes=suite.axes, scores=score_names, extra_columns=extra_columns,
                 directions={k: directions.get(k) for k in score_names}, tables=tables, plots=plots,
                 warnings=_warnings(suite) + hook_warnings, headline=headline([r for g in suite.current for r in g.runs]),
                 left_out=suite.left_out)
