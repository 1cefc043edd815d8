"""Early-exit inference for one-pass scoring (PaliGemma2 and Gemma 3): a layer-by-layer decoder runner in
which rows that exit leave the batch.

The paper's public code computes every layer whatever the exit decision, so it saves no time.
Here the decoder is run one layer at a time; after each exit layer the rows whose confidence
(a measure of :data:`deevisum.early_exit.heads.CONFIDENCES`) reaches that exit's threshold take
that head's answer and are removed from the batch (hidden states, masks and position embeddings are indexed down), so later
layers really process fewer rows.

Exactness: the input preparation (vision tower, image-feature merge, the sqrt(hidden)
embedding normaliser, the prefix-LM / sliding-window masks, 1-based positions) is not
re-implemented: the model's own forward is run and stopped at the language model's
pre-forward hook, whose arguments are captured. The decoder loop then mirrors
``Gemma2Model.forward`` / ``Gemma3TextModel.forward`` (rotary embeddings, per layer type for Gemma 3's
local and global layers; per-layer-type masks; final norm) and the head mirrors the conditional model
(lm_head, then PaliGemma's final logit soft-capping), so with no exit the answer logits equal
``model(**inputs).logits`` at the answer position.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from deevisum.early_exit.heads import ExitHeads
from deevisum.models.families import base_model, output_head
from deevisum.models.scoring import ANSWER_POSITION


@dataclass
class ExitResult:
    """Per row of the batch: the answer logits used, where it left, and its confidence there."""

    logits: torch.Tensor
    """(B, n_answers): the exit head's logits, or the model's answer-token logits at full depth."""
    layers: torch.Tensor
    """(B,) long: decoder layers executed for the row (the model's depth when it did not exit)."""
    confidence: torch.Tensor
    """(B,) float: confidence at the exit taken; NaN for rows that ran to the final layer."""


@dataclass
class _DecoderInputs:
    hidden: torch.Tensor
    masks: Any
    position_ids: torch.Tensor


class _Captured(Exception):
    def __init__(self, kwargs: dict[str, Any]):
        super().__init__("language-model inputs captured")
        self.kwargs = kwargs


def _take(x: Any, rows: torch.Tensor, batch: int) -> Any:
    """Keep ``rows`` of a per-row tensor; leave broadcast (batch-1) tensors, None and dicts' values alike."""
    if isinstance(x, Mapping):
        return {k: _take(v, rows, batch) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_take(v, rows, batch) for v in x)
    if isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[0] == batch:
        return x.index_select(0, rows.to(x.device))
    if x is None or isinstance(x, torch.Tensor):
        return x
    raise TypeError(f"early exit cannot shrink an attention mask of type {type(x).__name__}; use eager or sdpa attention")


def _at(hidden: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(B, D): each row's hidden state at its answer position."""
    return hidden[torch.arange(len(pos), device=hidden.device), pos.to(hidden.device)]


class EarlyExitRunner:
    """Scores the answer tokens of a PaliGemma2 or Gemma 3 model layer by layer, with optional early exits.

    ``answer_token_ids`` are the vocabulary ids of the answers "1".."5" (in class order);
    ``answer_pos`` given to :meth:`run` is the sequence index whose logits predict the answer,
    one per row or one for all (default: the scoring convention, ``ANSWER_POSITION``).
    ``model`` may be a peft wrapper (4-bit LoRA student): its base model's modules carry the adapters.
    The heads are moved to the decoder's device and dtype.
    """

    def __init__(self, model: nn.Module, answer_token_ids: list[int], heads: ExitHeads | None = None):
        self.model = model
        self.lm = base_model(model).model.language_model
        self.head = output_head(model)
        text_config = model.config.get_text_config()
        self.depth = len(self.lm.layers)
        self.layer_types = getattr(text_config, "layer_types", None)
        self.answer_ids = torch.tensor(answer_token_ids, dtype=torch.long)
        self.heads = heads
        if heads is not None:
            if heads.config.hidden_size != text_config.hidden_size or max(heads.config.exit_layers) >= self.depth:
                raise ValueError(
                    f"exit heads (hidden {heads.config.hidden_size}, exits {heads.config.exit_layers}) do not fit "
                    f"a decoder of width {text_config.hidden_size} and depth {self.depth}"
                )
            if heads.config.n_answers != len(answer_token_ids):
                raise ValueError(f"heads predict {heads.config.n_answers} answers, {len(answer_token_ids)} answer ids given")
            weight = self.lm.layers[0].input_layernorm.weight
            heads.to(device=weight.device, dtype=weight.dtype if weight.dtype.is_floating_point else torch.float32)

    def _prepare(self, inputs: Mapping[str, torch.Tensor]) -> _DecoderInputs:
        """The model's own preparation of the decoder inputs, stopped before the first layer."""

        def stop(_module: nn.Module, _args: tuple, kwargs: dict[str, Any]) -> None:
            raise _Captured(kwargs)

        device = self.lm.layers[0].input_layernorm.weight.device
        handle = self.lm.register_forward_pre_hook(stop, with_kwargs=True)
        try:
            self.model(**{k: v.to(device) for k, v in inputs.items()})
        except _Captured as c:
            kw = c.kwargs
        else:
            raise RuntimeError("the model never called its language model")
        finally:
            handle.remove()
        return _DecoderInputs(kw["inputs_embeds"], kw["attention_mask"], kw["position_ids"])

    def _of_layer(self, by_type: Any, layer: int) -> Any:
        """A mask or position embedding of ``layer``'s type, where they are given per layer type."""
        return by_type[self.layer_types[layer]] if isinstance(by_type, Mapping) else by_type

    def _rope(self, hidden: torch.Tensor, position_ids: torch.Tensor) -> Any:
        """(cos, sin), or one per layer type where the decoder's RoPE has several (Gemma 3: local and global bases)."""
        rope = self.lm.rotary_emb
        if hasattr(rope, "layer_types"):
            return {t: rope(hidden, position_ids, t) for t in rope.layer_types}
        return rope(hidden, position_ids)

    def _final_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Answer-token logits from last-layer hidden states at the answer position (B, D)."""
        logits = self.head(hidden)
        return logits[:, self.answer_ids.to(logits.device)]

    def _walk(
        self,
        inputs: Mapping[str, torch.Tensor],
        answer_pos: torch.Tensor | int,
        at_exit: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor | None],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the decoder; after layer count ``n`` in the exits ``at_exit(n, h_answer, rows)`` may
        return a bool mask of rows that leave. Returns (final logits, their row ids, layers per row)."""
        d = self._prepare(inputs)
        hidden, masks, position_ids = d.hidden, d.masks, d.position_ids
        cos_sin = self._rope(hidden, position_ids)
        batch, length = hidden.shape[:2]
        rows = torch.arange(batch)
        pos = torch.as_tensor(answer_pos, dtype=torch.long).cpu().expand(batch) % length
        layers = torch.full((batch,), self.depth, dtype=torch.long)
        exits = set(self.heads.config.exit_layers) if self.heads is not None else set()
        for i, layer in enumerate(self.lm.layers):
            hidden = layer(
                hidden,
                attention_mask=self._of_layer(masks, i),
                position_embeddings=self._of_layer(cos_sin, i),
                position_ids=position_ids,
            )
            if i + 1 not in exits:
                continue
            leave = at_exit(i + 1, _at(hidden, pos), rows)
            if leave is None or not bool(leave.any()):
                continue
            layers[rows[leave]] = i + 1
            keep = torch.nonzero(~leave.cpu()).squeeze(1)
            n = len(rows)
            hidden, masks, position_ids, cos_sin = (_take(x, keep, n) for x in (hidden, masks, position_ids, cos_sin))
            rows, pos = rows[keep], pos[keep]
            if len(rows) == 0:
                break
        final = _at(hidden, pos) if len(rows) else hidden[:0, 0]
        return self._final_logits(final), rows, layers

    @torch.no_grad()
    def run(
        self,
        inputs: Mapping[str, torch.Tensor],
        answer_pos: torch.Tensor | int = ANSWER_POSITION,
        thresholds: Sequence[float] | None = None,
        measure: str = "gamma",
        leave_at: torch.Tensor | None = None,
    ) -> ExitResult:
        """Score a batch. ``thresholds`` None runs full depth without evaluating heads; otherwise one
        per exit layer: a row leaves at the first exit whose ``measure`` reaches that exit's
        threshold (``math.inf``: never there), and computes no further layer.

        ``leave_at`` (B,) replaces the thresholds by a given exit per row (the layer count it leaves
        after; the depth: never): the heads still run at every exit a row reaches, so replaying a
        measured exit distribution costs what the thresholds that produced it cost."""
        batch = len(inputs["input_ids"])
        out_logits = torch.empty(batch, len(self.answer_ids))
        conf_out = torch.full((batch,), float("nan"))
        heads = self.heads if thresholds is not None or leave_at is not None else None
        if heads is not None and leave_at is None and len(thresholds) != len(heads.config.exit_layers):
            raise ValueError(f"{len(thresholds)} thresholds for exits after layers {heads.config.exit_layers}")
        index = {n: k for k, n in enumerate(heads.config.exit_layers)} if heads is not None else {}

        def at_exit(n: int, h: torch.Tensor, rows: torch.Tensor) -> torch.Tensor | None:
            if heads is None or (leave_at is None and thresholds[index[n]] == math.inf):
                return None
            logits, conf = heads.confidence(index[n], h, measure)
            conf = conf.float().cpu()
            leave = leave_at[rows].eq(n) if leave_at is not None else conf >= thresholds[index[n]]
            out_logits[rows[leave]] = logits[leave.to(logits.device)].float().cpu()
            conf_out[rows[leave]] = conf[leave]
            return leave

        final, rows, layers = self._walk(inputs, answer_pos, at_exit)
        out_logits[rows] = final.float().cpu()
        return ExitResult(out_logits, layers, conf_out)

    @torch.no_grad()
    def collect(
        self, inputs: Mapping[str, torch.Tensor], answer_pos: torch.Tensor | int = ANSWER_POSITION
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Full-depth pass for head training: hidden states at the answer position after each exit
        layer ([n_exits] x (B, D), float32 on CPU) and the final answer-token logits (B, n_answers)."""
        if self.heads is None:
            raise ValueError("collect() needs the exit layers: construct the runner with heads")
        states: list[torch.Tensor] = []

        def at_exit(_n: int, h: torch.Tensor, _rows: torch.Tensor) -> None:
            states.append(h.float().cpu())

        final, _, _ = self._walk(inputs, answer_pos, at_exit)
        return states, final.float().cpu()
