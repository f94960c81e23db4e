"""WGAN and WGAN-GP: a Wasserstein critic with two ways of keeping it Lipschitz.

``wgan`` — Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017. The DCGAN
networks (the critic keeps batch norm, as in the paper's experiments) with no
sigmoid, the Wasserstein loss, weights clipped to [-0.01, 0.01] after every critic
step, RMSprop with lr 5e-5 and 5 critic steps per G step (Algorithm 1). The paper's
100 critic steps for the first 25 G steps (and every 500th) are not reproduced.

``wgan-gp`` — Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
The same networks, but the critic has no batch norm (layer norm, the paper's
suggestion, or none), a gradient penalty with lambda = 10 on random interpolates
replaces clipping, Adam lr 1e-4 with betas (0, 0.9), 5 critic steps (Algorithm 1).

Both take DCGAN's network options (dcgan.ConvNetOptions: channel lists, kernels, dense
layers, norms, dropout), so a report's WGAN can keep its DCGAN's architecture; wgan's
d_norm = "none" is a clipped critic without batch norm.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ganbench import ModelContext, ModelSpec, hookimpl, opt

from ganbench_plugins.dcgan import ConvNetOptions, build_discriminator, build_generator, d_norm_traits

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class WGANOptions(ConvNetOptions):
    width: int = opt(64, "base channel count (DCGAN's 64)", min=1)
    d_norm: Literal["batch", "layer", "none"] = opt("batch", "critic normalisation (the paper keeps batch norm)")


@dataclass(frozen=True)
class WGANGPOptions(ConvNetOptions):
    width: int = opt(64, "base channel count (DCGAN's 64)", min=1)
    d_norm: Literal["layer", "none"] = opt("layer", "critic normalisation; never batch norm, which breaks "
                                                    "the per-image gradient penalty")


def build_wgan(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    o: WGANOptions = ctx.options or WGANOptions()
    return (build_generator(ctx, o.width, o, "wgan"),
            build_discriminator(ctx, o.width, o.d_norm, options=o, family="wgan"))


def build_wgan_gp(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    o: WGANGPOptions = ctx.options or WGANGPOptions()
    return (build_generator(ctx, o.width, o, "wgan-gp"),
            build_discriminator(ctx, o.width, o.d_norm, options=o, family="wgan-gp"))


def wgan_traits(options: Any) -> frozenset[str]:
    """A critic, with d_batchnorm only when d_norm = "batch" (the paper's; "none" is the
    clipped critic without batch norm)."""
    return d_norm_traits(options) | {"critic"}


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="wgan",
        description="WGAN: DCGAN nets as a critic, Wasserstein loss, weight clipping 0.01, RMSprop 5e-5, 5 critic steps",
        build=build_wgan, options=WGANOptions,
        recipe={"loss": "wasserstein", "regularizers": ["weight-clipping"], "optimizer": "rmsprop",
                "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5},
        traits=frozenset({"d_batchnorm", "critic"}), resolutions=(16, 28, 32, 64),
        traits_for=wgan_traits,
        paper="Arjovsky et al., Wasserstein GAN, ICML 2017, arXiv:1701.07875"))
    registry.add(ModelSpec(
        name="wgan-gp",
        description="WGAN-GP: critic without batch norm, gradient penalty 10, Adam 1e-4 (0, 0.9), 5 critic steps",
        build=build_wgan_gp, options=WGANGPOptions,
        recipe={"loss": "wasserstein", "regularizers": ["gradient-penalty"], "lr_g": 1e-4, "lr_d": 1e-4,
                "betas_g": [0.0, 0.9], "betas_d": [0.0, 0.9], "n_critic": 5},
        traits=frozenset({"critic"}), resolutions=(16, 28, 32, 64),
        paper="Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017, arXiv:1704.00028"))
