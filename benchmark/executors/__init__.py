"""Executors decide where runs execute: in this process (``local``), in worker processes on
this machine (``process``), or as Ray tasks (``ray``). Each one calls ``execute_run`` on a
run and reports back through the same callbacks, which always run in the driver, so the
results folder and the leaderboard end up as a sequential run leaves them.

Why this works: a run is a pure function of its resolved config and its folder
(``runs.execute_run``), every file it writes is written atomically, and resuming from
``checkpoint.pt`` restores every RNG. Runs are therefore shipped to workers as their
resolved config (``RunSpec.config_json()``) and rebuilt with ``spec_from_config``; a worker
needs nothing from the driver but that and the results path.

Numbers: on one device type a run gives the same numbers under every executor *for the
same number of CPU threads*. torch's CPU kernels are not bitwise independent of the
intra-op thread count, and the process and Ray executors split the cores between
concurrent runs, so pin ``train.threads`` when numbers must match a sequential run bit for
bit (the threads each run used are in its throughput.json).

Modules: ``base`` (the Executor interface), ``local``, ``process`` (its driver) and
``worker`` (its worker processes) with ``messages`` (what they say to each other), ``ray``,
``placement`` (cores and GPUs), ``stopping`` (Ctrl-C and the stop request).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import GanbenchError, did_you_mean
from .base import Executor, OnDone, OnEvent, OnProgress, OnStart
from .local import LocalExecutor
from .placement import gpu_assignment, split_threads, usable_cpus, visible_gpus
from .process import Plan, ProcessExecutor
from .ray import RayExecutor
from .stopping import CtrlC, StopRequest
from .worker import worker_context

EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": LocalExecutor,
    "process": ProcessExecutor,
    "ray": RayExecutor,
}


def get_executor(name: str, **options: Any) -> Executor:
    """The executor called ``name``, built with the command line's options (each takes what it needs)."""
    if name not in EXECUTORS:
        raise GanbenchError(f"unknown executor '{name}'{did_you_mean(name, EXECUTORS)}")
    return EXECUTORS[name](**options)


__all__ = [
    "EXECUTORS", "CtrlC", "Executor", "LocalExecutor", "OnDone", "OnEvent", "OnProgress", "OnStart", "Plan",
    "ProcessExecutor", "RayExecutor", "StopRequest", "get_executor", "gpu_assignment", "split_threads",
    "usable_cpus", "visible_gpus", "worker_context",
]
