#!/usr/bin/env python
"""The model zoo at a glance: every GAN family trained with its paper's recipe for the
same number of G steps on scikit-learn's digits (16x16, offline), at narrow CPU widths.

Prints a markdown table: steps, critic steps per G step, training images per second
(images through D per second, the harness's throughput figure), G steps per second, the
offline classifier's Fréchet distance (fd_classifier, lower is better) of the trained
and of the same generator untrained, and mode coverage.

    python scripts/zoo_table.py                       # all families, 300 steps
    python scripts/zoo_table.py --steps 1000 --models dcgan,sngan --threads 2

Results go under --results (default: a temporary folder). Timings depend on the
machine and on what else runs on it; the script states the device and thread count.
"""
from __future__ import annotations

import argparse
import json
import platform
import os
import sys
import tempfile
import time
from pathlib import Path

#: narrow widths for CPU runs (gan's width is its hidden units); the papers' are larger
WIDTHS = {"gan": 128, "dcgan": 16, "wgan": 16, "wgan-gp": 16, "lsgan": 16, "acgan": 8, "sngan": 8,
          "sagan": 4}


def suite_text(models: list[str], steps: int, batch: int, latent: int, threads: int, seed: int,
               samples: int) -> str:
    tables = "\n".join(f"[models.{m}]\nwidth = {WIDTHS.get(m, 16)}\n" for m in models)
    return f"""
[suite]
name = "zoo"
description = "every family, its paper's recipe, {steps} G steps on digits 16x16"
[matrix]
model = {json.dumps(models)}
dataset = ["digits"]
[train]
steps = {steps}
batch_size = {batch}
latent_dim = {latent}
seed = {seed}
device = "cpu"
threads = {threads}
log_every = 25
sample_every = {steps}
checkpoint_every = 0
num_final_images = 0
{tables}
[datasets.digits]
resolution = 16
[metrics]
names = ["classifier"]
num_samples = {samples}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="G steps per model (the same budget for all)")
    ap.add_argument("--models", default="", help="comma-separated subset (default: every built-in family)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-samples", type=int, default=1000, help="generated samples for fd_classifier")
    ap.add_argument("--results", default="", help="results folder (default: a temporary one)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON after the table")
    args = ap.parse_args(argv)

    import torch

    from ganbench.runner import run_suite
    from ganbench.specs import ModelContext
    from ganbench.suite import load_suite
    from ganbench.testing import RunResult, fresh_plugins, score_generator

    plugins = fresh_plugins()
    families = ["gan", "dcgan", "wgan", "wgan-gp", "lsgan", "acgan", "sngan", "sagan"]
    models = [m.strip() for m in args.models.split(",") if m.strip()] or families
    root = Path(args.results) if args.results else Path(tempfile.mkdtemp(prefix="ganbench-zoo-"))
    root.mkdir(parents=True, exist_ok=True)
    path = root / "zoo.toml"
    path.write_text(suite_text(models, args.steps, args.batch_size, args.latent_dim, args.threads, args.seed,
                               args.num_samples), encoding="utf-8")
    suite = load_suite(plugins, path)
    t0 = time.perf_counter()
    run_suite(plugins, suite, root / "results")
    wall = time.perf_counter() - t0

    rows = []
    torch.set_num_threads(args.threads)
    for run in suite.runs:
        res = RunResult(root / "results" / suite.name / run.run_id)
        tp, scores = res.throughput, res.scores
        spec = plugins.models.get(run.model)
        torch.manual_seed(run.train.seed)  # the run's own initial G, untrained
        G, _ = spec.build(ModelContext((1, 16, 16), run.train.latent_dim,
                                       10 if run.train.conditional else 0, run.model_options))
        before = score_generator(plugins, G, "digits", {"resolution": 16}, num_samples=args.num_samples,
                                 conditional=bool(run.train.conditional))["fd_classifier"]
        rows.append({
            "model": run.model, "state": res.state, "width": WIDTHS.get(run.model, 16),
            "steps": run.train.steps, "n_critic": run.train.n_critic,
            "loss": run.train.loss + (f" + {run.train.aux_loss}" if run.train.aux_loss else "")
            + "".join(f" + {r}" for r in run.train.regularizers),
            "optimizer": f"{run.train.optimizer} {run.train.lr_g:g}/{run.train.lr_d:g}",
            "img_per_s": tp.get("train_img_per_s"), "g_steps_per_s": tp.get("g_steps_per_s"),
            "params_g": tp.get("params_g"), "params_d": tp.get("params_d"),
            "fd_classifier": scores.get("fd_classifier"), "fd_untrained": before,
            "mode_coverage": scores.get("mode_coverage"), "class_accuracy": scores.get("class_accuracy"),
            "error": res.error.splitlines()[0] if res.error else "",
        })

    def f(v: object, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "–"

    print(f"digits 16x16 (1,797 images), batch {args.batch_size}, latent {args.latent_dim}, seed {args.seed}, "
          f"{args.steps} G steps each; fd_classifier on {args.num_samples} samples (lower is better)")
    print(f"device: cpu ({platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}, "
          f"{args.threads} thread(s) per run; wall time {wall:.0f} s\n")
    print("| model | width | params G / D | loss | optimizer lr G/D | n_critic | steps | img/s | G steps/s "
          "| fd_classifier | untrained | mode coverage |")
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        params = (f"{r['params_g'] / 1e3:.0f}k / {r['params_d'] / 1e3:.0f}k"
                  if r["params_g"] and r["params_d"] else "–")
        fd = f(r["fd_classifier"], ".1f") if r["state"] == "done" else f"{r['state']}: {r['error']}"
        print(f"| {r['model']} | {r['width']} | {params} | {r['loss']} | {r['optimizer']} | {r['n_critic']} "
              f"| {r['steps']} | {f(r['img_per_s'], '.0f')} | {f(r['g_steps_per_s'], '.1f')} | {fd} "
              f"| {f(r['fd_untrained'], '.1f')} | {f(r['mode_coverage'], '.0%')} |")
    if args.json:
        print(json.dumps(rows, indent=2))
    print(f"\nresults: {root / 'results' / suite.name}")
    return 0 if all(r["state"] == "done" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
