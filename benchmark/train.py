"""The one training loop every model shares.

Each G step is preceded by the D updates its schedule plans (:mod:`ganbench.schedule`:
n_critic, g_steps, the WGAN warm-up, or the loss-threshold rule); the last D update's
fake batch is reused for the G step (the same images G is then graded on, as in the
DCGAN reference loop), and a G step without one (g_steps, d_update = "separate") draws
fresh latents. Batches are indexed from a uint8 tensor already on the device. Losses
are accumulated on the device (:mod:`ganbench.losslog`) and read only at log intervals,
the only host syncs in the loop; the threshold rule adds one per iteration (its
decision is the losses' value).
"""
from __future__ import annotations

import os
import tempfile
import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .divergence import DivergenceWatch, batch_spread
from .ema import EMA, describe_generator
from .errors import GanbenchError
from .losslog import LossLog, term_columns
from .sampling import make_generator, sample_latent
from .plugins import Plugins
from .runspec import RunSpec
from .schedule import check_training_options
from .specs import ImageData, LossSpec, ModelContext
from .updates import Diverged, UpdateSteps

__all__ = ["Callbacks", "Diverged", "Trainer", "TrainState", "load_checkpoint", "save_checkpoint"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanbenchError(f"train.device = '{name}' but CUDA is not available on this machine",
                            hint="use device = \"auto\" or \"cpu\"")
    return torch.device(name)


def use_channels_last(setting: Optional[bool], *nets: nn.Module) -> bool:
    """train.channels_last; None means auto: on for convolutional nets. It is the layout oneDNN
    (CPU) and cuDNN's tensor-core kernels (CUDA with AMP) prefer: CPU, width 16, one thread:
    DCGAN 1.09x, WGAN-GP 1.07x, SAGAN 1.18x; equal to the contiguous layout up to float
    rounding (tests/test_speed_equivalence.py)."""
    if setting is not None:
        return bool(setting)
    return any(p.dim() == 4 for net in nets for p in net.parameters())


@dataclass
class Callbacks:
    """How the loop talks to the outside (results writer, hooks, progress bar)."""

    on_log: Callable[[int, dict[str, float], dict[str, float]], None] = lambda step, losses, speed: None
    on_sample: Callable[[int, torch.Tensor], None] = lambda step, images: None
    on_eval: Callable[[int, bool], None] = lambda step, final: None
    on_checkpoint: Callable[[int, dict[str, Any]], None] = lambda step, state: None


@dataclass
class TrainState:
    step: int = 0
    train_seconds: float = 0.0
    images_seen: int = 0


class Trainer(UpdateSteps):
    """Builds G, D, optimizers and loss terms for one run and trains them."""

    def __init__(self, plugins: Plugins, run: RunSpec, data: ImageData, device: torch.device):
        self.plugins, self.run, self.device = plugins, run, device
        t = run.train
        self.cfg = t
        self.data = data
        torch.manual_seed(t.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = plugins.models.get(run.model)
        self.conditional = bool(t.conditional)
        num_classes = data.num_classes if self.conditional else 0
        ctx = ModelContext(image_shape=data.shape, latent_dim=t.latent_dim, num_classes=num_classes,
                           options=run.model_options)
        G, D = model.build(ctx)
        fmt = torch.channels_last if use_channels_last(t.channels_last, G, D) else torch.contiguous_format
        self.G = G.to(device, memory_format=fmt)
        self.D = D.to(device, memory_format=fmt)
        self.fmt = fmt
        opt = plugins.optimizers.get(t.optimizer)
        self.opt_g = opt.build(self.G.parameters(), lr=t.lr_g, betas=tuple(t.betas_g),
                               weight_decay=t.weight_decay, options=run.optimizer_options)
        self.opt_d = opt.build(self.D.parameters(), lr=t.lr_d, betas=tuple(t.betas_d),
                               weight_decay=t.weight_decay, options=run.optimizer_options)
        self.adv: LossSpec = plugins.losses.get(t.loss)
        self.aux: Optional[LossSpec] = plugins.losses.get(t.aux_loss) if t.aux_loss else None
        self.regs: list[LossSpec] = [plugins.losses.get(r) for r in t.regularizers]
        check_training_options(t, self.adv, self.aux, self.regs)
        self.loss_opts = run.loss_options
        self.ema = EMA(self.G, t.ema_decay, t.ema_rampup) if t.ema else None
        self.augment = (plugins.augments.get(t.augment).build(run.augment_options.get(t.augment)).to(device)
                        if t.augment != "none" else None)
        self.real_target = 1.0 - t.label_smoothing
        # None: G's plain loss, as without smoothing (smooth_g_target at label_smoothing 0 is a no-op)
        self.g_target = self.real_target if t.smooth_g_target and t.label_smoothing > 0 else None
        self.gen = torch.Generator(device=device).manual_seed(t.seed)
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.class_pool = torch.unique(self.labels) if self.conditional else None
        self.perm = torch.empty(0, dtype=torch.long, device=device)
        self.pos = 0
        self.log = LossLog(*term_columns(self.adv, self.aux, self.regs), device)
        self.images_drawn = 0  # real images D was shown (images_seen's source)
        self._last: Optional[tuple[Any, ...]] = None
        self.state = TrainState()
        self.watch = DivergenceWatch(t)
        self.use_amp = t.precision != "fp32" and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if t.precision == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and t.precision == "fp16")
        if t.compile:
            self.G_step = torch.compile(self.G)
            self.D_step = torch.compile(self.D)
        else:
            self.G_step, self.D_step = self.G, self.D
        fixed = torch.Generator(device=device).manual_seed(t.seed + 1_000_003)
        self.fixed_z = sample_latent(t.grid_size, t.latent_dim, t.latent_dist, device, fixed)
        self.fixed_y = (self.class_pool.repeat(math.ceil(t.grid_size / len(self.class_pool)))[:t.grid_size]
                        if self.conditional else None)

    # -- pieces -------------------------------------------------------------
    def sync(self) -> None:
        """Wait for the device's queued work (a no-op on CPU), before reading a clock."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def sampling_model(self) -> nn.Module:
        if self.ema is None:
            return self.G
        b = self.cfg.batch_size
        return self.ema.sampling_model(lambda gen: (sample_latent(b, self.cfg.latent_dim, self.cfg.latent_dist,
                                                                  self.device, gen), self.fake_labels(b, gen)),
                                       self.device)

    def sampling_description(self) -> str:
        """Which G sampling and evaluation use, as the protocol states it."""
        return describe_generator(self.ema is not None, self.cfg.ema_decay, self.cfg.ema_rampup, self.G)

    def sampler(self, batch_size: int, seed: int) -> Callable[[int], Any]:
        """Images as scoring sees them: fp32 (see :func:`~ganbench.sampling.make_generator`)."""
        return make_generator(self.sampling_model(), self.cfg.latent_dim, self.cfg.latent_dist, self.device,
                              self.class_pool, batch_size, seed)

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        G = self.sampling_model()
        was = G.training
        G.eval()
        with torch.inference_mode(), self.autocast():
            x = G(self.fixed_z, self.fixed_y).float()
        G.train(was)
        return x.cpu()

    # -- checkpoints --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,  # whose checkpoint it is: damage.py refuses another run's
            "step": self.state.step, "train_seconds": self.state.train_seconds,
            "images_seen": self.state.images_seen,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.sampling_model().state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            "device": self.device.type,  # a run resumes only on the kind of device it started on
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "perm": self.perm, "pos": self.pos, "acc": self.acc, "acc_n": self.acc_n,
            "log": self.log.state_dict(), "watch": self.watch.state_dict(),
            "augment": self.augment.state_dict() if self.augment is not None else None,
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore a checkpoint loaded to CPU (:func:`load_checkpoint`): weights and optimizer
        states move to the run's device, RNG states must stay CPU byte tensors."""
        saved = sd.get("device", "cpu")
        if saved != self.device.type:
            raise GanbenchError(f"the checkpoint was written on {saved}, and this run would continue on "
                                f"{self.device.type}: its random streams and timings would not be one run's",
                                hint=f"set train.device = \"{saved}\" to continue it where it started, or delete "
                                     "checkpoint.pt to restart the run on this device")
        self.G.load_state_dict(sd["G"])
        self.D.load_state_dict(sd["D"])
        if self.ema is not None and sd.get("G_ema") is not None:
            self.ema.model.load_state_dict(sd["G_ema"])
        self.opt_g.load_state_dict(sd["opt_g"])
        self.opt_d.load_state_dict(sd["opt_d"])
        if sd.get("scaler"):
            self.scaler.load_state_dict(sd["scaler"])
        self.gen.set_state(sd["gen"])
        torch.set_rng_state(sd["torch_rng"])
        if self.device.type == "cuda" and isinstance(sd.get("cuda_rng"), torch.Tensor):
            torch.cuda.set_rng_state(sd["cuda_rng"], self.device)
        self.perm, self.pos = sd["perm"].to(self.device), int(sd["pos"])
        self.log.load_state_dict(sd["acc"], int(sd["acc_n"]), sd.get("log"))
        self.watch.load_state_dict(sd.get("watch"))
        if self.augment is not None and sd.get("augment") is not None:
            self.augment.load_state_dict(sd["augment"])
        self.state = TrainState(int(sd["step"]), float(sd["train_seconds"]), int(sd["images_seen"]))

    # -- the loop ------------------------------------------------------------
    def fit(self, cb: Callbacks, progress: Callable[[int], None] = lambda step: None,
            should_stop: Callable[[], bool] = lambda: False) -> None:
        """Train to cfg.steps. should_stop() is asked once per G step (an executor's stop
        request): when it says yes, a checkpoint is saved at that step boundary and
        KeyboardInterrupt raised, so the run resumes from there."""
        t = self.cfg
        sample_every = t.sample_every or max(1, t.steps // 10)
        if self.state.step == 0:
            cb.on_sample(0, self.sample_grid())
        t0 = time.perf_counter()
        window_start, window_images = t0, 0
        while self.state.step < t.steps:
            drawn = self.images_drawn
            self.train_step()
            step = self.state.step
            window_images += self.images_drawn - drawn
            self.state.images_seen += self.images_drawn - drawn
            if should_stop():
                self.state.train_seconds += time.perf_counter() - window_start
                cb.on_checkpoint(step, self.state_dict())
                raise KeyboardInterrupt(f"stopped at step {step}; checkpoint saved")
            boundary = (step % t.log_every == 0 or step == t.steps or step % sample_every == 0
                        or (t.eval_every and step % t.eval_every == 0)
                        or (t.checkpoint_every and step % t.checkpoint_every == 0))
            if not boundary:
                continue
            if step % t.log_every == 0 or step == t.steps:
                losses, idle = self.log.read()  # the host sync; idle: D's columns when D had no update
                now = time.perf_counter()
                self.state.train_seconds += now - window_start
                speed = {"img_per_s": window_images / max(now - window_start, 1e-9),
                         "train_seconds": self.state.train_seconds}
                if not all(math.isfinite(v) for k, v in losses.items() if k not in idle):
                    raise Diverged(f"non-finite loss at step {step}: "
                                   + ", ".join(f"{k}={v:.4g}" for k, v in losses.items()))
                self.watch.check(step, losses, idle, batch_spread(self.last_fake) if t.collapse_std else None)
                if isinstance(getattr(self.augment, "p", None), torch.Tensor):
                    losses["augment_p"] = float(self.augment.p)
                cb.on_log(step, losses, speed)
                window_start, window_images = time.perf_counter(), 0
            self.sync()  # the pause starts when the queued steps have run, not when they were queued
            paused = time.perf_counter()
            if step % sample_every == 0 or step == t.steps:
                cb.on_sample(step, self.sample_grid())
            if t.eval_every and step % t.eval_every == 0 and step != t.steps:
                cb.on_eval(step, False)
            if (t.checkpoint_every and step % t.checkpoint_every == 0) or step == t.steps:
                cb.on_checkpoint(step, self.state_dict())
            progress(step)
            window_start += time.perf_counter() - paused


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file, then rename: a crash never leaves half a checkpoint."""
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint on CPU, weights_only=True: a checkpoint is data, never code. CPU because
    RNG states must be CPU byte tensors; weights move to the run's device when loaded into
    the modules and optimizers."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GanbenchError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})",
                            hint="delete it to restart the run from step 0") from exc
