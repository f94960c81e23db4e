"""torch.optim optimizers by name: adam, adamw, rmsprop, sgd, adadelta, adagrad.

`betas` are Adam-style (beta1, beta2); for RMSprop beta2 is its smoothing constant
alpha only when the suite sets [optimizers.rmsprop] alpha, otherwise torch's default.
foreach implementations are used where torch has them (one kernel per step, not per
tensor).
"""
from __future__ import annotations

from dataclasses import dataclass

from ganbench import hookimpl
from ganbench.config import opt
from ganbench.specs import OptimizerSpec


@dataclass(frozen=True)
class SGDOptions:
    momentum: float = opt(0.0, "SGD momentum")
    nesterov: bool = opt(False, "Nesterov momentum")


@dataclass(frozen=True)
class RMSpropOptions:
    alpha: float = opt(0.99, "smoothing constant")
    momentum: float = opt(0.0, "momentum")


def _adam(params, lr, betas, weight_decay, options):
    import torch
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)


def _adamw(params, lr, betas, weight_decay, options):
    import torch
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)


def _rmsprop(params, lr, betas, weight_decay, options):
    import torch
    o = options or RMSpropOptions()
    return torch.optim.RMSprop(params, lr=lr, alpha=o.alpha, momentum=o.momentum,
                               weight_decay=weight_decay, foreach=True)


def _sgd(params, lr, betas, weight_decay, options):
    import torch
    o = options or SGDOptions()
    return torch.optim.SGD(params, lr=lr, momentum=o.momentum, nesterov=o.nesterov,
                           weight_decay=weight_decay, foreach=True)


def _adadelta(params, lr, betas, weight_decay, options):
    import torch
    return torch.optim.Adadelta(params, lr=lr, weight_decay=weight_decay, foreach=True)


def _adagrad(params, lr, betas, weight_decay, options):
    import torch
    return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, foreach=True)


@hookimpl
def ganbench_register_optimizers(registry):
    registry.add(OptimizerSpec("adam", "Adam (Kingma & Ba 2015); uses betas", _adam))
    registry.add(OptimizerSpec("adamw", "AdamW, decoupled weight decay (Loshchilov & Hutter 2019)", _adamw))
    registry.add(OptimizerSpec("rmsprop", "RMSprop (the WGAN paper's optimizer)", _rmsprop, uses_betas=False,
                               options=RMSpropOptions))
    registry.add(OptimizerSpec("sgd", "stochastic gradient descent, optional momentum", _sgd, uses_betas=False,
                               options=SGDOptions))
    registry.add(OptimizerSpec("adadelta", "Adadelta (Zeiler 2012); lr scales its update (torch default 1.0)",
                               _adadelta, uses_betas=False))
    registry.add(OptimizerSpec("adagrad", "Adagrad (Duchi et al. 2011)", _adagrad, uses_betas=False))
