"""`ganbench sample --format png|npz`: the run's scoring sample, image for image, batch by
batch, deterministic for a seed, as one PNG per image or one uint8 array."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganbench.export import load_generator
from ganbench.metrics import EVAL_SEED_OFFSET
from ganbench.sampling import make_generator
from ganbench.testing import fresh_plugins
from hostile import run_cli, write_suite


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import os
    os.environ["GANBENCH_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    base = tmp_path_factory.mktemp("export")
    o = run_cli("run", write_suite(base, {"num_samples = 64": "num_samples = 64\nbatch_size = 24"}),
                "--results", base / "results")
    assert o.code == 0, o.err + o.out
    return next((base / "results" / "hostile").glob("dcgan*"))


def test_npz_export_is_the_scoring_sample(run_dir, tmp_path):
    assert run_cli("sample", run_dir, "-n", "50", "--format", "npz", "-o", tmp_path / "s.npz").code == 0
    got = np.load(tmp_path / "s.npz")
    assert got["images"].shape == (50, 8, 8, 1) and got["images"].dtype == np.uint8 and "labels" not in got
    plugins = fresh_plugins()
    G, run, _ = load_generator(plugins, run_dir)
    import torch
    scoring = make_generator(G, run.train.latent_dim, run.train.latent_dist, torch.device("cpu"), None,
                             run.metrics.batch_size, run.train.seed + EVAL_SEED_OFFSET)(50)[0]
    assert np.array_equal(got["images"], scoring.permute(0, 2, 3, 1).numpy())


def test_png_export_is_deterministic_and_matches_npz(run_dir, tmp_path):
    for name in ("a", "b"):
        o = run_cli("sample", run_dir, "-n", "30", "--format", "png", "-o", tmp_path / name, "--seed", "5")
        assert o.code == 0, o.err
    files = sorted((tmp_path / "a").glob("*.png"))
    assert len(files) == 30 and files[0].name == "000000.png"
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)
    assert run_cli("sample", run_dir, "-n", "30", "--format", "npz", "-o", tmp_path / "c.npz", "--seed", "5").code == 0
    arr = np.load(tmp_path / "c.npz")["images"]
    assert np.array_equal(np.asarray(Image.open(files[7])), arr[7, ..., 0])
    other = run_cli("sample", run_dir, "-n", "30", "--format", "npz", "-o", tmp_path / "d.npz", "--seed", "6")
    assert other.code == 0 and not np.array_equal(np.load(tmp_path / "d.npz")["images"], arr)


@pytest.mark.parametrize("args,needle", [
    (["--format", "png"], "needs -o"),
    (["--format", "npz", "-o", "x.png"], ".npz"),
    (["--format", "png", "-o", "{nonempty}"], "not an empty folder"),
    (["--format", "png", "-o", "{out}", "--class", "3"], "unconditional"),
])
def test_export_refuses_cleanly(run_dir, tmp_path, args, needle, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    args = [a.format(nonempty=tmp_path / "full", out=tmp_path / "new") for a in args]
    monkeypatch.chdir(tmp_path)
    o = run_cli("sample", run_dir, "-n", "4", *args)
    assert o.code == 2 and needle in o.err and "Traceback" not in o.err, o.err
    assert (tmp_path / "full" / "mine.txt").read_text() == "x"


def test_export_then_score_into_the_suite_reproduces_the_final_score(run_dir, tmp_path):
    """The run's scoring sample, exported and scored with `ganbench score --into`, gives the run's
    own final scores exactly, and shows as an external row in its leaderboard's table."""
    import json
    final = [json.loads(ln) for ln in (run_dir / "evals.jsonl").read_text().splitlines()][-1]
    n = final["protocol"]["num_fake"]
    assert run_cli("sample", run_dir, "-n", str(n), "--format", "npz", "-o", tmp_path / "s.npz").code == 0
    o = run_cli("score", tmp_path / "s.npz", "--into", run_dir.parent, "--name", "mine")
    assert o.code == 0, o.err + o.out
    row = json.loads((run_dir.parent / "external" / "mine.json").read_text())
    assert row["scores"] == final["scores"]
    board = json.loads((run_dir.parent / "leaderboard.json").read_text())
    ext = [r for t in board["tables"] for r in t["references"] if r["kind"] == "external"]
    assert [r["label"] for r in ext] == ["external: mine"]
    assert "external: mine" in (run_dir.parent / "leaderboard.md").read_text()
    # other samples (a different seed) score differently; fewer than the protocol's count are refused
    assert run_cli("sample", run_dir, "-n", str(n), "--format", "png", "-o", tmp_path / "png", "--seed", "9").code == 0
    other = run_cli("score", tmp_path / "png", "--into", run_dir.parent, "--name", "other")
    assert other.code == 0, other.err
    assert json.loads((run_dir.parent / "external" / "other.json").read_text())["scores"] != final["scores"]
    short = run_cli("sample", run_dir, "-n", "5", "--format", "npz", "-o", tmp_path / "few.npz")
    assert short.code == 0
    refused = run_cli("score", tmp_path / "few.npz", "--into", run_dir.parent, "--name", "few")
    assert refused.code == 2 and "holds 5 images" in refused.err
    # without --into: the data set's own options (digits at 16x16): samples of another size are refused
    alone = run_cli("score", tmp_path / "s.npz", "--dataset", "digits", "--metrics", "classifier",
                    "--num-samples", "32")
    assert alone.code == 2 and "the data set's are (1, 16, 16)" in alone.err and "Traceback" not in alone.err
    # ... and with the run's data set options given by --set, the run's own score again, no --into
    same = run_cli("score", tmp_path / "s.npz", "--dataset", "digits", "--metrics", "classifier",
                   "--set", "datasets.digits.resolution=8", "--set", f"metrics.num_samples={n}")
    assert same.code == 0, same.err
    assert f"fd_classifier = {final['scores']['fd_classifier']:.6g}" in same.out
    wrong = run_cli("score", tmp_path / "s.npz", "--dataset", "digits", "--set", "datasets.cifar10.resolution=8")
    assert wrong.code == 2 and "not 'cifar10'" in wrong.err
    typo = run_cli("score", tmp_path / "s.npz", "--dataset", "digits", "--set", "datasets.digits.resolutoin=8")
    assert typo.code == 2 and "datasets.digits.resolutoin" in typo.err and "resolution" in typo.err
