"""The vision-language families a role may start from: PaliGemma2 (SigLIP + Gemma2) and Gemma 3
(SigLIP + Gemma 3), and what in the pipeline depends on which one a checkpoint is.

Both are a SigLIP tower, a projector and a Gemma decoder at ``model.model.language_model``, scored in
one pass at the last prompt position; they differ in a few conventions that scoring, the early-exit
runner and loading must follow to reproduce the model's own forward and ``generate()``:

- PaliGemma counts positions from 1, Gemma 3 (like every other decoder) from 0;
- PaliGemma's processor appends the prefix separator ``\\n`` itself, Gemma 3's does not;
- PaliGemma soft-caps the final logits (Gemma2), Gemma 3's conditional model does not;
- Gemma 3 has one RoPE per layer type (local layers: base 10k, global layers: 1M), Gemma2 one for all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
)


@dataclass(frozen=True)
class Family:
    """One vision-language family: its transformers classes and its input conventions."""

    model_type: str
    """``config.json``'s ``model_type``."""
    model_class: type[PreTrainedModel]
    processor_class: type[ProcessorMixin]
    first_position: int
    """Position id of a row's first real token (what ``generate()`` gives the model)."""
    prompt_suffix: str
    """Appended to each prompt so that the answer follows a line break in both families."""
    softcaps_logits: bool
    """Whether the model's forward soft-caps its final logits by ``final_logit_softcapping``."""


PALIGEMMA = Family("paligemma", PaliGemmaForConditionalGeneration, PaliGemmaProcessor, 1, "", True)
GEMMA3 = Family("gemma3", Gemma3ForConditionalGeneration, Gemma3Processor, 0, "\n", False)
FAMILIES = {f.model_type: f for f in (PALIGEMMA, GEMMA3)}


def _by_type(model_type: str, what: str) -> Family:
    if model_type not in FAMILIES:
        raise ValueError(f"{what}: model_type {model_type!r} is not a supported family ({', '.join(FAMILIES)})")
    return FAMILIES[model_type]


def family_of_config(config: PretrainedConfig) -> Family:
    """The family of a model (its config)."""
    return _by_type(config.model_type, type(config).__name__)


def family_of_source(source: str | Path) -> Family:
    """The family of a checkpoint: a local directory's ``config.json``, else an HF id's (only the config is fetched)."""
    local = Path(source) / "config.json"
    if local.is_file():
        model_type = json.loads(local.read_text(encoding="utf-8")).get("model_type", "")
    else:
        model_type = PretrainedConfig.get_config_dict(str(source))[0].get("model_type", "")
    return _by_type(model_type, str(source))


def family_of_processor(processor: ProcessorMixin) -> Family:
    """The family whose processor this is."""
    for family in FAMILIES.values():
        if isinstance(processor, family.processor_class):
            return family
    raise ValueError(f"{type(processor).__name__} is not the processor of a supported family ({', '.join(FAMILIES)})")


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The conditional model inside a DDP and/or peft wrapper (or the model itself)."""
    model = getattr(model, "module", model)  # DDP passes no attribute through: unwrap it first
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def output_head(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's own way from a decoder hidden state to next-token logits (final norm, LM head, and the
    soft-cap where the family has one), applicable after any layer: the answer of an exit that reads the
    model's head rather than one of its own."""
    base = base_model(model)
    norm, lm_head = base.model.language_model.norm, base.lm_head
    text_config = base.config.get_text_config()
    cap = getattr(text_config, "final_logit_softcapping", None) if family_of_config(base.config).softcaps_logits else None

    def head(hidden: torch.Tensor) -> torch.Tensor:
        logits = lm_head(norm(hidden))
        return torch.tanh(logits / cap) * cap if cap else logits

    return head
