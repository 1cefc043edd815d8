"""The model roles of MSKD: train one (teacher, mentor, student, ablation student), store its answers.

Stage scripts (``finetune_teacher``, ``mskd_stage1..3``, ``train_student``) are thin wrappers
around these. Each trained model directory also records which modalities its prompts carry
(:func:`deevisum.models.vlm.model_modalities`), so scoring and early exit re-render the prompts
the model was trained on.

Student variants (``STUDENT_VARIANTS``): ``ce`` (CE only), ``kd`` (single-stage KD from the
teacher with the MSKD student's total KD weight: ``L = CE + (phi + psi) * KD(teacher)``), and the modality ablation ``frame`` /
``frame_title`` / ``frame_title_audio`` (CE only; with speech too it is ``ce``), one modality added
per step. Every variant trains the
student architecture on the same examples with the same ``train`` params as the MSKD student.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deevisum.checkpointing import Checkpoint, code_digest, fingerprint
from deevisum.config import ArchParams, ModelParams, TrainParams, to_dict
from deevisum.data.examples import ProcessedData, answer_targets, example_key
from deevisum.data.prompts import FULL, prompts_for
from deevisum.data.splits import Run, runs
from deevisum.distill.distributions import load_distributions, save_distributions
from deevisum.distill.losses import check_answers
from deevisum.distill.parallel import run_in_parallel
from deevisum.distill.trainer import ExampleSet, ExitAwareLoss, KDConfig, train_vlm
from deevisum.io import atomic_path
from deevisum.models.scoring import answer_words, score_saved
from deevisum.models.vlm import build_vlm, process_state, save_modalities, save_vlm
from deevisum.tracking import write_curves


@dataclass(frozen=True)
class StudentVariant:
    """An ablation student: the stored distributions it learns from and what its prompts carry."""

    kd_from: tuple[str, ...]
    modalities: str = FULL


STUDENT_VARIANTS: dict[str, StudentVariant] = {
    "ce": StudentVariant(kd_from=()),
    "kd": StudentVariant(kd_from=("teacher",)),
    "frame": StudentVariant(kd_from=(), modalities="frame"),
    "frame_title": StudentVariant(kd_from=(), modalities="frame_title"),
    "frame_title_audio": StudentVariant(kd_from=(), modalities="frame_title_audio"),
}


def stored_logits(path: str | Path, examples: list[dict], answers: list[str]):
    """Stored answer logits for ``examples``; fails unless their columns are the answers of ours."""
    logits, stored = load_distributions(path, [example_key(e) for e in examples])
    check_answers({str(path): stored, "model being trained": answers})
    return logits


@dataclass(frozen=True)
class RoleFiles:
    """Where a training role reads and writes: folders that hold one entry per :class:`Run`."""

    tokenizer: Path
    """The tokenizer of ``tiny`` sources (a checkpoint brings its own)."""
    model: Path
    """The role's models folder (written): ``<run.name>/`` per run."""
    checkpoint: Path
    curves: Path
    """dvclive folder of the per-epoch curves, a ``<run.name>/`` prefix per run."""
    kd_targets: Mapping[str, Path]
    """KD target name (``teacher``, ``mentor``) -> its distributions folder (``<run.name>.safetensors``)."""


ROLE_PATHS = ("examples", "splits", "frames", "tokenizer", "model", "checkpoint", "curves")
"""The command-line paths of every training stage (``deevisum.app.stage.stage_args``)."""


def distributions_file(folder: str | Path, run: Run) -> Path:
    return Path(folder) / f"{run.name}.safetensors"


def role_inputs(args: Any, **kd_targets: Path) -> tuple[ProcessedData, RoleFiles]:
    """The data and files of a training stage from its parsed ``ROLE_PATHS`` (plus KD target folders)."""
    return (ProcessedData(args.examples, args.splits, args.frames),
            RoleFiles(args.tokenizer, args.model, args.checkpoint, args.curves, kd_targets))


@dataclass(frozen=True)
class RoleJob:
    """One model to train: a role's checkpoint and architecture, its finetuning, and the run (fold, seed)."""

    mp: ModelParams
    arch: ArchParams
    """The architecture a ``tiny`` source builds."""
    cfg: TrainParams
    image_size: int
    kd: KDConfig
    data: ProcessedData
    files: RoleFiles
    run: Run
    modalities: str = FULL
    template: str = ""
    exits: ExitAwareLoss | None = None
    """Exit-aware training (the students, when ``ee.exit_aware`` is on)."""


def role_jobs(mp: ModelParams, arch: ArchParams, cfg: TrainParams, image_size: int, kd: KDConfig, data: ProcessedData,
              files: RoleFiles, modalities: str = FULL, template: str = "", exits: ExitAwareLoss | None = None) -> list[RoleJob]:
    """One job per run (selected fold x ``cfg.seeds``), each training into ``files.model/<run>``."""
    return [RoleJob(mp, arch, cfg, image_size, kd, data.for_fold(run.fold), files, run, modalities, template, exits)
            for run in runs(data.splits_file, cfg.seeds)]


def train_jobs(jobs: Sequence[RoleJob]) -> dict[Path, dict[str, list[dict[str, float]]]]:
    """Train every job (:func:`run_in_parallel`) and write each role's curves; the histories by curves
    folder and run name. A job resumes from its checkpoint when params, data and code are unchanged."""
    histories: dict[Path, dict[str, list[dict[str, float]]]] = {}
    for job, history in zip(jobs, run_in_parallel(_train_job, jobs, "training runs")):
        histories.setdefault(job.files.curves, {})[job.run.name] = history
    if process_state().is_main_process:
        for curves, by_run in histories.items():
            write_curves(by_run, curves)
    return histories


def _train_job(job: RoleJob) -> list[dict[str, float]]:
    mp, run, files = job.mp, job.run, job.files
    model, processor = build_vlm(mp, job.arch, files.tokenizer, job.image_size, run.seed)
    cfg = replace(job.cfg, lr=mp.lr) if mp.lr is not None else job.cfg
    answers = answer_words(processor.tokenizer)
    sets = {}
    for split in ("train", "val"):
        examples = job.data.examples(split)
        kd_logits = {t: stored_logits(distributions_file(files.kd_targets[t], run), examples, answers)
                     for t, w in job.kd.weights.items() if w}
        sets[split] = ExampleSet(prompts_for(examples, job.modalities, job.template), job.data.frames(examples),
                                 answer_targets(examples, cfg.soft_targets), kd_logits)
    run_config = {"model": to_dict(mp), "architecture": model.config.to_dict(), "train": to_dict(cfg), "seed": run.seed,
                  "kd": to_dict(job.kd), "modalities": job.modalities, "image_size": job.image_size,
                  "exits": to_dict(job.exits) if job.exits is not None else None,
                  "data": [s.digest() for s in sets.values()], "code": code_digest(__name__)}
    checkpoint = Checkpoint(files.checkpoint / run.name, fingerprint(run_config))
    model, history = train_vlm(model, processor, sets["train"], sets["val"], cfg, job.kd, checkpoint, run.seed,
                               desc=f"{files.model.name} {run.name}", exits=job.exits)
    if process_state().is_main_process:
        with atomic_path(files.model / run.name) as tmp:
            save_vlm(model, processor, tmp, mp)
            save_modalities(tmp, job.modalities)
    process_state().wait_for_everyone()  # under accelerate, no process goes on before the model is saved
    return history


def store_distributions(models: str | Path, data: ProcessedData, out: str | Path, batch_size: int, seeds: list[int],
                        template: str = "") -> None:
    """Answer logits of each run's saved model on its fold's train and val examples -> ``out/<run>.safetensors``.

    Under accelerate every process scores its share of the rows (``score_examples``); the main process writes.
    """
    state = process_state()
    Path(out).mkdir(parents=True, exist_ok=True)
    for run in runs(data.splits_file, seeds):
        examples = data.for_fold(run.fold).examples("train", "val")
        model_dir = Path(models) / run.name
        logits, answers = score_saved(model_dir, data, examples, batch_size, template,
                                      desc=f"{Path(models).name} {run.name} distributions")
        if state.is_main_process:
            save_distributions(distributions_file(out, run), [example_key(e) for e in examples], logits, answers)
    state.wait_for_everyone()
