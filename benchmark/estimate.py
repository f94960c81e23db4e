"""How long a suite will take, before it starts: each configuration's G step measured on this
machine (the FLOP count over the matmul rate where it cannot be), plus evaluation.
torch is imported inside the functions: `ganbench validate` shares the CLI's start-up with
`ganbench list`, which must stay fast."""
from __future__ import annotations

import json
import os
import platform
import time
from typing import Any, Optional

from .capacity import footprint, image_shape
from .config import to_dict
from .data import DataCache, cache_dir
from .schedule import d_updates_before, mean_d_updates


_RATE: dict[str, float] = {}
#: share of the matmul peak a GAN training step reaches (≈ 0.58 measured on CPU for DCGAN)
EFFICIENCY = 0.5


def matmul_flops(device: Any) -> float:
    """FLOP/s of a 1024² fp32 matmul on this device (measured once per process)."""
    import torch
    key = str(device)
    if key not in _RATE:
        n = 1024
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        a @ b
        reps = 5 if device.type == "cpu" else 50
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        _RATE[key] = 2 * n**3 * reps / (time.perf_counter() - t0)
    return _RATE[key]


def eval_flops_per_image(plugins: Any, names: list[str]) -> float:
    """Feature-extraction FLOPs per generated image for these metrics: metrics that share a
    feature_pass (fid, is, kid on one Inception-v3 pass) count it once."""
    passes: dict[str, float] = {}
    for i, m in enumerate(names):
        spec = plugins.metrics.get(m)
        key = spec.feature_pass or f"own:{i}"
        passes[key] = max(passes.get(key, 0.0), spec.flops_per_image)
    return sum(passes.values())


#: [train] keys that do not change how long one G step takes
NOT_TIMING = frozenset({"steps", "seed", "log_every", "eval_every", "sample_every", "checkpoint_every",
                        "num_final_images", "num_best_images", "grid_size", "lr_g", "lr_d", "ema_start"})
#: seconds of measured training steps per configuration (after one warm-up step), and in all
PROBE_SECONDS, PROBE_BUDGET = 1.0, 60.0


def timing_key(run: Any, shape: tuple[int, int, int], device: Any) -> str:
    import torch
    train = {k: v for k, v in to_dict(run.train).items() if k not in NOT_TIMING}
    return json.dumps([run.model, to_dict(run.model_options), list(shape), train, str(device), torch.__version__,
                       platform.machine(), os.cpu_count()], sort_keys=True, default=str)


def _measure(plugins: Any, run: Any, device: Any) -> Optional[tuple[float, float]]:
    """(seconds per network update, seconds per generated image) of this run's real Trainer on
    its data: one warm-up step, then steps for PROBE_SECONDS (at least two); None when it cannot
    be built. Per update (one D update or the G step), not per G step: the probed steps are the
    run's first, and a schedule's first steps may not be its typical ones (the WGAN warm-up
    runs 100 critic updates before each of the first 25 G steps, 5 afterwards)."""
    import torch

    from .train import Trainer

    threads = torch.get_num_threads()
    try:
        if run.train.threads:
            torch.set_num_threads(run.train.threads)
        data = DataCache(plugins, cache_dir(), size=1).get(run.dataset, run.dataset_options)
        trainer = Trainer(plugins, run, data, device)
        trainer.train_step()
        trainer.sync()
        n, t0 = 0, time.perf_counter()
        while n < 2 or time.perf_counter() - t0 < PROBE_SECONDS:
            trainer.train_step()
            n += 1
        trainer.sync()
        updates = sum(d_updates_before(run.train, step) + 1 for step in range(1, n + 1))
        per_update = (time.perf_counter() - t0) / updates
        z = torch.randn(run.metrics.batch_size, run.train.latent_dim, device=device)
        y = trainer.fake_labels(len(z)) if trainer.conditional else None
        with torch.no_grad():
            trainer.G.eval()
            t0 = time.perf_counter()
            trainer.G(z, y)
            trainer.sync()
            per_image = (time.perf_counter() - t0) / len(z)
        return per_update, per_image
    except Exception:  # a probe is advice: without it, the FLOP count stands in
        return None
    finally:
        torch.set_num_threads(threads)


_MEASURED: dict[str, tuple[float, float]] = {}


def step_timing(plugins: Any, run: Any, shape: tuple[int, int, int], device: Any,
                budget: list[float]) -> Optional[tuple[float, float]]:
    """Measured (s per network update, s per generated image), once per configuration and process;
    None once the probing budget is spent. Not kept on disk: what other jobs do on the cores
    changes a CPU step's time several-fold, so a figure from an earlier call can mislead."""
    key = timing_key(run, shape, device)
    if key not in _MEASURED:
        if budget[0] <= 0:
            return None
        t0 = time.perf_counter()
        got = _measure(plugins, run, device)
        budget[0] -= time.perf_counter() - t0
        if got is None:
            return None
        _MEASURED[key] = got
    return _MEASURED[key]


def estimate(plugins: Any, suite: Any) -> dict[str, Any]:
    """{device, train_seconds, eval_seconds, total_seconds, basis}; {} when it cannot tell.

    Training: each distinct configuration's real G step, measured on this machine with the
    run's threads and data (cached), times its steps; where no measurement can be had, the
    FLOPs counted on the networks over the measured matmul rate, scaled by what the measured
    configurations showed. Evaluation: measured generation plus the metrics' FLOPs."""
    import torch

    from .train import resolve_device

    if not suite.runs:
        return {}
    try:
        device = resolve_device(suite.runs[0].train.device)
    except Exception:
        device = torch.device("cpu")
    rate = matmul_flops(device) * EFFICIENCY
    budget = [PROBE_BUDGET]
    parts = []  # (run, measured (s/step, s/image) or None, FLOP-based s/step)
    for run in suite.runs:
        t = run.train
        fp = footprint(plugins, run)
        # per G step: (D updates per G step, from the schedule) D steps and one G step, each ≈ a
        # G forward + D forward and backward
        flop_step = (fp.flops_per_image if fp else 0.0) * (mean_d_updates(t) + 1) * 1.5 * t.batch_size / rate
        m = step_timing(plugins, run, image_shape(plugins, run), device, budget)
        # per update -> per G step over the whole budget (its D updates and the G step)
        parts.append((run, (m[0] * (mean_d_updates(t) + 1), m[1]) if m else None, flop_step))
    ratios = [m[0] / f for _, m, f in parts if m and f > 0]
    scale = sorted(ratios)[len(ratios) // 2] if ratios else 1.0
    train = evals = 0.0
    measured = 0
    for run, m, flop_step in parts:
        t = run.train
        train += (m[0] if m else flop_step * scale) * t.steps
        measured += m is not None
        n_evals = (t.steps // t.eval_every if t.eval_every else 0)
        samples = run.metrics.num_samples + n_evals * run.metrics.eval_num_samples
        evals += ((m[1] if m else 0.0) + eval_flops_per_image(plugins, run.metrics.names) / rate) * samples
    basis = (f"G steps measured here for {measured} of {len(parts)} runs' configurations"
             + (f", the rest from FLOPs (x{scale:.2f} as measured)" if measured < len(parts) else "")
             + f"; evaluation from generation and FLOPs at {matmul_flops(device) / 1e9:.0f} GFLOP/s")
    return {"device": str(device), "train_seconds": train, "eval_seconds": evals, "total_seconds": train + evals,
            "basis": basis}
