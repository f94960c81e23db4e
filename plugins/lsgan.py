"""LSGAN (Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017).

The least-squares loss with the 0-1 coding a, b, c = 0, 1, 1 (eq. 9) on the paper's
LSUN architecture (fig. 3), scaled with the resolution: G is a fully connected layer
to a small map followed by 3x3 transposed convolutions, stride 2 alternating with
stride 1 at the widest stages (4w = 256 channels), then 2w and w, and a final stride-1
3x3 layer to the image, batch norm and ReLU inside, tanh out; D is DCGAN-like with
5x5 stride-2 convolutions of w, 2w, 4w, 8w channels (batch norm after the first,
LeakyReLU 0.2) and a linear output with no activation. Adam with beta1 = 0.5 and
learning rate 0.001, the paper's setting for LSGANs on the scene data sets (sec. 4.1).
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganbench import ModelContext, ModelSpec, hookimpl, opt

from ganbench_plugins.dcgan import init_weights, layout

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class LSGANOptions:
    width: int = opt(64, "base channel count (the paper's 64: G 256-256-128-64, D 64-128-256-512)", min=1)


def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    from torch import nn

    from ganbench_plugins._nets import Discriminator, ProjectedGenerator

    o: LSGANOptions = ctx.options or LSGANOptions()
    w = o.width
    c, res = ctx.image_shape[0], ctx.image_shape[1]
    start, n = layout(res)

    def stage_channels(j: int) -> int:  # the last two up-sampling stages narrow to 2w, w
        return 4 * w if j < n - 2 else (2 * w if j == n - 2 else w)

    layers: list[nn.Module] = []
    cin = 4 * w
    for j in range(n):
        cout = stage_channels(j)
        layers += [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(True)]
        if j < n - 2:  # the widest stages repeat at stride 1
            layers += [nn.ConvTranspose2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        cin = cout
    layers += [nn.ConvTranspose2d(cin, c, 3, 1, 1), nn.Tanh()]

    d_layers: list[nn.Module] = []
    cin = c
    for j in range(n):
        cout = w * 2 ** j
        d_layers += [nn.Conv2d(cin, cout, 5, 2, 2, bias=j == 0)]
        if j > 0:
            d_layers += [nn.BatchNorm2d(cout)]
        d_layers += [nn.LeakyReLU(0.2, True)]
        cin = cout
    d_layers += [nn.Flatten(), nn.Linear(cin * start * start, 1)]
    fc = nn.Sequential(nn.Linear(ctx.latent_dim, 4 * w * start * start, bias=False),
                       nn.BatchNorm1d(4 * w * start * start), nn.ReLU(True))
    G = ProjectedGenerator(fc, nn.Sequential(*layers), ctx.latent_dim, (4 * w, start, start))
    D = Discriminator(nn.Sequential(*d_layers))
    init_weights(G)
    init_weights(D)
    return G, D


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="lsgan",
        description="LSGAN: least-squares loss (a, b, c = 0, 1, 1), the paper's conv nets, Adam 1e-3 (0.5, 0.999)",
        build=build, options=LSGANOptions,
        recipe={"loss": "lsgan", "lr_g": 1e-3, "lr_d": 1e-3},
        traits=frozenset({"d_batchnorm"}), resolutions=(16, 28, 32, 64),
        paper="Mao et al., Least Squares Generative Adversarial Networks, ICCV 2017, arXiv:1611.04076"))
