"""Multi-stage KD losses and the stored answer distributions that connect the MSKD stages.

Stage 1 runs the teacher once over the training and validation examples and stores its
answer logits (n, 5); stage 2 trains the mentor against them and stores the mentor's; stage 3
trains the student against both. No teacher runs inside a student's training loop.

Loss (issue 4, as written in the paper):
``L = CE + phi * KL(P_s || P_m) + psi * KL(P_s || P_t)``, where P are temperature-T softmaxes
over the five answer logits at the answer position only (image, prompt and padding positions
never enter), each KL term multiplied by T^2 so its gradient scale does not depend on T.
KL(P || Q) = sum P log(P / Q) with P the model being trained (the targets are constants).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from deevisum.io import InputError, save_tensors, tensors_index
from deevisum.tokenizer import ANSWERS


def kd_term(logits: torch.Tensor, target_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per row T^2 * KL(P || Q), P = softmax(logits/T) (trained), Q = softmax(target/T) (held fixed)."""
    log_p = F.log_softmax(logits / temperature, dim=-1)
    log_q = F.log_softmax(target_logits.detach().to(logits.dtype) / temperature, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1) * temperature**2


def check_answer_vocab(answer_ids: dict[str, list[int]]) -> list[int]:
    """The answer token ids all models share; fails naming the models that disagree.

    KD compares distributions over the same five answers, and stored distributions are
    indexed by them, so teacher, mentor and student must map "1".."5" to the same tokens.
    """
    (first_name, first), *others = answer_ids.items()
    for name, ids in others:
        if list(ids) != list(first):
            raise ValueError(
                f"answer vocabulary mismatch: {first_name} maps {list(ANSWERS)} to token ids {list(first)}, "
                f"{name} to {list(ids)}; teacher, mentor and student must share the answer tokens"
            )
    return list(first)


def save_distributions(path: str | Path, keys: Sequence[str], logits: torch.Tensor, answer_ids: Sequence[int]) -> None:
    """Answer logits (n, 5) for example ``keys`` (``video/second``), with the answer ids they are over."""
    save_tensors(path, {"logits": torch.as_tensor(logits, dtype=torch.float32).contiguous()},
                 {"answer_ids": list(answer_ids), "keys": list(keys)})


def load_distributions(path: str | Path, keys: Sequence[str]) -> tuple[torch.Tensor, list[int]]:
    """Stored logits for ``keys`` in that order, and the answer token ids they are over."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (run the distillation stage that writes it)")
    meta = tensors_index(path)
    index = {k: i for i, k in enumerate(meta["keys"])}
    missing = [k for k in keys if k not in index]
    if missing:
        raise InputError(path, f"no stored distribution for {len(missing)} example(s), e.g. {missing[:3]}")
    return load_file(str(path))["logits"][[index[k] for k in keys]], meta["answer_ids"]
