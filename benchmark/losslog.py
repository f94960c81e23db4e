"""The losses a run logs, summed on the device between two logs and read at the log only
(the loop's one host sync).

Columns: loss_d (D's whole loss), loss_g, d_real and d_fake (D's mean raw score on real
and fake images) as in every version; then D's loss on real and on fake images apart
(loss_d_real, loss_d_fake: when the adversarial loss gives its terms apart), the
auxiliary terms (aux_d, aux_g), each penalty (penalty_<regularizer>), and d_updates (D
updates per G step). D's columns average D's updates, G's the G steps; when D was not
updated in an interval (g_steps, balance) its columns are NaN for that interval.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

import torch

from .specs import LossSpec

BASE_COLUMNS = ("loss_d", "loss_g", "d_real", "d_fake")


def term_columns(adv: LossSpec, aux: Optional[LossSpec], regs: Sequence[LossSpec]) -> tuple[list[str], list[str]]:
    """(D's per-term columns, G's), in the order the loop adds them."""
    d_cols = ["loss_d_real", "loss_d_fake"] if adv.d_loss_real is not None and adv.d_loss_fake is not None else []
    if aux is not None:
        d_cols.append("aux_d")
    d_cols += [f"penalty_{r.name}" for r in regs if r.penalty is not None]
    return d_cols, (["aux_g"] if aux is not None else [])


class LossLog:
    """Device-side sums since the last log. ``acc`` keeps the first four columns in the
    layout of earlier versions (checkpoints and the doctor read it)."""

    def __init__(self, d_columns: Sequence[str], g_columns: Sequence[str], device: torch.device):
        self.d_columns, self.g_columns = list(d_columns), list(g_columns)
        self.acc = torch.zeros(4, device=device)  # loss_d, loss_g, d_real, d_fake
        self.d_terms = torch.zeros(len(self.d_columns), device=device)
        self.g_terms = torch.zeros(len(self.g_columns), device=device)
        self.n = 0  # G steps since the last log
        self.d_n = 0  # D's denominator: G steps that had D updates (per update for the threshold rule)
        self.d_updates = 0

    def add_d(self, loss: torch.Tensor, real_s: torch.Tensor, fake_s: torch.Tensor,
              parts: Sequence[torch.Tensor], k: int) -> None:
        """One D update of the k before a G step: each adds 1/k, so a G step's D columns
        are the mean over its updates."""
        self.acc[0] += loss.detach().float() / k
        self.acc[2] += real_s.detach().float().mean() / k
        self.acc[3] += fake_s.detach().float().mean() / k
        if parts:
            self.d_terms += torch.stack([p.detach().float() for p in parts]) / k
        self.d_updates += 1

    def add_g(self, loss: torch.Tensor, parts: Sequence[torch.Tensor]) -> None:
        self.acc[1] += loss.detach().float()
        if parts:
            self.g_terms += torch.stack([p.detach().float() for p in parts])

    def read(self) -> tuple[dict[str, float], set[str]]:
        """(the means since the last log, the columns left NaN because D was not updated),
        then zeroed: the host sync. The first four are computed as in earlier versions, so
        their logged numbers do not change."""
        n, dn = max(self.n, 1), max(self.d_n, 1)
        flat = torch.cat([self.acc / n, self.acc / dn, self.d_terms / dn, self.g_terms / n]).tolist()
        base, d_base, rest = flat[:4], flat[4:8], flat[8:]
        if self.d_n != self.n:
            base[0], base[2], base[3] = d_base[0], d_base[2], d_base[3]
        out = dict(zip(BASE_COLUMNS, base))
        out.update(zip(self.d_columns, rest[:len(self.d_columns)]))
        out.update(zip(self.g_columns, rest[len(self.d_columns):]))
        out["d_updates"] = self.d_updates / n
        idle = {"loss_d", "d_real", "d_fake", *self.d_columns} if self.d_n == 0 else set()
        out.update({k: math.nan for k in idle})
        self.reset()
        return out, idle

    def reset(self) -> None:
        self.acc.zero_()
        self.d_terms.zero_()
        self.g_terms.zero_()
        self.n = self.d_n = self.d_updates = 0

    def state_dict(self) -> dict[str, Any]:
        return {"d_terms": self.d_terms, "g_terms": self.g_terms, "d_n": self.d_n, "d_updates": self.d_updates}

    def load_state_dict(self, acc: torch.Tensor, n: int, extra: Optional[dict[str, Any]]) -> None:
        """Restore the sums; a checkpoint from before the per-term columns has none of
        them (their first log after the resume then covers the resumed steps only)."""
        self.acc, self.n = acc.to(self.acc.device), n
        if not extra:
            self.d_n, self.d_updates = n, 0
            return
        if tuple(extra["d_terms"].shape) == tuple(self.d_terms.shape):
            self.d_terms = extra["d_terms"].to(self.d_terms.device)
        if tuple(extra["g_terms"].shape) == tuple(self.g_terms.shape):
            self.g_terms = extra["g_terms"].to(self.g_terms.device)
        self.d_n, self.d_updates = int(extra["d_n"]), int(extra["d_updates"])
