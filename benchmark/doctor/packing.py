"""Section 3, first half: runs packed on one device by the process executor against the same
runs one at a time (the local executor), and Inception metrics inside a GPU worker.

Run lengths are calibrated on this machine: one DCGAN run alone sets how many G steps give
cfg.pack_seconds of training. The comparison runs on a GPU only (the goal is a GPU's; on a CPU
the packed runs alone check the executor). Two ratios are reported: the steady one (Σ training img/s of the packed runs over one run's
img/s alone, what a long suite gets) and the wall-clock one (whole suites, worker start-up
and evaluations included), whose value depends on how short the runs are.
"""
from __future__ import annotations

import importlib.util
import time
from typing import Any, Optional

from ganbench_plugins.fidelity.weights import save_random_inception_weights

from ..bench.loops import GanbenchLoop
from ..executors import LocalExecutor, get_executor
from ..runner import run_suite
from ..suite import Suite
from .harness import (Context, Packing, RunFolder, event_logger, load, metrics_table, plugin_tables, read_folder,
                      suite_text, train_table)
from .records import NEEDS_CUDA, Check, finite, judge, skip

S = "3"
MODEL = "dcgan"


def dcgan_suite(ctx: Context, name: str, steps: int, runs: int, metrics: dict[str, Any],
                tables: Optional[dict[str, dict[str, Any]]] = None, **train: Any) -> Suite:
    """``runs`` DCGAN runs (seeds 0..runs-1) at the doctor's width on its data, fp32."""
    cfg = ctx.cfg
    text = suite_text(name, {"model": [MODEL], "dataset": [ctx.choice.name], "seed": list(range(runs))},
                      train_table(cfg, steps, train.pop("log_every", max(1, steps // 10)), **train), metrics,
                      {**plugin_tables(cfg, [MODEL], ctx.choice), **(tables or {})})
    return load(ctx.plugins, ctx.work, name, text)


def solo_steps_per_s(ctx: Context) -> float:
    """G steps per second of one DCGAN run alone on the device: its Trainer, in this process."""
    if ctx.solo_steps_per_s is None:
        run = dcgan_suite(ctx, "doctor-calibrate", 10, 1, metrics_table(ctx.cfg.num_samples)).runs[0]
        loop = GanbenchLoop(ctx.plugins, run, ctx.data.get(run.dataset, run.dataset_options), str(ctx.device))
        loop.fit(3)  # warm-up: allocator, cuDNN autotuning
        ctx.solo_steps_per_s = loop.fit(10 if ctx.cfg.tiny else 50) / loop.images_per_step
        ctx.log(f"  one DCGAN run alone: {ctx.solo_steps_per_s:.1f} G steps/s")
    return ctx.solo_steps_per_s


def steps_for(ctx: Context, seconds: float) -> int:
    """G steps that take about ``seconds`` of training for a run alone (a multiple of 10, ≥ 20)."""
    return int(max(20, min(100_000, round(seconds * solo_steps_per_s(ctx) / 10) * 10)))


def _run_all(ctx: Context, suite: Suite, root_name: str, executor: Any) -> tuple[float, list[RunFolder]]:
    t0 = time.perf_counter()
    result = run_suite(ctx.plugins, suite, ctx.work / root_name, executor, on_event=event_logger(ctx.log))
    wall = time.perf_counter() - t0
    return wall, [read_folder(result.suite_dir, r) for r in suite.runs]


def section_packing(ctx: Context) -> list[Check]:
    cfg = ctx.cfg
    steps = steps_for(ctx, cfg.pack_seconds)
    suite = dcgan_suite(ctx, "doctor-pack", steps, cfg.pack_runs, metrics_table(min(cfg.num_samples, 1000)))
    ctx.log(f"  {cfg.pack_runs} runs x {steps} G steps: {'one at a time, then ' if cfg.gpu else ''}"
            f"{cfg.pack_workers} workers" + (f" with --gpus-per-run {cfg.gpus_per_run:g}" if cfg.gpus_per_run else ""))
    executor = get_executor("process", workers=cfg.pack_workers, gpus_per_run=cfg.gpus_per_run)
    if not cfg.gpu:  # the packing goal is a GPU goal; on a CPU only the executor itself is checked
        pack_wall, packed = _run_all(ctx, suite, "packed", executor)
        return [_all_done("executor/packed", packed, pack_wall, ctx.device.type, executor.describe()),
                skip(S, "executor/sequential", f"{NEEDS_CUDA}: it is the packing goal's baseline (section 1 ran the "
                                               "local executor here)"),
                inception_in_workers(ctx)]
    seq_wall, seq = _run_all(ctx, suite, "sequential", LocalExecutor())
    ctx.solo_folders = [f for f in seq if f.state == "done"]
    pack_wall, packed = _run_all(ctx, suite, "packed", executor)
    plan = executor.describe()
    gpus = plan.get("cuda_visible_devices") or []
    checks = [_all_done("executor/sequential", seq, seq_wall, ctx.device.type, {"executor": "local"}),
              _all_done("executor/packed", packed, pack_wall, ctx.device.type, plan),
              judge(S, "executor/placement", len(set(gpus)) == 1 and len(gpus) == cfg.pack_workers,
                    f"all {cfg.pack_workers} workers on one GPU (CUDA_VISIBLE_DEVICES)",
                    {"cuda_visible_devices": gpus, "start_method": plan.get("start_method")})]
    rates = [[f.throughput.get("train_img_per_s") for f in group] for group in (seq, packed)]
    if all(f.state == "done" for f in seq + packed) and all(finite(*r) for r in rates):
        ctx.packing = Packing(cfg.pack_runs, cfg.pack_workers, steps, seq_wall, pack_wall, rates[0], rates[1])
    checks.append(inception_in_workers(ctx))
    return checks


def _all_done(name: str, folders: list[RunFolder], wall: float, device: str, extra: dict[str, Any]) -> Check:
    bad = [f"{f.run.run_id}: {f.state} {f.error}".strip() for f in folders if f.state != "done"]
    wrong = [f.run.run_id for f in folders if f.state == "done"
             and not str(f.throughput.get("device", "")).startswith(device)]
    figures = {"runs": len(folders), "steps": folders[0].run.train.steps if folders else 0, "wall_s": wall,
               "train_img_per_s": [f.throughput.get("train_img_per_s") for f in folders],
               **{k: v for k, v in extra.items() if k in ("executor", "name", "workers", "start_method",
                                                         "threads_per_worker")}}
    return judge(S, name, not bad and not wrong, f"every run done, on {device}", figures,
                 "; ".join(bad[:3] + [f"{r} not on {device}" for r in wrong[:3]]))


def inception_in_workers(ctx: Context) -> Check:
    """FID with torch-fidelity's Inception (random weights) inside a spawned GPU worker."""
    name = "executor/inception-in-worker"
    criterion = "a process-executor run on CUDA scored with fid (random Inception weights) finishes, FID finite"
    if not ctx.cfg.gpu:
        return skip(S, name, f"{NEEDS_CUDA}: torch-fidelity starts loader workers only on CUDA, and Inception-v3 "
                             "runs at ~5 img/s on a CPU", criterion)
    if importlib.util.find_spec("torch_fidelity") is None:
        return skip(S, name, "torch-fidelity is not installed (scripts/gpu_check.sh installs a carried wheel)",
                    criterion)
    weights, n = ctx.work / "random-inception-v3.pth", 500
    suite = dcgan_suite(ctx, "doctor-inception", 20, 1, {"names": ["fid"], "num_samples": n},
                        {"metrics.fid": {"weights": str(weights), "num_real": n}})
    real = ctx.data.get(ctx.choice.name, suite.runs[0].dataset_options)
    save_random_inception_weights(weights, seed=0, images=real.images[:16])
    wall, (f,) = _run_all(ctx, suite, "inception", get_executor("process", workers=1))
    fid = f.scores.get("fid_inception", float("nan"))
    return judge(S, name, f.state == "done" and finite(fid), criterion,
                 {"state": f.state, "fid_inception": fid, "num_samples": n, "wall_s": wall},
                 f.error or f"state {f.state}, fid {fid}")
