"""The options of the torch-fidelity metrics ([metrics.fid], [metrics.is], …)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ganbench.config import opt
from ganbench.specs import EvalContext


@dataclass(frozen=True)
class FeatureOptions:
    """Options every torch-fidelity metric has."""

    weights: str = opt("", "local weights file of the feature extractor; '' = $GANBENCH_INCEPTION_WEIGHTS "
                           "($GANBENCH_VGG16_WEIGHTS for vgg16), else torch hub's cache, else download")
    batch_size: int = opt(64, "images per feature-extraction batch", min=1)


@dataclass(frozen=True)
class FidOptions(FeatureOptions):
    num_real: int = opt(0, "real reference images (a fixed random subset, seed 0); 0 = the whole reference set",
                        min=0, standard=0)


@dataclass(frozen=True)
class IsOptions(FeatureOptions):
    splits: int = opt(10, "splits of the generated set (clamped to the sample count)", min=1, standard=10)


@dataclass(frozen=True)
class KidOptions(FidOptions):
    subsets: int = opt(100, "random subsets averaged", min=1, standard=100)
    subset_size: int = opt(1000, "images per subset, clamped to the smaller sample count (the protocol says so)",
                           min=2, standard=1000)


@dataclass(frozen=True)
class PrcOptions(FidOptions):
    neighborhood: int = opt(3, "k of the k-nearest-neighbour balls", min=1)
    extractor: Literal["vgg16", "inception-v3-compat"] = opt("vgg16", "features: torch-fidelity's default for "
                                                                      "prc (vgg16) or Inception-v3")


OPTIONS: dict[str, type] = {"fid": FidOptions, "is": IsOptions, "kid": KidOptions, "prc": PrcOptions}


def options_for(ctx: EvalContext, name: str) -> Any:
    """The metric's own options from the context, else its defaults."""
    return ctx.options_of(name) or (ctx.options if isinstance(ctx.options, OPTIONS[name]) else None) \
        or OPTIONS[name]()
