"""Helpers and pytest fixtures for testing ganbench plugins (ours and third-party ones).

Plugin authors use them the way pytest ships ``pytester`` and tox ships
``tox_project``: import the fixtures into a test module or a conftest.py::

    from ganbench.testing import ganbench_plugins, ganbench_suite, register_plugin  # noqa: F401

    def test_my_model_trains(ganbench_suite):
        result = ganbench_suite('''
            [matrix]
            model = ["mygan"]
            dataset = ["digits"]
            [train]
            steps = 20
        ''', plugins=[my_plugin_module])
        assert result.state() == "done"

Everything runs in-process with entry points off, so an installed third-party
package cannot change what a test sees unless the test asks for it. torch (and what imports
it) is imported inside the helpers, as everywhere a plugin module may reach, so that
`ganbench list` stays fast.
"""
from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .config import MetricsConfig, from_dict
from .data import DataCache, cache_dir
from .metrics import eval_context, evaluate
from .plugins import Plugins, get_plugin_manager, load_plugins
from .runner import run_suite
from .suite import load_suite

try:  # the helpers work without pytest (scripts use them); the fixtures need it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

#: [train] settings that keep a test run small and quiet; a suite's own [train] wins.
FAST_TRAIN: dict[str, Any] = {"device": "cpu", "threads": 1, "log_every": 10, "checkpoint_every": 0,
                              "num_final_images": 0, "grid_size": 16}


def fresh_plugins(*extra: Any, entrypoints: bool = False, builtins: bool = True,
                  block: Iterable[str] = ()) -> Plugins:
    """A new plugin manager and registries: the built-ins, then ``extra`` plugin objects
    (modules or instances with ``@hookimpl`` methods), entry points off by default."""
    pm = get_plugin_manager(load_entrypoints=entrypoints, block=block, builtins=builtins)
    for i, plugin in enumerate(extra):
        pm.register(plugin, name=getattr(plugin, "__name__", None) or f"test-plugin-{i}")
    return load_plugins(pm)


@dataclass
class RunResult:
    """One run folder, read back."""

    dir: Path

    def _json(self, name: str) -> Any:
        path = self.dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    @property
    def status(self) -> dict[str, Any]:
        return self._json("status.json") or {}

    @property
    def state(self) -> str:
        return self.status.get("state", "missing")

    @property
    def config(self) -> dict[str, Any]:
        return self._json("config.json") or {}

    @property
    def throughput(self) -> dict[str, Any]:
        return self._json("throughput.json") or {}

    @property
    def evals(self) -> list[dict[str, Any]]:
        path = self.dir / "evals.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    @property
    def scores(self) -> dict[str, float]:
        """The final evaluation's scores."""
        finals = [e for e in self.evals if e.get("final")]
        return dict(finals[-1]["scores"]) if finals else {}

    @property
    def error(self) -> str:
        return self.status.get("error") or ""


@dataclass
class SuiteRun:
    """What running a suite in-process produced: the suite, the runner's result, run folders."""

    suite: Any
    result: Any
    suite_dir: Path
    plugins: Plugins
    runs: dict[str, RunResult] = field(default_factory=dict)

    def run(self, **coords: Any) -> RunResult:
        """The single run whose coordinates match ``coords`` (all runs when none given)."""
        hits = [r for r in self.suite.runs if all(str(r.coords.get(k)) == str(v) for k, v in coords.items())]
        if len(hits) != 1:
            raise LookupError(f"{len(hits)} runs match {coords}: {[r.run_id for r in self.suite.runs]}")
        return self.runs[hits[0].run_id]

    def state(self, **coords: Any) -> str:
        return self.run(**coords).state


def run_suite_text(text: str, root: Path, plugins: Optional[Plugins] = None, sets: Iterable[str] = (),
                   filters: Iterable[str] = (), fast: bool = True, name: str = "suite.toml") -> SuiteRun:
    """Write ``text`` (a suite, dedented) to ``root/name``, run it in-process with results
    under ``root/results``, and read every run folder back.

    fast=True adds FAST_TRAIN settings (CPU, one thread, no checkpoints) under the suite's
    own [train] values through ``--set``-like defaults. torch's thread count is restored
    afterwards, so one test's ``threads`` does not leak into the next.
    """
    import torch

    plugins = plugins or fresh_plugins()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    suite = load_suite(plugins, path, sets=list(sets), filters=list(filters))
    if fast:
        own = (suite.raw.get("train") or {})
        extra = [f"train.{k}={json.dumps(v)}" for k, v in FAST_TRAIN.items() if k not in own]
        suite = load_suite(plugins, path, sets=[*extra, *sets], filters=list(filters))
    threads = torch.get_num_threads()
    try:
        result = run_suite(plugins, suite, root / "results")
    finally:
        torch.set_num_threads(threads)
    suite_dir = root / "results" / suite.name
    return SuiteRun(suite, result, suite_dir, plugins,
                    {r.run_id: RunResult(suite_dir / r.run_id) for r in suite.runs})


def score_generator(plugins: Plugins, G: Any, dataset: str = "digits", dataset_options: Optional[dict] = None,
                    metric: str = "classifier", num_samples: int = 1000, latent_dim: Optional[int] = None,
                    conditional: bool = False, seed: int = 0) -> dict[str, float]:
    """Score any generator module with a metric plugin, outside a run (e.g. an untrained
    G as the baseline a learning test must beat)."""
    import torch

    from .sampling import make_generator

    spec = plugins.datasets.get(dataset)
    opts = from_dict(spec.options, dataset_options or {}, f"datasets.{dataset}")
    data = DataCache(plugins, cache_dir())
    real = data.get(dataset, opts)
    device = torch.device("cpu")
    pool = torch.unique(real.labels) if conditional else None
    latent = latent_dim or getattr(G, "latent_dim")
    cfg = from_dict(MetricsConfig, {"names": [metric], "num_samples": num_samples}, "metrics")
    ctx = eval_context(data, dataset, opts, cfg, make_generator(G, latent, "normal", device, pool, 250, seed),
                       device, num_samples, conditional=conditional)
    scores, _, _ = evaluate(plugins, cfg, {metric: None}, ctx)
    return scores


# -- pytest fixtures --------------------------------------------------------------------
if pytest is not None:
    @pytest.fixture
    def single_thread() -> Iterator[None]:
        """torch on one CPU thread for the test, restored afterwards. Tiny test networks run
        many times faster so on a shared CPU, where OpenMP threads wait on each other."""
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)

    @pytest.fixture
    def ganbench_plugins() -> Plugins:
        """A fresh plugin manager with the built-ins only (entry points off)."""
        return fresh_plugins()

    @pytest.fixture
    def register_plugin() -> Iterator[Any]:
        """register_plugin(*plugins) -> Plugins with those plugins added to the built-ins.

        Each call builds a fresh manager, so nothing leaks into other tests; the managers
        are dropped (their plugins unregistered) at teardown.
        """
        managers: list[Plugins] = []

        def register(*plugins: Any, entrypoints: bool = False) -> Plugins:
            p = fresh_plugins(*plugins, entrypoints=entrypoints)
            managers.append(p)
            return p

        yield register
        for p in managers:
            for plugin in list(p.pm.get_plugins()):
                p.pm.unregister(plugin)

    @pytest.fixture
    def ganbench_suite(tmp_path: Path) -> Any:
        """ganbench_suite(text, plugins=[...], sets=[...], filters=[...]) -> SuiteRun.

        Writes the suite into tmp_path and runs it in-process (see run_suite_text).
        """
        counter = {"n": 0}

        def run(text: str, plugins: Iterable[Any] = (), sets: Iterable[str] = (), filters: Iterable[str] = (),
                fast: bool = True) -> SuiteRun:
            counter["n"] += 1
            root = tmp_path / f"suite{counter['n']}"
            return run_suite_text(text, root, fresh_plugins(*plugins), sets=sets, filters=filters, fast=fast)

        return run
