"""Load time and peak memory of data-set loading, first load (decode) vs cached load.

Each load runs in a fresh Python process so that its peak RSS is its own: the child
imports torch and ganbench first, records its resident memory, resets the kernel's
peak counter (/proc/self/clear_refs), loads, and reports the new peak. "peak − base"
is what loading itself costs; the CIFAR-10 train set is 50,000 × 3 × 32 × 32 bytes
= 146.5 MiB raw.

    python scripts/measure_data_load.py                       # CIFAR-10 JPEG copy as an image folder
    python scripts/measure_data_load.py --root DIR --tar FILE  # another copy
    python scripts/measure_data_load.py --cifar10-root DIR     # also the cifar10 plugin's pickles

The JPEG tar is extracted once to --root (outside the repository); the decoded-data
cache goes to a fresh temporary folder, so "first" really decodes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

DEFAULT_TAR = "/work/shared/data/cifar10-train-jpeg.tar"
DEFAULT_ROOT = "~/.cache/ganbench/cifar10-jpeg"
MIB = 1 << 20


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> None:
    """One load in this process; prints one JSON line."""
    t0 = time.perf_counter()
    import torch  # noqa: F401  (imported before the baseline: every run has it loaded)

    from ganbench.plugins import load_plugins
    from ganbench.config import from_dict

    plugins = load_plugins()
    spec = plugins.datasets.get(args.dataset)
    options = from_dict(spec.options, json.loads(args.options), f"datasets.{args.dataset}")
    imports = time.perf_counter() - t0
    base = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
        reset = True
    except OSError:
        reset = False
    t = time.perf_counter()
    data = spec.load(options, args.cache)
    seconds = time.perf_counter() - t
    peak = _status_kib("VmHWM")  # without the reset: the process's whole peak, imports included
    print(json.dumps({"seconds": seconds, "imports": imports, "base_kib": base, "peak_kib": peak,
                      "peak_reset": reset, "n": len(data.images), "shape": list(data.images.shape),
                      "raw_bytes": data.images.numel(), "fingerprint": data.fingerprint}))


def run_child(dataset: str, options: dict, cache: str) -> dict:
    cmd = [sys.executable, __file__, "--child", "--dataset", dataset, "--options", json.dumps(options),
           "--cache", cache]
    env = dict(os.environ, GANBENCH_CACHE=cache)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"child failed ({' '.join(cmd)}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_extracted(root: Path, tar: Path) -> Path:
    """root/train/<class>/*.jpg, extracted from the tar the first time."""
    if not (root / "train").is_dir():
        if not tar.is_file():
            raise SystemExit(f"neither {root}/train nor {tar} exists; pass --root or --tar")
        root.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        with tarfile.open(tar) as f:
            f.extractall(root, filter="data")
        print(f"extracted {tar} to {root} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=DEFAULT_ROOT, help="where the JPEG copy is (or is extracted to)")
    ap.add_argument("--tar", default=DEFAULT_TAR, help="the CIFAR-10 JPEG tar (train/<class>/*.jpg)")
    ap.add_argument("--repeats", type=int, default=1, help="cached loads to time (each a fresh process)")
    ap.add_argument("--cifar10-root", default="", help="also measure the cifar10 plugin on the python "
                                                        "batches in this folder (cifar-10-batches-py)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dataset", help=argparse.SUPPRESS)
    ap.add_argument("--options", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    root = ensure_extracted(Path(args.root).expanduser(), Path(args.tar))
    cached = ["cached"] * args.repeats
    cases: list[tuple[str, str, dict, list[str]]] = [
        ("imagefolder", "CIFAR-10 JPEG, all 10 classes", {"root": str(root)}, ["first (decode)", *cached]),
        # one class reuses the all-classes decode: only the selected rows are read from the cache
        ("imagefolder", "CIFAR-10 JPEG, automobile", {"root": str(root), "classes": ["automobile"]}, cached),
    ]
    if Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        cases.append(("fashion-mnist", "Fashion-MNIST (Debian), train", {}, ["first (decode)", *cached]))
    if args.cifar10_root:
        cases.append(("cifar10", "CIFAR-10 python batches, train", {"root": args.cifar10_root, "download": False},
                      ["first (decode)", *cached]))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ganbench-measure-") as cache:
        for dataset, label, options, loads in cases:
            for what in loads:
                rows.append((label, what, run_child(dataset, options, cache)))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} "
          f"(other work on the machine makes times noisy)\n")
    print("| data set | load | images | load time (s) | RSS before (MiB) | peak RSS (MiB) "
          "| peak − before (MiB) | tensor (MiB) | (peak − before) / tensor |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, what, r in rows:
        delta = (r["peak_kib"] - r["base_kib"]) * 1024
        print(f"| {label} | {what} | {r['n']:,} | {r['seconds']:.2f} | {r['base_kib'] / 1024:.0f} "
              f"| {r['peak_kib'] / 1024:.0f} | {delta / MIB:.0f} | {r['raw_bytes'] / MIB:.1f} "
              f"| {delta / max(r['raw_bytes'], 1):.2f} |")
    print("\nRSS before = after importing torch and ganbench (the same in every run); each row a fresh process.")


if __name__ == "__main__":
    main()
