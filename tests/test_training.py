"""Training learns: the quickstart DCGAN beats its own untrained generator."""
from __future__ import annotations

import pytest
import torch

from ganbench.data import DataCache
from ganbench.metrics import EVAL_SEED_OFFSET, eval_context, evaluate
from ganbench.runner import run_suite
from ganbench.suite import load_suite
from ganbench.train import Trainer


def score_of_untrained(plugins, run, cache_dir) -> dict[str, float]:
    data = DataCache(plugins, cache_dir)
    real = data.get(run.dataset, run.dataset_options)
    trainer = Trainer(plugins, run, real, torch.device("cpu"))
    ctx = eval_context(data, run.dataset, run.dataset_options, run.metrics,
                       trainer.sampler(250, seed=run.train.seed + EVAL_SEED_OFFSET), trainer.device,
                       run.metrics.num_samples)
    return evaluate(plugins, run.metrics, run.metric_options, ctx)[0]


@pytest.mark.slow
def test_quickstart_dcgan_improves_over_untrained(tmp_path, plugins, root, _session_cache):
    suite = load_suite(plugins, root / "suites" / "quickstart.toml",
                       sets=["matrix.latent_dim=[16]", "matrix.seed=[0]", "train.steps=300",
                             "metrics.num_samples=500"])
    run = suite.runs[0]
    before = score_of_untrained(plugins, run, _session_cache)
    result = run_suite(plugins, suite, tmp_path)
    assert result.states[run.run_id] == "done"
    from ganbench.results import read_jsonl
    after = [e for e in read_jsonl(tmp_path / "quickstart" / run.run_id / "evals.jsonl") if e["final"]][0]["scores"]
    # the untrained G draws noise: far from digits in the classifier's feature space
    assert after["fd_classifier"] < 0.5 * before["fd_classifier"], (before, after)
    assert after["mode_coverage"] >= 0.8
