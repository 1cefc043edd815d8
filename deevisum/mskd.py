"""The model stages as library calls: train a role, store its answer distributions, score tests.

Stage scripts (``finetune_teacher``, ``mskd_stage1..3``, ``train_student``, ``score``) are thin
wrappers around these. Each trained model directory also holds ``prompt.json`` (which
modalities its prompts carry), so scoring and early exit re-render the prompts the model was
trained on (``model_prompts``).

Student variants (``STUDENT_VARIANTS``): ``ce`` (CE only), ``kd`` (single-stage KD from the
teacher: ``L = CE + phi * KL(P_s || P_t)``), and the modality ablation ``frame`` /
``frame_text`` (CE only; their frame+text+audio counterpart is ``ce``). Every variant trains the
student architecture on the same examples with the same ``train`` params as the MSKD student.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from accelerate import PartialState

from deevisum.distillation import check_answer_vocab, load_distributions, save_distributions
from deevisum.ee_evaluation import scores_file
from deevisum.examples import example_key, load_frames, read_examples, select, video_fps
from deevisum.io import atomic_path, read_json, write_json
from deevisum.models import build_vlm, load_vlm, save_vlm
from deevisum.params import ModelParams, TrainParams, to_dict
from deevisum.prompts import render_prompt
from deevisum.scoring import answer_token_ids, score_examples
from deevisum.training import ExampleSet, KDConfig, train_vlm

EXAMPLES = Path("data/processed/examples.jsonl")
FRAMES = Path("data/processed/frames.h5")
SPLITS = Path("data/processed/splits.json")
TOKENIZER = Path("models/tokenizer")
DISTILL = Path("data/distill")
FULL = "frame_text_audio"
PROMPT_FILE = "prompt.json"


@dataclass(frozen=True)
class StudentVariant:
    """An ablation student: the stored distributions it learns from and what its prompts carry."""

    kd_from: tuple[str, ...]
    modalities: str = FULL


STUDENT_VARIANTS: dict[str, StudentVariant] = {
    "ce": StudentVariant(kd_from=()),
    "kd": StudentVariant(kd_from=("teacher",)),
    "frame": StudentVariant(kd_from=(), modalities="frame"),
    "frame_text": StudentVariant(kd_from=(), modalities="frame_text"),
}


def split_examples(*splits: str) -> list[dict]:
    """Examples of the selected fold's ``splits`` (``train``/``val``/``test``), in stored order."""
    chosen = read_json(SPLITS)
    return select(read_examples(EXAMPLES), [v for s in splits for v in chosen[s]])


def prompts_for(examples: list[dict], modalities: str, template: str) -> list[str]:
    """The stored prompts (all modalities), or re-rendered for a modality subset."""
    if modalities == FULL:
        return [e["prompt"] for e in examples]
    return [render_prompt(e, template, modalities) for e in examples]


def model_prompts(model_dir: str | Path, examples: list[dict], template: str) -> list[str]:
    """The prompts a saved model was trained with (its ``prompt.json``)."""
    spec = Path(model_dir) / PROMPT_FILE
    modalities = json.loads(spec.read_text(encoding="utf-8"))["modalities"] if spec.is_file() else FULL
    return prompts_for(examples, modalities, template)


def answer_targets(examples: list[dict], soft: bool) -> np.ndarray:
    """(n, 5): the annotators' score distribution (``soft``) or the one-hot rounded mean score."""
    if soft:
        return np.asarray([e["target_dist"] for e in examples], np.float32)
    return np.eye(5, dtype=np.float32)[[int(e["target"]) - 1 for e in examples]]


def example_set(examples: list[dict], prompts: list[str], soft: bool, kd_logits: dict | None = None) -> ExampleSet:
    return ExampleSet(prompts=prompts, images=load_frames(FRAMES, examples),
                      targets=answer_targets(examples, soft), kd_logits=kd_logits or {})


def stored_logits(name: str, examples: list[dict], answer_ids: list[int]):
    """Stored answer logits of model ``name`` for ``examples``; fails unless it shares our answer tokens."""
    logits, stored_ids = load_distributions(DISTILL / f"{name}.safetensors", [example_key(e) for e in examples])
    check_answer_vocab({name: stored_ids, "model being trained": answer_ids})
    return logits


def train_role(name: str, mp: ModelParams, cfg: TrainParams, image_size: int, kd: KDConfig,
               modalities: str = FULL, template: str = "") -> None:
    """Build role ``mp``, train it (KD against ``data/distill/<target>.safetensors``), save ``models/<name>``.

    Writes ``plots/train/<name>.csv`` (per-epoch curves) and resumes from ``checkpoints/<name>``.
    """
    model, processor = build_vlm(mp, TOKENIZER, image_size, cfg.seed)
    if mp.lr is not None:
        cfg = replace(cfg, lr=mp.lr)
    answer_ids = answer_token_ids(processor.tokenizer)
    sets = {}
    for split in ("train", "val"):
        examples = split_examples(split)
        kd_logits = {t: stored_logits(t, examples, answer_ids) for t, w in kd.weights.items() if w}
        sets[split] = example_set(examples, prompts_for(examples, modalities, template), cfg.soft_targets, kd_logits)
    run_config = {"name": name, "model": to_dict(mp), "architecture": model.config.to_dict(),  # never resume another one
                  "train": to_dict(cfg), "kd": to_dict(kd),
                  "modalities": modalities, "image_size": image_size,
                  "data": [s.digest() for s in sets.values()]}
    model = train_vlm(model, processor, sets["train"], sets["val"], cfg, kd, Path("checkpoints") / name,
                      Path("plots/train") / f"{name}.csv", run_config, desc=name)
    if PartialState().is_main_process:
        with atomic_path(Path("models") / name) as tmp:
            save_vlm(model, processor, tmp, mp)
            (tmp / PROMPT_FILE).write_text(json.dumps({"modalities": modalities}) + "\n", encoding="utf-8")
    PartialState().wait_for_everyone()  # under accelerate, no process goes on before the model is saved


def store_distributions(name: str, batch_size: int, template: str = "") -> None:
    """Answer logits of ``models/<name>`` on the train and val examples -> ``data/distill/<name>.safetensors``.

    Inference, once: under accelerate only the main process runs it (the others would write the same file).
    """
    if not PartialState().is_main_process:
        return
    model_dir = Path("models") / name
    model, processor = load_vlm(model_dir)
    examples = split_examples("train", "val")
    logits = score_examples(model, processor, model_prompts(model_dir, examples, template),
                            load_frames(FRAMES, examples), batch_size, desc=f"{name} distributions")
    save_distributions(DISTILL / f"{name}.safetensors", [example_key(e) for e in examples], logits,
                       answer_token_ids(processor.tokenizer))


def score_test(name: str, batch_size: int, template: str, out: str | Path) -> None:
    """Per-second expected scores of ``models/<name>`` on the test videos, as a scores file."""
    model_dir = Path("models") / name
    model, processor = load_vlm(model_dir)
    examples = split_examples("test")
    logits = score_examples(model, processor, model_prompts(model_dir, examples, template),
                            load_frames(FRAMES, examples), batch_size, desc=f"scoring {name}")
    write_json(out, scores_file(logits, examples, video_fps(FRAMES, sorted({e["video_id"] for e in examples}))))
