"""Prompts: what a 1-second segment says to the model besides its frame.

Each second's prompt fills ``prompts.template`` with the category, the title, the transcript
words around that second and the audio-cue words; the frame goes in as the image. The same
fields serve training (``build_prompts``) and ``deevisum summarize``. For the modality ablation
a prompt is re-rendered with the sentences of left-out modalities dropped.
"""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deevisum.config import PromptsParams

MODALITY_FIELDS: dict[str, frozenset[str]] = {
    "frame": frozenset(),
    "frame_title": frozenset({"category", "title"}),
    "frame_title_audio": frozenset({"category", "title", "audio"}),
    "frame_title_audio_speech": frozenset({"category", "title", "audio", "speech"}),
    "frame_audio_speech": frozenset({"audio", "speech"}),
}
"""Template fields each modality subset fills; the frame is always the image. The first four are the
steps of the training ablation; ``frame_audio_speech`` (all but category and title) probes a trained model."""
FULL = "frame_title_audio_speech"
"""Every modality: the prompts stored in examples.jsonl."""
_PUNCT = re.compile(r"[^\w']+")
MAX_WORD_CHARS = 24
"""Transcript words are cut to this length (an untrained ASR can emit one endless 'word')."""


def _overlaps(a: float, b: float, lo: float, hi: float) -> bool:
    """[a, b] overlaps [lo, hi); a zero-length word counts when it lies inside."""
    return a < hi and b > lo if b > a else lo <= a < hi


@dataclass(frozen=True)
class TimedWords:
    """A transcript's words, normalised and sorted by start, for fast lookup of the words near a second."""

    starts: list[float]
    ends: list[float]
    words: list[str]
    longest: float
    """The longest word's duration: how far before a window a word that overlaps it can start."""

    @classmethod
    def of(cls, segments: Sequence[Mapping[str, Any]]) -> TimedWords:
        """Words are placed by their own timestamps (``segment["words"]``); a segment without them
        has its span shared evenly among its words. Lower-cased, without punctuation, as spoken."""
        timed = []
        for seg in segments:
            if seg.get("words"):
                timed += [(w["start"], w["end"], w["word"]) for w in seg["words"]]
            else:
                words = seg["text"].split()
                step = max(seg["end"] - seg["start"], 0.0) / max(len(words), 1)
                timed += [(seg["start"] + k * step, seg["start"] + (k + 1) * step, w) for k, w in enumerate(words)]
        kept = sorted((a, b, w) for a, b, w in ((a, b, _PUNCT.sub("", w.lower())) for a, b, w in timed) if w)
        return cls([a for a, _, _ in kept], [b for _, b, _ in kept], [w for _, _, w in kept],
                   max((b - a for a, b, _ in kept), default=0.0))

    def near(self, second: int, window: float, max_words: int) -> str:
        """Words overlapping [second - window, second + 1 + window), at most ``max_words``: when more
        overlap, those nearest the second's centre are kept (in time order). "none" when none."""
        lo, hi, centre = second - window, second + 1 + window, second + 0.5
        first, last = bisect.bisect_left(self.starts, lo - self.longest), bisect.bisect_left(self.starts, hi)
        found = [(abs((a + b) / 2 - centre), a, w[:MAX_WORD_CHARS])
                 for a, b, w in zip(self.starts[first:last + 1], self.ends[first:last + 1], self.words[first:last + 1])
                 if _overlaps(a, b, lo, hi)]
        nearest = sorted(found)[:max_words]
        return " ".join(w for _, _, w in sorted(nearest, key=lambda t: t[1])) or "none"


def speech_words(segments: Sequence[Mapping[str, Any]], second: int, window: float, max_words: int) -> str:
    """Transcript words around ``second`` (:meth:`TimedWords.near`)."""
    return TimedWords.of(segments).near(second, window, max_words)


def render_prompt(example: Mapping[str, Any], template: str, modalities: str = FULL) -> str:
    """The prompt for a subset of modalities: template sentences naming a left-out field are dropped.

    ``frame`` keeps only sentences without fields (e.g. 'score importance 1 to 5.'); ``frame_title``
    adds category and title; ``frame_title_audio`` the audio cue words; ``frame_title_audio_speech``
    (all) the transcript words: each modality is one step of the ablation.
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
    words = TimedWords.of(segments)
    return [
        {
            "category": category or "none",
            "title": title or "none",
            "speech": words.near(i, p.transcript_window, p.max_speech_words),
            "audio": cue["text"],
        }
        for i, cue in enumerate(cues)
    ]


def prompts_for(examples: Sequence[Mapping[str, Any]], modalities: str, template: str) -> list[str]:
    """The stored prompts (all modalities), or re-rendered for a modality subset."""
    if modalities == FULL:
        return [e["prompt"] for e in examples]
    return [render_prompt(e, template, modalities) for e in examples]
