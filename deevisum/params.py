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
    """On a bad video: stop before writing anything, or skip it, record it in the report and go on."""


@dataclass
class DemoParams:
    """The generated demo corpus (TVSum layout) that makes the pipeline runnable offline."""

    seed: int = 0
    n_videos: int = 12
    min_seconds: int = 40
    max_seconds: int = 90
    width: int = 160
    height: int = 120
    fps: int = 15
    sample_rate: int = 16000
    n_annotators: int = 20
    segment_seconds: int = 2
    """Annotators rate segments of this length, as TVSum's did (constant over ~2 s)."""


@dataclass
class FramesParams:
    """Frame sampling: one frame per second, resized for the vision tower."""

    image_size: int = 32
    """Square side in pixels (PaliGemma2: 224; the tiny demo models: 32)."""
    sample_rate: int = 16000
    """Audio is extracted to mono WAV at this rate (whisper's rate)."""


@dataclass
class WhisperBuildParams:
    """Size of the locally built random-weight whisper checkpoint (the offline default)."""

    seed: int = 0
    n_state: int = 64
    n_head: int = 2
    n_layer: int = 2


@dataclass
class AsrParams:
    """Speech recognition with openai-whisper."""

    model: str = "models/asr/whisper-random.pt"
    """A whisper model name (``tiny``, ``base``...; needs the network) or a local checkpoint path."""
    language: str = "en"
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    build: WhisperBuildParams = field(default_factory=WhisperBuildParams)


@dataclass
class CuesParams:
    """Audio-derived cues per 1-second segment, turned into words for the prompt."""

    loud_db: float = 6.0
    """A second this many dB above the video's median loudness is called loud."""
    quiet_db: float = -10.0
    """A second this many dB below the median is called quiet."""
    onset_threshold: float = 3.0
    """Spectral-flux peak, in robust z-score units, that counts as a sudden sound."""


@dataclass
class PromptsParams:
    """Prompt construction and video-level splits."""

    template: str = (
        "score importance 1 to 5. category: {category}. title: {title}. "
        "speech: {speech}. audio: {audio}."
    )
    """Prompt template; fields: category, title, speech, audio."""
    transcript_window: float = 1.0
    """Transcript words within this many seconds of the segment go into the prompt."""
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


@dataclass
class ModelParams:
    """One model role. ``source`` is an HF id or local path, or ``tiny`` to build from config."""

    source: str = "tiny"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    vision_hidden_size: int = 64
    vision_layers: int = 1
    patch_size: int = 8
    quantize_4bit: bool = False
    """Load in 4-bit NF4 (QLoRA) with bitsandbytes; compute dtype from ``compute_dtype``."""
    compute_dtype: str = "float32"
    lora_r: int = 0
    """LoRA rank on the language model; 0 trains all weights (tiny models)."""
    lora_alpha: int = 16
    lora_dropout: float = 0.05


@dataclass
class ModelsParams:
    teacher: ModelParams = field(default_factory=ModelParams)
    mentor: ModelParams = field(default_factory=ModelParams)
    student: ModelParams = field(default_factory=ModelParams)


@dataclass
class TrainParams:
    """Optimisation settings shared by the teacher finetune and the distillation stages."""

    seed: int = 0
    epochs: int = 3
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 10
    grad_accum: int = 1
    eval_batch_size: int = 64


@dataclass
class MskdParams:
    """Multi-stage KD: L = CE + phi*KL(P_m||P_t) for the mentor; + psi*KL(P_s||P_t) for the student."""

    phi: float = 1.0
    psi: float = 0.5
    temperature: float = 2.0


@dataclass
class ExitTrainParams:
    """Training of exit heads and prototypes on the frozen student."""

    seed: int = 0
    epochs: int = 10
    lr: float = 3e-3
    head_dim: int = 32
    n_prototypes: int = 1
    kd_weight: float = 1.0


@dataclass
class EEParams:
    """Early exit: heads after ``exit_layers``; a sample leaves when cos(p_i, q) >= threshold."""

    exit_layers: list[int] = field(default_factory=lambda: [1])
    threshold: float = 0.9
    sweep: list[float] = field(default_factory=lambda: [0.5, 0.7, 0.8, 0.9, 0.95, 1.01])
    train: ExitTrainParams = field(default_factory=ExitTrainParams)


@dataclass
class EvaluateParams:
    """The field's summary protocols (keyshot F1) and rank correlations."""

    budget: float = 0.15
    """Summary length as a fraction of the video (knapsack capacity floor(budget * n_frames))."""
    shots: Literal["kts", "fixed"] = "kts"
    fixed_shot_seconds: float = 2.0
    kts_max_shots: int = 20
    """Upper bound on shots per video (KTS picks the number by its penalty)."""
    tvsum_reference: Literal["segments", "shots"] = "segments"
    """TVSum annotator summaries from fixed 60-frame segments (release protocol) or evaluation shots."""
    n_bootstrap: int = 1000
    seed: int = 0


@dataclass
class SummarizeParams:
    """Defaults of ``deevisum summarize``."""

    budget: float = 0.15


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
