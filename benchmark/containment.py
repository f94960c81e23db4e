"""ganbench writes and deletes only inside a suite's results folder, and deletes only what it wrote.

Every file ganbench writes lies under ``<results>/<suite>/`` (the suite's name is a plain
folder name: suite.py). Before a command writes there, :func:`check_suite_dir` proves that no
entry in that folder is a symbolic link (ganbench never makes one), so no write can be led
outside it, and :func:`check_results_root` turns an unusable ``--results`` into one line.
Clean-up goes through a manifest: :func:`remember` records the files a folder's writer made,
:func:`forget_stale` deletes only recorded files, never a user's own.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import GanbenchError
from .results import atomic_write_text

MANIFEST = ".ganbench-written.json"
#: a results folder walked for links holds a few thousand files; deeper trees are not ganbench's
MAX_ENTRIES = 200_000


def check_results_root(root: Path) -> Path:
    """``--results`` as an existing, writable folder (created when missing), else a clear error."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise GanbenchError(f"--results {root}: is a file, not a folder", hint="name a folder (default ./results)")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ganbench-probe-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise GanbenchError(f"--results {root}: cannot write there ({exc.strerror or exc})",
                            hint="name a folder you can write to, e.g. --results ./results") from None
    return root


def check_suite_dir(suite_dir: Path) -> None:
    """Refuse a results folder that is, or holds, a symbolic link: a write through it would land
    outside the folder (say, a run folder linked to ~ or a leaderboard.md linked to a file)."""
    suite_dir = Path(suite_dir)
    if suite_dir.is_symlink():
        target = os.readlink(suite_dir)
        raise GanbenchError(f"{suite_dir} is a link to {target}; ganbench writes only into a real folder",
                            hint=f"remove the link, or point --results at {Path(target).parent}")
    if not suite_dir.exists():
        return
    if not suite_dir.is_dir():
        raise GanbenchError(f"{suite_dir} is a file; the suite's results go into a folder of that name",
                            hint="move the file away or pick another --results")
    count = 0
    for dirpath, dirnames, filenames in os.walk(suite_dir):
        for name in [*dirnames, *filenames]:
            count += 1
            path = Path(dirpath) / name
            if path.is_symlink():
                raise GanbenchError(f"{path} is a link to {os.readlink(path)}; ganbench writes only inside "
                                    f"{suite_dir} and never through links",
                                    hint=f"remove the link (rm '{path}') and rerun")
        if count > MAX_ENTRIES:
            raise GanbenchError(f"{suite_dir} holds more than {MAX_ENTRIES:,} entries; it is not a ganbench "
                                f"results folder", hint="pick another --results")


def inside(root: Path, path: Path) -> Path:
    """``path`` after resolving links, when it lies under ``root``; else an error."""
    real, base = Path(path).resolve(), Path(root).resolve()
    if real != base and base not in real.parents:
        raise GanbenchError(f"{path} resolves to {real}, outside {base}; ganbench writes only inside the "
                            f"suite's results folder")
    return real


def _read(folder: Path) -> set[str]:
    try:
        names = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def remember(folder: Path, names: Iterable[str]) -> None:
    """Record files this folder's writer made (names relative to the folder)."""
    known = _read(folder) | set(names)
    atomic_write_text(folder / MANIFEST, json.dumps(sorted(known)) + "\n")


def forget_stale(folder: Path, keep: Iterable[str] = ()) -> list[str]:
    """Delete the recorded files not in ``keep``; files ganbench did not record stay. Returns the deleted."""
    keep = set(keep)
    deleted, kept = [], []
    for name in sorted(_read(folder)):
        path = folder / name
        if name in keep:
            kept.append(name)
        elif ".." not in Path(name).parts and path.is_file() and not path.is_symlink():
            inside(folder, path)
            path.unlink()
            deleted.append(name)
    if deleted:
            atomic_write_text(folder / MANIFEST, json.dumps(kept) + "\n")
    return deleted
