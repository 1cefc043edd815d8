"""Exit heads: after chosen decoder layers, an answer distribution and confidences per row.

Each head reads the *intermediate* hidden state at the answer position (as the paper's heads
do), through its own LayerNorm rather than the model's final RMSNorm: the final norm is tuned
to the last layer's statistics, a learned norm per exit adapts to each depth. It maps the
state to a vector ``p_i`` and predicts the answer from it. Three confidences, each in [0, 1],
estimate whether the exit's answer is the one full depth would give (``CONFIDENCES``):

- ``gamma``: the paper's ``max_k cos(p_i, q_k)`` against learned prototypes ``q_k``, as (1 + cos) / 2. How the
  prototypes learn is ``ExitConfig.gamma``: ``closeness`` regresses gamma on how close the head's answer is
  to full depth's (a supervised confidence); ``joint`` is the paper's, where nothing supervises gamma: the
  head answers by scaled cosine to one prototype per answer, so the prototypes learn with the answer loss
  alone, and gamma is the cosine to the prototype of the answer given;
- ``max_prob``: the head's largest answer probability (the standard softmax confidence);
- ``classifier``: a small learned agreement classifier, as in CALM, on the exit's hidden state (normalised,
  without learned scale) and the head's answer distribution: features that mean the same for any
  head trained on the same student, so it can be fitted on heads that never saw those rows
  (cross-fitting, ``deevisum.early_exit.training``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from deevisum.io import InputError, atomic_path

HEADS_WEIGHTS = "model.safetensors"
HEADS_CONFIG = "config.json"
VALIDATION = "validation.safetensors"
"""The heads' answers and confidences on the rows the threshold is calibrated on (the fold's validation
videos, or ``ee.calibration_videos`` of the corpus), saved with them."""
VIDEO_CODES = "video_codes"
"""Key, in the validation outputs, of each row's video (an index into those rows' sorted videos)."""


@dataclass(frozen=True)
class ExitConfig:
    """Shape of an :class:`ExitHeads` module (saved next to its weights)."""

    hidden_size: int
    exit_layers: list[int]
    """Exit after this many decoder layers have run (1-based; each < the model's depth)."""
    n_answers: int
    head_dim: int = 32
    n_prototypes: int = 1
    """Prototypes per exit for ``closeness`` (``joint`` has one per answer)."""
    gamma: str = "closeness"
    """How gamma's prototypes learn: ``closeness`` or ``joint`` (:data:`GAMMA_TRAINING`)."""


GAMMA_TRAINING = ("closeness", "joint")
"""``closeness``: a linear answer layer, gamma regressed on 1 - 2 TV(head, full depth); ``joint``: the answer is
the scaled cosine to per-answer prototypes, trained by the answer loss only (the paper's "learned jointly")."""
JOINT_SCALE = 10.0
"""Initial cosine-to-logit scale of ``joint`` heads (learned; a cosine alone spans too little for a softmax)."""


CONFIDENCES = ("gamma", "max_prob", "classifier")
"""The confidence measures an exit can use (``ee.confidence``)."""


class ExitHeads(nn.Module):
    """One head per exit layer: hidden -> p_i -> answer logits, prototypes q for gamma, and an
    agreement classifier."""

    def __init__(self, config: ExitConfig):
        super().__init__()
        if list(config.exit_layers) != sorted(set(config.exit_layers)) or min(config.exit_layers, default=1) < 1:
            raise ValueError(f"exit_layers must be increasing layer counts >= 1, got {config.exit_layers}")
        if config.gamma not in GAMMA_TRAINING or (config.gamma == "joint" and config.n_prototypes != config.n_answers):
            raise ValueError(f"gamma must be one of {GAMMA_TRAINING}, joint with one prototype per answer; got {config}")
        self.config = config
        joint = config.gamma == "joint"
        self.encoders = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(config.hidden_size),
                nn.Linear(config.hidden_size, config.head_dim),
                nn.GELU(),
                nn.Linear(config.head_dim, config.head_dim),
            )
            for _ in config.exit_layers
        )
        self.classifiers = None if joint else nn.ModuleList(nn.Linear(config.head_dim, config.n_answers) for _ in config.exit_layers)
        self.prototypes = nn.Parameter(torch.randn(len(config.exit_layers), config.n_prototypes, config.head_dim))
        self.log_scale = nn.Parameter(torch.full((len(config.exit_layers),), math.log(JOINT_SCALE))) if joint else None
        self.agreement = nn.ModuleList(
            nn.Sequential(nn.Linear(config.hidden_size + config.n_answers, 16), nn.GELU(), nn.Linear(16, 1))
            for _ in config.exit_layers
        )

    def forward(self, index: int, hidden: torch.Tensor, gamma: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Answer logits (B, n_answers) and the raw gamma = max_k cos(p_i, q_k) (B,) of exit ``index`` for hidden (B, D);
        with ``gamma`` False, None instead where the answer does not need the cosines (``closeness`` heads)."""
        p = self.encoders[index](hidden.to(self.prototypes.dtype))
        if not gamma and self.classifiers is not None:
            return self.classifiers[index](p), None
        cos = nn.functional.cosine_similarity(p[:, None, :], self.prototypes[index][None], dim=-1)
        if self.log_scale is not None:  # gamma: the cosine of the answer given, however the scale rounds
            logits = self.log_scale[index].exp() * cos
            return logits, cos.gather(1, logits.argmax(-1, keepdim=True)).squeeze(1)
        return self.classifiers[index](p), cos.max(dim=1).values

    def agreement_logit(self, index: int, hidden: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """(B,) logit of "this exit agrees with full depth" from the hidden state (B, D) and the answer
        logits; reads detached features, so training it leaves the heads as they are."""
        h = hidden.detach().to(self.prototypes.dtype)
        features = torch.cat([nn.functional.layer_norm(h, h.shape[-1:]), logits.detach().softmax(-1)], dim=-1)
        return self.agreement[index](features).squeeze(-1)

    def confidences(self, index: int, hidden: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Answer logits and every measure of ``CONFIDENCES`` (each (B,), in [0, 1]) of exit ``index``."""
        logits, gamma = self(index, hidden)
        return logits, {m: self._measure(m, index, hidden, logits, gamma) for m in CONFIDENCES}

    def confidence(self, index: int, hidden: torch.Tensor, measure: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer logits and the one measure an exit decides by: at inference the others are not computed
        (nor gamma's cosines, where the answer does not need them)."""
        logits, gamma = self(index, hidden, gamma=measure == "gamma")
        return logits, self._measure(measure, index, hidden, logits, gamma)

    def _measure(self, measure: str, index: int, hidden: torch.Tensor, logits: torch.Tensor,
                 gamma: torch.Tensor | None) -> torch.Tensor:
        if measure == "gamma":
            return (1 + gamma) / 2
        if measure == "max_prob":
            return logits.softmax(-1).max(-1).values
        if measure == "classifier":
            return torch.sigmoid(self.agreement_logit(index, hidden, logits))
        raise ValueError(f"unknown confidence {measure!r}; one of {CONFIDENCES}")


def save_exit_heads(heads: ExitHeads, path: str | Path, validation: Mapping[str, torch.Tensor] | None = None) -> None:
    """Write ``path/`` = model.safetensors + config.json (+ the validation outputs), atomically."""
    with atomic_path(path) as tmp:
        tmp.mkdir()
        save_file({k: v.detach().contiguous().cpu() for k, v in heads.state_dict().items()}, str(tmp / HEADS_WEIGHTS))
        if validation is not None:
            save_file({k: v.contiguous() for k, v in validation.items()}, str(tmp / VALIDATION))
        (tmp / HEADS_CONFIG).write_text(json.dumps(asdict(heads.config), indent=2) + "\n", encoding="utf-8")


def load_validation(path: str | Path) -> dict[str, torch.Tensor]:
    """The validation outputs saved with the heads at ``path``."""
    file = Path(path) / VALIDATION
    if not file.is_file():
        raise InputError(file, "missing: the heads were saved without validation outputs (re-run train_exits)")
    return load_file(str(file))


def load_exit_heads(path: str | Path) -> ExitHeads:
    """Load heads saved by :func:`save_exit_heads` (safetensors only, nothing unpickled)."""
    path = Path(path)
    for name in (HEADS_CONFIG, HEADS_WEIGHTS):
        if not (path / name).is_file():
            raise InputError(path / name, "missing (run the train_exits stage first)")
    try:
        config = ExitConfig(**json.loads((path / HEADS_CONFIG).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as e:
        raise InputError(path / HEADS_CONFIG, f"not an exit-heads config ({e})") from None
    heads = ExitHeads(config)
    try:
        heads.load_state_dict(load_file(str(path / HEADS_WEIGHTS)))
    except RuntimeError as e:
        raise InputError(path / HEADS_WEIGHTS, f"weights do not match the config ({e})") from None
    return heads.eval()
