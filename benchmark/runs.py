"""Executing one run: load data, train, evaluate, write everything to its folder.

A run is a pure function of its resolved config and its results folder, so any
executor (in-process, worker processes, Ray) can call ``execute_run``.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .errors import GanbenchError
from .plugins import Plugins
from .results import FINISHED, append_jsonl, get_status, read_jsonl, set_status, write_json
from .suite import RunSpec


@dataclass
class RunInfo:
    """What lifecycle hooks see of a run."""

    run_id: str
    suite: str
    dir: Path
    config: dict[str, Any]
    coords: dict[str, Any]
    resumed_from: int = 0


class DataCache:
    """Loaded data sets by (name, options): runs of one suite share them."""

    def __init__(self, plugins: Plugins, cache_dir: Path, size: int = 2):
        self.plugins, self.cache_dir, self.size = plugins, cache_dir, size
        self._items: dict[str, Any] = {}

    def get(self, name: str, options: Any) -> Any:
        key = name + json.dumps(dataclasses.asdict(options), sort_keys=True, default=str)
        if key not in self._items:
            spec = self.plugins.datasets.get(name)
            if spec.check is not None:
                problem = spec.check(options)
                if problem:
                    from .errors import ResourceMissing
                    raise ResourceMissing(problem, where=f"datasets.{name}")
            data = spec.load(options, str(self.cache_dir))
            while len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = data
        return self._items[key]

    def full(self, name: str, options: Any) -> Any:
        """The same data set with every class (for classifiers and class histograms)."""
        return self.get(name, dataclasses.replace(options, classes=[], limit=0))


def _truncate_after(run_dir: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint we continue from."""
    path = run_dir / "losses.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if rows:
            kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
            from .results import atomic_write_text
            import io
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(kept)
            atomic_write_text(path, buf.getvalue())
    path = run_dir / "evals.jsonl"
    if path.exists():
        from .results import atomic_write_text
        kept_evals = [e for e in read_jsonl(path) if e.get("step", 0) <= step and not e.get("final")]
        atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept_evals))


def execute_run(plugins: Plugins, run: RunSpec, suite_dir: Path, data: DataCache,
                progress: Optional[Callable[[str, int, dict[str, Any]], None]] = None) -> str:
    """Train and evaluate one run; return its final state. Never raises for a run's own failure."""
    from .artifacts import RunWriter

    run_dir = Path(suite_dir) / run.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    status = get_status(run_dir)
    if status.get("state") in FINISHED:
        return status["state"]
    write_json(run_dir / "config.json", {"run_id": run.run_id, "coords": run.coords, **run.resolved})
    info = RunInfo(run.run_id, run.suite, run_dir, run.resolved, run.coords)
    writer = RunWriter(plugins, run, run_dir, info, progress)
    error: Optional[str] = None
    state = "failed"
    try:
        writer.execute(data)
        state = "done"
    except KeyboardInterrupt:
        set_status(run_dir, "failed", error="interrupted (Ctrl-C); rerun the suite to continue from the last checkpoint")
        raise
    except Exception as exc:  # a failing run never takes the suite down
        from .train import Diverged
        if isinstance(exc, Diverged):
            state, error = "diverged", str(exc)
        elif isinstance(exc, GanbenchError):
            error = str(exc)
        else:
            error = f"{type(exc).__name__}: {exc}"
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    set_status(run_dir, state, **({"error": error} if error else {}), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    try:
        plugins.hook.ganbench_run_finished(run=info, status=state, error=error)
    except Exception as exc:  # a broken observer must not lose the run's result
        (run_dir / "hook-error.log").write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
    return state


def environment() -> dict[str, Any]:
    import torch

    from . import __version__
    return {"ganbench": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "threads": torch.get_num_threads()}
