"""What `ganbench bench` measures: the case table, how long each case runs, and the goals.

The cases name model plugins by their registry names; the bench reaches every model, loss
and regularizer through the plugin registry, so a case is a row here, not a code path.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Optional

NARROW_WIDTH = 16
#: the training batch a case name leaves unsaid; other batch sizes add "/b<size>" to it
DEFAULT_BATCH = 64
#: the offline data set every case trains or scores on (it needs no download)
BENCH_DATASET = "digits"
#: "never" for fit()'s log/sample intervals while benchmarking
BIG = 10**12
#: goals, as speed ratios (ganbench speed / baseline speed) by (case kind, width kind, ratio);
#: the evaluation's goal "time ≤ 1.1 x direct" is the speed ratio ≥ 1 / 1.1
GOALS = {
    ("train", "full", "vs_dataloader"): 1.25, ("train", "full", "vs_tensor"): 1.25,
    ("train", "narrow", "vs_dataloader"): 2.0, ("train", "narrow", "vs_tensor"): 1.25,
    ("sample", "any", "vs_plain"): 1.4, ("eval", "any", "vs_direct"): 1 / 1.1,
    ("suite", "any", "vs_sequential"): 1.3,
}
#: achieved training FLOP/s over the matmul FLOP/s, at full width (on a CPU)
EFFICIENCY_GOAL = 0.60
#: goals on a GPU (issue 13), by (case name, ratio): small 32x32 GANs leave a big GPU launch-bound,
#: so ganbench must beat the plain eager loop by 2x for DCGAN at paper width and batch 64; the
#: evaluation's overhead over torch-fidelity is held to the CPU's goal. The other CPU goals were
#: set on a 2-core CPU and do not apply to a GPU.
CUDA_GOALS = {("train/dcgan/w64", "vs_dataloader"): 2.0, ("eval/fid+is+kid", "vs_direct"): 1 / 1.1}


def goal_for(kind: str, name: str, width_kind: str, key: str, device: str) -> Optional[float]:
    """The goal a ratio is held to on this device kind, or None."""
    if device == "cpu":
        return GOALS.get((kind, width_kind, key))
    return CUDA_GOALS.get((name, key))


def batch_suffix(batch: int) -> str:
    """"" for the default training batch, else "/b<size>" (a case name's last part)."""
    return "" if batch in (0, DEFAULT_BATCH) else f"/b{batch}"

Kind = Literal["train", "sample", "compile", "suite", "eval"]


@dataclass(frozen=True)
class CaseSpec:
    """One row of the bench: a kind of measurement on a model plugin (by registry name).

    quick: measured by --quick too; skip_note: when set, --quick reports the case as skipped
    with this reason instead of leaving it out silently.
    """

    kind: Kind
    model: str
    quick: bool = True
    skip_note: str = ""


#: in the order they run; compile runs only with --compile
CASES: tuple[CaseSpec, ...] = (
    CaseSpec("train", "dcgan"),
    CaseSpec("train", "wgan-gp"),
    CaseSpec("train", "sagan"),
    CaseSpec("sample", "dcgan"),
    CaseSpec("sample", "sagan", quick=False),
    CaseSpec("compile", "dcgan"),
    CaseSpec("suite", "dcgan"),
    CaseSpec("eval", "dcgan", quick=False,
             skip_note="not in --quick: Inception-v3 runs at ~5 img/s on a 2-core CPU"),
)
#: model plugins benchmarked for training (BenchConfig.models' default)
TRAIN_MODELS = tuple(c.model for c in CASES if c.kind == "train")


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure. quick: narrow widths, few steps (~2-3 minutes on 2 CPU cores)."""

    quick: bool = False
    repeats: int = 5
    warmup_steps: int = 2
    batch_size: int = DEFAULT_BATCH
    #: training batch sizes of the train cases; () = (batch_size,)
    batch_sizes: tuple[int, ...] = ()
    #: "cpu", "cuda" or "cuda:N": tensors, models, data and timing (synchronised) on it
    device: str = "cpu"
    #: width kinds of the train and sample cases without --quick ("full": the model's own default)
    width_kinds: tuple[str, ...] = ("full", "narrow")
    #: seconds one variant's timed repeat should last; its G steps are calibrated from the
    #: warm-up (models differ by 100x in cost per step)
    repeat_seconds: float = 6.0
    max_steps: int = 200
    max_sample_images: int = 20_000  # sampling repeats are calibrated like training ones
    plain_sample_batch: int = 64  # what a plain sampling loop uses: the training batch
    suite_runs: int = 8
    #: G steps per suite run: long enough that training, not the ~5 s cold start of the
    #: worker processes (import torch, first oneDNN primitives), decides (≈ 4 s a run at 2 threads)
    suite_steps: int = 200
    suite_repeats: int = 5
    #: 1,000 samples, as the evaluation's goal is stated; Inception-v3 runs at ~5 img/s on
    #: 2 CPU cores, so this case alone takes ~35 minutes there (2,000 feature extractions per
    #: repeat, caches filled once)
    eval_samples: int = 1000
    loader_workers: int = 0
    compile: bool = False
    only: tuple[str, ...] = ()  # substrings of case names to keep; () = all
    models: tuple[str, ...] = TRAIN_MODELS

    @classmethod
    def make(cls, quick: bool, **kw: Any) -> "BenchConfig":
        """The full configuration, or --quick's, with ``kw`` on top."""
        base = cls(quick=True, repeat_seconds=0.8, suite_steps=8, suite_repeats=1) if quick else cls()
        return dataclasses.replace(base, **kw)

    def widths(self, default: int) -> list[tuple[str, int]]:
        """(width kind, width) pairs a train or sample case runs at, given the model's default width."""
        if self.quick:
            return [("narrow", NARROW_WIDTH)]
        return [(kind, default if kind == "full" else NARROW_WIDTH) for kind in self.width_kinds]

    def train_batches(self) -> tuple[int, ...]:
        return self.batch_sizes or (self.batch_size,)

    def wants(self, name: str) -> bool:
        return not self.only or any(s in name for s in self.only)

    def to_json(self) -> dict[str, Any]:
        """The configuration as a result records it (``only`` is the command line's business)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "only"}
