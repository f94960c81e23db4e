"""The GAN families as plugins: shapes at every resolution, paper-sized parameter counts,
recipes, conditional label handling, traits the suite validator relies on, spectral
norm and self-attention placement. Narrow widths keep every build cheap."""
from __future__ import annotations

import pytest
import torch

from ganbench.errors import GanbenchError
from ganbench.config import TrainConfig, from_dict, options_help
from ganbench.specs import ModelContext
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins, single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

FAMILIES = ("gan", "dcgan", "wgan", "wgan-gp", "lsgan", "acgan", "sngan", "sagan")
RESOLUTIONS = (16, 28, 32, 64)
#: narrow widths for shape tests (gan's width is its hidden units)
NARROW = {"gan": 40, "acgan": 2, "sagan": 2}


@pytest.fixture(scope="module")
def plugins():
    return fresh_plugins()


def build(plugins, name: str, res: int = 16, channels: int = 1, classes: int = 0, latent: int = 8,
          **options):
    spec = plugins.models.get(name)
    options.setdefault("width", NARROW.get(name, 4))
    opts = from_dict(spec.options, options, f"models.{name}")
    torch.manual_seed(0)
    return spec.build(ModelContext((channels, res, res), latent, classes, opts))


def scores_of(out):
    return out[0] if isinstance(out, tuple) else out


def is_conditional(plugins, name: str) -> bool:
    return "conditional" in plugins.models.get(name).traits


@pytest.mark.parametrize("res", RESOLUTIONS)
@pytest.mark.parametrize("name", FAMILIES)
def test_shapes_at_every_resolution(plugins, name, res):
    channels = 3 if res in (32, 64) else 1
    classes = 10 if is_conditional(plugins, name) else 0
    G, D = build(plugins, name, res, channels, classes)
    z = torch.randn(5, 8)
    y = torch.arange(5) if classes else None
    x = G(z, y)
    assert x.shape == (5, channels, res, res)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    out = D(x, y)
    assert scores_of(out).shape == (5,)
    if "aux_classifier" in plugins.models.get(name).traits:
        assert isinstance(out, tuple) and out[1].shape == (5, classes)
    else:
        assert isinstance(out, torch.Tensor)  # plain D returns raw scores, no tuple
    # backward reaches every parameter of both networks
    out = D(G(z, y), y)
    sum(o.sum() for o in (out if isinstance(out, tuple) else (out,))).backward()
    for net in (G, D):
        missing = [n for n, p in net.named_parameters() if p.grad is None]
        assert not missing, f"{name}: no gradient for {missing}"


@pytest.mark.parametrize("name", ["acgan", "sagan"])
def test_odd_resolution_is_a_clear_error(plugins, name):
    with pytest.raises(GanbenchError, match="resolution 18 is not supported"):
        build(plugins, name, 18, classes=10)


#: paper-scale parameter counts (G, D) at default width, 32x32x3 (gan: 28x28x1, MNIST).
#: The check is the order of magnitude: within a factor of 2 of these figures.
PAPER_PARAMS = {
    "gan": ((1, 28), (2.4e6, 1.2e6)),  # 100-1200-1200-784 ReLU; maxout 240x5, 240x5
    "dcgan": ((3, 32), (3.6e6, 2.8e6)),
    "wgan": ((3, 32), (3.6e6, 2.8e6)),  # DCGAN networks
    "wgan-gp": ((3, 32), (3.6e6, 2.8e6)),
    "lsgan": ((3, 32), (2.0e6, 1.0e6)),  # the LSUN nets scaled to 32x32
    "acgan": ((3, 32), (3.0e6, 1.6e6)),  # CIFAR-10 model: 384-192-96, 16..512
    "sngan": ((3, 32), (3.8e6, 2.9e6)),  # standard CNN (latent 128 in the paper)
    "sagan": ((3, 32), (4.3e6, 4.2e6)),  # 256-channel SN-ResNet blocks as in SNGAN/BigGAN 32x32
}


@pytest.mark.parametrize("name", FAMILIES)
def test_parameter_counts_match_the_papers_order_of_magnitude(plugins, name):
    (channels, res), (g_ref, d_ref) = PAPER_PARAMS[name]
    spec = plugins.models.get(name)
    opts = from_dict(spec.options, {}, "defaults")
    classes = 10 if is_conditional(plugins, name) else 0
    G, D = spec.build(ModelContext((channels, res, res), 100, classes, opts))
    g = sum(p.numel() for p in G.parameters())
    d = sum(p.numel() for p in D.parameters())
    assert g_ref / 2 <= g <= g_ref * 2, f"{name} G has {g / 1e6:.2f}M parameters, paper ≈ {g_ref / 1e6:.1f}M"
    assert d_ref / 2 <= d <= d_ref * 2, f"{name} D has {d / 1e6:.2f}M parameters, paper ≈ {d_ref / 1e6:.1f}M"


def test_width_defaults_are_the_papers(plugins):
    expected = {"gan": 1200, "dcgan": 64, "wgan": 64, "wgan-gp": 64, "lsgan": 64, "acgan": 16, "sngan": 64,
                "sagan": 64}
    for name, width in expected.items():
        assert from_dict(plugins.models.get(name).options, {}, "x").width == width, name


def test_recipes_are_the_papers(plugins):
    """What each model trains with: its recipe over TrainConfig's defaults (a recipe states only
    what differs), as a suite resolves it."""
    defaults = {o["name"]: o["default"] for o in options_help(TrainConfig)}
    r = {name: {**defaults, **plugins.models.get(name).recipe} for name in FAMILIES}
    for name in FAMILIES:
        assert plugins.models.get(name).paper, f"{name} cites no paper"
    assert (r["gan"]["optimizer"], r["gan"]["lr_g"], r["gan"]["optimizers"]["sgd"]["momentum"],
            r["gan"]["regularizers"]) == ("sgd", 0.1, 0.5, ["max-norm"])
    assert (r["dcgan"]["loss"], r["dcgan"]["lr_g"], r["dcgan"]["betas_g"]) == ("bce", 2e-4, [0.5, 0.999])
    assert (r["wgan"]["loss"], r["wgan"]["regularizers"], r["wgan"]["optimizer"], r["wgan"]["lr_d"],
            r["wgan"]["n_critic"]) == ("wasserstein", ["weight-clipping"], "rmsprop", 5e-5, 5)
    assert (r["wgan-gp"]["loss"], r["wgan-gp"]["regularizers"], r["wgan-gp"]["optimizer"], r["wgan-gp"]["lr_d"],
            r["wgan-gp"]["betas_d"], r["wgan-gp"]["n_critic"]) == (
        "wasserstein", ["gradient-penalty"], "adam", 1e-4, [0.0, 0.9], 5)
    assert r["lsgan"]["loss"] == "lsgan"
    assert (r["acgan"]["aux_loss"], r["acgan"]["conditional"]) == ("aux-ce", True)
    assert r["sngan"]["loss"] == "hinge"
    assert (r["sagan"]["loss"], r["sagan"]["lr_g"], r["sagan"]["lr_d"], r["sagan"]["betas_g"]) == (
        "hinge", 1e-4, 4e-4, [0.0, 0.9])


def test_traits(plugins):
    t = {name: plugins.models.get(name).traits for name in FAMILIES}
    assert "d_batchnorm" in t["dcgan"] and "d_batchnorm" in t["wgan"] and "d_batchnorm" not in t["wgan-gp"]
    assert {"critic"} <= t["wgan"] and {"critic"} <= t["wgan-gp"]
    assert {"conditional", "aux_classifier"} <= t["acgan"]
    assert "can_condition" in t["sagan"] and "d_batchnorm" not in t["sngan"] | t["sagan"]


def test_trait_claims_match_the_networks(plugins):
    """d_batchnorm is claimed exactly when D has batch norm; spectral norm where claimed."""
    for name in FAMILIES:
        spec = plugins.models.get(name)
        _, D = build(plugins, name, 16, classes=10 if is_conditional(plugins, name) else 0)
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())
        assert has_bn == ("d_batchnorm" in spec.traits), name
        has_sn = any(torch.nn.utils.parametrize.is_parametrized(m) for m in D.modules())
        assert has_sn == ("d_spectral_norm" in spec.traits), name


@pytest.mark.parametrize("name, options", [("dcgan", {"d_norm": "none"}), ("dcgan", {"d_norm": "layer"}),
                                           ("dcgan", {}), ("wgan", {"d_norm": "none"}), ("lsgan", {}),
                                           ("sagan", {"d_norm": "batch"}), ("sagan", {})])
def test_trait_claims_follow_the_options_and_match_the_networks(plugins, name, options):
    from ganbench.runspec import model_traits
    spec = plugins.models.get(name)
    opts = from_dict(spec.options, {"width": NARROW.get(name, 4), **options}, f"models.{name}")
    traits = model_traits(spec, opts, "t.toml")
    _, D = build(plugins, name, 16, **options)
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())
    assert has_bn == ("d_batchnorm" in traits), (name, options, traits)


SUITE = """
[matrix]
model = {models}
dataset = ["digits"]
[train]
steps = 10
{train}
"""


def validate(plugins, models, train: str = ""):
    return load_suite(plugins, "t.toml", text=SUITE.format(models=str(list(models)).replace("'", '"'), train=train))


def test_every_recipe_validates_on_digits(plugins):
    suite = validate(plugins, FAMILIES)
    by_model = {r.model: r for r in suite.runs}
    assert set(by_model) == set(FAMILIES)
    assert by_model["acgan"].train.conditional and by_model["acgan"].train.aux_loss == "aux-ce"
    assert by_model["gan"].optimizer_options.momentum == 0.5  # a recipe's plugin table reaches the run
    assert by_model["wgan"].train.regularizers == ["weight-clipping"]


def test_suite_overrides_a_recipes_plugin_table(plugins):
    suite = load_suite(plugins, "t.toml", text=SUITE.format(models='["gan"]', train="")
                       + "[optimizers.sgd]\nmomentum = 0.9\n")
    assert suite.runs[0].optimizer_options.momentum == 0.9


@pytest.mark.parametrize("models, train, message", [
    (["dcgan"], 'regularizers = ["gradient-penalty"]', "cannot be used with a model that has d_batchnorm"),
    (["wgan"], 'regularizers = ["gradient-penalty"]', "cannot be used with a model that has d_batchnorm"),
    (["dcgan"], 'regularizers = ["r1"]', "d_batchnorm"),
    (["dcgan"], 'aux_loss = "aux-ce"\nconditional = true', "needs a model with aux_classifier"),
    (["acgan"], "conditional = false", "needs class labels but the run is unconditional"),
    (["acgan"], 'aux_loss = ""', "has an auxiliary classifier head but train.aux_loss is empty"),
    (["dcgan"], "conditional = true", "cannot be trained conditionally"),
    (["dcgan"], 'loss = "aux-ce"', "auxiliary term, not an adversarial one"),
    (["dcgan"], 'regularizers = ["hinge"]', "not a regularizer one"),
])
def test_incompatible_combinations_are_validation_errors(plugins, models, train, message):
    with pytest.raises(GanbenchError, match=message):
        validate(plugins, models, train)


def test_compatible_combinations_validate(plugins):
    validate(plugins, ["wgan-gp", "sngan", "sagan"], 'regularizers = ["gradient-penalty"]')
    validate(plugins, ["sagan"], "conditional = true")
    validate(plugins, ["dcgan"], 'loss = "lsgan"')
    validate(plugins, ["sngan"], 'loss = "wasserstein"\nregularizers = ["gradient-penalty"]')


def test_a_penalty_follows_the_d_norm_option_at_validation(plugins):
    """A DCGAN or WGAN critic built without batch norm takes a gradient penalty; SAGAN with
    batch norm in D (report 2's) is refused when the suite is loaded, not mid-run."""
    for model, norm in (("dcgan", "none"), ("dcgan", "layer"), ("wgan", "none")):
        validate(plugins, [model], f'regularizers = ["gradient-penalty"]\n[models.{model}]\nd_norm = "{norm}"')
    with pytest.raises(GanbenchError, match="cannot be used with a model that has d_batchnorm"):
        validate(plugins, ["sagan"], 'regularizers = ["gradient-penalty"]\n[models.sagan]\nd_norm = "batch"')


def test_wgan_gp_refuses_batch_norm_as_an_option(plugins):
    with pytest.raises(GanbenchError, match="expected one of 'layer' \\| 'none'"):
        load_suite(plugins, "t.toml", text=SUITE.format(models='["wgan-gp"]', train="")
                   + '[models.wgan-gp]\nd_norm = "batch"\n')


# -- conditional label handling --------------------------------------------------------
def test_acgan_is_always_conditional(plugins):
    with pytest.raises(GanbenchError, match="class-conditional"):
        build(plugins, "acgan", classes=0)
    G, D = build(plugins, "acgan", classes=4)
    with pytest.raises(GanbenchError, match="called without labels"):
        G(torch.randn(2, 8))
    G.eval()
    z = torch.randn(1, 8).repeat(4, 1)
    x = G(z, torch.arange(4))
    assert not torch.allclose(x[0], x[1])  # same z, another class: another image
    D.eval()
    scores, logits = D(x)  # D needs no labels: it predicts them
    assert logits.shape == (4, 4)


def test_sagan_conditions_through_bn_and_projection(plugins):
    G, D = build(plugins, "sagan", classes=3)
    G.eval()
    D.eval()
    z = torch.randn(1, 8).repeat(3, 1)
    y = torch.arange(3)
    # gains/biases of conditional BN start neutral; move them to see the class take effect
    for m in G.modules():
        if hasattr(m, "gain") and isinstance(m.gain, torch.nn.Embedding):
            torch.nn.init.normal_(m.gain.weight, 0, 0.5)
    x = G(z, y)
    assert not torch.allclose(x[0], x[1])
    same = x[:1].repeat(3, 1, 1, 1)
    s = D(same, y)
    assert not torch.allclose(s[0], s[1])  # projection: one image, three labels, three scores
    with pytest.raises(GanbenchError, match="called without labels"):
        D(same)
    G0, D0 = build(plugins, "sagan", classes=0)  # unconditional: labels are not needed
    assert G0(torch.randn(2, 8)).shape == (2, 1, 16, 16) and D0(torch.zeros(2, 1, 16, 16)).shape == (2,)
    assert not any(isinstance(m, torch.nn.Embedding) for m in [*G0.modules(), *D0.modules()])


@pytest.mark.parametrize("name", [n for n in FAMILIES if n not in ("acgan",)])
def test_unconditional_models_ignore_labels(plugins, name):
    G, D = build(plugins, name)
    G.eval()
    z = torch.randn(3, 8)
    torch.testing.assert_close(G(z), G(z, torch.arange(3)))


# -- architecture details ------------------------------------------------------------
@pytest.mark.parametrize("res, side", [(16, 8), (28, 14), (32, 16), (64, 32)])
def test_sagan_attends_at_half_the_image_side(plugins, res, side):
    from ganbench_plugins._nets import SelfAttention
    G, D = build(plugins, "sagan", res, classes=0)
    seen = []
    for net in (G, D):
        for m in net.modules():
            if isinstance(m, SelfAttention):
                m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[-1]))
    D(G(torch.randn(2, 8)))
    assert seen == [side, side]


def test_self_attention_starts_as_identity_and_attends_everywhere():
    from ganbench_plugins._nets import SelfAttention
    torch.manual_seed(0)
    att = SelfAttention(16, sn=False)
    x = torch.randn(2, 16, 6, 6)
    torch.testing.assert_close(att(x), x)  # gamma = 0 at the start
    with torch.no_grad():
        att.gamma.fill_(1.0)
    x2 = x.clone()
    x2[:, :, 0, 0] += 5.0  # one corner changes ...
    delta = (att(x2) - att(x)).abs().sum(1)[:, 5, 5]
    assert (delta > 0).all()  # ... and the opposite corner's output moves: a global receptive field


@pytest.mark.parametrize("name, nets", [("sngan", "D"), ("sagan", "GD")])
def test_spectral_norm_keeps_the_largest_singular_value_at_one(plugins, name, nets):
    G, D = build(plugins, name, 16, classes=0)
    modules = {"G": G, "D": D}
    z = torch.randn(4, 8)
    for _ in range(30):  # power iterations happen in training-mode forwards
        D(G(z))
    checked = 0
    for key in nets:
        for m in modules[key].modules():
            if torch.nn.utils.parametrize.is_parametrized(m, "weight"):
                w = m.weight.detach()
                w = w.flatten(1) if w.dim() > 1 else w[None]
                sigma = torch.linalg.matrix_norm(w, ord=2).item()
                assert abs(sigma - 1.0) < 0.05, f"{name} {key}: {type(m).__name__} has sigma {sigma:.3f}"
                checked += 1
    assert checked >= 5


def test_gan_is_the_papers_mlp(plugins):
    from ganbench_plugins._nets import Maxout
    G, D = build(plugins, "gan", 28, latent=100, width=1200)
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(100, 1200), (1200, 1200), (1200, 784)]
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert [(m.units, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in D.modules())


def test_acgan_discriminator_follows_the_paper(plugins):
    _, D = build(plugins, "acgan", 32, channels=3, classes=10, width=16)
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [16, 32, 64, 128, 256, 512]
    assert [m.stride[0] for m in convs] == [2, 1, 2, 1, 2, 1]


def test_models_are_deterministic_in_eval_mode(plugins):
    for name in FAMILIES:
        classes = 10 if is_conditional(plugins, name) else 0
        G, D = build(plugins, name, classes=classes)
        G.eval()
        D.eval()
        z, y = torch.randn(3, 8), (torch.arange(3) if classes else None)
        torch.testing.assert_close(G(z, y), G(z, y))
        x = G(z, y)
        torch.testing.assert_close(scores_of(D(x, y)), scores_of(D(x, y)))
