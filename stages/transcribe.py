"""Stage transcribe: whisper over every extracted WAV -> transcripts (segments per video)."""

import torch

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.asr import load_asr, transcribe_dir
from deevisum.io import BadInputReport, write_json

if __name__ == "__main__":
    args = stage_args(__doc__, ["audio", "out", "report"])
    p = load_params()
    report = BadInputReport(p.data.on_error)
    torch.set_num_threads(p.asr.threads)
    transcripts = transcribe_dir(load_asr(p.asr.model), args.audio, p.asr, report)
    write_json(args.out, transcripts)
    write_json(args.report, report.to_dict())
    print(f"wrote {args.out}: {len(transcripts)} videos, {sum(map(len, transcripts.values()))} segments")
