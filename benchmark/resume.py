"""What a rerun does with a run folder that already exists.

A run's identity is its training config: the run id's hash leaves out the evaluation
settings and the step budget (runspec.NOT_HASHED). So after a suite edit or a ``--set`` a
finished run is rescored when only its evaluation settings changed, continues from its last
checkpoint when its budget was raised, and is left alone when asked for as it was. A damaged
folder (``damage.py``) is left alone whatever it holds: ganbench never trains over, rewrites
or deletes files it cannot read back.
"""
from __future__ import annotations

import json
from pathlib import Path

from .config import MetricsConfig, to_dict
from .damage import damage_of
from .errors import GanbenchError
from .results import FINISHED, atomic_write_text, get_status, read_json, read_jsonl
from .runspec import RunSpec


def run_action(run: RunSpec, run_dir: Path) -> str:
    """What running ``run`` must do with its folder. A run's identity is its training config
    (the run id's hash leaves out evaluation settings and the step budget), so a finished run
    whose suite now asks for other evaluation settings is rescored ("rescore"), one whose
    budget was raised continues from its last checkpoint ("continue"), and one asked for as
    it was is left alone ("skip"); anything unfinished trains, resuming a checkpoint ("train").
    A folder with a file that does not read back is "damaged": left as it is."""
    if damage_of(run_dir) is not None:
        return "damaged"
    status = get_status(run_dir)
    if status.get("state") not in FINISHED:
        return "train"
    if status["state"] == "diverged":
        return "skip"
    stored = read_json(run_dir / "config.json", {}) or {}
    before = stored.get("train", {}).get("steps")
    if isinstance(before, int) and run.train.steps > before:
        return "continue"
    if isinstance(before, int) and run.train.steps < before:
        raise GanbenchError(f"run {run.run_id} was trained for {before} steps and the suite now asks for "
                            f"{run.train.steps}; a shorter budget cannot be read off a longer run",
                            where=str(run_dir),
                            hint=f"set train.steps = {before} (or more, to continue it), or delete {run_dir} "
                                 "to train the shorter run from scratch")
    if json.loads(json.dumps(run.resolved["metrics"])) != with_new_defaults(stored.get("metrics"), run):
        return "rescore"
    return "skip"


def with_new_defaults(stored: object, run: RunSpec) -> object:
    """A finished run's stored [metrics] table with the options that ganbench (or a metric
    plugin) added since it ran filled in at their defaults: an option that did not exist then
    was at its default then, so a new one (kept at its default) rescores nothing."""
    if not isinstance(stored, dict):
        return stored
    out = json.loads(json.dumps({**to_dict(MetricsConfig()), **stored}))
    for name, options in run.metric_options.items():
        if options is not None and isinstance(out.get(name, {}), dict):
            out[name] = {**json.loads(json.dumps(to_dict(type(options)()))), **out.get(name, {})}
    return out


def keep_final_evaluations_as_history(run_dir: Path) -> None:
    """A run that continues to a larger budget keeps the final evaluation of its earlier budget
    in its curve, marked as such, instead of losing it when the log is trimmed on resume."""
    path = run_dir / "evals.jsonl"
    records = read_jsonl(path)
    if any(e.get("final") for e in records):
        atomic_write_text(path, "".join(json.dumps({**e, "final": False, "earlier_budget": True} if e.get("final")
                                                   else e) + "\n" for e in records))
