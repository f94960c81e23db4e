"""Every suite in suites/ is a valid experiment: `ganbench validate` accepts it (exit 0),
or finds only data sets or weights files missing on this machine (exit 3), never an
error in the suite itself (exit 2). The reports' suites run the experiments the reports ran:
every run's resolved settings match the table of the reports' settings kept beside them
(suites/reports/settings.toml, from ../shared/REPORTS.md), their headers say line by line
what they reproduce and where they depart, and the reports' published numbers are
reported rows."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

from ganbench import cli
from ganbench.suite import load_suite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SUITES = sorted((ROOT / "suites").glob("*.toml"))
SETTINGS = tomllib.loads((ROOT / "suites" / "reports" / "settings.toml").read_text(encoding="utf-8"))
#: each report suite's matrix, as the report's experiment has it (values the axis must hold)
REPORTS = {
    "cifar_automobile": {"model": {"dcgan", "wgan", "wgan-gp", "wgan-clip-0.1", "acgan"}, "dataset": {"cifar10"},
                         "classes": {("automobile",)}},
    "cifar_dcgan_vs_sagan": {"model": {"dcgan", "sagan"}, "dataset": {"cifar10"}},
    "dcgan_keras_200_epochs": {"model": {"dcgan"}, "dataset": {"cifar10"}, "optimizer": {"adam", "rmsprop"}},
    "per_class_fashion_mnist": {"model": {"dcgan", "dcgan-g10", "dcgan-threshold"}, "dataset": {"fashion-mnist"},
                                "classes": {("sneaker",), ("coat",), ("trouser",)}},
    "per_class_cifar10": {"model": {"dcgan", "dcgan-g10", "dcgan-threshold"}, "dataset": {"cifar10"},
                          "classes": {("horse",), ("bird",), ("dog",)}},
    "vanilla_gan": {"model": {"gan"}, "dataset": {"mnist", "fashion-mnist", "cifar10"}},
    "dcgan_datasets": {"model": {"dcgan", "dcgan-1024"}, "dataset": {"cifar10", "flowers102", "mnist"}},
    "latent_sweep": {"model": {"gan"}, "dataset": {"mnist"}, "latent_dim": {10, 100, 200}},
    "optimizer_sweep": {"model": {"dcgan"}, "optimizer": {"adam", "rmsprop", "sgd", "adadelta", "adagrad"}},
    "wgan_mnist": {"model": {"wgan"}, "dataset": {"mnist"}},
}
#: the reports' published numbers: (suite, model) -> {score: value}
REPORTED = {
    ("cifar_automobile", "dcgan"): {"fid_inception": 36.21}, ("cifar_automobile", "wgan"): {"fid_inception": 43.53},
    ("cifar_automobile", "wgan-clip-0.1"): {"fid_inception": 39.17},
    ("cifar_automobile", "acgan"): {"fid_inception": 51.73},
    ("cifar_dcgan_vs_sagan", "dcgan"): {"fid_inception": 89.68},
    ("cifar_dcgan_vs_sagan", "sagan"): {"fid_inception": 107.25},
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No network probes: a missing download is reported as missing at once. The time
    estimate is left out: it counts FLOPs of every full-width model (up to a minute a
    suite on 2 cores) and says nothing about whether the suite is valid."""
    import ganbench.estimate

    monkeypatch.setenv("GANBENCH_OFFLINE", "1")
    monkeypatch.setattr(ganbench.estimate, "estimate", lambda plugins, suite: {})


def test_every_report_suite_is_shipped():
    assert {p.stem for p in SUITES} >= set(REPORTS)


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_suite_validates_or_reports_only_missing_resources(path, capsys):
    code = cli.main(["validate", str(path)])
    out = capsys.readouterr()
    assert code in (0, 3), out.err
    if code == 3:  # every problem is a missing data set or weights file, each with a fix
        problems = [line for line in out.err.splitlines() if line.startswith(("MISSING", "ERROR"))]
        assert problems and all(line.startswith("MISSING") for line in problems), out.err


def _suite(name: str):
    from ganbench.testing import fresh_plugins
    return load_suite(fresh_plugins(), ROOT / "suites" / f"{name}.toml")


def _at(config: dict[str, Any], path: str) -> Any:
    value: Any = config
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return KeyError(path)
        value = value[key]
    return value


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(have, (int, float)) and not isinstance(have, bool):
        return math.isclose(have, want, rel_tol=1e-9)
    if isinstance(want, list) and isinstance(have, list):
        return len(have) == len(want) and all(_same(h, w) for h, w in zip(have, want))
    return have == want


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_suite_runs_the_reports_settings(name):
    suite = _suite(name)
    table = SETTINGS.get(name, {})
    assert table, f"suites/reports/settings.toml has no table for {name}"
    matrix = suite.axes
    for axis, wanted in REPORTS[name].items():
        have = {tuple(v) if isinstance(v, list) else v for v in matrix[axis]}
        assert wanted <= have, (axis, matrix[axis])
    assert len(matrix.get("seed", [])) >= 2, "one seed says nothing about a ranking"
    checked = 0
    for model, settings in table.items():
        runs = [r for r in suite.runs if model == "_all" or r.coords["model"] == model]
        assert runs, f"{name}: no run of model {model!r}"
        for run in runs:
            config = run.config_json()
            for path, want in settings.items():
                have = _at(config, path)
                assert _same(have, want), f"{name} {run.run_id}: {path} = {have!r}, the report's is {want!r}"
                checked += 1
    assert checked


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_suite_header_says_what_it_reproduces_and_where_it_departs(name):
    text = (ROOT / "suites" / f"{name}.toml").read_text(encoding="utf-8")
    header = text.split("[suite]")[0]
    assert header.startswith("# Report ") and "../shared/REPORTS.md" in header
    assert "Reproduced as the report ran it:" in header and "Where it departs, and why:" in header
    assert tomllib.loads(text)["suite"]["name"] == name  # results/<suite> matches the file name


@pytest.mark.parametrize("name", sorted({s for s, _ in REPORTED}))
def test_the_reports_numbers_are_reported_rows(name):
    suite = _suite(name)
    got = {r.match["model"]: r.scores for r in suite.reported}
    assert got == {m: v for (s, m), v in REPORTED.items() if s == name}
    assert all(r.protocol and r.source for r in suite.reported)


def test_keras_epochs_are_iterations_of_128():
    (run, _) = _suite("dcgan_keras_200_epochs").runs[:2]
    per_epoch = 50_000 // run.train.batch_size
    assert run.train.steps == 200 * per_epoch and run.train.sample_every == 10 * per_epoch


def test_budgets_shrink_from_the_command_line(plugins):
    path = ROOT / "suites" / "cifar_dcgan_vs_sagan.toml"
    suite = load_suite(plugins, path, sets=["train.steps=200", "train.eval_every=100"], filters=["seed=0"])
    assert [(r.model, r.train.steps, r.train.eval_every) for r in suite.runs] == [("dcgan", 200, 100),
                                                                                  ("sagan", 200, 100)]
    sagan = suite.runs[1].train
    assert sagan.conditional and (sagan.lr_g, sagan.lr_d) == (1e-4, 4e-4) and sagan.loss == "wasserstein"
