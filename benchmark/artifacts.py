"""What a run leaves behind: sample grids, a progress GIF, final images, evaluations,
checkpoints and throughput.json, all written as the trainer reports progress."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .metrics import EvalContext, evaluate
from .plugins import Plugins
from .results import append_jsonl, read_jsonl, set_status, write_json
from .suite import RunSpec


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """images in [-1, 1] -> one PNG grid (torchvision)."""
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    save_image(images.float().clamp(-1, 1), tmp, nrow=nrow, normalize=True, value_range=(-1, 1), padding=1)
    tmp.replace(path)


def write_gif(frames: list[Path], path: Path, ms_per_frame: int = 400) -> None:
    from PIL import Image

    if not frames:
        return
    images = [Image.open(f).convert("RGB") for f in frames]
    tmp = path.with_name(f".{path.name}.tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    tmp.replace(path)


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
        opts = self.run.dataset_options
        ctx = EvalContext(real=data.get(self.run.dataset, opts), num_samples=n, device=trainer.device,
                          cache_dir=data.cache_dir, config=m,
                          generate=trainer.sampler(m.batch_size, seed=self.run.train.seed + 7919),
                          conditional=trainer.conditional, final=final, dataset=self.run.dataset,
                          split=opts.split, classes=tuple(opts.classes),
                          full_real=lambda: data.full(self.run.dataset, opts))
        t0 = time.perf_counter()
        scores, protocol, seconds = evaluate(self.plugins, m, self.run.metric_options, ctx)
        self.eval_seconds += time.perf_counter() - t0
        if ctx.generation_seconds > 0:
            self.generation_img_per_s = n / ctx.generation_seconds
        import math
        bad = [k for k, v in scores.items() if not math.isfinite(v)]
        record = {"step": step, "final": final, "scores": scores, "protocol": protocol, "seconds": seconds,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        append_jsonl(self.dir / "evals.jsonl", record)
        self.plugins.hook.ganbench_evaluation_finished(run=self.info, step=step, scores=scores, final=final)
        if bad:
            from .train import Diverged
            raise Diverged(f"non-finite scores at step {step}: {', '.join(bad)}")
        return scores

    def _best(self) -> Optional[dict[str, Any]]:
        primary = self.run.metrics.primary
        spec = next((s for name in self.run.metrics.names for s in self.plugins.metrics.get(name).scores
                     if s.name == primary), None)
        best = None
        for e in read_jsonl(self.dir / "evals.jsonl"):
            v = e.get("scores", {}).get(primary)
            if v is None:
                continue
            if best is None or (v > best["value"] if spec and spec.higher_is_better else v < best["value"]):
                best = {"step": e["step"], "value": v, "score": primary, "final": e.get("final", False)}
        return best

    # -- the run ----------------------------------------------------------------
    def execute(self, data: Any) -> None:
        from .train import Callbacks, Trainer, load_checkpoint, parameter_count, peak_memory_mb, \
            resolve_device, save_checkpoint
        from .runs import _truncate_after

        t = self.run.train
        device = resolve_device(t.device)
        if t.threads:
            torch.set_num_threads(t.threads)
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

        def on_log(step: int, losses: dict[str, float], speed: dict[str, float]) -> None:
            last.update(speed, **losses)
            self.plugins.hook.ganbench_step_finished(run=self.info, step=step,
                                                     losses={**losses, "img_per_s": speed["img_per_s"]})
            self.progress(self.run.run_id, step, dict(last))

        def on_sample(step: int, images: torch.Tensor) -> None:
            save_grid(images, self.dir / "samples" / f"step_{step:07d}.png")

        def on_eval(step: int, final: bool) -> None:
            self.evaluate(trainer, data, step, final)

        def on_checkpoint(step: int, state: dict[str, Any]) -> None:
            save_checkpoint(ckpt, state)
            set_status(self.dir, "running", step=step, steps=t.steps)

        flops = _flops_per_image(trainer)
        trainer.fit(Callbacks(on_log, on_sample, on_eval, on_checkpoint),
                    progress=lambda step: self.progress(self.run.run_id, step, dict(last)))
        # final evaluation on the full sample count, final images, GIF
        scores = self.evaluate(trainer, data, t.steps, True)
        final_images = trainer.sampler(max(t.num_final_images, 1), seed=t.seed + 31337)(t.num_final_images)[0] \
            if t.num_final_images else None
        if final_images is not None:
            from PIL import Image
            out = self.dir / "final"
            out.mkdir(exist_ok=True)
            for i, img in enumerate(final_images.cpu()):
                arr = img.permute(1, 2, 0).numpy()
                Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(out / f"{i:03d}.png")
        frames = sorted((self.dir / "samples").glob("step_*.png"))
        write_gif(frames, self.dir / "progress.gif")
        st = trainer.state
        throughput = {
            "train_img_per_s": st.images_seen / st.train_seconds if st.train_seconds else None,
            "g_steps_per_s": (st.step - 0) / st.train_seconds if st.train_seconds else None,
            "ms_per_g_step": 1000 * st.train_seconds / st.step if st.step else None,
            "ms_per_d_step": 1000 * st.train_seconds / (st.step * t.n_critic) if st.step else None,
            "train_seconds": st.train_seconds, "images_seen": st.images_seen,
            "generation_img_per_s": self.generation_img_per_s,
            "eval_seconds_this_session": self.eval_seconds,
            "peak_memory_mb": peak_memory_mb(device),
            "params_g": parameter_count(trainer.G), "params_d": parameter_count(trainer.D),
            "flops_per_image": flops, "batch_size": t.batch_size, "n_critic": t.n_critic,
            "device": str(device), "threads": torch.get_num_threads(), "resumed_from": resumed,
        }
        if flops and throughput["train_img_per_s"]:
            throughput["achieved_gflops"] = flops * throughput["train_img_per_s"] / 1e9
        write_json(self.dir / "throughput.json", throughput)
        best = self._best()
        set_status(self.dir, "running", step=t.steps, steps=t.steps, best=best, scores=scores)


def _flops_per_image(trainer: Any) -> Optional[float]:
    """FLOPs of one G forward+backward and D forward+backward per image
    (torch.utils.flop_counter), counted once on a small batch outside the loop."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        t = trainer.cfg
        b = 4
        G, D = trainer.G, trainer.D
        z = torch.randn(b, t.latent_dim, device=trainer.device,
                        generator=torch.Generator(trainer.device).manual_seed(0))  # global RNG untouched
        y = trainer.class_pool[:1].repeat(b) if trainer.conditional else None
        real = torch.zeros((b, *trainer.data.shape), device=trainer.device)
        G_state = {k: v.clone() for k, v in G.state_dict().items()}
        D_state = {k: v.clone() for k, v in D.state_dict().items()}
        with FlopCounterMode(display=False) as counter:
            for _ in range(t.n_critic):  # D steps: G forward, D on real and fake, backward
                with torch.no_grad():
                    fake = G(z, y)
                out = D(real, y)
                s = out[0] if isinstance(out, tuple) else out
                out2 = D(fake, y)
                s2 = out2[0] if isinstance(out2, tuple) else out2
                (s.sum() + s2.sum()).backward()
            fake = G(z, y)  # G step: G forward, D forward, backward through both
            out = D(fake, y)
            (out[0] if isinstance(out, tuple) else out).sum().backward()
        G.load_state_dict(G_state)  # undo BN running-stat updates
        D.load_state_dict(D_state)
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)
        return counter.get_total_flops() / b
    except Exception:  # FLOP counting is informative only
        return None
