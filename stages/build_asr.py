"""Stage build_asr: write the seeded random-weight whisper checkpoint (offline default ASR model)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.asr import RANDOM_CHECKPOINT, build_random_checkpoint
from deevisum.io import atomic_path

if __name__ == "__main__":
    args = stage_args(__doc__, ["out"])
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        build_random_checkpoint(tmp / RANDOM_CHECKPOINT, load_params().asr.build)
    print(f"wrote {args.out / RANDOM_CHECKPOINT}")
