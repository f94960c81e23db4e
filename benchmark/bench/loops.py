"""The loops a case times: ganbench's Trainer, and the plain PyTorch loops people write by hand.

- ``plain_dataloader``: a torchvision-style Dataset (a PIL image per item, ToTensor and
  Normalize) in a DataLoader, and the step as the PyTorch DCGAN example writes it
  (``zero_grad()``, D's weight gradients computed in the G step too, ``.item()`` per step
  for the loss log, torch's default optimizer implementation for the device).
- ``plain_tensor``: the same step fed from one float tensor in memory (on the device).

On a GPU the plain loops do what a hand-written loop does there: G and D on the device, each
DataLoader batch copied to it, z drawn on it; their ``.item()`` calls synchronise.

The baselines follow ganbench's algorithm exactly (the last critic step's fake batch is
reused for the G step, the G forwards of earlier critic steps run without a graph), so a
ratio measures implementation, never a different recipe. Fed the same random generator,
``PlainLoop(source="tensor")`` reproduces the Trainer's numbers (bit for bit with the same
optimizer kernel): tests/test_speed_equivalence.py uses it as the reference. G, D and the
adversarial loss come from the plugin registry, as the Trainer gets them.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Optional

import torch
from PIL import Image
from torch import nn
from torchvision import transforms

from ..data import DataCache, cache_dir
from ..errors import GanbenchError
from ..plugins import Plugins
from ..runspec import RunSpec
from ..specs import ImageData, ModelContext
from ..suite import load_suite
from ..train import Callbacks, Trainer
from .config import BENCH_DATASET, BIG


# -- runs and data ----------------------------------------------------------------------------
def bench_suite_text(model: str, width: int, batch_size: int, steps: int, *, name: str = "bench",
                     seeds: tuple[int, ...] = (0,), train: Optional[dict[str, Any]] = None,
                     resolution: int = 32, device: str = "cpu") -> str:
    """A suite for one model on the offline data set at 32x32x3 (the CIFAR-10 shape)."""
    t = {"steps": steps, "batch_size": batch_size, "device": device, "log_every": BIG, "sample_every": BIG,
         "checkpoint_every": 0, "num_final_images": 0, "grid_size": 4, **(train or {})}
    lines = [f'[suite]\nname = "{name}"', "[matrix]", f'model = ["{model}"]', f'dataset = ["{BENCH_DATASET}"]',
             f"seed = {list(seeds)}", "[train]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in t.items()]
    lines += ["[metrics]", "names = []", f"[models.{model}]", f"width = {width}",
              f"[datasets.{BENCH_DATASET}]", f"resolution = {resolution}", "channels = 3"]
    return "\n".join(lines) + "\n"


def make_run(plugins: Plugins, model: str, width: int, batch_size: int = 64, steps: int = 10,
             train: Optional[dict[str, Any]] = None, resolution: int = 32, device: str = "cpu") -> RunSpec:
    """One validated RunSpec, through the same suite loader users go through."""
    text = bench_suite_text(model, width, batch_size, steps, train=train, resolution=resolution, device=device)
    return load_suite(plugins, "<bench>.toml", text=text).runs[0]


def load_data(plugins: Plugins, run: RunSpec) -> ImageData:
    return DataCache(plugins, cache_dir()).get(run.dataset, run.dataset_options)


def build_models(plugins: Plugins, run: RunSpec, data: ImageData) -> tuple[nn.Module, nn.Module]:
    """G and D as the Trainer builds them: torch.manual_seed(seed) first, same builder."""
    torch.manual_seed(run.train.seed)
    ctx = ModelContext(image_shape=data.shape, latent_dim=run.train.latent_dim, num_classes=0,
                       options=run.model_options)
    return plugins.models.get(run.model).build(ctx)


# -- ganbench ---------------------------------------------------------------------------------
class GanbenchLoop:
    """The Trainer, driven through fit() exactly as a run drives it."""

    def __init__(self, plugins: Plugins, run: RunSpec, data: ImageData, device: str = "cpu"):
        self.trainer = Trainer(plugins, run, data, torch.device(device))
        self.images_per_step = run.train.batch_size * run.train.n_critic
        self.losses: list[dict[str, float]] = []

    def fit(self, steps: int, log_every: int = BIG) -> float:
        """``steps`` more G steps; returns the img/s that fit() itself measured (the figure a
        run's losses log and throughput.json report)."""
        tr = self.trainer
        tr.cfg = dataclasses.replace(tr.cfg, steps=tr.state.step + steps, log_every=log_every,
                                     sample_every=BIG, eval_every=0, checkpoint_every=0)
        speed: dict[str, float] = {}

        def on_log(step: int, losses: dict[str, float], s: dict[str, float]) -> None:
            speed.update(s)
            self.losses.append(losses)

        seen = tr.state.train_seconds
        tr.fit(Callbacks(on_log=on_log))
        if log_every >= steps:
            return speed["img_per_s"]
        return steps * self.images_per_step / (tr.state.train_seconds - seen)


# -- plain PyTorch ----------------------------------------------------------------------------
class PILImages(torch.utils.data.Dataset):
    """A torchvision-style data set (as torchvision.datasets.CIFAR10 does it): uint8 HWC
    arrays, one PIL image per item, then the transform."""

    def __init__(self, images_uint8: torch.Tensor, transform: Callable[[Image.Image], torch.Tensor]):
        self.data = images_uint8.permute(0, 2, 3, 1).contiguous().numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> torch.Tensor:
        a = self.data[i]
        return self.transform(Image.fromarray(a[..., 0] if a.shape[2] == 1 else a))


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, options: Any) -> torch.Tensor:
    """WGAN-GP's penalty as a hand-written loop has it: one eps per image, x_hat on the line
    between a real and a fake image, create_graph so the penalty's gradient reaches D."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return options.weight * ((grad.flatten(1).norm(2, dim=1) - options.target) ** 2).mean()


_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD"}
Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor, Any], torch.Tensor]
#: the regularizers a plain loop writes by hand, by their loss-registry names
PLAIN_PENALTIES: dict[str, Penalty] = {
    "gradient-penalty": gradient_penalty,
}


class PlainLoop:
    """The training loop users write by hand, on the same G, D, loss and optimizer.

    source "dataloader": PILImages + ToTensor/Normalize + DataLoader(shuffle, drop_last);
    source "tensor": batches indexed from one float tensor, with ``generator`` drawing the
    permutations and z in the Trainer's order (then the numbers match the Trainer's).
    """

    def __init__(self, plugins: Plugins, run: RunSpec, data: ImageData, source: str = "tensor",
                 loader_workers: int = 0, generator: Optional[torch.Generator] = None,
                 optimizer_impl: Optional[dict[str, bool]] = None, device: str = "cpu"):
        t = run.train
        if t.optimizer not in _OPTIMIZERS:
            raise GanbenchError(f"the plain baseline has no optimizer '{t.optimizer}'")
        self.t, self.source = t, source
        self.device = torch.device(device)
        G, D = build_models(plugins, run, data)
        self.G, self.D = G.to(self.device), D.to(self.device)
        cls = getattr(torch.optim, _OPTIMIZERS[t.optimizer])
        impl = optimizer_impl or {}
        kw = {"betas": tuple(t.betas_g)} if t.optimizer in ("adam", "adamw") else {}
        self.opt_g = cls(self.G.parameters(), lr=t.lr_g, weight_decay=t.weight_decay, **kw, **impl)
        kw = {"betas": tuple(t.betas_d)} if t.optimizer in ("adam", "adamw") else {}
        self.opt_d = cls(self.D.parameters(), lr=t.lr_d, weight_decay=t.weight_decay, **kw, **impl)
        self.adv = plugins.losses.get(t.loss)
        self.adv_opts = run.loss_options.get(t.loss)
        self.penalties: list[tuple[Penalty, Any]] = []
        for reg in t.regularizers:
            if reg not in PLAIN_PENALTIES:
                raise GanbenchError(f"the plain baseline has no regularizer '{reg}'")
            spec = plugins.losses.get(reg)
            options = run.loss_options.get(reg) or (spec.options() if spec.options else None)
            self.penalties.append((PLAIN_PENALTIES[reg], options))
        self.real_target = 1.0 - t.label_smoothing
        self.gen = generator
        self.images_per_step = t.batch_size * t.n_critic
        self.history: list[tuple[float, float]] = []
        if source == "dataloader":
            c = data.shape[0]
            tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * c, (0.5,) * c)])
            self.loader = torch.utils.data.DataLoader(PILImages(data.images, tf), batch_size=t.batch_size,
                                                      shuffle=True, drop_last=True, num_workers=loader_workers,
                                                      generator=generator)
            self._it = self._epochs()
        elif source == "tensor":
            self.data = data.images.to(self.device).float().div(127.5).sub(1.0)  # into [-1, 1] once
            self.perm = torch.empty(0, dtype=torch.long, device=self.device)
            self.pos = 0
        else:
            raise ValueError(f"unknown source {source!r}")

    def _epochs(self) -> Iterator[torch.Tensor]:
        while True:
            yield from self.loader

    def real_batch(self) -> torch.Tensor:
        if self.source == "dataloader":
            return next(self._it).to(self.device)
        b = self.t.batch_size
        if self.pos + b > len(self.perm):
            self.perm = torch.randperm(len(self.data), generator=self.gen, device=self.device)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + b]
        self.pos += b
        return self.data[idx]

    def step(self) -> tuple[float, float]:
        """n_critic D steps, then a G step on the last fake batch; returns (loss_d, loss_g)."""
        t = self.t
        d_losses = []
        for i in range(t.n_critic):
            real = self.real_batch()
            z = torch.randn(t.batch_size, t.latent_dim, generator=self.gen, device=self.device)
            if i == t.n_critic - 1:
                fake = self.G(z)
            else:
                with torch.no_grad():
                    fake = self.G(z)
            self.opt_d.zero_grad()
            d_loss = self.adv.d_loss(self.D(real), self.D(fake.detach()), self.real_target, self.adv_opts)
            for penalty, options in self.penalties:
                d_loss = d_loss + penalty(self.D, real, fake, options)
            d_loss.backward()
            self.opt_d.step()
            d_losses.append(d_loss.item())
        self.opt_g.zero_grad()
        g_loss = self.adv.g_loss(self.D(fake), None, self.adv_opts)
        g_loss.backward()
        self.opt_g.step()
        out = (sum(d_losses) / len(d_losses), g_loss.item())
        self.history.append(out)
        return out

    def fit(self, steps: int) -> float:
        """``steps`` G steps; returns img/s (wall clock; the .item() calls are the syncs)."""
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        return steps * self.images_per_step / (time.perf_counter() - t0)


def plain_sample(G: nn.Module, n: int, latent_dim: int, batch_size: int, device: str = "cpu") -> torch.Tensor:
    """A plain sampling loop: eval mode, torch.no_grad, the training batch, uint8 out (on the
    device, synchronised there before returning, as a caller timing it needs)."""
    dev = torch.device(device)
    G.eval()
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            x = G(torch.randn(min(batch_size, n - start), latent_dim, device=dev))
            out.append(((x + 1) * 127.5).clamp(0, 255).round().to(torch.uint8))
    images = torch.cat(out)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return images
