"""The classifier network and its one training recipe, shared by the metric (an image folder
trains its own classifier here) and scripts/train_classifiers.py (the shipped ones).

Training is deterministic so that a classifier means the same features wherever it is trained
again: fixed seeds, one CPU thread, torch's deterministic algorithms, the data in its stored
order and augmentation drawn from a seeded generator. torch is imported inside the functions,
so that `ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganbench.results import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

#: the architecture's name in metadata and protocols; bump the suffix when its layers change
ARCHITECTURE = "ganbench-cnn-v2"


@dataclass(frozen=True)
class Architecture:
    """Layer widths of the classifier: `residual` adds a residual block after each pooling
    (the shipped CIFAR-10 classifier), plain is the small net image folders train here."""

    width: int = 32
    residual: bool = False
    features: int = 128  # penultimate feature size: the space fd_classifier measures in

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """How a classifier is trained: SGD with Nesterov momentum and a one-cycle learning rate,
    random crops of the image padded by reflection (shifts up to `pad` pixels), optional
    mirror flips."""

    epochs: int
    batch: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    flip: bool = False
    pad: int = 2
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fitted:
    """What a training took: seconds of training (over all sessions) and the (epoch, step)
    pairs, counted from 0, it was resumed at."""

    seconds: float
    resumed_at: tuple[tuple[int, int], ...] = ()


def build_classifier(channels: int, num_classes: int, arch: Architecture) -> "torch.nn.Module":
    """3×3 convolutions with batch norm, two 2× poolings and a global average: any resolution
    from 8 px up. forward(x) -> (features, class logits)."""
    import torch.nn as nn

    def conv(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class Residual(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.body = nn.Sequential(*conv(c, c), *conv(c, c))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            return x + self.body(x)

    w = arch.width
    if arch.residual:
        layers = [*conv(channels, w), *conv(w, 2 * w), nn.MaxPool2d(2), Residual(2 * w),
                  *conv(2 * w, 4 * w), nn.MaxPool2d(2), Residual(4 * w)]
    else:
        layers = [*conv(channels, w), *conv(w, w), nn.MaxPool2d(2), *conv(w, 2 * w), nn.MaxPool2d(2),
                  *conv(2 * w, 4 * w)]

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(4 * w, arch.features), nn.ReLU())
            self.head = nn.Linear(arch.features, num_classes)

        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            f = self.body(x)
            return f, self.head(f)

    return Classifier()


def to_float(images: "torch.Tensor") -> "torch.Tensor":
    """uint8 [0, 255] -> float [-1, 1], the range generators draw in."""
    return images.float().div(127.5).sub(1.0)


@contextmanager
def deterministic() -> Iterator[None]:
    """One thread and deterministic algorithms for the block; the caller's settings come back."""
    import torch

    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(strict)
        torch.set_num_threads(threads)


@contextmanager
def exact(device: "torch.device") -> Iterator[None]:
    """No TF32 on CUDA for the block: features then agree with the CPU's to float32 rounding."""
    import torch

    if torch.device(device).type != "cuda":
        yield
        return
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


def augment(x: "torch.Tensor", recipe: Recipe, g: "torch.Generator") -> "torch.Tensor":
    """Per-image random crops of the reflection-padded batch and, with recipe.flip, mirror flips."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    if recipe.pad:
        p = recipe.pad
        padded = F.pad(x, (p, p, p, p), mode="reflect")
        dy = torch.randint(0, 2 * p + 1, (n,), generator=g)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=g)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]
    if recipe.flip:
        mirror = torch.rand(n, generator=g) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    return x


def fit(model: "torch.nn.Module", images: "torch.Tensor", labels: "torch.Tensor", train: "torch.Tensor",
        recipe: Recipe, log: Any = None, checkpoint: Path | None = None, key: str = "",
        checkpoint_every: int = 50) -> Fitted:
    """Train `model` (on the CPU) on images[train]; deterministic under :func:`deterministic`.

    With `checkpoint`, the whole training state (weights, optimizer, schedule, augmentation
    generator, the epoch's order and step) is saved every `checkpoint_every` steps and after
    every epoch, and a checkpoint whose `key` matches is resumed: an interrupted training
    continues to the very weights an uninterrupted one reaches.
    """
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(recipe.seed)
    per_epoch = max(1, len(train) // recipe.batch)
    steps = max(2, recipe.epochs * per_epoch)
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                           {"params": rest, "weight_decay": 0.0}], lr=recipe.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=steps, pct_start=0.25,
                                                anneal_strategy="linear")
    start, first, seconds, resumed, order, total = 0, 0, 0.0, (), None, 0.0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state.get("key") == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            g.set_state(state["generator"])
            start, first, seconds = int(state["epoch"]), int(state["step"]), float(state["seconds"])
            order, total = (state["order"], float(state["total"])) if first else (None, 0.0)
            resumed = (*[tuple(r) for r in state["resumed"]], (start, first))
    mark = time.perf_counter()

    def save(epoch: int, step: int, order: Any, total: float) -> None:
        nonlocal seconds, mark
        seconds, mark = seconds + time.perf_counter() - mark, time.perf_counter()
        if checkpoint is None:
            return
        buf = io.BytesIO()
        torch.save({"key": key, "epoch": epoch, "step": step, "order": order, "total": total,
                    "seconds": seconds, "resumed": [list(r) for r in resumed], "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": g.get_state()}, buf)
        atomic_write_bytes(checkpoint, buf.getvalue())

    model.train()
    batch = min(recipe.batch, len(train))
    for epoch in range(start, recipe.epochs):
        if order is None:
            order, total, first = train[torch.randperm(len(train), generator=g)], 0.0, 0
        for i in range(first, per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            x = augment(to_float(images[idx]), recipe, g)
            loss = F.cross_entropy(model(x)[1], labels[idx], label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < steps:
                sched.step()
            total += loss.item()
            if checkpoint is not None and (i + 1) % checkpoint_every == 0 and i + 1 < per_epoch:
                save(epoch, i + 1, order, total)
        save(epoch + 1, 0, None, 0.0)
        if log is not None:
            log(epoch + 1, total / per_epoch, seconds)
        order = None
    model.eval()
    return Fitted(seconds, tuple(resumed))


def accuracy(model: "torch.nn.Module", images: "torch.Tensor", labels: "torch.Tensor", idx: "torch.Tensor") -> float:
    """Share of images[idx] classified correctly (eval mode)."""
    import torch

    model.eval()
    right = 0
    with torch.inference_mode():
        for i in range(0, len(idx), 500):
            part = idx[i:i + 500]
            right += int((model(to_float(images[part]))[1].argmax(1) == labels[part]).sum())
    return right / max(1, len(idx))


def features(model: "torch.nn.Module", images: "torch.Tensor", device: "torch.device",
             batch: int = 500) -> tuple["np.ndarray", "np.ndarray"]:
    """(penultimate features, class probabilities) in float64, for uint8 images."""
    import torch

    feats, probs = [], []
    with torch.inference_mode(), exact(device):
        for i in range(0, len(images), batch):
            f, logits = model(to_float(images[i:i + batch].to(device)))
            feats.append(f.double().cpu())
            probs.append(logits.softmax(1).double().cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def half_state(model: "torch.nn.Module") -> dict[str, "torch.Tensor"]:
    """The state dict with floating tensors in fp16: what ships (loading converts back to fp32)."""
    return {k: (v.half() if v.is_floating_point() else v).clone() for k, v in model.state_dict().items()}


def num_parameters(model: "torch.nn.Module") -> int:
    return sum(p.numel() for p in model.parameters())
