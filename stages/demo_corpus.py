"""Stage demo_corpus: generate the demo corpus (TVSum layout) from params.demo."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.demo.corpus import generate_corpus

if __name__ == "__main__":
    args = stage_args(__doc__, ["out"])
    generate_corpus(args.out, load_params().demo)
