"""Typed, validated configuration: dataclasses whose fields carry their help text.

``from_dict`` rejects unknown keys (with a did-you-mean), checks every value's type
and reports the exact key path, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Optional, TypeVar, Union

from .errors import GanbenchError, did_you_mean

T = TypeVar("T")
NO_STANDARD = object()  # opt(): the field keeps its value under the standard protocol


def standard_protocol(options: Any) -> Any:
    """`options` (a dataclass) with every field that names a ``standard`` value set to it."""
    fixed = {f.name: f.metadata["standard"] for f in dataclasses.fields(options) if "standard" in f.metadata}
    return dataclasses.replace(options, **fixed) if fixed else options


def opt(default: Any, help: str, *, min: float | None = None, max: float | None = None,
        above: float | None = None, below: float | None = None, choices: Sequence[Any] | None = None,
        standard: Any = NO_STANDARD, **kw: Any) -> Any:
    """A dataclass field with help text and bounds, shown by `ganbench list --options`.

    min/max are inclusive bounds, above/below exclusive ones, choices the allowed values;
    :func:`from_dict` and suite validation enforce them with the key path in the message.
    standard: for metric options, the value ganbench's standard protocol sets
    (``metrics.protocol = "standard"``), e.g. a real-image count of 0 = all of them.
    """
    meta = {"help": help, **{k: v for k, v in (("min", min), ("max", max), ("above", above),
                                              ("below", below)) if v is not None}}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if standard is not NO_STANDARD:
        meta["standard"] = standard
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


def bounds_text(meta: Mapping[str, Any]) -> str:
    """'≥ 1', '> 0 and < 1', 'one of 1, 3' (empty when unbounded)."""
    if "choices" in meta:
        return "one of " + ", ".join(str(c) for c in meta["choices"])
    parts = [f"{sign} {meta[k]}" for k, sign in (("min", "≥"), ("above", ">"), ("max", "≤"), ("below", "<"))
             if k in meta]
    return " and ".join(parts)


def check_bounds(meta: Mapping[str, Any], value: Any, where: str) -> None:
    """Raise when a number (or each number of a list) is NaN, infinite or outside a field's bounds."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if "choices" in meta and v not in meta["choices"]:
            raise GanbenchError(f"must be {bounds_text(meta)}, found {v!r}", where=where)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if not math.isfinite(v):
            raise GanbenchError(f"must be a finite number, found {v}", where=where,
                                hint=f"a number {bounds_text(meta)}" if bounds_text(meta) else None)
        if ("min" in meta and v < meta["min"]) or ("max" in meta and v > meta["max"]) \
                or ("above" in meta and v <= meta["above"]) or ("below" in meta and v >= meta["below"]):
            raise GanbenchError(f"must be {bounds_text(meta)}, found {v}", where=where)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    return {type(None): "nothing (omit the key)", int: "an integer", float: "a number",
            bool: "true or false", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _describe(value: Any) -> str:
    kind = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "table"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def check_type(tp: Any, value: Any, where: str) -> Any:
    """Return value converted to tp (int -> float, list -> tuple) or raise GanbenchError."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise GanbenchError(f"expected one of {_type_name(tp)}, found {_describe(value)}{did_you_mean(str(value), [str(a) for a in typing.get_args(tp)])}", where=where)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_type(arg, value, where)
            except GanbenchError as exc:
                errors.append(exc)
        raise GanbenchError(f"expected {_type_name(tp)}, found {_describe(value)}", where=where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            hint = "wrap it in brackets: [value]" if not isinstance(value, dict) else None
            raise GanbenchError(f"expected {_type_name(tp)}, found {_describe(value)}", where=where, hint=hint)
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [check_type(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise GanbenchError(f"expected a table, found {_describe(value)}", where=where)
        return dict(value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    hint = None
    if isinstance(value, str) and tp in (int, float, bool):
        hint = "remove the quotes"
    raise GanbenchError(f"expected {_type_name(tp)}, found {_describe(value)}", where=where, hint=hint)


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def check_field(cls: type, key: str, value: Any, where: str) -> Any:
    """One key of a table for dataclass ``cls``: known, of the right type, within bounds."""
    types_ = field_types(cls)
    if key not in types_:
        raise GanbenchError(f"unknown key '{key}'{did_you_mean(key, types_)}", where=where)
    value = check_type(types_[key], value, where)
    check_bounds(cls.__dataclass_fields__[key].metadata, value, where)  # type: ignore[attr-defined]
    return value


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a TOML table, strictly; cross-field rules live in the
    class's ``validate()``."""
    kwargs = {key: check_field(cls, key, value, f"{where}.{key}" if where else key)
              for key, value in dict(data or {}).items()}
    try:
        obj = cls(**kwargs)
    except GanbenchError as exc:
        if exc.where is None:
            raise GanbenchError(exc.message, where=where, hint=exc.hint) from exc
        raise
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except GanbenchError as exc:
            if exc.where is None:
                raise GanbenchError(exc.message, where=where, hint=exc.hint) from exc
            raise
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain JSON-able data (tuples become lists)."""
    def clean(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v
    return clean(dataclasses.asdict(obj)) if obj is not None else {}


def options_help(cls: type) -> list[dict[str, Any]]:
    """Each field's name, type, default, bounds and help, for `ganbench list --options`."""
    out = []
    types_ = field_types(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        out.append({"name": f.name, "type": _type_name(types_[f.name]), "default": default,
                    "bounds": bounds_text(f.metadata), "help": f.metadata.get("help", "")})
    return out


@dataclass(frozen=True)
class TrainConfig:
    """[train]: how one run trains. A model's recipe fills these before the suite does."""

    steps: int = opt(1000, "generator steps (the budget): every other count (log_every, eval_every, "
                           "checkpoint_every, ema_start, the warm-up) is in G steps too", min=1, max=10**9)
    batch_size: int = opt(64, "images per D and G step (with d_update = \"separate\", D's real and fake "
                              "steps get half each)", min=1, max=65536)
    n_critic: int = opt(1, "D updates per G step (the reports' D:G ratio)", min=1, max=1000)
    g_steps: int = opt(1, "G steps per D update: D is updated before G steps 0, g_steps, 2 g_steps, ... and "
                          "skipped on the others (report 4's ratio); > 1 needs n_critic = 1", min=1, max=1000)
    balance: Literal["none", "threshold"] = opt(
        "none", "\"threshold\": per iteration, both losses are computed on fresh batches; D is updated iff its "
                "loss > balance_threshold, G iff its loss > balance_threshold or D was not updated (so each "
                "iteration updates at least one). Iterations without a G step do not count toward steps; "
                "10,000 of them in a row stop the run as diverged. Costs a host sync per iteration")
    balance_threshold: float = opt(0.5, "the loss above which balance = \"threshold\" updates a network")
    critic_warmup: Literal["none", "wgan"] = opt(
        "none", "\"wgan\": the WGAN paper's schedule: 100 D updates before each of G steps 0-24 and before "
                "every 500th G step (500, 1000, ...), n_critic otherwise")
    d_update: Literal["joint", "separate"] = opt(
        "joint", "\"joint\": one D optimizer step on the real and fake terms together; \"separate\": two, "
                 "first on batch_size/2 real images, then on batch_size/2 fakes (the Keras recipe), and G "
                 "steps on a fresh latent batch of batch_size. Needs a loss with per-term functions, no "
                 "auxiliary loss and no penalty regularizer")
    loss: str = opt("bce", "adversarial loss plugin")
    aux_loss: str = opt("", "auxiliary (classifier) loss plugin, '' for none")
    regularizers: list[str] = opt([], "regularizer plugins (gradient-penalty, weight-clipping, r1)")
    optimizer: str = opt("adam", "optimizer plugin for G and D")
    augment: str = opt("none", "augmentation plugin applied to every image D sees, real and fake, in D's and "
                               "G's steps (diffaugment; options in [augments.<name>]); \"none\" for none")
    lr_g: float = opt(2e-4, "generator learning rate", above=0)
    lr_d: float = opt(2e-4, "discriminator learning rate (TTUR when different)", above=0)
    betas_g: list[float] = opt([0.5, 0.999], "Adam-style betas for G", min=0, below=1)
    betas_d: list[float] = opt([0.5, 0.999], "Adam-style betas for D", min=0, below=1)
    weight_decay: float = opt(0.0, "weight decay for both optimizers", min=0)
    latent_dim: int = opt(100, "size of z", min=1, max=65536)
    latent_dist: Literal["normal", "uniform"] = opt("normal", "distribution of z")
    conditional: Optional[bool] = opt(None, "feed labels to G and D (default: the model's recipe)")
    label_smoothing: float = opt(0.0, "one-sided: real targets become 1 - label_smoothing", min=0, below=1)
    smooth_g_target: bool = opt(False, "G's target for its fakes is also 1 - label_smoothing (report 1); only "
                                       "for losses with targets (bce, lsgan: c moves toward a)")
    ema: bool = opt(False, "keep an exponential moving average of G for sampling and evaluation")
    ema_decay: float = opt(0.999, "EMA decay per G step once warmed up", above=0, below=1)
    ema_rampup: float = opt(0.05, "EMA warm-up: its half-life is at most this share of the steps so far "
                                  "(StyleGAN2-ADA's ramp); 0 = none", min=0)
    ema_start: int = opt(0, "G step at which the EMA starts averaging (copied before)", min=0)
    seed: int = opt(0, "seed for weights, z and batches: bit-reproducible on one CPU; on CUDA, cuDNN's "
                       "autotuning and TF32 convolutions trade bit-exactness for speed", min=0, max=2**32 - 1)
    device: str = opt("auto", "auto | cpu | cuda | cuda:N")
    precision: Literal["fp32", "bf16", "fp16"] = opt("fp32", "autocast dtype, CUDA only; fp16 adds a loss scaler, "
                                                             "which syncs the host once per step unless the "
                                                             "optimizer is fused (RMSprop never is): prefer bf16")
    compile: bool = opt(False, "torch.compile G and D")
    channels_last: Optional[bool] = opt(None, "channels_last memory format (default: on when G or D has convolutions)")
    threads: int = opt(0, "torch CPU threads, 0 = torch's default", min=0, max=1024)
    log_every: int = opt(50, "G steps between loss logs (the only host syncs)", min=1)
    eval_every: int = opt(0, "G steps between evaluations during training, 0 = final only", min=0)
    sample_every: int = opt(0, "G steps between sample grids, 0 = steps // 10", min=0)
    checkpoint_every: int = opt(500, "G steps between checkpoints, 0 = at the end only", min=0)
    loggers: list[str] = opt([], "logger plugins to enable for the run besides losses.csv, by plugin name "
                                 "(tensorboard: pip install ganbench[tensorboard])")
    num_final_images: int = opt(10, "final images saved as individual PNG files", min=0, max=10000)
    num_best_images: int = opt(0, "also save the images the trained D scores highest among 10x as many samples "
                                  "(a report's \"best N images\"; final/best/, with best.json saying how)",
                               min=0, max=10000)
    grid_size: int = opt(64, "images in each sample grid", min=1, max=4096)
    # divergence rules, checked at each loss log (ganbench.divergence); 0 turns a rule off
    explode_factor: float = opt(1e4, "diverged (explosion) when a logged loss or D score's |value| exceeds this x "
                                     "max(1, its |value| at the run's first log)", min=0)
    explode_max: float = opt(1e6, "diverged (explosion) when a logged loss or D score's |value| exceeds this", min=0)
    collapse_std: float = opt(1e-4, "diverged (collapse) when the mean per-pixel std across G's training batch is "
                                    "below this at collapse_logs logs in a row: G draws one image", min=0)
    collapse_logs: int = opt(3, "consecutive logs the collapse rule needs", min=1)

    def validate(self) -> None:
        for name in ("betas_g", "betas_d"):
            if len(getattr(self, name)) != 2:
                raise GanbenchError(f"train.{name} must be two numbers in [0, 1), found {getattr(self, name)}",
                                    hint="e.g. betas_g = [0.5, 0.999]")
        schedules = [k for k, on in (("n_critic > 1", self.n_critic > 1), ("g_steps > 1", self.g_steps > 1),
                                     ("critic_warmup", self.critic_warmup != "none"),
                                     ("balance", self.balance != "none")) if on]
        if len(schedules) > 1 and schedules != ["n_critic > 1", "critic_warmup"]:
            raise GanbenchError(f"{' and '.join(schedules)} are two update schedules for one run; "
                                "pick one (critic_warmup combines only with n_critic)",
                                hint="e.g. g_steps = 3 with n_critic = 1, or n_critic = 5 without g_steps")
        if self.d_update == "separate" and self.balance != "none":
            raise GanbenchError("train.balance = \"threshold\" compares D's whole loss before its update; with "
                                "d_update = \"separate\" D's two updates are decided apart",
                                hint="use d_update = \"joint\" with balance")
        if self.d_update == "separate" and self.batch_size % 2:
            raise GanbenchError(f"train.d_update = \"separate\" splits each batch into a real and a fake half; "
                                f"batch_size = {self.batch_size} is odd", hint="use an even batch_size")
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:")):
            raise GanbenchError(f"train.device: expected auto, cpu, cuda or cuda:N, found '{dev}'")


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics]: what is scored, on how many samples. [metrics.<name>] holds a metric's options."""

    names: list[str] = opt(["classifier"], "metric plugins to run")
    num_samples: int = opt(10000, "generated samples for the final evaluation (stated with every score)", min=1,
                           max=10**6,
                           standard=10000)
    eval_num_samples: int = opt(1000, "generated samples for evaluations during training", min=1,
                                 max=10**6)
    primary: str = opt("", "score that ranks the leaderboard (default: the first metric's first score)")
    batch_size: int = opt(250, "generation batch size during evaluation", min=1, max=65536)
    reference_split: str = opt("", "data split the real statistics come from (default: the training split)",
                               standard="")
    headline: Literal["final", "best"] = opt(
        "final", "what the leaderboard ranks: each run's final evaluation, or its best evaluation over training "
                 "(a report's \"minimum FID over training\"); best needs train.eval_every > 0 and "
                 "eval_num_samples = num_samples, so every evaluation shares the final protocol", standard="final")
    protocol: Literal["suite", "standard"] = opt(
        "suite", "\"suite\": the counts and options as written (a report suite writes the report's own); "
                 "\"standard\": ganbench's standard protocol: 10,000 samples against the whole training split, "
                 "final evaluation, every metric option its plugin marks standard (e.g. all real images)")


def reference_options(dataset_options: Any, metrics: "MetricsConfig") -> Any:
    """The data set options of the real images a run is scored against: the training data's,
    with the split replaced by metrics.reference_split when one is set (e.g. score a CIFAR-10
    model against the test split)."""
    ref = metrics.reference_split
    if not ref or ref == dataset_options.split:
        return dataset_options
    return dataclasses.replace(dataset_options, split=ref)


def checked_reference_options(options_cls: type, dataset_options: Any, split: str, where: str) -> Any:
    """The data set options with ``split`` in place of the training split, validated by the
    data set's own options class, so an unknown split is reported like any other bad key."""
    return from_dict(options_cls, {**to_dict(dataset_options), "split": split}, where)

