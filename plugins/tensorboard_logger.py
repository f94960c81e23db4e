"""TensorBoard logs of a run, for people who already read them (report 3 did).

Enabled per run with ``train.loggers = ["tensorboard"]`` (a suite's [train], a variant or
``--set``; it never changes the run id) and ``pip install 'ganbench[tensorboard]'``. Writes
``<run>/tensorboard/``: every loss log (``losses/*``), every evaluation's scores
(``scores/*``), each sample grid (``samples``), the resolved config as text, and at the end
the config's [train] keys and coordinates as hparams beside the final scores, so
TensorBoard's HPARAMS tab compares the runs of a suite:
``tensorboard --logdir results/<suite>``. A resumed run purges the events after its
checkpoint, so a step is never logged twice. Built on torch.utils.tensorboard; it is
imported only when a run enables the logger, so that `ganbench list` stays fast.
"""
from __future__ import annotations

import json
import math
from typing import Any

from ganbench import GanbenchError, hookimpl

NAME = "tensorboard"
_writers: dict[str, Any] = {}  # run folder -> SummaryWriter
_final: dict[str, dict[str, float]] = {}  # run folder -> its final scores


def _enabled(run) -> bool:
    return NAME in (run.config.get("train", {}).get("loggers") or [])


def _writer(run) -> Any:
    key = str(run.dir)
    if key not in _writers and _enabled(run):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise GanbenchError("train.loggers names tensorboard, but the tensorboard package is not installed; "
                                "this run writes no TensorBoard log",
                                hint="pip install 'ganbench[tensorboard]', then rerun the suite") from exc
        _writers[key] = SummaryWriter(log_dir=str(run.dir / "tensorboard"), purge_step=run.resumed_from or None)
    return _writers.get(key)


def hparams(run) -> dict[str, Any]:
    """The run's coordinates and [train] keys as TensorBoard hparams (scalars or strings)."""
    out: dict[str, Any] = {}
    for k, v in {**run.config.get("train", {}), **run.coords}.items():
        if k == "loggers":
            continue
        out[k] = v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
    out["model"], out["dataset"] = run.config.get("model", ""), run.config.get("dataset", "")
    return out


@hookimpl
def ganbench_run_started(run):
    w = _writer(run)
    if w is not None:
        w.add_text("config", "```\n" + json.dumps(run.config, indent=2) + "\n```", run.resumed_from)


@hookimpl
def ganbench_step_finished(run, step, losses):
    w = _writer(run)
    if w is None:
        return
    for k, v in losses.items():
        if math.isfinite(v):  # NaN: D was not updated in the interval (not divergence)
            w.add_scalar(f"losses/{k}", v, step)


@hookimpl
def ganbench_samples_drawn(run, step, images):
    w = _writer(run)
    if w is None:
        return
    from torchvision.utils import make_grid
    w.add_image("samples", make_grid(images, nrow=max(1, round(len(images) ** 0.5)), normalize=True,
                                     value_range=(-1, 1)), step)
    w.flush()


@hookimpl
def ganbench_evaluation_finished(run, step, scores, final):
    w = _writer(run)
    if w is None:
        return
    for k, v in scores.items():
        if isinstance(v, (int, float)) and math.isfinite(v):
            w.add_scalar(f"scores/{k}", v, step)
    if final:
        _final[str(run.dir)] = {k: v for k, v in scores.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    w.flush()


@hookimpl
def ganbench_run_finished(run, status, error):
    w = _writers.pop(str(run.dir), None)
    if w is None:
        return
    scores = _final.pop(str(run.dir), {})
    w.add_hparams({**hparams(run), "status": status}, {f"final/{k}": v for k, v in scores.items()}, run_name=".")
    w.close()
