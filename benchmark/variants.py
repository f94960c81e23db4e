"""Named model variants: a registered model with settings of its own, as one matrix value.

Reports often run a model "as its code had it" beside the paper's version (a "WGAN-GP" that
is a WGAN with clipping ±0.1 and no penalty). A suite names such a variant for what it is,
and puts the name on the model axis like any registered model::

    [variants."wgan-clip-0.1"]
    model = "wgan"                                  # the registered model it is
    description = "report 1's code: clipping ±0.1, no BN in the critic"
    train = { optimizer = "rmsprop", lr_d = 5e-5 }
    models.wgan = { d_norm = "none" }
    losses.weight-clipping = { clip = 0.1 }

    [matrix]
    model = ["wgan", "wgan-clip-0.1"]

``only = { dataset = ["mnist"] }`` keeps a variant to the cells with those coordinates (a
report ran it on one data set only); the other cells of the matrix are not runs.

A variant's tables sit above the suite's shared tables and below the matrix axes and the
[[override]] tables, so an override matching ``model = "wgan-clip-0.1"`` still wins.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import GanbenchError, did_you_mean
from .plugins import Plugins
from .registry import CONFIG_TABLES

#: what a variant's table may hold besides model and description
BODY = CONFIG_TABLES


@dataclass(frozen=True)
class Variant:
    name: str
    model: str  # the registered model it is
    description: str
    body: dict[str, Any]  # its train / metrics / plugin tables
    only: dict[str, list[Any]]  # axis -> the values its cells may have ({}: every cell)

    def allows(self, cell: dict[str, Any]) -> bool:
        return all(cell.get(axis) in values for axis, values in self.only.items())


def check_variants(table: Any, plugins: Plugins, where: Callable[[str], str],
                   check_shared: Callable[[dict[str, Any], str], None]) -> dict[str, Variant]:
    """The suite's [variants.<name>] tables, validated like the shared tables they extend."""
    if not isinstance(table, dict):
        raise GanbenchError("expected [variants.<name>] tables", where=where("variants"))
    out = {}
    for name, spec in table.items():
        at = f"variants.{name}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}", name):
            raise GanbenchError(f"a variant name must be a plain name (letters, digits, - _ . +), found {name!r}",
                                where=where(at))
        if name in plugins.models:
            raise GanbenchError(f"'{name}' is a registered model: a variant needs a name of its own",
                                where=where(at), hint=f"e.g. [variants.\"{name}-report\"]")
        if not isinstance(spec, dict):
            raise GanbenchError(f"expected a table, found {type(spec).__name__}", where=where(at))
        if "model" not in spec:
            raise GanbenchError("a variant names the registered model it is", where=where(at),
                                hint='e.g. model = "wgan"')
        model = spec["model"]
        if not isinstance(model, str):
            raise GanbenchError(f"expected a model name, found {model!r}", where=where(f"{at}.model"))
        plugins.models.get(model, where=where(f"{at}.model"))
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise GanbenchError("expected a string", where=where(f"{at}.description"))
        only = spec.get("only", {})
        if not isinstance(only, dict) or not all(isinstance(v, list) and v for v in only.values()):
            raise GanbenchError("only must be a table of axis = [values], e.g. only = { dataset = [\"mnist\"] }",
                                where=where(f"{at}.only"))
        body = {k: v for k, v in spec.items() if k not in ("model", "description", "only")}
        for key in body:
            if key not in BODY:
                raise GanbenchError(f"a variant sets {', '.join(BODY)}, not '{key}'{did_you_mean(key, BODY)}",
                                    where=where(f"{at}.{key}"))
        check_shared(body, f"{at}.")
        out[name] = Variant(name, model, description, body, {a: list(v) for a, v in only.items()})
    return out
