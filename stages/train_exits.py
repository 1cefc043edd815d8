"""Stage train_exits: exit heads + prototypes after ee.exit_layers of the frozen student (issue 5).

The student runs once over the train/val examples (states cached in the checkpoint), then the
heads train for ee.train.epochs; an interrupted run resumes. Writes models/exits (safetensors +
config.json), the curves plots/train_exits.csv and metrics/train_exits.json.
"""

import dataclasses

import torch

from deevisum.early_exit import EarlyExitRunner, ExitConfig, ExitHeads, save_exit_heads
from deevisum.ee_evaluation import example_batches
from deevisum.examples import read_examples, select
from deevisum.exit_training import (
    collect_exit_data,
    files_digest,
    load_cached_data,
    save_cached_data,
    train_exit_heads,
)
from deevisum.io import read_json, seed_everything, write_json
from deevisum.models import load_vlm
from deevisum.params import load_params
from deevisum.scoring import ANSWER_POSITION, answer_token_ids
from deevisum.training import _write_history, fingerprint

STUDENT = "models/student"
EXAMPLES = "data/processed/examples.jsonl"
FRAMES = "data/processed/frames.h5"
SPLITS = "data/processed/splits.json"
OUT = "models/exits"
CHECKPOINT = "checkpoints/train_exits"
CURVES = "plots/train_exits.csv"
METRICS = "metrics/train_exits.json"

if __name__ == "__main__":
    p = load_params()
    seed_everything(p.ee.train.seed)
    model, processor = load_vlm(STUDENT)
    for w in model.parameters():
        w.requires_grad_(False)
    answer_ids = answer_token_ids(processor.tokenizer)
    config = ExitConfig(
        hidden_size=model.config.get_text_config().hidden_size,
        exit_layers=list(p.ee.exit_layers),
        n_answers=len(answer_ids),
        head_dim=p.ee.train.head_dim,
        n_prototypes=p.ee.train.n_prototypes,
    )
    heads = ExitHeads(config)
    runner = EarlyExitRunner(model, answer_ids, heads)
    inputs_digest = files_digest(STUDENT, EXAMPLES, FRAMES, SPLITS)
    states_fp = fingerprint({"exit_layers": config.exit_layers, "batch_size": p.ee.batch_size, "inputs": inputs_digest})
    run_config = {"exits": dataclasses.asdict(config), "train": dataclasses.asdict(p.ee.train), "inputs": inputs_digest}
    data = load_cached_data(CHECKPOINT, states_fp)
    if data is None:
        splits, examples = read_json(SPLITS), read_examples(EXAMPLES)
        data = {}
        for name in ("train", "val"):
            chosen = select(examples, splits[name])
            batches = example_batches(processor, chosen, FRAMES, p.ee.batch_size)
            labels = torch.tensor([e["target"] - 1 for e in chosen])
            starts = range(0, len(chosen), p.ee.batch_size)
            data[name] = collect_exit_data(runner, [(b, ANSWER_POSITION, labels[s : s + p.ee.batch_size]) for b, s in zip(batches, starts)])
        save_cached_data(CHECKPOINT, states_fp, data)
    history = train_exit_heads(heads, data["train"], data["val"], p.ee.train, CHECKPOINT, fingerprint(run_config))
    save_exit_heads(heads, OUT)
    _write_history(history, CURVES)
    write_json(METRICS, history[-1])
    print(f"wrote {OUT} (exits after layers {config.exit_layers}); last epoch: {history[-1]}")
