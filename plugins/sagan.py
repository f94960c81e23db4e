"""SAGAN (Zhang, Goodfellow, Metaxas & Odena, "Self-Attention Generative Adversarial
Networks", ICML 2019).

Residual G and D (the SNGAN/projection-discriminator blocks the paper builds on) with
spectral normalisation in *both* networks, a self-attention layer (gamma starting at
0) on the feature map of half the image side in G and in D (16x16 for 32x32 images,
32x32 for 64x64), the hinge loss, and the two-time-scale update rule: Adam with
betas (0, 0.9), lr 1e-4 for G and 4e-4 for D, one D step per G step. With
train.conditional = true, G's batch norms take their gains and biases from the class
(conditional batch norm) and D adds a projection term <embed(y), h> to its score
(Miyato & Koyama 2018), as in the paper's class-conditional ImageNet model; without
it the same networks are unconditional. The paper's own model is for 128x128
ImageNet; at the resolutions here the blocks keep one width, 4 x ``width`` = 256
channels, as the SNGAN and BigGAN 32x32 ResNets do. For reports that describe a SAGAN with
batch norm in D too, ``d_norm`` adds it after every conv of D's blocks, and the model then
has the d_batchnorm trait, so a suite pairing it with a per-image penalty (gradient-penalty,
r1) is refused when it is loaded.
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ganbench import ModelContext, ModelSpec, hookimpl, opt

from ganbench_plugins.dcgan import layout

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class SAGANOptions:
    width: int = opt(64, "base channel count; every residual block has 4 x width channels (256)", min=2)
    attention: bool = opt(True, "self-attention at half the image side in G and D (off: an SN-ResNet GAN)")
    g_attention_at: Literal["half", "full"] = opt(
        "half", "where G's attention sits: on the map of half the image side (before the last up-block, the "
                "paper's) or on the full-size map just before the output conv")
    d_norm: Literal["none", "batch", "layer"] = opt(
        "none", "normalisation after each conv of D's residual blocks (the paper: none, spectral norm only)")


def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    from ganbench_plugins._nets import SAGANDiscriminator, SAGANGenerator

    o: SAGANOptions = ctx.options or SAGANOptions()
    c, res = ctx.image_shape[0], ctx.image_shape[1]
    start, n = layout(res)
    ch = 4 * o.width
    G = SAGANGenerator(ctx.latent_dim, c, ch, start, n, ctx.num_classes, o.attention, o.g_attention_at == "full")
    D = SAGANDiscriminator(c, ch, n, ctx.num_classes, o.attention, o.d_norm)
    return G, D


def sagan_traits(options: Any) -> frozenset[str]:
    """The paper's traits, and d_batchnorm when d_norm = "batch" adds batch norm to D's blocks."""
    base = frozenset({"can_condition", "d_spectral_norm", "g_spectral_norm", "self_attention"})
    return base | ({"d_batchnorm"} if options.d_norm == "batch" else set())


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="sagan",
        description="SAGAN: SN ResNet G and D with self-attention, hinge loss, TTUR 1e-4/4e-4 Adam (0, 0.9); "
                    "conditional BN + projection D when train.conditional",
        build=build, options=SAGANOptions,
        recipe={"loss": "hinge", "lr_g": 1e-4, "lr_d": 4e-4, "betas_g": [0.0, 0.9], "betas_d": [0.0, 0.9]},
        traits=frozenset({"can_condition", "d_spectral_norm", "g_spectral_norm", "self_attention"}),
        traits_for=sagan_traits, resolutions=(16, 28, 32, 64),
        paper="Zhang et al., Self-Attention Generative Adversarial Networks, ICML 2019, arXiv:1805.08318"))
