"""Stage build_tokenizer: per selected fold, a word-level tokenizer trained on that fold's train + val
prompts (the tiny models' vocabulary; no test video's words)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import split_examples
from deevisum.data.splits import read_splits
from deevisum.io import atomic_path
from deevisum.models.tokenizer import tokenizer_dir, train_tokenizer

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "out"])
    vocab_size = load_params().tokenizer.vocab_size
    with atomic_path(args.out) as tmp:
        for fold in read_splits(args.splits)["selected"]:
            prompts = [e["prompt"] for e in split_examples(args.examples, args.splits, fold, "train", "val")]
            tokenizer = train_tokenizer(prompts, vocab_size)
            tokenizer.save_pretrained(str(tokenizer_dir(tmp, fold)))
            print(f"fold {fold} tokenizer: {len(tokenizer)} tokens from {len(prompts)} prompts")
