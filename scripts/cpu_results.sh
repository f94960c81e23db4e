#!/usr/bin/env bash
# Reduced-budget CPU versions of two report experiments (issue 6, part C). CPU-scale numbers:
# narrow networks (width 16), a few hundred G steps, the offline classifier metric on 1,000
# samples. Not comparable with the papers or the reports. Resumable: rerun to continue.
set -euo pipefail
cd "$(dirname "$0")/.."
# usage: scripts/cpu_results.sh [all|fashion|cifar] [extra ganbench run options, e.g. --executor process --workers 2]
which="${1:-all}"
shift || true
if [ "$which" = all ] || [ "$which" = fashion ]; then
  ganbench run suites/per_class_fashion_mnist.toml --results results \
    --set train.steps=400 --set 'matrix."train.n_critic"=[1, 2]' --set 'matrix.seed=[0, 1]' \
    --set models.dcgan.width=16 --set train.eval_every=100 --set train.sample_every=100 \
    --set train.checkpoint_every=100 --set train.threads=1 \
    --set 'metrics.names=["classifier"]' --set metrics.num_samples=1000 --set metrics.eval_num_samples=500 "$@"
fi
if [ "$which" = all ] || [ "$which" = cifar ]; then
  # CIFAR-10 automobile from the shared JPEG copy, extracted to ~/.cache/ganbench/cifar10-jpeg/train/<class>/
  ganbench run suites/cifar_automobile.toml --results results \
    --set 'matrix.dataset=["imagefolder"]' --set "datasets.imagefolder.root=\"$HOME/.cache/ganbench/cifar10-jpeg\"" \
    --set train.steps=300 --set 'matrix.seed=[0, 1]' \
    --set models.dcgan.width=16 --set models.wgan.width=16 --set models.wgan-gp.width=16 --set models.acgan.width=16 \
    --set train.eval_every=100 --set train.sample_every=100 --set train.checkpoint_every=100 --set train.threads=1 \
    --set 'metrics.names=["classifier"]' --set metrics.num_samples=1000 --set metrics.eval_num_samples=500 "$@"
fi
