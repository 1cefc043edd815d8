"""Stage audio_cues: per-second loudness / onset / speech words -> data/processed/cues.json."""

from pathlib import Path

from tqdm import tqdm

from deevisum.audio_cues import audio_cues, read_wav
from deevisum.io import BadInputReport, InputError, read_json, write_json
from deevisum.params import load_params
from deevisum.prompts import read_frames_index

FRAMES = "data/processed/frames.h5"
AUDIO_DIR = Path("data/processed/audio")
TRANSCRIPTS = "data/processed/transcripts.json"
OUT = "data/processed/cues.json"
REPORT = "data/processed/audio_cues_report.json"

if __name__ == "__main__":
    p = load_params()
    report = BadInputReport(p.data.on_error)
    sr = p.frames.sample_rate
    transcripts = read_json(TRANSCRIPTS)
    cues = {}
    for vid, (n_seconds, _) in tqdm(sorted(read_frames_index(FRAMES).items()), desc="audio_cues", unit="video"):
        try:
            if vid not in transcripts:
                raise InputError(TRANSCRIPTS, f"no transcript for {vid} (its audio was skipped by transcribe)")
            audio = read_wav(AUDIO_DIR / f"{vid}.wav", sr)
            cues[vid] = audio_cues(audio, sr, transcripts[vid], n_seconds, p.cues)
        except InputError as e:
            report.handle(e, vid)
    write_json(OUT, cues)
    write_json(REPORT, report.to_dict())
    print(f"wrote {OUT}: {len(cues)} videos, {sum(map(len, cues.values()))} seconds")
