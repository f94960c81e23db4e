"""Reference statistics: the real images' features, computed once and cached on disk.

torch-fidelity names a cache entry by input name and extractor only, so a different
weights file (a random test network, another conversion) would silently reuse features.
ganbench's key holds the data's content fingerprint, split, classes, extractor, layer,
real sample count, subset rule, the sha256 of the weights and the torch-fidelity
version; the key is stored inside the file and compared on load. torch and
torch_fidelity are imported inside the functions, so that `ganbench list` stays fast.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganbench.results import write_json
from ganbench.specs import EvalContext

from .extractors import Extractor
from .features import extract
from .weights import Weights

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: bump when the reference cache's content or the real-subset rule changes
REFERENCE_VERSION = 1


@dataclass
class Reference:
    """Features and FID statistics of the real reference images, for one layer."""

    key: dict[str, Any]
    features: "torch.Tensor"
    mu: Any
    sigma: Any
    path: Path

    @property
    def num_real(self) -> int:
        return int(self.key["num_real"])


def tf_version() -> str:
    try:
        return version("torch-fidelity")
    except PackageNotFoundError:  # pragma: no cover
        import torch_fidelity
        return getattr(torch_fidelity, "__version__", "?")


def reference_key(ctx: EvalContext, ext: Extractor, layer: str, num_real: int, weights_sha256: str) -> dict[str, Any]:
    """Everything that decides the reference features; a cache entry is used only for an equal key."""
    n_all = len(ctx.real.images)
    n = n_all if num_real <= 0 or num_real >= n_all else num_real
    return {"version": REFERENCE_VERSION, "dataset": ctx.dataset, "fingerprint": ctx.real.fingerprint,
            "split": ctx.split, "classes": [str(c) for c in ctx.classes], "extractor": ext.name, "layer": layer,
            "num_real": n, "subset": "all" if n == n_all else "randperm(seed=0)",
            "weights_sha256": weights_sha256, "torch_fidelity": tf_version()}


def reference_labels(ctx: EvalContext, key: dict[str, Any]) -> "torch.Tensor":
    """The class labels of the reference features, in their order (the same seed-0 subset)."""
    import torch

    labels = ctx.real.labels.cpu()
    if key["num_real"] < len(labels):
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:key["num_real"]]]
    return labels


def reference_path(cache_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return Path(cache_dir) / "fidelity" / f"{key['extractor']}-{key['layer']}-{digest}.pt"


#: the last reference used, by cache path; a new process starts with it empty
REFERENCES: dict[str, Reference] = {}


def reference_for(ctx: EvalContext, ext: Extractor, weights: Weights, layer: str, num_real: int,
                  batch_size: int) -> Reference:
    """Real features for the key: from memory, else from disk (key verified), else computed once."""
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics

    key = reference_key(ctx, ext, layer, num_real, weights.sha256)
    path = reference_path(ctx.cache_dir, key)
    if str(path) in REFERENCES and REFERENCES[str(path)].key == key:
        return REFERENCES[str(path)]
    ref = None
    if path.is_file():
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if obj.get("key") == key:
                ref = Reference(key, obj["features"], obj["mu"].numpy(), obj["sigma"].numpy(), path)
        except Exception:  # a damaged entry is recomputed, never trusted
            ref = None
    if ref is None:
        images = ctx.real.images
        if key["num_real"] < len(images):
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:key["num_real"]]
            images = images[pick.to(images.device)]
        feats = extract(ext, weights, images, ctx.device, batch_size)[layer]
        stats = fid_features_to_statistics(feats)
        ref = Reference(key, feats, stats["mu"], stats["sigma"], path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save({"key": key, "features": feats, "mu": torch.from_numpy(stats["mu"]),
                    "sigma": torch.from_numpy(stats["sigma"])}, tmp)
        os.replace(tmp, path)
        write_json(path.with_suffix(".json"), key)  # for people browsing the cache
    REFERENCES.clear()
    REFERENCES[str(path)] = ref
    return ref
