"""The exponential moving average of G that sampling and evaluation use when train.ema is on.

Two things make an EMA generator help rather than hurt:
- a warm-up: the average's half-life grows with training (at most ``ema_rampup`` times the
  steps so far, as StyleGAN2-ADA ramps it in images), so early on it follows G closely and
  never keeps a large share of the untrained weights; the ramp does not depend on the budget,
  so raising train.steps continues the same average;
- batch-norm statistics of its own: the live G's running statistics belong to other weights,
  so before the EMA G is sampled they are re-estimated for the averaged weights from a fixed
  set of latents (deterministic, the same for a rescore of the saved weights).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Optional

import torch
from torch import nn

#: latent batches the batch-norm statistics of the EMA G are re-estimated from
BN_BATCHES = 16
#: their seed, fixed: the statistics depend on the weights only
BN_SEED = 271828

NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class EMA:
    """An averaged copy of G; ``model`` is ready to sample (statistics re-estimated) through
    :meth:`sampling_model`."""

    def __init__(self, model: nn.Module, decay: float, rampup: float):
        self.decay, self.rampup = decay, rampup
        self.half_life = math.log(0.5) / math.log(decay)  # in G steps
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.norms = [m for m in self.model.modules() if isinstance(m, NORM_TYPES) and m.track_running_stats]
        norm_buffers = {id(b) for m in self.norms for b in m.buffers()}
        self._copied = [i for i, b in enumerate(self.model.buffers()) if id(b) not in norm_buffers]
        self._fresh = False

    def beta(self, step: int) -> float:
        """The share of the old average kept at this step (0 copies the live weights)."""
        half_life = min(self.half_life, step * self.rampup) if self.rampup > 0 else self.half_life
        return 0.5 ** (1.0 / half_life) if half_life > 0 else 0.0

    @torch.no_grad()
    def update(self, model: nn.Module, step: int, copy_only: bool = False) -> None:
        """Average G's weights in; buffers other than batch-norm statistics (e.g. spectral-norm
        vectors) follow the live G."""
        ema_p = list(self.model.parameters())
        p = [x.detach() for x in model.parameters()]
        beta = 0.0 if copy_only else self.beta(step)
        if beta == 0.0:
            torch._foreach_copy_(ema_p, p)
        else:
            torch._foreach_lerp_(ema_p, p, 1.0 - beta)
        live = list(model.buffers())
        mine = list(self.model.buffers())
        for i in self._copied:
            mine[i].copy_(live[i])
        self._fresh = False

    @torch.no_grad()
    def sampling_model(self, latents: Callable[[torch.Generator], tuple[torch.Tensor, Optional[torch.Tensor]]],
                       device: torch.device) -> nn.Module:
        """The EMA G in eval mode, its batch-norm statistics re-estimated for its weights
        when they changed since the last call. ``latents(gen)`` draws one batch (z, y)."""
        if self.norms and not self._fresh:
            momenta = [m.momentum for m in self.norms]
            for m in self.norms:
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the batches below
            gen = torch.Generator(device=device).manual_seed(BN_SEED)
            self.model.train()
            try:  # a forked RNG: a G with dropout must not move the training's random streams
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    for _ in range(BN_BATCHES):
                        z, y = latents(gen)
                        self.model(z, y)
            finally:
                self.model.eval()
                for m, momentum in zip(self.norms, momenta):
                    m.momentum = momentum
        self._fresh = True
        return self.model


def describe_generator(ema: bool, decay: float, rampup: float, G: nn.Module) -> str:
    """Which G is scored, as the evaluation protocol states it (training and `ganbench eval`
    say it the same way, so their scores share a table)."""
    if not ema:
        return "G (live weights, eval mode)"
    norms = any(isinstance(m, NORM_TYPES) and m.track_running_stats for m in G.modules())
    stats = f"; batch-norm statistics re-estimated on {BN_BATCHES} latent batches" if norms else ""
    return f"EMA of G (decay {decay:g}, half-life ramp {rampup:g} x steps{stats})"
