"""MNIST and Fashion-MNIST from their IDX files, raw or gzipped, in torchvision's layout or
where Debian's `dataset-fashion-mnist` package puts them.

numpy, torch and torchvision are imported inside the functions, so that `ganbench list`
stays fast.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ganbench.data import Decoded, data_root, file_identity, finish, load_decoded, online
from ganbench.errors import GanbenchError, ResourceMissing
from ganbench.specs import DatasetSpec, ImageData

from .common import ALL_PARTS, SplitOptions, download, host_port, not_found

MNIST_CLASSES = tuple(str(i) for i in range(10))
# torchvision's names, lower-cased like CIFAR-10's ("sneaker"); matching ignores case anyway
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
#: the IDX splits each option value reads, concatenated in this order
PARTS = {"train": ("train",), "test": ("test",), "all": ALL_PARTS}


@dataclass(frozen=True)
class MnistOptions(SplitOptions):
    """[datasets.mnist]: the 60,000 training or 10,000 test images, or all 70,000."""


@dataclass(frozen=True)
class FashionMnistOptions(SplitOptions):
    """[datasets.fashion-mnist]: the 60,000 training or 10,000 test images, or all 70,000."""


def read_idx(path: Path, ndim: int, where: str) -> Any:
    """An IDX file (uint8 payload) -> numpy array, read into one buffer (no byte copies)."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    hint = f"delete {path} and download it again (download = true), or copy an intact one there"
    try:
        with opener(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
            if len(head) < 4 + 4 * ndim or head[:2] != b"\0\0" or head[2] != 0x08 or head[3] != ndim:
                raise GanbenchError(f"{path} is not an IDX file of {ndim}-d uint8 data "
                                    f"(header {head[:4].hex() or 'empty'})", where=where, hint=hint)
            dims = [int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            out = np.empty(dims, dtype=np.uint8)
            view, got = memoryview(out).cast("B"), 0
            while got < out.size:  # 1 MiB at a time: gzip would otherwise build a second full copy
                step = f.readinto(view[got:got + (1 << 20)])
                if not step:
                    break
                got += step
            if got != out.size:
                raise GanbenchError(f"{path} is truncated: {got:,} of {out.size:,} data bytes", where=where,
                                    hint=hint)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GanbenchError(f"cannot read {path}: {type(exc).__name__}: {exc}", where=where, hint=hint) from exc
    return out


def _idx_pair(folder: Path, split: str) -> Optional[tuple[Path, Path]]:
    found = []
    for name in IDX_FILES[split]:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found.append(candidate)
                break
    return (found[0], found[1]) if len(found) == 2 else None


@dataclass(frozen=True)
class IdxSet:
    """An IDX data set; the fields are what differs between MNIST and Fashion-MNIST."""

    name: str
    title: str
    torchvision_name: str  # the class, and the folder it downloads into (root/<name>/raw)
    classes: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()  # looked at when no root is given

    @property
    def where(self) -> str:
        return f"datasets.{self.name}"

    def url(self) -> str:
        import torchvision.datasets as tvd
        return getattr(tvd, self.torchvision_name).mirrors[0]

    def dirs(self, options: Any) -> list[Path]:
        root = data_root(options, self.name)
        dirs = [root / self.torchvision_name / "raw", root / "raw", root]
        return dirs + ([] if options.root else list(self.system_dirs))

    def find(self, options: Any) -> Optional[list[tuple[Path, Path]]]:
        """(images, labels) files of each IDX split the option's split reads, or None."""
        pairs = []
        for part in PARTS[options.split]:
            pair = next((p for p in (_idx_pair(d, part) for d in self.dirs(options)) if p), None)
            if pair is None:
                return None
            pairs.append(pair)
        return pairs

    def check(self, options: Any) -> Optional[str]:
        if self.find(options):
            return None
        url = self.url()
        if options.download and online(*host_port(url)):
            return None
        files = ", ".join(f"{n}[.gz]" for part in PARTS[options.split] for n in IDX_FILES[part])
        places = [str(d) for d in self.dirs(options)]
        how = f"Copy the IDX files ({url}) into {places[0]}"
        if self.name == "fashion-mnist" and not options.root:
            how += " (or `apt install dataset-fashion-mnist`, which puts them in /usr/share/datasets)"
        return not_found(self.title, self.where, f"{files} in {' or '.join(places)}", how, options, url)

    def load(self, options: Any, cache_dir: str) -> ImageData:
        import torch

        pairs = self.find(options)
        if pairs is None:
            problem = self.check(options)
            if problem:
                raise ResourceMissing(problem, where=self.where)
            root = data_root(options, self.name)
            import torchvision.datasets as tvd
            cls = getattr(tvd, self.torchvision_name)
            download(self.title, self.where, root, self.url(),
                     lambda: cls(str(root), train=options.split != "test", download=True))
            pairs = self.find(options)
            if pairs is None:
                raise ResourceMissing(f"{self.title} was downloaded into {root} but its files are not there",
                                      where=self.where)
        key = {"split": options.split, "files": file_identity([f for pair in pairs for f in pair])}

        def decode() -> Decoded:
            import numpy as np

            parts = [self.read_pair(*pair) for pair in pairs]
            images = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
            labels = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
            return Decoded(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), self.classes)

        data = load_decoded(cache_dir, self.name, key, decode)
        h, w = data.images.shape[2:]
        split = "train + test" if options.split == "all" else options.split
        return finish(data.images, data.labels, data.class_names, options, self.where,
                      description=f"{self.title} {split} ({len(data.images):,} images, {h}x{w}) "
                                  f"from {pairs[0][0].parent}")

    def read_pair(self, images_path: Path, labels_path: Path) -> tuple[Any, Any]:
        """One IDX split's images (N, H, W) and labels (N,), checked against each other."""
        images = read_idx(images_path, 3, self.where)
        labels = read_idx(labels_path, 1, self.where)
        if len(labels) != len(images):
            raise GanbenchError(f"{images_path} has {len(images):,} images but {labels_path} has "
                                f"{len(labels):,} labels", where=self.where,
                                hint="the two files come from different splits or downloads")
        if len(labels) and int(labels.max()) >= len(self.classes):
            raise GanbenchError(f"{labels_path}: labels outside 0..{len(self.classes) - 1}", where=self.where)
        return images, labels

    def spec(self, description: str, options: type) -> DatasetSpec:
        return DatasetSpec(self.name, description, load=self.load, options=options, check=self.check,
                           num_classes=len(self.classes),
                           inventory=lambda o: (self.classes, {"train": 60000, "test": 10000, "all": 70000}.get(o.split)),
                           shape=lambda o: (o.channels or 1, o.resolution or 28, o.resolution or 28))


MNIST = IdxSet("mnist", "MNIST", "MNIST", MNIST_CLASSES)
FASHION_MNIST = IdxSet("fashion-mnist", "Fashion-MNIST", "FashionMNIST", FASHION_CLASSES, (DEBIAN_FASHION_MNIST,))
