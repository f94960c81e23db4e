"""One generic registry per kind of plugin item (model, loss, dataset, metric, optimizer, augment)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .config import TrainConfig, field_types, options_help
from .errors import GanbenchError, did_you_mean
from .specs import TRAITS

T = TypeVar("T")
#: the plugin option tables ([<kind>.<name>]) of a suite, a variant, an override and a run's
#: config; a model recipe may fix them besides [train] keys (e.g. optimizers.sgd.momentum)
PLUGIN_TABLES = ("models", "datasets", "losses", "optimizers", "augments")
#: every table a run's resolved config holds (config.json), beside its names
CONFIG_TABLES = ("train", "metrics", *PLUGIN_TABLES)


@dataclass(frozen=True)
class Entry(Generic[T]):
    spec: T
    plugin: str  # the plugin (module) that registered it
    package: str  # the distribution it came from, or the plugin name when none


class Registry(Generic[T]):
    """Name -> spec. A duplicate name is an error naming both packages."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._current: tuple[str, str] = ("<direct>", "<direct>")

    def add(self, spec: T) -> T:
        name = getattr(spec, "name")
        plugin, package = self._current
        if name in self._entries:
            other = self._entries[name]
            if "ganbench" in (other.package, package):  # never suggest blocking a built-in
                mine, theirs = (plugin, package) if other.package == "ganbench" else (other.plugin, other.package)
                hint = (f"a built-in {self.kind} has this name: rename it in {theirs}, or block that plugin "
                        f"with GANBENCH_BLOCK_PLUGINS={mine}")
            else:
                hint = f"uninstall one of them, or block one with GANBENCH_BLOCK_PLUGINS={plugin}"
            raise GanbenchError(
                f"two plugins register the {self.kind} '{name}': "
                f"{other.package} (plugin {other.plugin}) and {package} (plugin {plugin})", hint=hint)
        for attr in ("traits", "requires", "refuses"):
            unknown = sorted(set(getattr(spec, attr, ())) - set(TRAITS))
            if unknown:
                raise GanbenchError(
                    f"{self.kind} '{name}' of {package} (plugin {plugin}) names unknown trait '{unknown[0]}' in {attr}"
                    f"{did_you_mean(unknown[0], TRAITS)}",
                    hint="traits are a closed vocabulary (ganbench.specs.TRAITS), so that a loss's requires/"
                         "refuses always mean something")
        recipe = getattr(spec, "recipe", None) or {}
        bad = sorted(set(recipe) - set(field_types(TrainConfig)) - set(PLUGIN_TABLES))
        if bad:
            raise GanbenchError(f"{self.kind} '{name}' of {package} (plugin {plugin}) has an unknown recipe key "
                                f"'{bad[0]}'{did_you_mean(bad[0], [*field_types(TrainConfig), *PLUGIN_TABLES])}",
                                hint="a recipe holds [train] keys (only those that differ from the defaults) "
                                     "and plugin tables such as optimizers.sgd")
        self._entries[name] = Entry(spec, plugin, package)
        return spec

    def get(self, name: str, where: str | None = None) -> T:
        try:
            return self._entries[name].spec
        except KeyError:
            raise GanbenchError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}",
                                where=where, hint="`ganbench list` shows every registered item") from None

    def entry(self, name: str) -> Entry[T]:
        self.get(name)
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[k] for k in sorted(self._entries)]

    def _registering(self, plugin: str, package: str) -> "Registry[T]":
        self._current = (plugin, package)
        return self

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> list[dict[str, Any]]:
        """Name, kind, package, description and options of every item (`ganbench list`)."""
        return [{"name": e.spec.name, "kind": self.kind, "package": e.package, "plugin": e.plugin,
                 "description": e.spec.description,
                 "options": options_help(e.spec.options) if getattr(e.spec, "options", None) else []}
                for e in self.entries()]
