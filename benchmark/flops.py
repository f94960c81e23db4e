"""FLOPs of one real training iteration, the figure throughput.json and `ganbench bench` share.

torch.utils.flop_counter counts every aten op dispatched under it. Its per-module tracker
installs backward hooks that make ``torch.autograd.grad`` on a leaf fail ("A leaf node was
passed to _will_engine_execute_node"), i.e. the gradient penalty's double backward, so the
counter here keeps only the global total: same numbers, every model counted.
"""
from __future__ import annotations

from typing import Any

from torch.utils.flop_counter import FlopCounterMode

from .train import Trainer


class _NoModules:
    """Stands in for FlopCounterMode's module tracker: every count goes to "Global"."""

    parents = frozenset({"Global"})

    def __enter__(self) -> "_NoModules":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def flat_flop_counter() -> FlopCounterMode:
    """A FlopCounterMode without its per-module tracker (totals only)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModules()
    return counter


def step_flops(trainer: Trainer) -> dict[str, Any]:
    """FLOPs of one iteration (n_critic D steps and a G step, regularisers and auxiliary terms
    included), counted on the Trainer's real step functions with eager modules. flops_per_image
    is per training image (batch_size * n_critic per iteration), the unit of train_img_per_s.
    Meant for the end of a run or a throwaway Trainer: the updates are applied."""
    try:
        t = trainer.cfg
        compiled = (trainer.G_step, trainer.D_step)
        trainer.G_step, trainer.D_step = trainer.G, trainer.D  # count eager modules
        try:
            with flat_flop_counter() as counter:
                for i in range(t.n_critic):
                    trainer.d_step(keep_graph=i == t.n_critic - 1)
                d_flops = counter.get_total_flops()
                trainer.g_step()
            total = counter.get_total_flops()
        finally:
            trainer.G_step, trainer.D_step = compiled
        return {"flops_per_image": total / (t.batch_size * t.n_critic), "flops_per_iteration": total,
                "flops_per_d_step": d_flops / t.n_critic, "flops_per_g_step": total - d_flops}
    except Exception as e:  # FLOP counting is informative only; say why it is missing
        return {"flops_per_image": None, "flops_error": f"{type(e).__name__}: {e}"[:300]}
