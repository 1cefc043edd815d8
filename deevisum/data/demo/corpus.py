"""The generated demo corpus: small videos in the TVSum release layout with learnable importance.

No benchmark video can be downloaded here, so the default pipeline runs on a corpus generated
from ``params.demo``. Importance is decided by rules that need all three modalities, as in
DEEVISum's multimodal prompts:

- frames: each video is a sequence of shots (distinct muted backgrounds, slight camera motion,
  pixel noise, hard cuts); during events a big saturated object (ball, flag, kite in red, green,
  blue or yellow) moves across the frame, or the frame flashes white;
- text: the title names one object ("Chasing the red ball"); that object is important in this
  video, every other object is a distractor (and the target of some other video);
- audio: low noise plus a murmur; some events carry a loud beep or clap train. A flash matters
  only with that sound; on object events the sound is a distractor;
- speech: a narrator (espeak-ng, a seeded voice and rate per video) points out some soundless
  flashes, which then matter, talks down some target events, which then do not, and says
  fillers over any kind of moment; only the words tell these apart
  (:mod:`deevisum.data.demo.narration`; the script is in ``demo-events.json``).

A latent importance per second (constant over each annotation segment) is rated by simulated
annotators as in TVSum: 1..5 per 2-s segment with per-annotator bias and noise. Videos are
encoded single-threaded with bit-exact flags, so the same seed gives byte-identical files (for the
same ffmpeg and espeak-ng builds). Modules: plan (what happens), narration (the voice), render
(pixels, samples, encoding), and this one, which writes the corpus.
"""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from deevisum.config import DemoParams
from deevisum.data.benchmarks import TVSUM_ANNO, TVSUM_INFO
from deevisum.data.demo.narration import LINES
from deevisum.data.demo.plan import (
    BASE_LATENT,
    EVENTS_FILE,
    LATENT,
    NARRATION_RATES,
    OBJECT_CUE_RATE,
    VideoPlan,
    plan_corpus,
)
from deevisum.data.demo.render import encode_mp4, render_frames, synth_audio
from deevisum.data.wav import write_wav
from deevisum.io import atomic_path, worker_count, write_json


def _length(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def _render_video(plan: VideoPlan, p: DemoParams, root: Path) -> None:
    """``root/video/<id>.mp4`` of one planned video (its soundtrack goes through a WAV next to it)."""
    wav = root / f"{plan.video_id}.wav"
    write_wav(wav, synth_audio(plan, p), p.sample_rate)
    encode_mp4(render_frames(plan, p), wav, p, root / "video" / f"{plan.video_id}.mp4")
    wav.unlink()


def generate_corpus(out_dir: Path, p: DemoParams) -> None:
    """Write the demo corpus in the TVSum release layout to ``out_dir`` (atomically, as a whole).

    ``video/<id>.mp4``, ``data/ydata-tvsum50-anno.tsv`` (one row per annotator),
    ``data/ydata-tvsum50-info.tsv`` and ``data/demo-events.json`` (events, latent importance).
    """
    plans = plan_corpus(p)
    with atomic_path(out_dir) as tmp:
        (tmp / "video").mkdir(parents=True)
        (tmp / "data").mkdir()
        # each video depends on its plan alone, so rendering them side by side changes no byte
        with ProcessPoolExecutor(worker_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
            done = pool.map(_render_video, plans, itertools.repeat(p), itertools.repeat(tmp))
            for _ in tqdm(done, total=len(plans), desc=f"{out_dir.name} videos", unit="video"):
                pass
        anno = [
            f"{plan.video_id}\t{plan.category}\t{','.join(map(str, row))}\n"
            for plan in plans for row in plan.user_scores.tolist()
        ]
        (tmp / "data" / TVSUM_ANNO).write_text("".join(anno), encoding="utf-8")
        info = ["category\tvideo_id\ttitle\turl\tlength\n"] + [
            f"{plan.category}\t{plan.video_id}\t{plan.title}\tdemo://{plan.video_id}\t{_length(plan.n_seconds)}\n"
            for plan in plans
        ]
        (tmp / "data" / TVSUM_INFO).write_text("".join(info), encoding="utf-8")
        write_json(tmp / "data" / EVENTS_FILE, {
            "rules": {"base_latent": BASE_LATENT, "latent": LATENT, "object_cue_rate": OBJECT_CUE_RATE,
                      "narration_rates": NARRATION_RATES, "lines": LINES},
            "params": asdict(p),
            "videos": {plan.video_id: plan.summary() for plan in plans},
        })
