"""Feature-extractor weights: finding a file, vetting it before torch-fidelity unpickles it,
downloading it when that is the only way, and a random Inception-v3 for offline tests.

Order: ``[metrics.<name>] weights = "path"``, else $GANBENCH_INCEPTION_WEIGHTS
($GANBENCH_VGG16_WEIGHTS for vgg16), else torch hub's cache, else a download. Every file
is opened with ``weights_only=True`` and checked for the expected layers first. torch and
torch_fidelity are imported inside the functions that need them, so that `ganbench list`
stays fast.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlparse

from ganbench.errors import GanbenchError, ResourceMissing

from .extractors import INCEPTION, Extractor, extractor_for
from .options import OPTIONS

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class Weights:
    """A weights file that passed the safety and shape checks."""

    path: Path
    sha256: str
    official: bool  # its sha256 starts with the hash in the official file's name


_ONLINE: dict[str, bool] = {}
_INSPECTED: dict[tuple[str, str, int, int], Weights] = {}
_VETTED: dict[str, dict[str, Any]] = {}  # sha256 -> the state dict loaded with weights_only=True
_EXTRACTOR_OF: dict[str, Extractor] = {}  # sha256 -> the extractor it was vetted for


def extractor_for_weights(weights: Weights) -> Extractor:
    return _EXTRACTOR_OF.get(weights.sha256, INCEPTION)


def online(url: str, timeout: float = 3.0) -> bool:
    """Can this machine reach the download host? ($GANBENCH_OFFLINE=1 says no without asking.)"""
    if os.environ.get("GANBENCH_OFFLINE", "") not in ("", "0"):
        return False
    host = urlparse(url).hostname or ""
    if host not in _ONLINE:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            _ONLINE[host] = True
        except OSError:
            _ONLINE[host] = False
    return _ONLINE[host]


def inspect_weights(path: Path, ext: Extractor) -> Weights:
    """sha256 of the file, and proof that it is a state dict with ext's layers (weights_only load).

    Memoised by (extractor, path, size, mtime), so an evaluation during training pays it once.
    """
    import torch

    st = path.stat()
    memo = (ext.name, str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _INSPECTED:
        # one read: the bytes hashed are the bytes unpickled (weights_only) and kept, so a file
        # swapped after this check is never what torch-fidelity loads (verified_copy)
        data = path.read_bytes()
        try:
            sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ResourceMissing(f"weights file {path} cannot be loaded as a state dict "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0]})",
                                  hint=f"it must be torch-fidelity's {ext.name} weights") from exc
        bad = [k for k, shape in ext.required
               if not isinstance(sd, dict) or k not in sd or tuple(sd[k].shape) != shape]
        if bad:
            raise ResourceMissing(f"weights file {path} is not {ext.name} weights as torch-fidelity expects them "
                                  f"(missing or misshapen: {', '.join(bad)})",
                                  hint=f"use the file torch-fidelity downloads: {ext.url()}")
        digest = hashlib.sha256(data).hexdigest()
        del data
        m = re.search(r"-([0-9a-f]{8,})\.pth?$", os.path.basename(ext.url()))
        while len(_INSPECTED) >= 4:  # a few files' facts kept (inception and vgg16 may alternate)
            _INSPECTED.pop(next(iter(_INSPECTED)))
        _VETTED.clear()  # the state dict of the file inspected last, for verified_copy
        _VETTED[digest] = {k: v for k, v in sd.items()}
        _INSPECTED[memo] = Weights(path, digest, bool(m and digest.startswith(m.group(1))))
        _EXTRACTOR_OF[digest] = ext
    return _INSPECTED[memo]


@contextlib.contextmanager
def verified_copy(weights: Weights) -> Iterator[str]:
    """A path to the vetted tensors, for torch-fidelity (which unpickles with weights_only=False).

    The copy is written by ganbench from the state dict it loaded with weights_only=True, in a
    private folder (mode 0700) removed afterwards: whatever happens to the user's file after
    the check, torch-fidelity unpickles only plain tensors ganbench saved itself.
    """
    import torch

    sd = _VETTED.get(weights.sha256)
    if sd is None:  # inspected in another process, or evicted: vet it again now
        _INSPECTED.clear()
        again = inspect_weights(weights.path, extractor_for_weights(weights))
        if again.sha256 != weights.sha256:
            raise ResourceMissing(f"weights file {weights.path} changed while ganbench was using it",
                                  hint="keep the weights file unchanged during a run")
        sd = _VETTED[weights.sha256]
    with tempfile.TemporaryDirectory(prefix="ganbench-weights-") as folder:
        os.chmod(folder, 0o700)
        path = os.path.join(folder, "weights.pth")
        torch.save(sd, path)
        yield path


def _local(ext: Extractor, explicit: str, where: str) -> tuple[Optional[Path], str]:
    """(a local file to use or None, where it was named), checking named files exist."""
    for value, origin in ((explicit, f"{where}.weights"), (os.environ.get(ext.env, ""), f"${ext.env}")):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ResourceMissing(f"weights file '{value}' named by {origin} does not exist",
                                      where=where, hint=f"download {ext.url()} and point {origin} at it")
            return path, origin
    hub = ext.hub_file()
    return (hub, "torch hub cache") if hub.is_file() else (None, "")


def _how_to_fix(ext: Extractor, where: str) -> str:
    # no square brackets: the CLI prints messages through rich, which would take them for markup
    return (f"download {ext.url()} on a machine with internet, then either set {where}.weights = "
            f"\"/path/to/{os.path.basename(ext.url())}\" in the suite, export {ext.env}=/path/to/that/file, "
            f"or copy it to {ext.hub_file().parent}/ (torch hub's cache, which torch-fidelity reads)")


def weights_problem(name: str, options: Any) -> Optional[str]:
    """None when the metric's feature extractor weights can be had here, else how to fix it."""
    options = options if options is not None else OPTIONS[name]()
    ext = extractor_for(name, options)
    where = f"metrics.{name}"
    try:
        path, _ = _local(ext, options.weights, where)
        if path is not None:
            inspect_weights(path, ext)
            return None
    except GanbenchError as exc:  # the caller names where; keep what and how
        return exc.message + (f"; hint: {exc.hint}" if exc.hint else "")
    if online(ext.url()):
        return None
    return (f"{ext.name} weights for '{name}' are not on this machine and cannot be downloaded "
            f"(no network to {ext.url().split('/')[2]}). Fix: {_how_to_fix(ext, where)}")


def resolve_weights(name: str, options: Any) -> Weights:
    """The weights file to use, downloading it to torch hub's cache when that is the only way."""
    ext = extractor_for(name, options)
    where = f"metrics.{name}"
    path, _ = _local(ext, options.weights, where)
    if path is None:
        import torch
        path = ext.hub_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(ext.url(), str(path), progress=False)
        except Exception as exc:
            raise ResourceMissing(f"cannot download {ext.name} weights ({type(exc).__name__}: {exc})",
                                  where=where, hint=_how_to_fix(ext, where)) from exc
    return inspect_weights(path, ext)


def save_random_inception_weights(path: Path, seed: int = 0,
                                  images: Optional["torch.Tensor"] = None) -> Path:
    """A randomly initialised torch-fidelity Inception-v3 state dict, for offline tests and benchmarks.

    It runs the real code path without the real weights; its scores mean nothing (the
    protocol says pretrained=false). He-normal convolutions and batch-norm statistics
    calibrated on ``images`` (uint8 (N, 1 or 3, H, W); random noise when None) keep
    every layer's activations of order one on images like them: default initialisation
    lets activations shrink into denormals (very slow on CPU), and statistics from
    other images let them grow through the 11 mixed blocks.
    """
    import torch
    from torch import nn
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Blank(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
            return None  # the constructor insists on loading weights; there are none yet

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        empty = Path(tmp) / "empty.pt"
        torch.save({}, empty)
        net = Blank("inception-v3-compat", list(INCEPTION.layers), feature_extractor_weights_path=str(empty))
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
                m.momentum = None  # cumulative average: the calibration batch's statistics
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=m.in_features ** -0.5)
                nn.init.zeros_(m.bias)
        net.train()
        calib = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8) if images is None else images[:16].cpu()
        with torch.no_grad():
            net(calib.expand(-1, 3, -1, -1).contiguous())
        net.eval()
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
        tmp_out = path.with_name(f".{path.name}.tmp")
        torch.save(net.state_dict(), tmp_out)
        os.replace(tmp_out, path)
    return path
