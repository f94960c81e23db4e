"""How much does ganbench add to torch-fidelity? FID + IS + KID on N generated digits.

Times (a) ganbench's evaluation: sampling G, the fid/is/kid plugins sharing one
Inception pass, reference features from ganbench's disk cache, against (b)
``torch_fidelity.calculate_metrics`` called directly on the very same uint8 tensors,
its own cache warm. Both build their feature extractor inside the timed call, use
the same weights file, batch size and settings, and must give the same numbers.
Prints the ratio (a) / (b); the goal is ≤ 1.1.

The real Inception weights cannot be downloaded everywhere, so by default a randomly
initialised Inception-v3 (sane init, batch-norm calibrated on digits, so activations
stay far from denormals) is saved once under the ganbench cache: the cost is the real
network's, the scores mean nothing. Inception-v3 runs at ≈ 5 images/s on a 2-core
CPU, so keep N small there (100–200): the run costs about 4 N + 12 feature extractions.

    python scripts/bench_eval.py --num-samples 100 [--weights FILE] [--repeats 2]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-samples", type=int, default=100, help="generated images (and real images)")
    ap.add_argument("--weights", default="", help="Inception weights file (default: a random one, saved once)")
    ap.add_argument("--repeats", type=int, default=1, help="timed repeats of each side, alternating")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch_fidelity

    from ganbench.config import MetricsConfig
    from ganbench.data import cache_dir
    from ganbench.metrics import evaluate
    from ganbench.sampling import make_generator
    from ganbench.specs import EvalContext
    from ganbench.plugins import get_plugin_manager, load_plugins
    from ganbench.specs import ModelContext
    from ganbench_plugins import fidelity as F
    from ganbench_plugins.digits import DigitsOptions
    from ganbench_plugins.digits import load as load_digits

    n, device = args.num_samples, torch.device(args.device)
    plugins = load_plugins(get_plugin_manager(load_entrypoints=False))
    digits = load_digits(DigitsOptions(resolution=32), "")
    # the reference: n random digits (all 1,797 would cost ≈ 6 minutes per side on a 2-core CPU)
    pick = torch.randperm(len(digits.images), generator=torch.Generator().manual_seed(0))[:n]
    from ganbench.data import fingerprint
    from ganbench.specs import ImageData
    real = ImageData(digits.images[pick], digits.labels[pick], digits.class_names,
                     fingerprint(digits.images[pick], digits.labels[pick]))

    weights = Path(args.weights) if args.weights else cache_dir() / "bench" / "random-inception-v3.pth"
    if not weights.is_file():
        print(f"saving a randomly initialised Inception-v3 to {weights} (once)")
        F.save_random_inception_weights(weights, seed=0, images=real.images[:16])

    torch.manual_seed(0)  # the same G (and so the same samples) every time
    G, _ = plugins.models.get("dcgan").build(ModelContext((1, 32, 32), 64, 0, _dcgan_options(plugins, 32)))
    G = G.to(device)
    names = ["fid", "is", "kid"]
    opts = {"fid": F.FidOptions(weights=str(weights)), "is": F.IsOptions(weights=str(weights)),
            "kid": F.KidOptions(weights=str(weights))}
    config = MetricsConfig(names=names, num_samples=n, batch_size=500)
    work = cache_dir() / "bench"  # both sides' reference caches persist between runs of this script

    def ganbench_eval() -> tuple[dict[str, float], torch.Tensor]:
        F._REFS.clear()  # as in a new process: reference from disk, extractor built again
        F._NETS.clear()
        ctx = EvalContext(real=real, num_samples=n, device=device, cache_dir=work / "ganbench", config=config,
                          generate=make_generator(G, 64, "normal", device, None, config.batch_size, seed=0),
                          dataset="digits")
        scores, _, _ = evaluate(plugins, config, opts, ctx)
        return scores, ctx.fake()[0]

    def fidelity_direct(fake: torch.Tensor, real_images: torch.Tensor) -> dict[str, float]:
        return torch_fidelity.calculate_metrics(
            input1=F._uint8_dataset(fake), input2=F._uint8_dataset(real_images), cuda=device.type == "cuda",
            isc=True, fid=True, kid=True, feature_extractor_weights_path=str(weights),
            kid_subset_size=min(1000, len(fake), len(real_images)), input2_cache_name=f"bench-{real.fingerprint}",
            cache_root=str(work / "torch-fidelity"), save_cpu_ram=device.type != "cuda", verbose=False)

    # warm both caches with the real images (untimed)
    t0 = time.perf_counter()
    scores, fake = ganbench_eval()
    fidelity_direct(fake[:12], real.images)
    print(f"warm-up (reference features on both sides, unless cached): {time.perf_counter() - t0:.1f} s",
          flush=True)

    # wall time, and this process's CPU time (steadier when other jobs share the machine)
    times: dict[str, list[float]] = {"ganbench": [], "torch-fidelity": []}
    cpu: dict[str, list[float]] = {"ganbench": [], "torch-fidelity": []}
    direct: dict[str, Any] = {}
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        scores, fake = ganbench_eval()
        times["ganbench"].append(time.perf_counter() - t0)
        cpu["ganbench"].append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        direct = fidelity_direct(fake, real.images)
        times["torch-fidelity"].append(time.perf_counter() - t0)
        cpu["torch-fidelity"].append(time.process_time() - c0)
        print(f"  ganbench {times['ganbench'][-1]:.1f} s ({cpu['ganbench'][-1]:.1f} s CPU), "
              f"torch-fidelity {times['torch-fidelity'][-1]:.1f} s ({cpu['torch-fidelity'][-1]:.1f} s CPU)",
              flush=True)

    pairs = (("fid_inception", "frechet_inception_distance"), ("is_inception", "inception_score_mean"),
             ("kid_inception", "kernel_inception_distance_mean"))
    print(f"{n} generated vs {n} real 32x32 digits, {torch.get_num_threads()} threads, device {device}, "
          f"random Inception weights: {not args.weights}")
    for ours, theirs in pairs:
        print(f"  {ours:15s} ganbench {scores[ours]:.6g}   torch-fidelity {direct[theirs]:.6g}")
    g, d = statistics.median(times["ganbench"]), statistics.median(times["torch-fidelity"])
    gc, dc = statistics.median(cpu["ganbench"]), statistics.median(cpu["torch-fidelity"])
    print(f"ganbench fid+is+kid: {g:.1f} s (incl. sampling G)   torch-fidelity direct: {d:.1f} s   "
          f"ratio {g / d:.3f} (goal ≤ 1.1); CPU time {gc:.1f} s vs {dc:.1f} s, ratio {gc / dc:.3f}")


def _dcgan_options(plugins: Any, width: int) -> Any:
    from ganbench.config import from_dict
    return from_dict(plugins.models.get("dcgan").options, {"width": width}, "models.dcgan")


if __name__ == "__main__":
    main()
