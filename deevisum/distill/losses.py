"""The KD loss of every distillation stage, on the five answer logits at the answer position.

Loss (issue 4, as written in the paper):
``L = CE + phi * KL(P_s || P_m) + psi * KL(P_s || P_t)``, where P are temperature-T softmaxes
over the five answer logits at the answer position only (image, prompt and padding positions
never enter), each KL term multiplied by T^2 so its gradient scale does not depend on T.
KL(P || Q) = sum P log(P / Q) with P the model being trained (the targets are constants).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deevisum.models.tokenizer import ANSWERS


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
