"""Executors: worker processes and Ray leave the results folder as a sequential run does.

Every suite here is a tiny quickstart (narrow nets, 40 steps, a one-epoch classifier,
train.threads = 1 so that every executor runs each run with the same thread count: torch's
CPU numbers depend on it). The sequential results are computed once per module.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from ganbench import cli
from ganbench.data import cache_dir
from ganbench.errors import GanbenchError
from ganbench.executors import (LocalExecutor, ProcessExecutor, RayExecutor, StopRequest, get_executor,
                                gpu_assignment, process, split_threads, stopping, worker_context)
from ganbench.executors.messages import Assign, Finished, Progress, Ready, Shutdown, Started
from ganbench.executors.worker import worker_main
from ganbench.plugins import get_plugin_manager, load_plugins
from ganbench.results import get_status, read_json, read_jsonl
from ganbench.runner import SuiteLock, run_suite
from ganbench.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "suites" / "quickstart.toml"
TINY = ["train.steps=40", "train.batch_size=32", "train.log_every=10", "train.checkpoint_every=10",
        "train.sample_every=20", "train.threads=1", "train.num_final_images=0", "train.grid_size=16",
        "models.dcgan.width=8", "metrics.num_samples=200", "metrics.batch_size=100",
        "metrics.classifier.width=8", "metrics.classifier.epochs=1"]


@pytest.fixture(scope="module", autouse=True)
def _no_autoload() -> Any:
    """Workers inherit the environment: built-in plugins only, there as here."""
    old = os.environ.get("GANBENCH_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["GANBENCH_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    yield
    if old is None:
        os.environ.pop("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        os.environ["GANBENCH_DISABLE_PLUGIN_AUTOLOAD"] = old


@pytest.fixture(scope="module")
def plugins_m() -> Any:
    return load_plugins(get_plugin_manager(load_entrypoints=False))


def tiny_suite(plugins: Any, *extra: str, filters: tuple[str, ...] = ()) -> Any:
    return load_suite(plugins, QUICKSTART, [*TINY, *extra], list(filters))


def final_scores(suite_dir: Path) -> dict[str, dict[str, float]]:
    out = {}
    for run_dir in sorted(p for p in suite_dir.iterdir() if (p / "config.json").exists()):
        final = [e for e in read_jsonl(run_dir / "evals.jsonl") if e.get("final")]
        out[run_dir.name] = final[-1]["scores"] if final else {}
    return out


def assert_same_scores(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> None:
    assert a.keys() == b.keys()
    for run_id in a:
        assert a[run_id].keys() == b[run_id].keys(), run_id
        for k, v in a[run_id].items():
            assert b[run_id][k] == pytest.approx(v, rel=1e-6, abs=1e-6), (run_id, k)


def losses(run_dir: Path) -> list[list[str]]:
    """losses.csv without its img_per_s column (a speed, not a result)."""
    rows = [line.split(",") for line in (run_dir / "losses.csv").read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name != "img_per_s"]
    return [[r[i] for i in keep] for r in rows]


def leaderboard_rows(suite_dir: Path) -> list[dict[str, Any]]:
    """The leaderboard without what legitimately changes between sessions (speed, date)."""
    board = read_json(suite_dir / "leaderboard.json")
    return [{k: v for k, v in row.items() if k != "train_img_per_s"}
            for table in board["tables"] for row in table["rows"]]


class Events:
    def __init__(self, hook: Any = None) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.hook = hook

    def __call__(self, kind: str, **kw: Any) -> None:
        self.seen.append((kind, kw))
        if self.hook:
            self.hook(kind, kw)

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [kw for k, kw in self.seen if k == kind]


@pytest.fixture(scope="module")
def sequential(plugins_m: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sequential")
    result = run_suite(plugins_m, tiny_suite(plugins_m), root, LocalExecutor())
    assert set(result.states.values()) == {"done"}, result.states
    return result.suite_dir


# -- pure parts ------------------------------------------------------------------------------
def test_threads_split_the_cores() -> None:
    assert split_threads(2, 2) == [1, 1]
    assert split_threads(2, 5) == [3, 2]
    assert split_threads(3, 2) == [1, 1, 1]  # more workers than cores: one thread each


def test_gpu_assignment() -> None:
    assert gpu_assignment(2, None, []) == [None, None]  # CPU: environment untouched
    assert gpu_assignment(3, None, ["0", "1"]) == ["0", "1", "0"]  # spread, sharing when needed
    assert gpu_assignment(4, 0.5, ["0", "1"]) == ["0", "1", "0", "1"]  # two runs per GPU
    assert gpu_assignment(2, 0.25, ["0", "1"]) == ["0", "1"]  # room for 4 per GPU, but spread first
    assert gpu_assignment(4, 0.25, ["0"]) == ["0"] * 4
    assert gpu_assignment(2, 2, ["4", "5", "6", "7"]) == ["4,5", "6,7"]
    with pytest.raises(GanbenchError, match="needs more than the 2 visible GPU"):
        gpu_assignment(3, 1, ["0", "1"])
    with pytest.raises(GanbenchError, match="whole number"):
        gpu_assignment(1, 1.5, ["0", "1"])
    with pytest.raises(GanbenchError, match="> 0"):
        gpu_assignment(1, 0, ["0"])


def test_process_plan_pins_workers_to_gpus(plugins_m: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "visible_gpus", lambda: ["0"])
    runs = tiny_suite(plugins_m, "train.device='cuda'").runs
    plan = ProcessExecutor(workers=2, gpus_per_run=0.5).plan(runs)
    assert plan.gpus == ["0", "0"] and len(plan.threads) == 2
    with pytest.raises(GanbenchError, match="cuda:1"):
        ProcessExecutor(workers=2).plan(tiny_suite(plugins_m, "train.device='cuda:1'").runs)
    assert ProcessExecutor(workers=2).plan(tiny_suite(plugins_m, "train.device='cpu'").runs).gpus == [None, None]


def test_unknown_executor_and_missing_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GanbenchError, match="unknown executor 'proces'"):
        get_executor("proces")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(GanbenchError, match="needs Ray") as info:
        get_executor("ray", workers=2)
    assert "pip install" in str(info.value)


# -- the lock ----------------------------------------------------------------------------------
def test_lock_blocks_a_second_driver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SuiteLock(tmp_path / "quickstart"):
        code = cli.main(["run", str(QUICKSTART), "--results", str(tmp_path), "--executor", "process",
                         *[a for s in TINY for a in ("--set", s)]])
    assert code == 2
    err = capsys.readouterr().err
    assert f"another ganbench driver (pid {os.getpid()})" in err and ".lock" in err
    assert not any(p.is_dir() for p in (tmp_path / "quickstart").iterdir())  # nothing ran
    # a dead driver's lock is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "quickstart" / ".lock").write_text(str(dead.pid))
    with SuiteLock(tmp_path / "quickstart") as lock:
        assert lock.path.read_text() == str(os.getpid())


# -- process executor ----------------------------------------------------------------------------
def test_process_executor_matches_sequential(plugins_m: Any, sequential: Path, tmp_path: Path) -> None:
    executor = ProcessExecutor(workers=2)
    events = Events()
    result = run_suite(plugins_m, tiny_suite(plugins_m), tmp_path, executor, on_event=events)
    assert set(result.states.values()) == {"done"}
    assert_same_scores(final_scores(sequential), final_scores(result.suite_dir))
    for run_id in result.states:  # the loss curves too, step by step
        assert losses(result.suite_dir / run_id) == losses(sequential / run_id)
    assert leaderboard_rows(result.suite_dir) == leaderboard_rows(sequential)
    # fanned out: two worker processes, both busy at once, callbacks in this (the driver) process
    t = executor.timings
    assert len({v["pid"] for v in t.values()}) == 2 and os.getpid() not in {v["pid"] for v in t.values()}
    first, second = sorted(t.values(), key=lambda v: v["started"])[:2]
    assert second["started"] < first["finished"]
    assert len(events.kinds("run_started")) == len(events.kinds("run_finished")) == 4
    assert read_json(result.suite_dir / "provenance.json")["executor"]["name"] == "process"


def kill_at_step(executor: ProcessExecutor, step: int) -> Events:
    """Events that SIGKILL the worker running the first run reporting `step`, once."""
    killed: list[int] = []

    def hook(kind: str, kw: dict[str, Any]) -> None:
        if kind == "run_progress" and kw["step"] >= step and not killed:
            killed.append(executor.timings[kw["run_id"]]["pid"])
            os.kill(killed[0], signal.SIGKILL)
    return Events(hook)


def test_cpu_workers_fork_from_a_warm_server_and_take_the_drivers_environment(
        plugins_m: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU, workers fork from a forkserver that imported torch and the plugins once; with
    GPUs they are spawned (CUDA never forked). A forked worker must still see the driver's
    environment as it is now, not as it was when the server started."""
    assert worker_context([None, None]).get_start_method() == "forkserver"
    assert worker_context(["0", None]).get_start_method() == "spawn"
    with monkeypatch.context() as m:  # read when torch is imported: the server's copy would be stale
        m.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
        assert worker_context([None, None]).get_start_method() == "spawn"
    one = ("latent_dim=16", "seed=0")
    executor = ProcessExecutor(workers=1)
    first = run_suite(plugins_m, tiny_suite(plugins_m, "train.steps=10", filters=one), tmp_path / "a", executor)
    assert set(first.states.values()) == {"done"}
    assert executor.describe()["start_method"] == "forkserver"
    monkeypatch.setenv("GANBENCH_BLOCK_PLUGINS", "dcgan")  # set after the server started
    second = run_suite(plugins_m, tiny_suite(plugins_m, "train.steps=10", filters=one), tmp_path / "b",
                       ProcessExecutor(workers=1))
    (run_id, state), = second.states.items()
    assert state == "failed"
    assert "dcgan" in get_status(second.suite_dir / run_id)["error"]


def test_killed_worker_is_recorded_and_the_run_resumes(plugins_m: Any, sequential: Path, tmp_path: Path) -> None:
    one = ("latent_dim=16", "seed=0")
    executor = ProcessExecutor(workers=1)
    result = run_suite(plugins_m, tiny_suite(plugins_m, filters=one), tmp_path, executor,
                       on_event=kill_at_step(executor, 20))
    (run_id, state), = result.states.items()
    assert state == "failed"
    status = get_status(result.suite_dir / run_id)
    assert "killed by SIGKILL" in status["error"] and "rerun the suite" in status["error"]
    assert (result.suite_dir / run_id / "checkpoint.pt").exists()
    # the next `ganbench run` continues from the checkpoint and gets the uninterrupted numbers
    again = run_suite(plugins_m, tiny_suite(plugins_m, filters=one), tmp_path, LocalExecutor())
    assert again.states == {run_id: "done"}
    assert read_json(again.suite_dir / run_id / "throughput.json")["resumed_from"] in (10, 20, 30)
    assert_same_scores({run_id: final_scores(sequential)[run_id]}, final_scores(again.suite_dir))


def test_killed_worker_is_retried_once(plugins_m: Any, sequential: Path, tmp_path: Path) -> None:
    one = ("latent_dim=64", "seed=1")
    executor = ProcessExecutor(workers=1, retries=1)
    events = kill_at_step(executor, 20)
    result = run_suite(plugins_m, tiny_suite(plugins_m, filters=one), tmp_path, executor, on_event=events)
    (run_id, state), = result.states.items()
    assert state == "done"
    assert "killed by SIGKILL" in events.kinds("run_requeued")[0]["reason"]
    assert len(events.kinds("run_started")) == 2 and len(events.kinds("run_finished")) == 1
    assert read_json(result.suite_dir / run_id / "throughput.json")["resumed_from"] in (10, 20, 30)
    assert_same_scores({run_id: final_scores(sequential)[run_id]}, final_scores(result.suite_dir))


def test_ctrl_c_checkpoints_running_runs_and_a_rerun_continues(plugins_m: Any, tmp_path: Path) -> None:
    sets = ["train.steps=200", "train.checkpoint_every=0"]  # no periodic checkpoint: only Ctrl-C makes one
    filters = ("latent_dim=16",)
    argv = [sys.executable, "-m", "ganbench.cli", "run", str(QUICKSTART), "--results", str(tmp_path),
            "--executor", "process", "--workers", "2",
            *[a for s in [*TINY, *sets] for a in ("--set", s)], *[a for f in filters for a in ("--filter", f)]]
    runs = tiny_suite(plugins_m, *sets, filters=filters).runs
    dirs = [tmp_path / "quickstart" / r.run_id for r in runs]
    # its own session: the test plays the terminal, whose Ctrl-C reaches the whole process group
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not all(len(read_lines(d / "losses.csv")) >= 4 for d in dirs):  # header + steps 10, 20, 30
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        # a second driver is refused while this one runs
        with pytest.raises(GanbenchError, match=f"another ganbench driver \\(pid {proc.pid}\\)"):
            run_suite(plugins_m, tiny_suite(plugins_m, *sets, filters=filters), tmp_path)
        # the terminal's Ctrl-C reaches each process at its own moment: worker A first, which
        # checkpoints and reports; the driver's copy a second later; worker B, held up, last
        a, b = spawned_workers(proc.pid)
        os.kill(b, signal.SIGSTOP)
        os.kill(a, signal.SIGINT)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGINT)
        os.kill(b, signal.SIGINT)
        os.kill(b, signal.SIGCONT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "press Ctrl-C again" in out
    steps = []
    for d in dirs:
        status = get_status(d)
        assert status["state"] == "interrupted" and "interrupted" in status["error"], (status, out)
        assert (d / "checkpoint.pt").exists(), (status, out)
        assert 30 <= status["step"] < 200
        steps.append(status["step"])
    assert not (tmp_path / "quickstart" / ".lock").exists()
    again = run_suite(plugins_m, tiny_suite(plugins_m, *sets, filters=filters), tmp_path, LocalExecutor())
    assert set(again.states.values()) == {"done"}
    assert [read_json(d / "throughput.json")["resumed_from"] for d in dirs] == steps


def test_the_late_copy_of_one_ctrl_c_is_not_a_second_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal's Ctrl-C reaches driver and workers each at its own moment. A process that
    has begun stopping must not read the first Ctrl-C's late copy as "Ctrl-C twice, stop now":
    that killed a worker one step before its checkpoint (a flaky CI failure of the test above)."""
    monkeypatch.setattr(stopping, "SAME_CTRL_C_S", 1.0)
    previous = signal.getsignal(signal.SIGINT)
    with StopRequest().on_signals() as stop:  # a worker
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # the same keypress, through another path: ignored
        assert stop.is_set() and stop.signal == signal.SIGINT
        time.sleep(1.05)
        with pytest.raises(KeyboardInterrupt):  # a real second Ctrl-C: stop now
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    assert signal.getsignal(signal.SIGINT) is previous  # restored: Ray reuses worker processes

    # the driver: while it stops, its SIGINT only records (never raises mid-message)
    calls: list[int] = []

    def waiting(kill_at: int) -> Any:
        def step() -> bool:  # one bounded wait per call
            calls.append(1)
            if len(calls) == kill_at:
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)
            return len(calls) < 6
        return step

    with stopping.CtrlC(time.monotonic()) as ctrl_c:
        ctrl_c.wait(waiting(1), time.monotonic() + 30)  # the first one's late copy: waiting goes on
    assert len(calls) == 6 and len(ctrl_c.seen) == 1
    calls.clear()
    with stopping.CtrlC(time.monotonic()) as ctrl_c:
        ctrl_c.wait(waiting(5), time.monotonic() + 30)  # ≥ 1.2 s later: a second Ctrl-C ends it
    assert len(calls) == 5
    calls.clear()
    with stopping.CtrlC(time.monotonic()) as ctrl_c:
        ctrl_c.wait(waiting(0), time.monotonic() + 0.5)  # the grace period ends it too
    assert 1 <= len(calls) < 6
    # after a worker's report stood in for the driver's Ctrl-C, the driver's copy is absorbed
    since = time.monotonic()
    with stopping.CtrlC(since) as ctrl_c:
        os.kill(os.getpid(), signal.SIGINT)
        ctrl_c.absorb_late_copy()  # it came: no waiting, nothing raised
    assert time.monotonic() - since < 0.5
    since = time.monotonic()
    with stopping.CtrlC(since) as ctrl_c:
        ctrl_c.absorb_late_copy()  # it never comes: wait out the window
    assert time.monotonic() - since >= 1.0


def test_stop_request_records_the_first_signal_and_restores_the_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's stop request: what the Trainer asks (is_set) and which signal stopped it."""
    stop = StopRequest()
    assert not stop.is_set()
    stop.set()  # the driver's pipe broke: stop, but no signal to report
    assert stop.is_set() and stop.signal == 0
    monkeypatch.setattr(stopping, "SAME_CTRL_C_S", 0.0)
    previous = signal.getsignal(signal.SIGTERM)
    with StopRequest().on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # only a SIGINT twice means "stop now"
        assert stop.is_set() and stop.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_worker_answers_in_typed_messages(plugins_m: Any, tmp_path: Path) -> None:
    """The worker protocol without a process: worker_main in this process, on a pipe whose
    far end already holds one run and the shutdown."""
    run = tiny_suite(plugins_m, "train.steps=10", filters=("latent_dim=16", "seed=0")).runs[0]
    driver, worker = multiprocessing.Pipe(duplex=True)
    driver.send(Assign(run.config_json(), str(tmp_path)))
    driver.send(Shutdown())
    threads = torch.get_num_threads()
    try:
        worker_main(worker, 1, str(cache_dir()))
    finally:
        torch.set_num_threads(threads)
    said = []
    while driver.poll():
        said.append(driver.recv())
    assert isinstance(said[0], Ready) and said[0].pid == os.getpid()
    assert isinstance(said[1], Started) and said[1].run_id == run.run_id
    assert said[-1] == Finished(run.run_id, "done", said[-1].time)
    assert all(isinstance(m, Progress) and m.run_id == run.run_id for m in said[2:-1]) and said[2:-1]
    assert get_status(tmp_path / run.run_id)["state"] == "done"


def spawned_workers(pid: int) -> list[int]:
    """The process executor's worker processes under driver ``pid`` (Linux /proc): the
    forkserver's children (or the driver's spawned children), not multiprocessing's helpers."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue

    def cmdline(p: int) -> bytes:
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            return b""

    servers = {p for p, pp in parents.items() if pp == pid and b"forkserver" in cmdline(p)}
    found = [p for p, pp in parents.items()
             if pp in servers or (pp == pid and b"spawn_main" in cmdline(p))]
    assert len(found) == 2, found
    return sorted(found)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


# -- Ray ---------------------------------------------------------------------------------------------
def test_ray_local_instance_matches_sequential(plugins_m: Any, sequential: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    executor = RayExecutor(workers=2)
    events = Events()
    result = run_suite(plugins_m, tiny_suite(plugins_m), tmp_path, executor, on_event=events)
    assert set(result.states.values()) == {"done"}, [get_status(result.suite_dir / r).get("error")
                                                     for r in result.states]
    assert_same_scores(final_scores(sequential), final_scores(result.suite_dir))
    assert leaderboard_rows(result.suite_dir) == leaderboard_rows(sequential)
    assert len(events.kinds("run_started")) == 4 and events.kinds("run_progress")
    assert {v["num_cpus"] for v in executor.timings.values()} == {1}
    assert not list(result.suite_dir.glob(".ray-probe-*"))
    prov = json.loads((result.suite_dir / "provenance.json").read_text())
    assert prov["executor"]["name"] == "ray" and prov["executor"]["address"] == "local instance"
