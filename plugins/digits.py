"""scikit-learn's handwritten digits (UCI optdigits test set): 1,797 8x8 grayscale
images of 0-9, shipped inside the scikit-learn wheel. The offline default: it needs no
download, so the quickstart and the tests run anywhere.
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast."""
from __future__ import annotations

from dataclasses import dataclass

from ganbench import DatasetSpec, GanbenchError, hookimpl, opt
from ganbench.data import DatasetOptions, finish

CLASSES = tuple(str(i) for i in range(10))


@dataclass(frozen=True)
class DigitsOptions(DatasetOptions):
    resolution: int = opt(16, "side after resizing the 8x8 originals once (16 or 32 suit DCGAN)", min=0, max=4096)

    def validate(self) -> None:
        if self.split != "train":
            why = ": 'all' is train + test, and digits has no test split" if self.split == "all" else ""
            raise GanbenchError(f"digits has one split, 'train'; found '{self.split}'{why}",
                                hint="use split = \"train\" (all 1,797 images)")


def load(options: DigitsOptions, cache_dir: str):
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # values are counts 0..16 of set pixels in 4x4 blocks: scale to 0..255
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return finish(images, labels, CLASSES, options, "datasets.digits",
                  description="scikit-learn digits (8x8, 1,797 images)")


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(DatasetSpec("digits", "scikit-learn handwritten digits 0-9, offline (1,797 images)",
                             load=load, options=DigitsOptions, num_classes=10,
                             inventory=lambda o: (CLASSES, 1797),
                             shape=lambda o: (o.channels or 1, o.resolution or 8, o.resolution or 8)))
