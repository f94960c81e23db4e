"""The training, compile and sampling cases: ganbench's code path against a plain loop on the
same model, interleaved.

Training img/s of ganbench is the figure Trainer.fit measures (what a run's throughput.json
reports as train_img_per_s), and FLOPs per image come from the probe that writes
throughput.json's flops_per_image (``ganbench.flops.step_flops``). Every variant runs on
cfg.device; on a GPU each timed call ends synchronised (fit()'s log, the plain loops' .item()).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..flops import step_flops
from ..plugins import Plugins
from .config import NARROW_WIDTH, BenchConfig, batch_suffix
from .loops import GanbenchLoop, PlainLoop, build_models, load_data, make_run, plain_sample
from .measure import calibrate, interleave, ratio
from .records import Case

Log = Callable[[str], None]


def default_width(plugins: Plugins, model: str) -> int:
    """The model plugin's own default width: what "full width" means for it."""
    return getattr(plugins.models.get(model).options(), "width", NARROW_WIDTH)


def case_training(plugins: Plugins, model: str, width_kind: str, width: int, cfg: BenchConfig, log: Log,
                  batch: int = 0) -> Case:
    """ganbench's Trainer against the DataLoader loop and the in-memory tensor loop, at
    training batch ``batch`` (default cfg.batch_size)."""
    batch, dev = batch or cfg.batch_size, cfg.device
    run = make_run(plugins, model, width, batch, device=dev)
    data = load_data(plugins, run)
    gb = GanbenchLoop(plugins, run, data, dev)
    dl = PlainLoop(plugins, run, data, "dataloader", cfg.loader_workers, device=dev)
    pt = PlainLoop(plugins, run, data, "tensor", device=dev)
    for v in (gb, dl, pt):  # warm-up: allocator, oneDNN primitives / cuDNN autotuning, DataLoader iterator
        v.fit(cfg.warmup_steps)
    steps = calibrate(lambda: pt.fit(1), cfg)
    log(f"  {model} width {width} batch {batch}: timing {cfg.repeats} x {steps} steps x 3 variants")
    samples = interleave({"ganbench": lambda: gb.fit(steps), "plain_dataloader": lambda: dl.fit(steps),
                          "plain_tensor": lambda: pt.fit(steps)}, cfg.repeats)
    flops = step_flops(gb.trainer)
    case = Case(f"train/{model}/w{width}{batch_suffix(batch)}", "train", "img/s", samples,
                details=dict(model=model, width=width, width_kind=width_kind, steps_per_repeat=steps,
                             batch_size=batch, n_critic=run.train.n_critic,
                             loader_workers=cfg.loader_workers, flops_per_image=flops.get("flops_per_image")))
    case.add_ratio("vs_dataloader", ratio(samples, "ganbench", "plain_dataloader"), width_kind, dev)
    case.add_ratio("vs_tensor", ratio(samples, "ganbench", "plain_tensor"), width_kind, dev)
    return case


def case_compile(plugins: Plugins, model: str, width: int, cfg: BenchConfig, log: Log) -> Case:
    """train.compile = true against eager, with the cold compile time."""
    dev = cfg.device
    run = make_run(plugins, model, width, cfg.batch_size, device=dev)
    crun = make_run(plugins, model, width, cfg.batch_size, train={"compile": True}, device=dev)
    data = load_data(plugins, run)
    eager, comp = GanbenchLoop(plugins, run, data, dev), GanbenchLoop(plugins, crun, data, dev)
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
    case.add_ratio("vs_eager", ratio(samples, "compiled", "eager"), device=dev)
    return case


def case_sampling(plugins: Plugins, model: str, width_kind: str, width: int, cfg: BenchConfig, log: Log) -> Case:
    """make_generator (the evaluation's sampler) against a plain G(z) loop under no_grad."""
    dev = cfg.device
    run = make_run(plugins, model, width, cfg.batch_size, device=dev)
    data = load_data(plugins, run)
    gb = GanbenchLoop(plugins, run, data, dev)
    G = gb.trainer.G
    G_plain = build_models(plugins, run, data)[0].to(dev)
    G_plain.load_state_dict(G.state_dict())
    batch = run.metrics.batch_size
    generate = gb.trainer.sampler(batch, seed=0)

    def ours() -> float:
        t0 = time.perf_counter()
        generate(n)
        return n / (time.perf_counter() - t0)

    def plain() -> float:
        t0 = time.perf_counter()
        plain_sample(G_plain, n, run.train.latent_dim, cfg.plain_sample_batch, dev)
        return n / (time.perf_counter() - t0)

    plain_sample(G_plain, cfg.plain_sample_batch, run.train.latent_dim, cfg.plain_sample_batch, dev)
    n = calibrate(lambda: generate(batch), cfg, unit=batch, most=cfg.max_sample_images)
    log(f"  sampling {model} width {width}: {cfg.repeats} x {n} images x 2 variants")
    samples = interleave({"ganbench": ours, "plain": plain}, cfg.repeats)
    case = Case(f"sample/{model}/w{width}", "sample", "img/s", samples,
                details=dict(model=model, width=width, images=n, batch_size=batch,
                             plain_batch_size=cfg.plain_sample_batch))
    case.add_ratio("vs_plain", ratio(samples, "ganbench", "plain"), device=dev)
    return case
