"""Executors decide where runs execute: in this process (``local``), in worker processes on
this machine (``process``), or as Ray tasks (``ray``). Each one calls ``execute_run`` on a
run and reports back through the same callbacks, which always run in the driver, so the
results folder and the leaderboard end up as a sequential run leaves them.

Why this works: a run is a pure function of its resolved config and its folder
(``runs.execute_run``), every file it writes is written atomically, and resuming from
``checkpoint.pt`` restores every RNG. Runs are therefore shipped to workers as their
resolved config (the JSON of config.json) and rebuilt with ``spec_from_config``; a worker
needs nothing from the driver but that and the results path.

Numbers: on one device type a run gives the same numbers under every executor *for the
same number of CPU threads*. torch's CPU kernels are not bitwise independent of the
intra-op thread count, and the process and Ray executors split the cores between
concurrent runs, so pin ``train.threads`` when numbers must match a sequential run bit for
bit (the threads each run used are in its throughput.json).
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import GanbenchError
from .plugins import Plugins
from .results import FINISHED, get_status, set_status
from .data import DataCache
from .runs import execute_run
from .runspec import RunSpec

OnStart = Callable[[RunSpec], None]
OnDone = Callable[[RunSpec, str], None]
OnProgress = Callable[[str, int, dict[str, Any]], None]
#: on_event(kind, **fields): "warning" and "stopping" (message=), "run_requeued" (run=, reason=)
OnEvent = Callable[..., None]

#: seconds the driver waits, after Ctrl-C, for workers to checkpoint and stop
#: a worker's stop request: set by its SIGINT/SIGTERM handler, asked by the Trainer once per G step
STOP = threading.Event()
STOP_GRACE_S = 60.0
#: a terminal's Ctrl-C reaches the driver and every worker, each at its own moment; a SIGINT
#: this soon after the first is that same keypress arriving late, not a second Ctrl-C
SAME_CTRL_C_S = 2.0
STOPPING = (f"Ctrl-C: running runs checkpoint at their next step and stop (up to {STOP_GRACE_S:.0f} s); "
            f"press Ctrl-C again, {SAME_CTRL_C_S:.0f} s or more from now, to stop them at once")


class CtrlC:
    """While the driver stops, its SIGINT only records when it came: a KeyboardInterrupt
    raised in the middle of reading a worker's message would lose that message. A Ctrl-C
    later than SAME_CTRL_C_S after ``since`` is a second one (stop waiting); an earlier one
    is the first keypress's late copy. Used as a context manager around the stopping."""

    def __init__(self, since: float) -> None:
        self.since = since
        self.seen: list[float] = []
        self._old: Any = None

    def __enter__(self) -> "CtrlC":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, lambda signum, frame: self.seen.append(time.monotonic()))
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def again(self) -> bool:
        """A second Ctrl-C came (not the first one's late copy)."""
        return any(t - self.since >= SAME_CTRL_C_S for t in self.seen)

    def wait(self, step: Callable[[], bool], deadline: float) -> None:
        """Call ``step`` (one bounded wait, ≤ 1 s; False when nothing is left to wait for)
        until the deadline or a second Ctrl-C."""
        while time.monotonic() < deadline and not self.again():
            if not step():
                return

    def absorb_late_copy(self) -> None:
        """After a worker's report of the terminal's Ctrl-C stood in for the driver's own,
        wait (SAME_CTRL_C_S after ``since`` at most) for the driver's copy, so that it does not
        interrupt the clean-up that follows (lock, leaderboard, messages)."""
        while not self.seen and time.monotonic() - self.since < SAME_CTRL_C_S:
            time.sleep(0.05)


class Executor(ABC):
    """Runs a list of runs. Callbacks are called in the driver process, one at a time."""

    name = "abstract"

    def __init__(self) -> None:
        #: run id -> {"submitted", "started", "finished": time.time(), "pid", ...}; for benchmarks
        self.timings: dict[str, dict[str, Any]] = {}

    @abstractmethod
    def run_all(self, plugins: Plugins, runs: list[RunSpec], suite_dir: Path, cache_dir: Path,
                on_start: OnStart, on_done: OnDone, on_progress: OnProgress,
                on_event: Optional[OnEvent] = None) -> None:
        """Execute every run; call on_start/on_done for each (in the driver process).

        A run's own failure is reported through on_done; KeyboardInterrupt propagates after
        the runs in flight have been checkpointed and stopped."""

    def describe(self) -> dict[str, Any]:
        """What provenance.json records about where the runs ran."""
        return {"name": self.name}

    def _time(self, run_id: str, **marks: Any) -> None:
        self.timings.setdefault(run_id, {}).update(marks)


class LocalExecutor(Executor):
    """In-process and sequential; data sets loaded once are shared by later runs."""

    name = "local"

    def __init__(self, **_: Any) -> None:
        super().__init__()

    def run_all(self, plugins, runs, suite_dir, cache_dir, on_start, on_done, on_progress, on_event=None):
        data = DataCache(plugins, cache_dir)
        for run in runs:
            self._time(run.run_id, submitted=time.time(), started=time.time(), pid=os.getpid())
            on_start(run)
            state = execute_run(plugins, run, suite_dir, data, on_progress)
            self._time(run.run_id, finished=time.time())
            on_done(run, state)


# -- resources -----------------------------------------------------------------------------
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
    import torch

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


def gpu_assignment(workers: int, gpus_per_run: Optional[float], gpus: list[str]) -> list[Optional[str]]:
    """CUDA_VISIBLE_DEVICES for each worker (None: leave the environment alone, CPU).

    gpus_per_run None spreads the workers over the GPUs (sharing when there are more
    workers than GPUs); 0.5 puts two workers on each GPU; an integer k > 1 gives each worker
    k GPUs. Asking for more than there is is an error rather than silent oversubscription."""
    if gpus_per_run is not None and (gpus_per_run <= 0 or not math.isfinite(gpus_per_run)):
        raise GanbenchError(f"--gpus-per-run must be > 0, found {gpus_per_run}", hint="e.g. 1, 0.5 or 2")
    if not gpus:
        return [None] * workers
    if gpus_per_run is None:
        return [gpus[i % len(gpus)] for i in range(workers)]
    if gpus_per_run <= 1:
        per_gpu = max(1, int(1 / gpus_per_run + 1e-9))
        capacity = per_gpu * len(gpus)
        take = lambda i: gpus[i // per_gpu]  # noqa: E731
    else:
        if not float(gpus_per_run).is_integer():
            raise GanbenchError(f"--gpus-per-run above 1 must be a whole number of GPUs, found {gpus_per_run}")
        k = int(gpus_per_run)
        capacity = len(gpus) // k
        take = lambda i: ",".join(gpus[i * k:(i + 1) * k])  # noqa: E731
    if workers > capacity:
        raise GanbenchError(f"--workers {workers} with --gpus-per-run {gpus_per_run:g} needs more than the "
                            f"{len(gpus)} visible GPU(s) ({', '.join(gpus)})",
                            hint=f"use --workers {max(capacity, 1)} or a smaller --gpus-per-run")
    return [take(i) for i in range(workers)]


_STOP_SIGNAL = [0]  # the signal that set train.STOP in this worker


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """In a worker: SIGINT/SIGTERM ask the training loop to checkpoint and stop at the next
    step (train.STOP) instead of killing the run mid-step; restored on exit, because Ray
    reuses worker processes. Ray's own cancel (``ray.cancel``) arrives as SIGINT too."""

    STOP.clear()
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread: plain KeyboardInterrupt then
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    first = [0.0]

    def handler(signum: int, frame: Any) -> None:
        if STOP.is_set() and signum == signal.SIGINT and time.monotonic() - first[0] >= SAME_CTRL_C_S:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now (the run resumes from its last checkpoint)
        if not STOP.is_set():
            _STOP_SIGNAL[0], first[0] = signum, time.monotonic()
        STOP.set()

    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        STOP.clear()


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


def _fail_lost_run(suite_dir: Path, run: RunSpec, reason: str) -> str:
    """A run whose worker vanished: keep a finished state a lost message did not report,
    otherwise mark it failed; its checkpoint stays, so the next `ganbench run` resumes it."""
    run_dir = Path(suite_dir) / run.run_id
    status = get_status(run_dir)
    if status.get("state") in FINISHED:
        return status["state"]
    step = status.get("step")
    at = f" (last checkpoint: step {step})" if step else ""
    set_status(run_dir, "failed", error=f"{reason}{at}; rerun the suite to continue from the last checkpoint",
               finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    return "failed"


def _exit_reason(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker process killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"worker process killed by signal {-exitcode}"
    return f"worker process exited with code {exitcode}"


# -- process executor -------------------------------------------------------------------------
#: what the forkserver imports once, so that forked workers start warm: torch and the first-use
#: imports of a run (the first torch.optim.Adam imports torch._dynamo). Third-party modules
#: only: ganbench and its plugins (0.3 s) are imported in each worker from the driver's sys.path.
FORKSERVER_PRELOAD = ("torch", "torch.optim", "torch._dynamo", "torchvision", "numpy", "PIL.Image")
#: environment variables that libraries read when they are imported (in the forkserver, once)
_IMPORT_TIME_ENV = ("TORCH", "PYTORCH", "OMP_", "KMP_", "MKL_", "CUDA", "LD_", "PYTHON")
_server_env: list[dict[str, str]] = []  # the import-time environment the forkserver started with


def _import_time_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k.startswith(_IMPORT_TIME_ENV) and k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def worker_context(gpus: list[Optional[str]]) -> Any:
    """How worker processes start. On Linux CPU: forked from a forkserver that imported torch
    once, so a worker (or its replacement after a crash) starts in milliseconds instead of
    ≈ 4 s of imports, which was a sixth of an 8-run narrow suite. Spawned instead with GPUs
    (CUDA is never initialised in a process that forks, and each worker's CUDA_VISIBLE_DEVICES
    is in its environment before torch loads), on other systems, and when an environment
    variable read at import time (TORCH*, OMP_*, ...) changed since the server started."""
    import multiprocessing as mp
    from multiprocessing import forkserver

    if any(gpus) or not sys.platform.startswith("linux"):  # macOS system libraries are not fork-safe
        return mp.get_context("spawn")
    if _server_env and _server_env[0] != _import_time_env():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(FORKSERVER_PRELOAD))  # read once, when the server first starts
    if not _server_env:
        forkserver.ensure_running()  # here, not inside a worker's _environ
        _server_env.append(_import_time_env())
    return ctx


def _worker_main(conn: Any, threads: int, cache_dir: str, environ: Optional[dict[str, str]] = None) -> None:
    """A worker process: load the plugins once, then run whatever the driver sends.

    environ: the driver's environment at the worker's start. A forked worker inherits the
    forkserver's, which is as old as the server, so the worker takes the driver's current one.

    Messages to the driver go through this worker's own pipe, never a queue shared by all
    workers: a worker killed while writing could corrupt a shared queue for everyone. If the
    driver dies, the pipe breaks and the run in hand checkpoints and stops at its next step."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    with stop_on_signals():

        def send(msg: tuple[Any, ...]) -> None:
            try:
                conn.send(msg)
            except OSError:  # the driver is gone: stop at the next step, with a checkpoint
                STOP.set()

        try:
            import torch
            torch.set_num_threads(threads)
            from .plugins import load_plugins
            from .runspec import spec_from_config
            plugins = load_plugins()
            data = DataCache(plugins, Path(cache_dir))
        except BaseException as exc:  # noqa: BLE001 - reported to the driver, which raises
            send(("fatal", f"{type(exc).__name__}: {exc}"))
            return
        send(("ready", os.getpid()))
        while not STOP.is_set():
            try:
                msg = conn.recv()
            except (EOFError, OSError, KeyboardInterrupt):
                return  # driver gone or stopping
            if msg is None:
                return
            config, suite_dir = msg
            run_id = config["run_id"]
            if STOP.is_set():
                send(("declined", run_id))
                return
            send(("started", run_id, time.time(), os.getpid()))
            try:
                run = spec_from_config(plugins, config)
                state = execute_run(plugins, run, Path(suite_dir), data,
                                    lambda rid, step, extra: send(("progress", rid, step, extra)),
                                    should_stop=STOP.is_set)
            except KeyboardInterrupt:
                send(("interrupted", run_id, _STOP_SIGNAL[0]))
                return
            except BaseException as exc:  # noqa: BLE001 - execute_run catches a run's own errors
                run_dir = Path(suite_dir) / run_id
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
                set_status(run_dir, "failed", error=f"{type(exc).__name__}: {exc}")
                state = "failed"
            send(("finished", run_id, state, time.time()))


@dataclass
class _Worker:
    slot: int
    proc: Any
    conn: Any
    run: Optional[RunSpec] = None
    ready: bool = False
    pid: int = 0
    gone: bool = False  # will take no more runs (stopped, or its pipe broke)
    reaped: bool = False  # its process ended and its run was settled


@dataclass
class _Plan:
    threads: list[int]
    gpus: list[Optional[str]]
    queue: deque[RunSpec] = field(default_factory=deque)
    attempts: dict[str, int] = field(default_factory=dict)


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
        self._plan: Optional[_Plan] = None
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

    def plan(self, runs: list[RunSpec]) -> _Plan:
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
        self._plan = _Plan(split_threads(n, usable_cpus()), assignment)
        return self._plan

    def _spawn(self, ctx: Any, slot: int, cache_dir: Path) -> _Worker:
        plan = self._plan
        assert plan is not None  # internal invariant: plan() runs first
        threads = plan.threads[slot]
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if plan.gpus[slot] is not None:
            env["CUDA_VISIBLE_DEVICES"] = plan.gpus[slot]
        parent, child = ctx.Pipe(duplex=True)
        with _environ(env):  # a spawned child reads these before anything imports torch
            proc = ctx.Process(target=_worker_main, args=(child, threads, str(cache_dir), dict(os.environ)),
                               name=f"ganbench-worker-{slot}", daemon=True)
            proc.start()
        child.close()
        return _Worker(slot, proc, parent)

    def run_all(self, plugins, runs, suite_dir, cache_dir, on_start, on_done, on_progress, on_event=None):
        from multiprocessing.connection import wait

        events = on_event or (lambda kind, **kw: None)
        if not runs:
            return
        suite_dir = Path(suite_dir)
        plan = self.plan(runs)
        plan.queue.extend(runs)
        if any(r.train.threads == 0 and r.train.device == "cpu" for r in runs) and len(plan.threads) > 1:
            events("warning", message=f"process executor: {len(plan.threads)} workers with "
                                      f"{'/'.join(map(str, plan.threads))} CPU thread(s) each; CPU numbers depend on "
                                      "the thread count, so pin train.threads to match a sequential run bit for bit")
        ctx = worker_context(plan.gpus)
        self.start_method = ctx.get_start_method()
        workers = [self._spawn(ctx, i, cache_dir) for i in range(len(plan.threads))]
        by_id = {r.run_id: r for r in runs}
        settled: deque[tuple[RunSpec, str]] = deque()  # finished runs whose on_done is still due
        stopping = False
        reported_ctrl_c: list[float] = []  # when a worker reported Ctrl-C before this driver saw it

        def settle(w: _Worker, state: str) -> None:
            if w.run is not None:
                settled.append((w.run, state))
                w.run = None

        def handle(w: _Worker, msg: tuple[Any, ...]) -> None:
            kind = msg[0]
            if kind == "ready":
                w.ready, w.pid = True, msg[1]
            elif kind == "started":
                self._time(msg[1], started=msg[2], pid=msg[3], worker=w.slot)
                on_start(by_id[msg[1]])
            elif kind == "progress":
                on_progress(msg[1], msg[2], msg[3])
            elif kind == "finished":
                self._time(msg[1], worker_finished=msg[3])
                settle(w, msg[2])
            elif kind == "interrupted":
                w.gone = True
                if not stopping and len(msg) > 2 and msg[2] == signal.SIGINT:
                    # a terminal's Ctrl-C reaches the whole process group: the worker may see it
                    # before this driver does; treat it as the driver's own interrupt
                    w.run = None
                    reported_ctrl_c.append(time.monotonic())
                    raise KeyboardInterrupt
                if stopping:
                    w.run = None  # status.json says interrupted; the next `ganbench run` resumes it
                else:  # this worker alone was stopped (SIGTERM from outside): its run failed, the suite goes on
                    settle(w, get_status(suite_dir / msg[1]).get("state", "failed"))
            elif kind == "declined":
                w.gone = True
                if w.run is not None:
                    plan.queue.appendleft(w.run)
                    w.run = None
            elif kind == "fatal":
                raise GanbenchError(f"a worker process could not start: {msg[1]}",
                                    hint="run with --executor local to see the problem in this process")

        def drain(w: _Worker) -> None:
            while not w.gone:
                try:
                    if not w.conn.poll():
                        return
                    msg = w.conn.recv()
                except Exception:  # noqa: BLE001 - EOF, or a message cut by a dying worker
                    w.gone = True
                    return
                handle(w, msg)

        def reap(w: _Worker) -> None:
            """A worker whose process ended: settle its run (retry, or mark it failed)."""
            w.proc.join(timeout=5)
            drain(w)
            w.gone = w.reaped = True
            if not w.ready and w.proc.exitcode != 0 and not stopping:
                raise GanbenchError(f"a worker process died while starting ({_exit_reason(w.proc.exitcode)})",
                                    hint="a script that runs suites with the process executor needs "
                                         "`if __name__ == \"__main__\":` (multiprocessing re-imports it in workers); "
                                         "otherwise try --executor local to see the problem in this process")
            if w.run is None:
                return
            run, reason = w.run, _exit_reason(w.proc.exitcode)
            tries = plan.attempts.get(run.run_id, 0)
            if (get_status(suite_dir / run.run_id).get("state") not in FINISHED and not stopping
                    and tries < self.retries):
                plan.attempts[run.run_id] = tries + 1
                w.run = None
                plan.queue.appendleft(run)
                events("run_requeued", run=run,
                       reason=f"{reason}; retry {tries + 1}/{self.retries} from its last checkpoint")
                return
            settle(w, _fail_lost_run(suite_dir, run, reason))

        def dispatch() -> None:
            """Give queued runs to idle workers, replacing workers whose process ended."""
            for i, w in enumerate(workers):
                if w.reaped and plan.queue:
                    w.conn.close()
                    workers[i] = w = self._spawn(ctx, w.slot, cache_dir)
                if w.ready and not w.gone and w.run is None and plan.queue:
                    run = plan.queue.popleft()
                    try:
                        w.conn.send((run.config_json(), str(suite_dir)))
                    except OSError:  # it died since: reap() settles it
                        plan.queue.appendleft(run)
                        w.gone = True
                        continue
                    w.run = run
                    self._time(run.run_id, submitted=time.time())

        def report() -> None:
            """on_done in the driver, after idle workers got new runs (the leaderboard takes seconds)."""
            while settled:
                run, state = settled.popleft()
                self._time(run.run_id, finished=time.time())
                on_done(run, state)

        try:
            while plan.queue or settled or any(w.run is not None for w in workers):
                dispatch()
                report()
                if not plan.queue and all(w.run is None for w in workers):
                    break
                live = [w for w in workers if not w.reaped]
                wait([x for w in live for x in (w.conn, w.proc.sentinel)], timeout=1.0)
                for w in live:
                    drain(w)
                for w in live:
                    if w.proc.exitcode is not None:
                        reap(w)
        except KeyboardInterrupt:
            with CtrlC(reported_ctrl_c[0] if reported_ctrl_c else time.monotonic()) as ctrl_c:
                stopping = True
                events("stopping", message=STOPPING)
                self._stop(workers, drain, suite_dir, ctrl_c)
                report()
                if reported_ctrl_c:
                    ctrl_c.absorb_late_copy()
            raise
        finally:
            self._shutdown(workers)

    def _stop(self, workers: list[_Worker], drain: Callable[[_Worker], None], suite_dir: Path,
              ctrl_c: CtrlC) -> None:
        """Ctrl-C: ask every worker to checkpoint at its next step and stop; wait for them
        (STOP_GRACE_S at most, or until a second Ctrl-C), then kill what is left."""
        from multiprocessing.connection import wait

        for w in workers:
            if w.proc.is_alive():
                try:
                    os.kill(w.proc.pid, signal.SIGTERM)  # a terminal's Ctrl-C reached them already; `kill` may not
                except ProcessLookupError:
                    pass

        def step() -> bool:
            if not any(w.run is not None and w.proc.is_alive() for w in workers):
                return False
            live = [w for w in workers if w.proc.is_alive()]
            wait([x for w in live for x in (w.conn, w.proc.sentinel)], timeout=1.0)
            for w in live:
                drain(w)
            return True

        ctrl_c.wait(step, time.monotonic() + STOP_GRACE_S)
        for w in workers:
            drain(w)
            if w.proc.is_alive():
                w.proc.kill()
            if w.run is not None:
                w.proc.join(timeout=5)
                _fail_lost_run(suite_dir, w.run, "interrupted (Ctrl-C); its worker was stopped before it checkpointed")
                w.run = None

    @staticmethod
    def _shutdown(workers: list[_Worker]) -> None:
        for w in workers:
            if w.proc.is_alive():
                try:
                    w.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        for w in workers:
            w.proc.join(timeout=10)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()


# -- Ray executor -------------------------------------------------------------------------------
def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise GanbenchError("--executor ray needs Ray, which is not installed here",
                            hint='pip install "ganbench[ray]" (or pip install "ray[default]"), '
                                 "or use --executor process on one machine") from exc
    return ray


class _Inbox:
    """A Ray actor that collects what tasks report (started, progress) until the driver
    drains it: tasks cannot call the driver, and an actor outlives any one worker."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []

    def put(self, item: tuple[Any, ...]) -> None:
        self.items.append(item)

    def drain(self) -> list[tuple[Any, ...]]:
        items, self.items = self.items, []
        return items


_RAY_WORKER: dict[str, Any] = {}  # per Ray worker process: plugins and data sets, loaded once


def _ray_run(config: dict[str, Any], suite_dir: str, cache_dir: Optional[str], threads: int,
             inbox: Any) -> tuple[str, float]:
    """One Ray task: one run, written straight into the (shared) results folder."""
    import torch

    from .data import cache_dir as default_cache_dir
    from .plugins import load_plugins
    from .runspec import spec_from_config

    torch.set_num_threads(threads)
    if "plugins" not in _RAY_WORKER:
        _RAY_WORKER["plugins"] = load_plugins()
    plugins = _RAY_WORKER["plugins"]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if _RAY_WORKER.get("cache_dir") != cache:
        _RAY_WORKER["cache_dir"], _RAY_WORKER["data"] = cache, DataCache(plugins, cache)
    run_id = config["run_id"]
    inbox.put.remote(("started", run_id, time.time(), os.getpid()))

    def progress(rid: str, step: int, extra: dict[str, Any]) -> None:
        inbox.put.remote(("progress", rid, step, extra))

    with stop_on_signals():  # ray.cancel -> checkpoint at the next step, then KeyboardInterrupt
        state = execute_run(plugins, spec_from_config(plugins, config), Path(suite_dir), _RAY_WORKER["data"],
                            progress, should_stop=STOP.is_set)
    return state, time.time()


def _ray_probe(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


class RayExecutor(Executor):
    """Each run is a Ray task asking for its CPUs and GPUs; Ray places and queues them.

    Where results go: every task writes its run folder itself, straight into the results
    root, so the root must be a filesystem every node mounts at the same path (NFS, a
    cluster filesystem); run_all checks that from every node before submitting anything.
    Returning results to the driver instead was rejected: a run's checkpoint has to outlive
    the node that trains it (a lost node or a Ctrl-C must leave something to resume from),
    and a task that returned its folder at the end would lose exactly that; streaming
    checkpoints to the driver would rebuild a shared filesystem badly. Writing in place also
    makes the folder byte-for-byte what the local executor writes.

    Without an address a local Ray instance is started with this machine's cores (and GPUs),
    and ``workers`` runs share it. With ``address`` each run asks for ``train.threads`` CPUs
    (1 when unset) and ``gpus_per_run`` GPUs (1 when the cluster has GPUs)."""

    name = "ray"

    def __init__(self, workers: int = 2, gpus_per_run: Optional[float] = None, address: Optional[str] = None,
                 retries: int = 0, **_: Any) -> None:
        super().__init__()
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            _import_ray()  # raises the GanbenchError that says how to install it
        if workers < 1:
            raise GanbenchError(f"--workers must be at least 1, found {workers}")
        if retries < 0:
            raise GanbenchError(f"--retries must be ≥ 0, found {retries}")
        if gpus_per_run is not None and (gpus_per_run <= 0 or not math.isfinite(gpus_per_run)):
            raise GanbenchError(f"--gpus-per-run must be > 0, found {gpus_per_run}", hint="e.g. 1, 0.5 or 2")
        self.workers, self.gpus_per_run, self.address, self.retries = workers, gpus_per_run, address, retries

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "address": self.address or "local instance",
                               "workers": self.workers, "retries": self.retries}
        try:
            import ray
            out["ray"] = ray.__version__
        except ImportError:
            pass
        return out

    # -- resources ---------------------------------------------------------------------------
    def _init(self, ray: Any, runs: list[RunSpec]) -> None:
        import logging
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                gpus = visible_gpus() if any(r.train.device != "cpu" for r in runs) else []
                ray.init(num_cpus=usable_cpus(), num_gpus=len(gpus), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, object_store_memory=256 * 2**20)
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise GanbenchError(f"cannot start or reach {where}: {type(exc).__name__}: {exc}",
                                hint="start a cluster with `ray start --head`, or leave out --address") from exc

    def resources(self, run: RunSpec, cluster_gpus: float) -> tuple[int, float]:
        """(num_cpus, num_gpus) a run's task asks for."""
        if run.train.threads:
            cpus = run.train.threads
        else:
            cpus = max(1, usable_cpus() // self.workers) if not self.address else 1
        if run.train.device == "cpu" or not cluster_gpus:
            return cpus, 0.0
        if self.gpus_per_run is not None:
            return cpus, float(self.gpus_per_run)
        return cpus, (min(1.0, cluster_gpus / self.workers) if not self.address else 1.0)

    def check_shared_root(self, ray: Any, suite_dir: Path) -> None:
        """Every live node must read a file the driver just wrote under the results root."""
        import secrets

        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        token = secrets.token_hex(8)
        probe = suite_dir / f".ray-probe-{token}"
        probe.write_text(token)
        try:
            task = ray.remote(_ray_probe)
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            refs = {task.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                    .remote(str(probe), token): n for n in nodes}
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=120)
            bad = []
            for ref, node in refs.items():
                try:
                    ok = ref in ready and ray.get(ref)
                except ray.exceptions.RayError:
                    ok = False
                if not ok:
                    bad.append(node.get("NodeManagerAddress") or node["NodeID"][:12])
        finally:
            probe.unlink(missing_ok=True)
        if bad:
            raise GanbenchError(f"the results folder {suite_dir} is not readable at the same path on Ray node(s) "
                                f"{', '.join(bad)}: each run writes its folder (checkpoints included) from the node "
                                "that trains it", hint="put --results on a filesystem every node mounts at the same "
                                                       "path (NFS or similar)")

    # -- the loop ----------------------------------------------------------------------------
    def run_all(self, plugins, runs, suite_dir, cache_dir, on_start, on_done, on_progress, on_event=None):
        events = on_event or (lambda kind, **kw: None)
        if not runs:
            return
        ray = _import_ray()
        suite_dir = Path(suite_dir).resolve()
        started_here = not ray.is_initialized()
        if started_here:
            self._init(ray, runs)
        try:
            self._run(ray, runs, suite_dir, cache_dir, on_start, on_done, on_progress, events)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray: Any, runs: list[RunSpec], suite_dir: Path, cache_dir: Path, on_start: OnStart,
             on_done: OnDone, on_progress: OnProgress, events: OnEvent) -> None:
        self.check_shared_root(ray, suite_dir)
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        inbox = ray.remote(_Inbox).options(num_cpus=0).remote()
        task = ray.remote(_ray_run)
        # a local instance shares this machine's cache; cluster nodes use their own GANBENCH_CACHE
        cache = None if self.address else str(Path(cache_dir).resolve())
        pending: dict[Any, RunSpec] = {}
        for run in runs:
            cpus, gpus = self.resources(run, cluster_gpus)
            options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": self.retries,
                                       "retry_exceptions": False, "name": f"ganbench:{run.run_id}"}
            if gpus:
                options["max_calls"] = 1  # a fresh process per GPU run: its CUDA context and memory go with it
            pending[task.options(**options).remote(run.config_json(), str(suite_dir), cache, cpus, inbox)] = run
            self._time(run.run_id, submitted=time.time(), num_cpus=cpus, num_gpus=gpus)
        by_id = {r.run_id: r for r in runs}
        started: set[str] = set()

        def drain() -> None:
            for msg in ray.get(inbox.drain.remote()):
                if msg[0] == "started":
                    run = by_id[msg[1]]
                    if msg[1] in started:  # Ray re-ran it (max_retries) after its worker died
                        events("run_requeued", run=run, reason="its Ray worker died; Ray runs it again from its "
                                                               "last checkpoint")
                    started.add(msg[1])
                    self._time(msg[1], started=msg[2], pid=msg[3])
                    on_start(run)
                elif msg[0] == "progress":
                    on_progress(msg[1], msg[2], msg[3])

        def settle(ref: Any) -> None:
            run = pending.pop(ref)
            try:
                state, t_end = ray.get(ref)
                self._time(run.run_id, worker_finished=t_end)
            except ray.exceptions.RayError as exc:
                first = (str(exc).strip().splitlines() or [""])[-1][:200]
                state = _fail_lost_run(suite_dir, run, f"Ray task failed ({type(exc).__name__}: {first})")
            drain()
            if run.run_id not in started:  # its start message was lost with its worker
                started.add(run.run_id)
                on_start(run)
            self._time(run.run_id, finished=time.time())
            on_done(run, state)

        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                drain()
                if ready:
                    more, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                    for ref in {*ready, *more}:
                        settle(ref)
        except KeyboardInterrupt:
            with CtrlC(time.monotonic()) as ctrl_c:
                events("stopping", message=STOPPING)
                self._stop(ray, pending, suite_dir, settle, ctrl_c)
            raise

    def _stop(self, ray: Any, pending: dict[Any, RunSpec], suite_dir: Path, settle: Callable[[Any], None],
              ctrl_c: CtrlC) -> None:
        """Ctrl-C: cancel every task (a running one checkpoints at its next step and stops,
        a queued one is dropped), wait STOP_GRACE_S at most, then force what is left."""
        for ref in list(pending):
            ray.cancel(ref)

        def step() -> bool:
            if not pending:
                return False
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=1.0)
            for ref in ready:
                try:
                    ray.get(ref)
                except ray.exceptions.RayError:  # cancelled: status.json says interrupted, or pending
                    pending.pop(ref)
                    continue
                settle(ref)  # it finished before it saw the stop
            return True

        ctrl_c.wait(step, time.monotonic() + STOP_GRACE_S)
        for ref, run in list(pending.items()):
            ray.cancel(ref, force=True)
            if get_status(suite_dir / run.run_id).get("state") == "running":
                _fail_lost_run(suite_dir, run, "interrupted (Ctrl-C); its Ray task was stopped before it checkpointed")


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "local": LocalExecutor,
    "process": ProcessExecutor,
    "ray": RayExecutor,
}


def get_executor(name: str, **options: Any) -> Executor:
    if name not in EXECUTORS:
        from .errors import did_you_mean
        raise GanbenchError(f"unknown executor '{name}'{did_you_mean(name, EXECUTORS)}")
    return EXECUTORS[name](**options)
