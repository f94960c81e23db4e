"""throughput.json: what the loop measured over the whole budget (img/s), and what a short
probe after training measured (ms per D step and per G step, generation img/s, FLOPs of one
iteration), because the loop only syncs at log intervals and cannot time a D step apart
from a G step."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import torch

from .flops import step_flops
from .results import read_jsonl
from .runspec import RunSpec
from .train import Trainer, parameter_count


def _eval_seconds(record: dict[str, Any]) -> float:
    return sum(v for v in record.get("seconds", {}).values() if isinstance(v, (int, float)))


def throughput_report(trainer: Trainer, run: RunSpec, evals_path: Path, resumed: int,
                      eval_seconds_this_session: float, generation_img_per_s_eval: Optional[float],
                      peak_memory_mb: float) -> dict[str, Any]:
    """Every figure of throughput.json; the probes train a few extra steps whose updates are
    thrown away, so this runs after the final evaluation. peak_memory_mb is read when
    training ends, before evaluation (Inception) and the probes allocate their own."""
    t, st, device = run.train, trainer.state, trainer.device
    evals = read_jsonl(evals_path)
    final_eval = next((e for e in reversed(evals) if e.get("final")), None)
    out: dict[str, Any] = {
        # measured by the loop over the whole budget (all sessions of a resumed run)
        "train_img_per_s": st.images_seen / st.train_seconds if st.train_seconds else None,
        "g_steps_per_s": st.step / st.train_seconds if st.train_seconds else None,
        "ms_per_iteration": 1000 * st.train_seconds / st.step if st.step else None,
        "train_seconds": st.train_seconds, "images_seen": st.images_seen,
        # every evaluation in evals.jsonl, generation included
        "eval_seconds": sum(_eval_seconds(e) for e in evals),
        "final_eval_seconds": _eval_seconds(final_eval) if final_eval else None,
        "eval_seconds_this_session": eval_seconds_this_session,
        "generation_img_per_s_eval": generation_img_per_s_eval,
    }
    out.update(probe_steps(trainer))
    out["generation_img_per_s"] = probe_generation(trainer, run.metrics.batch_size)
    flops = step_flops(trainer)
    out.update(flops)
    if flops.get("flops_per_image") and out["train_img_per_s"]:
        out["achieved_gflops"] = flops["flops_per_image"] * out["train_img_per_s"] / 1e9
    out.update({
        "peak_memory_mb": peak_memory_mb,
        "peak_memory_kind": "torch.cuda.max_memory_allocated (this run's training)" if device.type == "cuda"
        else "process max RSS (includes earlier runs in the same process)",
        "params_g": parameter_count(trainer.G), "params_d": parameter_count(trainer.D),
        "batch_size": t.batch_size, "n_critic": t.n_critic, "device": str(device),
        "threads": torch.get_num_threads(), "resumed_from": resumed,
    })
    return out


def probe_steps(trainer: Trainer, min_rounds: int = 2, max_rounds: int = 10,
                 budget_s: float = 0.5) -> dict[str, Any]:
    """ms per D step and per G step, timed apart (synchronised on CUDA) over a few extra
    iterations after a warm-up one. Runs at the very end: the updates are discarded."""
    n = trainer.cfg.n_critic
    d_ms: list[float] = []
    g_ms: list[float] = []
    try:
        rounds = 0
        start = time.perf_counter()
        while rounds <= max_rounds:
            trainer.sync()
            t0 = time.perf_counter()
            for i in range(n):
                trainer.d_step(keep_graph=i == n - 1)
            trainer.sync()
            t1 = time.perf_counter()
            trainer.g_step()
            trainer.sync()
            t2 = time.perf_counter()
            if rounds:  # round 0 warms up
                d_ms.append(1000 * (t1 - t0) / n)
                g_ms.append(1000 * (t2 - t1))
            rounds += 1
            if rounds > min_rounds and time.perf_counter() - start > budget_s:
                break
    except Exception as exc:  # timings are informative only
        return {"ms_per_d_step": None, "ms_per_g_step": None,
                "step_timing": f"probe failed: {type(exc).__name__}: {exc}"}
    d_ms.sort()
    g_ms.sort()
    return {"ms_per_d_step": d_ms[len(d_ms) // 2], "ms_per_g_step": g_ms[len(g_ms) // 2],
            "step_timing": f"median of {len(d_ms)} probe iterations after training ({n} D steps + 1 G step "
                           f"each, batch {trainer.cfg.batch_size}); a G step includes D's forward and backward"}


def probe_generation(trainer: Trainer, batch_size: int, budget_s: float = 0.25) -> Optional[float]:
    """Images per second from G in inference mode at the evaluation batch size,
    quantisation included, synchronised on CUDA (one warm-up batch first)."""
    try:
        generate = trainer.sampler(batch_size, seed=0)
        generate(min(batch_size, 64))
        trainer.sync()
        n, t0 = 0, time.perf_counter()
        while n < 4 * batch_size and (n == 0 or time.perf_counter() - t0 < budget_s):
            generate(batch_size)
            trainer.sync()
            n += batch_size
        return n / (time.perf_counter() - t0)
    except Exception:
        return None

