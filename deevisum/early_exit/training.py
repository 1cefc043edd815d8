"""Training of early-exit heads and prototypes on a frozen model.

The frozen decoder is run ONCE over the training examples (no grad) and the hidden states at
the exit layers plus the final answer logits are cached; the heads then train for many epochs
on those small tensors, which takes seconds.

Per exit i the loss is
    CE(head_i, targets) + kd_weight * KD(P_head_i, P_final) + MSE(gamma_i, 1 - 2 TV(P_head_i, P_final))
with the same answer targets the student was trained on (the annotators' distribution, or one-hot).
Agreeing with full depth needs no annotation, so ``ee.train.unlabelled_videos`` videos of the
pretraining corpus join the training rows with the student's own full-depth answer as their target:
on the demo, heads trained on the fold's ~500 rows alone agree with full depth on fewer held-out rows.
The last term (``ee.train.gamma: closeness``) regresses gamma_i = cos(p_i, q) onto how close the
head's answer distribution is to the one full depth gives (1: identical, -1: disjoint) on the
training states; with ``joint`` (the paper's) it is absent: the head answers through its
prototypes, which learn from the first two terms alone. Then each
exit's agreement classifier is fitted (binary cross-entropy, heads fixed) to whether the exit's
answer agrees with full depth (``calibration.agrees``). On the rows the heads were trained on
they agree far more often than on new rows (with a small student, nearly always), so with
``ee.train.cross_fit_folds`` K > 1 the labels and answers come from K heads each trained with
one K-th of the training videos held out, applied to those held-out videos (cross-fitting):
the classifier learns what disagreement looks like on rows a head has not seen.

The validation states are never trained on, nor are the ``ee.calibration_videos`` corpus videos
that follow the unlabelled ones: the heads' answers and every confidence on the calibration rows (those
videos, or else the fold's validation videos) are saved next to the heads (``VALIDATION``), the
held-out rows the evaluate stage calibrates on.

Resume: the cached states and the heads' epochs live in a
:class:`~deevisum.checkpointing.Checkpoint` whose fingerprint covers the params, the frozen
inputs (student, examples, frames, splits) and the code that turns them into states and heads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm
from transformers import PaliGemmaProcessor

from deevisum.checkpointing import (
    Checkpoint,
    code_digest,
    files_digest,
    fingerprint,
    load_optimizer,
    optimizer_tensors,
)
from deevisum.config import EEParams, ExitTrainParams
from deevisum.data.examples import ProcessedData, answer_targets, example_key, read_examples
from deevisum.data.frames_store import load_example_frames
from deevisum.data.prompts import prompts_for
from deevisum.data.splits import runs
from deevisum.distill.losses import kd_term
from deevisum.early_exit.calibration import agrees, auroc
from deevisum.early_exit.heads import (
    CONFIDENCES,
    VIDEO_CODES,
    ExitConfig,
    ExitHeads,
    save_exit_heads,
)
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.timing import example_batches
from deevisum.io import InputError, atomic_path, save_tensors, seed_everything, tensors_index
from deevisum.models.scoring import ANSWER_POSITION, answer_token_ids
from deevisum.models.vlm import load_vlm, model_modalities
from deevisum.tracking import write_curves

STATES_CACHE = "states.safetensors"
"""The cached exit states, next to the checkpoint's slots."""
AGREEMENT_STEPS = 300
"""Full-batch steps of the agreement classifiers (a few hundred small rows per exit)."""


@dataclass
class ExitData:
    """Cached training material: what the frozen model computes once."""

    states: list[torch.Tensor]
    """Per exit layer: (N, D) hidden states at the answer position."""
    final_logits: torch.Tensor
    """(N, n_answers) the model's full-depth answer logits (distillation target)."""
    targets: torch.Tensor
    """(N, n_answers) answer target distribution (soft, or one-hot for hard targets)."""

    def joined(self, other: ExitData) -> ExitData:
        """These rows, then ``other``'s."""
        return ExitData([torch.cat(pair) for pair in zip(self.states, other.states)],
                        torch.cat([self.final_logits, other.final_logits]), torch.cat([self.targets, other.targets]))

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"state_{i}": s.contiguous() for i, s in enumerate(self.states)}
        return {**out, "final_logits": self.final_logits.contiguous(), "targets": self.targets.contiguous()}

    @classmethod
    def from_tensors(cls, t: Mapping[str, torch.Tensor]) -> ExitData:
        n = sum(1 for k in t if k.startswith("state_"))
        return cls([t[f"state_{i}"] for i in range(n)], t["final_logits"], t["targets"])


def collect_exit_data(
    runner: EarlyExitRunner, batches: Iterable[tuple[Mapping[str, torch.Tensor], torch.Tensor, torch.Tensor]]
) -> ExitData:
    """One no-grad full-depth pass; ``batches`` yield (model inputs, answer positions, targets (B, n_answers))."""
    per_exit: list[list[torch.Tensor]] = []
    finals, targets = [], []
    for inputs, answer_pos, y in tqdm(batches, desc="caching exit states", unit="batch"):
        states, final = runner.collect(inputs, answer_pos)
        per_exit = per_exit or [[] for _ in states]
        for store, s in zip(per_exit, states):
            store.append(s)
        finals.append(final)
        targets.append(y.float())
    return ExitData([torch.cat(s) for s in per_exit], torch.cat(finals), torch.cat(targets))


def collect_examples(
    runner: EarlyExitRunner, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray, targets: np.ndarray, batch_size: int
) -> ExitData:
    """:func:`collect_exit_data` over examples given as scoring inputs (prompts, frames) and targets (n, 5)."""
    batches = example_batches(processor, prompts, images, batch_size)
    y = torch.as_tensor(targets, dtype=torch.float32)
    return collect_exit_data(runner, [(b, ANSWER_POSITION, y[i * batch_size : (i + 1) * batch_size]) for i, b in enumerate(batches)])


def exit_losses(heads: ExitHeads, data: ExitData, kd_weight: float, direction: str = "forward") -> dict[str, torch.Tensor]:
    """Summed-over-exits CE, KD (``distill.losses.kd_term`` at T = 1, ``direction``) and confidence losses."""
    target = torch.softmax(data.final_logits, dim=-1)
    zero = data.final_logits.new_zeros(())
    ce, kd, conf = zero, zero, zero
    for i, h in enumerate(data.states):
        logits, gamma = heads(i, h)
        log_p = torch.log_softmax(logits, dim=-1)
        ce = ce - (data.targets * log_p).sum(-1).mean()
        kd = kd + kd_term(logits, data.final_logits, 1.0, direction).mean()
        if heads.config.gamma == "closeness":
            closeness = 1.0 - (log_p.exp().detach() - target).abs().sum(-1)  # 1 - 2 TV
            conf = conf + nn.functional.mse_loss(gamma, closeness)
    return {"loss": ce + kd_weight * kd + conf, "ce": ce, "kd": kd, "conf": conf}


@torch.no_grad()
def exit_outputs(heads: ExitHeads, data: ExitData) -> dict[str, torch.Tensor]:
    """Per exit i: ``logits_i`` and ``<measure>_i`` for every confidence measure; plus ``final_logits``."""
    out = {"final_logits": data.final_logits.float().cpu()}
    for i, h in enumerate(data.states):
        logits, confidences = heads.confidences(i, h)
        out[f"logits_{i}"] = logits.float().cpu()
        out |= {f"{m}_{i}": c.float().cpu() for m, c in confidences.items()}
    return out


@torch.no_grad()
def exit_quality(heads: ExitHeads, data: ExitData, tolerance: float | None) -> dict[str, float]:
    """Per exit: accuracy (argmax vs the targets' argmax), agreement with full depth, and the AUROC
    of each confidence measure for that agreement."""
    final, label = data.final_logits.argmax(-1), data.targets.argmax(-1)
    out = {"full_acc": float((final == label).float().mean())}
    outputs = exit_outputs(heads, data)
    for i, layer in enumerate(heads.config.exit_layers):
        logits = outputs[f"logits_{i}"]
        agree = agrees(logits, data.final_logits, tolerance)
        out[f"exit{layer}_acc"] = float((logits.argmax(-1) == label).float().mean())
        out[f"exit{layer}_agree"] = float(agree.float().mean())
        for m in CONFIDENCES:
            out[f"exit{layer}_auroc_{m}"] = auroc(outputs[f"{m}_{i}"].numpy(), agree.numpy())
    return out


def fit_agreement(heads: ExitHeads, data: ExitData, tolerance: float | None, params: ExitTrainParams,
                  answers: Sequence[torch.Tensor] | None = None) -> None:
    """Fit each exit's agreement classifier (full batch, the heads fixed) on ``data``: to the heads' own
    answers, or to ``answers`` (per exit (N, n_answers) logits, e.g. :func:`out_of_fold_answers`)."""
    torch.manual_seed(params.seed)
    opt = torch.optim.Adam(heads.agreement.parameters(), lr=params.lr)
    with torch.no_grad():
        if answers is None:
            answers = [heads(i, h)[0] for i, h in enumerate(data.states)]
        labels = [agrees(logits, data.final_logits, tolerance).float() for logits in answers]
    for _ in range(AGREEMENT_STEPS):
        loss = sum(nn.functional.binary_cross_entropy_with_logits(heads.agreement_logit(i, h, logits), y)
                   for i, (h, logits, y) in enumerate(zip(data.states, answers, labels)))
        opt.zero_grad()
        loss.backward()
        opt.step()


def out_of_fold_answers(config: ExitConfig, train: ExitData, videos: Sequence[str], val: ExitData,
                        params: ExitTrainParams, checkpoint: Path, base_fingerprint: str, direction: str = "forward",
                        tolerance: float | None = None) -> list[torch.Tensor]:
    """Per exit, (N, n_answers) answer logits of every training row from heads trained without its video's fold:
    the training videos (sorted) are dealt into ``params.cross_fit_folds`` folds; each fold's heads train (resumable,
    ``checkpoint/crossfit<j>``) on the other folds."""
    names = sorted(set(videos))
    fold_of = {v: k % params.cross_fit_folds for k, v in enumerate(names)}
    folds = np.array([fold_of[v] for v in videos])
    out = [torch.empty_like(train.final_logits) for _ in config.exit_layers]
    for j in range(params.cross_fit_folds):
        held, kept = (torch.as_tensor(np.flatnonzero(m)) for m in (folds == j, folds != j))
        if len(held) == 0 or len(kept) == 0:
            raise ValueError(f"cross-fitting: {len(names)} training videos cannot fill {params.cross_fit_folds} folds")
        torch.manual_seed(params.seed + 1 + j)
        heads = ExitHeads(config)
        subset = ExitData([x[kept] for x in train.states], train.final_logits[kept], train.targets[kept])
        train_exit_heads(heads, subset, val, params,
                         Checkpoint(checkpoint / f"crossfit{j}", fingerprint({"base": base_fingerprint, "fold": j,
                                                                              "folds": params.cross_fit_folds})),
                         direction, tolerance)
        with torch.no_grad():
            for i, h in enumerate(train.states):
                out[i][held] = heads(i, h[held])[0]
    return out


def save_cached_data(checkpoint: str | Path, fingerprint: str, splits: Mapping[str, ExitData]) -> None:
    """Keep the collected exit states so an interrupted stage does not run the model again."""
    tensors = {f"{name}.{k}": v for name, d in splits.items() for k, v in d.to_tensors().items()}
    save_tensors(Path(checkpoint) / STATES_CACHE, tensors, {"fingerprint": fingerprint, "splits": list(splits)})


def load_cached_data(checkpoint: str | Path, fingerprint: str) -> dict[str, ExitData] | None:
    """The exit states cached by a run with the same fingerprint, else None."""
    path = Path(checkpoint) / STATES_CACHE
    if not path.is_file():
        return None
    meta = tensors_index(path)
    if meta.get("fingerprint") != fingerprint:
        return None
    tensors = load_file(str(path))
    return {
        name: ExitData.from_tensors({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(name + ".")})
        for name in meta["splits"]
    }


def train_exit_heads(
    heads: ExitHeads, train: ExitData, val: ExitData, params: ExitTrainParams, checkpoint: Checkpoint,
    direction: str = "forward", tolerance: float | None = None,
) -> list[dict[str, float]]:
    """Train ``heads`` in place for ``params.epochs``; returns one row of curves per epoch.

    After each epoch heads, optimizer and history go to ``checkpoint``, from which a run with the
    same fingerprint resumes. The shuffle of epoch e is drawn from ``seed + e``, so a resumed run
    sees the same order.
    """
    opt = torch.optim.Adam(heads.parameters(), lr=params.lr)
    history: list[dict[str, float]] = []
    state = checkpoint.state()
    if state is not None:
        heads.load_state_dict(checkpoint.tensors("heads"))
        load_optimizer(opt, checkpoint.tensors("optimizer"), state["param_groups"])
        history = state["history"]
        print(f"resuming exit-head training after epoch {len(history)}", flush=True)
    n = len(train.targets)
    steps = math.ceil(n / params.batch_size)
    for epoch in tqdm(range(len(history), params.epochs), desc="training exit heads", unit="epoch"):
        heads.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(params.seed + epoch))
        sums = {"loss": 0.0, "ce": 0.0, "kd": 0.0, "conf": 0.0}
        for s in range(steps):
            idx = order[s * params.batch_size : (s + 1) * params.batch_size]
            batch = ExitData([x[idx] for x in train.states], train.final_logits[idx], train.targets[idx])
            losses = exit_losses(heads, batch, params.kd_weight, direction)
            opt.zero_grad()
            losses["loss"].backward()
            opt.step()
            for k in sums:
                sums[k] += float(losses[k].detach()) / steps
        heads.eval()
        row = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in sums.items()}}
        row.update({f"val_{k}": v for k, v in exit_quality(heads, val, tolerance).items() if "auroc" not in k})
        history.append(row)
        tensors, groups = optimizer_tensors(opt)
        checkpoint.save({"heads": heads.state_dict(), "optimizer": tensors}, {"history": history, "param_groups": groups})
    return history


@dataclass
class CorpusVideos:
    """Videos of the domain without annotation (the pretraining corpus): what a head learns to agree with
    full depth on (``ee.train.unlabelled_videos``; the target is the student's own full-depth answer) and
    what the threshold can be calibrated on (``ee.calibration_videos``). Their labels are never read."""

    examples: list[dict]
    frames: np.ndarray
    digest: str
    """Of the files they were read from (part of the states' fingerprint)."""

    def videos(self) -> list[str]:
        """Each row's video id."""
        return [e["video_id"] for e in self.examples]


def read_corpus_videos(corpus: str | Path | None, counts: Sequence[int]) -> list[CorpusVideos | None]:
    """Consecutive groups of ``counts`` videos (in stored order) of a processed corpus folder
    (``examples.jsonl`` + ``frames.h5``), every row of each; None for a count of 0."""
    if not any(counts):
        return [None for _ in counts]
    if corpus is None:
        raise ValueError(f"{sum(counts)} corpus videos asked for: give the corpus folder to read them from")
    examples_file, frames_file = Path(corpus) / "examples.jsonl", Path(corpus) / "frames.h5"
    rows = read_examples(examples_file)
    order = list(dict.fromkeys(e["video_id"] for e in rows))
    if len(order) < sum(counts):
        raise InputError(examples_file, f"holds {len(order)} videos; ee.train.unlabelled_videos + ee.calibration_videos "
                                        f"ask for {sum(counts)}")
    digest, groups, first = files_digest(examples_file, frames_file), [], 0
    for count in counts:
        chosen = set(order[first : first + count])
        examples = [e for e in rows if e["video_id"] in chosen]
        groups.append(CorpusVideos(examples, load_example_frames(frames_file, examples), digest) if count else None)
        first += count
    return groups


def fit_exit_heads(student_dir: str | Path, data: ProcessedData, ee: EEParams, template: str, soft_targets: bool,
                   checkpoint_dir: str | Path, kl_direction: str = "forward", unlabelled: CorpusVideos | None = None,
                   calibration: CorpusVideos | None = None,
                   ) -> tuple[ExitHeads, list[dict[str, float]], dict[str, torch.Tensor]]:
    """Heads for ``ee.exit_layers`` of one frozen student (``data`` set to its fold): cache its states
    once, train the heads, fit the agreement classifiers.

    Prompts and targets are exactly the student's training ones; ``unlabelled`` rows join the training
    rows with the student's full-depth answer distribution as their target. Returns the heads (on the CPU),
    the curves and the heads' outputs on the rows the threshold is calibrated on (:func:`exit_outputs`, plus
    each row's video): the ``calibration`` videos, or else the fold's validation rows.
    """
    for name, given, wanted in (("ee.train.unlabelled_videos", unlabelled, ee.train.unlabelled_videos),
                                ("ee.calibration_videos", calibration, ee.calibration_videos)):
        got = len(set(given.videos())) if given is not None else 0
        if got != wanted:
            raise ValueError(f"{name} is {wanted}, but {got} such videos are given")
    seed_everything(ee.train.seed)
    model, processor = load_vlm(student_dir)
    for w in model.parameters():
        w.requires_grad_(False)
    answer_ids = answer_token_ids(processor.tokenizer)
    config = ExitConfig(hidden_size=model.config.get_text_config().hidden_size, exit_layers=list(ee.exit_layers),
                        n_answers=len(answer_ids), head_dim=ee.train.head_dim, gamma=ee.train.gamma,
                        n_prototypes=len(answer_ids) if ee.train.gamma == "joint" else ee.train.n_prototypes)
    heads = ExitHeads(config)
    runner = EarlyExitRunner(model, answer_ids, heads)
    inputs = files_digest(student_dir, data.examples_file, data.frames_file)
    fold = {split: data.examples(split) for split in ("train", "val")}
    corpus = {name: c for name, c in (("unlabelled", unlabelled), ("calibration", calibration)) if c is not None}
    splits = {name: [example_key(e) for e in examples] for name, examples in fold.items()}
    splits |= {name: [example_key(e) for e in c.examples] for name, c in corpus.items()}
    states_fp = fingerprint({"exit_layers": config.exit_layers, "batch_size": ee.batch_size, "soft": soft_targets,
                             "template": template, "inputs": inputs, "splits": splits, "code": code_digest(__name__),
                             "corpus": {name: c.digest for name, c in corpus.items()}})
    cached = load_cached_data(checkpoint_dir, states_fp)
    if cached is None:
        cached = {}
        modalities = model_modalities(student_dir)
        for split, examples in fold.items():
            cached[split] = collect_examples(runner, processor, prompts_for(examples, modalities, template),
                                             data.frames(examples), answer_targets(examples, soft_targets), ee.batch_size)
        for name, c in corpus.items():
            rows = collect_examples(runner, processor, prompts_for(c.examples, modalities, template), c.frames,
                                    np.zeros((len(c.examples), len(answer_ids))), ee.batch_size)
            cached[name] = dataclasses.replace(rows, targets=rows.final_logits.softmax(-1))
        save_cached_data(checkpoint_dir, states_fp, cached)
    train, train_videos = cached["train"], [e["video_id"] for e in fold["train"]]
    if unlabelled is not None:
        train, train_videos = train.joined(cached["unlabelled"]), train_videos + [f"unlabelled/{v}" for v in unlabelled.videos()]
    heads.to("cpu", torch.float32)  # the cached states are float32 on the CPU
    run = {"exits": dataclasses.asdict(config), "train": dataclasses.asdict(ee.train), "states": states_fp,
           "kl_direction": kl_direction, "score_tolerance": ee.score_tolerance}
    history = train_exit_heads(heads, train, cached["val"], ee.train, Checkpoint(checkpoint_dir, fingerprint(run)),
                               kl_direction, ee.score_tolerance)
    answers = None
    if ee.train.cross_fit_folds > 1:
        answers = out_of_fold_answers(config, train, train_videos, cached["val"], ee.train, Path(checkpoint_dir),
                                      fingerprint(run), kl_direction, ee.score_tolerance)
    fit_agreement(heads, train, ee.score_tolerance, ee.train, answers)
    history[-1] |= {f"val_{k}": v for k, v in exit_quality(heads, cached["val"], ee.score_tolerance).items() if "auroc" in k}
    rows, videos = ((cached["calibration"], calibration.videos()) if calibration is not None
                    else (cached["val"], [e["video_id"] for e in fold["val"]]))
    codes = torch.as_tensor(np.unique(videos, return_inverse=True)[1], dtype=torch.long)
    return heads.eval(), history, exit_outputs(heads, rows) | {VIDEO_CODES: codes}


def fit_exit_runs(students: str | Path, data: ProcessedData, ee: EEParams, seeds: list[int], template: str,
                  soft_targets: bool, out: str | Path, checkpoints: str | Path, curves: str | Path,
                  kl_direction: str = "forward", corpus: str | Path | None = None) -> None:
    """:func:`fit_exit_heads` for the student of every run -> ``out/<run>/`` (heads and calibration outputs),
    with the ``ee.train.unlabelled_videos`` and ``ee.calibration_videos`` of ``corpus`` (a processed corpus folder)."""
    histories = {}
    unlabelled, calibration = read_corpus_videos(corpus, [ee.train.unlabelled_videos, ee.calibration_videos])
    with atomic_path(out) as tmp:
        for run in runs(data.splits_file, seeds):
            heads, histories[run.name], validation = fit_exit_heads(
                Path(students) / run.name, data.for_fold(run.fold), ee, template, soft_targets,
                Path(checkpoints) / run.name, kl_direction, unlabelled, calibration)
            save_exit_heads(heads, tmp / run.name, validation)
    write_curves(histories, curves)
