"""Where a training step's time goes: torch.profiler over a few ganbench training steps.

    python scripts/profile_step.py --model dcgan --width 64          # the Trainer
    python scripts/profile_step.py --model sagan --width 16 --plain  # the plain tensor loop
    python scripts/profile_step.py --model dcgan --set channels_last=true --sort cpu_time_total

Prints key_averages().table() (self CPU time by default) and, from the same steps, the
share of time in matmul-like kernels (convolutions, linear, bmm) against everything else,
which is what limits the training-step efficiency `ganbench bench` reports.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

#: profiler op names that do the FLOPs (oneDNN/MKL GEMM and convolution kernels)
MATMUL_OPS = ("mkldnn_convolution", "convolution_backward", "aten::addmm", "aten::mm", "aten::bmm",
              "aten::_convolution", "mkldnn_matmul", "aten::baddbmm", "aten::matmul")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="dcgan")
    ap.add_argument("--width", type=int, default=0, help="0 = the model's default (full width)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3, help="profiled G steps (after 2 warm-up steps)")
    ap.add_argument("--plain", action="store_true", help="profile the plain in-memory-tensor loop instead")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a [train] key for the Trainer, VALUE as JSON (channels_last=true)")
    ap.add_argument("--sort", default="self_cpu_time_total")
    ap.add_argument("--rows", type=int, default=30)
    args = ap.parse_args(argv)

    from ganbench import bench
    from ganbench.plugins import load_plugins

    if args.threads:
        torch.set_num_threads(args.threads)
    plugins = load_plugins()
    spec = plugins.models.get(args.model)
    width = args.width or getattr(spec.options(), "width", 64)
    train = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.sets)}
    run = bench.make_run(plugins, args.model, width, args.batch_size, train=train)
    data = bench.load_data(plugins, run)
    if args.plain:
        loop = bench.PlainLoop(plugins, run, data, "tensor")
        step = loop.step
    else:
        loop = bench.GanbenchLoop(plugins, run, data)
        step = loop.trainer.train_step
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=False) as prof:
        for _ in range(args.steps):
            step()
        if not args.plain:
            loop.trainer.acc.tolist()  # the Trainer's one host sync
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    print(f"{args.model} width {width}, batch {args.batch_size}, n_critic {run.train.n_critic}, "
          f"{'plain loop' if args.plain else 'ganbench Trainer'}, {torch.get_num_threads()} threads, "
          f"{args.steps} steps in {wall:.2f} s (profiled)")
    print(events.table(sort_by=args.sort, row_limit=args.rows))
    total = sum(e.self_cpu_time_total for e in events)
    heavy = sum(e.self_cpu_time_total for e in events if any(k in e.key for k in MATMUL_OPS))
    if total:
        print(f"self CPU time in convolution/GEMM ops: {100 * heavy / total:.0f}% "
              f"(the rest is elementwise, normalisation, optimizer and framework overhead)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
