"""Training runs side by side: one process per core, one thread per process.

A tiny model's step is mostly small operations, which torch's intra-op threads cannot spread
over two cores well (measured: 1.3x for two threads on the demo student); two runs in two
single-threaded processes use both cores fully. Every run computes with one thread wherever it
runs, so its result does not depend on how many run beside it. Under ``accelerate launch`` /
``torchrun`` (several processes already share the runs' batches) the runs go one after another.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

from deevisum.io import worker_count

T = TypeVar("T")
R = TypeVar("R")

IN_WORKER = False
"""True in a worker process: its progress bars would interleave with its neighbour's, so it prints
one line per epoch instead (``deevisum.distill.trainer``)."""


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _start_worker() -> None:
    global IN_WORKER
    import torch

    IN_WORKER = True
    torch.set_num_threads(1)


def run_in_parallel(fn: Callable[[T], R], items: Sequence[T], desc: str) -> list[R]:
    """``[fn(item) for item in items]``, up to one process per core (``fn`` and the items must pickle)."""
    from deevisum.models.vlm import process_state

    workers = min(worker_count(), len(items))
    if workers <= 1 or process_state().num_processes > 1:
        with single_thread():
            return [fn(item) for item in items]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker) as pool:
        return list(tqdm(pool.map(fn, items), total=len(items), desc=desc, unit="run"))
