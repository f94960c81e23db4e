"""Executors decide where runs execute. The sequential one runs them in this process;
process pools and Ray slot in behind the same interface: ``submit`` every run, get a
callback per finished run."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import GanbenchError
from .plugins import Plugins
from .runs import DataCache, execute_run
from .suite import RunSpec

OnDone = Callable[[RunSpec, str], None]
OnProgress = Callable[[str, int, dict[str, Any]], None]


class Executor(ABC):
    name = "abstract"

    @abstractmethod
    def run_all(self, plugins: Plugins, runs: list[RunSpec], suite_dir: Path, cache_dir: Path,
                on_start: Callable[[RunSpec], None], on_done: OnDone, on_progress: OnProgress) -> None:
        """Execute every run; call on_start/on_done for each (in the driver process)."""


class LocalExecutor(Executor):
    """In-process and sequential; data sets loaded once are shared by later runs."""

    name = "local"

    def run_all(self, plugins, runs, suite_dir, cache_dir, on_start, on_done, on_progress):
        data = DataCache(plugins, cache_dir)
        for run in runs:
            on_start(run)
            state = execute_run(plugins, run, suite_dir, data, on_progress)
            on_done(run, state)


EXECUTORS: dict[str, Callable[..., Executor]] = {"local": lambda **kw: LocalExecutor()}


def get_executor(name: str, **options: Any) -> Executor:
    if name not in EXECUTORS:
        from .errors import did_you_mean
        raise GanbenchError(f"unknown executor '{name}'{did_you_mean(name, EXECUTORS)}")
    return EXECUTORS[name](**options)
