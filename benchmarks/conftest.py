"""pytest-benchmark cases of `ganbench bench`, outside the default test run (pyproject's
testpaths is ["tests"]):

    python -m pytest benchmarks/ --benchmark-only                 # every case (slow at full width)
    python -m pytest benchmarks/ --benchmark-only -k w16          # narrow widths only
    python -m pytest benchmarks/ --benchmark-only --benchmark-group-by=group

Each group (train/dcgan/w16, sample/dcgan/w64, suite/8-runs/w16, ...) holds ganbench and its
baselines; pytest-benchmark times them one after the other, so for ratios measured
interleaved in one run use `ganbench bench`, which shares the code under test here.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ganbench cache for the session, unless GANBENCH_CACHE is set."""
    old = os.environ.get("GANBENCH_CACHE")
    path = Path(old) if old else tmp_path_factory.mktemp("ganbench-cache")
    os.environ["GANBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GANBENCH_CACHE", None)


@pytest.fixture(scope="session")
def plugins():
    """Built-in plugins only: an installed third-party package cannot change the cases."""
    from ganbench.plugins import get_plugin_manager, load_plugins
    return load_plugins(get_plugin_manager(load_entrypoints=False))
