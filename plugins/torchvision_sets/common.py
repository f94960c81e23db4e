"""What the torchvision data sets share: a split check, and the messages and download
path used when their files are missing."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from ganbench.config import opt
from ganbench.data import DatasetOptions
from ganbench.errors import GanbenchError, ResourceMissing, did_you_mean


#: split "all" of a set with a training and a test split: the two concatenated, train first
#: (report 4 trains each class's GAN on both)
ALL_PARTS = ("train", "test")


@dataclass(frozen=True)
class SplitOptions(DatasetOptions):
    """Common options plus a check of `split` against the set's own splits."""

    SPLITS: ClassVar[tuple[str, ...]] = ("train", "test", "all")
    split: str = opt("train", "train | test | all (the training images, then the test images)")

    def validate(self) -> None:
        if self.split not in self.SPLITS:
            raise GanbenchError(f"unknown split '{self.split}'{did_you_mean(self.split, self.SPLITS)}")


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of a download URL, as ganbench.data.online takes them."""
    u = urlparse(url)
    return u.hostname or "", u.port or (443 if u.scheme == "https" else 80)


def download(title: str, where: str, root: Path, url: str, fetch: Callable[[], Any]) -> None:
    """Download through torchvision; any failure becomes ResourceMissing saying what to do."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch()
    except Exception as exc:
        raise ResourceMissing(f"downloading {title} from {url} into {root} failed: {type(exc).__name__}: {exc}",
                              where=where, hint=f"download it by hand into {root}, or retry online") from exc


def not_found(title: str, where: str, expected: str, how: str, options: DatasetOptions, url: str) -> str:
    """The message `validate` shows for a missing data set: what was expected, how to get it."""
    why = ("download = false (set it to true on a machine with internet access)" if not options.download
           else f"{host_port(url)[0]} cannot be reached (offline?)")
    return (f"{title} not found: expected {expected}. {how}, or set {where}.root (or $GANBENCH_DATA) to "
            f"where the files are. Not downloaded: {why}")
