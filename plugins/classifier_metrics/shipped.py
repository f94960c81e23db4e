"""The reference classifiers shipped with ganbench (package data in ganbench_plugins/
classifier_weights/): which data sets they serve, how scripts/train_classifiers.py trains
them, and loading them offline.

Each is an fp16 state dict (``<name>.pt``) beside a JSON of what it is: architecture and
options, input shape, class names, training data fingerprint, held-out accuracy and split
sizes, the training command and torch version. Loaded weights are checked against the
sha256 that JSON records, so a score always names the exact file it was computed with.
torch is imported inside the functions, so that `ganbench list`, which loads every plugin,
stays fast.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganbench import GanbenchError

from .nets import Architecture, Recipe, build_classifier

if TYPE_CHECKING:  # pragma: no cover
    import torch

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "classifier_weights"
#: what every shipped JSON holds (tests check it; the metric reads the first six)
META_KEYS = ("name", "architecture", "architecture_options", "input", "class_names", "weights_sha256",
             "held_out_accuracy", "split", "training_data", "recipe", "command", "torch_version",
             "train_seconds", "num_parameters")


@dataclass(frozen=True)
class ShippedSpec:
    """How one shipped classifier is trained, and which data sets it scores by default.

    dataset/options: the ganbench data set (and its options) it trains on, loaded through the
    data-set plugin so its fingerprint is the one a user's run computes. held_out: images kept
    out of training (a seeded permutation), or 0 to hold out the data set's test split.
    """

    name: str
    serves: tuple[str, ...]
    dataset: str
    options: dict[str, Any]
    arch: Architecture
    recipe: Recipe
    held_out: int = 0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


SHIPPED: dict[str, ShippedSpec] = {s.name: s for s in (
    ShippedSpec("digits", ("digits",), "digits", {"resolution": 16}, Architecture(width=32),
                Recipe(epochs=40, pad=2), held_out=297,
                notes="scikit-learn digits at 16x16 (the data set's default resolution)"),
    ShippedSpec("fashion-mnist", ("fashion-mnist",), "fashion-mnist", {}, Architecture(width=32),
                Recipe(epochs=5, pad=2, flip=True),
                notes="Fashion-MNIST train split (60,000) at 28x28; held out: its test split (10,000)"),
    ShippedSpec("cifar10", ("cifar10",), "imagefolder", {"root": "cifar10-jpeg"},
                Architecture(width=24, residual=True),
                Recipe(epochs=12, pad=4, flip=True, label_smoothing=0.1), held_out=5000,
                notes="the CIFAR-10 training images as JPEGs (50,000, one folder per class); 5,000 held out"),
)}


@dataclass(frozen=True)
class Shipped:
    """One shipped classifier's files and metadata."""

    name: str
    weights: Path
    meta: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.meta["input"]["channels"], self.meta["input"]["height"], self.meta["input"]["width"]
        return int(c), int(h), int(w)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.meta["class_names"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def find_shipped(name: str) -> Shipped:
    """The shipped classifier `name`, its weights checked against its JSON's sha256 (once per process)."""
    if name not in SHIPPED:
        raise GanbenchError(f"no shipped classifier '{name}'; shipped: {', '.join(SHIPPED)}",
                            where="metrics.classifier.reference")
    weights, meta_path = WEIGHTS_DIR / f"{name}.pt", WEIGHTS_DIR / f"{name}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanbenchError(f"the shipped classifier's metadata {meta_path} cannot be read ({exc})",
                            hint="reinstall ganbench, or train it: python scripts/train_classifiers.py "
                                 f"{name}") from exc
    if not weights.is_file() or sha256(weights) != meta.get("weights_sha256"):
        raise GanbenchError(f"the shipped classifier {weights} is missing or does not match the sha256 in "
                            f"{meta_path.name}", hint="reinstall ganbench (the package data is damaged)")
    return Shipped(name, weights, meta)


def load_shipped(found: Shipped, device: "torch.device") -> "torch.nn.Module":
    """The network with its fp16 weights loaded into fp32 parameters, in eval mode."""
    import torch


    arch = Architecture(**found.meta["architecture_options"])
    model = build_classifier(found.input_shape[0], len(found.class_names), arch)
    model.load_state_dict(torch.load(found.weights, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def serving(dataset: str) -> str:
    """The shipped classifier that scores data set `dataset` by default, or ''."""
    return next((s.name for s in SHIPPED.values() if dataset in s.serves), "")
