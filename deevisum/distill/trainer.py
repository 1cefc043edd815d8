"""The one trainer: teacher finetune, mentor, students and ablations (KD weights 0 = CE only).

Loss per batch, all at the answer position of ``deevisum.models.scoring.build_batch`` inputs
(tokenised once per set, :class:`~deevisum.models.scoring.EncodedPrompts`):
full-vocabulary cross-entropy of the target answer token (the model learns to *say* the
answer, so ``generate()`` and one-pass scoring agree) plus, per KD target, ``weight *
kd_term(answer logits, stored target logits, T)`` (``deevisum.distill.losses``). Exit-aware
training (:class:`ExitAwareLoss`, LayerSkip) adds the same loss after the exit layers and drops layers.

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

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator, DistributedType
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm
from transformers import PaliGemmaProcessor

from deevisum.checkpointing import Checkpoint, load_optimizer, optimizer_tensors
from deevisum.config import ExitAwareParams, MskdParams, TrainParams
from deevisum.distill import parallel
from deevisum.distill.losses import kd_term
from deevisum.io import seed_everything
from deevisum.models.families import base_model, output_head
from deevisum.models.scoring import ANSWER_POSITION, EncodedPrompts, answer_token_ids, word_token_ids
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


@dataclass(frozen=True)
class ExitAwareLoss:
    """Exit-aware training (LayerSkip, Elhoushi et al. 2024) of a decoder that will exit after ``layers``.

    Early-exit loss: the model's own loss (CE + KD) on the answer read through its final norm and LM head
    (:func:`deevisum.models.families.output_head`) after each exit layer, averaged over the exits, times
    ``weight``. Layer dropout: in each training batch layer i of L (0-based) passes its input on unchanged
    with probability ``layer_dropout * i / (L - 1)``: never the first, most often the last. Both teach the
    early layers to hold the answer, so that exits after them agree with full depth more often.
    """

    layers: tuple[int, ...]
    weight: float
    layer_dropout: float


def exit_aware_loss(p: ExitAwareParams) -> ExitAwareLoss | None:
    """``ee.exit_aware`` as the trainer takes it; None when it is off (weight and dropout 0)."""
    return ExitAwareLoss(tuple(p.layers), p.loss_weight, p.layer_dropout) if p.loss_weight or p.layer_dropout else None


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


def _answer_losses(logits: torch.Tensor, batch: dict[str, torch.Tensor], target_ids: list[int], kd: KDConfig):
    """Per-example (CE, weighted KD) of next-token ``logits`` (B, V) at the answer position."""
    ce = -(batch["answer_targets"] * F.log_softmax(logits, dim=-1)[:, target_ids]).sum(-1)
    kd_loss = torch.zeros_like(ce)
    answer_ids = target_ids[: len(ANSWERS)]
    for name, weight in kd.weights.items():
        if weight:
            kd_loss = kd_loss + weight * kd_term(logits[:, answer_ids], batch[f"kd_{name}"], kd.temperature, kd.direction)
    return ce, kd_loss


def _identity_layer(hidden_states: torch.Tensor, *_args, **_kwargs) -> torch.Tensor:
    """A dropped decoder layer: its input goes on unchanged and nothing of it is computed."""
    return hidden_states


@contextlib.contextmanager
def _decoder_hooks(model: torch.nn.Module, capture: Sequence[int], skip: Collection[int]) -> Iterator[dict[int, torch.Tensor]]:
    """For the forwards inside: decoder layers (0-based) in ``skip`` pass their input on unchanged (layer
    dropout), and the answer position's hidden state after ``n`` layers is kept for each ``n`` in ``capture``."""
    states: dict[int, torch.Tensor] = {}
    if not capture and not skip:
        yield states
        return
    layers = base_model(model).model.language_model.layers

    def keep(n: int):
        def hook(_module, _args, output):
            states[n] = output[:, ANSWER_POSITION]

        return hook

    handles = [layers[n - 1].register_forward_hook(keep(n)) for n in capture]
    own = {i: layers[i].__dict__.get("forward") for i in skip}  # a forward set on the instance (accelerate's hooks)
    for i in skip:
        layers[i].forward = _identity_layer
    try:
        yield states
    finally:
        for handle in handles:
            handle.remove()
        for i, forward in own.items():
            if forward is None:
                del layers[i].forward  # the class's forward again
            else:
                layers[i].forward = forward


def dropped_layers(depth: int, rate: float) -> frozenset[int]:
    """The layers a training batch skips: layer i with probability ``rate * i / (depth - 1)`` (torch's RNG,
    which checkpoints save, so a resumed run drops the same layers)."""
    if not rate or depth < 2:
        return frozenset()
    drop = torch.rand(depth) < rate * torch.arange(depth) / (depth - 1)
    return frozenset(torch.nonzero(drop).flatten().tolist())


def batch_losses(model: torch.nn.Module, batch: dict[str, torch.Tensor], target_ids: list[int], kd: KDConfig,
                 exits: ExitAwareLoss | None = None, skip: Collection[int] = ()):
    """Per-example (CE, weighted KD, weighted early-exit) losses; the KD terms use only the five answer logits.

    CE is over the full vocabulary (the answer must win against every token, not only the other
    four answers), against the target distribution over ``target_ids``: the answer tokens "1".."5",
    then the words of other tasks (:attr:`ExampleSet.words`). The early-exit term is 0 unless ``exits``
    asks for it; ``skip``: decoder layers dropped in this forward.
    """
    inputs = {k: v for k, v in batch.items() if k != "answer_targets" and not k.startswith("kd_")}
    capture = exits.layers if exits is not None and exits.weight else ()
    with _decoder_hooks(model, capture, skip) as states:
        logits = model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1].float()
    ce, kd_loss = _answer_losses(logits, batch, target_ids, kd)
    exit_loss = torch.zeros_like(ce)
    if capture:
        head = output_head(model)
        for n in capture:
            exit_ce, exit_kd = _answer_losses(head(states[n]).float(), batch, target_ids, kd)
            exit_loss = exit_loss + exits.weight * (exit_ce + exit_kd) / len(capture)
    return ce, kd_loss, exit_loss


def _check_exit_aware(exits: ExitAwareLoss, depth: int, acc: Accelerator) -> None:
    """Refuse what exit-aware training cannot do: exits at or past the decoder's depth; layer dropout in
    several processes (each would drop other layers, and DDP wants every parameter used); the early-exit
    loss under FSDP (its head runs outside the sharded forward)."""
    if exits.weight and max(exits.layers) >= depth:
        raise ValueError(f"ee.exit_aware.layers {list(exits.layers)}: exit-aware training needs each below the "
                         f"decoder's depth ({depth})")
    if exits.layer_dropout and acc.num_processes > 1:
        raise ValueError("ee.exit_aware.layer_dropout runs in one process only: set it to 0 under accelerate launch")
    if exits.weight and acc.distributed_type == DistributedType.FSDP:
        raise ValueError("ee.exit_aware.loss_weight is not supported under FSDP: use DDP or one process")


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
def evaluate_loss(model, loader, target_ids: list[int], kd: KDConfig, acc: Accelerator,
                  exits: ExitAwareLoss | None = None) -> dict[str, float]:
    """Mean total and (full-depth) CE loss per example over a loader (gathered across processes)."""
    model.eval()
    ces, totals = [], []
    for batch in loader:
        ce, kd_loss, exit_loss = acc.gather_for_metrics(batch_losses(model, batch, target_ids, kd, exits))
        ces.append(ce)
        totals.append(ce + kd_loss + exit_loss)
    return {"loss": float(torch.cat(totals).mean()), "ce": float(torch.cat(ces).mean())}


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
    exits: ExitAwareLoss | None = None,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train ``model`` on ``train`` (selecting by ``val`` CE at full depth), exit-aware when ``exits`` is
    given, resuming from ``checkpoint``; returns it unwrapped, with the kept epoch's weights, and the
    per-epoch curves."""
    seed_everything(seed)
    acc = Accelerator(gradient_accumulation_steps=cfg.grad_accum, mixed_precision=cfg.mixed_precision)
    target_ids = answer_token_ids(processor.tokenizer) + word_token_ids(processor.tokenizer, train.words)
    names = _trainable(model)
    depth = len(base_model(model).model.language_model.layers)
    if exits is not None:
        _check_exit_aware(exits, depth, acc)
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
        start = evaluate_loss(model, val_loader, target_ids, kd, acc, exits)
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
        sums = torch.zeros(4)
        bar = tqdm(train_loader, desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                   disable=not acc.is_local_main_process or parallel.IN_WORKER, leave=False)
        for batch in bar:
            with acc.accumulate(model):
                skip = dropped_layers(depth, exits.layer_dropout) if exits is not None else frozenset()
                ce, kd_loss, exit_loss = (loss.mean() for loss in batch_losses(model, batch, target_ids, kd, exits, skip))
                total = ce + kd_loss + exit_loss
                acc.backward(total)
                if acc.sync_gradients:
                    acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                if acc.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
            sums += torch.stack([total, ce, kd_loss, exit_loss]).detach().cpu()
            bar.set_postfix(loss=f"{total.item():.3f}")
        n_batches = max(len(train_loader), 1)
        val_metrics = (evaluate_loss(model, val_loader, target_ids, kd, acc, exits) if len(val)
                       else {"loss": float("nan"), "ce": float("nan")})
        row = {"epoch": epoch + 1, "train_loss": float(sums[0] / n_batches), "train_ce": float(sums[1] / n_batches),
               "train_kd": float(sums[2] / n_batches), "val_loss": val_metrics["loss"], "val_ce": val_metrics["ce"],
               "lr": scheduler.get_last_lr()[0]}
        if exits is not None:
            row["train_exit"] = float(sums[3] / n_batches)
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
