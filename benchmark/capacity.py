"""Whether this machine can run a suite at all: the device each run names, the classes it asks
of its data set, and the memory its networks, batches, data and samples need.

The networks are built on PyTorch's meta device, so nothing is allocated: a width or a batch
that would not fit is refused by `validate` with the figure, not by the kernel's OOM killer
an hour into a suite. The same footprint gives the time estimate its FLOPs. torch is imported
inside the functions, so that `ganbench list` stays fast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from .data import select_classes
from .errors import GanbenchError
from .runspec import RunSpec
from .specs import ModelContext

GiB = 1 << 30
#: share of the machine's memory one run may plan to use (the rest: the OS, the driver, caches)
USABLE = 0.8
#: bytes per parameter while training: fp32 weight, gradient and two Adam moments
BYTES_PER_PARAM = 16
#: saved activations and their gradients, per activation element of one forward pass (fp32,
#: D sees a real and a fake batch)
BYTES_PER_ACTIVATION = 4 * 3


@dataclass(frozen=True)
class Footprint:
    """One run's networks, counted on the meta device."""

    params_g: int
    params_d: int
    activations_per_image: int  # output elements of every leaf module of G and D, one image
    flops_per_image: float  # G forward + D forward and backward, one image


_FOOTPRINTS: dict[str, Optional[Footprint]] = {}


def image_shape(plugins: Any, run: RunSpec) -> tuple[int, int, int]:
    ds = plugins.datasets.get(run.dataset)
    o = run.dataset_options
    return ds.shape(o) if ds.shape else (o.channels or 3, o.resolution or 32, o.resolution or 32)


def footprint(plugins: Any, run: RunSpec) -> Optional[Footprint]:
    """G and D of this run built on the meta device, one batch of 2 through them; None when the
    model cannot be built there (a plugin doing real work at build time)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    shape = image_shape(plugins, run)
    t = run.train
    ds = plugins.datasets.get(run.dataset)
    key = f"{run.model}{shape}{t.latent_dim}{run.model_options}{t.conditional}"
    if key in _FOOTPRINTS:
        return _FOOTPRINTS[key]
    fp = None
    try:
        with torch.device("meta"):
            ctx = ModelContext(shape, t.latent_dim, (ds.num_classes or 10) if t.conditional else 0, run.model_options)
            G, D = plugins.models.get(run.model).build(ctx)
            acts = [0]

            def count(module: Any, inputs: Any, out: Any) -> None:
                for o in out if isinstance(out, tuple) else (out,):
                    if isinstance(o, torch.Tensor):
                        acts[0] += o.numel()
            hooks = [m.register_forward_hook(count) for net in (G, D) for m in net.modules()
                     if not list(m.children())]
            z = torch.randn(2, t.latent_dim)
            y = torch.zeros(2, dtype=torch.long) if t.conditional else None
            with FlopCounterMode(display=False) as c:
                out = D(G(z, y), y)
                (out[0] if isinstance(out, tuple) else out).sum().backward()
            for h in hooks:
                h.remove()
        fp = Footprint(sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()),
                       acts[0] // 2, c.get_total_flops() / 2)
    except Exception:  # a plugin's build that needs real tensors: no figure, no refusal
        fp = None
    _FOOTPRINTS[key] = fp
    return fp


def machine_memory(device: str) -> tuple[str, Optional[int]]:
    """(what, bytes) of the memory a run on ``device`` trains in: the GPU's, else the RAM."""
    if device.startswith("cuda"):
        import torch
        if torch.cuda.is_available():
            index = int(device.split(":")[1]) if ":" in device else 0
            return f"GPU {index}", torch.cuda.get_device_properties(index).total_memory
    try:
        return "RAM", os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "RAM", None


def device_problem(name: str) -> Optional[str]:
    """Why train.device cannot be used on this machine, or None."""
    import torch
    if name in ("auto", "cpu"):
        return None
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        return None if mps is not None and mps.is_available() else "this machine has no MPS (Apple GPU) device"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            return f"'{name}' but this machine has no CUDA GPU (torch {torch.__version__})"
        if ":" in name:
            index = name.split(":", 1)[1]
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                return f"'{name}' but this machine has {torch.cuda.device_count()} GPU(s): cuda:0.." \
                       f"cuda:{torch.cuda.device_count() - 1}"
    return None


def class_problem(plugins: Any, run: RunSpec) -> tuple[Optional[str], Optional[int]]:
    """(why the run's classes do not exist in its data set or None, images the run trains on or None)."""
    spec = plugins.datasets.get(run.dataset)
    o = run.dataset_options
    try:
        names, count = spec.inventory(o) if spec.inventory else (None, None)
    except GanbenchError:  # a folder check() reports on its own
        names, count = None, None
    where = f"datasets.{run.dataset}"
    if o.classes and names is None and spec.num_classes:
        names = [str(i) for i in range(spec.num_classes)] if all(isinstance(c, int) for c in o.classes) else None
    if o.classes and names is not None:
        try:
            keep = select_classes(names, o.classes, where)
        except GanbenchError as exc:
            return exc.message if exc.where is None else f"{exc.where}: {exc.message}", None
        if count is not None:
            count = count * len(keep) // max(1, len(names))
    if count is not None and o.limit:
        count = min(count, o.limit)
    return None, count


def memory_problem(plugins: Any, run: RunSpec, images: Optional[int]) -> Optional[str]:
    """The run's planned memory against this machine's, with the parts; None when it fits."""
    fp = footprint(plugins, run)
    c, h, w = image_shape(plugins, run)
    per_image = c * h * w
    t, m = run.train, run.metrics
    parts = {}
    if fp is not None:
        parts["networks"] = BYTES_PER_PARAM * (fp.params_g + fp.params_d) + (4 * fp.params_g if t.ema else 0)
        parts[f"activations at batch {t.batch_size}"] = BYTES_PER_ACTIVATION * fp.activations_per_image * t.batch_size
    if images:
        parts[f"data ({images:,} images of {c}x{h}x{w})"] = images * per_image  # uint8, held once
    samples = max(m.num_samples, m.eval_num_samples if t.eval_every else 0, t.grid_size)
    parts[f"samples ({samples:,} of {c}x{h}x{w})"] = samples * per_image + 4 * per_image * m.batch_size * 2
    need = sum(parts.values())
    what, have = machine_memory(t.device)
    if have is None or need <= USABLE * have:
        return None
    shown = ", ".join(f"{k} {v / GiB:.1f} GiB" for k, v in parts.items() if v >= GiB / 10)
    return (f"needs ≈ {need / GiB:,.1f} GiB ({shown}); this machine's {what} is {have / GiB:.1f} GiB "
            f"(a run may plan {USABLE:.0%} of it). Lower train.batch_size, the resolution, the width or "
            f"metrics.num_samples")


def check_capacity(plugins: Any, runs: list[RunSpec]) -> list[tuple[str, str]]:
    """(what, message) for each run this machine cannot run; one message per distinct problem."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(what: str, msg: str) -> None:
        if msg not in seen:
            seen.add(msg)
            out.append((what, msg))
    for run in runs:
        label = ", ".join(f"{k}={v}" for k, v in run.coords.items())
        problem = device_problem(run.train.device)
        if problem:
            add("train.device", problem + "; use device = \"auto\" (the GPU when there is one, else the CPU)")
            continue
        problem, images = class_problem(plugins, run)
        if problem:
            add(f"datasets.{run.dataset}.classes", problem)
            continue
        problem = memory_problem(plugins, run, images)
        if problem:
            add(f"run [{label}]", problem)
    return out
