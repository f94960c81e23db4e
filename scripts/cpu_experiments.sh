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
#   scripts/cpu_experiments.sh report2         # DCGAN vs conditional SAGAN on all of CIFAR-10, TTUR
#   scripts/cpu_experiments.sh report3         # the Keras DCGAN on all of CIFAR-10, Adam vs RMSprop
#   scripts/cpu_experiments.sh report5-gan     # the 2014 vanilla GAN on digits and Fashion-MNIST (MNIST stand-ins)
#   scripts/cpu_experiments.sh report5-gan-paper-lr  # the same at the paper's SGD rate 0.1: diverges here
#   scripts/cpu_experiments.sh report5-latent  # its latent sweep z = 10, 100, 200 on Fashion-MNIST
#   scripts/cpu_experiments.sh report5-optim   # its optimizer sweep (5 optimizers, DCGAN) on Fashion-MNIST
#   scripts/cpu_experiments.sh report5-wgan    # WGAN (and WGAN-GP, LSGAN) on Fashion-MNIST, width 16
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
      --set 'suite.description="Report 1 at CPU scale: DCGAN, WGAN, WGAN-GP, AC-GAN on CIFAR-10 automobile (5,000 training JPEGs), the report nets at a quarter width (AC-GAN width 16), 5,000 G steps at batch 64, 2 seeds"' \
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
      --set 'suite.description="Report 4 part 1 at CPU scale: one GAN per Fashion-MNIST class (sneaker, coat, trouser; 7,000 images each), the report nets at half width, 3,000 G steps for every D:G rule, 2 seeds"' \
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
  report2)
    # report 2's DCGAN (width 16) and conditional SAGAN (width 8: its residual blocks run 4 x width
    # channels at full resolution, so width 16 costs ~8 s per G step on one core, 30x DCGAN's), TTUR,
    # on all 50,000 training images; 5,000 G steps at batch 64 each (equal G steps; the report ran
    # 100,000 at batch 128),
    # scored over training with the best step as the headline (the report's minimum FID); no test
    # split here, so the reference is the training split
    ganbench run suites/cifar_dcgan_vs_sagan.toml --results results "${CIFAR[@]}" \
      --set 'suite.description="Report 2 at CPU scale: DCGAN (width 16) vs conditional SAGAN (width 8) on all of CIFAR-10 (50,000 training JPEGs), TTUR, 5,000 G steps at batch 64, best step over training, 2 seeds"' \
      --set 'metrics.reference_split="train"' --set metrics.num_samples=2000 --set metrics.eval_num_samples=2000 \
      --set 'matrix.seed=[0, 1]' --set train.steps=5000 --set train.eval_every=500 --set train.sample_every=500 \
      --set train.checkpoint_every=500 --set train.batch_size=64 --set models.dcgan.width=16 \
      --set models.sagan.width=8 "${@:2}"
    ;;
  report3)
    # report 3's Keras DCGAN at a quarter of its channels (G dense 4x4x64, transposed convs 32-32-32;
    # D 16-32-32-64), D updated on 64 real then 64 fake images, batch 128; 5,000 iterations each
    # for Adam and RMSprop (12.8 epochs; the report ran 200), a grid every 500 (its "every 10 epochs")
    ganbench run suites/dcgan_keras_200_epochs.toml --results results "${CIFAR[@]}" \
      --set 'suite.description="Report 3 at CPU scale: the Keras DCGAN at a quarter width on all of CIFAR-10 (50,000 training JPEGs), Adam vs RMSprop, 5,000 iterations at batch 128 (12.8 epochs), 2 seeds"' \
      --set 'matrix.seed=[0, 1]' --set train.steps=5000 --set train.eval_every=500 --set train.sample_every=500 \
      --set train.checkpoint_every=500 --set 'models.dcgan.g_channels=[64, 32, 32, 32]' \
      --set 'models.dcgan.d_channels=[16, 32, 32, 64]' "${@:2}"
    ;;
  report5-gan|report5-gan-paper-lr)
    # report 5's vanilla GAN (the paper's MLPs: G 1200-1200, maxout D 240x5 with dropout and
    # max-norm) on the two MNIST stand-ins here, digits (16x16) and Fashion-MNIST (28x28); MNIST
    # itself cannot be downloaded. 10,000 G steps at batch 100 for both (equal G steps), two seeds.
    # SGD with momentum 0.5 at rate 0.02: the paper's 0.1 diverges within 400 steps on [-1, 1]
    # images (report5-gan-paper-lr runs it, one seed, into its own folder)
    LR=0.02; NAME=vanilla_gan; SEEDS='[0, 1]'; STEPS=10000
    if [ "$1" = report5-gan-paper-lr ]; then LR=0.1; NAME=vanilla_gan_paper_lr; SEEDS='[0]'; STEPS=2000; fi
    ganbench run suites/vanilla_gan.toml --results results --set "suite.name=\"$NAME\"" \
      --set "suite.description=\"Report 5 vanilla GAN at CPU scale: the paper's nets on digits and Fashion-MNIST (MNIST stand-ins), SGD rate $LR, $STEPS G steps at batch 100\"" \
      --set 'matrix.dataset=["digits", "fashion-mnist"]' --set "matrix.seed=$SEEDS" \
      --set 'metrics.names=["classifier"]' --set train.threads=1 --set train.steps=$STEPS \
      --set train.lr_g=$LR --set train.lr_d=$LR --set train.eval_every=2000 --set train.sample_every=1000 \
      --set train.checkpoint_every=1000 "${@:2}"
    ;;
  report5-latent)
    # report 5's latent sweep (z = 10, 100, 200, vanilla GAN) on Fashion-MNIST for MNIST, as
    # report5-gan (rate 0.02) with 5,000 G steps at batch 100 for each z, two seeds
    ganbench run suites/latent_sweep.toml --results results \
      --set 'suite.description="Report 5 latent sweep at CPU scale: vanilla GAN with z = 10, 100, 200 on Fashion-MNIST (MNIST stand-in), SGD rate 0.02, 5,000 G steps at batch 100, 2 seeds"' \
      --set 'matrix.dataset=["fashion-mnist"]' --set 'matrix.seed=[0, 1]' \
      --set 'metrics.names=["classifier"]' --set train.threads=1 --set train.steps=5000 \
      --set train.lr_g=0.02 --set train.lr_d=0.02 --set train.eval_every=1000 --set train.sample_every=500 \
      --set train.checkpoint_every=1000 "${@:2}"
    ;;
  report5-optim)
    # report 5's optimizer sweep (DCGAN with Adadelta, Adagrad, Adam, RMSprop, SGD at the suite's
    # rates), on Fashion-MNIST (the report's data set is unstated; the suite's CIFAR-10 costs 10x
    # here), width 16, 2,000 G steps at batch 128 for each (the report ran 10,000), two seeds
    ganbench run suites/optimizer_sweep.toml --results results \
      --set 'suite.description="Report 5 optimizer sweep at CPU scale: DCGAN (width 16) with Adadelta, Adagrad, Adam, RMSprop, SGD on Fashion-MNIST, 2,000 G steps at batch 128, 2 seeds"' \
      --set 'matrix.dataset=["fashion-mnist"]' --set 'matrix.seed=[0, 1]' \
      --set 'metrics.names=["classifier"]' --set train.threads=1 --set train.steps=2000 \
      --set models.dcgan.width=16 --set train.eval_every=500 --set train.sample_every=250 \
      --set train.checkpoint_every=500 "${@:2}"
    ;;
  report5-wgan)
    # report 5's WGAN (the paper's recipe and critic warm-up) and its named next steps, WGAN-GP and
    # LSGAN, on Fashion-MNIST for MNIST; DCGAN nets at width 16, 3,000 G steps at batch 64 for
    # each (equal G steps: the critics take 5 D steps per G step), two seeds
    ganbench run suites/wgan_mnist.toml --results results \
      --set 'suite.description="Report 5 WGAN at CPU scale: WGAN, WGAN-GP, LSGAN on Fashion-MNIST (MNIST stand-in), width 16, 3,000 G steps at batch 64, 2 seeds"' \
      --set 'matrix.dataset=["fashion-mnist"]' --set 'matrix.seed=[0, 1]' \
      --set 'metrics.names=["classifier"]' --set train.threads=1 --set train.steps=3000 \
      --set models.wgan.width=16 --set models.wgan-gp.width=16 --set models.lsgan.width=16 \
      --set train.eval_every=500 --set train.sample_every=250 --set train.checkpoint_every=250 "${@:2}"
    ;;
  *)
    echo "usage: $0 report1|report2|report3|report4-fmnist|report4-cifar|diffaugment|report5-gan|report5-gan-paper-lr|report5-latent|report5-optim|report5-wgan [extra ganbench run options, e.g. --filter model=dcgan]" >&2
    exit 2
    ;;
esac
