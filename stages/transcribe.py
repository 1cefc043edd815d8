"""Stage transcribe: whisper over every extracted WAV -> data/processed/transcripts.json."""

from pathlib import Path

import torch
from tqdm import tqdm

from deevisum.asr import load_asr, transcribe
from deevisum.io import BadInputReport, InputError, write_json
from deevisum.params import load_params

AUDIO_DIR = Path("data/processed/audio")
OUT = "data/processed/transcripts.json"
REPORT = "data/processed/transcribe_report.json"

if __name__ == "__main__":
    p = load_params()
    if not AUDIO_DIR.is_dir():
        raise InputError(AUDIO_DIR, "audio folder not found (run extract_frames first)")
    report = BadInputReport(p.data.on_error)
    torch.set_num_threads(p.asr.threads)
    model = load_asr(p.asr.model)
    transcripts = {}
    for wav in tqdm(sorted(AUDIO_DIR.glob("*.wav")), desc="transcribe", unit="video"):
        try:
            transcripts[wav.stem] = transcribe(
                model, wav, p.asr.language, p.asr.no_speech_threshold, p.asr.logprob_threshold, p.asr.sample_len
            )
        except InputError as e:
            report.handle(e, wav.stem)
    write_json(OUT, transcripts)
    write_json(REPORT, report.to_dict())
    print(f"wrote {OUT}: {len(transcripts)} videos, {sum(map(len, transcripts.values()))} segments")
