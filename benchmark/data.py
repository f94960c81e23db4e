"""Shared data-set machinery: common options, class selection, one-time resizing,
content fingerprints and the data root. Data-set plugins build on these."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from .config import opt
from .errors import GanbenchError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .specs import ImageData


@dataclass(frozen=True)
class DatasetOptions:
    """Options every data set understands ([datasets.<name>])."""

    root: str = opt("", "data folder; default $GANBENCH_DATA or ~/.cache/ganbench/data")
    split: str = opt("train", "which split to load")
    classes: list[Union[str, int]] = opt([], "class subset by name or index; [] = all")
    resolution: int = opt(0, "square side in pixels after resizing once at load; 0 = native")
    channels: int = opt(0, "1 or 3 after conversion at load; 0 = native")
    limit: int = opt(0, "keep at most this many images (first N after class selection); 0 = all")
    download: bool = opt(True, "download through torchvision when missing and online")

    def validate(self) -> None:
        if self.resolution < 0 or self.limit < 0:
            raise GanbenchError("resolution and limit must be ≥ 0")
        if self.channels not in (0, 1, 3):
            raise GanbenchError(f"channels must be 1 or 3 (or 0 for native), found {self.channels}")


def data_root(options: DatasetOptions, name: str) -> Path:
    """The `root` option, else $GANBENCH_DATA/<name>, else ~/.cache/ganbench/data/<name>."""
    if options.root:
        return Path(options.root).expanduser()
    base = os.environ.get("GANBENCH_DATA")
    if base:
        return Path(base).expanduser() / name
    return cache_dir() / "data" / name


def cache_dir() -> Path:
    """$GANBENCH_CACHE, else $XDG_CACHE_HOME/ganbench, else ~/.cache/ganbench."""
    env = os.environ.get("GANBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganbench"


def select_classes(class_names: list[str] | tuple[str, ...], wanted: list[str | int],
                   where: str) -> list[int]:
    """Class names or indices -> sorted indices, with did-you-mean on a typo."""
    out = []
    for i, c in enumerate(wanted):
        if isinstance(c, int):
            if not 0 <= c < len(class_names):
                raise GanbenchError(f"class index {c} out of range 0..{len(class_names) - 1}",
                                    where=f"{where}.classes[{i}]")
            out.append(c)
        elif c in class_names:
            out.append(list(class_names).index(c))
        else:
            raise GanbenchError(f"unknown class '{c}'{did_you_mean(c, class_names)}", where=f"{where}.classes[{i}]")
    return sorted(set(out))


def finish(images: "torch.Tensor", labels: "torch.Tensor", class_names: list[str] | tuple[str, ...],
           options: DatasetOptions, where: str, description: str = "") -> "ImageData":
    """Select classes, limit, convert channels and resize once; fingerprint the result.

    images: (N, C, H, W) uint8. Labels keep the full data set's class indices, and
    class_names stays the full list, so a classifier trained on all classes can score
    a one-class run against all of them.
    """
    import torch
    import torch.nn.functional as F

    from .specs import ImageData

    if options.classes:
        keep = select_classes(class_names, options.classes, where)
        mask = torch.isin(labels, torch.tensor(keep, dtype=labels.dtype))
        images, labels = images[mask], labels[mask]
    if options.limit:
        images, labels = images[: options.limit], labels[: options.limit]
    if len(images) == 0:
        raise GanbenchError("no images left after class selection and limit", where=where)
    if options.channels and images.shape[1] != options.channels:
        if options.channels == 3 and images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1).contiguous()
        elif options.channels == 1 and images.shape[1] == 3:  # ITU-R 601 luma, as PIL's "L"
            w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise GanbenchError(f"cannot convert {images.shape[1]} channels to {options.channels}", where=where)
    res = options.resolution
    if res and tuple(images.shape[2:]) != (res, res):
        if images.shape[2] != images.shape[3]:
            raise GanbenchError(f"images are {images.shape[2]}x{images.shape[3]}, not square; "
                                f"cannot resize to {res}x{res} without a crop", where=where,
                                hint="this data set's plugin should crop first")
        chunks = []
        for chunk in images.split(4096):  # bounded temporary memory
            x = F.interpolate(chunk.float(), size=(res, res), mode="bilinear", antialias=True,
                              align_corners=False)
            chunks.append(x.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(chunks)
    images = images.contiguous()
    return ImageData(images, labels.long().contiguous(), tuple(class_names),
                     fingerprint(images, labels), description)


def fingerprint(images: "torch.Tensor", labels: "torch.Tensor") -> str:
    """sha256 of the final uint8 tensor, its shape and labels (16 hex chars)."""
    h = hashlib.sha256()
    h.update(str(tuple(images.shape)).encode())
    h.update(images.contiguous().numpy().tobytes() if images.device.type == "cpu" else images.cpu().numpy().tobytes())
    h.update(labels.cpu().numpy().tobytes())
    return h.hexdigest()[:16]
