"""Hostile corpus, faulty plugins: an observer that raises never fails a run, a metric that
raises loses only its own scores, a broken or misnamed plugin package is one line naming it,
and no hint tells the user to block a built-in."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ganbench import cli, hookimpl
from ganbench.specs import MetricSpec, ModelSpec, Score
from ganbench.testing import fresh_plugins
from hostile import assert_clean_error, run_cli, write_suite


class Boom(Exception):
    pass


def _observer(hook: str, exc: BaseException):
    """A plugin whose `hook` implementation raises `exc`."""
    def impl(**kwargs):
        raise exc
    impl.__name__ = hook
    ns = {hook: staticmethod(hookimpl(specname=hook)(lambda run, **kw: impl()))}
    return type(f"Faulty_{hook}", (), ns)()


OBSERVER_CASES = {
    f"{hook}-{kind}": (hook, exc)
    for hook in ("ganbench_run_started", "ganbench_step_finished", "ganbench_evaluation_finished",
                 "ganbench_run_finished")
    for kind, exc in (("error", Boom("observer bug")), ("type-error", TypeError("bad arg")),
                      ("sys-exit", SystemExit(3)))
}


@pytest.fixture(autouse=True)
def _no_entry_points(monkeypatch):
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")


def _with(monkeypatch, *extra):
    plugins = fresh_plugins(*extra)
    monkeypatch.setattr(cli, "_plugins", lambda: plugins)
    return plugins


@pytest.mark.parametrize("case", list(OBSERVER_CASES))
def test_raising_observer_never_fails_the_run(case, tmp_path, monkeypatch):
    hook, exc = OBSERVER_CASES[case]
    plugin = _observer(hook, exc)
    _with(monkeypatch, plugin)
    o = run_cli("run", write_suite(tmp_path), "--results", tmp_path / "results")
    assert o.code == 0, o.err + o.out
    assert "Traceback" not in o.err
    run_dir = next((tmp_path / "results" / "hostile").glob("dcgan*"))
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and "fd_classifier" in status["scores"]
    warnings = [ln for ln in o.err.splitlines() if "raised in " + hook in ln]
    assert len(warnings) == 1 and "plugin test-plugin-0 (test-plugin-0)" in warnings[0], o.err
    assert (run_dir / "hook-error.log").is_file()


def _metric(name: str, compute, protocol=None):
    class Plugin:
        @staticmethod
        @hookimpl
        def ganbench_register_metrics(registry):
            registry.add(MetricSpec(name, "a faulty metric", compute=compute,
                                    scores=(Score(f"{name}_score", False, "x"),), protocol=protocol))
    return Plugin()


def _raise(exc):
    def f(ctx):
        raise exc
    return f


METRIC_CASES = {
    "raises": _metric("faulty", _raise(Boom("metric bug"))),
    "raises-key-error": _metric("faulty", _raise(KeyError("features"))),
    "returns-none": _metric("faulty", lambda ctx: None),
    "returns-list": _metric("faulty", lambda ctx: [1, 2]),
    "returns-string-score": _metric("faulty", lambda ctx: {"faulty_score": "high"}),
    "protocol-raises": _metric("faulty", lambda ctx: {"faulty_score": 1.0}, protocol=_raise(Boom("protocol bug"))),
    "zero-division": _metric("faulty", lambda ctx: {"faulty_score": 1 / 0}),
}


@pytest.mark.parametrize("case", list(METRIC_CASES))
def test_raising_metric_loses_only_its_own_scores(case, tmp_path, monkeypatch):
    _with(monkeypatch, METRIC_CASES[case])
    suite = write_suite(tmp_path, {'names = ["classifier"]': 'names = ["classifier", "faulty"]'})
    o = run_cli("run", suite, "--results", tmp_path / "results")
    assert o.code == 0, o.err + o.out
    run_dir = next((tmp_path / "results" / "hostile").glob("dcgan*"))
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done"
    assert "fd_classifier" in status["scores"] and "faulty_score" not in status["scores"]
    final = [json.loads(ln) for ln in (run_dir / "evals.jsonl").read_text().splitlines()][-1]
    assert "faulty" in final["protocol"]["errors"]
    assert "metric faulty raised" in o.err
    board = (tmp_path / "results" / "hostile" / "leaderboard.md").read_text()
    assert "fd_classifier" in board


def test_a_metric_failing_alone_fails_the_run_with_its_message(tmp_path, monkeypatch):
    _with(monkeypatch, METRIC_CASES["raises"])
    suite = write_suite(tmp_path, {'names = ["classifier"]': 'names = ["faulty"]'})
    o = run_cli("run", suite, "--results", tmp_path / "results")
    assert o.code == 1 and "metric bug" in o.out + o.err and "Traceback" not in o.err


class Duplicate:
    """A third-party model named like a built-in."""

    @staticmethod
    @hookimpl
    def ganbench_register_models(registry):
        registry.add(ModelSpec("dcgan", "mine", build=lambda ctx: None))


def test_duplicate_of_a_builtin_never_says_block_the_builtin(tmp_path, monkeypatch):
    from ganbench.errors import GanbenchError
    with pytest.raises(GanbenchError) as exc:
        fresh_plugins(Duplicate())
    text = str(exc.value)
    assert "two plugins register the model 'dcgan'" in text
    assert "GANBENCH_BLOCK_PLUGINS=dcgan" not in text and "rename" in text


def _fake_dist(tmp_path: Path, entry: str, name: str = "ganbench-broken") -> Path:
    """An installed distribution (a .dist-info on sys.path) with one ganbench entry point."""
    info = tmp_path / "site" / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ganbench]\n{entry}\n")
    return tmp_path / "site"


@pytest.mark.parametrize("entry,needles", [
    ("broken = no_such_module_xyz", ["plugin 'broken'", "ganbench-broken", "failed to import",
                                     "GANBENCH_BLOCK_PLUGINS=broken"]),
    ("raising = hostile_raising_mod", ["plugin 'raising'", "ganbench-broken", "RuntimeError"]),
    ("syntax = hostile_syntax_mod", ["plugin 'syntax'", "ganbench-broken", "SyntaxError"]),
    ("dcgan = hostile_ok_mod", ["plugin 'dcgan'", "ganbench-broken", "built-in", "rename"]),
])
def test_broken_plugin_package_is_named(entry, needles, tmp_path, monkeypatch):
    site = _fake_dist(tmp_path, entry)
    (site / "hostile_raising_mod.py").write_text("raise RuntimeError('import-time bug')\n")
    (site / "hostile_syntax_mod.py").write_text("def (:\n")
    (site / "hostile_ok_mod.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "0")
    for mod in ("hostile_raising_mod", "hostile_syntax_mod", "hostile_ok_mod"):
        sys.modules.pop(mod, None)
    text = assert_clean_error(run_cli("list"), 2, *needles)
    if "built-in" in needles:
        assert "GANBENCH_BLOCK_PLUGINS=dcgan" not in text


def _columns(body):
    class Plugin:
        @staticmethod
        @hookimpl
        def ganbench_leaderboard_columns(rows):
            return body(rows)
    return Plugin()


def _good(rows):
    for r in rows:
        r["extra"]["tag"] = "ok"
    return ["tag"]


COLUMN_CASES = {
    "raises": _raise(Boom("column bug")),
    "returns-string": lambda rows: "notalist",
    "returns-numbers": lambda rows: [1, 2],
    "mangles-rows": lambda rows: [rows.clear(), None][1],
    "half-written-then-raises": lambda rows: [r["extra"].update(bad=1) for r in rows] and 1 / 0,
}


@pytest.mark.parametrize("case", list(COLUMN_CASES))
def test_raising_leaderboard_hook_loses_only_its_columns(case, tmp_path, monkeypatch):
    _with(monkeypatch, _columns(COLUMN_CASES[case]), _columns(_good))
    o = run_cli("run", write_suite(tmp_path), "--results", tmp_path / "results")
    assert o.code == 0, o.err + o.out
    folder = tmp_path / "results" / "hostile"
    for fmt in ("md", "html", "json", "csv"):
        assert (folder / f"leaderboard.{fmt}").is_file()
    board = json.loads((folder / "leaderboard.json").read_text())
    assert board["extra_columns"] == ["tag"], board["extra_columns"]
    assert board["tables"][0]["rows"][0]["extra"].get("tag") == "ok"
    if case != "mangles-rows":
        assert any("ganbench_leaderboard_columns" in w for w in board["warnings"]), board["warnings"]
    again = run_cli("leaderboard", folder)
    assert again.code == 0 and "Traceback" not in again.err and "tag" in again.out
