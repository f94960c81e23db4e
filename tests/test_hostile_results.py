"""Hostile corpus, damaged results folders and divergence.

Damaged folders: one finished two-seed suite is trained once per module; each case copies it,
damages one file of one run and holds `ganbench leaderboard` and `ganbench run` to the contract:
no traceback, one line per damaged run naming the file and how to recover, the other run still
ranked, every leaderboard format saying which run it left out and why, the damaged folder
untouched (ganbench never rewrites or deletes what it cannot read back) and nothing outside the
results folder changed. Divergence: a finite blow-up or a G that draws one image is stopped as
"diverged" by the rule train.explode_* / train.collapse_* states, kept out of the mean and shown.
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from ganbench import cli, hookimpl
from ganbench.config import TrainConfig, from_dict
from ganbench.divergence import DivergenceWatch
from ganbench.plugins import get_plugin_manager, load_plugins
from ganbench.specs import LossSpec, ModelSpec
from ganbench.updates import Diverged
from hostile import run_cli, snapshot, write_suite
from torch import nn

SEEDS = {"seed = [0]": "seed = [0, 1]"}
GARBAGE = b"\x00\x9f\xffPK\x03\x04 not what ganbench wrote \xc3\x28\x00"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A finished results folder of the tiny suite with seeds 0 and 1 (trained once)."""
    root = tmp_path_factory.mktemp("finished")
    o = run_cli("run", write_suite(root, SEEDS), "--results", root / "results")
    assert o.code == 0, o.out + o.err
    runs = sorted(p.name for p in (root / "results" / "hostile").iterdir() if (p / "config.json").is_file())
    assert len(runs) == 2
    return root / "results", runs


# -- the damage: each takes (the run to damage, the other run) ---------------------------------
def garbage(name: str) -> Callable[[Path, Path], None]:
    return lambda bad, good: (bad / name).write_bytes(GARBAGE)


def empty(name: str) -> Callable[[Path, Path], None]:
    return lambda bad, good: (bad / name).write_bytes(b"")


def cut(name: str, keep: float = 0.5) -> Callable[[Path, Path], None]:
    def f(bad: Path, good: Path) -> None:
        data = (bad / name).read_bytes()
        (bad / name).write_bytes(data[:int(len(data) * keep)])
    return f


def delete(name: str) -> Callable[[Path, Path], None]:
    return lambda bad, good: (bad / name).unlink()


def from_other(name: str) -> Callable[[Path, Path], None]:
    return lambda bad, good: shutil.copyfile(good / name, bad / name)


def edit_json(name: str, fn: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    """The file's JSON object through fn (which edits it in place or returns a replacement)."""
    def f(bad: Path, good: Path) -> None:
        data = json.loads((bad / name).read_text())
        out = fn(data)
        (bad / name).write_text(json.dumps(data if out is None else out))
    return f


def edit_evals(fn: Callable[[list[str]], list[str]]) -> Callable[[Path, Path], None]:
    def f(bad: Path, good: Path) -> None:
        lines = (bad / "evals.jsonl").read_text().splitlines()
        (bad / "evals.jsonl").write_text("".join(line + "\n" for line in fn(lines)))
    return f


def edit_checkpoint(fn: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def f(bad: Path, good: Path) -> None:
        sd = torch.load(bad / "checkpoint.pt", map_location="cpu", weights_only=True)
        out = fn(sd)
        torch.save(sd if out is None else out, bad / "checkpoint.pt")
    return f


def final_record(lines: list[str], fn: Callable[[dict], None]) -> list[str]:
    records = [json.loads(x) for x in lines]
    fn(next(r for r in records if r["final"]))
    return [json.dumps(r) for r in records]


def zip_of_notes(bad: Path, good: Path) -> None:
    """A whole zip archive that torch did not write."""
    import zipfile

    with zipfile.ZipFile(bad / "checkpoint.pt", "w") as z:
        z.writestr("notes.txt", "my notes")


def torch_zip_with_garbage(bad: Path, good: Path) -> None:
    """A zip laid out as torch lays it out, whose pickle is garbage."""
    import zipfile

    with zipfile.ZipFile(bad / "checkpoint.pt", "w") as z:
        z.writestr("checkpoint/data.pkl", GARBAGE)


def both(*fns: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    def f(bad: Path, good: Path) -> None:
        for fn in fns:
            fn(bad, good)
    return f


def set_key(key: str, value: object) -> Callable[[dict], None]:
    return lambda d: d.__setitem__(key, value)


def drop_key(key: str) -> Callable[[dict], None]:
    def f(d: dict) -> None:
        d.pop(key)
    return f


#: id -> (the damaged file, the damage, what the message must say)
CASES: dict[str, tuple[str, Callable[[Path, Path], None], str]] = {
    # -- status.json ------------------------------------------------------------------------------
    "status-binary": ("status.json", garbage("status.json"), "is not text"),
    "status-empty": ("status.json", empty("status.json"), "is empty"),
    "status-list": ("status.json", edit_json("status.json", lambda d: [d]), "holds a list where an object belongs"),
    "status-cut": ("status.json", cut("status.json"), "is not valid JSON"),
    "status-no-state": ("status.json", edit_json("status.json", drop_key("state")), "has no 'state'"),
    "status-unknown-state": ("status.json", edit_json("status.json", set_key("state", "exploded")), "not one of"),
    "status-state-number": ("status.json", edit_json("status.json", set_key("state", 3)), "'state' is a number"),
    "status-best-list": ("status.json", edit_json("status.json", set_key("best", [4])), "'best' is a list"),
    "status-scores-string": ("status.json", edit_json("status.json", set_key("scores", "high")), "'scores' is a string"),
    "status-step-string": ("status.json", edit_json("status.json", set_key("step", "4")), "'step' is a string"),
    "status-missing": ("status.json", delete("status.json"), "is missing, though the run has trained"),
    # -- config.json ------------------------------------------------------------------------------
    "config-binary": ("config.json", garbage("config.json"), "is not text"),
    "config-empty": ("config.json", empty("config.json"), "is empty"),
    "config-list": ("config.json", edit_json("config.json", lambda d: list(d)), "holds a list"),
    "config-cut": ("config.json", cut("config.json", 0.7), "is not valid JSON"),
    "config-no-run-id": ("config.json", edit_json("config.json", drop_key("run_id")), "has no 'run_id'"),
    "config-of-other-run": ("config.json", from_other("config.json"), "names run"),
    "config-coords-list": ("config.json", edit_json("config.json", set_key("coords", ["dcgan"])), "'coords' is a list"),
    "config-train-string": ("config.json", edit_json("config.json", set_key("train", "fast")), "'train' is a string"),
    "config-steps-string": ("config.json", edit_json("config.json", lambda d: d["train"].__setitem__("steps", "4")),
                            "'train.steps' is a string"),
    "config-missing": ("config.json", delete("config.json"), "is missing"),
    # -- evals.jsonl ------------------------------------------------------------------------------
    "evals-binary": ("evals.jsonl", garbage("evals.jsonl"), "is not text"),
    "evals-empty": ("evals.jsonl", empty("evals.jsonl"), "is empty"),
    "evals-last-line-cut": ("evals.jsonl", cut("evals.jsonl", 0.75), "line 2: not valid JSON"),
    "evals-line-is-a-list": ("evals.jsonl", edit_evals(lambda ls: [*ls, "[1, 2]"]), "holds a list on line 3"),
    "evals-no-scores": ("evals.jsonl", edit_evals(lambda ls: final_record(ls, lambda r: r.pop("scores"))),
                        "line 2: has no 'scores'"),
    "evals-score-string": ("evals.jsonl", edit_evals(lambda ls: final_record(
        ls, lambda r: r["scores"].__setitem__("fd_classifier", "low"))), "'scores.fd_classifier' is a string"),
    "evals-step-string": ("evals.jsonl", edit_evals(lambda ls: final_record(ls, lambda r: r.__setitem__("step", "4"))),
                          "'step' is a string"),
    "evals-no-final": ("evals.jsonl", edit_evals(lambda ls: [x for x in ls if '"final": true' not in x]),
                       "holds no final evaluation"),
    "evals-missing": ("evals.jsonl", delete("evals.jsonl"), "is missing"),
    # -- checkpoint.pt ----------------------------------------------------------------------------
    "checkpoint-binary": ("checkpoint.pt", garbage("checkpoint.pt"), "is not a torch checkpoint"),
    "checkpoint-empty": ("checkpoint.pt", empty("checkpoint.pt"), "is empty"),
    "checkpoint-cut": ("checkpoint.pt", cut("checkpoint.pt"), "is not a torch checkpoint"),
    "checkpoint-zip-of-something-else": ("checkpoint.pt", zip_of_notes, "without a torch checkpoint in it"),
    "checkpoint-data-pkl-garbage": ("checkpoint.pt", torch_zip_with_garbage, "cannot be read as a checkpoint"),
    "checkpoint-of-other-run": ("checkpoint.pt", from_other("checkpoint.pt"), "belongs to run"),
    "checkpoint-of-other-model": ("checkpoint.pt", edit_checkpoint(lambda sd: sd.update(
        run_id="wgan-digits-s0-0badc0de", G={"net.0.weight": torch.zeros(3, 3)})), "belongs to run 'wgan-digits"),
    "checkpoint-older-step": ("checkpoint.pt", edit_checkpoint(set_key("step", 2)), "is at step 2"),
    "checkpoint-holds-a-list": ("checkpoint.pt", edit_checkpoint(lambda sd: [1, 2, 3]), "holds a list"),
    "checkpoint-no-G": ("checkpoint.pt", edit_checkpoint(drop_key("G")), "has no 'G'"),
    "failed-run-garbage-checkpoint": ("checkpoint.pt", both(edit_json("status.json", set_key("state", "failed")),
                                                            garbage("checkpoint.pt")),
                                      "to restart the run from step 0"),
    # -- data.json, throughput.json, losses.csv -------------------------------------------------
    "data-binary": ("data.json", garbage("data.json"), "is not text"),
    "data-empty": ("data.json", empty("data.json"), "is empty"),
    "data-list": ("data.json", edit_json("data.json", lambda d: [d]), "holds a list"),
    "data-no-shape": ("data.json", edit_json("data.json", drop_key("shape")), "has no 'shape'"),
    "data-shape-2d": ("data.json", edit_json("data.json", set_key("shape", [8, 8])), "'shape' is [8, 8]"),
    "data-fingerprint-number": ("data.json", edit_json("data.json", set_key("fingerprint", 7)),
                                "'fingerprint' is a number"),
    "throughput-list": ("throughput.json", edit_json("throughput.json", lambda d: [d]), "holds a list"),
    "throughput-speed-string": ("throughput.json", edit_json("throughput.json", set_key("train_img_per_s", "fast")),
                                "'train_img_per_s' is a string"),
    "losses-binary": ("losses.csv", garbage("losses.csv"), "is not text"),
}


def copy_finished(finished: tuple[Path, list[str]], tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(suite file, suite folder, run to damage, the other run) in a fresh copy of the finished folder."""
    results, runs = finished
    shutil.copytree(results, tmp_path / "results")
    suite_dir = tmp_path / "results" / "hostile"
    return write_suite(tmp_path, SEEDS), suite_dir, suite_dir / runs[0], suite_dir / runs[1]


def clean(o, code: int) -> None:
    assert "Traceback" not in o.out + o.err, o.out + o.err
    assert o.code == code, f"exit {o.code}, expected {code}:\n{o.out[-3000:]}\n{o.err}"


def assert_pages_leave_out(suite_dir: Path, bad: Path, good: Path, file: str, trusted: bool) -> None:
    """Every format is written, names the damaged run and why, and ranks the other run alone."""
    board = json.loads((suite_dir / "leaderboard.json").read_text())
    (left,) = board["left_out"]
    assert (left["run_id"], left["file"]) == (bad.name, file) and str(bad / file) in left["message"]
    (row,) = board["tables"][0]["rows"]
    assert row["runs"] == [good.name] and row["rank"] == 1 and row["done"] == 1
    assert row["scores"]["fd_classifier"]["n"] == 1 and row["damaged"] == (1 if trusted else 0)
    for fmt in ("md", "html"):
        text = (suite_dir / f"leaderboard.{fmt}").read_text()
        assert "Runs left out" in text and bad.name in text and str(bad / file) in text
        assert good.name in text  # its samples link its folder
    lines = list(csv.DictReader(io.StringIO((suite_dir / "leaderboard.csv").read_text())))
    (left_line,) = [x for x in lines if x["kind"] == "left out"]
    assert bad.name in left_line["note"] and file in left_line["note"] and left_line["damaged"] == "1"
    assert [x["rank"] for x in lines if x["kind"] == "run"] == ["1"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_run_is_left_out_left_alone_and_named(finished, tmp_path: Path, case: str) -> None:
    file, damage, says = CASES[case]
    suite, suite_dir, bad, good = copy_finished(finished, tmp_path)
    damage(bad, good)
    untouched, good_status = snapshot(bad), (good / "status.json").read_bytes()
    outside = snapshot(tmp_path, inside=tmp_path / "results")

    o = run_cli("leaderboard", suite_dir)
    clean(o, 0)  # the pages were written; the damaged run is reported, not an error
    (line,) = o.lines
    assert line.startswith("left out:") and str(bad / file) in line and says in line, line
    assert f"delete {bad} to train the run again" in line
    assert "Runs left out" in o.out and good.name in o.out

    o = run_cli("run", suite, "--results", tmp_path / "results")
    clean(o, 1)  # a damaged run is not ok, like a failed one
    (line,) = [x for x in o.out.splitlines() if x.startswith("damaged:")]
    assert str(bad / file) in line and says in line and f"delete {bad}" in line, line
    assert_pages_leave_out(suite_dir, bad, good, file, trusted=file != "config.json")
    assert snapshot(bad) == untouched, "the damaged folder was changed"
    assert (good / "status.json").read_bytes() == good_status  # the other run was kept, not retrained
    assert snapshot(tmp_path, inside=tmp_path / "results") == outside


def test_the_rest_of_the_suite_trains_beside_a_damaged_run(finished, tmp_path: Path) -> None:
    _, suite_dir, bad, good = copy_finished(finished, tmp_path)
    garbage("evals.jsonl")(bad, good)
    untouched = snapshot(bad)
    o = run_cli("run", write_suite(tmp_path, {"seed = [0]": "seed = [0, 1, 2]"}), "--results", tmp_path / "results")
    clean(o, 1)
    assert len([x for x in o.out.splitlines() if x.startswith("damaged:")]) == 1
    (row,) = json.loads((suite_dir / "leaderboard.json").read_text())["tables"][0]["rows"]
    assert row["done"] == 2 and row["damaged"] == 1 and good.name in row["runs"] and bad.name not in row["runs"]
    assert snapshot(bad) == untouched


def test_every_run_damaged_still_writes_the_pages(finished, tmp_path: Path) -> None:
    suite, suite_dir, bad, good = copy_finished(finished, tmp_path)
    garbage("status.json")(bad, good)
    garbage("config.json")(good, bad)
    o = run_cli("run", suite, "--results", tmp_path / "results")
    clean(o, 1)
    assert len([x for x in o.out.splitlines() if x.startswith("damaged:")]) == 2
    board = json.loads((suite_dir / "leaderboard.json").read_text())
    assert sorted(x["run_id"] for x in board["left_out"]) == sorted([bad.name, good.name])
    o = run_cli("leaderboard", suite_dir, "--format", "csv")
    clean(o, 0)
    assert len(o.lines) == 2 and all(x.startswith("left out:") for x in o.lines)


def _reference(suite_dir: Path, fn: Callable[[dict], object]) -> None:
    for path in (suite_dir / "references").glob("*.json"):
        data = json.loads(path.read_text())
        out = fn(data)
        path.write_text(json.dumps(data if out is None else out))


#: id -> (the damage to the suite folder, what the page's warning says or "")
SUITE_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "provenance-list": (lambda d: (d / "provenance.json").write_text("[1, 2]"), "does not read back"),
    "provenance-binary": (lambda d: (d / "provenance.json").write_bytes(GARBAGE), "does not read back"),
    "provenance-primary-list": (lambda d: edit_json("provenance.json", set_key("primary", ["fd"]))(d, d),
                                "has keys of the wrong type (primary)"),
    "provenance-reported-garbage": (lambda d: edit_json("provenance.json", set_key("reported", [7]))(d, d),
                                    "has keys of the wrong type (reported[0])"),
    "plot-index-garbage": (lambda d: (d / "plots" / "index.json").write_bytes(GARBAGE), ""),
    "plot-index-list": (lambda d: (d / "plots" / "index.json").write_text("[[1]]"), ""),
    "plot-index-entries-garbage": (lambda d: (d / "plots" / "index.json").write_text('{"plots": [7, {"path": 3}]}'),
                                   ""),
    "reference-record-list": (lambda d: _reference(d, lambda r: []), ""),
    "reference-sample-list": (lambda d: _reference(d, set_key("sample", [1])), ""),
}


@pytest.mark.parametrize("case", list(SUITE_FILES))
def test_damaged_suite_files_cost_no_run(finished, tmp_path: Path, case: str) -> None:
    """Files of the suite folder, not of a run: the pages still rank both runs and say what is wrong."""
    _, suite_dir, _, _ = copy_finished(finished, tmp_path)
    damage, says = SUITE_FILES[case]
    damage(suite_dir)
    o = run_cli("leaderboard", suite_dir, "--no-plots")
    clean(o, 0)
    assert not o.lines, o.err
    if says:
        assert f"{suite_dir / 'provenance.json'} {says}" in o.out.replace("\n", " ")
    o = run_cli("leaderboard", suite_dir, "--format", "json")
    clean(o, 0)
    board = json.loads(o.out)
    (row,) = board["tables"][0]["rows"]
    assert row["done"] == 2 and row["scores"]["fd_classifier"]["n"] == 2
    assert "plot_error" not in board and {p["kind"] for p in board["plots"]} >= {"curve", "losses"}


def test_an_unfinished_runs_cut_last_evaluation_is_a_crash_trace_and_it_resumes(finished, tmp_path: Path) -> None:
    """A crash can cut the last line ganbench was appending: an unfinished run resumes over it."""
    suite, _, bad, good = copy_finished(finished, tmp_path)
    edit_json("status.json", set_key("state", "interrupted"))(bad, good)
    cut("evals.jsonl", 0.75)(bad, good)
    o = run_cli("run", suite, "--results", tmp_path / "results")
    clean(o, 0)
    assert json.loads((bad / "status.json").read_text())["state"] == "done"
    assert all(json.loads(x) for x in (bad / "evals.jsonl").read_text().splitlines())


def test_sample_and_eval_refuse_a_damaged_run_cleanly(finished, tmp_path: Path) -> None:
    _, _, bad, good = copy_finished(finished, tmp_path)
    garbage("checkpoint.pt")(bad, good)
    for args in (["sample", bad, "-o", tmp_path / "results" / "x.png"], ["eval", bad]):
        o = run_cli(*args)
        clean(o, 2)
        assert o.lines[0].startswith("ERROR:") and str(bad / "checkpoint.pt") in o.lines[0]
    def legacy_of_another_model(sd: dict) -> None:  # written before checkpoints named their run
        sd.pop("run_id")
        sd["G"] = {"fc.weight": torch.zeros(2, 2)}

    edit_checkpoint(legacy_of_another_model)(good, bad)  # only loading it can tell
    o = run_cli("sample", good, "-o", tmp_path / "results" / "x.png")
    clean(o, 2)
    assert "does not fit the run's generator" in o.err and str(good / "checkpoint.pt") in o.err


def test_resuming_a_legacy_checkpoint_of_another_model_fails_cleanly(finished, tmp_path: Path) -> None:
    """Written before checkpoints named their run, it passes the checks; loading it says it does not fit."""
    suite, _, bad, good = copy_finished(finished, tmp_path)
    edit_json("status.json", set_key("state", "interrupted"))(bad, good)

    def legacy_of_another_model(sd: dict) -> None:
        sd.pop("run_id")
        sd["G"] = {"fc.weight": torch.zeros(2, 2)}

    edit_checkpoint(legacy_of_another_model)(bad, good)
    checkpoint = (bad / "checkpoint.pt").read_bytes()
    o = run_cli("run", suite, "--results", tmp_path / "results")
    clean(o, 1)
    status = json.loads((bad / "status.json").read_text())
    assert status["state"] == "failed" and "does not fit this run's networks" in status["error"]
    assert str(bad / "checkpoint.pt") in status["error"] and "restart the run from step 0" in status["error"]
    assert (bad / "checkpoint.pt").read_bytes() == checkpoint  # kept: it may be the user's only copy


class CtrlC:
    """Presses Ctrl-C at the log of step 4 (after the checkpoint of step 2)."""

    @staticmethod
    @hookimpl
    def ganbench_step_finished(run, step, losses):
        if step == 4:
            raise KeyboardInterrupt


def with_plugin(monkeypatch: pytest.MonkeyPatch, plugin: object) -> None:
    """The CLI's plugins: the built-ins and `plugin` (entry points off)."""
    def plugins():
        pm = get_plugin_manager(load_entrypoints=False)
        pm.register(plugin, name=type(plugin).__name__)
        return load_plugins(pm)
    monkeypatch.setattr(cli, "_plugins", plugins)


def test_ctrl_c_records_interrupted_and_the_next_run_resumes(tmp_path: Path, monkeypatch) -> None:
    suite = write_suite(tmp_path)
    with monkeypatch.context() as m:
        with_plugin(m, CtrlC())
        o = run_cli("run", suite, "--results", tmp_path / "results")
    assert o.code == 130 and "Traceback" not in o.out + o.err and "interrupted" in o.err
    (run_dir,) = (tmp_path / "results" / "hostile").glob("dcgan-*")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and "step 4" in status["error"] and "rerun" in status["error"]
    o = run_cli("run", suite, "--results", tmp_path / "results")
    clean(o, 0)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["resumed_from"] == 2 and "error" not in status


# -- divergence ---------------------------------------------------------------------------------------
class ConstantG(nn.Module):
    """Ignores z: every sample is the same learned image."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.image = nn.Parameter(torch.randn(shape) * 0.5)

    def forward(self, z, y=None):
        return torch.tanh(self.image).unsqueeze(0).repeat(z.shape[0], 1, 1, 1)


class LinearD(nn.Module):
    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.fc = nn.Linear(math.prod(shape), 1)

    def forward(self, x, y=None):
        return self.fc(x.flatten(1)).squeeze(1)


class Degenerate:
    """A model whose G ignores z, and a loss that turns NaN."""

    @staticmethod
    @hookimpl
    def ganbench_register_models(registry):
        registry.add(ModelSpec("constant", "G ignores z", build=lambda ctx: (ConstantG(ctx.image_shape),
                                                                           LinearD(ctx.image_shape)),
                               recipe={"loss": "bce"}, resolutions=(8,)))

    @staticmethod
    @hookimpl
    def ganbench_register_losses(registry):
        registry.add(LossSpec("nan-loss", "always NaN", "adversarial",
                              d_loss=lambda real, fake, target, options: (real - fake).mean() * float("nan"),
                              g_loss=lambda fake, real, options: fake.mean()))


LR_1E3 = {"steps = 4": "steps = 4\nlr_g = 1e3\nlr_d = 1e3"}
CONSTANT = {'model = ["dcgan"]': 'model = ["constant"]', "steps = 4": "steps = 8", "[models.dcgan]\nwidth = 8\n": ""}
#: id -> (substitutions in BASE, the state, what the status's error says)
DIVERGING: dict[str, tuple[dict[str, str], str, list[str]]] = {
    "adam-lr-1e3-explodes": (LR_1E3, "diverged", ["loss explosion at step 2", "train.explode_max"]),
    "explosion-by-factor": ({**LR_1E3, "log_every = 2": "log_every = 1\nexplode_max = 0"}, "diverged",
                            ["loss explosion at step 2", "at the first log", "train.explode_factor"]),
    "explosion-rules-off": ({**LR_1E3, "log_every = 2": "log_every = 2\nexplode_max = 0\nexplode_factor = 0"},
                            "done", []),
    "g-ignores-z-collapses": (CONSTANT, "diverged", ["mode collapse at step 6", "train.collapse_std",
                                                     "3 logs in a row"]),
    "collapse-needs-consecutive-logs": ({**CONSTANT, "log_every = 2": "log_every = 2\ncollapse_logs = 5"}, "done",
                                        []),
    "nan-loss-is-non-finite": ({"steps = 4": 'steps = 4\nloss = "nan-loss"'}, "diverged", ["non-finite loss"]),
}


@pytest.mark.parametrize("case", list(DIVERGING))
def test_divergence_is_stopped_by_its_stated_rule(tmp_path: Path, monkeypatch, case: str) -> None:
    sub, state, says = DIVERGING[case]
    with_plugin(monkeypatch, Degenerate())
    o = run_cli("run", write_suite(tmp_path, sub), "--results", tmp_path / "results")
    clean(o, 0 if state == "done" else 1)
    suite_dir = tmp_path / "results" / "hostile"
    (run_dir,) = [p for p in suite_dir.iterdir() if (p / "config.json").is_file()]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == state, status
    for s in says:
        assert s in status["error"], status["error"]
    (row,) = json.loads((suite_dir / "leaderboard.json").read_text())["tables"][0]["rows"]
    if state == "diverged":  # shown, never averaged: no score, no rank, the rule in the list of failures
        assert (row["done"], row["diverged"], row["scores"], row["rank"]) == (0, 1, {}, None)
        assert status["error"].splitlines()[0].replace("|", "\\|") in (suite_dir / "leaderboard.md").read_text()
        assert f"diverged {run_dir.name}: {says[0]}" in o.out


def test_a_diverged_cell_is_shown_apart_from_the_healthy_ones(tmp_path: Path) -> None:
    o = run_cli("run", write_suite(tmp_path, {"seed = [0]": 'seed = [0]\n"train.lr_d" = [2e-4, 1e3]'}),
                "--results", tmp_path / "results")
    clean(o, 1)
    tables = json.loads((tmp_path / "results" / "hostile" / "leaderboard.json").read_text())["tables"]
    by_lr = {r["coords"]["train.lr_d"]: r for t in tables for r in t["rows"]}  # no evaluation: its own table
    assert by_lr[2e-4]["rank"] == 1 and by_lr[2e-4]["scores"]["fd_classifier"]["n"] == 1
    assert by_lr[1e3]["rank"] is None and by_lr[1e3]["diverged"] == 1 and by_lr[1e3]["scores"] == {}
    assert "loss explosion at step 2" in by_lr[1e3]["errors"][0]


def _watch(**train: object) -> DivergenceWatch:
    return DivergenceWatch(from_dict(TrainConfig, train, "train"))


#: id -> ([train] options, logs as (losses, batch spread[, idle columns]), the log's step that must stop it or None)
WATCHED: dict[str, tuple[dict, list[tuple], int | None]] = {
    "steady": ({}, [({"loss_d": 1.4, "loss_g": 0.7}, 0.1)] * 5, None),
    "growth-below-the-factor": ({}, [({"loss_g": 0.7}, 0.1), ({"loss_g": 9e3}, 0.1)], None),
    "growth-above-the-factor": ({}, [({"loss_g": 0.7}, 0.1), ({"loss_g": 2e4}, 0.1)], 2),
    "large-from-the-start": ({}, [({"loss_d": 5e6}, 0.1)], 1),
    "large-baseline-scales-the-bound": ({}, [({"loss_d": 300.0}, 0.1), ({"loss_d": 5e5}, 0.1)], None),
    "idle-and-count-columns-ignored": ({}, [({"loss_g": 0.7, "d_updates": 1.0}, 0.1),
                                            ({"loss_g": 0.7, "d_updates": 1e9, "loss_d": 1e12}, 0.1, {"loss_d"})],
                                       None),
    "collapse-resets-when-it-spreads": ({}, [({}, 0.0), ({}, 0.0), ({}, 0.5), ({}, 0.0), ({}, 0.0)], None),
    "collapse-three-in-a-row": ({}, [({}, 0.5), ({}, 1e-6), ({}, 0.0), ({}, 0.0)], 4),
    "single-image-batch-has-no-spread": ({}, [({}, None)] * 5, None),
    "rules-off": ({"explode_max": 0, "explode_factor": 0, "collapse_std": 0},
                  [({"loss_d": 1.0}, 0.0), ({"loss_d": 1e30}, 0.0), ({}, 0.0), ({}, 0.0)], None),
}


@pytest.mark.parametrize("case", list(WATCHED))
def test_the_divergence_rules_as_stated(case: str) -> None:
    train, logs, stops_at = WATCHED[case]
    watch = _watch(**train)
    for step, (losses, spread, *rest) in enumerate(logs, 1):
        idle = rest[0] if rest else set()
        if step == stops_at:
            with pytest.raises(Diverged, match=f"at step {step}"):
                watch.check(step, losses, idle, spread)
            return
        watch.check(step, losses, idle, spread)
        copy = _watch(**train)  # what a resumed run continues from
        copy.load_state_dict(watch.state_dict())
        assert copy.state_dict() == watch.state_dict()
    assert stops_at is None


def test_the_rules_are_train_options_with_their_help_and_keep_run_ids() -> None:
    o = run_cli("list", "train", "--json")
    clean(o, 0)
    listed = {x["name"]: x for x in json.loads(o.out)}
    for key in ("explode_factor", "explode_max", "collapse_std", "collapse_logs"):
        assert "diverged" in listed[key]["help"] or "collapse" in listed[key]["help"], listed[key]
    from ganbench import runspec
    defaults = TrainConfig()
    for key in ("explode_factor", "explode_max", "collapse_std", "collapse_logs"):
        assert runspec.HASH_NEUTRAL[("train", key)] == getattr(defaults, key)
