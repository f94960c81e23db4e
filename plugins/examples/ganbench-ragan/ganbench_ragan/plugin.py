"""Relativistic average GAN (Jolicoeur-Martineau, "The relativistic discriminator: a key
element missing from standard GAN", ICLR 2019, arXiv:1807.00734).

The discriminator estimates how much more realistic a real image is than the average
fake one, and vice versa: with raw critic scores C, the RaSGAN losses are

    L_D = -E_r[log s(C(x_r) - E_f C(x_f))] - E_f[log(1 - s(C(x_f) - E_r C(x_r)))]
    L_G = -E_f[log s(C(x_f) - E_r C(x_r))] - E_r[log(1 - s(C(x_r) - E_f C(x_f)))]

(s the logistic sigmoid). G's loss needs D's scores of real images, so the LossSpec sets
``needs_real_for_g = True`` and the harness passes them (computed without gradients).
One-sided label smoothing applies to the real term of D's loss.

Registered through the ``ganbench`` entry-point group (see pyproject.toml); no torch
import at module level, so ``ganbench list`` stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass

from ganbench import GanbenchError, LossSpec, ModelContext, ModelSpec, hookimpl, opt
from ganbench_plugins.dcgan import build_discriminator, build_generator


def ragan_d(real, fake, real_target, options):
    import torch
    import torch.nn.functional as F
    real_rel = real - fake.mean()
    fake_rel = fake - real.mean()
    return (F.binary_cross_entropy_with_logits(real_rel, torch.full_like(real_rel, real_target))
            + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel)))


def ragan_g(fake, real, options):
    import torch.nn.functional as F
    if real is None:
        raise GanbenchError("the ragan loss needs D's scores of real images in the G step",
                            hint="the harness passes them when LossSpec.needs_real_for_g is True")
    # -log s(fake - mean real) - log(1 - s(real - mean fake))
    return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()


@dataclass(frozen=True)
class RaGANOptions:
    width: int = opt(64, "base channel count of the DCGAN networks (the paper's CIFAR-10 DCGAN: 64)", min=1)


def build(ctx: ModelContext):
    """ganbench's DCGAN networks (their builders are public API for plugins)."""
    o: RaGANOptions = ctx.options or RaGANOptions()
    return build_generator(ctx, o.width), build_discriminator(ctx, o.width)


@hookimpl
def ganbench_register_losses(registry):
    registry.add(LossSpec(
        name="ragan", description="relativistic average standard GAN loss (RaSGAN)", role="adversarial",
        d_loss=ragan_d, g_loss=ragan_g, needs_real_for_g=True,
        paper="Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, arXiv:1807.00734"))


@hookimpl
def ganbench_register_models(registry):
    registry.add(ModelSpec(
        name="ragan", description="RaSGAN: DCGAN networks with the relativistic average loss, Adam 2e-4 (0.5, 0.999)",
        build=build, options=RaGANOptions,
        recipe={"loss": "ragan"},
        traits=frozenset({"d_batchnorm"}), resolutions=(16, 28, 32, 64),
        paper="Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, arXiv:1807.00734"))
