"""Runs and suites end to end: results layout, atomic writes, resume after a kill,
failing and diverging runs isolated, leaderboard aggregation."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganbench import hookimpl
from ganbench.board import build_board, read_suite
from ganbench.leaderboard import to_csv, to_html, to_json, to_markdown
from ganbench.results import atomic_write_text, read_jsonl, write_json
from ganbench.runner import run_suite
from ganbench.specs import LossSpec, ModelSpec
from ganbench.suite import load_suite

TINY = """
[suite]
name = "tiny"
[matrix]
model = ["dcgan"]
dataset = ["digits"]
seed = [0]
[train]
steps = 6
batch_size = 16
log_every = 2
checkpoint_every = 3
[models.dcgan]
width = 4
[metrics]
names = ["classifier"]
num_samples = 64
"""


def test_atomic_write_never_leaves_half_a_file(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    write_json(path, {"state": "running"})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, '{"state": "do')
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"state": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left


def test_run_leaves_the_documented_files(tmp_path, plugins):
    suite = load_suite(plugins, "tiny.toml", text=TINY)
    result = run_suite(plugins, suite, tmp_path)
    run_dir = tmp_path / "tiny" / suite.runs[0].run_id
    assert result.states == {suite.runs[0].run_id: "done"}
    for name in ("config.json", "status.json", "losses.csv", "evals.jsonl", "throughput.json", "checkpoint.pt",
                 "progress.gif", "data.json"):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "final").glob("*.png"))) == 10
    assert len(list((run_dir / "samples").glob("step_*.png"))) >= 2
    for name in ("leaderboard.md", "leaderboard.json", "leaderboard.csv", "provenance.json", "suite.toml"):
        assert (tmp_path / "tiny" / name).is_file(), name
    tp = json.loads((run_dir / "throughput.json").read_text())
    assert tp["train_img_per_s"] > 0 and tp["params_g"] > 0 and tp["flops_per_image"] > 0
    steps = [int(line.split(",")[0]) for line in (run_dir / "losses.csv").read_text().splitlines()[1:]]
    assert steps == [2, 4, 6]
    # a rerun skips the finished run
    again = run_suite(plugins, load_suite(plugins, "tiny.toml", text=TINY), tmp_path)
    assert again.skipped == [suite.runs[0].run_id]


class Misbehaving:
    """A model that crashes when built and a loss that goes NaN."""

    @staticmethod
    @hookimpl
    def ganbench_register_models(registry):
        def build(ctx):
            raise RuntimeError("this model cannot be built")
        registry.add(ModelSpec("exploding", "raises on build", build=build, recipe={"loss": "bce"}))

    @staticmethod
    @hookimpl
    def ganbench_register_losses(registry):
        def d_loss(real, fake, target, options):
            return (real - fake).mean() * float("nan")
        registry.add(LossSpec("nan-loss", "always NaN", "adversarial", d_loss=d_loss,
                              g_loss=lambda fake, real, options: fake.mean()))


def test_provenance_commit_says_dirty_when_code_has_uncommitted_changes(tmp_path):
    """A result made with edited core or plugin code is marked: the commit alone would lie."""
    from ganbench.runner import git_commit

    repo = tmp_path / "repo"
    (repo / "benchmark").mkdir(parents=True)
    (repo / "benchmark" / "core.py").write_text("x = 1\n")
    (repo / "results.txt").write_text("scores\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    clean = git_commit(repo / "benchmark")
    assert clean and not clean.endswith("-dirty")
    (repo / "results.txt").write_text("new scores\n")  # results are not code: still clean
    assert git_commit(repo / "benchmark") == clean
    (repo / "benchmark" / "core.py").write_text("x = 2\n")
    assert git_commit(repo / "benchmark") == clean + "-dirty"
    assert git_commit(tmp_path) is None  # not a checkout


def test_failing_and_diverging_runs_are_isolated(tmp_path, plugins):
    plugins.pm.register(Misbehaving(), name="misbehaving")
    from ganbench.plugins import load_plugins
    plugins = load_plugins(plugins.pm)
    text = TINY.replace('model = ["dcgan"]', 'model = ["exploding", "dcgan"]\nloss = ["bce", "nan-loss"]')
    suite = load_suite(plugins, "tiny.toml", text=text)
    result = run_suite(plugins, suite, tmp_path)
    states = {tuple(r.coords[a] for a in ("model", "loss")): result.states[r.run_id] for r in suite.runs}
    assert states == {("exploding", "bce"): "failed", ("exploding", "nan-loss"): "failed",
                      ("dcgan", "bce"): "done", ("dcgan", "nan-loss"): "diverged"}
    failed = next(r for r in suite.runs if r.model == "exploding")
    status = json.loads((tmp_path / "tiny" / failed.run_id / "status.json").read_text())
    assert "this model cannot be built" in status["error"]
    md = (tmp_path / "tiny" / "leaderboard.md").read_text()
    assert "0 done, 1 diverged" in md and "0 done, 1 failed" in md and "non-finite loss" in md


def _rows(run_dir: Path) -> list[str]:
    return (run_dir / "losses.csv").read_text().splitlines()


@pytest.mark.slow
def test_resume_after_kill_continues_from_checkpoint(tmp_path):
    """Kill a `ganbench run` subprocess mid-run, rerun: it continues from the checkpoint
    and ends with the same losses and scores as an uninterrupted run."""
    text = TINY.replace("steps = 6", "steps = 300").replace("checkpoint_every = 3", "checkpoint_every = 20") \
        .replace("log_every = 2", "log_every = 10")
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text(text)
    env = {**os.environ, "GANBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    cmd = [sys.executable, "-m", "ganbench.cli", "run", str(suite_file)]
    # the uninterrupted reference
    subprocess.run([*cmd, "--results", str(tmp_path / "ref")], check=True, env=env, capture_output=True)
    proc = subprocess.Popen([*cmd, "--results", str(tmp_path / "res")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = None
    deadline = time.time() + 240
    while time.time() < deadline:
        dirs = [p for p in (tmp_path / "res" / "tiny").glob("dcgan-*") if (p / "checkpoint.pt").exists()]
        if dirs:
            status = json.loads((dirs[0] / "status.json").read_text())
            if status.get("step", 0) >= 40:
                run_dir = dirs[0]
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert run_dir is not None, "the run never reached its second checkpoint"
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "running" and status["step"] < 300
    (tmp_path / "res" / "tiny" / ".lock").exists()  # a dead driver's lock is taken over
    out = subprocess.run([*cmd, "--results", str(tmp_path / "res")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["resumed_from"] >= 40
    ref_dir = tmp_path / "ref" / "tiny" / run_dir.name
    ref_rows, rows = _rows(ref_dir), _rows(run_dir)
    assert [r.split(",")[:5] for r in rows] == [r.split(",")[:5] for r in ref_rows]  # step + losses identical
    final = [e for e in read_jsonl(run_dir / "evals.jsonl") if e["final"]]
    ref_final = [e for e in read_jsonl(ref_dir / "evals.jsonl") if e["final"]]
    assert len(final) == 1 and final[0]["scores"] == pytest.approx(ref_final[0]["scores"], rel=1e-6)


def _fake_run(suite_dir: Path, run_id: str, coords: dict, state: str, scores: dict | None,
              protocol: dict | None = None) -> None:
    d = suite_dir / run_id
    d.mkdir(parents=True)
    write_json(d / "config.json", {"run_id": run_id, "coords": coords, "metrics": {"primary": "fd_classifier"}})
    write_json(d / "status.json", {"state": state, **({"error": "boom"} if state == "failed" else {})})
    if scores is not None:
        (d / "evals.jsonl").write_text(json.dumps({"step": 10, "final": True, "scores": scores,
                                                   "protocol": protocol or {"num_fake": 100}}) + "\n")


def test_leaderboard_aggregates_seeds_ranks_and_splits_protocols(tmp_path, plugins):
    sd = tmp_path / "suite"
    for seed, v in enumerate([10.0, 12.0, 14.0]):
        _fake_run(sd, f"a-s{seed}", {"model": "a", "seed": seed}, "done", {"fd_classifier": v, "mode_coverage": 1.0})
    for seed, v in enumerate([5.0, 7.0]):
        _fake_run(sd, f"b-s{seed}", {"model": "b", "seed": seed}, "done", {"fd_classifier": v, "mode_coverage": 0.5})
    _fake_run(sd, "b-s2", {"model": "b", "seed": 2}, "failed", None)
    _fake_run(sd, "c-s0", {"model": "c", "seed": 0}, "done", {"fd_classifier": 1.0}, {"num_fake": 5000})
    board = build_board(sd, plugins)
    assert board.axes == ["model"] and board.primary == "fd_classifier"
    assert len(board.tables) == 2  # c was scored on another sample count: never ranked against a/b
    rows = board.tables[0].rows
    assert [r.coords["model"] for r in rows] == ["b", "a"]  # lower FD ranks first
    a = rows[1].scores["fd_classifier"]
    assert (a.mean, a.std, a.n) == (12.0, 2.0, 3)
    assert rows[0].failed == 1 and rows[0].done == 2
    md = to_markdown(board)
    assert "12.000 ± 2.000 (3)" in md and "6.000 ± 1.414 (2)" in md and "2 done, 1 failed" in md
    assert "num_fake=5000" in md and "num_fake=100" in md
    import csv
    import io
    table = list(csv.DictReader(io.StringIO(to_csv(board))))
    b = next(r for r in table if r["model"] == "b")
    assert (b["rank"], b["fd_classifier_mean"], b["fd_classifier_std"], b["fd_classifier_n"], b["failed"]) == \
        ("1", "6", "1.41421", "2", "1")


def test_a_rerun_keeps_the_commits_and_commands_that_made_the_earlier_runs(tmp_path, plugins):
    from ganbench.runner import earlier_invocations
    first = {"git_commit": "aaa1111", "date": "2026-12-01 10:00:00 UTC", "command": "ganbench run s.toml"}
    second = {**first, "git_commit": "bbb2222", "date": "2026-12-08 10:00:00 UTC",
              "command": "ganbench run s.toml --set train.steps=9"}
    assert earlier_invocations({}, first) == []
    assert earlier_invocations(first, first) == []  # the same command again adds nothing
    history = earlier_invocations(first, second)
    assert history == [first]
    third = {**second, "git_commit": "ccc3333"}
    assert earlier_invocations({**second, "earlier": history}, third) == [first, second]
    assert earlier_invocations([1, 2], third) == []  # a damaged provenance.json is not history
    sd = tmp_path / "suite"
    _fake_run(sd, "a-s0", {"model": "a", "seed": 0}, "done", {"fd_classifier": 3.0})
    write_json(sd / "provenance.json", {**third, "primary": "fd_classifier", "earlier": [first, second]})
    board = build_board(sd, plugins)
    for page in (to_markdown(board), to_html(board)):
        assert "aaa1111" in page and "bbb2222" in page and "--set train.steps=9" in page
    assert json.loads(to_json(board))["provenance"]["earlier"][0]["git_commit"] == "aaa1111"


def test_read_model_groups_runs_and_finds_seeds_and_the_primary_score(tmp_path):
    """What leaderboard and plots both read: runs grouped by every coordinate but the seed,
    the seed from the coordinates or else from train.seed, the primary from provenance first."""
    sd = tmp_path / "suite"
    _fake_run(sd, "a-s0", {"model": "a", "classes": ["x", "y"], "seed": 0}, "done", {"fd_classifier": 1.0})
    _fake_run(sd, "a-s1", {"model": "a", "classes": ["x", "y"], "seed": 1}, "running", None)
    _fake_run(sd, "b", {"model": "b", "classes": ["x"]}, "done", {"fd_classifier": 2.0})
    config = json.loads((sd / "b" / "config.json").read_text())
    write_json(sd / "b" / "config.json", {**config, "train": {"seed": 7}})
    (sd / "not-a-run").mkdir()
    suite = read_suite(sd)
    assert [r.run_id for r in suite.runs] == ["a-s0", "a-s1", "b"]
    assert suite.axes == ["model", "classes"] and suite.name == "suite" and suite.device == "?"
    assert [(g.coords, [r.run_id for r in g.runs]) for g in suite.groups] == [
        ({"model": "a", "classes": ["x", "y"]}, ["a-s0", "a-s1"]), ({"model": "b", "classes": ["x"]}, ["b"])]
    assert [r.seed for r in suite.runs] == [0, 1, 7]
    assert [r.state for r in suite.runs] == ["done", "running", "done"]
    assert suite.runs[0].final["scores"] == {"fd_classifier": 1.0} and suite.runs[1].final is None
    assert suite.primary == "fd_classifier"
    write_json(sd / "provenance.json", {"suite": "named", "primary": "mode_coverage", "device": "cpu"})
    again = read_suite(sd)
    assert (again.primary, again.name, again.device) == ("mode_coverage", "named", "cpu")


def test_board_renders_plugin_columns_everywhere_and_is_the_json(tmp_path, plugins):
    """ganbench_leaderboard_columns sees each row as a dict (coords, scores, runs, extra) and
    its column reaches every format; leaderboard.json is the board as data."""
    seen: list[dict] = []

    class Columns:
        @staticmethod
        @hookimpl
        def ganbench_leaderboard_columns(rows):
            seen.extend(rows)
            for row in rows:
                row["extra"]["n_runs"] = len(row["runs"])
            return ["n_runs"]

    sd = tmp_path / "suite"
    for seed, v in enumerate([3.0, 5.0]):
        _fake_run(sd, f"a-s{seed}", {"model": "a", "seed": seed}, "done", {"fd_classifier": v})
    plugins.pm.register(Columns(), name="columns")
    try:
        board = build_board(sd, plugins)
    finally:
        plugins.pm.unregister(name="columns")
    assert board.extra_columns == ["n_runs"] and board.tables[0].rows[0].extra == {"n_runs": 2}
    assert seen[0]["coords"] == {"model": "a"} and seen[0]["runs"] == ["a-s0", "a-s1"]
    assert seen[0]["scores"]["fd_classifier"] == {"mean": 4.0, "std": pytest.approx(2 ** 0.5), "n": 2}
    assert board.directions == {"fd_classifier": False} and board.tables[0].rows[0].rank == 1
    assert "| 2 |" in to_markdown(board) and "<td>2</td>" in to_html(board)
    assert to_csv(board).splitlines()[0].endswith(",n_runs") and to_csv(board).splitlines()[1].endswith(",2")
    data = json.loads(to_json(board))
    assert data == json.loads(json.dumps(board.as_dict()))
    (row,) = data["tables"][0]["rows"]
    assert row["extra"] == {"n_runs": 2} and row["seeds"] == [0, 1] and row["rank"] == 1
    assert list(data) == ["suite", "provenance", "primary", "higher_is_better", "axes", "scores",
                          "extra_columns", "directions", "tables", "plots", "warnings", "headline"]
    assert list(data["tables"][0]) == ["protocol", "rows", "references", "notes"]
