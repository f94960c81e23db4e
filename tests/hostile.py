"""The hostile-input corpus's common checks (tests/test_hostile_*.py).

Every case runs the real command line in-process and is held to the CLI's contract: the
promised exit code, one ERROR line (and at most a hint line) with no traceback, the file and
the key path in the message, and nothing outside the results folder changed.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ganbench import cli

#: a suite that validates and trains in seconds: the case edits one thing in it
BASE = """\
[suite]
name = "hostile"

[matrix]
model = ["dcgan"]
dataset = ["digits"]
seed = [0]

[train]
steps = 4
batch_size = 8
log_every = 2
sample_every = 4
checkpoint_every = 2
eval_every = 4
device = "cpu"
threads = 1

[models.dcgan]
width = 8

[datasets.digits]
resolution = 8

[metrics]
names = ["classifier"]
num_samples = 64
"""


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]


def run_cli(*args: str) -> Outcome:
    """`ganbench ARGS` in this process; an exception that escapes main() fails the case as a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return Outcome(code, out.getvalue(), err.getvalue())


def snapshot(root: Path, inside: Path | None = None) -> dict[str, str]:
    """Every file under root (not following links), except those under `inside`, with a digest."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if inside is not None and (here == inside or inside in here.parents):
            dirnames[:] = []
            continue
        for name in filenames:
            p = here / name
            try:
                seen[str(p)] = "link:" + os.readlink(p) if p.is_symlink() else hashlib.sha1(p.read_bytes()).hexdigest()
            except OSError as exc:
                seen[str(p)] = f"unreadable:{exc.errno}"
        for name in dirnames:
            seen[str(here / name) + "/"] = "dir"
    return seen


def assert_clean_error(o: Outcome, code: int, *needles: str) -> str:
    """The contract for a refused input: exit code, one ERROR line (+ hint), no traceback, needles in it."""
    text = o.err
    assert "Traceback" not in text and "Traceback" not in o.out, text or o.out
    assert o.code == code, f"exit {o.code}, expected {code}:\n{o.out[-2000:]}\n{text}"
    errors = [ln for ln in o.lines if ln.startswith(("ERROR:", "MISSING:"))]
    assert errors, f"no ERROR line:\n{text}"
    others = [ln for ln in o.lines if not ln.startswith(("ERROR:", "MISSING:", "  hint:"))]
    assert not others, f"more than an error line and a hint:\n{text}"
    for n in needles:
        assert n in text, f"{n!r} not in:\n{text}"
    return text


def write_suite(folder: Path, sub: dict[str, str] | None = None, extra: str = "", base: str = BASE,
                name: str = "suite.toml") -> Path:
    """BASE with each `sub` key replaced by its value (each must occur) and `extra` appended."""
    text = base
    for old, new in (sub or {}).items():
        assert old in text, f"{old!r} not in the base suite"
        text = text.replace(old, new, 1)
    path = folder / name
    path.write_text(text + textwrap.dedent(extra))
    return path
