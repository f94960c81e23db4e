"""Configurable convolutional G and D stacks for the DCGAN family (dcgan, wgan, wgan-gp).

dcgan.py turns a family's options into a :class:`GStack` / :class:`DStack` (plain
numbers, already checked against the resolution, errors naming the option); the two
functions here only lay the layers out. So that the options change no existing
network, the default stacks are built with exactly the original DCGAN's modules, in
the same order and with the same constructor arguments: a seed gives the same weights,
state-dict keys stay the same (old checkpoints load) and default outputs are unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ganbench_plugins._nets import Discriminator, Generator, ProjectedGenerator, norm2d


@dataclass(frozen=True)
class GStack:
    """G, resolved: z -> start map -> stride-2 up-sampling -> image."""

    latent_dim: int
    out_channels: int
    start: int  # side of the start map
    channels: tuple[int, ...]  # the start map's channels, then one per hidden up-sampling layer
    kernels: tuple[int, ...]  # one per layer after the input layer: the hidden ones, then the output
    out_stride: int  # 2: the output layer doubles the side; 1: a same-size conv to the image
    dense_input: bool  # z -> Linear -> reshape (Keras style) instead of a transposed conv on a 1x1 map
    norm: str  # batch | layer | none, after every layer but the output
    slope: float | None  # LeakyReLU slope; None for ReLU


@dataclass(frozen=True)
class DStack:
    """D, resolved: convs -> (flatten -> hidden dense layers) -> one raw score."""

    in_channels: int
    side: int  # the image side
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    kernels: tuple[int, ...]
    norm: str  # batch | layer | none, after every conv but the first (unless norm_first)
    norm_first: bool
    slope: float
    dropout: float  # 0 = no dropout modules at all
    dropout_at: str  # every: after each hidden layer; head: once, before the dense layers / output
    dense: tuple[int, ...]  # hidden dense units
    dense_output: bool  # flatten + Linear(., 1), else a conv whose kernel covers the last map
    spectral: bool


def same_padding(kernel: int) -> int:
    """Padding that makes a stride-2 conv halve an even side, or a stride-1 odd-kernel conv keep it."""
    return (kernel - 1) // 2


def up_padding(kernel: int) -> tuple[int, int]:
    """(padding, output_padding) for a stride-2 transposed conv that doubles the side exactly:
    out = 2(n - 1) - 2p + k + op = 2n, so op = 2 + 2p - k (0 for even kernels, 1 for odd)."""
    p = same_padding(kernel)
    return p, 2 + 2 * p - kernel


def _norm2d(norm: str, ch: int) -> nn.Module | None:
    return None if norm == "none" else norm2d(norm, ch)


def _norm1d(norm: str, features: int) -> nn.Module | None:
    if norm == "batch":
        return nn.BatchNorm1d(features)  # per unit, as Keras' BatchNormalization after Dense
    if norm == "layer":
        return nn.LayerNorm(features)
    return None


def _activation(slope: float | None) -> nn.Module:
    return nn.ReLU(True) if slope is None else nn.LeakyReLU(slope, True)


def conv_generator(g: GStack) -> nn.Module:
    """G(z) for a resolved stack; biases only where no norm follows (the DCGAN code's rule)."""
    bias = g.norm == "none"

    def after(layers: list[nn.Module], norm: nn.Module | None) -> list[nn.Module]:
        return layers + ([norm] if norm is not None else []) + [_activation(g.slope)]

    c0, s = g.channels[0], g.start
    if g.dense_input:
        head = after([nn.Linear(g.latent_dim, c0 * s * s, bias=bias)], _norm1d(g.norm, c0 * s * s))
        layers: list[nn.Module] = []
    else:
        head = []
        layers = after([nn.ConvTranspose2d(g.latent_dim, c0, s, 1, 0, bias=bias)], _norm2d(g.norm, c0))
    for (a, b), k in zip(zip(g.channels, g.channels[1:]), g.kernels):
        p, op = up_padding(k)
        layers = after(layers + [nn.ConvTranspose2d(a, b, k, 2, p, output_padding=op, bias=bias)],
                       _norm2d(g.norm, b))
    k = g.kernels[-1]
    if g.out_stride == 2:
        p, op = up_padding(k)
        out: nn.Module = nn.ConvTranspose2d(g.channels[-1], g.out_channels, k, 2, p, output_padding=op, bias=bias)
    else:
        out = nn.Conv2d(g.channels[-1], g.out_channels, k, 1, same_padding(k), bias=bias)
    net = nn.Sequential(*layers, out, nn.Tanh())
    if g.dense_input:
        return ProjectedGenerator(nn.Sequential(*head), net, g.latent_dim, (c0, s, s))
    return Generator(net, g.latent_dim)


def conv_discriminator(d: DStack) -> nn.Module:
    """D(x) -> raw scores (N,) for a resolved stack."""
    sn = nn.utils.parametrizations.spectral_norm if d.spectral else (lambda m: m)
    bias = d.norm == "none"
    drop_every = d.dropout > 0 and d.dropout_at == "every"
    layers: list[nn.Module] = []
    cin, side = d.in_channels, d.side
    for i, (cout, stride, k) in enumerate(zip(d.channels, d.strides, d.kernels)):
        layers.append(sn(nn.Conv2d(cin, cout, k, stride, same_padding(k), bias=bias)))
        if i > 0:  # hidden layers keep a slot even without norm (an Identity), so indices stay put
            layers.append(norm2d(d.norm, cout))
        elif d.norm_first and d.norm != "none":
            layers.append(norm2d(d.norm, cout))
        layers.append(nn.LeakyReLU(d.slope, True))
        if drop_every:
            layers.append(nn.Dropout(d.dropout))
        cin, side = cout, (side + stride - 1) // stride
    if d.dropout > 0 and d.dropout_at == "head":
        layers.append(nn.Dropout(d.dropout))
    if not d.dense_output:
        layers.append(sn(nn.Conv2d(cin, 1, side, 1, 0)))
        return Discriminator(nn.Sequential(*layers))
    layers.append(nn.Flatten())
    features = cin * side * side
    for units in d.dense:
        layers.append(sn(nn.Linear(features, units, bias=bias)))
        norm = _norm1d(d.norm, units)
        layers += ([norm] if norm is not None else []) + [nn.LeakyReLU(d.slope, True)]
        if drop_every:
            layers.append(nn.Dropout(d.dropout))
        features = units
    layers.append(sn(nn.Linear(features, 1)))
    return Discriminator(nn.Sequential(*layers))
