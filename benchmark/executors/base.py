"""What every executor promises: run a list of runs and report each one through callbacks
that run in the driver process, one at a time, so the results folder and the leaderboard end
up as a sequential run leaves them."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..plugins import Plugins
from ..results import FINISHED, get_status, set_status
from ..runspec import RunSpec

OnStart = Callable[[RunSpec], None]
OnDone = Callable[[RunSpec, str], None]
OnProgress = Callable[[str, int, dict[str, Any]], None]
#: on_event(kind, **fields): "warning" and "stopping" (message=), "run_requeued" (run=, reason=)
OnEvent = Callable[..., None]


def no_events(kind: str, **fields: Any) -> None:
    """The on_event of a caller that listens to none."""


@dataclass(frozen=True)
class DriverCallbacks:
    """The callbacks of one ``run_all``, kept together by the drivers that pass them around."""

    on_start: OnStart
    on_done: OnDone
    on_progress: OnProgress
    on_event: OnEvent = no_events


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

    def mark(self, run_id: str, **marks: Any) -> None:
        """Record when (and where) something happened to a run, in ``timings``."""
        self.timings.setdefault(run_id, {}).update(marks)


def fail_lost_run(suite_dir: Path, run: RunSpec, reason: str, state: str = "failed") -> str:
    """A run whose worker vanished: keep a finished state a lost message did not report,
    otherwise mark it ``state`` (failed, or interrupted for a Ctrl-C); its checkpoint stays,
    so the next `ganbench run` resumes it."""
    run_dir = Path(suite_dir) / run.run_id
    status = get_status(run_dir)
    if status.get("state") in FINISHED:
        return status["state"]
    step = status.get("step")
    at = f" (last checkpoint: step {step})" if step else ""
    set_status(run_dir, state, error=f"{reason}{at}; rerun the suite to continue from the last checkpoint",
               finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    return state
