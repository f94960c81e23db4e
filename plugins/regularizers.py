"""Regularizers of the discriminator: terms added to D's loss, or steps after its update.

penalty(D, real, fake, y_real, y_fake, options) -> scalar added to D's loss;
after_d_step(D, options) runs after every D optimizer step (clipping, max-norm).
Penalties on the gradient with respect to each input refuse models whose D has batch norm: batch
statistics couple the samples, so "the gradient for one image" is not defined
(Gulrajani et al. 2017, sec. 4).
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from ganbench import GanbenchError, LossSpec, hookimpl, opt

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from torch import Tensor, nn

    Critic = Callable[..., Any]  # D(x, y) -> scores or (scores, class_logits)


def _scores(out: Any) -> "Tensor":
    return out[0] if isinstance(out, (tuple, list)) else out


def _refuse_batchnorm(D: "Critic", name: str) -> None:
    """The static trait check misses options that add batch norm (dcgan d_norm, third-party
    models without the trait): check the module itself, once per D."""
    from torch import nn
    if not isinstance(D, nn.Module) or getattr(D, "_ganbench_bn_checked", False):
        return
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
        raise GanbenchError(f"regularizer '{name}' needs per-image gradients, but this D has batch norm",
                            where="train.regularizers",
                            hint="use a D with layer norm or no norm (models wgan-gp, sngan, sagan)")
    D._ganbench_bn_checked = True


# -- gradient penalty (Gulrajani et al. 2017) -----------------------------------------
@dataclass(frozen=True)
class GradientPenaltyOptions:
    weight: float = opt(10.0, "lambda, the penalty's weight (paper: 10)", min=0)
    target: float = opt(1.0, "gradient norm the penalty pulls toward (paper: 1)")


def gradient_penalty(D: "Critic", real: "Tensor", fake: "Tensor", y_real: Optional["Tensor"],
                     y_fake: Optional["Tensor"], options: Optional[GradientPenaltyOptions]) -> "Tensor":
    """lambda * E[(||grad_x D(x_hat)||_2 - 1)^2], x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1].

    One eps per image (Algorithm 1). Conditional critics see the real image's label.
    create_graph=True so the penalty's own gradient reaches D's weights.
    """
    import torch
    o: GradientPenaltyOptions = options or GradientPenaltyOptions()
    _refuse_batchnorm(D, "gradient-penalty")
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = _scores(D(x_hat, y_real))
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return o.weight * ((norm - o.target) ** 2).mean()


# -- R1 (Mescheder et al. 2018) ---------------------------------------------------
@dataclass(frozen=True)
class R1Options:
    gamma: float = opt(10.0, "gamma: the penalty is gamma/2 * E||grad_x D(x)||^2 on real images", min=0)


def r1_penalty(D: "Critic", real: "Tensor", fake: Optional["Tensor"], y_real: Optional["Tensor"],
               y_fake: Optional["Tensor"], options: Optional[R1Options]) -> "Tensor":
    """gamma/2 * E_real[||grad_x D(x)||^2]: penalise D's slope on the data only."""
    import torch
    o: R1Options = options or R1Options()
    _refuse_batchnorm(D, "r1")
    x = real.detach().requires_grad_(True)
    scores = _scores(D(x, y_real))
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return 0.5 * o.gamma * grad.flatten(1).pow(2).sum(1).mean()


# -- weight clipping (Arjovsky et al. 2017) ------------------------------------------
@dataclass(frozen=True)
class WeightClippingOptions:
    clip: float = opt(0.01, "every D parameter is clamped to [-clip, clip] after each D step (paper: 0.01)", above=0)


def clip_weights(D: "nn.Module", options: Optional[WeightClippingOptions]) -> None:
    """Clamp all of the critic's parameters (batch-norm affine ones included, as in the
    paper's code) so that the critic lies in a compact set of K-Lipschitz functions."""
    import torch
    c = (options or WeightClippingOptions()).clip
    with torch.no_grad():
        for p in D.parameters():
            p.clamp_(-c, c)


# -- max-norm (Srebro & Shraibman 2005; the 2014 GAN's code) ------------------------
@dataclass(frozen=True)
class MaxNormOptions:
    max_norm: float = opt(1.9365, "largest L2 norm of one unit's incoming weights (the GAN code's max_col_norm)",
                          above=0)


def max_norm(D: "nn.Module", options: Optional[MaxNormOptions]) -> None:
    """Rescale every unit's incoming weight vector of D's linear and convolutional layers to
    norm <= max_norm after each D step. The 2014 GAN's maxout D is trained by SGD at lr 0.1
    only under this constraint (pylearn2's max_col_norm 1.9365); without it D's weights
    grow until its loss explodes within a few hundred steps."""
    import torch
    from torch import nn
    c = (options or MaxNormOptions()).max_norm
    with torch.no_grad():
        for m in D.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                rows = m.weight.view(m.weight.shape[0], -1)
                rows.mul_(rows.norm(dim=1, keepdim=True).clamp(min=c).reciprocal().mul(c))


@hookimpl
def ganbench_register_losses(registry: Any) -> None:
    registry.add(LossSpec("gradient-penalty", "WGAN-GP: lambda (||grad D(x_hat)|| - 1)^2 on random interpolates",
                          "regularizer", penalty=gradient_penalty, options=GradientPenaltyOptions,
                          refuses=frozenset({"d_batchnorm"}),
                          paper="Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017"))
    registry.add(LossSpec("weight-clipping", "WGAN: clamp D's weights to [-clip, clip] after every D step",
                          "regularizer", after_d_step=clip_weights, options=WeightClippingOptions,
                          paper="Arjovsky et al., Wasserstein GAN, ICML 2017"))
    registry.add(LossSpec("max-norm", "max-norm: cap each D unit's incoming weight norm after every D step",
                          "regularizer", after_d_step=max_norm, options=MaxNormOptions,
                          paper="Srebro & Shraibman, Rank, Trace-Norm and Max-Norm, COLT 2005; used by "
                                "Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014"))
    registry.add(LossSpec("r1", "R1: gamma/2 ||grad D(x)||^2 on real images",
                          "regularizer", penalty=r1_penalty, options=R1Options,
                          refuses=frozenset({"d_batchnorm"}),
                          paper="Mescheder et al., Which Training Methods for GANs do actually Converge?, "
                                "ICML 2018"))
