"""TOML suites: parse, validate, expand the matrix, apply overrides, resolve runs.

A run's resolved config is, from weakest to strongest: the config dataclasses'
defaults, the model's recipe, the suite's shared tables, the matrix cell, and the
[[override]] tables whose `match` fits the cell. Everything is validated before
anything trains; every error names the file and the key path.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .config import (MetricsConfig, TrainConfig, check_field, check_type, field_types)
from .errors import GanbenchError, did_you_mean
from .plugins import Plugins
from .registry import CONFIG_TABLES, PLUGIN_TABLES
from .reported import Reported, check_reported
from .runspec import RunSpec, build_spec, show_value
from .suite_checks import (MAX_SUITE_BYTES, check_axes, check_filters_used, check_overrides_used,
                           check_sets_used)
from .tables import merge, nest, set_path, without
from .variants import Variant, check_variants

TOP_LEVEL = ("suite", "matrix", "train", "metrics", "models", "datasets", "losses", "optimizers", "augments",
             "variants", "override", "reported")
LISTS = ("override", "reported")
#: [suite] keys; compare_losses: losses.csv columns drawn for every row on one panel (loss_compare.py)
SUITE_KEYS = ("name", "description", "compare_losses")  # arrays of tables: [[override]], [[reported]]
#: a suite's folder name: no '.', '..', hidden names or separators, short enough for any file system
MAX_NAME = 100
NAME_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}"
#: run coordinates and the key path each one sets ("classes" goes to the run's data set)
COORDINATES = {"model": ("model",), "dataset": ("dataset",), "classes": None, "loss": ("train", "loss"),
               "optimizer": ("train", "optimizer"), "latent_dim": ("train", "latent_dim"),
               "seed": ("train", "seed")}


@dataclass
class Suite:
    path: Path
    name: str
    description: str
    axes: dict[str, list[Any]]
    runs: list[RunSpec]
    text: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    reported: list[Reported] = field(default_factory=list)  # a report's published numbers
    compare_losses: list[str] = field(default_factory=list)  # losses.csv columns drawn across rows

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    @property
    def primary(self) -> str:
        return self.runs[0].metrics.primary if self.runs else ""


def parse_value(text: str) -> Any:
    """A --set/--filter value as TOML (200, "x", [1, 2], true); bare words stay strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


class SuiteLoader:
    """Turns a suite file (plus --set / --filter) into validated RunSpecs."""

    def __init__(self, plugins: Plugins, path: str | Path, text: str | None = None):
        self.plugins = plugins
        self.path = Path(path)
        self.file = str(path)
        self._variants: dict[str, Variant] = {}
        self._cli: dict[str, Any] = {}  # --set values outside [matrix]: applied over everything in the file
        self._set_axes: set[str] = set()  # matrix axes a --set replaced
        if text is None:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise GanbenchError(f"suite file not found: {self.file}",
                                    hint="suites/ holds the shipped suites, e.g. suites/quickstart.toml") from None
            except IsADirectoryError:
                raise GanbenchError(f"{self.file} is a folder, not a suite file",
                                    hint="name a .toml file, e.g. suites/quickstart.toml") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise GanbenchError(f"cannot read suite {self.file}: {exc}") from exc
        if len(text) > MAX_SUITE_BYTES:
            raise GanbenchError(f"the suite file is {len(text):,} characters; a suite is at most "
                                f"{MAX_SUITE_BYTES:,}", where=self.file, hint="is this the right file?")
        self.text = text

    def where(self, key: str) -> str:
        return f"{self.file}: {key}"

    # -- parsing -----------------------------------------------------------
    def parse(self, sets: list[str] = ()) -> dict[str, Any]:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise GanbenchError(f"not valid TOML: {exc}", where=self.file,
                                hint="check quotes, brackets and that each key appears once") from exc
        except RecursionError:
            raise GanbenchError("not a suite: its arrays or tables nest too deeply to read", where=self.file,
                                hint="a suite nests a few levels at most") from None
        for item in sets:
            if "=" not in item:
                raise GanbenchError(f"--set expects KEY=VALUE, found '{item}'", hint="e.g. --set train.steps=200")
            key, value = item.split("=", 1)
            key = key.strip()
            path = tuple(key.split("."))
            if path[0] == "matrix" and len(path) > 1:  # matrix."train.n_critic" or matrix.train.n_critic
                path = ("matrix", key[len("matrix."):].strip("\"'"))
            if path[0] not in TOP_LEVEL or path[0] in LISTS:
                raise GanbenchError(f"--set {key}: unknown table '{path[0]}'"
                                    f"{did_you_mean(path[0], [t for t in TOP_LEVEL if t not in LISTS])}",
                                    hint="--set reaches the tables; edit [[override]] and [[reported]] in the file")
            set_path(data, path, parse_value(value.strip()))
            if path[0] == "matrix" and len(path) > 1:
                self._set_axes.add(path[1])
            if path[0] not in ("matrix", "suite"):  # the command line's last word (see _resolve)
                set_path(self._cli, path, parse_value(value.strip()))
        return data

    def load(self, sets: list[str] = (), filters: list[str] = ()) -> Suite:
        data = self.parse(sets)
        for key in data:
            if key not in TOP_LEVEL:
                raise GanbenchError(f"unknown table '{key}'{did_you_mean(key, TOP_LEVEL)}", where=self.where(key))
        for key in TOP_LEVEL:
            if key in data and key not in LISTS and not isinstance(data[key], dict):
                raise GanbenchError(f"expected a table [{key}], found {type(data[key]).__name__}",
                                    where=self.where(key))
        meta = data.get("suite", {})
        for key in meta:
            if key not in SUITE_KEYS:
                raise GanbenchError(f"unknown key '{key}'{did_you_mean(key, SUITE_KEYS)}",
                                    where=self.where(f"suite.{key}"))
        check_type(list[str], meta.get("compare_losses", []), self.where("suite.compare_losses"))
        name = meta.get("name", self.path.stem)
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            raise GanbenchError(f"suite.name must be a plain folder name (1-{MAX_NAME} letters, digits, - _ ., "
                                f"starting with a letter or digit), found {show_value(name)[:80]!r}",
                                where=self.where("suite.name"),
                                hint="the name is the folder under --results that the suite writes into")
        self._check_shared(data)
        self._variants = check_variants(data.get("variants", {}), self.plugins, self.where,
                                        lambda body, prefix: self._check_shared(body, prefix=prefix))
        axes = self._check_matrix(data.get("matrix", {}))
        for v in self._variants.values():
            for axis in v.only:
                if axis not in axes:
                    raise GanbenchError(f"'{axis}' is not a matrix axis{did_you_mean(axis, axes)}",
                                        where=self.where(f"variants.{v.name}.only.{axis}"))
        overrides = self._check_overrides(data.get("override", []), axes)
        reported = check_reported(data.get("reported", []), axes, self.where)
        known = {s.name for e in self.plugins.metrics.entries() for s in e.spec.scores}
        for i, row in enumerate(reported):
            for score in row.scores:
                if score not in known:
                    raise GanbenchError(f"'{score}' is no metric's score{did_you_mean(score, known)}",
                                        where=self.where(f"reported[{i}].scores.{score}"),
                                        hint="name the score as ganbench does (ganbench list metrics), so the "
                                             "reported row lines up with the column")
        runs = []
        seen: dict[str, RunSpec] = {}
        used: set[int] = set()  # overrides that matched a cell
        for cell in itertools.product(*axes.values()):
            coords = dict(zip(axes, cell))
            if coords["model"] in self._variants and not self._variants[coords["model"]].allows(coords):
                continue  # a variant kept to some cells (its `only`)
            run = self._resolve(name, data, coords, overrides, used)
            if run.run_id in seen:
                continue  # two cells resolving to the same config (e.g. an override) are one run
            seen[run.run_id] = run
            runs.append(run)
        check_overrides_used(overrides, used, self.where, self._set_axes)
        check_sets_used(self._cli, runs)
        runs = self._filter(runs, filters, axes)
        return Suite(self.path, name, meta.get("description", ""), axes, runs, self.text, data, reported,
                     list(meta.get("compare_losses", [])))

    # -- validation of the shared tables -------------------------------------
    def _check_partial(self, cls: type, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise GanbenchError(f"expected a table, found {type(table).__name__}", where=self.where(where))
        for key, value in table.items():
            check_field(cls, key, value, self.where(f"{where}.{key}"))

    def _options_class(self, kind: str, name: str, where: str) -> type | None:
        spec = self.plugins.registry(kind).get(name, where=self.where(where))
        return spec.options

    def _check_plugin_table(self, kind: str, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise GanbenchError(f"expected a table of [{kind}.<name>] tables", where=self.where(where))
        for name, opts in table.items():
            cls = self._options_class(kind, name, f"{where}.{name}")
            if cls is None:
                if opts:
                    raise GanbenchError(f"{kind} '{name}' takes no options", where=self.where(f"{where}.{name}"))
                continue
            self._check_partial(cls, opts, f"{where}.{name}")

    def _check_metrics_table(self, table: dict[str, Any], where: str) -> None:
        own = {k: v for k, v in table.items() if k in field_types(MetricsConfig)}
        self._check_partial(MetricsConfig, own, where)
        for name in own.get("names", []):
            self.plugins.metrics.get(name, where=self.where(f"{where}.names"))
        for key, value in table.items():
            if key in own:
                continue
            if key not in self.plugins.metrics:
                known = [*field_types(MetricsConfig), *self.plugins.metrics.names()]
                raise GanbenchError(f"unknown key '{key}'{did_you_mean(key, known)}", where=self.where(f"{where}.{key}"))
            cls = self.plugins.metrics.get(key).options
            if cls is None:
                raise GanbenchError(f"metric '{key}' takes no options", where=self.where(f"{where}.{key}"))
            self._check_partial(cls, value, f"{where}.{key}")

    def _check_shared(self, data: dict[str, Any], prefix: str = "") -> None:
        if "train" in data:
            self._check_partial(TrainConfig, data["train"], f"{prefix}train")
            self._check_train_names(data["train"], f"{prefix}train")
        if "metrics" in data:
            if not isinstance(data["metrics"], dict):
                raise GanbenchError("expected a table", where=self.where(f"{prefix}metrics"))
            self._check_metrics_table(data["metrics"], f"{prefix}metrics")
        for kind in PLUGIN_TABLES:
            if kind in data:
                self._check_plugin_table(kind, data[kind], f"{prefix}{kind}")

    def _check_train_names(self, train: dict[str, Any], where: str) -> None:
        if "loss" in train:
            self.plugins.losses.get(train["loss"], where=self.where(f"{where}.loss"))
        if train.get("aux_loss"):
            self.plugins.losses.get(train["aux_loss"], where=self.where(f"{where}.aux_loss"))
        for i, r in enumerate(train.get("regularizers", [])):
            self.plugins.losses.get(r, where=self.where(f"{where}.regularizers[{i}]"))
        if "optimizer" in train:
            self.plugins.optimizers.get(train["optimizer"], where=self.where(f"{where}.optimizer"))
        if train.get("augment", "none") != "none":
            self.plugins.augments.get(train["augment"], where=self.where(f"{where}.augment"))

    def _axis_path(self, axis: str, where: str) -> tuple[str, ...] | None:
        """Key path an axis sets (None for 'classes', which depends on the data set)."""
        if axis in COORDINATES:
            return COORDINATES[axis]
        parts = tuple(axis.split("."))
        if len(parts) == 1:
            if parts[0] in field_types(TrainConfig):
                return ("train", parts[0])
            known = [*COORDINATES, *field_types(TrainConfig)]
            raise GanbenchError(f"unknown matrix axis '{axis}'{did_you_mean(axis, known)}", where=self.where(where),
                                hint="an axis is a run coordinate, a [train] key, or a dotted key "
                                     "such as \"datasets.cifar10.resolution\"")
        if parts[0] == "train" and len(parts) == 2:
            if parts[1] not in field_types(TrainConfig):
                raise GanbenchError(f"unknown key '{parts[1]}'{did_you_mean(parts[1], field_types(TrainConfig))}",
                                    where=self.where(where))
            return parts
        if parts[0] == "metrics" and len(parts) in (2, 3):
            return parts
        if parts[0] in PLUGIN_TABLES and len(parts) == 3:
            return parts
        raise GanbenchError(f"matrix axis '{axis}' is not a run coordinate or a key path like "
                            f"train.KEY, metrics.KEY, models.NAME.KEY, datasets.NAME.KEY",
                            where=self.where(where))

    def _check_axis_value(self, axis: str, value: Any, where: str) -> None:
        path = self._axis_path(axis, where)
        if axis == "model":
            check_type(str, value, self.where(where))
            if value not in self._variants:
                self.plugins.models.get(value, where=self.where(where))
        elif axis == "dataset":
            check_type(str, value, self.where(where))
            self.plugins.datasets.get(value, where=self.where(where))
        elif axis == "classes":
            check_type(list[str | int], value, self.where(where))
        else:
            table = nest({".".join(path): value})
            try:
                self._check_shared(table)
            except GanbenchError as exc:
                raise GanbenchError(exc.message.split(": ", 1)[-1] if exc.where is None else exc.message,
                                    where=self.where(where), hint=exc.hint) from exc

    def _check_matrix(self, matrix: dict[str, Any]) -> dict[str, list[Any]]:
        for required in ("model", "dataset"):
            if required not in matrix:
                raise GanbenchError(f"matrix.{required} is required (a list, e.g. {required} = "
                                    f"[\"{'dcgan' if required == 'model' else 'digits'}\"])",
                                    where=self.where("matrix"))
        axes: dict[str, list[Any]] = {}
        for axis, values in matrix.items():
            where = f"matrix.{axis}" if "." not in axis else f'matrix."{axis}"'
            if not isinstance(values, list) or not values:
                raise GanbenchError(f"expected a non-empty list of values, found {values!r}", where=self.where(where),
                                    hint=f"wrap a single value in brackets: {axis} = [{json.dumps(values)}]")
            if axis == "classes" and values and not isinstance(values[0], list):
                raise GanbenchError("expected a list of class lists, e.g. [[\"automobile\"], [\"horse\"]]",
                                    where=self.where(where))
            for i, v in enumerate(values):
                self._check_axis_value(axis, v, f"{where}[{i}]")
            axes[axis] = values
        check_axes(axes, lambda a: self._axis_path(a, a), self.where)
        return axes

    def _check_overrides(self, overrides: Any, axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
        if not isinstance(overrides, list):
            raise GanbenchError("expected [[override]] tables", where=self.where("override"))
        out = []
        for i, ov in enumerate(overrides):
            where = f"override[{i}]"
            if not isinstance(ov, dict):
                raise GanbenchError("expected a table", where=self.where(where))
            match = ov.get("match")
            if not isinstance(match, dict) or not match:
                raise GanbenchError("every [[override]] needs a `match` table, e.g. match = { model = \"wgan\" }",
                                    where=self.where(f"{where}.match"))
            for axis in match:
                if axis not in axes and axis not in COORDINATES:
                    raise GanbenchError(f"match on unknown axis '{axis}'{did_you_mean(axis, [*axes, *COORDINATES])}",
                                        where=self.where(f"{where}.match.{axis}"))
            body = {k: v for k, v in ov.items() if k != "match"}
            for key in body:
                if key not in CONFIG_TABLES:
                    raise GanbenchError(f"an override sets train, metrics, {', '.join(PLUGIN_TABLES)}, "
                                        f"not '{key}'", where=self.where(f"{where}.{key}"))
            self._check_shared(body, prefix=f"{where}.")
            out.append({"match": match, "body": body})
        return out

    # -- resolution ------------------------------------------------------------
    @staticmethod
    def _matches(match: dict[str, Any], coords: dict[str, Any]) -> bool:
        for axis, want in match.items():
            have = coords.get(axis)
            if isinstance(want, list) and not isinstance(have, list):
                if have not in want:
                    return False
            elif have != want:
                return False
        return True

    def _resolve(self, suite: str, data: dict[str, Any], cell: dict[str, Any],
                 overrides: list[dict[str, Any]], used: set[int]) -> RunSpec:
        model_name, dataset_name = cell["model"], cell["dataset"]
        variant = self._variants.get(model_name)
        if variant is not None:  # a named variant: its model's recipe, then its own tables
            model_name = variant.model
        model = self.plugins.models.get(model_name)
        # a recipe holds [train] keys, and may hold plugin tables its paper fixes too
        # (e.g. optimizers.sgd.momentum): both are the weakest layer under the suite's
        raw: dict[str, Any] = {"train": {k: v for k, v in model.recipe.items() if k not in PLUGIN_TABLES},
                               **{k: v for k, v in model.recipe.items() if k in PLUGIN_TABLES}}
        raw = merge(raw, {k: data[k] for k in CONFIG_TABLES if k in data})
        if variant is not None:
            raw = merge(raw, variant.body)
        for axis, value in cell.items():
            if axis in ("model", "dataset"):
                continue
            if axis == "classes":
                raw = merge(raw, {"datasets": {dataset_name: {"classes": value}}})
            else:
                raw = merge(raw, nest({".".join(self._axis_path(axis, axis)): value}))
        for i, ov in enumerate(overrides):
            if self._matches(ov["match"], cell):
                used.add(i)
                raw = merge(raw, nest(ov["body"]) if any("." in k for k in ov["body"]) else ov["body"])
        # --set is the command line's last word, over variants and overrides (a shrunk budget
        # shrinks every model's), but never over a matrix axis the cell sets
        paths = [self._axis_path(a, a) if a != "classes" else ("datasets", dataset_name, "classes") for a in cell]
        raw = merge(raw, without(self._cli, [p for p in paths if p and p[0] not in ("model", "dataset")]))
        label = ", ".join(f"{k}={show_value(v)}" for k, v in cell.items())

        def coords(resolved: dict[str, Any]) -> dict[str, Any]:
            """Each axis's resolved value (a recipe or an override may have set it)."""
            out = {}
            for axis in cell:
                if axis == "model":  # a variant's name, not the registered model it is
                    out[axis] = cell[axis]
                    continue
                path = ("datasets", dataset_name, "classes") if axis == "classes" else self._axis_path(axis, axis)
                value: Any = resolved
                for p in path:
                    value = value.get(p) if isinstance(value, dict) else None
                out[axis] = value if value is not None else cell[axis]
            return out

        return build_spec(self.plugins, suite, model_name, dataset_name, raw, f"{self.file}: run [{label}]", coords)

    def _filter(self, runs: list[RunSpec], filters: list[str], axes: dict[str, list[Any]]) -> list[RunSpec]:
        if not filters:
            return runs
        wanted: dict[str, list[Any]] = {}
        for f in filters:
            if "=" not in f:
                raise GanbenchError(f"--filter expects AXIS=VALUE, found '{f}'", hint="e.g. --filter model=dcgan")
            axis, value = f.split("=", 1)
            axis = axis.strip()
            if axis not in axes:
                raise GanbenchError(f"--filter {axis}: not a matrix axis of this suite{did_you_mean(axis, axes)}")
            wanted.setdefault(axis, []).append(parse_value(value.strip()))

        def hit(have: Any, v: Any) -> bool:
            return have == v or str(have) == str(v) or (isinstance(have, list) and [v] == have)

        check_filters_used(wanted, runs, hit)
        return [r for r in runs if all(any(hit(r.coords[a], v) for v in vs) for a, vs in wanted.items())]


def load_suite(plugins: Plugins, path: str | Path, sets: list[str] = (), filters: list[str] = (),
               text: str | None = None) -> Suite:
    return SuiteLoader(plugins, path, text).load(list(sets), list(filters))


