"""The [train] update options the reports need, as a user relies on them: how often each
optimizer steps (g_steps, the WGAN critic warm-up, separate D updates, the loss-threshold
rule), G's smoothed target, the per-term loss columns and their plot, split "all", run
identity at the defaults, and resume bit-identity with the options on."""
from __future__ import annotations

import csv
import gzip
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganbench import schedule, updates
from ganbench.config import TrainConfig, from_dict, options_help
from ganbench.data import DataCache, cache_dir
from ganbench.errors import GanbenchError
from ganbench.plots import draw_all
from ganbench.runner import run_suite
from ganbench.runspec import config_hash
from ganbench.suite import load_suite
from ganbench.train import Callbacks, Diverged, Trainer, load_checkpoint, save_checkpoint

NEW_KEYS = ("g_steps", "balance", "balance_threshold", "critic_warmup", "d_update", "smooth_g_target")


def suite_text(model: str = "dcgan", metrics: str = "names = []", **train) -> str:
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
                      for k, v in {"steps": 4, "batch_size": 8, "log_every": 2, "checkpoint_every": 0,
                                   "num_final_images": 0, **train}.items())
    return f"""
[suite]
name = "opts"
[matrix]
model = ["{model}"]
dataset = ["digits"]
[train]
{lines}
[models.{model}]
width = 4
[datasets.digits]
limit = 64
[metrics]
{metrics}
"""


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_trainer(plugins, model: str = "dcgan", **train) -> Trainer:
    run = load_suite(plugins, "opts.toml", text=suite_text(model, **train)).runs[0]
    data = DataCache(plugins, cache_dir()).get(run.dataset, run.dataset_options)
    return Trainer(plugins, run, data, torch.device("cpu"))


def record_steps(tr: Trainer) -> list[str]:
    """'D' / 'G' for every optimizer step, in order."""
    order: list[str] = []
    tr.opt_d.register_step_post_hook(lambda *a: order.append("D"))
    tr.opt_g.register_step_post_hook(lambda *a: order.append("G"))
    return order


# -- g_steps ---------------------------------------------------------------------------
def test_g_steps_updates_d_before_every_g_steps_th_g_step_only(plugins):
    tr = make_trainer(plugins, g_steps=2, steps=6)
    order = record_steps(tr)
    tr.fit(Callbacks())
    assert "".join(order) == "DGG" * 3  # D before G steps 0, 2, 4; skipped before 1, 3, 5
    assert tr.state.step == 6  # train.steps counts G steps


@pytest.mark.parametrize("train, words", [
    ({"g_steps": 2, "n_critic": 2}, "n_critic > 1 and g_steps > 1"),
    ({"g_steps": 2, "critic_warmup": "wgan"}, "g_steps > 1 and critic_warmup"),
    ({"balance": "threshold", "n_critic": 5}, "n_critic > 1 and balance"),
    ({"balance": "threshold", "d_update": "separate"}, "decided apart"),
    ({"d_update": "separate", "batch_size": 7}, "is odd"),
])
def test_contradictory_update_options_are_refused_at_validation(train, words):
    with pytest.raises(GanbenchError, match="train") as exc:
        from_dict(TrainConfig, train, "train")
    assert words in str(exc.value)


def test_n_critic_with_the_wgan_warmup_is_one_schedule():
    cfg = from_dict(TrainConfig, {"n_critic": 5, "critic_warmup": "wgan"}, "train")
    assert cfg.n_critic == 5


# -- the WGAN critic warm-up -------------------------------------------------------------------
def test_wgan_warmup_plans_100_critic_steps_for_the_first_25_and_every_500th_g_step():
    cfg = from_dict(TrainConfig, {"n_critic": 5, "critic_warmup": "wgan"}, "train")
    plan = {step: schedule.d_updates_before(cfg, step) for step in range(0, 2001)}
    assert {s for s, k in plan.items() if k == 100} == set(range(25)) | {500, 1000, 1500, 2000}
    assert {k for s, k in plan.items() if k != 100} == {5}
    plain = from_dict(TrainConfig, {"n_critic": 5}, "train")
    assert {schedule.d_updates_before(plain, s) for s in range(1001)} == {5}


def test_the_trainer_follows_the_warmup_at_its_boundaries(plugins):
    tr = make_trainer(plugins, critic_warmup="wgan", n_critic=2, steps=502)
    order = record_steps(tr)
    for start in (24, 499):  # as a resumed run at these G steps
        tr.state.step = start
        tr.train_step()
        tr.train_step()
    counts = [len(run) for run in "".join(order).split("G")[:-1]]
    assert counts == [100, 2, 2, 100]  # before G steps 24, 25, 499, 500


# -- separate D updates ---------------------------------------------------------------------
def test_separate_d_update_steps_d_on_half_a_real_batch_then_half_a_fake_one(plugins):
    tr = make_trainer(plugins, d_update="separate", steps=3)
    order = record_steps(tr)
    seen: list[int] = []
    tr.D.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    tr.fit(Callbacks())
    assert "".join(order) == "DDG" * 3
    assert seen == [4, 4, 8] * 3  # 4 real, 4 fakes, then G's fresh batch of 8
    assert tr.state.images_seen == 3 * 4  # real images D was shown


def test_separate_d_update_logs_the_two_terms_whose_sum_is_loss_d(plugins):
    logs = []
    tr = make_trainer(plugins, d_update="separate", steps=2, log_every=1)
    tr.fit(Callbacks(on_log=lambda step, losses, speed: logs.append(losses)))
    for losses in logs:
        assert losses["loss_d"] == pytest.approx(losses["loss_d_real"] + losses["loss_d_fake"], rel=1e-6)


def test_separate_d_update_refuses_penalties_and_auxiliary_terms(plugins):
    with pytest.raises(GanbenchError, match="penalty gradient-penalty"):
        make_trainer(plugins, "wgan-gp", d_update="separate")
    with pytest.raises(GanbenchError, match="auxiliary term 'aux-ce'"):
        make_trainer(plugins, "acgan", d_update="separate")
    tr = make_trainer(plugins, "wgan", d_update="separate", steps=1)  # clipping runs after each D step
    tr.fit(Callbacks())
    clip = tr.loss_opts["weight-clipping"].clip
    assert all(float(p.detach().abs().max()) <= clip for p in tr.D.parameters())


# -- the loss-threshold rule --------------------------------------------------------------
def test_threshold_rule_as_stated():
    assert schedule.update_d(0.7, 0.5) and not schedule.update_d(0.5, 0.5)
    assert schedule.update_g(0.7, 0.5, d_updated=True)
    assert not schedule.update_g(0.4, 0.5, d_updated=True)
    assert schedule.update_g(0.4, 0.5, d_updated=False)  # never an iteration without an update


@pytest.mark.parametrize("threshold, d_steps", [(1e9, 0), (-1e9, 5)])
def test_threshold_extremes_update_only_g_or_both(plugins, threshold, d_steps):
    tr = make_trainer(plugins, balance="threshold", balance_threshold=threshold, steps=5, log_every=5)
    order = record_steps(tr)
    logs = []
    tr.fit(Callbacks(on_log=lambda step, losses, speed: logs.append(losses)))
    assert order.count("G") == 5 and order.count("D") == d_steps
    if d_steps == 0:  # D never updated: its columns are NaN by design, and that is not divergence
        assert math.isnan(logs[0]["loss_d"]) and logs[0]["d_updates"] == 0
    else:
        assert logs[0]["d_updates"] == 1


def test_iterations_without_a_g_step_do_not_count_toward_steps(plugins, monkeypatch):
    answers = iter([False, False, False] + [True] * 10)
    monkeypatch.setattr(updates, "update_g", lambda loss, thr, d_updated: next(answers))
    tr = make_trainer(plugins, balance="threshold", balance_threshold=-1e9, steps=2)
    order = record_steps(tr)
    tr.train_step()
    assert "".join(order) == "DDDDG" and tr.state.step == 1  # three D-only iterations, then one with G


def test_a_d_that_trains_alone_without_end_stops_the_run(plugins, monkeypatch):
    monkeypatch.setattr(updates, "update_g", lambda loss, thr, d_updated: False)
    monkeypatch.setattr(updates, "MAX_D_ONLY_ITERATIONS", 3)
    tr = make_trainer(plugins, balance="threshold", balance_threshold=-1e9)
    with pytest.raises(Diverged, match="D was updated alone for 3 iterations"):
        tr.train_step()


# -- G's smoothed target ---------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["bce", "lsgan"])
def test_smooth_g_target_moves_gs_target_to_one_minus_label_smoothing(plugins, loss):
    tr = make_trainer(plugins, loss=loss, label_smoothing=0.1, smooth_g_target=True)
    tr.d_step(keep_graph=True)
    fake, y_fake = tr._last[0], tr._last[1]
    with torch.no_grad():
        s = tr.D(fake.detach(), y_fake).float()
    if loss == "bce":  # -0.9 log D(G(z)) - 0.1 log(1 - D(G(z)))
        by_hand = (0.9 * F.softplus(-s) + 0.1 * F.softplus(s)).mean()
        plain = F.softplus(-s).mean()
    else:  # c' = a + (c - a) * 0.9 = 0.9
        by_hand, plain = 0.5 * ((s - 0.9) ** 2).mean(), 0.5 * ((s - 1.0) ** 2).mean()
    got = tr.g_step()
    assert float(got.detach()) == pytest.approx(float(by_hand), rel=1e-5)
    assert abs(float(got.detach()) - float(plain)) > 1e-4


def test_smooth_g_target_is_refused_for_a_g_loss_without_target(plugins):
    with pytest.raises(GanbenchError, match="smooth_g_target has no meaning for the 'minimax' loss"):
        make_trainer(plugins, loss="minimax", label_smoothing=0.1, smooth_g_target=True)


# -- per-term losses: losses.csv and the loss plot ----------------------------------------------
def test_losses_csv_has_per_term_columns_and_the_plot_draws_them(plugins, tmp_path):
    suite = load_suite(plugins, "opts.toml", text=suite_text("wgan-gp", steps=4))
    run_suite(plugins, suite, tmp_path)
    run_dir = tmp_path / "opts" / suite.runs[0].run_id
    with open(run_dir / "losses.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    assert header[:6] == ["step", "loss_d", "loss_g", "d_real", "d_fake", "img_per_s"]  # kept, in place
    assert {"loss_d_real", "loss_d_fake", "penalty_gradient-penalty", "d_updates"} <= set(header)
    for row in rows:
        values = {k: float(v) for k, v in row.items()}
        assert all(math.isfinite(v) for v in values.values())
        assert values["loss_d"] == pytest.approx(values["loss_d_real"] + values["loss_d_fake"]
                                                 + values["penalty_gradient-penalty"], rel=1e-3, abs=1e-3)
        assert values["d_updates"] == 5  # the wgan-gp recipe's n_critic
    plots = draw_all(tmp_path / "opts", plugins)
    assert any(e.kind == "losses" for e in plots)
    assert (tmp_path / "opts" / "plots" / "losses" / f"{suite.runs[0].run_id}.png").stat().st_size > 0


def test_an_interval_without_a_d_update_writes_empty_cells(plugins, tmp_path):
    suite = load_suite(plugins, "opts.toml", text=suite_text(g_steps=4, steps=4, log_every=1))
    run_suite(plugins, suite, tmp_path)
    run_dir = tmp_path / "opts" / suite.runs[0].run_id
    with open(run_dir / "losses.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["loss_d"] != "" for r in rows] == [True, False, False, False]  # D only before G step 0
    assert all(r["loss_g"] != "" for r in rows)
    assert draw_all(tmp_path / "opts", plugins)


# -- options, identity and resume ---------------------------------------------------------------
def test_every_new_option_is_listed_with_help_and_default():
    listed = {o["name"]: o for o in options_help(TrainConfig)}
    for key in NEW_KEYS:
        assert listed[key]["help"], key
    assert listed["g_steps"]["bounds"] == "≥ 1 and ≤ 1000" and "G steps" in listed["steps"]["help"]
    assert listed["critic_warmup"]["type"] == "'none' | 'wgan'" and listed["d_update"]["default"] == "joint"


def test_new_options_at_their_defaults_keep_run_ids(plugins):
    run = load_suite(plugins, "opts.toml", text=suite_text()).runs[0]
    old = {**run.resolved, "train": {k: v for k, v in run.resolved["train"].items() if k not in NEW_KEYS}}
    assert config_hash(run.resolved) == config_hash(old)  # a config written before the options existed
    other = load_suite(plugins, "opts.toml", text=suite_text(g_steps=2)).runs[0]
    assert other.run_id != run.run_id


def comparable(logs: list) -> list:
    """Logs with NaN (a network not updated in the interval) as None, so that equal logs compare equal."""
    return [(step, {k: None if math.isnan(v) else v for k, v in losses.items()}) for step, losses in logs]


@pytest.mark.parametrize("train", [
    {"g_steps": 3},
    {"d_update": "separate", "smooth_g_target": True, "label_smoothing": 0.1},
    {"balance": "threshold", "balance_threshold": 1.0},
    {"critic_warmup": "wgan", "steps": 3},
])
def test_resume_is_bit_identical_with_the_options_on(plugins, tmp_path, train):
    train = {"steps": 8, "log_every": 4, **train}
    logs_ref: list = []
    ref = make_trainer(plugins, **train)
    ref.fit(Callbacks(on_log=lambda step, losses, speed: logs_ref.append((step, losses))))

    saved = {}
    first = make_trainer(plugins, **train)
    stop_at = train["steps"] // 2 + 1  # mid log interval: the partial sums travel too
    with pytest.raises(KeyboardInterrupt):
        first.fit(Callbacks(on_checkpoint=lambda step, state: saved.update(state=state)),
                  should_stop=lambda: first.state.step == stop_at)
    save_checkpoint(tmp_path / "checkpoint.pt", saved["state"])
    logs: list = []
    resumed = make_trainer(plugins, **train)
    resumed.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt"))
    resumed.fit(Callbacks(on_log=lambda step, losses, speed: logs.append((step, losses))))

    assert comparable(logs) == comparable([entry for entry in logs_ref if entry[0] > stop_at])
    for a, b in zip([*ref.G.state_dict().values(), *ref.D.state_dict().values()],
                    [*resumed.G.state_dict().values(), *resumed.D.state_dict().values()]):
        assert torch.equal(a, b)


# -- split "all" ----------------------------------------------------------------------------
@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GANBENCH_OFFLINE", "1")
    return tmp_path / "data"


def load_set(plugins, name: str, **options):
    spec = plugins.datasets.get(name)
    return spec.load(from_dict(spec.options, options, f"datasets.{name}"), str(cache_dir()))


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_split_all_is_train_then_test_for_idx_sets(plugins, data_home):
    folder = data_home / "mnist"
    folder.mkdir(parents=True)
    for prefix, count, value in (("train", 12, 10), ("t10k", 5, 200)):
        labels = np.arange(count) % 10
        write_idx(folder / f"{prefix}-images-idx3-ubyte", np.full((count, 28, 28), value, np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    train, test, both = (load_set(plugins, "mnist", split=s) for s in ("train", "test", "all"))
    assert len(both.images) == len(train.images) + len(test.images) == 17
    assert torch.equal(both.images, torch.cat([train.images, test.images]))
    assert torch.equal(both.labels, torch.cat([train.labels, test.labels]))
    assert len({both.fingerprint, train.fingerprint, test.fingerprint}) == 3
    assert len(load_set(plugins, "mnist", split="all", classes=[3]).images) == 2  # class 3 in each split


def test_split_all_is_train_then_test_for_cifar10(plugins, data_home):
    folder = data_home / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = np.full((3, 3072), 40 * b, np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"labels": [b, b, b], "data": data}, f, protocol=2)
    train, test, both = (load_set(plugins, "cifar10", split=s) for s in ("train", "test", "all"))
    assert len(both.images) == len(train.images) + len(test.images) == 18
    assert torch.equal(both.images, torch.cat([train.images, test.images]))
    assert both.fingerprint not in (train.fingerprint, test.fingerprint)


def test_split_all_for_an_image_folder_and_where_there_is_no_test_split(plugins, data_home):
    root = data_home / "imagefolder"
    for split, count in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (8, 8), (10 * i, 50 if split == "train" else 150, 0)).save(
                    root / split / cls / f"{i}.png")
    train, test, both = (load_set(plugins, "imagefolder", split=s) for s in ("train", "test", "all"))
    assert len(both.images) == len(train.images) + len(test.images) == 10
    assert torch.equal(both.images, torch.cat([train.images, test.images]))
    spec = plugins.datasets.get("imagefolder")
    lone = data_home / "lone"
    (lone / "train" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(lone / "train" / "cat" / "0.png")
    problem = spec.check(from_dict(spec.options, {"root": str(lone), "split": "all"}, "datasets.imagefolder"))
    assert problem and "test" in problem and "does not exist" in problem
    with pytest.raises(GanbenchError, match="'all' is train \\+ test, and digits has no test split"):
        from_dict(plugins.datasets.get("digits").options, {"split": "all"}, "datasets.digits")


@pytest.mark.parametrize("train, steps", [({}, 1000), ({"n_critic": 5}, 1000), ({"g_steps": 3}, 1000),
                                          ({"critic_warmup": "wgan", "n_critic": 5}, 2001),
                                          ({"critic_warmup": "wgan", "n_critic": 5}, 10)])
def test_the_estimates_d_updates_per_g_step_follow_the_schedule(train, steps):
    """The time estimate's count of D updates equals the schedule's own, step by step."""
    from ganbench.config import TrainConfig
    from ganbench.schedule import d_updates_before, mean_d_updates

    cfg = TrainConfig(steps=steps, **train)
    assert mean_d_updates(cfg) == pytest.approx(sum(d_updates_before(cfg, s) for s in range(steps)) / steps)
