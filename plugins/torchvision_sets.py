"""The reports' data sets: CIFAR-10, MNIST, Fashion-MNIST and Flowers-102.

Each is read from its own on-disk format (CIFAR's python pickles, the IDX files of
(Fashion-)MNIST, Flowers-102's jpg folder and .mat files) in the layouts torchvision
downloads into, so a torchvision download, a manual download and Debian's
`dataset-fashion-mnist` package all work. torchvision is only asked to download, and
only when `download = true` and its server answers. The decoded uint8 tensor is cached
on disk (ganbench.data.load_decoded) keyed by the source files' identity, so a second
load maps it instead of decoding again.
"""
from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional
from urllib.parse import urlparse

from ganbench import hookimpl
from ganbench.config import opt
from ganbench.data import (Decoded, DatasetOptions, data_root, file_identity, finish, load_decoded, online,
                           read_images)
from ganbench.errors import GanbenchError, ResourceMissing, did_you_mean
from ganbench.specs import DatasetSpec

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_CLASSES = tuple(str(i) for i in range(10))
# torchvision's names, lower-cased like CIFAR-10's ("sneaker"); matching ignores case anyway
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class SplitOptions(DatasetOptions):
    """Common options plus a check of `split` against the set's own splits."""

    SPLITS: ClassVar[tuple[str, ...]] = ("train", "test")

    def validate(self) -> None:
        if self.split not in self.SPLITS:
            raise GanbenchError(f"unknown split '{self.split}'{did_you_mean(self.split, self.SPLITS)}")


@dataclass(frozen=True)
class CifarOptions(SplitOptions):
    """[datasets.cifar10]: the 50,000 training or 10,000 test images."""


@dataclass(frozen=True)
class MnistOptions(SplitOptions):
    """[datasets.mnist]: the 60,000 training or 10,000 test images."""


@dataclass(frozen=True)
class FashionMnistOptions(SplitOptions):
    """[datasets.fashion-mnist]: the 60,000 training or 10,000 test images."""


@dataclass(frozen=True)
class FlowersOptions(SplitOptions):
    """[datasets.flowers102]: photos of varying size, so always centre-cropped to one resolution."""

    SPLITS: ClassVar[tuple[str, ...]] = ("train", "val", "test", "all")
    split: str = opt("all", "train | val | test (the official 1,020 / 1,020 / 6,149 images) or all 8,189; "
                            "GANs train on all, as in the reports")
    resolution: int = opt(64, "side after a centre crop and resize at load")

    def validate(self) -> None:
        if self.resolution == 0:
            raise GanbenchError("Flowers-102 photos vary in size (about 500 pixels on the short side), so "
                                "they need one resolution; 0 (native) is not possible",
                                hint="set resolution = 64 (the reports') or another size")


def _host(url: str) -> tuple[str, int]:
    u = urlparse(url)
    return u.hostname or "", u.port or (443 if u.scheme == "https" else 80)


def _download(title: str, where: str, root: Path, url: str, fetch: Callable[[], Any]) -> None:
    """Download through torchvision; any failure becomes ResourceMissing saying what to do."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch()
    except Exception as exc:
        raise ResourceMissing(f"downloading {title} from {url} into {root} failed: {type(exc).__name__}: {exc}",
                              where=where, hint=f"download it by hand into {root}, or retry online") from exc


def _not_found(title: str, where: str, expected: str, how: str, options: DatasetOptions, url: str) -> str:
    why = ("download = false (set it to true on a machine with internet access)" if not options.download
           else f"{_host(url)[0]} cannot be reached (offline?)")
    return (f"{title} not found: expected {expected}. {how}, or set {where}.root (or $GANBENCH_DATA) to "
            f"where the files are. Not downloaded: {why}")


# -- CIFAR-10: python pickle batches -------------------------------------------------------

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a data file must not run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not a numpy array)")


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
        if not isinstance(obj, dict):
            raise pickle.UnpicklingError(f"expected a dict, found {type(obj).__name__}")
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    except Exception as exc:
        raise GanbenchError(f"{path} is truncated or not a CIFAR-10 python batch ({type(exc).__name__}: {exc})",
                            where="datasets.cifar10",
                            hint=f"delete {path.parent} and load again with download = true, or re-extract "
                                 f"cifar-10-python.tar.gz from {CIFAR_URL}") from exc


def _cifar_dir(options: Any) -> Optional[Path]:
    root = data_root(options, "cifar10")
    for d in (root / "cifar-10-batches-py", root):
        if all((d / f).is_file() for f in CIFAR_FILES[options.split]):
            return d
    return None


def cifar_check(options: Any) -> Optional[str]:
    if _cifar_dir(options) or (options.download and online(*_host(CIFAR_URL))):
        return None
    root = data_root(options, "cifar10")
    return _not_found("CIFAR-10", "datasets.cifar10",
                      f"{root}/cifar-10-batches-py/{{{','.join(CIFAR_FILES[options.split])}}}",
                      f"Extract the python version ({CIFAR_URL}) into {root}", options, CIFAR_URL)


def cifar_load(options: Any, cache_dir: str):
    import numpy as np
    import torch

    folder = _cifar_dir(options)
    if folder is None:
        problem = cifar_check(options)
        if problem:
            raise ResourceMissing(problem, where="datasets.cifar10")
        root = data_root(options, "cifar10")
        from torchvision.datasets import CIFAR10
        _download("CIFAR-10", "datasets.cifar10", root, CIFAR_URL,
                  lambda: CIFAR10(str(root), train=options.split == "train", download=True))
        folder = _cifar_dir(options)
        if folder is None:
            raise ResourceMissing(f"CIFAR-10 was downloaded into {root} but its files are not there",
                                  where="datasets.cifar10")
    files = [folder / f for f in CIFAR_FILES[options.split]]
    meta = folder / "batches.meta"
    key = {"split": options.split, "files": file_identity(files + ([meta] if meta.is_file() else []))}

    def decode() -> Decoded:
        names = CIFAR10_CLASSES
        if meta.is_file():
            names = tuple(str(n) for n in _unpickle(meta).get("label_names", names))
        # one output buffer, filled one batch at a time: peak is the output plus one batch
        images = np.empty((10000 * len(files), 3, 32, 32), dtype=np.uint8)
        labels: list[Any] = []
        n = 0
        for path in files:
            batch = _unpickle(path)
            data = np.asarray(batch.get("data"))
            y = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(y) != len(data):
                raise GanbenchError(f"{path}: expected 'data' uint8 (N, 3072) and N labels, found "
                                    f"{data.dtype} {data.shape} and {len(y)} labels", where="datasets.cifar10",
                                    hint=f"re-extract cifar-10-python.tar.gz from {CIFAR_URL}")
            if len(y) and (y.min() < 0 or y.max() >= len(names)):
                raise GanbenchError(f"{path}: labels outside 0..{len(names) - 1}", where="datasets.cifar10")
            if n + len(data) > len(images):  # not the official 10,000 per batch: grow
                images = np.concatenate([images[:n], np.empty((len(data), 3, 32, 32), np.uint8)])
            images[n:n + len(data)] = data.reshape(-1, 3, 32, 32)
            labels.append(y)
            n += len(data)
            del batch, data
        return Decoded(torch.from_numpy(images[:n]), torch.from_numpy(np.concatenate(labels)), names)

    data = load_decoded(cache_dir, "cifar10", key, decode)
    return finish(data.images, data.labels, data.class_names, options, "datasets.cifar10",
                  description=f"CIFAR-10 {options.split} ({len(data.images):,} images, 32x32)")


# -- MNIST and Fashion-MNIST: IDX files, raw or gzipped --------------------------------------

IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path, ndim: int, where: str) -> "Any":
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
class _Idx:
    """What differs between MNIST and Fashion-MNIST."""

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

    def find(self, options: Any) -> Optional[tuple[Path, Path]]:
        for d in self.dirs(options):
            pair = _idx_pair(d, options.split)
            if pair:
                return pair
        return None

    def check(self, options: Any) -> Optional[str]:
        if self.find(options):
            return None
        url = self.url()
        if options.download and online(*_host(url)):
            return None
        files = ", ".join(f"{n}[.gz]" for n in IDX_FILES[options.split])
        places = [str(d) for d in self.dirs(options)]
        how = f"Copy the IDX files ({url}) into {places[0]}"
        if self.name == "fashion-mnist" and not options.root:
            how += " (or `apt install dataset-fashion-mnist`, which puts them in /usr/share/datasets)"
        return _not_found(self.title, self.where, f"{files} in {' or '.join(places)}", how, options, url)

    def load(self, options: Any, cache_dir: str):
        import torch

        pair = self.find(options)
        if pair is None:
            problem = self.check(options)
            if problem:
                raise ResourceMissing(problem, where=self.where)
            root = data_root(options, self.name)
            import torchvision.datasets as tvd  # only here: importing torchvision takes seconds
            cls = getattr(tvd, self.torchvision_name)
            _download(self.title, self.where, root, self.url(),
                      lambda: cls(str(root), train=options.split == "train", download=True))
            pair = self.find(options)
            if pair is None:
                raise ResourceMissing(f"{self.title} was downloaded into {root} but its files are not there",
                                      where=self.where)
        images_path, labels_path = pair
        key = {"split": options.split, "files": file_identity(pair)}

        def decode() -> Decoded:
            images = read_idx(images_path, 3, self.where)
            labels = read_idx(labels_path, 1, self.where)
            if len(labels) != len(images):
                raise GanbenchError(f"{images_path} has {len(images):,} images but {labels_path} has "
                                    f"{len(labels):,} labels", where=self.where,
                                    hint="the two files come from different splits or downloads")
            if len(labels) and int(labels.max()) >= len(self.classes):
                raise GanbenchError(f"{labels_path}: labels outside 0..{len(self.classes) - 1}", where=self.where)
            return Decoded(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), self.classes)

        data = load_decoded(cache_dir, self.name, key, decode)
        h, w = data.images.shape[2:]
        return finish(data.images, data.labels, data.class_names, options, self.where,
                      description=f"{self.title} {options.split} ({len(data.images):,} images, {h}x{w}) "
                                  f"from {images_path.parent}")

    def spec(self, description: str, options: type) -> DatasetSpec:
        return DatasetSpec(self.name, description, load=self.load, options=options, check=self.check,
                           num_classes=len(self.classes),
                           shape=lambda o: (o.channels or 1, o.resolution or 28, o.resolution or 28))


MNIST = _Idx("mnist", "MNIST", "MNIST", MNIST_CLASSES)
FASHION_MNIST = _Idx("fashion-mnist", "Fashion-MNIST", "FashionMNIST", FASHION_CLASSES, (DEBIAN_FASHION_MNIST,))


# -- Flowers-102: a jpg folder and two .mat files ----------------------------------------------

FLOWERS_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
FLOWERS_CLASSES = 102
FLOWERS_SPLITS = {"train": "trnid", "val": "valid", "test": "tstid"}


def _flowers_dir(options: Any) -> Optional[Path]:
    root = data_root(options, "flowers102")
    for d in (root / "flowers-102", root):
        if (d / "jpg").is_dir() and (d / "imagelabels.mat").is_file() and (d / "setid.mat").is_file():
            return d
    return None


def flowers_check(options: Any) -> Optional[str]:
    if _flowers_dir(options) or (options.download and online(*_host(FLOWERS_URL))):
        return None
    root = data_root(options, "flowers102")
    return _not_found("Flowers-102", "datasets.flowers102",
                      f"{root}/flowers-102/{{jpg/image_00001.jpg…, imagelabels.mat, setid.mat}}",
                      f"Extract 102flowers.tgz and put imagelabels.mat and setid.mat ({FLOWERS_URL}) there",
                      options, FLOWERS_URL)


def _loadmat(path: Path, key: str) -> "Any":
    import numpy as np
    from scipy.io import loadmat

    try:
        return np.asarray(loadmat(str(path))[key]).reshape(-1).astype(np.int64)
    except Exception as exc:
        raise GanbenchError(f"cannot read '{key}' from {path}: {type(exc).__name__}: {exc}",
                            where="datasets.flowers102",
                            hint=f"download {path.name} again from {FLOWERS_URL}") from exc


def flowers_load(options: Any, cache_dir: str):
    import numpy as np
    import torch

    problem = flowers_check(options)
    folder = _flowers_dir(options)
    if folder is None:
        if problem:
            raise ResourceMissing(problem, where="datasets.flowers102")
        root = data_root(options, "flowers102")
        from torchvision.datasets import Flowers102
        _download("Flowers-102", "datasets.flowers102", root, FLOWERS_URL,
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


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(DatasetSpec("cifar10", "CIFAR-10: 60,000 32x32 colour images of 10 classes (python batches)",
                             load=cifar_load, options=CifarOptions, check=cifar_check, num_classes=10,
                             shape=lambda o: (o.channels or 3, o.resolution or 32, o.resolution or 32)))
    registry.add(MNIST.spec("MNIST handwritten digits: 70,000 28x28 grayscale images (IDX files)", MnistOptions))
    registry.add(FASHION_MNIST.spec("Fashion-MNIST: 70,000 28x28 grayscale clothing images (IDX files; also "
                                    "Debian's dataset-fashion-mnist)", FashionMnistOptions))
    registry.add(DatasetSpec("flowers102", "Oxford Flowers-102: 8,189 photos of 102 species, centre-cropped",
                             load=flowers_load, options=FlowersOptions, check=flowers_check, num_classes=FLOWERS_CLASSES,
                             shape=lambda o: (o.channels or 3, o.resolution or 64, o.resolution or 64)))
