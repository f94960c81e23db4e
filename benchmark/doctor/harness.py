"""How the doctor drives the real harness: suites written as TOML text and loaded by the
suite loader, run folders read back, and a bare generator scored as a run scores its own.

Every training the doctor judges goes through ``ganbench.runner.run_suite`` (or the
Trainer a run builds), so a check exercises the code a user's run does.
"""
from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ..data import DataCache
from ..metrics import EVAL_SEED_OFFSET, eval_context, evaluate
from ..plugins import BUILTIN_PLUGINS, Plugins
from ..results import get_status, read_json, read_jsonl
from ..runspec import RunSpec
from ..sampling import make_generator
from ..specs import ModelContext
from ..suite import Suite, load_suite
from .config import DoctorConfig

Log = Callable[[str], None]


@dataclass(frozen=True)
class DataChoice:
    """The data set every training section uses, as a suite names it."""

    name: str
    options: dict[str, Any]
    label: str


def data_choice(cfg: DoctorConfig) -> DataChoice:
    """--data: an image folder at cfg.resolution in RGB; else the offline digits (RGB at full size)."""
    if cfg.data:
        opts = {"root": str(Path(cfg.data).resolve()), "resolution": cfg.resolution, "channels": 3}
        return DataChoice("imagefolder", opts, f"image folder {cfg.data} at {cfg.resolution}x{cfg.resolution}")
    opts: dict[str, Any] = {"resolution": cfg.resolution}
    if not cfg.tiny:
        opts["channels"] = 3
    return DataChoice("digits", opts, f"offline digits at {cfg.resolution}x{cfg.resolution}")


def builtin_models(plugins: Plugins) -> list[str]:
    """Every model registered by a built-in plugin (third-party ones are not the doctor's business)."""
    ours = {name for name, _ in BUILTIN_PLUGINS}
    return [e.spec.name for e in plugins.models.entries() if e.plugin in ours]


def suite_text(name: str, matrix: dict[str, list[Any]], train: dict[str, Any], metrics: dict[str, Any],
               tables: dict[str, dict[str, Any]]) -> str:
    """A suite as TOML; ``tables`` maps "models.wgan-gp" (kind.name) to that plugin table."""
    def block(header: str, values: dict[str, Any]) -> list[str]:
        return [header, *[f"{k} = {json.dumps(v)}" for k, v in values.items()]]

    lines = ["[suite]", f"name = {json.dumps(name)}"]
    lines += block("[matrix]", matrix) + block("[train]", train) + block("[metrics]", metrics)
    for key, values in tables.items():
        kind, _, item = key.partition(".")
        lines += block(f'[{kind}."{item}"]', values)
    return "\n".join(lines) + "\n"


def load(plugins: Plugins, work: Path, name: str, text: str) -> Suite:
    """Write the suite to work/<name>.toml and load it as `ganbench run` would."""
    path = work / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_suite(plugins, path)


def train_table(cfg: DoctorConfig, steps: int, log_every: int, **extra: Any) -> dict[str, Any]:
    """[train] of a doctor suite: quiet (no final images, one sample grid), on the doctor's device."""
    t = {"steps": steps, "batch_size": cfg.batch_size, "log_every": log_every, "sample_every": steps,
         "checkpoint_every": 0, "num_final_images": 0, "grid_size": 16, "device": cfg.device}
    if cfg.threads:
        t["threads"] = cfg.threads
    return {**t, **extra}


def plugin_tables(cfg: DoctorConfig, models: list[str], data: DataChoice) -> dict[str, dict[str, Any]]:
    """[models.<m>] widths (none at paper width), [datasets.<d>], [metrics.classifier]."""
    tables = {f"models.{m}": {"width": cfg.width(m)} for m in models if cfg.width(m)}
    tables[f"datasets.{data.name}"] = dict(data.options)
    if cfg.classifier_epochs:
        tables["metrics.classifier"] = {"epochs": cfg.classifier_epochs}
    return tables


def metrics_table(num_samples: int, names: tuple[str, ...] = ("classifier",)) -> dict[str, Any]:
    return {"names": list(names), "num_samples": num_samples}


def read_losses(path: Path) -> dict[str, list[float]]:
    """losses.csv as columns of floats ("" when a value is missing reads as NaN)."""
    out: dict[str, list[float]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for k, v in row.items():
                    out.setdefault(k, []).append(float(v) if v not in ("", None) else math.nan)
    except FileNotFoundError:
        pass
    return out


@dataclass
class RunFolder:
    """One run's folder, read back after its suite ran."""

    run: RunSpec
    dir: Path
    status: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    losses: dict[str, list[float]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return str(self.status.get("state", "missing"))

    @property
    def error(self) -> str:
        """The run's error, with the last line of its traceback when it has one."""
        err = str(self.status.get("error") or "")
        log = self.dir / "error.log"
        if log.exists():
            tail = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
            if tail and tail[-1] not in err:
                err = f"{err} ({tail[-1].strip()})" if err else tail[-1].strip()
        return err[:500]


def read_folder(suite_dir: Path, run: RunSpec) -> RunFolder:
    d = Path(suite_dir) / run.run_id
    finals = [e for e in read_jsonl(d / "evals.jsonl") if e.get("final")]
    return RunFolder(run, d, get_status(d), read_json(d / "throughput.json", {}) or {},
                     read_losses(d / "losses.csv"), dict(finals[-1]["scores"]) if finals else {})


def untrained_scores(plugins: Plugins, data: DataCache, run: RunSpec, device: torch.device) -> dict[str, float]:
    """The run's own generator before its first step (same seed, same build as the Trainer's),
    scored with the run's metrics, sample count and evaluation seed, on the run's device."""
    real = data.get(run.dataset, run.dataset_options)
    t = run.train
    conditional = bool(t.conditional)
    torch.manual_seed(t.seed)
    ctx = ModelContext(real.shape, t.latent_dim, real.num_classes if conditional else 0, run.model_options)
    G = plugins.models.get(run.model).build(ctx)[0].to(device)
    pool = torch.unique(real.labels.to(device)) if conditional else None
    generate = make_generator(G, t.latent_dim, t.latent_dist, device, pool, run.metrics.batch_size,
                              t.seed + EVAL_SEED_OFFSET)
    ectx = eval_context(data, run.dataset, run.dataset_options, run.metrics, generate, device,
                        run.metrics.num_samples, conditional=conditional)
    scores, _, _ = evaluate(plugins, run.metrics, run.metric_options, ectx)
    return scores


def event_logger(log: Log) -> Callable[..., None]:
    """run_suite's on_event: one line per finished run, warnings as they come."""
    def on_event(kind: str, **kw: Any) -> None:
        if kind == "run_finished":
            err = kw["status"].get("error")
            log(f"    {kw['state']:<8} {kw['run'].run_id}" + (f": {str(err).splitlines()[0]}" if err else ""))
        elif kind in ("warning", "run_requeued"):
            log(f"    {kind}: {kw.get('message') or kw.get('reason')}")
    return on_event


@dataclass
class Packing:
    """Section 3's measurement of runs packed on one device against the same runs one at a time."""

    runs: int
    workers: int
    steps: int
    sequential_wall_s: float
    packed_wall_s: float
    sequential_img_per_s: list[float]  # each run's train_img_per_s (throughput.json)
    packed_img_per_s: list[float]

    @property
    def steady_ratio(self) -> float:
        """Σ training img/s of the packed runs / mean training img/s of a run alone: the ratio of
        runs/s once worker start-up is paid (a long suite's)."""
        alone = sum(self.sequential_img_per_s) / len(self.sequential_img_per_s)
        return sum(self.packed_img_per_s) / alone

    @property
    def wall_ratio(self) -> float:
        """runs/s over the whole suite, worker start-up and evaluations included."""
        return self.sequential_wall_s / self.packed_wall_s


@dataclass
class Context:
    """What every section gets, and what one hands a later one."""

    plugins: Plugins
    cfg: DoctorConfig
    work: Path
    log: Log
    device: torch.device
    data: DataCache
    choice: DataChoice
    started: float = field(default_factory=time.perf_counter)
    train_folders: list[RunFolder] = field(default_factory=list)
    solo_folders: list[RunFolder] = field(default_factory=list)  # runs that trained alone on the device
    train_suite: Optional[Suite] = None
    solo_steps_per_s: Optional[float] = None
    packing: Optional[Packing] = None
    bench: Any = None  # the section 4 BenchResult

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
