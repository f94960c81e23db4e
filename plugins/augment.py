"""DiffAugment (Zhao et al. 2020), with ADA's adaptive probability (Karras et al. 2020) as an option.

With a few thousand training images D memorises them and G's gradients stop meaning
anything. DiffAugment transforms every image D sees, real and fake, in D's step and in G's
step alike, with differentiable operations, so G learns the real distribution rather than
an augmented one (the augmentation does not leak into G's samples, since both sides of
D's comparison pass through it). Policies, on images in [-1, 1], as the paper's code:

- color: brightness + U(-0.5, 0.5), saturation x U(0, 2) around the pixel's channel mean,
  contrast x U(0.5, 1.5) around the image's mean
- translation: an integer shift of up to ``translation_ratio`` of the side in each
  direction, zero-padded
- cutout: a square of ``cutout_ratio`` of the side, anywhere (clipped at the borders), set to 0

Each policy is applied to each image with probability ``p`` (DiffAugment: always, p = 1).
With ``adaptive = true``, p starts at the ``p`` given (ADA: 0) and every ``interval`` D
updates moves by ±(real images in the interval) / (speed_kimg x 1000), up when D's overfitting
heuristic r_t = E[sign(D(real))] is above ``target`` and down when below: all on the
device, without a host sync. ``ganbench list augments`` shows the options; torch is
imported inside the functions, so that `ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganbench import AugmentSpec, GanbenchError, hookimpl, opt

if TYPE_CHECKING:  # pragma: no cover
    import torch

POLICIES = ("color", "translation", "cutout")


@dataclass(frozen=True)
class DiffAugmentOptions:
    policy: list[str] = opt(["color", "translation", "cutout"], f"transforms, in order: any of {', '.join(POLICIES)}")
    p: float = opt(1.0, "probability that each transform is applied to an image (DiffAugment: 1); the start "
                        "value when adaptive (ADA: 0)", min=0, max=1)
    translation_ratio: float = opt(0.125, "largest shift as a share of the image side", min=0, max=0.5)
    cutout_ratio: float = opt(0.5, "cutout square's side as a share of the image side", min=0, max=1)
    adaptive: bool = opt(False, "ADA: adjust p so that r_t = E[sign(D(real))] stays at target")
    target: float = opt(0.6, "ADA's r_t target", min=0, max=1)
    interval: int = opt(4, "D updates between adjustments of p", min=1, max=10**6)
    speed_kimg: float = opt(100.0, "thousands of real images over which p can go from 0 to 1 (ADA: 500 at its "
                                   "budgets; smaller suits short runs)", above=0)

    def validate(self) -> None:
        bad = [p for p in self.policy if p not in POLICIES]
        if bad or not self.policy or len(set(self.policy)) != len(self.policy):
            raise GanbenchError(f"augments.diffaugment.policy: expected distinct names among {', '.join(POLICIES)}, "
                                f"found {self.policy}", hint='e.g. policy = ["color", "translation", "cutout"]')


def _uniform(x: "torch.Tensor", gen: "torch.Generator", lo: float, hi: float) -> "torch.Tensor":
    import torch
    return torch.rand(len(x), 1, 1, 1, device=x.device, dtype=x.dtype, generator=gen) * (hi - lo) + lo


def color(x: "torch.Tensor", gen: "torch.Generator", o: DiffAugmentOptions) -> "torch.Tensor":
    x = x + _uniform(x, gen, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, gen, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, gen, 0.5, 1.5) + mean


def translation(x: "torch.Tensor", gen: "torch.Generator", o: DiffAugmentOptions) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F
    n, _, h, w = x.shape
    sh, sw = int(h * o.translation_ratio + 0.5), int(w * o.translation_ratio + 0.5)
    if sh == 0 and sw == 0:
        return x
    dy = torch.randint(-sh, sh + 1, (n, 1), device=x.device, generator=gen)
    dx = torch.randint(-sw, sw + 1, (n, 1), device=x.device, generator=gen)
    padded = F.pad(x, [sw, sw, sh, sh])
    rows = torch.arange(h, device=x.device) + sh - dy  # output row i reads input row i - dy
    cols = torch.arange(w, device=x.device) + sw - dx
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2)


def cutout(x: "torch.Tensor", gen: "torch.Generator", o: DiffAugmentOptions) -> "torch.Tensor":
    import torch
    n, _, h, w = x.shape
    ch, cw = int(h * o.cutout_ratio + 0.5), int(w * o.cutout_ratio + 0.5)
    if ch == 0 or cw == 0:
        return x
    cy = torch.randint(0, h, (n, 1, 1), device=x.device, generator=gen) - ch // 2
    cx = torch.randint(0, w, (n, 1, 1), device=x.device, generator=gen) - cw // 2
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    hole = (ys >= cy) & (ys < cy + ch) & (xs >= cx) & (xs < cx + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def build_diffaugment(o: DiffAugmentOptions) -> Any:
    import torch
    from torch import nn

    class DiffAugment(nn.Module):
        """The transforms of ``o.policy``, each per image with probability p (a buffer, so it
        is checkpointed and moves with the module)."""

        def __init__(self) -> None:
            super().__init__()
            self.o = o
            self.register_buffer("p", torch.tensor(float(o.p)))
            self.register_buffer("signs", torch.zeros(()))  # sum of sign(D(real)) in this interval
            self.register_buffer("seen", torch.zeros(()))  # real scores in it
            self.register_buffer("rt", torch.zeros(()))  # the last interval's r_t
            self.calls = 0

        def forward(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
            if not o.adaptive and o.p == 0:
                return x
            for name in o.policy:
                y = TRANSFORMS[name](x, gen, o)
                if o.adaptive or o.p < 1:
                    keep = torch.rand(len(x), 1, 1, 1, device=x.device, generator=gen) >= self.p
                    y = torch.where(keep, x, y)
                x = y
            return x

        @torch.no_grad()
        def observe(self, real_scores: torch.Tensor) -> None:
            if not o.adaptive:
                return
            self.signs += torch.sign(real_scores.float()).sum()
            self.seen += real_scores.numel()
            self.calls += 1
            if self.calls % o.interval:
                return
            self.rt.copy_(self.signs / self.seen.clamp(min=1))
            step = self.seen / (o.speed_kimg * 1000)
            self.p.copy_((self.p + torch.sign(self.rt - o.target) * step).clamp(0, 1))
            self.signs.zero_()
            self.seen.zero_()

        def get_extra_state(self) -> dict[str, int]:
            return {"calls": self.calls}

        def set_extra_state(self, state: dict[str, int]) -> None:
            self.calls = int(state["calls"])

    return DiffAugment()


@hookimpl
def ganbench_register_augments(registry):
    registry.add(AugmentSpec(
        "diffaugment", "DiffAugment: differentiable colour, translation and cutout of every image D sees, "
                       "optionally with ADA's adaptive probability",
        build_diffaugment, DiffAugmentOptions,
        paper="Zhao et al. 2020, Differentiable Augmentation for Data-Efficient GAN Training; Karras et al. 2020, "
              "Training Generative Adversarial Networks with Limited Data"))
