"""A run's identity is its training config: evaluation settings rescore a finished run, a
raised step budget continues it from its checkpoint, and nothing else retrains it."""
from __future__ import annotations

import json

import pytest

from ganbench.errors import GanbenchError
from ganbench.results import get_status, read_json, read_jsonl
from ganbench.runner import run_suite
from ganbench.suite import load_suite
from ganbench.testing import single_thread  # noqa: F401  (pytest fixture)

SUITE = """
[suite]
name = "ident"
[matrix]
model = ["dcgan"]
dataset = ["digits"]
[train]
steps = 6
batch_size = 16
log_every = 2
checkpoint_every = 3
threads = 1
[models.dcgan]
width = 4
[metrics]
names = ["classifier"]
num_samples = 64
"""


def _run(plugins, tmp_path, sets=()):
    suite = load_suite(plugins, "ident.toml", text=SUITE, sets=list(sets))
    result = run_suite(plugins, suite, tmp_path)
    (run,) = suite.runs
    return run, result, tmp_path / "ident" / run.run_id


def test_evaluation_settings_and_the_budget_are_not_the_run_id(plugins) -> None:
    base = load_suite(plugins, "ident.toml", text=SUITE).runs[0].run_id
    for sets in (["metrics.num_samples=128"], ["train.steps=9"], ["train.eval_every=2"], ["train.sample_every=1"],
                 ["metrics.names=[\"classifier\"]", "metrics.eval_num_samples=32"]):
        assert load_suite(plugins, "ident.toml", text=SUITE, sets=sets).runs[0].run_id == base, sets
    for sets in (["train.lr_g=1e-3"], ["train.batch_size=8"], ["models.dcgan.width=8"], ["train.seed=1"]):
        assert load_suite(plugins, "ident.toml", text=SUITE, sets=sets).runs[0].run_id != base, sets


def test_a_metric_only_change_rescores_without_retraining(plugins, tmp_path, single_thread) -> None:
    run, _, run_dir = _run(plugins, tmp_path)
    losses = (run_dir / "losses.csv").read_text()
    ckpt = (run_dir / "checkpoint.pt").stat().st_mtime_ns
    again, result, same_dir = _run(plugins, tmp_path, ["metrics.num_samples=96"])
    assert same_dir == run_dir and result.states[run.run_id] == "done"
    assert (run_dir / "checkpoint.pt").stat().st_mtime_ns == ckpt and (run_dir / "losses.csv").read_text() == losses
    finals = [e for e in read_jsonl(run_dir / "evals.jsonl") if e["final"]]
    assert finals[-1]["rescored"] and finals[-1]["protocol"]["num_fake"] == 96
    assert read_json(run_dir / "config.json")["metrics"]["num_samples"] == 96
    assert get_status(run_dir)["scores"] == finals[-1]["scores"]
    _, result, _ = _run(plugins, tmp_path, ["metrics.num_samples=96"])  # asked as it is now: left alone
    assert result.skipped == [run.run_id]


def test_an_option_added_since_a_run_finished_rescores_nothing_while_at_its_default(plugins, tmp_path) -> None:
    """Runs finished before a metric grew an option (classifier density_coverage) are asked for
    as they ran; only a value away from the default is a new evaluation setting."""
    from ganbench.resume import run_action
    from ganbench.results import set_status, write_json
    run = load_suite(plugins, "ident.toml", text=SUITE).runs[0]
    old = json.loads(json.dumps(run.config_json()))  # a copy: config_json() shares run.resolved
    for key in ("density_coverage", "nearest_k", "manifold_real"):
        del old["metrics"]["classifier"][key]  # as config.json was written before these existed
    del old["metrics"]["eval_num_samples"]
    run_dir = tmp_path / run.run_id
    run_dir.mkdir()
    write_json(run_dir / "config.json", old)
    (run_dir / "evals.jsonl").write_text('{"step": 6, "scores": {"fd_classifier": 9.0}, "final": true}\n')
    set_status(run_dir, "done", step=6, steps=6)
    assert run_action(run, run_dir) == "skip"
    on = load_suite(plugins, "ident.toml", text=SUITE, sets=["metrics.classifier.density_coverage=true"]).runs[0]
    assert run_action(on, run_dir) == "rescore"


def test_a_raised_budget_continues_the_finished_run(plugins, tmp_path, single_thread) -> None:
    run, _, run_dir = _run(plugins, tmp_path)
    _, result, _ = _run(plugins, tmp_path, ["train.steps=9"])
    assert result.states[run.run_id] == "done"
    assert read_json(run_dir / "throughput.json")["resumed_from"] == 6
    assert read_json(run_dir / "config.json")["train"]["steps"] == 9
    evals = read_jsonl(run_dir / "evals.jsonl")
    assert [(e["step"], e["final"]) for e in evals] == [(6, False), (9, True)]
    assert evals[0]["earlier_budget"]
    steps = [int(line.split(",")[0]) for line in (run_dir / "losses.csv").read_text().splitlines()[1:]]
    assert steps == [2, 4, 6, 8, 9]


def test_a_shorter_budget_than_a_finished_run_is_refused_before_anything_runs(plugins, tmp_path,
                                                                                single_thread) -> None:
    _, _, run_dir = _run(plugins, tmp_path)
    before = (tmp_path / "ident" / "provenance.json").read_text()
    with pytest.raises(GanbenchError, match="trained for 6 steps and the suite now asks for 4") as err:
        _run(plugins, tmp_path, ["train.steps=4"])
    assert "train.steps = 6" in str(err.value)
    assert (tmp_path / "ident" / "provenance.json").read_text() == before


def test_an_option_added_later_leaves_existing_run_ids_alone(monkeypatch):
    """Runs published before an option existed keep their ids while it stays at its default;
    set to anything else, it is part of the run's identity."""
    from ganbench import runspec

    before = {"train": {"batch_size": 64}, "models": {"dcgan": {"width": 16}, "sagan": {"width": 8}}}
    with_defaults = {"train": {"batch_size": 64, "g_steps": 1},
                     "models": {"dcgan": {"width": 16, "dropout": 0.0}, "sagan": {"width": 8, "dropout": 0.0}}}
    monkeypatch.setattr(runspec, "HASH_NEUTRAL", {("train", "g_steps"): 1, ("models", "*", "dropout"): 0.0})
    assert runspec.config_hash(with_defaults) == runspec.config_hash(before)
    changed = {**with_defaults, "models": {**with_defaults["models"], "sagan": {"width": 8, "dropout": 0.3}}}
    assert runspec.config_hash(changed) != runspec.config_hash(before)
    assert runspec.config_hash({**with_defaults, "train": {"batch_size": 64, "g_steps": 2}}) != \
        runspec.config_hash(before)
