"""Stage transcribe: whisper over every extracted WAV -> transcripts (segments with timed words), and the
word error rate against the narration script where the dataset has one (the demo): the corpus WER is the
metric, the report adds each video's and what could not be read (deevisum.headlines)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.asr import load_asr, parallel_files, transcribe_dir
from deevisum.data.demo.narration import read_script
from deevisum.data.demo.plan import EVENTS_FILE
from deevisum.evaluation.wer import corpus_wer
from deevisum.headlines import publish
from deevisum.io import BadInputReport, write_json

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "audio", "out", "report", "metrics"])
    p = load_params()
    report = BadInputReport(p.data.on_error)
    workers = parallel_files(p.asr)
    transcripts = transcribe_dir(load_asr(p.asr, workers), args.audio, report, workers)
    write_json(args.out, transcripts)
    script = read_script(args.dataset / "data" / EVENTS_FILE)
    heard = {vid: " ".join(s["text"] for s in segments) for vid, segments in transcripts.items()}
    quality = corpus_wer(script, heard) if script else {"wer": None, "note": f"no narration script ({EVENTS_FILE})"}
    per_video = quality.pop("videos", {})
    publish("transcription", {**report.to_dict(), **quality, "engine": p.asr.engine, "model": p.asr.model,
                              "wer_per_video": per_video}, args.metrics, args.report)
    print(f"wrote {args.out}: {len(transcripts)} videos, {sum(map(len, transcripts.values()))} segments; WER {quality['wer']}")
