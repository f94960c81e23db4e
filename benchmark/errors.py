"""User-facing errors: one exception type, printed as a short red line by the CLI."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class GanbenchError(Exception):
    """A mistake the user can fix (bad suite, unknown plugin, missing data).

    The message names where (file, key path, run id), what was expected, what was
    found, and how to fix it. ``exit_code`` follows the CLI contract: 2 for a wrong
    suite or command, 3 for a resource (data set, weights) missing on this machine.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.where = where
        self.hint = hint
        self.message = message
        text = f"{where}: {message}" if where else message
        if hint:
            text = f"{text}\n  hint: {hint}"
        super().__init__(text)


class ResourceMissing(GanbenchError):
    """The suite is valid, but a data set or a weights file cannot be had here."""

    exit_code = 3


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' — did you mean 'x'? known: a, b, c' (or just the known list)."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    text = f" — did you mean '{close[0]}'?" if close else ""
    return f"{text} known: {', '.join(known) if known else '(none)'}"
