"""What a run leaves behind: sample grids, a progress GIF, final images, a thumbnail for
the leaderboard, evaluations, checkpoints and throughput.json, all written as the trainer
reports progress.

throughput.json separates what the loop measured (img/s over the whole budget) from
what a short probe after training measured (ms per D step and per G step, generation
img/s, FLOPs of one iteration), because the loop only syncs at log intervals and cannot
time a D step apart from a G step.
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .config import reference_options
from .flops import step_flops
from .metrics import EVAL_SEED_OFFSET, EvalContext, evaluate
from .plugins import Plugins
from .results import append_jsonl, read_jsonl, set_status, write_json
from .suite import RunSpec

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
    from torchvision.utils import save_image

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
    from PIL import Image

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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class RunWriter:
    """Runs a Trainer and turns its callbacks into files and hook calls."""

    def __init__(self, plugins: Plugins, run: RunSpec, run_dir: Path, info: Any,
                 progress: Optional[Callable[[str, int, dict[str, Any]], None]] = None):
        self.plugins, self.run, self.dir, self.info = plugins, run, run_dir, info
        self.progress = progress or (lambda run_id, step, extra: None)
        self.eval_seconds = 0.0
        self.generation_img_per_s: Optional[float] = None
        self.best: Optional[dict[str, Any]] = None

    # -- evaluation -----------------------------------------------------------
    def evaluate(self, trainer: Any, data: Any, step: int, final: bool) -> dict[str, float]:
        m = self.run.metrics
        if not m.names:
            return {}
        n = m.num_samples if final else m.eval_num_samples
        opts = reference_options(self.run.dataset_options, m)
        ctx = EvalContext(real=data.get(self.run.dataset, opts), num_samples=n, device=trainer.device,
                          cache_dir=data.cache_dir, config=m,
                          generate=trainer.sampler(m.batch_size, seed=self.run.train.seed + EVAL_SEED_OFFSET),
                          conditional=trainer.conditional, final=final, dataset=self.run.dataset,
                          split=opts.split, classes=tuple(opts.classes),
                          full_real=lambda: data.full(self.run.dataset, self.run.dataset_options))
        t0 = time.perf_counter()
        scores, protocol, seconds = evaluate(self.plugins, m, self.run.metric_options, ctx)
        self.eval_seconds += time.perf_counter() - t0
        if ctx.generation_seconds > 0:
            self.generation_img_per_s = n / ctx.generation_seconds
        bad = [k for k, v in scores.items() if not math.isfinite(v)]
        record = {"step": step, "final": final, "scores": scores, "protocol": protocol, "seconds": seconds,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "device": str(trainer.device),
                  "autocast": str(trainer.amp_dtype) if trainer.use_amp else None}  # what the sample depends on
        append_jsonl(self.dir / "evals.jsonl", record)
        self.plugins.hook.ganbench_evaluation_finished(run=self.info, step=step, scores=scores, final=final)
        if bad:
            from .train import Diverged
            raise Diverged(f"non-finite scores at step {step}: {', '.join(bad)}")
        return scores

    def _best(self) -> Optional[dict[str, Any]]:
        """The best step by the primary score, among evaluations on one sample count only:
        FID-like scores shrink as the sample count grows, so the final evaluation (on
        more samples) competes only when the curve used as many."""
        primary = self.run.metrics.primary
        spec = next((s for name in self.run.metrics.names for s in self.plugins.metrics.get(name).scores
                     if s.name == primary), None)
        evals = [e for e in read_jsonl(self.dir / "evals.jsonl")
                 if isinstance(e.get("scores", {}).get(primary), (int, float))]
        during = [e for e in evals if not e.get("final")]
        count = (during or evals or [{}])[-1].get("protocol", {}).get("num_fake")
        best = None
        for e in evals:
            if e.get("protocol", {}).get("num_fake") != count:
                continue
            v = e["scores"][primary]
            if best is None or (v > best["value"] if spec and spec.higher_is_better else v < best["value"]):
                best = {"step": e["step"], "value": v, "score": primary, "final": e.get("final", False),
                        "num_fake": count}
        return best

    # -- the run ----------------------------------------------------------------
    def execute(self, data: Any) -> None:
        from .train import Callbacks, Trainer, load_checkpoint, resolve_device, save_checkpoint
        from .runs import _truncate_after

        t = self.run.train
        device = resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(t.threads)
        if device.type == "cuda":  # per-run peak, not the process's whole history
            torch.cuda.reset_peak_memory_stats(device)
        real = data.get(self.run.dataset, self.run.dataset_options)
        trainer = Trainer(self.plugins, self.run, real, device)
        write_json(self.dir / "data.json", {
            "shape": list(real.shape), "num_images": len(real.images), "class_names": list(real.class_names),
            "present_classes": sorted(set(real.labels.tolist())), "fingerprint": real.fingerprint,
            "description": real.description})
        ckpt = self.dir / "checkpoint.pt"
        resumed = 0
        if ckpt.exists():
            trainer.load_state_dict(load_checkpoint(ckpt, device))
            resumed = trainer.state.step
            _truncate_after(self.dir, resumed)
        else:
            for stale in ("losses.csv", "evals.jsonl"):
                (self.dir / stale).unlink(missing_ok=True)
        self.info.resumed_from = resumed
        set_status(self.dir, "running", step=resumed, steps=t.steps, resumed_from=resumed,
                   started=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.plugins.hook.ganbench_run_started(run=self.info)
        last = {"img_per_s": 0.0}
        classes = len(trainer.class_pool) if trainer.conditional else 0
        columns = grid_columns(t.grid_size, classes)

        def on_log(step: int, losses: dict[str, float], speed: dict[str, float]) -> None:
            last.update(speed, **losses)
            self.plugins.hook.ganbench_step_finished(run=self.info, step=step,
                                                     losses={**losses, "img_per_s": speed["img_per_s"]})
            self.progress(self.run.run_id, step, dict(last))

        def on_sample(step: int, images: torch.Tensor) -> None:
            save_grid(images, self.dir / "samples" / f"step_{step:07d}.png", nrow=columns)

        def on_eval(step: int, final: bool) -> None:
            self.evaluate(trainer, data, step, final)

        def on_checkpoint(step: int, state: dict[str, Any]) -> None:
            save_checkpoint(ckpt, state)
            set_status(self.dir, "running", step=step, steps=t.steps)

        trainer.fit(Callbacks(on_log, on_sample, on_eval, on_checkpoint),
                    progress=lambda step: self.progress(self.run.run_id, step, dict(last)))
        # final evaluation on the full sample count, final images, GIF, thumbnail
        scores = self.evaluate(trainer, data, t.steps, True)
        self._final_images(trainer, real)
        write_gif(sorted((self.dir / "samples").glob("step_*.png")), self.dir / "progress.gif")
        save_grid(trainer.sample_grid()[:THUMB_IMAGES], self.dir / "thumb.png", nrow=4)
        # probes last: they train a few extra steps whose updates are thrown away
        write_json(self.dir / "throughput.json", self._throughput(trainer, device, resumed))
        set_status(self.dir, "running", step=t.steps, steps=t.steps, best=self._best(), scores=scores)

    def _final_images(self, trainer: Any, real: Any) -> None:
        """train.num_final_images PNG files; a conditional model's carry their class name."""
        n = self.run.train.num_final_images
        if not n:
            return
        from PIL import Image

        images, labels = trainer.sampler(n, seed=self.run.train.seed + 31337)(n)
        out = self.dir / "final"
        out.mkdir(exist_ok=True)
        for old in out.glob("*.png"):
            old.unlink()
        for i, img in enumerate(images.cpu()):
            arr = img.permute(1, 2, 0).numpy()
            name = f"{i:03d}"
            if labels is not None:
                name += "_" + _safe(real.class_names[int(labels[i])])
            Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(out / f"{name}.png")

    def _throughput(self, trainer: Any, device: torch.device, resumed: int) -> dict[str, Any]:
        from .train import parameter_count, peak_memory_mb

        t, st = self.run.train, trainer.state
        evals = read_jsonl(self.dir / "evals.jsonl")
        eval_total = sum(sum(v for v in e.get("seconds", {}).values() if isinstance(v, (int, float)))
                         for e in evals)
        final_eval = next((e for e in reversed(evals) if e.get("final")), None)
        out: dict[str, Any] = {
            # measured by the loop over the whole budget (all sessions of a resumed run)
            "train_img_per_s": st.images_seen / st.train_seconds if st.train_seconds else None,
            "g_steps_per_s": st.step / st.train_seconds if st.train_seconds else None,
            "ms_per_iteration": 1000 * st.train_seconds / st.step if st.step else None,
            "train_seconds": st.train_seconds, "images_seen": st.images_seen,
            # every evaluation in evals.jsonl, generation included
            "eval_seconds": eval_total,
            "final_eval_seconds": sum(v for v in final_eval.get("seconds", {}).values()
                                      if isinstance(v, (int, float))) if final_eval else None,
            "eval_seconds_this_session": self.eval_seconds,
            "generation_img_per_s_eval": self.generation_img_per_s,
        }
        out.update(_probe_steps(trainer))
        out["generation_img_per_s"] = _probe_generation(trainer, self.run.metrics.batch_size)
        flops = step_flops(trainer)
        out.update(flops)
        if flops.get("flops_per_image") and out["train_img_per_s"]:
            out["achieved_gflops"] = flops["flops_per_image"] * out["train_img_per_s"] / 1e9
        out.update({
            "peak_memory_mb": peak_memory_mb(device),
            "peak_memory_kind": "torch.cuda.max_memory_allocated (this run)" if device.type == "cuda"
            else "process max RSS (includes earlier runs in the same process)",
            "params_g": parameter_count(trainer.G), "params_d": parameter_count(trainer.D),
            "batch_size": t.batch_size, "n_critic": t.n_critic, "device": str(device),
            "threads": torch.get_num_threads(), "resumed_from": resumed,
        })
        return out


def _probe_steps(trainer: Any, min_rounds: int = 2, max_rounds: int = 10,
                 budget_s: float = 0.5) -> dict[str, Any]:
    """ms per D step and per G step, timed apart (synchronised on CUDA) over a few extra
    iterations after a warm-up one. Runs at the very end: the updates are discarded."""
    n = trainer.cfg.n_critic
    d_ms: list[float] = []
    g_ms: list[float] = []
    try:
        rounds = 0
        start = time.perf_counter()
        while rounds <= max_rounds:
            _sync(trainer.device)
            t0 = time.perf_counter()
            for i in range(n):
                trainer.d_step(keep_graph=i == n - 1)
            _sync(trainer.device)
            t1 = time.perf_counter()
            trainer.g_step()
            _sync(trainer.device)
            t2 = time.perf_counter()
            if rounds:  # round 0 warms up
                d_ms.append(1000 * (t1 - t0) / n)
                g_ms.append(1000 * (t2 - t1))
            rounds += 1
            if rounds > min_rounds and time.perf_counter() - start > budget_s:
                break
    except Exception as exc:  # timings are informative only
        return {"ms_per_d_step": None, "ms_per_g_step": None,
                "step_timing": f"probe failed: {type(exc).__name__}: {exc}"}
    d_ms.sort()
    g_ms.sort()
    return {"ms_per_d_step": d_ms[len(d_ms) // 2], "ms_per_g_step": g_ms[len(g_ms) // 2],
            "step_timing": f"median of {len(d_ms)} probe iterations after training ({n} D steps + 1 G step "
                           f"each, batch {trainer.cfg.batch_size}); a G step includes D's forward and backward"}


def _probe_generation(trainer: Any, batch_size: int, budget_s: float = 0.25) -> Optional[float]:
    """Images per second from G in inference mode at the evaluation batch size,
    quantisation included, synchronised on CUDA (one warm-up batch first)."""
    try:
        generate = trainer.sampler(batch_size, seed=0)
        generate(min(batch_size, 64))
        _sync(trainer.device)
        n, t0 = 0, time.perf_counter()
        while n < 4 * batch_size and (n == 0 or time.perf_counter() - t0 < budget_s):
            generate(batch_size)
            _sync(trainer.device)
            n += batch_size
        return n / (time.perf_counter() - t0)
    except Exception:
        return None

