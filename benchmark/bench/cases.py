"""The training, compile and sampling cases: ganbench's code path against a plain loop on the
same model, interleaved.

Training img/s of ganbench is the figure Trainer.fit measures (what a run's throughput.json
reports as train_img_per_s), and FLOPs per image come from the probe that writes
throughput.json's flops_per_image (``ganbench.flops.step_flops``).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..flops import step_flops
from ..plugins import Plugins
from .config import NARROW_WIDTH, BenchConfig
from .loops import GanbenchLoop, PlainLoop, build_models, load_data, make_run, plain_sample
from .measure import calibrate, interleave, ratio
from .records import Case

Log = Callable[[str], None]


def default_width(plugins: Plugins, model: str) -> int:
    """The model plugin's own default width: what "full width" means for it."""
    return getattr(plugins.models.get(model).options(), "width", NARROW_WIDTH)


def case_training(plugins: Plugins, model: str, width_kind: str, width: int, cfg: BenchConfig, log: Log) -> Case:
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
    case = Case(f"train/{model}/w{width}", "train", "img/s", samples,
                details=dict(model=model, width=width, width_kind=width_kind, steps_per_repeat=steps,
                             batch_size=cfg.batch_size, n_critic=run.train.n_critic,
                             loader_workers=cfg.loader_workers, flops_per_image=flops.get("flops_per_image")))
    case.add_ratio("vs_dataloader", ratio(samples, "ganbench", "plain_dataloader"), width_kind)
    case.add_ratio("vs_tensor", ratio(samples, "ganbench", "plain_tensor"), width_kind)
    return case


def case_compile(plugins: Plugins, model: str, width: int, cfg: BenchConfig, log: Log) -> Case:
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
    case = Case(f"compile/{model}/w{width}", "compile", "img/s", samples,
                details=dict(model=model, width=width, first_step_seconds=first_s, compile_seconds=compile_s))
    case.add_ratio("vs_eager", ratio(samples, "compiled", "eager"))
    return case


def case_sampling(plugins: Plugins, model: str, width_kind: str, width: int, cfg: BenchConfig, log: Log) -> Case:
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
    case = Case(f"sample/{model}/w{width}", "sample", "img/s", samples,
                details=dict(model=model, width=width, images=n, batch_size=batch,
                             plain_batch_size=cfg.plain_sample_batch))
    case.add_ratio("vs_plain", ratio(samples, "ganbench", "plain"))
    return case
