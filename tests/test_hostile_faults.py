"""Hostile corpus, check-then-use: the Inception weights torch-fidelity unpickles are the
tensors ganbench vetted (a file swapped after the check is never loaded), and the driver lock
stays one-driver-only when two drivers reclaim a stale lock at once."""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from pathlib import Path

import pytest
import torch

from ganbench.errors import GanbenchError
from ganbench.runner import SuiteLock
from ganbench_plugins.fidelity import features
from ganbench_plugins.fidelity.extractors import INCEPTION
from ganbench_plugins.fidelity.weights import inspect_weights, save_random_inception_weights


class Payload:
    """A pickle that, when unpickled with weights_only=False, writes a marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def test_weights_swapped_after_the_check_are_never_unpickled(tmp_path, monkeypatch):
    weights_file = save_random_inception_weights(tmp_path / "inception.pth", seed=0)
    vetted = inspect_weights(weights_file, INCEPTION)
    marker = tmp_path / "marker"
    with open(weights_file, "wb") as f:  # the attacker's swap, after ganbench's check
        pickle.dump(Payload(str(marker)), f)
    features.NETWORKS.clear()
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    out = features.extract(INCEPTION, vetted, images, torch.device("cpu"), batch_size=4)
    assert not marker.exists(), "torch-fidelity unpickled the swapped file"
    assert out["2048"].shape == (4, 2048)
    with pytest.raises(GanbenchError, match="cannot be loaded as a state dict"):  # a fresh check refuses it
        inspect_weights(weights_file, INCEPTION)
    assert not marker.exists()


def _take(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        with SuiteLock(Path(path)):
            results.put("got it")
            barrier.wait()  # hold the lock until both have tried
    except GanbenchError:
        results.put("refused")
        barrier.wait()


@pytest.mark.parametrize("stale", ["dead-pid", "garbage", "empty"])
def test_two_drivers_reclaiming_a_stale_lock_one_wins(stale, tmp_path):
    ctx = mp.get_context("fork")
    for attempt in range(5):
        folder = tmp_path / f"suite{attempt}"
        folder.mkdir()
        (folder / ".lock").write_text({"dead-pid": "999999", "garbage": "\x00zz", "empty": ""}[stale])
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_take, args=(str(folder), barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        got = sorted(results.get(timeout=5) for _ in range(2))
        assert got == ["got it", "refused"], got
        assert not (folder / ".lock").exists()


def test_lock_of_a_killed_driver_is_free(tmp_path):
    """kill -9 of the holder: the kernel drops its flock, the next driver takes over at once."""
    ctx = mp.get_context("fork")
    ready = ctx.Event()

    def hold() -> None:
        with SuiteLock(tmp_path):
            ready.set()
            os.kill(os.getpid(), 9)
    p = ctx.Process(target=hold)
    p.start()
    assert ready.wait(30)
    p.join(30)
    assert (tmp_path / ".lock").exists()  # left behind by the killed driver
    with SuiteLock(tmp_path) as lock:
        assert (tmp_path / ".lock").read_text() == str(os.getpid()) and lock.fd is not None
