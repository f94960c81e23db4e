"""`ganbench doctor`: every section in order, each guarded, then the report.

Sections run cheapest-to-judge first (training, the executors, then throughput.json, which
reads both's run folders, the bench, and compile last: its cold compile is the least
predictable cost). A section
that raises becomes one failed check with the error, never losing the others' checks; one
that would start after the time budget is reported skipped. The report is rewritten after
every part, so a run stopped by a time limit still leaves what it found.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import __version__
from ..bench.command import resolve_bench_device
from ..bench.report import write_result
from ..data import DataCache, cache_dir
from ..errors import GanbenchError, ResourceMissing
from ..executors import usable_cpus
from ..plugins import load_plugins
from ..runner import git_commit
from .benching import section_bench, section_goals
from .compiling import section_compile
from .config import DoctorConfig
from .harness import Context, Log, data_choice
from .interrupt import section_interrupt
from .packing import section_packing
from .records import Check, Report, skip
from .report import folder_name, write_report
from .timing import section_throughput
from .training import section_training

Part = Callable[[Context], list[Check]]
#: (section, label, part) in the order they run
PARTS: tuple[tuple[str, str, Part], ...] = (
    ("1", "training", section_training), ("3", "packing", section_packing), ("3", "ctrl-c", section_interrupt),
    ("5", "throughput", section_throughput), ("4", "bench", section_bench), ("2", "compile", section_compile),
    ("goals", "goals", section_goals))
COLOURS = {"pass": "green", "fail": "red", "skipped": "yellow"}


def environment(device: torch.device) -> dict[str, object]:
    def version(dist: str) -> Optional[str]:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    env: dict[str, object] = {
        "device": str(device), "torch": torch.__version__, "torchvision": version("torchvision"),
        "torch_fidelity": version("torch-fidelity"), "python": platform.python_version(),
        "machine": f"{platform.machine()}, {usable_cpus()} usable cores", "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device=f"{device} ({props.name})", gpu=props.name, gpu_memory_gib=props.total_memory / 2**30,
                   gpu_capability=f"{props.major}.{props.minor}", gpu_count=torch.cuda.device_count(),
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return env


def run_doctor(cfg: DoctorConfig, out_root: Path, work: Path, log: Log, command: str) -> tuple[Report, Path]:
    """Every part, the report written to out_root/<date>-<device>/; returns it and that folder."""
    device = torch.device(cfg.device)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    plugins = load_plugins()
    env = environment(device)
    choice = data_choice(cfg)
    ctx = Context(plugins, cfg, work, log, device, DataCache(plugins, cache_dir()), choice)
    # a copy of the tree without .git (a lent GPU machine's) names its commit in GANBENCH_COMMIT
    commit = git_commit() or os.environ.get("GANBENCH_COMMIT") or None
    report = Report(started, command, commit, __version__, "tiny" if cfg.tiny else "full", env,
                    {**cfg.to_json(), "data": choice.label})
    folder = Path(out_root) / folder_name(started, str(env.get("gpu") or "cpu"))
    threads = torch.get_num_threads()
    for section, label, part in PARTS:
        if label != "goals" and ctx.elapsed() > cfg.budget_s:
            report.checks.append(skip(section, f"{label}/*", f"the time budget ({cfg.budget_s:.0f} s) was spent "
                                                             f"before this part started"))
            continue
        log(f"[{ctx.elapsed():6.1f} s] {section}: {label}")
        t0 = time.perf_counter()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        try:
            report.checks += part(ctx)
        except Exception as exc:  # one broken part must not lose the other parts' checks
            where = traceback.extract_tb(exc.__traceback__)[-1]
            report.checks.append(Check(section, f"{label}/error", "fail", "the part runs to its end", {},
                                       f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"))
            log(f"  FAILED: {type(exc).__name__}: {exc}")
        except KeyboardInterrupt:  # Ctrl-C, or the time limit of the caller: keep what is known
            report.checks.append(Check(section, f"{label}/interrupted", "fail", "the part runs to its end", {},
                                       "interrupted (Ctrl-C or a time limit) while this part ran"))
            _write(report, ctx, folder)
            raise
        finally:
            torch.set_num_threads(threads)
            report.section_seconds[section] = report.section_seconds.get(section, 0.0) + time.perf_counter() - t0
        _write(report, ctx, folder)  # after every part: a run cut short still leaves its report
    return report, folder


def _write(report: Report, ctx: Context, folder: Path) -> None:
    report.seconds = ctx.elapsed()
    write_report(report, folder)
    if ctx.bench is not None:
        write_result(ctx.bench, folder / "bench.json")


def _command(args: argparse.Namespace, device: str) -> str:
    argv = ["ganbench", "doctor", "--device", device, *(["--tiny"] if args.tiny else []),
            *(["--data", args.data] if args.data else []), "--out", args.out, "--budget", f"{args.budget:g}",
            *(["--work", args.work] if args.work else [])]
    return " ".join(shlex.quote(a) for a in argv)


def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    """`ganbench doctor`: exit status 1 when a check failed, 0 when every one passed or was skipped."""
    device = resolve_bench_device(args.device)
    if device.startswith("cuda:"):
        raise GanbenchError(f"--device {device}: the doctor packs process-executor workers on one GPU, which each "
                            "sees as cuda:0", hint=f"run CUDA_VISIBLE_DEVICES={device[5:]} ganbench doctor --device cuda")
    if device == "cpu" and not args.tiny:
        raise GanbenchError("the full check trains every model at paper width: hours on a CPU",
                            hint="add --tiny (the same checks, narrow and short), or run it on a GPU")
    if args.data and not Path(args.data).is_dir():
        raise ResourceMissing(f"--data {args.data} is not a folder",
                              hint="pass an image folder, DIR[/train]/<class>/*.jpg (e.g. a CIFAR-10 slice)")
    cfg = DoctorConfig.make(device, args.tiny, args.data, args.budget)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ganbench-doctor-"))
    t0 = time.perf_counter()

    def log(line: str) -> None:
        console.print(escape(line), highlight=False, soft_wrap=True)

    try:
        report, folder = run_doctor(cfg, Path(args.out), work, log, _command(args, device))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"ganbench doctor on {report.environment.get('device')}: {time.perf_counter() - t0:.0f} s",
                  title_justify="left")
    for col in ("section", "check", "status", "why not"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(c.section, escape(c.name), f"[{COLOURS[c.status]}]{c.status}[/]",
                      escape(c.reason if c.status != "pass" else ""))
    console.print(table)
    counts = report.counts()
    console.print(f"{counts['pass']} pass, {counts['fail']} fail, {counts['skipped']} skipped; "
                  f"wrote {folder / 'report.md'} and report.json")
    return 1 if report.failed() else 0
