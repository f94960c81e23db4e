"""A worker process of the process executor: how it starts (forked from a warm forkserver,
or spawned) and what it does (load the plugins once, then train whatever the driver sends).

A worker owns a StopRequest: its SIGINT/SIGTERM handler sets it and ``execute_run`` asks it
once per G step, so a stopped run checkpoints first. Messages to the driver go through this
worker's own pipe, never a queue shared by all workers: a worker killed while writing could
corrupt a shared queue for everyone. If the driver dies, the pipe breaks and the run in hand
checkpoints and stops at its next step.
"""
from __future__ import annotations

import functools
import multiprocessing as mp
import os
import sys
import time
import traceback
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Optional

import torch

from ..data import DataCache
from ..plugins import Plugins, load_plugins
from ..results import set_status
from ..runs import execute_run
from ..runspec import spec_from_config
from .messages import (Assign, Declined, Fatal, Finished, FromWorker, Interrupted, Progress, Ready, Shutdown,
                       Started, ToWorker)
from .stopping import StopRequest

#: what the forkserver imports once, so that forked workers start warm: torch and the first-use
#: imports of a run (the first torch.optim.Adam imports torch._dynamo). Third-party modules
#: only: ganbench and its plugins (0.3 s) are imported in each worker from the driver's sys.path.
FORKSERVER_PRELOAD = ("torch", "torch.optim", "torch._dynamo", "torchvision", "numpy", "PIL.Image")
#: environment variables that libraries read when they are imported (in the forkserver, once)
IMPORT_TIME_ENV = ("TORCH", "PYTORCH", "OMP_", "KMP_", "MKL_", "CUDA", "LD_", "PYTHON")


def import_time_env() -> dict[str, str]:
    """The part of this process's environment that a forkserver would have read at import."""
    return {k: v for k, v in os.environ.items()
            if k.startswith(IMPORT_TIME_ENV) and k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


@functools.lru_cache(maxsize=None)
def forkserver_env() -> dict[str, str]:
    """Start multiprocessing's forkserver, once per driver, with FORKSERVER_PRELOAD imported;
    return the import-time environment it started with (the same on every later call)."""
    mp.get_context("forkserver").set_forkserver_preload(list(FORKSERVER_PRELOAD))
    forkserver.ensure_running()
    return import_time_env()


def worker_context(gpus: list[Optional[str]]) -> BaseContext:
    """How worker processes start. On Linux CPU: forked from a forkserver that imported torch
    once, so a worker (or its replacement after a crash) starts in milliseconds instead of
    ≈ 4 s of imports, which was a sixth of an 8-run narrow suite. Spawned instead with GPUs
    (CUDA is never initialised in a process that forks, and each worker's CUDA_VISIBLE_DEVICES
    is in its environment before torch loads), on other systems, and when an environment
    variable read at import time (TORCH*, OMP_*, ...) changed since the server started."""
    if any(gpus) or not sys.platform.startswith("linux"):  # macOS system libraries are not fork-safe
        return mp.get_context("spawn")
    if forkserver_env() != import_time_env():
        return mp.get_context("spawn")
    return mp.get_context("forkserver")


def worker_main(conn: Connection, threads: int, cache_dir: str, environ: Optional[dict[str, str]] = None) -> None:
    """The worker process's target.

    environ: the driver's environment at the worker's start. A forked worker inherits the
    forkserver's, which is as old as the server, so the worker takes the driver's current one."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    stop = StopRequest()
    with stop.on_signals():
        _Worker(conn, stop).serve(threads, Path(cache_dir))


class _Worker:
    """One worker's loop: its pipe to the driver and its stop request."""

    def __init__(self, conn: Connection, stop: StopRequest) -> None:
        self.conn, self.stop = conn, stop

    def send(self, msg: FromWorker) -> None:
        try:
            self.conn.send(msg)
        except OSError:  # the driver is gone: stop at the next step, with a checkpoint
            self.stop.set()

    def serve(self, threads: int, cache_dir: Path) -> None:
        try:
            torch.set_num_threads(threads)
            plugins = load_plugins()
            data = DataCache(plugins, cache_dir)
        except BaseException as exc:  # noqa: BLE001 - reported to the driver, which raises
            self.send(Fatal(f"{type(exc).__name__}: {exc}"))
            return
        self.send(Ready(os.getpid()))
        while not self.stop.is_set():
            try:
                msg: ToWorker = self.conn.recv()
            except (EOFError, OSError, KeyboardInterrupt):
                return  # driver gone or stopping
            if isinstance(msg, Shutdown):
                return
            if self.stop.is_set():
                self.send(Declined(msg.config["run_id"]))
                return
            if not self.train(plugins, data, msg):
                return

    def train(self, plugins: Plugins, data: DataCache, job: Assign) -> bool:
        """Run one run and report how it ended; False when it was interrupted (the worker exits)."""
        run_id = job.config["run_id"]
        self.send(Started(run_id, time.time(), os.getpid()))
        try:
            run = spec_from_config(plugins, job.config)
            state = execute_run(plugins, run, Path(job.suite_dir), data,
                                lambda rid, step, extra: self.send(Progress(rid, step, extra)),
                                should_stop=self.stop.is_set)
        except KeyboardInterrupt:
            self.send(Interrupted(run_id, self.stop.signal))
            return False
        except BaseException as exc:  # noqa: BLE001 - execute_run catches a run's own errors
            run_dir = Path(job.suite_dir) / run_id
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            set_status(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
            state = "failed"
        self.send(Finished(run_id, state, time.time()))
        return True
