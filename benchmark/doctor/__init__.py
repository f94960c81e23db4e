"""`ganbench doctor`: one command that proves this machine's every path, CUDA's above all.

It trains every built-in model in fp32 (and on CUDA bf16 and fp16 autocast) through the real
harness, compares torch.compile with eager, packs runs on one device with the process
executor, stops a `ganbench run` with Ctrl-C and resumes it, runs `ganbench bench` on the
device, and checks throughput.json; then it writes report.md and report.json (every figure,
pass/fail/skipped per check) to results/gpu/<date>-<device>/. ``--tiny`` is the same on a CPU
in a few minutes (tests/test_doctor.py runs it in CI).

Like ``ganbench.bench`` it is a developer tool outside the core's import graph: only the
``doctor`` command of the command line imports it. Its modules, by job:

- ``config``: DoctorConfig (the full check and --tiny), the sections, every tolerance;
- ``records``: Check and Report; ``report``: report.md and report.json;
- ``harness``: suites as text, run folders read back, an untrained G scored like a run;
- ``training`` (section 1), ``compiling`` (2), ``packing`` and ``interrupt`` (3),
  ``benching`` (4 and the goals), ``timing`` (5);
- ``command``: every part in order, and the command itself.
"""
from __future__ import annotations

from .command import cmd_doctor, run_doctor
from .config import DoctorConfig
from .records import Check, Report

__all__ = ["Check", "DoctorConfig", "Report", "cmd_doctor", "run_doctor"]
