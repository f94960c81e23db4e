"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models"): precision and recall's k-NN balls, counted so that outliers in the real
set cannot inflate them. Each real feature X_i gets the radius r_i to its k-th nearest real
neighbour; density = (1 / kM) Σ_j Σ_i [|Y_j − X_i| ≤ r_i] over the M generated features Y_j,
coverage = the share of real X_i whose ball holds at least one Y_j. torch is imported inside,
so that `ganbench list` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: rows of the distance matrix held at once (memory: CHUNK × N float64)
CHUNK = 1024


def density_coverage(real: "torch.Tensor", fake: "torch.Tensor", k: int) -> tuple[float, float]:
    """(density, coverage) of fake features against real ones, in float64, chunked."""
    import torch

    x, y = real.double(), fake.double()
    n = len(x)
    radii = torch.empty(n, dtype=torch.float64)
    for a in range(0, n, CHUNK):
        d = torch.cdist(x[a:a + CHUNK], x)
        radii[a:a + CHUNK] = d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself
    inside = torch.zeros(n, dtype=torch.float64)  # generated features in each real ball
    for a in range(0, len(y), CHUNK):
        inside += (torch.cdist(y[a:a + CHUNK], x) <= radii).sum(dim=0, dtype=torch.float64)
    return float(inside.sum() / (k * len(y))), float((inside > 0).double().mean())
