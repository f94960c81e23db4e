"""One torch-fidelity metric on one evaluation: weights, the shared feature pass, the
reference, the scores, and the protocol that states how they were made."""
from __future__ import annotations

from typing import Any

from ganbench.specs import EvalContext

from .extractors import extractor_for
from .features import extract
from .options import options_for
from .reference import reference_for, reference_labels, tf_version
from .scores import intra_class_fid, scores_from_features
from .weights import resolve_weights

QUANTIZATION = "uint8 round((x+1)*127.5)"


def compute_metric(name: str, ctx: EvalContext) -> dict[str, float]:
    """The metric's scores; its protocol is left in ``ctx.shared`` for :func:`recorded_protocol`."""
    options = options_for(ctx, name)
    ext = extractor_for(name, options)
    weights = resolve_weights(name, options)
    fake, fake_labels = ctx.fake()
    fake_feats = ctx.shared(("torch-fidelity features", ext.name, weights.sha256, options.batch_size),
                            lambda: extract(ext, weights, fake, ctx.device, options.batch_size))
    ref = None
    if name != "is":
        layer = ext.layer(name)
        ref = ctx.shared(("torch-fidelity reference", ext.name, weights.sha256, layer, options.num_real),
                         lambda: reference_for(ctx, ext, weights, layer, options.num_real, options.batch_size))
    scores, extra = scores_from_features(name, options, fake_feats, ref, ext.short)
    if name == "fid" and ctx.conditional and fake_labels is not None:
        scores[f"ifid_{ext.short}"] = intra_class_fid(fake_feats[ref.key["layer"]], fake_labels, ref,
                                                      reference_labels(ctx, ref.key))
        extra["ifid"] = ("intra-class FID: the FID between each requested class's generated samples and that "
                         "class's real reference images, averaged over the classes")
    protocol: dict[str, Any] = {
        "extractor": ext.name, "layer": ref.key["layer"] if ref is not None else extra.pop("layer"),
        "weights_sha256": weights.sha256[:16], "pretrained": weights.official,
        "num_fake": len(fake), "quantization": QUANTIZATION,
        "input": "uint8 RGB" + (", grayscale replicated to 3 channels" if fake.shape[1] == 1 else "")
                 + f", {fake.shape[-2]}x{fake.shape[-1]} resized by torch-fidelity",
        "torch_fidelity": tf_version()}
    if ref is not None:
        protocol.update(num_real=ref.num_real, reference_split=ctx.split,
                        reference_classes=[str(c) for c in ctx.classes], reference_subset=ref.key["subset"],
                        reference_fingerprint=ctx.real.fingerprint)
    protocol.update(extra)
    ctx.shared(("torch-fidelity protocol", name), lambda: protocol)
    return scores


def recorded_protocol(name: str, ctx: EvalContext) -> dict[str, Any]:
    """The protocol :func:`compute_metric` recorded for this metric in this evaluation ({} before it ran)."""
    return dict(ctx.shared(("torch-fidelity protocol", name), dict))
