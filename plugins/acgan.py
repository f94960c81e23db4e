"""AC-GAN (Odena, Olah & Shlens, "Conditional Image Synthesis with Auxiliary Classifier
GANs", ICML 2017).

G takes the noise and the class as a one-hot vector (100 + 10 inputs for CIFAR-10), a
linear layer to a 4x4 map of 384 channels, then 5x5 stride-2 transposed convolutions
(192, 96, image) with batch norm and ReLU, tanh out. D is six 3x3 convolutions of
16, 32, 64, 128, 256, 512 channels with strides 2, 1, 2, 1, 2, 1, LeakyReLU 0.2,
dropout 0.5 after every layer and batch norm from the second on; two linear heads on
its features give the source score and the class logits, so D returns
(scores, class_logits). Both networks also maximise the class log-likelihood L_C
(``aux-ce`` on real and generated images for D, on generated ones for G), D
maximises L_S and G minimises it (``bce``). Adam lr 2e-4, betas (0.5, 0.999) (the
paper's appendix, CIFAR-10 model). One ``width`` (16) scales both networks: G's
channels are 24w, 12w, 6w; D's are w to 32w. Other resolutions change the number of
stages (28 -> 2 up-sampling stages from 7x7, 64 -> 4 from 4x4).
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganbench import GanbenchError, ModelContext, ModelSpec, hookimpl, opt

from ganbench_plugins.dcgan import init_weights, layout

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass(frozen=True)
class ACGANOptions:
    width: int = opt(16, "base channel count (the paper's CIFAR-10 model: 16; G 384-192-96, D 16..512)", min=1)
    dropout: float = opt(0.5, "dropout after each of D's layers (paper: 0.5)", min=0, below=1)


def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    from torch import nn

    from ganbench_plugins._nets import AuxClassifierDiscriminator, ProjectedGenerator

    if ctx.num_classes < 2:
        raise GanbenchError("acgan is class-conditional: it needs a labelled data set with at least two classes "
                            f"and train.conditional = true (got {ctx.num_classes} classes)",
                            where="train.conditional", hint="set conditional = true and use a labelled data set")
    o: ACGANOptions = ctx.options or ACGANOptions()
    w, k = o.width, ctx.num_classes
    c, res = ctx.image_shape[0], ctx.image_shape[1]
    start, n = layout(res)
    g_ch = [6 * w * 2 ** (n - 1 - j) for j in range(n)]  # 32x32: 384, 192, 96
    layers: list[nn.Module] = []
    for a, b in zip(g_ch, g_ch[1:]):
        layers += [nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(g_ch[-1], c, 5, 2, 2, output_padding=1), nn.Tanh()]
    fc = nn.Sequential(nn.Linear(ctx.latent_dim + k, g_ch[0] * start * start), nn.ReLU(True))
    G = ProjectedGenerator(fc, nn.Sequential(*layers), ctx.latent_dim, (g_ch[0], start, start), num_classes=k)

    d_layers: list[nn.Module] = []
    cin = c
    for i in range(2 * n):  # one (stride 2, stride 1) pair per halving: 32x32 -> 16, 32 | 64, 128 | 256, 512
        cout = min(w * 2 ** i, 32 * w)
        d_layers += [nn.Conv2d(cin, cout, 3, 2 if i % 2 == 0 else 1, 1)]
        if i > 0:  # batch norm from the second layer on
            d_layers += [nn.BatchNorm2d(cout)]
        d_layers += [nn.LeakyReLU(0.2, True), nn.Dropout(o.dropout)]
        cin = cout
    features = nn.Sequential(*d_layers, nn.Flatten())
    dim = cin * start * start
    D = AuxClassifierDiscriminator(features, nn.Linear(dim, 1), nn.Linear(dim, k))
    init_weights(G)
    init_weights(D)
    return G, D


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="acgan",
        description="AC-GAN: class-conditional G, D with source and auxiliary classifier heads, Adam 2e-4 (0.5, 0.999)",
        build=build, options=ACGANOptions,
        recipe={"aux_loss": "aux-ce", "conditional": True},
        traits=frozenset({"conditional", "aux_classifier", "d_batchnorm"}), resolutions=(16, 28, 32, 64),
        paper="Odena et al., Conditional Image Synthesis with Auxiliary Classifier GANs, ICML 2017, "
              "arXiv:1610.09585"))
