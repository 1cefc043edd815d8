"""Stage train_student: the ablation students (deevisum.distill.roles.STUDENT_VARIANTS), one run per fold and seed.

All variants' runs go to one pool of worker processes (deevisum.distill.parallel); each variant keeps
its own models/student_<variant>, checkpoint and curves folders. ee.exit_aware trains every student
alike, so that the comparisons between students stay about what they learn from.
"""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.distill.roles import STUDENT_VARIANTS, RoleFiles, role_jobs, train_jobs
from deevisum.distill.trainer import exit_aware_loss, kd_config

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "tokenizer", "models", "checkpoints", "curves", "teacher_dist"],
                      lists=["variants"])
    p = load_params()
    data = ProcessedData(args.examples, args.splits, args.frames)
    jobs = []
    for name in args.variants:
        variant = STUDENT_VARIANTS[name]
        role = f"student_{name}"
        files = RoleFiles(args.tokenizer, args.models / role, args.checkpoints / role, args.curves / role,
                          {"teacher": args.teacher_dist})
        # the same total KD weight as the MSKD student (phi + psi), all of it on the teacher
        kd = kd_config({target: p.mskd.phi + p.mskd.psi for target in variant.kd_from}, p.mskd)
        jobs += role_jobs(p.models.student, p.pretrain.student, p.train, p.frames.image_size, kd, data, files,
                          variant.modalities, p.prompts.template, exit_aware_loss(p.ee.exit_aware))
    train_jobs(jobs)
