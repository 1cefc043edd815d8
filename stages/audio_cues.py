"""Stage audio_cues: per-second loudness / onset / speech words of every stored video."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.audio_cues import corpus_cues
from deevisum.data.frames_store import read_index
from deevisum.io import BadInputReport, read_json, write_json

if __name__ == "__main__":
    args = stage_args(__doc__, ["frames", "audio", "transcripts", "out", "report"])
    p = load_params()
    report = BadInputReport(p.data.on_error)
    cues = corpus_cues(read_index(args.frames), args.audio, read_json(args.transcripts), p.frames.sample_rate, p.cues, report)
    write_json(args.out, cues)
    write_json(args.report, report.to_dict())
    print(f"wrote {args.out}: {len(cues)} videos, {sum(map(len, cues.values()))} seconds")
