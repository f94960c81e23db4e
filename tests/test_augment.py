"""The augment plugin kind and DiffAugment: differentiable, identity at p = 0, applied to every
image D sees (D's step, G's step, penalties), ADA's p adapts and survives a checkpoint, and
a run's identity changes only when an augmentation is used."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ganbench.config import from_dict
from ganbench.errors import GanbenchError
from ganbench.runspec import config_hash
from ganbench.suite import load_suite
from ganbench_plugins.augment import DiffAugmentOptions, build_diffaugment, cutout, translation

from test_training_options import make_trainer, one_thread, suite_text  # noqa: F401 - the fixture


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 6, c: int = 3, h: int = 8, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(n, c, h, h, generator=gen(1), dtype=dtype) * 2 - 1


def augment(**options):
    return build_diffaugment(from_dict(DiffAugmentOptions, options, "augments.diffaugment"))


def test_p_zero_is_the_identity_fixed_and_adaptive():
    x = images()
    assert augment(p=0.0)(x, gen()) is x
    ada = augment(p=0.0, adaptive=True)
    y = ada(x.clone().requires_grad_(True), gen())
    assert torch.equal(y, x)
    y.sum().backward()  # and its gradient is the identity's too


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ["color", "translation", "cutout"]])
def test_every_policy_is_differentiable(policy):
    """gradcheck in float64 with the same random draws on every call (a fresh generator)."""
    aug = augment(policy=policy)
    x = images(n=3, h=6, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: aug(t, gen(7)), (x,), eps=1e-6, atol=1e-5)
    y = aug(x, gen(7))
    assert y.shape == x.shape and not torch.equal(y, x)


def test_the_same_generator_state_gives_the_same_augmentation():
    x = images()
    aug = augment()
    assert torch.equal(aug(x, gen(3)), aug(x, gen(3)))
    assert not torch.equal(aug(x, gen(3)), aug(x, gen(4)))


def test_translation_shifts_whole_pixels_with_zero_padding():
    o = from_dict(DiffAugmentOptions, {"translation_ratio": 0.25}, "")
    x = torch.arange(1, 65, dtype=torch.float32).reshape(1, 1, 8, 8).repeat(20, 1, 1, 1)
    y = translation(x, gen(5), o)
    for img in y[:, 0]:
        nz = img.nonzero()
        top, left = int(nz[:, 0].min()), int(nz[:, 1].min())
        bottom, right = int(nz[:, 0].max()), int(nz[:, 1].max())
        src_top = int((img[top, left] - 1) // 8)
        src_left = int((img[top, left] - 1) % 8)
        dy, dx = top - src_top, left - src_left
        assert abs(dy) <= 2 and abs(dx) <= 2
        # the visible window is exactly the input moved by (dy, dx), the rest zeros
        want = torch.zeros(8, 8)
        want[max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)] = \
            x[0, 0, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)]
        assert torch.equal(img, want), (dy, dx, bottom, right)


def test_cutout_zeroes_one_square_of_the_given_side_at_most():
    o = from_dict(DiffAugmentOptions, {"cutout_ratio": 0.5}, "")
    x = torch.ones(50, 1, 16, 16)
    y = cutout(x, gen(2), o)
    holes = (y == 0).sum(dim=(1, 2, 3))
    assert holes.max() == 64 and holes.min() > 0  # 8 x 8, clipped at the borders
    rows = (y[:, 0] == 0).any(dim=2).sum(dim=1)
    assert rows.max() <= 8


def test_ada_raises_p_while_d_is_sure_of_the_reals_and_lowers_it_when_not():
    ada = augment(p=0.0, adaptive=True, interval=2, speed_kimg=0.064)  # 64 images move p by 1
    for _ in range(4):
        ada.observe(torch.ones(16))  # r_t = 1 > 0.6: overfitting
    assert float(ada.p) == pytest.approx(1.0)  # two adjustments of 32/64 each
    assert float(ada.rt) == 1.0
    for _ in range(2):
        ada.observe(-torch.ones(16))
    assert float(ada.p) == pytest.approx(0.5)
    again = augment(p=0.0, adaptive=True, interval=2, speed_kimg=0.064)
    again.observe(torch.ones(16))
    ada.load_state_dict(again.state_dict())  # p and the half-finished interval are checkpointed
    assert float(ada.p) == 0.0 and ada.calls == 1
    ada.observe(torch.ones(16))
    assert float(ada.p) == pytest.approx(0.5)


def test_the_trainer_augments_every_image_d_sees_in_d_and_g_steps_and_penalties(plugins, monkeypatch):
    tr = make_trainer(plugins, "wgan-gp", augment="diffaugment", n_critic=1)
    calls: list[tuple[bool, torch.Tensor]] = []  # per augment call: G's graph on the input?, the output
    forward = tr.augment.forward

    def spy(x, g):
        out = forward(x, g)
        calls.append((x.requires_grad, out))
        return out
    monkeypatch.setattr(tr.augment, "forward", spy)
    penalty_inputs = []
    reg = tr.regs[0]
    monkeypatch.setattr(tr, "regs", [replace(reg, penalty=lambda D, real, fake, *a: (
        penalty_inputs.append((real, fake)), reg.penalty(D, real, fake, *a))[1])])
    tr.train_step()
    # D step: the real batch and the detached fake; G step: the fake with G's graph
    assert [g for g, _ in calls] == [False, False, True]
    real, fake = penalty_inputs[0]
    assert real is calls[0][1] and fake is calls[1][1]  # the penalty sees the augmented images


def test_a_diffaugment_run_trains_and_checkpoints_its_p(plugins):
    tr = make_trainer(plugins, augment="diffaugment")
    assert tr.augment is not None
    for _ in range(2):
        tr.train_step()
    sd = tr.state_dict()
    assert sd["augment"]["p"] == 1.0


def test_augment_none_keeps_every_run_id_and_diffaugment_changes_it(plugins):
    plain = load_suite(plugins, "opts.toml", text=suite_text()).runs[0]
    none = load_suite(plugins, "opts.toml", text=suite_text(augment="none")).runs[0]
    aug = load_suite(plugins, "opts.toml", text=suite_text(augment="diffaugment")).runs[0]
    assert plain.run_id == none.run_id
    assert "augments" not in plain.resolved
    assert aug.run_id != plain.run_id
    assert aug.resolved["augments"]["diffaugment"]["policy"] == ["color", "translation", "cutout"]
    other = load_suite(plugins, "opts.toml", text=suite_text(augment="diffaugment")
                       + '[augments.diffaugment]\npolicy = ["translation"]\n').runs[0]
    assert config_hash(other.resolved) != config_hash(aug.resolved)


def test_augment_is_a_matrix_axis(plugins):
    text = suite_text().replace('dataset = ["digits"]', 'dataset = ["digits"]\naugment = ["none", "diffaugment"]')
    runs = load_suite(plugins, "opts.toml", text=text).runs
    assert [r.coords["augment"] for r in runs] == ["none", "diffaugment"]
    assert [r.train.augment for r in runs] == ["none", "diffaugment"]


@pytest.mark.parametrize("extra, words", [
    ('', ["unknown augment 'difaugment'", "did you mean 'diffaugment'"]),
    ('[augments.diffaugment]\npolicy = ["zoom"]\n', ["policy", "zoom", "color, translation, cutout"]),
    ('[augments.diffaugment]\np = 2.0\n', ["augments.diffaugment.p"]),
])
def test_bad_augment_settings_say_what_and_where(plugins, extra, words):
    name = "difaugment" if not extra else "diffaugment"
    with pytest.raises(GanbenchError) as exc:
        load_suite(plugins, "opts.toml", text=suite_text(augment=name) + extra)
    text = str(exc.value)
    for w in words:
        assert w in text, text


def test_a_set_of_an_unused_augment_table_is_refused(plugins):
    from ganbench.suite_checks import check_sets_used
    runs = load_suite(plugins, "opts.toml", text=suite_text()).runs
    with pytest.raises(GanbenchError, match="no run of this suite uses augment 'diffaugment'"):
        check_sets_used({"augments": {"diffaugment": {"p": 0.5}}}, runs)


def test_an_adaptive_run_logs_p_and_resumes_it_from_the_checkpoint(plugins, tmp_path):
    import csv

    from ganbench.runner import run_suite
    table = "[augments.diffaugment]\nadaptive = true\np = 0.0\ninterval = 1\nspeed_kimg = 0.5\n"
    text = suite_text(augment="diffaugment", steps=4, checkpoint_every=2) + table
    run_suite(plugins, load_suite(plugins, "opts.toml", text=text), tmp_path)
    run = load_suite(plugins, "opts.toml", text=text).runs[0]
    rows = list(csv.DictReader(open(tmp_path / "opts" / run.run_id / "losses.csv")))
    ps = [float(r["augment_p"]) for r in rows]
    # D is sure of the reals from the start (r_t = 1 > 0.6): +8/500 per D step, 2 per log
    assert ps == pytest.approx([0.032, 0.064])
    # raising the budget continues the run: p goes on from the checkpoint, not from 0
    more = suite_text(augment="diffaugment", steps=6, checkpoint_every=2) + table
    run_suite(plugins, load_suite(plugins, "opts.toml", text=more), tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "opts" / run.run_id / "losses.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    ckpt = torch.load(tmp_path / "opts" / run.run_id / "checkpoint.pt", weights_only=True)
    assert float(ckpt["augment"]["p"]) == pytest.approx(0.096) and ckpt["step"] == 6
    assert float(rows[-1]["augment_p"]) == pytest.approx(0.096)
