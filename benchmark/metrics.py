"""Evaluation: sample G once, hand the samples to every metric plugin, record protocol.

Generated images are quantised to uint8 exactly as real images are stored
(round((x + 1) * 127.5)), so a metric sees the same kind of data on both sides.
Metrics that share expensive work (one Inception pass for fid, is and kid) do it
once per evaluation through ``EvalContext.shared``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch

from .errors import GanbenchError

if TYPE_CHECKING:  # pragma: no cover
    from .config import MetricsConfig
    from .plugins import Plugins
    from .specs import ImageData


def quantize(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 the way real images are stored (round half to even)."""
    return ((x.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the inverse of quantize."""
    return images.float().div(127.5).sub(1.0)


@dataclass
class EvalContext:
    """What a metric plugin gets: real data, a memoised sample of G, and the settings.

    fake() returns (uint8 images (n, C, H, W) on the device, labels or None), drawn
    once per evaluation and shared by all metrics. options is the metric's own
    options dataclass; metric_options holds every requested metric's options (so a
    shared computation can serve several metrics with their own settings);
    cache_dir is where a metric may keep reference statistics.
    """

    real: "ImageData"
    num_samples: int
    device: torch.device
    cache_dir: Path
    config: "MetricsConfig"
    generate: Callable[[int], tuple[torch.Tensor, Optional[torch.Tensor]]]
    conditional: bool = False
    final: bool = True
    options: Any = None
    dataset: str = ""
    split: str = "train"
    classes: tuple[Any, ...] = ()
    full_real: Optional[Callable[[], "ImageData"]] = None  # all classes, same resolution/channels
    metric_options: dict[str, Any] = field(default_factory=dict)
    _fake: Optional[tuple[torch.Tensor, Optional[torch.Tensor]]] = field(default=None, repr=False)
    _shared: dict[Any, Any] = field(default_factory=dict, repr=False)
    generation_seconds: float = 0.0

    def fake(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self._fake is None:
            t0 = time.perf_counter()
            self._fake = self.generate(self.num_samples)
            self.generation_seconds = time.perf_counter() - t0
        return self._fake

    def shared(self, key: Any, compute: Callable[[], Any]) -> Any:
        """compute() once per evaluation, shared by every metric that asks with the same key.

        Several metrics on one feature extractor (fid, is, kid on Inception-v3) then
        cost one feature extraction, whichever of them runs first.
        """
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    def options_of(self, name: str, default: Any = None) -> Any:
        """The options of metric ``name`` in this evaluation (``default`` when not given)."""
        got = self.metric_options.get(name)
        return got if got is not None else default


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½) in float64 (Heusel et al. 2017).

    Tr((S1 S2)^½) is computed as Σ √eig(A S2 A) with A = S1^½ (both symmetric
    eigendecompositions, negative round-off eigenvalues clipped to 0). A S2 A is
    similar to S1 S2 but symmetric positive semi-definite, so singular or
    near-singular covariances (fewer samples than dimensions, dead ReLU features)
    need no epsilon and raise no warning, unlike scipy's sqrtm of the product.
    """
    import numpy as np

    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root @ s2 @ root
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


#: on CPU, G runs on at most this many latents at a time: larger batches spill the caches and
#: are slower (DCGAN, 1 thread: batch 250 at 0.8-0.9x the speed of batch 64)
CPU_SAMPLE_CHUNK = 64
#: evaluations sample G with seed = train.seed + this, during training and in `ganbench eval`
#: alike, so a rescore of a run's own settings scores the very same images
EVAL_SEED_OFFSET = 7919


def fuse_conv_bn(module: torch.nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a (transposed) convolution in an
    nn.Sequential into that convolution's weights, in place; returns how many were folded.
    Same function in eval mode up to float rounding, one pass over the activations fewer."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

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
    import copy

    if device.type != "cpu" or not any(p.dim() == 4 for p in G.parameters()):
        return None
    try:
        net = copy.deepcopy(G).eval()
        fuse_conv_bn(net)
        return net.to(memory_format=torch.channels_last)
    except Exception:  # a third-party G that cannot be deep-copied: sample it as it is
        return None


def make_generator(G: torch.nn.Module, latent_dim: int, latent_dist: str, device: torch.device,
                   class_pool: Optional[torch.Tensor], batch_size: int, seed: int,
                   autocast: Any = None) -> Callable[[int], tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """A sampler: G in eval mode under inference mode, a fixed seed, large batches of z.

    z is drawn batch_size at a time (so the images do not depend on the device's chunking);
    on CPU, G runs on a channels_last copy of itself, CPU_SAMPLE_CHUNK latents at a time.
    For conditional G, labels are a balanced spread over class_pool (each class
    n / k times, the remainder to the first classes).
    """

    def generate(n: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        gen = torch.Generator(device=device).manual_seed(seed)
        labels = None
        if class_pool is not None:
            reps = math.ceil(n / len(class_pool))
            labels = class_pool.repeat(reps)[:n].to(device)
        net = _inference_copy(G, device)
        chunk = CPU_SAMPLE_CHUNK if device.type == "cpu" else batch_size
        was_training = G.training
        if net is None:
            net = G
            G.eval()
        out = []
        try:
            with torch.inference_mode():
                for start in range(0, n, batch_size):
                    b = min(batch_size, n - start)
                    z = sample_latent(b, latent_dim, latent_dist, device, gen)
                    y = labels[start:start + b] if labels is not None else None
                    for i in range(0, b, chunk):
                        zi, yi = z[i:i + chunk], (y[i:i + chunk] if y is not None else None)
                        if autocast is not None:
                            with autocast():
                                x = net(zi, yi)
                        else:
                            x = net(zi, yi)
                        out.append(quantize(x).contiguous())  # NCHW, whatever G's layout
        finally:
            G.train(was_training)
        return torch.cat(out), labels

    return generate


def sample_latent(n: int, dim: int, dist: str, device: torch.device,
                  gen: Optional[torch.Generator]) -> torch.Tensor:
    if dist == "uniform":
        return torch.rand(n, dim, device=device, generator=gen).mul_(2).sub_(1)
    return torch.randn(n, dim, device=device, generator=gen)


def evaluate(plugins: "Plugins", config: "MetricsConfig", metric_options: dict[str, Any],
             base: EvalContext) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
    """Run every metric on one shared sample; return (scores, protocol, seconds)."""
    scores: dict[str, float] = {}
    protocol: dict[str, Any] = {"num_fake": base.num_samples, "quantization": "uint8 round((x+1)*127.5)",
                                "reference_split": base.split, "reference_classes": list(base.classes),
                                "dataset": base.dataset, "real_fingerprint": base.real.fingerprint}
    timings: dict[str, float] = {}
    base.metric_options = dict(metric_options)
    for name in config.names:
        spec = plugins.metrics.get(name)
        base.options = metric_options.get(name)
        t0 = time.perf_counter()
        try:
            out = spec.compute(base)
        except GanbenchError:
            raise
        except Exception as exc:
            raise RuntimeError(f"metric '{name}' raised {type(exc).__name__}: {exc}") from exc
        timings[name] = time.perf_counter() - t0
        scores.update({k: float(v) for k, v in out.items()})
        if spec.protocol is not None:
            protocol[name] = spec.protocol(base)
    timings["generation"] = base.generation_seconds
    return scores, protocol, {k: round(v, 3) for k, v in timings.items()}
