"""One run from start to end: load its data, build the Trainer, resume, train, evaluate,
write every file, and record how it ended.

A run is a pure function of its resolved config and its results folder, so any executor
(in-process, worker processes, Ray) calls :func:`execute_run`, which never raises for a
run's own failure (only a Ctrl-C goes through, after the status says "interrupted", the state
the next `ganbench run` resumes). A damaged folder (``damage.py``) is returned as "damaged"
without a file of it touched.
"""
from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import torch

from .best_images import save_best_images
from .artifacts import (THUMB_IMAGES, best_evaluation, grid_columns, save_final_images, save_grid, truncate_after,
                        write_gif)
from .data import DataCache
from .errors import GanbenchError
from .metrics import EVAL_SEED_OFFSET, eval_context, evaluate
from .plugins import Plugins
from .references import ensure_references
from .rescore import rescore
from .resume import keep_final_evaluations_as_history, run_action
from .observers import Observers
from .results import append_jsonl, atomic_write_text, get_status, read_jsonl, set_status, write_json
from .runspec import RunSpec
from .specs import ImageData, RunInfo
from .throughput import throughput_report
from .train import Callbacks, Diverged, Trainer, load_checkpoint, peak_memory_mb, resolve_device, save_checkpoint

#: (run id, step, latest losses and speed) -> None: how a run reports progress to its executor
Progress = Callable[[str, int, dict[str, Any]], None]
#: final images are drawn with seed = train.seed + this
FINAL_IMAGES_SEED_OFFSET = 31337


def execute_run(plugins: Plugins, run: RunSpec, suite_dir: Path, data: DataCache,
                progress: Optional[Progress] = None, should_stop: Callable[[], bool] = lambda: False) -> str:
    """Train and evaluate one run; return its final state. Never raises for a run's own failure.

    should_stop() is asked once per G step: when it says yes the run checkpoints and raises
    KeyboardInterrupt (how executors stop runs in worker processes)."""
    run_dir = Path(suite_dir) / run.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    action = run_action(run, run_dir)
    if action == "skip":
        return get_status(run_dir)["state"]
    if action == "damaged":
        return "damaged"
    one = _Run(plugins, run, run_dir, data, progress)
    if action == "rescore":
        return one.rescore()
    if action == "continue":  # no longer done: a board read meanwhile sees a run in progress, not a damaged one
        set_status(run_dir, "running")
        keep_final_evaluations_as_history(run_dir)
    write_json(run_dir / "config.json", run.config_json())
    error: Optional[str] = None
    state = "failed"
    try:
        one.train(should_stop)
        state = "done"
    except KeyboardInterrupt:
        at = one.trainer.state.step if one.trainer is not None else 0
        set_status(run_dir, "interrupted", error=f"interrupted (Ctrl-C) at step {at}; rerun the suite to continue "
                                                 "from the last checkpoint")
        raise
    except Exception as exc:  # a failing run never takes the suite down
        if isinstance(exc, Diverged):
            state, error = "diverged", str(exc)
        elif isinstance(exc, GanbenchError):
            error = str(exc)
        else:
            error = f"{type(exc).__name__}: {exc}"
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    set_status(run_dir, state, **({"error": error} if error else {}), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    del one.trainer
    if torch.cuda.is_initialized():  # the next run in this process starts from an empty allocator cache
        torch.cuda.empty_cache()
    one.notify("ganbench_run_finished", run=one.info, status=state, error=error)
    return state


def restore(trainer: Trainer, ckpt: Path) -> None:
    """Load a checkpoint into the run's networks; one that does not fit them (another model's,
    written before checkpoints named their run) is an error that says so, not a traceback."""
    state = load_checkpoint(ckpt)
    try:
        trainer.load_state_dict(state)
    except GanbenchError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise GanbenchError(f"{ckpt} does not fit this run's networks ({type(exc).__name__}: {first})",
                            hint=f"it may be another run's checkpoint: restore this run's, or delete {ckpt} to "
                                 "restart the run from step 0") from exc


class _Run:
    """The state of one run while it trains: its Trainer's callbacks become files and hook calls."""

    def __init__(self, plugins: Plugins, run: RunSpec, run_dir: Path, data: DataCache,
                 progress: Optional[Progress]):
        self.plugins, self.run, self.dir, self.data = plugins, run, run_dir, data
        self.info = RunInfo(run.run_id, run.suite, run_dir, run.resolved, run.coords)
        self.progress = progress or (lambda run_id, step, extra: None)
        self.notify = Observers(plugins, run_dir)  # lifecycle hooks: a raising observer is logged, not fatal
        self.trainer: Optional[Trainer] = None
        self.eval_seconds = 0.0
        self.generation_img_per_s: Optional[float] = None

    def train(self, should_stop: Callable[[], bool]) -> None:
        t = self.run.train
        device = resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(t.threads)
        if device.type == "cuda":  # per-run peak, not the process's whole history
            torch.cuda.reset_peak_memory_stats(device)
        real = self.data.get(self.run.dataset, self.run.dataset_options)
        trainer = self.trainer = Trainer(self.plugins, self.run, real, device)
        self._write_data_json(real)
        ckpt = self.dir / "checkpoint.pt"
        resumed = 0
        if ckpt.exists():
            restore(trainer, ckpt)
            resumed = trainer.state.step
            truncate_after(self.dir, resumed)
        else:
            for stale in ("losses.csv", "evals.jsonl"):
                (self.dir / stale).unlink(missing_ok=True)
        self.info.resumed_from = resumed
        set_status(self.dir, "running", step=resumed, steps=t.steps, resumed_from=resumed,
                   started=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.notify("ganbench_run_started", run=self.info)
        last = {"img_per_s": 0.0}
        columns = grid_columns(t.grid_size, len(trainer.class_pool) if trainer.conditional else 0)

        def on_log(step: int, losses: dict[str, float], speed: dict[str, float]) -> None:
            last.update(speed, **losses)
            self.notify("ganbench_step_finished", run=self.info, step=step,
                        losses={**losses, "img_per_s": speed["img_per_s"]})
            self.progress(self.run.run_id, step, dict(last))

        def on_sample(step: int, images: torch.Tensor) -> None:
            save_grid(images, self.dir / "samples" / f"step_{step:07d}.png", nrow=columns)
            self.notify("ganbench_samples_drawn", run=self.info, step=step, images=images)

        def on_eval(step: int, final: bool) -> None:
            self.evaluate(trainer, step, final)

        def on_checkpoint(step: int, state: dict[str, Any]) -> None:
            save_checkpoint(ckpt, state)
            set_status(self.dir, "running", step=step, steps=t.steps)

        trainer.fit(Callbacks(on_log, on_sample, on_eval, on_checkpoint),
                    progress=lambda step: self.progress(self.run.run_id, step, dict(last)), should_stop=should_stop)
        peak_mb = peak_memory_mb(device)
        if t.eval_every and self.run.metrics.eval_num_samples != self.run.metrics.num_samples:
            # the curve's last point, on the curve's sample count, so the best step can be the last
            self.evaluate(trainer, t.steps, False)
        # final evaluation on the full sample count, final images, GIF, thumbnail
        scores = self.evaluate(trainer, t.steps, True)
        try:
            ensure_references(self.plugins, self.run, self.data, self.dir.parent, device)
        except Exception as exc:  # reference rows give context; they never cost the run
            set_status(self.dir, "running",
                       reference_warning=f"reference rows not computed: {type(exc).__name__}: {exc}")
        if t.num_final_images:
            images, labels = trainer.sampler(t.num_final_images, seed=t.seed + FINAL_IMAGES_SEED_OFFSET)(
                t.num_final_images)
            save_final_images(images, labels, real.class_names, self.dir / "final")
        if t.num_best_images:
            save_best_images(trainer, t.num_best_images, t.seed, real.class_names, self.dir / "final" / "best")
        write_gif(sorted((self.dir / "samples").glob("step_*.png")), self.dir / "progress.gif")
        save_grid(trainer.sample_grid()[:THUMB_IMAGES], self.dir / "thumb.png", nrow=4)
        # probes last: they train a few extra steps whose updates are thrown away
        write_json(self.dir / "throughput.json", throughput_report(
            trainer, self.run, self.dir / "evals.jsonl", resumed, self.eval_seconds, self.generation_img_per_s,
            peak_mb))
        set_status(self.dir, "running", step=t.steps, steps=t.steps, best=self._best(), scores=scores)

    def rescore(self) -> str:
        """Score the finished run again under its new evaluation settings, without training.
        When that fails the run stays done with its earlier scores and config.json, so the
        next `ganbench run` tries again; the status says why."""
        path = self.dir / "config.json"
        before = path.read_text(encoding="utf-8")
        write_json(path, self.run.config_json())
        try:
            record = rescore(self.plugins, self.dir, device=self.run.train.device, data=self.data, refresh=False)
        except Exception as exc:  # the trained run is not lost to a failing metric
            atomic_write_text(path, before)
            (self.dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            set_status(self.dir, "done", rescore_error=f"{type(exc).__name__}: {exc}")
            return "done"
        set_status(self.dir, "done", scores=record["scores"], best=self._best(), rescore_error=None,
                   rescored=time.strftime("%Y-%m-%dT%H:%M:%S"))
        try:  # the floor and ceiling rows of the new protocol
            ensure_references(self.plugins, self.run, self.data, self.dir.parent, resolve_device(self.run.train.device))
        except Exception as exc:  # reference rows give context; they never cost the run
            set_status(self.dir, "done", reference_warning=f"reference rows not computed: {type(exc).__name__}: {exc}")
        self.notify("ganbench_evaluation_finished", run=self.info, step=record["step"], scores=record["scores"],
                    final=record["final"])
        return "done"

    def evaluate(self, trainer: Trainer, step: int, final: bool) -> dict[str, float]:
        m = self.run.metrics
        if not m.names:
            return {}
        n = m.num_samples if final else m.eval_num_samples
        ctx = eval_context(self.data, self.run.dataset, self.run.dataset_options, m,
                           trainer.sampler(m.batch_size, seed=self.run.train.seed + EVAL_SEED_OFFSET),
                           trainer.device, n, conditional=trainer.conditional, final=final)
        t0 = time.perf_counter()
        # under a forked RNG: whatever a metric draws (a classifier's training, subsets) never
        # moves the training's random streams, so evaluating changes no weight
        with torch.random.fork_rng(devices=[trainer.device] if trainer.device.type == "cuda" else []):
            scores, protocol, seconds = evaluate(self.plugins, m, self.run.metric_options, ctx)
        self.eval_seconds += time.perf_counter() - t0
        if ctx.generation_seconds > 0:
            self.generation_img_per_s = n / ctx.generation_seconds
        protocol["generator"] = trainer.sampling_description()
        for name, why in protocol.get("errors", {}).items():
            self.notify.warn(f"{self.run.run_id}: metric {name} raised at step {step}, its scores are left out "
                             f"(the other metrics' are kept): {why}")
        record = {"step": step, "final": final, "scores": scores, "protocol": protocol, "seconds": seconds,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "device": str(trainer.device),
                  "autocast": None}  # what the sample depends on: scoring samples in fp32
        append_jsonl(self.dir / "evals.jsonl", record)
        self.notify("ganbench_evaluation_finished", run=self.info, step=step, scores=scores, final=final)
        bad = [k for k, v in scores.items() if not math.isfinite(v)]
        if bad:
            raise Diverged(f"non-finite scores at step {step}: {', '.join(bad)}")
        return scores

    def _best(self) -> Optional[dict[str, Any]]:
        primary = self.run.metrics.primary
        spec = next((s for name in self.run.metrics.names for s in self.plugins.metrics.get(name).scores
                     if s.name == primary), None)
        return best_evaluation(read_jsonl(self.dir / "evals.jsonl"), primary, bool(spec and spec.higher_is_better))

    def _write_data_json(self, real: ImageData) -> None:
        write_json(self.dir / "data.json", {
            "shape": list(real.shape), "num_images": len(real.images), "class_names": list(real.class_names),
            "present_classes": sorted(set(real.labels.tolist())), "fingerprint": real.fingerprint,
            "description": real.description})
