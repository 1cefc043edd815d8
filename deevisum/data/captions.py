"""Captioning examples of the pretraining corpus: what PaliGemma's pretraining mixes in besides the task.

PaliGemma2's checkpoints come from multitask pretraining (captioning among it), which ties the words
of the vocabulary to what frames show: Gemma's input and output embeddings are shared, so a model
that learned to *say* "red" of a red object has a "red" that its title field can match against the
frame. The tiny architectures get the same: besides each second's importance prompt, the pretraining
corpus's frames are captioned from the generator's own record of what is on screen. Measured on the
mentor's architecture (6 epochs, 20 held-out corpus videos): without captions a target object and a
distractor score the same (2.40 and 2.53 of 4.6 and 1.8); with them, 3.51 and 2.43.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CAPTION_PROMPTS = {"colour": "caption: colour.", "object": "caption: object."}
"""The two caption tasks' prompts (the frame is the image)."""
NOTHING = "none"
"""The colour caption of a frame without an object (a word every prompt already uses)."""
EMPTY_EVERY = 4
"""Of the seconds without an object, every this-many-th is captioned (empty frames are most of a video)."""


def caption_words(colours: Sequence[str], objects: Sequence[str]) -> tuple[str, ...]:
    """Every caption answer, in a fixed order: the colours, the object nouns, then :data:`NOTHING`."""
    return (*colours, *objects, NOTHING)


def captions(example: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(prompt, answer word)`` caption pairs of one second (``example``: a row of examples.jsonl; ``events``:
    its video's events from ``demo-events.json``, each with ``start``, ``end``, ``kind``, ``colour``, ``obj``)."""
    second = example["second"]
    event = next((e for e in events if e["start"] <= second < e["end"]), None)
    if event is not None and event["kind"] != "flash":
        return [(CAPTION_PROMPTS["colour"], event["colour"]), (CAPTION_PROMPTS["object"], event["obj"])]
    if second % EMPTY_EVERY == 0:
        return [(CAPTION_PROMPTS["colour"], NOTHING)]
    return []
