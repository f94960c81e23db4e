"""How long a suite will take, before it starts: FLOPs per training image (counted
on the real networks) over this device's measured matmul rate, plus evaluation.
torch is imported inside the functions: `ganbench validate` shares the CLI's start-up with
`ganbench list`, which must stay fast."""
from __future__ import annotations

import time
from typing import Any

from .schedule import mean_d_updates
from .capacity import footprint

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


def estimate(plugins: Any, suite: Any) -> dict[str, Any]:
    """{device, train_seconds, eval_seconds, total_seconds, basis}; {} when it cannot tell."""
    import torch

    from .train import resolve_device

    if not suite.runs:
        return {}
    try:
        device = resolve_device(suite.runs[0].train.device)
    except Exception:
        device = torch.device("cpu")
    rate = matmul_flops(device) * EFFICIENCY
    train = evals = 0.0
    for run in suite.runs:
        t = run.train
        fp = footprint(plugins, run)
        # one iteration ≈ n_critic × (G fwd + 2 D fwd/bwd) + (G fwd/bwd + D fwd/bwd): ≈ (n_critic + 1) × this
        per_image = fp.flops_per_image if fp is not None else 0.0
        # per G step: (D updates per G step, from the schedule) D steps and one G step, each ≈ this
        train += per_image * (mean_d_updates(t) + 1) * 1.5 * t.steps * t.batch_size / rate
        n_evals = (t.steps // t.eval_every if t.eval_every else 0)
        samples = run.metrics.num_samples + n_evals * run.metrics.eval_num_samples
        evals += eval_flops_per_image(plugins, run.metrics.names) * samples / rate
    return {"device": str(device), "train_seconds": train, "eval_seconds": evals, "total_seconds": train + evals,
            "basis": f"FLOPs counted on the networks / ({EFFICIENCY:.0%} of a measured "
                     f"{matmul_flops(device) / 1e9:.0f} GFLOP/s matmul)"}
