"""Classifier metrics for labelled data sets: they run offline on any machine.

A compact CNN's penultimate features give a Fréchet distance between generated and real
images (``fd_classifier``, FID's formula in a small domain-specific feature space), its
predictions give ``mode_coverage`` (share of the reference's classes that receive at least
``coverage_threshold`` of their real share of the predictions), ``class_kl`` (KL(real ||
generated) of predicted-class histograms, so the classifier's own confusions cancel) and,
for conditional G, ``class_accuracy`` (does G draw the class it was asked for).

Which CNN: digits, Fashion-MNIST and CIFAR-10 are scored by the classifiers shipped with
ganbench (shipped.py; the same weights, so the same score, on every machine); any other
data set, an image folder included, trains its own here, deterministically, keyed by the
data's content. ``reference`` names a shipped classifier for any data set (an image folder
of CIFAR-10 JPEGs: ``reference = "cifar10"``); images are resized and converted to the
classifier's input, real and generated alike. No classifier scores before it passes the
sanity rule of sanity.py (a real sample far closer to the reference than grey and noise).
torch is imported inside the functions, so that `ganbench list`, which loads every plugin,
stays fast.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ganbench import GanbenchError, MetricSpec, Score, hookimpl, opt
from ganbench.metrics import frechet_distance, intra_class
from ganbench.results import atomic_write_bytes, write_json
from ganbench_plugins.fidelity.manifold import density_coverage

from . import sanity
from .nets import ARCHITECTURE, Architecture, Recipe, accuracy, build_classifier, deterministic, features, fit
from .shipped import SHIPPED, find_shipped, load_shipped, serving

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from ganbench.specs import EvalContext, ImageData

VERSION = 2  # of classifiers trained here: bump when their training changes (invalidates caches)
WHERE = "metrics.classifier"


@dataclass(frozen=True)
class ClassifierOptions:
    reference: str = opt("", "the classifier: '' = the shipped one for digits, fashion-mnist and cifar10, else one "
                             "trained here on the run's data set; a shipped name scores any data set with it "
                             "(images resized to its input); 'train' always trains one here",
                         choices=("", "train", *SHIPPED))
    epochs: int = opt(0, "trained here only: epochs; 0 = enough for ~30,000 image presentations (at least 3)",
                      min=0)
    width: int = opt(32, "trained here only: base channels of the classifier", min=1)
    seed: int = opt(0, "trained here only: seed of the classifier's training")
    coverage_threshold: float = opt(0.1, "a class is covered when it gets ≥ this fraction of its real share",
                                    above=0, max=1)
    density_coverage: bool = opt(False, "also density and coverage (Naeem et al. 2020) in the classifier's "
                                        "features, on at most manifold_real real images (a fixed subset)")
    nearest_k: int = opt(5, "density/coverage: the k of the real k-NN balls (Naeem et al.: 5)", min=1)
    manifold_real: int = opt(10000, "density/coverage: real images at most (seed-0 subset): its cost grows "
                                    "with their square", min=2)
    sanity_check: bool = opt(True, "refuse to score with a classifier that fails the sanity rule (a held-out "
                                   "real sample must beat grey and noise images by 4x); off: score, and the "
                                   "protocol carries the failed verdict")


@dataclass(frozen=True)
class Classifier:
    """A loaded classifier and what the protocol says about it. name: the shipped one's
    name, '' when trained here; description: how it came to be, for the protocol."""

    model: "torch.nn.Module"
    name: str
    weights: Path
    sha256: str
    accuracy: float
    held_out: int
    fingerprint: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    description: str


_MEMO: dict[tuple[str, str], Classifier] = {}  # (weights path, device) -> the classifier; one at a time
_REF: dict[Any, Any] = {}  # reference features, for the classifier in _MEMO
_SANITY: dict[str, sanity.Verdict] = {}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _remember(clf: Classifier, device: Any) -> Classifier:
    _MEMO.clear()
    _REF.clear()
    _MEMO[(str(clf.weights), str(device))] = clf
    return clf


def _recalled(path: Path, device: Any) -> Classifier | None:
    return _MEMO.get((str(path), str(device)))


def reference_name(ctx: "EvalContext", options: ClassifierOptions) -> str:
    """The shipped classifier scoring this run, or '' for one trained here."""
    if options.reference == "train":
        return ""
    return options.reference or serving(ctx.dataset)


def get_classifier(ctx: "EvalContext", options: ClassifierOptions) -> Classifier:
    """The classifier for this run: shipped, or trained here (on the first call) and cached."""
    name = reference_name(ctx, options)
    if name:
        found = find_shipped(name)
        if (clf := _recalled(found.weights, ctx.device)) is not None:
            return clf
        meta = found.meta
        return _remember(Classifier(
            load_shipped(found, ctx.device), name, found.weights, meta["weights_sha256"],
            float(meta["held_out_accuracy"]), int(meta["split"]["held_out"]), meta["training_data"]["fingerprint"],
            found.input_shape, found.class_names,
            f"shipped ganbench_plugins/classifier_weights/{name}.pt ({meta['command']})"), ctx.device)
    return _trained_here(ctx, options)


def _trained_here(ctx: "EvalContext", options: ClassifierOptions) -> Classifier:
    import torch

    full = ctx.full_real() if ctx.full_real is not None else ctx.real
    if full.num_classes < 2 or len(full.labels.unique()) < 2:
        raise GanbenchError(
            f"the classifier metric has no reference to learn features from: data set '{ctx.dataset}' has "
            f"1 class, and a classifier trained on one class tells nothing apart (it would score a flat grey "
            f"generator well)", where=f"{WHERE}.reference",
            hint="name a shipped classifier for these images ([metrics.classifier] reference = \"cifar10\", "
                 "\"digits\" or \"fashion-mnist\"), give the folder more classes, or score with fid instead")
    arch, recipe = Architecture(width=options.width), _recipe(options, len(full.images))
    key = f"v{VERSION}-{full.fingerprint}-w{options.width}-e{options.epochs}-s{options.seed}"
    cache = Path(ctx.cache_dir) / "classifier"
    path, meta_path = cache / f"{key}.pt", cache / f"{key}.json"
    if (clf := _recalled(path, ctx.device)) is not None:
        return clf
    c, h, w = full.shape
    model, meta = build_classifier(c, full.num_classes, arch), None
    if path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("weights_sha256") != _sha256(path):
                raise ValueError("weights do not match their hash")
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception:  # a damaged cache entry is retrained, never trusted
            meta = None
    if meta is None:
        model, meta = _train(full, arch, recipe, path)
        write_json(meta_path, meta)
    description = (f"trained here: {ARCHITECTURE}, width {options.width}, {recipe.epochs} epochs, seed "
                   f"{options.seed}, deterministic on the CPU, on data {full.fingerprint}")
    return _remember(Classifier(model.to(ctx.device).eval(), "", path, meta["weights_sha256"], meta["accuracy"],
                                meta["held_out"], full.fingerprint, (c, h, w), tuple(full.class_names),
                                description), ctx.device)


def _recipe(options: ClassifierOptions, n: int) -> Recipe:
    train = n - max(1, n // 10)
    return Recipe(epochs=options.epochs or max(3, -(-30000 // max(1, train))), pad=2, seed=options.seed)


def _train(full: "ImageData", arch: Architecture, recipe: Recipe,
           path: Path) -> tuple["torch.nn.Module", dict[str, Any]]:
    """Train on 90% of the real labelled data (a seeded permutation), measure the other 10%:
    one CPU thread, deterministic algorithms, so a retraining gives the very same weights."""
    import torch

    n = len(full.images)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(recipe.seed))
    n_val = max(1, n // 10)
    val, train = perm[:n_val], perm[n_val:]
    images, labels = full.images.cpu().contiguous(), full.labels.cpu().contiguous()
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(recipe.seed)
        model = build_classifier(full.shape[0], full.num_classes, arch)
        fit(model, images, labels, train, recipe)
        acc = accuracy(model, images, labels, val)
    buf = io.BytesIO()  # in memory, so the bytes (and their hash) do not carry a temp file's name
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(path, buf.getvalue())
    return model, {"accuracy": acc, "held_out": n_val, "fingerprint": full.fingerprint, "num_images": n,
                   "classes": list(full.class_names), "version": VERSION, "recipe": recipe.to_json(),
                   "weights_sha256": _sha256(path), "torch_version": torch.__version__}


# -- from the run's images to the classifier's input -------------------------------------------

def conversion(shape: tuple[int, int, int], target: tuple[int, int, int]) -> tuple[str, Callable[[Any], Any]]:
    """(what is done, the function) taking uint8 images of `shape` to uint8 images of `target`."""
    import torch
    import torch.nn.functional as F

    (c, h, w), (tc, th, tw) = shape, target
    steps: list[str] = []
    if c != tc and not {c, tc} == {1, 3}:
        raise GanbenchError(f"the classifier takes {tc}-channel images and the run's have {c}", where=f"{WHERE}.reference",
                            hint="name a classifier for these images in [metrics.classifier] reference, or '' for "
                                 "one trained on the run's data set")
    if c == 1 and tc == 3:
        steps.append("grey -> RGB (channel repeated)")
    elif c == 3 and tc == 1:
        steps.append("RGB -> grey (ITU-R 601 luma)")
    if (h, w) != (th, tw):
        steps.append(f"resize {h}x{w} -> {th}x{tw} (bilinear, antialias, rounded to uint8)")
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)

    def convert(images: "torch.Tensor") -> "torch.Tensor":
        if not steps:
            return images
        x = images.float()
        if c == 1 and tc == 3:
            x = x.expand(-1, 3, -1, -1)
        elif c == 3 and tc == 1:
            x = (x * luma.to(x.device)).sum(1, keepdim=True)
        if (h, w) != (th, tw):
            x = F.interpolate(x, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
        return x.round().clamp(0, 255).to(torch.uint8)

    return ("; ".join(steps) or "none"), convert


def class_map(ctx: "EvalContext", clf: Classifier) -> list[int] | None:
    """For each of the data set's classes, the classifier's class of that name; None when
    some class the reference holds has no namesake (coverage then falls back to predictions)."""
    names = {n.lower(): i for i, n in enumerate(clf.class_names)}
    mapped = [names.get(str(n).lower(), -1) for n in ctx.real.class_names]
    present = ctx.real.labels.unique().tolist()
    return None if any(mapped[k] < 0 for k in present) else mapped


# -- scoring ---------------------------------------------------------------------------------

def _reference(ctx: "EvalContext", clf: Classifier, convert: Callable[[Any], Any]) -> tuple["np.ndarray", "np.ndarray"]:
    """Features of the real reference images (the run's own class subset), kept in memory."""
    key = (clf.sha256, ctx.real.fingerprint, str(ctx.device))
    if key not in _REF:
        _REF.clear()
        _REF[key] = features(clf.model, convert(ctx.real.images), ctx.device)
    return _REF[key]


def check_sanity(ctx: "EvalContext", clf: Classifier, reference: "np.ndarray",
                 options: ClassifierOptions) -> sanity.Verdict:
    """The sanity rule's verdict for this classifier and reference (cached on disk);
    refuses to go on when it fails, unless options.sanity_check is off."""
    how, convert = conversion(ctx.real.shape, clf.input_shape)
    key = hashlib.sha256(f"{clf.sha256}|{ctx.real.fingerprint}|{how}|{sanity.RULE}".encode()).hexdigest()[:24]
    path = Path(ctx.cache_dir) / "classifier" / "sanity" / f"{key}.json"
    verdict = _SANITY.get(key)
    if verdict is None and path.is_file():
        try:
            data = json.loads(path.read_text())
            verdict = sanity.Verdict(*(data[k] for k in ("fd_real", "fd_grey", "fd_noise", "m", "passed")),
                                     judged=bool(data.get("judged", True)))
        except (OSError, ValueError, KeyError, TypeError):
            verdict = None
    if verdict is None:
        verdict = sanity.check(clf.model, reference, ctx.real.shape, convert, ctx.device)
        write_json(path, verdict.to_json())
    _SANITY[key] = verdict
    if not verdict.passed and options.sanity_check:
        raise GanbenchError(
            f"the classifier ({clf.description}) cannot tell real images from nonsense on this reference "
            f"({len(ctx.real.images):,} images of '{ctx.dataset}'): {verdict.why()}", where=WHERE,
            hint="name a shipped classifier that knows these images ([metrics.classifier] reference), give the "
                 "data set more images or classes, score with fid, or set sanity_check = false to score anyway "
                 "(the protocol then says it failed)")
    return verdict


def compute(ctx: "EvalContext") -> dict[str, float]:
    import numpy as np

    options: ClassifierOptions = ctx.options or ClassifierOptions()
    clf = get_classifier(ctx, options)
    _, convert = conversion(ctx.real.shape, clf.input_shape)
    fake, fake_labels = ctx.fake()
    if tuple(fake.shape[1:]) != tuple(ctx.real.shape):
        raise GanbenchError(f"generated images are {tuple(fake.shape[1:])}, the reference's "
                            f"{tuple(ctx.real.shape)}", where=WHERE)
    real_f, real_p = _reference(ctx, clf, convert)
    check_sanity(ctx, clf, real_f, options)
    fake_f, fake_p = features(clf.model, convert(fake), ctx.device)
    k = len(clf.class_names)
    pred = fake_p.argmax(1)
    hist_f = np.bincount(pred, minlength=k) / len(pred)
    hist_r = np.bincount(real_p.argmax(1), minlength=k) / len(real_p)
    mapping = class_map(ctx, clf)
    if mapping is not None:
        # coverage is judged against the reference's true class shares: a one-class run is
        # not penalised for the nine classes it was never meant to draw
        mapped = np.asarray(mapping)[ctx.real.labels.cpu().numpy()]
        share = np.bincount(mapped, minlength=k) / len(mapped)
        present = share > 0
    else:  # the classifier's own reading of the real images: classes it gives ≥ 1% of them
        share = hist_r
        present = share >= 0.01
    eps = 1e-6
    p, q = (hist_r + eps) / (hist_r + eps).sum(), (hist_f + eps) / (hist_f + eps).sum()
    out = {
        "fd_classifier": frechet_distance(*sanity.stats(fake_f), *sanity.stats(real_f)),
        "mode_coverage": float((hist_f[present] >= options.coverage_threshold * share[present]).mean()),
        "class_kl": float((p * np.log(p / q)).sum()),
    }
    if mapping is not None and present.sum() < k:
        # a class subset (one GAN per class): how often G's samples are filed under the subset's
        # classes, as a share of how often the real images of those classes are
        real_in = float(np.isin(real_p.argmax(1), np.flatnonzero(present)).mean())
        fake_in = float(np.isin(pred, np.flatnonzero(present)).mean())
        out["in_class_ratio"] = fake_in / real_in if real_in > 0 else float("nan")
    if ctx.conditional and fake_labels is not None and mapping is not None:
        wanted = np.asarray(mapping)[fake_labels.cpu().numpy()]
        out["class_accuracy"] = float((pred == wanted).mean())
    if ctx.conditional and fake_labels is not None:
        out["ifd_classifier"] = intra_class(fake_f, fake_labels.cpu().numpy(), real_f, ctx.real.labels.cpu().numpy(),
                                            sanity.fd)[0]
    if options.density_coverage:
        out["density_classifier"], out["coverage_classifier"] = manifold_scores(real_f, fake_f, options)
    return out


def manifold_scores(real_f: "np.ndarray", fake_f: "np.ndarray", options: ClassifierOptions) -> tuple[float, float]:
    """Density and coverage of the generated features against (at most manifold_real) real ones."""
    import torch

    real = torch.from_numpy(real_f)
    if len(real) > options.manifold_real:
        real = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:options.manifold_real]]
    return density_coverage(real, torch.from_numpy(fake_f), options.nearest_k)


def protocol(ctx: "EvalContext") -> dict[str, Any]:
    options: ClassifierOptions = ctx.options or ClassifierOptions()
    clf = get_classifier(ctx, options)
    how, convert = conversion(ctx.real.shape, clf.input_shape)
    verdict = check_sanity(ctx, clf, _reference(ctx, clf, convert)[0], options)
    c, h, w = clf.input_shape
    return {"extractor": f"{ARCHITECTURE}:{clf.name or 'trained-here'}", "classifier": clf.description,
            "classifier_weights": clf.sha256[:16], "classifier_accuracy": round(clf.accuracy, 4),
            "classifier_held_out": clf.held_out, "classifier_data": clf.fingerprint,
            "classifier_input": f"{c}x{h}x{w}", "input_conversion": how,
            "coverage_against": "labels" if class_map(ctx, clf) is not None else "predictions (classes given ≥ 1%)",
            "sanity": verdict.summary(),
            "num_fake": ctx.num_samples, "num_real": len(ctx.real.images), "reference_split": ctx.split,
            "reference_classes": [str(c) for c in ctx.classes], "coverage_threshold": options.coverage_threshold,
            **({"ifd": "intra-class FD: the FD between each requested class's generated samples and that class's "
                       "real images, averaged over the classes"} if ctx.conditional else {}),
            **({"density_coverage": f"Naeem et al. 2020, k = {options.nearest_k}, real images: "
                                    f"{min(options.manifold_real, len(ctx.real.images)):,} (seed-0 subset when "
                                    f"fewer than all)"} if options.density_coverage else {})}


@hookimpl
def ganbench_register_metrics(registry: Any) -> None:
    registry.add(MetricSpec(
        name="classifier",
        description="offline: Fréchet distance in a small CNN's features, mode coverage, class KL",
        compute=compute, options=ClassifierOptions, needs_labels=True, protocol=protocol,
        scores=(Score("fd_classifier", False, "Fréchet distance in the classifier's penultimate features"),
                Score("mode_coverage", True, "share of classes G produces"),
                Score("class_kl", False, "KL(real || generated) of predicted class histograms"),
                Score("class_accuracy", True, "conditional G: share drawn in the requested class"),
                Score("ifd_classifier", False, "conditional G: intra-class FD, the per-class FD averaged"),
                Score("density_classifier", True, "density (Naeem et al. 2020) in the classifier's features"),
                Score("coverage_classifier", True, "coverage (Naeem et al. 2020) in the classifier's features"),
                Score("in_class_ratio", True, "class subsets: share of samples filed under the subset's classes, "
                                              "over the real images' share (1 = as often as real)"))))
