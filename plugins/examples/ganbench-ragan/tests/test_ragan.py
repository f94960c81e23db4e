"""The plugin's own tests, written with ganbench's testing fixtures (no install needed:
the plugin module is registered directly into a fresh plugin manager)."""
from __future__ import annotations

import math

import torch

import ganbench_ragan.plugin as ragan
from ganbench.testing import ganbench_suite, register_plugin  # noqa: F401  (pytest fixtures)


def test_loss_matches_the_paper_on_fixed_scores():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    mr, mf = 2.0, -0.5
    d = (-(math.log(s(1 - mf)) + math.log(s(3 - mf))) / 2
         - (math.log(1 - s(-1 - mr)) + math.log(1 - s(0 - mr))) / 2)
    g = (-(math.log(s(-1 - mr)) + math.log(s(0 - mr))) / 2
         - (math.log(1 - s(1 - mf)) + math.log(1 - s(3 - mf))) / 2)
    assert math.isclose(ragan.ragan_d(real, fake, 1.0, None).item(), d, rel_tol=1e-5)
    assert math.isclose(ragan.ragan_g(fake, real, None).item(), g, rel_tol=1e-5)


def test_registers_loss_and_model(register_plugin):
    plugins = register_plugin(ragan)
    assert plugins.losses.get("ragan").needs_real_for_g
    assert plugins.models.get("ragan").recipe["loss"] == "ragan"


def test_trains_in_a_suite(ganbench_suite):
    result = ganbench_suite("""
        [matrix]
        model = ["ragan"]
        dataset = ["digits"]
        [train]
        steps = 5
        batch_size = 16
        [models.ragan]
        width = 4
        [metrics]
        names = []
    """, plugins=[ragan])
    assert [r.state for r in result.runs.values()] == ["done"]
