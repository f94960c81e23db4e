"""The torch-fidelity feature extractors ganbench uses, and which metric uses which.

torch, torchvision and torch_fidelity are imported inside the methods that need them,
so that `ganbench list` stays fast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Extractor:
    """A torch-fidelity feature extractor as ganbench uses it."""

    name: str  # torch-fidelity's registry name
    short: str  # suffix of score names (fid_inception)
    env: str  # environment variable naming a local weights file
    layers: tuple[str, ...]  # every layer any metric needs, extracted in one pass
    required: tuple[tuple[str, tuple[int, ...]], ...]  # (state-dict key, shape) a weights file must have
    flops: float  # per image, for `validate`'s estimate

    def url(self) -> str:
        if self.name == "inception-v3-compat":
            from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
            return URL_INCEPTION_V3
        import torchvision
        return torchvision.models.VGG16_Weights.IMAGENET1K_V1.url

    def hub_file(self) -> Path:
        """Where torch hub (and so torch-fidelity) keeps the downloaded file."""
        import torch
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.url())

    def layer(self, metric: str) -> str:
        """torch-fidelity's default layer of this extractor for a metric (fid, isc, kid, prc)."""
        from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
        return FEATURE_EXTRACTORS_REGISTRY[self.name].get_default_feature_layer_for_metric(metric)


EXTRACTORS = {
    "inception-v3-compat": Extractor(
        "inception-v3-compat", "inception", "GANBENCH_INCEPTION_WEIGHTS", ("2048", "logits_unbiased"),
        (("Mixed_7c.branch_pool.conv.weight", (192, 2048, 1, 1)), ("fc.weight", (1008, 2048))), 11.4e9),
    "vgg16": Extractor(
        "vgg16", "vgg16", "GANBENCH_VGG16_WEIGHTS", ("fc2_relu",),
        (("features.28.weight", (512, 512, 3, 3)), ("classifier.3.weight", (4096, 4096))), 30.9e9),
}
INCEPTION = EXTRACTORS["inception-v3-compat"]


def extractor_for(name: str, options: Any) -> Extractor:
    """prc lets its options choose the extractor; fid, is and kid always use Inception-v3."""
    return EXTRACTORS[options.extractor] if name == "prc" else INCEPTION
