"""Section 1: every built-in model trains in every precision the device has, through the harness.

Per run: finite losses (the run finished and every logged loss is a number), a better
fd_classifier than its own untrained generator, and for bf16/fp16 a loss curve close to
fp32's (config.CURVE_TOLERANCE). Then a probe of fp16 WGAN-GP: the gradient penalty's value
and how often the GradScaler skipped a step for inf/NaN gradients (its double backward runs
under the scaled loss).
"""
from __future__ import annotations

import math
import statistics
import time

from ..executors import Executor, LocalExecutor, get_executor
from ..runner import run_suite
from ..sampling import sample_latent
from ..train import Trainer
from .config import CURVE_FLOOR, CURVE_TOLERANCE, SKIP_TOLERANCE
from .harness import (Context, RunFolder, builtin_models, event_logger, load, metrics_table, plugin_tables,
                      read_folder, suite_text, train_table, untrained_scores)
from .records import NEEDS_CUDA, Check, finite, judge, skip

S = "1"
SCORE = "fd_classifier"  # lower is better


def curve_gap(ref: list[float], other: list[float]) -> float:
    """|mean(other) - mean(ref)| / max(|mean(ref)|, sd(ref), CURVE_FLOOR) over each curve's last half."""
    a, b = ref[len(ref) // 2:], other[len(other) // 2:]
    if not a or not b:
        return math.nan
    scale = max(abs(statistics.fmean(a)), statistics.pstdev(a), CURVE_FLOOR)
    return abs(statistics.fmean(b) - statistics.fmean(a)) / scale


def _half_mean(values: list[float]) -> float:
    half = values[len(values) // 2:]
    return statistics.fmean(half) if half else math.nan


def _executor(ctx: Context) -> Executor:
    """On a GPU the runs share it four at a time (the process executor); on a CPU one at a time."""
    cfg = ctx.cfg
    if cfg.gpu:
        return get_executor("process", workers=cfg.pack_workers, gpus_per_run=cfg.gpus_per_run)
    return LocalExecutor()


def section_training(ctx: Context) -> list[Check]:
    cfg = ctx.cfg
    models = builtin_models(ctx.plugins)
    text = suite_text("doctor-train", {"model": models, "dataset": [ctx.choice.name],
                                       "precision": list(cfg.precisions)},
                      train_table(cfg, cfg.steps, cfg.log_every), metrics_table(cfg.num_samples),
                      plugin_tables(cfg, models, ctx.choice))
    suite = load(ctx.plugins, ctx.work, "doctor-train", text)
    ctx.train_suite = suite
    # the untrained generators first: this trains (and caches) the classifier once, in this
    # process, before workers would each train their own
    before: dict[str, float] = {}
    for run in suite.runs:
        if run.model not in before:
            t0 = time.perf_counter()
            before[run.model] = untrained_scores(ctx.plugins, ctx.data, run, ctx.device)[SCORE]
            ctx.log(f"  untrained {run.model}: {SCORE} {before[run.model]:.4g} ({time.perf_counter() - t0:.1f} s)")
    executor = _executor(ctx)
    ctx.log(f"  training {len(suite.runs)} runs x {cfg.steps} G steps ({executor.name} executor)")
    t0 = time.perf_counter()
    result = run_suite(ctx.plugins, suite, ctx.work / "results", executor, on_event=event_logger(ctx.log))
    wall = time.perf_counter() - t0
    folders = [read_folder(result.suite_dir, run) for run in suite.runs]
    ctx.train_folders = folders
    checks: list[Check] = []
    for f in folders:
        p = f.run.train.precision
        checks.append(_finite(f, wall))
        checks.append(_learns(ctx, f, before.get(f.run.model, math.nan)))
        if p != "fp32":
            ref = next((g for g in folders if g.run.model == f.run.model and g.run.train.precision == "fp32"), None)
            checks.append(_close_to_fp32(f, ref))
    if not cfg.gpu:
        for p in ("bf16", "fp16"):
            checks.append(skip(S, f"amp/*/{p}", f"{NEEDS_CUDA}: autocast (train.precision = \"{p}\") runs on CUDA "
                                                f"only"))
    checks.append(penalty_probe(ctx))
    return checks


def _name(f: RunFolder, kind: str) -> str:
    return f"{kind}/{f.run.model}/{f.run.train.precision}"


def _finite(f: RunFolder, suite_wall: float) -> Check:
    values = [v for k in ("loss_d", "loss_g") for v in f.losses.get(k, [])]
    figures = {"state": f.state, "steps": f.status.get("step"), "logged": len(f.losses.get("loss_d", [])),
               "loss_d_last": (f.losses.get("loss_d") or [math.nan])[-1],
               "loss_g_last": (f.losses.get("loss_g") or [math.nan])[-1],
               "train_img_per_s": f.throughput.get("train_img_per_s"), "suite_wall_s": suite_wall}
    ok = f.state == "done" and bool(values) and finite(*values)
    why = f.error or ("a logged loss is not finite" if f.state == "done" else f"state {f.state}")
    return judge(S, _name(f, "train"), ok, "the run finished and every logged loss_d, loss_g is finite",
                 figures, why)


def _learns(ctx: Context, f: RunFolder, untrained: float) -> Check:
    trained = f.scores.get(SCORE, math.nan)
    figures = {SCORE: trained, f"{SCORE}_untrained": untrained,
               "ratio": trained / untrained if finite(trained, untrained) and untrained else math.nan,
               "num_samples": f.run.metrics.num_samples}
    criterion = f"{SCORE} after training < {SCORE} of the same G untrained (lower is better)"
    if ctx.cfg.tiny:
        return skip(S, _name(f, "learns"), f"--tiny: {ctx.cfg.steps} G steps at width ~{ctx.cfg.default_width} "
                                           "are too few to show learning (tests/test_learning.py covers it on CPU)",
                    criterion, figures)
    if f.state != "done":
        return judge(S, _name(f, "learns"), False, criterion, figures, f"the run did not finish ({f.state})")
    return judge(S, _name(f, "learns"), finite(trained, untrained) and trained < untrained, criterion, figures)


def _close_to_fp32(f: RunFolder, ref: "RunFolder | None") -> Check:
    criterion = (f"for loss_d and loss_g: |mean - mean_fp32| / max(|mean_fp32|, sd_fp32, {CURVE_FLOOR}) over the "
                 f"last half of the logged losses ≤ {CURVE_TOLERANCE}")
    name = _name(f, "amp")
    if ref is None or ref.state != "done" or f.state != "done":
        return judge(S, name, False, criterion, {}, "the fp32 run or this run did not finish")
    figures: dict[str, float] = {}
    for k in ("loss_d", "loss_g"):
        a, b = ref.losses.get(k, []), f.losses.get(k, [])
        figures.update({f"gap_{k}": curve_gap(a, b), f"mean_{k}": _half_mean(b), f"mean_{k}_fp32": _half_mean(a)})
    gaps = [figures["gap_loss_d"], figures["gap_loss_g"]]
    return judge(S, name, finite(*gaps) and max(gaps) <= CURVE_TOLERANCE, criterion, figures)


def penalty_probe(ctx: Context) -> Check:
    """fp16 WGAN-GP with the Trainer a run builds: the penalty as the Trainer computes it, each
    G step, and the GradScaler's skipped steps (each skip halves its scale)."""
    cfg = ctx.cfg
    name = "penalty/wgan-gp/fp16"
    criterion = (f"the gradient penalty is finite at every probed step and the GradScaler skips ≤ "
                 f"{SKIP_TOLERANCE:.0%} of the optimizer steps")
    if not cfg.gpu:
        return skip(S, name, f"{NEEDS_CUDA}: fp16 autocast and its GradScaler run on CUDA only", criterion)
    suite = ctx.train_suite
    run = next((r for r in suite.runs if r.model == "wgan-gp" and r.train.precision == "fp16"), None) if suite else None
    if run is None:
        return skip(S, name, "no fp16 wgan-gp run in this suite", criterion)
    tr = Trainer(ctx.plugins, run, ctx.data.get(run.dataset, run.dataset_options), ctx.device)
    reg = next(r for r in tr.regs if r.penalty is not None)
    options = tr.loss_opts.get(reg.name)
    values: list[float] = []
    skipped = updates = 0
    for _ in range(cfg.penalty_steps):
        before = tr.scaler.get_scale()
        tr.train_step()
        after = tr.scaler.get_scale()
        updates += tr.cfg.n_critic + 1  # the scaler is updated after every D step and the G step
        if after < before:
            skipped += round(math.log2(before / after))
        real, y_real = tr.next_batch()
        z = sample_latent(tr.cfg.batch_size, tr.cfg.latent_dim, tr.cfg.latent_dist, tr.device, tr.gen)
        with tr.autocast():
            fake = tr.G(z, None)
        values.append(float(reg.penalty(tr.D, real, fake.detach(), None, None, options).detach()))
    losses = (tr.acc / max(tr.acc_n, 1)).tolist()
    figures = {"steps": cfg.penalty_steps, "penalty_min": min(values), "penalty_max": max(values),
               "penalty_last": values[-1], "optimizer_steps": updates, "skipped_steps": skipped,
               "final_scale": tr.scaler.get_scale(), "loss_d_mean": losses[0], "loss_g_mean": losses[1]}
    ok = finite(*values, *losses[:2]) and skipped <= SKIP_TOLERANCE * updates
    return judge(S, name, ok, criterion, figures)
