"""The model zoo's architecture options (dcgan.ConvNetOptions for dcgan/wgan/wgan-gp, SAGAN's
d_norm and attention placement): the reports' tabled networks build from option tables with
the parameter counts the reports state, bad channel lists are errors naming the key, and at
their defaults the options leave today's networks and run ids exactly as they were."""
from __future__ import annotations

import hashlib
import json
import math
import pytest
import torch
from torch import nn

from ganbench import runspec
from ganbench.config import from_dict, options_help
from ganbench.errors import GanbenchError
from ganbench.specs import ModelContext
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins, single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def plugins():
    return fresh_plugins()


def build(plugins, name: str, shape: tuple[int, int, int], latent: int = 16, classes: int = 0, **options):
    spec = plugins.models.get(name)
    torch.manual_seed(0)
    return spec.build(ModelContext(shape, latent, classes, from_dict(spec.options, options, f"models.{name}")))


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def keras_count(net: nn.Module) -> int:
    """Parameters as Keras' model.summary() totals them: batch norm's moving mean and variance too."""
    return count(net) + sum(b.numel() for n, b in net.named_buffers() if n.endswith(("running_mean", "running_var")))


# -- defaults are today's networks, bit for bit ------------------------------------------------
#: recorded from the networks before these options existed: latent 16, torch.manual_seed(0) before
#: build, seed 1 for z (4 x 16), one CPU thread. (G params, D params, state-dict keys digest,
#: sum |G params|, sum |D params|, sum |G(z)|, sum D(G(z)))
BEFORE = {
    ("dcgan", (3, 32, 32), ()): (2760448, 2637313, "3f4dbdc7f9b3", 44899.6328938251, 42849.40849649795,
                                 2610.015237425934, 0.48594483733177185),
    ("dcgan", (3, 64, 64), (("width", 8),)): (206048, 175297, "d872388860c9", 3523.029426316075, 3011.619119024148,
                                              4646.787731911238, -1.3685602620244026),
    ("dcgan", (1, 16, 16), (("width", 4), ("d_norm", "none"))): (
        6320, 2457, "8ce03ae3c7c7", 124.91717697615604, 38.75771611084929, 60.271268216311, 0.0009911053493851796),
    ("dcgan", (3, 32, 32), (("width", 8), ("d_norm", "layer"), ("spectral_norm", True))): (
        58336, 42945, "e98c56724a5b", 1042.13224461666, 1152.7918995618973, 1037.1766435417958, 1.0603773891925812),
    ("wgan", (3, 32, 32), (("width", 8),)): (58336, 42945, "3f4dbdc7f9b3", 1042.13224461666, 777.1606077480277,
                                             1037.1766435417958, 2.871513068675995),
    ("wgan-gp", (1, 28, 28), (("width", 8),)): (33632, 10081, "94f8ce7ecbae", 581.63724268024, 192.38471619797474,
                                                239.32144098286744, -0.6399645749479532),
    ("sagan", (3, 32, 32), (("width", 4),)): (19876, 17170, "a9d52844ce5c", 1653.2200913266788, 1304.249212830473,
                                              4490.888195208303, -17.203969478607178),
    ("sagan", (1, 28, 28), (("width", 4), ("attention", False))): (
        23457, 11809, "a0bb502d5ee0", 1414.2250688299355, 846.4090754936069, 1055.5517062521467, 48.01246738433838),
}


@pytest.mark.parametrize("name, shape, options", list(BEFORE))
def test_default_options_leave_todays_networks_unchanged(plugins, name, shape, options):
    G, D = build(plugins, name, shape, **dict(options))
    torch.manual_seed(1)
    x = G(torch.randn(4, 16))
    s = D(x)
    keys = hashlib.sha256(json.dumps([list(G.state_dict()), list(D.state_dict())]).encode()).hexdigest()[:12]
    g_params, d_params, digest, g_abs, d_abs, x_abs, s_sum = BEFORE[(name, shape, options)]
    assert (count(G), count(D), keys) == (g_params, d_params, digest)  # same layers: old checkpoints load
    with torch.no_grad():
        assert math.isclose(sum(p.double().abs().sum().item() for p in G.parameters()), g_abs, rel_tol=1e-9)
        assert math.isclose(sum(p.double().abs().sum().item() for p in D.parameters()), d_abs, rel_tol=1e-9)
        assert math.isclose(x.double().abs().sum().item(), x_abs, rel_tol=1e-5)
        assert math.isclose(s.double().sum().item(), s_sum, rel_tol=1e-4, abs_tol=1e-6)


SUITE = """
[suite]
name = "zoo"
[matrix]
model = ["dcgan", "wgan", "wgan-gp", "sagan"]
dataset = ["digits"]
[train]
steps = 10
[models.dcgan]
width = 8
d_norm = "layer"
"""
#: the run ids of SUITE before these options existed (the committed tree's plugins)
IDS_BEFORE = {"dcgan": "dcgan-digits-46a222aa", "wgan": "wgan-digits-8906175a", "wgan-gp": "wgan-gp-digits-0e2a4f7e",
              "sagan": "sagan-digits-ac561d23"}
#: the options each family had when run ids were first published
ORIGINAL = {"dcgan": {"width", "d_norm", "spectral_norm"}, "wgan": {"width"}, "wgan-gp": {"width", "d_norm"},
            "sagan": {"width", "attention"}}
#: a non-default value of an added option per family
CHANGE = {"dcgan": "dropout=0.1", "wgan": "d_norm=\"none\"", "wgan-gp": "g_norm=\"none\"", "sagan": "d_norm=\"batch\""}


def test_new_options_at_their_defaults_keep_the_run_ids(plugins):
    assert {r.model: r.run_id for r in load_suite(plugins, "zoo.toml", text=SUITE).runs} == IDS_BEFORE


@pytest.mark.parametrize("name", list(ORIGINAL))
def test_every_added_option_is_hash_neutral_at_its_default(plugins, name):
    spec = plugins.models.get(name)
    added = [o for o in options_help(spec.options) if o["name"] not in ORIGINAL[name]]
    assert added
    for o in added:
        assert runspec.HASH_NEUTRAL.get(("models", name, o["name"]), "missing") == o["default"], o["name"]
        assert o["help"], f"{name}.{o['name']} has no help text"
    changed = load_suite(plugins, "zoo.toml", text=SUITE, sets=[f"models.{name}.{CHANGE[name]}"])
    assert {r.model: r.run_id for r in changed.runs}[name] != IDS_BEFORE[name]  # set, it is part of the identity


def test_the_options_are_listed_with_help(plugins):
    listed = {r["name"]: r for r in plugins.models.describe()}
    names = {o["name"] for o in listed["dcgan"]["options"]}
    assert {"g_input", "g_channels", "g_kernel", "g_norm", "g_activation", "g_slope", "d_channels", "d_strides",
            "d_kernel", "d_norm", "d_norm_first", "d_slope", "dropout", "dropout_at", "d_output", "d_dense"} <= names
    assert {o["name"] for o in listed["wgan"]["options"]} >= names - {"spectral_norm"}
    assert {"g_attention_at", "d_norm"} <= {o["name"] for o in listed["sagan"]["options"]}
    bounds = {o["name"]: o["bounds"] for o in listed["dcgan"]["options"]}
    assert bounds["dropout"] == "≥ 0 and < 1" and bounds["d_strides"] == "one of 1, 2" and bounds["g_kernel"] == "≥ 1 and ≤ 9"


# -- the reports' networks -----------------------------------------------------------------------
#: each report's tabled nets as [models.<name>] tables: (model, image shape, latent, options)
REPORT_NETS = {
    # report 1 (code): G dense -> 4x4x512, tconvs 256-128-64 (3x3) BN + ReLU, tanh; D convs 128-256-512
    # (3x3, stride 2), BN on every layer including the first, LeakyReLU 0.2; latent 128
    "report1_dcgan": ("dcgan", (3, 32, 32), 128, dict(
        g_input="dense", g_channels=[512, 256, 128, 64], g_kernel=3,
        d_channels=[128, 256, 512], d_kernel=3, d_norm_first=True, d_output="dense")),
    # report 3: Keras, no BN, LeakyReLU 0.2 in G and D, dropout in D, dense input and output (sizes
    # unstated: report 4's CIFAR-10 Keras nets, the code's stride-1 first conv)
    "report3_keras": ("dcgan", (3, 32, 32), 100, dict(
        g_input="dense", g_channels=[256, 128, 128, 128], g_kernel=[4, 4, 4, 3], g_norm="none",
        g_activation="leaky_relu", d_channels=[64, 128, 128, 256], d_strides=[1, 2, 2, 2], d_kernel=3,
        d_norm="none", dropout=0.4, dropout_at="head", d_output="dense")),
    # report 4, Fashion-MNIST: D conv 64 (5x5 s2), LeakyReLU, dropout, conv 128 (3x3 s2), dense 1,024, dropout;
    # G dense 6,272 (7x7x128) with LeakyReLU and BN, tconv 64 (5x5), tconv 1 (5x5) tanh
    "report4_fashion": ("dcgan", (1, 28, 28), 100, dict(
        g_input="dense", g_channels=[128, 64], g_kernel=5, g_activation="leaky_relu",
        d_channels=[64, 128], d_kernel=[5, 3], d_norm="none", dropout=0.4, d_output="dense", d_dense=[1024])),
    # report 4, CIFAR-10: D convs 64-128-128-256 (3x3, stride 2), LeakyReLU, dropout, no BN; G dense 4,096
    # (4x4x256), three tconvs of 128 with LeakyReLU, no BN (then a 3x3 conv to the image, tanh)
    "report4_cifar": ("dcgan", (3, 32, 32), 100, dict(
        g_input="dense", g_channels=[256, 128, 128, 128], g_kernel=[4, 4, 4, 3], g_norm="none",
        g_activation="leaky_relu", d_channels=[64, 128, 128, 256], d_kernel=3, d_norm="none",
        dropout=0.4, dropout_at="head", d_output="dense")),
    # report 5: DCGAN on MNIST with the depth increased to 1,024 channels (G 1024-512 from 7x7, D 512-1024)
    "report5_dcgan_1024": ("dcgan", (1, 28, 28), 100, dict(width=256)),
    # report 2: SAGAN, SN and BN in every conv of G and D, attention on 64 feature maps after D's first
    # conv and before G's last, Wasserstein loss (train.loss), conditional
    "report2_sagan": ("sagan", (3, 32, 32), 100, dict(width=16, d_norm="batch")),
}
#: the counts the reports state, (G, D); Keras totals include batch norm's moving statistics
STATED = {"report4_fashion": (0.87e6, 6.5e6), "report4_cifar": (1.47e6, 0.52e6)}


@pytest.mark.parametrize("key", list(REPORT_NETS))
def test_report_nets_build_with_the_right_shapes(plugins, key):
    name, shape, latent, options = REPORT_NETS[key]
    classes = 10 if name == "sagan" else 0
    G, D = build(plugins, name, shape, latent, classes, **options)
    z, y = torch.randn(2, latent), (torch.arange(2) if classes else None)
    x = G(z, y)
    assert x.shape == (2, *shape) and x.abs().max() <= 1
    out = D(x, y)
    assert out.shape == (2,)
    out.sum().backward()
    for net in (G, D):
        assert all(p.grad is not None for p in net.parameters()), key


@pytest.mark.parametrize("key", list(STATED))
def test_report4_parameter_counts_match_the_report(plugins, key):
    """Within 2% of the report's figures. Fashion-MNIST G: 846,272 trainable parameters, 858,944 counted
    as Keras does (0.87M stated: 1.3% off): the DCGAN rule drops biases before batch norm and puts batch
    norm after the 64-channel tconv too, where the report names it only after the dense layer."""
    name, shape, latent, options = REPORT_NETS[key]
    G, D = build(plugins, name, shape, latent, **options)
    g_ref, d_ref = STATED[key]
    assert abs(keras_count(G) / g_ref - 1) < 0.02, keras_count(G)
    assert abs(keras_count(D) / d_ref - 1) < 0.02, keras_count(D)


def test_report_nets_have_the_stated_layers(plugins):
    G, D = build(plugins, "dcgan", (3, 32, 32), 128, **REPORT_NETS["report1_dcgan"][3])
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [(c, (3, 3), (2, 2)) for c in (128, 256, 512)]
    d_layers = list(D.net)
    assert isinstance(d_layers[1], nn.BatchNorm2d)  # BN on the first layer too
    assert isinstance(d_layers[-1], nn.Linear) and d_layers[-1].in_features == 512 * 4 * 4
    assert G.fc[0].out_features == 4 * 4 * 512 and isinstance(G.fc[1], nn.BatchNorm1d)
    tconvs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.out_channels, m.kernel_size) for m in tconvs] == [(c, (3, 3)) for c in (256, 128, 64)]
    assert isinstance(G.net[-2], nn.Conv2d) and G.net[-2].stride == (1, 1) and isinstance(G.net[-1], nn.Tanh)

    G, D = build(plugins, "dcgan", (1, 28, 28), 100, **REPORT_NETS["report4_fashion"][3])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.4, 0.4, 0.4]
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [1024, 1]
    assert [m.negative_slope for m in G.modules() if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]
    assert [(m.out_channels, m.kernel_size) for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == \
        [(64, (5, 5)), (1, (5, 5))]

    _, D = build(plugins, "dcgan", (3, 32, 32), 100, **REPORT_NETS["report4_cifar"][3])
    layers = list(D.net)
    assert [type(m) for m in layers[-3:]] == [nn.Dropout, nn.Flatten, nn.Linear]  # dropout once, before the score
    assert not any(isinstance(m, nn.ReLU) for m in D.modules())


def test_report2_sagan_has_batch_norm_in_every_d_conv_and_trains_with_wasserstein(plugins):
    from ganbench_plugins._nets import DownBlock, SelfAttention
    _, D = build(plugins, "sagan", (3, 32, 32), 100, 10, width=16, d_norm="batch")
    blocks = [m for m in D.modules() if isinstance(m, DownBlock)]
    assert blocks and all(isinstance(b.norm1, nn.BatchNorm2d) and isinstance(b.norm2, nn.BatchNorm2d) for b in blocks)
    assert [m.f.in_channels for m in D.modules() if isinstance(m, SelfAttention)] == [64]  # 64 feature maps
    suite = load_suite(plugins, "s.toml", text="[matrix]\nmodel = [\"sagan\"]\ndataset = [\"digits\"]\n[train]\n"
                       "steps = 5\nloss = \"wasserstein\"\nconditional = true\n[models.sagan]\nwidth = 16\n"
                       "d_norm = \"batch\"\n")
    assert suite.runs[0].model_options.d_norm == "batch" and suite.runs[0].train.loss == "wasserstein"


@pytest.mark.parametrize("at, side", [("half", 16), ("full", 32)])
def test_sagan_g_attention_placement(plugins, at, side):
    from ganbench_plugins._nets import SelfAttention
    G, _ = build(plugins, "sagan", (3, 32, 32), width=2, g_attention_at=at)
    seen = []
    for m in G.modules():
        if isinstance(m, SelfAttention):
            m.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[-1]))
    assert G(torch.randn(2, 16)).shape == (2, 3, 32, 32) and seen == [side]


# -- kernels, norms, activations -----------------------------------------------------------------
@pytest.mark.parametrize("kernel", [3, 4, 5])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("g_input", ["conv", "dense"])
def test_kernel_sides_keep_28_and_32_exact(plugins, kernel, shape, g_input):
    G, D = build(plugins, "dcgan", shape, width=2, g_kernel=kernel, d_kernel=kernel, g_input=g_input)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, *shape) and D(x).shape == (3,)
    # and with a stride-1 output conv (one more G entry) and stride-1 D convs
    n = 2 if shape[1] == 28 else 3
    odd = kernel if kernel % 2 else 3
    G, D = build(plugins, "dcgan", shape, g_input=g_input, g_channels=[8] * (n + 1), g_kernel=[kernel] * n + [odd],
                 d_channels=[4, 8, 8], d_strides=[1, 2, 2], d_kernel=[odd, kernel, kernel])
    x = G(torch.randn(3, 16))
    assert x.shape == (3, *shape) and D(x).shape == (3,)


@pytest.mark.parametrize("g_norm, d_norm", [("none", "none"), ("layer", "layer"), ("batch", "none")])
def test_norm_choices_in_g_and_d(plugins, g_norm, d_norm):
    G, D = build(plugins, "dcgan", (1, 16, 16), width=2, g_norm=g_norm, d_norm=d_norm, d_norm_first=True,
                 g_activation="leaky_relu", g_slope=0.1, d_slope=0.3, dropout=0.25)
    kinds = {"batch": nn.BatchNorm2d, "layer": nn.GroupNorm}
    g_norms = [m for m in G.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    assert (len(g_norms) == 2 and all(isinstance(m, kinds[g_norm]) for m in g_norms)) if g_norm != "none" \
        else not g_norms
    d_norms = [m for m in D.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    assert (len(d_norms) == 2) if d_norm != "none" else not d_norms  # 16x16: two convs, the first included
    # biases only where no norm follows (DCGAN's rule), and the output layer of G without norm gets one
    assert all((m.bias is None) == (g_norm != "none") for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
    assert [m.negative_slope for m in G.modules() if isinstance(m, nn.LeakyReLU)] == [0.1] * 2
    assert not any(isinstance(m, nn.ReLU) for m in G.modules())
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.3}
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.25] * 2
    D.eval()
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(D(x), D(x))  # dropout is off in eval mode


def test_wgan_critic_without_batch_norm_and_wgan_gp_with_a_dense_head(plugins):
    _, D = build(plugins, "wgan", (3, 32, 32), width=2, d_norm="none")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    _, D = build(plugins, "wgan-gp", (3, 32, 32), width=2, d_output="dense", d_dense=[16])
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [16, 1]
    assert any(isinstance(m, nn.LayerNorm) for m in D.modules())  # layer norm on the dense layer too


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, where, message", [
    ({"g_channels": [64, 32, 16, 8, 4]}, "models.dcgan.g_channels", "5 channels give 4 stride-2 up-sampling layers"),
    ({"g_channels": [64]}, "models.dcgan.g_channels", "takes 3"),
    ({"g_kernel": [3, 3]}, "models.dcgan.g_kernel", "2 kernels for 3 layers"),
    ({"g_channels": [8, 8, 8, 8], "g_kernel": 4}, "models.dcgan.g_kernel", "needs an odd kernel"),
    ({"d_channels": [8, 8, 8, 8, 8, 8]}, "models.dcgan.d_channels", "6 stride-2 convs are more than 32x32 allows"),
    ({"d_channels": [8, 8], "d_strides": [2]}, "models.dcgan.d_strides", "1 strides for 2 convs"),
    ({"d_channels": [8, 8], "d_strides": [1, 2]}, "models.dcgan.d_kernel", "stride-1 conv needs an odd kernel"),
])
def test_bad_layouts_are_errors_naming_the_key(plugins, options, where, message):
    with pytest.raises(GanbenchError, match=message) as err:
        build(plugins, "dcgan", (3, 32, 32), **options)
    assert err.value.where == where and err.value.hint


def test_too_many_stride_2_convs_at_28_say_how_many_fit(plugins):
    with pytest.raises(GanbenchError, match="28 -> 14 -> 7 and then an odd side") as err:
        build(plugins, "wgan", (1, 28, 28), d_channels=[8, 16, 32])
    assert err.value.where == "models.wgan.d_channels" and "at most 2 stride-2 convs" in err.value.hint


@pytest.mark.parametrize("table, message", [
    ("g_channels = [64, 0]", "models.dcgan.g_channels: must be ≥ 1, found 0"),
    ("d_channels = [-8]", "models.dcgan.d_channels: must be ≥ 1, found -8"),
    ("d_strides = [3]", "models.dcgan.d_strides: must be one of 1, 2, found 3"),
    ("g_kernel = 0", "models.dcgan.g_kernel: must be ≥ 1 and ≤ 9, found 0"),
    ("dropout = 1.0", "models.dcgan.dropout: must be ≥ 0 and < 1"),
    ('g_activation = "tanh"', "expected one of 'relu' \\| 'leaky_relu'"),
    ("d_dense = [64]", 'd_dense needs d_output = "dense"'),
])
def test_bad_option_values_are_suite_errors(plugins, table, message):
    with pytest.raises(GanbenchError, match=message):
        load_suite(plugins, "t.toml", text="[matrix]\nmodel = [\"dcgan\"]\ndataset = [\"digits\"]\n"
                                           f"[train]\nsteps = 5\n[models.dcgan]\n{table}\n")
