"""Timing: interleaved repeats, calibrated repeat lengths, ratios and the matmul peak.

Absolute times drift (other processes, clocks), ratios hold better: the variants of a case
run interleaved in a rotating order (ABC, BCA, CAB, ...) and a ratio is the median of the
per-repeat ratios.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from .config import BenchConfig


def interleave(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call every variant once per repeat, rotating the order (ABC, BCA, CAB, ...) so that
    drift and order effects fall on every variant alike. Each callable returns a speed."""
    names = list(fns)
    out: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(float(fns[name]()))
    return out


def calibrate(one_step: Callable[[], object], cfg: BenchConfig, unit: int = 1, most: int = 0) -> int:
    """How many units (steps, images) a timed repeat needs to last about cfg.repeat_seconds:
    the faster of two timed calls of one_step (which does ``unit`` units), so that one stall
    on a busy machine does not shrink every repeat to a single noisy step."""
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        one_step()
        times.append(time.perf_counter() - t0)
    per_unit = max(min(times), 1e-6) / unit
    n = max(1, min(most or cfg.max_steps, round(cfg.repeat_seconds / per_unit)))
    return max(unit, n // unit * unit) if unit > 1 else n


def ratio(samples: dict[str, list[float]], a: str, b: str) -> float:
    """Median over repeats of speed(a) / speed(b) measured in the same repeat."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def matmul_gflops(n: int = 0, repeats: int = 5, device: str = "cpu") -> float:
    """fp32 n x n matmul GFLOP/s (median of repeats): at the current thread count on a CPU
    (n = 2048), synchronised on a GPU (n = 8192, big enough to fill one; TF32 as torch's
    matmul settings leave it, off by default)."""
    dev = torch.device(device)
    n = n or (8192 if dev.type == "cuda" else 2048)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    a @ b
    sync()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        sync()
        rates.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)
