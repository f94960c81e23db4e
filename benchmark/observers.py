"""Lifecycle hooks called one plugin at a time, so that a broken observer never costs a run.

docs/plugins.md promises that a plugin watching runs (a logger, a notifier) cannot fail
them: pluggy stops at the first implementation that raises, so each implementation is
called on its own here. An error is written to the run's hook-error.log and printed once
per plugin and hook, naming the plugin and its package; the run goes on.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

from .plugins import Plugins, plugin_packages

LOG = "hook-error.log"


class Observers:
    """Calls ``ganbench_<hook>`` implementations for one run, containing their failures."""

    def __init__(self, plugins: Plugins, run_dir: Optional[Path] = None,
                 warn: Optional[Callable[[str], None]] = None):
        self.plugins, self.run_dir = plugins, run_dir
        self.warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr, flush=True))
        self.failed: dict[tuple[str, str], str] = {}  # (plugin, hook) -> first error

    def __call__(self, hook: str, **kwargs: Any) -> list[Any]:
        caller = getattr(self.plugins.hook, hook)
        results = []
        for impl in reversed(caller.get_hookimpls()):  # registration order, as pluggy would
            try:
                out = impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - contain any error, even sys.exit()
                self._failed(impl.plugin_name, hook, exc)
                continue
            if out is not None:
                results.append(out)
        return results

    def _failed(self, plugin: str, hook: str, exc: BaseException) -> None:
        key = (plugin, hook)
        text = f"{type(exc).__name__}: {exc}"
        if self.run_dir is not None:
            try:
                with open(self.run_dir / LOG, "a", encoding="utf-8") as f:
                    f.write(f"plugin {plugin}, {hook}:\n{traceback.format_exc()}\n")
            except OSError:
                pass
        if key in self.failed:
            return
        self.failed[key] = text
        package = plugin_packages(self.plugins.pm).get(plugin, plugin)
        where = f" (see {self.run_dir / LOG})" if self.run_dir is not None else ""
        self.warn(f"plugin {plugin} ({package}) raised in {hook}: {text}; ignored, the run goes on{where}")
