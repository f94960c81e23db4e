"""Hostile corpus, malformed suites: `ganbench validate` refuses each with exit 2, one line naming
the file and the key path, before anything trains; `ganbench run` refuses it too and writes nothing."""
from __future__ import annotations

import pytest

from hostile import BASE, assert_clean_error, run_cli, snapshot, write_suite

NAN_KEYS = ["lr_g", "lr_d", "beta1", "ema_decay", "grad_clip"]

#: id -> (substitutions in BASE, text appended, extra CLI args, what the message must name)
CASES: dict[str, tuple[dict[str, str], str, list[str], list[str]]] = {
    # -- numbers that are not numbers -------------------------------------------------------
    "nan-lr": ({"steps = 4": "steps = 4\nlr_g = nan"}, "", [], ["train.lr_g", "finite"]),
    "inf-lr": ({"steps = 4": "steps = 4\nlr_d = inf"}, "", [], ["train.lr_d", "finite"]),
    "neg-inf-beta": ({"steps = 4": "steps = 4\nbeta1 = -inf"}, "", [], ["train.beta1"]),
    "nan-in-matrix": ({"seed = [0]": "seed = [0]\nlr_g = [nan]"}, "", [], ["matrix.lr_g[0]", "finite"]),
    "nan-model-option": ({"width = 8": "width = 8\ndropout = nan"}, "", [], ["models.dcgan.dropout"]),
    "nan-dataset-option": ({}, "", ["--set", "datasets.digits.resolution=nan"], ["datasets.digits.resolution"]),
    "nan-set": ({}, "", ["--set", "train.lr_g=nan"], ["train.lr_g", "finite"]),
    "nan-override": ({}, '[[override]]\nmatch = { model = "dcgan" }\ntrain = { lr_g = nan }\n', [],
                     ["override[0].train.lr_g"]),
    "nan-reported": ({}, '[[reported]]\nreport = "r"\nmatch = { model = "dcgan" }\nscores = { fd_classifier = nan }\n',
                     [], ["reported[0]"]),
    "inf-metric-option": ({"num_samples = 64": "num_samples = 64\n[metrics.classifier]\ncoverage_threshold = inf"},
                          "", [], ["metrics.classifier.coverage_threshold"]),
    # -- sizes with no sane bound --------------------------------------------------------------
    "huge-batch": ({"batch_size = 8": "batch_size = 1000000000"}, "", [], ["train.batch_size"]),
    "huge-latent": ({"steps = 4": "steps = 4\nlatent_dim = 100000000"}, "", [], ["train.latent_dim"]),
    "huge-resolution": ({"resolution = 8": "resolution = 100000"}, "", [], ["datasets.digits.resolution"]),
    "huge-grid": ({"steps = 4": "steps = 4\ngrid_size = 100000000"}, "", [], ["train.grid_size"]),
    "huge-threads": ({"threads = 1": "threads = 100000"}, "", [], ["train.threads"]),
    "huge-samples": ({"num_samples = 64": "num_samples = 10000000000"}, "", [], ["metrics.num_samples"]),
    "huge-eval-samples": ({"num_samples = 64": "num_samples = 64\neval_num_samples = 10000000000"}, "", [],
                          ["metrics.eval_num_samples"]),
    "huge-steps": ({"steps = 4": "steps = 1000000000000000"}, "", [], ["train.steps"]),
    "huge-width": ({"width = 8": "width = 2000000"}, "", [], ["GiB", "width"]),
    "huge-best-images": ({"steps = 4": "steps = 4\nnum_best_images = 100000000"}, "", [],
                         ["train.num_best_images"]),
    "zero-batch": ({"batch_size = 8": "batch_size = 0"}, "", [], ["train.batch_size"]),
    "negative-steps": ({"steps = 4": "steps = -5"}, "", [], ["train.steps"]),
    "memory": ({"batch_size = 8": "batch_size = 60000", "resolution = 8": "resolution = 1024"}, "", [],
               ["GiB"]),
    # -- seeds ----------------------------------------------------------------------------------
    "seed-negative": ({"seed = [0]": "seed = [-1]"}, "", [], ["matrix.seed[0]"]),
    "seed-huge": ({"seed = [0]": "seed = [18446744073709551616]"}, "", [], ["seed"]),
    "seed-float": ({"seed = [0]": "seed = [0.5]"}, "", [], ["matrix.seed[0]"]),
    # -- classes and devices that are not here -----------------------------------------------
    "unknown-class": ({"seed = [0]": "seed = [0]\nclasses = [[\"unicorn\"]]"}, "", [], ["classes", "unicorn"]),
    "class-index-out-of-range": ({"seed = [0]": "seed = [0]\nclasses = [[42]]"}, "", [], ["classes", "42"]),
    "device-mps": ({'device = "cpu"': 'device = "mps"'}, "", [], ["train.device", "MPS"]),
    "device-cuda-here": ({'device = "cpu"': 'device = "cuda:7"'}, "", [], ["train.device"]),
    "device-nonsense": ({'device = "cpu"': 'device = "tpu"'}, "", [], ["train.device", "tpu"]),
    # -- what matches or changes nothing ----------------------------------------------------
    "override-matches-nothing": ({}, '[[override]]\nmatch = { model = "wgan" }\ntrain = { lr_g = 1e-4 }\n', [],
                                 ["override[0]", "matches no run"]),
    "override-value-not-on-axis": ({}, '[[override]]\nmatch = { seed = 7 }\ntrain = { lr_g = 1e-4 }\n', [],
                                   ["override[0]"]),
    "filter-matches-nothing": ({}, "", ["--filter", "seed=5"], ["--filter", "seed=5"]),
    "set-unused-plugin-table": ({}, "", ["--set", "models.wgan.width=8"], ["--set", "models.wgan"]),
    "set-unknown-train-key": ({}, "", ["--set", "train.stepz=3"], ["train.stepz", "steps"]),
    "set-no-equals": ({}, "", ["--set", "train.steps"], ["--set"]),
    "filter-unknown-axis": ({}, "", ["--filter", "latent=3"], ["--filter", "latent"]),
    # -- axes ------------------------------------------------------------------------------------
    "axis-twice": ({"seed = [0]": "seed = [0]\n\"train.seed\" = [1]"}, "", [], ["matrix", "seed"]),
    "axis-twice-latent": ({"seed = [0]": "seed = [0]\nlatent_dim = [8]\n\"train.latent_dim\" = [16]"}, "", [],
                          ["latent_dim"]),
    "axis-duplicate-values": ({"seed = [0]": "seed = [0, 0]"}, "", [], ["matrix.seed"]),
    "axis-empty": ({"seed = [0]": "seed = []"}, "", [], ["matrix.seed"]),
    "axis-not-list": ({"seed = [0]": "seed = 0"}, "", [], ["matrix.seed"]),
    "axis-unknown": ({"seed = [0]": "seed = [0]\nfoo = [1]"}, "", [], ["matrix.foo"]),
    "huge-axes": ({"seed = [0]": "seed = [" + ", ".join(str(i) for i in range(400)) + "]\n"
                   + "latent_dim = [" + ", ".join(str(i) for i in range(1, 401)) + "]"}, "", [], ["runs"]),
    "model-missing": ({'model = ["dcgan"]\n': ""}, "", [], ["matrix.model"]),
    "model-unknown": ({'model = ["dcgan"]': 'model = ["stylegan9"]'}, "", [], ["matrix.model[0]", "stylegan9"]),
    "dataset-unknown": ({'dataset = ["digits"]': 'dataset = ["imagenet"]'}, "", [], ["matrix.dataset[0]"]),
    "model-not-string": ({'model = ["dcgan"]': 'model = [3]'}, "", [], ["matrix.model[0]"]),
    # -- the suite table and names ------------------------------------------------------------
    "name-dotdot": ({'name = "hostile"': 'name = ".."'}, "", [], ["suite.name"]),
    "name-dot": ({'name = "hostile"': 'name = "."'}, "", [], ["suite.name"]),
    "name-slash": ({'name = "hostile"': 'name = "a/../../b"'}, "", [], ["suite.name"]),
    "name-too-long": ({'name = "hostile"': 'name = "' + "a" * 300 + '"'}, "", [], ["suite.name"]),
    "name-hidden": ({'name = "hostile"': 'name = ".git"'}, "", [], ["suite.name"]),
    "name-not-string": ({'name = "hostile"': "name = 5"}, "", [], ["suite.name"]),
    "suite-unknown-key": ({'name = "hostile"': 'name = "hostile"\nfoo = 1'}, "", [], ["suite.foo"]),
    "unknown-table": ({}, "[trainer]\nsteps = 3\n", [], ["trainer", "train"]),
    "train-not-table": ({"[train]\n": "train = 5\n[nottrain]\n"}, "", [], ["train"]),
    # -- types ---------------------------------------------------------------------------------------
    "steps-string": ({"steps = 4": 'steps = "4"'}, "", [], ["train.steps", "quotes"]),
    "steps-bool": ({"steps = 4": "steps = true"}, "", [], ["train.steps"]),
    "width-list": ({"width = 8": "width = [8]"}, "", [], ["models.dcgan.width"]),
    "names-not-list": ({'names = ["classifier"]': 'names = "classifier"'}, "", [], ["metrics.names"]),
    "metric-unknown": ({'names = ["classifier"]': 'names = ["fidd"]'}, "", [], ["metrics.names", "fid"]),
    "loss-unknown": ({"steps = 4": 'steps = 4\nloss = "hinje"'}, "", [], ["train.loss", "hinge"]),
    "optimizer-unknown": ({"steps = 4": 'steps = 4\noptimizer = "adamm"'}, "", [], ["train.optimizer", "adam"]),
    "model-option-unknown": ({"width = 8": "width = 8\nwidht = 3"}, "", [], ["models.dcgan.widht"]),
    "model-table-unknown": ({"[models.dcgan]": "[models.dcgam]"}, "", [], ["models.dcgam"]),
    "override-no-match": ({}, '[[override]]\ntrain = { lr_g = 1e-4 }\n', [], ["override[0].match"]),
    "override-bad-key": ({}, '[[override]]\nmatch = { model = "dcgan" }\nsuite = { name = "x" }\n', [],
                         ["override[0].suite"]),
    "override-not-list": ({}, 'override = 3\n', [], ["override"]),
    # -- absurd TOML ---------------------------------------------------------------------------------
    "deep-nesting": ({}, "x = " + "[" * 5000 + "]" * 5000 + "\n", [], ["suite.toml"]),
    "deep-tables": ({}, "[train." + ".".join(["a"] * 3000) + "]\n", [], ["suite.toml"]),
    "not-toml": ({"[matrix]": "[matrix"}, "", [], ["suite.toml", "TOML"]),
    "binary": ({}, "\x00\x01\x02", [], ["suite.toml"]),
    "duplicate-key": ({"steps = 4": "steps = 4\nsteps = 5"}, "", [], ["suite.toml"]),
}


@pytest.fixture(autouse=True)
def _no_entry_points(monkeypatch):
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_suite_is_refused_cleanly(case, tmp_path):
    sub, extra, args, needles = CASES[case]
    path = write_suite(tmp_path, sub, extra)
    before = snapshot(tmp_path)
    text = assert_clean_error(run_cli("validate", path, *args), 2, *needles)
    assert "suite.toml" in text or "--set" in text or "--filter" in text, text
    assert snapshot(tmp_path) == before
    # the run command refuses it the same way, before it creates anything
    results = tmp_path / "results"
    assert_clean_error(run_cli("run", path, "--results", results, *args), 2)
    assert snapshot(tmp_path) == before, "run wrote something for a suite it refused"


def test_base_suite_is_valid(tmp_path, monkeypatch):
    """The corpus's cases are refused for what they change, not for the base they edit."""
    o = run_cli("validate", write_suite(tmp_path))
    assert o.code == 0, o.err
    assert BASE.count("[") > 3
