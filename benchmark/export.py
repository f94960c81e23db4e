"""`ganbench sample`: images from a finished (or checkpointed) run's generator,
EMA weights when the run kept them, G in eval mode; conditional models draw one
given class or a balanced spread over the data set's classes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from .artifacts import save_grid
from .damage import Damaged, damage_of
from .errors import GanbenchError, did_you_mean
from .results import read_json
from .runspec import spec_from_config
from .sampling import sample_latent
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
    y = None
    if run.train.conditional:
        present = read_json(Path(run_dir) / "data.json", {}).get("present_classes") or list(range(len(classes)))
        if cls is not None:
            idx = classes.index(cls) if cls in classes else int(cls) if cls.isdigit() else None
            if idx is None or not 0 <= idx < len(classes):
                raise GanbenchError(f"unknown class '{cls}'{did_you_mean(cls, classes)}")
            y = torch.full((n,), idx, dtype=torch.long)
        else:
            pool = torch.tensor(present)
            y = pool.repeat(-(-n // len(pool)))[:n]
    elif cls is not None:
        raise GanbenchError(f"--class given but run {Path(run_dir).name} is unconditional")
    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        z = sample_latent(n, run.train.latent_dim, run.train.latent_dist, torch.device("cpu"), gen)
        x = G(z, y)
    save_grid(x, Path(out), nrow=max(1, int(n ** 0.5)))
    return Path(out)
