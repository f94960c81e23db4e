"""DCGAN (Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016).

Strided (transposed) convolutions, no pooling and no hidden fully connected layers,
batch norm everywhere except G's output and D's input, ReLU in G, LeakyReLU 0.2 in D,
tanh output, weights from N(0, 0.02); Adam 2e-4, betas (0.5, 0.999), BCE.
:class:`ConvNetOptions` also lets a suite write the DCGAN-like nets that reports and
tutorials use instead (a dense input or output layer, other channel lists, kernels,
norms, activations, dropout); at its defaults the networks are the paper's, bit for bit.
build_generator and build_discriminator are public API for other families: WGAN and
WGAN-GP (and third-party recipes such as ganbench-ragan) reuse them and change only
D's normalisation and the recipe.
torch is imported inside the functions that build or run networks, so that
`ganbench list`, which loads every plugin, stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ganbench import GanbenchError, ModelContext, ModelSpec, hookimpl, opt

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ganbench_plugins._stacks import DStack, GStack

Norm = Literal["batch", "layer", "none"]


@dataclass(frozen=True)
class ConvNetOptions:
    """The DCGAN family's network options, shared by dcgan, wgan and wgan-gp."""

    width: int = opt(64, "base channel count (the paper's 64 for 32x32: G 3.4M, D 2.6M parameters); "
                         "g_channels / d_channels override it", min=1)
    d_norm: Norm = opt("batch", "normalisation in D's hidden layers")
    g_input: Literal["conv", "dense"] = opt(
        "conv", "how z becomes G's start map: a transposed conv on a 1x1 map (DCGAN) or a dense layer "
                "reshaped to side x side x g_channels[0] (Keras' Dense + Reshape)")
    g_channels: list[int] = opt(
        [], "G's channels: the start map's, then one per stride-2 up-sampling layer; one entry more than "
            "the resolution's stages ends G in a stride-1 conv ([] = from width: 512, 256, 128 at 32x32)", min=1)
    g_kernel: int | list[int] = opt(4, "kernel side of G's layers after the input layer, or one per layer "
                                       "(the output's last); padding keeps sides exact", min=1, max=9)
    g_norm: Norm = opt("batch", "normalisation after every G layer but the output (none: biases instead)")
    g_activation: Literal["relu", "leaky_relu"] = opt("relu", "G's hidden activation")
    g_slope: float = opt(0.2, "negative slope of G's LeakyReLU (g_activation = leaky_relu)", min=0, below=1)
    d_channels: list[int] = opt([], "D's conv channels, one per layer ([] = from width: 128, 256, 512 at 32x32)",
                                min=1)
    d_strides: list[int] = opt([], "stride of each D conv ([] = all 2)", choices=(1, 2))
    d_kernel: int | list[int] = opt(4, "kernel side of D's convs, or one per conv", min=1, max=9)
    d_norm_first: bool = opt(False, "normalise D's first layer too (the paper leaves it out)")
    d_slope: float = opt(0.2, "negative slope of D's LeakyReLU", min=0, below=1)
    dropout: float = opt(0.0, "dropout rate in D (0 = none)", min=0, below=1)
    dropout_at: Literal["every", "head"] = opt(
        "every", "where D's dropout goes: after each hidden layer, or once before the dense layers / output")
    d_output: Literal["conv", "dense"] = opt(
        "conv", "D's score: a conv over the whole last map (DCGAN) or flatten + dense (Keras)")
    d_dense: list[int] = opt([], "hidden dense layers before D's score (with d_output = dense)", min=1)

    def validate(self) -> None:
        if self.d_dense and self.d_output != "dense":
            raise GanbenchError("d_dense needs d_output = \"dense\"",
                                hint="add d_output = \"dense\", or drop d_dense")


@dataclass(frozen=True)
class DCGANOptions(ConvNetOptions):
    spectral_norm: bool = opt(False, "spectral normalisation on D's weights")


def layout(resolution: int) -> tuple[int, int]:
    """(start side, number of stride-2 stages): 32 -> (4, 3), 28 -> (7, 2), 64 -> (4, 4)."""
    n = 0
    while resolution % 2 ** (n + 1) == 0 and resolution // 2 ** (n + 1) >= 4:
        n += 1
    start = resolution // 2 ** n
    if n == 0 or start > 8:
        raise GanbenchError(f"resolution {resolution} is not supported by the DCGAN layout",
                            hint="use a side of the form s * 2**k with s in 4..8 and k ≥ 1 (16, 28, 32, 64, 128)")
    return start, n


def init_weights(module: "nn.Module") -> None:
    """N(0, 0.02) for convolutions, N(1, 0.02) and zero bias for norm layers (paper, sec. 4)."""
    import torch.nn as nn
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _kernels(value: int | list[int], layers: int, key: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * layers
    if len(value) != layers:
        raise GanbenchError(f"{len(value)} kernels for {layers} layers", where=key,
                            hint=f"give one kernel side for all layers, or a list of {layers}")
    return tuple(value)


def g_stack(ctx: ModelContext, o: ConvNetOptions, family: str = "dcgan") -> "GStack":
    """G's layers for these options at ctx's resolution, checked; errors name models.<family>.<key>."""
    from ganbench_plugins._stacks import GStack

    res = ctx.image_shape[1]
    start, n = layout(res)
    chans = tuple(o.g_channels) or tuple(o.width * 2 ** (n - j) for j in range(n))  # 32x32, width 64: 512, 256, 128
    ups = len(chans) - 1  # hidden up-sampling layers; the output layer makes up the rest
    if ups not in (n - 1, n):
        raise GanbenchError(
            f"{len(chans)} channels give {ups} stride-2 up-sampling layers, but {start}x{start} -> {res}x{res} takes "
            f"{n}: {n - 1} and a stride-2 output layer, or {n} and a stride-1 output conv",
            where=f"models.{family}.g_channels",
            hint=f"give {n} or {n + 1} entries: the {start}x{start} start map's channels, then one per up-sampling layer")
    kernels = _kernels(o.g_kernel, len(chans), f"models.{family}.g_kernel")
    out_stride = 2 if ups == n - 1 else 1
    if out_stride == 1 and kernels[-1] % 2 == 0:
        raise GanbenchError(f"G's stride-1 output conv needs an odd kernel to keep {res}x{res}, found {kernels[-1]}",
                            where=f"models.{family}.g_kernel", hint="end the kernel list with 3 or 5")
    return GStack(ctx.latent_dim, ctx.image_shape[0], start, chans, kernels, out_stride, o.g_input == "dense",
                  o.g_norm, None if o.g_activation == "relu" else o.g_slope)


def d_stack(ctx: ModelContext, o: ConvNetOptions, spectral: bool = False, family: str = "dcgan") -> "DStack":
    """D's layers for these options at ctx's resolution, checked; errors name models.<family>.<key>."""
    from ganbench_plugins._stacks import DStack

    c, res = ctx.image_shape[0], ctx.image_shape[1]
    start, n = layout(res)
    chans = tuple(o.d_channels) or tuple(o.width * 2 ** (j + 1) for j in range(n))  # 32x32: 128, 256, 512
    if o.d_strides and len(o.d_strides) != len(chans):
        raise GanbenchError(f"{len(o.d_strides)} strides for {len(chans)} convs", where=f"models.{family}.d_strides",
                            hint="give one stride per conv (per entry of d_channels)")
    strides = tuple(o.d_strides) or (2,) * len(chans)
    kernels = _kernels(o.d_kernel, len(chans), f"models.{family}.d_kernel")
    halvings = next(i for i in range(res) if (res >> i) % 2)  # 32 -> 5, 28 -> 2
    side, sides = res, [str(res)]
    for stride, k in zip(strides, kernels):
        if stride == 2 and side % 2:
            raise GanbenchError(
                f"{strides.count(2)} stride-2 convs are more than {res}x{res} allows: they halve it "
                f"{' -> '.join(sides)} and then an odd side",
                where=f"models.{family}.{'d_strides' if o.d_strides else 'd_channels'}",
                hint=f"at {res}x{res} use at most {halvings} stride-2 convs (give the others stride 1 in d_strides)")
        if stride == 1 and k % 2 == 0:
            raise GanbenchError(f"a stride-1 conv needs an odd kernel to keep its side, found {k}",
                                where=f"models.{family}.d_kernel", hint="use 3 or 5 where d_strides has 1")
        side //= stride
        sides.append(str(side))
    return DStack(c, res, chans, strides, kernels, o.d_norm, o.d_norm_first, o.d_slope, o.dropout, o.dropout_at,
                  tuple(o.d_dense), o.d_output == "dense", spectral)


def build_generator(ctx: ModelContext, width: int, options: ConvNetOptions | None = None,
                    family: str = "dcgan") -> "nn.Module":
    """DCGAN's G at this width; ``options`` (a ConvNetOptions) picks the other layouts."""
    from ganbench_plugins._stacks import conv_generator

    o = replace(options, width=width) if options is not None else ConvNetOptions(width=width)
    g = conv_generator(g_stack(ctx, o, family))
    init_weights(g)
    return g


def build_discriminator(ctx: ModelContext, width: int, norm: str = "batch", spectral: bool = False,
                        options: ConvNetOptions | None = None, family: str = "dcgan") -> "nn.Module":
    """DCGAN's D at this width and norm; ``options`` (a ConvNetOptions) picks the other layouts."""
    from ganbench_plugins._stacks import conv_discriminator

    o = replace(options if options is not None else ConvNetOptions(), width=width, d_norm=norm)
    d = conv_discriminator(d_stack(ctx, o, spectral, family))
    init_weights(d)
    return d


def build(ctx: ModelContext) -> "tuple[nn.Module, nn.Module]":
    o: DCGANOptions = ctx.options or DCGANOptions()
    return (build_generator(ctx, o.width, o),
            build_discriminator(ctx, o.width, o.d_norm, o.spectral_norm, o))


def d_norm_traits(options: Any) -> frozenset[str]:
    """d_batchnorm exactly when D's hidden layers have batch norm (d_norm = "batch"): a D built
    with layer norm or none takes per-image penalties (gradient-penalty, r1)."""
    return frozenset({"d_batchnorm"}) if options.d_norm == "batch" else frozenset()


@hookimpl
def ganbench_register_models(registry: Any) -> None:
    registry.add(ModelSpec(
        name="dcgan",
        description="DCGAN: strided-conv G/D with batch norm, BCE, Adam 2e-4 (0.5, 0.999)",
        build=build, options=DCGANOptions,
        recipe={},  # TrainConfig's defaults are the DCGAN paper's
        traits=frozenset({"d_batchnorm"}), traits_for=d_norm_traits, resolutions=(16, 28, 32, 64),
        paper="Radford et al., ICLR 2016, arXiv:1511.06434"))
