"""`ganbench sample`: images from a finished (or checkpointed) run's generator,
EMA weights when the run kept them, G in eval mode; conditional models draw one
given class or a balanced spread over the data set's classes. `--format png|npz` exports the
run's scoring sample image by image. numpy and PIL are imported inside the export (the CLI
imports this module only for `sample`, and `ganbench list` must stay fast)."""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import torch

from .artifacts import save_grid
from .damage import Damaged, damage_of
from .errors import GanbenchError, did_you_mean
from .results import read_json
from .runspec import spec_from_config
from .metrics import EVAL_SEED_OFFSET
from .sampling import balanced_labels, sample_latent, stream_samples
from .specs import ModelContext
from .train import load_checkpoint


def load_generator(plugins: Any, run_dir: Path, device: Optional[torch.device] = None) -> tuple[Any, Any, Any]:
    """(G with the sampling weights, RunSpec, class names) from a run folder."""
    run_dir = Path(run_dir)
    damage = damage_of(run_dir)
    if damage is not None:  # its weights or its config cannot be trusted
        raise Damaged(damage.message)
    config = read_json(run_dir / "config.json")
    if not config:
        raise GanbenchError(f"{run_dir} is not a run folder (no config.json)",
                            hint="pass results/<suite>/<run-id>")
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        raise GanbenchError(f"{run_dir} has no checkpoint.pt", hint="the run has not reached its first checkpoint")
    run = spec_from_config(plugins, config)
    device = device or torch.device("cpu")
    sd = load_checkpoint(ckpt)
    meta = read_json(run_dir / "data.json", {}) or {}
    shape = tuple(meta.get("shape") or ())
    classes = list(meta.get("class_names") or [])
    if not shape:
        raise GanbenchError(f"{run_dir} has no data.json (image shape)", hint="rerun the run with this ganbench")
    ctx = ModelContext(shape, run.train.latent_dim, len(classes) if run.train.conditional else 0, run.model_options)
    G, _ = plugins.models.get(run.model).build(ctx)
    try:
        G.load_state_dict(sd["G_ema"] if sd.get("G_ema") is not None else sd["G"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise GanbenchError(f"{ckpt} does not fit the run's generator ({type(exc).__name__}: {first})",
                            hint="it may be another run's checkpoint: restore this run's") from exc
    return G.to(device).eval(), run, classes


def sample_run(plugins: Any, run_dir: Path, n: int, out: Path, cls: Optional[str] = None, seed: int = 0) -> Path:
    G, run, classes = load_generator(plugins, run_dir)
    y = _labels(run, run_dir, classes, cls, n)
    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        z = sample_latent(n, run.train.latent_dim, run.train.latent_dist, torch.device("cpu"), gen)
        x = G(z, y)
    save_grid(x, Path(out), nrow=max(1, int(n ** 0.5)))
    return Path(out)


FORMATS = ("png", "npz")  # and the default, one grid PNG (sample_run)


def export_samples(plugins: Any, run_dir: Path, n: int, fmt: str, out: Path, cls: Optional[str] = None,
                   seed: Optional[int] = None, batch_size: Optional[int] = None,
                   on_batch: Callable[[int], None] = lambda done: None) -> Path:
    """n images of the run's G as scoring draws them (EMA weights when kept, eval mode, fp32,
    uint8), batch by batch so memory stays flat: one PNG per image in folder ``out`` (with
    labels.csv for a conditional G), or one ``out`` .npz holding ``images`` (N, H, W, C uint8)
    and ``labels``. seed None is the evaluation's own seed, so the export is the run's scoring
    sample image for image (the first n of it)."""
    import numpy as np
    from PIL import Image

    if fmt not in FORMATS:
        raise GanbenchError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if n < 1:
        raise GanbenchError(f"-n must be ≥ 1, found {n}")
    G, run, classes = load_generator(plugins, run_dir)
    labels = _labels(run, run_dir, classes, cls, n)
    seed = run.train.seed + EVAL_SEED_OFFSET if seed is None else seed
    batch_size = batch_size or run.metrics.batch_size  # z is drawn a batch at a time, as scoring draws it
    out = Path(out)
    stream = stream_samples(G, run.train.latent_dim, run.train.latent_dist, torch.device("cpu"), labels, n,
                            batch_size, seed)
    if fmt == "png":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise GanbenchError(f"-o {out}: exists and is not an empty folder",
                                hint="name a new folder; ganbench does not write among other files")
        out.mkdir(parents=True, exist_ok=True)
        done, rows = 0, []
        for x, y in stream:
            for i, img in enumerate(x.permute(0, 2, 3, 1).numpy()):
                Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(out / f"{done + i:06d}.png")
                if y is not None:
                    rows.append(f"{done + i:06d}.png,{int(y[i])},{classes[int(y[i])]}")
            done += len(x)
            on_batch(done)
        if rows:
            (out / "labels.csv").write_text("file,label,class\n" + "\n".join(rows) + "\n", encoding="utf-8")
        return out
    if out.suffix != ".npz":
        raise GanbenchError(f"-o {out}: an npz export is a .npz file", hint="e.g. -o samples.npz")
    c, h, w = (read_json(Path(run_dir) / "data.json", {}) or {})["shape"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ganbench-export-") as tmp:
        arr = np.lib.format.open_memmap(Path(tmp) / "images.npy", mode="w+", dtype=np.uint8, shape=(n, h, w, c))
        done = 0
        for x, _ in stream:
            arr[done:done + len(x)] = x.permute(0, 2, 3, 1).numpy()
            done += len(x)
            on_batch(done)
        arr.flush()
        del arr
        with zipfile.ZipFile(Path(tmp) / "out.npz", "w", zipfile.ZIP_STORED) as zf:  # np.load reads it
            zf.write(Path(tmp) / "images.npy", "images.npy")
            if labels is not None:
                with zf.open("labels.npy", "w") as f:
                    np.lib.format.write_array(f, labels.numpy().astype(np.int64))
        os.replace(Path(tmp) / "out.npz", out)
    return out


def _labels(run: Any, run_dir: Path, classes: list[str], cls: Optional[str], n: int) -> Optional[torch.Tensor]:
    """One given class n times, or a balanced spread over the classes the run trained on."""
    if not run.train.conditional:
        if cls is not None:
            raise GanbenchError(f"--class given but run {Path(run_dir).name} is unconditional")
        return None
    if cls is not None:
        idx = classes.index(cls) if cls in classes else int(cls) if cls.isdigit() else None
        if idx is None or not 0 <= idx < len(classes):
            raise GanbenchError(f"unknown class '{cls}'{did_you_mean(cls, classes)}")
        return torch.full((n,), idx, dtype=torch.long)
    present = read_json(Path(run_dir) / "data.json", {}).get("present_classes") or list(range(len(classes)))
    return balanced_labels(torch.tensor(sorted(present)), n)
