"""DCGAN (Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016).

Strided (transposed) convolutions, no pooling and no hidden fully connected layers,
batch norm everywhere except G's output and D's input, ReLU in G, LeakyReLU 0.2 in D,
tanh output, weights from N(0, 0.02); Adam 2e-4, betas (0.5, 0.999), BCE.
build_generator and build_discriminator are public API for other families: WGAN and
WGAN-GP (and third-party recipes such as ganbench-ragan) reuse them and change only
D's normalisation and the recipe.
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ganbench import GanbenchError, ModelContext, ModelSpec, hookimpl, opt

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class DCGANOptions:
    width: int = opt(64, "base channel count (the paper's 64 for 32x32: G 3.4M, D 2.6M parameters)", min=1)
    d_norm: Literal["batch", "layer", "none"] = opt("batch", "normalisation in D's hidden layers")
    spectral_norm: bool = opt(False, "spectral normalisation on D's weights")


def layout(resolution: int) -> tuple[int, int]:
    """(start side, number of stride-2 stages): 32 -> (4, 3), 28 -> (7, 2), 64 -> (4, 4)."""
    n = 0
    while resolution % 2 ** (n + 1) == 0 and resolution // 2 ** (n + 1) >= 4:
        n += 1
    start = resolution // 2 ** n
    if n == 0 or start > 8:
        raise GanbenchError(f"resolution {resolution} is not supported by the DCGAN layout",
                            hint="use a side of the form s * 2**k with s in 4..8 and k ≥ 1 (16, 28, 32, 64, 128)")
    return start, n


def init_weights(module: "nn.Module") -> None:
    """N(0, 0.02) for convolutions, N(1, 0.02) and zero bias for norm layers (paper, sec. 4)."""
    import torch.nn as nn
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_generator(ctx: ModelContext, width: int) -> "nn.Module":
    import torch.nn as nn

    from ganbench_plugins._nets import Generator

    c, res, _ = ctx.image_shape[0], ctx.image_shape[1], ctx.image_shape[2]
    start, n = layout(res)
    chans = [width * 2 ** (n - j) for j in range(n)]  # 32x32, width 64: 512, 256, 128
    layers = [nn.ConvTranspose2d(ctx.latent_dim, chans[0], start, 1, 0, bias=False),
              nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
    for a, b in zip(chans, chans[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(chans[-1], c, 4, 2, 1, bias=False), nn.Tanh()]
    g = Generator(nn.Sequential(*layers), ctx.latent_dim)
    init_weights(g)
    return g


def build_discriminator(ctx: ModelContext, width: int, norm: str = "batch",
                        spectral: bool = False) -> "nn.Module":
    import torch.nn as nn

    from ganbench_plugins._nets import Discriminator

    c, res = ctx.image_shape[0], ctx.image_shape[1]
    start, n = layout(res)
    chans = [width * 2 ** (j + 1) for j in range(n)]  # 32x32, width 64: 128, 256, 512
    sn = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)

    def norm_layer(ch: int, side: int) -> nn.Module:
        if norm == "batch":
            return nn.BatchNorm2d(ch)
        if norm == "layer":
            return nn.GroupNorm(1, ch)  # layer norm over (C, H, W), as WGAN-GP suggests
        return nn.Identity()

    layers = [sn(nn.Conv2d(c, chans[0], 4, 2, 1, bias=norm == "none")), nn.LeakyReLU(0.2, True)]
    side = res // 2
    for a, b in zip(chans, chans[1:]):
        side //= 2
        layers += [sn(nn.Conv2d(a, b, 4, 2, 1, bias=norm == "none")), norm_layer(b, side), nn.LeakyReLU(0.2, True)]
    layers += [sn(nn.Conv2d(chans[-1], 1, start, 1, 0))]
    d = Discriminator(nn.Sequential(*layers))
    init_weights(d)
    return d


def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    o: DCGANOptions = ctx.options or DCGANOptions()
    return build_generator(ctx, o.width), build_discriminator(ctx, o.width, o.d_norm, o.spectral_norm)


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="dcgan",
        description="DCGAN: strided-conv G/D with batch norm, BCE, Adam 2e-4 (0.5, 0.999)",
        build=build, options=DCGANOptions,
        recipe={},  # TrainConfig's defaults are the DCGAN paper's
        traits=frozenset({"d_batchnorm"}), resolutions=(16, 28, 32, 64),
        paper="Radford et al., ICLR 2016, arXiv:1511.06434"))
