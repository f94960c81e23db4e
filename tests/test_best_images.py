"""A report's "best N images": chosen by the trained D's raw score among 10x as many samples
of the scoring G, saved in D's order beside the random final images, with best.json saying how."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from ganbench.best_images import d_scores, save_best_images
from ganbench.data import DataCache, cache_dir
from ganbench.sampling import to_float
from ganbench.suite import load_suite
from ganbench.train import Trainer

SUITE = """
[suite]
name = "best"
[matrix]
model = ["dcgan"]
dataset = ["digits"]
[train]
steps = 3
batch_size = 8
threads = 1
[models.dcgan]
width = 4
[datasets.digits]
limit = 64
[metrics]
names = []
"""


def test_the_kept_images_are_those_d_scores_highest_and_say_so(plugins, tmp_path):
    run = load_suite(plugins, "best.toml", text=SUITE).runs[0]
    trainer = Trainer(plugins, run, DataCache(plugins, cache_dir()).get(run.dataset, run.dataset_options),
                      torch.device("cpu"))
    for _ in range(3):
        trainer.train_step()
    was = trainer.D.training
    record = save_best_images(trainer, 4, seed=0, class_names=["x"] * 10, out=tmp_path / "best")
    assert trainer.D.training == was  # D's mode is restored
    files = sorted((tmp_path / "best").glob("*.png"))
    assert [f.name for f in files] == ["000.png", "001.png", "002.png", "003.png"]
    assert record["candidates"] == 64 and record["kept"] == 4 and "D's raw score" in record["selected_by"]
    assert json.loads((tmp_path / "best" / "best.json").read_text()) == record
    # the saved PNGs, scored again by D, come back in the recorded (descending) order, and are
    # at least as high as the median candidate
    saved = torch.from_numpy(np.stack([np.asarray(Image.open(f)) for f in files]))[:, None]
    again = d_scores(trainer.D, saved, None, False, torch.device("cpu")).tolist()
    assert again == sorted(again, reverse=True)
    assert np.allclose(again, record["scores"], atol=1e-4)
    assert min(again) >= record["candidate_scores"]["median"]
    # the same seed, the same choice
    save_best_images(trainer, 4, seed=0, class_names=["x"] * 10, out=tmp_path / "again")
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted((tmp_path / "again").glob("*.png"))]


def test_d_scores_are_ds_eval_mode_scores_of_the_images(plugins):
    class Brightness(torch.nn.Module):
        def forward(self, x, y=None):
            return x.mean((1, 2, 3))

    images = torch.tensor([[[[0]]], [[[255]]], [[[128]]]], dtype=torch.uint8)
    got = d_scores(Brightness(), images, None, False, torch.device("cpu"))
    assert torch.allclose(got, to_float(images).mean((1, 2, 3)))


def test_a_run_saves_its_best_images_beside_the_random_ones(tmp_path):
    from ganbench.testing import run_suite_text

    out = run_suite_text(SUITE.replace("threads = 1", "threads = 1\nnum_final_images = 3\nnum_best_images = 2"),
                         tmp_path)
    (run,) = out.runs.values()
    assert len(list((run.dir / "final").glob("*.png"))) == 3
    assert len(list((run.dir / "final" / "best").glob("*.png"))) == 2
    assert json.loads((run.dir / "final" / "best" / "best.json").read_text())["kept"] == 2
