"""Named model variants ([variants.<name>]): a registered model with its own settings, one
value of the model axis, so a report's "as its code had it" version runs beside the paper's
under a name that says what it is."""
from __future__ import annotations

from pathlib import Path

import pytest

from ganbench.errors import GanbenchError
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins

SUITE = """
[suite]
name = "v"
[matrix]
model = ["wgan", "wgan-clip-0.1"]
dataset = ["digits"]
[train]
steps = 10
batch_size = 16
[models.wgan]
width = 8
{variant}
"""
VARIANT = """
[variants."wgan-clip-0.1"]
model = "wgan"
description = "report 1's code: clipping 0.1, no BN in the critic"
train = { lr_d = 1e-4 }
models.wgan = { d_norm = "none" }
losses.weight-clipping = { clip = 0.1 }
"""


def _load(tmp_path: Path, text: str, **kw):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_suite(fresh_plugins(), path, **kw)


def test_a_variant_is_its_model_with_its_own_settings(tmp_path):
    suite = _load(tmp_path, SUITE.format(variant=VARIANT))
    plain, variant = suite.runs
    assert (plain.model, plain.coords["model"]) == ("wgan", "wgan")
    assert (variant.model, variant.coords["model"]) == ("wgan", "wgan-clip-0.1")
    assert variant.run_id.startswith("wgan-clip-0.1-") and variant.run_id != plain.run_id
    cfg, base = variant.config_json(), plain.config_json()
    assert cfg["models"]["wgan"] == {**base["models"]["wgan"], "d_norm": "none"}  # the suite's width stays
    assert cfg["losses"]["weight-clipping"]["clip"] == 0.1 and base["losses"]["weight-clipping"]["clip"] == 0.01
    assert (cfg["train"]["lr_d"], base["train"]["lr_d"]) == (1e-4, 5e-5)  # over the recipe's 5e-5
    assert cfg["train"]["optimizer"] == "rmsprop"  # the rest of the recipe is wgan's
    (only,) = _load(tmp_path, SUITE.format(variant=VARIANT), filters=["model=wgan-clip-0.1"]).runs
    assert only.run_id == variant.run_id


def test_an_override_matching_the_variant_wins_over_it(tmp_path):
    text = SUITE.format(variant=VARIANT) + """
[[override]]
match = { model = "wgan-clip-0.1" }
losses.weight-clipping = { clip = 0.05 }
"""
    _, variant = _load(tmp_path, text).runs
    assert variant.config_json()["losses"]["weight-clipping"]["clip"] == 0.05


@pytest.mark.parametrize("variant, message", [
    ('[variants.wgan]\nmodel = "wgan"\n', "'wgan' is a registered model"),
    ('[variants."wgan-clip-0.1"]\nmodel = "wgn"\n', "wgn"),
    ('[variants."wgan-clip-0.1"]\ntrain = { lr_d = 1e-4 }\n', "names the registered model"),
    ('[variants."wgan-clip-0.1"]\nmodel = "wgan"\nmatrix = { seed = [1] }\n', "not 'matrix'"),
    ('[variants."wgan-clip-0.1"]\nmodel = "wgan"\ntrain = { lr_d = -1.0 }\n', "variants.wgan-clip-0.1.train.lr_d"),
    ('[variants."wgan clip"]\nmodel = "wgan"\n', "plain name"),
])
def test_a_wrong_variant_is_refused_with_its_place(tmp_path, variant, message):
    with pytest.raises(GanbenchError, match=message):
        _load(tmp_path, SUITE.format(variant=variant))


def test_an_undeclared_variant_on_the_model_axis_is_an_unknown_model(tmp_path):
    with pytest.raises(GanbenchError, match="wgan-clip-0.1"):
        _load(tmp_path, SUITE.format(variant=""))


def test_only_keeps_a_variant_to_some_cells(tmp_path):
    text = SUITE.format(variant=VARIANT.replace('model = "wgan"\n', 'model = "wgan"\nonly = { dataset = ["mnist"] }\n'))
    text = text.replace('dataset = ["digits"]', 'dataset = ["digits", "mnist"]')
    runs = _load(tmp_path, text).runs
    assert sorted((r.coords["model"], r.coords["dataset"]) for r in runs) == [
        ("wgan", "digits"), ("wgan", "mnist"), ("wgan-clip-0.1", "mnist")]
    with pytest.raises(GanbenchError, match="variants.wgan-clip-0.1.only.seed"):
        _load(tmp_path, text.replace('only = { dataset = ["mnist"] }', 'only = { seed = [0] }'))


def test_set_is_the_command_lines_last_word_over_variants_and_overrides(tmp_path):
    """--set train.steps=5 shrinks every model's budget, even one an override raised, and
    --set reaches a variant's own settings; a matrix axis still decides its own key."""
    text = SUITE.format(variant=VARIANT) + """
[[override]]
match = { model = "wgan-clip-0.1" }
train = { steps = 400 }
"""
    runs = _load(tmp_path, text, sets=["train.steps=5", "models.wgan.d_norm=\"layer\""]).runs
    assert [(r.train.steps, r.model_options.d_norm) for r in runs] == [(5, "layer"), (5, "layer")]
    swept = text.replace('dataset = ["digits"]', 'dataset = ["digits"]\n"train.batch_size" = [8, 16]')
    runs = _load(tmp_path, swept, sets=["train.batch_size=32"]).runs
    assert sorted({r.train.batch_size for r in runs}) == [8, 16]
