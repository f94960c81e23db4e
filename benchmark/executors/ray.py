"""The Ray executor: each run is a Ray task that writes its folder straight into a results
root every node mounts.

Ray (the third-party package, not this module) is an optional dependency, so it is imported
inside functions: without it everything else works, and `ganbench list` does not wait for it.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import secrets
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Union

import torch

from ..data import DataCache
from ..data import cache_dir as default_cache_dir
from ..errors import GanbenchError
from ..plugins import Plugins, load_plugins
from ..results import get_status
from ..runs import execute_run
from ..runspec import RunSpec, spec_from_config
from .base import DriverCallbacks, Executor, OnDone, OnEvent, OnProgress, OnStart, fail_lost_run, no_events
from .messages import Progress, Started
from .placement import check_gpus_per_run, usable_cpus, visible_gpus
from .stopping import STOP_GRACE_S, STOPPING, CtrlC, StopRequest

#: what a task tells the driver while it runs, through the inbox
Report = Union[Started, Progress]


def import_ray() -> ModuleType:
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
        self.items: list[Report] = []

    def put(self, item: Report) -> None:
        self.items.append(item)

    def drain(self) -> list[Report]:
        items, self.items = self.items, []
        return items


@functools.lru_cache(maxsize=None)
def _worker_plugins() -> Plugins:
    """This Ray worker process's plugins, loaded by its first task."""
    return load_plugins()


@functools.lru_cache(maxsize=1)
def _worker_data(cache: Path) -> DataCache:
    """This Ray worker process's data sets, shared by its tasks while they use one cache folder."""
    return DataCache(_worker_plugins(), cache)


def _ray_run(config: dict[str, Any], suite_dir: str, cache_dir: Optional[str], threads: int,
             inbox: Any) -> tuple[str, float]:
    """One Ray task: one run, written straight into the (shared) results folder.
    inbox: a handle to the driver's _Inbox actor."""
    torch.set_num_threads(threads)
    plugins = _worker_plugins()
    data = _worker_data(Path(cache_dir) if cache_dir else default_cache_dir())
    inbox.put.remote(Started(config["run_id"], time.time(), os.getpid()))

    def progress(rid: str, step: int, extra: dict[str, Any]) -> None:
        inbox.put.remote(Progress(rid, step, extra))

    with StopRequest().on_signals() as stop:  # ray.cancel -> checkpoint at the next step, then KeyboardInterrupt
        state = execute_run(plugins, spec_from_config(plugins, config), Path(suite_dir), data, progress,
                            should_stop=stop.is_set)
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
        if importlib.util.find_spec("ray") is None:
            import_ray()  # raises the GanbenchError that says how to install it
        if workers < 1:
            raise GanbenchError(f"--workers must be at least 1, found {workers}")
        if retries < 0:
            raise GanbenchError(f"--retries must be ≥ 0, found {retries}")
        check_gpus_per_run(gpus_per_run)
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
    def _init(self, ray: ModuleType, runs: list[RunSpec]) -> None:
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

    def check_shared_root(self, ray: ModuleType, suite_dir: Path) -> None:
        """Every live node must read a file the driver just wrote under the results root."""
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
    def run_all(self, plugins: Plugins, runs: list[RunSpec], suite_dir: Path, cache_dir: Path,
                on_start: OnStart, on_done: OnDone, on_progress: OnProgress,
                on_event: Optional[OnEvent] = None) -> None:
        callbacks = DriverCallbacks(on_start, on_done, on_progress, on_event or no_events)
        if not runs:
            return
        ray = import_ray()
        suite_dir = Path(suite_dir).resolve()
        started_here = not ray.is_initialized()
        if started_here:
            self._init(ray, runs)
        try:
            self.check_shared_root(ray, suite_dir)
            _RayDriver(self, ray, suite_dir, callbacks).run(runs, cache_dir)
        finally:
            if started_here:
                ray.shutdown()


class _RayDriver:
    """One ``run_all`` of the Ray executor: the tasks not yet settled (by object ref) and the
    runs whose start was reported. Every callback runs here, in the driver process."""

    def __init__(self, executor: RayExecutor, ray: ModuleType, suite_dir: Path, callbacks: DriverCallbacks) -> None:
        self.executor, self.ray, self.suite_dir, self.callbacks = executor, ray, suite_dir, callbacks
        self.inbox: Any = None  # a handle to the _Inbox actor
        self.pending: dict[Any, RunSpec] = {}  # Ray object ref -> its run
        self.by_id: dict[str, RunSpec] = {}
        self.started: set[str] = set()

    def run(self, runs: list[RunSpec], cache_dir: Path) -> None:
        ray, executor = self.ray, self.executor
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        self.inbox = ray.remote(_Inbox).options(num_cpus=0).remote()
        task = ray.remote(_ray_run)
        # a local instance shares this machine's cache; cluster nodes use their own GANBENCH_CACHE
        cache = None if executor.address else str(Path(cache_dir).resolve())
        for run in runs:
            cpus, gpus = executor.resources(run, cluster_gpus)
            options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": executor.retries,
                                       "retry_exceptions": False, "name": f"ganbench:{run.run_id}"}
            if gpus:
                options["max_calls"] = 1  # a fresh process per GPU run: its CUDA context and memory go with it
            ref = task.options(**options).remote(run.config_json(), str(self.suite_dir), cache, cpus, self.inbox)
            self.pending[ref] = run
            executor.mark(run.run_id, submitted=time.time(), num_cpus=cpus, num_gpus=gpus)
        self.by_id = {r.run_id: r for r in runs}
        try:
            while self.pending:
                ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=0.5)
                self._drain()
                if ready:
                    more, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
                    for ref in {*ready, *more}:
                        self._settle(ref)
        except KeyboardInterrupt:
            with CtrlC(time.monotonic()) as ctrl_c:
                self.callbacks.on_event("stopping", message=STOPPING)
                self._stop(ctrl_c)
            raise

    def _drain(self) -> None:
        for msg in self.ray.get(self.inbox.drain.remote()):
            if isinstance(msg, Started):
                run = self.by_id[msg.run_id]
                if msg.run_id in self.started:  # Ray re-ran it (max_retries) after its worker died
                    self.callbacks.on_event("run_requeued", run=run,
                                            reason="its Ray worker died; Ray runs it again from its last checkpoint")
                self.started.add(msg.run_id)
                self.executor.mark(msg.run_id, started=msg.time, pid=msg.pid)
                self.callbacks.on_start(run)
            elif isinstance(msg, Progress):
                self.callbacks.on_progress(msg.run_id, msg.step, msg.extra)

    def _settle(self, ref: Any) -> None:
        run = self.pending.pop(ref)
        try:
            state, t_end = self.ray.get(ref)
            self.executor.mark(run.run_id, worker_finished=t_end)
        except self.ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [""])[-1][:200]
            state = fail_lost_run(self.suite_dir, run, f"Ray task failed ({type(exc).__name__}: {first})")
        self._drain()
        if run.run_id not in self.started:  # its start message was lost with its worker
            self.started.add(run.run_id)
            self.callbacks.on_start(run)
        self.executor.mark(run.run_id, finished=time.time())
        self.callbacks.on_done(run, state)

    def _stop(self, ctrl_c: CtrlC) -> None:
        """Ctrl-C: cancel every task (a running one checkpoints at its next step and stops,
        a queued one is dropped), wait STOP_GRACE_S at most, then force what is left."""
        ray, pending = self.ray, self.pending
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
                self._settle(ref)  # it finished before it saw the stop
            return True

        ctrl_c.wait(step, time.monotonic() + STOP_GRACE_S)
        for ref, run in list(pending.items()):
            ray.cancel(ref, force=True)
            if get_status(self.suite_dir / run.run_id).get("state") == "running":
                fail_lost_run(self.suite_dir, run, "interrupted (Ctrl-C); its Ray task was stopped before it checkpointed",
                              "interrupted")
