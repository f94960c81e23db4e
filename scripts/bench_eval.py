"""How much does ganbench add to torch-fidelity? FID + IS + KID on N generated digits.

The measurement is ganbench.bench.evaluation's, the same one `ganbench bench` runs as its
eval/fid+is+kid case: ganbench's evaluation against torch_fidelity.calculate_metrics called
directly on the very same images, alternating, both caches warm. Prints both sides' scores
and the time ratio (goal ≤ 1.1); --json also writes the timings. Inception-v3 runs at
≈ 5 images/s on a 2-core CPU, so keep N small there (100–200): the run costs about
4 N + 12 feature extractions. Without --weights a randomly initialised Inception-v3 is
saved once under the ganbench cache (the real network's cost; the scores mean nothing).

    python scripts/bench_eval.py --num-samples 100 [--weights FILE] [--repeats 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ganbench.bench.evaluation import eval_summary, measure_eval
from ganbench.plugins import get_plugin_manager, load_plugins
from ganbench.results import write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-samples", type=int, default=100, help="generated images (and real images)")
    ap.add_argument("--weights", default="", help="Inception weights file (default: a random one, saved once)")
    ap.add_argument("--repeats", type=int, default=1, help="timed repeats of each side, alternating")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default="", metavar="FILE", help="also write the timings and scores as JSON")
    args = ap.parse_args()

    plugins = load_plugins(get_plugin_manager(load_entrypoints=False))
    timings = measure_eval(plugins, args.num_samples, args.repeats, weights=Path(args.weights) if args.weights else None,
                           device=args.device, log=lambda s: print(s, flush=True))
    for line in eval_summary(timings):
        print(line)
    if args.json:
        write_json(Path(args.json), dataclasses.asdict(timings))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
