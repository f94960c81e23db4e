"""The plugin system: registries, entry points, blocking, hooks documented."""
from __future__ import annotations

import inspect

import pytest

from ganbench import hookimpl, hookspecs
from ganbench.errors import GanbenchError
from ganbench.plugins import BUILTIN_PLUGINS, get_plugin_manager, load_plugins
from ganbench.registry import Registry
from ganbench.specs import OptimizerSpec


def _spec(name: str) -> OptimizerSpec:
    return OptimizerSpec(name, f"{name} optimizer", build=lambda *a, **k: None)


def test_registry_rejects_duplicates_naming_both_plugins():
    reg: Registry[OptimizerSpec] = Registry("optimizer")
    reg._registering("plugin_a", "ganbench-a").add(_spec("adam"))
    with pytest.raises(GanbenchError) as exc:
        reg._registering("plugin_b", "ganbench-b").add(_spec("adam"))
    msg = str(exc.value)
    assert "ganbench-a" in msg and "ganbench-b" in msg and "'adam'" in msg


def test_unknown_name_suggests_and_lists():
    reg: Registry[OptimizerSpec] = Registry("optimizer")
    for n in ("adam", "sgd", "rmsprop"):
        reg.add(_spec(n))
    with pytest.raises(GanbenchError) as exc:
        reg.get("adma")
    msg = str(exc.value)
    assert "did you mean 'adam'" in msg and "known: adam, rmsprop, sgd" in msg


def test_two_plugins_registering_one_model_is_an_error():
    class Dup:
        @staticmethod
        @hookimpl
        def ganbench_register_optimizers(registry):
            registry.add(_spec("adam"))

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Dup(), name="dup_plugin")
    with pytest.raises(GanbenchError) as exc:
        load_plugins(pm)
    assert "dup_plugin" in str(exc.value) and "optimizers" in str(exc.value)


def test_plugin_that_raises_while_registering_is_named():
    class Broken:
        @staticmethod
        @hookimpl
        def ganbench_register_models(registry):
            raise RuntimeError("boom")

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Broken(), name="broken_plugin")
    with pytest.raises(GanbenchError, match="broken_plugin raised while registering models: RuntimeError: boom"):
        load_plugins(pm)


def test_blocking_a_plugin_removes_its_items(monkeypatch):
    assert "adam" in load_plugins(get_plugin_manager(load_entrypoints=False)).optimizers
    plugins = load_plugins(get_plugin_manager(load_entrypoints=False, block=["optimizers"]))
    assert "adam" not in plugins.optimizers
    monkeypatch.setenv("GANBENCH_BLOCK_PLUGINS", "digits")
    assert "digits" not in load_plugins(get_plugin_manager(load_entrypoints=False)).datasets


def test_entry_points_declare_every_builtin(root):
    """Built-ins register through the same entry-point group a third party uses."""
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="ganbench")}
    for name, module in BUILTIN_PLUGINS:
        assert eps.get(name) == module, f"entry point {name} missing from the installed metadata"


def test_entry_point_loading_finds_builtins_without_the_tuple():
    pm = get_plugin_manager(load_entrypoints=True, builtins=False)
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert {n for n, _ in BUILTIN_PLUGINS} <= names
    plugins = load_plugins(pm)
    assert plugins.models.entry("dcgan").package == "ganbench"


def test_disable_autoload_env(monkeypatch):
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = get_plugin_manager(builtins=False)
    assert pm.get_plugins() == set()


def test_every_hook_is_documented_and_prefixed():
    hooks = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("ganbench_")]
    assert len(hooks) >= 10
    for f in hooks:
        assert f.__doc__ and len(f.__doc__.strip()) > 20, f"{f.__name__} needs a docstring"


def test_lifecycle_hooks_fire_in_a_run(tmp_path, plugins):
    from ganbench.runner import run_suite
    from ganbench.suite import load_suite

    seen: list[tuple] = []

    class Observer:
        @staticmethod
        @hookimpl
        def ganbench_run_started(run):
            seen.append(("started", run.run_id))

        @staticmethod
        @hookimpl
        def ganbench_step_finished(run, step, losses):
            seen.append(("step", step, sorted(losses)))

        @staticmethod
        @hookimpl
        def ganbench_evaluation_finished(run, step, scores, final):
            seen.append(("eval", step, final))

        @staticmethod
        @hookimpl
        def ganbench_run_finished(run, status, error):
            seen.append(("finished", status))

        @staticmethod
        @hookimpl
        def ganbench_leaderboard_columns(rows):
            for row in rows:
                row["extra"]["n_runs"] = len(row["runs"])
            return ["n_runs"]

    plugins.pm.register(Observer(), name="observer")
    suite = load_suite(plugins, "t.toml", text=TINY)
    run_suite(plugins, suite, tmp_path)
    kinds = [s[0] for s in seen]
    assert kinds[0] == "started" and kinds[-1] == "finished" and seen[-1] == ("finished", "done")
    logged = [keys for kind, step, *keys in [s for s in seen if s[0] == "step"] if step == 4]
    assert logged and {"d_fake", "d_real", "img_per_s", "loss_d", "loss_g", "loss_d_real", "loss_d_fake"} <= \
        set(logged[0][0])  # the totals, and D's loss on real and on fake images apart
    assert ("eval", 4, True) in seen
    assert "| n_runs |" in (tmp_path / "tiny" / "leaderboard.md").read_text().replace(" samples |", "")


TINY = """
[suite]
name = "tiny"
[matrix]
model = ["dcgan"]
dataset = ["digits"]
[train]
steps = 4
batch_size = 16
log_every = 2
[models.dcgan]
width = 4
[metrics]
names = ["classifier"]
num_samples = 50
[metrics.classifier]
epochs = 1
"""
