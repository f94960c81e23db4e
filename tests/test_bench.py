"""`ganbench bench`: the measurement machinery, and `ganbench bench --quick` end to end.

Speed is never asserted (timings depend on the machine and its load): the end-to-end test
checks that the JSON has every part and that every ratio is a finite positive number.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from ganbench import bench


def test_interleave_rotates_the_order():
    calls: list[str] = []

    def variant(name: str):
        def go() -> float:
            calls.append(name)
            return float(len(calls))
        return go

    out = bench.interleave({"a": variant("a"), "b": variant("b"), "c": variant("c")}, repeats=4)
    assert calls == list("abc" "bca" "cab" "abc")
    assert {k: len(v) for k, v in out.items()} == {"a": 4, "b": 4, "c": 4}


def test_ratio_is_the_median_of_per_repeat_ratios():
    samples = {"ours": [10.0, 20.0, 30.0, 8.0, 12.0], "base": [5.0, 10.0, 10.0, 8.0, 6.0]}
    assert bench.ratio(samples, "ours", "base") == 2.0  # ratios 2, 2, 3, 1, 2


def test_calibrate_bounds_the_steps():
    cfg = bench.BenchConfig(repeat_seconds=1.0, max_steps=50)
    assert bench.calibrate(lambda: None, cfg) == 50
    assert bench.calibrate(lambda: __import__("time").sleep(0.02), bench.BenchConfig(repeat_seconds=0.01)) == 1


def test_quick_config_is_narrow():
    cfg = bench.BenchConfig.make(True)
    assert cfg.quick and cfg.widths(64) == [("narrow", bench.NARROW_WIDTH)] and cfg.repeats >= 5
    assert bench.BenchConfig.make(False).widths(64) == [("full", 64), ("narrow", bench.NARROW_WIDTH)]
    assert bench.BenchConfig.make(False).eval_samples == 1000  # the evaluation case


def test_bench_rejects_a_bad_sample_count(capsys):
    from ganbench import cli
    assert cli.main(["bench", "--only", "eval", "--eval-samples", "-5"]) == 2
    assert "--eval-samples must be ≥ 1, found -5" in capsys.readouterr().err


def test_dataloader_baseline_gives_the_same_images(plugins):
    """The torchvision-style baseline sees the data the Trainer sees, in [-1, 1]."""
    import torch

    run = bench.make_run(plugins, "dcgan", 8, batch_size=8, resolution=16)
    data = bench.load_data(plugins, run)
    loop = bench.PlainLoop(plugins, run, data, "dataloader")
    x = loop.loader.dataset[3]
    want = data.images[3].float() / 127.5 - 1
    assert x.shape == want.shape and torch.allclose(x, want, atol=1e-6)


def test_flops_of_a_double_backward_step(plugins):
    """WGAN-GP's gradient penalty (autograd.grad on a leaf) is counted, not dropped."""
    run = bench.make_run(plugins, "wgan-gp", 8, batch_size=8, resolution=16)
    tr = bench.GanbenchLoop(plugins, run, bench.load_data(plugins, run)).trainer
    flops = bench.step_flops(tr)
    assert flops["flops_per_image"] and flops["flops_per_iteration"] > 0


def test_render_and_ratios_of_a_result():
    from rich.console import Console

    case = bench._case("train/x/w16", "train", {"ganbench": [2.0, 3.0], "plain_tensor": [1.0, 1.0]}, "img/s",
                       width_kind="narrow")
    bench._goal(case, "vs_tensor", bench.ratio(case["samples"], "ganbench", "plain_tensor"), "narrow")
    result = {"device": "cpu", "threads": 2, "quick": True, "matmul_gflops": 100.0, "under_load": True,
              "load_average": {"start": 3.0, "end": 4.0}, "cases": [case],
              "efficiency": {"train/x/w16": {"efficiency": 0.3, "achieved_gflops": 30.0, "goal": None}},
              "skipped": [{"name": "eval", "reason": "why"}]}
    console = Console(record=True, width=140)
    bench.render(result, console)
    text = console.export_text()
    assert "train/x/w16" in text and "2.50x" in text and "UNDER LOAD" in text and "skipped eval" in text
    assert bench.all_ratios(result) == {"train/x/w16:vs_tensor": 2.5}
    md = bench.to_markdown(result)
    assert "| train/x/w16 | tensor | 2.5 | 1 | img/s | 2.50x | ≥ 1.25 ✓ |" in md
    assert "| train/x/w16 | matmul | 30.0 | 100 | GFLOP/s | 30% |  |" in md and "skipped eval: why" in md


def test_a_case_that_raises_is_reported_and_the_others_kept(monkeypatch, plugins):
    """One broken case must not lose a long benchmark's other measurements."""
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bench, "case_suite", broken)
    cfg = bench.BenchConfig.make(True, only=("suite", "sample/dcgan"), repeats=1)
    result = bench.run_bench(cfg, plugins=plugins)
    assert [c["name"] for c in result["cases"]] == ["sample/dcgan/w16"]
    assert {"name": "suite/8-runs/w16", "reason": "FAILED: RuntimeError: boom"} in result["skipped"]


def test_bench_renders_a_saved_result_as_markdown(tmp_path):
    """`ganbench bench --from JSON --markdown FILE`: the README's table without measuring again."""
    saved = tmp_path / "bench.json"
    case = bench._case("suite/8-runs/w16", "suite", {"process_2_workers": [1.0], "sequential": [0.5]}, "runs/s")
    bench._goal(case, "vs_sequential", 2.0)
    saved.write_text(json.dumps({"device": "cpu", "threads": 2, "quick": False, "matmul_gflops": 160.0,
                                 "load_average": {"start": 0.5, "end": 1.0}, "cases": [case], "efficiency": {},
                                 "skipped": []}))
    out = tmp_path / "bench.md"
    proc = subprocess.run([sys.executable, "-m", "ganbench.cli", "bench", "--from", str(saved), "--markdown", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "| suite/8-runs/w16 | sequential | 1 | 0.5 | runs/s | 2.00x | ≥ 1.30 ✓ |" in out.read_text()


@pytest.mark.slow
def test_bench_quick_writes_finite_ratios(tmp_path):
    """`ganbench bench --quick --json FILE`, as CI runs it (a few minutes on 2 cores)."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "GANBENCH_CACHE": os.environ.get("GANBENCH_CACHE", str(tmp_path / "cache"))}
    proc = subprocess.run([sys.executable, "-m", "ganbench.cli", "bench", "--quick", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for key in ("device", "threads", "cpus", "quick", "repeats", "load_average", "under_load", "matmul_gflops",
                "cases", "efficiency", "skipped", "method"):
        assert key in result, key
    assert result["quick"] is True and result["repeats"] >= 5
    assert not [s for s in result["skipped"] if s["reason"].startswith("FAILED")], result["skipped"]
    assert math.isfinite(result["matmul_gflops"]) and result["matmul_gflops"] > 0
    names = {c["name"] for c in result["cases"]}
    assert {f"train/{m}/w16" for m in bench.TRAIN_MODELS} <= names
    assert "sample/dcgan/w16" in names
    assert "suite/8-runs/w16" in names or any(s["name"].startswith("suite") for s in result["skipped"])
    assert any(s["name"].startswith("eval") for s in result["skipped"])  # not in --quick, and says so
    for case in result["cases"]:
        assert case["ratios"], case["name"]
        if case["kind"] != "suite":  # --quick times the 16-run suite case once
            assert case["repeats"] >= 5, case["name"]
        for variant, values in case["samples"].items():
            assert len(values) == case["repeats"], (case["name"], variant)
            assert all(math.isfinite(v) and v > 0 for v in values), (case["name"], variant)
        if case["kind"] == "train":
            assert case["flops_per_image"] > 0 and 0 < case["efficiency"], case["name"]
    ratios = bench.all_ratios(result)
    assert ratios and all(math.isfinite(v) and v > 0 for v in ratios.values()), ratios
    assert all(s["reason"] for s in result["skipped"])
    assert "ratio" in proc.stdout  # the table was printed
