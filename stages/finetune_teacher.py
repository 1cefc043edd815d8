"""Stage finetune_teacher: the teacher learns to answer 1..5 (CE; LoRA/QLoRA or full training by params)."""

from deevisum.mskd import train_role
from deevisum.params import load_params
from deevisum.training import KDConfig

if __name__ == "__main__":
    p = load_params()
    train_role("teacher", p.models.teacher, p.train, p.frames.image_size, KDConfig())
