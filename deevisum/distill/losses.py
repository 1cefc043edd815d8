"""The KD loss of every distillation stage, on the five answer logits at the answer position.

Student loss: ``L = CE + phi * KD(mentor) + psi * KD(teacher)``, each KD term a KL divergence
between temperature-T softmaxes over the five answer logits at the answer position only (image,
prompt and padding positions never enter), multiplied by T^2 so its gradient scale does not
depend on T. ``forward`` (the default, standard KD as in Hinton et al. and the authors' code):
KL(P_target || P_trained), which asks the trained model to cover all the target's mass;
``reverse``: KL(P_trained || P_target), mode-seeking. The target is a constant.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def check_answers(answers: dict[str, Sequence[str]]) -> list[str]:
    """The answer words whose logits every model's columns hold, in order; fails naming the models that disagree.

    KD compares two distributions column by column, so each column must be the same answer in every
    model. Token ids may differ: each model's own tokenizer maps the words to its ids.
    """
    (first_name, first), *others = answers.items()
    for name, words in others:
        if list(words) != list(first):
            raise ValueError(
                f"answer mismatch: the columns of {first_name} are the answers {list(first)}, those of {name} "
                f"{list(words)}; teacher, mentor and student must score the answers {list(ANSWERS)} in this order"
            )
    return list(first)
