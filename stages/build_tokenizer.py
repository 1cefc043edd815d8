"""Stage build_tokenizer: a word-level tokenizer trained on the training prompts (tiny models' vocabulary)."""

from deevisum.io import atomic_path
from deevisum.mskd import TOKENIZER, split_examples
from deevisum.params import load_params
from deevisum.tokenizer import train_tokenizer

if __name__ == "__main__":
    p = load_params()
    prompts = [e["prompt"] for e in split_examples("train", "val")]
    tokenizer = train_tokenizer(prompts, p.tokenizer.vocab_size)
    with atomic_path(TOKENIZER) as tmp:
        tokenizer.save_pretrained(str(tmp))
    print(f"tokenizer: {len(tokenizer)} tokens from {len(prompts)} prompts -> {TOKENIZER}")
