"""SNGAN (Miyato et al., "Spectral Normalization for Generative Adversarial Networks",
ICLR 2018).

The paper's "standard CNN" (appendix B, table 3) with spectral normalisation on every
layer of D and the hinge loss. G: a dense layer to a 4x4 map of 512 channels, 4x4
stride-2 transposed convolutions to 256, 128, 64 channels with batch norm and ReLU,
a 3x3 convolution to the image and tanh. D: pairs of a 3x3 stride-1 and a 4x4 stride-2
convolution of 64, 128, 256 channels, a 3x3 convolution of 512, LeakyReLU 0.1, and a
dense layer to one score. Adam lr 2e-4, betas (0.5, 0.999), one D step per G step
(setting C of the paper's table 1). ``width`` (64) scales every layer; other
resolutions change the number of stages (28 -> 2 from 7x7, 64 -> 4 from 4x4).
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganbench import ModelContext, ModelSpec, hookimpl, opt

from ganbench_plugins.dcgan import layout

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class SNGANOptions:
    width: int = opt(64, "base channel count (the paper's 64: G 512-256-128-64, D 64..512)", min=1)


def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    from torch import nn

    from ganbench_plugins._nets import Discriminator, ProjectedGenerator, spectral

    o: SNGANOptions = ctx.options or SNGANOptions()
    w = o.width
    c, res = ctx.image_shape[0], ctx.image_shape[1]
    start, n = layout(res)
    top = w * 2 ** n  # 512 for 32x32
    fc = nn.Sequential(nn.Linear(ctx.latent_dim, top * start * start), nn.BatchNorm1d(top * start * start),
                       nn.ReLU(True))
    layers: list[nn.Module] = []
    cin = top
    for j in range(n):
        cout = w * 2 ** (n - 1 - j)
        layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(True)]
        cin = cout
    layers += [nn.Conv2d(cin, c, 3, 1, 1), nn.Tanh()]
    G = ProjectedGenerator(fc, nn.Sequential(*layers), ctx.latent_dim, (top, start, start))

    sn = spectral(True)
    d_layers: list[nn.Module] = []
    cin = c
    for j in range(n):
        ch = w * 2 ** j
        d_layers += [sn(nn.Conv2d(cin, ch, 3, 1, 1)), nn.LeakyReLU(0.1, True),
                     sn(nn.Conv2d(ch, ch, 4, 2, 1)), nn.LeakyReLU(0.1, True)]
        cin = ch
    d_layers += [sn(nn.Conv2d(cin, top, 3, 1, 1)), nn.LeakyReLU(0.1, True),
                 nn.Flatten(), sn(nn.Linear(top * start * start, 1))]
    D = Discriminator(nn.Sequential(*d_layers))
    return G, D


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="sngan",
        description="SNGAN: standard CNN, spectral norm on every D layer, hinge loss, Adam 2e-4 (0.5, 0.999)",
        build=build, options=SNGANOptions,
        recipe={"loss": "hinge"},
        traits=frozenset({"d_spectral_norm"}), resolutions=(16, 28, 32, 64),
        paper="Miyato et al., Spectral Normalization for Generative Adversarial Networks, ICLR 2018, "
              "arXiv:1802.05957"))
