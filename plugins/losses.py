"""Adversarial and auxiliary loss terms. Every function gets raw D scores (never sigmoids).

Adversarial: d_loss(real_scores, fake_scores, real_target, options) -> scalar and
g_loss(fake_scores, real_scores, options) -> scalar (real_scores is None unless the
loss sets needs_real_for_g). real_target < 1 is one-sided label smoothing (only the
real side is smoothed); losses without targets (wasserstein, hinge) refuse it rather
than silently ignore it.
Each adversarial D loss is a real term plus a fake term, also given apart
(d_loss_real(real_scores, real_target, options), d_loss_fake(fake_scores, options)) for
D updates on each half and for the per-term log; d_loss keeps its own one-expression form
so that the joint update's numbers stay those of earlier versions. Losses with targets
give g_loss_target(fake_scores, real_scores, target, options): G's target smoothed as D's.
Auxiliary: d_loss(real_cls_logits, fake_cls_logits, y_real, y_fake, options) and
g_loss(fake_cls_logits, y_fake, options), added to the adversarial terms.
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from ganbench import GanbenchError, LossSpec, hookimpl, opt

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor


def _no_smoothing(real_target: float, loss: str) -> None:
    if real_target != 1.0:
        raise GanbenchError(f"train.label_smoothing has no meaning for the {loss} loss (it has no targets)",
                            where="train.label_smoothing", hint="set label_smoothing = 0 for this run")


# -- bce / minimax (Goodfellow et al. 2014) -------------------------------------------
def bce_d(real: "Tensor", fake: "Tensor", real_target: float, options: Any) -> "Tensor":
    """-log D(x) - log(1 - D(G(z))), with D = sigmoid(score) inside the stable logits form."""
    import torch
    import torch.nn.functional as F
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def bce_d_real(real: "Tensor", real_target: float, options: Any) -> "Tensor":
    """-log D(x), against real_target (1 - label_smoothing)."""
    import torch
    import torch.nn.functional as F
    return F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))


def bce_d_fake(fake: "Tensor", options: Any) -> "Tensor":
    """-log(1 - D(G(z)))."""
    import torch
    import torch.nn.functional as F
    return F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def bce_g_target(fake: "Tensor", real: Optional["Tensor"], target: float, options: Any) -> "Tensor":
    """Non-saturating G loss against ``target`` instead of 1: BCE(D(G(z)), target), i.e.
    -target log D(G(z)) - (1 - target) log(1 - D(G(z)))."""
    import torch
    import torch.nn.functional as F
    return F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, target))


def bce_g(fake: "Tensor", real: Optional["Tensor"], options: Any) -> "Tensor":
    """Non-saturating: maximise log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    import torch.nn.functional as F
    return F.softplus(-fake).mean()


def minimax_g(fake: "Tensor", real: Optional["Tensor"], options: Any) -> "Tensor":
    """Saturating: minimise log(1 - D(G(z))) = -softplus(score), the game's value as written.

    Its gradient vanishes when D confidently rejects G's samples, which is why the
    paper recommends the non-saturating form; it is here to reproduce that finding.
    """
    import torch.nn.functional as F
    return -F.softplus(fake).mean()


# -- wasserstein (Arjovsky et al. 2017) -------------------------------------------
def wasserstein_d(real: "Tensor", fake: "Tensor", real_target: float, options: Any) -> "Tensor":
    """The critic maximises E[f(x)] - E[f(G(z))]: minimise its negative."""
    _no_smoothing(real_target, "wasserstein")
    return fake.mean() - real.mean()


def wasserstein_d_real(real: "Tensor", real_target: float, options: Any) -> "Tensor":
    _no_smoothing(real_target, "wasserstein")
    return -real.mean()


def wasserstein_d_fake(fake: "Tensor", options: Any) -> "Tensor":
    return fake.mean()


def wasserstein_g(fake: "Tensor", real: Optional["Tensor"], options: Any) -> "Tensor":
    return -fake.mean()


# -- hinge (Lim & Ye 2017; Miyato et al. 2018; Zhang et al. 2019) ------------------
def hinge_d(real: "Tensor", fake: "Tensor", real_target: float, options: Any) -> "Tensor":
    import torch.nn.functional as F
    _no_smoothing(real_target, "hinge")
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_d_real(real: "Tensor", real_target: float, options: Any) -> "Tensor":
    import torch.nn.functional as F
    _no_smoothing(real_target, "hinge")
    return F.relu(1.0 - real).mean()


def hinge_d_fake(fake: "Tensor", options: Any) -> "Tensor":
    import torch.nn.functional as F
    return F.relu(1.0 + fake).mean()


def hinge_g(fake: "Tensor", real: Optional["Tensor"], options: Any) -> "Tensor":
    return -fake.mean()


# -- least squares (Mao et al. 2017) ------------------------------------------------
@dataclass(frozen=True)
class LSGANOptions:
    a: float = opt(0.0, "target of D for fake images")
    b: float = opt(1.0, "target of D for real images")
    c: float = opt(1.0, "value G wants D to believe for fake images")

    def validate(self) -> None:
        if self.a == self.b:
            raise GanbenchError(f"a and b must differ (D's fake and real targets), found a = b = {self.a}")


def lsgan_d(real: "Tensor", fake: "Tensor", real_target: float, options: Any) -> "Tensor":
    """1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2] (eq. 2); smoothing moves b toward a."""
    o: LSGANOptions = options or LSGANOptions()
    b = o.a + (o.b - o.a) * real_target
    return 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - o.a) ** 2).mean()


def lsgan_d_real(real: "Tensor", real_target: float, options: Any) -> "Tensor":
    o: LSGANOptions = options or LSGANOptions()
    b = o.a + (o.b - o.a) * real_target
    return 0.5 * ((real - b) ** 2).mean()


def lsgan_d_fake(fake: "Tensor", options: Any) -> "Tensor":
    o: LSGANOptions = options or LSGANOptions()
    return 0.5 * ((fake - o.a) ** 2).mean()


def lsgan_g(fake: "Tensor", real: Optional["Tensor"], options: Any) -> "Tensor":
    """1/2 E[(D(G(z)) - c)^2]."""
    o: LSGANOptions = options or LSGANOptions()
    return 0.5 * ((fake - o.c) ** 2).mean()


def lsgan_g_target(fake: "Tensor", real: Optional["Tensor"], target: float, options: Any) -> "Tensor":
    """1/2 E[(D(G(z)) - c')^2] with c' = a + (c - a) target: smoothing moves G's target
    toward the fake one as label smoothing moves b."""
    o: LSGANOptions = options or LSGANOptions()
    return 0.5 * ((fake - (o.a + (o.c - o.a) * target)) ** 2).mean()


# -- auxiliary classifier (Odena et al. 2017) ----------------------------------------
@dataclass(frozen=True)
class AuxCEOptions:
    weight: float = opt(1.0, "weight of the class log-likelihood term on both sides (paper: 1)", min=0)


def aux_ce_d(real_cls: "Tensor", fake_cls: "Tensor", y_real: "Tensor", y_fake: "Tensor",
             options: Optional["AuxCEOptions"]) -> "Tensor":
    """D maximises L_S + L_C: the class log-likelihood of real *and* generated images."""
    import torch.nn.functional as F
    w = (options or AuxCEOptions()).weight
    return w * (F.cross_entropy(real_cls, y_real) + F.cross_entropy(fake_cls, y_fake))


def aux_ce_g(fake_cls: "Tensor", y_fake: "Tensor", options: Optional["AuxCEOptions"]) -> "Tensor":
    """G maximises L_C - L_S: its samples should be classified as the class it was given."""
    import torch.nn.functional as F
    w = (options or AuxCEOptions()).weight
    return w * F.cross_entropy(fake_cls, y_fake)


@hookimpl
def ganbench_register_losses(registry: Any) -> None:
    registry.add(LossSpec("bce", "non-saturating binary cross-entropy (Goodfellow et al. 2014; DCGAN)",
                          "adversarial", d_loss=bce_d, g_loss=bce_g, d_loss_real=bce_d_real, d_loss_fake=bce_d_fake,
                          g_loss_target=bce_g_target,
                          paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014"))
    registry.add(LossSpec("minimax", "original saturating GAN loss: G minimises log(1 - D(G(z)))",
                          "adversarial", d_loss=bce_d, g_loss=minimax_g, d_loss_real=bce_d_real, d_loss_fake=bce_d_fake,
                          paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014"))
    registry.add(LossSpec("wasserstein", "Wasserstein critic loss: mean f(fake) - mean f(real); needs a Lipschitz "
                          "constraint (weight-clipping, gradient-penalty or spectral norm)",
                          "adversarial", d_loss=wasserstein_d, g_loss=wasserstein_g, label_smoothing=False,
                          d_loss_real=wasserstein_d_real, d_loss_fake=wasserstein_d_fake,
                          paper="Arjovsky et al., Wasserstein GAN, ICML 2017, arXiv:1701.07875"))
    registry.add(LossSpec("hinge", "hinge loss: D relu(1 - real) + relu(1 + fake), G -fake (SNGAN, SAGAN)",
                          "adversarial", d_loss=hinge_d, g_loss=hinge_g, label_smoothing=False,
                          d_loss_real=hinge_d_real, d_loss_fake=hinge_d_fake,
                          paper="Lim & Ye, Geometric GAN, arXiv:1705.02894; Miyato et al., ICLR 2018"))
    registry.add(LossSpec("lsgan", "least squares with targets a, b, c (default 0, 1, 1)",
                          "adversarial", d_loss=lsgan_d, g_loss=lsgan_g, options=LSGANOptions,
                          d_loss_real=lsgan_d_real, d_loss_fake=lsgan_d_fake, g_loss_target=lsgan_g_target,
                          paper="Mao et al., Least Squares Generative Adversarial Networks, ICCV 2017"))
    registry.add(LossSpec("aux-ce", "auxiliary classifier cross-entropy on real and fake images (AC-GAN)",
                          "auxiliary", d_loss=aux_ce_d, g_loss=aux_ce_g, options=AuxCEOptions,
                          needs_labels=True, requires=frozenset({"aux_classifier"}),
                          paper="Odena et al., Conditional Image Synthesis with Auxiliary Classifier GANs, "
                                "ICML 2017"))
