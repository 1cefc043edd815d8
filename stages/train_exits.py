"""Stage train_exits: exit heads + prototypes after ee.exit_layers of the frozen student (issue 5).

The student runs once over the train/val examples (states cached in the checkpoint), then the
heads train for ee.train.epochs; an interrupted run resumes. Writes models/exits (safetensors +
config.json), the curves plots/train/exits.csv and metrics/train_exits.json.
"""

import dataclasses

from deevisum import early_exit, exit_training
from deevisum.early_exit import EarlyExitRunner, ExitConfig, ExitHeads, save_exit_heads
from deevisum.examples import load_frames, read_examples, select
from deevisum.exit_training import (
    collect_examples,
    files_digest,
    load_cached_data,
    save_cached_data,
    train_exit_heads,
)
from deevisum.io import read_json, seed_everything, write_json
from deevisum.models import load_vlm
from deevisum.mskd import answer_targets, model_prompts
from deevisum.params import load_params
from deevisum.scoring import answer_token_ids
from deevisum.training import write_history, fingerprint

STUDENT = "models/student"
EXAMPLES = "data/processed/examples.jsonl"
FRAMES = "data/processed/frames.h5"
SPLITS = "data/processed/splits.json"
OUT = "models/exits"
CHECKPOINT = "checkpoints/train_exits"
CURVES = "plots/train/exits.csv"
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
    # The frozen inputs and the code that turns them into states/heads: a change restarts, not resumes.
    inputs_digest = files_digest(STUDENT, EXAMPLES, FRAMES, SPLITS, early_exit.__file__, exit_training.__file__)
    states_fp = fingerprint({"exit_layers": config.exit_layers, "batch_size": p.ee.batch_size, "soft": p.train.soft_targets,
                             "template": p.prompts.template, "inputs": inputs_digest})
    run_config = {"exits": dataclasses.asdict(config), "train": dataclasses.asdict(p.ee.train), "inputs": inputs_digest}
    data = load_cached_data(CHECKPOINT, states_fp)
    if data is None:
        splits, examples = read_json(SPLITS), read_examples(EXAMPLES)
        data = {}
        for name in ("train", "val"):  # prompts and targets exactly as the student was trained with
            chosen = select(examples, splits[name])
            data[name] = collect_examples(
                runner, processor, model_prompts(STUDENT, chosen, p.prompts.template), load_frames(FRAMES, chosen),
                answer_targets(chosen, p.train.soft_targets), p.ee.batch_size,
            )
        save_cached_data(CHECKPOINT, states_fp, data)
    history = train_exit_heads(heads, data["train"], data["val"], p.ee.train, CHECKPOINT, fingerprint(run_config))
    save_exit_heads(heads, OUT)
    write_history(history, CURVES)
    write_json(METRICS, history[-1])
    print(f"wrote {OUT} (exits after layers {config.exit_layers}); last epoch: {history[-1]}")
