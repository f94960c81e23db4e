"""Every suite in suites/ is a valid experiment: `ganbench validate` accepts it (exit 0),
or finds only data sets or weights files missing on this machine (exit 3), never an
error in the suite itself (exit 2). The five reports' suites state what they reproduce
and score FID, IS and KID on 10,000 samples, as SPEC §1 asks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ganbench import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITES = sorted((Path(__file__).resolve().parent.parent / "suites").glob("*.toml"))
#: the five reports' experiments (SPEC §1) and the all-models × all-classes suite
REPORTS = {
    "cifar_automobile": {"model": {"dcgan", "wgan", "wgan-gp", "acgan"}, "dataset": {"cifar10"}},
    "cifar_dcgan_vs_sagan": {"model": {"dcgan", "sagan"}, "dataset": {"cifar10"}},
    "dcgan_keras_200_epochs": {"model": {"dcgan"}, "dataset": {"cifar10"}, "optimizer": {"adam", "rmsprop"}},
    "per_class_fashion_mnist": {"model": {"dcgan"}, "dataset": {"fashion-mnist"}},
    "per_class_cifar10": {"model": {"dcgan"}, "dataset": {"cifar10"}},
    "per_class_imagefolder": {"model": {"dcgan"}, "dataset": {"imagefolder"}},
    "vanilla_gan": {"model": {"gan"}, "dataset": {"mnist", "fashion-mnist"}},
    "dcgan_datasets": {"model": {"dcgan"}, "dataset": {"cifar10", "flowers102", "mnist"}},
    "latent_sweep": {"model": {"dcgan"}, "latent_dim": {10, 100, 200}},
    "optimizer_sweep": {"model": {"dcgan"}, "optimizer": {"adam", "rmsprop", "sgd", "adadelta", "adagrad"}},
    "wgan_mnist": {"model": {"wgan"}, "dataset": {"mnist"}},
    "cifar_classes": {"model": {"gan", "dcgan", "wgan", "wgan-gp", "lsgan", "acgan", "sngan", "sagan"},
                      "dataset": {"cifar10"}},
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


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_suite_states_its_source_and_protocol(name):
    path = next(p for p in SUITES if p.stem == name)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ") and ("SPEC §1" in text.split("[suite]")[0]), "header comment names the report"
    data = tomllib.loads(text)
    assert data["suite"]["name"] == name  # results/<suite> matches the file name
    matrix = data["matrix"]
    for axis, wanted in REPORTS[name].items():
        assert wanted <= set(matrix[axis]), (axis, matrix[axis])
    assert len(matrix.get("seed", [])) >= 3, "one seed says nothing about a ranking"
    assert set(data["metrics"]["names"]) == {"fid", "is", "kid"} and data["metrics"]["num_samples"] == 10000


def test_per_class_suites_sweep_the_d_to_g_ratio():
    for name in ("per_class_fashion_mnist", "per_class_cifar10"):
        data = tomllib.loads(next(p for p in SUITES if p.stem == name).read_text(encoding="utf-8"))
        assert data["matrix"]["train.n_critic"] == [1, 2, 5]


def test_keras_epochs_are_steps_of_the_training_split():
    data = tomllib.loads(next(p for p in SUITES if p.stem == "dcgan_keras_200_epochs").read_text(encoding="utf-8"))
    per_epoch = 50_000 // data["train"]["batch_size"]
    assert data["train"]["steps"] == 200 * per_epoch and data["train"]["sample_every"] == 10 * per_epoch


def test_budgets_shrink_from_the_command_line(plugins):
    from ganbench.suite import load_suite

    path = next(p for p in SUITES if p.stem == "cifar_dcgan_vs_sagan")
    suite = load_suite(plugins, path, sets=["train.steps=200", "train.eval_every=100"], filters=["seed=0"])
    assert [(r.model, r.train.steps, r.train.eval_every) for r in suite.runs] == [("dcgan", 200, 100),
                                                                                  ("sagan", 200, 100)]
    sagan = suite.runs[1].train
    assert sagan.conditional and (sagan.lr_g, sagan.lr_d) == (1e-4, 4e-4) and sagan.label_smoothing == 0.1
