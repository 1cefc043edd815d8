"""The params schema: params.yaml equals the dataclass defaults, and bad values fail at load naming their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deevisum.config import PRETRAINED, ROLES, DemoParams, Params, PromptsParams, load_params, to_dict

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str) -> Params:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return load_params(path)


def test_params_yaml_equals_the_defaults() -> None:
    assert to_dict(load_params(REPO / "params.yaml")) == to_dict(Params())


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert to_dict(_load(tmp_path, "")) == to_dict(Params())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:\n  on_error: Stop\n", "params: data.on_error = 'Stop': must be one of 'stop', 'skip'"),
        ("train:\n  lr: abc\n", "params: train.lr = 'abc': must be a number"),
        ("train:\n  epochs: true\n", "params: train.epochs = True: must be an integer"),
        ("train:\n  lrr: 0.1\n", "params: train.lrr = 0.1: unknown key; allowed: seeds, epochs,"),
        ("evaluate:\n  budget: 1.5\n", "params: evaluate.budget = 1.5: must be <= 1"),
        ("train:\n  batch_size: 0\n", "params: train.batch_size = 0: must be >= 1"),
        ("ee:\n  exit_layers: [1, x]\n", "params: ee.exit_layers[1] = 'x': must be an integer"),
        ("ee:\n  exit_layers: [2, 1]\n", "params: ee.exit_layers = [2, 1]: must be strictly increasing"),
        ("ee:\n  exit_layers: []\n", "params: ee.exit_layers = []: must not be empty"),
        ("ee:\n  exit_aware:\n    loss_weight: 1.0\n", "params: ee.exit_aware.layers = []: must name the exits when loss_weight > 0"),
        ("ee:\n  exit_aware:\n    layers: [4, 2]\n", "params: ee.exit_aware.layers = [4, 2]: must be strictly increasing"),
        ("ee:\n  exit_aware:\n    layers: [2, 6]\n",
         "params: ee.exit_aware.layers = [2, 6]: must be below pretrain.student.num_layers (6)"),
        ("ee:\n  exit_layers: [1, 6]\n",
         "params: ee.exit_layers = [1, 6]: must be below pretrain.student.num_layers (6)"),
        ("pretrain:\n  student:\n    num_layers: 4\n",
         "params: ee.exit_layers = [1, 2, 3, 4, 5]: must be below pretrain.student.num_layers (4)"),
        ("models:\n  student:\n    source: tiny\nee:\n  exit_layers: [1, 6]\n",
         "params: ee.exit_layers = [1, 6]: must be below pretrain.student.num_layers (6)"),
        ("pretrain:\n  corpus:\n    seed: 0\n",
         "params: pretrain.corpus.seed = 0: must differ from demo.seed (0)"),
        ("demo:\n  seed: 1\n", "params: pretrain.corpus.seed = 1: must differ from demo.seed (1)"),
        ("pretrain:\n  corpus:\n    min_seconds: 50\n    max_seconds: 40\n",
         "params: pretrain.corpus.min_seconds = 50: must be <= max_seconds (40)"),
        ("pretrain:\n  corpus:\n    n_videos: 10\n  val_videos: 10\n",
         "params: pretrain.val_videos = 10: must be < corpus.n_videos (10)"),
        ("pretrain:\n  corpus:\n    n_videos: 200\n",
         "params: ee.calibration_videos = 100: with ee.train.unlabelled_videos (150) exceeds pretrain.corpus.n_videos (200): "
         "both are videos of that corpus"),
        ("pretrain:\n  teacher:\n    hidden_size: 0\n", "params: pretrain.teacher.hidden_size = 0: must be >= 1"),
        ("pretrain:\n  mentor:\n    lr: 0\n", "params: pretrain.mentor.lr = 0.0: must be > 0"),
        ("pretrain:\n  student:\n    depth: 3\n", "params: pretrain.student.depth = 3: unknown key; allowed: hidden_size,"),
        ("models:\n  student:\n    num_layers: 8\n",
         "params: models.student.num_layers = 8: unknown key; allowed: source, quantize_4bit, compute_dtype, lora_r,"),
        ("ee:\n  target_agreement: 1\n", "params: ee.target_agreement = 1.0: must be < 1"),
        ("prompts:\n  folds: [5]\n  n_folds: 5\n", "params: prompts.folds = [5]: every fold must be < n_folds (5)"),
        ("prompts:\n  folds: []\n", "params: prompts.folds = []: must be a non-empty list without repeats"),
        ("prompts:\n  folds: [1, 1]\n", "params: prompts.folds = [1, 1]: must be a non-empty list without repeats"),
        ("prompts:\n  folds: [-1]\n", "params: prompts.folds[0] = -1: must be >= 0"),
        ("train:\n  seeds: []\n", "params: train.seeds = []: must be a non-empty list without repeats"),
        ("train:\n  seeds: [3, 3]\n", "params: train.seeds = [3, 3]: must be a non-empty list without repeats"),
        ("train:\n  seed: 0\n", "params: train.seed = 0: unknown key; allowed: seeds,"),
        ("demo:\n  width: 161\n", "params: demo.width = 161: must be even"),
        ("models:\n  teacher:\n    lr: -1\n", "params: models.teacher.lr = -1.0: must be > 0"),
        ("asr:\n  sample_len: 0\n", "params: asr.sample_len = 0: must be >= 1"),
        ("train: 3\n", "params: train = 3: must be a mapping"),
    ],
)
def test_bad_values_fail_naming_key_value_and_what_is_allowed(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        _load(tmp_path, text)
    assert str(info.value).startswith(expected)


def test_float_strings_load_as_floats(tmp_path: Path) -> None:
    """PyYAML (YAML 1.1) reads 2e-3 as a string; it is a float here."""
    p = _load(tmp_path, "train:\n  lr: 2e-3\nmodels:\n  student:\n    lr: 1e-3\n")
    assert p.train.lr == 0.002 and isinstance(p.train.lr, float)
    assert p.models.student.lr == 0.001


def test_nullable_and_untouched_values(tmp_path: Path) -> None:
    p = _load(tmp_path, "asr:\n  sample_len: null\ntrain:\n  epochs: 4\n")
    assert p.asr.sample_len is None and p.train.epochs == 4 and p.models.teacher.lr == 0.0003


def test_exit_layers_are_checked_only_against_a_known_depth(tmp_path: Path) -> None:
    """Another checkpoint's depth is not known from params: exits beyond pretrain.student.num_layers pass."""
    p = _load(tmp_path, "models:\n  student:\n    source: google/paligemma2-3b-pt-224\nee:\n  exit_layers: [4, 12]\n")
    assert p.ee.exit_layers == [4, 12]


def test_roles_start_from_their_pretrained_checkpoints() -> None:
    p = Params()
    assert {r: getattr(p.models, r).source for r in ROLES} == {r: f"{PRETRAINED}/{r}" for r in ROLES}
    sizes = [getattr(p.pretrain, r) for r in ROLES]
    assert [a.hidden_size for a in sizes] == sorted((a.hidden_size for a in sizes), reverse=True)
    assert p.pretrain.corpus.seed != p.demo.seed


def test_selected_folds_default_to_all_and_come_sorted(tmp_path: Path) -> None:
    assert _load(tmp_path, "prompts:\n  n_folds: 3\n").prompts.selected_folds() == [0, 1, 2]
    assert _load(tmp_path, "prompts:\n  folds: [3, 1]\n").prompts.selected_folds() == [1, 3]


def test_checks_also_run_in_code() -> None:
    with pytest.raises(ValueError, match=r"^params: demo.min_seconds = 50: must be <= max_seconds \(40\)"):
        DemoParams(min_seconds=50, max_seconds=40)
    assert DemoParams(min_shot_seconds=2).min_shot_seconds == 2.0
    with pytest.raises(ValueError, match=r"^params: prompts.folds = \[2\]: every fold must be < n_folds \(2\)"):
        PromptsParams(n_folds=2, folds=[2])
