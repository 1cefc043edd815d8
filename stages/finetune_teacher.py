"""Stage finetune_teacher: the teacher learns to answer 1..5 (CE; LoRA/QLoRA or full training by params)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.distill.roles import ROLE_PATHS, role_inputs, role_jobs, train_jobs
from deevisum.distill.trainer import KDConfig

if __name__ == "__main__":
    args = stage_args(__doc__, ROLE_PATHS)
    p = load_params()
    train_jobs(role_jobs(p.models.teacher, p.pretrain.teacher, p.train, p.frames.image_size, KDConfig(), *role_inputs(args)))
