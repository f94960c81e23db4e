"""Section 2: train.compile on against off, from the same seed, G step by G step.

On CUDA the Trainer's own torch.compile runs (inductor); on a CPU the compiled modules are
swapped for torch.compile(backend="aot_eager"): the same dynamo capture and autograd path,
without inductor's C++ build (tens of seconds on 2 cores). WGAN-GP runs too: its gradient
penalty must differentiate the eager D while the loss terms use the compiled one.
"""
from __future__ import annotations

import math
import statistics
import time

import torch

from ..bench.config import BenchConfig
from ..bench.loops import GanbenchLoop
from ..bench.measure import calibrate, interleave, ratio
from .config import COMPILE_TOLERANCE, CURVE_FLOOR
from .harness import Context, load, metrics_table, plugin_tables, suite_text, train_table
from .records import Check, finite, judge, skip

S = "2"
MODELS = ("dcgan", "wgan-gp")
BACKEND_NOTE = {"inductor": "inductor (the Trainer's own torch.compile)",
                "aot_eager": "aot_eager (dynamo + aot_autograd, no inductor build)"}


def _loops(ctx: Context, model: str) -> tuple[GanbenchLoop, GanbenchLoop]:
    cfg = ctx.cfg
    text = suite_text(f"doctor-compile-{model}", {"model": [model], "dataset": [ctx.choice.name],
                                                  "compile": [False, True]},
                      train_table(cfg, 10, 1), metrics_table(cfg.num_samples), plugin_tables(cfg, [model], ctx.choice))
    eager_run, comp_run = sorted(load(ctx.plugins, ctx.work, f"doctor-compile-{model}", text).runs,
                                 key=lambda r: r.train.compile)
    data = ctx.data.get(eager_run.dataset, eager_run.dataset_options)
    eager = GanbenchLoop(ctx.plugins, eager_run, data, str(ctx.device))
    comp = GanbenchLoop(ctx.plugins, comp_run, data, str(ctx.device))
    if cfg.compile_backend != "inductor":
        tr = comp.trainer
        tr.G_step = torch.compile(tr.G, backend=cfg.compile_backend)
        tr.D_step = torch.compile(tr.D, backend=cfg.compile_backend)
    return eager, comp


def max_relative_gap(a: list[dict[str, float]], b: list[dict[str, float]], key: str) -> float:
    """max over steps of |b - a| / max(|a|, CURVE_FLOOR)."""
    gaps = [abs(y[key] - x[key]) / max(abs(x[key]), CURVE_FLOOR) for x, y in zip(a, b)]
    return max(gaps) if gaps and len(a) == len(b) else math.nan


def compare(ctx: Context, model: str) -> list[Check]:
    cfg = ctx.cfg
    torch._dynamo.reset()  # every model's graphs compiled cold, as in a new process
    eager, comp = _loops(ctx, model)
    k = cfg.compile_steps
    # a gradient penalty draws from the global generators, which both sides must start alike
    torch.manual_seed(eager.trainer.cfg.seed)
    eager.fit(k, log_every=1)
    torch.manual_seed(comp.trainer.cfg.seed)
    t0 = time.perf_counter()
    comp.fit(1, log_every=1)  # captures and compiles G and D, forward and backward
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    comp.fit(k - 1, log_every=1)
    steady_s = (time.perf_counter() - t0) / max(k - 1, 1)
    gaps = {key: max_relative_gap(eager.losses, comp.losses, key) for key in ("loss_d", "loss_g")}
    backend = BACKEND_NOTE.get(cfg.compile_backend, cfg.compile_backend)
    criterion = (f"for loss_d and loss_g, max over the first {k} G steps of |compiled - eager| / "
                 f"max(|eager|, {CURVE_FLOOR}) ≤ {COMPILE_TOLERANCE}")
    checks = [judge(S, f"compile/{model}/trajectory", finite(*gaps.values()) and max(gaps.values()) <= COMPILE_TOLERANCE,
                    criterion, {"backend": backend, "steps": k, **{f"max_gap_{key}": v for key, v in gaps.items()},
                                "loss_d_eager_last": eager.losses[-1]["loss_d"] if eager.losses else math.nan,
                                "loss_d_compiled_last": comp.losses[-1]["loss_d"] if comp.losses else math.nan})]
    bcfg = BenchConfig(repeat_seconds=max(cfg.bench_repeat_seconds, 0.5), max_steps=5000)
    n = calibrate(lambda: eager.fit(1), bcfg)
    samples = interleave({"compiled": lambda: comp.fit(n), "eager": lambda: eager.fit(n)}, max(cfg.bench_repeats, 2))
    speed = ratio(samples, "compiled", "eager")
    figures = {"backend": backend, "first_step_s": first_s, "compile_s": first_s - steady_s,
               "compiled_img_per_s": statistics.median(samples["compiled"]),
               "eager_img_per_s": statistics.median(samples["eager"]), "speed_ratio": speed,
               "steps_per_repeat": n, "repeats": len(samples["eager"])}
    checks.append(judge(S, f"compile/{model}/speed", finite(speed, first_s) and speed > 0,
                        "compile time and compiled/eager img/s measured (interleaved repeats, median of "
                        "per-repeat ratios); no speed goal here", figures))
    return checks


def section_compile(ctx: Context) -> list[Check]:
    checks: list[Check] = []
    try:
        for model in MODELS:
            if model not in ctx.plugins.models:
                continue
            if checks and ctx.elapsed() > ctx.cfg.budget_s:
                checks.append(skip(S, f"compile/{model}/*", f"the time budget ({ctx.cfg.budget_s:.0f} s) is spent"))
                continue
            checks += compare(ctx, model)
    finally:
        torch._dynamo.reset()
    return checks
