"""A seeded random-weight openai-whisper checkpoint in whisper's own format, for the openai-whisper engine's tests.

It loads through exactly the code path a real local checkpoint takes (``whisper.load_model(path)``,
which uses ``torch.load(weights_only=True)``: no unpickling). Random weights give garbage text;
what the tests check is the loading path and the segment format.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from whisper.model import ModelDimensions, Whisper

from deevisum.io import atomic_path


@dataclasses.dataclass(frozen=True)
class WhisperSize:
    seed: int = 0
    n_state: int = 32
    n_head: int = 2
    n_layer: int = 1


# whisper's fixed front end: 80 log-mel bins, 30-s windows of 1500 encoder positions, and its
# multilingual tokenizer (51865 ids); a checkpoint with other values cannot run its pipeline.
N_MELS = 80
N_AUDIO_CTX = 1500
N_VOCAB = 51865
N_TEXT_CTX = 448
RANDOM_CHECKPOINT = "whisper-random.pt"
"""File name of the random checkpoint inside the build_asr output folder (``asr.model`` points at it)."""


def build_random_checkpoint(path: str | Path, p: WhisperSize) -> Path:
    """Write a seeded random-weight whisper checkpoint ``{"dims", "model_state_dict"}`` atomically."""
    dims = ModelDimensions(
        n_mels=N_MELS,
        n_audio_ctx=N_AUDIO_CTX,
        n_audio_state=p.n_state,
        n_audio_head=p.n_head,
        n_audio_layer=p.n_layer,
        n_vocab=N_VOCAB,
        n_text_ctx=N_TEXT_CTX,
        n_text_state=p.n_state,
        n_text_head=p.n_head,
        n_text_layer=p.n_layer,
    )
    torch.manual_seed(p.seed)
    model = Whisper(dims)
    with torch.no_grad():
        # whisper leaves this parameter as torch.empty (real checkpoints overwrite it): without
        # an explicit init the same seed would give different weights.
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": state}, tmp)
    return path
