"""Models run where they are placed: batches follow the model's device, and scoring splits over
``accelerate launch`` processes with the same results as one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import build_tiny_vlm, tiny_model, tiny_source

from deevisum.models.scoring import build_batch, on_model_device, score_examples
from deevisum.models.tokenizer import train_tokenizer
from deevisum.models.vlm import inference_device, load_vlm, save_vlm

WORDS = "score importance 1 to 5 category sports title match speech hello audio loud quiet none".split()

SCORE_SCRIPT = """
import sys
import numpy as np
from deevisum.models.scoring import score_examples
from deevisum.models.vlm import load_vlm, process_state

model_dir, inputs, out = sys.argv[1:4]
data = np.load(inputs, allow_pickle=False)
model, processor = load_vlm(model_dir)
logits = score_examples(model, processor, [str(p) for p in data["prompts"]], data["images"], batch_size=3)
state = process_state()
print(f"process {state.process_index} of {state.num_processes} scored", flush=True)
if state.is_main_process:
    np.save(out, logits)
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], np.ndarray]:
    """A saved tiny model and 11 segments (odd, so the processes' shares differ in size)."""
    rng = np.random.default_rng(0)
    prompts = [" ".join(rng.choice(WORDS, rng.integers(2, 14))) for _ in range(11)]
    root = tmp_path_factory.mktemp("placed")
    train_tokenizer(prompts, 100).save_pretrained(str(root / "tok"))
    model, processor = build_tiny_vlm(tiny_model(), root / "tok", 32, seed=0)
    save_vlm(model, processor, root / "model", tiny_source())
    return root / "model", prompts, rng.integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)


def test_every_tensor_of_a_batch_reaches_the_models_device(saved) -> None:
    model_dir, prompts, images = saved
    model, processor = load_vlm(model_dir)
    batch = build_batch(processor, prompts[:4], images[:4])
    on_meta = on_model_device(batch, model.to("meta"))
    assert set(batch) == set(on_meta) and all(t.device.type == "meta" for t in on_meta.values())


def test_loading_places_the_model_on_the_requested_device(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEVISUM_DEVICE", "meta")
    assert inference_device() == torch.device("meta")
    model, _ = load_vlm(saved[0])
    assert {p.device.type for p in model.parameters()} == {"meta"}
    monkeypatch.delenv("DEEVISUM_DEVICE")
    model, _ = load_vlm(saved[0])
    assert {p.device.type for p in model.parameters()} == {inference_device().type}


def test_two_process_scoring_equals_one_process(saved, tmp_path: Path) -> None:
    """Two CPU processes (torchrun, gloo): each scores its share, all rows come back in order."""
    model_dir, prompts, images = saved
    model, processor = load_vlm(model_dir)
    single = score_examples(model, processor, prompts, images, batch_size=3)
    np.savez(tmp_path / "inputs.npz", prompts=np.array(prompts), images=images)
    (tmp_path / "score.py").write_text(SCORE_SCRIPT, encoding="utf-8")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(tmp_path / "score.py"),
           str(model_dir), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npy")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "process 0 of 2 scored" in done.stdout and "process 1 of 2 scored" in done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), single, rtol=1e-5, atol=1e-5)
