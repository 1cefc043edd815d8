"""Prompts: what a 1-second segment says to the model besides its frame.

Each second's prompt fills ``prompts.template`` with the category, the title, the transcript
words around that second and the audio-cue words; the frame goes in as the image. The same
fields serve training (``build_prompts``) and ``deevisum summarize``. For the modality ablation
a prompt is re-rendered with the sentences of left-out modalities dropped.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from deevisum.config import PromptsParams

MODALITY_FIELDS: dict[str, frozenset[str]] = {
    "frame": frozenset(),
    "frame_text": frozenset({"category", "title", "speech"}),
    "frame_text_audio": frozenset({"category", "title", "speech", "audio"}),
}
"""Template fields each modality subset fills; the frame is always the image."""
FULL = "frame_text_audio"
"""Every modality: the prompts stored in examples.jsonl."""
MAX_WORD_CHARS = 24
"""Transcript words are cut to this length (an untrained ASR can emit one endless 'word')."""


def _overlaps(a: float, b: float, lo: float, hi: float) -> bool:
    """[a, b] overlaps [lo, hi); a zero-length word counts when it lies inside."""
    return a < hi and b > lo if b > a else lo <= a < hi


def speech_words(segments: Sequence[Mapping[str, Any]], second: int, window: float, max_words: int) -> str:
    """Transcript words overlapping [second - window, second + 1 + window), at most ``max_words``.

    Whisper times segments, not words, so a segment's span is shared evenly among its words.
    When more words overlap than fit, those nearest the second's centre are kept (in order).
    """
    lo, hi, centre = second - window, second + 1 + window, second + 0.5
    found: list[tuple[float, float, str]] = []
    for seg in segments:
        words = seg["text"].split()
        step = max(seg["end"] - seg["start"], 0.0) / max(len(words), 1)
        for k, word in enumerate(words):
            a, b = seg["start"] + k * step, seg["start"] + (k + 1) * step
            if _overlaps(a, b, lo, hi):
                found.append((abs((a + b) / 2 - centre), a, word[:MAX_WORD_CHARS]))
    nearest = sorted(found)[:max_words]
    return " ".join(w for _, _, w in sorted(nearest, key=lambda t: t[1])) or "none"


def render_prompt(example: Mapping[str, Any], template: str, modalities: str = FULL) -> str:
    """The prompt for a subset of modalities: template sentences naming a left-out field are dropped.

    ``frame`` keeps only sentences without fields (e.g. 'score importance 1 to 5.'); ``frame_text``
    adds category, title and speech; ``frame_text_audio`` adds the audio cue words.
    """
    if modalities not in MODALITY_FIELDS:
        raise ValueError(f"unknown modalities {modalities!r} (one of {sorted(MODALITY_FIELDS)})")
    keep = MODALITY_FIELDS[modalities]
    kept = [s for s in re.split(r"(?<=\.)\s+", template.strip()) if _fields(s) <= keep]
    return " ".join(kept).format(**{f: example[f] for f in keep})


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def prompt_fields(
    category: str, title: str, segments: Sequence[Mapping[str, Any]], cues: Sequence[Mapping[str, Any]], p: PromptsParams
) -> list[dict[str, str]]:
    """The template fields of each second (one per cue entry): the same for training and for summarize."""
    return [
        {
            "category": category or "none",
            "title": title or "none",
            "speech": speech_words(segments, i, p.transcript_window, p.max_speech_words),
            "audio": cue["text"],
        }
        for i, cue in enumerate(cues)
    ]


def prompts_for(examples: Sequence[Mapping[str, Any]], modalities: str, template: str) -> list[str]:
    """The stored prompts (all modalities), or re-rendered for a modality subset."""
    if modalities == FULL:
        return [e["prompt"] for e in examples]
    return [render_prompt(e, template, modalities) for e in examples]
