"""Runs side by side (deevisum.distill.parallel): one spawned, single-threaded process per core, the results
in order and equal to running the items one after another."""

from __future__ import annotations

import os

import pytest
import torch

from deevisum.distill import parallel
from deevisum.distill.parallel import run_in_parallel


def probe(x: int) -> tuple[int, int, int, bool]:
    """A picklable module-level job: its result, and where and how it ran."""
    return x * x - 3 * x, os.getpid(), torch.get_num_threads(), parallel.IN_WORKER


def divide(pair: tuple[int, int]) -> float:
    return pair[0] / pair[1]


ITEMS = [5, 1, 4, 0, 3, 2, 7]


def test_parallel_results_are_in_order_and_equal_the_serial_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = torch.get_num_threads()
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    side_by_side = run_in_parallel(probe, ITEMS, "probe")
    monkeypatch.setattr(parallel, "worker_count", lambda: 1)
    one_by_one = run_in_parallel(probe, ITEMS, "probe")
    assert [r[0] for r in side_by_side] == [r[0] for r in one_by_one] == [x * x - 3 * x for x in ITEMS]
    # side by side: in other processes (at most one per worker), each computing with one thread
    pids = {r[1] for r in side_by_side}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(r[2] == 1 and r[3] for r in side_by_side)
    # one by one: here, also with one thread (so a result does not depend on how many ran beside it), restored after
    assert {r[1] for r in one_by_one} == {os.getpid()}
    assert all(r[2] == 1 and not r[3] for r in one_by_one)
    assert torch.get_num_threads() == threads


def test_a_single_item_or_none_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "worker_count", lambda: 4)
    [(value, pid, n_threads, in_worker)] = run_in_parallel(probe, [6], "probe")
    assert (value, pid, n_threads, in_worker) == (18, os.getpid(), 1, False)
    assert run_in_parallel(probe, [], "probe") == []


def test_a_failing_item_fails_the_whole_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    with pytest.raises(ZeroDivisionError):
        run_in_parallel(divide, [(1, 1), (1, 0), (2, 1)], "divide")
