"""Word error rate of transcripts against a reference script (the demo narration).

WER = (substitutions + deletions + insertions) / reference words, from a word-level Levenshtein
alignment after normalisation (lower case, punctuation dropped, so "Skip this." = "skip this").
Over a corpus the edits and the reference words are summed before dividing, as ASR papers report it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> list[str]:
    """Lower-cased words without punctuation."""
    return _WORD.findall(text.lower().replace("’", "'"))


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Least substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    row = np.arange(len(hypothesis) + 1)
    for i, ref in enumerate(reference, 1):
        prev, row = row, np.empty_like(row)
        row[0] = i
        for j, hyp in enumerate(hypothesis, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref != hyp))
    return int(row[-1])


def corpus_wer(references: Mapping[str, str], hypotheses: Mapping[str, str]) -> dict[str, Any]:
    """Corpus WER and per-item WER of ``hypotheses`` (a missing item counts as all deleted)."""
    per_item, edits, words = {}, 0, 0
    for key, ref_text in sorted(references.items()):
        ref, hyp = normalise(ref_text), normalise(hypotheses.get(key, ""))
        e = edit_distance(ref, hyp)
        per_item[key] = {"wer": e / len(ref) if ref else float(len(hyp) > 0), "reference_words": len(ref),
                         "hypothesis_words": len(hyp), "edits": e}
        edits, words = edits + e, words + len(ref)
    return {"wer": edits / words if words else None, "reference_words": words, "edits": edits, "videos": per_item}
