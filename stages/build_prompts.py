"""Stage build_prompts: one example per (video, second) and the video-level folds."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.data.examples import corpus_examples, write_examples
from deevisum.data.frames_store import read_index
from deevisum.data.splits import make_splits, splits_document
from deevisum.io import BadInputReport, read_json, write_json

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "frames", "transcripts", "cues", "out", "splits", "report"])
    p = load_params()
    bench = read_benchmark(p.data.dataset, args.dataset)
    report = BadInputReport(p.data.on_error)
    examples = corpus_examples(bench, read_index(args.frames), read_json(args.transcripts), read_json(args.cues),
                               p.prompts, report)
    ids = sorted({ex["video_id"] for ex in examples})
    folds = make_splits(ids, [bench.videos[v].category for v in ids], p.prompts.n_folds, p.prompts.val_videos, p.prompts.seed)
    write_examples(args.out, examples)
    write_json(args.splits, splits_document(folds, p.prompts.selected_folds()))
    write_json(args.report, report.to_dict())
    print(f"wrote {args.out}: {len(examples)} examples from {len(ids)} videos; {args.splits}: folds {p.prompts.selected_folds()}")
