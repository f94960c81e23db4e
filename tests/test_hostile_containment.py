"""Hostile corpus, containment: every write and delete stays inside <results>/<suite>/, no write
follows a link out of it, clean-up deletes only what ganbench wrote, and an unusable --results
is one line."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hostile import assert_clean_error, run_cli, snapshot, write_suite


@pytest.fixture(autouse=True)
def _no_entry_points(monkeypatch):
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A folder with a suite file and its finished results (two tiny runs)."""
    base = tmp_path_factory.mktemp("finished")
    path = write_suite(base, {"seed = [0]": "seed = [0, 1]"})
    o = run_cli("run", path, "--results", base / "results")
    assert o.code == 0, o.err + o.out
    return base


def _copy(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "work"
    shutil.copytree(finished, work, symlinks=True)
    return work / "suite.toml", work / "results"


def _outside(tmp_path: Path) -> Path:
    """A folder beside the results with a file in it: it must never change."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "leaderboard.md").write_text("my own page")
    (out / "picture.png").write_bytes(b"\x89PNG not ganbench's")
    return out


#: id -> how to plant a link inside the results folder (suite dir, outside dir) -> the message's needle
LINKS = {
    "run-folder-link": lambda s, o: _relink(next(p for p in s.iterdir() if p.name.startswith("dcgan")), o),
    "plots-link": lambda s, o: _relink(s / "plots", o),
    "leaderboard-link": lambda s, o: _relink(s / "leaderboard.md", o / "leaderboard.md"),
    "suite-toml-link": lambda s, o: _relink(s / "suite.toml", o / "keep.txt"),
    "status-link": lambda s, o: _relink(next(s.glob("dcgan*/status.json")), o / "keep.txt"),
    "references-link": lambda s, o: _relink(s / "references", o),
    "losses-plot-link": lambda s, o: _relink(next(s.glob("plots/losses/*.png")), o / "picture.png"),
    "new-link-to-parent": lambda s, o: os.symlink("..", s / "up"),
    "final-folder-link": lambda s, o: _relink(next(s.glob("dcgan*/final")), o),
}


def _relink(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    os.symlink(target, path)


@pytest.mark.parametrize("case", list(LINKS))
@pytest.mark.parametrize("command", ["run", "leaderboard"])
def test_no_write_through_a_link(case, command, finished, tmp_path):
    suite, results = _copy(finished, tmp_path)
    outside = _outside(tmp_path)
    LINKS[case](results / "hostile", outside)
    before = snapshot(outside)
    args = ("run", suite, "--results", results) if command == "run" else ("leaderboard", results / "hostile")
    assert_clean_error(run_cli(*args), 2, "link", "hostile")
    assert snapshot(outside) == before


def test_suite_folder_itself_a_link_is_refused(finished, tmp_path):
    suite, results = _copy(finished, tmp_path)
    outside = _outside(tmp_path)
    shutil.rmtree(results / "hostile")
    os.symlink(outside, results / "hostile")
    before = snapshot(outside)
    assert_clean_error(run_cli("run", suite, "--results", results), 2, "link")
    assert snapshot(outside) == before


@pytest.mark.parametrize("kind", ["file", "proc", "under-a-file"])
def test_unusable_results_is_one_line(kind, tmp_path):
    suite = write_suite(tmp_path)
    target = {"file": tmp_path / "afile", "proc": Path("/proc/ganbench-results"),
              "under-a-file": tmp_path / "afile" / "results"}[kind]
    (tmp_path / "afile").write_text("not a folder")
    before = snapshot(tmp_path)
    assert_clean_error(run_cli("run", suite, "--results", target), 2, "--results")
    assert snapshot(tmp_path) == before


def test_clean_up_deletes_only_what_ganbench_wrote(finished, tmp_path):
    """A user's own PNGs beside ganbench's plots and final images survive a rerun and a rebuild."""
    suite, results = _copy(finished, tmp_path)
    folder = results / "hostile"
    run_dir = next(folder.glob("dcgan*-s0-*"))
    mine = [folder / "plots" / "mine.png", folder / "plots" / "losses" / "mine.png", run_dir / "final" / "mine.png",
            folder / "notes.txt"]
    for p in mine:
        p.write_bytes(b"user data")
    assert run_cli("leaderboard", folder, "-o", folder / "leaderboard.md").code == 0
    # a stale run's plot (ganbench's own) is removed once its run is gone; the user's stay
    shutil.rmtree(run_dir / "final")
    shutil.move(str(run_dir), str(tmp_path / "moved-away"))
    o = run_cli("leaderboard", folder, "-o", folder / "leaderboard.md")
    assert o.code == 0, o.err
    assert all(p.read_bytes() == b"user data" for p in mine if run_dir not in p.parents)
    assert not list((folder / "plots" / "losses").glob(f"{run_dir.name}.png"))
    assert list((folder / "plots" / "losses").glob("dcgan*.png"))
    shutil.move(str(tmp_path / "moved-away"), str(run_dir))
    (run_dir / "final").mkdir()
    (run_dir / "final" / "mine.png").write_bytes(b"user data")
    o = run_cli("run", suite, "--results", results, "--set", "train.steps=6", "--filter", "seed=0")
    assert o.code == 0, o.err + o.out
    assert (run_dir / "final" / "mine.png").read_bytes() == b"user data"
    assert len(list((run_dir / "final").glob("0*.png"))) == 10
