"""Memory plan: the GPU memory each pipeline stage needs for a params profile (``deevisum plan``).

Each stage holds one model (the teacher never sits beside a student: ``mskd_stage1`` caches its
answer distributions once and the students read them from disk). Per stage, in bytes:

**weights** -- 4-bit roles (``quantize_4bit``): the linear layers bitsandbytes converts (all but the
tied embeddings / lm_head) in NF4, half a byte per weight plus one fp32 absmax per 64-weight block
(0.5625 B); every other parameter (embeddings, norms, vision patch/position embeddings, biases) in fp32
while training -- peft's ``prepare_model_for_kbit_training`` upcasts them -- and in ``compute_dtype``
once saved and reloaded. Other roles: every parameter in ``compute_dtype``. LoRA adapters are fp32
(peft upcasts half-precision adapters); a 4-bit role is saved as base + adapter, the others merged.
While a 4-bit layer runs, its weight exists dequantized in ``compute_dtype`` (the largest counts).

**trainable** -- LoRA: 12 B per adapter parameter (fp32 gradient and AdamW's two moments; the fp32
adapter itself counts with the weights). ``lora_r: 0`` (tiny models): three more copies of every
parameter in its dtype.

**activations** per example. L = sequence length (image tokens + prompt tokens), n decoder layers,
D hidden, Q = query heads x head_dim, K = key/value heads x head_dim, I MLP width, H query heads,
V vocabulary, r LoRA rank, b bytes per activation (``compute_dtype``; 4 for a 4-bit role in
training, whose residual stream is fp32 after peft's upcast of the embeddings), m = 1 with LoRA
dropout on CUDA (a bool mask; 4 on CPU, an fp32 noise tensor) else 0. Training saves, per decoder
layer and token (frozen base weights save no inputs; counted from transformers' Gemma2 and peft's
LoRA, checked against the tensors autograd saves in ``tests/test_scale.py``)::

    s = 16 D                          four RMSNorms keep their fp32 input
      + 3 b Q                         rotated queries, repeated keys and values (attention matmuls)
      + H L (2 b + 4)                 tanh-capped scores, fp32 softmax and its copy in b (8 when b = 4):
                                      eager attention, Gemma2's soft-capping has no sdpa kernel
      + 3 b I                         GeGLU: gate pre-activation, its activation, up projection
      + (4 + m)(5 D + Q + I) + 28 r   LoRA: fp32 copy of the 7 adapted projections' inputs (+ dropout
                                      mask), rank-r outputs

    no gradient checkpointing:  A = L (n + 1) s      every layer, plus one layer's backward working set
    gradient checkpointing:     A = L (n b D + 2 s)  layer inputs, one layer recomputed and its backward

plus V (b + 8) for the answer position's logits (``logits_to_keep=1``: capped, fp32 log-softmax,
gradient). Inference (no gradients) peaks inside one layer::

    A = L (3 b D + max(H L (4 + 2 b), 3 b I)) + 8 V + [2 n L K b]

where the bracket is the key/value cache that ``model(**batch)`` builds in eval mode and never reads
(scoring, distributions, validation); the early-exit runner builds none. The SigLIP tower runs
first, without gradients, and is freed before the decoder peaks (< 1 GiB at batch 64): left out.
Gemma 3 roles use the same formulas: L counts its 256 soft tokens per frame (not the tower's 4096
patches at 896 px), and its scores are not soft-capped, so their term is an upper bound.

A stage **fits** when weights + trainable + batch x activations + ``RESERVE_GIB`` (CUDA context,
cuBLAS workspace, allocator fragmentation) is at most ``--gpu-gb``. Sizes are GiB (2^30 bytes).
What the params do not say is assumed and reported (:func:`assumptions`): the prompt length
(estimated from ``prompts`` and TVSum's longest title), the dataset size (TVSum's 12584 seconds),
and gradient checkpointing, which follows the code: on exactly for 4-bit roles.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import torch
from transformers import PretrainedConfig

from deevisum.config import ModelParams, Params, PromptsParams
from deevisum.models.tokenizer import ANSWERS
from deevisum.scale.architectures import (
    ParamCount,
    count_params,
    image_tokens,
    meta_model,
    role_config,
)

GIB = 2**30
RESERVE_GIB = 2.0
"""Device memory no tensor gets: CUDA context, cuBLAS workspace, allocator fragmentation."""
NF4_BYTES = 0.5 + 4 / 64
"""Bytes per 4-bit weight: two per byte plus an fp32 absmax per block of 64 (no double quantization)."""
OPTIMIZER_COPIES = 3
"""Per trainable parameter: its gradient and AdamW's two moments, in the parameter's dtype."""
TVSUM_SEGMENTS = 12584
"""Seconds in TVSum's 50 videos: one example per second."""
TITLE_WORDS = 17
"""TVSum's longest title, in words."""
LONGEST_CUE = "loud, sudden sound, speech"
"""The longest audio-cue text a second can get (``data.audio_cues.cue_words``)."""
TOKENS_PER_WORD = 1.3
"""Gemma's SentencePiece tokens per English word (punctuation counted apart)."""
ROLES = ("teacher", "mentor", "student")


def prompt_tokens(p: PromptsParams) -> int:
    """Estimated tokens of the longest prompt: the template filled with TVSum's longest title,
    ``max_speech_words`` words of speech and the longest cue, plus <bos> and the closing newline."""
    text = p.template.format(category="XX", title=" ".join(["word"] * TITLE_WORDS),
                             speech=" ".join(["word"] * p.max_speech_words), audio=LONGEST_CUE)
    words, marks = re.findall(r"\w+", text), re.findall(r"[^\w\s]", text)
    return math.ceil(TOKENS_PER_WORD * len(words)) + len(marks) + 2


def dtype_bytes(name: str) -> int:
    """Bytes per element of torch dtype ``name`` (e.g. bfloat16 -> 2)."""
    return torch.finfo(getattr(torch, name)).bits // 8


@dataclass(frozen=True)
class Arch:
    """What the formulas read of one architecture."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    q_width: int
    kv_width: int
    vocab: int
    image_size: int
    image_tokens: int
    params: ParamCount

    @classmethod
    def of(cls, config: PretrainedConfig, lora_r: int) -> Arch:
        t = config.text_config
        return cls(t.num_hidden_layers, t.hidden_size, t.intermediate_size, t.num_attention_heads,
                   t.num_attention_heads * t.head_dim, t.num_key_value_heads * t.head_dim, t.vocab_size,
                   config.vision_config.image_size, image_tokens(config), count_params(meta_model(config), lora_r))


def saved_per_token(a: Arch, seq: int, b: int, mp: ModelParams, mask_bytes: int = 1) -> int:
    """Bytes one decoder layer saves for backward per token (the module docstring's s). ``mask_bytes``: per
    element of a LoRA dropout mask, 1 on CUDA (the fused kernel's bool mask), 4 on CPU (an fp32 noise tensor)."""
    D, Q, I = a.hidden, a.q_width, a.intermediate
    s = 16 * D + 3 * b * Q + a.heads * seq * (b + 4 + (b if b != 4 else 0)) + 3 * b * I
    if mp.lora_r > 0:
        return s + (4 + mask_bytes * (mp.lora_dropout > 0)) * (5 * D + Q + I) + 28 * mp.lora_r
    return s + b * (2 * D + Q + I)  # full finetuning (tiny models): trainable linears keep their inputs


def train_activations(a: Arch, seq: int, b: int, mp: ModelParams, checkpointing: bool) -> int:
    """Bytes per example of a training step on CUDA (the module docstring's A)."""
    s = saved_per_token(a, seq, b, mp)
    layers = seq * (a.layers * b * a.hidden + 2 * s) if checkpointing else seq * (a.layers + 1) * s
    return layers + a.vocab * (b + 8)


def inference_activations(a: Arch, seq: int, b: int, kv_cache: bool) -> int:
    """Bytes per example of a forward pass without gradients (the module docstring's A_infer)."""
    L = seq
    peak = L * (3 * b * a.hidden + max(a.heads * L * (4 + 2 * b), 3 * b * a.intermediate)) + 8 * a.vocab
    return peak + (2 * a.layers * L * a.kv_width * b if kv_cache else 0)


@dataclass(frozen=True)
class Role:
    """One model role of the params: its architecture and how the code loads and trains it."""

    name: str
    mp: ModelParams
    arch: Arch

    @property
    def checkpointing(self) -> bool:
        """The code enables gradient checkpointing exactly for 4-bit roles (prepare_model_for_kbit_training)."""
        return self.mp.quantize_4bit

    @property
    def compute_bytes(self) -> int:
        return dtype_bytes(self.mp.compute_dtype)

    @property
    def train_bytes(self) -> int:
        """Activation bytes in training: fp32 for a 4-bit role (upcast embeddings), else the compute dtype."""
        return 4 if self.mp.quantize_4bit else self.compute_bytes

    def _weights(self, other_bytes: int) -> int:
        p = self.arch.params
        if not self.mp.quantize_4bit:
            return p.total * self.compute_bytes
        dequantized = p.largest_quantized * self.compute_bytes
        return round(p.quantized * NF4_BYTES) + (p.total - p.quantized) * other_bytes + dequantized

    def train_weights(self) -> int:
        """Frozen weights plus fp32 adapters while training."""
        return self._weights(4) + 4 * self.arch.params.lora

    def saved_weights(self) -> int:
        """As ``load_vlm`` loads the saved model: 4-bit base + fp32 adapter, or merged in the compute dtype."""
        return self._weights(self.compute_bytes) + (4 * self.arch.params.lora if self.mp.quantize_4bit else 0)

    def trainable(self) -> int:
        """Gradients and optimizer state: of the fp32 adapters, or of every weight (``lora_r: 0``)."""
        if self.mp.lora_r > 0:
            return OPTIMIZER_COPIES * 4 * self.arch.params.lora
        return OPTIMIZER_COPIES * self.arch.params.total * self.compute_bytes


@dataclass
class StagePlan:
    """One stage's (or pass's) memory on the GPU, in bytes, and what it keeps on the host."""

    stage: str
    role: str
    work: str
    batch: int
    seq: int
    weights: int
    trainable: int
    activations: int
    host_cache: int
    """Written to disk / kept in host memory (cached distributions, exit states; all runs), not on the GPU."""

    @property
    def total(self) -> int:
        return self.weights + self.trainable + self.activations

    def fits(self, gpu_gib: float) -> bool:
        return self.total / GIB + RESERVE_GIB <= gpu_gib


@dataclass
class Plan:
    """Every stage of one params profile against one GPU size, with what had to be assumed."""

    stages: list[StagePlan]
    gpu_gib: float
    assumptions: dict[str, object]
    notes: list[str]

    def table(self) -> str:
        """One line per stage: GiB on the GPU by kind, MB kept on the host, and whether it fits."""
        head = (f"{'stage':<17}{'model':<8}{'work':<20}{'batch x seq':>12}{'weights':>9}{'grad+opt':>9}"
                f"{'activ.':>8}{'total':>8}{'host MB':>9}  fits {self.gpu_gib:g} GiB")
        lines = [head, "-" * len(head)]
        for s in self.stages:
            lines.append(f"{s.stage:<17}{s.role:<8}{s.work:<20}{f'{s.batch} x {s.seq}':>12}{s.weights / GIB:>9.2f}"
                         f"{s.trainable / GIB:>9.2f}{s.activations / GIB:>8.2f}{s.total / GIB:>8.2f}"
                         f"{s.host_cache / 1e6:>9.1f}  {'yes' if s.fits(self.gpu_gib) else 'NO'}")
        a = self.assumptions
        lines.append(f"GiB = 2^30 bytes; fits = total + {RESERVE_GIB:g} GiB reserve <= {self.gpu_gib:g} GiB. Assumed "
                     f"(not in the params): {a['prompt_tokens']} prompt tokens, {a['segments']} segments "
                     f"({a['train_val_segments']} train+val per fold), {a['runs']} run(s) (folds x seeds, one at "
                     "a time), gradient checkpointing on 4-bit roles only.")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])

    def to_json(self) -> dict:
        rows = [dataclasses.asdict(s) | {"total": s.total, "total_gib": round(s.total / GIB, 2),
                                         "fits": s.fits(self.gpu_gib)} for s in self.stages]
        return {"gpu_gib": self.gpu_gib, "reserve_gib": RESERVE_GIB, "assumptions": self.assumptions,
                "notes": self.notes, "stages": rows, "all_fit": all(s.fits(self.gpu_gib) for s in self.stages)}


def _roles(p: Params) -> dict[str, Role]:
    roles = {}
    for name in ROLES:
        mp = getattr(p.models, name)
        roles[name] = Role(name, mp, Arch.of(role_config(name, p), mp.lora_r))
    return roles


def make_plan(p: Params, gpu_gib: float = 80.0, segments: int | None = None, prompt_len: int | None = None) -> Plan:
    """Every stage's memory for params ``p`` (see the module docstring for the formulas); ``segments``
    (examples in the dataset) defaults to TVSum's, ``prompt_len`` to :func:`prompt_tokens`."""
    roles = _roles(p)
    segments = segments or TVSUM_SEGMENTS
    prompt_len = prompt_len or prompt_tokens(p.prompts)
    t = p.train
    n_trainval = round(segments * (p.prompts.n_folds - 1) / p.prompts.n_folds)
    runs = len(p.prompts.selected_folds()) * len(p.train.seeds)  # one model per (fold, seed), trained in turn
    distributions = runs * n_trainval * len(ANSWERS) * 4

    def seq(role: Role) -> int:
        return role.arch.image_tokens + prompt_len

    def train(stage: str, role: Role) -> StagePlan:
        step = t.batch_size * train_activations(role.arch, seq(role), role.train_bytes, role.mp, role.checkpointing)
        validation = t.eval_batch_size * inference_activations(role.arch, seq(role), role.train_bytes, kv_cache=True)
        return StagePlan(stage, role.name, "train (+ validation)", t.batch_size, seq(role), role.train_weights(),
                         role.trainable(), max(step, validation), 0)

    def infer(stage: str, role: Role, work: str, batch: int, kv_cache: bool, host: int = 0) -> StagePlan:
        act = batch * inference_activations(role.arch, seq(role), role.compute_bytes, kv_cache)
        return StagePlan(stage, role.name, work, batch, seq(role), role.saved_weights(), 0, act, host)

    student = roles["student"]
    exit_states = runs * n_trainval * (len(p.ee.exit_layers) * student.arch.hidden + len(ANSWERS)) * 4
    stages = [
        train("finetune_teacher", roles["teacher"]),
        infer("mskd_stage1", roles["teacher"], "cache distributions", t.eval_batch_size, True, distributions),
        train("mskd_stage2", roles["mentor"]),
        infer("mskd_stage2", roles["mentor"], "cache distributions", t.eval_batch_size, True, distributions),
        train("mskd_stage3", student),
        *(infer("score", roles[r], "scoring", t.eval_batch_size, True) for r in ROLES),
        infer("train_exits", student, "cache exit states", p.ee.batch_size, False, exit_states),
        infer("evaluate", student, "early exit", p.ee.batch_size, False),
    ]
    assumptions = {"prompt_tokens": prompt_len, "segments": segments, "train_val_segments": n_trainval, "runs": runs,
                   "reserve_gib": RESERVE_GIB,
                   "gradient_checkpointing": {r.name: r.checkpointing for r in roles.values()}}
    return Plan(stages, gpu_gib, assumptions, _notes(p, roles))


def _notes(p: Params, roles: dict[str, Role]) -> list[str]:
    """Params that disagree with the architectures they name."""
    notes = []
    for role in roles.values():
        if role.mp.source != "tiny" and p.frames.image_size != role.arch.image_size:
            notes.append(f"models.{role.name}: its processor resizes frames to {role.arch.image_size} px, "
                         f"frames.image_size is {p.frames.image_size}")
    depth = roles["student"].arch.layers
    if max(p.ee.exit_layers) >= depth:
        notes.append(f"ee.exit_layers {p.ee.exit_layers}: must stay below the student's {depth} decoder layers")
    return notes
