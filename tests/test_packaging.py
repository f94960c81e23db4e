"""Both a regular and an editable install import and run."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest


def test_editable_install_maps_folders_to_import_names(root):
    import ganbench
    import ganbench_plugins

    # folder benchmark/ is the package ganbench, plugins/ is ganbench_plugins
    assert Path(ganbench.__file__).parent.name in ("benchmark", "ganbench")
    assert Path(ganbench_plugins.__file__).parent.name in ("plugins", "ganbench_plugins")


@pytest.mark.slow
def test_regular_install_into_a_fresh_venv(tmp_path, root):
    """A regular (non-editable) install into a new venv imports from that venv and runs.

    The new venv sees this environment's packages (torch, pluggy, setuptools, ...) through a
    .pth file, whatever this environment is (a newcomer's venv, a system-wide install), and
    never this checkout's editable install: directories named in a .pth are added to sys.path
    without processing the .pth files inside them."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    inner = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    outer = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(inner, "_outer_environment.pth").write_text("".join(f"{p}\n" for p in outer if Path(p).is_dir()))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(root)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    probe = ("import ganbench, ganbench_plugins, ganbench.executors, ganbench_plugins.fidelity, json; "
             "print(json.dumps([ganbench.__file__, ganbench_plugins.__file__, ganbench.executors.__file__, "
             "ganbench_plugins.fidelity.__file__]))")
    files = json.loads(subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True,
                                      env=env, cwd=tmp_path).stdout)
    assert all(f.startswith(inner) for f in files), files
    listed = subprocess.run([str(venv / "bin" / "ganbench"), "list", "models", "--json"], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "dcgan" in {r["name"] for r in json.loads(listed.stdout)}
    val = subprocess.run([str(venv / "bin" / "ganbench"), "validate", str(root / "suites" / "quickstart.toml")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert val.returncode == 0, val.stdout + val.stderr
