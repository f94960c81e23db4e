"""The plugin manager factory and the registries it fills.

Built-in plugins are ordinary entry points of the ``ganbench`` group (see
pyproject.toml). They are also named in BUILTIN_PLUGINS so that ganbench works with
autoloading disabled (GANBENCH_DISABLE_PLUGIN_AUTOLOAD=1), as pytest does.
GANBENCH_BLOCK_PLUGINS=a,b blocks plugins by name (their entry-point names).
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .errors import GanbenchError
from .registry import Registry
from .specs import AugmentSpec, DatasetSpec, LossSpec, MetricSpec, ModelSpec, OptimizerSpec

ENTRY_POINT_GROUP = "ganbench"

#: (entry-point name, module) of the plugins that ship with ganbench.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("optimizers", "ganbench_plugins.optimizers"),
    ("losses", "ganbench_plugins.losses"),
    ("regularizers", "ganbench_plugins.regularizers"),
    ("gan", "ganbench_plugins.gan"),
    ("dcgan", "ganbench_plugins.dcgan"),
    ("wgan", "ganbench_plugins.wgan"),
    ("lsgan", "ganbench_plugins.lsgan"),
    ("acgan", "ganbench_plugins.acgan"),
    ("sngan", "ganbench_plugins.sngan"),
    ("sagan", "ganbench_plugins.sagan"),
    ("digits", "ganbench_plugins.digits"),
    ("torchvision_sets", "ganbench_plugins.torchvision_sets"),
    ("imagefolder", "ganbench_plugins.imagefolder"),
    ("classifier_metrics", "ganbench_plugins.classifier_metrics"),
    ("fidelity", "ganbench_plugins.fidelity"),
    ("csv_logger", "ganbench_plugins.csv_logger"),
    ("augment", "ganbench_plugins.augment"),
    ("tensorboard", "ganbench_plugins.tensorboard_logger"),
)

KINDS = ("models", "losses", "datasets", "metrics", "optimizers", "augments")


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def get_plugin_manager(load_entrypoints: bool | None = None,
                       block: Iterable[str] = (), builtins: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager: built-ins first, then the ``ganbench`` entry points."""
    pm = pluggy.PluginManager("ganbench")
    pm.add_hookspecs(hookspecs)
    for name in [*block, *_env_list("GANBENCH_BLOCK_PLUGINS")]:
        pm.set_blocked(name)
    if builtins:
        for name, module in BUILTIN_PLUGINS:
            if not pm.is_blocked(name):
                try:
                    pm.register(importlib.import_module(module), name=name)
                except ImportError as exc:
                    raise GanbenchError(f"built-in plugin {name} ({module}) failed to import: {exc}",
                                        hint="reinstall ganbench: pip install -e .") from exc
    if load_entrypoints is None:
        load_entrypoints = os.environ.get("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    if load_entrypoints:
        _check_entry_points(pm)
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party plugin: say which
            raise GanbenchError(f"a plugin of entry-point group '{ENTRY_POINT_GROUP}' failed to load: "
                                f"{type(exc).__name__}: {exc}",
                                hint="fix or uninstall it, or block it with GANBENCH_BLOCK_PLUGINS=<name>") from exc
    pm.check_pending()
    return pm


def _check_entry_points(pm: pluggy.PluginManager) -> None:
    """Each third-party entry point imports, and does not take a built-in's name (pluggy would
    skip it unseen); an error names the plugin and its package, and never suggests blocking
    a built-in."""
    builtin = {name for name, _ in BUILTIN_PLUGINS}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        package = dist.metadata["name"] if dist is not None else "an unknown package"
        if pm.is_blocked(ep.name) or package == "ganbench":
            continue
        if ep.name in builtin:
            raise GanbenchError(f"plugin '{ep.name}' of package {package} has the name of a built-in plugin, so it "
                                f"would be skipped", hint=f"rename its entry point in {package}'s pyproject.toml "
                                                          f"([project.entry-points.ganbench]), e.g. '{package}'")
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - any import-time error of a third-party package
            raise GanbenchError(f"plugin '{ep.name}' of package {package} failed to import: "
                                f"{type(exc).__name__}: {exc}",
                                hint=f"reinstall or fix {package}, uninstall it (pip uninstall {package}), or "
                                     f"block it with GANBENCH_BLOCK_PLUGINS={ep.name}") from None


def plugin_packages(pm: pluggy.PluginManager) -> dict[str, str]:
    """plugin name -> distribution name (built-ins registered directly: 'ganbench')."""
    out: dict[str, str] = {}
    for plugin, dist in pm.list_plugin_distinfo():
        name = pm.get_name(plugin)
        if name:
            out[name] = dist.metadata["name"]
    for name, _ in BUILTIN_PLUGINS:
        out.setdefault(name, "ganbench")
    return out


@dataclass
class Plugins:
    """Everything the plugins registered, by kind."""

    pm: pluggy.PluginManager
    models: Registry[ModelSpec]
    losses: Registry[LossSpec]
    datasets: Registry[DatasetSpec]
    metrics: Registry[MetricSpec]
    optimizers: Registry[OptimizerSpec]
    augments: Registry[AugmentSpec]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def registry(self, kind: str) -> Registry[Any]:
        if kind not in KINDS:
            raise GanbenchError(f"unknown kind '{kind}'", hint=f"one of: {', '.join(KINDS)}")
        return getattr(self, kind)


def load_plugins(pm: pluggy.PluginManager | None = None) -> Plugins:
    """Call every registration hook, one plugin at a time, so duplicates name both."""
    pm = pm or get_plugin_manager()
    packages = plugin_packages(pm)
    regs: dict[str, Registry[Any]] = {}
    for kind in KINDS:
        registry: Registry[Any] = Registry(kind.rstrip("s") if kind != "losses" else "loss")
        caller = getattr(pm.hook, f"ganbench_register_{kind}")
        for impl in reversed(caller.get_hookimpls()):  # registration order
            kwargs = {"registry": registry} if "registry" in impl.argnames else {}
            registry._registering(impl.plugin_name, packages.get(impl.plugin_name, impl.plugin_name))
            try:
                impl.function(**kwargs)
            except GanbenchError:
                raise
            except Exception as exc:
                raise GanbenchError(f"plugin {impl.plugin_name} raised while registering {kind}: "
                                    f"{type(exc).__name__}: {exc}",
                                    hint=f"block it with GANBENCH_BLOCK_PLUGINS={impl.plugin_name}") from exc
        regs[kind] = registry
    return Plugins(pm=pm, **regs)
