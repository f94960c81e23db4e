"""RunSpec: one fully resolved, validated run, and the one function that builds it.

A suite cell (``suite.SuiteLoader``) and a run folder's config.json (``spec_from_config``:
workers, ``ganbench eval``, ``ganbench sample``) both become a RunSpec through
:func:`build_spec`, so a run means the same thing wherever it is rebuilt. The run id is a
readable slug of the matrix coordinates plus a hash of the resolved config.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .config import (MetricsConfig, TrainConfig, checked_reference_options, field_types, from_dict, standard_protocol,
                     to_dict)
from .errors import GanbenchError, did_you_mean
from .plugins import Plugins
from .registry import CONFIG_TABLES
from .schedule import check_training_options
from .specs import TRAITS, DatasetSpec, ModelSpec

#: what a run's identity (the run id's hash) leaves out: the evaluation settings (a change
#: rescores a finished run), the step budget (a raised one continues it) and keys that change
#: no number training produces. CPU thread counts do change float reduction order, so
#: train.threads is hashed; evaluations run under their own RNG (runs._Run.evaluate), so
#: train.eval_every changes no weight.
NOT_HASHED_TABLES = ("metrics",)
NOT_HASHED = {("train", k) for k in ("steps", "log_every", "checkpoint_every", "device", "eval_every",
                                     "sample_every", "num_final_images", "num_best_images", "grid_size",
                                     "loggers")}
#: options added after run ids were first published, left out of the hash while at this
#: default, so adding an option to the harness or a plugin never renames the runs that
#: exist: (table, ..., key) -> default; "*" matches any name (("models", "*", "dropout"): 0.0)
HASH_NEUTRAL: dict[tuple[str, ...], Any] = {}
# the update schedules, D's separate updates and G-target smoothing (ganbench.schedule)
HASH_NEUTRAL.update({("train", "g_steps"): 1, ("train", "balance"): "none", ("train", "balance_threshold"): 0.5,
                     ("train", "critic_warmup"): "none", ("train", "d_update"): "joint",
                     ("train", "smooth_g_target"): False})
#: the divergence rules (ganbench.divergence): they stop a run, they change no weight
HASH_NEUTRAL.update({("train", "explode_factor"): 1e4, ("train", "explode_max"): 1e6,
                     ("train", "collapse_std"): 1e-4, ("train", "collapse_logs"): 3})
#: the DCGAN family's network options (plugins/dcgan.py ConvNetOptions), per family because
#: gan and acgan already hash a "dropout" of their own
HASH_NEUTRAL.update({("models", family, key): default for family in ("dcgan", "wgan", "wgan-gp")
                     for key, default in {"g_input": "conv", "g_channels": [], "g_kernel": 4, "g_norm": "batch",
                                          "g_activation": "relu", "g_slope": 0.2, "d_channels": [],
                                          "d_strides": [], "d_kernel": 4, "d_norm_first": False,
                                          "d_slope": 0.2, "dropout": 0.0, "dropout_at": "every",
                                          "d_output": "conv", "d_dense": []}.items()})
HASH_NEUTRAL[("models", "wgan", "d_norm")] = "batch"
HASH_NEUTRAL[("models", "sagan", "g_attention_at")] = "half"
HASH_NEUTRAL[("models", "sagan", "d_norm")] = "none"
HASH_NEUTRAL[("train", "augment")] = "none"  # the augment plugins (resolved "augments" only when one is used)


def show_value(v: Any) -> str:
    """A coordinate value as people write it: lists joined with '+' (classes = horse+bird)."""
    if isinstance(v, list):
        return "+".join(str(x) for x in v)
    return str(v)


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix, fully resolved and validated."""

    suite: str
    run_id: str
    coords: dict[str, Any]
    model: str
    dataset: str
    train: TrainConfig
    metrics: MetricsConfig
    model_options: Any
    dataset_options: Any
    loss_options: dict[str, Any]
    metric_options: dict[str, Any]
    optimizer_options: Any
    resolved: dict[str, Any]
    augment_options: dict[str, Any] = field(default_factory=dict)  # {train.augment: its options}, {} for none

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={show_value(v)}" for k, v in self.coords.items())

    def config_json(self) -> dict[str, Any]:
        """What config.json holds (and what travels to a worker): plain JSON, rebuilt with
        :func:`spec_from_config`."""
        return {"run_id": self.run_id, "coords": self.coords, **self.resolved}


def build_spec(plugins: Plugins, suite: str, model_name: str, dataset_name: str, raw: dict[str, Any],
               where: str, coords: Callable[[dict[str, Any]], dict[str, Any]],
               run_id: str | None = None) -> RunSpec:
    """Validate the merged tables ``raw`` (train, metrics, models, datasets, losses,
    optimizers) of one run into a RunSpec. ``coords(resolved)`` gives the run's coordinates;
    the run id is derived from them unless given (a stored run keeps its own)."""
    model = plugins.models.get(model_name, where=where)
    dataset = plugins.datasets.get(dataset_name, where=where)
    train = from_dict(TrainConfig, raw.get("train"), f"{where}: train")
    metrics_raw = raw.get("metrics", {})
    metrics = from_dict(MetricsConfig, {k: v for k, v in metrics_raw.items() if k in field_types(MetricsConfig)},
                        f"{where}: metrics")
    standard = metrics.protocol == "standard"  # ganbench's protocol in place of the suite's own
    if standard:
        metrics = standard_protocol(metrics)
        metrics = replace(metrics, eval_num_samples=min(metrics.eval_num_samples, metrics.num_samples))
    model_opts = from_dict(model.options, raw.get("models", {}).get(model_name), f"{where}: models.{model_name}") \
        if model.options else None
    dataset_opts = from_dict(dataset.options, raw.get("datasets", {}).get(dataset_name),
                             f"{where}: datasets.{dataset_name}")
    if metrics.reference_split and metrics.reference_split != dataset_opts.split:
        checked_reference_options(dataset.options, dataset_opts, metrics.reference_split,
                                  f"{where}: metrics.reference_split")
    # options of every loss term and metric this run uses
    terms = [train.loss, *([train.aux_loss] if train.aux_loss else []), *train.regularizers]
    loss_opts = {}
    for t in terms:
        spec = plugins.losses.get(t, where=f"{where}: train")
        loss_opts[t] = from_dict(spec.options, raw.get("losses", {}).get(t), f"{where}: losses.{t}") \
            if spec.options else None
    metric_opts = {}
    for m in metrics.names:
        mspec = plugins.metrics.get(m, where=f"{where}: metrics.names")
        metric_opts[m] = from_dict(mspec.options, metrics_raw.get(m), f"{where}: metrics.{m}") \
            if mspec.options else None
        if standard and metric_opts[m] is not None:
            metric_opts[m] = standard_protocol(metric_opts[m])
    opt_spec = plugins.optimizers.get(train.optimizer, where=f"{where}: train.optimizer")
    optimizer_opts = from_dict(opt_spec.options, raw.get("optimizers", {}).get(train.optimizer),
                               f"{where}: optimizers.{train.optimizer}") if opt_spec.options else None
    augment_opts = {}
    if train.augment != "none":
        aug_spec = plugins.augments.get(train.augment, where=f"{where}: train.augment")
        augment_opts[train.augment] = from_dict(aug_spec.options, raw.get("augments", {}).get(train.augment),
                                                f"{where}: augments.{train.augment}") if aug_spec.options else None
    if train.conditional is None:
        train = replace(train, conditional=bool(model.recipe.get("conditional", False)))
    check_compatibility(plugins, where, model, dataset, train, metrics, model_traits(model, model_opts, where))
    for i, name in enumerate(train.loggers):
        if plugins.pm.get_plugin(name) is None:
            known = sorted(n for n, _ in plugins.pm.list_name_plugin() if n)
            raise GanbenchError(f"no plugin named '{name}' is installed{did_you_mean(name, known)}",
                                where=f"{where}: train.loggers[{i}]",
                                hint="name a logger plugin by its entry-point name, e.g. \"tensorboard\" "
                                     "(pip install 'ganbench[tensorboard]')")
    if not metrics.primary:
        first = plugins.metrics.get(metrics.names[0]).scores if metrics.names else ()
        if first:
            metrics = replace(metrics, primary=first[0].name)
    elif metrics.names:
        known = {s.name for m in metrics.names for s in plugins.metrics.get(m).scores}
        if metrics.primary not in known:
            raise GanbenchError(f"metrics.primary '{metrics.primary}' is not a score of the chosen metrics"
                                f"{did_you_mean(metrics.primary, known)}", where=f"{where}: metrics.primary")
    if metrics.headline == "best" and (train.eval_every <= 0 or metrics.eval_num_samples != metrics.num_samples):
        raise GanbenchError(
            f"metrics.headline = \"best\" ranks the best evaluation over training, but train.eval_every = "
            f"{train.eval_every} and eval_num_samples = {metrics.eval_num_samples} vs num_samples = "
            f"{metrics.num_samples}: the evaluations would not share the final protocol",
            where=f"{where}: metrics.headline",
            hint="set train.eval_every > 0 and metrics.eval_num_samples equal to metrics.num_samples")
    resolved = {
        "suite": suite, "model": model_name, "dataset": dataset_name,
        "train": to_dict(train),
        "metrics": {**to_dict(metrics), **{m: to_dict(o) for m, o in metric_opts.items() if o is not None}},
        "models": {model_name: to_dict(model_opts)},
        "datasets": {dataset_name: to_dict(dataset_opts)},
        "losses": {t: to_dict(o) for t, o in loss_opts.items()},
        "optimizers": {train.optimizer: to_dict(optimizer_opts)},
        **({"augments": {k: to_dict(o) for k, o in augment_opts.items()}} if augment_opts else {}),
    }
    cell = coords(resolved)
    return RunSpec(suite, run_id or make_run_id(cell, resolved), cell, model_name, dataset_name, train, metrics,
                   model_opts, dataset_opts, loss_opts, metric_opts, optimizer_opts, resolved, augment_opts)


def spec_from_config(plugins: Plugins, config: dict[str, Any]) -> RunSpec:
    """Rebuild a RunSpec from a run folder's config.json (for workers, eval and sample)."""
    where = f"run {config.get('run_id', '?')}: config.json"
    for key in ("model", "dataset", "train"):
        if key not in config:
            raise GanbenchError(f"config.json has no '{key}'", where=where,
                                hint="the run folder is damaged: delete it and rerun the suite")
    raw = {k: v for k, v in config.items() if k in CONFIG_TABLES}
    stored = config.get("coords", {})
    return build_spec(plugins, config.get("suite", ""), config["model"], config["dataset"], raw, where,
                      lambda resolved: stored, run_id=config.get("run_id", ""))


def model_traits(model: ModelSpec, options: Any, where: str) -> frozenset[str]:
    """The model's traits under these options (ModelSpec.traits_for), else its static ones."""
    if model.traits_for is None or options is None:
        return frozenset(model.traits)
    traits = frozenset(model.traits_for(options))
    unknown = sorted(traits - set(TRAITS))
    if unknown:
        raise GanbenchError(f"model '{model.name}' reports unknown trait '{unknown[0]}' for its options",
                            where=f"{where}: models.{model.name}",
                            hint=f"traits are one of {', '.join(sorted(TRAITS))} (a bug in the model's plugin)")
    return traits


def check_compatibility(plugins: Plugins, where: str, model: ModelSpec, dataset: DatasetSpec, train: TrainConfig,
                        metrics: MetricsConfig, own: frozenset[str]) -> None:
    """Cross-plugin rules: loss roles, traits a term requires or refuses, labels, precision.
    ``own``: the model's traits under the run's options (model_traits)."""
    traits = set(own) | ({"conditional"} if train.conditional else set())
    roles = [(train.loss, "adversarial", "train.loss")]
    if train.aux_loss:
        roles.append((train.aux_loss, "auxiliary", "train.aux_loss"))
    roles += [(r, "regularizer", "train.regularizers") for r in train.regularizers]
    for name, role, key in roles:
        spec = plugins.losses.get(name)
        if spec.role != role:
            same = [n for n in plugins.losses if plugins.losses.get(n).role == role]
            raise GanbenchError(f"'{name}' is a {spec.role} term, not a{'n' if role[0] in 'aeiou' else ''} "
                                f"{role} one; {role} terms: {', '.join(same)}", where=f"{where}: {key}")
        missing = set(spec.requires) - traits
        if missing:
            raise GanbenchError(f"{role} term '{name}' needs a model with {', '.join(sorted(missing))}; "
                                f"model '{model.name}' has {', '.join(sorted(traits)) or 'none of those'}",
                                where=f"{where}: {key}")
        clash = set(spec.refuses) & traits
        if clash:
            raise GanbenchError(f"{role} term '{name}' cannot be used with a model that has "
                                f"{', '.join(sorted(clash))} (model '{model.name}')", where=f"{where}: {key}",
                                hint=f"pick a model without {', '.join(sorted(clash))} or another {role} term")
        if spec.needs_labels and not train.conditional:
            raise GanbenchError(f"'{name}' needs class labels but the run is unconditional",
                                where=f"{where}: {key}", hint="set train.conditional = true on a labelled data set")
    if train.label_smoothing > 0 and not plugins.losses.get(train.loss).label_smoothing:
        raise GanbenchError(f"train.label_smoothing has no meaning for the '{train.loss}' loss (it has no targets)",
                            where=f"{where}: train.label_smoothing",
                            hint="set label_smoothing = 0 for this run (an [[override]] can do it per model)")
    check_training_options(train, plugins.losses.get(train.loss),
                           plugins.losses.get(train.aux_loss) if train.aux_loss else None,
                           [plugins.losses.get(r) for r in train.regularizers], where=f"{where}: train")
    if "aux_classifier" in traits and not train.aux_loss:
        raise GanbenchError(f"model '{model.name}' has an auxiliary classifier head but train.aux_loss is empty",
                            where=f"{where}: train.aux_loss", hint="set aux_loss = \"aux-ce\"")
    if train.conditional and not dataset.labelled:
        raise GanbenchError(f"conditional training needs labels; data set '{dataset.name}' has none",
                            where=f"{where}: train.conditional")
    if train.conditional and not {"conditional", "can_condition"} & own:
        raise GanbenchError(f"model '{model.name}' cannot be trained conditionally", where=f"{where}: train.conditional")
    for m in metrics.names:
        spec = plugins.metrics.get(m)
        if spec.needs_labels and not dataset.labelled:
            raise GanbenchError(f"metric '{m}' needs a labelled data set; '{dataset.name}' has no labels",
                                where=f"{where}: metrics.names")
    if train.precision != "fp32" and train.device == "cpu":
        raise GanbenchError(f"precision '{train.precision}' is only used on CUDA (it is ~150x slower on CPU)",
                            where=f"{where}: train.precision", hint="use precision = \"fp32\" on CPU")


def _slug(axis: str, value: Any) -> str:
    short = {"latent_dim": "z", "seed": "s"}
    text = show_value(value)
    if axis in short:
        text = f"{short[axis]}{text}"
    elif axis not in ("model", "dataset", "classes", "loss", "optimizer"):
        text = f"{axis.split('.')[-1]}{text}"
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def config_hash(resolved: dict[str, Any]) -> str:
    data = copy.deepcopy(resolved)
    for table in NOT_HASHED_TABLES:
        data.pop(table, None)
    for table, key in NOT_HASHED:
        data.get(table, {}).pop(key, None)
    for (*path, key), default in HASH_NEUTRAL.items():
        for table in _tables(data, path):
            if key in table and table[key] == default:
                del table[key]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


def _tables(data: dict[str, Any], path: list[str]) -> list[dict[str, Any]]:
    """The nested dicts of `data` at `path` ("*": every entry of that level)."""
    level = [data]
    for name in path:
        level = [t for d in level for t in (d.values() if name == "*" else [d.get(name)]) if isinstance(t, dict)]
    return level


def make_run_id(coords: dict[str, Any], resolved: dict[str, Any]) -> str:
    """Readable slug of the coordinates + a short hash of the resolved config."""
    slug = "-".join(_slug(a, v) for a, v in coords.items())[:100]
    return f"{slug}-{config_hash(resolved)}"
