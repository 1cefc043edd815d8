"""One-pass importance scoring: the answer distribution over "1".."5" at the answer position.

The model is asked a segment's prompt and would answer with one token 1..5. Instead of
``generate()``, one batched forward pass reads the logits at the answer position, restricted
to the five answer tokens; their softmax is the answer distribution and its expected value
(in [1, 5]) is the segment's score. Training (CE and KD) reads the same position of the same
inputs, so what is trained is exactly what is scored.

Input convention (shared by every model, the trainers and early exit):
``build_batch(processor, prompts, images)`` gives ``input_ids, attention_mask,
token_type_ids, pixel_values, position_ids``. Rows are LEFT-padded and hold only the
prefix, so the answer position is the last one, ``ANSWER_POSITION = -1``, in every row.
PaliGemma's prefix is image tokens, ``<bos>``, prompt, ``\\n``, all with ``token_type_ids == 0``,
so PaliGemma builds its prefix-LM mask (bidirectional over the prefix, padding masked);
Gemma 3's is ``<bos>``, the image block (``token_type_ids == 1``: bidirectional within it), prompt,
``\\n``, causal elsewhere. ``position_ids`` count real tokens from the family's first position
(PaliGemma 1, Gemma 3 0: what ``generate()`` computes), so a row's scores do not depend on how
much padding its batch needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase, ProcessorMixin

from deevisum.data.examples import ProcessedData
from deevisum.data.prompts import prompts_for
from deevisum.data.splits import runs
from deevisum.models.families import GEMMA3, family_of_processor
from deevisum.models.tokenizer import ANSWERS
from deevisum.models.vlm import load_vlm, model_modalities, process_state

ANSWER_POSITION = -1
"""Index (in the sequence dimension) of the position whose logits predict the answer."""


def word_token_ids(tokenizer: PreTrainedTokenizerBase, words: Sequence[str]) -> list[int]:
    """Token ids of answer ``words``; fails when one is not exactly one known token."""
    ids = []
    for word in words:
        tokens = tokenizer.encode(word, add_special_tokens=False)
        if len(tokens) != 1 or tokens[0] == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer: answer {word!r} is not a single known token (got ids {tokens})")
        ids.append(tokens[0])
    return ids


def answer_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids of "1".."5"."""
    return word_token_ids(tokenizer, ANSWERS)


def answer_words(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """What the tokenizer says its answer tokens are: the words of the answer logits' columns."""
    return [tokenizer.decode([i]) for i in answer_token_ids(tokenizer)]


TOKEN_FIELDS = ("input_ids", "attention_mask", "token_type_ids")
ENCODE_CHUNK = 256
"""Rows the processor tokenises per call while encoding a set (it also preprocesses their images)."""


def _processed(processor: ProcessorMixin, prompts: Sequence[str], images: Sequence[np.ndarray]):
    family = family_of_processor(processor)
    # Gemma 3's processor reads a flat list as one row's images; PaliGemma's as one image per row
    per_row = [[image] for image in images] if family is GEMMA3 else list(images)
    return processor(text=[processor.image_token + p + family.prompt_suffix for p in prompts], images=per_row,
                     padding="longest", padding_side="left", return_tensors="pt")


def _left_pad(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(t, (width - t.shape[1], 0), value=value)


@dataclass(frozen=True)
class EncodedPrompts:
    """Many rows' prompts tokenised once, left-padded to the longest row.

    Training and scoring take thousands of batches from the same rows; tokenising them once
    instead of per batch is a measurable share of a small model's step. A batch keeps only the
    padding its longest row needs, so its tensors equal what the processor gives for those rows
    alone (tested); images are processed per batch (a corpus of 224-px frames would not fit in
    memory)."""

    processor: ProcessorMixin
    tokens: dict[str, torch.Tensor]

    @classmethod
    def of(cls, processor: ProcessorMixin, prompts: Sequence[str], images: Sequence[np.ndarray]) -> EncodedPrompts:
        """``images`` only satisfy the processor's layout check; their pixels are not kept."""
        chunks = [_processed(processor, prompts[i : i + ENCODE_CHUNK], images[i : i + ENCODE_CHUNK])
                  for i in range(0, len(prompts), ENCODE_CHUNK)]
        width = max((c["input_ids"].shape[1] for c in chunks), default=0)
        pad = {"input_ids": processor.tokenizer.pad_token_id, "attention_mask": 0, "token_type_ids": 0}
        tokens = {k: torch.cat([_left_pad(c[k], width, pad[k]) for c in chunks]) if chunks
                  else torch.zeros((0, 0), dtype=torch.long) for k in TOKEN_FIELDS}
        return cls(processor, tokens)

    def __len__(self) -> int:
        return len(self.tokens["input_ids"])

    def batch(self, rows: Sequence[int] | slice, images: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Model inputs of ``rows`` with their ``images``: answer at ``ANSWER_POSITION``."""
        mask = self.tokens["attention_mask"][rows]
        width = int(mask.sum(1).max())
        batch = {k: self.tokens[k][rows][:, -width:] for k in TOKEN_FIELDS}
        batch["pixel_values"] = self.processor.image_processor(list(images), return_tensors="pt")["pixel_values"]
        return _with_positions(batch, self.processor)


def _with_positions(batch: dict[str, torch.Tensor], processor: ProcessorMixin) -> dict[str, torch.Tensor]:
    """``position_ids`` counting real tokens from the family's first position, as ``generate()`` derives
    them from the mask (padding positions are masked: 0)."""
    first = family_of_processor(processor).first_position
    batch["position_ids"] = (batch["attention_mask"].long().cumsum(-1) - 1 + first).clamp(min=0)
    return batch


def build_batch(processor: ProcessorMixin, prompts: Sequence[str], images: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """Model inputs for (prompt, frame) pairs: left-padded prefixes, answer at ``ANSWER_POSITION``."""
    enc = _processed(processor, prompts, images)
    return _with_positions({k: enc[k] for k in (*TOKEN_FIELDS, "pixel_values")}, processor)


def answer_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor], answer_ids: Sequence[int]) -> torch.Tensor:
    """(batch, 5) logits of the answer tokens at the answer position (differentiable)."""
    out = model(**batch, logits_to_keep=1, use_cache=False)  # no key/value cache: nothing is decoded after it
    return out.logits[:, ANSWER_POSITION, list(answer_ids)].float()


def expected_score(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Expected answer 1..5 under softmax(``logits``) over the five answer tokens."""
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=-1)
    return (probs @ torch.arange(1, len(ANSWERS) + 1, dtype=torch.float32)).numpy()


def _batches(n: int, batch_size: int, desc: str):
    return tqdm(range(0, n, batch_size), desc=desc, unit="batch", leave=False)


def on_model_device(batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    device = next(model.parameters()).device
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def score_examples(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    images: np.ndarray,
    batch_size: int,
    desc: str = "scoring",
) -> np.ndarray:
    """(n, 5) answer logits, one forward pass per batch, on the model's device.

    Under ``accelerate launch`` / ``torchrun`` each process scores a contiguous share of the rows
    (``split_between_processes``) and every process gets all rows back, in order."""
    from accelerate.utils import gather_object

    model.eval()
    answer_ids = answer_token_ids(processor.tokenizer)
    state = process_state()
    with state.split_between_processes(list(range(len(prompts)))) as mine:
        start, stop = (mine[0], mine[-1] + 1) if mine else (0, 0)
        encoded = EncodedPrompts.of(processor, prompts[start:stop], images[start:stop])
        out = [np.zeros((0, len(ANSWERS)), np.float32)]
        for i in _batches(stop - start, batch_size, desc):
            rows = slice(i, min(stop - start, i + batch_size))
            batch = on_model_device(encoded.batch(rows, images[start:stop][rows]), model)
            out.append(answer_logits(model, batch, answer_ids).float().cpu().numpy())
    logits = np.concatenate(out)
    return np.concatenate(gather_object([logits])) if state.num_processes > 1 else logits


def score_saved(model_dir: str | Path, data: ProcessedData, examples: Sequence[dict], batch_size: int, template: str,
                desc: str = "scoring", modalities: str | None = None) -> tuple[np.ndarray, list[str]]:
    """(n, 5) answer logits of a saved model on ``examples``, and the answer words of their columns. The
    prompts carry ``modalities`` (default: those the model was trained with)."""
    model, processor = load_vlm(model_dir)
    prompts = prompts_for(examples, modalities or model_modalities(model_dir), template)
    logits = score_examples(model, processor, prompts, data.frames(examples), batch_size, desc=desc)
    return logits, answer_words(processor.tokenizer)


def score_runs(models: str | Path, data: ProcessedData, seed: int, batch_size: int, template: str,
               modalities: str | None = None) -> tuple[np.ndarray, list[dict]]:
    """Answer logits on the test videos of every selected fold, each fold's by its own run of ``seed``
    (``models/<run>``), and the examples they score (fold by fold); prompts as :func:`score_saved`'s."""
    logits, examples = [], []
    for run in runs(data.splits_file, [seed]):
        test = data.for_fold(run.fold).examples("test")
        logits.append(score_saved(Path(models) / run.name, data, test, batch_size, template,
                                  desc=f"scoring {Path(models).name} {run.name}", modalities=modalities)[0])
        examples += test
    return np.concatenate(logits), examples


@torch.no_grad()
def generate_answers(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    images: np.ndarray,
    batch_size: int,
    max_new_tokens: int = 2,
) -> list[str]:
    """Greedy ``generate()`` answers (the slow way; only a reference for tests and benchmarks)."""
    model.eval()
    answers: list[str] = []
    for i in _batches(len(prompts), batch_size, "generate"):
        batch = build_batch(processor, prompts[i : i + batch_size], images[i : i + batch_size])
        batch.pop("position_ids")  # generate() derives the same ones from attention_mask
        batch = on_model_device(batch, model)
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[:, batch["input_ids"].shape[1] :]
        answers += [t.strip() for t in processor.tokenizer.batch_decode(new, skip_special_tokens=True)]
    return answers


def generate_scores(answers: Sequence[str]) -> np.ndarray:
    """Scores parsed from generated text: the first answer digit, 3 (the middle) when there is none."""
    scores = []
    for text in answers:
        digit = next((w for w in text.split() if w in ANSWERS), None)
        scores.append(float(digit) if digit else 3.0)
    return np.asarray(scores, np.float32)
