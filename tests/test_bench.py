"""`ganbench bench`: the measurement machinery, and `ganbench bench --quick` end to end.

Speed is never asserted (timings depend on the machine and its load): the end-to-end test
checks that the JSON has every part and that every ratio is a finite positive number.
"""
from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench import bench
from ganbench.bench import loops, records, suites
from ganbench.flops import step_flops
from ganbench.testing import single_thread  # noqa: F401  (pytest fixture)

ROOT = Path(__file__).resolve().parents[1]


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
    assert bench.BenchConfig.make(False).eval_samples == 1000  # the evaluation goal's sample count


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
    flops = step_flops(tr)
    assert flops["flops_per_image"] and flops["flops_per_iteration"] > 0


def _result(case: bench.Case, **kw) -> bench.BenchResult:
    base = dict(device="cpu", threads=2, quick=True, matmul_gflops=100.0,
                load_average=records.LoadAverage(3.0, 4.0), cases=[case])
    return bench.BenchResult(**{**base, **kw})


def test_render_and_ratios_of_a_result():
    from rich.console import Console

    case = bench.Case("train/x/w16", "train", "img/s", {"ganbench": [2.0, 3.0], "plain_tensor": [1.0, 1.0]},
                      details={"width_kind": "narrow"})
    case.add_ratio("vs_tensor", bench.ratio(case.samples, "ganbench", "plain_tensor"), "narrow")
    result = _result(case, under_load=True,
                     efficiency={"train/x/w16": bench.Efficiency(0.3, 30.0, None)},
                     skipped=[bench.Skipped("eval", "why")])
    console = Console(record=True, width=140)
    bench.render(result, console)
    text = console.export_text()
    assert "train/x/w16" in text and "2.50x" in text and "UNDER LOAD" in text and "skipped eval" in text
    assert result.all_ratios() == {"train/x/w16:vs_tensor": 2.5}
    md = bench.to_markdown(result)
    assert "| train/x/w16 | tensor | 2.5 | 1 | img/s | 2.50x | ≥ 1.25 ✓ |" in md
    assert "| train/x/w16 | matmul | 30.0 | 100 | GFLOP/s | 30% |  |" in md and "skipped eval: why" in md


def test_a_result_survives_json():
    """What --json writes, --from reads back unchanged (kind-specific facts included)."""
    case = bench.Case("sample/x/w16", "sample", "img/s", {"ganbench": [3.0, 5.0], "plain": [2.0, 2.0]},
                      details={"model": "x", "width": 16, "images": 640})
    case.add_ratio("vs_plain", bench.ratio(case.samples, "ganbench", "plain"))
    result = _result(case, skipped=[bench.Skipped("eval/fid+is+kid", "not in --quick")])
    data = json.loads(json.dumps(result.to_json()))
    assert data["cases"][0]["median"] == {"ganbench": 4.0, "plain": 2.0} and data["cases"][0]["images"] == 640
    assert bench.BenchResult.from_json(data) == result


@pytest.mark.parametrize("path", sorted((ROOT / "results" / "bench").glob("*.json")), ids=lambda p: p.name)
def test_saved_results_still_load(path):
    """Every result in results/bench loads, round-trips exactly, and renders the rows its README shows."""
    data = json.loads(path.read_text())
    result = bench.read_result(path)
    assert result.to_json() == data
    readme = (ROOT / "results" / "bench" / "README.md").read_text()
    rows = [line for line in bench.to_markdown(result).splitlines() if line.startswith("| ") and "| case |" not in line]
    assert rows and all(row in readme for row in rows)


def test_a_result_without_its_parts_is_a_user_error(tmp_path, capsys):
    from ganbench import cli

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"device": "cpu"}))
    assert cli.main(["bench", "--from", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json: a bench result lacks 'load_average'" in err and "ganbench bench --json FILE" in err


def test_a_case_that_raises_is_reported_and_the_others_kept(monkeypatch, plugins):
    """One broken case must not lose a long benchmark's other measurements."""
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(suites, "case_suite", broken)
    cfg = bench.BenchConfig.make(True, only=("suite", "sample/dcgan"), repeats=1)
    result = bench.run_bench(cfg, plugins=plugins)
    assert [c.name for c in result.cases] == ["sample/dcgan/w16"]
    assert bench.Skipped("suite/8-runs/w16", "FAILED: RuntimeError: boom") in result.skipped
    assert bench.Skipped("eval/fid+is+kid", "not in --quick: Inception-v3 runs at ~5 img/s on a 2-core CPU") \
        in result.skipped


def test_an_unregistered_model_is_skipped_with_its_name(plugins):
    cfg = bench.BenchConfig.make(True, models=("no-such-gan",), only=("train",))
    result = bench.run_bench(cfg, plugins=plugins)
    assert result.cases == []
    assert result.skipped[0] == bench.Skipped("train/no-such-gan", "model plugin 'no-such-gan' is not registered")


def test_the_case_table_names_registered_plugins(plugins):
    """Cases name model plugins by registry name; the built-ins provide every one."""
    assert {c.model for c in bench.CASES} <= set(plugins.models.names())
    assert bench.TRAIN_MODELS == ("dcgan", "wgan-gp", "sagan")


def test_plain_gradient_penalty_takes_the_registry_options(plugins):
    """The plain WGAN-GP loop writes the penalty by hand, with the options the suite resolved."""
    run = bench.make_run(plugins, "wgan-gp", 8, batch_size=8, resolution=16)
    loop = bench.PlainLoop(plugins, run, bench.load_data(plugins, run), "tensor")
    (penalty, options), = loop.penalties
    assert penalty is loops.gradient_penalty and (options.weight, options.target) == (10.0, 1.0)


def test_dispatch_gaps_count_from_the_free_slot():
    timings = {"a": {"submitted": 0.0, "started": 1.0, "worker_finished": 5.0},
               "b": {"submitted": 0.0, "started": 2.0, "worker_finished": 6.0},
               "c": {"submitted": 0.0, "started": 5.5, "worker_finished": 9.0}}
    assert suites.dispatch_gaps(timings, slots=2) == [1.0, 2.0, 0.5]


def _imports(path: Path) -> set[str]:
    """Every module (and module.name) a ganbench module imports, relative imports resolved."""
    rel = path.relative_to(ROOT / "benchmark").with_suffix("")
    parts = ["ganbench", *[p for p in rel.parts if p != "__init__"]]
    package = parts if path.name == "__init__.py" else parts[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return out


def test_the_core_does_not_import_the_bench():
    """Only the `bench` command (and `ganbench doctor`, a developer tool beside it) reaches
    ganbench.bench, and the bench reaches no built-in plugin but through the registry (the
    evaluation case measures the fidelity plugin itself)."""
    importers, plugin_imports = [], set()
    for path in sorted((ROOT / "benchmark").rglob("*.py")):
        names = _imports(path)
        if path.parent.name == "bench":
            plugin_imports |= {n for n in names if n.split(".")[0] == "ganbench_plugins"
                               and not n.startswith("ganbench_plugins.fidelity.")}
        elif path.parent.name != "doctor" and any(n == "ganbench.bench" or n.startswith("ganbench.bench.")
                                                  for n in names):
            importers.append(path.name)
    assert importers == ["cli.py"] and plugin_imports == set()


def test_gpu_goals_replace_the_cpu_ones_on_cuda():
    """The CPU goals were set on a 2-core CPU; on a GPU only issue 13's GPU goals apply."""
    from ganbench.bench.config import goal_for

    assert goal_for("train", "train/dcgan/w64", "full", "vs_dataloader", "cpu") == 1.25
    assert goal_for("train", "train/dcgan/w64", "full", "vs_dataloader", "cuda") == 2.0
    assert goal_for("train", "train/dcgan/w64/b256", "full", "vs_dataloader", "cuda:1") is None
    assert goal_for("sample", "sample/dcgan/w64", "any", "vs_plain", "cuda") is None


@pytest.mark.usefixtures("single_thread")
def test_batch_sizes_name_the_train_cases(plugins):
    """--batch: one train case per batch size; the default batch (64) keeps the old case name."""
    from ganbench.bench.config import batch_suffix

    assert (batch_suffix(64), batch_suffix(0), batch_suffix(256)) == ("", "", "/b256")
    cfg = bench.BenchConfig.make(True, only=("train/dcgan",), models=("dcgan",), batch_sizes=(4, 8), repeats=1,
                                 repeat_seconds=0.01, max_steps=1, warmup_steps=1)
    assert cfg.device == "cpu" and cfg.train_batches() == (4, 8)
    result = bench.run_bench(cfg, plugins=plugins)
    assert [c.name for c in result.cases] == ["train/dcgan/w16/b4", "train/dcgan/w16/b8"], result.skipped
    assert [c.details["batch_size"] for c in result.cases] == [4, 8]
    assert result.device == "cpu"


def test_full_width_only(plugins):
    cfg = bench.BenchConfig.make(False, width_kinds=("full",))
    assert cfg.widths(64) == [("full", 64)]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_bench_refuses_cuda_without_a_gpu(capsys):
    from ganbench import cli
    assert cli.main(["bench", "--device", "cuda", "--only", "sample"]) == 2
    assert "--device cuda but CUDA is not available" in capsys.readouterr().err
    assert cli.main(["bench", "--device", "tpu", "--only", "sample"]) == 2
    assert cli.main(["bench", "--batch", "0", "--only", "sample", "--device", "cpu"]) == 2


@pytest.mark.usefixtures("single_thread")
def test_plain_loops_take_a_device(plugins):
    """The plain baselines put G, D, data and z on the device they are given."""
    run = bench.make_run(plugins, "dcgan", 4, batch_size=4, resolution=16, device="cpu")
    data = bench.load_data(plugins, run)
    loop = bench.PlainLoop(plugins, run, data, "tensor", device="cpu")
    assert loop.data.device.type == "cpu" and next(loop.G.parameters()).device.type == "cpu"
    assert loop.fit(1) > 0
    images = bench.plain_sample(loop.G, 5, run.train.latent_dim, 4, "cpu")
    assert images.shape[0] == 5 and images.dtype.is_floating_point is False


def test_bench_renders_a_saved_result_as_markdown(tmp_path):
    """`ganbench bench --from JSON --markdown FILE`: the README's table without measuring again."""
    saved = tmp_path / "bench.json"
    case = bench.Case("suite/8-runs/w16", "suite", "runs/s", {"process_2_workers": [1.0], "sequential": [0.5]})
    case.add_ratio("vs_sequential", 2.0)
    saved.write_text(json.dumps(_result(case, quick=False, matmul_gflops=160.0,
                                        load_average=records.LoadAverage(0.5, 1.0)).to_json()))
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
    ratios = bench.BenchResult.from_json(result).all_ratios()
    assert ratios and all(math.isfinite(v) and v > 0 for v in ratios.values()), ratios
    assert all(s["reason"] for s in result["skipped"])
    assert "ratio" in proc.stdout  # the table was printed
