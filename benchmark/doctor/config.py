"""What `ganbench doctor` runs, how much of it, and the tolerance each figure is held to.

Two sizes: the full check (paper widths, a few hundred G steps, 32x32 images; about 7
minutes on one modern GPU, an estimate until a GPU has run it) and --tiny (narrow nets, a
handful of steps, 16x16; a few minutes on 2 CPU cores, the CI mode). The tolerances were
set before any GPU run: the first GPU report says whether they hold.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

#: (section, title, what its checks measure), in report order
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("1", "Training: every built-in model in every precision",
     "each registered built-in model trained through the harness (a suite run by run_suite) on the "
     "doctor's data; losses from losses.csv, scores from the run's final evaluation, the untrained G "
     "(same seed, same build) scored the same way"),
    ("2", "torch.compile on vs off",
     "the Trainer with train.compile against eager from the same seed, G step by G step"),
    ("3", "Process executor: packed runs, Ctrl-C, resume",
     "a suite under the process executor (several runs sharing the device; on a GPU also the local "
     "executor, one run at a time); `ganbench run` in a subprocess stopped by SIGINT to its process "
     "group, then the suite run again"),
    ("4", "ganbench bench on the device",
     "`ganbench bench` cases on this device: ganbench's loop against plain PyTorch loops (interleaved "
     "repeats, median of per-repeat ratios), sampling, the Inception pass against torch-fidelity"),
    ("5", "throughput.json",
     "the throughput.json of every training run of section 1 (and of section 3's runs trained one at "
     "a time), and a probe counting synchronisations"),
    ("goals", "The issue's GPU goals", "ratios measured above, against the goals of issue 13"),
)

#: bf16/fp16 against fp32, for loss_d and loss_g: |mean_p - mean_fp32| / max(|mean_fp32|, sd_fp32,
#: CURVE_FLOOR) over the last half of the logged losses (sd_fp32: fp32's spread over that half)
CURVE_TOLERANCE = 0.5
CURVE_FLOOR = 0.1
#: compile on vs off: max over the first compile_steps G steps of |l_c - l_e| / max(|l_e|, CURVE_FLOOR)
COMPILE_TOLERANCE = 0.05
#: fp16 WGAN-GP: the largest share of optimizer steps the GradScaler may skip for inf/NaN gradients
SKIP_TOLERANCE = 0.10
#: the throughput probe's synchronised time per iteration against the loop's: within this factor
PROBE_FACTOR = 3.0
#: issue 13's GPU goals
DCGAN_GOAL = 2.0  # ganbench vs the plain eager (DataLoader) loop, DCGAN, paper width, batch 64
PACKING_GOAL = 3.0  # runs/s of 4 runs packed on one GPU vs one at a time

#: model widths of --tiny (the option's meaning differs: gan's is hidden units, sagan's blocks are 4x)
TINY_WIDTHS = {"gan": 40, "sagan": 4}
TINY_WIDTH = 8


@dataclass(frozen=True)
class DoctorConfig:
    """Sizes of every section; ``make`` gives the full check or --tiny for a device."""

    device: str  # "cpu", "cuda" or "cuda:N"
    tiny: bool
    data: Optional[str]  # an image folder's root; None: the offline digits
    budget_s: float  # a section that would start later is reported skipped
    steps: int  # G steps of each training run (section 1)
    batch_size: int
    log_every: int
    num_samples: int  # generated images per score
    precisions: tuple[str, ...]
    widths: dict[str, int]  # model -> width; a model not named trains at its paper width
    default_width: int  # width of models not in ``widths``; 0: the model's own (paper) width
    resolution: int
    classifier_epochs: int  # the classifier metric's epochs; 0: its own default
    threads: int  # train.threads of the runs; 0: torch's default
    penalty_steps: int  # G steps of the fp16 gradient-penalty probe
    compile_steps: int  # G steps compared step by step, compile on vs off
    compile_backend: str  # "inductor" (the Trainer's own torch.compile) or "aot_eager"
    pack_runs: int
    pack_workers: int
    gpus_per_run: Optional[float]
    pack_seconds: float  # training seconds of one packed run, at the speed of one run alone
    interrupt_seconds: float  # the same for the runs the Ctrl-C stops
    bench_models: tuple[str, ...]  # the bench's training cases
    bench_batches: tuple[int, ...]
    bench_repeats: int
    bench_repeat_seconds: float
    bench_eval_samples: int

    @property
    def gpu(self) -> bool:
        return self.device != "cpu"

    @classmethod
    def make(cls, device: str, tiny: bool, data: Optional[str] = None, budget_s: float = 480.0) -> "DoctorConfig":
        gpu = device != "cpu"
        common: dict[str, Any] = dict(
            device=device, tiny=tiny, data=data, budget_s=budget_s,
            precisions=("fp32", "bf16", "fp16") if gpu else ("fp32",),
            compile_backend="inductor" if gpu else "aot_eager",
            pack_runs=4 if gpu else 2, pack_workers=4 if gpu else 2, gpus_per_run=0.25 if gpu else None,
            threads=0 if gpu else 1)  # tiny nets on a shared CPU run fastest on one thread
        if tiny:
            return cls(**common, steps=12, batch_size=16, log_every=2, num_samples=200,
                       widths=dict(TINY_WIDTHS), default_width=TINY_WIDTH, resolution=16, classifier_epochs=2,
                       penalty_steps=6, compile_steps=6, pack_seconds=1.5, interrupt_seconds=3.0,
                       bench_models=("dcgan",), bench_batches=(16, 32), bench_repeats=2, bench_repeat_seconds=0.25,
                       bench_eval_samples=0)
        return cls(**common, steps=300, batch_size=64, log_every=10, num_samples=2000, widths={},
                   default_width=0, resolution=32, classifier_epochs=0, penalty_steps=50, compile_steps=20,
                   pack_seconds=8.0, interrupt_seconds=6.0, bench_models=("dcgan", "wgan-gp", "sagan"),
                   bench_batches=(64, 256), bench_repeats=3,
                   bench_repeat_seconds=0.6, bench_eval_samples=1000)

    def width(self, model: str) -> int:
        """The width a model trains at here; 0: its own default (the paper's)."""
        return self.widths.get(model, self.default_width)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
