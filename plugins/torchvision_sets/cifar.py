"""CIFAR-10 from its python pickle batches (cifar-10-batches-py), unpickled safely.

numpy, torch and torchvision are imported inside the functions, so that `ganbench list`
stays fast.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ganbench.data import Decoded, data_root, file_identity, finish, load_decoded, online
from ganbench.errors import GanbenchError, ResourceMissing
from ganbench.specs import ImageData

from .common import ALL_PARTS, SplitOptions, download, host_port, not_found

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR_FILES["all"] = [f for part in ALL_PARTS for f in CIFAR_FILES[part]]  # train then test


@dataclass(frozen=True)
class CifarOptions(SplitOptions):
    """[datasets.cifar10]: the 50,000 training or 10,000 test images, or all 60,000."""


class ArrayUnpickler(pickle.Unpickler):
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
            obj = ArrayUnpickler(f, encoding="latin1").load()
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


def check(options: Any) -> Optional[str]:
    """None when the split's batches are here or can be downloaded, else what to do."""
    if _cifar_dir(options) or (options.download and online(*host_port(CIFAR_URL))):
        return None
    root = data_root(options, "cifar10")
    return not_found("CIFAR-10", "datasets.cifar10",
                     f"{root}/cifar-10-batches-py/{{{','.join(CIFAR_FILES[options.split])}}}",
                     f"Extract the python version ({CIFAR_URL}) into {root}", options, CIFAR_URL)


def load(options: Any, cache_dir: str) -> ImageData:
    """The split's images and labels, downloading through torchvision when allowed."""
    import numpy as np
    import torch

    folder = _cifar_dir(options)
    if folder is None:
        problem = check(options)
        if problem:
            raise ResourceMissing(problem, where="datasets.cifar10")
        root = data_root(options, "cifar10")
        from torchvision.datasets import CIFAR10
        download("CIFAR-10", "datasets.cifar10", root, CIFAR_URL,
                 lambda: CIFAR10(str(root), train=options.split != "test", download=True))
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
                  description=f"CIFAR-10 {'train + test' if options.split == 'all' else options.split} "
                              f"({len(data.images):,} images, 32x32)")
