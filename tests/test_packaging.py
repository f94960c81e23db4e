"""Both a regular and an editable install import and run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
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
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    out = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(root)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    probe = ("import ganbench, ganbench_plugins, json; "
             "print(json.dumps([ganbench.__file__, ganbench_plugins.__file__]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    files = json.loads(subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True,
                                      env=env, cwd=tmp_path).stdout)
    site = str(venv)
    assert all(f.startswith(site) and "site-packages" in f for f in files), files
    listed = subprocess.run([str(venv / "bin" / "ganbench"), "list", "models", "--json"], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "dcgan" in {r["name"] for r in json.loads(listed.stdout)}
    val = subprocess.run([str(venv / "bin" / "ganbench"), "validate", str(root / "suites" / "quickstart.toml")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert val.returncode == 0, val.stdout + val.stderr
