"""Stage build_tokenizer: the word-level tokenizer of the tiny architectures, trained on the pretraining corpus's
prompts and caption prompts (it goes into every pretrained checkpoint, as a real checkpoint brings its own; no
demo video's words)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.captions import CAPTION_PROMPTS
from deevisum.data.examples import read_examples
from deevisum.io import atomic_path
from deevisum.models.tokenizer import train_tokenizer

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "out"])
    prompts = [e["prompt"] for e in read_examples(args.examples)] + list(CAPTION_PROMPTS.values())
    tokenizer = train_tokenizer(prompts, load_params().tokenizer.vocab_size)
    with atomic_path(args.out) as tmp:
        tokenizer.save_pretrained(str(tmp))
    print(f"tokenizer: {len(tokenizer)} tokens from {len(prompts)} prompts")
