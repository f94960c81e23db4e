"""Building blocks shared by the model plugins.

Every network follows the harness's calling convention: G(z, y=None) -> images in
[-1, 1]; D(x, y=None) -> raw scores of shape (N,), or (scores, class_logits) for an
auxiliary classifier. The blocks here are the pieces several papers share (spectral
norm, conditional batch norm, self-attention, the residual blocks of SNGAN/SAGAN), so
each family file only states its own architecture and recipe.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ganbench import GanbenchError


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


def spectral(enabled: bool = True, xavier: bool = False) -> Callable[[nn.Module], nn.Module]:
    """Wrap a layer in spectral normalisation (Miyato et al. 2018), or leave it as is.

    torch's parametrisation does one power iteration per forward in training mode and
    reuses the stored singular vectors in eval mode, as the paper prescribes.
    xavier=True first draws the weight Xavier-uniform with a zero bias (the SNGAN and
    SAGAN code's initialisation), before the power iteration sees it.
    """
    def wrap(m: nn.Module) -> nn.Module:
        if xavier:
            nn.init.xavier_uniform_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        return nn.utils.parametrizations.spectral_norm(m) if enabled else m
    return wrap


def need_labels(y: torch.Tensor | None, num_classes: int, who: str) -> torch.Tensor:
    """A class-conditional network called without labels is a harness or user bug: say so."""
    if y is None:
        raise GanbenchError(f"{who} is class-conditional ({num_classes} classes) but was called without labels",
                            hint="train it with train.conditional = true on a labelled data set")
    return y


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias come from the class (de Vries et al. 2017; SAGAN's G).

    Unconditional (num_classes == 0) it is an ordinary affine batch norm. The gains are
    stored as offsets from 1 so a fresh layer starts as the identity transform.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)
            nn.init.zeros_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.bn(x)
        if not self.num_classes:
            return h
        y = need_labels(y, self.num_classes, "conditional batch norm")
        return h * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


class SelfAttention(nn.Module):
    """Self-attention over all positions of a feature map (Zhang et al. 2019, sec. 3).

    f, g, h are 1x1 convolutions to C/8 channels, beta = softmax(f(x)^T g(x)) over the
    positions, o = v(h(x) beta) back to C channels, y = gamma * o + x with gamma starting
    at 0, so the network first relies on local cues and learns to use attention.
    """

    def __init__(self, channels: int, sn: bool = True):
        super().__init__()
        k = max(1, channels // 8)
        wrap = spectral(sn, xavier=True)
        self.f = wrap(nn.Conv2d(channels, k, 1, bias=False))
        self.g = wrap(nn.Conv2d(channels, k, 1, bias=False))
        self.h = wrap(nn.Conv2d(channels, k, 1, bias=False))
        self.v = wrap(nn.Conv2d(k, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = x.shape
        f = self.f(x).flatten(2)  # (N, k, P)
        g = self.g(x).flatten(2)
        h = self.h(x).flatten(2)
        beta = torch.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)  # (N, P_i, P_j): sum over i is 1
        o = torch.bmm(h, beta).view(n, -1, hh, ww)  # o_j = sum_i beta_ij h(x_i)
        return x + self.gamma * self.v(o)


class UpBlock(nn.Module):
    """Residual generator block of SNGAN/SAGAN: BN-ReLU-up-conv3-BN-ReLU-conv3, 1x1 shortcut."""

    def __init__(self, cin: int, cout: int, num_classes: int, sn: bool):
        super().__init__()
        wrap = spectral(sn, xavier=True)
        self.bn1 = ConditionalBatchNorm2d(cin, num_classes)
        self.conv1 = wrap(nn.Conv2d(cin, cout, 3, 1, 1))
        self.bn2 = ConditionalBatchNorm2d(cout, num_classes)
        self.conv2 = wrap(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = wrap(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


def norm2d(kind: str, channels: int) -> nn.Module:
    """batch -> BatchNorm2d, layer -> layer norm over (C, H, W) (GroupNorm with one group), none -> Identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DownBlock(nn.Module):
    """Residual discriminator block: (ReLU)-conv3-ReLU-conv3-avgpool, 1x1 shortcut.

    first=True is SNGAN's "optimised" first block: no ReLU on the raw image and the
    shortcut pools before its 1x1 convolution. norm ("batch", "layer") follows each of
    the two convolutions of the residual path (a report's "SN and BN in every conv
    layer"); the default "none" adds no module, so default blocks are unchanged.
    """

    def __init__(self, cin: int, cout: int, down: bool, sn: bool, first: bool = False, norm: str = "none"):
        super().__init__()
        wrap = spectral(sn, xavier=True)
        self.first, self.down = first, down
        self.conv1 = wrap(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = wrap(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = wrap(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None
        self.norm1 = norm2d(norm, cout) if norm != "none" else None
        self.norm2 = norm2d(norm, cout) if norm != "none" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv1(h)
        if self.norm1 is not None:
            h = self.norm1(h)
        h = self.conv2(F.relu(h))
        if self.norm2 is not None:
            h = self.norm2(h)
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.skip(F.avg_pool2d(s, 2))
        else:
            if self.skip is not None:
                s = self.skip(s)
            if self.down:
                s = F.avg_pool2d(s, 2)
        return h + s


class Maxout(nn.Module):
    """The max over ``pieces`` affine maps of the input (Goodfellow et al. 2013)."""

    def __init__(self, cin: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(cin, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(2)


class MLPGenerator(nn.Module):
    """z -> fully connected stack -> (C, H, W) image (the 2014 GAN)."""

    def __init__(self, net: nn.Module, latent_dim: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.net, self.latent_dim, self.image_shape = net, latent_dim, tuple(image_shape)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class ProjectedGenerator(nn.Module):
    """z -> fully connected layer -> a (C0, s, s) map -> a convolutional stack.

    With num_classes > 0 the class enters as a one-hot vector concatenated to z
    (AC-GAN's G input of 100 noise + 10 class dimensions).
    """

    def __init__(self, fc: nn.Module, net: nn.Module, latent_dim: int, shape0: tuple[int, int, int],
                 num_classes: int = 0):
        super().__init__()
        self.fc, self.net = fc, net
        self.latent_dim, self.shape0, self.num_classes = latent_dim, tuple(shape0), num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            y = need_labels(y, self.num_classes, "G")
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)
        return self.net(self.fc(z).view(z.shape[0], *self.shape0))


class AuxClassifierDiscriminator(nn.Module):
    """Shared features, then a source head (real/fake score) and a class head (AC-GAN).

    Returns (scores (N,), class_logits (N, K)); the harness routes the logits to the
    run's auxiliary loss.
    """

    def __init__(self, features: nn.Module, source: nn.Module, classifier: nn.Module):
        super().__init__()
        self.features, self.source, self.classifier = features, source, classifier

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.source(h).squeeze(1), self.classifier(h)


class MLPDiscriminator(nn.Module):
    """Flattened image -> fully connected stack -> one logit per image."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


class SAGANGenerator(nn.Module):
    """SN-linear z -> (ch, s, s), n residual up-blocks (conditional BN), attention at
    half the image side (attend_full: on the full-size map, just before the output),
    BN-ReLU-SN-conv3x3-tanh."""

    def __init__(self, latent_dim: int, channels: int, ch: int, start: int, n: int, num_classes: int,
                 attention: bool, attend_full: bool = False):
        super().__init__()
        sn = spectral(True, xavier=True)
        self.latent_dim, self.ch, self.start, self.num_classes = latent_dim, ch, start, num_classes
        self.fc = sn(nn.Linear(latent_dim, ch * start * start))
        self.blocks = nn.ModuleList(UpBlock(ch, ch, num_classes, sn=True) for _ in range(n))
        # the block whose output is half the image side is the next to last one; the full side is the last's
        self.attn_after = (n - 1 if attend_full else n - 2) if attention else -1
        self.attn = SelfAttention(ch) if attention else None
        self.bn = nn.BatchNorm2d(ch)
        self.out = sn(nn.Conv2d(ch, channels, 3, 1, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            y = need_labels(y, self.num_classes, "G")
        h = self.fc(z).view(z.shape[0], self.ch, self.start, self.start)
        if self.attn is not None and self.attn_after < 0:  # a single block: attend on the start map
            h = self.attn(h)
        for i, block in enumerate(self.blocks):
            h = block(h, y)
            if self.attn is not None and i == self.attn_after:
                h = self.attn(h)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class SAGANDiscriminator(nn.Module):
    """Residual down-blocks (the first halves the side, attention follows it), then
    blocks down to 1/2**(n-1) of the side and two at that size, ReLU, global sum pool,
    SN-linear score, plus the projection <embed(y), h> when conditional. norm: see DownBlock."""

    def __init__(self, channels: int, ch: int, n: int, num_classes: int, attention: bool, norm: str = "none"):
        super().__init__()
        sn = spectral(True, xavier=True)
        self.num_classes = num_classes
        blocks = [DownBlock(channels, ch, down=True, sn=True, first=True, norm=norm)]
        blocks += [DownBlock(ch, ch, down=True, sn=True, norm=norm) for _ in range(max(0, n - 2))]
        blocks += [DownBlock(ch, ch, down=False, sn=True, norm=norm) for _ in range(2)]
        self.blocks = nn.ModuleList(blocks)
        self.attn = SelfAttention(ch) if attention else None
        self.linear = sn(nn.Linear(ch, 1))
        self.embed = sn(nn.Embedding(num_classes, ch)) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == 0 and self.attn is not None:
                h = self.attn(h)
        h = F.relu(h).sum((2, 3))
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            y = need_labels(y, self.num_classes, "D")
            out = out + (self.embed(y) * h).sum(1)
        return out

