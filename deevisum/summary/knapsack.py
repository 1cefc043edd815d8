"""Exact 0/1 knapsack, as the field selects keyshots: two solvers, one per reference code.

:func:`knapsack_batch` follows pytorch-vsumm-reinforce's ``knapsack_dp`` (the reference
implementation behind the published TVSum/SumMe F1 numbers): items are taken in order, an item
enters the table only when it *strictly* improves the value, and the solution is read back from
the last item down. That tie rule is what makes our summaries identical to theirs. We vectorise
over capacity (and over several value vectors that share weights, e.g. 20 annotators) instead of
looping per cell, and keep float64 values where the reference keeps float32.

:func:`knapsack_ortools_dp` is OR-tools' dynamic-programming solver as DSNet calls it, whose
choices differ on ties and zero values (it can pack an item that adds nothing).
"""

from __future__ import annotations

import numpy as np

KNAPSACK_MAX_BYTES = 1 << 30
"""Most memory one knapsack row may take (its table of choices: items x capacity bytes). A hostile
h5 file of a few MB can describe a video whose knapsack would need hundreds of GiB; real ones need
a few MB (an hour at 30 fps with 10-s shots: 6 MB)."""


def knapsack_batch(values: np.ndarray, weights: np.ndarray, capacity: int) -> np.ndarray:
    """Solve one knapsack per row of ``values`` (B, n_items), all with the same integer ``weights``.

    Returns a (B, n_items) bool mask of the packed items.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    weights = np.asarray(weights, dtype=np.int64)
    n_batch, n_items = values.shape
    if weights.shape != (n_items,):
        raise ValueError(f"knapsack: {n_items} values per row but {weights.shape} weights")
    if np.any(weights < 0) or capacity < 0:
        raise ValueError("knapsack: weights and capacity must be non-negative")
    capacity = int(capacity)
    row_bytes = (n_items + 32) * (capacity + 1)  # the choices, the table and its temporaries
    if row_bytes > KNAPSACK_MAX_BYTES:
        raise ValueError(f"knapsack: {n_items} shots within {capacity} frames would need {row_bytes / 2**30:.1f} GiB "
                         f"of memory (limit {KNAPSACK_MAX_BYTES / 2**30:g} GiB)")
    chunk = max(1, KNAPSACK_MAX_BYTES // row_bytes)
    if n_batch > chunk:  # rows share nothing but the weights: solved a memory-sized chunk at a time
        return np.concatenate([knapsack_batch(values[i : i + chunk], weights, capacity) for i in range(0, n_batch, chunk)])
    table = np.zeros((n_batch, capacity + 1))
    keep = np.zeros((n_items, n_batch, capacity + 1), dtype=bool)
    for i in range(n_items):
        w = int(weights[i])
        if w > capacity:
            continue
        with_item = table[:, : capacity + 1 - w] + values[:, i : i + 1]
        better = with_item > table[:, w:]
        keep[i, :, w:] = better
        table[:, w:] = np.where(better, with_item, table[:, w:])
    packed = np.zeros((n_batch, n_items), dtype=bool)
    room = np.full(n_batch, capacity)
    rows = np.arange(n_batch)
    for i in range(n_items - 1, -1, -1):
        take = keep[i, rows, room]
        packed[:, i] = take
        room = room - np.where(take, weights[i], 0)
    return packed


def knapsack(values: np.ndarray, weights: np.ndarray, capacity: int) -> np.ndarray:
    """Indices (ascending) of the items of the best packing of one knapsack."""
    return np.flatnonzero(knapsack_batch(values, weights, capacity)[0])


def _last_item(values: np.ndarray, weights: np.ndarray, capacity: int) -> int:
    """OR-tools' ``SolveSubProblem``: the DP over ``capacity`` that remembers, per capacity, the last
    item that strictly improved its profit; the one at full ``capacity`` (0 when none ever did)."""
    profit = np.zeros(capacity + 1, dtype=np.int64)
    last = np.zeros(capacity + 1, dtype=np.int64)
    for i, (value, weight) in enumerate(zip(values.tolist(), weights.tolist())):
        if weight > capacity:
            continue
        with_item = profit[: capacity + 1 - weight] + value
        better = np.flatnonzero(with_item > profit[weight:]) + weight
        profit[better] = with_item[better - weight]
        last[better] = i
    return int(last[capacity])


def knapsack_ortools_dp(values: np.ndarray, weights: np.ndarray, capacity: int) -> np.ndarray:
    """(n_items,) bool mask of what OR-tools' ``KnapsackSolver(KNAPSACK_DYNAMIC_PROGRAMMING_SOLVER)``
    packs for integer ``values`` (DSNet's ``vsumm_helper.knapsack``), reproduced step by step.

    Its reduction packs everything when all weights fit; its DP bound lower/upper nothing else. The
    solver then takes the item :func:`_last_item` names at the remaining capacity and repeats on the
    items before it, until no room or items are left: when no item improves the profit it still names
    item 0, which is packed if it fits (all-zero values pack the first shot). Memory is one row
    over the capacity; time is (packed items) x items x capacity.
    """
    values = np.asarray(values, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    packed = np.zeros(len(values), dtype=bool)
    if weights.sum() <= capacity:
        packed[:] = True
        return packed
    room, n_items = int(capacity), len(values)
    while room > 0 and n_items > 0:
        chosen = _last_item(values[:n_items], weights[:n_items], room)
        room -= int(weights[chosen])
        n_items = chosen
        if room >= 0:
            packed[chosen] = True
    return packed
