"""`ganbench bench`: ganbench's speed against the loops people would otherwise write.

Every case times ganbench's own code path (Trainer.fit, make_generator, the evaluation, the
executors) against a baseline in plain, idiomatic PyTorch (or torch-fidelity called
directly) on the same model, loss, optimizer, batch and number of steps. Speed ratios > 1
favour ganbench; variants run interleaved and a ratio is the median of per-repeat ratios.

A developer tool, not part of a run: no module of the core imports this package except the
``bench`` command of the command line, and it reaches models, losses and regularizers only
through the plugin registry. Its modules, by job:

- ``config``: the case table (registry names), BenchConfig, the goals;
- ``loops``: the Trainer driven as a run drives it, and the plain PyTorch baselines;
- ``measure``: interleaved timing, calibration, ratios, the matmul peak;
- ``cases``, ``suites``, ``evaluation``: the training/compile/sampling, executor and
  FID+IS+KID cases (``suites`` and ``evaluation`` also back scripts/bench_executors.py and
  scripts/bench_eval.py);
- ``records``: the result as typed records, to and from JSON;
- ``report``: the terminal and markdown tables, ``--json`` and ``--from``;
- ``command``: every case in order, and the command itself.
"""
from __future__ import annotations

from .command import cmd_bench, run_bench
from .config import CASES, NARROW_WIDTH, TRAIN_MODELS, BenchConfig, CaseSpec
from .loops import GanbenchLoop, PlainLoop, bench_suite_text, build_models, load_data, make_run, plain_sample
from .measure import calibrate, interleave, matmul_gflops, ratio
from .records import BenchResult, Case, Efficiency, Skipped
from .report import read_result, render, to_markdown, write_result

__all__ = [
    "CASES", "NARROW_WIDTH", "TRAIN_MODELS", "BenchConfig", "BenchResult", "Case", "CaseSpec", "Efficiency",
    "GanbenchLoop", "PlainLoop", "Skipped", "bench_suite_text", "build_models", "calibrate", "cmd_bench",
    "interleave", "load_data", "make_run", "matmul_gflops", "plain_sample", "ratio", "read_result", "render",
    "run_bench", "to_markdown", "write_result",
]
