"""The `ganbench` command line: run, validate, list, leaderboard, sample, eval, bench, doctor.

User mistakes print one red ERROR line and exit 2 (3 when a data set or weights file
is missing on this machine); --debug shows the traceback. The modules behind the commands
that need torch are imported inside those commands, so that `ganbench list` and
`ganbench --help` start in well under a second.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .config import MetricsConfig, TrainConfig, options_help
from .errors import GanbenchError
from .estimate import estimate
from .leaderboard import ALIASES, FORMATS
from .plainlog import PlainProgress, duration
from .plugins import KINDS, Plugins, load_plugins
from .publish import render_board, write_all
from .score import add_external, protocol_of_suite, score_samples, score_sets
from .results import get_status
from .runner import check_suite, run_suite
from .suite import Suite, load_suite
from .runspec import show_value

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def _suite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", help="suite TOML file, e.g. suites/quickstart.toml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a suite key; VALUE is TOML (train.steps=200, matrix.seed='[0,1]')")
    p.add_argument("--filter", dest="filters", action="append", default=[], metavar="AXIS=VALUE",
                   help="only runs whose matrix coordinate matches (repeat an axis for OR)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ganbench", description="Benchmark GANs from a TOML suite.")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    ap.add_argument("--version", action="version", version=f"ganbench {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train and score every run of a suite")
    _suite_args(p)
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--executor", default="local", help="local (default), process, ray")
    p.add_argument("--workers", type=int, default=2,
                   help="runs at once: worker processes (process), concurrent tasks (ray on a local instance)")
    p.add_argument("--gpus-per-run", type=float, default=None, help="GPU share per run (process/ray)")
    p.add_argument("--address", default=None, help="Ray cluster address (ray executor), e.g. auto")
    p.add_argument("--retries", type=int, default=0, help="retry a run whose worker died this many times")
    p.add_argument("--progress-every", type=float, default=60.0, metavar="SECONDS",
                   help="when stdout is not a terminal: a plain progress line per run this often (default 60)")

    p = sub.add_parser("validate", help="check a suite and print its runs without training")
    _suite_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable run list")

    p = sub.add_parser("list", help="registered models, losses, datasets, metrics, optimizers, augments; their options")
    p.add_argument("kind", nargs="?", help="models | losses | datasets | metrics | optimizers | augments, or train "
                                           "(the [train] keys; metrics --options also shows the [metrics] keys)")
    p.add_argument("name", nargs="?", help="one item: show its options (type, default, bounds, help)")
    p.add_argument("--options", action="store_true", help="each item's options, as its suite table takes them")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("leaderboard", help="(re)build and publish a suite's leaderboard")
    p.add_argument("dir", help="results/<suite>")
    p.add_argument("-o", "--output", default=None, help="write to FILE (default: print)")
    p.add_argument("--format", default=None,
                   help="md, html, json or csv (default: from FILE's suffix, else md)")
    p.add_argument("--no-plots", action="store_true", help="do not bring the suite's plots up to date first")

    p = sub.add_parser("sample", help="draw images from a finished run's generator")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of images")
    p.add_argument("-o", "--output", default=None,
                   help="grid PNG (default samples.png); with --format png a new folder, npz a .npz file")
    p.add_argument("--format", default="grid", choices=["grid", "png", "npz"],
                   help="grid: one PNG grid (default); png: one file per image; npz: one uint8 (N, H, W, C) "
                        "array 'images' (+ 'labels'), as FID tools read; both drawn as scoring draws them")
    p.add_argument("--batch", type=int, default=None,
                   help="images generated at once (default: the run's metrics.batch_size, as scoring draws them)")
    p.add_argument("--class", dest="cls", default=None, help="conditional models: a class name or index")
    p.add_argument("--seed", type=int, default=None,
                   help="latent seed (default: grid 0; png/npz the run's evaluation seed, i.e. its scoring sample)")

    p = sub.add_parser("score", help="score any samples (image folder or .npz) under a leaderboard's protocol")
    p.add_argument("samples", help="a folder of .png/.jpg images or an .npz of uint8 (N, H, W, C) 'images'")
    p.add_argument("--into", default=None, metavar="DIR",
                   help="results/<suite>: take its protocol from its finished runs and add the scores to its "
                        "leaderboard as an external row (needs --name)")
    p.add_argument("--name", default=None, help="the external row's label")
    p.add_argument("--dataset", default=None, help="the data set scored against (default with --into: the suite's)")
    p.add_argument("--classes", default=None, help="comma-separated class subset")
    p.add_argument("--split", default=None, help="the reference split (default: the data set's training split)")
    p.add_argument("--metrics", default=None, help="comma-separated metrics (default with --into: the suite's)")
    p.add_argument("--num-samples", type=int, default=None, help="images scored (default: the protocol's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a data set or metric option, VALUE in TOML: datasets.imagefolder.root='\"DIR\"', "
                        "datasets.cifar10.resolution=32, metrics.fid.weights='\"FILE\"', metrics.num_samples=5000")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")

    p = sub.add_parser("eval", help="re-score a run from its checkpoint (more samples, other metrics)")
    p.add_argument("run_dir", help="results/<suite>/<run-id>")
    p.add_argument("--metrics", default=None, help="comma-separated metric plugins (default: the run's own)")
    p.add_argument("--num-samples", type=int, default=None, help="generated samples (default: the run's)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--reference-split", default=None, metavar="SPLIT",
                   help="score against this split of the run's data set (default: the run's metrics.reference_split)")

    p = sub.add_parser("bench", help="ganbench's speed against plain PyTorch loops (ratios, interleaved)")
    p.add_argument("--quick", action="store_true", help="narrow widths, few steps (a few minutes on 2 CPU cores)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the result as JSON")
    p.add_argument("--repeats", type=int, default=0, help="interleaved repeats per case (default 5)")
    p.add_argument("--only", action="append", default=[], metavar="TEXT",
                   help="only cases whose name contains TEXT (repeatable), e.g. train/dcgan")
    p.add_argument("--compile", action="store_true", help="add a torch.compile case (reports compile time)")
    p.add_argument("--eval-samples", type=int, default=0, metavar="N",
                   help="generated images in the FID+IS+KID case (default 1000; ~35 min on 2 CPU cores)")
    p.add_argument("--loader-workers", type=int, default=0,
                   help="DataLoader workers of the plain baseline (default 0: on 2 cores workers slow it)")
    p.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as markdown")
    p.add_argument("--from", dest="from_json", default=None, metavar="JSON",
                   help="render a saved result (from --json) instead of measuring")
    p.add_argument("--device", default="auto",
                   help="auto (default: the GPU when there is one), cpu, cuda, cuda:N: where every variant runs")
    p.add_argument("--batch", action="append", type=int, default=[], metavar="N",
                   help="training batch of the train cases (repeatable, e.g. --batch 64 --batch 256; default 64)")

    p = sub.add_parser("doctor", help="check this machine's every path (CUDA: autocast, compile, packed workers, "
                                      "Ctrl-C and resume, bench); writes a report")
    p.add_argument("--device", default="auto",
                   help="auto (default: cuda when there is a GPU), cpu, cuda (CUDA_VISIBLE_DEVICES picks the GPU)")
    p.add_argument("--tiny", action="store_true",
                   help="narrow widths, a handful of steps (the CI mode: a few minutes on 2 CPU cores)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="an image folder (DIR[/train]/<class>/*.jpg, e.g. a CIFAR-10 slice) at 32x32; "
                        "default: the offline digits")
    p.add_argument("--out", default="results/gpu", metavar="DIR",
                   help="the report goes to DIR/<date>-<device>/ (default results/gpu)")
    p.add_argument("--work", default=None, metavar="DIR",
                   help="keep the runs' folders here (default: a temporary folder, removed afterwards)")
    p.add_argument("--budget", type=float, default=480.0, metavar="SECONDS",
                   help="a section that would start later than this is reported skipped (default 480)")
    return ap


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GanbenchError as exc:
        if args.debug:
            err_console.print_exception()
        err_console.print(f"[bold red]ERROR:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        return exc.exit_code
    except BrokenPipeError:  # `ganbench list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: rerun the same command to continue from the last checkpoints")
        return 130


def _plugins() -> Plugins:
    return load_plugins()


def _load(args: argparse.Namespace) -> tuple[Plugins, Suite]:
    plugins = _plugins()
    return plugins, load_suite(plugins, args.suite, args.sets, args.filters)


def cmd_validate(args: argparse.Namespace) -> int:
    plugins, suite = _load(args)
    problems = check_suite(plugins, suite)
    est = {} if problems else estimate(plugins, suite)
    if args.json:
        print(json.dumps({"suite": suite.name, "runs": [{"run_id": r.run_id, "coords": r.coords} for r in suite.runs],
                          "problems": [p.__dict__ for p in problems], "estimate": est}, indent=2, default=str))
    else:
        table = Table(title=f"{suite.name}: {len(suite.runs)} runs", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("run id")
        for axis in suite.axes:
            table.add_column(axis)
        table.add_column("steps", justify="right")
        for i, r in enumerate(suite.runs, 1):
            table.add_row(str(i), r.run_id, *[show_value(r.coords.get(a)) for a in suite.axes], str(r.train.steps))
        console.print(table)
        if est:
            console.print(f"Estimated time on {est['device']}: training ≈ {duration(est['train_seconds'])}, "
                          f"evaluation ≈ {duration(est['eval_seconds'])} (total ≈ {duration(est['total_seconds'])}; "
                          f"{est['basis']})")
    for p in problems:
        err_console.print(f"[bold red]{'MISSING' if p.missing_resource else 'ERROR'}:[/] {escape(str(suite.path))}: "
                          f"{escape(p.what)}: {escape(p.message)}",
                          soft_wrap=True)
    if any(not p.missing_resource for p in problems):
        return 2
    if problems:
        return 3
    if not args.json:
        console.print(f"[green]ok[/]: {suite.path} is ready to run")
    return 0


def cmd_run(args: argparse.Namespace) -> int:

    from .executors import get_executor

    plugins, suite = _load(args)
    executor = get_executor(args.executor, workers=args.workers, gpus_per_run=args.gpus_per_run,
                            address=args.address, retries=args.retries)
    console.print(f"[bold]{suite.name}[/]: {len(suite.runs)} runs → {Path(args.results) / suite.name}")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console,
                        transient=False, refresh_per_second=4)
    tasks: dict[str, Any] = {}
    plain = None if console.is_terminal else PlainProgress(lambda line: progress.console.print(line, markup=False),
                                                           args.progress_every)
    # queued/running across all workers of the executor, then the finished states
    counts = {"queued": 0, "running": 0, "done": 0, "failed": 0, "diverged": 0, "already finished": 0, "damaged": 0}

    def suite_info() -> None:
        progress.update(tasks["suite"], info=", ".join(f"{v} {k}" for k, v in counts.items() if v))

    def event(kind: str, **kw: Any) -> None:
        if kind == "suite_started":
            counts["queued"], counts["already finished"] = kw["todo"], kw["skipped"]
            counts["damaged"] = kw.get("damaged", 0)
            tasks["suite"] = progress.add_task("suite", total=kw["total"], completed=kw["skipped"] + counts["damaged"],
                                               info="")
            suite_info()
        elif kind == "run_damaged":  # left as it is: one line, the file and how to recover
            progress.console.print(f"[red]damaged:[/] {escape(kw['message'])}", soft_wrap=True)
        elif kind == "run_started":
            run = kw["run"]
            counts["queued"], counts["running"] = max(counts["queued"] - 1, 0), counts["running"] + 1
            suite_info()
            tasks[run.run_id] = progress.add_task(f"  {run.run_id[:48]}", total=run.train.steps, info="")
            if plain is not None:
                plain.started(run.run_id, run.train.steps)
        elif kind == "run_requeued":  # its worker died; it runs again from its last checkpoint
            run = kw["run"]
            counts["queued"], counts["running"] = counts["queued"] + 1, max(counts["running"] - 1, 0)
            if run.run_id in tasks:
                progress.remove_task(tasks.pop(run.run_id))
            progress.console.print(f"[yellow]retrying[/] {run.run_id}: {escape(str(kw['reason']))}")
            suite_info()
        elif kind == "run_progress":
            if plain is not None:
                plain.update(kw["run_id"], kw["step"], kw["extra"])
            tid = tasks.get(kw["run_id"])
            if tid is not None:
                e = kw["extra"]
                info = f"{e.get('img_per_s', 0):.0f} img/s"
                if "loss_d" in e:
                    info += f"  D {e['loss_d']:.3f}  G {e['loss_g']:.3f}"
                progress.update(tid, completed=kw["step"], info=info)
        elif kind == "run_finished":
            run, state = kw["run"], kw["state"]
            if plain is not None:
                plain.finished(run.run_id)
            counts[state] = counts.get(state, 0) + 1
            counts["running"] = max(counts["running"] - 1, 0)
            if run.run_id in tasks:
                progress.update(tasks[run.run_id], completed=run.train.steps, info=state)
                progress.remove_task(tasks.pop(run.run_id))
            colour = {"done": "green", "failed": "red", "diverged": "yellow", "damaged": "red"}.get(state, "white")
            err = kw["status"].get("error") if state != "damaged" else "a file of its folder does not read back"
            progress.console.print(f"[{colour}]{state}[/] {run.run_id}" + (f": {escape(err.splitlines()[0])}" if err else ""),
                                   soft_wrap=True)
            progress.update(tasks["suite"], advance=1)
            suite_info()
        elif kind == "warning":
            progress.console.print(f"[yellow]warning:[/] {escape(str(kw['message']))}")
        elif kind == "stopping":
            progress.console.print(f"[yellow]stopping:[/] {escape(str(kw['message']))}")

    t0 = time.perf_counter()
    with progress:
        result = run_suite(plugins, suite, Path(args.results), executor, on_event=event)
    _summary(plugins, result)
    console.print(f"wall time {time.perf_counter() - t0:.1f} s; leaderboard: {result.suite_dir / 'leaderboard.md'}")
    return 1 if result.failed else 0


def _summary(plugins: Any, result: Any) -> None:
    table = Table(title="runs", title_justify="left")
    for c in ("run id", "state", "primary score", "note"):
        table.add_column(c)
    for run_id, state in result.states.items():
        st = get_status(result.suite_dir / run_id) if state != "damaged" else {}  # nothing of it is trusted
        scores = st.get("scores") or {}
        best = st.get("best") or {}
        primary = best.get("score")
        val = scores.get(primary) if primary else None
        note = "skipped (finished earlier)" if run_id in result.skipped else (
            "left as it is (see the damaged line above)" if state == "damaged" else (st.get("error") or "").splitlines()[0:1])
        table.add_row(run_id, state, f"{primary}={val:.4g}" if val is not None else "–",
                      note if isinstance(note, str) else (note[0] if note else ""))
    console.print(table)


def _options_table(title: str, options: list[dict[str, Any]]) -> Table:
    table = Table(title=escape(title), title_justify="left")
    for c in ("key", "type", "default", "bounds", "help"):
        table.add_column(c)
    for o in options:
        table.add_row(o["name"], o["type"], escape(json.dumps(o["default"], default=str)), o["bounds"], o["help"])
    return table


def cmd_list(args: argparse.Namespace) -> int:

    if args.kind == "train":
        if args.json:
            print(json.dumps(options_help(TrainConfig), indent=2, default=str))
        else:
            console.print(_options_table("[train]", options_help(TrainConfig)))
        return 0
    if args.kind == "metrics" and args.options and not args.name and not args.json:
        console.print(_options_table("[metrics]", options_help(MetricsConfig)))
    plugins = _plugins()
    kinds = [args.kind] if args.kind else list(KINDS)
    rows = [{**r, "table": kind} for kind in kinds for r in plugins.registry(kind).describe()]
    if args.name:
        plugins.registry(kinds[0]).get(args.name, where=f"ganbench list {kinds[0]}")
        rows = [r for r in rows if r["name"] == args.name]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if args.options or args.name:
        for r in rows:
            title = f"[{r['table']}.{r['name']}] ({r['package']}): {r['description']}"
            if r["options"]:
                console.print(_options_table(title, r["options"]))
            else:
                console.print(f"{escape(title)}: no options")
        return 0
    table = Table()
    for c in ("name", "kind", "package", "description"):
        table.add_column(c)
    for r in rows:
        table.add_row(r["name"], r["kind"], r["package"], r["description"])
    console.print(table)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
    fmt = args.format or (suffix if suffix in FORMATS or suffix in ALIASES else "md")
    text, board = render_board(Path(args.dir), fmt, _plugins(), Path(args.output) if args.output else None,
                               draw=not args.no_plots)
    if args.output:
        console.print(f"wrote {args.output}")
    else:
        print(text)
    for x in board.left_out:  # the pages list them too; exit 0: the pages were written
        err_console.print(f"[yellow]left out:[/] {escape(x.message)}", soft_wrap=True)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from .export import export_samples, sample_run
    if args.format == "grid":
        path = sample_run(_plugins(), Path(args.run_dir), args.n, Path(args.output or "samples.png"), args.cls,
                          args.seed or 0)
    else:
        if not args.output:
            raise GanbenchError(f"--format {args.format} needs -o: a new folder (png) or a .npz file (npz)")
        with Progress(TextColumn("sampling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err_console, transient=True) as bar:
            task = bar.add_task("", total=args.n)
            path = export_samples(_plugins(), Path(args.run_dir), args.n, args.format, Path(args.output), args.cls,
                                  args.seed, args.batch, on_batch=lambda done: bar.update(task, completed=done))
    console.print(f"wrote {path}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    if args.into and not args.name:
        raise GanbenchError("--into needs --name: the external row's label")
    config = protocol_of_suite(Path(args.into)) if args.into else {}
    dataset = args.dataset or config.get("dataset")
    if not dataset:
        raise GanbenchError("--dataset is required without --into", hint="e.g. --dataset cifar10 --classes horse")
    table = dict((config.get("datasets") or {}).get(dataset, {})) if dataset == config.get("dataset") else {}
    if args.classes is not None:
        table["classes"] = [c for c in args.classes.split(",") if c]
    metrics = dict(config.get("metrics") or {"names": ["classifier"]})
    if args.split:
        metrics["reference_split"] = args.split
    if args.metrics:
        metrics["names"] = [m for m in args.metrics.split(",") if m]
    if args.num_samples:
        metrics["num_samples"] = args.num_samples
    score_sets(args.set, dataset, table, metrics)
    opts = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    metrics = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    plugins = _plugins()
    scores, protocol = score_samples(plugins, Path(args.samples), dataset, table, metrics, opts, args.device)
    for k, v in scores.items():
        console.print(f"{k} = {v:.6g}")
    console.print(f"protocol: {escape(json.dumps(protocol, default=str))}")
    if args.into:
        path = add_external(Path(args.into), args.name, Path(args.samples), scores, protocol)
        write_all(Path(args.into), plugins)
        console.print(f"wrote {path}; leaderboard: {Path(args.into) / 'leaderboard.md'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .rescore import cmd_eval as run_eval
    return run_eval(args, _plugins(), console)


def cmd_bench(args: argparse.Namespace) -> int:
    # imported here: the self-benchmark is a developer tool outside the core's import graph
    # (it loads torch, torchvision and the fidelity plugin), reached only by this command
    from .bench import cmd_bench as run_bench
    return run_bench(args, console)


def cmd_doctor(args: argparse.Namespace) -> int:
    # imported here, as the bench is: a machine check outside the core's import graph
    from .doctor import cmd_doctor as run_doctor
    return run_doctor(args, console)


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "leaderboard": cmd_leaderboard,
            "sample": cmd_sample, "score": cmd_score, "eval": cmd_eval, "bench": cmd_bench, "doctor": cmd_doctor}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
