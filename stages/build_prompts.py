"""Stage build_prompts: one example per (video, second) -> examples.jsonl, video-level folds -> splits.json."""

import json

from tqdm import tqdm

from deevisum.datasets import read_benchmark
from deevisum.io import BadInputReport, InputError, atomic_path, read_json, write_json
from deevisum.params import load_params
from deevisum.prompts import build_examples, make_splits, read_frames_index, select_fold

FRAMES = "data/processed/frames.h5"
TRANSCRIPTS = "data/processed/transcripts.json"
CUES = "data/processed/cues.json"
OUT = "data/processed/examples.jsonl"
SPLITS = "data/processed/splits.json"
REPORT = "data/processed/build_prompts_report.json"

if __name__ == "__main__":
    p = load_params()
    bench = read_benchmark(p.data.dataset, p.data.dataset_dir)
    transcripts, cues = read_json(TRANSCRIPTS), read_json(CUES)
    report = BadInputReport(p.data.on_error)
    examples = []
    for vid, (n_seconds, fps) in tqdm(sorted(read_frames_index(FRAMES).items()), desc="build_prompts", unit="video"):
        try:
            if vid not in bench.videos:
                raise InputError(p.data.dataset_dir, f"no annotations for {vid}")
            for path, table in ((TRANSCRIPTS, transcripts), (CUES, cues)):
                if vid not in table:
                    raise InputError(path, f"no entry for {vid} (skipped by an earlier stage)")
            if len(cues[vid]) != n_seconds:
                raise InputError(CUES, f"{vid} has {len(cues[vid])} seconds, frames.h5 has {n_seconds}")
            examples += build_examples(bench.videos[vid], n_seconds, fps, transcripts[vid], cues[vid], p.prompts)
        except InputError as e:
            report.handle(e, vid)
    ids = sorted({ex["video_id"] for ex in examples})
    categories = [bench.videos[v].category for v in ids]
    folds = make_splits(ids, categories, p.prompts.n_folds, p.prompts.val_videos, p.prompts.seed)
    with atomic_path(OUT) as tmp:
        tmp.write_text("".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples), encoding="utf-8")
    write_json(SPLITS, select_fold(folds, p.prompts.fold))
    write_json(REPORT, report.to_dict())
    print(f"wrote {OUT}: {len(examples)} examples from {len(ids)} videos; {SPLITS}: fold {p.prompts.fold}")
