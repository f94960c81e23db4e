"""One iteration's updates: D's losses and optimizer steps, G's, and the order the
update schedule (:mod:`ganbench.schedule`) gives them.

A mixin of :class:`ganbench.train.Trainer`, which builds the networks, optimizers, loss
terms and batch sources these methods use (the annotations below). Kept apart so that
the loop's bookkeeping (checkpoints, logs, timings) and the mathematics of one update
read separately.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, Optional

import torch
from torch import nn

from .config import TrainConfig
from .ema import EMA
from .losslog import LossLog
from .sampling import sample_latent, to_float
from .schedule import MAX_D_ONLY_ITERATIONS, d_updates_before, update_d, update_g
from .specs import LossSpec


class Diverged(Exception):
    """A loss or a score became NaN or infinite, or training stalled (the threshold rule
    updating D alone without end)."""


def split_output(out: Any) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """D returns scores, or (scores, class logits) with an auxiliary classifier."""
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None


class UpdateSteps:
    """The update methods of :class:`~ganbench.train.Trainer`."""

    cfg: TrainConfig
    G: nn.Module
    D: nn.Module
    G_step: Callable[..., Any]
    D_step: Callable[..., Any]
    adv: LossSpec
    aux: Optional[LossSpec]
    regs: list[LossSpec]
    loss_opts: dict[str, Any]
    real_target: float
    g_target: Optional[float]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    log: LossLog
    ema: Optional[EMA]
    augment: Optional[nn.Module]
    conditional: bool
    device: torch.device
    gen: torch.Generator
    images_drawn: int
    images: torch.Tensor
    labels: torch.Tensor
    class_pool: Optional[torch.Tensor]
    perm: torch.Tensor
    pos: int
    fmt: torch.memory_format
    use_amp: bool
    amp_dtype: torch.dtype
    _last: Optional[tuple[Any, ...]]
    last_fake: torch.Tensor | None = None  # G's batch of its last step (the collapse rule reads it)
    state: Any  # train.TrainState

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def aug(self, x: torch.Tensor) -> torch.Tensor:
        """x as D sees it: through train.augment (differentiably), or as it is."""
        return x if self.augment is None else self.augment(x, self.gen)

    def observe_real(self, real_s: torch.Tensor) -> None:
        """D's scores of an augmented real batch, for an adaptive augmentation (ADA)."""
        observe = getattr(self.augment, "observe", None)
        if observe is not None:
            observe(real_s.detach())

    def next_batch(self, b: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The next b (default batch_size) real images and labels of the epoch's permutation."""
        b = b or self.cfg.batch_size
        n = len(self.images)
        if self.pos + b > len(self.perm):
            self.perm = torch.randperm(n, device=self.device, generator=self.gen)
            if n < b:  # tiny data sets: repeat the permutation to fill a batch
                reps = math.ceil(b / n)
                self.perm = torch.cat([torch.randperm(n, device=self.device, generator=self.gen)
                                       for _ in range(reps)])
            self.pos = 0
        idx = self.perm[self.pos:self.pos + b]
        self.pos += b
        x = to_float(self.images[idx]).contiguous(memory_format=self.fmt)
        return x, self.labels[idx]

    def fake_labels(self, n: int, gen: Optional[torch.Generator] = None) -> Optional[torch.Tensor]:
        if not self.conditional:
            return None
        pick = torch.randint(len(self.class_pool), (n,), device=self.device, generator=gen or self.gen)
        return self.class_pool[pick]

    @property
    def acc(self) -> torch.Tensor:
        """loss_d, loss_g, d_real, d_fake summed since the last log (see :class:`LossLog`)."""
        return self.log.acc

    @property
    def acc_n(self) -> int:
        return self.log.n

    def d_losses(self, keep_graph: bool) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """D's whole loss on a fresh real batch and fake batch, its logged terms and raw scores;
        the fake batch (with G's graph when keep_graph) is kept for the G step."""
        t = self.cfg
        real, y_real = self.next_batch()
        self.images_drawn += len(real)
        z = sample_latent(t.batch_size, t.latent_dim, t.latent_dist, self.device, self.gen)
        y_fake = self.fake_labels(t.batch_size)
        with torch.set_grad_enabled(keep_graph), self.autocast():
            fake = self.G_step(z, y_fake)
        parts: list[torch.Tensor] = []
        adv_opts = self.loss_opts.get(self.adv.name)
        real_d, fake_d = self.aug(real), self.aug(fake.detach())  # what D sees, penalties included
        with self.autocast():
            real_s, real_c = split_output(self.D_step(real_d, y_real if self.conditional else None))
            fake_s, fake_c = split_output(self.D_step(fake_d, y_fake))
            loss = self.adv.d_loss(real_s.float(), fake_s.float(), self.real_target, adv_opts)
            if self.adv.d_loss_real is not None and self.adv.d_loss_fake is not None:
                parts += [self.adv.d_loss_real(real_s.detach().float(), self.real_target, adv_opts),
                          self.adv.d_loss_fake(fake_s.detach().float(), adv_opts)]
            if self.aux is not None:
                aux = self.aux.d_loss(real_c.float(), fake_c.float(), y_real, y_fake, self.loss_opts.get(self.aux.name))
                loss = loss + aux
                parts.append(aux)
        for reg in self.regs:
            if reg.penalty is not None:
                # the eager D: a penalty differentiates D's gradient, and compiled graphs
                # (aot_autograd) do not support double backward
                pen = reg.penalty(self.D, real_d, fake_d, y_real if self.conditional else None,
                                  y_fake, self.loss_opts.get(reg.name))
                loss = loss + pen
                parts.append(pen)
        self._last = (fake, y_fake, real, y_real)
        self.observe_real(real_s)
        return loss, parts, real_s, fake_s

    def d_apply(self, loss: torch.Tensor) -> None:
        """One D optimizer step on ``loss``, then the regularizers' after-step hooks (clipping)."""
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_d)
        self.scaler.update()
        for reg in self.regs:
            if reg.after_d_step is not None:
                reg.after_d_step(self.D, self.loss_opts.get(reg.name))

    def d_step(self, keep_graph: bool, k: Optional[int] = None) -> torch.Tensor:
        """One D update, the k-th share of the D updates before a G step (default n_critic)."""
        k = k or self.cfg.n_critic
        if self.cfg.d_update == "separate":
            return self.d_step_separate(k)
        loss, parts, real_s, fake_s = self.d_losses(keep_graph)
        self.d_apply(loss)
        self.log.add_d(loss, real_s, fake_s, parts, k)
        return loss

    def d_step_separate(self, k: int) -> torch.Tensor:
        """d_update = "separate": an optimizer step on D's real term for batch_size/2 real
        images, then one on its fake term for batch_size/2 fakes of fresh latents (the
        Keras recipe); the G step then draws its own batch. Returns the two terms' sum."""
        t = self.cfg
        h = t.batch_size // 2
        opts = self.loss_opts.get(self.adv.name)
        real, y_real = self.next_batch(h)
        self.images_drawn += len(real)
        with self.autocast():
            real_s = split_output(self.D_step(self.aug(real), y_real if self.conditional else None))[0]
            loss_real = self.adv.d_loss_real(real_s.float(), self.real_target, opts)
        self.d_apply(loss_real)
        self.observe_real(real_s)
        z = sample_latent(h, t.latent_dim, t.latent_dist, self.device, self.gen)
        y_fake = self.fake_labels(h)
        with torch.no_grad(), self.autocast():
            fake = self.G_step(z, y_fake)
        with self.autocast():
            fake_s = split_output(self.D_step(self.aug(fake), y_fake))[0]
            loss_fake = self.adv.d_loss_fake(fake_s.float(), opts)
        self.d_apply(loss_fake)
        self._last = None
        loss = loss_real.detach() + loss_fake.detach()
        self.log.add_d(loss, real_s, fake_s, [loss_real, loss_fake], k)
        return loss

    def g_step(self) -> torch.Tensor:
        """One G update; returns its loss."""
        return self.g_update()[0]

    def g_update(self, decide: Optional[Callable[[torch.Tensor], bool]] = None) -> tuple[torch.Tensor, bool]:
        """G's loss on the last D update's fake batch, or on fresh latents when there is none;
        stepped unless ``decide(loss)`` says no (the threshold rule). (loss, stepped)."""
        t = self.cfg
        if self._last is not None:
            fake, y_fake, real, y_real = self._last
        else:
            z = sample_latent(t.batch_size, t.latent_dim, t.latent_dist, self.device, self.gen)
            y_fake = self.fake_labels(t.batch_size)
            with self.autocast():
                fake = self.G_step(z, y_fake)
            real, y_real = self.next_batch() if self.adv.needs_real_for_g else (None, None)
        self.D.requires_grad_(False)  # no D weight gradients in the G step
        opts = self.loss_opts.get(self.adv.name)
        try:
            with self.autocast():
                fake_s, fake_c = split_output(self.D_step(self.aug(fake), y_fake))
                real_s = None
                if self.adv.needs_real_for_g:
                    with torch.no_grad():
                        real_s = split_output(self.D_step(self.aug(real),
                                                          y_real if self.conditional else None))[0].float()
                if self.g_target is None:
                    loss = self.adv.g_loss(fake_s.float(), real_s, opts)
                else:
                    loss = self.adv.g_loss_target(fake_s.float(), real_s, self.g_target, opts)
                parts = []
                if self.aux is not None:
                    aux = self.aux.g_loss(fake_c.float(), y_fake, self.loss_opts.get(self.aux.name))
                    loss = loss + aux
                    parts.append(aux)
            self._last = None
            self.last_fake = fake.detach()
            if decide is not None and not decide(loss):
                return loss, False
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt_g)
            self.scaler.update()
        finally:
            self.D.requires_grad_(True)
        self.log.add_g(loss, parts)
        return loss, True

    def balanced_step(self) -> None:
        """balance = "threshold", iterations until G has stepped once: each computes D's loss
        on fresh batches and updates D iff it is above the threshold, then G's loss on that
        fake batch, updating G iff it is above or D was not updated (:mod:`ganbench.schedule`)."""
        thr = self.cfg.balance_threshold
        for _ in range(MAX_D_ONLY_ITERATIONS):
            loss, parts, real_s, fake_s = self.d_losses(keep_graph=True)
            d_updated = update_d(float(loss.detach()), thr)  # the host sync the rule costs
            if d_updated:
                self.d_apply(loss)
                self.log.add_d(loss, real_s, fake_s, parts, 1)
                self.log.d_n += 1
            if self.g_update(decide=lambda g: update_g(float(g.detach()), thr, d_updated))[1]:
                return
        raise Diverged(f"balance = \"threshold\": D was updated alone for {MAX_D_ONLY_ITERATIONS} iterations in a "
                       f"row before G step {self.state.step + 1} (D's loss stayed above {thr}, G's at or below)")

    def train_step(self) -> None:
        """One G step and the D updates its schedule plans before it."""
        if self.cfg.balance == "threshold":
            self.balanced_step()
        else:
            k = d_updates_before(self.cfg, self.state.step)
            for i in range(k):
                self.d_step(keep_graph=i == k - 1, k=k)
            self.log.d_n += 1 if k else 0
            self.g_step()
        self.state.step += 1
        if self.ema is not None:
            start = self.cfg.ema_start
            self.ema.update(self.G, self.state.step - start, copy_only=self.state.step <= start)
        self.log.n += 1

