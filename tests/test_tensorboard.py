"""The TensorBoard logger plugin: enabled per run from a suite, it writes losses, scores, sample
grids and hparams that TensorBoard itself reads back; off by default, and not part of the run id."""
from __future__ import annotations

import pytest

from ganbench.errors import GanbenchError
from ganbench.runner import run_suite
from ganbench.suite import load_suite

from test_training_options import one_thread, suite_text  # noqa: F401 - the fixture

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_a_run_with_the_tensorboard_logger_writes_what_tensorboard_reads(plugins, tmp_path):
    text = suite_text(steps=4, loggers=["tensorboard"], sample_every=2, eval_every=2,
                      metrics='names = ["classifier"]\nnum_samples = 64\neval_num_samples = 64')
    suite = load_suite(plugins, "opts.toml", text=text)
    run_suite(plugins, suite, tmp_path)
    run_dir = tmp_path / "opts" / suite.runs[0].run_id
    acc = events(run_dir)
    tags = acc.Tags()
    assert {"losses/loss_d", "losses/loss_g", "losses/img_per_s", "scores/fd_classifier"} <= set(tags["scalars"])
    assert [e.step for e in acc.Scalars("losses/loss_d")] == [2, 4]
    assert [e.step for e in acc.Scalars("scores/fd_classifier")] == [2, 4]
    assert [e.step for e in acc.Images("samples")] == [0, 2, 4]
    assert "config" in str(tags["tensors"])
    hp = EventAccumulator(str(run_dir / "tensorboard"))  # add_hparams writes its summary in the same folder
    hp.Reload()
    plugin_tags = hp.PluginTagToContent("hparams")
    assert plugin_tags, "no hparams summary"
    session = b"".join(plugin_tags.values())
    assert b"final/fd_classifier" in session and b"lr_g" in session


def test_loggers_are_off_by_default_and_not_part_of_the_run_id(plugins, tmp_path):
    plain = load_suite(plugins, "opts.toml", text=suite_text()).runs[0]
    logged = load_suite(plugins, "opts.toml", text=suite_text(loggers=["tensorboard"])).runs[0]
    assert plain.run_id == logged.run_id
    run_suite(plugins, load_suite(plugins, "opts.toml", text=suite_text(steps=2)), tmp_path)
    assert not list(tmp_path.rglob("tensorboard"))


def test_an_unknown_logger_is_refused_with_the_names_there_are(plugins):
    with pytest.raises(GanbenchError) as exc:
        load_suite(plugins, "opts.toml", text=suite_text(loggers=["tensorbord"]))
    assert "train.loggers[0]" in str(exc.value) and "did you mean 'tensorboard'" in str(exc.value)


def test_the_sample_hook_gets_the_grid_in_minus_one_to_one(plugins, tmp_path):
    from ganbench import hookimpl
    got = []

    class Spy:
        @hookimpl
        def ganbench_samples_drawn(self, run, step, images):
            got.append((step, images.shape, float(images.min()), float(images.max())))
    plugins.pm.register(Spy(), name="spy")
    run_suite(plugins, load_suite(plugins, "opts.toml", text=suite_text(steps=2, sample_every=1)), tmp_path)
    assert [s for s, *_ in got] == [0, 1, 2]
    shape = suite_shape = got[0][1]
    assert shape[0] == 64 and shape[1] == 1 and shape[2] == shape[3]  # grid_size images of the digits' shape
    assert all(s == suite_shape and lo >= -1 and hi <= 1 for _, s, lo, hi in got)
