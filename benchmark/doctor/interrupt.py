"""Section 3, second half: a Ctrl-C and a resume, the way a user meets them.

`ganbench run` runs in a subprocess with the process executor (on a GPU: its workers packed on
it) in a session of its own; once every run has a checkpoint, SIGINT goes to the whole
process group, as a terminal's Ctrl-C does. The driver must stop with status 130 and every
run must say "interrupted" with its checkpoint; the suite run again (in this process, under the
same executor) must finish every run, each resumed from the step it was stopped at.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..executors import get_executor
from ..results import get_status, read_json
from ..runner import run_suite
from .harness import Context, event_logger
from .packing import dcgan_suite, steps_for
from .records import Check, judge

S = "3"
#: seconds to wait for every run's first checkpoint, and for the driver to stop
START_TIMEOUT, STOP_TIMEOUT = 240, 120


def _command(ctx: Context, suite_path: Path, results: Path) -> list[str]:
    cfg = ctx.cfg
    argv = [sys.executable, "-m", "ganbench.cli", "run", str(suite_path), "--results", str(results),
            "--executor", "process", "--workers", str(cfg.pack_workers)]
    return argv + (["--gpus-per-run", f"{cfg.gpus_per_run:g}"] if cfg.gpus_per_run else [])


def _tail(path: Path, lines: int = 6) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())[:600]


def _stop(proc: "subprocess.Popen[Any]") -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def section_interrupt(ctx: Context) -> list[Check]:
    cfg = ctx.cfg
    steps = steps_for(ctx, cfg.interrupt_seconds)
    every = max(1, steps // 20)
    suite = dcgan_suite(ctx, "doctor-ctrl-c", steps, cfg.pack_runs, {"names": []}, checkpoint_every=every,
                        log_every=every)
    results = ctx.work / "ctrl-c"
    dirs = [results / suite.name / r.run_id for r in suite.runs]
    argv = _command(ctx, suite.path, results)
    log_path = ctx.work / "ctrl-c.log"
    ctx.log(f"  `ganbench run` with {cfg.pack_workers} workers, {len(dirs)} runs x {steps} G steps "
            f"(checkpoint every {every}); SIGINT once every run has a checkpoint")
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            t0 = time.perf_counter()
            while not all((d / "checkpoint.pt").exists() for d in dirs):
                if proc.poll() is not None or time.perf_counter() - t0 > START_TIMEOUT:
                    break
                time.sleep(0.1)
            ready = all((d / "checkpoint.pt").exists() for d in dirs) and proc.poll() is None
            waited = time.perf_counter() - t0
            if ready:
                os.killpg(proc.pid, signal.SIGINT)
            t1 = time.perf_counter()
            try:
                rc = proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            stop_s = time.perf_counter() - t1
        finally:
            _stop(proc)
    statuses = [get_status(d) for d in dirs]
    stopped_at = [int(s.get("step") or 0) for s in statuses]
    interrupted = all(s.get("state") == "interrupted" for s in statuses)
    figures = {"returncode": rc, "runs": len(dirs), "steps": steps, "seconds_to_checkpoints": waited,
               "seconds_to_stop": stop_s, "stopped_at_step": stopped_at,
               "lock_left": (results / suite.name / ".lock").exists()}
    ok = (ready and rc == 130 and interrupted and all(0 < s < steps for s in stopped_at)
          and all((d / "checkpoint.pt").exists() for d in dirs) and not figures["lock_left"])
    why = "" if ready else f"not every run had a checkpoint before the driver ended or {START_TIMEOUT} s passed; "
    checks = [judge(S, "executor/ctrl-c", ok,
                    "SIGINT to the process group: exit status 130, every run 'interrupted' with a checkpoint at a "
                    "step between 0 and the budget, the suite's lock released", figures,
                    f"{why}states {[s.get('state') for s in statuses]}; log: {_tail(log_path)}")]
    if not ready:
        return checks
    ctx.log("  the same suite again (in this process, the same executor): every run must resume")
    t0 = time.perf_counter()
    executor = get_executor("process", workers=cfg.pack_workers, gpus_per_run=cfg.gpus_per_run)
    run_suite(ctx.plugins, suite, results, executor, on_event=event_logger(ctx.log))
    wall = time.perf_counter() - t0
    states = [get_status(d).get("state") for d in dirs]
    throughputs = [read_json(d / "throughput.json", {}) or {} for d in dirs]
    resumed = [t.get("resumed_from") for t in throughputs]
    devices = sorted({str(t.get("device")) for t in throughputs})
    ok = (all(s == "done" for s in states) and resumed == stopped_at
          and all(d.startswith(ctx.device.type) for d in devices))
    checks.append(judge(S, "executor/resume", ok,
                        f"the suite run again under the process executor: every run done on {ctx.device.type}, "
                        "each resumed_from the step it was stopped at",
                        {"wall_s": wall, "states": states, "resumed_from": resumed, "devices": devices},
                        "; ".join(f"{d.name}: {get_status(d).get('error')}" for d in dirs
                                  if get_status(d).get("state") != "done")))
    return checks
