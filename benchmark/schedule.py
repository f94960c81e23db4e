"""Which network the training loop updates when: the [train] update schedules.

One schedule per run (``TrainConfig.validate`` refuses two): ``n_critic`` D updates per
G step, ``g_steps`` G steps per D update, the WGAN paper's critic warm-up, or the
loss-threshold rule. The first three depend only on the G step, so a checkpoint's step
is all a resumed run needs to continue them; the threshold rule decides from the losses
of the iteration itself, so it keeps no state between G steps either.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from .config import TrainConfig
from .errors import GanbenchError
from .specs import LossSpec

#: the WGAN paper's warm-up (Arjovsky et al. 2017, Algorithm 1's code): this many critic
#: updates before each of the first WARMUP_G_STEPS G steps and before every
#: WARMUP_EVERY-th one, "to get the critic to optimality" while G is poor
WARMUP_N_CRITIC = 100
WARMUP_G_STEPS = 25
WARMUP_EVERY = 500
#: balance = "threshold": a run whose D trains alone this many iterations in a row (its
#: loss stays above the threshold while G's stays at or below it) is stopped as diverged,
#: because the G-step budget would never be reached
MAX_D_ONLY_ITERATIONS = 10_000


def d_updates_before(cfg: TrainConfig, step: int) -> int:
    """D updates before G step ``step`` (0-based: the G steps already done), for every
    schedule but the threshold rule, whose count is only known as it runs."""
    if cfg.critic_warmup == "wgan" and (step < WARMUP_G_STEPS or step % WARMUP_EVERY == 0):
        return WARMUP_N_CRITIC
    if cfg.g_steps > 1:
        return 1 if step % cfg.g_steps == 0 else 0
    return cfg.n_critic


def mean_d_updates(cfg: TrainConfig) -> float:
    """D updates per G step over the whole budget, in closed form (for time estimates); the
    threshold rule's count is only known as it runs: one per G step is assumed."""
    steps = max(1, cfg.steps)
    if cfg.critic_warmup == "wgan":
        first = min(steps, WARMUP_G_STEPS)
        later = max(0, (steps - 1) // WARMUP_EVERY - (WARMUP_G_STEPS - 1) // WARMUP_EVERY)
        warm = first + later
        return (WARMUP_N_CRITIC * warm + cfg.n_critic * (steps - warm)) / steps
    if cfg.g_steps > 1:
        return -(-steps // cfg.g_steps) / steps
    return 1.0 if cfg.balance != "none" else float(cfg.n_critic)


def update_d(loss_d: float, threshold: float) -> bool:
    """The threshold rule for D: updated iff its loss on this iteration's batches is above."""
    return loss_d > threshold


def update_g(loss_g: float, threshold: float, d_updated: bool) -> bool:
    """The threshold rule for G: updated iff its loss is above the threshold, or D was not
    updated in this iteration (no iteration passes without an update)."""
    return loss_g > threshold or not d_updated


def check_training_options(cfg: TrainConfig, adv: LossSpec, aux: Optional[LossSpec],
                           regs: Sequence[LossSpec], where: str = "train") -> None:
    """Cross-plugin rules of the update options: what a loss must offer for them.

    d_update = "separate" steps D on a real-only loss and a fake-only one, so the loss
    must give both terms apart; an auxiliary classifier term or a penalty couples the two
    halves (the gradient penalty interpolates real and fake images), so they are refused
    rather than assigned to one half arbitrarily. smooth_g_target needs g_loss_target.
    """
    if cfg.d_update == "separate":
        if adv.d_loss_real is None or adv.d_loss_fake is None:
            raise GanbenchError(f"d_update = \"separate\" needs the '{adv.name}' loss's real and fake terms apart "
                                "(LossSpec.d_loss_real / d_loss_fake), and it gives only their sum",
                                where=f"{where}.d_update", hint="use d_update = \"joint\" with this loss")
        if aux is not None:
            raise GanbenchError(f"d_update = \"separate\" cannot split the auxiliary term '{aux.name}' (it is one "
                                "loss over real and fake class logits)", where=f"{where}.d_update",
                                hint="use d_update = \"joint\" with an auxiliary classifier")
        coupled = [r.name for r in regs if r.penalty is not None]
        if coupled:
            raise GanbenchError(f"d_update = \"separate\" cannot place the penalty {', '.join(coupled)} on the real "
                                "or the fake update: a penalty is defined on D's whole loss",
                                where=f"{where}.d_update",
                                hint="use d_update = \"joint\", or a constraint applied after each D step "
                                     "(weight-clipping)")
    if cfg.smooth_g_target and cfg.label_smoothing > 0 and adv.g_loss_target is None:
        raise GanbenchError(f"smooth_g_target has no meaning for the '{adv.name}' loss: its G loss has no target "
                            "(LossSpec.g_loss_target)", where=f"{where}.smooth_g_target",
                            hint="set smooth_g_target = false, or use the bce or lsgan loss")


def schedule_text(train: dict[str, Any]) -> str:
    """The run's update schedule in words, for plot titles (a resolved config's [train]);
    empty for one joint D update per G step."""
    parts = []
    if train.get("n_critic", 1) != 1:
        parts.append(f"{train.get('n_critic')} D steps per G step")
    if train.get("g_steps", 1) != 1:
        parts.append(f"{train['g_steps']} G steps per D step")
    if train.get("critic_warmup", "none") != "none":
        parts.append(f"{train['critic_warmup']} critic warm-up")
    if train.get("balance", "none") != "none":
        parts.append(f"networks updated while their loss > {train.get('balance_threshold')}")
    if train.get("d_update", "joint") != "joint":
        parts.append("D updated on real and fake batches apart")
    return "".join(f", {p}" for p in parts)
