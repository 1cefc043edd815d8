"""Stored answer distributions: what connects the MSKD stages.

Stage 1 runs the teacher once over the training and validation examples and stores its answer
logits (n, 5); stage 2 trains the mentor against them and stores the mentor's; stage 3 trains
the student against both. No teacher runs inside a student's training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file

from deevisum.io import InputError, save_tensors, tensors_index


def save_distributions(path: str | Path, keys: Sequence[str], logits: torch.Tensor, answers: Sequence[str]) -> None:
    """Answer logits (n, 5) for example ``keys`` (``video/second``), with the answer words of their columns.

    Words, not token ids: a teacher with another tokenizer (a pretrained checkpoint's 262k vocabulary)
    scores the same answers under other ids, and its distributions teach a tiny student just as well."""
    save_tensors(path, {"logits": torch.as_tensor(logits, dtype=torch.float32).contiguous()},
                 {"answers": list(answers), "keys": list(keys)})


def load_distributions(path: str | Path, keys: Sequence[str]) -> tuple[torch.Tensor, list[str]]:
    """Stored logits for ``keys`` in that order, and the answer words of their columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (run the distillation stage that writes it)")
    meta = tensors_index(path)
    index = {k: i for i, k in enumerate(meta["keys"])}
    missing = [k for k in keys if k not in index]
    if missing:
        raise InputError(path, f"no stored distribution for {len(missing)} example(s), e.g. {missing[:3]}")
    if "answers" not in meta:
        raise InputError(path, "no answer words in its metadata (written by an older version: re-run its stage)")
    return load_file(str(path))["logits"][[index[k] for k in keys]], meta["answers"]
