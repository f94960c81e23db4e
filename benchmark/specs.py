"""The small typed objects that plugins register.

A spec names a thing, says in one line what it is, carries its defaults and the
callables that build it. The core only ever talks to specs, never to a specific GAN.
Heavy imports (torch) stay under TYPE_CHECKING so ``ganbench list`` is fast.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from .config import MetricsConfig


#: the closed vocabulary of model traits: what a model states about itself, and what loss
#: terms may require or refuse (``LossSpec.requires`` / ``refuses``); registration checks it
TRAITS: Mapping[str, str] = {
    "aux_classifier": "D also returns class logits (an auxiliary classifier head, AC-GAN)",
    "can_condition": "G and D accept labels when train.conditional = true",
    "conditional": "G and D always take labels",
    "critic": "D is a Wasserstein critic (unbounded scores, no sigmoid meaning)",
    "d_batchnorm": "D has batch norm, which couples the images of a batch (per-image penalties refuse it)",
    "d_spectral_norm": "D's weights are spectrally normalised",
    "g_spectral_norm": "G's weights are spectrally normalised",
    "self_attention": "G and D have self-attention blocks",
}


@dataclass(frozen=True)
class ImageData:
    """A whole data set as one uint8 tensor, batched by index during training.

    images: (N, C, H, W) uint8 in [0, 255]; labels: (N,) int64 indices into class_names.
    fingerprint: a hash of the final content (and options), so caches never mix data.
    """

    images: "torch.Tensor"
    labels: "torch.Tensor"
    class_names: tuple[str, ...]
    fingerprint: str
    description: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: "torch.device | str") -> "ImageData":
        return ImageData(self.images.to(device), self.labels.to(device), self.class_names,
                         self.fingerprint, self.description)


@dataclass(frozen=True)
class ModelContext:
    """What a model builder needs to know about the data and the run."""

    image_shape: tuple[int, int, int]  # (C, H, W)
    latent_dim: int
    num_classes: int  # 0 when the model is built unconditional
    options: Any  # the model's own options dataclass, validated


@dataclass(frozen=True)
class ModelSpec:
    """A GAN variant: builds (G, D) and carries its paper's training recipe.

    build(ctx) -> (G, D). G(z, y=None) returns images in [-1, 1]; D(x, y=None)
    returns source scores of shape (N,) (raw logits, never a sigmoid), or a tuple
    (scores, class_logits) when the model has an auxiliary classifier.
    recipe: defaults for [train] keys (loss, regularizers, optimizer, lr_g, lr_d,
    betas_g, betas_d, n_critic, ...), and optionally plugin tables such as
    ``{"optimizers": {"sgd": {"momentum": 0.5}}}``; the weakest layer, so any suite
    overrides it.
    traits: facts from :data:`TRAITS` that losses can require or refuse.
    traits_for: the traits of one choice of options, where they follow them (a D whose
    batch norm is an option has d_batchnorm only when it is on); None: ``traits`` always.
    """

    name: str
    description: str
    build: "Callable[[ModelContext], tuple[nn.Module, nn.Module]]"
    options: type | None = None
    recipe: Mapping[str, Any] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    resolutions: tuple[int, ...] = (32,)
    traits_for: "Callable[[Any], frozenset[str]] | None" = None
    paper: str = ""


@dataclass(frozen=True)
class LossSpec:
    """A loss or regularizer term usable with any compatible model.

    role "adversarial": d_loss(real_scores, fake_scores, real_target) and
    g_loss(fake_scores, real_scores) (real_scores is None unless needs_real_for_g).
    role "auxiliary": d_loss(real_cls_logits, fake_cls_logits, y_real, y_fake) and
    g_loss(fake_cls_logits, y_fake), added to the adversarial terms.
    role "regularizer": penalty(D, real, fake, y_real, y_fake, options) added to the
    D loss, and/or after_d_step(D, options) (e.g. weight clipping).
    requires / refuses: model traits this term needs or cannot work with.
    label_smoothing: False for losses without targets (wasserstein, hinge), so that
    train.label_smoothing > 0 with them is a validation error rather than a run failure.
    Optional per-term forms of an adversarial loss, whose sum must equal d_loss:
    d_loss_real(real_scores, real_target, options) and d_loss_fake(fake_scores, options)
    let D be updated on each half apart (train.d_update = "separate") and are logged as
    loss_d_real / loss_d_fake; g_loss_target(fake_scores, real_scores, target, options)
    is g_loss with G's target moved to ``target`` (train.smooth_g_target).
    """

    name: str
    description: str
    role: Literal["adversarial", "auxiliary", "regularizer"]
    d_loss: Optional[Callable[..., Any]] = None
    g_loss: Optional[Callable[..., Any]] = None
    penalty: Optional[Callable[..., Any]] = None
    after_d_step: Optional[Callable[..., Any]] = None
    d_loss_real: Optional[Callable[..., Any]] = None
    d_loss_fake: Optional[Callable[..., Any]] = None
    g_loss_target: Optional[Callable[..., Any]] = None
    options: type | None = None
    needs_real_for_g: bool = False
    needs_labels: bool = False
    requires: frozenset[str] = frozenset()
    refuses: frozenset[str] = frozenset()
    label_smoothing: bool = True
    paper: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A data set. load(options, cache_dir) -> ImageData.

    options: a dataclass (subclass of ganbench.data.DatasetOptions) validated from
    [datasets.<name>]. check(options) returns None when the data can be had on this
    machine, else a message saying which files are expected where and how to get them.
    """

    name: str
    description: str
    load: "Callable[[Any, str], ImageData]"
    options: type
    check: Optional[Callable[[Any], Optional[str]]] = None
    labelled: bool = True
    shape: Optional[Callable[[Any], tuple[int, int, int]]] = None  # (C, H, W) without loading
    num_classes: int = 0  # for estimates and validation before loading; 0 = unknown
    # (class names or None, images in the selected split or None), read without decoding: what
    # `validate` checks classes and memory against; None when it cannot tell before loading
    inventory: Optional[Callable[[Any], "tuple[Optional[Sequence[str]], Optional[int]]"]] = None


@dataclass(frozen=True)
class Score:
    """One number a metric produces, and which way is better."""

    name: str
    higher_is_better: bool
    description: str = ""


@dataclass(frozen=True)
class MetricSpec:
    """A metric. compute(ctx: EvalContext) -> {score name: value}.

    scores: every score it can produce (names carry the feature extractor, e.g.
    fid_inception). protocol(ctx) describes how the numbers were computed (sample
    counts, reference split, extractor, versions); the leaderboard only ranks rows
    whose protocols agree. check(options) (the metric's own options dataclass, or None)
    returns None when the metric can run here, else how to make it runnable (e.g.
    where to put Inception weights). Metrics with the same non-empty feature_pass share
    one feature extraction per evaluation (fid, is, kid on Inception-v3), so a time
    estimate should count flops_per_image once per distinct feature_pass.
    """

    name: str
    description: str
    compute: "Callable[[EvalContext], dict[str, float]]"
    scores: tuple[Score, ...]
    options: type | None = None
    needs_labels: bool = False
    check: Optional[Callable[[Any], Optional[str]]] = None
    protocol: Optional[Callable[["EvalContext"], dict[str, Any]]] = None
    flops_per_image: float = 0.0  # feature extraction cost, for `validate`'s time estimate
    feature_pass: str = ""  # metrics naming the same pass share its cost


@dataclass(frozen=True)
class AugmentSpec:
    """A differentiable augmentation of every image D sees, for training on little data.

    build(options) -> an ``nn.Module`` whose forward(x, generator) returns x (N, C, H, W)
    in [-1, 1] augmented per image, drawing its randomness from ``generator`` (the run's,
    so a run stays reproducible and resumable). The trainer applies it to real and fake
    images before every D call: D's step, G's step and penalties, so G is graded on what
    D is trained on (Zhao et al. 2020). Optional: an ``observe(real_scores)`` method, called
    with D's raw scores of each augmented real batch (an adaptive probability, ADA), and a
    ``p`` tensor, logged as ``augment_p``. Its state_dict is checkpointed.
    """

    name: str
    description: str
    build: "Callable[[Any], nn.Module]"
    options: type | None = None
    paper: str = ""


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer by name. build(params, lr, betas, options) -> torch.optim.Optimizer."""

    name: str
    description: str
    build: "Callable[..., torch.optim.Optimizer]"
    uses_betas: bool = True
    options: type | None = None


@dataclass
class EvalContext:
    """What a metric plugin gets: real data, a memoised sample of G, and the settings.

    fake() returns (uint8 images (n, C, H, W) on the device, labels or None), drawn
    once per evaluation and shared by all metrics. options is the metric's own
    options dataclass; metric_options holds every requested metric's options (so a
    shared computation can serve several metrics with their own settings);
    cache_dir is where a metric may keep reference statistics.
    """

    real: "ImageData"
    num_samples: int
    device: "torch.device"
    cache_dir: Path
    config: "MetricsConfig"
    generate: "Callable[[int], tuple[torch.Tensor, Optional[torch.Tensor]]]"
    conditional: bool = False
    final: bool = True
    options: Any = None
    dataset: str = ""
    split: str = "train"
    classes: tuple[Any, ...] = ()
    full_real: Optional[Callable[[], "ImageData"]] = None  # all classes, same resolution/channels
    metric_options: dict[str, Any] = field(default_factory=dict)
    _fake: "Optional[tuple[torch.Tensor, Optional[torch.Tensor]]]" = field(default=None, repr=False)
    _shared: dict[Any, Any] = field(default_factory=dict, repr=False)
    generation_seconds: float = 0.0

    def fake(self) -> "tuple[torch.Tensor, Optional[torch.Tensor]]":
        if self._fake is None:
            t0 = time.perf_counter()
            self._fake = self.generate(self.num_samples)
            self.generation_seconds = time.perf_counter() - t0
        return self._fake

    def shared(self, key: Any, compute: Callable[[], Any]) -> Any:
        """compute() once per evaluation, shared by every metric that asks with the same key.

        Several metrics on one feature extractor (fid, is, kid on Inception-v3) then
        cost one feature extraction, whichever of them runs first.
        """
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    def options_of(self, name: str, default: Any = None) -> Any:
        """The options of metric ``name`` in this evaluation (``default`` when not given)."""
        got = self.metric_options.get(name)
        return got if got is not None else default


@dataclass
class RunInfo:
    """What lifecycle hooks see of a run: its id, folder, resolved config and coordinates."""

    run_id: str
    suite: str
    dir: Path
    config: dict[str, Any]
    coords: dict[str, Any]
    resumed_from: int = 0
