"""The command line, end to end, as a user types it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench import cli, hookimpl
from ganbench.specs import DatasetSpec

ENV = {**os.environ, "GANBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}


def ganbench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganbench.cli", *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd)


def test_list_json_names_kind_package_description():
    out = ganbench("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    dcgan = next(r for r in rows if r["name"] == "dcgan")
    assert dcgan == {"name": "dcgan", "kind": "model", "table": "models", "package": "ganbench", "plugin": "dcgan",
                     "description": dcgan["description"], "options": dcgan["options"]} and dcgan["description"]
    assert {"width", "d_norm", "spectral_norm", "g_channels", "d_channels", "dropout"} <= \
        {o["name"] for o in dcgan["options"]}
    kinds = {r["kind"] for r in rows}
    assert {"model", "loss", "dataset", "metric", "optimizer"} <= kinds
    only = json.loads(ganbench("list", "optimizers", "--json").stdout)
    assert {r["kind"] for r in only} == {"optimizer"} and {"adam", "rmsprop", "sgd", "adadelta", "adagrad"} <= \
        {r["name"] for r in only}


def test_validate_ok_prints_runs_and_estimate(root):
    out = ganbench("validate", "suites/quickstart.toml", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "quickstart: 4 runs" in out.stdout and "ready to run" in out.stdout and "Estimated time" in out.stdout
    data = json.loads(ganbench("validate", "suites/quickstart.toml", "--json", "--filter", "seed=0", cwd=root).stdout)
    assert [r["coords"]["latent_dim"] for r in data["runs"]] == [16, 64]


def test_user_error_is_one_red_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[matrix]\nmodel = ["dcgann"]\ndataset = ["digits"]\n')
    out = ganbench("validate", str(bad))
    assert out.returncode == 2
    assert out.stderr.startswith("ERROR:") and "Traceback" not in out.stderr
    assert "bad.toml: matrix.model[0]: unknown model 'dcgann' — did you mean 'dcgan'?" in out.stderr
    debug = ganbench("--debug", "validate", str(bad))
    assert "Traceback" in debug.stderr and debug.returncode == 2
    # text in square brackets (paths, class names) is printed as is, not taken for rich markup
    odd = tmp_path / "[red]suite.toml"
    odd.write_text(bad.read_text())
    out = ganbench("validate", str(odd))
    assert out.returncode == 2 and "[red]suite.toml: suite.name" in out.stderr and "found '[red]suite'" in out.stderr


def test_missing_data_is_exit_3(tmp_path, monkeypatch, plugins, capsys):
    class Offline:
        @staticmethod
        @hookimpl
        def ganbench_register_datasets(registry):
            from ganbench.data import DatasetOptions
            registry.add(DatasetSpec("faraway", "not on this machine", load=lambda o, c: None,
                                     options=DatasetOptions,
                                     check=lambda o: "expected /data/faraway/*.png; copy the files there"))

    from ganbench.plugins import load_plugins
    plugins.pm.register(Offline(), name="offline")
    monkeypatch.setattr(cli, "_plugins", lambda: load_plugins(plugins.pm))
    suite = tmp_path / "s.toml"
    suite.write_text('[matrix]\nmodel = ["dcgan"]\ndataset = ["faraway"]\n[metrics]\nnames = []\n')
    assert cli.main(["validate", str(suite)]) == 3
    assert "expected /data/faraway/*.png" in capsys.readouterr().err
    assert cli.main(["run", str(suite), "--results", str(tmp_path / "r")]) == 3  # fails before training
    assert not (tmp_path / "r" / "s").exists() or not any((tmp_path / "r" / "s").glob("dcgan-*"))


@pytest.mark.slow
def test_quickstart_end_to_end_with_a_tiny_budget(tmp_path, root):
    res = tmp_path / "results"
    out = ganbench("run", "suites/quickstart.toml", "--set", "train.steps=30", "--set", "metrics.num_samples=200",
                   "--set", "train.sample_every=15", "--results", str(res), cwd=root)
    assert out.returncode == 0, out.stdout + out.stderr
    md = (res / "quickstart" / "leaderboard.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2 and all("(2)" in r and "2 done" in r for r in rows)  # one row per latent dim, 2 seeds
    # publish elsewhere: relative image links still resolve
    pub = tmp_path / "pub" / "board.md"
    pub.parent.mkdir()
    assert ganbench("leaderboard", str(res / "quickstart"), "-o", str(pub)).returncode == 0
    link = pub.read_text().split("![samples](")[1].split(")")[0]
    assert (pub.parent / link).is_file()
    js = json.loads(ganbench("leaderboard", str(res / "quickstart"), "--format", "json").stdout)
    assert js["primary"] == "fd_classifier" and len(js["tables"][0]["rows"]) == 2
    assert ganbench("leaderboard", str(res / "quickstart"), "--format", "csv").stdout.startswith("table,rank,")
    run_dir = next((res / "quickstart").glob("dcgan-*"))
    grid = tmp_path / "grid.png"
    out = ganbench("sample", str(run_dir), "-n", "16", "-o", str(grid))
    assert out.returncode == 0, out.stderr
    assert grid.stat().st_size > 100
