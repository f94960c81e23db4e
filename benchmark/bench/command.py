"""`ganbench bench`: every case of the table in order, the result, the exit status.

One case that fails is recorded as skipped with its error, never losing the measurements of
the others. Everything the cases run is imported when this package is, so a long bench never
picks up source files edited while it runs.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

import torch
from rich.console import Console

from .. import __version__
from ..errors import GanbenchError
from ..executors import usable_cpus
from ..plugins import Plugins, load_plugins
from . import cases, evaluation, suites
from .config import CASES, EFFICIENCY_GOAL, NARROW_WIDTH, BenchConfig, CaseSpec, Kind, batch_suffix
from .measure import matmul_gflops
from .records import BenchResult, Case, Efficiency, LoadAverage, Skip, Skipped
from .report import read_result, render, to_markdown, write_result

Log = Callable[[str], None]


class _Runner:
    """Runs cases into one list, each failure or skip into another."""

    def __init__(self, plugins: Plugins, cfg: BenchConfig, log: Log):
        self.plugins, self.cfg, self.log = plugins, cfg, log
        self.cases: list[Case] = []
        self.skipped: list[Skipped] = []

    def registered(self, model: str, name: str) -> bool:
        """Whether the case's model plugin is registered; if not, the case is reported skipped."""
        if model in self.plugins.models.names():
            return True
        if self.cfg.wants(name):
            self.skipped.append(Skipped(name, f"model plugin '{model}' is not registered"))
        return False

    def attempt(self, name: str, fn: Callable[[], Case]) -> None:
        if not self.cfg.wants(name):
            return
        self.log(f"[{name}]")
        try:
            self.cases.append(fn())
        except Skip as exc:
            self.skipped.append(Skipped(name, str(exc)))
            self.log(f"  skipped: {exc}")
        except Exception as exc:  # one broken case must not lose the others' measurements
            self.skipped.append(Skipped(name, f"FAILED: {type(exc).__name__}: {exc}"))
            self.log(f"  FAILED: {type(exc).__name__}: {exc}")

    def widths(self, kind: str, model: str, run: Callable[[str, str, int, int], Case],
               batches: tuple[int, ...] = (0,)) -> None:
        """A train or sample case at each width (and training batch) the configuration asks for."""
        if not self.registered(model, f"{kind}/{model}"):
            return
        for width_kind, width in self.cfg.widths(cases.default_width(self.plugins, model)):
            for batch in batches:
                self.attempt(f"{kind}/{model}/w{width}{batch_suffix(batch)}",
                             lambda k=width_kind, w=width, b=batch: run(model, k, w, b))

    def rows(self, kind: Kind, name: str = "") -> list[CaseSpec]:
        """The table's rows of one kind to measure; a row that --quick leaves out with a note
        is reported skipped under ``name``."""
        out = []
        for spec in CASES:
            if spec.kind != kind:
                continue
            if self.cfg.quick and not spec.quick:
                if spec.skip_note:
                    self.skipped.append(Skipped(name, spec.skip_note))
                continue
            out.append(spec)
        return out


def device_label(device: str) -> str:
    """"cpu", or "cuda (NVIDIA H200)": what a result says it measured."""
    if device == "cpu":
        return device
    if not torch.cuda.is_available():
        raise GanbenchError(f"--device {device} but CUDA is not available on this machine",
                            hint="use --device cpu (or auto)")
    dev = torch.device(device)
    if (dev.index or 0) >= torch.cuda.device_count():
        raise GanbenchError(f"--device {device} but this machine shows {torch.cuda.device_count()} GPU(s)",
                            hint="use cuda:0 .. cuda:N-1 (CUDA_VISIBLE_DEVICES renumbers them)")
    return f"{device} ({torch.cuda.get_device_name(dev)})"


def run_bench(cfg: BenchConfig, log: Log = lambda s: None, plugins: Optional[Plugins] = None) -> BenchResult:
    """Every case the configuration asks for, and the machine it ran on."""
    plugins = plugins or load_plugins()
    label = device_label(cfg.device)
    r = _Runner(plugins, cfg, log)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    peak = [matmul_gflops(device=cfg.device)]
    log(f"matmul on {label}: {peak[0]:.0f} GFLOP/s ({torch.get_num_threads()} threads), "
        f"load average {load0[0]:.2f}")
    for model in cfg.models:
        r.widths("train", model, lambda m, k, w, b: cases.case_training(plugins, m, k, w, cfg, log, b),
                 cfg.train_batches())
    peak.append(matmul_gflops(device=cfg.device))
    for spec in r.rows("sample"):
        r.widths("sample", spec.model, lambda m, k, w, b: cases.case_sampling(plugins, m, k, w, cfg, log))
    for spec in r.rows("compile") if cfg.compile else []:
        name = f"compile/{spec.model}/w{NARROW_WIDTH}"
        if r.registered(spec.model, name):
            r.attempt(name, lambda m=spec.model: cases.case_compile(plugins, m, NARROW_WIDTH, cfg, log))
    name = suites.suite_case_name(cfg)
    for spec in r.rows("suite", name):
        if r.registered(spec.model, name):
            r.attempt(name, lambda m=spec.model: suites.case_suite(plugins, m, cfg, log))
    for spec in r.rows("eval", "eval/fid+is+kid"):
        if r.registered(spec.model, "eval/fid+is+kid"):
            r.attempt("eval/fid+is+kid", lambda m=spec.model: evaluation.case_eval(plugins, m, cfg, log))
    peak.append(matmul_gflops(device=cfg.device))
    matmul = statistics.median(peak)
    efficiency: dict[str, Efficiency] = {}
    for case in r.cases:
        if case.kind == "train" and case.details.get("flops_per_image"):
            achieved = case.details["flops_per_image"] * case.median["ganbench"] / 1e9
            case.details.update(achieved_gflops=achieved, efficiency=achieved / matmul)
            goal = EFFICIENCY_GOAL if case.details["width_kind"] == "full" and cfg.device == "cpu" else None
            efficiency[case.name] = Efficiency(achieved / matmul, achieved, goal)
    load1 = os.getloadavg()
    return BenchResult(
        ganbench=__version__, torch=torch.__version__, device=label, threads=torch.get_num_threads(),
        cpus=usable_cpus(), quick=cfg.quick, repeats=cfg.repeats, config=cfg.to_json(),
        load_average=LoadAverage(load0[0], load1[0]), under_load=max(load0[0], load1[0]) > 1.25 * usable_cpus(),
        matmul_gflops=matmul, matmul_gflops_samples=peak, cases=r.cases, efficiency=efficiency,
        skipped=r.skipped, seconds=time.perf_counter() - t_start)


def resolve_bench_device(name: str) -> str:
    """--device: auto is the GPU when there is one (a bench on a GPU machine measures the GPU)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise GanbenchError(f"--device: expected auto, cpu, cuda or cuda:N, found '{name}'")
    device_label(name)  # refuses cuda without CUDA
    return name


@contextlib.contextmanager
def _threads_kept() -> Iterator[None]:
    n = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(n)


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    """`ganbench bench`: measure (or read --from), print the table, write JSON and markdown.
    Exit status 1 when a ratio is not a finite positive number."""
    if args.from_json:
        result = read_result(Path(args.from_json))
    else:
        cfg = BenchConfig.make(args.quick, **({"repeats": args.repeats} if args.repeats else {}),
                               compile=args.compile, only=tuple(args.only or ()), loader_workers=args.loader_workers,
                               **({"eval_samples": args.eval_samples} if args.eval_samples else {}),
                               device=resolve_bench_device(args.device), batch_sizes=tuple(args.batch or ()))
        if cfg.repeats < 1:
            raise GanbenchError(f"--repeats must be ≥ 1, found {cfg.repeats}")
        if cfg.eval_samples < 1:
            raise GanbenchError(f"--eval-samples must be ≥ 1, found {cfg.eval_samples}")
        bad = [b for b in cfg.batch_sizes if b < 1]
        if bad:
            raise GanbenchError(f"--batch must be ≥ 1, found {bad[0]}")
        with _threads_kept():
            result = run_bench(cfg, log=lambda s: console.print(s, highlight=False, markup=False))
    render(result, console)
    if args.json and not args.from_json:
        write_result(result, Path(args.json))
        console.print(f"wrote {args.json}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(to_markdown(result))
        console.print(f"wrote {args.markdown}")
    bad = [k for k, v in result.all_ratios().items() if not (math.isfinite(v) and v > 0)]
    return 1 if bad else 0
