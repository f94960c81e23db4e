"""The seams between the rooms: one RunSpec constructor, one EvalContext constructor, the
plugin author's façade, option bounds, the trait vocabulary and `ganbench list` options."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

import ganbench
from ganbench import GanbenchError, ModelSpec, hookimpl, opt
from ganbench.cli import main
from ganbench.config import TrainConfig, from_dict, options_help
from ganbench.data import DataCache
from ganbench.metrics import eval_context
from ganbench.runspec import spec_from_config
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins

SUITE = """
[matrix]
model = ["dcgan", "wgan-gp"]
dataset = ["digits"]
seed = [0, 1]
[train]
steps = 10
[models.dcgan]
width = 8
[models.wgan-gp]
width = 8
[metrics]
names = ["classifier"]
reference_split = "train"
"""


def test_a_run_rebuilt_from_config_json_is_the_same_run(plugins) -> None:
    """Workers, `ganbench eval` and `ganbench sample` rebuild runs from config.json through the
    same constructor as the suite: every field comes back equal."""
    suite = load_suite(plugins, "x.toml", text=SUITE)
    for run in suite.runs:
        again = spec_from_config(plugins, json.loads(json.dumps(run.config_json())))
        assert again == run


def test_config_json_without_its_model_is_a_clear_error(plugins) -> None:
    with pytest.raises(GanbenchError, match="config.json has no 'model'"):
        spec_from_config(plugins, {"run_id": "r", "dataset": "digits", "train": {}})


def test_eval_context_scores_against_the_reference_split(plugins, tmp_path) -> None:
    """eval_context takes the reference from metrics.reference_split and keeps the training
    data's full class set for classifier metrics."""
    run = load_suite(plugins, "x.toml", text=SUITE.replace('dataset = ["digits"]', 'dataset = ["digits"]\n'
                                                           'classes = [["3"]]')).runs[0]
    data = DataCache(plugins, tmp_path)
    ctx = eval_context(data, run.dataset, run.dataset_options, run.metrics, lambda n: (None, None), "cpu", 5)
    assert ctx.split == "train" and ctx.classes == ("3",) and ctx.num_samples == 5
    assert set(ctx.real.labels.tolist()) == {3}
    assert len(ctx.full_real().class_names) == 10 and len(set(ctx.full_real().labels.tolist())) == 10


def test_the_facade_has_everything_a_plugin_needs() -> None:
    for name in ("hookimpl", "opt", "ModelSpec", "LossSpec", "DatasetSpec", "MetricSpec", "OptimizerSpec",
                 "Score", "ModelContext", "EvalContext", "RunInfo", "ImageData", "DatasetOptions", "TRAITS",
                 "GanbenchError", "ResourceMissing"):
        assert hasattr(ganbench, name), name
    assert set(ganbench.__all__) >= {"hookimpl", "opt", "ModelSpec", "GanbenchError"}


@dataclass(frozen=True)
class Bounded:
    width: int = opt(8, "channels", min=1)
    rate: float = opt(0.5, "a probability", above=0, max=1)
    norm: str = opt("none", "normalisation", choices=("none", "layer"))
    betas: list[float] = opt([0.5], "each in [0, 1)", min=0, below=1)


@pytest.mark.parametrize("table, message", [
    ({"width": 0}, "x.width: must be ≥ 1, found 0"),
    ({"rate": 0.0}, "x.rate: must be > 0 and ≤ 1, found 0.0"),
    ({"rate": 1.5}, "x.rate: must be > 0 and ≤ 1, found 1.5"),
    ({"rate": math.nan}, "x.rate: must be a finite number, found nan\n  hint: a number > 0 and ≤ 1"),
    ({"norm": "batch"}, "x.norm: must be one of none, layer, found 'batch'"),
    ({"betas": [0.5, 1.0]}, "x.betas: must be ≥ 0 and < 1, found 1.0"),
])
def test_opt_bounds_are_enforced_with_the_key_path(table, message) -> None:
    with pytest.raises(GanbenchError) as err:
        from_dict(Bounded, table, "x")
    assert str(err.value) == message


def test_opt_bounds_accept_the_edges() -> None:
    assert from_dict(Bounded, {"width": 1, "rate": 1, "norm": "layer", "betas": [0.0]}, "x").rate == 1.0


def test_train_config_rejects_nan_and_infinite_rates() -> None:
    for value in (math.nan, math.inf, -1.0):
        with pytest.raises(GanbenchError, match="train.lr_g"):
            from_dict(TrainConfig, {"lr_g": value}, "train")


def test_options_help_lists_type_default_bounds_and_help() -> None:
    rows = {r["name"]: r for r in options_help(Bounded)}
    assert rows["width"] == {"name": "width", "type": "an integer", "default": 8, "bounds": "≥ 1", "help": "channels"}
    assert rows["norm"]["bounds"] == "one of none, layer"


def test_list_shows_a_plugins_options(capsys) -> None:
    assert main(["list", "models", "dcgan", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    width = next(o for o in row["options"] if o["name"] == "width")
    assert width["default"] == 64 and width["bounds"] == "≥ 1" and "channel" in width["help"]
    assert main(["list", "train", "--json"]) == 0
    steps = next(o for o in json.loads(capsys.readouterr().out) if o["name"] == "steps")
    assert steps["default"] == 1000 and steps["bounds"] == "≥ 1 and ≤ 1000000000"
    assert main(["list", "losses", "--options"]) == 0
    assert "[losses.gradient-penalty]" in capsys.readouterr().out


def test_list_of_an_unknown_item_suggests_one(capsys) -> None:
    assert main(["list", "models", "dcgn"]) == 2
    assert "did you mean 'dcgan'" in capsys.readouterr().err


def _model(**kw) -> object:
    class Plugin:
        @hookimpl
        def ganbench_register_models(self, registry):
            registry.add(ModelSpec(name="odd", description="a test model", build=lambda ctx: None, **kw))
    return Plugin()


def test_a_trait_outside_the_vocabulary_is_refused_at_registration() -> None:
    with pytest.raises(GanbenchError, match="unknown trait 'd_batchnrom'.*did you mean 'd_batchnorm'"):
        fresh_plugins(_model(traits=frozenset({"d_batchnrom"})))


def test_an_unknown_recipe_key_is_refused_at_registration() -> None:
    with pytest.raises(GanbenchError, match="unknown recipe key 'n_critics'.*did you mean 'n_critic'"):
        fresh_plugins(_model(recipe={"n_critics": 5}))


def test_built_in_recipes_state_only_what_differs_from_the_defaults(plugins) -> None:
    defaults = {r["name"]: r["default"] for r in options_help(TrainConfig)}
    for name in plugins.models:
        recipe = plugins.models.get(name).recipe
        same = {k: v for k, v in recipe.items() if k in defaults and v == defaults[k]}
        assert same == {}, (name, same)
