"""Scores from features, with torch-fidelity's own feature-to-metric functions, so they are
exactly torch-fidelity's numbers. torch_fidelity is imported inside the function, so that
`ganbench list` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ganbench.errors import GanbenchError
from ganbench.metrics import intra_class

from .extractors import EXTRACTORS, INCEPTION
from .manifold import density_coverage
from .reference import Reference

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: torch-fidelity's fixed seed for KID subsets and IS shuffling (part of the protocol)
RNG_SEED = 2020


def intra_class_fid(fake: "torch.Tensor", fake_labels: "torch.Tensor", ref: Reference,
                    real_labels: "torch.Tensor") -> float:
    """Intra-class FID with torch-fidelity's own statistics and distance, class by class."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric


    def fid(f: "torch.Tensor", r: "torch.Tensor") -> float:
        return fid_statistics_to_metric(fid_features_to_statistics(f), fid_features_to_statistics(r),
                                        False)["frechet_inception_distance"]
    return intra_class(fake, fake_labels.cpu().numpy(), ref.features, real_labels.numpy(), fid)[0]


def scores_from_features(name: str, options: Any, fake: dict[str, "torch.Tensor"],
                         ref: Optional[Reference], short: str = "inception") -> tuple[dict[str, float], dict[str, Any]]:
    """(scores, metric-specific protocol) from features, with torch-fidelity's formulas.

    fake: {layer: (N, D)}; ref: the real reference (None for is). Sample-size dependent
    settings (IS splits, KID subset size) are clamped to what the data allow and reported.
    """
    ext = EXTRACTORS[ref.key["extractor"]] if ref is not None else INCEPTION
    if name == "is":
        from torch_fidelity.metric_isc import isc_features_to_metric
        logits = fake[INCEPTION.layer("isc")]
        splits = min(options.splits, len(logits))
        out = isc_features_to_metric(logits, splits, True, RNG_SEED)
        return ({f"is_{short}": out["inception_score_mean"], f"is_{short}_std": out["inception_score_std"]},
                {"layer": INCEPTION.layer("isc"), "splits": splits, "splits_clamped": splits != options.splits,
                 "rng_seed": RNG_SEED})
    if ref is None:
        raise ValueError(f"metric '{name}' compares with real images: it needs a reference")
    f_fake = fake[ref.key["layer"]]
    n_fake, n_real = len(f_fake), ref.num_real
    if name == "fid":
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
        out = fid_statistics_to_metric(fid_features_to_statistics(f_fake), {"mu": ref.mu, "sigma": ref.sigma}, False)
        return {f"fid_{short}": out["frechet_inception_distance"]}, {}
    if name == "kid":
        from torch_fidelity.metric_kid import kid_features_to_metric
        size = min(options.subset_size, n_fake, n_real)
        if size < 2:
            raise GanbenchError(f"KID needs at least 2 generated and 2 real images, found {n_fake} and {n_real}")
        out = kid_features_to_metric(f_fake, ref.features, kid_subsets=options.subsets, kid_subset_size=size,
                                     rng_seed=RNG_SEED, verbose=False)
        whole = size >= max(n_fake, n_real)  # every subset is both whole samples: nothing varies
        scores = {f"kid_{short}": out["kernel_inception_distance_mean"]}
        if not whole:
            scores[f"kid_{short}_std"] = out["kernel_inception_distance_std"]
        return (scores,
                {"kid_subsets": options.subsets, "kid_subset_size": size,
                 "kid_subset_size_clamped": size != options.subset_size,
                 **({"kid_std": "not reported: each subset is the whole generated and real sample, so "
                                "subsets do not vary and their std is no spread"} if whole else {}),
                 "kid_kernel": "poly(degree=3, gamma=1/dim, coef0=1)", "rng_seed": RNG_SEED})
    if name == "prc":
        from torch_fidelity.metric_prc import prc_features_to_metric
        k = options.neighborhood
        if min(n_fake, n_real) <= k:
            raise GanbenchError(f"precision/recall with neighborhood {k} needs more than {k} generated and real "
                                f"images, found {n_fake} and {n_real}")
        out = prc_features_to_metric(f_fake, ref.features, prc_neighborhood=k, prc_batch_size=10000,
                                     save_cpu_ram=True, verbose=False)
        density, coverage = density_coverage(ref.features, f_fake, k)
        return ({f"precision_{ext.short}": out["precision"], f"recall_{ext.short}": out["recall"],
                 f"f_score_{ext.short}": out["f_score"], f"density_{ext.short}": density,
                 f"coverage_{ext.short}": coverage},
                {"neighborhood": k, "density_coverage": "Naeem et al. 2020, k-NN radii of the real features"})
    raise KeyError(name)
