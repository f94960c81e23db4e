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
