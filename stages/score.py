"""Stage score@<model>: one-pass per-second scores of a saved model on the test videos (a scores file)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.evaluation.scores import scores_file
from deevisum.io import write_json
from deevisum.models.scoring import expected_score, score_saved

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "model", "out"])
    p = load_params()
    data = ProcessedData(args.examples, args.splits, args.frames)
    examples = data.examples("test")
    logits, _ = score_saved(args.model, data, examples, p.train.eval_batch_size, p.prompts.template, desc=f"scoring {args.model.name}")
    write_json(args.out, scores_file(expected_score(logits), examples, data.rates(examples)))
