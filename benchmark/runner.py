"""Running a suite: fail-fast checks, a lock on the results folder, the executor, the
leaderboard rebuilt after every finished run, and a summary. torch and the executors
(which import it) are imported where they are used, so that `ganbench list` stays fast."""
from __future__ import annotations

import dataclasses
import fcntl
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from . import __version__
from .capacity import check_capacity
from .containment import check_results_root, check_suite_dir
from .config import reference_options
from .data import cache_dir
from .damage import damage_of
from .errors import GanbenchError, ResourceMissing
from .plugins import Plugins
from .publish import write_all
from .results import get_status, read_json, write_json
from .resume import run_action
from .runspec import RunSpec
from .suite import Suite

if TYPE_CHECKING:  # pragma: no cover
    from .executors import Executor, OnEvent


def git_commit(here: Optional[Path] = None) -> Optional[str]:
    """The checkout's commit, with "-dirty" when ganbench's own code (core or plugins) has
    uncommitted changes: then the commit alone does not say what produced a result.
    ``here``: a folder inside the checkout (default: this package's)."""
    here = here or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=here)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/benchmark",
                                ":/plugins"], capture_output=True, text=True, timeout=5, cwd=here)
        return out.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@dataclass
class Check:
    """One readiness problem found by `validate` / before `run`."""

    what: str
    message: str
    missing_resource: bool  # True: exit 3 (data/weights); False: exit 2 (suite)


def check_suite(plugins: Plugins, suite: Suite) -> list[Check]:
    """Everything a run needs that a suite file alone cannot show: data and weights present, the
    device, the classes and enough memory (capacity.py)."""
    problems: list[Check] = []
    seen: set[str] = set()
    for run in suite.runs:
        spec = plugins.datasets.get(run.dataset)
        ref = reference_options(run.dataset_options, run.metrics) if run.metrics.names else run.dataset_options
        for what, opts in ((f"datasets.{run.dataset}", run.dataset_options), ("metrics.reference_split", ref)):
            key = f"d:{run.dataset}:{dataclasses.asdict(opts)}"
            if spec.check is None or key in seen:
                continue
            seen.add(key)
            try:
                msg = spec.check(opts)
            except GanbenchError as exc:
                problems.append(Check(what, str(exc), False))
                continue
            if msg and all(p.message != msg for p in problems):
                problems.append(Check(what, msg, True))
            elif not msg:
                problems += _decode(spec, opts, what)
        for m in run.metrics.names:
            mspec = plugins.metrics.get(m)
            key = f"m:{m}:{run.metric_options.get(m)}"
            if mspec.check is not None and key not in seen:
                seen.add(key)
                msg = mspec.check(run.metric_options.get(m))
                if msg:
                    problems.append(Check(f"metrics.{m}", msg, True))
    problems += [Check(what, msg, False) for what, msg in check_capacity(plugins, suite.runs)]
    return problems


def _decode(spec: Any, options: Any, what: str) -> list[Check]:
    """Decode the data set once (cached for the runs), so a corrupt or vanished file is
    reported before anything trains, not an hour into the suite."""
    try:
        spec.load(options, str(cache_dir()))
    except ResourceMissing as exc:
        return [Check(what, str(exc), True)]
    except GanbenchError as exc:
        return [Check(what, str(exc), False)]
    except (OSError, ValueError, RuntimeError) as exc:
        return [Check(what, f"cannot read the data: {type(exc).__name__}: {exc}", False)]
    return []


def raise_for(problems: list[Check], suite: Suite) -> None:
    if not problems:
        return
    text = "; ".join(f"{p.what}: {p.message}" for p in problems)
    if any(not p.missing_resource for p in problems):
        raise GanbenchError(text, where=str(suite.path))
    raise ResourceMissing(text, where=str(suite.path))


class SuiteLock:
    """One driver per results folder: an flock on ``.lock``, which holds the driver's pid.

    The kernel drops an flock when its process dies, so a dead driver's lock is free without
    anyone deciding it is stale (reading a pid and then unlinking raced when two drivers
    reclaimed the same stale lock: both ran). The inode check covers a holder that removed
    the file between our open and our flock."""

    def __init__(self, suite_dir: Path):
        self.path = Path(suite_dir) / ".lock"
        self.fd: Optional[int] = None

    def __enter__(self) -> "SuiteLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise GanbenchError(f"another ganbench driver (pid {pid}) is running this suite in "
                                    f"{self.path.parent}", hint="wait for it to finish (its lock, "
                                                                f"{self.path}, is freed when it exits)") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the file we locked was removed by its holder: lock the current one
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        self.path.unlink(missing_ok=True)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class SuiteResult:
    suite_dir: Path
    states: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    damaged: dict[str, str] = field(default_factory=dict)  # run id -> why (damage.py); left as they are

    @property
    def failed(self) -> list[str]:
        """Runs not done: failed, diverged, interrupted or damaged (the exit status says not ok)."""
        return [r for r, s in self.states.items() if s not in ("done",)]


def portable_command(argv: list[str]) -> str:
    """The command line as published: the user's home folder written as ~ (paths ganbench
    takes expand it back), so a committed command names no machine's user."""
    home = str(Path.home()).rstrip("/")
    if not home:
        return " ".join(shlex.quote(a) for a in argv)
    return " ".join(re.sub(rf"{re.escape(home)}(?=/|$|[\"'])", "~", shlex.quote(a)) for a in argv)


def provenance(suite: Suite, device: str) -> dict[str, Any]:
    import torch

    return {"suite": suite.name, "description": suite.description, "suite_file": str(suite.path),
            "suite_hash": suite.hash, "ganbench": __version__, "git_commit": git_commit(),
            "torch": torch.__version__, "device": device,
            "cpu_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": portable_command(["ganbench", *sys.argv[1:]])
            if sys.argv and "ganbench" in sys.argv[0] else "",
            "primary": suite.primary, "axes": list(suite.axes),
            "reported": [r.as_dict() for r in suite.reported], "compare_losses": suite.compare_losses}


#: what provenance.json keeps of each earlier `ganbench run` on the folder
EARLIER_KEYS = ("git_commit", "date", "command")


def earlier_invocations(before: Any, now: dict[str, Any]) -> list[dict[str, Any]]:
    """The earlier commands on this results folder, oldest first: a rerun that trains a few new
    runs (or only rescores) must not erase which commit and command trained the others."""
    if not isinstance(before, dict):
        return []
    earlier = [e for e in before.get("earlier") or [] if isinstance(e, dict)]
    last = {k: before[k] for k in EARLIER_KEYS if isinstance(before.get(k), str)}
    if last and any(last.get(k) != now.get(k) for k in ("git_commit", "command")):
        earlier.append(last)
    return earlier


def device_name(suite: Suite) -> str:
    import torch
    dev = suite.runs[0].train.device if suite.runs else "auto"
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if dev.startswith("cuda") and torch.cuda.is_available():
        return f"{dev} ({torch.cuda.get_device_name(torch.device(dev))})"
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"


def run_suite(plugins: Plugins, suite: Suite, results_root: Path, executor: Optional["Executor"] = None,
              on_event: Optional["OnEvent"] = None) -> SuiteResult:
    """Run every run of the suite not already finished. Never raises for a run's failure; a
    damaged run folder is reported (event "run_damaged") and left as it is."""
    from .executors import LocalExecutor

    raise_for(check_suite(plugins, suite), suite)
    suite_dir = check_results_root(Path(results_root)) / suite.name
    check_suite_dir(suite_dir)
    executor = executor or LocalExecutor()
    result = SuiteResult(suite_dir)
    t0 = time.perf_counter()
    events = on_event or (lambda kind, **kw: None)
    with SuiteLock(suite_dir):
        todo: list[RunSpec] = []
        for run in suite.runs:  # before anything is written: a shorter budget than a finished run's is refused
            action = run_action(run, suite_dir / run.run_id)
            if action == "skip":
                result.skipped.append(run.run_id)
                result.states[run.run_id] = get_status(suite_dir / run.run_id)["state"]
            elif action == "damaged":
                damage = damage_of(suite_dir / run.run_id)
                result.states[run.run_id] = "damaged"
                result.damaged[run.run_id] = damage.message if damage else "damaged"
            else:
                todo.append(run)
        (suite_dir / "suite.toml").write_text(suite.text, encoding="utf-8")
        prov = {**provenance(suite, device_name(suite)), "executor": executor.describe()}
        prov["earlier"] = earlier_invocations(read_json(suite_dir / "provenance.json", {}), prov)
        write_json(suite_dir / "provenance.json", prov)
        events("suite_started", total=len(suite.runs), todo=len(todo), skipped=len(result.skipped),
               damaged=len(result.damaged))
        for run_id, message in result.damaged.items():
            events("run_damaged", run_id=run_id, message=message)

        def on_start(run: RunSpec) -> None:
            events("run_started", run=run)

        def on_done(run: RunSpec, state: str) -> None:
            result.states[run.run_id] = state
            try:
                write_all(suite_dir, plugins)
            except Exception as exc:  # the leaderboard must never cost a run
                events("warning", message=f"leaderboard not updated: {exc}")
            events("run_finished", run=run, state=state, status=get_status(suite_dir / run.run_id))

        def on_progress(run_id: str, step: int, extra: dict[str, Any]) -> None:
            events("run_progress", run_id=run_id, step=step, extra=extra)

        executor.run_all(plugins, todo, suite_dir, cache_dir(), on_start, on_done, on_progress, events)
        if not todo:  # nothing ran: the pages still say what is there (damaged runs included)
            try:
                write_all(suite_dir, plugins)
            except GanbenchError:
                pass
    result.seconds = time.perf_counter() - t0
    return result
