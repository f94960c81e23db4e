"""The results folder: atomic writes, JSON and JSON-lines files, and run status.

results/<suite>/<run-id>/  config.json status.json losses.csv evals.jsonl
                           throughput.json checkpoint.pt samples/ final/

Reading a whole suite back (runs, groups, the leaderboard) is the read model in ``board.py``.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

#: states a rerun skips; failed and interrupted runs continue
FINISHED = ("done", "diverged")
#: every state status.json may hold ("interrupted": stopped by Ctrl-C, resumed by the next run).
#: "damaged" is never written: it is what a folder whose files do not read back is (damage.py)
STATES = ("pending", "running", "done", "failed", "diverged", "interrupted")
#: states whose status.json keeps the reason in "error"
WITH_REASON = ("failed", "diverged", "interrupted")
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, rename: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; published folders must be readable
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    """The file's JSON, or ``default`` when it is missing or does not read as JSON (damage.py
    says which files of a run folder that makes damaged)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return default


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash
                    if isinstance(record, dict):
                        out.append(record)
    except (OSError, UnicodeDecodeError):
        pass
    return out


def set_status(run_dir: Path, state: str, **extra: Any) -> dict[str, Any]:
    status = read_json(run_dir / "status.json", {})
    status = status if isinstance(status, dict) else {}
    status.update(extra)
    status["state"] = state
    status["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if state not in WITH_REASON:
        status.pop("error", None)
    write_json(run_dir / "status.json", status)
    return status


def get_status(run_dir: Path) -> dict[str, Any]:
    """status.json; {"state": "pending"} when there is none, {"state": "damaged"} when it is not
    an object with a known state (damage.py says how it is damaged)."""
    path = Path(run_dir) / "status.json"
    if not path.exists():
        return {"state": "pending"}
    status = read_json(path)
    if not isinstance(status, dict) or status.get("state") not in STATES:
        return {"state": "damaged"}
    return status

