"""The paper's scale: real PaliGemma2 and Gemma 3 architectures, the memory plan and its formula, the paper
preset and its Gemma 3 twin."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from transformers import PaliGemmaForConditionalGeneration

from deevisum.app import cli
from deevisum.config import ROLES, ModelParams, load_params
from deevisum.models.vlm import apply_lora
from deevisum.scale.architectures import (
    GEMMA2,
    GEMMA3,
    DecoderSize,
    VocabIds,
    count_params,
    gemma3_vlm_config,
    meta_model,
    paligemma2_config,
    role_config,
)
from deevisum.scale.plan import GIB, Arch, make_plan, prompt_tokens, saved_per_token

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "presets" / "paper.yaml"
GEMMA3_PRESET = REPO / "presets" / "gemma3.yaml"
REAL_LM_PRESET = REPO / "presets" / "real-lm.yaml"
TINY_VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2, patch_size=8)


@pytest.mark.parametrize("size, params", [("3b", 3_032_242_416), ("10b", 9_662_638_832), ("28b", 27_650_487_024)])
def test_paligemma2_sizes_count_exactly_on_meta(size: str, params: int) -> None:
    config = paligemma2_config(GEMMA2[size])
    model = meta_model(config)
    assert next(model.parameters()).is_meta
    count = count_params(model, lora_r=16)
    assert count.total == params  # 3.03B / 9.66B / 27.65B, the published PaliGemma2 sizes
    assert config.text_config.num_image_tokens == 256 and config.text_config.vocab_size == 257216
    assert count.vision == 412_442_352  # SigLIP So400m without its pooling head
    assert 0 < count.lora < 0.01 * count.total  # LoRA on the language model only
    assert count.quantized < count.total - 257216 * config.text_config.hidden_size  # tied embeddings stay unquantized


@pytest.mark.parametrize("size, billions", [("4b", 4.30), ("12b", 12.19), ("27b", 27.43)])
def test_gemma3_sizes_count_on_meta(size: str, billions: float) -> None:
    config = gemma3_vlm_config(GEMMA3[size])
    count = count_params(meta_model(config), lora_r=16)
    assert abs(count.total / 1e9 - billions) < 0.01  # the published Gemma 3 sizes (vision tower included)
    assert config.mm_tokens_per_image == 256 and config.text_config.vocab_size == 262_208
    assert count.vision == 416_866_032 and 0 < count.lora < 0.01 * count.total  # So400m, 4096 positions


def test_role_sources_map_to_architectures(tmp_path: Path) -> None:
    p = load_params(PRESET)
    assert role_config("teacher", p).text_config.num_hidden_layers == 46
    assert role_config("student", p).text_config.hidden_size == 2304
    paligemma2_config(GEMMA2["3b"]).save_pretrained(tmp_path)  # a local checkpoint: its config.json
    p.models.mentor.source = str(tmp_path)
    assert role_config("mentor", p).text_config.num_hidden_layers == 26
    p.models.mentor.source = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"models\.mentor\.source = .*nowhere"):
        role_config("mentor", p)


def _saved_in_decoder(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves while the decoder layers run."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}
    inside = [False]
    hooks = []
    for layer in model.get_base_model().model.language_model.layers:
        hooks.append(layer.register_forward_pre_hook(lambda *_: inside.__setitem__(0, True)))
        hooks.append(layer.register_forward_hook(lambda *_: inside.__setitem__(0, False)))

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if inside[0] and storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**batch, logits_to_keep=1)
    for h in hooks:
        h.remove()
    return sum(saved.values())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("dropout", [0.0, 0.05])
def test_activation_formula_matches_what_autograd_saves(dtype: torch.dtype, dropout: float) -> None:
    """The plan's per-layer formula against the tensors a LoRA training forward really keeps (CPU:
    dropout masks are fp32 noise tensors, 4 bytes; the plan's default is CUDA's bool mask)."""
    vocab = VocabIds(400, 399, 0, 2, 1)
    config = paligemma2_config(DecoderSize(3, 128, 512, 4, 2, 32, 32), 32, vocab, TINY_VISION)
    torch.manual_seed(0)
    mp = ModelParams(lora_r=4, lora_dropout=dropout)
    model = apply_lora(PaliGemmaForConditionalGeneration._from_config(config, dtype=dtype), mp).train()
    rows, image_tokens, text = 2, 16, 30
    ids = torch.cat([torch.full((rows, image_tokens), 399), torch.randint(3, 390, (rows, text))], 1)
    batch = dict(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids),
                 pixel_values=torch.randn(rows, 3, 32, 32, dtype=dtype))
    seq, b = ids.shape[1], torch.finfo(dtype).bits // 8
    predicted = rows * seq * config.text_config.num_hidden_layers * saved_per_token(Arch.of(config, 4), seq, b, mp, mask_bytes=4)
    # fp32 without dropout: q/k/v (and gate/up) adapters share one input tensor, which the formula counts apart
    assert 0.85 <= _saved_in_decoder(model, batch) / predicted <= 1.03


def test_prompt_length_estimate_covers_the_longest_prompt() -> None:
    p = load_params(PRESET)
    assert 60 <= prompt_tokens(p.prompts) <= 90  # ~55 words and marks at ~1.3 SentencePiece tokens per word


def test_paper_preset_validates() -> None:
    p = load_params(PRESET)
    teacher, mentor, student = p.models.teacher, p.models.mentor, p.models.student
    assert teacher.source == "google/paligemma2-28b-pt-224" and teacher.quantize_4bit and teacher.compute_dtype == "bfloat16"
    assert mentor.source.endswith("10b-pt-224") and student.source.endswith("3b-pt-224")
    assert all(m.lora_r > 0 for m in (teacher, mentor, student))
    assert p.frames.image_size == 224 and p.ee.exit_layers == [4, 8, 12] and p.ee.threshold == 0.9  # cos >= 0.8 (the paper) on the (1 + cos) / 2 scale
    assert p.asr.model not in ("bundled", "tiny.en")


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in tree.items():
        out.add(prefix + k)
        # roles of a real checkpoint leave their finetuning defaults (models.<role>) and tiny sizes (pretrain.<role>) out
        if isinstance(v, dict) and k != "models" and not (prefix == "pretrain." and k in ROLES):
            out |= _keys(v, f"{prefix}{k}.")
    return out


@pytest.mark.parametrize("path", [PRESET, GEMMA3_PRESET, REAL_LM_PRESET], ids=["paper", "gemma3", "real-lm"])
def test_paper_preset_has_every_key_of_params_yaml(path: Path) -> None:
    """The presets are full params files: a key params.yaml gained and a preset lacks fails here."""
    preset = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _keys(yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))) == _keys(preset)


def test_real_lm_preset_is_the_demo_with_the_real_lm_teacher_on_one_fold() -> None:
    demo, preset = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (REPO / "params.yaml", REAL_LM_PRESET))
    assert {k: v for k, v in preset.items() if k not in ("models", "prompts")} == \
        {k: v for k, v in demo.items() if k not in ("models", "prompts")}
    assert preset["models"]["mentor"] == demo["models"]["mentor"] and preset["models"]["student"] == demo["models"]["student"]
    p = load_params(REAL_LM_PRESET)
    assert p.models.teacher.source == "real-lm/gemma3-270m-vlm" and p.models.teacher.lora_r > 0
    assert p.prompts.folds == [0] and (REPO / "real-lm" / "dvc.yaml").is_file()


def test_gemma3_preset_is_the_paper_preset_with_gemma3_roles() -> None:
    paper, twin = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (PRESET, GEMMA3_PRESET))
    assert {k: v for k, v in twin.items() if k not in ("models", "frames")} == \
        {k: v for k, v in paper.items() if k not in ("models", "frames")}
    p = load_params(GEMMA3_PRESET)
    assert [role_config(r, p).text_config.num_hidden_layers for r in ROLES] == [62, 48, 34]
    assert p.models.teacher.quantize_4bit and p.frames.image_size == 896


def test_gemma3_preset_fits_one_80gb_gpu() -> None:
    plan = make_plan(load_params(GEMMA3_PRESET), gpu_gib=80)
    assert all(s.fits(80) for s in plan.stages), [(s.stage, s.total / GIB) for s in plan.stages if not s.fits(80)]
    teacher = {(s.stage, s.work): s for s in plan.stages}["finetune_teacher", "train (+ validation)"]
    assert 14 < teacher.weights / GIB < 24 and not plan.notes  # 27B in NF4


def test_paper_preset_fits_one_80gb_gpu_one_model_at_a_time() -> None:
    plan = make_plan(load_params(PRESET), gpu_gib=80)
    by_stage = {(s.stage, s.work): s for s in plan.stages}
    assert all(s.fits(80) for s in plan.stages), [s.stage for s in plan.stages if not s.fits(80)]
    teacher = by_stage["finetune_teacher", "train (+ validation)"]
    assert 14 < teacher.weights / GIB < 22  # 28B in NF4 (+ fp32 embeddings), not 52 GiB of bf16
    assert by_stage["mskd_stage1", "cache distributions"].host_cache > 0
    student = by_stage["mskd_stage3", "train (+ validation)"]
    assert student.weights < 0.4 * teacher.weights  # the student's stage holds no teacher
    assert not plan.notes
    assert not make_plan(load_params(PRESET), gpu_gib=24).stages[2].fits(24)  # the 10B step needs more than 24 GiB


def test_plan_command_prints_a_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    assert cli.main(["plan", "--params", str(PRESET), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "finetune_teacher" in table and "evaluate" in table
    report = json.loads(out.read_text())
    assert report["all_fit"] and report["assumptions"]["prompt_tokens"] > 0 and len(report["stages"]) == 10
    assert cli.main(["plan", "--params", str(PRESET), "--gpu-gb", "16"]) == 3  # something does not fit


def test_plan_command_names_a_bad_params_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("models:\n  teacher:\n    source: 7\n", encoding="utf-8")
    assert cli.main(["plan", "--params", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "models.teacher.source" in err


def test_paper_setup_refuses_what_it_cannot_run_with(tmp_path: Path) -> None:
    """Checked before anything is set up or copied: a folder that is not TVSum, then a missing HF_TOKEN."""
    run = subprocess.run(["bash", "scripts/paper_setup.sh", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1 and f"{tmp_path} is not TVSum" in run.stderr
    (tmp_path / "video").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ydata-tvsum50-anno.tsv").touch()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    run = subprocess.run(["bash", "scripts/paper_setup.sh", str(tmp_path)], cwd=REPO, capture_output=True, text=True, env=env)
    assert run.returncode == 1 and "set HF_TOKEN" in run.stderr
