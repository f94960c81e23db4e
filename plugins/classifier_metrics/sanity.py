"""The sanity check every classifier passes before it scores: in its feature space a real
sample must be far closer to the reference than a set of constant grey images and a set of
uniform noise images are. A classifier that cannot tell real images from nonsense (untrained,
trained on one class or on too few images) would otherwise give a flat grey generator a good
fd_classifier and full mode coverage.

The rule, once per (classifier weights, reference images, input conversion) and cached:
the reference is split by a seeded permutation into two disjoint halves A and B of m =
min(N // 2, 5,000) images; with m constant images of value 128 and m images of uniform
noise (seed 1) drawn at the reference's shape and converted like generated images,
    FD(A, B) < 0.25 × min(FD(grey, B), FD(noise, B)).
A reference of fewer than 2 x MIN_HALF images is too small for the rule to judge anything (a
Fréchet distance between 5 and 5 images is mostly estimation noise): the verdict then says
"not judged", the metric scores, and its protocol carries that verdict.
numpy and torch are imported inside the functions, so that `ganbench list` stays fast.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ganbench.metrics import frechet_distance

from .nets import features

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

FACTOR = 0.25
MAX_HALF = 5000
MIN_HALF = 25
RULE = (f"FD(real half A, real half B) < {FACTOR} x min(FD(constant grey 128, B), FD(uniform noise, B)); "
        f"A, B disjoint halves of the reference (seeded), at most {MAX_HALF:,} images each")


@dataclass(frozen=True)
class Verdict:
    """The three distances and whether the rule holds (m images per set)."""

    fd_real: float
    fd_grey: float
    fd_noise: float
    m: int
    passed: bool
    judged: bool = True  # False: too few reference images for the rule (it then passes)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rule": RULE}

    def summary(self) -> dict[str, Any]:
        """For the protocol: 4 significant digits, so machines agreeing to that share a table."""
        if not self.judged:
            return {"passed": True, "judged": False, "images_per_set": self.m,
                    "rule": f"not judged: the rule needs at least {2 * MIN_HALF} reference images"}
        return {"passed": self.passed, "fd_real": float(f"{self.fd_real:.4g}"),
                "fd_grey": float(f"{self.fd_grey:.4g}"), "fd_noise": float(f"{self.fd_noise:.4g}"),
                "images_per_set": self.m, "rule": RULE}

    def why(self) -> str:
        return (f"a real sample scores FD {self.fd_real:.4g} against the reference, constant grey images "
                f"{self.fd_grey:.4g} and uniform noise {self.fd_noise:.4g}; the rule needs the real FD below "
                f"{FACTOR} x {min(self.fd_grey, self.fd_noise):.4g}")


def stats(feats: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    import numpy as np
    return feats.mean(0), np.cov(feats, rowvar=False)


def fd(a: "np.ndarray", b: "np.ndarray") -> float:
    """Fréchet distance between two feature sets."""
    return frechet_distance(*stats(a), *stats(b))


def check(model: "torch.nn.Module", reference: "np.ndarray", shape: tuple[int, int, int],
          convert: Callable[["torch.Tensor"], "torch.Tensor"], device: "torch.device") -> Verdict:
    """Apply the rule to `model`, given the features of the reference images (in their stored order).

    shape: (C, H, W) of generated images; convert: what they go through before the model.
    """
    import torch

    n = len(reference)
    m = min(n // 2, MAX_HALF)
    if m < MIN_HALF:
        return Verdict(float("nan"), float("nan"), float("nan"), m, True, judged=False)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0)).numpy()
    a, b = reference[perm[:m]], reference[perm[m:2 * m]]
    grey = torch.full((m, *shape), 128, dtype=torch.uint8)
    noise = torch.randint(0, 256, (m, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    fd_grey = fd(features(model, convert(grey), device)[0], b)
    fd_noise = fd(features(model, convert(noise), device)[0], b)
    fd_real = fd(a, b)
    return Verdict(fd_real, fd_grey, fd_noise, m, bool(fd_real < FACTOR * min(fd_grey, fd_noise)))
