"""Intra-class FD (classifier and Inception extractors) and the classifier's density/coverage,
each checked against a computation written out here."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from ganbench.errors import GanbenchError
from ganbench.metrics import evaluate, intra_class

from test_metrics import _ctx, _subset, digits, inception_weights  # noqa: F401 - fixtures


def fd_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Heusel et al.'s formula with scipy's matrix square root of the product."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # singular covariances (few samples, dead features) are expected
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_intra_class_is_the_mean_of_per_class_distances():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(90, 4))
    real_y = np.repeat([0, 1, 2], 30)
    fake = rng.normal(size=(60, 4)) * 1.5 + 0.3
    fake_y = np.tile([0, 1, 2], 20)
    real[real_y == 2] += 4.0  # class 2 far off: the mean is not the pooled FD
    mean, per = intra_class(fake, fake_y, real, real_y, fd_by_hand)
    want = {c: fd_by_hand(fake[fake_y == c], real[real_y == c]) for c in (0, 1, 2)}
    assert per == pytest.approx(want, rel=1e-12)
    assert mean == pytest.approx(np.mean(list(want.values())), rel=1e-12)
    from ganbench.metrics import frechet_distance
    from ganbench_plugins.classifier_metrics.sanity import fd
    assert intra_class(fake, fake_y, real, real_y, fd)[0] == pytest.approx(mean, rel=1e-8)
    assert mean != pytest.approx(frechet_distance(*[fake.mean(0), np.cov(fake, rowvar=False)],
                                                  *[real.mean(0), np.cov(real, rowvar=False)]), rel=0.05)


def test_intra_class_needs_two_samples_per_class():
    with pytest.raises(GanbenchError, match="class 1 has 1 generated"):
        intra_class(np.zeros((3, 2)), np.array([0, 0, 1]), np.zeros((4, 2)), np.array([0, 0, 1, 1]), fd_by_hand)


def test_classifier_ifd_matches_per_class_fd_on_its_features_and_sees_wrong_classes(digits, plugins):
    from ganbench.data import cache_dir
    from ganbench_plugins.classifier_metrics import ClassifierOptions, conversion, get_classifier
    from ganbench_plugins.classifier_metrics.nets import features
    opts = {"classifier": ClassifierOptions(density_coverage=True, manifold_real=500)}
    fake, fake_y = digits.images[:900], digits.labels[:900]
    ctx = _ctx(digits, fake, cache_dir(), ["classifier"], conditional=True, fake_labels=fake_y)
    ctx.full_real = lambda: digits
    scores, protocol, _ = evaluate(plugins, ctx.config, opts, ctx)
    clf = get_classifier(ctx, opts["classifier"])
    _, convert = conversion(digits.shape, clf.input_shape)
    real_f = features(clf.model, convert(digits.images), ctx.device)[0].astype(np.float64)
    fake_f = features(clf.model, convert(fake), ctx.device)[0].astype(np.float64)
    ry, fy = digits.labels.numpy(), fake_y.numpy()
    want = np.mean([fd_by_hand(fake_f[fy == c], real_f[ry == c]) for c in range(10)])
    assert scores["ifd_classifier"] == pytest.approx(want, rel=1e-4)
    assert "intra-class" in protocol["classifier"]["ifd"]
    # the same images asked for as the wrong class: fd_classifier cannot tell, the intra-class FD can
    wrong = _ctx(digits, fake, cache_dir(), ["classifier"], conditional=True, fake_labels=(fake_y + 1) % 10)
    wrong.full_real = lambda: digits
    bad, _, _ = evaluate(plugins, wrong.config, opts, wrong)
    assert bad["fd_classifier"] == pytest.approx(scores["fd_classifier"])
    assert bad["ifd_classifier"] > 5 * scores["ifd_classifier"]
    # density / coverage on the same features, against the seed-0 subset of 500 real images
    from ganbench_plugins.fidelity.manifold import density_coverage
    pick = torch.randperm(len(real_f), generator=torch.Generator().manual_seed(0))[:500]
    d, c = density_coverage(torch.from_numpy(real_f)[pick], torch.from_numpy(fake_f), 5)
    assert scores["density_classifier"] == pytest.approx(d, rel=1e-5)
    assert scores["coverage_classifier"] == pytest.approx(c, rel=1e-5)
    assert "k = 5" in protocol["classifier"]["density_coverage"] and "500" in protocol["classifier"]["density_coverage"]


def test_unconditional_runs_have_no_intra_class_score(digits, plugins):
    from ganbench.data import cache_dir
    ctx = _ctx(digits, digits.images[:300], cache_dir(), ["classifier"])
    ctx.full_real = lambda: digits
    scores, protocol, _ = evaluate(plugins, ctx.config, {}, ctx)
    assert "ifd_classifier" not in scores and "density_classifier" not in scores
    assert "ifd" not in protocol["classifier"]


def test_inception_ifid_is_zero_for_real_images_of_the_right_class_and_not_for_the_wrong(
        digits, inception_weights, tmp_path, plugins):
    from ganbench_plugins.fidelity.options import FidOptions
    keep = torch.cat([torch.nonzero(digits.labels == c)[:12, 0] for c in range(3)])
    real = _subset(digits, keep)
    opts = {"fid": FidOptions(weights=str(inception_weights))}
    ctx = _ctx(real, real.images, tmp_path, ["fid"], conditional=True, fake_labels=real.labels)
    right, protocol, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert abs(right["ifid_inception"]) < 1e-2 and abs(right["fid_inception"]) < 1e-2
    assert "intra-class FID" in protocol["fid"]["ifid"]
    ctx = _ctx(real, real.images, tmp_path, ["fid"], conditional=True, fake_labels=real.labels.roll(12))
    wrong, _, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert abs(wrong["fid_inception"]) < 1e-2 and wrong["ifid_inception"] > 1.0
