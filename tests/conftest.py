"""Shared fixtures. The ganbench cache (trained classifiers, decoded data sets) is
one per test session, so a classifier is trained once, not once per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(os.environ.get("GANBENCH_TEST_CACHE") or tmp_path_factory.mktemp("ganbench-cache"))
    old = os.environ.get("GANBENCH_CACHE")
    os.environ["GANBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GANBENCH_CACHE", None)
    else:
        os.environ["GANBENCH_CACHE"] = old


@pytest.fixture
def plugins():
    """Built-in plugins only (entry points off): third-party installs cannot interfere."""
    from ganbench.plugins import get_plugin_manager, load_plugins
    return load_plugins(get_plugin_manager(load_entrypoints=False))


@pytest.fixture
def root() -> Path:
    return ROOT
