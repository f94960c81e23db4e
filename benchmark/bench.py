"""`ganbench bench`: ganbench's speed against the loops people would otherwise write.

Every case times ganbench's own code path (Trainer.fit, make_generator, the executors)
against a baseline written here in plain, idiomatic PyTorch on the same model, loss,
optimizer, batch and number of steps:

- ``plain_dataloader``: a torchvision-style Dataset (a PIL image per item, ToTensor and
  Normalize) in a DataLoader, and the step as the PyTorch DCGAN example writes it
  (``zero_grad()``, D's weight gradients computed in the G step too, ``.item()`` per step
  for the loss log, torch's default optimizer implementation for the device).
- ``plain_tensor``: the same step fed from one float tensor in memory.

The baselines follow ganbench's algorithm exactly (the last critic step's fake batch is
reused for the G step, the G forwards of earlier critic steps run without a graph), so a
ratio measures implementation, never a different recipe. Fed the same random generator,
``PlainLoop(source="tensor")`` reproduces the Trainer's numbers (bit for bit with the same
optimizer kernel): tests/test_speed_equivalence.py uses it as the reference.

Absolute times drift (other processes, clocks), ratios hold better: the variants of a case
run interleaved in a rotating order (ABC, BCA, CAB, ...) and a ratio is the median of the
per-repeat ratios. Training img/s of ganbench is the figure Trainer.fit measures (what a
run's throughput.json reports as train_img_per_s), and FLOPs per image come from the probe
that writes throughput.json's flops_per_image (``ganbench.flops.step_flops``).
Speed ratios > 1 favour ganbench; the evaluation's goal "time ≤ 1.1 x direct" is the speed
ratio ≥ 1 / 1.1.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from .errors import GanbenchError
from .flops import step_flops

#: model plugins benchmarked for training, when registered
TRAIN_MODELS = ("dcgan", "wgan-gp", "sagan")
NARROW_WIDTH = 16
#: goals, as speed ratios (ganbench speed / baseline speed); evaluation: time ≤ 1.1 x direct
GOALS = {
    ("train", "full", "vs_dataloader"): 1.25, ("train", "full", "vs_tensor"): 1.25,
    ("train", "narrow", "vs_dataloader"): 2.0, ("train", "narrow", "vs_tensor"): 1.25,
    ("sample", "any", "vs_plain"): 1.4, ("eval", "any", "vs_direct"): 1 / 1.1,
    ("suite", "any", "vs_sequential"): 1.3,
}
EFFICIENCY_GOAL = 0.60  # achieved training FLOP/s over the matmul FLOP/s, at full width
BIG = 10**12  # "never" for fit()'s log/sample intervals while benchmarking


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure. quick: narrow widths, few steps (~2-3 minutes on 2 CPU cores)."""

    quick: bool = False
    repeats: int = 5
    warmup_steps: int = 2
    batch_size: int = 64
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
    #: the issue's 1,000 samples; Inception-v3 runs at ~5 img/s on 2 CPU cores, so this case
    #: alone takes ~35 minutes there (2,000 feature extractions per repeat, caches filled once)
    eval_samples: int = 1000
    loader_workers: int = 0
    compile: bool = False
    only: tuple[str, ...] = ()  # substrings of case names to keep; () = all
    models: tuple[str, ...] = TRAIN_MODELS

    @classmethod
    def make(cls, quick: bool, **kw: Any) -> "BenchConfig":
        if quick:
            base = dict(quick=True, repeat_seconds=0.8, suite_steps=8, suite_repeats=1)
            base.update(kw)
            return cls(**base)
        return cls(**kw)

    def widths(self, default: int) -> list[tuple[str, int]]:
        return [("narrow", NARROW_WIDTH)] if self.quick else [("full", default), ("narrow", NARROW_WIDTH)]

    def wants(self, name: str) -> bool:
        return not self.only or any(s in name for s in self.only)


# -- runs and data ----------------------------------------------------------------------------
def bench_suite_text(model: str, width: int, batch_size: int, steps: int, *, name: str = "bench",
                     seeds: tuple[int, ...] = (0,), train: Optional[dict[str, Any]] = None,
                     resolution: int = 32) -> str:
    """A suite for one model on the offline digits set at 32x32x3 (the CIFAR-10 shape)."""
    t = {"steps": steps, "batch_size": batch_size, "device": "cpu", "log_every": BIG, "sample_every": BIG,
         "checkpoint_every": 0, "num_final_images": 0, "grid_size": 4, **(train or {})}
    lines = [f'[suite]\nname = "{name}"', "[matrix]", f'model = ["{model}"]', 'dataset = ["digits"]',
             f"seed = {list(seeds)}", "[train]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in t.items()]
    lines += ["[metrics]", "names = []", f"[models.{model}]", f"width = {width}",
              "[datasets.digits]", f"resolution = {resolution}", "channels = 3"]
    return "\n".join(lines) + "\n"


def make_run(plugins: Any, model: str, width: int, batch_size: int = 64, steps: int = 10,
             train: Optional[dict[str, Any]] = None, resolution: int = 32) -> Any:
    """One validated RunSpec, through the same suite loader users go through."""
    from .suite import load_suite

    text = bench_suite_text(model, width, batch_size, steps, train=train, resolution=resolution)
    return load_suite(plugins, "<bench>.toml", text=text).runs[0]


def load_data(plugins: Any, run: Any) -> Any:
    from .data import cache_dir
    from .data import DataCache

    return DataCache(plugins, cache_dir()).get(run.dataset, run.dataset_options)


def build_models(plugins: Any, run: Any, data: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D as the Trainer builds them: torch.manual_seed(seed) first, same builder."""
    from .specs import ModelContext

    torch.manual_seed(run.train.seed)
    ctx = ModelContext(image_shape=data.shape, latent_dim=run.train.latent_dim, num_classes=0,
                       options=run.model_options)
    return plugins.models.get(run.model).build(ctx)


# -- ganbench ---------------------------------------------------------------------------------
class GanbenchLoop:
    """The Trainer, driven through fit() exactly as a run drives it."""

    def __init__(self, plugins: Any, run: Any, data: Any, device: str = "cpu"):
        from .train import Trainer

        self.trainer = Trainer(plugins, run, data, torch.device(device))
        self.images_per_step = run.train.batch_size * run.train.n_critic
        self.losses: list[dict[str, float]] = []

    def fit(self, steps: int, log_every: int = BIG) -> float:
        """``steps`` more G steps; returns the img/s that fit() itself measured (the figure a
        run's losses log and throughput.json report)."""
        from .train import Callbacks

        tr = self.trainer
        tr.cfg = dataclasses.replace(tr.cfg, steps=tr.state.step + steps, log_every=log_every,
                                     sample_every=BIG, eval_every=0, checkpoint_every=0)
        speed: dict[str, float] = {}

        def on_log(step: int, losses: dict[str, float], s: dict[str, float]) -> None:
            speed.update(s)
            self.losses.append(losses)

        seen = tr.state.train_seconds
        tr.fit(Callbacks(on_log=on_log))
        if log_every >= steps:
            return speed["img_per_s"]
        return steps * self.images_per_step / (tr.state.train_seconds - seen)


# -- plain PyTorch ----------------------------------------------------------------------------
class PILImages(torch.utils.data.Dataset):
    """A torchvision-style data set (as torchvision.datasets.CIFAR10 does it): uint8 HWC
    arrays, one PIL image per item, then the transform."""

    def __init__(self, images_uint8: torch.Tensor, transform: Callable[[Any], torch.Tensor]):
        self.data = images_uint8.permute(0, 2, 3, 1).contiguous().numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        a = self.data[i]
        return self.transform(Image.fromarray(a[..., 0] if a.shape[2] == 1 else a))


_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD"}


class PlainLoop:
    """The training loop users write by hand, on the same G, D, loss and optimizer.

    source "dataloader": PILImages + ToTensor/Normalize + DataLoader(shuffle, drop_last);
    source "tensor": batches indexed from one float tensor, with ``generator`` drawing the
    permutations and z in the Trainer's order (then the numbers match the Trainer's).
    """

    def __init__(self, plugins: Any, run: Any, data: Any, source: str = "tensor", loader_workers: int = 0,
                 generator: Optional[torch.Generator] = None, optimizer_impl: Optional[dict[str, Any]] = None):
        t = run.train
        if t.optimizer not in _OPTIMIZERS:
            raise GanbenchError(f"the plain baseline has no optimizer '{t.optimizer}'")
        self.t, self.source = t, source
        self.G, self.D = build_models(plugins, run, data)
        cls = getattr(torch.optim, _OPTIMIZERS[t.optimizer])
        impl = optimizer_impl or {}
        kw = {"betas": tuple(t.betas_g)} if t.optimizer in ("adam", "adamw") else {}
        self.opt_g = cls(self.G.parameters(), lr=t.lr_g, weight_decay=t.weight_decay, **kw, **impl)
        kw = {"betas": tuple(t.betas_d)} if t.optimizer in ("adam", "adamw") else {}
        self.opt_d = cls(self.D.parameters(), lr=t.lr_d, weight_decay=t.weight_decay, **kw, **impl)
        self.adv = plugins.losses.get(t.loss)
        self.adv_opts = run.loss_options.get(t.loss)
        self.gp = None
        for reg in t.regularizers:
            if reg != "gradient-penalty":
                raise GanbenchError(f"the plain baseline has no regularizer '{reg}'")
            from ganbench_plugins.regularizers import GradientPenaltyOptions
            self.gp = run.loss_options.get(reg) or GradientPenaltyOptions()
        self.real_target = 1.0 - t.label_smoothing
        self.gen = generator
        self.images_per_step = t.batch_size * t.n_critic
        self.history: list[tuple[float, float]] = []
        if source == "dataloader":
            from torchvision import transforms

            c = data.shape[0]
            tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * c, (0.5,) * c)])
            self.loader = torch.utils.data.DataLoader(PILImages(data.images, tf), batch_size=t.batch_size,
                                                      shuffle=True, drop_last=True, num_workers=loader_workers,
                                                      generator=generator)
            self._it = self._epochs()
        elif source == "tensor":
            self.data = data.images.float().div(127.5).sub(1.0)  # into [-1, 1] once
            self.perm = torch.empty(0, dtype=torch.long)
            self.pos = 0
        else:
            raise ValueError(f"unknown source {source!r}")

    def _epochs(self) -> Iterator[torch.Tensor]:
        while True:
            yield from self.loader

    def real_batch(self) -> torch.Tensor:
        if self.source == "dataloader":
            return next(self._it)
        b = self.t.batch_size
        if self.pos + b > len(self.perm):
            self.perm = torch.randperm(len(self.data), generator=self.gen)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + b]
        self.pos += b
        return self.data[idx]

    def step(self) -> tuple[float, float]:
        """n_critic D steps, then a G step on the last fake batch; returns (loss_d, loss_g)."""
        t = self.t
        d_losses = []
        for i in range(t.n_critic):
            real = self.real_batch()
            z = torch.randn(t.batch_size, t.latent_dim, generator=self.gen)
            if i == t.n_critic - 1:
                fake = self.G(z)
            else:
                with torch.no_grad():
                    fake = self.G(z)
            self.opt_d.zero_grad()
            d_loss = self.adv.d_loss(self.D(real), self.D(fake.detach()), self.real_target, self.adv_opts)
            if self.gp is not None:
                eps = torch.rand(real.shape[0], 1, 1, 1)
                x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
                (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
                d_loss = d_loss + self.gp.weight * ((grad.flatten(1).norm(2, dim=1) - self.gp.target) ** 2).mean()
            d_loss.backward()
            self.opt_d.step()
            d_losses.append(d_loss.item())
        self.opt_g.zero_grad()
        g_loss = self.adv.g_loss(self.D(fake), None, self.adv_opts)
        g_loss.backward()
        self.opt_g.step()
        out = (sum(d_losses) / len(d_losses), g_loss.item())
        self.history.append(out)
        return out

    def fit(self, steps: int) -> float:
        """``steps`` G steps; returns img/s (wall clock; the .item() calls are the syncs)."""
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        return steps * self.images_per_step / (time.perf_counter() - t0)


# -- sampling ---------------------------------------------------------------------------------
def plain_sample(G: torch.nn.Module, n: int, latent_dim: int, batch_size: int) -> torch.Tensor:
    """A plain sampling loop: eval mode, torch.no_grad, the training batch, uint8 out."""
    G.eval()
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            x = G(torch.randn(min(batch_size, n - start), latent_dim))
            out.append(((x + 1) * 127.5).clamp(0, 255).round().to(torch.uint8))
    return torch.cat(out)


# -- FLOPs ------------------------------------------------------------------------------------
# -- timing -----------------------------------------------------------------------------------
def interleave(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call every variant once per repeat, rotating the order (ABC, BCA, CAB, ...) so that
    drift and order effects fall on every variant alike. Each callable returns a speed."""
    names = list(fns)
    out: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(float(fns[name]()))
    return out


def calibrate(one_step: Callable[[], Any], cfg: BenchConfig, unit: int = 1, most: int = 0) -> int:
    """How many units (steps, images) a timed repeat needs to last about cfg.repeat_seconds:
    the faster of two timed calls of one_step (which does ``unit`` units), so that one stall
    on a busy machine does not shrink every repeat to a single noisy step."""
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        one_step()
        times.append(time.perf_counter() - t0)
    per_unit = max(min(times), 1e-6) / unit
    n = max(1, min(most or cfg.max_steps, round(cfg.repeat_seconds / per_unit)))
    return max(unit, n // unit * unit) if unit > 1 else n


def ratio(samples: dict[str, list[float]], a: str, b: str) -> float:
    """Median over repeats of speed(a) / speed(b) measured in the same repeat."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 n x n matmul GFLOP/s at the current thread count (median of repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


def _case(name: str, kind: str, samples: dict[str, list[float]], unit: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "unit": unit, "repeats": len(next(iter(samples.values()))),
            "median": {k: statistics.median(v) for k, v in samples.items()},
            "samples": samples, "ratios": {}, "goals": {}, **extra}


def _goal(case: dict[str, Any], key: str, value: float, width_kind: str = "any") -> None:
    case["ratios"][key] = value
    goal = GOALS.get((case["kind"], width_kind, key))
    if goal is not None:
        case["goals"][key] = goal


# -- cases ------------------------------------------------------------------------------------
def case_training(plugins: Any, model: str, width_kind: str, width: int, cfg: BenchConfig,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """ganbench's Trainer against the DataLoader loop and the in-memory tensor loop."""
    run = make_run(plugins, model, width, cfg.batch_size)
    data = load_data(plugins, run)
    gb = GanbenchLoop(plugins, run, data)
    dl = PlainLoop(plugins, run, data, "dataloader", cfg.loader_workers)
    pt = PlainLoop(plugins, run, data, "tensor")
    for v in (gb, dl, pt):  # warm-up: allocator, oneDNN primitives, DataLoader iterator
        v.fit(cfg.warmup_steps)
    steps = calibrate(lambda: pt.fit(1), cfg)
    log(f"  {model} width {width}: timing {cfg.repeats} x {steps} steps x 3 variants")
    samples = interleave({"ganbench": lambda: gb.fit(steps), "plain_dataloader": lambda: dl.fit(steps),
                          "plain_tensor": lambda: pt.fit(steps)}, cfg.repeats)
    flops = step_flops(gb.trainer)
    case = _case(f"train/{model}/w{width}", "train", samples, "img/s", model=model, width=width,
                 width_kind=width_kind, steps_per_repeat=steps, batch_size=cfg.batch_size,
                 n_critic=run.train.n_critic, loader_workers=cfg.loader_workers,
                 flops_per_image=flops.get("flops_per_image"))
    _goal(case, "vs_dataloader", ratio(samples, "ganbench", "plain_dataloader"), width_kind)
    _goal(case, "vs_tensor", ratio(samples, "ganbench", "plain_tensor"), width_kind)
    return case


def case_compile(plugins: Any, model: str, width: int, cfg: BenchConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """train.compile = true against eager, with the cold compile time."""
    run = make_run(plugins, model, width, cfg.batch_size)
    crun = make_run(plugins, model, width, cfg.batch_size, train={"compile": True})
    data = load_data(plugins, run)
    eager, comp = GanbenchLoop(plugins, run, data), GanbenchLoop(plugins, crun, data)
    eager.fit(cfg.warmup_steps)
    t0 = time.perf_counter()
    comp.fit(1)  # compiles G and D (forward and backward graphs): the cold compile
    first_s = time.perf_counter() - t0
    comp.fit(cfg.warmup_steps)
    t0 = time.perf_counter()
    comp.fit(1)
    compile_s = first_s - (time.perf_counter() - t0)
    steps = calibrate(lambda: eager.fit(1), cfg)
    log(f"  {model} width {width} compiled: first step {first_s:.1f} s (compile ≈ {compile_s:.1f} s)")
    samples = interleave({"compiled": lambda: comp.fit(steps), "eager": lambda: eager.fit(steps)}, cfg.repeats)
    case = _case(f"compile/{model}/w{width}", "compile", samples, "img/s", model=model, width=width,
                 first_step_seconds=first_s, compile_seconds=compile_s)
    _goal(case, "vs_eager", ratio(samples, "compiled", "eager"))
    return case


def case_sampling(plugins: Any, model: str, width_kind: str, width: int, cfg: BenchConfig,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """make_generator (the evaluation's sampler) against a plain G(z) loop under no_grad."""
    run = make_run(plugins, model, width, cfg.batch_size)
    data = load_data(plugins, run)
    gb = GanbenchLoop(plugins, run, data)
    G = gb.trainer.G
    G_plain, _ = build_models(plugins, run, data)
    G_plain.load_state_dict(G.state_dict())
    batch = run.metrics.batch_size
    generate = gb.trainer.sampler(batch, seed=0)

    def ours() -> float:
        t0 = time.perf_counter()
        generate(n)
        return n / (time.perf_counter() - t0)

    def plain() -> float:
        t0 = time.perf_counter()
        plain_sample(G_plain, n, run.train.latent_dim, cfg.plain_sample_batch)
        return n / (time.perf_counter() - t0)

    plain_sample(G_plain, cfg.plain_sample_batch, run.train.latent_dim, cfg.plain_sample_batch)
    n = calibrate(lambda: generate(batch), cfg, unit=batch, most=cfg.max_sample_images)
    log(f"  sampling {model} width {width}: {cfg.repeats} x {n} images x 2 variants")
    samples = interleave({"ganbench": ours, "plain": plain}, cfg.repeats)
    case = _case(f"sample/{model}/w{width}", "sample", samples, "img/s", model=model, width=width,
                 images=n, batch_size=batch, plain_batch_size=cfg.plain_sample_batch)
    _goal(case, "vs_plain", ratio(samples, "ganbench", "plain"))
    return case


EVAL_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_eval.py"


def _eval_measure() -> Optional[Callable[..., Any]]:
    """scripts/bench_eval.py's ``measure(num_samples, repeats)`` if it has one."""
    if not EVAL_SCRIPT.exists():
        return None
    spec = importlib.util.spec_from_file_location("_ganbench_bench_eval", EVAL_SCRIPT)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "measure", None)


def _eval_by_script(num_samples: int, repeats: int) -> dict[str, list[float]]:
    """Run scripts/bench_eval.py (it alternates ganbench and direct torch-fidelity, caches
    warm) and read its per-repeat lines "  ganbench X s (...), torch-fidelity Y s (...)"."""
    import re
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(EVAL_SCRIPT), "--num-samples", str(num_samples),
                           "--repeats", str(repeats)], capture_output=True, text=True)
    pairs = re.findall(r"^\s+ganbench ([0-9.]+) s\b[^\n]*?torch-fidelity ([0-9.]+) s\b", proc.stdout, re.M)
    if proc.returncode or len(pairs) != repeats:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise _Skip(f"scripts/bench_eval.py failed or printed no timings ({tail[0]})")
    return {"ganbench": [float(a) for a, _ in pairs], "direct": [float(b) for _, b in pairs]}


def case_eval(cfg: BenchConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """FID+IS+KID through ganbench against torch-fidelity called directly (warm caches).

    The measurement is scripts/bench_eval.py's (the evaluation's owner wrote it): its
    ``measure(num_samples, repeats) -> {"ganbench": [s...], "direct": [s...]}`` when it has
    one, else the script itself in a subprocess."""
    if not EVAL_SCRIPT.exists():
        raise _Skip("scripts/bench_eval.py is not in this checkout")
    log(f"  evaluation: FID+IS+KID on {cfg.eval_samples} samples, {cfg.repeats} repeats (scripts/bench_eval.py)")
    measure = _eval_measure()
    if measure is not None:
        got = measure(num_samples=cfg.eval_samples, repeats=cfg.repeats)
    else:
        got = _eval_by_script(cfg.eval_samples, cfg.repeats)
    samples = {k: [cfg.eval_samples / s for s in got[k]] for k in ("ganbench", "direct")}
    case = _case("eval/fid+is+kid", "eval", samples, "img/s", images=cfg.eval_samples,
                 seconds={k: list(v) for k, v in got.items()})
    _goal(case, "vs_direct", ratio(samples, "ganbench", "direct"))
    return case


def case_suite(plugins: Any, cfg: BenchConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """An 8-run narrow-width suite: the local executor against 2 worker processes."""
    from .executors import get_executor
    from .runner import run_suite
    from .suite import load_suite

    try:
        get_executor("process", workers=2)
    except GanbenchError as exc:
        raise _Skip(f"no process executor: {exc}") from None
    text = bench_suite_text("dcgan", NARROW_WIDTH, cfg.batch_size, cfg.suite_steps, name="bench-suite",
                            seeds=tuple(range(cfg.suite_runs)), resolution=16)
    root = Path(tempfile.mkdtemp(prefix="ganbench-bench-suite-"))
    suite = load_suite(plugins, root / "bench-suite.toml", text=text)
    counter = iter(range(10**6))

    def timed(executor: str) -> Callable[[], float]:
        def go() -> float:
            out = root / f"r{next(counter)}"
            threads = torch.get_num_threads()
            t0 = time.perf_counter()
            try:
                result = run_suite(plugins, suite, out, get_executor(executor, workers=2))
            finally:
                torch.set_num_threads(threads)
            seconds = time.perf_counter() - t0
            shutil.rmtree(out, ignore_errors=True)
            bad = {k: v for k, v in result.states.items() if v != "done"}
            if bad:
                raise RuntimeError(f"suite runs did not finish: {bad}")
            return len(suite.runs) / seconds  # runs per second
        return go

    repeats = min(cfg.suite_repeats, cfg.repeats)
    log(f"  suite: {len(suite.runs)} runs x {cfg.suite_steps} steps, {repeats} repeats, local vs process")
    try:
        samples = interleave({"process_2_workers": timed("process"), "sequential": timed("local")}, repeats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    case = _case("suite/8-runs/w16", "suite", samples, "runs/s", runs=len(suite.runs), steps=cfg.suite_steps,
                 workers=2,
                 **({"note": "--quick: one repeat (each trains 16 runs); the full bench uses 5"} if repeats < 5 else {}))
    _goal(case, "vs_sequential", ratio(samples, "process_2_workers", "sequential"))
    return case


class _Skip(Exception):
    """A case that cannot run in this checkout or on this machine (the reason is reported)."""


# -- the whole benchmark ----------------------------------------------------------------------
def run_bench(cfg: BenchConfig, log: Callable[[str], None] = lambda s: None,
              plugins: Any = None) -> dict[str, Any]:
    """Every case; returns the JSON-able result (cases, skipped cases, machine, load)."""
    from . import __version__
    from . import executors, metrics, runner, suite, train  # noqa: F401  import now: a long bench must not
    from .executors import usable_cpus                       # pick up source files edited while it runs
    from .plugins import load_plugins

    plugins = plugins or load_plugins()
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    peak = [matmul_gflops()]
    log(f"matmul: {peak[0]:.0f} GFLOP/s ({torch.get_num_threads()} threads), load average {load0[0]:.2f}")
    cases: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []

    def attempt(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        if not cfg.wants(name):
            return
        log(f"[{name}]")
        try:
            cases.append(fn())
        except _Skip as exc:
            skipped.append({"name": name, "reason": str(exc)})
            log(f"  skipped: {exc}")
        except Exception as exc:  # one broken case must not lose the others' measurements
            skipped.append({"name": name, "reason": f"FAILED: {type(exc).__name__}: {exc}"})
            log(f"  FAILED: {type(exc).__name__}: {exc}")

    for model in cfg.models:
        if model not in plugins.models.names():
            skipped.append({"name": f"train/{model}", "reason": f"model plugin '{model}' is not registered"})
            continue
        default = getattr(plugins.models.get(model).options(), "width", NARROW_WIDTH)
        for kind, width in cfg.widths(default):
            attempt(f"train/{model}/w{width}",
                    lambda m=model, k=kind, w=width: case_training(plugins, m, k, w, cfg, log))
    peak.append(matmul_gflops())
    for model in ("dcgan",) if cfg.quick else ("dcgan", "sagan"):
        if model not in plugins.models.names():
            continue
        default = getattr(plugins.models.get(model).options(), "width", NARROW_WIDTH)
        for kind, width in cfg.widths(default):
            attempt(f"sample/{model}/w{width}",
                    lambda m=model, k=kind, w=width: case_sampling(plugins, m, k, w, cfg, log))
    if cfg.compile:
        attempt(f"compile/dcgan/w{NARROW_WIDTH}", lambda: case_compile(plugins, "dcgan", NARROW_WIDTH, cfg, log))
    attempt("suite/8-runs/w16", lambda: case_suite(plugins, cfg, log))
    if cfg.quick:
        skipped.append({"name": "eval/fid+is+kid",
                        "reason": "not in --quick: Inception-v3 runs at ~5 img/s on a 2-core CPU"})
    else:
        attempt("eval/fid+is+kid", lambda: case_eval(cfg, log))
    peak.append(matmul_gflops())
    matmul = statistics.median(peak)
    efficiency: dict[str, Any] = {}
    for case in cases:
        if case["kind"] == "train" and case.get("flops_per_image"):
            achieved = case["flops_per_image"] * case["median"]["ganbench"] / 1e9
            case["achieved_gflops"] = achieved
            case["efficiency"] = achieved / matmul
            efficiency[case["name"]] = {"efficiency": achieved / matmul, "achieved_gflops": achieved,
                                        "goal": EFFICIENCY_GOAL if case["width_kind"] == "full" else None}
    load1 = os.getloadavg()
    return {
        "ganbench": __version__, "torch": torch.__version__, "device": "cpu", "threads": torch.get_num_threads(),
        "cpus": usable_cpus(), "quick": cfg.quick, "repeats": cfg.repeats,
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "only"},
        "load_average": {"start": load0[0], "end": load1[0]},
        "under_load": max(load0[0], load1[0]) > 1.25 * usable_cpus(),
        "matmul_gflops": matmul, "matmul_gflops_samples": peak,
        "cases": cases, "efficiency": efficiency, "skipped": skipped,
        "seconds": time.perf_counter() - t_start,
        "method": "variants interleaved in rotating order; ratio = median over repeats of the per-repeat "
                  "speed ratio; speeds > 1 favour ganbench",
    }


def all_ratios(result: dict[str, Any]) -> dict[str, float]:
    """Every ratio of a result, keyed "case:ratio" (for tests and summaries)."""
    return {f"{c['name']}:{k}": v for c in result["cases"] for k, v in c["ratios"].items()}


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


#: the variant each ratio compares ganbench with, and its short label in the table
_BASELINES = {"vs_dataloader": "plain_dataloader", "vs_tensor": "plain_tensor", "vs_plain": "plain",
              "vs_direct": "direct", "vs_sequential": "sequential", "vs_eager": "eager"}
_LABELS = {"plain_dataloader": "DataLoader", "plain_tensor": "tensor", "plain": "G(z) loop",
           "direct": "fidelity", "sequential": "sequential", "eager": "eager"}


def _goal_text(value: float, goal: Optional[float], pct: bool = False) -> tuple[str, Optional[bool]]:
    if goal is None:
        return "", None
    return (f"≥ {100 * goal:.0f}%" if pct else f"≥ {goal:.2f}"), value >= goal


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str, str, str, Optional[bool]]]:
    """(case, against, ganbench, baseline, unit, ratio, goal, met) for every ratio and efficiency:
    what both the terminal table and the markdown table show."""
    rows = []
    for c in result["cases"]:
        med = c["median"]
        ours = med[next(iter(med))]
        for key, value in c["ratios"].items():
            base = _BASELINES.get(key, key)
            goal, met = _goal_text(value, c["goals"].get(key))
            rows.append((c["name"], _LABELS.get(base, base), _num(ours), _num(med.get(base, float("nan"))),
                         c["unit"], f"{value:.2f}x", goal, met))
    for name, e in result["efficiency"].items():
        goal, met = _goal_text(e["efficiency"], e["goal"], pct=True)
        rows.append((name, "matmul", f"{e['achieved_gflops']:.1f}", f"{result['matmul_gflops']:.0f}", "GFLOP/s",
                     f"{100 * e['efficiency']:.0f}%", goal, met))
    return rows


def _missed(result: dict[str, Any]) -> list[str]:
    missed = [c["name"] for c in result["cases"] if any(c["ratios"][k] < g for k, g in c["goals"].items())]
    missed += [n for n, e in result["efficiency"].items() if e["goal"] and e["efficiency"] < e["goal"]]
    return sorted(set(missed))


def _title(result: dict[str, Any]) -> str:
    return (f"ganbench bench{' --quick' if result['quick'] else ''}: {result['device']}, "
            f"{result['threads']} threads, matmul {result['matmul_gflops']:.0f} GFLOP/s")


def _caption(result: dict[str, Any]) -> str:
    la = result["load_average"]
    return (f"ratio = ganbench speed / baseline speed, median of per-repeat ratios; "
            f"load average {la['start']:.1f} → {la['end']:.1f}")


def render(result: dict[str, Any], console: Any) -> None:
    """The ratio table (rich), narrow enough for an 80-column CI log."""
    from rich import box
    from rich.table import Table

    table = Table(title=_title(result), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, caption=_caption(result), caption_justify="left")
    table.add_column("case", no_wrap=True, min_width=17)
    for col in ("against", "ganbench", "baseline", "unit", "ratio", "goal"):
        table.add_column(col, justify="left" if col in ("against", "unit") else "right", no_wrap=True)
    for *cells, goal, met in table_rows(result):
        table.add_row(*cells, goal + ("" if met is None else " [green]ok[/]" if met else " [red]no[/]"))
    console.print(table)
    missed = _missed(result)
    if missed:
        console.print(f"missed goals ({', '.join(missed)}): "
                      "`python scripts/profile_step.py --model M --width W` shows where a step's time goes")
    if result.get("under_load"):
        console.print("[bold yellow]UNDER LOAD[/]: the load average exceeded the cores while measuring; "
                      "these ratios are distorted, rerun on a quiet machine")
    for s in result["skipped"]:
        console.print(f"[yellow]skipped[/] {s['name']}: {s['reason']}")


def to_markdown(result: dict[str, Any]) -> str:
    """The same table as markdown, for a README or a results page."""
    lines = [f"**{_title(result)}** ({_caption(result)})", "",
             "| case | against | ganbench | baseline | unit | ratio | goal |", "|---|---|---:|---:|---|---:|---|"]
    for *cells, goal, met in table_rows(result):
        lines.append("| " + " | ".join([*cells, goal + ("" if met is None else " ✓" if met else " ✗")]) + " |")
    extra = [f"- compile/{c['name'].split('/', 1)[1]}: first compiled step {c['first_step_seconds']:.1f} s "
             f"(compile ≈ {c['compile_seconds']:.1f} s)" for c in result["cases"] if c["kind"] == "compile"]
    extra += [f"- skipped {s['name']}: {s['reason']}" for s in result["skipped"]]
    if result.get("under_load"):
        extra.append("- UNDER LOAD: the load average exceeded the cores while measuring")
    return "\n".join(lines + ([""] + extra if extra else [])) + "\n"


def write_result(result: dict[str, Any], path: Path) -> None:
    from .results import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)


@contextlib.contextmanager
def _threads_kept() -> Iterator[None]:
    n = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(n)


def cmd_bench(args: Any, console: Any) -> int:
    """`ganbench bench`: run, print the table, write JSON."""
    if args.from_json:
        try:
            result = json.loads(Path(args.from_json).read_text())
        except (OSError, ValueError) as exc:
            raise GanbenchError(f"cannot read a bench result from {args.from_json}: {exc}",
                                hint="pass a file written by `ganbench bench --json FILE`") from None
    else:
        cfg = BenchConfig.make(args.quick, **({"repeats": args.repeats} if args.repeats else {}),
                               compile=args.compile, only=tuple(args.only or ()), loader_workers=args.loader_workers,
                               **({"eval_samples": args.eval_samples} if args.eval_samples else {}))
        if cfg.repeats < 1:
            raise GanbenchError(f"--repeats must be ≥ 1, found {cfg.repeats}")
        if cfg.eval_samples < 1:
            raise GanbenchError(f"--eval-samples must be ≥ 1, found {cfg.eval_samples}")
        with _threads_kept():
            result = run_bench(cfg, log=lambda s: console.print(s, highlight=False, markup=False))
    render(result, console)
    if args.json and not args.from_json:
        write_result(result, Path(args.json))
        console.print(f"wrote {args.json}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(to_markdown(result))
        console.print(f"wrote {args.markdown}")
    bad = [k for k, v in all_ratios(result).items() if not (math.isfinite(v) and v > 0)]
    return 1 if bad else 0
