"""Reference rows: what real data and an untrained G score under a run's own final protocol.

A bare "fd_classifier 57.3" means little until it is read against what real images score
(the floor no model can beat) and what the generator scores before its first step (the
ceiling). After a run's final evaluation, :func:`ensure_references` scores both through the
run's own ``metrics.eval_context`` and ``evaluate`` (same reference split, classes, sample
count, metrics and options), and checks that the protocol they were scored under is the
run's:

- **real data**: ``metrics.num_samples`` real images from another split of the data set where
  one is here (the test split when the reference is train: disjoint from the reference),
  else a seeded bootstrap of the reference itself; the record says which.
- **untrained G**: the run's model built at step 0 by the Trainer with the run's seed, and
  sampled exactly as a trained G is (``Trainer.sampler``, the evaluation seed).

Each evaluation is computed once per protocol and machine: it is cached in the ganbench
cache dir under a hash of its key (the run's final protocol, which holds the data
fingerprint, reference split, classes, sample count and every metric's own protocol; the
metric names and options; the conditioning and device type; the real sample's fingerprint,
or for the untrained G the model config and seed). The suite folder records it as
``references/<hash>.json``: one atomic file per evaluation, so parallel runs never lose
each other's, read back by ``board.py`` for the leaderboard and the plots.
torch and the Trainer are imported inside the functions that need them, so that
`ganbench list` and the pages, which only read these records, stay fast.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .config import checked_reference_options, reference_options
from .data import DataCache, fingerprint
from .errors import GanbenchError
from .metrics import EVAL_SEED_OFFSET, eval_context, evaluate
from .plugins import Plugins
from .results import read_json, read_jsonl, write_json
from .runspec import RunSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .specs import ImageData

#: the suite sub-folder (and cache sub-folder) holding one JSON file per reference evaluation
REFERENCES = "references"
#: bump when how a reference is drawn or scored changes: invalidates cached references
VERSION = 1
#: protocol keys that describe a sample or timing, not how a score is defined
#: protocol keys that do not say how a score was computed (errors: metrics that raised, metrics.evaluate)
VOLATILE = frozenset({"seconds", "generation_seconds", "time", "errors"})
REAL, UNTRAINED = "real", "untrained"
LABELS = {REAL: "real data (floor)", UNTRAINED: "untrained G (ceiling)"}
#: the real sample is drawn with this seed (indices into the split, or bootstrap draws)
SAMPLE_SEED = 0
#: a reference split's disjoint partners, in the order they are tried
DISJOINT = {"train": ("test", "val"), "test": ("train", "val"), "val": ("train", "test")}
#: [train] keys that cannot change G before its first step or how it is sampled: left out of
#: the untrained G's key (budget, optimisation, losses, logging and pictures)
NOT_AT_STEP_0 = frozenset({"steps", "n_critic", "loss", "aux_loss", "regularizers", "optimizer", "lr_g", "lr_d",
                           "betas_g", "betas_d", "weight_decay", "label_smoothing", "compile", "threads", "device",
                           "log_every", "eval_every", "sample_every", "checkpoint_every", "num_final_images", "num_best_images",
                           "grid_size", "seed", "g_steps", "balance", "balance_threshold", "critic_warmup",
                           "d_update", "smooth_g_target"})


# -- what the board reads -------------------------------------------------------------
def strip_volatile(protocol: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in protocol.items() if k not in VOLATILE}


def protocol_signature(protocol: dict[str, Any]) -> str:
    """The identity of an evaluation protocol: rows (and references) with equal signatures
    were scored the same way and may share a table."""
    return json.dumps(strip_volatile(protocol), sort_keys=True, default=str)


def model_config(config: dict[str, Any]) -> dict[str, Any]:
    """What G at step 0 and its sampling depend on, from a resolved config (config.json or
    RunSpec.resolved): the model and its options, the training data's options, the [train]
    keys that shape G or z (latent size, conditioning, EMA, ...) and the sampling batch size.
    The seed is kept apart (references are aggregated over seeds)."""
    train = {k: v for k, v in (config.get("train") or {}).items() if k not in NOT_AT_STEP_0}
    return {"model": config.get("model"), "models": config.get("models", {}), "dataset": config.get("dataset"),
            "datasets": config.get("datasets", {}), "train": train,
            "sample_batch_size": (config.get("metrics") or {}).get("batch_size")}


def read_references(suite_dir: Path) -> list[dict[str, Any]]:
    """Every reference record of a suite folder (damaged or foreign files skipped), in name order."""
    folder = Path(suite_dir) / REFERENCES
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        rec = read_json(path)
        if isinstance(rec, dict) and rec.get("kind") in LABELS and isinstance(rec.get("protocol"), dict) \
                and isinstance(rec.get("scores"), dict):
            out.append(rec)
    return out


# -- computing them ---------------------------------------------------------------------
def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _plain(value: Any) -> Any:
    """As it reads back from JSON, so a stored key compares equal to a fresh one."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _final_protocol(run_dir: Path) -> Optional[dict[str, Any]]:
    final = next((e for e in reversed(read_jsonl(run_dir / "evals.jsonl")) if e.get("final")), None)
    return strip_volatile(final.get("protocol") or {}) if final else None


def _other_split(plugins: Plugins, run: RunSpec, data: DataCache, reference: "ImageData",
                 ref_split: str) -> Optional[tuple[str, "ImageData"]]:
    """Another split of the run's data set that is here (never downloaded for this), with the
    same classes, resolution and channels as the reference; None when there is none."""
    spec = plugins.datasets.get(run.dataset)
    for split in DISJOINT.get(ref_split, ()):
        try:
            options = checked_reference_options(spec.options, run.dataset_options, split,
                                                f"references: datasets.{run.dataset}")
        except GanbenchError:
            continue
        if hasattr(options, "download"):
            options = dataclasses.replace(options, download=False)
        try:
            if spec.check is not None and spec.check(options):
                continue
            other = spec.load(options, str(data.cache_dir))
        except (GanbenchError, OSError):
            continue
        if other.class_names == reference.class_names and other.shape == reference.shape and len(other.images):
            return split, other
    return None


def real_sample(plugins: Plugins, run: RunSpec, data: DataCache,
                n: int) -> tuple["torch.Tensor", "torch.Tensor", dict[str, Any]]:
    """(images, labels, how they were drawn): n real images for the real-data row."""
    import torch

    ref_split = reference_options(run.dataset_options, run.metrics).split
    reference = data.get(run.dataset, reference_options(run.dataset_options, run.metrics))
    g = torch.Generator().manual_seed(SAMPLE_SEED)
    other = _other_split(plugins, run, data, reference, ref_split)
    split, pool = other if other is not None else (ref_split, reference)
    size = len(pool.images)
    replacement = other is None or size < n
    idx = torch.randint(size, (n,), generator=g) if replacement else torch.randperm(size, generator=g)[:n]
    images, labels = pool.images.index_select(0, idx), pool.labels.index_select(0, idx)
    if other is None:
        text = (f"a bootstrap of the '{ref_split}' reference: {n:,} draws with replacement from its {size:,} "
                f"images (seed {SAMPLE_SEED}); no other split of {run.dataset} is here")
    else:
        how = "draws with replacement from" if replacement else "of"
        text = (f"{n:,} {how} the {size:,} '{split}' images, disjoint from the '{ref_split}' reference "
                f"(seed {SAMPLE_SEED})")
    info = {"source": "bootstrap" if other is None else "other split", "split": split, "reference_split": ref_split,
            "num_images": n, "pool": size, "replacement": replacement, "seed": SAMPLE_SEED,
            "fingerprint": fingerprint(images, labels), "description": text}
    return images, labels, info


def _untrained_sampler(plugins: Plugins, run: RunSpec, data: DataCache,
                       device: "torch.device") -> Callable[[int], Any]:
    """The run's G at step 0, sampled as training samples it (the Trainer builds it)."""
    from .train import Trainer

    trainer = Trainer(plugins, run, data.get(run.dataset, run.dataset_options), device)
    return trainer.sampler(run.metrics.batch_size, seed=run.train.seed + EVAL_SEED_OFFSET)


def _score(plugins: Plugins, run: RunSpec, data: DataCache, device: "torch.device", kind: str,
           generate: Callable[[int], Any], final: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """(scores, seconds) of one reference, refused when its protocol is not the run's."""
    m = run.metrics
    ctx = eval_context(data, run.dataset, run.dataset_options, m, generate, device, m.num_samples,
                       conditional=bool(run.train.conditional), final=True)
    scores, protocol, seconds = evaluate(plugins, m, run.metric_options, ctx)
    differ = sorted(k for k, v in _plain(strip_volatile(protocol)).items() if final.get(k) != v)
    if differ:
        raise GanbenchError(f"the {LABELS[kind]} row of run {run.run_id} was scored under another protocol than "
                            f"the run's final evaluation (it differs in {', '.join(differ)})",
                            hint="a metric's protocol depends on the sample it scores; report it as a bug")
    return scores, seconds


def _ensure(plugins: Plugins, run: RunSpec, data: DataCache, suite_dir: Path, device: "torch.device", kind: str,
            key: dict[str, Any], make_generate: Callable[[], Callable[[int], Any]], final: dict[str, Any],
            extra: dict[str, Any]) -> bool:
    """One reference in the suite folder: already there, else from the cache, else scored
    (and cached). True when it was scored now."""
    key = _plain(key)
    name = f"{_digest(key)}.json"
    target = Path(suite_dir) / REFERENCES / name
    stored = read_json(target)
    if isinstance(stored, dict) and stored.get("key") == key:
        return False
    cached_path = Path(data.cache_dir) / REFERENCES / name
    cached = read_json(cached_path)
    scored = not (isinstance(cached, dict) and cached.get("key") == key)
    if scored:
        t0 = time.perf_counter()
        scores, seconds = _score(plugins, run, data, device, kind, make_generate(), final)
        cached = {"kind": kind, "label": LABELS[kind], "protocol": final, "scores": scores, "seconds": seconds,
                  **extra, "device": str(device), "computed_by": run.run_id,
                  "computed": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_seconds": round(time.perf_counter() - t0, 3),
                  "key": key}
        try:
            write_json(cached_path, cached)
        except OSError:  # an unwritable cache costs a recomputation next time, nothing else
            pass
    write_json(target, cached)
    return scored


def ensure_references(plugins: Plugins, run: RunSpec, data: DataCache, suite_dir: Path,
                      device: "torch.device") -> None:
    """Make sure the suite folder holds the real-data and untrained-G rows of this run's
    final-evaluation protocol, scoring (and caching) only what no earlier run or suite did.

    Called after the run's final evaluation; does nothing for a run without metrics. Runs under
    a forked RNG, so building the untrained G moves no random stream of the caller."""
    import torch

    m = run.metrics
    final = _final_protocol(Path(suite_dir) / run.run_id)
    if not m.names or not final:
        return
    base = {"version": VERSION, "protocol": final, "metrics": list(m.names),
            "metric_options": {n: run.resolved.get("metrics", {}).get(n) for n in m.names},
            "conditional": bool(run.train.conditional), "device": device.type}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        images, labels, sample = real_sample(plugins, run, data, m.num_samples)

        def real() -> Callable[[int], Any]:
            def generate(n: int) -> tuple["torch.Tensor", Optional["torch.Tensor"]]:
                return images[:n].to(device), (labels[:n].to(device) if run.train.conditional else None)
            return generate

        _ensure(plugins, run, data, suite_dir, device, REAL, {**base, "kind": REAL, "sample": sample["fingerprint"]},
                real, final, {"sample": sample})
        model = model_config(run.resolved)
        _ensure(plugins, run, data, suite_dir, device, UNTRAINED,
                {**base, "kind": UNTRAINED, "model": model, "seed": run.train.seed},
                lambda: _untrained_sampler(plugins, run, data, device), final,
                {"model": model, "seed": run.train.seed,
                 "sample": {"description": f"{run.model} built at step 0 with each run's seed, sampled as a trained "
                                           "G is (the evaluation seed, fp32)"}})
