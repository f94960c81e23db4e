"""Every speed-up keeps the maths: ganbench's fast paths against plain PyTorch.

The reference is ``ganbench.bench.PlainLoop`` fed the Trainer's random generator: the loop a
user writes by hand (for-loop Adam, ``zero_grad()``, D's weight gradients computed in the G
step, contiguous tensors). After a few steps the losses and the weights of G and D must
match: exactly where only the order of independent work changed, within float tolerance
where kernels differ (fused optimizers, channels_last convolutions).
"""
from __future__ import annotations

import os

import pytest
import torch

from ganbench.bench import GanbenchLoop, PlainLoop, load_data, make_run
from ganbench.sampling import CPU_SAMPLE_CHUNK, make_generator, quantize, sample_latent
from ganbench.specs import ModelContext

MODELS = ["dcgan", "wgan-gp", "sagan"]
WIDTH = {"dcgan": 8, "wgan-gp": 8, "sagan": 4}  # sagan's blocks have 4 x width channels
STEPS = 3


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: fewer kernel choices between the two runs, and less noise on a
    shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _runs(plugins, model: str, train: dict | None = None, steps: int = STEPS, same_optimizer: bool = False):
    run = make_run(plugins, model, WIDTH[model], batch_size=8, resolution=16, train={"log_every": 1, **(train or {})})
    data = load_data(plugins, run)
    ours = GanbenchLoop(plugins, run, data)
    if same_optimizer:  # the plain loop's for-loop Adam in the Trainer: isolates the loop itself
        t, tr = run.train, ours.trainer
        tr.opt_g = torch.optim.Adam(tr.G.parameters(), lr=t.lr_g, betas=tuple(t.betas_g), foreach=False)
        tr.opt_d = torch.optim.Adam(tr.D.parameters(), lr=t.lr_d, betas=tuple(t.betas_d), foreach=False)
    ours.fit(steps, log_every=1)
    # built after the Trainer has trained: both seed torch's global RNG the same way
    plain = PlainLoop(plugins, run, data, "tensor", generator=torch.Generator().manual_seed(run.train.seed),
                      optimizer_impl={"foreach": False})
    init = {"G": {k: v.clone() for k, v in plain.G.state_dict().items()},
            "D": {k: v.clone() for k, v in plain.D.state_dict().items()}}
    for _ in range(steps):
        plain.step()
    return ours, plain, init


def _losses_match(ours: GanbenchLoop, plain: PlainLoop, rel: float) -> None:
    got = [(s["loss_d"], s["loss_g"]) for s in ours.losses]
    assert len(got) == len(plain.history) == STEPS
    for step, (a, b) in enumerate(zip(got, plain.history), 1):
        assert a == pytest.approx(b, rel=rel, abs=rel), f"losses differ at step {step}: {a} vs {b}"


def _nets(ours: GanbenchLoop, plain: PlainLoop):
    return (("G", ours.trainer.G, plain.G), ("D", ours.trainer.D, plain.D))


def _update_gap(mine: torch.nn.Module, ref: torch.nn.Module, init: dict) -> float:
    """||(w_ours - w0) - (w_plain - w0)|| / ||w_plain - w0|| over all float weights and buffers.

    Rounding-level differences stay far below 1e-2. (Per element they can reach Adam's step
    size: a bias right before a batch norm has a zero gradient in exact arithmetic, so its
    gradient is rounding noise, which Adam normalises to a full-size step.)"""
    ref_sd, num, den = ref.state_dict(), 0.0, 0.0
    for key, value in mine.state_dict().items():
        if value.is_floating_point():
            d_ref = ref_sd[key].double() - init[key].double()
            num += (value.double() - ref_sd[key].double()).pow(2).sum().item()
            den += d_ref.pow(2).sum().item()
    return (num / den) ** 0.5 if den else num ** 0.5


@pytest.mark.parametrize("model", MODELS)
def test_trainer_loop_is_the_plain_loop_bit_for_bit(plugins, model):
    """With the plain loop's optimizer, the Trainer's loop (no D weight gradients in the G step,
    zero_grad(set_to_none=True), the fake batch reused, losses summed on the device and read
    once per log interval, batches indexed from the uint8 tensor) gives bit-identical weights."""
    ours, plain, _ = _runs(plugins, model, {"channels_last": False}, same_optimizer=True)
    _losses_match(ours, plain, rel=1e-6)
    for name, mine, ref in _nets(ours, plain):
        sd_ref = ref.state_dict()
        for key, value in mine.state_dict().items():
            assert torch.equal(value, sd_ref[key]), f"{name}.{key} differs"


@pytest.mark.parametrize("model", MODELS)
def test_default_trainer_matches_plain_loop(plugins, model):
    """ganbench's defaults (fused Adam on top of the loop above) against the plain loop."""
    ours, plain, init = _runs(plugins, model, {"channels_last": False})
    assert ours.trainer.opt_d.param_groups[0].get("fused"), "adam should use the fused kernel on CPU"
    _losses_match(ours, plain, rel=1e-4)
    for name, mine, ref in _nets(ours, plain):
        assert _update_gap(mine, ref, init[name]) < 1e-2, name


@pytest.mark.parametrize("model", MODELS)
def test_channels_last_matches_plain_loop(plugins, model):
    ours, plain, init = _runs(plugins, model, {"channels_last": True})
    assert ours.trainer.fmt == torch.channels_last
    _losses_match(ours, plain, rel=1e-3)
    for name, mine, ref in _nets(ours, plain):
        assert _update_gap(mine, ref, init[name]) < 1e-2, name


def test_channels_last_auto_is_on_for_conv_nets_only():
    from torch import nn

    from ganbench.train import use_channels_last

    from ganbench.config import TrainConfig

    assert TrainConfig().channels_last is None  # unset = auto, the default
    conv, mlp = nn.Conv2d(3, 4, 3), nn.Linear(3, 4)
    assert use_channels_last(None, conv, mlp) and not use_channels_last(None, mlp)
    assert not use_channels_last(False, conv) and use_channels_last(True, mlp)


def test_g_step_computes_no_d_weight_gradients(plugins):
    """The G step backpropagates through D to the images only: D's weight gradients are those
    its own step left, untouched (a plain loop computes them again and throws them away)."""
    run = make_run(plugins, "dcgan", 8, batch_size=8, resolution=16)
    tr = GanbenchLoop(plugins, run, load_data(plugins, run)).trainer
    tr.d_step(keep_graph=True)
    before = {n: p.grad.clone() for n, p in tr.D.named_parameters()}
    tr.opt_g.zero_grad(set_to_none=True)
    tr.g_step()
    for n, p in tr.D.named_parameters():
        assert torch.equal(p.grad, before[n]), n
        assert p.requires_grad, "D must be trainable again after the G step"
    assert all(p.grad is not None for p in tr.G.parameters())


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "adagrad"])
def test_fused_optimizers_match_the_for_loop(plugins, name):
    spec = plugins.optimizers.get(name)
    opts = spec.options() if spec.options else None
    if name == "sgd":
        from ganbench_plugins.optimizers import SGDOptions
        opts = SGDOptions(momentum=0.9)
    torch.manual_seed(0)
    shapes = [(16, 8, 3, 3), (16,), (4, 100), (1,)]
    a = [torch.randn(s, requires_grad=True) for s in shapes]
    b = [p.detach().clone().requires_grad_(True) for p in a]
    fast = spec.build(a, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-4, options=opts)
    assert fast.param_groups[0].get("fused"), f"{name} should be fused on CPU"
    kw = {"betas": (0.5, 0.999)} if name in ("adam", "adamw") else {"momentum": 0.9} if name == "sgd" else {}
    ref = getattr(torch.optim, {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "adagrad": "Adagrad"}[name])(
        b, lr=1e-2, weight_decay=1e-4, foreach=False, **kw)
    for _ in range(5):
        grads = [torch.randn(s) for s in shapes]
        for p, q, g in zip(a, b, grads):
            p.grad, q.grad = g.clone(), g.clone()
        fast.step()
        ref.step()
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def _plain_images(G, z, y):
    G.eval()
    with torch.no_grad():
        return quantize(G(z, y))


@pytest.mark.parametrize("model,conditional", [("dcgan", False), ("sagan", True)])
def test_sampler_matches_plain_sampling(plugins, model, conditional):
    """make_generator (channels_last copy, CPU chunks, inference mode) gives the images a plain
    G(z) under no_grad gives, leaves G's layout and mode alone, and returns NCHW uint8."""
    spec = plugins.models.get(model)
    opts = spec.options(width=WIDTH[model])
    torch.manual_seed(0)
    G, _ = spec.build(ModelContext(image_shape=(3, 16, 16), latent_dim=32, num_classes=10 if conditional else 0,
                                   options=opts))
    G.train()
    pool = torch.arange(10) if conditional else None
    batch, n = 2 * CPU_SAMPLE_CHUNK + 8, 2 * CPU_SAMPLE_CHUNK + 40  # several chunks and a ragged end
    images, labels = make_generator(G, 32, "normal", torch.device("cpu"), pool, batch, seed=5)(n)
    assert G.training and all(p.is_contiguous() for p in G.parameters())
    assert images.dtype == torch.uint8 and images.shape == (n, 3, 16, 16) and images.is_contiguous()
    gen = torch.Generator().manual_seed(5)
    want = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        z = sample_latent(b, 32, "normal", torch.device("cpu"), gen)
        want.append(_plain_images(G, z, labels[start:start + b] if conditional else None))
    want_t = torch.cat(want)
    diff = (images.int() - want_t.int()).abs()
    assert diff.max() <= 1, "a pixel moved by more than one level"
    assert (diff > 0).float().mean() < 1e-3, "more than 0.1% of the pixels differ"


@pytest.mark.skipif(not os.environ.get("GANBENCH_TEST_COMPILE"),
                    reason="torch.compile takes 30-40 s cold on 2 CPU cores; set GANBENCH_TEST_COMPILE=1")
def test_compiled_trainer_matches_plain_loop(plugins):
    ours, plain, init = _runs(plugins, "dcgan", {"compile": True, "channels_last": False})
    _losses_match(ours, plain, rel=1e-3)
    for name, mine, ref in _nets(ours, plain):
        assert _update_gap(mine, ref, init[name]) < 1e-2, name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="host-device syncs only exist with CUDA")
def test_training_step_has_no_host_device_sync(plugins):
    """cuda sync debug mode raises on any synchronising call inside the steps."""
    run = make_run(plugins, "wgan-gp", 8, batch_size=8, resolution=16, train={"device": "cuda"})
    tr = GanbenchLoop(plugins, run, load_data(plugins, run), device="cuda").trainer
    tr.train_step()  # first step: lazy initialisation may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            tr.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_conv_bn_folding_keeps_the_eval_function(plugins):
    """The sampler folds DCGAN G's eval-mode batch norms into its transposed convolutions."""
    import copy

    from ganbench.sampling import fuse_conv_bn

    spec = plugins.models.get("dcgan")
    torch.manual_seed(0)
    G, _ = spec.build(ModelContext(image_shape=(3, 32, 32), latent_dim=16, num_classes=0, options=spec.options(width=8)))
    G.train()
    for _ in range(3):  # running statistics away from their initial values
        G(torch.randn(32, 16))
    G.eval()
    fused = copy.deepcopy(G)
    assert fuse_conv_bn(fused) == 3  # every BatchNorm2d of the 32x32 layout
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    z = torch.randn(16, 16)
    with torch.no_grad():
        assert torch.allclose(fused(z), G(z), atol=1e-5)
    G.train()
    assert fuse_conv_bn(copy.deepcopy(G)) == 0  # training-mode batch norm is batch statistics: left alone
