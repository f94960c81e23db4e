"""The classifier metric's classifiers: the shipped references load offline, are what their
metadata says and give the same features on every load; a classifier trained here is
reproduced exactly by retraining; and no classifier scores before it can tell real images
from a constant grey image and from noise (a flat grey generator on a small image folder is
refused, never scored well).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.config import MetricsConfig
from ganbench.errors import GanbenchError
from ganbench.metrics import evaluate
from ganbench.specs import EvalContext, ImageData
from ganbench_plugins import imagefolder
from ganbench_plugins.classifier_metrics import (ClassifierOptions, Classifier, check_sanity, get_classifier,
                                                 protocol, sanity)
from ganbench_plugins.classifier_metrics.nets import features
from ganbench_plugins.classifier_metrics.shipped import META_KEYS, SHIPPED, WEIGHTS_DIR, find_shipped, load_shipped
from ganbench_plugins.digits import DigitsOptions
from ganbench_plugins.digits import load as load_digits

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_digits(DigitsOptions(resolution=16), "")


def _ctx(real: ImageData, fake: torch.Tensor, cache: Path, dataset: str, full: ImageData | None = None,
         options: ClassifierOptions | None = None) -> EvalContext:
    return EvalContext(real=real, num_samples=len(fake), device=CPU, cache_dir=cache,
                       config=MetricsConfig(names=["classifier"], num_samples=len(fake)),
                       generate=lambda k: (fake[:k], None), dataset=dataset,
                       full_real=(lambda: full) if full is not None else None, options=options)


def _folder(root: Path, digits: ImageData, classes: list[int], per_class: int) -> ImageData:
    """An image folder of real digit images (16x16 grey PNGs), one sub-folder per digit, loaded."""
    for k in classes:
        d = root / str(k)
        d.mkdir(parents=True)
        for i, img in enumerate(digits.images[digits.labels == k][:per_class]):
            Image.fromarray(img[0].numpy()).save(d / f"{i:03d}.png")
    return imagefolder.load(imagefolder.ImageFolderOptions(root=str(root)), str(root.parent / "decoded"))


# -- the shipped classifiers -----------------------------------------------------------------

@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_classifier_is_what_its_metadata_says(name):
    found = find_shipped(name)
    meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    assert [k for k in META_KEYS if k not in meta] == []
    assert found.weights.stat().st_size < 1_000_000
    state = torch.load(found.weights, map_location="cpu", weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert meta["split"]["train"] > 0 and meta["split"]["held_out"] > 0
    assert 0.5 < meta["held_out_accuracy"] <= 1.0 and meta["command"].endswith(name)
    assert len(meta["class_names"]) == state["head.weight"].shape[0] == 10
    assert meta["training_data"]["fingerprint"] and meta["training_data"]["how"]


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_classifier_loads_offline_and_gives_identical_features(name, monkeypatch):
    monkeypatch.setenv("GANBENCH_OFFLINE", "1")
    found = find_shipped(name)
    images = torch.randint(0, 256, (64, *found.input_shape), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    first = features(load_shipped(found, CPU), images, CPU)
    second = features(load_shipped(found, CPU), images, CPU)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_digits_runs_use_the_shipped_classifier_at_any_resolution(digits, tmp_path):
    """A 32x32 run is scored by the 16x16 digits classifier: real and generated images are
    resized the same way, so real data still scores 0, and the protocol says so."""
    big = load_digits(DigitsOptions(resolution=32), "")
    ctx = _ctx(big, big.images, tmp_path, "digits", full=big)
    scores, proto, _ = evaluate(_plugins(), ctx.config, {"classifier": ClassifierOptions()}, ctx)
    p = proto["classifier"]
    assert abs(scores["fd_classifier"]) < 1e-4 and scores["mode_coverage"] == 1.0
    assert p["classifier"].startswith("shipped ganbench_plugins/classifier_weights/digits.pt")
    assert p["classifier_input"] == "1x16x16" and "resize" in p["input_conversion"]
    assert p["classifier_accuracy"] == round(find_shipped("digits").meta["held_out_accuracy"], 4)
    assert p["sanity"]["passed"] and p["sanity"]["fd_real"] < sanity.FACTOR * p["sanity"]["fd_grey"]


def _plugins():
    from ganbench.testing import fresh_plugins
    return fresh_plugins()


# -- classifiers trained here ------------------------------------------------------------------

def test_image_folder_classifier_retrained_from_scratch_gives_identical_features(digits, tmp_path):
    folder = _folder(tmp_path / "imgs", digits, [1, 4, 7], 40)
    options = ClassifierOptions(width=8, epochs=3)
    got = []
    for cache in ("cache-a", "cache-b"):  # a fresh cache each time: trained twice from scratch
        clf = get_classifier(_ctx(folder, folder.images, tmp_path / cache, "imagefolder", full=folder), options)
        assert clf.name == "" and clf.weights.is_relative_to(tmp_path / cache)
        got.append((clf.sha256, features(clf.model, folder.images, CPU)[0]))
        from ganbench_plugins.classifier_metrics import _MEMO
        _MEMO.clear()
    assert got[0][0] == got[1][0]
    assert np.array_equal(got[0][1], got[1][1])


def test_flat_grey_generator_on_a_small_one_class_folder_is_refused(digits, tmp_path):
    folder = _folder(tmp_path / "imgs", digits, [3], 40)
    grey = torch.full((40, 1, 16, 16), 128, dtype=torch.uint8)
    ctx = _ctx(folder, grey, tmp_path / "cache", "imagefolder", full=folder)
    with pytest.raises(GanbenchError, match="reference") as err:
        evaluate(_plugins(), ctx.config, {"classifier": ClassifierOptions(width=8, epochs=1)}, ctx)
    assert "one class" in str(err.value) or "1 class" in str(err.value)


def test_flat_grey_generator_on_a_small_folder_is_refused_or_scored_bad(digits, tmp_path):
    """Named reference (the digits classifier on a folder of three digit classes): the
    grey generator is far worse than a real sample and covers none of the classes."""
    folder = _folder(tmp_path / "imgs", digits, [2, 5, 8], 60)
    grey = torch.full((90, 1, 16, 16), 128, dtype=torch.uint8)
    real = folder.images[torch.randperm(len(folder.images), generator=torch.Generator().manual_seed(0))[:90]]
    out = {}
    for name, fake in (("grey", grey), ("real", real)):
        ctx = _ctx(folder, fake, tmp_path / "cache", "imagefolder", options=ClassifierOptions(reference="digits"))
        try:
            out[name], proto, _ = evaluate(_plugins(), ctx.config, {"classifier": ctx.options}, ctx)
        except GanbenchError as exc:  # refusing is the other acceptable answer
            assert "nonsense" in str(exc) and "hint" in str(exc)
            return
    assert proto["classifier"]["coverage_against"] == "labels"  # folders "2", "5", "8" are digits classes
    assert out["grey"]["fd_classifier"] > 4 * out["real"]["fd_classifier"]
    assert out["grey"]["mode_coverage"] <= 1 / 3 and out["real"]["mode_coverage"] == 1.0


# -- the sanity rule ---------------------------------------------------------------------------

class Constant(torch.nn.Module):
    """A useless extractor: the same features and prediction for every image."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x)
        return torch.ones(n, 128), torch.zeros(n, 10)


def test_the_sanity_rule_refuses_a_useless_extractor(digits, tmp_path):
    model = Constant()
    ref = features(model, digits.images, CPU)[0]
    verdict = sanity.check(model, ref, digits.shape, lambda x: x, CPU)
    assert not verdict.passed
    clf = Classifier(model, "", tmp_path / "x.pt", "0" * 64, 0.1, 100, digits.fingerprint, digits.shape,
                     digits.class_names, "constant")
    ctx = _ctx(digits, digits.images, tmp_path, "digits")
    with pytest.raises(GanbenchError, match="cannot tell real images from nonsense"):
        check_sanity(ctx, clf, ref, ClassifierOptions())
    # switched off, it scores and the protocol carries the failed verdict
    assert not check_sanity(ctx, clf, ref, ClassifierOptions(sanity_check=False)).passed


def test_the_shipped_digits_classifier_passes_and_the_protocol_says_so(digits, tmp_path):
    ctx = _ctx(digits, digits.images[:200], tmp_path, "digits", options=ClassifierOptions())
    evaluate(_plugins(), ctx.config, {"classifier": ctx.options}, ctx)
    p = protocol(ctx)
    assert p["classifier_weights"] == find_shipped("digits").meta["weights_sha256"][:16]
    assert p["sanity"]["rule"] == sanity.RULE and p["input_conversion"] == "none"
    assert p["sanity"]["images_per_set"] == len(digits.images) // 2
    cached = list((tmp_path / "classifier" / "sanity").glob("*.json"))
    verdict = json.loads(cached[0].read_text())
    assert len(cached) == 1 and verdict["passed"] is True
    assert verdict["fd_real"] < sanity.FACTOR * min(verdict["fd_grey"], verdict["fd_noise"])


def test_a_reference_too_small_to_judge_is_said_so_not_failed(digits):
    """Below 50 reference images the rule's distances are estimation noise: not judged, and the
    protocol says that rather than a verdict."""
    model = load_shipped(find_shipped("digits"), CPU)
    small = digits.images[:40]
    verdict = sanity.check(model, features(model, small, CPU)[0], digits.shape, lambda x: x, CPU)
    assert (verdict.judged, verdict.passed) == (False, True)
    assert verdict.summary()["judged"] is False and "not judged" in verdict.summary()["rule"]
    enough = digits.images[:400]
    verdict = sanity.check(model, features(model, enough, CPU)[0], digits.shape, lambda x: x, CPU)
    assert verdict.judged and verdict.passed


def test_in_class_ratio_compares_samples_filed_under_the_class_with_real_images(digits, tmp_path):
    """A per-class run (digit 3 only): real 3s score 1, a generator drawing 7s half the time ~0.5;
    a reference of all classes has no such score."""
    from dataclasses import replace

    threes = digits.images[digits.labels == 3]
    sevens = digits.images[digits.labels == 7]
    real = replace(digits, images=threes, labels=torch.full((len(threes),), 3), fingerprint="threes")
    out = {}
    for name, fake in (("real", threes[:100]), ("half", torch.cat([threes[:50], sevens[:50]]))):
        ctx = _ctx(real, fake, tmp_path, "digits", full=digits, options=ClassifierOptions())
        out[name], _, _ = evaluate(_plugins(), ctx.config, {"classifier": ctx.options}, ctx)
    assert out["real"]["in_class_ratio"] == pytest.approx(1.0, abs=0.02)
    assert out["half"]["in_class_ratio"] == pytest.approx(0.5, abs=0.05)
    ctx = _ctx(digits, digits.images[:200], tmp_path, "digits", options=ClassifierOptions())
    assert "in_class_ratio" not in evaluate(_plugins(), ctx.config, {"classifier": ctx.options}, ctx)[0]
