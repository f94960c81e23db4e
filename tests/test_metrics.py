"""Metrics: formulas against independent references, the real Inception code path with
random weights (offline), reference caching, protocol, weights errors, classifier
metrics on real digits, and `ganbench eval`.

Inception-v3 runs at ≈ 5 images/s on a 2-core CPU, so every test that touches it uses a
dozen tiny images and one randomly initialised weights file per session.
"""
from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench import cli
from ganbench.config import MetricsConfig, from_dict
from ganbench.errors import GanbenchError
from ganbench.metrics import evaluate, frechet_distance
from ganbench.sampling import quantize, to_float
from ganbench.specs import EvalContext
from ganbench_plugins.fidelity import features as fid_features
from ganbench_plugins.fidelity import reference as fid_reference
from ganbench_plugins.fidelity.extractors import INCEPTION
from ganbench_plugins.fidelity.options import FidOptions, IsOptions, KidOptions, PrcOptions
from ganbench_plugins.fidelity.reference import Reference, reference_for, reference_key, reference_path, tf_version
from ganbench_plugins.fidelity.scores import scores_from_features
from ganbench_plugins.fidelity.weights import Weights, save_random_inception_weights, weights_problem
from ganbench_plugins.digits import DigitsOptions
from ganbench_plugins.digits import load as load_digits


# -- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def digits():
    """All 1,797 digits at 16×16, one channel."""
    return load_digits(DigitsOptions(resolution=16), "")


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory, digits) -> Path:
    """A randomly initialised torch-fidelity Inception-v3 state dict, calibrated on digits."""
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    pick = torch.randperm(len(digits.images), generator=torch.Generator().manual_seed(1))[:16]
    return save_random_inception_weights(path, seed=0, images=digits.images[pick])


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, an empty torch hub cache, no weights in the environment."""
    monkeypatch.setenv("GANBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("GANBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.delenv("GANBENCH_VGG16_WEIGHTS", raising=False)
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-home" / "hub"))
    yield
    torch.hub.set_dir(before)


def _ctx(real, fake, cache_dir, names, n=None, conditional=False, fake_labels=None, classes=()):
    n = len(fake) if n is None else n
    return EvalContext(real=real, num_samples=n, device=torch.device("cpu"), cache_dir=Path(cache_dir),
                       config=MetricsConfig(names=list(names), num_samples=n),
                       generate=lambda k: (fake[:k], None if fake_labels is None else fake_labels[:k]),
                       conditional=conditional, dataset="digits", classes=tuple(classes))


def _subset(data, keep):
    from ganbench.data import fingerprint
    from ganbench.specs import ImageData
    images, labels = data.images[keep], data.labels[keep]
    return ImageData(images, labels, data.class_names, fingerprint(images, labels))


# -- formulas ---------------------------------------------------------------------------------

def _scipy_frechet(mu1, s1, mu2, s2) -> float:
    from scipy import linalg
    covmean = linalg.sqrtm(s1 @ s2).real
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_matches_scipy_in_float64():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 24)) @ rng.normal(size=(24, 24))
    b = 0.7 * rng.normal(size=(500, 24)) @ rng.normal(size=(24, 24)) + 0.3
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    ref = _scipy_frechet(mu1, s1, mu2, s2)
    assert abs(frechet_distance(mu1, s1, mu2, s2) - ref) <= 1e-6 * abs(ref)
    # and torch-fidelity's own formula (used for fid_inception) agrees
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    tf = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, False)
    assert abs(tf["frechet_inception_distance"] - ref) <= 1e-6 * abs(ref)


def test_frechet_distance_of_singular_covariances_is_quiet_and_zero_against_itself():
    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(size=(20, 64)), 0)  # fewer samples than dimensions
    x[:, :10] = 0.0  # dead ReLU features: zero variance
    mu, s = x.mean(0), np.cov(x, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert abs(frechet_distance(mu, s, mu, s)) <= 1e-6 * np.trace(s)
        assert frechet_distance(mu, s, mu + 1.0, s) == pytest.approx(64 - 10 + 10, rel=1e-6)


def _ref(features: torch.Tensor, layer: str = "2048") -> Reference:
    from torch_fidelity.metric_fid import fid_features_to_statistics
    st = fid_features_to_statistics(features)
    return Reference({"extractor": "inception-v3-compat", "layer": layer, "num_real": len(features)},
                       features, st["mu"], st["sigma"], Path("unused"))


def test_fid_of_a_set_against_itself_is_zero():
    feats = torch.rand(300, 64, generator=torch.Generator().manual_seed(0))  # 64-d: eig of 2048² is slow
    scores, _ = scores_from_features("fid", FidOptions(), {"2048": feats}, _ref(feats))
    assert abs(scores["fid_inception"]) < 1e-4
    other = feats + 0.1
    scores, _ = scores_from_features("fid", FidOptions(), {"2048": other}, _ref(feats))
    assert scores["fid_inception"] == pytest.approx(64 * 0.01, rel=1e-4)  # ||Δμ||² only


def _unbiased_mmd2_poly(x: np.ndarray, y: np.ndarray) -> float:
    """Hand-written unbiased MMD² with k(a, b) = (a·b / d + 1)³ (KID, Bińkowski et al. 2018)."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.sum() / (m * m))


def test_kid_matches_a_hand_written_unbiased_mmd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 16, generator=g, dtype=torch.float64)
    y = 0.8 * torch.randn(40, 16, generator=g, dtype=torch.float64) + 0.2
    # subsets as large as the sets are permutations of them: the estimator is invariant
    scores, proto = scores_from_features("kid", KidOptions(subsets=3, subset_size=40), {"2048": x}, _ref(y))
    expected = _unbiased_mmd2_poly(x.numpy(), y.numpy())
    assert scores["kid_inception"] == pytest.approx(expected, rel=1e-9)
    # subsets that are the whole samples have no spread: no std is reported, the protocol says why
    assert "kid_inception_std" not in scores and "no spread" in proto["kid_std"]
    assert proto["kid_subset_size"] == 40 and proto["kid_subset_size_clamped"] is False


def test_kid_subset_size_is_clamped_and_reported():
    x, y = torch.rand(30, 8), torch.rand(50, 8)
    scores, proto = scores_from_features("kid", KidOptions(subsets=2), {"2048": x}, _ref(y))
    assert proto["kid_subset_size"] == 30 and proto["kid_subset_size_clamped"] is True
    assert "kid_inception_std" in scores and "kid_std" not in proto  # real subsets vary: a spread


def test_inception_score_on_synthetic_logits():
    k, per_class, splits = 4, 5, 10
    labels = torch.arange(k).repeat(per_class * splits)
    logits = torch.zeros(len(labels), 1008)
    logits[torch.arange(len(labels)), labels] = 60.0  # p(y|x) one-hot, p(y) uniform over k classes
    scores, proto = scores_from_features("is", IsOptions(splits=1), {"logits_unbiased": logits}, None)
    assert scores["is_inception"] == pytest.approx(k, rel=1e-9)  # exp(E KL) = exp(log k)
    same = torch.randn(1, 1008).repeat(200, 1)  # every image gives the same p(y|x)
    scores, proto = scores_from_features("is", IsOptions(), {"logits_unbiased": same}, None)
    assert scores["is_inception"] == pytest.approx(1.0, abs=1e-9)
    assert proto["splits"] == 10
    _, proto = scores_from_features("is", IsOptions(), {"logits_unbiased": same[:4]}, None)
    assert proto["splits"] == 4 and proto["splits_clamped"] is True


def test_quantisation_rule_matches_stored_uint8():
    every = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(quantize(to_float(every)), every)  # real images survive the round trip
    x = torch.tensor([-1.5, -1.0, -1 + 2 / 255, 0.0, 1 / 255, 1.0, 2.0])
    # round((x + 1) * 127.5), half to even, clamped to [0, 255]
    assert quantize(x).tolist() == [0, 0, 1, 128, 128, 255, 255]
    assert quantize(x).dtype == torch.uint8


@pytest.mark.parametrize("cls, key, value, bound", [
    (FidOptions, "batch_size", 0, "≥ 1"), (FidOptions, "num_real", -1, "≥ 0"), (IsOptions, "splits", 0, "≥ 1"),
    (KidOptions, "subsets", 0, "≥ 1"), (KidOptions, "subset_size", 1, "≥ 2"), (PrcOptions, "neighborhood", 0, "≥ 1")])
def test_fidelity_options_are_bounded_with_the_key_path(cls, key, value, bound):
    with pytest.raises(GanbenchError, match=f"metrics.x.{key}: must be {bound}, found {value}"):
        from_dict(cls, {key: value}, "metrics.x")
    assert getattr(from_dict(cls, {}, "metrics.x"), key) == getattr(cls(), key)


# -- reference cache ---------------------------------------------------------------------------

def test_reference_keys_differ_for_class_subsets_and_content(digits, tmp_path):
    zeros = _subset(digits, digits.labels == 0)
    ones = _subset(digits, digits.labels == 1)
    both = _subset(digits, digits.labels <= 1)
    keys = {}
    for name, data, classes in (("0", zeros, ["0"]), ("1", ones, ["1"]), ("01", both, ["0", "1"])):
        ctx = _ctx(data, data.images, tmp_path, ["fid"], classes=classes)
        keys[name] = reference_key(ctx, INCEPTION, "2048", 0, "abc")
    paths = {n: reference_path(tmp_path, k) for n, k in keys.items()}
    assert len(set(paths.values())) == 3
    assert keys["0"]["classes"] == ["0"] and keys["0"]["fingerprint"] != keys["1"]["fingerprint"]
    # same classes but other content (a limit), other weights, other sample counts: other entries
    fewer = _subset(zeros, torch.arange(50))
    ctx0 = _ctx(zeros, zeros.images, tmp_path, ["fid"], classes=["0"])
    assert reference_path(tmp_path, reference_key(_ctx(fewer, fewer.images, tmp_path, ["fid"], classes=["0"]),
                                                  INCEPTION, "2048", 0, "abc")) != paths["0"]
    assert reference_path(tmp_path, reference_key(ctx0, INCEPTION, "2048", 0, "abd")) != paths["0"]
    assert reference_path(tmp_path, reference_key(ctx0, INCEPTION, "2048", 20, "abc")) != paths["0"]
    assert reference_path(tmp_path, reference_key(ctx0, INCEPTION, "2048", 0, "abc")) == paths["0"]


def test_reference_is_computed_once_and_never_reused_for_other_data(digits, tmp_path, monkeypatch):
    calls = []

    def fake_extract(ext, weights, images, device, batch_size):
        calls.append(len(images))
        return {"2048": images.flatten(1).float()[:, :8], "logits_unbiased": torch.zeros(len(images), 1008)}

    monkeypatch.setattr(fid_reference, "extract", fake_extract)
    w = Weights(Path("w"), "0" * 64, False)
    zeros = _subset(digits, digits.labels == 0)
    ctx = _ctx(zeros, zeros.images, tmp_path, ["fid"], classes=["0"])
    a = reference_for(ctx, INCEPTION, w, "2048", 0, 64)
    fid_reference.REFERENCES.clear()  # a new process: from disk
    b = reference_for(ctx, INCEPTION, w, "2048", 0, 64)
    assert calls == [len(zeros.images)] and torch.equal(a.features, b.features)
    assert json.loads(a.path.with_suffix(".json").read_text())["classes"] == ["0"]
    # an entry whose stored key differs (e.g. a hash collision, a hand-copied file) is not used
    obj = torch.load(a.path, weights_only=True)
    obj["key"] = {**obj["key"], "fingerprint": "someone-else"}
    torch.save(obj, a.path)
    fid_reference.REFERENCES.clear()
    reference_for(ctx, INCEPTION, w, "2048", 0, 64)
    assert calls == [len(zeros.images)] * 2
    # a subset of the real images is a fixed random one, and stated
    c = reference_for(ctx, INCEPTION, w, "2048", 20, 64)
    assert c.num_real == 20 and c.key["subset"] == "randperm(seed=0)" and calls[-1] == 20


# -- the real torch-fidelity code path, offline ------------------------------------------------

def test_inception_metrics_end_to_end_one_pass(digits, inception_weights, tmp_path, plugins):
    real = _subset(digits, torch.arange(12))
    names = ["fid", "is", "kid", "prc"]
    opts = {"fid": FidOptions(weights=str(inception_weights)), "is": IsOptions(weights=str(inception_weights)),
            "kid": KidOptions(weights=str(inception_weights)),
            "prc": PrcOptions(weights=str(inception_weights), extractor="inception-v3-compat")}
    fid_features.PASSES.clear()
    fid_reference.REFERENCES.clear()
    ctx = _ctx(real, real.images, tmp_path, names)  # "generated" = the real images
    scores, protocol, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert fid_features.PASSES == [("inception-v3-compat", 12), ("inception-v3-compat", 12)]  # fake once, real once
    assert abs(scores["fid_inception"]) < 1e-2  # a set against itself
    assert scores["precision_inception"] == scores["recall_inception"] == 1.0
    assert scores["coverage_inception"] == 1.0 and scores["density_inception"] >= 1 / 3  # each in its own ball
    assert "Naeem" in protocol["prc"]["density_coverage"]
    assert np.isfinite(scores["is_inception"]) and scores["is_inception"] >= 1.0
    p = protocol["fid"]
    assert p["num_fake"] == 12 and p["num_real"] == 12 and p["extractor"] == "inception-v3-compat"
    assert p["pretrained"] is False and p["weights_sha256"] and p["torch_fidelity"] == tf_version()
    assert p["quantization"] == "uint8 round((x+1)*127.5)" and "grayscale" in p["input"]
    assert protocol["kid"]["kid_subset_size"] == 12 and protocol["kid"]["kid_subset_size_clamped"]
    # the next evaluation (a new process: memory cleared) reads the reference from disk
    fid_reference.REFERENCES.clear()
    fid_features.NETWORKS.clear()
    fake = torch.flip(real.images[:8], dims=[3])
    ctx2 = _ctx(real, fake, tmp_path, ["kid"])  # kid: FID's 2048² eigendecomposition is slow on CPU
    scores2, protocol2, _ = evaluate(plugins, ctx2.config, opts, ctx2)
    assert fid_features.PASSES[2:] == [("inception-v3-compat", 8)]
    assert scores2["kid_inception"] > scores["kid_inception"] and protocol2["kid"]["kid_subset_size"] == 8


def test_validate_and_run_stop_when_weights_are_unavailable(tmp_path, offline, capsys, inception_weights):
    suite = tmp_path / "s.toml"
    body = textwrap.dedent("""
        [suite]
        name = "needs-inception"
        [matrix]
        model = ["dcgan"]
        dataset = ["digits"]
        [train]
        steps = 2
        batch_size = 8
        device = "cpu"
        [models.dcgan]
        width = 4
        [metrics]
        names = ["fid", "kid"]
        num_samples = 8
        """)
    suite.write_text(body)
    assert cli.main(["validate", str(suite)]) == 3
    err = capsys.readouterr().err.replace("\n", "")  # undo rich's line wrapping
    assert "GANBENCH_INCEPTION_WEIGHTS" in err and "metrics.fid.weights =" in err and "metrics.kid" in err
    assert cli.main(["run", str(suite), "--results", str(tmp_path / "res")]) == 3
    assert not any((tmp_path / "res").glob("needs-inception/*/config.json"))  # stopped before training
    suite.write_text(body + '[metrics.fid]\nweights = "/nowhere/inception.pth"\n')
    assert cli.main(["validate", str(suite)]) == 3
    assert "/nowhere/inception.pth" in capsys.readouterr().err.replace("\n", "")
    # a local file by environment variable makes the suite valid
    import os
    os.environ["GANBENCH_INCEPTION_WEIGHTS"] = str(inception_weights)
    try:
        suite.write_text(body)
        assert cli.main(["validate", str(suite)]) == 0
    finally:
        del os.environ["GANBENCH_INCEPTION_WEIGHTS"]
    # a file that is not Inception weights is refused before anything unpickles it
    bogus = tmp_path / "bogus.pth"
    torch.save({"weight": torch.zeros(3)}, bogus)
    assert "not inception-v3-compat weights" in weights_problem("fid", FidOptions(weights=str(bogus)))
    # Inception weights are not vgg16 weights, even right after they passed as Inception weights
    assert weights_problem("fid", FidOptions(weights=str(inception_weights))) is None
    assert "not vgg16 weights" in weights_problem("prc", PrcOptions(weights=str(inception_weights)))


# -- classifier metrics on real digits -----------------------------------------------------------

#: a narrower, shorter-trained classifier than the default (≈ 4× cheaper), shared with the eval test
CLASSIFIER = {"width": 16, "epochs": 8}


def test_classifier_metrics_on_real_digits(digits, tmp_path, plugins):
    from ganbench.data import cache_dir
    from ganbench_plugins.classifier_metrics import ClassifierOptions

    opts = {"classifier": ClassifierOptions(**CLASSIFIER)}
    ctx = _ctx(digits, digits.images, cache_dir(), ["classifier"])
    ctx.full_real = lambda: digits
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, protocol, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert not [w for w in caught if "singular" in str(w.message).lower()]  # dead ReLU features are fine
    assert protocol["classifier"]["classifier_accuracy"] >= 0.9
    import hashlib
    from ganbench_plugins.classifier_metrics import _MEMO
    (path, _), = _MEMO  # the weights file scored with: its hash is in the protocol
    assert protocol["classifier"]["classifier_weights"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    assert abs(scores["fd_classifier"]) < 1e-4 and scores["mode_coverage"] == 1.0
    assert scores["class_kl"] == pytest.approx(0.0, abs=1e-9)
    # collapse onto one class the classifier never confuses (its stray errors would count as coverage)
    zeros_only = digits.images[digits.labels == 0]
    ctx = _ctx(digits, zeros_only, cache_dir(), ["classifier"])
    ctx.full_real = lambda: digits
    collapsed, _, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert collapsed["mode_coverage"] == pytest.approx(0.1)
    assert collapsed["fd_classifier"] > 10 * max(scores["fd_classifier"], 1e-3) and collapsed["class_kl"] > 1.0
    # conditional G: does it draw the class it was asked for?
    ctx = _ctx(digits, digits.images, cache_dir(), ["classifier"], conditional=True, fake_labels=digits.labels)
    ctx.full_real = lambda: digits
    cond, _, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert cond["class_accuracy"] >= 0.9
    # a one-class run is covered by its one class, not penalised for the other nine
    zeros = _subset(digits, digits.labels == 0)
    ctx = _ctx(zeros, zeros.images, cache_dir(), ["classifier"], classes=["0"])
    ctx.full_real = lambda: digits
    one, _, _ = evaluate(plugins, ctx.config, opts, ctx)
    assert one["mode_coverage"] == 1.0


# -- protocol in the leaderboard ------------------------------------------------------------------

def test_leaderboard_puts_different_sample_counts_in_different_tables(tmp_path, plugins):
    from ganbench.board import build_board
    from ganbench.leaderboard import to_markdown
    from ganbench.results import append_jsonl, set_status, write_json

    suite_dir = tmp_path / "suite"
    for i, (n, fid) in enumerate(((1000, 40.0), (2000, 35.0), (1000, 50.0))):
        run = suite_dir / f"run{i}"
        run.mkdir(parents=True)
        write_json(run / "config.json", {"run_id": run.name, "coords": {"model": f"m{i}", "seed": 0},
                                          "metrics": {"primary": "fid_inception"}})
        proto = {"num_fake": n, "fid": {"extractor": "inception-v3-compat", "num_fake": n, "num_real": 5000}}
        append_jsonl(run / "evals.jsonl", {"step": 10, "final": True, "scores": {"fid_inception": fid},
                                           "protocol": proto})
        set_status(run, "done")
    board = build_board(suite_dir, plugins)
    sizes = sorted(len(t.rows) for t in board.tables)
    assert sizes == [1, 2]
    md = to_markdown(board)
    assert "num_fake=1000" in md and "num_fake=2000" in md


# -- ganbench eval ------------------------------------------------------------------------------

def test_eval_rescores_a_finished_run(tmp_path, inception_weights, monkeypatch, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text(textwrap.dedent("""
        [suite]
        name = "tiny"
        [matrix]
        model = ["dcgan"]
        dataset = ["digits"]
        [train]
        steps = 6
        batch_size = 16
        device = "cpu"
        log_every = 3
        checkpoint_every = 0
        num_final_images = 0
        [models.dcgan]
        width = 4
        [datasets.digits]
        resolution = 16
        limit = 10
        [metrics]
        names = ["classifier"]
        num_samples = 40
        [metrics.classifier]
        width = 16
        epochs = 8
        """))
    assert cli.main(["run", str(suite), "--results", str(tmp_path / "res")]) == 0
    run_dir = next((tmp_path / "res" / "tiny").glob("dcgan-*"))
    first = [json.loads(line) for line in (run_dir / "evals.jsonl").read_text().splitlines()]
    assert first[-1]["device"] == "cpu" and first[-1]["autocast"] is None  # what its sample depends on
    # the run's own metrics and sample count reproduce its final evaluation
    assert cli.main(["eval", str(run_dir), "--device", "cpu"]) == 0
    again = json.loads((run_dir / "evals.jsonl").read_text().splitlines()[-1])
    assert again["rescored"] is True and again["final"] is True and again["step"] == 6
    assert again["scores"] == pytest.approx(first[-1]["scores"], rel=1e-9)
    # other metrics and sample counts, with weights from the environment
    monkeypatch.setenv("GANBENCH_INCEPTION_WEIGHTS", str(inception_weights))
    capsys.readouterr()
    assert cli.main(["eval", str(run_dir), "--metrics", "fid,kid", "--num-samples", "8", "--device", "cpu"]) == 0
    rec = json.loads((run_dir / "evals.jsonl").read_text().splitlines()[-1])
    assert rec["rescored"] and set(rec["scores"]) == {"fid_inception", "kid_inception", "kid_inception_std"}
    assert rec["protocol"]["fid"]["num_fake"] == 8 and rec["protocol"]["fid"]["num_real"] == 10
    assert rec["protocol"]["kid"]["kid_subset_size"] == 8
    out = capsys.readouterr().out
    assert "fid_inception" in out and "classifier" in out  # says the leaderboard lost the classifier scores
    assert "another sample" in out
    # rescoring one metric on that same sample keeps the other one's scores (and protocol)
    assert cli.main(["eval", str(run_dir), "--metrics", "fid", "--num-samples", "8", "--device", "cpu"]) == 0
    last = json.loads((run_dir / "evals.jsonl").read_text().splitlines()[-1])
    assert last["carried"]["scores"] == ["kid_inception", "kid_inception_std"]
    assert last["carried"]["from"] == {"kid_inception": rec["time"], "kid_inception_std": rec["time"]}
    assert {k: last["scores"][k] for k in rec["scores"]} == pytest.approx(rec["scores"], rel=1e-9)
    assert last["protocol"]["kid"] == rec["protocol"]["kid"]
    board = json.loads((run_dir.parent / "leaderboard.json").read_text())
    (row,) = board["tables"][0]["rows"]
    assert {"fid_inception", "kid_inception"} <= set(row["scores"])
    assert cli.main(["eval", str(run_dir), "--metrics", "fdi"]) == 2  # unknown metric: a clear error


def test_time_estimate_counts_one_inception_pass_for_fid_is_kid(plugins):
    """fid, is and kid share one Inception-v3 pass, so a suite's time estimate counts it once."""
    from ganbench.estimate import eval_flops_per_image

    one = eval_flops_per_image(plugins, ["fid"])
    assert one == INCEPTION.flops > 0
    assert eval_flops_per_image(plugins, ["fid", "is", "kid"]) == one
    classifier = plugins.metrics.get("classifier").flops_per_image
    assert eval_flops_per_image(plugins, ["fid", "kid", "classifier"]) == one + classifier


def _density_coverage_by_hand(real, fake, k):
    """Naeem et al. 2020, as written: one loop per pair."""
    real, fake = real.tolist(), fake.tolist()

    def dist(a, b):
        return sum((p - q) ** 2 for p, q in zip(a, b)) ** 0.5
    radii = [sorted(dist(x, o) for j, o in enumerate(real) if j != i)[k - 1] for i, x in enumerate(real)]
    inside = [[dist(y, x) <= r for x, r in zip(real, radii)] for y in fake]
    density = sum(sum(row) for row in inside) / (k * len(fake))
    coverage = sum(any(row[i] for row in inside) for i in range(len(real))) / len(real)
    return density, coverage


@pytest.mark.parametrize("shift", [0.0, 0.7, 3.0])
def test_density_and_coverage_match_a_hand_computation(shift, monkeypatch):
    from ganbench_plugins.fidelity import manifold
    g = torch.Generator().manual_seed(3)
    real = torch.randn(37, 5, generator=g)
    fake = torch.randn(29, 5, generator=g) * 1.3 + shift
    monkeypatch.setattr(manifold, "CHUNK", 8)  # the chunked path, as a 50k set takes it
    got = manifold.density_coverage(real, fake, k=3)
    assert got == pytest.approx(_density_coverage_by_hand(real, fake, 3), rel=1e-12, abs=1e-12)
    if shift == 3.0:
        assert got[1] < 0.3  # a shifted generator covers few real balls
