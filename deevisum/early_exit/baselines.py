"""What early exit must beat at the same cost: exit rules that consult no confidence, or an oracle.

Each rule says, per row, which exit it leaves at (an index into the exit layers, -1: full depth),
read off the states the report keeps (no model pass), like :func:`calibration.first_exit`:

- static depth (:func:`static_exit`): every row leaves at one exit, i.e. a truncated model;
- random mix (:func:`random_mix`): at a given mean number of layers, rows leave at the two
  depths (exits or full) that bracket it, chosen at random in the proportion that matches the
  mean -- what a confidence carrying no information about agreement achieves at that cost;
- patience (:func:`patience_exit`, PABEE, Zhou et al. 2020): a row leaves once the answers of
  ``patience`` + 1 consecutive exits are the same;
- oracle (:func:`oracle_exit`): the first exit whose answer agrees with full depth, the least
  compute any confidence could reach with these heads while keeping every answer;
- oracle at the target (:func:`oracle_at_target`): the least compute any exit rule could reach at
  a target agreement with these heads -- the ceiling that tells whether a speedup is reachable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

FULL_DEPTH = -1
"""Exit index of a row that runs every layer."""


def static_exit(n_rows: int, index: int) -> np.ndarray:
    """Every row leaves at exit ``index``."""
    return np.full(n_rows, index)


def random_mix(mean_layers: float, exit_layers: Sequence[int], depth: int, n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Rows split between the two adjacent depths around ``mean_layers`` (exact counts, random rows) so that
    the mean number of layers run is ``mean_layers`` (to one row)."""
    levels = [*exit_layers, depth]
    indices = [*range(len(exit_layers)), FULL_DEPTH]
    m = min(max(mean_layers, levels[0]), depth)
    upper = next(j for j, level in enumerate(levels) if level >= m)
    if levels[upper] == m or upper == 0:
        return np.full(n_rows, indices[upper])
    low, high = levels[upper - 1], levels[upper]
    n_low = round(n_rows * (high - m) / (high - low))
    out = np.full(n_rows, indices[upper])
    out[rng.permutation(n_rows)[:n_low]] = indices[upper - 1]
    return out


def random_mix_agreement(mean_layers: float, exit_layers: Sequence[int], depth: int, agreement: Sequence[float]) -> float:
    """The expected agreement of :func:`random_mix` (exact, no draw): agreement is linear in the mix.
    ``agreement``: each exit's share of rows that agree with full depth."""
    levels, values = [*exit_layers, depth], [*agreement, 1.0]
    return float(np.interp(min(max(mean_layers, levels[0]), depth), levels, values))


def patience_exit(exit_logits: torch.Tensor, patience: int) -> np.ndarray:
    """PABEE: leave at the first exit whose answer (argmax) is the same as the ``patience`` exits before it.
    ``exit_logits`` is (n_exits, N, n_answers)."""
    answers = exit_logits.argmax(-1).numpy()
    out = np.full(answers.shape[1], FULL_DEPTH)
    streak = np.zeros(answers.shape[1], dtype=int)
    for i in range(1, len(answers)):
        streak = np.where(answers[i] == answers[i - 1], streak + 1, 0)
        out = np.where((out == FULL_DEPTH) & (streak >= patience), i, out)
    return out


def oracle_exit(agree: np.ndarray) -> np.ndarray:
    """The first exit whose answer agrees with full depth (``agree`` is (n_exits, N) bool)."""
    agree = np.asarray(agree, bool)
    return np.where(agree.any(0), agree.argmax(0), FULL_DEPTH)


def oracle_at_target(oracle: Sequence[np.ndarray], exit_layers: Sequence[int], depth: int, target: float) -> list[np.ndarray]:
    """Per run, the exits of the cheapest rule whose agreement, pooled over all runs' rows, is still >= ``target``:
    the oracle exit, then the rows whose oracle exit costs the most leave at the first exit instead (where they
    disagree), as many as the target allows. ``oracle``: per run, :func:`oracle_exit` of its rows."""
    flat = np.concatenate(oracle)
    saving = np.where(flat == FULL_DEPTH, depth, np.asarray(exit_layers)[flat]) - exit_layers[0]
    n_wrong = int(np.floor((1 - target) * len(flat) + 1e-9))
    moved = np.argsort(-saving, kind="stable")[:n_wrong]
    flat[moved[saving[moved] > 0]] = 0
    return np.split(flat, np.cumsum([len(e) for e in oracle])[:-1])
