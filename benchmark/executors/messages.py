"""What travels between the process executor's driver and a worker over the worker's pipe
(and from a Ray task to its driver's inbox). Each message is a frozen dataclass, pickled by
multiprocessing or Ray, so the receiver matches on its type and reads named fields."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union


# -- driver -> worker ------------------------------------------------------------------------
@dataclass(frozen=True)
class Assign:
    """Train this run: its resolved config (``RunSpec.config_json()``) and the suite's folder."""

    config: dict[str, Any]
    suite_dir: str


@dataclass(frozen=True)
class Shutdown:
    """No more runs: exit."""


# -- worker -> driver ------------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The worker loaded its plugins and takes runs."""

    pid: int


@dataclass(frozen=True)
class Fatal:
    """The worker could not start (plugins or torch failed to load)."""

    error: str


@dataclass(frozen=True)
class Started:
    """A run began, at ``time`` (time.time()) in process ``pid``."""

    run_id: str
    time: float
    pid: int


@dataclass(frozen=True)
class Progress:
    """A run's progress report: its step and its latest losses and speed."""

    run_id: str
    step: int
    extra: dict[str, Any]


@dataclass(frozen=True)
class Finished:
    """A run ended in ``state`` (done, failed, diverged) at ``time``."""

    run_id: str
    state: str
    time: float


@dataclass(frozen=True)
class Interrupted:
    """A run checkpointed and stopped because ``signal`` (0: none, the driver is gone) asked it to.
    The worker exits after sending this."""

    run_id: str
    signal: int


@dataclass(frozen=True)
class Declined:
    """The worker was asked to stop before it began this run; the run goes back to the queue."""

    run_id: str


ToWorker = Union[Assign, Shutdown]
FromWorker = Union[Ready, Fatal, Started, Progress, Finished, Interrupted, Declined]
