"""The one typed params schema of the pipeline, loaded from ``params.yaml``.

Each DVC stage reads only its own section(s) and declares them in ``dvc.yaml``, so DVC
re-runs a stage exactly when a param it uses changes (``dvc exp run -S ee.threshold=0.7``
re-runs only evaluation). Unknown keys are an error: a typo in params.yaml must not be
silently ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


@dataclass
class DataParams:
    """Where the benchmark lives and how bad inputs are handled."""

    dataset: Literal["tvsum", "summe"] = "tvsum"
    """Layout of ``dataset_dir``: TVSum release (video/, data/*.tsv) or SumMe (videos/, GT/)."""
    dataset_dir: str = "data/demo"
    """Root folder of the dataset; the demo corpus by default, a downloaded TVSum to reproduce the paper."""
    on_error: Literal["stop", "skip"] = "skip"
    """On a bad video: stop before writing anything, or skip it, record it in the report and go on.
    A bad annotation file (e.g. a non-UTF-8 title) concerns every video and always stops."""


@dataclass
class DemoParams:
    """The generated demo corpus (TVSum layout) that makes the pipeline runnable offline."""

    seed: int = 0
    """Same seed -> byte-identical corpus (videos, annotations, events)."""
    n_videos: int = 12
    min_seconds: int = 40
    """Shortest video length in whole seconds (lengths are drawn uniformly in [min, max])."""
    max_seconds: int = 90
    width: int = 160
    """Frame width in pixels (even: H.264 yuv420p needs even sizes)."""
    height: int = 120
    """Frame height in pixels (even)."""
    fps: int = 15
    sample_rate: int = 16000
    """Audio sample rate of the synthesized soundtrack (Hz)."""
    n_annotators: int = 20
    """Simulated annotators per video, 20 as in TVSum."""
    segment_seconds: int = 2
    """Annotators rate segments of this length, as TVSum's did (constant over ~2 s)."""
    min_shot_seconds: float = 3.0
    """Shortest shot (hard cut to a new background after each shot)."""
    max_shot_seconds: float = 10.0
    annotator_bias: float = 0.5
    """Std of each annotator's constant offset on the 1..5 scale (some rate high, some low)."""
    annotator_noise: float = 1.2
    """Mean std of each annotator's per-segment rating noise on the 1..5 scale."""


@dataclass
class FramesParams:
    """Frame sampling: one frame per second (the one on screen mid-second), resized for the vision tower."""

    image_size: int = 32
    """Square side in pixels (PaliGemma2: 224; the tiny demo models: 32); frames are stretched to
    the square, as PaliGemma's processor does."""
    sample_rate: int = 16000
    """Audio is extracted to mono WAV at this rate (whisper's rate)."""


@dataclass
class WhisperBuildParams:
    """Size of the locally built random-weight whisper checkpoint (the offline default)."""

    seed: int = 0
    n_state: int = 64
    """Width of encoder and decoder (whisper tiny: 384)."""
    n_head: int = 2
    n_layer: int = 2
    """Layers of encoder and of decoder each (whisper tiny: 4)."""


@dataclass
class AsrParams:
    """Speech recognition with openai-whisper."""

    model: str = "models/asr/whisper-random.pt"
    """A whisper model name (``tiny``, ``base``...; needs the network) or a local checkpoint path."""
    language: str = "en"
    """Spoken language (skips whisper's language detection)."""
    no_speech_threshold: float = 0.6
    """A segment is dropped as non-speech when its no-speech probability is above this ..."""
    logprob_threshold: float = -1.0
    """... and its average token log-probability is not above this (whisper's own rule)."""
    sample_len: int | None = 64
    """Max tokens decoded per 30-s window; null = whisper's default (224). Bounds the random model's time."""
    threads: int = 1
    """torch intra-op threads while transcribing. 1 is fastest for the tiny random model (its ops are too
    small to split) and on a shared CPU, where extra threads spin against other jobs (6x slower measured)."""
    build: WhisperBuildParams = field(default_factory=WhisperBuildParams)


@dataclass
class CuesParams:
    """Audio-derived cues per 1-second segment, turned into words for the prompt."""

    loud_db: float = 6.0
    """A second this many dB above the video's median loudness is called loud."""
    quiet_db: float = -10.0
    """A second this many dB below the median is called quiet."""
    onset_threshold: float = 5.0
    """Spectral-flux peak, in robust z-scores of the video's flux, that counts as a sudden sound
    (at 3 the onsets of soft background murmur already pass)."""


@dataclass
class PromptsParams:
    """Prompt construction and video-level splits."""

    template: str = (
        "score importance 1 to 5. category: {category}. title: {title}. "
        "speech: {speech}. audio: {audio}."
    )
    """Prompt template; fields: category, title, speech, audio. Sentences ('. '-separated) naming a
    field of a modality left out (``render_prompt``) are dropped."""
    transcript_window: float = 1.0
    """Transcript words within this many seconds of the segment go into the prompt."""
    max_speech_words: int = 12
    """At most this many transcript words per prompt (longer words are cut to 24 characters)."""
    n_folds: int = 5
    fold: int = 0
    """Which of the n_folds video-level folds is the test set."""
    val_videos: int = 1
    """Videos of the training part held out for validation."""
    seed: int = 0


@dataclass
class TokenizerParams:
    """The tokenizer trained on the prompt corpus for tiny models (real models bring theirs)."""

    vocab_size: int = 600
    """Most frequent prompt words kept (plus specials and "1".."5"); the processor adds 1153 more."""


@dataclass
class ModelParams:
    """One model role. ``source`` is an HF id or local path, or ``tiny`` to build from config."""

    source: str = "tiny"
    """``tiny``, or e.g. ``google/paligemma2-3b-pt-224`` / a local checkpoint directory (the sizes below
    then do not apply)."""
    hidden_size: int = 64
    """Tiny Gemma2 width (a multiple of 64: bitsandbytes' CPU 4-bit kernels need it)."""
    num_layers: int = 2
    """Tiny Gemma2 decoder layers (early exit puts heads between them)."""
    num_heads: int = 2
    """Attention heads (head width hidden_size / num_heads; as many key/value heads)."""
    intermediate_size: int = 128
    """Gemma2 MLP width."""
    vision_hidden_size: int = 64
    """Tiny SigLIP width (heads of width 32, MLP 4x)."""
    vision_layers: int = 1
    patch_size: int = 8
    """SigLIP patch side: (frames.image_size / patch_size)^2 image tokens (32/8 -> 16)."""
    quantize_4bit: bool = False
    """Load in 4-bit NF4 (QLoRA) with bitsandbytes; compute dtype from ``compute_dtype``."""
    compute_dtype: str = "float32"
    """torch dtype name the model is loaded in and 4-bit layers compute in (``bfloat16`` on GPUs)."""
    lora_r: int = 0
    """LoRA rank on the language model; 0 trains all weights (tiny models)."""
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lr: float | None = None
    """This role's peak learning rate; null: ``train.lr``. Wider, deeper models train stably at
    smaller rates (the demo teacher does not learn at the students' 0.002)."""


@dataclass
class ModelsParams:
    teacher: ModelParams = field(default_factory=ModelParams)
    mentor: ModelParams = field(default_factory=ModelParams)
    student: ModelParams = field(default_factory=ModelParams)


@dataclass
class TrainParams:
    """Optimisation settings shared by the teacher finetune and the distillation stages."""

    seed: int = 0
    """Seeds tiny-model init, data order (seed + epoch) and dropout."""
    epochs: int = 3
    """Epochs per role; the epoch with the lowest validation CE is the one kept."""
    batch_size: int = 16
    """Per-process batch size (x processes x grad_accum = effective batch)."""
    lr: float = 1e-3
    """AdamW peak learning rate (linear warm-up, then linear decay to 0)."""
    weight_decay: float = 0.0
    warmup_steps: int = 10
    grad_accum: int = 1
    eval_batch_size: int = 64
    """Batch size of validation, scoring and stored-distribution passes (no gradients)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm (keeps the tiny random-init models stable)."""
    soft_targets: bool = True
    """CE against the annotators' score distribution (target_dist) rather than the one-hot rounded
    mean: it keeps the graded information ranking metrics need (a 2.4 is not a 1.6)."""


@dataclass
class MskdParams:
    """Multi-stage KD on the five answer logits at the answer position (deevisum.distillation)."""

    phi: float = 1.0
    """Weight of KL(P_m || P_t) for the mentor, of KL(P_s || P_m) for the student, and of
    KL(P_s || P_t) for the single-stage-KD ablation student."""
    psi: float = 0.5
    """Weight of the student's direct term KL(P_s || P_t)."""
    temperature: float = 2.0
    """Softmax temperature T of every KD term (each scaled by T^2)."""


@dataclass
class ExitTrainParams:
    """Training of exit heads and prototypes on the frozen student (states cached once, heads trained on them)."""

    seed: int = 0
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 64
    """Mini-batch of cached exit states per optimiser step."""
    head_dim: int = 32
    """Size of the head vector p_i that the prototypes are compared with."""
    n_prototypes: int = 1
    """Prototypes q per exit; gamma is the best cosine over them."""
    kd_weight: float = 5.0
    """Weight of KL(student final answer distribution || head) next to CE on the labels."""


@dataclass
class EEParams:
    """Early exit: heads after ``exit_layers``; a sample leaves when cos(p_i, q) >= threshold."""

    exit_layers: list[int] = field(default_factory=lambda: [1])
    """Exit after this many decoder layers have run (1-based, each below the student's depth)."""
    threshold: float = 0.6
    """tau: a row leaves at the first exit with gamma >= tau (> 1: never, full depth; -1: first exit)."""
    sweep: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01])
    """Thresholds of the F1-vs-speedup curve (plots/ee_sweep.csv)."""
    batch_size: int = 64
    """Rows per decoder pass when caching exit states and scoring (timing depends on it)."""
    timing_repeats: int = 3
    """Timing rounds (after one warm-up pass); each round times every setting once, in turn."""
    timing_threads: int = 1
    """torch intra-op threads in the evaluate stage; 0 = torch's default. On a shared machine 1
    keeps other processes from stalling torch's thread barriers, which makes timings swing 10x."""
    train: ExitTrainParams = field(default_factory=ExitTrainParams)


@dataclass
class EvaluateParams:
    """The field's summary protocols (keyshot F1) and rank correlations."""

    budget: float = 0.15
    """Summary length as a fraction of the video (knapsack capacity floor(budget * n_frames))."""
    shots: Literal["kts", "fixed", "file"] = "kts"
    """Evaluation shots: KTS over frames.h5 features, fixed-length segments, or the scores file's ``shots``."""
    fixed_shot_seconds: float = 2.0
    """Length of fixed shots (rounded to whole frames at the video's fps)."""
    kts_max_shots: int = 20
    """Upper bound on shots per video (KTS picks the number by its penalty)."""
    kts_vmax: float = 0.1
    """Weight of KTS's penalty on the number of change points. vsumm-reinforce/DSNet use 1 with
    GoogLeNet features; with our colour features 1 finds a single shot per demo video, 0.1 finds
    94% of the demo's true cuts within 1 s (re-calibrate for other features)."""
    tvsum_reference: Literal["segments", "shots"] = "segments"
    """TVSum annotator summaries from fixed segments (release protocol) or the evaluation shots."""
    reference_segment_frames: int = 60
    """Segment length, in frames, of TVSum's reference-summary protocol."""
    random_trials: int = 3
    """Random-score draws averaged per video in the random baseline."""
    n_bootstrap: int = 1000
    """Bootstrap resamples of the videos for the 95% confidence intervals."""
    seed: int = 0
    """Seeds the bootstrap and the random baseline."""


@dataclass
class SummarizeParams:
    """Defaults of ``deevisum summarize`` (each one can be overridden by a command-line flag)."""

    budget: float = 0.15
    """Summary length as a fraction of the input video (knapsack capacity, as in evaluation)."""
    student: str = "models/student"
    """Checkpoint that scores the seconds (the MSKD student the pipeline trains)."""
    exits: str = "models/exits"
    """Exit heads trained on that student (train_exits stage)."""
    shot_value: Literal["mean", "total"] = "total"
    """What a shot is worth to the knapsack: ``total`` (mean score x length, the importance it holds:
    the summary keeps the most important moments) or ``mean`` (the field's evaluation convention,
    which prefers many short shots)."""


@dataclass
class Params:
    data: DataParams = field(default_factory=DataParams)
    demo: DemoParams = field(default_factory=DemoParams)
    frames: FramesParams = field(default_factory=FramesParams)
    asr: AsrParams = field(default_factory=AsrParams)
    cues: CuesParams = field(default_factory=CuesParams)
    prompts: PromptsParams = field(default_factory=PromptsParams)
    tokenizer: TokenizerParams = field(default_factory=TokenizerParams)
    models: ModelsParams = field(default_factory=ModelsParams)
    train: TrainParams = field(default_factory=TrainParams)
    mskd: MskdParams = field(default_factory=MskdParams)
    ee: EEParams = field(default_factory=EEParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    summarize: SummarizeParams = field(default_factory=SummarizeParams)


def _build(cls: type, raw: Any, where: str) -> Any:
    """Recursively turn a YAML mapping into dataclass ``cls``, rejecting unknown keys."""
    if not dataclasses.is_dataclass(cls):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"params: '{where}' must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(f"params: unknown key(s) {unknown} in '{where or 'top level'}'")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        sub = f"{where}.{name}" if where else name
        kwargs[name] = _build(hint, value, sub) if _is_dataclass_type(hint) else value
    return cls(**kwargs)


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint) and not isinstance(hint, types.GenericAlias)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate the whole params file."""
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    return _build(Params, raw, "")


def to_dict(obj: Any) -> dict:
    """Dataclass params back to plain dicts (for logging next to checkpoints)."""
    return dataclasses.asdict(obj)
