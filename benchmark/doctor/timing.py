"""Section 5: throughput.json tells the truth on this device.

On CUDA a timing read without a synchronisation measures kernel launches, not work, and a
peak memory read from the process is not the GPU's. Checked here: every training run's
throughput.json has finite timings and names its memory measure (torch.cuda.max_memory_allocated
on CUDA); the probes that time D and G steps call torch.cuda.synchronize (counted on a fresh
Trainer); the probes' time per iteration agrees with the loop's own (config.PROBE_FACTOR) in
runs that trained alone.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..throughput import probe_generation, probe_steps
from ..train import Trainer
from .config import PROBE_FACTOR
from .harness import Context, RunFolder
from .records import NEEDS_CUDA, Check, finite, judge, skip

S = "5"
CUDA_KIND = "torch.cuda.max_memory_allocated"
TIMINGS = ("train_img_per_s", "ms_per_iteration", "ms_per_d_step", "ms_per_g_step", "generation_img_per_s",
           "peak_memory_mb")


def section_throughput(ctx: Context) -> list[Check]:
    done = [f for f in ctx.train_folders if f.state == "done"]
    if not done:
        return [skip(S, "throughput/*", "no training run of section 1 finished")]
    return [_fields(ctx, done), _memory_kind(ctx, done), _probe_vs_loop(ctx, done), sync_probe(ctx)]


def _fields(ctx: Context, done: list[RunFolder]) -> Check:
    bad = [f"{f.run.run_id}: {k}={f.throughput.get(k)!r}" for f in done for k in TIMINGS
           if not (finite(f.throughput.get(k)) and f.throughput[k] > 0)]
    wrong_device = [f.run.run_id for f in done if not str(f.throughput.get("device", "")).startswith(ctx.device.type)]
    peaks = [f.throughput.get("peak_memory_mb") for f in done if finite(f.throughput.get("peak_memory_mb"))]
    figures = {"runs": len(done), "device": done[0].throughput.get("device"),
               "peak_memory_mb_min": min(peaks, default=math.nan), "peak_memory_mb_max": max(peaks, default=math.nan)}
    return judge(S, "throughput/fields", not bad and not wrong_device,
                 f"every run's {', '.join(TIMINGS)} is a finite number > 0 and its device is {ctx.device.type}",
                 figures, "; ".join(bad[:5] + [f"device of {r}" for r in wrong_device[:3]]))


def _memory_kind(ctx: Context, done: list[RunFolder]) -> Check:
    criterion = (f"peak_memory_kind names {CUDA_KIND} and peak_memory_mb is at most the device's memory")
    if ctx.device.type != "cuda":
        return skip(S, "throughput/cuda-peak-memory", f"{NEEDS_CUDA}: on a CPU it is the process's max RSS",
                    criterion, {"peak_memory_kind": done[0].throughput.get("peak_memory_kind")})
    total_mb = torch.cuda.get_device_properties(ctx.device).total_memory / 2**20
    kinds = {str(f.throughput.get("peak_memory_kind")) for f in done}
    over = [f.run.run_id for f in done if not (finite(f.throughput.get("peak_memory_mb"))
                                               and f.throughput["peak_memory_mb"] <= total_mb)]
    ok = all(k.startswith(CUDA_KIND) for k in kinds) and not over
    return judge(S, "throughput/cuda-peak-memory", ok, criterion,
                 {"peak_memory_kind": sorted(kinds), "device_memory_mb": total_mb, "runs_over": len(over)})


def _probe_vs_loop(ctx: Context, done: list[RunFolder]) -> Check:
    """The probes' (n_critic D steps + a G step) against the loop's ms per iteration, for runs
    that trained alone (section 3's sequential runs; packed runs share the device unevenly)."""
    ratios: dict[str, float] = {}
    for f in ctx.solo_folders or done:
        t = f.throughput
        if finite(t.get("ms_per_d_step"), t.get("ms_per_g_step"), t.get("ms_per_iteration")):
            probe = t.get("n_critic", 1) * t["ms_per_d_step"] + t["ms_per_g_step"]
            ratios[f.run.run_id] = probe / t["ms_per_iteration"]
    figures: dict[str, Any] = {"runs": len(ratios), "ratio_min": min(ratios.values(), default=math.nan),
                               "ratio_max": max(ratios.values(), default=math.nan)}
    criterion = (f"probe ms per iteration / loop ms per iteration within [1/{PROBE_FACTOR:g}, {PROBE_FACTOR:g}] "
                 "for every run that trained alone (an unsynchronised probe times kernel launches only)")
    if ctx.device.type != "cuda":
        return skip(S, "throughput/probe-vs-loop", f"{NEEDS_CUDA}: on a CPU every timing is synchronous",
                    criterion, figures)
    outside = [r for r, v in ratios.items() if not 1 / PROBE_FACTOR <= v <= PROBE_FACTOR]
    return judge(S, "throughput/probe-vs-loop", bool(ratios) and not outside, criterion, figures,
                 f"outside for {', '.join(outside[:4])}" if outside else "")


@contextmanager
def _counting_syncs(counter: list[int]) -> Iterator[None]:
    """torch.cuda.synchronize counted while the block runs (restored afterwards)."""
    real = torch.cuda.synchronize

    def counted(*args: Any, **kwargs: Any) -> None:
        counter[0] += 1
        real(*args, **kwargs)

    torch.cuda.synchronize = counted
    try:
        yield
    finally:
        torch.cuda.synchronize = real


def sync_probe(ctx: Context) -> Check:
    """throughput.json's probes on a fresh Trainer (the fp32 DCGAN run's spec), syncs counted."""
    name = "throughput/synchronised-probes"
    criterion = ("probe_steps calls torch.cuda.synchronize ≥ 3 times per probe iteration (≥ 9 in all) and "
                 "probe_generation ≥ 2 times")
    if ctx.device.type != "cuda":
        return skip(S, name, f"{NEEDS_CUDA}: there is nothing to synchronise on a CPU", criterion)
    suite = ctx.train_suite
    run = next((r for r in suite.runs if r.model == "dcgan" and r.train.precision == "fp32"), None) if suite else None
    if run is None:
        return skip(S, name, "no fp32 dcgan run in section 1's suite", criterion)
    tr = Trainer(ctx.plugins, run, ctx.data.get(run.dataset, run.dataset_options), ctx.device)
    tr.train_step()
    steps, gen = [0], [0]
    with _counting_syncs(steps):
        timing = probe_steps(tr)
    with _counting_syncs(gen):
        rate = probe_generation(tr, run.metrics.batch_size)
    figures = {"step_syncs": steps[0], "generation_syncs": gen[0], "ms_per_d_step": timing.get("ms_per_d_step"),
               "ms_per_g_step": timing.get("ms_per_g_step"), "generation_img_per_s": rate}
    ok = steps[0] >= 9 and gen[0] >= 2 and finite(timing.get("ms_per_d_step"), rate)
    return judge(S, name, ok, criterion, figures)
