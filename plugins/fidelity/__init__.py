"""torch-fidelity metrics: FID, IS and KID on Inception-v3 features, precision/recall.

How the numbers are made, and why:

- Features come from torch-fidelity's own extractors (``inception-v3-compat`` for fid,
  is and kid; prc on torch-fidelity's default for prc, ``vgg16``), fed uint8 tensors
  through a Dataset (grayscale replicated to 3 channels, torch-fidelity resizes), and
  the scores from torch-fidelity's feature-to-metric functions, so they are exactly
  torch-fidelity's numbers (:mod:`.features`, :mod:`.scores`).
- One feature pass per evaluation and extractor: fid, is and kid ask
  ``EvalContext.shared`` for the same pass, which extracts every layer they need
  (2048-d pool features and the unbiased logits) at once (:mod:`.compute`).
- Reference features live in ganbench's own cache, keyed by everything that decides
  them, the weights' sha256 included (:mod:`.reference`).
- Weights come from the suite, an environment variable, torch hub's cache or a
  download, and are vetted before torch-fidelity unpickles them; ``check`` says how to
  fix it when none of these can work (``validate`` exits 3) (:mod:`.weights`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ganbench import hookimpl
from ganbench.registry import Registry
from ganbench.specs import EvalContext, MetricSpec, Score

from .compute import compute_metric, recorded_protocol
from .extractors import EXTRACTORS, INCEPTION
from .options import OPTIONS, FidOptions, IsOptions, KidOptions, PrcOptions
from .weights import weights_problem


def _metric(name: str) -> Callable[[EvalContext], dict[str, float]]:
    def metric(ctx: EvalContext) -> dict[str, float]:
        return compute_metric(name, ctx)
    return metric


def _protocol(name: str) -> Callable[[EvalContext], dict[str, Any]]:
    def protocol(ctx: EvalContext) -> dict[str, Any]:
        return recorded_protocol(name, ctx)
    return protocol


def _check(name: str) -> Callable[[Any], Optional[str]]:
    def check(options: Any) -> Optional[str]:
        return weights_problem(name, options if isinstance(options, OPTIONS[name]) else None)
    return check


@hookimpl
def ganbench_register_metrics(registry: Registry[MetricSpec]) -> None:
    common = dict(flops_per_image=INCEPTION.flops, feature_pass="torch-fidelity inception-v3-compat")
    registry.add(MetricSpec(
        name="fid", description="Fréchet Inception distance (torch-fidelity, Inception-v3 pool features)",
        compute=_metric("fid"), options=FidOptions, check=_check("fid"), protocol=_protocol("fid"),
        scores=(Score("fid_inception", False, "FID against the real reference set"),
                Score("ifid_inception", False, "conditional G: intra-class FID, the per-class FID averaged")),
        **common))
    registry.add(MetricSpec(
        name="is", description="Inception score (torch-fidelity, Inception-v3 logits)",
        compute=_metric("is"), options=IsOptions, check=_check("is"), protocol=_protocol("is"),
        scores=(Score("is_inception", True, "Inception score, mean over splits"),
                Score("is_inception_std", False, "Inception score, std over splits")), **common))
    registry.add(MetricSpec(
        name="kid", description="kernel Inception distance (torch-fidelity, unbiased MMD², cubic kernel)",
        compute=_metric("kid"), options=KidOptions, check=_check("kid"), protocol=_protocol("kid"),
        scores=(Score("kid_inception", False, "KID, mean over subsets"),
                Score("kid_inception_std", False, "KID, std over subsets")), **common))
    registry.add(MetricSpec(
        name="prc", description="precision, recall, F-score (torch-fidelity), density and coverage of k-NN manifolds; vgg16 features",
        compute=_metric("prc"), options=PrcOptions, check=_check("prc"), protocol=_protocol("prc"),
        flops_per_image=EXTRACTORS["vgg16"].flops, feature_pass="torch-fidelity vgg16",
        scores=tuple(Score(f"{s}_{e}", True, d) for e in ("vgg16", "inception") for s, d in (
            ("precision", "share of generated images inside the real manifold"),
            ("recall", "share of real images inside the generated manifold"),
            ("f_score", "harmonic mean of precision and recall"),
            ("density", "generated images per real k-NN ball, over k (Naeem et al. 2020; 1 = as dense as real)"),
            ("coverage", "share of real k-NN balls holding a generated image (Naeem et al. 2020)")))))
