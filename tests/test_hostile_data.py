"""Hostile corpus, bad data: a corrupt, vanished, looping or misplaced file is one line naming
the path, from `validate` (which decodes the data once, cached) before anything trains."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hostile import assert_clean_error, run_cli, snapshot, write_suite

FOLDER_SUITE = {'dataset = ["digits"]': 'dataset = ["imagefolder"]', "[datasets.digits]": "[datasets.imagefolder]"}


@pytest.fixture(autouse=True)
def _no_entry_points(monkeypatch):
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")


def _folder(root: Path) -> Path:
    """Two classes of six 8x8 PNGs."""
    rng = np.random.default_rng(0)
    for c in ("cats", "dogs"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _png(p: Path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(p)


#: id -> damage done to the image folder -> what the message must name
DAMAGE = {
    "garbage-png": lambda r: (r / "cats" / "0.png").write_bytes(b"not an image at all" * 10),
    "empty-jpg": lambda r: (r / "dogs" / "x.jpg").write_bytes(b""),
    "truncated-png": lambda r: (r / "cats" / "1.png").write_bytes((r / "cats" / "1.png").read_bytes()[:40]),
    "png-named-jpg-garbage": lambda r: (r / "cats" / "y.jpeg").write_bytes(b"\xff\xd8\xff\xe0garbage"),
    "text-as-webp": lambda r: (r / "dogs" / "z.webp").write_text("hello"),
    "html-as-png": lambda r: (r / "dogs" / "page.png").write_text("<html>404</html>"),
    "looping-image-link": lambda r: os.symlink("loop.png", r / "cats" / "loop.png"),
    "broken-image-link": lambda r: os.symlink("/nonexistent/x.png", r / "cats" / "gone.png"),
    "looping-class-link": lambda r: os.symlink("birds", r / "birds"),
    "broken-class-link": lambda r: os.symlink("/nonexistent/folder", r / "fish"),
    "empty-class": lambda r: (r / "empty").mkdir(),
    "class-of-non-images": lambda r: ((r / "notes").mkdir(), (r / "notes" / "a.txt").write_text("x")),
    "mixed-sizes-native": lambda r: Image.fromarray(np.zeros((9, 7, 3), np.uint8)).save(r / "cats" / "odd.png"),
    "bomb": lambda r: _bomb(r / "cats" / "huge.png"),
}

NEEDLES = {"garbage-png": "0.png", "empty-jpg": "x.jpg", "truncated-png": "1.png", "png-named-jpg-garbage": "y.jpeg",
           "text-as-webp": "z.webp", "html-as-png": "page.png", "looping-image-link": "loop.png",
           "broken-image-link": "gone.png", "looping-class-link": "birds", "broken-class-link": "fish",
           "empty-class": "empty", "class-of-non-images": "notes", "mixed-sizes-native": "odd.png",
           "bomb": "huge.png"}


def _bomb(path: Path) -> None:
    """A PNG header claiming 30000 x 30000 pixels: Pillow's decompression-bomb guard refuses it."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = (30000).to_bytes(4, "big") * 2  # IHDR width, height (CRC now wrong too)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case", list(DAMAGE))
def test_bad_image_folder_is_one_line_before_training(case, tmp_path):
    root = _folder(tmp_path / "images")
    DAMAGE[case](root)
    res = "0" if case == "mixed-sizes-native" else "8"
    suite = write_suite(tmp_path, {**FOLDER_SUITE, "resolution = 8": f'resolution = {res}\nroot = "{root}"'})
    before = snapshot(tmp_path)
    assert_clean_error(run_cli("validate", suite), 2, NEEDLES[case])
    assert snapshot(tmp_path) == before
    results = tmp_path / "results"
    assert_clean_error(run_cli("run", suite, "--results", results), 2, NEEDLES[case])
    assert not (results / "hostile").exists() or not any((results / "hostile").glob("dcgan*"))


@pytest.mark.parametrize("case", ["root-is-file", "root-missing", "split-missing"])
def test_misplaced_image_folder(case, tmp_path):
    root = tmp_path / "images"
    if case == "root-is-file":
        root.write_text("a file")
    elif case == "split-missing":
        _folder(root)
    split = '\nsplit = "test"' if case == "split-missing" else ""
    suite = write_suite(tmp_path, {**FOLDER_SUITE, "resolution = 8": f'resolution = 8\nroot = "{root}"{split}'})
    code = 2 if case == "root-is-file" else 3
    assert_clean_error(run_cli("validate", suite), code, "images")


def test_file_vanishing_between_scan_and_decode(tmp_path, monkeypatch):
    """A file deleted after the folder was listed: the decode names it, no traceback."""
    import ganbench_plugins.imagefolder as imagefolder
    root = _folder(tmp_path / "images")
    real_scan = imagefolder.scan

    def scan_then_delete(folder):
        out = real_scan(folder)
        os.unlink(out[1][3])
        return out
    monkeypatch.setattr(imagefolder, "scan", scan_then_delete)
    suite = write_suite(tmp_path, {**FOLDER_SUITE, "resolution = 8": f'resolution = 8\nroot = "{root}"'})
    assert_clean_error(run_cli("validate", suite), 2, "images")


#: the reports' data sets from their own files, each damaged; root points at a folder the test makes
SETS = {
    "cifar-garbage-batch": ("cifar10", "cifar-10-batches-py", ["data_batch_1", "data_batch_2", "data_batch_3",
                                                              "data_batch_4", "data_batch_5", "test_batch"],
                            b"garbage"),
    "cifar-batch-is-folder": ("cifar10", "cifar-10-batches-py", ["data_batch_1", "data_batch_2", "data_batch_3",
                                                                "data_batch_4", "data_batch_5", "test_batch"], None),
    "fashion-garbage-idx": ("fashion-mnist", "FashionMNIST/raw", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
                            b"\x00\x00\x08\x03garbage"),
    "mnist-empty-idx": ("mnist", "MNIST/raw", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"], b""),
}


@pytest.mark.parametrize("case", list(SETS))
def test_damaged_builtin_data_set_is_one_line(case, tmp_path):
    name, sub, files, content = SETS[case]
    folder = tmp_path / "data" / sub
    folder.mkdir(parents=True)
    for f in files:
        if content is None:
            (folder / f).mkdir()
        else:
            (folder / f).write_bytes(content)
    suite = write_suite(tmp_path, {'dataset = ["digits"]': f'dataset = ["{name}"]',
                                   "[datasets.digits]": f"[datasets.{name}]",
                                   "resolution = 8": f'resolution = 8\nroot = "{tmp_path / "data"}"'})
    o = run_cli("validate", suite)
    text = assert_clean_error(o, o.code if o.code in (2, 3) else 2)
    assert str(tmp_path / "data") in text, text
