"""Wall time of one narrow CPU suite under each executor, and Ray's scheduling overhead.

The suite is the quickstart with two more seeds (8 runs: latent 16/64 × seeds 0–3, width
16, 16×16 digits) and fewer steps; ganbench.bench.suites explains what is timed and how.
--threads 1 pins train.threads (default 0: local uses every core per run, the process and
Ray executors split the cores between their workers). --json also writes the timings.

    python scripts/bench_executors.py [--steps 150] [--workers 2] [--threads 0] [--executors local,process,ray]

Timings on a shared machine are noisy: run it on an otherwise idle one, or repeat.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ganbench.bench.suites import compare_executors, executor_table
from ganbench.plugins import load_plugins
from ganbench.results import write_json

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="G steps per run (default 150)")
    ap.add_argument("--workers", type=int, default=2, help="process workers / concurrent Ray tasks")
    ap.add_argument("--executors", default="local,process,ray", help="comma-separated (default: all three)")
    ap.add_argument("--threads", type=int, default=0,
                    help="pin train.threads (default 0: local uses every core per run, workers split them)")
    ap.add_argument("--json", default="", metavar="FILE", help="also write the timings as JSON")
    args = ap.parse_args()
    names = [n.strip() for n in args.executors.split(",") if n.strip()]

    times = compare_executors(load_plugins(), ROOT / "suites" / "quickstart.toml", names, args.steps, args.workers,
                              args.threads, log=lambda s: print(s, flush=True))
    print()
    for line in executor_table(times):
        print(line)
    if args.json:
        write_json(Path(args.json), dataclasses.asdict(times))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
