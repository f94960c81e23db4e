"""How a Ctrl-C stops runs: each worker owns a StopRequest that its SIGINT/SIGTERM handler
sets and that the Trainer asks once per G step (``execute_run(..., should_stop=stop.is_set)``),
so a run checkpoints and stops between steps instead of dying mid-step; the driver, while it
waits for its workers, only records its own SIGINTs (CtrlC).

A terminal's Ctrl-C reaches the driver and every worker, each at its own moment: a SIGINT
less than SAME_CTRL_C_S after the first is that same keypress arriving late, not a second
Ctrl-C that asks to stop at once.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType
from typing import Any, Optional

#: seconds the driver waits, after Ctrl-C, for workers to checkpoint and stop
STOP_GRACE_S = 60.0
#: a SIGINT this soon after the first is the first keypress's late copy
SAME_CTRL_C_S = 2.0
STOPPING = (f"Ctrl-C: running runs checkpoint at their next step and stop (up to {STOP_GRACE_S:.0f} s); "
            f"press Ctrl-C again, {SAME_CTRL_C_S:.0f} s or more from now, to stop them at once")


class StopRequest:
    """A worker's request that its run checkpoint at the next step and stop.

    Set by SIGINT/SIGTERM while ``on_signals()`` is active, or by the worker itself when the
    driver is gone. A SIGINT SAME_CTRL_C_S or more after the first signal is a second Ctrl-C:
    it raises KeyboardInterrupt at once (the run resumes from its last checkpoint)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        #: the signal that first set the request (0: none yet, or set by the worker itself)
        self.signal = 0
        self._since = 0.0

    def is_set(self) -> bool:
        """What the Trainer asks once per G step (``should_stop``)."""
        return self._event.is_set()

    def set(self) -> None:
        """Stop without a signal (the driver's pipe broke)."""
        self._event.set()

    def on_signal(self, signum: int, frame: Optional[FrameType] = None) -> None:
        """The SIGINT/SIGTERM handler."""
        if self.is_set() and signum == signal.SIGINT and time.monotonic() - self._since >= SAME_CTRL_C_S:
            raise KeyboardInterrupt
        if not self.is_set():
            self.signal, self._since = signum, time.monotonic()
        self._event.set()

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[StopRequest]:
        """SIGINT/SIGTERM set this request while inside; the previous handlers come back on
        exit, because Ray reuses worker processes. Ray's own cancel (``ray.cancel``) arrives
        as SIGINT too. Outside the main thread, where no handler can be set, a signal is a
        plain KeyboardInterrupt."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self.on_signal)
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


class CtrlC:
    """While the driver stops, its SIGINT only records when it came: a KeyboardInterrupt
    raised in the middle of reading a worker's message would lose that message. A Ctrl-C
    SAME_CTRL_C_S or more after ``since`` is a second one (stop waiting); an earlier one is
    the first keypress's late copy. Used as a context manager around the stopping."""

    def __init__(self, since: float) -> None:
        self.since = since
        self.seen: list[float] = []
        self._old: Any = None  # whatever signal.signal returned: a handler, SIG_DFL or None

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, lambda signum, frame: self.seen.append(time.monotonic()))
        return self

    def __exit__(self, kind: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def again(self) -> bool:
        """A second Ctrl-C came (not the first one's late copy)."""
        return any(t - self.since >= SAME_CTRL_C_S for t in self.seen)

    def wait(self, step: Callable[[], bool], deadline: float) -> None:
        """Call ``step`` (one bounded wait, ≤ 1 s; False when nothing is left to wait for)
        until the deadline or a second Ctrl-C."""
        while time.monotonic() < deadline and not self.again():
            if not step():
                return

    def absorb_late_copy(self) -> None:
        """After a worker's report of the terminal's Ctrl-C stood in for the driver's own,
        wait (SAME_CTRL_C_S after ``since`` at most) for the driver's copy, so that it does not
        interrupt the clean-up that follows (lock, leaderboard, messages)."""
        while not self.seen and time.monotonic() - self.since < SAME_CTRL_C_S:
            time.sleep(0.05)
