"""Shared data-set machinery: common options, class selection, one-time resizing,
content fingerprints, the data root, and an on-disk cache of decoded images.

Data-set plugins decode their source files once into one uint8 tensor (N, C, H, W),
which ``load_decoded`` keeps under ``cache_dir()/decoded`` as a memory-mappable
``.npy`` keyed by the source files' identity and the decode options; ``finish`` then
selects classes, limits, converts channels and resizes without ever holding more
than the input and the output. torch, numpy and PIL are imported inside the functions that
use them: data-set plugins import this module, and `ganbench list` loads every plugin.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .config import opt
from .errors import GanbenchError, ResourceMissing, did_you_mean
from .specs import ImageData

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .plugins import Plugins

DECODE_VERSION = 2  # bump when a decoder's output changes: invalidates every decoded cache
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
CHUNK_BYTES = 32 << 20  # float temporaries while converting or resizing stay below this


@dataclass(frozen=True)
class DatasetOptions:
    """Options every data set understands ([datasets.<name>])."""

    root: str = opt("", "data folder; default $GANBENCH_DATA/<name> or ~/.cache/ganbench/data/<name>")
    split: str = opt("train", "which split to load")
    classes: list[Union[str, int]] = opt([], "class subset by name or index; [] = all")
    resolution: int = opt(0, "square side in pixels after resizing once at load; 0 = native", min=0,
                          max=4096)
    channels: int = opt(0, "1 or 3 after conversion at load; 0 = native", choices=(0, 1, 3))
    limit: int = opt(0, "keep at most this many images (first N after class selection); 0 = all", min=0)
    download: bool = opt(True, "download through torchvision when missing and online")


def data_root(options: DatasetOptions, name: str) -> Path:
    """The `root` option, else $GANBENCH_DATA/<name>, else ~/.cache/ganbench/data/<name>."""
    if options.root:
        return Path(options.root).expanduser()
    base = os.environ.get("GANBENCH_DATA")
    if base:
        return Path(base).expanduser() / name
    return cache_dir() / "data" / name


def cache_dir() -> Path:
    """$GANBENCH_CACHE, else $XDG_CACHE_HOME/ganbench, else ~/.cache/ganbench."""
    env = os.environ.get("GANBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganbench"


def online(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether `host` answers, so that `validate` can tell "will download" from "missing".

    GANBENCH_OFFLINE=1 says no without touching the network (air-gapped clusters, tests).
    """
    if os.environ.get("GANBENCH_OFFLINE", "").strip() not in ("", "0"):
        return False
    return _reachable(host, port, timeout)


@lru_cache(maxsize=None)
def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def select_classes(class_names: Sequence[str], wanted: Sequence[str | int], where: str) -> list[int]:
    """Class names or indices -> sorted indices, with did-you-mean on a typo.

    Names match exactly, else case-insensitively when that is unambiguous
    ("Sneaker" finds "sneaker").
    """
    names = list(class_names)
    lower: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        lower.setdefault(n.lower(), []).append(i)
    out = []
    for i, c in enumerate(wanted):
        if isinstance(c, int):
            if not 0 <= c < len(names):
                raise GanbenchError(f"class index {c} out of range 0..{len(names) - 1}",
                                    where=f"{where}.classes[{i}]")
            out.append(c)
        elif c in names:
            out.append(names.index(c))
        elif len(lower.get(c.lower(), [])) == 1:
            out.append(lower[c.lower()][0])
        else:
            raise GanbenchError(f"unknown class '{c}'{did_you_mean(c, names)}", where=f"{where}.classes[{i}]",
                                hint="use a class name from the list or its index (0-based)")
    return sorted(set(out))


def _chunks(n: int, bytes_per_item: int) -> Iterable[tuple[int, int]]:
    step = max(1, CHUNK_BYTES // max(1, bytes_per_item))
    for a in range(0, n, step):
        yield a, min(n, a + step)


def to_gray(images: "torch.Tensor") -> "torch.Tensor":
    """RGB -> ITU-R 601 luma (as PIL's "L"), in chunks so the float copy stays small."""
    import torch

    n, _, h, w = images.shape
    out = torch.empty((n, 1, h, w), dtype=torch.uint8)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    for a, b in _chunks(n, 3 * h * w * 4):
        x = (images[a:b].float() * weights).sum(1, keepdim=True)
        out[a:b] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


def resize_square(images: "torch.Tensor", res: int) -> "torch.Tensor":
    """Antialiased bilinear resize of a uint8 batch into one preallocated output."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    out = torch.empty((n, c, res, res), dtype=torch.uint8)
    for a, b in _chunks(n, c * (h * w + res * res) * 4):
        x = F.interpolate(images[a:b].float(), size=(res, res), mode="bilinear", antialias=True,
                          align_corners=False)
        out[a:b] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


def finish(images: "torch.Tensor", labels: "torch.Tensor", class_names: Sequence[str],
           options: DatasetOptions, where: str, description: str = "") -> "ImageData":
    """Select classes, limit, convert channels and resize once; fingerprint the result.

    images: (N, C, H, W) uint8, possibly memory-mapped from the decoded cache: only
    the selected rows are read, and peak memory is the selection plus the output
    (never N float copies). Labels keep the full data set's class indices, and
    class_names stays the full list, so a classifier trained on all classes can score
    a one-class run against all of them.
    """
    import torch

    labels = labels.long()
    idx: Optional[torch.Tensor] = None
    if options.classes:
        keep = select_classes(class_names, options.classes, where)
        mask = torch.isin(labels, torch.tensor(keep, dtype=labels.dtype))
        if not bool(mask.all()):
            idx = mask.nonzero().squeeze(1)
    if options.limit:
        if idx is not None:
            idx = idx[: options.limit]
        elif len(images) > options.limit:  # a prefix: a view, no copy
            images, labels = images[: options.limit], labels[: options.limit]
    if idx is not None:
        images, labels = images.index_select(0, idx), labels.index_select(0, idx)
    if len(images) == 0:
        raise GanbenchError("no images left after class selection and limit", where=where)
    res = options.resolution
    if res and images.shape[2] != images.shape[3] and tuple(images.shape[2:]) != (res, res):
        raise GanbenchError(f"images are {images.shape[2]}x{images.shape[3]}, not square; "
                            f"cannot resize to {res}x{res} without a crop", where=where,
                            hint="this data set's plugin should crop first")
    to_channels = options.channels if options.channels and images.shape[1] != options.channels else 0
    if to_channels and (to_channels, images.shape[1]) not in ((3, 1), (1, 3)):
        raise GanbenchError(f"cannot convert {images.shape[1]} channels to {to_channels}", where=where)
    if to_channels == 1:  # fewer channels first: the resize then has less to do
        images = to_gray(images)
    if res and tuple(images.shape[2:]) != (res, res):
        images = resize_square(images, res)
    if to_channels == 3:
        images = images.expand(-1, 3, -1, -1)
    images = images.contiguous()
    return ImageData(images, labels.contiguous(), tuple(class_names), fingerprint(images, labels), description)


def fingerprint(images: "torch.Tensor", labels: "torch.Tensor") -> str:
    """sha256 of the final uint8 tensor, its shape and labels (16 hex chars).

    Hashes the tensors' memory in place (no byte copies), so a memory-mapped data set
    is read once from the page cache and never duplicated.
    """
    h = hashlib.sha256()
    h.update(str(tuple(images.shape)).encode())
    h.update(images.detach().cpu().contiguous().numpy())
    h.update(labels.detach().cpu().contiguous().numpy())
    return h.hexdigest()[:16]


# -- the decoded-tensor cache -------------------------------------------------------------

@dataclass(frozen=True)
class Decoded:
    """A whole decoded data set before class selection: what plugins cache on disk."""

    images: "torch.Tensor"  # (N, C, H, W) uint8
    labels: "torch.Tensor"  # (N,) int64
    class_names: tuple[str, ...]


def file_identity(paths: Iterable[Path | str]) -> str:
    """A cheap identity of source files: path, size, mtime and inode of each.

    Rewriting, replacing or touching a file changes it, so the decoded cache never
    serves stale pixels, without reading gigabytes to hash their content.
    """
    h = hashlib.sha256()
    for p in paths:
        p = os.fspath(p)
        try:
            st = os.stat(p)
        except OSError as exc:  # gone since the folder was listed, or a link to nowhere
            raise GanbenchError(f"cannot read {p}: {exc.strerror or exc}",
                                hint="was it moved or deleted while ganbench ran? restore it, or rerun") from None
        h.update(f"{p if os.path.isabs(p) else os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\0"
                 f"{st.st_ino}\n".encode())
    return h.hexdigest()


def decoded_key(name: str, key: Mapping[str, Any]) -> str:
    """The cache folder name for one decoded data set."""
    text = json.dumps({"name": name, "version": DECODE_VERSION, **key}, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def load_decoded(cache_root: Path | str | None, name: str, key: Mapping[str, Any],
                 decode: Callable[[], Decoded]) -> Decoded:
    """The decoded data set from the on-disk cache, decoding (once) on a miss.

    key must hold everything the decoded pixels depend on: the source files'
    identity (``file_identity``), the split and any decode-time crop, resize or
    channel mode. Entries are folders of ``images.npy`` (memory-mapped copy-on-write
    on return: nothing is read until used, and pages are shared between processes),
    ``labels.npy`` and ``meta.json``, written to a temporary folder and renamed into
    place so that concurrent runs never see half an entry. An unwritable cache only
    costs speed: the freshly decoded tensors are returned instead.
    """
    import numpy as np
    import torch

    base = Path(cache_root) if cache_root else cache_dir()
    folder = base / "decoded" / decoded_key(name, key)
    hit = _read_entry(folder)
    if hit is not None:
        return hit
    data = decode()
    if data.images.dtype != torch.uint8 or data.images.dim() != 4 or len(data.labels) != len(data.images):
        raise GanbenchError(f"data set '{name}' decoded to {tuple(data.images.shape)} {data.images.dtype} with "
                            f"{len(data.labels)} labels; expected (N, C, H, W) uint8 and N labels",
                            hint="this is a bug in the data-set plugin")
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / "images.npy", data.images.contiguous().numpy(), allow_pickle=False)
        np.save(tmp / "labels.npy", data.labels.long().numpy(), allow_pickle=False)
        meta = {"name": name, "version": DECODE_VERSION, "class_names": list(data.class_names),
                "shape": list(data.images.shape), "key": dict(key)}
        (tmp / "meta.json").write_text(json.dumps(meta, default=str, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished first (or a stale entry): keep theirs
            if _read_entry(folder) is None:
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(tmp, folder)
    except OSError as exc:
        warnings.warn(f"could not write the decoded-data cache in {folder.parent} ({exc}); "
                      f"data set '{name}' will be decoded again next time", stacklevel=2)
        return data
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    del data  # the memory-mapped copy replaces the decoded one: one copy at a time
    hit = _read_entry(folder)
    if hit is None:  # pragma: no cover - the entry was just written
        raise GanbenchError(f"the decoded-data cache entry {folder} could not be read back")
    return hit


def _read_entry(folder: Path) -> Optional[Decoded]:
    """A cache entry, or None when it is absent, from another version or damaged."""
    import numpy as np
    import torch

    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") != DECODE_VERSION:
            return None
        images = np.load(folder / "images.npy", mmap_mode="c", allow_pickle=False)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or list(images.shape) != meta.get("shape") \
            or labels.shape != (images.shape[0],):
        return None
    return Decoded(torch.from_numpy(images), torch.from_numpy(labels).long(), tuple(meta["class_names"]))


# -- decoding image files -------------------------------------------------------------------

def image_mode(path: Path | str) -> tuple[int, int, int]:
    """(channels, height, width) from an image file's header, without decoding it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return (1 if im.mode in GRAY_MODES else 3), im.size[1], im.size[0]
    except Exception as exc:
        raise GanbenchError(f"cannot read image {path}: {exc}",
                            hint="replace or delete the file (is it truncated or not an image?)") from exc


def fit_square(image: Any, res: int, fit: str) -> Any:
    """A PIL image -> res x res: centre crop, stretch or pad, then an antialiased bilinear resize."""
    from PIL import Image

    w, h = image.size
    if (w, h) == (res, res):
        return image
    if fit == "center-crop":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        return image.resize((res, res), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s))
    if fit == "stretch":
        return image.resize((res, res), Image.Resampling.BILINEAR)
    # pad: the whole image, longer side = res, centred on black
    nw, nh = max(1, round(w * res / max(w, h))), max(1, round(h * res / max(w, h)))
    canvas = Image.new(image.mode, (res, res))
    canvas.paste(image.resize((nw, nh), Image.Resampling.BILINEAR), ((res - nw) // 2, (res - nh) // 2))
    return canvas


def read_image(path: Path | str, channels: int, res: int = 0, fit: str = "center-crop") -> Any:
    """One image file -> (channels, H, W) uint8 numpy array, fitted to res x res when res > 0.

    Pillow decodes (torchvision's decoders are deprecated since 0.29); for a resize,
    JPEG "draft" mode decodes large photos at a reduced scale in the DCT (several
    times faster, and an area filter anyway). Any failure is a GanbenchError naming
    the file.
    """
    import numpy as np
    from PIL import Image

    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as im:
            if res and im.format == "JPEG" and min(im.size) >= 2 * res:
                im.draft(mode, (res, res))
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit: Pillow's convert would clip
                im = Image.fromarray((np.asarray(im).astype(np.int64).clip(0, 65535) >> 8).astype(np.uint8))
            im = im.convert(mode) if im.mode != mode else im
            if res:
                im = fit_square(im, res, fit)
            arr = np.asarray(im)
    except Exception as exc:
        raise GanbenchError(f"cannot read image {path}: {type(exc).__name__}: {exc}",
                            hint="replace or delete the file (is it truncated or not an image?)") from exc
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def read_images(paths: Sequence[Path | str], channels: int, res: int = 0,
                fit: str = "center-crop") -> "torch.Tensor":
    """Decode many image files into one preallocated (N, C, H, W) uint8 tensor.

    With res = 0 every image must have the first one's size (else an error naming
    both files). One thread: for small images the cost is mostly Python per file, and
    threads measured no faster on two cores.
    """
    import numpy as np
    import torch

    if not paths:
        raise GanbenchError("no image files to read")
    first = read_image(paths[0], channels, res, fit)
    out = np.empty((len(paths), *first.shape), dtype=np.uint8)
    out[0] = first
    for i in range(1, len(paths)):
        x = read_image(paths[i], channels, res, fit)
        if x.shape != first.shape:
            raise GanbenchError(f"image {paths[i]} is {x.shape[2]}x{x.shape[1]} but {paths[0]} is "
                                f"{first.shape[2]}x{first.shape[1]}; images of one data set must share a size",
                                hint="set the data set's resolution (e.g. resolution = 64) to crop and resize "
                                     "every image once")
        out[i] = x
    return torch.from_numpy(out)


class DataCache:
    """Loaded data sets by (name, options): runs of one suite share them."""

    def __init__(self, plugins: "Plugins", cache_dir: Path, size: int = 2):
        self.plugins, self.cache_dir, self.size = plugins, cache_dir, size
        self._items: dict[str, "ImageData"] = {}

    def get(self, name: str, options: Any) -> "ImageData":
        key = name + json.dumps(dataclasses.asdict(options), sort_keys=True, default=str)
        if key not in self._items:
            spec = self.plugins.datasets.get(name)
            if spec.check is not None:
                problem = spec.check(options)
                if problem:
                    raise ResourceMissing(problem, where=f"datasets.{name}")
            data = spec.load(options, str(self.cache_dir))
            while len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = data
        return self._items[key]

    def full(self, name: str, options: Any) -> "ImageData":
        """The same data set with every class (for classifiers and class histograms)."""
        return self.get(name, dataclasses.replace(options, classes=[], limit=0))
