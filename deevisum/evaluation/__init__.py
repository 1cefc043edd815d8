"""The field's video-summarization evaluation: keyshot F1, rank correlations, baselines.

Pure functions; the ``evaluate*`` stages and ``deevisum evaluate`` call ``evaluate_scores`` and
``baselines``. See protocol.py (entry point), context.py (shots, references), metrics.py,
knapsack.py, shots.py (fixed and KTS), baselines.py, stats.py.
"""

from deevisum.evaluation.baselines import baselines
from deevisum.evaluation.context import METRICS, evaluation_shots
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.scores import VideoScores, expand_scores, parse_scores, read_scores
from deevisum.evaluation.shots import fixed_shots, frame_features, kts_change_points, kts_shots, kts_shots_from_h5
from deevisum.evaluation.stats import fold_summary, plot_rows

__all__ = [
    "METRICS",
    "VideoScores",
    "baselines",
    "evaluate_scores",
    "evaluation_shots",
    "expand_scores",
    "fixed_shots",
    "fold_summary",
    "frame_features",
    "kts_change_points",
    "kts_shots",
    "kts_shots_from_h5",
    "parse_scores",
    "plot_rows",
    "read_scores",
]
