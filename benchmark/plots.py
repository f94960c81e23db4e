"""Per-suite plots under results/<suite>/plots/: each run's G and D losses against step,
the primary score against step per group (mean over seeds with a min–max band, the
reports' FID curves, with the reference rows of the final protocol as horizontal lines:
real data, the floor, and an untrained G, the ceiling), and a throughput bar chart per
group. Stale groups (an older config of the same coordinates) get loss plots but stay out
of the score and throughput plots, as they stay out of the leaderboard's ranking.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend
switch), incrementally: the runner redraws after every finished run, so a plot whose
inputs did not change is not drawn again. plots/index.json lists what exists, with
titles, for the leaderboard to embed and link. Runs and groups come from the read model
(``board.py``), the same ones the leaderboard's rows stand for. matplotlib is imported
inside the drawing functions, so `ganbench list` and the other commands that draw
nothing never load it.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Optional

from .board import INDEX, PLOTS, Aggregate, Group, PlotEntry, RunRecord, read_suite, score_directions
from .plugins import Plugins
from .references import LABELS, REAL, REFERENCES, UNTRAINED, model_config, protocol_signature
from .results import read_json, write_json
from .loss_compare import draw_loss_comparison
from .plotkit import COLOURS, label_of, new_figure, read_losses, save_png, smooth, style_axes, varying_axes
from .schedule import schedule_text

#: lines per curve panel and panels per curve figure before splitting further
MAX_LINES = 10
MAX_PANELS = 12
#: a curve panel turns to a log scale when its largest value is more than this many times its smallest
LOG_SPAN = 30.0
#: bump when the suite-level figures change, so existing plots are redrawn
LAYOUT = 4



#: per-term columns drawn under each network's total (ganbench.losslog), with their legend names
D_TERMS = {"loss_d_real": "on real images", "loss_d_fake": "on fakes", "aux_d": "auxiliary classifier"}
G_TERMS = {"aux_g": "auxiliary classifier"}


def _terms(cols: dict[str, list[float]], names: dict[str, str], prefix: str = "") -> list[tuple[str, str]]:
    """(column, legend) of the term columns this run logged, in a fixed order."""
    out = [(k, v) for k, v in names.items() if k in cols]
    return out + [(k, k[len(prefix):]) for k in sorted(cols) if prefix and k.startswith(prefix)]


def draw_losses(run: RunRecord, label: str, path: Path) -> bool:
    """One run's D and G losses against G step, one panel per network (the reports'
    "loss plots per network"): the logged total faintly, a moving average on top, and
    the terms the run logged apart (D on real and on fake images, each penalty, the
    auxiliary classifier) as thinner lines under their network's total."""
    cols = read_losses(run.dir)
    steps = cols.get("step", [])
    if not steps:
        return False
    train = run.config.get("train", {})
    fig = new_figure(7.0, 5.2)
    axes = fig.subplots(2, 1, sharex=True)
    window = max(1, len(steps) // 25) if len(steps) >= 50 else 1
    panels = ((axes[0], "loss_d", "D", COLOURS[0], _terms(cols, D_TERMS, "penalty_")),
              (axes[1], "loss_g", "G", COLOURS[1], _terms(cols, G_TERMS)))
    for ax, key, name, colour, terms in panels:
        values = cols.get(key, [])
        if values and window > 1:
            ax.plot(steps, values, color=colour, alpha=0.3, linewidth=0.8, label="logged")
            ax.plot(steps, smooth(values, window), color=colour, linewidth=1.8,
                    label=f"moving average of {window} logs")
        elif values:
            ax.plot(steps, values, color=colour, linewidth=1.5, marker="o" if len(steps) <= 30 else None,
                    markersize=3, label="total" if terms else None)
        for i, (col, legend) in enumerate(terms):
            term = cols[col]
            ax.plot(steps, smooth(term, window) if window > 1 else term, color=COLOURS[2 + i % (len(COLOURS) - 2)],
                    linewidth=1.0, label=legend)
        if values and (window > 1 or terms):
            ax.legend(loc="best", fontsize=8, frameon=False)
        ax.set_ylabel(f"{name} loss")
        style_axes(ax)
    axes[1].set_xlabel("G step")
    terms = [train.get("loss", "?"), *([train["aux_loss"]] if train.get("aux_loss") else []),
             *train.get("regularizers", [])]
    fig.suptitle(f"{label}, seed {run.seed}\nloss terms: {' + '.join(terms)}{schedule_text(train)}; "
                 f"each point averages the steps since the previous log", fontsize=10)
    save_png(fig, path)
    return True


def _curve_points(run: RunRecord, score: str) -> tuple[dict[int, float], Optional[tuple[int, float, int]]]:
    """({step: value} of the evaluations during training, (step, value, num_fake) of the final one)."""
    during: dict[int, float] = {}
    final = None
    for e in run.evals:
        v = e.get("scores", {}).get(score)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        if e.get("final"):
            final = (int(e["step"]), float(v), int(e.get("protocol", {}).get("num_fake", 0)))
        else:
            during[int(e["step"])] = float(v)
    return during, final


def reference_lines(members: list[Group], references: list[dict[str, Any]],
                     score: str) -> list[tuple[str, float, str]]:
    """(kind, value, legend label) of a panel's horizontal lines: the reference rows of its
    groups' final protocols (an untrained G only for its groups' model configs), each the mean
    over its seeds; more than three untrained models make one line at their mean."""
    sigs = {protocol_signature(r.final.get("protocol", {})) for g in members for r in g.runs if r.final}
    models = {json.dumps(model_config(r.config), sort_keys=True, default=str) for g in members for r in g.runs}
    real: list[float] = []
    untrained: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    for rec in references:
        v = rec["scores"].get(score)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or protocol_signature(rec["protocol"]) not in sigs:
            continue
        key = json.dumps(rec.get("model"), sort_keys=True, default=str)
        if rec["kind"] == REAL:
            real.append(float(v))
        elif key in models:
            untrained.setdefault(key, []).append(float(v))
            names[key] = str((rec.get("model") or {}).get("model", "?"))
    lines = [(REAL, statistics.fmean(real), LABELS[REAL])] if real else []
    means = {k: statistics.fmean(v) for k, v in untrained.items()}
    if len(means) > 3:
        lines.append((UNTRAINED, statistics.fmean(means.values()), f"{LABELS[UNTRAINED]}, mean of {len(means)} models"))
    else:
        lines += [(UNTRAINED, v, LABELS[UNTRAINED] + (f", {names[k]}" if len(means) > 1 else ""))
                  for k, v in means.items()]
    return lines


def _facets(axes: list[str], groups: list[Group]) -> tuple[list[str], list[list[Group]], list[str]]:
    """(line axes, panels of groups, panel axes). Groups scored against different real
    data (another data set or class subset) never share a panel: their scores are not
    comparable. A panel with more than MAX_LINES lines keeps one line per model (or the
    first other axis) and moves the remaining axes into panels; what is still too
    crowded is split in order."""
    varying = varying_axes(axes, groups)
    panel_axes = [a for a in varying if a in ("dataset", "classes")]
    line_axes = [a for a in varying if a not in panel_axes]

    def split(by: list[str]) -> list[list[Group]]:
        panels: dict[str, list[Group]] = {}
        for g in groups:
            panels.setdefault(label_of(g.coords, by), []).append(g)
        return list(panels.values())

    panels = split(panel_axes)
    if max(len(p) for p in panels) > MAX_LINES and len(line_axes) > 1:
        keep = "model" if "model" in line_axes else line_axes[0]
        panel_axes += [a for a in line_axes if a != keep]
        line_axes = [keep]
        panels = split(panel_axes)
    out = []
    for members in panels:
        out += [members[i:i + MAX_LINES] for i in range(0, len(members), MAX_LINES)]
    return line_axes, out, panel_axes


def draw_curves(axes: list[str], groups: list[Group], score: str, higher: Optional[bool],
                out_dir: Path, references: Sequence[dict[str, Any]] = ()) -> list[PlotEntry]:
    """The score against G step per group: mean over seeds, a min–max band where there are
    several seeds, the final evaluation (on more samples) as a separate marker, and the
    reference rows of the final protocol as labelled horizontal lines. A log scale where the
    values span more than LOG_SPAN (an untrained G far above the trained ones)."""
    data = []
    for g in groups:
        per_seed = [_curve_points(r, score) for r in g.runs]
        data.append((g, per_seed))
    if not any(len(during) >= 1 for _, per_seed in data for during, _ in per_seed):
        return []  # only final evaluations: the leaderboard already shows them
    from matplotlib.ticker import MaxNLocator

    line_axes, panels, panel_axes = _facets(axes, groups)
    by_key = {id(g): ps for g, ps in data}
    num_during = sorted({int(e.get("protocol", {}).get("num_fake", 0)) for g in groups for r in g.runs
                         for e in r.evals if not e.get("final")} - {0})
    num_final = sorted({int(e.get("protocol", {}).get("num_fake", 0)) for g in groups for r in g.runs
                        for e in r.evals if e.get("final")} - {0})
    chunks = [panels[i:i + MAX_PANELS] for i in range(0, len(panels), MAX_PANELS)]
    made = []
    for c, chunk in enumerate(chunks):
        cols = 1 if len(chunk) == 1 else 2 if len(chunk) <= 4 else 3
        rows = math.ceil(len(chunk) / cols)
        fig = new_figure(7.5 if cols == 1 else 4.6 * cols, 4.4 if rows == 1 else 3.4 * rows + 0.6)
        grid = fig.subplots(rows, cols, squeeze=False)
        with_lines = False
        for p, members in enumerate(chunk):
            ax = grid[p // cols][p % cols]
            shown: list[float] = []
            for i, g in enumerate(members):
                colour = COLOURS[i % len(COLOURS)]
                per_seed = by_key[id(g)]
                steps = sorted({s for during, _ in per_seed for s in during})
                label = label_of(g.coords, line_axes) or label_of(g.coords, axes)
                n_seeds = sum(1 for during, _ in per_seed if during)
                if steps:
                    vals = [[during[s] for during, _ in per_seed if s in during] for s in steps]
                    ax.plot(steps, [statistics.fmean(v) for v in vals], color=colour, linewidth=1.8, marker="o",
                            markersize=3, label=f"{label} ({n_seeds} seed{'s' if n_seeds != 1 else ''})")
                    shown += [x for v in vals for x in v]
                    if any(len(v) > 1 for v in vals):
                        ax.fill_between(steps, [min(v) for v in vals], [max(v) for v in vals], color=colour,
                                        alpha=0.18, linewidth=0)
                finals = [f for _, f in per_seed if f is not None]
                if finals:
                    ax.errorbar([statistics.fmean(f[0] for f in finals)], [statistics.fmean(f[1] for f in finals)],
                                yerr=[[statistics.fmean(f[1] for f in finals) - min(f[1] for f in finals)],
                                      [max(f[1] for f in finals) - statistics.fmean(f[1] for f in finals)]],
                                color=colour, marker="*", markersize=10, linestyle="none", capsize=3)
                    shown += [f[1] for f in finals]
            for kind, value, text in reference_lines(members, list(references), score):
                ax.axhline(value, color="#000000" if kind == REAL else "#7f7f7f", linewidth=1.3,
                           linestyle="--" if kind == REAL else ":", label=f"{text}: {_number(value)}")
                shown.append(value)
                with_lines = True
            if shown and min(shown) > 0 and max(shown) / min(shown) > LOG_SPAN:
                ax.set_yscale("log")
            if panel_axes:
                ax.set_title(label_of(members[0].coords, panel_axes), fontsize=9)
            ax.set_xlabel("G step")
            ax.set_ylabel(score)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            style_axes(ax)
            if ax.get_legend_handles_labels()[0]:  # a panel of runs that never scored has no lines
                ax.legend(fontsize=7, frameon=False, loc="best")
        for p in range(len(chunk), rows * cols):
            grid[p // cols][p % cols].set_visible(False)
        direction = "" if higher is None else (" (higher is better)" if higher else " (lower is better)")
        n_text = f"; {'/'.join(f'{n:,}' for n in num_during)} generated images per point" if num_during else ""
        f_text = f" ({'/'.join(f'{n:,}' for n in num_final)} images)" if num_final else ""
        r_text = ("\ndashed: real data (floor), dotted: untrained G (ceiling), both under the final evaluation's "
                  "protocol") if with_lines else ""
        fig.suptitle(f"{score} over training{direction}\nline: mean over seeds, band: min–max over seeds{n_text}\n"
                     f"★ final evaluation{f_text}, mean and min–max; FID-like scores depend on the sample count"
                     f"{r_text}", fontsize=9)
        name = f"{_slug(score)}_vs_step" + (f"_{c + 1}" if len(chunks) > 1 else "") + ".png"
        save_png(fig, out_dir / name)
        made.append(PlotEntry(f"{PLOTS}/{name}", "curve",
                              f"{score} against G step" + (f" ({c + 1}/{len(chunks)})" if len(chunks) > 1 else "")))
    return made


def draw_throughput(axes: list[str], groups: list[Group], device: str, out_dir: Path) -> list[PlotEntry]:
    """Per group: train img/s, ms per D step and per G step, generation img/s; bars are
    means over seeds, whiskers their std."""
    panels = (("train_img_per_s", "train img/s", "higher is better"),
              (("ms_per_d_step", "ms_per_g_step"), "ms per step (D, G)", "lower is better"),
              ("generation_img_per_s", "generation img/s", "higher is better"))
    rows = [g for g in groups if any(r.throughput.get("train_img_per_s") for r in g.runs)]
    if not rows:
        return []
    varying = varying_axes(axes, rows) or axes
    labels = [label_of(g.coords, varying) for g in rows]
    height = 1.6 + 0.32 * len(rows)
    fig = new_figure(11.0, height)
    axs = fig.subplots(1, 3, sharey=True)
    ys = list(range(len(rows)))
    for ax, (key, title, better) in zip(axs, panels):
        keys = key if isinstance(key, tuple) else (key,)
        bar = 0.8 / len(keys)
        tops: list[float] = []
        for k, name in enumerate(keys):
            means, stds = [], []
            for g in rows:
                vals = [float(r.throughput[name]) for r in g.runs if isinstance(r.throughput.get(name), (int, float))]
                agg = Aggregate.of(vals) if vals else Aggregate(0.0, 0.0, 0)
                means.append(agg.mean)
                stds.append(agg.std)
            offs = [y - 0.4 + bar * (k + 0.5) for y in ys]
            colour = COLOURS[k] if len(keys) > 1 else COLOURS[0]
            ax.barh(offs, means, height=bar * 0.9, xerr=stds, color=colour, alpha=0.85,
                    error_kw={"elinewidth": 0.8, "capsize": 2},
                    label=name.replace("ms_per_", "").replace("_step", " step").replace("d ", "D ").replace("g ", "G "))
            tops.append(max((m + sd for m, sd in zip(means, stds)), default=0.0))
            for y, m, sd in zip(offs, means, stds):
                if m:
                    ax.text(m + sd + tops[-1] * 0.03, y, _number(m), va="center", fontsize=7)
        if max(tops):
            ax.set_xlim(0, max(tops) * 1.3)
        if len(keys) > 1:
            ax.legend(fontsize=7, frameon=False, loc="lower right")
        ax.set_title(f"{title}\n({better})", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
    axs[0].set_yticks(ys, labels, fontsize=8)
    axs[0].invert_yaxis()
    fig.suptitle(f"Throughput per group on {device} (mean over seeds, whiskers: std)", fontsize=10)
    save_png(fig, out_dir / "throughput.png")
    return [PlotEntry(f"{PLOTS}/throughput.png", "throughput", "Throughput per group")]


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _fingerprint(runs: list[RunRecord], suite_dir: Path, extra: list[object], more: tuple[str, ...] = ()) -> str:
    """Identity of every input file a suite-level plot reads (name, size, mtime): the runs'
    files (and `more` of them) and the suite's reference records."""
    paths = [(r.run_id, r.dir / name) for r in runs
             for name in ("evals.jsonl", "throughput.json", "config.json", *more)]
    paths += [(REFERENCES, p) for p in sorted((suite_dir / REFERENCES).glob("*.json"))]
    items = []
    for owner, p in paths:
        try:
            s = p.stat()
            items.append((owner, p.name, s.st_size, s.st_mtime_ns))
        except FileNotFoundError:
            pass
    return hashlib.sha256(json.dumps([items, extra], default=str).encode()).hexdigest()[:16]


def draw_all(suite_dir: Path, plugins: Plugins | None = None) -> list[PlotEntry]:
    """Draw (or bring up to date) every plot of a suite; return the index entries, also
    written to plots/index.json."""
    suite = read_suite(suite_dir)
    out_dir = suite.dir / PLOTS
    if not suite.runs:
        return []
    (out_dir / "losses").mkdir(parents=True, exist_ok=True)
    old = read_json(out_dir / INDEX, {})
    old = old if isinstance(old, dict) else {}  # a damaged index is written again below
    axes, groups = suite.axes, suite.current
    varying = varying_axes(axes, groups)
    entries: list[PlotEntry] = []
    for g in suite.groups:
        label = label_of(g.coords, axes) + (" (stale config)" if g.stale else "")
        for r in g.runs:
            path = out_dir / "losses" / f"{r.run_id}.png"
            src = r.dir / "losses.csv"
            fresh = path.exists() and src.exists() and path.stat().st_mtime_ns >= src.stat().st_mtime_ns
            if fresh or draw_losses(r, label, path):
                short = (label_of(g.coords, varying) + (" (stale config)" if g.stale else "")) if varying else label
                entries.append(PlotEntry(f"{PLOTS}/losses/{path.name}", "losses", f"losses: {label}, seed {r.seed}",
                                         r.run_id, short, r.seed))
    primary = suite.primary
    higher = score_directions(plugins).get(primary)
    compare = list(suite.provenance.get("compare_losses") or [])
    key = _fingerprint(suite.runs, suite.dir, [primary, higher, suite.device, LAYOUT, compare],
                       ("losses.csv",) if compare else ())
    previous = [PlotEntry.from_dict(e) for e in old.get("plots") or [] if isinstance(e, dict)
                and isinstance(e.get("path"), str) and e.get("kind") in ("curve", "throughput", "loss-curve")]
    if old.get("inputs") == key and all((suite.dir / e.path).is_file() for e in previous):
        entries = previous + entries
    else:
        suite_level = []
        if primary:
            suite_level += draw_curves(axes, groups, primary, higher, out_dir, suite.references)
        suite_level += draw_throughput(axes, groups, suite.device, out_dir)
        for column in suite.provenance.get("compare_losses") or []:
            suite_level += draw_loss_comparison(axes, groups, column, out_dir)
        entries = suite_level + entries
    keep = {suite.dir / e.path for e in entries}
    # the previous index is the manifest of the plots ganbench drew: only those are deleted
    for stale in {suite.dir / str(e.get("path", "")) for e in old.get("plots", []) if isinstance(e, dict)} - keep:
        if stale.suffix == ".png" and stale.is_file() and not stale.is_symlink() and out_dir in stale.parents:
            stale.unlink()  # a run or a plot that no longer exists
    write_json(out_dir / INDEX, {"inputs": key, "plots": [e.as_dict() for e in entries]})
    return entries
