"""Oxford Flowers-102 from its jpg folder and two .mat files (labels, official splits).

numpy, torch, scipy and torchvision are imported inside the functions, so that
`ganbench list` stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

from ganbench.config import opt
from ganbench.data import Decoded, data_root, file_identity, finish, load_decoded, online, read_images
from ganbench.errors import GanbenchError, ResourceMissing
from ganbench.specs import ImageData

from .common import SplitOptions, download, host_port, not_found

FLOWERS_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
FLOWERS_CLASSES = 102
FLOWERS_SPLITS = {"train": "trnid", "val": "valid", "test": "tstid"}


@dataclass(frozen=True)
class FlowersOptions(SplitOptions):
    """[datasets.flowers102]: photos of varying size, so always centre-cropped to one resolution."""

    SPLITS: ClassVar[tuple[str, ...]] = ("train", "val", "test", "all")
    split: str = opt("all", "train | val | test (the official 1,020 / 1,020 / 6,149 images) or all 8,189; "
                            "GANs train on all, as in the reports")
    resolution: int = opt(64, "side after a centre crop and resize at load (not 0: the photos vary in size)",
                          min=0, max=4096)

    def validate(self) -> None:
        super().validate()
        if self.resolution == 0:
            raise GanbenchError("Flowers-102 photos vary in size (about 500 pixels on the short side), so "
                                "they need one resolution; 0 (native) is not possible",
                                hint="set resolution = 64 (the reports') or another size")


def _flowers_dir(options: Any) -> Optional[Path]:
    root = data_root(options, "flowers102")
    for d in (root / "flowers-102", root):
        if (d / "jpg").is_dir() and (d / "imagelabels.mat").is_file() and (d / "setid.mat").is_file():
            return d
    return None


def check(options: Any) -> Optional[str]:
    """None when the photos and .mat files are here or can be downloaded, else what to do."""
    if _flowers_dir(options) or (options.download and online(*host_port(FLOWERS_URL))):
        return None
    root = data_root(options, "flowers102")
    return not_found("Flowers-102", "datasets.flowers102",
                     f"{root}/flowers-102/{{jpg/image_00001.jpg…, imagelabels.mat, setid.mat}}",
                     f"Extract 102flowers.tgz and put imagelabels.mat and setid.mat ({FLOWERS_URL}) there",
                     options, FLOWERS_URL)


def _loadmat(path: Path, key: str) -> Any:
    import numpy as np
    from scipy.io import loadmat

    try:
        return np.asarray(loadmat(str(path))[key]).reshape(-1).astype(np.int64)
    except Exception as exc:
        raise GanbenchError(f"cannot read '{key}' from {path}: {type(exc).__name__}: {exc}",
                            where="datasets.flowers102",
                            hint=f"download {path.name} again from {FLOWERS_URL}") from exc


def load(options: Any, cache_dir: str) -> ImageData:
    """The split's photos, centre-cropped to one resolution, downloading through torchvision when allowed."""
    import numpy as np
    import torch

    problem = check(options)
    folder = _flowers_dir(options)
    if folder is None:
        if problem:
            raise ResourceMissing(problem, where="datasets.flowers102")
        root = data_root(options, "flowers102")
        from torchvision.datasets import Flowers102
        download("Flowers-102", "datasets.flowers102", root, FLOWERS_URL,
                 lambda: Flowers102(str(root), split="train", download=True))
        folder = _flowers_dir(options)
        if folder is None:
            raise ResourceMissing(f"Flowers-102 was downloaded into {root} but its files are not there",
                                  where="datasets.flowers102")
    labels_all = _loadmat(folder / "imagelabels.mat", "labels") - 1  # 1-based in the file
    if options.split == "all":
        ids = np.arange(1, len(labels_all) + 1)
    else:
        ids = np.sort(_loadmat(folder / "setid.mat", FLOWERS_SPLITS[options.split]))
    if len(ids) == 0 or ids.min() < 1 or ids.max() > len(labels_all):
        raise GanbenchError(f"{folder / 'setid.mat'} names images outside 1..{len(labels_all)}",
                            where="datasets.flowers102", hint=f"download setid.mat again from {FLOWERS_URL}")
    if labels_all.min() < 0 or labels_all.max() >= FLOWERS_CLASSES:
        raise GanbenchError(f"{folder / 'imagelabels.mat'}: labels outside 1..{FLOWERS_CLASSES}",
                            where="datasets.flowers102")
    paths = [folder / "jpg" / f"image_{i:05d}.jpg" for i in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ResourceMissing(f"{len(missing)} of {len(paths)} Flowers-102 images are missing, e.g. {missing[0]}",
                              where="datasets.flowers102", hint=f"re-extract 102flowers.tgz into {folder}")
    channels = options.channels or 3
    key = {"split": options.split, "channels": channels, "resolution": options.resolution, "fit": "center-crop",
           "files": file_identity([folder / "imagelabels.mat", folder / "setid.mat", *paths])}

    def decode() -> Decoded:
        from torchvision.datasets import Flowers102  # its class names; cached with the pixels

        images = read_images(paths, channels, options.resolution, "center-crop")
        return Decoded(images, torch.from_numpy(labels_all[ids - 1]), tuple(Flowers102.classes))

    data = load_decoded(cache_dir, "flowers102", key, decode)
    return finish(data.images, data.labels, data.class_names, options, "datasets.flowers102",
                  description=f"Flowers-102 {options.split} ({len(paths):,} photos, centre-cropped to "
                              f"{options.resolution}x{options.resolution})")
