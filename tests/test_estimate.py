"""The time estimate: measured on this machine, stable between calls, and safe to compute
(the footprint is counted on the meta device, so a huge network is never allocated)."""
from __future__ import annotations

from ganbench.capacity import footprint
from ganbench.estimate import estimate
from ganbench.suite import load_suite

SUITE = """
[matrix]
model = ["dcgan"]
dataset = ["digits"]
latent_dim = [8, 16]
[train]
steps = 50
batch_size = 16
device = "cpu"
threads = 1
[models.dcgan]
width = 8
[datasets.digits]
resolution = 8
[metrics]
names = ["classifier"]
num_samples = 64
"""


def test_estimate_measures_each_configuration_once_and_agrees_with_itself(plugins, tmp_path):
    suite = load_suite(plugins, tmp_path / "s.toml", text=SUITE)
    first = estimate(plugins, suite)
    assert "measured here for 2 of 2" in first["basis"], first["basis"]
    again = estimate(plugins, suite)  # from the cached measurements: the same figure
    assert again["train_seconds"] == first["train_seconds"] > 0
    longer = estimate(plugins, load_suite(plugins, tmp_path / "s.toml",
                                          text=SUITE.replace("steps = 50", "steps = 100")))
    assert abs(longer["train_seconds"] - 2 * first["train_seconds"]) < 1e-9  # steps don't change the step time


def test_footprint_of_a_huge_network_is_counted_without_allocating_it(plugins, tmp_path):
    suite = load_suite(plugins, tmp_path / "s.toml", text=SUITE.replace("width = 8", "width = 5000000"))
    fp = footprint(plugins, suite.runs[0])
    assert fp is not None and fp.params_g > 10**9  # over 4 GB of fp32 weights, never allocated here


def test_the_wgan_warm_up_is_costed_over_the_whole_budget_not_from_its_first_steps(plugins, tmp_path):
    """The probe runs a run's first G steps: under the WGAN warm-up those take 100 critic
    updates each, against 5 later; extrapolating them overstated a 2,000-step WGAN ~9x."""
    text = SUITE.replace('model = ["dcgan"]', 'model = ["wgan"]').replace("latent_dim = [8, 16]", "latent_dim = [8]")
    text = text.replace("[models.dcgan]", "[models.wgan]").replace("steps = 50", "steps = 2000")
    plain = estimate(plugins, load_suite(plugins, tmp_path / "s.toml", text=text))
    warm = estimate(plugins, load_suite(plugins, tmp_path / "s.toml",
                                        text=text.replace("threads = 1", 'threads = 1\ncritic_warmup = "wgan"')))
    # the warm-up adds (25 + 3) x 95 critic updates to 2,000 x 6 updates: ~22% more work
    assert 0.8 < warm["train_seconds"] / plain["train_seconds"] < 2.0, (warm, plain)
