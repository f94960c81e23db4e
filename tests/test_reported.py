"""A report's published numbers ([[reported]] in a suite): validated against the matrix and
the registered scores, carried into provenance, and shown in every leaderboard format as a
row marked "reported", never ranked or averaged with ganbench's own rows."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ganbench.board import build_board
from ganbench.errors import GanbenchError
from ganbench.leaderboard import to_csv, to_html, to_json, to_markdown
from ganbench.results import write_json
from ganbench.runner import provenance
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins

SUITE = """
[suite]
name = "rep"
[matrix]
model = ["dcgan", "wgan"]
dataset = ["digits"]
[train]
steps = 10
{extra}
"""
ROW = """
[[reported]]
match = {{ model = "dcgan" }}
scores = {{ {scores} }}
statistic = "best"
protocol = "FID, 1,000 generated vs 1,000 test images"
source = "report 2"
"""


def _load(tmp_path: Path, extra: str, plugins=None):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(extra=extra))
    return load_suite(plugins or fresh_plugins(), path)


def test_a_reported_row_is_parsed_and_carried_into_provenance(tmp_path):
    suite = _load(tmp_path, ROW.format(scores="fd_classifier = 89.68"))
    (rep,) = suite.reported
    assert (rep.match, rep.scores, rep.statistic, rep.source) == ({"model": "dcgan"}, {"fd_classifier": 89.68},
                                                                  "best", "report 2")
    assert provenance(suite, "cpu")["reported"] == [rep.as_dict()]
    assert len(suite.runs) == 2  # the row adds no run


@pytest.mark.parametrize("row, message", [
    (ROW.format(scores="fid = 89.68"), "'fid' is no metric's score"),
    (ROW.format(scores='fd_classifier = "low"'), "expected a finite number"),
    (ROW.format(scores="fd_classifier = nan"), "expected a finite number"),
    (ROW.format(scores="").replace("scores = {  }", "scores = {}"), "non-empty"),
    (ROW.format(scores="fd_classifier = 1.0").replace('model = "dcgan"', 'model = "sagan"'), "not in the matrix"),
    (ROW.format(scores="fd_classifier = 1.0").replace('model = "dcgan"', 'modle = "dcgan"'), "not an axis"),
    (ROW.format(scores="fd_classifier = 1.0").replace('"best"', '"median"'), "statistic must be one of"),
    (ROW.format(scores="fd_classifier = 1.0").replace('source = "report 2"', ""), "needs `source`"),
    (ROW.format(scores="fd_classifier = 1.0") + "seeds = 1\n", "unknown key 'seeds'"),
])
def test_a_wrong_reported_row_is_refused_with_its_place(tmp_path, row, message):
    with pytest.raises(GanbenchError, match=message) as err:
        _load(tmp_path, row)
    assert "reported[0]" in str(err.value)


def test_set_cannot_reach_reported_rows(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(extra=ROW.format(scores="fd_classifier = 1.0")))
    with pytest.raises(GanbenchError, match="edit \\[\\[override\\]\\] and \\[\\[reported\\]\\] in the file"):
        load_suite(fresh_plugins(), path, sets=["reported.x=1"])


def _run_dir(sd: Path, run_id: str, model: str, value: float) -> None:
    d = sd / run_id
    d.mkdir(parents=True)
    write_json(d / "config.json", {"run_id": run_id, "coords": {"model": model, "seed": 0}, "train": {"seed": 0},
                                   "metrics": {"primary": "fd_classifier", "num_samples": 100}})
    write_json(d / "status.json", {"state": "done"})
    (d / "evals.jsonl").write_text(json.dumps({"step": 10, "final": True, "scores": {"fd_classifier": value},
                                               "protocol": {"num_fake": 100}}) + "\n")


def test_the_reported_row_stands_beside_ours_in_every_format_never_ranked(tmp_path, plugins):
    suite = _load(tmp_path, ROW.format(scores="fd_classifier = 89.68"))
    sd = tmp_path / "res"
    _run_dir(sd, "dcgan-s0", "dcgan", 120.0)
    _run_dir(sd, "wgan-s0", "wgan", 60.0)
    write_json(sd / "provenance.json", {**provenance(suite, "cpu"), "primary": "fd_classifier"})
    board = build_board(sd, plugins)
    (table,) = board.tables
    assert [r.rank for r in table.rows] == [1, 2]  # ours alone are ranked: 60 before 120
    (rep,) = [r for r in table.references if r.kind == "reported"]
    assert rep.label == "reported (report 2)" and rep.scores["fd_classifier"].mean == 89.68
    assert "1,000 test images" in rep.detail and "best over training" in rep.detail
    md = to_markdown(board)
    line = next(x for x in md.splitlines() if x.startswith("| *reported (report 2)*"))
    assert "| dcgan | 89.68 |" in line and "| reported |" in line
    assert md.index("| 1 |") < md.index("*reported (report 2)*")  # after ours
    kinds = [r["kind"] for r in csv.DictReader(io.StringIO(to_csv(board)))]
    assert "reported (report 2)" in kinds
    refs = json.loads(to_json(board))["tables"][0]["references"]
    assert [r["scores"]["fd_classifier"]["mean"] for r in refs if r["kind"] == "reported"] == [89.68]
    assert "reported (report 2)" in to_html(board)


def test_a_reported_row_for_cells_not_run_is_left_out(tmp_path, plugins):
    suite = _load(tmp_path, ROW.format(scores="fd_classifier = 89.68"))
    sd = tmp_path / "res"
    _run_dir(sd, "wgan-s0", "wgan", 60.0)
    write_json(sd / "provenance.json", {**provenance(suite, "cpu"), "primary": "fd_classifier"})
    (table,) = build_board(sd, plugins).tables
    assert [r for r in table.references if r.kind == "reported"] == []


def test_headline_best_ranks_each_runs_best_evaluation_over_training(tmp_path, plugins):
    """metrics.headline = "best" (report 2's "minimum FID over training"): the row is the mean
    of each run's best evaluation, and the page says so."""
    sd = tmp_path / "res"
    for run_id, model, best, final in (("a-s0", "dcgan", 70.0, 90.0), ("b-s0", "wgan", 80.0, 85.0)):
        _run_dir(sd, run_id, model, final)
        cfg = json.loads((sd / run_id / "config.json").read_text())
        cfg["metrics"]["headline"] = "best"
        write_json(sd / run_id / "config.json", cfg)
        write_json(sd / run_id / "status.json", {"state": "done", "best": {"step": 5, "value": best,
                                                                           "score": "fd_classifier"}})
    board = build_board(sd, plugins)
    assert board.headline == "best"
    assert [(r.coords["model"], r.scores["fd_classifier"].mean) for r in board.tables[0].rows] == \
        [("dcgan", 70.0), ("wgan", 80.0)]  # by final scores wgan (85) would lead
    assert "best evaluation over training" in to_markdown(board)


def test_headline_best_needs_evaluations_on_the_final_protocol(tmp_path):
    extra = '[metrics]\nheadline = "best"\nnum_samples = 500\neval_num_samples = 500\n'
    with pytest.raises(GanbenchError, match="train.eval_every > 0") as err:
        _load(tmp_path, extra)
    assert "metrics.headline" in str(err.value)
    ok = SUITE.format(extra="").replace("steps = 10", "steps = 10\neval_every = 5") + extra
    path = tmp_path / "ok.toml"
    path.write_text(ok)
    assert all(r.metrics.headline == "best" for r in load_suite(fresh_plugins(), path).runs)


def test_the_standard_protocol_is_one_set_away(tmp_path):
    """A report suite writes the report's protocol; metrics.protocol = "standard" puts ganbench's
    own in its place (10,000 samples vs the whole training split, final, plugin-marked options)."""
    extra = ('[metrics]\nnames = ["fid", "kid"]\nnum_samples = 2560\neval_num_samples = 2560\nheadline = "best"\n'
             'reference_split = "train"\nfid = { num_real = 2560 }\nkid = { num_real = 1000, subset_size = 500 }\n')
    text = SUITE.format(extra="").replace("steps = 10", "steps = 10\neval_every = 5") + extra
    path = tmp_path / "s.toml"
    path.write_text(text)
    (report, _) = load_suite(fresh_plugins(), path).runs
    (std, _) = load_suite(fresh_plugins(), path, sets=['metrics.protocol="standard"']).runs
    assert (report.metrics.num_samples, report.metrics.headline, report.metrics.reference_split) == (2560, "best", "train")
    assert report.metric_options["fid"].num_real == 2560
    assert (std.metrics.num_samples, std.metrics.headline, std.metrics.reference_split) == (10000, "final", "")
    assert std.metric_options["fid"].num_real == 0 and std.metric_options["kid"].subset_size == 1000
    assert std.metric_options["fid"].batch_size == report.metric_options["fid"].batch_size  # not protocol
    assert std.run_id == report.run_id  # the same training: a protocol change rescores, never retrains


def test_a_published_command_names_no_home_folder(monkeypatch, tmp_path):
    from ganbench.runner import portable_command

    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    line = portable_command(["ganbench", "run", "s.toml", "--set",
                             f'datasets.imagefolder.root="{tmp_path}/someone/data/cifar10-jpeg"'])
    assert str(tmp_path) not in line and "root=\"~/data/cifar10-jpeg\"" in line
    assert portable_command(["ganbench", f"{tmp_path}/someoneelse/x"]).endswith("someoneelse/x")  # a prefix only
