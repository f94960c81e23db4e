"""The default executor: every run in this process, one after another."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional

from ..data import DataCache
from ..plugins import Plugins
from ..runs import execute_run
from ..runspec import RunSpec
from .base import Executor, OnDone, OnEvent, OnProgress, OnStart


class LocalExecutor(Executor):
    """In-process and sequential; data sets loaded once are shared by later runs.
    A Ctrl-C is a plain KeyboardInterrupt: the run in hand records that it was interrupted."""

    name = "local"

    def __init__(self, **_: Any) -> None:
        super().__init__()

    def run_all(self, plugins: Plugins, runs: list[RunSpec], suite_dir: Path, cache_dir: Path,
                on_start: OnStart, on_done: OnDone, on_progress: OnProgress,
                on_event: Optional[OnEvent] = None) -> None:
        data = DataCache(plugins, cache_dir)
        for run in runs:
            self.mark(run.run_id, submitted=time.time(), started=time.time(), pid=os.getpid())
            on_start(run)
            state = execute_run(plugins, run, suite_dir, data, on_progress)
            self.mark(run.run_id, finished=time.time())
            on_done(run, state)
