"""Feature extraction: one torch-fidelity pass over uint8 images, every layer at once.

fid, is and kid need different layers of the same Inception-v3 pass, so a pass extracts
every layer its extractor lists, and the network is kept between evaluations. torch and
torch_fidelity are imported inside the functions, so that `ganbench list` stays fast.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ganbench.errors import GanbenchError

from .extractors import Extractor
from .weights import Weights, verified_copy

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the networks kept between evaluations, by (extractor, weights sha256, device); one at a time
NETWORKS: dict[tuple[str, str, str], Any] = {}
#: (extractor, number of images) per feature pass, so tests can count passes
PASSES: list[tuple[str, int]] = []


def uint8_dataset(images: "torch.Tensor") -> Any:
    """uint8 images (N, 1 or 3, H, W) as the torch Dataset that torch-fidelity reads."""
    import torch

    class Uint8Images(torch.utils.data.Dataset):
        """(3, H, W) uint8 tensors one at a time, what torch-fidelity expects (not tuples, not files)."""

        def __init__(self, x: torch.Tensor):
            if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
                raise GanbenchError(f"expected uint8 images (N, 1 or 3, H, W), found {x.dtype} {tuple(x.shape)}")
            self.x = x.detach().cpu().contiguous()

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> torch.Tensor:
            img = self.x[i]
            return img.expand(3, -1, -1) if img.shape[0] == 1 else img  # grayscale: replicate

    return Uint8Images(images)


def _net(ext: Extractor, weights: Weights, device: "torch.device") -> Any:
    """The torch-fidelity extractor with every layer ganbench needs, kept between evaluations."""
    key = (ext.name, weights.sha256, str(device))
    if key not in NETWORKS:
        from torch_fidelity.utils import create_feature_extractor
        NETWORKS.clear()  # one network in memory at a time
        with _on(device), verified_copy(weights) as path:
            NETWORKS[key] = create_feature_extractor(ext.name, list(ext.layers), cuda=device.type == "cuda",
                                                     feature_extractor_weights_path=path, verbose=False)
    return NETWORKS[key]


def _on(device: "torch.device") -> Any:
    import torch
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def extract(ext: Extractor, weights: Weights, images: "torch.Tensor", device: "torch.device",
            batch_size: int) -> dict[str, "torch.Tensor"]:
    """{layer: float32 (N, D) CPU features} for uint8 images, in one torch-fidelity pass."""
    from torch_fidelity.utils import get_featuresdict_from_dataset

    cuda = device.type == "cuda"
    net = _net(ext, weights, device)
    PASSES.append((ext.name, len(images)))
    del PASSES[:-100]
    with _on(device):
        # save_cpu_ram=True on every device: its DataLoader then reads in this process. The images
        # are one tensor in memory already; loader workers would only fight the compute threads
        # on CPU, and on CUDA they cannot start inside a (daemonic) executor worker at all
        return get_featuresdict_from_dataset(uint8_dataset(images), net, batch_size, cuda, True, False)
