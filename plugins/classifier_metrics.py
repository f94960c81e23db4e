"""Classifier metrics for labelled data sets: they run offline on any machine.

A compact CNN is trained once on the real labelled data (all classes, the run's
resolution and channels) and cached by the data's fingerprint, with its held-out
accuracy (stated in the protocol). Its penultimate features give a Fréchet distance
between generated and real images (``fd_classifier``, FID's formula in a small
domain-specific feature space), its predictions give ``mode_coverage`` (share of the
reference's classes that receive at least ``coverage_threshold`` of their real share
of the predictions), ``class_kl`` (KL(real || generated) of predicted-class
histograms, so the classifier's own confusions cancel) and, for conditional G,
``class_accuracy`` (does G draw the class it was asked for).
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganbench import GanbenchError, MetricSpec, Score, hookimpl, opt
from ganbench.metrics import frechet_distance
from ganbench.results import write_json

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from ganbench.specs import EvalContext
    from ganbench.specs import ImageData

VERSION = 1  # bump when the classifier or its training changes: invalidates caches


@dataclass(frozen=True)
class ClassifierOptions:
    epochs: int = opt(0, "training epochs; 0 = enough for ~30,000 image presentations (at least 3)", min=0)
    width: int = opt(32, "base channels of the classifier", min=1)
    coverage_threshold: float = opt(0.1, "a class is covered when it gets ≥ this fraction of its real share",
                                     above=0, max=1)
    seed: int = opt(0, "seed of the classifier's training")


def build_classifier(channels: int, resolution: int, num_classes: int, width: int) -> "torch.nn.Module":
    """Four 3×3 conv layers, two poolings and a global average: any resolution from 8 px up,
    cheap enough to train on a CPU. forward(x) -> (128-d features, class logits)."""
    import torch.nn as nn

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                nn.Linear(4 * width, 128), nn.ReLU(),
            )
            self.head = nn.Linear(128, num_classes)

        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            f = self.features(x)
            return f, self.head(f)

    return Classifier()


def _float(images: "torch.Tensor") -> "torch.Tensor":
    return images.float().div(127.5).sub(1.0)


def train_classifier(full: "ImageData", options: ClassifierOptions,
                     device: "torch.device") -> tuple["torch.nn.Module", float]:
    """Train on 90% of the real labelled data, report accuracy on the other 10%."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(options.seed)
    torch.manual_seed(options.seed)
    n = len(full.images)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, n // 10)
    val, tr = perm[:n_val], perm[n_val:]
    c, h, _ = full.shape
    model = build_classifier(c, h, full.num_classes, options.width).to(device)
    opt_ = torch.optim.Adam(model.parameters(), lr=2e-3)
    epochs = options.epochs or max(3, -(-30000 // len(tr)))
    batch = 128
    images, labels = full.images.to(device), full.labels.to(device)
    steps = epochs * max(1, len(tr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt_, max_lr=2e-3, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = tr[torch.randperm(len(tr), generator=g)].to(device)
        for i in range(0, len(order) - batch + 1 if len(order) >= batch else 1, batch):
            idx = order[i:i + batch]
            x = _float(images[idx])
            # light augmentation: random shifts of up to 2 pixels (keeps the classifier honest)
            dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(x)[1], labels[idx])
            opt_.zero_grad(set_to_none=True)
            loss.backward()
            opt_.step()
            if sched.last_epoch + 1 < steps:
                sched.step()
    model.eval()
    with torch.inference_mode():
        preds = torch.cat([model(_float(images[val[i:i + 512].to(device)]))[1].argmax(1)
                           for i in range(0, len(val), 512)])
    acc = (preds == labels[val.to(device)]).float().mean().item()
    return model, acc


def get_classifier(ctx: "EvalContext",
                   options: ClassifierOptions) -> tuple["torch.nn.Module", dict[str, Any], "ImageData"]:
    """The cached classifier for the run's data set (trained on the first call)."""
    import torch

    full = ctx.full_real() if ctx.full_real is not None else ctx.real
    key = f"v{VERSION}-{full.fingerprint}-w{options.width}-e{options.epochs}-s{options.seed}"
    cache = Path(ctx.cache_dir) / "classifier"
    path, meta_path = cache / f"{key}.pt", cache / f"{key}.json"
    memo_key = (str(path), str(ctx.device))
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    c, h, _ = full.shape
    model = build_classifier(c, h, full.num_classes, options.width).to(ctx.device)
    meta = None
    if path.exists() and meta_path.exists():
        try:
            model.load_state_dict(torch.load(path, map_location=ctx.device, weights_only=True))
            meta = json.loads(meta_path.read_text())
        except Exception:  # a damaged cache entry is retrained, never trusted
            meta = None
    if meta is None:
        model, acc = train_classifier(full, options, ctx.device)
        cache.mkdir(parents=True, exist_ok=True)
        from ganbench.train import save_checkpoint
        save_checkpoint(path, model.state_dict())
        meta = {"accuracy": acc, "fingerprint": full.fingerprint, "num_images": len(full.images),
                "classes": list(full.class_names), "version": VERSION, "weights_sha256": _sha256(path)}
        write_json(meta_path, meta)
    if "weights_sha256" not in meta:  # entries written before the hash was recorded
        meta = {**meta, "weights_sha256": _sha256(path)}
    model.eval()
    _MEMO.clear()  # one classifier in memory at a time, and only its reference features
    _REF.clear()
    _MEMO[memo_key] = (model, meta, full)
    return model, meta, full


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_MEMO: dict[Any, Any] = {}
_REF: dict[Any, Any] = {}  # keyed by id(model): valid because _MEMO keeps that model alive


def features(model: "torch.nn.Module", images: "torch.Tensor", device: "torch.device",
             batch: int = 500) -> tuple["np.ndarray", "np.ndarray"]:
    """(penultimate features, class probabilities) in float64, for uint8 images."""
    import torch
    feats, probs = [], []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            f, logits = model(_float(images[i:i + batch].to(device)))
            feats.append(f.double().cpu())
            probs.append(logits.softmax(1).double().cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def stats(feats: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    import numpy as np
    return feats.mean(0), np.cov(feats, rowvar=False)


def compute(ctx: "EvalContext") -> dict[str, float]:
    import numpy as np

    options: ClassifierOptions = ctx.options or ClassifierOptions()
    model, meta, full = get_classifier(ctx, options)
    fake, fake_labels = ctx.fake()
    if fake.shape[1:] != full.images.shape[1:]:
        raise GanbenchError(f"generated images are {tuple(fake.shape[1:])}, the classifier expects "
                            f"{tuple(full.images.shape[1:])}")
    real_f, real_p = _reference(ctx, model)
    fake_f, fake_p = features(model, fake, ctx.device)
    mu_r, s_r = stats(real_f)
    mu_f, s_f = stats(fake_f)
    k = full.num_classes
    pred = fake_p.argmax(1)
    hist_f = np.bincount(pred, minlength=k) / len(pred)
    hist_r = np.bincount(real_p.argmax(1), minlength=k) / len(real_p)
    # coverage is judged against the reference's true class shares: a one-class run is
    # not penalised for the nine classes it was never meant to draw
    share = np.bincount(ctx.real.labels.cpu().numpy(), minlength=k) / len(ctx.real.labels)
    present = share > 0
    eps = 1e-6
    p, q = (hist_r + eps) / (hist_r + eps).sum(), (hist_f + eps) / (hist_f + eps).sum()
    out = {
        "fd_classifier": frechet_distance(mu_f, s_f, mu_r, s_r),
        "mode_coverage": float((hist_f[present] >= options.coverage_threshold * share[present]).mean()),
        "class_kl": float((p * np.log(p / q)).sum()),
    }
    if ctx.conditional and fake_labels is not None:
        out["class_accuracy"] = float((pred == fake_labels.cpu().numpy()).mean())
    return out


def _reference(ctx: "EvalContext", model: "torch.nn.Module") -> tuple["np.ndarray", "np.ndarray"]:
    """Features of the real reference images (the run's own class subset), kept in memory."""
    key = (id(model), ctx.real.fingerprint, str(ctx.device))
    if key not in _REF:
        _REF.clear()
        _REF[key] = features(model, ctx.real.images, ctx.device)
    return _REF[key]


def protocol(ctx: "EvalContext") -> dict[str, Any]:
    options: ClassifierOptions = ctx.options or ClassifierOptions()
    _, meta, full = get_classifier(ctx, options)
    return {"extractor": f"ganbench-cnn-v{VERSION}-w{options.width}-e{options.epochs}-s{options.seed}",
            "classifier_accuracy": round(meta["accuracy"], 4), "classifier_data": meta["fingerprint"],
            # the classifier is trained once per machine and cache; its float results depend on the
            # thread count and hardware, so scores from different weights never share a table
            "classifier_weights": meta["weights_sha256"][:16],
            "num_fake": ctx.num_samples, "num_real": len(ctx.real.images), "reference_split": ctx.split,
            "reference_classes": [str(c) for c in ctx.classes], "coverage_threshold": options.coverage_threshold}


@hookimpl
def ganbench_register_metrics(registry: Any) -> None:
    registry.add(MetricSpec(
        name="classifier",
        description="offline: Fréchet distance in a small CNN's features, mode coverage, class KL",
        compute=compute, options=ClassifierOptions, needs_labels=True, protocol=protocol,
        scores=(Score("fd_classifier", False, "Fréchet distance in the classifier's penultimate features"),
                Score("mode_coverage", True, "share of classes G produces"),
                Score("class_kl", False, "KL(real || generated) of predicted class histograms"),
                Score("class_accuracy", True, "conditional G: share drawn in the requested class"))))
