"""Sampling a generator: latents, uint8 quantisation and the fast inference copy of G.

The Trainer (grids, evaluations), ``ganbench eval`` and ``ganbench sample`` draw images
through these functions, so a rescore sees the very images training scored.
Generated images are quantised to uint8 exactly as real images are stored
(round((x + 1) * 127.5)), so a metric sees the same kind of data on both sides.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Optional

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 the way real images are stored (round half to even)."""
    return ((x.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the inverse of quantize."""
    return images.float().div(127.5).sub(1.0)


#: on CPU, G runs on at most this many latents at a time: larger batches spill the caches and
#: are slower (DCGAN, 1 thread: batch 250 at 0.8-0.9x the speed of batch 64)
CPU_SAMPLE_CHUNK = 64

def fuse_conv_bn(module: torch.nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a (transposed) convolution in an
    nn.Sequential into that convolution's weights, in place; returns how many were folded.
    Same function in eval mode up to float rounding, one pass over the activations fewer."""
    folded = 0
    for seq in [m for m in module.modules() if isinstance(m, torch.nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if (isinstance(conv, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and type(bn) is torch.nn.BatchNorm2d
                    and bn.track_running_stats and bn.running_mean is not None and not conv.training
                    and not bn.training and conv.groups == 1):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, torch.nn.ConvTranspose2d))
                seq._modules[b] = torch.nn.Identity()
                folded += 1
    return folded


def _inference_copy(G: torch.nn.Module, device: torch.device) -> Optional[torch.nn.Module]:
    """On CPU, an eval-mode copy of a convolutional G with batch norm folded into the
    convolutions and the channels_last layout (oneDNN's fastest): DCGAN 1.1-1.25x a plain
    G(z), the same uint8 images up to rare one-level roundings (tests/test_speed_equivalence.py).
    None where it does not apply or G cannot be copied (the caller then samples G itself)."""
    if device.type != "cpu" or not any(p.dim() == 4 for p in G.parameters()):
        return None
    try:
        net = copy.deepcopy(G).eval()
        fuse_conv_bn(net)
        return net.to(memory_format=torch.channels_last)
    except Exception:  # a third-party G that cannot be deep-copied: sample it as it is
        return None


def balanced_labels(class_pool: Optional[torch.Tensor], n: int) -> Optional[torch.Tensor]:
    """n labels spread evenly over class_pool (each class n / k times, the remainder to the first)."""
    if class_pool is None:
        return None
    return class_pool.repeat(math.ceil(n / len(class_pool)))[:n]


def stream_samples(G: torch.nn.Module, latent_dim: int, latent_dist: str, device: torch.device,
                   labels: Optional[torch.Tensor], n: int, batch_size: int,
                   seed: int) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """(uint8 NCHW images, labels) batch by batch: what :func:`make_generator` concatenates, so
    an export of any size holds one batch in memory and is the scoring sample, image for image."""
    gen = torch.Generator(device=device).manual_seed(seed)
    labels = labels.to(device) if labels is not None else None
    net = _inference_copy(G, device)
    chunk = CPU_SAMPLE_CHUNK if device.type == "cpu" else batch_size
    was_training = G.training
    if net is None:
        net = G
        G.eval()
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                b = min(batch_size, n - start)
                z = sample_latent(b, latent_dim, latent_dist, device, gen)
                y = labels[start:start + b] if labels is not None else None
                out = []
                for i in range(0, b, chunk):
                    zi, yi = z[i:i + chunk], (y[i:i + chunk] if y is not None else None)
                    out.append(quantize(net(zi, yi)).contiguous())  # NCHW, whatever G's layout
                yield torch.cat(out), y
    finally:
        G.train(was_training)


def make_generator(G: torch.nn.Module, latent_dim: int, latent_dist: str, device: torch.device,
                   class_pool: Optional[torch.Tensor], batch_size: int,
                   seed: int) -> Callable[[int], tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """A sampler: G in eval mode under inference mode, in fp32, a fixed seed, large batches of z.

    Never under autocast, even for a run trained in bf16/fp16: rounding tanh's output to 16
    bits would move pixels across quantisation levels, and `ganbench eval` could not
    reproduce a training-time score. On CUDA it synchronises before returning, so the
    time a caller measures is the generation's, not the next kernel's.

    z is drawn batch_size at a time (so the images do not depend on the device's chunking);
    on CPU, G runs on a channels_last copy of itself, CPU_SAMPLE_CHUNK latents at a time.
    For conditional G, labels are a balanced spread over class_pool (each class
    n / k times, the remainder to the first classes).
    """

    def generate(n: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        labels = balanced_labels(class_pool, n)
        images = torch.cat([x for x, _ in stream_samples(G, latent_dim, latent_dist, device, labels, n,
                                                           batch_size, seed)])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return images, (labels.to(device) if labels is not None else None)

    return generate


def sample_latent(n: int, dim: int, dist: str, device: torch.device,
                  gen: Optional[torch.Generator]) -> torch.Tensor:
    if dist == "uniform":
        return torch.rand(n, dim, device=device, generator=gen).mul_(2).sub_(1)
    return torch.randn(n, dim, device=device, generator=gen)


