"""The evaluation case: how much ganbench adds to torch-fidelity for FID + IS + KID.

Times (a) ganbench's evaluation: sampling G, the fid/is/kid plugins sharing one Inception
pass, reference features from ganbench's disk cache, against (b)
``torch_fidelity.calculate_metrics`` called directly on the very same uint8 tensors, its own
cache warm. Both build their feature extractor inside the timed call (for ganbench, the
fidelity plugin's in-memory network and reference are dropped first, as a new process starts
without them), use the same weights file, batch size and settings, and must give the same
numbers. The reference is a fixed random subset of N digits (the plugins' ``num_real``; all
1,797 would cost ≈ 6 minutes per side on a 2-core CPU).

The real Inception weights cannot be downloaded everywhere, so by default a randomly
initialised Inception-v3 (the fidelity plugin's, batch-norm calibrated on digits) is saved
once under the ganbench cache: the cost is the real network's, the scores mean nothing.
torch_fidelity is imported inside the functions that call it: a machine without it still
runs every other case, and `ganbench list` never loads it.
"""
from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from ganbench_plugins.fidelity.features import NETWORKS, uint8_dataset
from ganbench_plugins.fidelity.reference import REFERENCES
from ganbench_plugins.fidelity.weights import save_random_inception_weights

from ..config import MetricsConfig, from_dict
from ..data import DataCache, cache_dir, fingerprint
from ..metrics import eval_context, evaluate
from ..plugins import Plugins
from ..sampling import make_generator
from ..specs import ModelContext
from .config import BENCH_DATASET, BenchConfig
from .measure import ratio
from .records import Case, Skip

Log = Callable[[str], None]
METRICS = ("fid", "is", "kid")
#: (ganbench's score, torch-fidelity's name for it)
SCORE_PAIRS = (("fid_inception", "frechet_inception_distance"), ("is_inception", "inception_score_mean"),
               ("kid_inception", "kernel_inception_distance_mean"))
LATENT_DIM, WIDTH, RESOLUTION = 64, 32, 32


@dataclass
class EvalTimings:
    """Per-repeat seconds of each side ("ganbench", "direct"), wall and this process's CPU
    time (steadier when other jobs share the machine), and the last scores of each."""

    num_samples: int
    seconds: dict[str, list[float]]
    cpu_seconds: dict[str, list[float]]
    scores: dict[str, float]
    direct: dict[str, float]
    warmup_seconds: float
    random_weights: bool
    device: str


def _options(plugins: Plugins, kind: str, name: str, values: dict[str, Any]) -> Any:
    spec = plugins.registry(kind).get(name)
    if spec.options is None:
        raise Skip(f"{kind} plugin '{name}' has no options to set {sorted(values)} with")
    return from_dict(spec.options, values, f"{kind}.{name}")


def measure_eval(plugins: Plugins, num_samples: int, repeats: int, model: str = "dcgan",
                 weights: Optional[Path] = None, device: str = "cpu", log: Log = lambda s: None) -> EvalTimings:
    """Both sides on ``num_samples`` generated against as many real digits, alternating,
    after one untimed pass that fills both reference caches."""
    import torch_fidelity

    n, dev = num_samples, torch.device(device)
    work = cache_dir() / "bench"  # both sides' reference caches persist between benches
    data = DataCache(plugins, work / "ganbench")
    data_options = _options(plugins, "datasets", BENCH_DATASET, {"resolution": RESOLUTION})
    digits = data.get(BENCH_DATASET, data_options)
    pick = torch.randperm(len(digits.images), generator=torch.Generator().manual_seed(0))[:n]  # as num_real picks
    real, real_labels = digits.images[pick], digits.labels[pick]

    weights_file = weights or work / "random-inception-v3.pth"
    if not weights_file.is_file():
        log(f"saving a randomly initialised Inception-v3 to {weights_file} (once)")
        save_random_inception_weights(weights_file, seed=0, images=real[:16])

    torch.manual_seed(0)  # the same G (and so the same samples) every time
    ctx = ModelContext(digits.shape, LATENT_DIM, 0, _options(plugins, "models", model, {"width": WIDTH}))
    G = plugins.models.get(model).build(ctx)[0].to(dev)
    config = MetricsConfig(names=list(METRICS), num_samples=n, batch_size=500)
    sizes = {"fid": {"num_real": n}, "is": {}, "kid": {"num_real": n}}
    opts = {m: _options(plugins, "metrics", m, {"weights": str(weights_file), **sizes[m]}) for m in METRICS}

    def ganbench_eval() -> tuple[dict[str, float], torch.Tensor]:
        REFERENCES.clear()  # as in a new process: reference from disk, extractor built again
        NETWORKS.clear()
        generate = make_generator(G, LATENT_DIM, "normal", dev, None, config.batch_size, seed=0)
        ectx = eval_context(data, BENCH_DATASET, data_options, config, generate, dev, n)
        scores, _, _ = evaluate(plugins, config, opts, ectx)
        return scores, ectx.fake()[0]

    def fidelity_direct(fake: torch.Tensor, real_images: torch.Tensor) -> dict[str, float]:
        return torch_fidelity.calculate_metrics(
            input1=uint8_dataset(fake), input2=uint8_dataset(real_images), cuda=dev.type == "cuda",
            isc=True, fid=True, kid=True, feature_extractor_weights_path=str(weights_file),
            kid_subset_size=min(1000, len(fake), len(real_images)),
            input2_cache_name=f"bench-{fingerprint(real, real_labels)}",
            cache_root=str(work / "torch-fidelity"), save_cpu_ram=dev.type != "cuda", verbose=False)

    t0 = time.perf_counter()
    scores, fake = ganbench_eval()
    fidelity_direct(fake[:12], real)
    out = EvalTimings(n, {"ganbench": [], "direct": []}, {"ganbench": [], "direct": []}, scores, {},
                      time.perf_counter() - t0, weights is None, str(dev))
    log(f"warm-up (reference features on both sides, unless cached): {out.warmup_seconds:.1f} s")
    for _ in range(repeats):
        for side in ("ganbench", "direct"):
            t0, c0 = time.perf_counter(), time.process_time()
            if side == "ganbench":
                out.scores, fake = ganbench_eval()
            else:
                out.direct = fidelity_direct(fake, real)
            out.seconds[side].append(time.perf_counter() - t0)
            out.cpu_seconds[side].append(time.process_time() - c0)
        s, c = out.seconds, out.cpu_seconds
        log(f"  ganbench {s['ganbench'][-1]:.1f} s ({c['ganbench'][-1]:.1f} s CPU), "
            f"torch-fidelity {s['direct'][-1]:.1f} s ({c['direct'][-1]:.1f} s CPU)")
    return out


def eval_summary(t: EvalTimings) -> list[str]:
    """Both sides' scores and the time ratio (goal ≤ 1.1), as lines of text."""
    lines = [f"{t.num_samples} generated vs {t.num_samples} real {RESOLUTION}x{RESOLUTION} digits, "
             f"{torch.get_num_threads()} threads, device {t.device}, random Inception weights: {t.random_weights}"]
    lines += [f"  {ours:15s} ganbench {t.scores[ours]:.6g}   torch-fidelity {t.direct[theirs]:.6g}"
              for ours, theirs in SCORE_PAIRS]
    g, d = statistics.median(t.seconds["ganbench"]), statistics.median(t.seconds["direct"])
    gc, dc = statistics.median(t.cpu_seconds["ganbench"]), statistics.median(t.cpu_seconds["direct"])
    lines.append(f"ganbench fid+is+kid: {g:.1f} s (incl. sampling G)   torch-fidelity direct: {d:.1f} s   "
                 f"ratio {g / d:.3f} (goal ≤ 1.1); CPU time {gc:.1f} s vs {dc:.1f} s, ratio {gc / dc:.3f}")
    return lines


def case_eval(plugins: Plugins, model: str, cfg: BenchConfig, log: Log) -> Case:
    """FID+IS+KID through ganbench against torch-fidelity called directly (warm caches)."""
    if importlib.util.find_spec("torch_fidelity") is None:
        raise Skip("torch-fidelity is not installed")
    log(f"  evaluation: FID+IS+KID on {cfg.eval_samples} samples, {cfg.repeats} repeats")
    got = measure_eval(plugins, cfg.eval_samples, cfg.repeats, model, device=cfg.device, log=log).seconds
    samples = {k: [cfg.eval_samples / s for s in got[k]] for k in ("ganbench", "direct")}
    case = Case("eval/fid+is+kid", "eval", "img/s", samples,
                details=dict(images=cfg.eval_samples, seconds={k: list(v) for k, v in got.items()}))
    case.add_ratio("vs_direct", ratio(samples, "ganbench", "direct"), device=cfg.device)
    return case
