"""The KD loss of every distillation stage, on the five answer logits at the answer position.

Student loss: ``L = CE + phi * KD(mentor) + psi * KD(teacher)``, each KD term a KL divergence
between temperature-T softmaxes over the five answer logits at the answer position only (image,
prompt and padding positions never enter), multiplied by T^2 so its gradient scale does not
depend on T. ``forward`` (the default, standard KD as in Hinton et al. and the authors' code):
KL(P_target || P_trained), which asks the trained model to cover all the target's mass;
``reverse``: KL(P_trained || P_target), mode-seeking. The target is a constant.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from deevisum.models.tokenizer import ANSWERS


def kd_term(logits: torch.Tensor, target_logits: torch.Tensor, temperature: float,
            direction: Literal["forward", "reverse"] = "forward") -> torch.Tensor:
    """Per row T^2 * KL, between P = softmax(logits/T) (trained) and Q = softmax(target/T) (held fixed):
    KL(Q || P) for ``forward``, KL(P || Q) for ``reverse``."""
    log_p = F.log_softmax(logits / temperature, dim=-1)
    log_q = F.log_softmax(target_logits.detach().to(logits.dtype) / temperature, dim=-1)
    if direction == "forward":
        kl = (log_q.exp() * (log_q - log_p)).sum(-1)
    elif direction == "reverse":
        kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    else:
        raise ValueError(f"KL direction must be 'forward' or 'reverse', got {direction!r}")
    return kl * temperature**2


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
