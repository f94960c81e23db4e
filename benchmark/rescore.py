"""`ganbench eval`: re-score a run from its checkpoint, e.g. with more samples or other
metrics than it was trained with, without training again.

The generator is rebuilt from the run's config.json and checkpoint (EMA weights when
kept), samples are drawn with the same seed as the training-time evaluation, and the
scores go through the same ``evaluate`` as during training, so a rescore with the
run's own settings reproduces its final evaluation on the same device. The result is
appended to evals.jsonl marked ``"rescored": true``; it is ``final`` when the
checkpoint is the run's last step, so the leaderboard shows it (with its protocol). Scores of
the previous final evaluation that a rescore of fewer metrics did not compute are kept when
both scored the same sample (``"carried"``), and dropped when the sample differs.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

import torch
from rich.table import Table

from .config import checked_reference_options, from_dict
from .data import DataCache, cache_dir
from .ema import describe_generator
from .errors import GanbenchError, ResourceMissing
from .export import load_generator
from .metrics import EVAL_SEED_OFFSET, eval_context, evaluate
from .publish import write_all
from .results import append_jsonl, get_status, read_json, read_jsonl
from .sampling import make_generator
from .train import load_checkpoint, resolve_device


def rescore(plugins: Any, run_dir: Path, metrics: Optional[list[str]] = None, num_samples: Optional[int] = None,
            device: str = "auto", reference_split: Optional[str] = None, data: Optional[DataCache] = None,
            refresh: bool = True) -> dict[str, Any]:
    """Score the run in run_dir again with the settings of its config.json (or the ones given);
    return the evals.jsonl record it appended. reference_split: score against another split of
    the run's data set (e.g. "test"). refresh: rebuild the suite's leaderboard afterwards."""
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    G, run, _ = load_generator(plugins, run_dir, dev)
    step = int(load_checkpoint(run_dir / "checkpoint.pt").get("step", 0))
    names = list(metrics) if metrics else list(run.metrics.names)
    if not names:
        raise GanbenchError(f"run {run_dir.name} names no metrics", hint="pass --metrics, e.g. --metrics fid,kid")
    options: dict[str, Any] = {}
    for name in names:
        spec = plugins.metrics.get(name, where="--metrics")
        opts = run.metric_options.get(name)
        if opts is None and spec.options is not None:
            opts = from_dict(spec.options, {}, f"metrics.{name}")
        if spec.needs_labels and not plugins.datasets.get(run.dataset).labelled:
            raise GanbenchError(f"metric '{name}' needs class labels; data set '{run.dataset}' has none",
                                where="--metrics")
        problem = spec.check(opts) if spec.check is not None else None
        if problem:
            raise ResourceMissing(problem, where=f"metrics.{name}")
        options[name] = opts
    n = num_samples or run.metrics.num_samples
    if n < 1:
        raise GanbenchError(f"--num-samples must be ≥ 1, found {n}")
    config = dataclasses.replace(run.metrics, names=names, num_samples=n)
    if reference_split:
        dspec = plugins.datasets.get(run.dataset)
        ref = checked_reference_options(dspec.options, run.dataset_options, reference_split, "--reference-split")
        problem = dspec.check(ref) if dspec.check is not None else None
        if problem:
            raise ResourceMissing(problem, where="--reference-split")
        config = dataclasses.replace(config, reference_split=reference_split)
    data = data or DataCache(plugins, cache_dir())
    train_data = data.get(run.dataset, run.dataset_options)
    trained_on = (read_json(run_dir / "data.json", {}) or {}).get("fingerprint")
    if trained_on and trained_on != train_data.fingerprint:
        raise GanbenchError(f"data set '{run.dataset}' on this machine (fingerprint {train_data.fingerprint}) is not the "
                            f"data run {run_dir.name} was trained on ({trained_on})",
                            hint="rescore where the same data files are, or retrain")
    class_pool = torch.unique(train_data.labels).to(dev) if run.train.conditional else None
    generate = make_generator(G, run.train.latent_dim, run.train.latent_dist, dev, class_pool, config.batch_size,
                              seed=run.train.seed + EVAL_SEED_OFFSET)
    ctx = eval_context(data, run.dataset, run.dataset_options, config, generate, dev, n,
                       conditional=bool(run.train.conditional))
    t0 = time.perf_counter()
    scores, protocol, seconds = evaluate(plugins, config, options, ctx)
    protocol["generator"] = describe_generator(run.train.ema, run.train.ema_decay, run.train.ema_rampup, G)
    seconds["total"] = round(time.perf_counter() - t0, 3)
    final = get_status(run_dir).get("state") == "done" and step >= run.train.steps
    record = {"step": step, "final": final, "rescored": True, "scores": scores, "protocol": protocol,
              "seconds": seconds, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "device": str(dev), "autocast": None}
    previous = next((e for e in reversed(read_jsonl(run_dir / "evals.jsonl")) if e.get("final")), None)
    if final and previous:
        _carry(plugins, names, previous, record)
    append_jsonl(run_dir / "evals.jsonl", record)
    record["dropped"] = sorted(set((previous or {}).get("scores", {})) - set(record["scores"])) if final else []
    if refresh:
        _refresh_leaderboard(plugins, run_dir.parent)
    return record


def _carry(plugins: Any, names: list[str], previous: dict[str, Any], record: dict[str, Any]) -> None:
    """Keep the previous final evaluation's scores of metrics this rescore did not compute when
    both scored the very same sample: same step, sample count, quantization and reference set,
    drawn on the same device type without autocast differences (the latents come from a
    device-side generator). Rescoring one metric then leaves the others on the leaderboard.
    Under another sample they would not be comparable, so they are dropped (cmd_eval says so);
    records from before "device" was written are never carried from."""
    def sample(protocol: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in protocol.items() if k not in plugins.metrics}

    same = (previous.get("step") == record["step"] and "device" in previous
            and previous["device"] == record["device"] and previous.get("autocast") == record["autocast"]
            and sample(previous.get("protocol", {})) == sample(record["protocol"]))
    if not same:
        return
    recomputed = {s.name for n in names for s in plugins.metrics.get(n).scores} | set(record["scores"])
    carried = {k: v for k, v in previous.get("scores", {}).items() if k not in recomputed}
    if not carried:
        return
    record["scores"].update(carried)
    for name, proto in previous.get("protocol", {}).items():
        if name in plugins.metrics and name not in names and name not in record["protocol"]:
            record["protocol"][name] = proto
    origin = (previous.get("carried") or {}).get("from") or {}
    record["carried"] = {"scores": sorted(carried),
                         "from": {k: origin.get(k, previous.get("time")) for k in sorted(carried)}}


def _refresh_leaderboard(plugins: Any, suite_dir: Path) -> None:
    """Rebuild the suite's leaderboard when the run lives in a suite folder (best effort)."""
    if not (suite_dir / "provenance.json").is_file():
        return
    try:
        write_all(suite_dir, plugins)
    except GanbenchError:
        pass


def cmd_eval(args: Any, plugins: Any, console: Any) -> int:
    """The `ganbench eval` command: rescore, then print the scores and their protocol."""
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    record = rescore(plugins, Path(args.run_dir), metrics, args.num_samples, args.device, args.reference_split)
    proto = record["protocol"]
    table = Table(title=f"{Path(args.run_dir).name} at step {record['step']} "
                        f"({proto.get('num_fake')} generated images)", title_justify="left")
    table.add_column("score")
    table.add_column("value", justify="right")
    carried = set(record.get("carried", {}).get("scores", ()))
    for k, v in record["scores"].items():
        table.add_row(k + (" (kept from the previous evaluation of this sample)" if k in carried else ""), f"{v:.6g}")
    console.print(table)
    for name in record["protocol"]:
        p = proto[name]
        if isinstance(p, dict):
            console.print(f"protocol {name}: " + ", ".join(f"{a}={b}" for a, b in p.items()))
    where = "final evaluation (the leaderboard shows it)" if record["final"] else "extra evaluation (not final)"
    console.print(f"appended to {Path(args.run_dir) / 'evals.jsonl'} as a rescored {where}")
    if record["dropped"]:
        console.print(f"[yellow]note:[/] the previous final evaluation also had {', '.join(record['dropped'])}; "
                      "they were scored on another sample (step, sample count, reference or device), so they are "
                      "off the leaderboard now; add their metrics to --metrics to score them on this one")
    return 0
