"""A third-party plugin is an ordinary distribution: pip-install the example package
(plugins/examples/ganbench-ragan) into this environment without network, check that
`ganbench list` shows its items under its own package name, run a suite that uses it
through the CLI, and uninstall it again."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugins" / "examples" / "ganbench-ragan"


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"],
                          capture_output=True, text=True, timeout=300)


def ganbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GANBENCH_OFFLINE": "1"}
    env.pop("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", None)  # the point is entry-point discovery
    return subprocess.run([sys.executable, "-c", "import sys; from ganbench.cli import main; sys.exit(main())",
                           *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.fixture
def installed_ragan(tmp_path: Path):
    """Install a copy (a build leaves build/ and *.egg-info behind: not in the repo)."""
    if pip("show", "ganbench-ragan").returncode == 0:
        pytest.skip("ganbench-ragan is already installed in this environment; not touching it")
    try:  # --no-build-isolation builds with this environment's setuptools (offline)
        import setuptools
    except ImportError:
        pytest.skip("setuptools is not installed: the example package cannot be built offline")
    if tuple(int(x) for x in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip(f"setuptools {setuptools.__version__} < 70.1 cannot build wheels without `wheel`")
    src = tmp_path / "ganbench-ragan"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield src
    finally:
        gone = pip("uninstall", "-y", "ganbench-ragan")
        assert gone.returncode == 0, gone.stdout + gone.stderr


@pytest.mark.slow
def test_installed_package_is_listed_and_runs(installed_ragan: Path, tmp_path: Path):
    listed = ganbench("list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
    assert rows[("loss", "ragan")]["package"] == "ganbench-ragan"
    assert rows[("model", "ragan")]["package"] == "ganbench-ragan"
    assert rows[("model", "dcgan")]["package"] == "ganbench"  # built-ins keep theirs

    suite = tmp_path / "ragan.toml"
    suite.write_text(textwrap.dedent("""
        [suite]
        name = "ragan-smoke"
        [matrix]
        model = ["ragan", "sngan"]
        dataset = ["digits"]
        loss = ["ragan"]
        [train]
        steps = 6
        batch_size = 16
        latent_dim = 16
        threads = 1
        log_every = 3
        checkpoint_every = 0
        num_final_images = 2
        [models.ragan]
        width = 4
        [models.sngan]
        width = 4
        [datasets.digits]
        resolution = 16
        [metrics]
        names = []  # training through the CLI is the point; metrics have their own tests
    """), encoding="utf-8")
    ran = ganbench("run", str(suite), "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    runs = sorted((tmp_path / "results" / "ragan-smoke").glob("*/status.json"))
    assert len(runs) == 2
    for status in runs:
        st = json.loads(status.read_text())
        assert st["state"] == "done", st
        config = json.loads((status.parent / "config.json").read_text())
        assert config["train"]["loss"] == "ragan"  # the third-party loss on a built-in model too
    assert (tmp_path / "results" / "ragan-smoke" / "leaderboard.md").exists()


@pytest.mark.slow
def test_uninstalled_package_is_gone(tmp_path: Path):
    """After the fixture's uninstall, a suite naming the plugin is a clear error."""
    if pip("show", "ganbench-ragan").returncode == 0:
        pytest.skip("ganbench-ragan is installed in this environment")
    suite = tmp_path / "s.toml"
    suite.write_text('[matrix]\nmodel = ["ragan"]\ndataset = ["digits"]\n', encoding="utf-8")
    out = ganbench("validate", str(suite), cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown model 'ragan'" in out.stderr
