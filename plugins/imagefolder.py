"""`imagefolder`: your own images, one sub-folder per class (ROOT/<class>/*.png|jpg|jpeg|webp).

Images are decoded once into one uint8 tensor, cropped or padded to a square and
resized when `resolution` is set, and cached on disk (ganbench.data.load_decoded)
keyed by every file's identity, so the next run maps the decoded tensor instead of
decoding again, and editing, adding or removing a file re-decodes.
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from ganbench import DatasetSpec, GanbenchError, ResourceMissing, hookimpl, opt
from ganbench.data import (IMAGE_EXTENSIONS, Decoded, DatasetOptions, data_root, file_identity, finish,
                           image_mode, load_decoded, read_images)

NAME = "imagefolder"
WHERE = f"datasets.{NAME}"


@dataclass(frozen=True)
class ImageFolderOptions(DatasetOptions):
    split: str = opt("train", "sub-folder of root holding the class folders when it exists "
                              "(root/train/<class>/...); with 'train' and no such folder, root itself; "
                              "'all' without a root/all folder: root/train's images, then root/test's")
    fit: Literal["center-crop", "stretch", "pad"] = opt(
        "center-crop", "how non-square images become resolution x resolution: crop the centre square, "
                       "stretch, or pad with black (resolution = 0 keeps the native size, which all "
                       "images must then share)")
    download: bool = opt(False, "not used: an image folder is never downloaded")


#: split "all" without a folder of that name: these split folders, concatenated in this order
ALL_PARTS = ("train", "test")


def _folders(options: ImageFolderOptions) -> list[Path]:
    """The folders whose class folders the split reads: one, or train and test for 'all'."""
    root = data_root(options, NAME)
    sub = root / options.split
    if sub.is_dir():
        return [sub]
    if options.split == "all":
        return [root / part for part in ALL_PARTS]
    return [root]


def _missing(options: ImageFolderOptions) -> Optional[str]:
    """Why the folder cannot be used, or None."""
    root = data_root(options, NAME)
    how = (f"put one sub-folder per class with .png/.jpg/.jpeg/.webp images there "
           f"({root}/<class>/image.png), or set {WHERE}.root to such a folder")
    if root.exists() and not root.is_dir():
        raise GanbenchError(f"{root} is a file; an image folder holds one sub-folder per class", where=WHERE,
                            hint=f"set {WHERE}.root to the folder of class folders")
    if not root.is_dir():
        return f"image folder {root} does not exist; {how}"
    sub = root / options.split
    if not sub.is_dir() and options.split == "all":
        missing = [str(root / p) for p in ALL_PARTS if not (root / p).is_dir()]
        if missing:
            return (f"split 'all' reads {root}/all, or else {' and '.join(str(root / p) for p in ALL_PARTS)} "
                    f"together; {' and '.join(missing)} do{'es' if len(missing) == 1 else ''} not exist")
        return None
    if not sub.is_dir() and options.split != "train":
        return f"no split folder {sub} (split = '{options.split}'); create it or pick an existing split"
    return None


def _dead_link(entry: os.DirEntry) -> bool:
    """A link that leads nowhere: broken, or a loop (a -> a): it would be skipped unseen."""
    return entry.is_symlink() and not os.path.exists(entry.path)


def _listing(folder: str | Path) -> list[os.DirEntry]:
    try:
        entries = [e for e in os.scandir(folder) if not e.name.startswith(".")]
    except OSError as exc:
        raise ResourceMissing(f"cannot list image folder {folder}: {exc.strerror or exc}", where=WHERE) from None
    dead = [e.path for e in entries if _dead_link(e)]
    if dead:
        raise GanbenchError(f"{dead[0]} is a broken or looping link" + (f" (and {len(dead) - 1} more)"
                                                                           if len(dead) > 1 else ""),
                            where=WHERE, hint="remove the link or point it at a real file or folder")
    return entries


def scan(folder: Path) -> tuple[list[str], list[str], list[int]]:
    """Class names (sorted sub-folders), image paths and labels; hidden files and other
    extensions are ignored, an empty class is an error (it would silently vanish), and so
    is a link that leads nowhere."""
    if Path(folder).exists() and not Path(folder).is_dir():
        raise GanbenchError(f"{folder} is a file; an image folder holds one sub-folder per class", where=WHERE,
                            hint=f"set {WHERE}.root to the folder of class folders")
    classes = sorted(e.name for e in _listing(folder) if e.is_dir())
    if not classes:
        loose = [e.name for e in os.scandir(folder) if e.name.lower().endswith(IMAGE_EXTENSIONS)]
        raise GanbenchError(f"{folder} has no class sub-folders" + (f" (it holds {len(loose)} images directly)"
                                                                      if loose else ""), where=WHERE,
                            hint=f"put the images in one sub-folder per class, e.g. {folder}/all/")
    paths: list[str] = []
    labels: list[int] = []
    base = os.path.abspath(folder)
    for k, c in enumerate(classes):
        sub = os.path.join(base, c)
        names = sorted(e.name for e in _listing(sub) if e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file())
        if not names:
            raise GanbenchError(f"class folder {sub} has no images (.png, .jpg, .jpeg, .webp)",
                                where=WHERE, hint="add images to it or remove the folder")
        paths += [f"{sub}{os.sep}{n}" for n in names]
        labels += [k] * len(names)
    return classes, paths, labels


def check(options: ImageFolderOptions) -> Optional[str]:
    problem = _missing(options)
    if problem is None:
        scan_all(_folders(options))  # raises for an empty class or a folder without classes
    return problem


def inventory(options: ImageFolderOptions) -> tuple[Optional[list[str]], Optional[int]]:
    """The class folders and the image count (a directory scan, no decoding); (None, None) when
    the folder is not there (check() says so)."""
    if _missing(options):
        return None, None
    classes, paths, _ = scan_all(_folders(options))
    return classes, len(paths)


def scan_all(folders: list[Path]) -> tuple[list[str], list[str], list[int]]:
    """:func:`scan` of each folder, concatenated; the folders must hold the same classes
    (a class only in train would get a label the test images never have)."""
    classes, paths, labels = scan(folders[0])
    for folder in folders[1:]:
        more_classes, more_paths, more_labels = scan(folder)
        if more_classes != classes:
            raise GanbenchError(f"{folders[0]} and {folder} hold different class folders ({', '.join(classes)} "
                                f"vs {', '.join(more_classes)})", where=WHERE,
                                hint="give both splits the same class sub-folders")
        paths += more_paths
        labels += more_labels
    return classes, paths, labels


def shape(options: ImageFolderOptions) -> tuple[int, int, int]:
    """(C, H, W) from the first image's header; a guess when the folder is not there yet."""
    res = options.resolution
    try:
        folder = _folders(options)[0]
        first_class = min(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
        first = min(e.path for e in os.scandir(folder / first_class)
                    if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS))
        c, h, w = image_mode(first)
    except (OSError, ValueError, GanbenchError):
        return options.channels or 3, res or 32, res or 32
    return options.channels or c, res or h, res or w


def load(options: ImageFolderOptions, cache_dir: str):
    import torch

    problem = _missing(options)
    if problem:
        raise ResourceMissing(problem, where=WHERE)
    folders = _folders(options)
    classes, paths, labels = scan_all(folders)
    channels = options.channels or image_mode(paths[0])[0]
    res = options.resolution
    where = " + ".join(str(f) for f in folders)
    key = {"folder": " + ".join(str(f.resolve()) for f in folders), "files": file_identity(paths), "classes": classes,
           "channels": channels, "resolution": res, "fit": options.fit if res else None}

    def decode() -> Decoded:
        images = read_images(paths, channels, res, options.fit)
        return Decoded(images, torch.tensor(labels, dtype=torch.long), tuple(classes))

    data = load_decoded(cache_dir, NAME, key, decode)
    c, h, w = data.images.shape[1:]
    return finish(data.images, data.labels, data.class_names, options, WHERE,
                  description=f"image folder {where} ({len(paths):,} images, {len(classes)} classes, "
                              f"{c}x{h}x{w} as decoded)")


@hookimpl
def ganbench_register_datasets(registry):
    registry.add(DatasetSpec(NAME, "your images: ROOT/<class>/*.png|jpg|jpeg|webp, decoded once and cached",
                             load=load, options=ImageFolderOptions, check=check, shape=shape,
                             inventory=inventory))
