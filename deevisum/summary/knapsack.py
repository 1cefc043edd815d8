"""Exact 0/1 knapsack, as the field selects keyshots.

The DP follows pytorch-vsumm-reinforce's ``knapsack_dp`` (the reference implementation behind
the published TVSum/SumMe F1 numbers): items are taken in order, an item enters the table only
when it *strictly* improves the value, and the solution is read back from the last item down.
That tie rule is what makes our summaries identical to theirs. We vectorise over capacity (and
over several value vectors that share weights, e.g. 20 annotators) instead of looping per cell,
and keep float64 values where the reference keeps float32.
"""

from __future__ import annotations

import numpy as np


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
