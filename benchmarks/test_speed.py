"""ganbench against the loops people would otherwise write, one pytest-benchmark group per case.

The variants are ganbench.bench's (the code `ganbench bench` times): ``ganbench`` is
Trainer.fit, ``plain_dataloader`` a torchvision-style Dataset + DataLoader loop,
``plain_tensor`` the same plain step on an in-memory tensor. Each round is a fixed number of
G steps (or images, or suite runs); extra_info carries images per round and img/s.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

import pytest
import torch

from ganbench import bench
from ganbench.bench.evaluation import measure_eval
from ganbench.flops import step_flops

ROUNDS, WARMUP_ROUNDS = 5, 1
#: G steps per round (wgan-gp does 5 critic steps per G step); full width is ~35x the cost
STEPS = {("dcgan", "w16"): 8, ("wgan-gp", "w16"): 2, ("sagan", "w16"): 1,
         ("dcgan", "full"): 1, ("wgan-gp", "full"): 1, ("sagan", "full"): 1}
SAMPLES = {"w16": 2000, "full": 500}


def _width(plugins, model: str, width: str) -> int:
    return bench.NARROW_WIDTH if width == "w16" else plugins.models.get(model).options().width


def _need(plugins, model: str) -> None:
    if model not in plugins.models:
        pytest.skip(f"model plugin '{model}' is not registered")


@pytest.fixture(scope="session")
def matmul_gflops() -> float:
    return bench.matmul_gflops()


@pytest.mark.parametrize("variant", ["ganbench", "plain_dataloader", "plain_tensor"])
@pytest.mark.parametrize("width", ["w16", "full"])
@pytest.mark.parametrize("model", list(bench.TRAIN_MODELS))
def test_train(benchmark, plugins, matmul_gflops, model, width, variant):
    _need(plugins, model)
    w = _width(plugins, model, width)
    run = bench.make_run(plugins, model, w)
    data = bench.load_data(plugins, run)
    if variant == "ganbench":
        loop = bench.GanbenchLoop(plugins, run, data)
    else:
        loop = bench.PlainLoop(plugins, run, data, variant.split("_")[1])
    loop.fit(1)
    steps = STEPS[(model, width)]
    benchmark.group = f"train/{model}/{width}"
    benchmark.pedantic(loop.fit, args=(steps,), rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    images = steps * loop.images_per_step
    info = {"width": w, "images_per_round": images, "img_per_s": images / benchmark.stats.stats.median}
    if variant == "ganbench":
        flops = step_flops(loop.trainer).get("flops_per_image")
        if flops:
            achieved = flops * info["img_per_s"]
            info.update(flops_per_image=flops, achieved_gflops=achieved / 1e9,
                        matmul_gflops=matmul_gflops, efficiency=achieved / 1e9 / matmul_gflops)
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("variant", ["ganbench", "plain"])
@pytest.mark.parametrize("width", ["w16", "full"])
@pytest.mark.parametrize("model", ["dcgan", "sagan"])
def test_sample(benchmark, plugins, model, width, variant):
    _need(plugins, model)
    w = _width(plugins, model, width)
    run = bench.make_run(plugins, model, w)
    data = bench.load_data(plugins, run)
    n = SAMPLES[width]
    if variant == "ganbench":
        generate = bench.GanbenchLoop(plugins, run, data).trainer.sampler(run.metrics.batch_size, seed=0)
        fn = lambda: generate(n)  # noqa: E731
    else:
        G, _ = bench.build_models(plugins, run, data)
        fn = lambda: bench.plain_sample(G, n, run.train.latent_dim, 64)  # noqa: E731
    benchmark.group = f"sample/{model}/{width}"
    benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    benchmark.extra_info.update(images_per_round=n, img_per_s=n / benchmark.stats.stats.median)


@pytest.mark.parametrize("executor", ["local", "process"])
def test_suite(benchmark, plugins, executor):
    """8 narrow runs: in-process one after another, or 2 worker processes."""
    from ganbench.executors import get_executor
    from ganbench.errors import GanbenchError
    from ganbench.runner import run_suite
    from ganbench.suite import load_suite

    try:
        get_executor(executor, workers=2)
    except GanbenchError as exc:
        pytest.skip(str(exc))
    root = Path(tempfile.mkdtemp(prefix="ganbench-benchmarks-"))
    text = bench.bench_suite_text("dcgan", bench.NARROW_WIDTH, 64, 20, name="bench-suite", seeds=tuple(range(8)),
                                  resolution=16)
    suite = load_suite(plugins, root / "bench-suite.toml", text=text)
    counter = iter(range(10**6))

    def fresh():
        return (root / f"r{next(counter)}",), {}

    def go(out: Path) -> None:
        threads = torch.get_num_threads()
        try:
            result = run_suite(plugins, suite, out, get_executor(executor, workers=2))
        finally:
            torch.set_num_threads(threads)
        assert all(s == "done" for s in result.states.values()), result.states

    benchmark.group = "suite/8-runs/w16"
    try:
        benchmark.pedantic(go, setup=fresh, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    benchmark.extra_info.update(runs=len(suite.runs), runs_per_s=len(suite.runs) / benchmark.stats.stats.median)


def test_eval_fid_is_kid(benchmark, plugins):
    """The eval case's own interleaved measurement (ganbench vs torch-fidelity direct), once
    per round; the ratio goes to extra_info."""
    pytest.importorskip("torch_fidelity")
    got: dict = {}

    def once() -> None:
        for k, v in measure_eval(plugins, num_samples=100, repeats=1).seconds.items():
            got.setdefault(k, []).extend(v)

    benchmark.group = "eval/fid+is+kid"
    benchmark.pedantic(once, rounds=ROUNDS, warmup_rounds=0)
    benchmark.extra_info.update(seconds=got, time_ratio=statistics.median(
        a / b for a, b in zip(got["ganbench"], got["direct"])))


def test_matmul_peak(benchmark):
    """The 2048² fp32 matmul that training efficiency is measured against."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    benchmark.group = "peak"
    benchmark.pedantic(torch.mm, args=(a, b), rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS)
    benchmark.extra_info["gflops"] = 2 * 2048**3 / benchmark.stats.stats.median / 1e9
