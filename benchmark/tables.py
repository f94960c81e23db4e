"""Nested TOML tables as a suite builds a run from them: set a dotted path, merge a layer
over another, nest dotted keys, and drop some paths."""
from __future__ import annotations

import copy
from typing import Any

from .errors import GanbenchError


def set_path(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """d[path[0]][path[1]]... = value, making the tables on the way."""
    for key in path[:-1]:
        nxt = d.setdefault(key, {})
        if not isinstance(nxt, dict):
            raise GanbenchError(f"'{key}' is a value, not a table", where=".".join(path))
        d = nxt
    d[path[-1]] = value


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, table by table (a copy: neither is changed)."""
    out = copy.deepcopy(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{"train.lr_g": 1} -> {"train": {"lr_g": 1}}, merging keys that share a table."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        parts = tuple(key.split("."))
        if isinstance(value, dict):
            value = nest(value) if any("." in k for k in value) else value
        existing = out
        for p in parts[:-1]:
            existing = existing.setdefault(p, {})
        if isinstance(value, dict) and isinstance(existing.get(parts[-1]), dict):
            existing[parts[-1]] = merge(existing[parts[-1]], value)
        else:
            existing[parts[-1]] = value
    return out


def without(d: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """A copy of `d` with the keys at `paths` removed (missing ones ignored)."""
    out = copy.deepcopy(d)
    for path in paths:
        table: Any = out
        for key in path[:-1]:
            table = table.get(key) if isinstance(table, dict) else None
        if isinstance(table, dict):
            table.pop(path[-1], None)
    return out
