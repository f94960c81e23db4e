"""`ganbench score`: any samples (a folder of images or an .npz from another library, a paper's
released samples, `ganbench sample --format npz`) scored under exactly the protocol a
leaderboard uses, and, with ``--into``, added to that suite's leaderboard as an external row.

The protocol comes from the command line (data set, classes, split, metrics), or with
``--into results/<suite>`` from the suite's own finished runs (their config.json), so the
external row lands in the table whose protocol it shares and nowhere else (board.py). torch
and numpy are imported inside the functions, so that `ganbench list` stays fast.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

from .config import MetricsConfig, from_dict
from .data import DataCache, cache_dir, read_images
from .errors import GanbenchError
from .metrics import eval_context, evaluate
from .references import protocol_signature
from .suite import parse_value
from .results import get_status, read_json, write_json

EXTERNAL = "external"  # the suite folder's sub-folder of external rows, and their kind
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def load_samples(path: Path, shape: tuple[int, int, int]) -> Any:
    """uint8 (N, C, H, W) images from a folder of image files (sorted by name) or an .npz
    ('images', else its only array; NHWC or NCHW), checked against the data set's shape."""
    import numpy as np
    import torch

    path = Path(path)
    c, h, w = shape
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise GanbenchError(f"{path} holds no .png, .jpg, .jpeg or .webp files")
        x = read_images(files, c)
    elif path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                key = "images" if "images" in z.files else (z.files[0] if len(z.files) == 1 else None)
                if key is None:
                    raise GanbenchError(f"{path} holds {', '.join(z.files)}; expected an array 'images'")
                arr = z[key]
        except (OSError, ValueError) as exc:
            raise GanbenchError(f"cannot read {path}: {exc}", hint="an .npz of uint8 images (N, H, W, C)") from None
        if arr.dtype != np.uint8 or arr.ndim != 4:
            raise GanbenchError(f"{path}: '{key}' is {arr.dtype} of shape {arr.shape}; expected uint8 (N, H, W, C)")
        x = torch.from_numpy(np.ascontiguousarray(arr if arr.shape[1] in (1, 3) and arr.shape[3] not in (1, 3)
                                                  else arr.transpose(0, 3, 1, 2)))
    else:
        raise GanbenchError(f"{path}: expected a folder of images or an .npz file")
    if tuple(x.shape[1:]) != (c, h, w):
        raise GanbenchError(f"{path}: images are {tuple(x.shape[1:])} (C, H, W); the data set's are {(c, h, w)}",
                            hint="score samples at the data set's resolution and channels")
    return x


def protocol_of_suite(suite_dir: Path) -> dict[str, Any]:
    """The resolved config of the suite's newest finished run: its data set, [metrics] and
    metric options are the protocol its leaderboard scored."""
    done = [p for p in Path(suite_dir).iterdir() if (p / "config.json").is_file()
            and get_status(p).get("state") == "done"] if Path(suite_dir).is_dir() else []
    if not done:
        raise GanbenchError(f"--into {suite_dir}: no finished run there to take the protocol from",
                            hint="run the suite first, or give --dataset and --metrics without --into")
    newest = max(done, key=lambda p: (p / "status.json").stat().st_mtime)
    return read_json(newest / "config.json")


def score_samples(plugins: Any, samples: Path, dataset: str, dataset_table: dict[str, Any],
                  metrics_table: dict[str, Any], options_tables: dict[str, Any],
                  device: str = "cpu") -> tuple[dict[str, float], dict[str, Any]]:
    """(scores, protocol) of the samples against the data set, as a run's final evaluation."""
    import torch

    spec = plugins.datasets.get(dataset, where="--dataset")
    ds_options = from_dict(spec.options, dataset_table, f"datasets.{dataset}")
    names = list(metrics_table.get("names") or [])
    config = from_dict(MetricsConfig, {k: v for k, v in metrics_table.items() if k in MetricsConfig.__annotations__},
                       "metrics")
    options = {}
    for name in names:
        mspec = plugins.metrics.get(name, where="--metrics")
        options[name] = from_dict(mspec.options, options_tables.get(name) or {}, f"metrics.{name}") \
            if mspec.options is not None else None
        problem = mspec.check(options[name]) if mspec.check is not None else None
        if problem:
            raise GanbenchError(problem, where=f"metrics.{name}")
    data = DataCache(plugins, cache_dir())
    real = data.get(dataset, ds_options)
    x = load_samples(samples, tuple(real.shape))
    n = config.num_samples
    if len(x) < n:
        raise GanbenchError(f"{samples} holds {len(x):,} images; the protocol scores {n:,}",
                            hint=f"export at least {n:,} (ganbench sample RUN -n {n} --format npz -o FILE)"
                                 " or pass --num-samples")
    dev = torch.device(device)
    ctx = eval_context(data, dataset, ds_options, config, lambda k: (x[:k].to(dev), None), dev, n)
    scores, protocol, _ = evaluate(plugins, config, options, ctx)
    protocol["generator"] = f"external samples: {Path(samples).name}"
    return scores, protocol


def add_external(suite_dir: Path, name: str, samples: Path, scores: dict[str, float],
                 protocol: dict[str, Any]) -> Path:
    """An external row in the suite's folder, for its leaderboard."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}", name):
        raise GanbenchError(f"--name {name!r}: a plain name (letters, digits, - _ . +)")
    path = Path(suite_dir) / EXTERNAL / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"kind": EXTERNAL, "name": name, "source": str(samples), "scores": scores,
                      "protocol": protocol})
    return path


def same_protocol(externals: list[dict[str, Any]], protocol: dict[str, Any], placed: set[str]) -> list[dict[str, Any]]:
    """The external rows scored under ``protocol`` (which G drew the samples aside), with their
    finite scores; their names go into ``placed``."""
    def sig(p: dict[str, Any]) -> str:
        return protocol_signature({k: v for k, v in p.items() if k != "generator"})
    out = []
    for x in externals:
        if sig(x["protocol"]) == sig(protocol):
            placed.add(str(x.get("name")))
            out.append({**x, "name": str(x.get("name")), "scores": {k: float(v) for k, v in x["scores"].items()
                        if isinstance(v, (int, float)) and math.isfinite(v)}})
    return out


def read_external(suite_dir: Path) -> list[dict[str, Any]]:
    """The suite's external rows (unreadable files are skipped; each names its own file)."""
    folder = Path(suite_dir) / EXTERNAL
    out = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        rec: Optional[dict[str, Any]] = read_json(p)
        if isinstance(rec, dict) and isinstance(rec.get("scores"), dict) and isinstance(rec.get("protocol"), dict):
            out.append(rec)
    return out


def score_sets(sets: list[str], dataset: str, table: dict[str, Any], metrics: dict[str, Any]) -> None:
    """`score --set`: datasets.<the data set>.KEY, metrics.KEY or metrics.<metric>.KEY, into the
    tables score_samples validates (an unknown key is reported there, with its path)."""
    for item in sets:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise GanbenchError(f"--set expects KEY=VALUE, found '{item}'", hint="e.g. --set metrics.num_samples=5000")
        value = parse_value(text.strip())
        if parts[0] == "datasets" and len(parts) == 3:
            if parts[1] != dataset:
                raise GanbenchError(f"--set {key}: the samples are scored against '{dataset}', not '{parts[1]}'",
                                    hint=f"--set datasets.{dataset}.{parts[2]}=...")
            table[parts[2]] = value
        elif parts[0] == "metrics" and len(parts) in (2, 3):
            if len(parts) == 2:
                metrics[parts[1]] = value
            else:
                metrics.setdefault(parts[1], {})[parts[2]] = value
        else:
            raise GanbenchError(f"--set {key}: score sets datasets.{dataset}.KEY, metrics.KEY or metrics.METRIC.KEY",
                                hint="training keys do not apply to samples made elsewhere")
