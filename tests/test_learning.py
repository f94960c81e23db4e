"""Every model family learns on real data: scikit-learn's digits at 16x16, narrow
networks, a few hundred steps on one CPU thread. The offline classifier's Fréchet
distance (fd_classifier) of the trained generator must beat the same generator
untrained (same seed, same initial weights) by a clear margin.

Settings are the recipes except where stated: widths are narrow (the papers' widths
need a GPU), batch 32 and latent 32 everywhere, and the WGAN family trains at a 10x
learning rate (the papers' 5e-5 and 1e-4 need thousands of G steps; optimizer,
betas, critic steps, clipping and penalty stay the papers'). AC-GAN's D runs without
dropout at this width (8 channels with 50% dropout learn too slowly for a test).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganbench.specs import ModelContext
from ganbench.testing import SuiteRun, fresh_plugins, run_suite_text, score_generator
from ganbench.testing import single_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

#: family -> (steps, [train] extras, [models.<name>] options)
FAMILIES = {
    "gan": (600, "", "width = 128"),
    "dcgan": (300, "", "width = 16"),
    "wgan": (80, "lr_g = 5e-4\nlr_d = 5e-4", "width = 8"),
    "wgan-gp": (80, "lr_g = 1e-3\nlr_d = 1e-3", "width = 8"),
    "lsgan": (200, "", "width = 16"),
    "acgan": (250, "", "width = 8\ndropout = 0.0"),
    "sngan": (150, "", "width = 8"),
    "sagan": (120, "", "width = 4"),
}
MARGIN = 0.5  # trained fd_classifier must be below half the untrained generator's

SUITE = """
[suite]
name = "learn-{model}"
[matrix]
model = ["{model}"]
dataset = ["digits"]
[train]
steps = {steps}
batch_size = 32
latent_dim = 32
sample_every = {steps}
{train}
[models.{model}]
{options}
[datasets.digits]
resolution = 16
[metrics]
names = ["classifier"]
num_samples = 1000
"""


def train(model: str, root: Path, steps: int, train_extra: str = "", options: str = "") -> SuiteRun:
    text = SUITE.format(model=model, steps=steps, train=train_extra, options=options)
    return run_suite_text(text, root, fresh_plugins())


def untrained_score(result: SuiteRun) -> float:
    """The run's own generator before its first step: same seed, same build."""
    run = result.suite.runs[0]
    spec = result.plugins.models.get(run.model)
    torch.manual_seed(run.train.seed)
    ctx = ModelContext((1, 16, 16), run.train.latent_dim, 10 if run.train.conditional else 0, run.model_options)
    G, _ = spec.build(ctx)
    return score_generator(result.plugins, G, "digits", {"resolution": 16}, num_samples=1000,
                           conditional=bool(run.train.conditional))["fd_classifier"]


@pytest.mark.slow
@pytest.mark.parametrize("model", list(FAMILIES))
def test_family_learns_on_digits(model, tmp_path):
    steps, extra, options = FAMILIES[model]
    result = train(model, tmp_path, steps, extra, options)
    run = next(iter(result.runs.values()))
    assert run.state == "done", run.error
    trained = run.scores["fd_classifier"]
    before = untrained_score(result)
    print(f"{model}: fd_classifier {trained:.1f} after {steps} steps, {before:.1f} untrained; {run.scores}")
    assert trained < MARGIN * before, (
        f"{model}: fd_classifier {trained:.1f} after {steps} steps vs {before:.1f} untrained")
    if model == "acgan":
        # G draws the class it is asked for more often than chance (0.1 ± 0.01 on 1,000 samples)
        assert run.scores["class_accuracy"] > 0.15, run.scores
        check_sample_cli(run.dir, tmp_path)


def check_sample_cli(run_dir: Path, tmp_path: Path) -> None:
    """`ganbench sample RUN_DIR --class NAME` on a conditional run (in-process CLI)."""
    from ganbench.cli import main
    out = tmp_path / "three.png"
    assert main(["sample", str(run_dir), "--class", "3", "-n", "16", "-o", str(out)]) == 0
    assert out.exists() and out.stat().st_size > 0
    assert main(["sample", str(run_dir), "--class", "eleven", "-o", str(tmp_path / "x.png")]) == 2


def test_conditional_sagan_trains_and_samples_a_class(tmp_path):
    result = train("sagan", tmp_path, 4, "conditional = true\nlog_every = 2", "width = 2")
    run = next(iter(result.runs.values()))
    assert run.state == "done", run.error
    assert run.config["train"]["conditional"] is True
    assert "class_accuracy" in run.scores
    check_sample_cli(run.dir, tmp_path)
    from ganbench.export import load_generator
    G, spec, classes = load_generator(result.plugins, run.dir)
    assert len(classes) == 10 and not G.training
    assert any(isinstance(m, torch.nn.Embedding) for m in G.modules())  # conditional BN was built


def test_unconditional_run_refuses_a_class(tmp_path):
    from ganbench.cli import main
    result = train("dcgan", tmp_path, 2, "log_every = 1", "width = 2")
    run = next(iter(result.runs.values()))
    assert run.state == "done", run.error
    assert main(["sample", str(run.dir), "--class", "3", "-o", str(tmp_path / "x.png")]) == 2
