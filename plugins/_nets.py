"""Small wrappers giving every network the harness's calling convention:
G(z, y=None) -> images in [-1, 1]; D(x, y=None) -> scores of shape (N,)."""
from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """Feeds z as a (N, latent_dim, 1, 1) map into a convolutional stack."""

    def __init__(self, net: nn.Module, latent_dim: int):
        super().__init__()
        self.net = net
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """Returns one raw score per image (no sigmoid: the loss decides)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten(1).sum(1)
