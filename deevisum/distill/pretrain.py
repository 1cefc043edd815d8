"""Pretraining of the roles' tiny architectures: the demo's stand-in for PaliGemma2's pretrained checkpoints.

The paper's teacher, mentor and student all start from pretrained checkpoints, and their size is
why the teacher knows more. The demo's roles get the same start: each role's architecture
(``pretrain.<role>``) is trained from random weights on a pretraining corpus, the demo's
generator under its own seed (``pretrain.corpus``, disjoint from the annotated demo), processed
by the pipeline's own extraction, ASR, cue and prompt code (``stages/pretrain_corpus.py``). Its
labels are the generator's latent importance ``l`` of each second, as the answer score ``4 l + 1``
coded two-hot over the two neighbouring answers (:func:`latent_targets`), not the simulated
annotators' noisy ratings. Held-out corpus videos select the epoch kept. Each role's checkpoint
(``models/pretrained/<role>``: weights, config, processor and tokenizer) is what the role's
``source`` loads with ``from_pretrained``, exactly as it would load a Hugging Face id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deevisum.checkpointing import Checkpoint, code_digest, fingerprint
from deevisum.config import ArchParams, ModelParams, PretrainParams, TrainParams, to_dict
from deevisum.data.captions import caption_words, captions
from deevisum.data.demo.plan import COLOURS, OBJECTS, read_videos
from deevisum.data.examples import N_SCORES, read_examples, select
from deevisum.data.frames_store import load_example_frames
from deevisum.distill.parallel import run_in_parallel
from deevisum.distill.trainer import ExampleSet, KDConfig, train_vlm
from deevisum.io import atomic_path
from deevisum.models.vlm import build_tiny, save_vlm
from deevisum.tracking import write_curves


def latent_targets(latent: Sequence[float]) -> np.ndarray:
    """(n, 5): latent importance ``l`` in [0, 1] as the answer score ``s = 4 l + 1`` in [1, 5], two-hot: weight
    ``1 - frac(s)`` on answer ``floor(s)`` and ``frac(s)`` on the next, so the expected answer is exactly ``s``."""
    score = 4 * np.clip(np.asarray(latent, np.float64), 0, 1) + 1
    low = np.minimum(np.floor(score), N_SCORES - 1).astype(int)
    frac = score - low
    out = np.zeros((len(score), N_SCORES), np.float32)
    rows = np.arange(len(score))
    out[rows, low - 1] = 1 - frac
    out[rows, low] = frac
    return out


def held_out_videos(video_ids: Sequence[str], n: int, seed: int) -> list[str]:
    """The ``n`` corpus videos that select the epoch (a seeded draw)."""
    return sorted(np.random.default_rng(seed).choice(sorted(video_ids), n, replace=False).tolist())


def pretrain_config(p: PretrainParams, arch: ArchParams) -> TrainParams:
    """The trainer's settings for one architecture's pretraining (the rest at their defaults)."""
    return TrainParams(seeds=[p.seed], epochs=arch.epochs, batch_size=p.batch_size, lr=arch.lr, warmup_steps=p.warmup_steps)


@dataclass(frozen=True)
class PretrainJob:
    """One role's pretraining: its architecture on the processed corpus, into ``out``."""

    role: str
    arch: ArchParams
    params: PretrainParams
    image_size: int
    examples: Path
    frames: Path
    events: Path
    """The corpus's ``demo-events.json``: the latent importance of every second."""
    tokenizer: Path
    out: Path
    """``models/pretrained/<role>``"""
    checkpoint: Path


def _sets(job: PretrainJob) -> dict[str, ExampleSet]:
    """Training: each second's importance prompt and its captions (:mod:`deevisum.data.captions`);
    validation (the held-out videos): importance only, the task the epoch is chosen for."""
    examples = read_examples(job.examples)
    truth = read_videos(job.events)
    videos = sorted({e["video_id"] for e in examples})
    val = held_out_videos(videos, job.params.val_videos, job.params.seed)
    words = caption_words(list(COLOURS), list(OBJECTS))
    sets = {}
    for split, chosen in (("train", sorted(set(videos) - set(val))), ("val", val)):
        rows = select(examples, chosen)
        prompts, index, answers = [e["prompt"] for e in rows], list(range(len(rows))), []
        if split == "train":
            for i, e in enumerate(rows):
                for prompt, word in captions(e, truth[e["video_id"]]["events"]):
                    prompts.append(prompt)
                    index.append(i)
                    answers.append(N_SCORES + words.index(word))
        targets = np.zeros((len(prompts), N_SCORES + len(words)), np.float32)
        targets[: len(rows), :N_SCORES] = latent_targets([truth[e["video_id"]]["latent"][e["second"]] for e in rows])
        targets[np.arange(len(rows), len(prompts)), answers] = 1.0
        sets[split] = ExampleSet(prompts, load_example_frames(job.frames, rows)[index], targets, words=words)
    return sets


def _pretrain(job: PretrainJob) -> list[dict[str, float]]:
    model, processor = build_tiny(job.arch, job.tokenizer, job.image_size, job.params.seed)
    cfg = pretrain_config(job.params, job.arch)
    sets = _sets(job)
    run_config = {"role": job.role, "architecture": model.config.to_dict(), "train": to_dict(cfg), "image_size": job.image_size,
                  "data": [s.digest() for s in sets.values()], "code": code_digest(__name__)}
    checkpoint = Checkpoint(job.checkpoint, fingerprint(run_config))
    model, history = train_vlm(model, processor, sets["train"], sets["val"], cfg, KDConfig(), checkpoint,
                               job.params.seed, desc=f"pretrain {job.role}")
    with atomic_path(job.out) as tmp:
        save_vlm(model, processor, tmp, ModelParams(source="tiny"))
    return history


def pretrain_roles(jobs: Sequence[PretrainJob], curves: str | Path) -> None:
    """Pretrain every job's role side by side (:func:`~deevisum.distill.parallel.run_in_parallel`); each
    resumes from its checkpoint when params, data and code are unchanged. Curves: one dvclive folder,
    a ``<role>/`` prefix each."""
    histories = run_in_parallel(_pretrain, jobs, "pretraining")
    write_curves({job.role: history for job, history in zip(jobs, histories)}, curves)
