"""Where concurrent runs go on this machine: how many cores, how the torch threads split
between workers, which GPUs are visible and which worker gets which."""
from __future__ import annotations

import math
import os
from typing import Callable, Optional

import torch

from ..errors import GanbenchError


def usable_cpus() -> int:
    """Cores this process may use (the affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def split_threads(workers: int, cpus: int) -> list[int]:
    """torch threads per worker so that together they use every core once (at least 1 each)."""
    return [max(1, cpus // workers + (1 if i < cpus % workers else 0)) for i in range(workers)]


def visible_gpus() -> list[str]:
    """CUDA device ids this driver may hand out (honours its own CUDA_VISIBLE_DEVICES)."""
    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return [str(i) for i in range(count)]
    ids: list[str] = []
    for item in (x.strip() for x in env.split(",")):
        if not item or item.startswith("-"):
            break  # CUDA stops at the first invalid id
        ids.append(item)
    return ids[:count]


def check_gpus_per_run(gpus_per_run: Optional[float]) -> None:
    """--gpus-per-run is None (spread) or a finite number above 0."""
    if gpus_per_run is not None and (gpus_per_run <= 0 or not math.isfinite(gpus_per_run)):
        raise GanbenchError(f"--gpus-per-run must be > 0, found {gpus_per_run}", hint="e.g. 1, 0.5 or 2")


def gpu_assignment(workers: int, gpus_per_run: Optional[float], gpus: list[str]) -> list[Optional[str]]:
    """CUDA_VISIBLE_DEVICES for each worker (None: leave the environment alone, CPU).

    gpus_per_run None spreads the workers over the GPUs (sharing when there are more
    workers than GPUs); 0.5 allows two workers on each GPU, dealt round robin; an integer
    k > 1 gives each worker k GPUs. Asking for more than there is is an error rather than silent oversubscription."""
    check_gpus_per_run(gpus_per_run)
    if not gpus:
        return [None] * workers
    if gpus_per_run is None:
        return [gpus[i % len(gpus)] for i in range(workers)]
    take: Callable[[int], str]
    if gpus_per_run <= 1:
        per_gpu = max(1, int(1 / gpus_per_run + 1e-9))
        capacity = per_gpu * len(gpus)

        def take(i: int) -> str:  # round robin: two workers on two GPUs get one each
            return gpus[i % len(gpus)]
    else:
        if not float(gpus_per_run).is_integer():
            raise GanbenchError(f"--gpus-per-run above 1 must be a whole number of GPUs, found {gpus_per_run}")
        k = int(gpus_per_run)
        capacity = len(gpus) // k

        def take(i: int) -> str:
            return ",".join(gpus[i * k:(i + 1) * k])
    if workers > capacity:
        raise GanbenchError(f"--workers {workers} with --gpus-per-run {gpus_per_run:g} needs more than the "
                            f"{len(gpus)} visible GPU(s) ({', '.join(gpus)})",
                            hint=f"use --workers {max(capacity, 1)} or a smaller --gpus-per-run")
    return [take(i) for i in range(workers)]
