"""`ganbench doctor`: its statistics, its refusals, and `--device cpu --tiny` end to end as CI
runs it (a few minutes on 2 cores), so the GPU acceptance run cannot rot between
the rare days a GPU is at hand.

The end-to-end test asserts what a report must hold, never a speed: the files exist, every
check has a status, in --tiny nothing fails (what needs CUDA says "skipped: needs CUDA"),
and every number in report.json is finite.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from ganbench import cli
from ganbench.doctor.compiling import max_relative_gap
from ganbench.doctor.config import DoctorConfig
from ganbench.doctor.harness import builtin_models, data_choice, suite_text
from ganbench.doctor.records import STATUSES, Check, Report, clean
from ganbench.doctor.report import folder_name, to_markdown
from ganbench.doctor.training import curve_gap
from ganbench.suite import load_suite


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def test_curve_gap_is_relative_to_the_fp32_curve():
    ref = [5.0, 5.0, 1.0, 1.0]  # last half: mean 1, spread 0
    assert curve_gap(ref, [9.0, 9.0, 1.2, 1.4]) == pytest.approx(0.3)
    assert curve_gap([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.05, 0.05]) == pytest.approx(0.5)  # the floor, 0.1
    assert math.isnan(curve_gap([], [1.0]))


def test_amp_curves_are_judged_against_fp32(tmp_path):
    from types import SimpleNamespace

    from ganbench.doctor.harness import RunFolder
    from ganbench.doctor.training import _close_to_fp32

    def folder(precision: str, loss_d: list[float]) -> RunFolder:
        run = SimpleNamespace(model="dcgan", train=SimpleNamespace(precision=precision))
        return RunFolder(run, tmp_path, {"state": "done"}, {}, {"loss_d": loss_d, "loss_g": [1.0] * len(loss_d)})

    ref = folder("fp32", [3.0, 3.0, 1.0, 1.0])
    ok = _close_to_fp32(folder("bf16", [2.0, 2.0, 1.2, 1.2]), ref)
    assert ok.status == "pass" and ok.figures["gap_loss_d"] == pytest.approx(0.2) and ok.name == "amp/dcgan/bf16"
    far = _close_to_fp32(folder("fp16", [1.0, 1.0, 2.0, 2.0]), ref)
    assert far.status == "fail" and far.figures["gap_loss_d"] == pytest.approx(1.0)
    assert _close_to_fp32(folder("fp16", [1.0]), None).status == "fail"


def test_packing_ratios():
    from ganbench.doctor.harness import Packing

    p = Packing(4, 4, 100, sequential_wall_s=40.0, packed_wall_s=20.0, sequential_img_per_s=[100.0, 100.0],
                packed_img_per_s=[80.0, 80.0, 80.0, 80.0])
    assert p.steady_ratio == pytest.approx(3.2) and p.wall_ratio == pytest.approx(2.0)


def test_compile_gap_is_the_worst_step():
    eager = [{"loss_d": 1.0}, {"loss_d": 2.0}]
    assert max_relative_gap(eager, [{"loss_d": 1.0}, {"loss_d": 2.5}], "loss_d") == pytest.approx(0.25)
    assert math.isnan(max_relative_gap(eager, eager[:1], "loss_d"))  # a missing step is no agreement


def test_a_report_keeps_only_finite_numbers():
    report = Report("2026-12-01 10:00:00 UTC", "ganbench doctor", None, "0", "tiny", {"device": "cpu"}, {},
                    [Check("1", "train/x/fp32", "fail", "finite", {"loss": float("nan"), "n": 3, "v": (1.5, float("inf"))},
                           "a logged loss is not finite")])
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["checks"][0]["figures"] == {"loss": "nan", "n": 3, "v": [1.5, "inf"]}
    assert data["counts"] == {"pass": 0, "fail": 1, "skipped": 0}
    assert "| train/x/fp32 | **FAIL** |" in to_markdown(report)
    assert clean(torch.tensor(2.5)) == 2.5
    assert folder_name("2026-12-01 10:00:00 UTC", "NVIDIA H200") == "2026-12-01-nvidia-h200"


def test_sizes_follow_the_device():
    gpu, cpu = DoctorConfig.make("cuda", tiny=False), DoctorConfig.make("cpu", tiny=True)
    assert gpu.precisions == ("fp32", "bf16", "fp16") and cpu.precisions == ("fp32",)
    assert (gpu.pack_workers, gpu.gpus_per_run, gpu.bench_batches) == (4, 0.25, (64, 256))
    assert gpu.width("dcgan") == 0 and cpu.width("dcgan") == 8 and cpu.width("sagan") == 4
    assert (gpu.compile_backend, cpu.compile_backend) == ("inductor", "aot_eager")


def test_doctor_suites_load_as_users_suites(plugins, tmp_path):
    cfg = DoctorConfig.make("cpu", tiny=True, data=str(tmp_path))
    choice = data_choice(cfg)
    assert choice.name == "imagefolder" and choice.options["resolution"] == 16
    models = builtin_models(plugins)
    assert {"dcgan", "wgan-gp", "sagan", "gan", "acgan"} <= set(models)
    text = suite_text("t", {"model": models, "dataset": ["digits"], "precision": ["fp32"]},
                      {"steps": 3, "device": "cpu"}, {"names": ["classifier"]},
                      {"models.wgan-gp": {"width": 4}, "datasets.digits": {"resolution": 16}})
    suite = load_suite(plugins, tmp_path / "t.toml", text=text)
    assert len(suite.runs) == len(models)
    assert next(r for r in suite.runs if r.model == "wgan-gp").model_options.width == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_doctor_refuses_cuda_without_a_gpu_and_a_missing_folder(tmp_path, capsys):
    assert cli.main(["doctor", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert cli.main(["doctor", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "hours on a CPU" in capsys.readouterr().err
    assert cli.main(["doctor", "--device", "cpu", "--tiny", "--data", str(tmp_path / "nope"),
                     "--out", str(tmp_path)]) == 3
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine run the full check instead")
def test_tiny_doctor_on_cpu_writes_a_complete_report(tmp_path: Path):
    rc = cli.main(["doctor", "--device", "cpu", "--tiny", "--out", str(tmp_path / "out"),
                   "--work", str(tmp_path / "work"), "--budget", "3600"])
    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name.endswith("-cpu")
    report = json.loads((folder / "report.json").read_text())
    markdown = (folder / "report.md").read_text()
    assert (folder / "bench.json").exists()
    checks = {c["name"]: c for c in report["checks"]}
    bad = {n: (c["status"], c["reason"]) for n, c in checks.items() if c["status"] not in ("pass", "skipped")}
    assert not bad and rc == 0, bad
    assert all(c["status"] in STATUSES and c["section"] for c in checks.values())
    assert all(c["reason"] for c in checks.values() if c["status"] == "skipped")
    assert all(math.isfinite(v) for v in _numbers(report)), "a number in report.json is not finite"
    assert all(name in markdown for name in checks)
    # every built-in model trained; what runs on a CPU passed, what needs CUDA says so
    for model in ("gan", "dcgan", "wgan", "wgan-gp", "lsgan", "acgan", "sngan", "sagan"):
        assert checks[f"train/{model}/fp32"]["status"] == "pass"
    for name in ("throughput/fields", "executor/packed", "executor/ctrl-c",
                 "executor/resume", "compile/dcgan/trajectory", "compile/wgan-gp/trajectory",
                 "bench/train/dcgan/w16/b16", "bench/sample/dcgan/w16", "bench/matmul"):
        assert checks[name]["status"] == "pass", (name, checks[name])
    for name in ("amp/*/bf16", "penalty/wgan-gp/fp16", "throughput/cuda-peak-memory", "executor/sequential",
                 "goal/packed-runs"):
        assert checks[name]["reason"].startswith("needs CUDA"), checks[name]
    assert checks["compile/dcgan/speed"]["figures"]["backend"].startswith("aot_eager")
    assert all(checks["executor/resume"]["figures"]["resumed_from"])
    assert report["environment"]["torch"] == torch.__version__ and report["command"].startswith("ganbench doctor")
    assert report["mode"] == "tiny" and report["settings"]["device"] == "cpu"
