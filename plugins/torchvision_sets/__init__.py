"""The reports' data sets: CIFAR-10, MNIST, Fashion-MNIST and Flowers-102.

Each is read from its own on-disk format (CIFAR's python pickles, the IDX files of
(Fashion-)MNIST, Flowers-102's jpg folder and .mat files: :mod:`.cifar`, :mod:`.idx`,
:mod:`.flowers`) in the layouts torchvision downloads into, so a torchvision download, a
manual download and Debian's `dataset-fashion-mnist` package all work. torchvision is
only asked to download, and only when `download = true` and its server answers. The
decoded uint8 tensor is cached on disk (ganbench.data.load_decoded) keyed by the source
files' identity, so a second load maps it instead of decoding again.
"""
from __future__ import annotations

from ganbench import hookimpl
from ganbench.registry import Registry
from ganbench.specs import DatasetSpec

from . import cifar, flowers
from .idx import FASHION_MNIST, MNIST, FashionMnistOptions, MnistOptions

#: images per split, for `validate`'s memory check before anything is read
SPLIT_SIZES = {"cifar10": {"train": 50000, "test": 10000, "all": 60000},
               "flowers102": {"train": 1020, "val": 1020, "test": 6149, "all": 8189}}


@hookimpl
def ganbench_register_datasets(registry: Registry[DatasetSpec]) -> None:
    registry.add(DatasetSpec("cifar10", "CIFAR-10: 60,000 32x32 colour images of 10 classes (python batches)",
                             load=cifar.load, options=cifar.CifarOptions, check=cifar.check, num_classes=10,
                             inventory=lambda o: (cifar.CIFAR10_CLASSES, SPLIT_SIZES["cifar10"][o.split]),
                             shape=lambda o: (o.channels or 3, o.resolution or 32, o.resolution or 32)))
    registry.add(MNIST.spec("MNIST handwritten digits: 70,000 28x28 grayscale images (IDX files)", MnistOptions))
    registry.add(FASHION_MNIST.spec("Fashion-MNIST: 70,000 28x28 grayscale clothing images (IDX files; also "
                                    "Debian's dataset-fashion-mnist)", FashionMnistOptions))
    registry.add(DatasetSpec("flowers102", "Oxford Flowers-102: 8,189 photos of 102 species, centre-cropped",
                             load=flowers.load, options=flowers.FlowersOptions, check=flowers.check,
                             num_classes=flowers.FLOWERS_CLASSES,
                             inventory=lambda o: (None, SPLIT_SIZES["flowers102"].get(o.split)),
                             shape=lambda o: (o.channels or 3, o.resolution or 64, o.resolution or 64)))
