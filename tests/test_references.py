"""Every score in context: the real-data (floor) and untrained-G (ceiling) rows of each
protocol, checked against hand computations, cached once per protocol; and rows that
aggregate only runs differing in the seed, stale configs shown apart."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ganbench import DatasetOptions, DatasetSpec, GanbenchError, MetricSpec, Score, hookimpl
from ganbench.board import build_board
from ganbench.data import DataCache, finish
from ganbench.leaderboard import to_csv, to_html, to_json, to_markdown
from ganbench.metrics import EVAL_SEED_OFFSET
from ganbench.plots import reference_lines
from ganbench.references import REFERENCES, SAMPLE_SEED, ensure_references, read_references, real_sample
from ganbench.results import write_json
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins, run_suite_text
from ganbench.train import Trainer

#: every compute call of the hand-made metric: (num_samples, final)
CALLS: list[tuple[int, bool]] = []
TEST_VALUE = 200


def mean_gap(images: torch.Tensor, reference: torch.Tensor) -> float:
    """The hand-made metric: |mean pixel of the sample - mean pixel of the reference|."""
    return abs(float(images.double().mean()) - float(reference.double().mean()))


@dataclass(frozen=True)
class TwoSplitOptions(DatasetOptions):
    def validate(self) -> None:
        if self.split not in ("train", "test"):
            raise GanbenchError(f"twosplit has train and test, not '{self.split}'")


@dataclass(frozen=True)
class OneSplitOptions(DatasetOptions):
    def validate(self) -> None:
        if self.split != "train":
            raise GanbenchError(f"onesplit has one split, train, not '{self.split}'")


def load_twosplit(options: TwoSplitOptions, cache_dir: str):
    """train: 120 seeded noise images; test: 40 images of one grey level (mean exactly TEST_VALUE)."""
    if options.split == "train":
        images = torch.randint(0, 256, (120, 1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    else:
        images = torch.full((40, 1, 16, 16), TEST_VALUE, dtype=torch.uint8)
    labels = torch.arange(len(images)) % 2
    return finish(images, labels, ("a", "b"), options, "datasets.twosplit")


class HandMade:
    """A data set with a disjoint test split and a metric whose score is easy to compute by hand."""

    @staticmethod
    @hookimpl
    def ganbench_register_datasets(registry):
        registry.add(DatasetSpec("twosplit", "noise train split, flat grey test split", load=load_twosplit,
                                 options=TwoSplitOptions, num_classes=2, shape=lambda o: (1, 16, 16)))
        registry.add(DatasetSpec("onesplit", "twosplit's train split alone", load=load_twosplit,
                                 options=OneSplitOptions, num_classes=2, shape=lambda o: (1, 16, 16)))

    @staticmethod
    @hookimpl
    def ganbench_register_metrics(registry):
        def compute(ctx):
            CALLS.append((ctx.num_samples, ctx.final))
            return {"mean_gap": mean_gap(ctx.fake()[0], ctx.real.images)}

        registry.add(MetricSpec("meanpix", "mean pixel gap", compute=compute,
                                scores=(Score("mean_gap", False, "|mean pixel - reference mean pixel|"),),
                                protocol=lambda ctx: {"statistic": "mean pixel", "num_real": len(ctx.real.images)}))


SUITE = """
[suite]
name = "refs"
[matrix]
model = ["dcgan"]
dataset = ["{dataset}"]
seed = [0, 1]
[train]
steps = 2
batch_size = 16
log_every = 1
eval_every = 1
[models.dcgan]
width = 2
[datasets.{dataset}]
resolution = 16
[metrics]
names = ["{metric}"]
num_samples = 32
eval_num_samples = 16
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A ganbench cache of this module's own, so cached references never come from another test."""
    path = tmp_path_factory.mktemp("references-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANBENCH_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def hand():
    return fresh_plugins(HandMade())


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, hand, cache):
    """Two seeds of a tiny DCGAN on twosplit, scored by the hand-made metric (read only)."""
    return run_suite_text(SUITE.format(dataset="twosplit", metric="meanpix"), tmp_path_factory.mktemp("suite"), hand)


def test_reference_rows_equal_hand_computations_in_every_format(suite_run, hand, cache):
    assert set(suite_run.result.states.values()) == {"done"}
    assert len(read_references(suite_run.suite_dir)) == 3  # one real sample, one untrained G per seed
    board = build_board(suite_run.suite_dir, hand)
    (table,) = board.tables
    (row,) = table.rows
    real, untrained = table.references
    data = DataCache(hand, cache)
    run = suite_run.suite.runs[0]
    reference = data.get("twosplit", run.dataset_options).images
    # real data: 32 of the 40 test images (disjoint from the train reference), all of grey level 200
    assert (real.kind, real.label) == ("real", "real data (floor)")
    assert real.scores["mean_gap"].mean == mean_gap(torch.full((1,), TEST_VALUE), reference)
    assert "32 of the 40 'test' images, disjoint from the 'train' reference" in real.detail
    # untrained G: scoring a freshly built G of each seed the way a trained one is sampled
    by_hand = []
    for spec in suite_run.suite.runs:
        G = Trainer(hand, spec, data.get("twosplit", spec.dataset_options), torch.device("cpu"))
        images, _ = G.sampler(spec.metrics.batch_size, seed=spec.train.seed + EVAL_SEED_OFFSET)(32)
        by_hand.append(mean_gap(images, reference))
    assert untrained.label == "untrained G (ceiling)" and untrained.seeds == [0, 1]
    assert untrained.scores["mean_gap"].n == 2
    assert untrained.scores["mean_gap"].mean == pytest.approx(sum(by_hand) / 2, rel=1e-12)
    assert row.rank == 1 and row.seeds == [0, 1] and table.notes == []
    # md: floor first, ceiling last, neither ranked nor with thumbnails
    md = to_markdown(board).splitlines()
    body = [line for line in md if line.startswith("| ") and "---" not in line][1:]
    assert body[0].startswith("| *real data (floor)* |") and body[-1].startswith("| *untrained G (ceiling)* |")
    assert body[1].startswith("| 1 |") and "thumb.png" in body[1]
    assert all("![samples]" not in line for line in (body[0], body[-1]))
    assert any("disjoint from the 'train' reference" in line for line in md)
    page = to_html(board)
    assert page.count('<tr class="ref">') == 2 and "untrained G (ceiling)" in page
    kinds = [r["kind"] for r in csv.DictReader(io.StringIO(to_csv(board)))]
    assert kinds == ["real data (floor)", "run", "untrained G (ceiling)"]
    refs = json.loads(to_json(board))["tables"][0]["references"]
    assert [(r["label"], r["reference"]) for r in refs] == [("real data (floor)", True), ("untrained G (ceiling)", True)]
    assert refs[0]["scores"]["mean_gap"]["mean"] == real.scores["mean_gap"].mean
    published = (suite_run.suite_dir / "leaderboard.md").read_text()
    assert "*real data (floor)*" in published and "*untrained G (ceiling)*" in published


def test_references_are_computed_once_per_protocol(suite_run, hand, cache, tmp_path):
    run = suite_run.suite.runs[0]
    data = DataCache(hand, cache)
    before = len(CALLS)
    ensure_references(hand, run, data, suite_run.suite_dir, torch.device("cpu"))
    assert len(CALLS) == before  # the suite folder has them
    other = tmp_path / "elsewhere" / "refs"
    shutil.copytree(suite_run.suite_dir / run.run_id, other / run.run_id)
    ensure_references(hand, run, data, other, torch.device("cpu"))
    assert len(CALLS) == before  # another suite of the same protocol: from the cache
    copied = {p.name for p in (other / REFERENCES).iterdir()}
    assert len(copied) == 2 and copied <= {p.name for p in (suite_run.suite_dir / REFERENCES).iterdir()}
    fresh = tmp_path / "fresh" / "refs"
    shutil.copytree(suite_run.suite_dir / run.run_id, fresh / run.run_id)
    ensure_references(hand, run, DataCache(hand, tmp_path / "another-cache"), fresh, torch.device("cpu"))
    assert CALLS[before:] == [(32, True), (32, True)]  # no cache: real data and the untrained G, on 32 samples


def test_real_sample_is_a_seeded_bootstrap_where_no_other_split_is_here(hand, cache):
    suite = load_suite(hand, "refs.toml", text=SUITE.format(dataset="onesplit", metric="meanpix"))
    run = suite.runs[0]
    data = DataCache(hand, cache)
    images, labels, info = real_sample(hand, run, data, 50)
    reference = data.get("onesplit", run.dataset_options)
    idx = torch.randint(len(reference.images), (50,), generator=torch.Generator().manual_seed(SAMPLE_SEED))
    assert torch.equal(images, reference.images[idx]) and torch.equal(labels, reference.labels[idx])
    assert (info["source"], info["split"], info["replacement"]) == ("bootstrap", "train", True)
    assert "a bootstrap of the 'train' reference" in info["description"] and "no other split of onesplit" in \
        info["description"]
    _, _, other = real_sample(hand, load_suite(hand, "refs.toml", text=SUITE.format(
        dataset="twosplit", metric="meanpix")).runs[0], data, 64)
    assert (other["source"], other["split"], other["replacement"]) == ("other split", "test", True)  # 40 < 64


def test_a_failing_reference_is_a_warning_never_a_failed_run(tmp_path, hand, cache, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no references today")

    monkeypatch.setattr("ganbench.runs.ensure_references", broken)
    result = run_suite_text(SUITE.format(dataset="twosplit", metric="meanpix").replace("[0, 1]", "[0]"),
                            tmp_path, hand)
    (run,) = result.runs.values()
    assert run.state == "done" and "no references today" in run.status["reference_warning"]
    board = build_board(result.suite_dir, hand)
    assert any("no references today" in w for w in board.warnings)
    assert "No real data (floor) and no untrained G (ceiling) row for this protocol" in board.tables[0].notes[0]
    assert "no references today" in to_markdown(board)


def test_the_score_plot_draws_the_references_as_labelled_lines(suite_run, hand, monkeypatch):
    from matplotlib.axes import Axes

    from ganbench.plots import draw_all

    drawn: list[tuple[float, str]] = []
    original = Axes.axhline

    def record(self, y=0, *args, **kwargs):
        drawn.append((y, kwargs.get("label", "")))
        return original(self, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "axhline", record)
    (suite_run.suite_dir / "plots" / "index.json").unlink()  # force a redraw
    entries = draw_all(suite_run.suite_dir, hand)
    assert any(e.path == "plots/mean_gap_vs_step.png" for e in entries)
    table = build_board(suite_run.suite_dir, hand).tables[0]
    expected = [(r.scores["mean_gap"].mean, r.label) for r in table.references]
    assert [(pytest.approx(y), label.split(":")[0]) for y, label in drawn] == expected
    from ganbench.board import read_suite
    suite = read_suite(suite_run.suite_dir)
    lines = reference_lines(suite.current, suite.references, "mean_gap")
    assert [(k, pytest.approx(v)) for k, v, _ in lines] == [("real", expected[0][0]), ("untrained", expected[1][0])]


# -- grouping: seeds alone, stale configs apart -----------------------------------------------
def _run_dir(suite_dir: Path, run_id: str, seed: int, steps: int, value: float, age: int) -> None:
    d = suite_dir / run_id
    d.mkdir(parents=True)
    write_json(d / "config.json", {"run_id": run_id, "coords": {"model": "a", "seed": seed},
                                   "train": {"seed": seed, "steps": steps, "log_every": 10 + seed},
                                   "metrics": {"primary": "fd_classifier", "num_samples": 100}})
    write_json(d / "status.json", {"state": "done"})
    (d / "evals.jsonl").write_text(json.dumps({"step": steps, "final": True, "scores": {"fd_classifier": value},
                                               "protocol": {"num_fake": 100}}) + "\n")
    t = 1_700_000_000 + age
    os.utime(d / "config.json", (t, t))


def test_stale_runs_are_shown_apart_and_never_averaged_in(tmp_path, plugins):
    sd = tmp_path / "suite"
    _run_dir(sd, "a-s0-old", 0, 30, 800.0, age=0)  # the suite said steps = 30 ...
    _run_dir(sd, "a-s0-new", 0, 31, 10.0, age=100)  # ... then --set train.steps=31
    _run_dir(sd, "a-s1-new", 1, 31, 14.0, age=200)  # log_every differs too: it changes no weight
    board = build_board(sd, plugins)
    (table,) = board.tables
    current, stale = table.rows
    assert (current.runs, current.seeds, current.rank, current.stale) == (["a-s0-new", "a-s1-new"], [0, 1], 1, False)
    assert (current.scores["fd_classifier"].mean, current.scores["fd_classifier"].n) == (12.0, 2)
    assert (stale.runs, stale.rank, stale.stale, stale.scores["fd_classifier"].n) == (["a-s0-old"], None, True, 1)
    assert stale.differs == "train.steps 30 (newest: 31)"
    (warning,) = board.warnings
    assert "model=a (seeds 0)" in warning and "never averaged in" in warning and "train.steps 30" in warning
    md = to_markdown(board)
    assert "| stale | a |" in md and "800.000 (1)" in md and "12.000 ± 2.828 (2)" in md
    assert "differ in the seed alone" in md and "newest config's runs make the row" in md
    assert [r["kind"] for r in csv.DictReader(io.StringIO(to_csv(board)))] == ["run", "stale"]
    assert json.loads(to_json(board))["tables"][0]["rows"][1]["stale"] is True
    assert '<tr class="stale">' in to_html(board)
    # the stale group stays out of the score curves' groups, not out of the read model
    from ganbench.board import read_suite
    suite = read_suite(sd)
    assert [len(g.runs) for g in suite.groups] == [2, 1] and [len(g.runs) for g in suite.current] == [2]
