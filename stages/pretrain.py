"""Stage pretrain: each role's tiny architecture (pretrain.<role>) trained from random weights on the pretraining
corpus's latent importance -> models/pretrained/<role>, the checkpoint the role's source loads."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.demo.plan import EVENTS_FILE
from deevisum.distill.pretrain import PretrainJob, pretrain_roles

if __name__ == "__main__":
    args = stage_args(__doc__, ["corpus", "tokenizer", "out", "checkpoints", "curves"], lists=["roles"])
    p = load_params()
    jobs = [PretrainJob(role, getattr(p.pretrain, role), p.pretrain, p.frames.image_size, args.corpus / "examples.jsonl",
                        args.corpus / "frames.h5", args.corpus / "corpus" / "data" / EVENTS_FILE, args.tokenizer,
                        args.out / role, args.checkpoints / role)
            for role in args.roles]
    pretrain_roles(jobs, args.curves)
