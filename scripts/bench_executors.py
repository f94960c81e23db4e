"""Wall time of one narrow CPU suite under each executor, and Ray's scheduling overhead.

The suite is the quickstart with two more seeds (8 runs: latent 16/64 × seeds 0–3, width
16, 16×16 digits) and fewer steps. train.threads is left at 0 by default, as a user would: the
local executor gives each run every core, the process and Ray executors split the cores
between their workers (which also changes the numbers slightly: see ganbench.executors);
--threads 1 pins it, which separates the gain of running runs side by side from the loss
of multi-threaded kernels on a machine whose cores other work is also using.

Before timing, one 1-step run warms the cache (the classifier metric trains its CNN once
per data set), so every executor finds it trained. Each executor then runs the suite into
a fresh folder. Ray's instance is started here, outside the suite's timing, so its start-up
is reported on its own; "ray total" adds it back.

Ray overhead is reported two ways: (a) in the suite, the time from a free slot (the task
submitted, or the previous run on that slot finished) to the task's first line running;
(b) no-op tasks, one at a time: submit → start and the full round trip.

    python scripts/bench_executors.py [--steps 150] [--workers 2] [--threads 0] [--executors local,process,ray]

Timings on a shared machine are noisy: run it on an otherwise idle one, or repeat.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def suite_sets(steps: int, threads: int) -> list[str]:
    return ["matrix.seed=[0, 1, 2, 3]", f"train.steps={steps}", f"train.checkpoint_every={steps}",
            f"train.sample_every={max(1, steps // 3)}", "metrics.num_samples=500", f"train.threads={threads}"]


def run_once(name: str, workers: int, steps: int, threads: int, results: Path) -> tuple[float, Any]:
    from ganbench.executors import get_executor
    from ganbench.plugins import load_plugins
    from ganbench.runner import run_suite
    from ganbench.suite import load_suite

    plugins = load_plugins()
    suite = load_suite(plugins, ROOT / "suites" / "quickstart.toml", suite_sets(steps, threads))
    executor = get_executor(name, workers=workers)
    t0 = time.perf_counter()
    result = run_suite(plugins, suite, results, executor)
    wall = time.perf_counter() - t0
    bad = {r: s for r, s in result.states.items() if s != "done"}
    if bad:
        raise SystemExit(f"{name}: runs did not finish: {bad}")
    return wall, executor


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


def ray_noop_latency(ray: Any, n: int = 30) -> tuple[list[float], list[float]]:
    task = ray.remote(num_cpus=1)(_noop)
    ray.get(task.remote(time.time()))  # a warm worker, as in a running suite
    starts, trips = [], []
    for _ in range(n):
        t0 = time.time()
        submitted, started = ray.get(task.remote(t0))
        trips.append(time.time() - t0)
        starts.append(started - submitted)
    return starts, trips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="G steps per run (default 150)")
    ap.add_argument("--workers", type=int, default=2, help="process workers / concurrent Ray tasks")
    ap.add_argument("--executors", default="local,process,ray", help="comma-separated (default: all three)")
    ap.add_argument("--threads", type=int, default=0,
                    help="pin train.threads (default 0: local uses every core per run, workers split them)")
    args = ap.parse_args()
    names = [n.strip() for n in args.executors.split(",") if n.strip()]

    from ganbench.executors import usable_cpus

    with tempfile.TemporaryDirectory(prefix="ganbench-bench-") as tmp:
        print(f"warming the cache (classifier) ... ", end="", flush=True)
        t0 = time.perf_counter()
        from ganbench.plugins import load_plugins
        from ganbench.runner import run_suite
        from ganbench.suite import load_suite
        plugins = load_plugins()
        warm = load_suite(plugins, ROOT / "suites" / "quickstart.toml", ["train.steps=1", "metrics.num_samples=100"],
                          ["latent_dim=16", "seed=0"])
        run_suite(plugins, warm, Path(tmp) / "warm")
        print(f"{time.perf_counter() - t0:.1f} s")

        rows: list[tuple[str, float]] = []
        ray_info: dict[str, Any] = {}
        for name in names:
            results = Path(tmp) / name
            if name == "ray":
                import ray
                t0 = time.perf_counter()
                ray.init(num_cpus=usable_cpus(), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, object_store_memory=256 * 2**20)
                ray_info["init"] = time.perf_counter() - t0
                try:
                    wall, executor = run_once(name, args.workers, args.steps, args.threads, results)
                    ray_info["gaps"] = dispatch_gaps(executor.timings, args.workers)
                    ray_info["noop_start"], ray_info["noop_trip"] = ray_noop_latency(ray)
                finally:
                    ray.shutdown()
            else:
                wall, executor = run_once(name, args.workers, args.steps, args.threads, results)
            print(f"{name}: {wall:.1f} s")
            rows.append((name, wall))

    cpus = usable_cpus()
    print(f"\n8 runs × {args.steps} steps (quickstart, width 16, 16×16), {cpus} usable cores, "
          f"{args.workers} workers for process/ray, train.threads={args.threads or 'unpinned'}")
    print(f"{'executor':<22}{'wall s':>9}{'s/run':>8}{'vs local':>10}")
    base = dict(rows).get("local")
    for name, wall in rows:
        label = name if name == "local" else f"{name}({args.workers})"
        print(f"{label:<22}{wall:>9.1f}{wall / 8:>8.1f}{(base / wall if base else float('nan')):>9.2f}x")
        if name == "ray":
            total = wall + ray_info["init"]
            print(f"{'ray total (+ init)':<22}{total:>9.1f}{total / 8:>8.1f}"
                  f"{(base / total if base else float('nan')):>9.2f}x")
    if ray_info:
        gaps = ray_info["gaps"]
        print(f"\nRay: init {ray_info['init']:.1f} s; in the suite, free slot → task running: median "
              f"{statistics.median(gaps):.2f} s, max {max(gaps):.2f} s (first wave includes worker start-up)")
        later = gaps[args.workers:]
        if later:
            print(f"     later runs only (warm workers): median {statistics.median(later) * 1000:.0f} ms")
        s, t = ray_info["noop_start"], ray_info["noop_trip"]
        print(f"     no-op task, warm worker: submit → start median {statistics.median(s) * 1000:.1f} ms, "
              f"round trip median {statistics.median(t) * 1000:.1f} ms (n={len(s)})")


if __name__ == "__main__":
    main()
