"""The one trainer: teacher finetune, mentor, students and ablations (KD weights 0 = CE only).

Loss per batch, all at the answer position of ``deevisum.models.scoring.build_batch`` inputs
(tokenised once per set, :class:`~deevisum.models.scoring.EncodedPrompts`):
full-vocabulary cross-entropy of the target answer token (the model learns to *say* the
answer, so ``generate()`` and one-pass scoring agree) plus, per KD target, ``weight *
kd_term(answer logits, stored target logits, T)`` (``deevisum.distill.losses``).

Runs under ``accelerate`` unchanged (``accelerate launch stages/<stage>.py`` with a DDP or
FSDP config): model, optimizer and data loader go through ``Accelerator.prepare``; only the
main process writes. Each epoch ends with a :class:`~deevisum.checkpointing.Checkpoint` slot
``last`` (trainable weights, AdamW state, RNG; scheduler and history in its state): a re-run
with the same fingerprint (run config, data and code) resumes after the last finished epoch,
anything else starts over. The returned model carries the weights of the epoch with the lowest
validation CE (slot ``best``), with the per-epoch curves; epoch 0, the weights it started from,
competes too.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm
from transformers import PaliGemmaProcessor

from deevisum.checkpointing import Checkpoint, load_optimizer, optimizer_tensors
from deevisum.config import MskdParams, TrainParams
from deevisum.distill import parallel
from deevisum.distill.losses import kd_term
from deevisum.io import seed_everything
from deevisum.models.scoring import EncodedPrompts, answer_token_ids, word_token_ids
from deevisum.models.tokenizer import ANSWERS


@dataclass
class ExampleSet:
    """What a trainer sees of a split: prompts, frames, answer targets, stored KD target logits."""

    prompts: list[str]
    images: np.ndarray
    targets: np.ndarray
    """(n, 5 + len(words)) target distribution over the answers 1..5, then ``words`` (one-hot for hard targets)."""
    kd_logits: dict[str, torch.Tensor] = field(default_factory=dict)
    """Name -> (n, 5) answer logits of a fixed model (teacher, mentor), aligned with the rows."""
    words: tuple[str, ...] = ()
    """Answer words of other tasks than importance (pretraining's captions), after "1".."5"."""

    def __len__(self) -> int:
        return len(self.prompts)

    def digest(self) -> str:
        """Content hash: a checkpoint is resumed only for exactly the same data."""
        h = hashlib.sha256(json.dumps([self.prompts, self.targets.tolist(), self.words]).encode())
        h.update(np.ascontiguousarray(self.images).tobytes())
        for name in sorted(self.kd_logits):
            h.update(name.encode() + self.kd_logits[name].numpy().tobytes())
        return h.hexdigest()[:16]


@dataclass
class KDConfig:
    """KD weights by target name (``{"teacher": psi, "mentor": phi}``; empty = CE only) and T."""

    weights: dict[str, float] = field(default_factory=dict)
    temperature: float = 1.0
    direction: str = "forward"
    """KL direction of every term (``distill.losses.kd_term``)."""


def kd_config(weights: dict[str, float], p: MskdParams) -> KDConfig:
    """The KD terms ``weights`` with the temperature and KL direction of ``p``."""
    return KDConfig(weights, p.temperature, p.kl_direction)


class EpochSampler(Sampler[int]):
    """A fresh permutation per epoch from ``seed + epoch``, so a resumed run sees the same order."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _collate(data: ExampleSet, processor: PaliGemmaProcessor):
    encoded = EncodedPrompts.of(processor, data.prompts, data.images)

    def collate(idx: list[int]) -> dict[str, torch.Tensor]:
        batch = encoded.batch(idx, data.images[idx])
        batch["answer_targets"] = torch.as_tensor(data.targets[idx], dtype=torch.float32)
        for name, logits in data.kd_logits.items():
            batch[f"kd_{name}"] = logits[idx]
        return batch

    return collate


def batch_losses(model: torch.nn.Module, batch: dict[str, torch.Tensor], target_ids: list[int], kd: KDConfig):
    """Per-example (CE, weighted KD) losses; the KD terms use only the five answer logits.

    CE is over the full vocabulary (the answer must win against every token, not only the other
    four answers), against the target distribution over ``target_ids``: the answer tokens "1".."5",
    then the words of other tasks (:attr:`ExampleSet.words`).
    """
    inputs = {k: v for k, v in batch.items() if k != "answer_targets" and not k.startswith("kd_")}
    logits = model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1].float()
    ce = -(batch["answer_targets"] * F.log_softmax(logits, dim=-1)[:, target_ids]).sum(-1)
    kd_loss = torch.zeros_like(ce)
    answer_ids = target_ids[: len(ANSWERS)]
    for name, weight in kd.weights.items():
        if weight:
            kd_loss = kd_loss + weight * kd_term(logits[:, answer_ids], batch[f"kd_{name}"], kd.temperature, kd.direction)
    return ce, kd_loss


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak rate over ``warmup`` steps, then linear decay to 0 at ``total`` (transformers'
    ``get_linear_schedule_with_warmup``, whose module would import peft and bitsandbytes in every training process)."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _trainable(model: torch.nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


def _trainable_state(acc: Accelerator, model: torch.nn.Module, names: list[str]) -> dict[str, torch.Tensor]:
    """Full (unsharded) trainable weights; a collective under FSDP, so every process calls it."""
    state = acc.get_state_dict(model)
    return {n: state[n].detach().cpu().contiguous() for n in names} if acc.is_main_process else {}


@torch.no_grad()
def evaluate_loss(model, loader, target_ids: list[int], kd: KDConfig, acc: Accelerator) -> dict[str, float]:
    """Mean total and CE loss per example over a loader (gathered across processes)."""
    model.eval()
    ces, kds = [], []
    for batch in loader:
        ce, kd_loss = acc.gather_for_metrics(batch_losses(model, batch, target_ids, kd))
        ces.append(ce)
        kds.append(kd_loss)
    ce, kd_loss = torch.cat(ces), torch.cat(kds)
    return {"loss": float((ce + kd_loss).mean()), "ce": float(ce.mean())}


def train_vlm(
    model: torch.nn.Module,
    processor: PaliGemmaProcessor,
    train: ExampleSet,
    val: ExampleSet,
    cfg: TrainParams,
    kd: KDConfig,
    checkpoint: Checkpoint,
    seed: int,
    desc: str = "train",
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train ``model`` on ``train`` (selecting by ``val`` CE), resuming from ``checkpoint``; returns it
    unwrapped, with the kept epoch's weights, and the per-epoch curves."""
    seed_everything(seed)
    acc = Accelerator(gradient_accumulation_steps=cfg.grad_accum, mixed_precision=cfg.mixed_precision)
    target_ids = answer_token_ids(processor.tokenizer) + word_token_ids(processor.tokenizer, train.words)
    names = _trainable(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    train_loader = DataLoader(range(len(train)), batch_size=cfg.batch_size, sampler=EpochSampler(len(train), seed),
                              collate_fn=_collate(train, processor))
    val_loader = DataLoader(range(len(val)), batch_size=cfg.eval_batch_size,
                            collate_fn=_collate(val, processor))
    model, optimizer, train_loader, val_loader = acc.prepare(model, optimizer, train_loader, val_loader)
    steps_per_epoch = -(-len(train_loader) // cfg.grad_accum)
    scheduler = linear_warmup_decay(optimizer, cfg.warmup_steps, steps_per_epoch * cfg.epochs)

    start_epoch, history, best_ce = 0, [], float("inf")
    resume = checkpoint.state()
    if resume is not None:
        acc.unwrap_model(model).load_state_dict(checkpoint.tensors("trainable"), strict=False)
        load_optimizer(optimizer, checkpoint.tensors("optimizer"), resume["param_groups"])
        scheduler.load_state_dict(resume["scheduler"])
        torch.set_rng_state(checkpoint.tensors("rng")["torch"])
        start_epoch, history, best_ce = resume["epoch"], resume["history"], resume["best_val_ce"]
        acc.print(f"{desc}: resuming after epoch {start_epoch} from {checkpoint.directory}")
    elif len(val):
        # epoch 0: the starting weights compete too, so finetuning a pretrained checkpoint never returns
        # weights that fit the validation videos worse than those it started from
        start = evaluate_loss(model, val_loader, target_ids, kd, acc)
        best_ce = start["ce"]
        history.append({"epoch": 0, "val_loss": start["loss"], "val_ce": start["ce"]})
        acc.print(f"{desc} epoch 0: val_loss={start['loss']:.4g}, val_ce={start['ce']:.4g}")
        weights = _trainable_state(acc, model, names)
        if acc.is_main_process:
            checkpoint.save({"trainable": weights}, {"epoch": 0}, slot="best")
        acc.wait_for_everyone()

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        train_loader.set_epoch(epoch)
        sums = torch.zeros(3)
        bar = tqdm(train_loader, desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                   disable=not acc.is_local_main_process or parallel.IN_WORKER, leave=False)
        for batch in bar:
            with acc.accumulate(model):
                ce, kd_loss = batch_losses(model, batch, target_ids, kd)
                ce, kd_loss = ce.mean(), kd_loss.mean()
                total = ce + kd_loss
                acc.backward(total)
                if acc.sync_gradients:
                    acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                if acc.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
            sums += torch.stack([total, ce, kd_loss]).detach().cpu()
            bar.set_postfix(loss=f"{total.item():.3f}")
        n_batches = max(len(train_loader), 1)
        val_metrics = evaluate_loss(model, val_loader, target_ids, kd, acc) if len(val) else {"loss": float("nan"), "ce": float("nan")}
        row = {"epoch": epoch + 1, "train_loss": float(sums[0] / n_batches), "train_ce": float(sums[1] / n_batches),
               "train_kd": float(sums[2] / n_batches), "val_loss": val_metrics["loss"], "val_ce": val_metrics["ce"],
               "lr": scheduler.get_last_lr()[0]}
        history.append(row)  # no wall times in it: same params, same curves
        acc.print(f"{desc} epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
                  + f" ({time.perf_counter() - t0:.1f} s)")
        val_ce = val_metrics["ce"]
        improved = math.isnan(val_ce) or val_ce < best_ce  # without a validation set the last epoch is kept
        best_ce = best_ce if math.isnan(val_ce) else min(best_ce, val_ce)
        _save(acc, model, optimizer, scheduler, names, checkpoint, improved,
              {"epoch": epoch + 1, "history": history, "best_val_ce": best_ce})
    acc.wait_for_everyone()
    model = acc.unwrap_model(model)
    model.load_state_dict(checkpoint.tensors("trainable", slot="best"), strict=False)
    return model.eval(), history


def _save(acc, model, optimizer, scheduler, names, checkpoint: Checkpoint, improved: bool, state: dict) -> None:
    """Replace slot ``last`` (and ``best`` when the epoch improved validation CE); main process only."""
    weights = _trainable_state(acc, model, names)
    tensors, groups = optimizer_tensors(optimizer)
    if acc.is_main_process:
        if improved:
            checkpoint.save({"trainable": weights}, {"epoch": state["epoch"]}, slot="best")
        checkpoint.save({"trainable": weights, "optimizer": tensors, "rng": {"torch": torch.get_rng_state()}},
                        {**state, "param_groups": groups, "scheduler": scheduler.state_dict()})
    acc.wait_for_everyone()
