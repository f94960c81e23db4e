"""The files a run leaves besides its status: sample grids, a progress GIF, final images,
the leaderboard thumbnail, the best evaluation, and the trimming of logs on resume.
Writers only: :mod:`ganbench.runs` decides when each is written.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import torch
from PIL import Image
from torchvision.utils import save_image

from .containment import forget_stale, remember
from .results import atomic_write_text, read_jsonl

#: images in the leaderboard thumbnail (a 4 x 4 corner of the fixed-z grid)
THUMB_IMAGES = 16
#: a progress GIF keeps at most this many frames (evenly spaced, first and last kept)
GIF_MAX_FRAMES = 100


def grid_columns(n: int, classes: int = 0) -> int:
    """Columns of a sample grid: one per class for conditional grids (the fixed labels
    cycle through the classes, so each column is one class), else near-square."""
    if 2 <= classes <= 16 and n >= classes:
        return classes
    return max(1, math.ceil(math.sqrt(n)))


def save_grid(images: torch.Tensor, path: Path, nrow: Optional[int] = None) -> None:
    """images in [-1, 1] -> one PNG grid (torchvision), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    save_image(images.float().clamp(-1, 1), tmp, nrow=nrow or grid_columns(len(images)), normalize=True,
               value_range=(-1, 1), padding=1)
    tmp.replace(path)


def gif_frames(frames: list[Path], max_frames: int = GIF_MAX_FRAMES) -> list[Path]:
    """At most max_frames frames, evenly spaced, always keeping the first and the last."""
    if len(frames) <= max_frames:
        return list(frames)
    picks = sorted({round(i * (len(frames) - 1) / (max_frames - 1)) for i in range(max_frames)})
    return [frames[i] for i in picks]


def write_gif(frames: list[Path], path: Path, ms_per_frame: int = 400, hold_last_ms: int = 2000) -> None:
    """Sample grids over training as one looping GIF; the last frame is held so the
    final samples can be looked at."""
    frames = gif_frames(frames)
    if not frames:
        return
    images = [Image.open(f).convert("RGB") for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [max(hold_last_ms, ms_per_frame)]
    tmp = path.with_name(f".{path.name}.tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0)
    tmp.replace(path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_") or "class"




def save_final_images(images: torch.Tensor, labels: Optional[torch.Tensor], class_names: Sequence[str],
                      out: Path) -> None:
    """uint8 images as 000.png, 001.png, ...; a conditional model's carry their class name."""
    out.mkdir(exist_ok=True)
    forget_stale(out)  # the images an earlier evaluation saved here; a user's own files stay
    names = []
    for i, img in enumerate(images.cpu()):
        arr = img.permute(1, 2, 0).numpy()
        name = f"{i:03d}"
        if labels is not None:
            name += "_" + _safe(class_names[int(labels[i])])
        Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(out / f"{name}.png")
        names.append(f"{name}.png")
    remember(out, names)


def truncate_after(run_dir: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint the run continues from."""
    path = run_dir / "losses.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if rows:
            kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(kept)
            atomic_write_text(path, buf.getvalue())
    path = run_dir / "evals.jsonl"
    if path.exists():
        kept_evals = [e for e in read_jsonl(path) if e.get("step", 0) <= step and not e.get("final")]
        atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept_evals))


def best_evaluation(evals: list[dict[str, Any]], primary: str, higher_is_better: bool) -> Optional[dict[str, Any]]:
    """The best step by the primary score, among evaluations on one sample count only:
    FID-like scores shrink as the sample count grows, so the final evaluation (on more
    samples) competes only when the curve used as many."""
    evals = [e for e in evals if isinstance(e.get("scores", {}).get(primary), (int, float))]
    during = [e for e in evals if not e.get("final")]
    count = (during or evals or [{}])[-1].get("protocol", {}).get("num_fake")
    best = None
    for e in evals:
        if e.get("protocol", {}).get("num_fake") != count:
            continue
        v = e["scores"][primary]
        if best is None or (v > best["value"] if higher_is_better else v < best["value"]):
            best = {"step": e["step"], "value": v, "score": primary, "final": e.get("final", False),
                    "num_fake": count}
    return best
