"""Section 4 (`ganbench bench` on the device) and the goals section.

The bench runs in this process with --device set to the doctor's: its training cases for
DCGAN, WGAN-GP and SAGAN at paper width and the doctor's batch sizes, sampling, and the
FID+IS+KID pass (random-init Inception) against torch-fidelity called directly; model FLOP/s
as a share of the device's measured fp32 matmul rate. A case passes when it ran and its
ratios are finite; the issue's GPU goals are judged in the goals section.
"""
from __future__ import annotations

import math
from typing import Any

from ..bench.command import run_bench
from ..bench.config import BenchConfig
from ..bench.records import BenchResult, Case
from .config import DCGAN_GOAL, PACKING_GOAL
from .harness import Context
from .records import NEEDS_CUDA, Check, finite, judge, skip

S = "4"
G = "goals"
DCGAN_CASE = "train/dcgan/w64"


def bench_config(ctx: Context) -> BenchConfig:
    cfg = ctx.cfg
    extra: dict[str, Any] = {"eval_samples": cfg.bench_eval_samples} if cfg.bench_eval_samples else {}
    return BenchConfig.make(cfg.tiny, device=cfg.device, models=cfg.bench_models, batch_sizes=cfg.bench_batches,
                            width_kinds=("full",),
                            only=("train/", "sample/", "eval/"), repeats=cfg.bench_repeats,
                            repeat_seconds=cfg.bench_repeat_seconds, max_steps=2000 if cfg.gpu else 200, **extra)


def _figures(case: Case, result: BenchResult) -> dict[str, Any]:
    out: dict[str, Any] = {"unit": case.unit, "repeats": case.repeats}
    out.update({f"median_{k}": v for k, v in case.median.items()})
    out.update(case.ratios)
    out.update({f"goal_{k}": v for k, v in case.goals.items()})
    if case.kind == "train":
        d = case.details
        out.update({"batch_size": d.get("batch_size"), "width": d.get("width"),
                    "flops_per_image": d.get("flops_per_image"), "achieved_gflops": d.get("achieved_gflops"),
                    "share_of_matmul": d.get("efficiency"), "matmul_gflops": result.matmul_gflops})
    return out


def section_bench(ctx: Context) -> list[Check]:
    result = run_bench(bench_config(ctx), log=lambda s: ctx.log(f"  {s}"), plugins=ctx.plugins)
    ctx.bench = result
    checks = [judge(S, "bench/matmul", finite(result.matmul_gflops) and result.matmul_gflops > 0,
                    "fp32 matmul rate measured on the device (the basis of share_of_matmul)",
                    {"device": result.device, "matmul_gflops": result.matmul_gflops,
                     "samples": result.matmul_gflops_samples})]
    for case in result.cases:
        values = list(case.ratios.values())
        ok = bool(values) and finite(*values) and min(values) > 0
        checks.append(judge(S, f"bench/{case.name}", ok,
                            "the case ran and every speed ratio (ganbench / baseline) is a finite number > 0; "
                            "ratios > 1 favour ganbench", _figures(case, result)))
    for s in result.skipped:
        if s.reason.startswith("FAILED"):
            checks.append(judge(S, f"bench/{s.name}", False, "the case ran", {}, s.reason))
        else:
            checks.append(skip(S, f"bench/{s.name}", s.reason))
    return checks


def section_goals(ctx: Context) -> list[Check]:
    return [_dcgan_goal(ctx), _packing_goal(ctx)]


def _dcgan_goal(ctx: Context) -> Check:
    name = "goal/dcgan-vs-plain-eager"
    criterion = (f"ganbench img/s (its default [train], compile off) / the plain eager DataLoader loop's ≥ "
                 f"{DCGAN_GOAL:g}, DCGAN at width 64, batch 64, on the GPU")
    case = next((c for c in ctx.bench.cases if c.name == DCGAN_CASE), None) if ctx.bench else None
    figures = {k: case.ratios.get(k) for k in ("vs_dataloader", "vs_tensor")} if case else {}
    if not ctx.cfg.gpu:
        return skip(G, name, f"{NEEDS_CUDA}: a GPU goal", criterion, figures)
    if case is None:
        return skip(G, name, f"the bench case {DCGAN_CASE} did not run (--tiny measures narrow widths only, "
                             "or section 4 did not run)", criterion)
    value = case.ratios.get("vs_dataloader", math.nan)
    return judge(G, name, finite(value) and value >= DCGAN_GOAL, criterion, figures)


def _packing_goal(ctx: Context) -> Check:
    name = "goal/packed-runs"
    p = ctx.packing
    criterion = (f"runs/s of {p.runs if p else 4} runs packed on one GPU / runs/s one at a time ≥ {PACKING_GOAL:g}, "
                 "at steady state: Σ training img/s of the packed runs / one run's img/s alone (the wall-clock "
                 "ratio, worker start-up included, is reported beside it)")
    figures = ({"steady_ratio": p.steady_ratio, "wall_ratio": p.wall_ratio, "runs": p.runs, "workers": p.workers,
                "steps_per_run": p.steps, "sequential_wall_s": p.sequential_wall_s, "packed_wall_s": p.packed_wall_s}
               if p else {})
    if not ctx.cfg.gpu:
        return skip(G, name, f"{NEEDS_CUDA}: a GPU goal", criterion, figures)
    if p is None:
        return skip(G, name, "section 3 did not measure the packed runs (see its checks)", criterion)
    return judge(G, name, finite(p.steady_ratio) and p.steady_ratio >= PACKING_GOAL, criterion, figures)
