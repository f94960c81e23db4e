"""Adversarial loss terms. Every function gets raw D scores (never sigmoids).

d_loss(real_scores, fake_scores, real_target, options) -> scalar
g_loss(fake_scores, real_scores, options) -> scalar
real_target < 1 is one-sided label smoothing (only the real side is smoothed).
"""
from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import LossSpec


def bce_d(real, fake, real_target, options):
    import torch
    import torch.nn.functional as F
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def bce_g(fake, real, options):
    """Non-saturating: maximise log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    import torch.nn.functional as F
    return F.softplus(-fake).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add(LossSpec("bce", "non-saturating binary cross-entropy (Goodfellow et al. 2014; DCGAN)",
                          "adversarial", d_loss=bce_d, g_loss=bce_g,
                          paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014"))
