"""The original GAN (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014).

The MNIST model of the paper: fully connected networks on flattened images. G maps
z through two rectified-linear layers of 1,200 units to the pixels; D is two maxout
layers of 240 units with 5 pieces each and dropout (0.2 on the input, 0.5 on the
hidden layers), then one logit. The paper trains both with minibatch SGD with
momentum and one D step per G step (Algorithm 1, k = 1), and recommends the
non-saturating G objective (maximise log D(G(z))) over the minimax one in practice
(sec. 3), so the recipe's loss is ``bce``; ``minimax`` is the saturating form.
The recipe is the authors' MNIST setting: SGD with learning rate 0.1 and momentum
0.5, with D's weights under the code's max-norm constraint (each unit's incoming
weights capped at norm 1.9365 after every step; without it D explodes at this rate)
and D initialised in [-0.005, 0.005]. Departures: G ends in tanh (the harness's
images are in [-1, 1]) instead of a sigmoid, and the code's momentum schedule (0.5 rising to 0.7) and learning-rate
decay are left out (the harness has no schedules).
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganbench import ModelContext, ModelSpec, hookimpl, opt

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class GANOptions:
    width: int = opt(1200, "hidden units of G's two layers; D has width/5 maxout units (paper: 1200 and 240)", min=5)
    pieces: int = opt(5, "linear pieces per maxout unit in D", min=1)
    dropout: float = opt(0.5, "dropout on D's hidden layers (0.2 on its input when > 0, as in the paper)", min=0, below=1)



def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    from torch import nn

    from ganbench_plugins._nets import Maxout, MLPDiscriminator, MLPGenerator

    o: GANOptions = ctx.options or GANOptions()
    c, h, w = ctx.image_shape
    pixels = c * h * w
    units = o.width // 5
    G = MLPGenerator(nn.Sequential(nn.Linear(ctx.latent_dim, o.width), nn.ReLU(True),
                                   nn.Linear(o.width, o.width), nn.ReLU(True),
                                   nn.Linear(o.width, pixels), nn.Tanh()), ctx.latent_dim, (c, h, w))
    D = MLPDiscriminator(nn.Sequential(nn.Dropout(0.2 if o.dropout > 0 else 0.0),
                                       Maxout(pixels, units, o.pieces), nn.Dropout(o.dropout),
                                       Maxout(units, units, o.pieces), nn.Dropout(o.dropout),
                                       nn.Linear(units, 1)))
    for net, r in ((G, 0.05), (D, 0.005)):  # the authors' code: weights uniform in [-r, r]
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)
    return G, D


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="gan",
        description="vanilla GAN: MLP G (ReLU) and maxout D with dropout, non-saturating loss, SGD",
        build=build, options=GANOptions,
        recipe={"optimizer": "sgd", "lr_g": 0.1, "lr_d": 0.1, "optimizers": {"sgd": {"momentum": 0.5}},
                "regularizers": ["max-norm"]},
        traits=frozenset(), resolutions=(16, 28, 32, 64),
        paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, arXiv:1406.2661"))
