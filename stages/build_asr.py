"""Stage build_asr: write the seeded random-weight whisper checkpoint (offline default ASR model)."""

from deevisum.asr import RANDOM_CHECKPOINT, build_random_checkpoint
from deevisum.io import atomic_path
from deevisum.params import load_params

OUT = "models/asr"

if __name__ == "__main__":
    p = load_params()
    with atomic_path(OUT) as tmp:
        tmp.mkdir()
        build_random_checkpoint(tmp / RANDOM_CHECKPOINT, p.asr.build)
    print(f"wrote {OUT}/{RANDOM_CHECKPOINT}")
