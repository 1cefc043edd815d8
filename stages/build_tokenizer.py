"""Stage build_tokenizer: a word-level tokenizer trained on the training prompts (tiny models' vocabulary)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import split_examples
from deevisum.io import atomic_path
from deevisum.models.tokenizer import train_tokenizer

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "out"])
    prompts = [e["prompt"] for e in split_examples(args.examples, args.splits, "train", "val")]
    tokenizer = train_tokenizer(prompts, load_params().tokenizer.vocab_size)
    with atomic_path(args.out) as tmp:
        tokenizer.save_pretrained(str(tmp))
    print(f"tokenizer: {len(tokenizer)} tokens from {len(prompts)} prompts -> {args.out}")
