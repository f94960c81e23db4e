"""Suite parsing: matrix expansion, overrides, --set/--filter, run ids, and the
message every malformed suite gets (file, key path, what was found, a hint)."""
from __future__ import annotations

import pytest

from ganbench.errors import GanbenchError
from ganbench.suite import load_suite

BASE = """
[suite]
name = "s"
[matrix]
model = ["dcgan"]
dataset = ["digits"]
latent_dim = [16, 64]
seed = [0, 1, 2]
[train]
steps = 10
[models.dcgan]
width = 8
"""


def load(plugins, text, sets=(), filters=()):
    return load_suite(plugins, "suites/x.toml", sets, filters, text=text)


def test_matrix_is_the_cartesian_product(plugins):
    suite = load(plugins, BASE)
    assert len(suite.runs) == 6
    assert [r.coords["latent_dim"] for r in suite.runs] == [16, 16, 16, 64, 64, 64]
    assert all(r.train.latent_dim == r.coords["latent_dim"] for r in suite.runs)
    assert suite.runs[0].model_options.width == 8
    assert suite.runs[0].train.steps == 10


def test_model_recipe_fills_train_defaults_and_suite_overrides_it(plugins):
    run = load(plugins, BASE).runs[0]
    assert run.train.lr_g == 2e-4 and run.train.betas_g == [0.5, 0.999] and run.train.loss == "bce"
    run = load(plugins, BASE.replace("steps = 10", "steps = 10\nlr_g = 1e-3")).runs[0]
    assert run.train.lr_g == 1e-3 and run.train.lr_d == 2e-4


def test_dotted_axes_and_bare_train_keys(plugins):
    text = BASE + '\n'
    text = text.replace('seed = [0, 1, 2]', 'seed = [0]\n"train.n_critic" = [1, 2]\n"models.dcgan.width" = [4, 8]')
    suite = load(plugins, text)
    assert len(suite.runs) == 8
    assert {(r.train.n_critic, r.model_options.width) for r in suite.runs} == {(1, 4), (1, 8), (2, 4), (2, 8)}
    suite = load(plugins, BASE.replace("seed = [0, 1, 2]", "n_critic = [3]"))
    assert suite.runs[0].train.n_critic == 3


def test_override_applies_where_match_fits(plugins):
    text = BASE + """
[[override]]
match = { latent_dim = 64 }
train = { optimizer = "rmsprop", lr_d = 5e-5, n_critic = 5 }
"""
    suite = load(plugins, text)
    for r in suite.runs:
        if r.coords["latent_dim"] == 64:
            assert (r.train.optimizer, r.train.lr_d, r.train.n_critic) == ("rmsprop", 5e-5, 5)
        else:
            assert (r.train.optimizer, r.train.n_critic) == ("adam", 1)


def test_narrowing_an_axis_with_set_leaves_its_overrides_idle_but_a_typo_still_fails(plugins):
    text = BASE + """
[[override]]
match = { latent_dim = 64 }
train = { n_critic = 5 }
"""
    runs = load(plugins, text, sets=["matrix.latent_dim=[16]"]).runs  # as --filter latent_dim=16 would
    assert [r.train.n_critic for r in runs] == [1, 1, 1]
    with pytest.raises(GanbenchError, match="matches no run"):  # the file's own axis: still a typo
        load(plugins, text.replace("latent_dim = 64 }", "latent_dim = 65 }"))
    with pytest.raises(GanbenchError, match="matches no run"):  # a --set of another axis excuses nothing
        load(plugins, text.replace("latent_dim = 64 }", "latent_dim = 65 }"), sets=["matrix.seed=[0]"])


def test_override_beats_matrix_coordinate_and_coords_show_the_result(plugins):
    text = BASE.replace("seed = [0, 1, 2]", 'optimizer = ["adam"]') + """
[[override]]
match = { latent_dim = 16 }
train = { optimizer = "sgd" }
"""
    suite = load(plugins, text)
    assert {r.coords["latent_dim"]: r.coords["optimizer"] for r in suite.runs} == {16: "sgd", 64: "adam"}


def test_set_and_filter(plugins):
    suite = load(plugins, BASE, sets=["train.steps=200", "matrix.latent_dim=[8]", 'matrix.seed=[5]'])
    assert len(suite.runs) == 1 and suite.runs[0].train.steps == 200 and suite.runs[0].coords == \
        {"model": "dcgan", "dataset": "digits", "latent_dim": 8, "seed": 5}
    suite = load(plugins, BASE, filters=["latent_dim=64", "seed=1", "seed=2"])
    assert [(r.coords["latent_dim"], r.coords["seed"]) for r in suite.runs] == [(64, 1), (64, 2)]
    suite = load(plugins, BASE, sets=['models.dcgan.width=4'])
    assert suite.runs[0].model_options.width == 4


def test_run_ids_are_stable_readable_and_change_with_config(plugins):
    a = load(plugins, BASE)
    b = load(plugins, BASE)
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    assert a.runs[0].run_id.startswith("dcgan-digits-z16-s0-")
    assert len({r.run_id for r in a.runs}) == 6
    c = load(plugins, BASE, sets=["train.lr_d=1e-3"])
    assert c.runs[0].run_id != a.runs[0].run_id
    e = load(plugins, BASE, sets=["train.steps=11"])  # the budget: a raised one continues the same run
    assert e.runs[0].run_id == a.runs[0].run_id
    d = load(plugins, BASE, sets=["train.log_every=7"])  # changes no number: same id
    assert d.runs[0].run_id == a.runs[0].run_id


def test_classes_axis_goes_to_the_dataset(plugins):
    text = BASE.replace("seed = [0, 1, 2]", 'classes = [["3"], ["5", "8"]]')
    suite = load(plugins, text)
    assert [r.dataset_options.classes for r in suite.runs[:2]] == [["3"], ["5", "8"]]
    assert suite.runs[1].run_id.startswith("dcgan-digits-z16-5+8-")


# Every malformed suite: (what to change, expected fragments of the message)
MALFORMED = [
    ("model = [\"dcgan\"]", "model = [\"dcgann\"]", ["suites/x.toml: matrix.model[0]", "unknown model 'dcgann'",
                                                   "did you mean 'dcgan'"]),
    ("model = [\"dcgan\"]", "model = \"dcgan\"", ["matrix.model", "non-empty list", "model = [\"dcgan\"]"]),
    ("model = [\"dcgan\"]\n", "", ["matrix.model is required"]),
    ("dataset = [\"digits\"]", "dataset = [\"digts\"]", ["matrix.dataset[0]", "unknown dataset 'digts'",
                                                      "did you mean 'digits'"]),
    ("steps = 10", "steps = \"10\"", ["train.steps", "expected an integer, found string '10'", "remove the quotes"]),
    ("steps = 10", "stpes = 10", ["train.stpes", "unknown key 'stpes'", "did you mean 'steps'"]),
    ("steps = 10", "steps = -5", ["suites/x.toml: train.steps: must be ≥ 1 and ≤ 1000000000, found -5"]),
    ("steps = 10", "steps = 10\noptimizer = \"adamm\"", ["train.optimizer", "unknown optimizer 'adamm'",
                                                        "did you mean 'adam'"]),
    ("steps = 10", "steps = 10\nloss = \"bec\"", ["train.loss", "unknown loss 'bec'", "did you mean 'bce'"]),
    ("width = 8", "widht = 8", ["models.dcgan.widht", "unknown key 'widht'", "did you mean 'width'"]),
    ("[models.dcgan]", "[models.dcgam]", ["models.dcgam", "unknown model 'dcgam'"]),
    ("[train]", "[trian]", ["unknown table 'trian'", "did you mean 'train'"]),
    ("seed = [0, 1, 2]", "sead = [0, 1, 2]", ["unknown matrix axis 'sead'", "did you mean 'seed'"]),
    ("seed = [0, 1, 2]", "seed = []", ["matrix.seed", "non-empty list"]),
    ("seed = [0, 1, 2]", "seed = [0, \"one\"]", ["matrix.seed[1]", "expected an integer"]),
    ("steps = 10", "steps = 10\nbetas_g = [0.5]", ["train.betas_g must be two numbers"]),
    ("steps = 10", "steps = 10\nlabel_smoothing = 1.5", ["train.label_smoothing: must be ≥ 0 and < 1, found 1.5"]),
    ("steps = 10", "steps = 10\nlabel_smoothing = 0.1\nloss = \"hinge\"",
     ["train.label_smoothing", "no meaning for the 'hinge' loss", "label_smoothing = 0"]),
    ("[train]", "[metrics]\nreference_split = \"test\"\n[train]",
     ["metrics.reference_split", "digits has one split, 'train'"]),
    ("steps = 10", "steps = 10\ndevice = \"gpu\"", ["train.device", "expected auto, cpu, cuda or cuda:N"]),
    ("steps = 10", "steps = 10\nlatent_dist = \"gaussian\"", ["train.latent_dist", "expected one of 'normal' | 'uniform'"]),
    ("[train]", "[metrics]\nnames = [\"fdi\"]\n[train]", ["metrics.names", "unknown metric 'fdi'"]),
    ("[train]", "[metrics]\nprimary = \"fid_inception\"\n[train]", ["metrics.primary 'fid_inception' is not a score"]),
    ("[train]", "[[override]]\ntrain = { steps = 5 }\n[train]", ["override[0].match", "needs a `match` table"]),
    ("[train]", "[[override]]\nmatch = { colour = 1 }\n[train]", ["override[0].match.colour", "unknown axis 'colour'"]),
    ("[train]", "[[override]]\nmatch = { seed = 1 }\ntrain = { stepz = 5 }\n[train]",
     ["override[0].train.stepz", "did you mean 'steps'"]),
    ("[suite]", "[suite\n", ["not valid TOML"]),
    ("name = \"s\"", "name = \"my suite!\"", ["suite.name must be a plain folder name"]),
    ("steps = 10", "steps = 10\nregularizers = [\"bce\"]", ["'bce' is a adversarial term, not a regularizer"]),
    ("steps = 10", "steps = 10\nprecision = \"bf16\"\ndevice = \"cpu\"", ["precision 'bf16' is only used on CUDA"]),
    ("[models.dcgan]", "[datasets.digits]\nclasses = [\"3\"]\nresolution = 12\n[models.dcgan]", []),
    ("[models.dcgan]", "[datasets.digits]\nchannels = 2\n[models.dcgan]", ["datasets.digits.channels: must be one of 0, 1, 3, found 2"]),
]


@pytest.mark.parametrize("old,new,fragments", MALFORMED, ids=[m[1][:30] for m in MALFORMED])
def test_malformed_suites_say_where_and_how(plugins, old, new, fragments):
    text = BASE.replace(old, new, 1)
    assert text != BASE
    if not fragments:  # valid after all (a resolution the DCGAN layout rejects is checked at build)
        load(plugins, text)
        return
    with pytest.raises(GanbenchError) as exc:
        load(plugins, text)
    msg = str(exc.value)
    assert "suites/x.toml" in msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_missing_suite_file(plugins):
    with pytest.raises(GanbenchError, match="suite file not found: nope.toml"):
        load_suite(plugins, "nope.toml")


def test_bad_set_and_filter(plugins):
    with pytest.raises(GanbenchError, match="--set expects KEY=VALUE"):
        load(plugins, BASE, sets=["train.steps"])
    with pytest.raises(GanbenchError, match="unknown table 'trainn'"):
        load(plugins, BASE, sets=["trainn.steps=3"])
    with pytest.raises(GanbenchError, match="not a matrix axis of this suite"):
        load(plugins, BASE, filters=["optimizer=adam"])


def test_every_shipped_suite_parses(plugins, root):
    suite = load_suite(plugins, root / "suites" / "quickstart.toml")
    assert len(suite.runs) == 4 and suite.name == "quickstart"


def test_set_a_dotted_matrix_axis(plugins):
    for key in ('matrix."train.n_critic"', "matrix.train.n_critic"):
        suite = load(plugins, BASE, sets=[f"{key}=[1, 2]", "matrix.seed=[0]", "matrix.latent_dim=[16]"])
        assert [r.train.n_critic for r in suite.runs] == [1, 2]
