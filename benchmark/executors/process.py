"""The process executor: N worker processes on this machine, fed one run at a time by a
driver in this process (``_Driver``), which also replaces workers that die and stops them
all on Ctrl-C."""
from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Optional

from ..errors import GanbenchError
from ..plugins import Plugins
from ..results import FINISHED, get_status
from ..runspec import RunSpec
from .base import DriverCallbacks, Executor, OnDone, OnEvent, OnProgress, OnStart, fail_lost_run, no_events
from .messages import (Assign, Declined, Fatal, Finished, FromWorker, Interrupted, Progress, Ready, Shutdown,
                       Started)
from .placement import gpu_assignment, split_threads, usable_cpus, visible_gpus
from .stopping import STOP_GRACE_S, STOPPING, CtrlC
from .worker import worker_context, worker_main


@dataclass(frozen=True)
class Plan:
    """torch threads and CUDA_VISIBLE_DEVICES (None: CPU) per worker slot."""

    threads: list[int]
    gpus: list[Optional[str]]


class ProcessExecutor(Executor):
    """N worker processes on this machine (forked from a warm forkserver on CPU, spawned with
    GPUs, so CUDA is never forked: see worker_context).

    Each worker builds its own plugin manager and data cache and runs one run at a time.
    On CPU the workers split the cores (torch threads per worker add up to the cores); with
    GPUs each worker is pinned through CUDA_VISIBLE_DEVICES, set before it imports torch.
    A worker that dies (OOM killer, SIGKILL, segfault) costs only its run: the run is marked
    failed, or retried from its checkpoint with ``retries``, and a fresh worker takes the slot."""

    name = "process"

    def __init__(self, workers: int = 2, gpus_per_run: Optional[float] = None, retries: int = 0,
                 **_: Any) -> None:
        super().__init__()
        if workers < 1:
            raise GanbenchError(f"--workers must be at least 1, found {workers}")
        if retries < 0:
            raise GanbenchError(f"--retries must be ≥ 0, found {retries}")
        gpu_assignment(1, gpus_per_run, [])  # checks --gpus-per-run before anything starts
        self.workers, self.gpus_per_run, self.retries = workers, gpus_per_run, retries
        self._plan: Optional[Plan] = None
        self.start_method = ""  # how its workers started (worker_context), once it ran

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "workers": self.workers, "retries": self.retries}
        if self.start_method:
            out["start_method"] = self.start_method
        if self._plan is not None:
            out["threads_per_worker"] = self._plan.threads
            if any(self._plan.gpus):
                out["cuda_visible_devices"] = self._plan.gpus
        return out

    def plan(self, runs: list[RunSpec]) -> Plan:
        """Threads and GPUs per worker slot (a pure function of the machine and the options)."""
        n = max(1, min(self.workers, len(runs)))
        wants_gpu = any(r.train.device != "cpu" for r in runs)
        gpus = visible_gpus() if wants_gpu else []
        assignment = gpu_assignment(n, self.gpus_per_run, gpus)
        if gpus:
            fixed = sorted({r.train.device for r in runs if r.train.device.startswith("cuda:")})
            if fixed:
                raise GanbenchError(f"train.device = {', '.join(fixed)}: the process executor pins each worker "
                                    f"to its own GPU, which it sees as cuda:0",
                                    hint="use device = \"auto\" or \"cuda\" (or --executor local)")
        self._plan = Plan(split_threads(n, usable_cpus()), assignment)
        return self._plan

    def run_all(self, plugins: Plugins, runs: list[RunSpec], suite_dir: Path, cache_dir: Path,
                on_start: OnStart, on_done: OnDone, on_progress: OnProgress,
                on_event: Optional[OnEvent] = None) -> None:
        callbacks = DriverCallbacks(on_start, on_done, on_progress, on_event or no_events)
        if not runs:
            return
        plan = self.plan(runs)
        if any(r.train.threads == 0 and r.train.device == "cpu" for r in runs) and len(plan.threads) > 1:
            callbacks.on_event("warning", message=f"process executor: {len(plan.threads)} workers with "
                               f"{'/'.join(map(str, plan.threads))} CPU thread(s) each; CPU numbers depend on "
                               "the thread count, so pin train.threads to match a sequential run bit for bit")
        ctx = worker_context(plan.gpus)
        self.start_method = ctx.get_start_method()
        _Driver(self, plan, ctx, Path(suite_dir), cache_dir, callbacks).run(runs)


@dataclass
class _Slot:
    """A worker process the driver holds, and the run it is training."""

    index: int
    proc: BaseProcess
    conn: Connection
    run: Optional[RunSpec] = None
    ready: bool = False
    pid: int = 0
    gone: bool = False  # will take no more runs (stopped, or its pipe broke)
    reaped: bool = False  # its process ended and its run was settled


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables around a child's start (spawn copies the environment)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _exit_reason(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker process killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker process killed by signal {-exitcode}"
    return f"worker process exited with code {exitcode}"


class _Driver:
    """One ``run_all`` of the process executor: the worker slots, the queue of runs not yet
    handed out, and the finished runs whose on_done is still due. Every callback runs here,
    in the driver process."""

    def __init__(self, executor: ProcessExecutor, plan: Plan, ctx: BaseContext, suite_dir: Path,
                 cache_dir: Path, callbacks: DriverCallbacks) -> None:
        self.executor, self.plan, self.ctx = executor, plan, ctx
        self.suite_dir, self.cache_dir, self.callbacks = suite_dir, cache_dir, callbacks
        self.by_id: dict[str, RunSpec] = {}
        self.queue: deque[RunSpec] = deque()
        self.attempts: dict[str, int] = {}  # run id -> retries so far
        self.settled: deque[tuple[RunSpec, str]] = deque()  # finished runs whose on_done is still due
        self.slots: list[_Slot] = []
        self.stopping = False
        self.reported_ctrl_c: Optional[float] = None  # when a worker reported Ctrl-C before this driver saw it

    def run(self, runs: list[RunSpec]) -> None:
        self.by_id = {r.run_id: r for r in runs}
        self.queue.extend(runs)
        self.slots = [self._spawn(i) for i in range(len(self.plan.threads))]
        try:
            while self.queue or self.settled or self._busy():
                self._dispatch()
                self._report()
                if not self.queue and not self._busy():
                    break
                live = [w for w in self.slots if not w.reaped]
                wait([x for w in live for x in (w.conn, w.proc.sentinel)], timeout=1.0)
                for w in live:
                    self._drain(w)
                for w in live:
                    if w.proc.exitcode is not None:
                        self._reap(w)
        except KeyboardInterrupt:
            since = self.reported_ctrl_c if self.reported_ctrl_c is not None else time.monotonic()
            with CtrlC(since) as ctrl_c:
                self.stopping = True
                self.callbacks.on_event("stopping", message=STOPPING)
                self._stop(ctrl_c)
                self._report()
                if self.reported_ctrl_c is not None:
                    ctrl_c.absorb_late_copy()
            raise
        finally:
            self._shutdown()

    def _busy(self) -> bool:
        return any(w.run is not None for w in self.slots)

    def _spawn(self, index: int) -> _Slot:
        threads = self.plan.threads[index]
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        gpus = self.plan.gpus[index]
        if gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpus
        parent, child = self.ctx.Pipe(duplex=True)
        with _environ(env):  # a spawned child reads these before anything imports torch
            proc = self.ctx.Process(target=worker_main, args=(child, threads, str(self.cache_dir), dict(os.environ)),
                                    name=f"ganbench-worker-{index}", daemon=True)
            proc.start()
        child.close()
        return _Slot(index, proc, parent)

    # -- what workers say ----------------------------------------------------------------------
    def _settle(self, w: _Slot, state: str) -> None:
        if w.run is not None:
            self.settled.append((w.run, state))
            w.run = None

    def _handle(self, w: _Slot, msg: FromWorker) -> None:
        if isinstance(msg, Ready):
            w.ready, w.pid = True, msg.pid
        elif isinstance(msg, Started):
            self.executor.mark(msg.run_id, started=msg.time, pid=msg.pid, worker=w.index)
            self.callbacks.on_start(self.by_id[msg.run_id])
        elif isinstance(msg, Progress):
            self.callbacks.on_progress(msg.run_id, msg.step, msg.extra)
        elif isinstance(msg, Finished):
            self.executor.mark(msg.run_id, worker_finished=msg.time)
            self._settle(w, msg.state)
        elif isinstance(msg, Interrupted):
            self._interrupted(w, msg)
        elif isinstance(msg, Declined):
            w.gone = True
            if w.run is not None:
                self.queue.appendleft(w.run)
                w.run = None
        elif isinstance(msg, Fatal):
            raise GanbenchError(f"a worker process could not start: {msg.error}",
                                hint="run with --executor local to see the problem in this process")

    def _interrupted(self, w: _Slot, msg: Interrupted) -> None:
        w.gone = True
        if not self.stopping and msg.signal == signal.SIGINT:
            # a terminal's Ctrl-C reaches the whole process group: the worker may see it
            # before this driver does; treat it as the driver's own interrupt
            w.run = None
            self.reported_ctrl_c = time.monotonic()
            raise KeyboardInterrupt
        if self.stopping:
            w.run = None  # status.json says interrupted; the next `ganbench run` resumes it
        else:  # this worker alone was stopped (SIGTERM from outside): its run failed, the suite goes on
            self._settle(w, get_status(self.suite_dir / msg.run_id).get("state", "failed"))

    def _drain(self, w: _Slot) -> None:
        while not w.gone:
            try:
                if not w.conn.poll():
                    return
                msg = w.conn.recv()
            except Exception:  # noqa: BLE001 - EOF, or a message cut by a dying worker
                w.gone = True
                return
            self._handle(w, msg)

    def _reap(self, w: _Slot) -> None:
        """A worker whose process ended: settle its run (retry, or mark it failed)."""
        w.proc.join(timeout=5)
        self._drain(w)
        w.gone = w.reaped = True
        if not w.ready and w.proc.exitcode != 0 and not self.stopping:
            raise GanbenchError(f"a worker process died while starting ({_exit_reason(w.proc.exitcode)})",
                                hint="a script that runs suites with the process executor needs "
                                     "`if __name__ == \"__main__\":` (multiprocessing re-imports it in workers); "
                                     "otherwise try --executor local to see the problem in this process")
        if w.run is None:
            return
        run, reason = w.run, _exit_reason(w.proc.exitcode)
        tries = self.attempts.get(run.run_id, 0)
        retries = self.executor.retries
        if (get_status(self.suite_dir / run.run_id).get("state") not in FINISHED and not self.stopping
                and tries < retries):
            self.attempts[run.run_id] = tries + 1
            w.run = None
            self.queue.appendleft(run)
            self.callbacks.on_event("run_requeued", run=run,
                                    reason=f"{reason}; retry {tries + 1}/{retries} from its last checkpoint")
            return
        self._settle(w, fail_lost_run(self.suite_dir, run, reason))

    # -- what the driver does ------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Give queued runs to idle workers, replacing workers whose process ended."""
        for i, w in enumerate(self.slots):
            if w.reaped and self.queue:
                w.conn.close()
                self.slots[i] = w = self._spawn(w.index)
            if w.ready and not w.gone and w.run is None and self.queue:
                run = self.queue.popleft()
                try:
                    w.conn.send(Assign(run.config_json(), str(self.suite_dir)))
                except OSError:  # it died since: _reap() settles it
                    self.queue.appendleft(run)
                    w.gone = True
                    continue
                w.run = run
                self.executor.mark(run.run_id, submitted=time.time())

    def _report(self) -> None:
        """on_done in the driver, after idle workers got new runs (the leaderboard takes seconds)."""
        while self.settled:
            run, state = self.settled.popleft()
            self.executor.mark(run.run_id, finished=time.time())
            self.callbacks.on_done(run, state)

    def _stop(self, ctrl_c: CtrlC) -> None:
        """Ctrl-C: ask every worker to checkpoint at its next step and stop; wait for them
        (STOP_GRACE_S at most, or until a second Ctrl-C), then kill what is left."""
        for w in self.slots:
            if w.proc.is_alive() and w.proc.pid is not None:
                try:
                    os.kill(w.proc.pid, signal.SIGTERM)  # a terminal's Ctrl-C reached them already; `kill` may not
                except ProcessLookupError:
                    pass

        def step() -> bool:
            if not any(w.run is not None and w.proc.is_alive() for w in self.slots):
                return False
            live = [w for w in self.slots if w.proc.is_alive()]
            wait([x for w in live for x in (w.conn, w.proc.sentinel)], timeout=1.0)
            for w in live:
                self._drain(w)
            return True

        ctrl_c.wait(step, time.monotonic() + STOP_GRACE_S)
        for w in self.slots:
            self._drain(w)
            if w.proc.is_alive():
                w.proc.kill()
            if w.run is not None:
                w.proc.join(timeout=5)
                fail_lost_run(self.suite_dir, w.run, "interrupted (Ctrl-C); its worker was stopped before it checkpointed",
                              "interrupted")
                w.run = None

    def _shutdown(self) -> None:
        for w in self.slots:
            if w.proc.is_alive():
                try:
                    w.conn.send(Shutdown())
                except (BrokenPipeError, OSError):
                    pass
        for w in self.slots:
            w.proc.join(timeout=10)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
