"""Stage demo_corpus: generate the demo corpus (TVSum layout) into data/demo from params.demo."""

from pathlib import Path

from deevisum.demo import generate_corpus
from deevisum.params import load_params

if __name__ == "__main__":
    generate_corpus(Path("data/demo"), load_params().demo)
