"""Train the shipped reference classifiers of the classifier metric, deterministically.

    python scripts/train_classifiers.py                  # all: digits, fashion-mnist, cifar10
    python scripts/train_classifiers.py cifar10 --out /tmp/weights

Each classifier trains on the CPU with one thread, torch's deterministic algorithms, fixed
seeds and the data in the order its ganbench data-set plugin loads it (recipes and data in
ganbench_plugins.classifier_metrics.shipped.SHIPPED), so a rerun on the same machine and
torch gives the same weights. It writes <name>.pt (the state dict in fp16) and <name>.json
(architecture, input, classes, training data fingerprint, held-out accuracy measured with
the fp16 weights, split sizes, this command, torch version, wall time) into --out, by default
the package data folder plugins/classifier_weights/. An interrupted training resumes from its
last epoch (a checkpoint under the ganbench cache) to the same weights.

Data: digits ship with scikit-learn; Fashion-MNIST is found where the fashion-mnist data set
looks (Debian's /usr/share/datasets/fashion-mnist included); CIFAR-10 is the JPEG copy of its
50,000 training images, one folder per class, under DATA/cifar10-jpeg/train/ (DATA: --data,
else $GANBENCH_DATA, else ~/.cache/ganbench/data).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ganbench.config import from_dict
from ganbench.data import cache_dir
from ganbench.plugins import get_plugin_manager, load_plugins
from ganbench.results import write_json
from ganbench.specs import ImageData
from ganbench_plugins.classifier_metrics.nets import (ARCHITECTURE, accuracy, build_classifier, deterministic, fit,
                                                      half_state, num_parameters)
from ganbench_plugins.classifier_metrics.shipped import SHIPPED, WEIGHTS_DIR, ShippedSpec, sha256

FINGERPRINT_HOW = ("ganbench.data.fingerprint of the data set as its ganbench plugin loads it: sha256 over the "
                   "(N, C, H, W) uint8 tensor's shape, its bytes and the int64 labels (first 16 hex digits)")


def load(spec: ShippedSpec, data: Path, split: str = "train") -> ImageData:
    """The data set through its plugin; a relative `root` option is taken under `data`."""
    plugins = load_plugins(get_plugin_manager(load_entrypoints=False))
    options = dict(spec.options)
    if "root" in options:
        options["root"] = str(data / options["root"])
    if split != "train":
        options["split"] = split
    ds = plugins.datasets.get(spec.dataset)
    parsed = from_dict(ds.options, options, f"datasets.{spec.dataset}")
    if ds.check is not None and (problem := ds.check(parsed)):
        sys.exit(f"{spec.name}: {problem}")
    return ds.load(parsed, str(cache_dir()))


def train_one(spec: ShippedSpec, out: Path, data: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    full = load(spec, data)
    if spec.held_out:
        images, labels = full.images, full.labels
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        val, train = perm[:spec.held_out], perm[spec.held_out:]
        split = {"train": len(train), "held_out": len(val),
                 "how": f"seeded permutation (torch.randperm, seed 0) of the loaded order; the first "
                        f"{spec.held_out:,} are held out"}
        held_out_fp = full.fingerprint
    else:  # the data set's own test split is the held-out set
        test = load(spec, data, "test")
        images, labels = torch.cat([full.images, test.images]), torch.cat([full.labels, test.labels])
        train = torch.arange(len(full.images))
        val = torch.arange(len(full.images), len(images))
        split = {"train": len(train), "held_out": len(val), "how": "the train split trains, the test split is held out"}
        held_out_fp = test.fingerprint
    images, labels = images.contiguous(), labels.contiguous()
    c, h, w = full.shape
    print(f"{spec.name}: {len(train):,} training and {len(val):,} held-out images, {c}x{h}x{w}, "
          f"{full.num_classes} classes; loaded in {time.perf_counter() - t0:.0f} s", flush=True)
    resume = cache_dir() / "train_classifiers" / f"{spec.name}-resume.pt"
    key = json.dumps({"recipe": spec.recipe.to_json(), "arch": spec.arch.to_json(), "data": full.fingerprint,
                      "held_out": held_out_fp, "split": split, "torch": torch.__version__}, sort_keys=True)
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(spec.recipe.seed)
        model = build_classifier(c, full.num_classes, spec.arch)
        fitted = fit(model, images, labels, train, spec.recipe, checkpoint=resume, key=key,
                     log=lambda e, loss, sec: print(f"  epoch {e}/{spec.recipe.epochs}: loss {loss:.4f} "
                                                    f"({sec:.0f} s)", flush=True))
        state = half_state(model)
        model.load_state_dict(state)  # the accuracy stated is the shipped fp16 weights'
        acc = accuracy(model, images, labels, val)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{spec.name}.pt"
    torch.save(state, weights)
    meta = {
        "name": spec.name, "serves": list(spec.serves),
        "architecture": ARCHITECTURE, "architecture_options": spec.arch.to_json(),
        "num_parameters": num_parameters(model),
        "input": {"channels": c, "height": h, "width": w, "range": "uint8 [0, 255] mapped to [-1, 1]"},
        "class_names": list(full.class_names),
        "weights_sha256": sha256(weights), "weights_dtype": "float16 (loaded into float32 parameters)",
        "held_out_accuracy": acc, "split": split,
        "training_data": {"dataset": spec.dataset, "options": spec.options, "description": spec.notes,
                          "fingerprint": full.fingerprint, "held_out_fingerprint": held_out_fp,
                          "how": FINGERPRINT_HOW},
        "recipe": spec.recipe.to_json(),
        "determinism": "CPU, one thread, torch.use_deterministic_algorithms(True), fixed seeds, data in load order",
        "command": f"python scripts/train_classifiers.py {spec.name}",
        "torch_version": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "train_seconds": round(fitted.seconds, 1), "resumed_at": [list(r) for r in fitted.resumed_at],
    }
    write_json(out / f"{spec.name}.json", meta)
    resume.unlink(missing_ok=True)
    print(f"{spec.name}: held-out accuracy {acc:.4f}, {num_parameters(model):,} parameters, "
          f"{weights.stat().st_size / 1e6:.2f} MB, trained in {fitted.seconds / 60:.1f} min", flush=True)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"classifiers to train ({', '.join(SHIPPED)}; "
                                                                 f"default all)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder for <name>.pt and <name>.json")
    parser.add_argument("--data", type=Path, default=None, help="data folder (default $GANBENCH_DATA or "
                                                                "~/.cache/ganbench/data)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHIPPED]
    if unknown:
        parser.error(f"unknown classifier {', '.join(unknown)}; known: {', '.join(SHIPPED)}")
    data = args.data or Path(os.environ.get("GANBENCH_DATA") or cache_dir() / "data").expanduser()
    for name in args.names or list(SHIPPED):
        train_one(SHIPPED[name], args.out, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
