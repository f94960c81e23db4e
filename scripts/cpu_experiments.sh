#!/usr/bin/env bash
# The CPU-scale runs of the report suites behind results/<suite>/ (issue: evidence a reader trusts).
# Each is the report suite itself with only the budget, the widths and the metrics changed, all on
# the command line below, so a rerun reproduces it and a later session resumes it (every run
# checkpoints; rerunning the same command continues where it stopped).
#
#   scripts/cpu_experiments.sh report1         # CIFAR-10 automobile, report 1's nets at a quarter width
#   scripts/cpu_experiments.sh report4-fmnist  # one GAN per Fashion-MNIST class, report 4's nets at half width
#   scripts/cpu_experiments.sh report4-cifar   # one GAN per CIFAR-10 class (horse, bird, dog), half width
#   scripts/cpu_experiments.sh diffaugment     # report 4's horse DCGAN with and without DiffAugment
#
# Data: the CIFAR-10 JPEG copy extracted to $GANBENCH_DATA/cifar10-jpeg (default
# ~/.cache/ganbench/data/cifar10-jpeg), read as an image folder; it has no test split.
# One thread per run (train.threads=1), runs one after another: the budget is core-hours.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${GANBENCH_DATA:-~/.cache/ganbench/data}
CIFAR=(--set 'matrix.dataset=["imagefolder"]' --set "datasets.imagefolder.root=\"$DATA/cifar10-jpeg\""
       --set 'metrics.names=["classifier"]' --set train.threads=1)

case "${1:-}" in
  report1)
    # report 1's nets with a quarter of their channels (G 128-64-32-16 from a dense 4x4x128,
    # D 32-64-128), 5,000 G steps for every model (equal G steps; the report gave the WGANs
    # 40,000 to DCGAN's 15,000), two seeds, the report's protocol (2,560 vs 2,560, final)
    ganbench run suites/cifar_automobile.toml --results results "${CIFAR[@]}" \
      --set 'matrix.seed=[0, 1]' --set train.steps=5000 --set train.eval_every=1000 \
      --set train.sample_every=500 --set train.checkpoint_every=500 \
      --set 'models.dcgan.g_channels=[128, 64, 32, 16]' --set 'models.dcgan.d_channels=[32, 64, 128]' \
      --set 'models.wgan.g_channels=[128, 64, 32, 16]' --set 'models.wgan.d_channels=[32, 64, 128]' \
      --set 'models.wgan-gp.g_channels=[128, 64, 32, 16]' --set 'models.wgan-gp.d_channels=[32, 64, 128]' \
      --set models.acgan.width=16 "${@:2}"
    ;;
  report4-fmnist)
    # report 4's nets at half their channels (G dense 7x7x64, transposed convs 32-1; D 32-64, dense
    # 512), 3,000 G steps for every D:G rule (equal G steps), two seeds, the shipped Fashion-MNIST
    # classifier against each class's 7,000 images (FID needs Inception weights this machine lacks)
    ganbench run suites/per_class_fashion_mnist.toml --results results \
      --set 'metrics.names=["classifier"]' --set train.threads=1 --set 'matrix.seed=[0, 1]' \
      --set train.steps=3000 --set train.eval_every=1000 --set train.sample_every=500 \
      --set train.checkpoint_every=500 --set 'models.dcgan.g_channels=[64, 32]' \
      --set 'models.dcgan.d_channels=[32, 64]' --set 'models.dcgan.d_dense=[512]' "${@:2}"
    ;;
  report4-cifar)
    # report 4's CIFAR-10 nets at half their channels (G dense 4x4x128, transposed convs 64-64-64,
    # D 32-64-64-128), 3,000 G steps for every class and D:G rule (equal G steps; the report gave
    # horse 20,000 and the others 10,000), two seeds, each class's 5,000 JPEG training images
    ganbench run suites/per_class_cifar10.toml --results results "${CIFAR[@]}" \
      --set 'suite.description="Report 4 part 2 at CPU scale: one GAN per CIFAR-10 class (horse, bird, dog; 5,000 training images each), the report nets at half width, 3,000 G steps for every D:G rule, 2 seeds"' \
      --set 'datasets.imagefolder.split="train"' --set 'matrix.seed=[0, 1]' \
      --set train.steps=3000 --set train.eval_every=1000 --set train.sample_every=500 \
      --set train.checkpoint_every=500 --set 'models.dcgan.g_channels=[128, 64, 64, 64]' \
      --set 'models.dcgan.d_channels=[32, 64, 64, 128]' "${@:2}"
    ;;
  diffaugment)
    # report4-cifar's horse DCGAN (D:G 1) as it is, and with DiffAugment (colour, translation,
    # cutout, p = 1) on every image D sees; equal G steps (3,000), two seeds, its own results folder
    ganbench run suites/per_class_cifar10.toml --results results "${CIFAR[@]}" \
      --set 'suite.name="per_class_cifar10_diffaugment"' \
      --set 'suite.description="DiffAugment on 5,000 images at CPU scale: report 4 part 2 horse DCGAN (half width, 3,000 G steps) with and without DiffAugment, 2 seeds"' \
      --set 'matrix.augment=["none", "diffaugment"]' --filter model=dcgan --filter classes=horse \
      --set 'datasets.imagefolder.split="train"' --set 'matrix.seed=[0, 1]' \
      --set train.steps=3000 --set train.eval_every=1000 --set train.sample_every=500 \
      --set train.checkpoint_every=500 --set 'models.dcgan.g_channels=[128, 64, 64, 64]' \
      --set 'models.dcgan.d_channels=[32, 64, 64, 128]' "${@:2}"
    ;;
  *)
    echo "usage: $0 report1|report4-fmnist|report4-cifar|diffaugment [extra ganbench run options, e.g. --filter model=dcgan]" >&2
    exit 2
    ;;
esac
