"""A run folder read back and checked: is every file ganbench wrote there still what it wrote?

A file that does not read back (binary garbage, not JSON, JSON of the wrong type, a key
missing or of the wrong type, empty, cut short, a checkpoint of another run or of another
step than the run finished at) makes the run *damaged*. A damaged run is never trained,
rescored, averaged or rewritten: its scores cannot be trusted and its files may be the
user's own, so ganbench leaves the folder as it is, leaves the run out of the leaderboard
and says, in one line, which file is wrong and how to recover (restore the file, or delete
the folder to train the run again). Missing files are damage only where ganbench always
writes them: config.json in a run folder, status.json once the run has trained, the final
evaluation of a finished run that names metrics. A line cut from the end of evals.jsonl of
an unfinished run is the trace of a crash during a write; resuming rewrites the log. torch is
imported where a checkpoint is opened, so that `ganbench list` stays fast.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import GanbenchError
from .results import FINISHED, STATES

#: files whose presence makes a folder a run folder (plots/ and references/ have none of them)
MARKERS = ("config.json", "status.json", "evals.jsonl", "checkpoint.pt")
CHECKPOINT_KEYS = ("step", "G", "D", "opt_g", "opt_d")


class Damaged(GanbenchError):
    """A run whose files ganbench cannot trust; the run is left alone."""


@dataclass(frozen=True)
class Damage:
    """What is wrong with a run folder: the file (its name in the folder) and one line that
    names it, says how it is wrong and how to recover."""

    file: str
    message: str


@dataclass(frozen=True)
class RunFiles:
    """A run folder's JSON files as read (each {} / [] when missing or unusable) and its damage."""

    config: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    evals: list[dict[str, Any]] = field(default_factory=list)
    throughput: dict[str, Any] = field(default_factory=dict)
    damage: Damage | None = None


class _Bad(Exception):
    def __init__(self, file: str, what: str, fix: str = "restore the file from a copy"):
        super().__init__(what)
        self.file, self.what, self.fix = file, what, fix


_MISSING = object()


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in MARKERS)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _load_json(path: Path) -> Any:
    """The file's JSON, or _MISSING; _Bad when it is empty, not UTF-8 text or not JSON."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _MISSING
    except OSError as exc:
        raise _Bad(path.name, f"cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise _Bad(path.name, "is empty")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Bad(path.name, "is not text (binary data)") from None
    except ValueError as exc:
        raise _Bad(path.name, f"is not valid JSON ({exc})") from None


def _object(data: Any, file: str, where: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Bad(file, f"holds {_kind(data)}{where} where an object belongs")
    return data


def _typed(d: dict[str, Any], key: str, kinds: tuple[type, ...], file: str, required: bool = False,
           prefix: str = "", at: str = "") -> Any:
    """d[key] when it is one of `kinds` (bool never counts as a number); _Bad otherwise.
    prefix: the key path above d ("train."); at: where in the file ("line 3: ")."""
    if key not in d:
        if required:
            raise _Bad(file, f"{at}has no '{prefix}{key}'")
        return None
    v = d[key]
    if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
        want = " or ".join(dict.fromkeys("null" if k is type(None) else _kind(k()) for k in kinds))
        raise _Bad(file, f"{at}'{prefix}{key}' is {_kind(v)}, expected {want}")
    return v


def _config(run_dir: Path) -> dict[str, Any]:
    data = _load_json(run_dir / "config.json")
    if data is _MISSING:
        raise _Bad("config.json", "is missing")
    config = _object(data, "config.json")
    run_id = _typed(config, "run_id", (str,), "config.json", required=True)
    if run_id != run_dir.name:
        raise _Bad("config.json", f"names run '{run_id}', not this folder's '{run_dir.name}' "
                                  "(a config.json copied from another run?)")
    _typed(config, "coords", (dict,), "config.json", required=True)
    for table in ("train", "metrics", "models", "datasets"):
        _typed(config, table, (dict,), "config.json")
    _typed(config.get("train") or {}, "steps", (int,), "config.json", prefix="train.")
    metrics = config.get("metrics") or {}
    _typed(metrics, "names", (list,), "config.json", prefix="metrics.")
    for key in ("primary", "headline"):
        _typed(metrics, key, (str,), "config.json", prefix="metrics.")
    return config


def _status(run_dir: Path) -> dict[str, Any]:
    data = _load_json(run_dir / "status.json")
    if data is _MISSING:
        trained = [n for n in ("checkpoint.pt", "evals.jsonl", "losses.csv") if (run_dir / n).exists()]
        if trained:
            raise _Bad("status.json", f"is missing, though the run has trained ({', '.join(trained)} "
                                      f"{'is' if len(trained) == 1 else 'are'} there)")
        return {"state": "pending"}
    status = _object(data, "status.json")
    state = _typed(status, "state", (str,), "status.json", required=True)
    if state not in STATES:
        raise _Bad("status.json", f"'state' is {state[:40]!r}, not one of {', '.join(STATES)}")
    for key in ("step", "steps", "resumed_from"):
        _typed(status, key, (int,), "status.json")
    for key in ("error", "reference_warning", "rescore_error"):
        _typed(status, key, (str, type(None)), "status.json")
    for k in _typed(status, "scores", (dict, type(None)), "status.json") or {}:
        _typed(status["scores"], k, (int, float), "status.json", prefix="scores.")
    best = _typed(status, "best", (dict, type(None)), "status.json") or {}
    _typed(best, "step", (int,), "status.json", prefix="best.")
    _typed(best, "value", (int, float), "status.json", prefix="best.")
    _typed(best, "score", (str,), "status.json", prefix="best.")
    return status


def _evals(run_dir: Path, state: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    path = run_dir / "evals.jsonl"
    names = (config.get("metrics") or {}).get("names")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if state == "done" and names:
            raise _Bad("evals.jsonl", "is missing, and the run is done with metrics to score") from None
        return []
    except OSError as exc:
        raise _Bad("evals.jsonl", f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("evals.jsonl", "is not text (binary data)") from None
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(_evaluation(line, i))
        except _Bad:
            if i == len(lines) and state not in FINISHED:  # the last write, cut by a crash
                continue
            raise
    if state == "done" and names and not any(e.get("final") for e in out):
        raise _Bad("evals.jsonl", "is empty" if not out else "holds no final evaluation, and the run is done")
    return out


def _evaluation(line: str, i: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise _Bad("evals.jsonl", f"line {i}: not valid JSON ({exc}; cut short?)") from None
    e = _object(record, "evals.jsonl", f" on line {i}")
    at = f"line {i}: "
    _typed(e, "step", (int,), "evals.jsonl", required=True, at=at)
    scores = _typed(e, "scores", (dict,), "evals.jsonl", required=True, at=at)
    _typed(e, "final", (bool,), "evals.jsonl", at=at)
    _typed(e, "protocol", (dict,), "evals.jsonl", at=at)
    for k in scores:
        _typed(scores, k, (int, float), "evals.jsonl", prefix="scores.", at=at)
    return e


def _data(run_dir: Path) -> None:
    data = _load_json(run_dir / "data.json")
    if data is _MISSING:  # runs written before data.json have none
        return
    d = _object(data, "data.json")
    shape = _typed(d, "shape", (list,), "data.json", required=True)
    if len(shape) != 3 or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in shape):
        raise _Bad("data.json", f"'shape' is {shape!r:.60}, expected [channels, height, width]")
    _typed(d, "num_images", (int,), "data.json", required=True)
    _typed(d, "class_names", (list,), "data.json", required=True)
    _typed(d, "present_classes", (list,), "data.json")
    _typed(d, "fingerprint", (str,), "data.json", required=True)


def _throughput(run_dir: Path) -> dict[str, Any]:
    data = _load_json(run_dir / "throughput.json")
    if data is _MISSING:
        return {}
    t = _object(data, "throughput.json")
    _typed(t, "train_img_per_s", (int, float, type(None)), "throughput.json")
    _typed(t, "device", (str,), "throughput.json")
    return t


def _losses(run_dir: Path) -> None:
    try:
        with open(run_dir / "losses.csv", encoding="utf-8") as f:
            head = f.readline()
            for _ in f:  # UTF-8 text throughout
                pass
    except FileNotFoundError:
        return
    except UnicodeDecodeError:
        raise _Bad("losses.csv", "is not text (binary data)") from None
    except OSError as exc:
        raise _Bad("losses.csv", f"cannot be read ({exc.strerror or exc})") from None
    if head and not head.startswith("step,"):
        raise _Bad("losses.csv", "does not start with its header line (step,loss_d,...)")


def _checkpoint(run_dir: Path, state: str, config: dict[str, Any]) -> None:
    """Opened memory-mapped (the weights are never read): the structure, the run it belongs
    to, and for a done run the step it finished at."""
    path = run_dir / "checkpoint.pt"
    if not path.exists():
        return
    fix = ("restore it from a copy" if state in FINISHED
           else f"delete {path} to restart the run from step 0")
    if path.stat().st_size == 0:
        raise _Bad("checkpoint.pt", "is empty", fix)
    try:  # torch.save writes a zip archive (its directory at the end: a cut one has lost it)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        raise _Bad("checkpoint.pt", "is not a torch checkpoint (not a whole zip archive: garbage, or cut short)",
                   fix) from None
    if not any(n.endswith("/data.pkl") for n in names):
        raise _Bad("checkpoint.pt", "is a zip archive without a torch checkpoint in it (no data.pkl)", fix)
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - whatever torch says, the file is not a checkpoint
        first = (str(exc).strip().splitlines() or [""])[0].split("  (Could this error")[0][:160].strip()
        raise _Bad("checkpoint.pt", f"cannot be read as a checkpoint ({type(exc).__name__}: {first})", fix) from None
    if not isinstance(sd, dict):
        raise _Bad("checkpoint.pt", f"holds {_kind(sd)}, not a checkpoint", fix)
    missing = [k for k in CHECKPOINT_KEYS if k not in sd]
    if missing:
        raise _Bad("checkpoint.pt", f"has no {', '.join(repr(k) for k in missing)}: not a ganbench checkpoint", fix)
    owner = sd.get("run_id")
    if owner is not None and owner != run_dir.name:
        raise _Bad("checkpoint.pt", f"belongs to run '{owner}', not '{run_dir.name}' (copied from another run?)", fix)
    step, steps = sd["step"], (config.get("train") or {}).get("steps")
    if not isinstance(step, int):
        raise _Bad("checkpoint.pt", f"'step' is {_kind(step)}, expected a number", fix)
    if state == "done" and isinstance(steps, int) and step != steps:
        raise _Bad("checkpoint.pt", f"is at step {step}, but the run finished at step {steps} "
                                    "(an older checkpoint, or another run's?)", fix)


def read_run_files(run_dir: Path, checkpoint: bool = True) -> RunFiles:
    """Read and check every file of a run folder; never raises. checkpoint=False skips
    opening checkpoint.pt (its size and presence are all a reader of scores needs)."""
    run_dir = Path(run_dir)
    config: dict[str, Any] = {}
    status: dict[str, Any] = {}
    try:
        config = _config(run_dir)
        status = _status(run_dir)
        evals = _evals(run_dir, status["state"], config)
        throughput = _throughput(run_dir)
        _data(run_dir)
        _losses(run_dir)
        if checkpoint:
            _checkpoint(run_dir, status["state"], config)
    except _Bad as bad:
        message = (f"{run_dir / bad.file} {bad.what}: run {run_dir.name} is damaged and left as it is; {bad.fix}, "
                   f"or delete {run_dir} to train the run again")
        trusted = config if bad.file != "config.json" else {}
        return RunFiles(trusted, status if isinstance(status, dict) else {}, [], {}, Damage(bad.file, message))
    return RunFiles(config, status, evals, throughput)


def damage_of(run_dir: Path) -> Damage | None:
    """What is wrong with a run folder, or None (a folder that does not exist is a new run)."""
    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        return None
    return read_run_files(run_dir).damage
