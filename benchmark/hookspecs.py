"""Hook specifications: every way a plugin can extend ganbench.

Registration hooks receive a :class:`~ganbench.registry.Registry` and add specs to
it; they are called once per plugin manager. Lifecycle hooks observe a run (a CSV or
TensorBoard logger is just a plugin implementing them). pluggy lets an implementation
accept fewer arguments than its spec, so hooks can grow arguments without breaking
plugins.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Registry
    from .specs import RunInfo

hookspec = pluggy.HookspecMarker("ganbench")
hookimpl = pluggy.HookimplMarker("ganbench")


@hookspec
def ganbench_register_models(registry: "Registry") -> None:
    """Add :class:`~ganbench.specs.ModelSpec` objects with ``registry.add(spec)``.

    A model builds (G, D) for an image shape, latent dim and class count and carries
    its paper's recipe as defaults.
    """


@hookspec
def ganbench_register_losses(registry: "Registry") -> None:
    """Add :class:`~ganbench.specs.LossSpec` objects: adversarial losses,
    auxiliary (classifier) terms and regularizers (gradient penalty, clipping, R1)."""


@hookspec
def ganbench_register_datasets(registry: "Registry") -> None:
    """Add :class:`~ganbench.specs.DatasetSpec` objects."""


@hookspec
def ganbench_register_metrics(registry: "Registry") -> None:
    """Add :class:`~ganbench.specs.MetricSpec` objects."""


@hookspec
def ganbench_register_optimizers(registry: "Registry") -> None:
    """Add :class:`~ganbench.specs.OptimizerSpec` objects."""


@hookspec
def ganbench_register_augments(registry: "Registry") -> None:
    """Add :class:`~ganbench.specs.AugmentSpec` objects: differentiable augmentations of
    the images D sees (``train.augment``), e.g. DiffAugment."""


@hookspec
def ganbench_run_started(run: "RunInfo") -> None:
    """A run is about to train (``run.resumed_from`` is the step it continues from).

    ``run.dir`` is its results folder; ``run.config`` the resolved config dict.
    """


@hookspec
def ganbench_step_finished(run: "RunInfo", step: int, losses: dict[str, float]) -> None:
    """Called every ``train.log_every`` G steps with the mean losses over the interval.

    Reading the losses costs a host sync, so it happens only at log intervals. Keys:
    loss_d, loss_g, d_real, d_fake, img_per_s, then the per-term ones of
    :mod:`ganbench.losslog`, and augment_p with a train.augment that has a probability; D's
    are NaN for an interval without a D update (g_steps, balance), which is not divergence.
    """


@hookspec
def ganbench_samples_drawn(run: "RunInfo", step: int, images: Any) -> None:
    """A sample grid was drawn at ``step`` (and saved under samples/): ``images`` is an
    (N, C, H, W) float tensor in [-1, 1] on the CPU, from the fixed latents the grids share."""


@hookspec
def ganbench_evaluation_finished(run: "RunInfo", step: int, scores: dict[str, float],
                                 final: bool) -> None:
    """Called after every evaluation; ``final`` is True for the end-of-run evaluation."""


@hookspec
def ganbench_run_finished(run: "RunInfo", status: str, error: str | None) -> None:
    """A run ended with ``status`` in done / failed / diverged (``error`` says why)."""


@hookspec
def ganbench_leaderboard_columns(rows: list[dict[str, Any]]) -> list[str] | None:
    """Add columns to the leaderboard: set ``row["extra"][column] = value`` on each row
    (rows are dicts with "coords", "scores" and "runs", the run ids of that group) and
    return the new column names. Results of all plugins are concatenated."""
