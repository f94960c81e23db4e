"""Evaluation: sample G once, hand the samples to every metric plugin, record protocol.

Generated images are quantised to uint8 exactly as real images are stored
(round((x + 1) * 127.5)), so a metric sees the same kind of data on both sides.
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
    options dataclass; cache_dir is where it may keep reference statistics.
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
    _fake: Optional[tuple[torch.Tensor, Optional[torch.Tensor]]] = field(default=None, repr=False)
    generation_seconds: float = 0.0

    def fake(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self._fake is None:
            t0 = time.perf_counter()
            self._fake = self.generate(self.num_samples)
            self.generation_seconds = time.perf_counter() - t0
        return self._fake


def make_generator(G: torch.nn.Module, latent_dim: int, latent_dist: str, device: torch.device,
                   class_pool: Optional[torch.Tensor], batch_size: int, seed: int,
                   autocast: Any = None) -> Callable[[int], tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """A sampler: G in eval mode under inference mode, large batches, a fixed seed.

    For conditional G, labels are a balanced spread over class_pool (each class
    n / k times, the remainder to the first classes).
    """

    def generate(n: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        gen = torch.Generator(device=device).manual_seed(seed)
        labels = None
        if class_pool is not None:
            reps = math.ceil(n / len(class_pool))
            labels = class_pool.repeat(reps)[:n].to(device)
        was_training = G.training
        G.eval()
        out = []
        try:
            with torch.inference_mode():
                for start in range(0, n, batch_size):
                    b = min(batch_size, n - start)
                    z = sample_latent(b, latent_dim, latent_dist, device, gen)
                    y = labels[start:start + b] if labels is not None else None
                    if autocast is not None:
                        with autocast():
                            x = G(z, y)
                    else:
                        x = G(z, y)
                    out.append(quantize(x))
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
