"""Stage score: one-pass per-second scores of each role on the test videos of every selected fold.

A role's scores for seed s (``<out>/<role>/seed<s>.json``, a scores file) hold every test video,
each scored by the run trained on the other folds. Each probe of a scored role
(deevisum.evaluation.ablation.PROBES) is scored too: that role's runs with a modality left out of the prompts.
"""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.evaluation.ablation import PROBES
from deevisum.evaluation.scores import scores_file, seed_scores_file
from deevisum.io import atomic_path, write_json
from deevisum.models.scoring import expected_score, score_runs

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "models", "out"], lists=["roles"])
    p = load_params()
    data = ProcessedData(args.examples, args.splits, args.frames)
    with atomic_path(args.out) as tmp:
        probes = [(name, model, modalities) for name, (model, modalities) in PROBES.items() if model in args.roles]
        for role, model, modalities in [(role, role, None) for role in args.roles] + probes:
            for seed in p.train.seeds:
                logits, examples = score_runs(args.models / model, data, seed, p.train.eval_batch_size, p.prompts.template,
                                              modalities)
                write_json(seed_scores_file(tmp / role, seed), scores_file(expected_score(logits), examples, data.rates(examples)))
