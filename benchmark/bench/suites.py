"""The executor cases: a whole suite run one after another in this process against worker
processes, and (scripts/bench_executors.py) local, process and Ray on the quickstart suite.

The comparison of all three times one narrow CPU suite of 8 runs under each executor, after
a 1-step run has filled the cache (the classifier metric trains its CNN once per data set).
train.threads is left at 0 by default, as a user would: the local executor gives each run
every core, the process and Ray executors split the cores between their workers; a pinned
thread count separates the gain of running runs side by side from the loss of
multi-threaded kernels on a machine whose cores other work is also using. Ray's instance is
started outside the suite's timing, so its start-up is reported on its own. Ray's overhead
is reported two ways: in the suite, the time from a free slot to the task's first line
running; and for no-op tasks, one at a time, submit → start and the full round trip.
"""
from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import torch

from ..errors import GanbenchError
from ..executors import Executor, get_executor, usable_cpus
from ..executors.ray import import_ray
from ..plugins import Plugins
from ..runner import run_suite
from ..suite import load_suite
from .config import NARROW_WIDTH, BenchConfig
from .loops import bench_suite_text
from .measure import interleave, ratio
from .records import Case, Skip

Log = Callable[[str], None]


def suite_case_name(cfg: BenchConfig) -> str:
    return f"suite/{cfg.suite_runs}-runs/w{NARROW_WIDTH}"


def case_suite(plugins: Plugins, model: str, cfg: BenchConfig, log: Log) -> Case:
    """A narrow-width suite of cfg.suite_runs runs: the local executor against 2 worker processes
    (on a GPU: 4 workers packed on it, --gpus-per-run 0.25)."""
    gpu = cfg.device != "cpu"
    workers, share = (4, 0.25) if gpu else (2, None)
    try:
        get_executor("process", workers=workers, gpus_per_run=share)
    except GanbenchError as exc:
        raise Skip(f"no process executor: {exc}") from None
    text = bench_suite_text(model, NARROW_WIDTH, cfg.batch_size, cfg.suite_steps, name="bench-suite",
                            seeds=tuple(range(cfg.suite_runs)), resolution=16, device=cfg.device)
    root = Path(tempfile.mkdtemp(prefix="ganbench-bench-suite-"))
    suite = load_suite(plugins, root / "bench-suite.toml", text=text)
    counter = iter(range(10**6))

    def timed(executor: str) -> Callable[[], float]:
        def go() -> float:
            out = root / f"r{next(counter)}"
            threads = torch.get_num_threads()
            t0 = time.perf_counter()
            try:
                result = run_suite(plugins, suite, out, get_executor(executor, workers=workers, gpus_per_run=share))
            finally:
                torch.set_num_threads(threads)
            seconds = time.perf_counter() - t0
            shutil.rmtree(out, ignore_errors=True)
            bad = {k: v for k, v in result.states.items() if v != "done"}
            if bad:
                raise RuntimeError(f"suite runs did not finish: {bad}")
            return len(suite.runs) / seconds  # runs per second
        return go

    repeats = min(cfg.suite_repeats, cfg.repeats)
    log(f"  suite: {len(suite.runs)} runs x {cfg.suite_steps} steps, {repeats} repeats, local vs process")
    packed = f"process_{workers}_workers"
    try:
        samples = interleave({packed: timed("process"), "sequential": timed("local")}, repeats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    details: dict[str, Any] = dict(runs=len(suite.runs), steps=cfg.suite_steps, workers=workers)
    if gpu:
        details["gpus_per_run"] = share
    if repeats < 5:
        details["note"] = "--quick: one repeat (each trains 16 runs); the full bench uses 5"
    case = Case(suite_case_name(cfg), "suite", "runs/s", samples, details=details)
    case.add_ratio("vs_sequential", ratio(samples, packed, "sequential"), device=cfg.device)
    return case


# -- local, process and Ray on the quickstart suite --------------------------------------------
@dataclass(frozen=True)
class RayOverhead:
    """Ray's start-up and scheduling costs, in seconds."""

    init: float
    #: per run of the suite: from a free slot (task submitted, or the slot's previous run
    #: finished) to the task's first line running; the first wave includes worker start-up
    gaps: list[float]
    noop_start: list[float]  # no-op task on a warm worker: submit → start
    noop_trip: list[float]  # ... and the full round trip


@dataclass
class ExecutorTimes:
    """Wall seconds of one suite under each executor (in the order they ran)."""

    runs: int
    steps: int
    workers: int
    threads: int
    cpus: int
    warm_seconds: float
    wall: dict[str, float] = field(default_factory=dict)
    ray: Optional[RayOverhead] = None


def quickstart_sets(steps: int, threads: int) -> list[str]:
    """The quickstart with two more seeds (8 runs) and ``steps`` G steps a run."""
    return ["matrix.seed=[0, 1, 2, 3]", f"train.steps={steps}", f"train.checkpoint_every={steps}",
            f"train.sample_every={max(1, steps // 3)}", "metrics.num_samples=500", f"train.threads={threads}"]


def dispatch_gaps(timings: dict[str, dict[str, Any]], slots: int) -> list[float]:
    """Seconds from a free slot to a task starting: the first `slots` runs from submission,
    each later one from the earliest finish not yet taken by an earlier start."""
    runs = sorted(timings.values(), key=lambda t: t["started"])
    frees = sorted(t["worker_finished"] for t in runs)
    gaps = [t["started"] - t["submitted"] for t in runs[:slots]]
    gaps += [t["started"] - frees[i] for i, t in enumerate(runs[slots:])]
    return gaps


def _noop(submitted: float) -> tuple[float, float]:
    return submitted, time.time()


def ray_noop_latency(ray: ModuleType, n: int = 30) -> tuple[list[float], list[float]]:
    """(submit → start, round trip) of ``n`` no-op tasks, one at a time, on a warm worker."""
    task = ray.remote(num_cpus=1)(_noop)
    ray.get(task.remote(time.time()))  # a warm worker, as in a running suite
    starts, trips = [], []
    for _ in range(n):
        t0 = time.time()
        submitted, started = ray.get(task.remote(t0))
        trips.append(time.time() - t0)
        starts.append(started - submitted)
    return starts, trips


def compare_executors(plugins: Plugins, suite_path: Path, names: list[str], steps: int, workers: int,
                      threads: int, log: Log = lambda s: None) -> ExecutorTimes:
    """Run the suite at ``suite_path`` (the quickstart) once under each executor named."""
    suite = load_suite(plugins, suite_path, quickstart_sets(steps, threads))

    def once(name: str, results: Path) -> tuple[float, Executor]:
        executor = get_executor(name, workers=workers)
        t0 = time.perf_counter()
        result = run_suite(plugins, suite, results, executor)
        wall = time.perf_counter() - t0
        bad = {r: s for r, s in result.states.items() if s != "done"}
        if bad:
            raise GanbenchError(f"{name}: runs did not finish: {bad}")
        return wall, executor

    with tempfile.TemporaryDirectory(prefix="ganbench-bench-") as tmp:
        t0 = time.perf_counter()
        warm = load_suite(plugins, suite_path, ["train.steps=1", "metrics.num_samples=100"],
                          ["latent_dim=16", "seed=0"])
        run_suite(plugins, warm, Path(tmp) / "warm")
        out = ExecutorTimes(runs=len(suite.runs), steps=steps, workers=workers, threads=threads, cpus=usable_cpus(),
                            warm_seconds=time.perf_counter() - t0)
        log(f"warming the cache (classifier) ... {out.warm_seconds:.1f} s")
        for name in names:
            results = Path(tmp) / name
            if name == "ray":
                ray = import_ray()
                t0 = time.perf_counter()
                ray.init(num_cpus=usable_cpus(), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, object_store_memory=256 * 2**20)
                init = time.perf_counter() - t0
                try:
                    wall, executor = once(name, results)
                    gaps = dispatch_gaps(executor.timings, workers)
                    out.ray = RayOverhead(init, gaps, *ray_noop_latency(ray))
                finally:
                    ray.shutdown()
            else:
                wall, executor = once(name, results)
            out.wall[name] = wall
            log(f"{name}: {wall:.1f} s")
    return out


def executor_table(t: ExecutorTimes) -> list[str]:
    """The comparison as lines of text: wall time, per run and against local, then Ray's costs."""
    runs = t.runs
    lines = [f"{runs} runs × {t.steps} steps (quickstart, width 16, 16×16), {t.cpus} usable cores, "
             f"{t.workers} workers for process/ray, train.threads={t.threads or 'unpinned'}",
             f"{'executor':<22}{'wall s':>9}{'s/run':>8}{'vs local':>10}"]
    base = t.wall.get("local")
    for name, wall in t.wall.items():
        label = name if name == "local" else f"{name}({t.workers})"
        lines.append(f"{label:<22}{wall:>9.1f}{wall / runs:>8.1f}{(base / wall if base else float('nan')):>9.2f}x")
        if name == "ray" and t.ray is not None:
            total = wall + t.ray.init
            lines.append(f"{'ray total (+ init)':<22}{total:>9.1f}{total / runs:>8.1f}"
                         f"{(base / total if base else float('nan')):>9.2f}x")
    if t.ray is not None:
        r = t.ray
        lines += ["", f"Ray: init {r.init:.1f} s; in the suite, free slot → task running: median "
                      f"{statistics.median(r.gaps):.2f} s, max {max(r.gaps):.2f} s (first wave includes worker "
                      f"start-up)"]
        later = r.gaps[t.workers:]
        if later:
            lines.append(f"     later runs only (warm workers): median {statistics.median(later) * 1000:.0f} ms")
        lines.append(f"     no-op task, warm worker: submit → start median {statistics.median(r.noop_start) * 1000:.1f}"
                     f" ms, round trip median {statistics.median(r.noop_trip) * 1000:.1f} ms (n={len(r.noop_start)})")
    return lines
