"""Evaluation: sample G once, hand the samples to every metric plugin, record the protocol.

Metrics that share expensive work (one Inception pass for fid, is and kid) do it once per
evaluation through ``EvalContext.shared``. Training, ``ganbench eval`` and the test helpers
build their context with :func:`eval_context`, so every score is computed the same way.
numpy is imported inside functions so that `ganbench list` stays fast.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from .config import MetricsConfig, reference_options
from .errors import GanbenchError
from .specs import EvalContext

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .data import DataCache
    from .plugins import Plugins

#: evaluations sample G with seed = train.seed + this, during training and in `ganbench eval`
#: alike, so a rescore of a run's own settings scores the very same images
EVAL_SEED_OFFSET = 7919


def eval_context(data: "DataCache", dataset: str, dataset_options: Any, config: MetricsConfig,
                 generate: Callable[[int], tuple["torch.Tensor", Optional["torch.Tensor"]]],
                 device: "torch.device", num_samples: int, conditional: bool = False,
                 final: bool = True) -> EvalContext:
    """The one way to build an EvalContext: the reference images are the training data's,
    with metrics.reference_split in place of the training split when one is set."""
    ref = reference_options(dataset_options, config)
    return EvalContext(real=data.get(dataset, ref), num_samples=num_samples, device=device,
                       cache_dir=data.cache_dir, config=config, generate=generate, conditional=conditional,
                       final=final, dataset=dataset, split=ref.split, classes=tuple(ref.classes),
                       full_real=lambda: data.full(dataset, dataset_options))


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


def intra_class(fake: Any, fake_labels: Any, real: Any, real_labels: Any,
                distance: Callable[[Any, Any], float]) -> tuple[float, dict[int, float]]:
    """(mean, {class: distance}) of ``distance(fake features of class c, real features of
    class c)`` over the classes G was asked for: with the Fréchet distance, intra-class FID
    (Miyato & Koyama 2018), which a conditional G cannot pass by drawing good images of the
    wrong class. A class needs at least 2 samples on each side (a covariance)."""
    import numpy as np

    fake_labels, real_labels = np.asarray(fake_labels), np.asarray(real_labels)
    per: dict[int, float] = {}
    for c in sorted(set(fake_labels.tolist())):
        f, r = fake[fake_labels == c], real[real_labels == c]
        if len(f) < 2 or len(r) < 2:
            raise GanbenchError(f"intra-class distance: class {c} has {len(f)} generated and {len(r)} real "
                                f"images; each needs at least 2",
                                hint="raise metrics.num_samples (samples are spread evenly over the classes)")
        per[int(c)] = float(distance(f, r))
    return float(np.mean(list(per.values()))), per


def evaluate(plugins: "Plugins", config: MetricsConfig, metric_options: dict[str, Any],
             base: EvalContext) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
    """Run every metric on one shared sample; return (scores, protocol, seconds).

    A metric that raises loses only its own scores: its error goes to ``protocol["errors"]``
    and the others still score. When none scores, the first error is raised (the run's
    evaluation failed as a whole, e.g. an extractor that refused to score)."""
    scores: dict[str, float] = {}
    protocol: dict[str, Any] = {"num_fake": base.num_samples, "quantization": "uint8 round((x+1)*127.5)",
                                "reference_split": base.split, "reference_classes": list(base.classes),
                                "dataset": base.dataset, "real_fingerprint": base.real.fingerprint}
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    first: Exception | None = None
    base.metric_options = dict(metric_options)
    for name in config.names:
        spec = plugins.metrics.get(name)
        base.options = metric_options.get(name)
        t0 = time.perf_counter()
        try:
            out = spec.compute(base)
            own = {k: float(v) for k, v in dict(out).items()}
            described = spec.protocol(base) if spec.protocol is not None else None
        except Exception as exc:  # noqa: BLE001 - a metric's bug costs its own scores only
            first = first or (exc if isinstance(exc, GanbenchError) else
                              RuntimeError(f"metric '{name}' raised {type(exc).__name__}: {exc}"))
            errors[name] = str(exc) if isinstance(exc, GanbenchError) else f"{type(exc).__name__}: {exc}"
            continue
        timings[name] = time.perf_counter() - t0
        scores.update(own)
        if described is not None:
            protocol[name] = described
    if errors:
        if not scores and first is not None:
            raise first
        protocol["errors"] = errors
    timings["generation"] = base.generation_seconds
    return scores, protocol, {k: round(v, 3) for k, v in timings.items()}
