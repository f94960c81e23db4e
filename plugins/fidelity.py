"""torch-fidelity metrics: FID, IS and KID on Inception-v3 features, precision/recall.

How the numbers are made, and why:

- Features come from torch-fidelity's own extractors (``inception-v3-compat`` for fid,
  is and kid; prc on torch-fidelity's default for prc, ``vgg16``), fed uint8 tensors
  through a Dataset (grayscale replicated to 3 channels, torch-fidelity resizes), and
  the scores from torch-fidelity's feature-to-metric functions, so they are exactly
  torch-fidelity's numbers.
- One feature pass per evaluation and extractor: fid, is and kid ask
  ``EvalContext.shared`` for the same pass, which extracts every layer they need
  (2048-d pool features and the unbiased logits) at once.
- Reference features live in ganbench's own cache, not torch-fidelity's input cache
  names: torch-fidelity names a cache entry by input name and extractor only, so a
  different weights file (a random test network, another conversion) would silently
  reuse features. Our key holds the data's content fingerprint, split, classes,
  extractor, layer, real sample count, subset rule, the sha256 of the weights and the
  torch-fidelity version; the key is stored inside the file and compared on load.
- Weights: ``[metrics.<name>] weights = "path"``, else $GANBENCH_INCEPTION_WEIGHTS
  ($GANBENCH_VGG16_WEIGHTS for vgg16), else torch hub's cache, else a download.
  ``check`` says how to fix it when none of these can work (``validate`` exits 3).
  Every file is opened with ``weights_only=True`` and checked for the expected layers
  before torch-fidelity (which unpickles) sees it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from ganbench import hookimpl
from ganbench.config import opt
from ganbench.errors import GanbenchError, ResourceMissing
from ganbench.specs import MetricSpec, Score

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ganbench.specs import EvalContext

#: bump when the reference cache's content or the real-subset rule changes
REFERENCE_VERSION = 1
#: torch-fidelity's fixed seed for KID subsets and IS shuffling (part of the protocol)
RNG_SEED = 2020
QUANTIZATION = "uint8 round((x+1)*127.5)"


@dataclass(frozen=True)
class Extractor:
    """A torch-fidelity feature extractor as ganbench uses it."""

    name: str  # torch-fidelity's registry name
    short: str  # suffix of score names (fid_inception)
    env: str  # environment variable naming a local weights file
    layers: tuple[str, ...]  # every layer any metric needs, extracted in one pass
    required: tuple[tuple[str, tuple[int, ...]], ...]  # (state-dict key, shape) a weights file must have
    flops: float  # per image, for `validate`'s estimate

    def url(self) -> str:
        if self.name == "inception-v3-compat":
            from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
            return URL_INCEPTION_V3
        import torchvision
        return torchvision.models.VGG16_Weights.IMAGENET1K_V1.url

    def hub_file(self) -> Path:
        """Where torch hub (and so torch-fidelity) keeps the downloaded file."""
        import torch
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.url())

    def layer(self, metric: str) -> str:
        """torch-fidelity's default layer of this extractor for a metric (fid, isc, kid, prc)."""
        from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
        return FEATURE_EXTRACTORS_REGISTRY[self.name].get_default_feature_layer_for_metric(metric)


EXTRACTORS = {
    "inception-v3-compat": Extractor(
        "inception-v3-compat", "inception", "GANBENCH_INCEPTION_WEIGHTS", ("2048", "logits_unbiased"),
        (("Mixed_7c.branch_pool.conv.weight", (192, 2048, 1, 1)), ("fc.weight", (1008, 2048))), 11.4e9),
    "vgg16": Extractor(
        "vgg16", "vgg16", "GANBENCH_VGG16_WEIGHTS", ("fc2_relu",),
        (("features.28.weight", (512, 512, 3, 3)), ("classifier.3.weight", (4096, 4096))), 30.9e9),
}
INCEPTION = EXTRACTORS["inception-v3-compat"]


# -- options ------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureOptions:
    """Options every torch-fidelity metric has."""

    weights: str = opt("", "local weights file of the feature extractor; '' = $GANBENCH_INCEPTION_WEIGHTS "
                           "($GANBENCH_VGG16_WEIGHTS for vgg16), else torch hub's cache, else download")
    batch_size: int = opt(64, "images per feature-extraction batch")

    def validate(self) -> None:
        if self.batch_size < 1:
            raise GanbenchError(f"batch_size must be ≥ 1, found {self.batch_size}")


@dataclass(frozen=True)
class FidOptions(FeatureOptions):
    num_real: int = opt(0, "real reference images (a fixed random subset, seed 0); 0 = the whole reference set")

    def validate(self) -> None:
        super().validate()
        if self.num_real < 0:
            raise GanbenchError(f"num_real must be ≥ 0, found {self.num_real}")


@dataclass(frozen=True)
class IsOptions(FeatureOptions):
    splits: int = opt(10, "splits of the generated set (clamped to the sample count)")

    def validate(self) -> None:
        super().validate()
        if self.splits < 1:
            raise GanbenchError(f"splits must be ≥ 1, found {self.splits}")


@dataclass(frozen=True)
class KidOptions(FidOptions):
    subsets: int = opt(100, "random subsets averaged")
    subset_size: int = opt(1000, "images per subset, clamped to the smaller sample count (the protocol says so)")

    def validate(self) -> None:
        super().validate()
        if self.subsets < 1 or self.subset_size < 2:
            raise GanbenchError(f"need subsets ≥ 1 and subset_size ≥ 2, found {self.subsets}, {self.subset_size}")


@dataclass(frozen=True)
class PrcOptions(FidOptions):
    neighborhood: int = opt(3, "k of the k-nearest-neighbour balls")
    extractor: Literal["vgg16", "inception-v3-compat"] = opt("vgg16", "features: torch-fidelity's default for "
                                                                      "prc (vgg16) or Inception-v3")

    def validate(self) -> None:
        super().validate()
        if self.neighborhood < 1:
            raise GanbenchError(f"neighborhood must be ≥ 1, found {self.neighborhood}")


OPTIONS: dict[str, type] = {"fid": FidOptions, "is": IsOptions, "kid": KidOptions, "prc": PrcOptions}


def _options(ctx: "EvalContext", name: str) -> Any:
    return ctx.options_of(name) or (ctx.options if isinstance(ctx.options, OPTIONS[name]) else None) \
        or OPTIONS[name]()


def _extractor(name: str, options: Any) -> Extractor:
    return EXTRACTORS[options.extractor] if name == "prc" else INCEPTION


# -- weights ------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    """A weights file that passed the safety and shape checks."""

    path: Path
    sha256: str
    official: bool  # its sha256 starts with the hash in the official file's name


_ONLINE: dict[str, bool] = {}
_INSPECTED: dict[tuple[str, str, int, int], Weights] = {}


def online(url: str, timeout: float = 3.0) -> bool:
    """Can this machine reach the download host? ($GANBENCH_OFFLINE=1 says no without asking.)"""
    if os.environ.get("GANBENCH_OFFLINE", "") not in ("", "0"):
        return False
    from urllib.parse import urlparse
    host = urlparse(url).hostname or ""
    if host not in _ONLINE:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            _ONLINE[host] = True
        except OSError:
            _ONLINE[host] = False
    return _ONLINE[host]


def inspect_weights(path: Path, ext: Extractor) -> Weights:
    """sha256 of the file, and proof that it is a state dict with ext's layers (weights_only load).

    Memoised by (extractor, path, size, mtime), so an evaluation during training pays it once.
    """
    import torch

    st = path.stat()
    memo = (ext.name, str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _INSPECTED:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ResourceMissing(f"weights file {path} cannot be loaded as a state dict "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0]})",
                                  hint=f"it must be torch-fidelity's {ext.name} weights") from exc
        bad = [k for k, shape in ext.required
               if not isinstance(sd, dict) or k not in sd or tuple(sd[k].shape) != shape]
        del sd
        if bad:
            raise ResourceMissing(f"weights file {path} is not {ext.name} weights as torch-fidelity expects them "
                                  f"(missing or misshapen: {', '.join(bad)})",
                                  hint=f"use the file torch-fidelity downloads: {ext.url()}")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        digest = h.hexdigest()
        m = re.search(r"-([0-9a-f]{8,})\.pth?$", os.path.basename(ext.url()))
        while len(_INSPECTED) >= 4:  # a few files' facts kept (inception and vgg16 may alternate)
            _INSPECTED.pop(next(iter(_INSPECTED)))
        _INSPECTED[memo] = Weights(path, digest, bool(m and digest.startswith(m.group(1))))
    return _INSPECTED[memo]


def _local(ext: Extractor, explicit: str, where: str) -> tuple[Optional[Path], str]:
    """(a local file to use or None, where it was named), checking named files exist."""
    for value, origin in ((explicit, f"{where}.weights"), (os.environ.get(ext.env, ""), f"${ext.env}")):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ResourceMissing(f"weights file '{value}' named by {origin} does not exist",
                                      where=where, hint=f"download {ext.url()} and point {origin} at it")
            return path, origin
    hub = ext.hub_file()
    return (hub, "torch hub cache") if hub.is_file() else (None, "")


def _how_to_fix(ext: Extractor, where: str) -> str:
    # no square brackets: the CLI prints messages through rich, which would take them for markup
    return (f"download {ext.url()} on a machine with internet, then either set {where}.weights = "
            f"\"/path/to/{os.path.basename(ext.url())}\" in the suite, export {ext.env}=/path/to/that/file, "
            f"or copy it to {ext.hub_file().parent}/ (torch hub's cache, which torch-fidelity reads)")


def weights_problem(name: str, options: Any) -> Optional[str]:
    """None when the metric's feature extractor weights can be had here, else how to fix it."""
    options = options if options is not None else OPTIONS[name]()
    ext = _extractor(name, options)
    where = f"metrics.{name}"
    try:
        path, _ = _local(ext, options.weights, where)
        if path is not None:
            inspect_weights(path, ext)
            return None
    except GanbenchError as exc:  # the caller names where; keep what and how
        return exc.message + (f"; hint: {exc.hint}" if exc.hint else "")
    if online(ext.url()):
        return None
    return (f"{ext.name} weights for '{name}' are not on this machine and cannot be downloaded "
            f"(no network to {ext.url().split('/')[2]}). Fix: {_how_to_fix(ext, where)}")


def resolve_weights(name: str, options: Any) -> Weights:
    """The weights file to use, downloading it to torch hub's cache when that is the only way."""
    ext = _extractor(name, options)
    where = f"metrics.{name}"
    path, _ = _local(ext, options.weights, where)
    if path is None:
        import torch
        path = ext.hub_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(ext.url(), str(path), progress=False)
        except Exception as exc:
            raise ResourceMissing(f"cannot download {ext.name} weights ({type(exc).__name__}: {exc})",
                                  where=where, hint=_how_to_fix(ext, where)) from exc
    return inspect_weights(path, ext)


def save_random_inception_weights(path: Path, seed: int = 0,
                                  images: Optional["torch.Tensor"] = None) -> Path:
    """A randomly initialised torch-fidelity Inception-v3 state dict, for offline tests and benchmarks.

    It runs the real code path without the real weights; its scores mean nothing (the
    protocol says pretrained=false). He-normal convolutions and batch-norm statistics
    calibrated on ``images`` (uint8 (N, 1 or 3, H, W); random noise when None) keep
    every layer's activations of order one on images like them: default initialisation
    lets activations shrink into denormals (very slow on CPU), and statistics from
    other images let them grow through the 11 mixed blocks.
    """
    import tempfile

    import torch
    from torch import nn
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Blank(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
            return None  # the constructor insists on loading weights; there are none yet

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        empty = Path(tmp) / "empty.pt"
        torch.save({}, empty)
        net = Blank("inception-v3-compat", list(INCEPTION.layers), feature_extractor_weights_path=str(empty))
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
                m.momentum = None  # cumulative average: the calibration batch's statistics
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=m.in_features ** -0.5)
                nn.init.zeros_(m.bias)
        net.train()
        calib = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8) if images is None else images[:16].cpu()
        with torch.no_grad():
            net(calib.expand(-1, 3, -1, -1).contiguous())
        net.eval()
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
        tmp_out = path.with_name(f".{path.name}.tmp")
        torch.save(net.state_dict(), tmp_out)
        os.replace(tmp_out, path)
    return path


# -- feature extraction ---------------------------------------------------------------

def _uint8_dataset(images: "torch.Tensor") -> Any:
    import torch

    class Uint8Images(torch.utils.data.Dataset):
        """(3, H, W) uint8 tensors one at a time, what torch-fidelity expects (not tuples, not files)."""

        def __init__(self, x: torch.Tensor):
            if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
                raise GanbenchError(f"expected uint8 images (N, 1 or 3, H, W), found {x.dtype} {tuple(x.shape)}")
            self.x = x.detach().cpu().contiguous()

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> torch.Tensor:
            img = self.x[i]
            return img.expand(3, -1, -1) if img.shape[0] == 1 else img  # grayscale: replicate

    return Uint8Images(images)


_NETS: dict[tuple[str, str, str], Any] = {}
#: (extractor, number of images) per feature pass, so tests can count passes
PASSES: list[tuple[str, int]] = []


def _net(ext: Extractor, weights: Weights, device: "torch.device") -> Any:
    """The torch-fidelity extractor with every layer ganbench needs, kept between evaluations."""
    key = (ext.name, weights.sha256, str(device))
    if key not in _NETS:
        from torch_fidelity.utils import create_feature_extractor
        _NETS.clear()  # one network in memory at a time
        with _on(device):
            _NETS[key] = create_feature_extractor(ext.name, list(ext.layers), cuda=device.type == "cuda",
                                                  feature_extractor_weights_path=str(weights.path), verbose=False)
    return _NETS[key]


def _on(device: "torch.device") -> Any:
    import torch
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def extract(ext: Extractor, weights: Weights, images: "torch.Tensor", device: "torch.device",
            batch_size: int) -> dict[str, "torch.Tensor"]:
    """{layer: float32 (N, D) CPU features} for uint8 images, in one torch-fidelity pass."""
    from torch_fidelity.utils import get_featuresdict_from_dataset

    cuda = device.type == "cuda"
    net = _net(ext, weights, device)
    PASSES.append((ext.name, len(images)))
    del PASSES[:-100]
    with _on(device):
        # save_cpu_ram on CPU: otherwise its DataLoader starts 4 workers that fight the compute threads
        return get_featuresdict_from_dataset(_uint8_dataset(images), net, batch_size, cuda, not cuda, False)


# -- reference statistics ---------------------------------------------------------------

@dataclass
class Reference:
    """Features and FID statistics of the real reference images, for one layer."""

    key: dict[str, Any]
    features: "torch.Tensor"
    mu: Any
    sigma: Any
    path: Path

    @property
    def num_real(self) -> int:
        return int(self.key["num_real"])


def tf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("torch-fidelity")
    except PackageNotFoundError:  # pragma: no cover
        import torch_fidelity
        return getattr(torch_fidelity, "__version__", "?")


def reference_key(ctx: "EvalContext", ext: Extractor, layer: str, num_real: int, weights_sha256: str) -> dict[str, Any]:
    """Everything that decides the reference features; a cache entry is used only for an equal key."""
    n_all = len(ctx.real.images)
    n = n_all if num_real <= 0 or num_real >= n_all else num_real
    return {"version": REFERENCE_VERSION, "dataset": ctx.dataset, "fingerprint": ctx.real.fingerprint,
            "split": ctx.split, "classes": [str(c) for c in ctx.classes], "extractor": ext.name, "layer": layer,
            "num_real": n, "subset": "all" if n == n_all else "randperm(seed=0)",
            "weights_sha256": weights_sha256, "torch_fidelity": tf_version()}


def reference_path(cache_dir: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return Path(cache_dir) / "fidelity" / f"{key['extractor']}-{key['layer']}-{digest}.pt"


_REFS: dict[str, Reference] = {}


def reference(ctx: "EvalContext", ext: Extractor, weights: Weights, layer: str, num_real: int,
              batch_size: int) -> Reference:
    """Real features for the key: from memory, else from disk (key verified), else computed once."""
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics

    key = reference_key(ctx, ext, layer, num_real, weights.sha256)
    path = reference_path(ctx.cache_dir, key)
    if str(path) in _REFS and _REFS[str(path)].key == key:
        return _REFS[str(path)]
    ref = None
    if path.is_file():
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if obj.get("key") == key:
                ref = Reference(key, obj["features"], obj["mu"].numpy(), obj["sigma"].numpy(), path)
        except Exception:  # a damaged entry is recomputed, never trusted
            ref = None
    if ref is None:
        images = ctx.real.images
        if key["num_real"] < len(images):
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:key["num_real"]]
            images = images[pick.to(images.device)]
        feats = extract(ext, weights, images, ctx.device, batch_size)[layer]
        stats = fid_features_to_statistics(feats)
        ref = Reference(key, feats, stats["mu"], stats["sigma"], path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save({"key": key, "features": feats, "mu": torch.from_numpy(stats["mu"]),
                    "sigma": torch.from_numpy(stats["sigma"])}, tmp)
        os.replace(tmp, path)
        from ganbench.results import write_json
        write_json(path.with_suffix(".json"), key)  # for people browsing the cache
    _REFS.clear()
    _REFS[str(path)] = ref
    return ref


# -- scores from features ------------------------------------------------------------------

def scores_from_features(name: str, options: Any, fake: dict[str, "torch.Tensor"],
                         ref: Optional[Reference], short: str = "inception") -> tuple[dict[str, float], dict[str, Any]]:
    """(scores, metric-specific protocol) from features, with torch-fidelity's formulas.

    fake: {layer: (N, D)}; ref: the real reference (None for is). Sample-size dependent
    settings (IS splits, KID subset size) are clamped to what the data allow and reported.
    """
    ext = EXTRACTORS[ref.key["extractor"]] if ref is not None else INCEPTION
    if name == "is":
        from torch_fidelity.metric_isc import isc_features_to_metric
        logits = fake[INCEPTION.layer("isc")]
        splits = min(options.splits, len(logits))
        out = isc_features_to_metric(logits, splits, True, RNG_SEED)
        return ({f"is_{short}": out["inception_score_mean"], f"is_{short}_std": out["inception_score_std"]},
                {"layer": INCEPTION.layer("isc"), "splits": splits, "splits_clamped": splits != options.splits,
                 "rng_seed": RNG_SEED})
    if ref is None:
        raise ValueError(f"metric '{name}' compares with real images: it needs a reference")
    f_fake = fake[ref.key["layer"]]
    n_fake, n_real = len(f_fake), ref.num_real
    if name == "fid":
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
        out = fid_statistics_to_metric(fid_features_to_statistics(f_fake), {"mu": ref.mu, "sigma": ref.sigma}, False)
        return {f"fid_{short}": out["frechet_inception_distance"]}, {}
    if name == "kid":
        from torch_fidelity.metric_kid import kid_features_to_metric
        size = min(options.subset_size, n_fake, n_real)
        if size < 2:
            raise GanbenchError(f"KID needs at least 2 generated and 2 real images, found {n_fake} and {n_real}")
        out = kid_features_to_metric(f_fake, ref.features, kid_subsets=options.subsets, kid_subset_size=size,
                                     rng_seed=RNG_SEED, verbose=False)
        return ({f"kid_{short}": out["kernel_inception_distance_mean"],
                 f"kid_{short}_std": out["kernel_inception_distance_std"]},
                {"kid_subsets": options.subsets, "kid_subset_size": size,
                 "kid_subset_size_clamped": size != options.subset_size,
                 "kid_kernel": "poly(degree=3, gamma=1/dim, coef0=1)", "rng_seed": RNG_SEED})
    if name == "prc":
        from torch_fidelity.metric_prc import prc_features_to_metric
        k = options.neighborhood
        if min(n_fake, n_real) <= k:
            raise GanbenchError(f"precision/recall with neighborhood {k} needs more than {k} generated and real "
                                f"images, found {n_fake} and {n_real}")
        out = prc_features_to_metric(f_fake, ref.features, prc_neighborhood=k, prc_batch_size=10000,
                                     save_cpu_ram=True, verbose=False)
        return ({f"precision_{ext.short}": out["precision"], f"recall_{ext.short}": out["recall"],
                 f"f_score_{ext.short}": out["f_score"]}, {"neighborhood": k})
    raise KeyError(name)


# -- the metrics -------------------------------------------------------------------------

def _compute(name: str, ctx: "EvalContext") -> dict[str, float]:
    options = _options(ctx, name)
    ext = _extractor(name, options)
    weights = resolve_weights(name, options)
    fake, _ = ctx.fake()
    fake_feats = ctx.shared(("torch-fidelity features", ext.name, weights.sha256, options.batch_size),
                            lambda: extract(ext, weights, fake, ctx.device, options.batch_size))
    ref = None
    if name != "is":
        layer = ext.layer(name)
        ref = ctx.shared(("torch-fidelity reference", ext.name, weights.sha256, layer, options.num_real),
                         lambda: reference(ctx, ext, weights, layer, options.num_real, options.batch_size))
    scores, extra = scores_from_features(name, options, fake_feats, ref, ext.short)
    protocol: dict[str, Any] = {
        "extractor": ext.name, "layer": ref.key["layer"] if ref is not None else extra.pop("layer"),
        "weights_sha256": weights.sha256[:16], "pretrained": weights.official,
        "num_fake": len(fake), "quantization": QUANTIZATION,
        "input": "uint8 RGB" + (", grayscale replicated to 3 channels" if fake.shape[1] == 1 else "")
                 + f", {fake.shape[-2]}x{fake.shape[-1]} resized by torch-fidelity",
        "torch_fidelity": tf_version()}
    if ref is not None:
        protocol.update(num_real=ref.num_real, reference_split=ctx.split,
                        reference_classes=[str(c) for c in ctx.classes], reference_subset=ref.key["subset"],
                        reference_fingerprint=ctx.real.fingerprint)
    protocol.update(extra)
    ctx.shared(("torch-fidelity protocol", name), lambda: protocol)
    return scores


def _protocol(name: str) -> Callable[["EvalContext"], dict[str, Any]]:
    def protocol(ctx: "EvalContext") -> dict[str, Any]:
        return dict(ctx.shared(("torch-fidelity protocol", name), dict))
    return protocol


def _metric(name: str) -> Callable[["EvalContext"], dict[str, float]]:
    def compute(ctx: "EvalContext") -> dict[str, float]:
        return _compute(name, ctx)
    return compute


def _check(name: str) -> Callable[[Any], Optional[str]]:
    def check(options: Any) -> Optional[str]:
        return weights_problem(name, options if isinstance(options, OPTIONS[name]) else None)
    return check


@hookimpl
def ganbench_register_metrics(registry: Any) -> None:
    common = dict(flops_per_image=INCEPTION.flops, feature_pass="torch-fidelity inception-v3-compat")
    registry.add(MetricSpec(
        name="fid", description="Fréchet Inception distance (torch-fidelity, Inception-v3 pool features)",
        compute=_metric("fid"), options=FidOptions, check=_check("fid"), protocol=_protocol("fid"),
        scores=(Score("fid_inception", False, "FID against the real reference set"),), **common))
    registry.add(MetricSpec(
        name="is", description="Inception score (torch-fidelity, Inception-v3 logits)",
        compute=_metric("is"), options=IsOptions, check=_check("is"), protocol=_protocol("is"),
        scores=(Score("is_inception", True, "Inception score, mean over splits"),
                Score("is_inception_std", False, "Inception score, std over splits")), **common))
    registry.add(MetricSpec(
        name="kid", description="kernel Inception distance (torch-fidelity, unbiased MMD², cubic kernel)",
        compute=_metric("kid"), options=KidOptions, check=_check("kid"), protocol=_protocol("kid"),
        scores=(Score("kid_inception", False, "KID, mean over subsets"),
                Score("kid_inception_std", False, "KID, std over subsets")), **common))
    registry.add(MetricSpec(
        name="prc", description="precision, recall and F-score of k-NN manifolds (torch-fidelity; vgg16 features)",
        compute=_metric("prc"), options=PrcOptions, check=_check("prc"), protocol=_protocol("prc"),
        flops_per_image=EXTRACTORS["vgg16"].flops, feature_pass="torch-fidelity vgg16",
        scores=tuple(Score(f"{s}_{e}", True, d) for e in ("vgg16", "inception") for s, d in (
            ("precision", "share of generated images inside the real manifold"),
            ("recall", "share of real images inside the generated manifold"),
            ("f_score", "harmonic mean of precision and recall")))))
