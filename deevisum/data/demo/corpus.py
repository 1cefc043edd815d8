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
  only with that sound; on object events the sound is a distractor.

A latent importance per second (constant over each annotation segment) is rated by simulated
annotators as in TVSum: 1..5 per 2-s segment with per-annotator bias and noise. Videos are
encoded single-threaded with bit-exact flags, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import colorsys
import itertools
import math
import string
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deevisum.config import DemoParams
from deevisum.data.benchmarks import TVSUM_ANNO, TVSUM_INFO
from deevisum.io import atomic_path, write_json

EVENTS_FILE = "demo-events.json"

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35),
    "green": (35, 175, 55),
    "blue": (35, 70, 225),
    "yellow": (240, 210, 30),
}
OBJECTS: dict[str, str] = {"ball": "circle", "flag": "square", "kite": "triangle"}
"""Object noun used in titles -> the shape drawn for it."""
TITLES: dict[str, tuple[str, ...]] = {
    "ball": ("Chasing the {c} ball", "The {c} ball game"),
    "flag": ("{C} flag moments", "Waving the {c} flag"),
    "kite": ("Flying the {c} kite", "A {c} kite in the wind"),
}
CATEGORIES: dict[str, tuple[str, tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    # code: (name, background hue range, saturation range, value range) in HSV [0, 1]
    "PK": ("parkour", (0.0, 1.0), (0.0, 0.12), (0.35, 0.75)),
    "BT": ("bike tricks", (0.05, 0.12), (0.2, 0.4), (0.3, 0.65)),
    "DS": ("dog show", (0.22, 0.35), (0.2, 0.4), (0.3, 0.6)),
    "PR": ("parade", (0.55, 0.65), (0.15, 0.35), (0.5, 0.85)),
    "FM": ("flash mob", (0.08, 0.15), (0.1, 0.3), (0.5, 0.8)),
}
BACKGROUNDS = ("solid", "gradient", "blocks", "stripes", "vignette")

BASE_LATENT = (0.05, 0.15)
"""Latent importance outside events, drawn per shot."""
LATENT = {"target": 0.9, "distractor": 0.2, "flash_cue": 0.85}
"""Latent importance of event seconds; a flash without its sound keeps the shot's base."""
OBJECT_CUE_RATE = 0.25
"""Fraction of object events that also carry a loud sound (which changes nothing)."""
MIN_CUT_CHANGE = 60.0
"""Least change of a shot's mean background colour at a cut (sum over RGB, grey levels)."""
NOISE_LEVEL = 3.0
"""Std of the per-pixel noise (grey levels)."""


@dataclass
class Shot:
    """One camera shot: a background pattern panned slowly; frames [start, end)."""

    start: int
    end: int
    pattern: str
    colour_a: tuple[int, int, int]
    colour_b: tuple[int, int, int]
    angle: float
    pan: tuple[float, float]
    """Camera travel over the shot, as a fraction of the margin, in x and y."""
    base: float


@dataclass
class Event:
    """Something happening over whole annotation segments: seconds [start, end)."""

    start: int
    end: int
    kind: str
    """'target' (the title's object), 'distractor' (another object) or 'flash'."""
    colour: str | None
    obj: str | None
    sound: str | None
    """'beep', 'clap' or None: the loud audio cue."""
    latent: float | None
    """Latent importance of its seconds; None keeps the shot's base (a flash without its sound)."""
    position: tuple[float, float] = (0.5, 0.5)
    """Object centre at the event start, as fractions of width and height."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """Object speed in frame widths/heights per second (it bounces off the borders)."""
    size: float = 0.22
    """Object radius as a fraction of the frame height."""


@dataclass
class VideoPlan:
    """Everything about one demo video except its pixels and samples."""

    index: int
    video_id: str
    category: str
    title: str
    target: tuple[str, str]
    """(colour, object) named by the title."""
    n_seconds: int
    fps: int
    shots: list[Shot]
    events: list[Event]
    latent: list[float]
    """Latent importance per second (constant over each annotation segment)."""
    user_scores: np.ndarray = field(repr=False)
    """(n_annotators, n_frames) int ratings 1..5."""

    @property
    def n_frames(self) -> int:
        return self.n_seconds * self.fps

    def summary(self) -> dict:
        """JSON-able description for ``demo-events.json`` (debugging, README figures)."""
        d = asdict(self)
        d.pop("user_scores")
        d["shots_frames"] = [[s.start, s.end] for s in self.shots]
        return d


KINDS = ("target", "flash", "distractor")


def _rng(p: DemoParams, *key: int) -> np.random.Generator:
    """An independent stream per (video, purpose): changing how shots are drawn leaves events alone."""
    return np.random.default_rng([p.seed, *key])


def plan_corpus(p: DemoParams) -> list[VideoPlan]:
    """All video plans: targets and categories dealt so every (colour, object) is some video's target."""
    rng = _rng(p)
    combos = list(itertools.product(COLOURS, OBJECTS))
    order = rng.permutation(len(combos))
    cats = list(CATEGORIES)
    cat_order = rng.permutation(len(cats))
    alphabet = np.array(list(string.ascii_letters + string.digits))
    ids: list[str] = []
    while len(ids) < p.n_videos:
        vid = "".join(rng.choice(alphabet, 11))
        if vid not in ids:
            ids.append(vid)
    return [
        plan_video(p, i, ids[i], cats[cat_order[i % len(cats)]], combos[order[i % len(combos)]])
        for i in range(p.n_videos)
    ]


def plan_video(p: DemoParams, index: int, video_id: str, category: str, target: tuple[str, str]) -> VideoPlan:
    """Shots, events, latent importance and annotator ratings of one video."""
    rng = _rng(p, index + 1)
    n_seconds = int(rng.integers(p.min_seconds, p.max_seconds + 1))
    colour, obj = target
    title = f"{rng.choice(TITLES[obj]).format(c=colour, C=colour.capitalize())} ({CATEGORIES[category][0]})"
    shots = _plan_shots(p, _rng(p, index + 1, 3), n_seconds * p.fps, category)
    events = _plan_events(p, _rng(p, index + 1, 4), n_seconds, target, KINDS[index % len(KINDS)])
    latent = _latent(p, n_seconds, shots, events)
    return VideoPlan(index, video_id, category, title, target, n_seconds, p.fps, shots, events, latent,
                     annotate(p, _rng(p, index + 1, 5), latent))


def _plan_shots(p: DemoParams, rng: np.random.Generator, n_frames: int, category: str) -> list[Shot]:
    _, hues, sats, vals = CATEGORIES[category]
    lo, hi = round(p.min_shot_seconds * p.fps), round(p.max_shot_seconds * p.fps)
    bounds = [0]
    while bounds[-1] < n_frames:
        bounds.append(bounds[-1] + int(rng.integers(lo, hi + 1)))
    bounds[-1] = n_frames
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < lo:  # no stub shot at the end
        bounds.pop(-2)

    def colour() -> tuple[int, int, int]:
        rgb = colorsys.hsv_to_rgb(rng.uniform(*hues) % 1.0, rng.uniform(*sats), rng.uniform(*vals))
        return tuple(int(round(255 * c)) for c in rgb)

    shots: list[Shot] = []
    for start, end in itertools.pairwise(bounds):
        while True:  # a cut must change the picture: another pattern and another mean colour
            pattern = str(rng.choice(BACKGROUNDS))
            a, b = colour(), colour()
            mean = np.add(a, b) / 2
            if not shots or (pattern != shots[-1].pattern and np.abs(mean - prev_mean).sum() >= MIN_CUT_CHANGE):
                break
        prev_mean = mean
        pan = tuple(float(x) for x in rng.uniform(-1, 1, 2))
        shots.append(Shot(start, end, pattern, a, b, float(rng.uniform(0, math.pi)), pan, float(rng.uniform(*BASE_LATENT))))
    return shots


def _plan_events(
    p: DemoParams, rng: np.random.Generator, n_seconds: int, target: tuple[str, str], first: str
) -> list[Event]:
    """Events on the annotation-segment grid; kinds dealt in shuffled rounds so each video is balanced.

    The first kind is dealt by video index, so even a few very short videos show every kind.
    """
    seg = p.segment_seconds
    n_segments = math.ceil(n_seconds / seg)
    others = [c for c in itertools.product(COLOURS, OBJECTS) if c != target]
    kinds = [first, *rng.permutation([k for k in KINDS if k != first])]
    flash_sounds: list[bool] = []
    events = []
    k = int(rng.integers(1, 3))
    while k < n_segments:
        if not kinds:
            kinds = list(rng.permutation(KINDS))
        if not flash_sounds:
            flash_sounds = list(rng.permutation([True, False]))
        kind = str(kinds.pop(0))
        length = int(rng.integers(1, 4))
        start, end = k * seg, min((k + length) * seg, n_seconds)
        sound = str(rng.choice(["beep", "clap"]))
        if kind == "flash":
            has_sound = bool(flash_sounds.pop())
            colour = obj = None
            latent = LATENT["flash_cue"] if has_sound else None
        else:
            has_sound = bool(rng.random() < OBJECT_CUE_RATE)
            colour, obj = target if kind == "target" else others[int(rng.integers(len(others)))]
            latent = LATENT[kind]
        events.append(Event(
            start, end, kind, colour, obj, sound if has_sound else None, latent,
            position=tuple(float(x) for x in rng.uniform(0.3, 0.7, 2)),
            velocity=tuple(float(x) for x in rng.uniform(-0.25, 0.25, 2)),
            size=float(rng.uniform(0.2, 0.26)),
        ))
        k += length + int(rng.integers(1, 5))
    return events


def _latent(p: DemoParams, n_seconds: int, shots: list[Shot], events: list[Event]) -> list[float]:
    """Per-second latent importance: the shot's base, raised by events, averaged per segment."""
    per_second = np.empty(n_seconds)
    for s in shots:
        per_second[s.start // p.fps: math.ceil(s.end / p.fps)] = s.base
    for e in events:
        if e.latent is not None:
            per_second[e.start: e.end] = e.latent
    seg = p.segment_seconds
    for start in range(0, n_seconds, seg):
        per_second[start: start + seg] = per_second[start: start + seg].mean()
    return [round(float(x), 4) for x in per_second]


def annotate(p: DemoParams, rng: np.random.Generator, latent: list[float]) -> np.ndarray:
    """Simulated TVSum annotators: each rates each segment 1..5 around latent*4+1 with bias and noise."""
    seg = p.segment_seconds
    seg_latent = np.asarray(latent[::seg])
    bias = rng.normal(0.0, p.annotator_bias, (p.n_annotators, 1))
    noise_sd = p.annotator_noise * rng.uniform(0.6, 1.4, (p.n_annotators, 1))
    noise = rng.normal(0.0, 1.0, (p.n_annotators, len(seg_latent))) * noise_sd
    ratings = np.clip(np.rint(seg_latent * 4 + 1 + bias + noise), 1, 5).astype(np.int64)
    return np.repeat(ratings, seg * p.fps, axis=1)[:, : len(latent) * p.fps]


def _background(shot: Shot, h: int, w: int) -> np.ndarray:
    """The shot's pattern on a canvas larger than the frame (the margin is room for camera motion)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * math.cos(shot.angle) + yy * math.sin(shot.angle)) / max(h, w)
    if shot.pattern == "solid":
        t = np.zeros_like(u)
    elif shot.pattern == "gradient":
        t = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
    elif shot.pattern == "blocks":
        t = ((xx * 3 // w + yy * 3 // h) % 2).astype(np.float32)
    elif shot.pattern == "stripes":
        t = (np.floor(u * 4) % 2).astype(np.float32)
    else:  # vignette
        r = np.hypot(xx / w - 0.5, yy / h - 0.5)
        t = r / r.max()
    a, b = np.asarray(shot.colour_a, np.float32), np.asarray(shot.colour_b, np.float32)
    return a + t[..., None] * (b - a)


def _shape_mask(obj: str, cx: float, cy: float, r: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    shape = OBJECTS[obj]
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(xx - cx) <= 0.9 * r) & (np.abs(yy - cy) <= 0.9 * r)
    top = cy - r  # triangle pointing up, base 2.4 r wide
    return (yy >= top) & (yy <= cy + r) & (np.abs(xx - cx) <= 0.6 * (yy - top))


def _bounce(x: float, lo: float, hi: float) -> float:
    """Position reflected into [lo, hi] (an object bouncing off the borders)."""
    span = hi - lo
    x = (x - lo) % (2 * span)
    return lo + (x if x <= span else 2 * span - x)


def render_frames(plan: VideoPlan, p: DemoParams) -> Iterator[np.ndarray]:
    """The video's RGB frames, (height, width, 3) uint8, in order."""
    h, w, fps = p.height, p.width, p.fps
    margin = max(4, w // 10)
    rng = _rng(p, plan.index + 1, 1)
    noise_bank = rng.normal(0, NOISE_LEVEL, (8, h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    events_at = {f: e for e in plan.events for f in range(e.start * fps, e.end * fps)}
    for shot in plan.shots:
        canvas = _background(shot, h + 2 * margin, w + 2 * margin)
        length = shot.end - shot.start
        for f in range(shot.start, shot.end):
            progress = (f - shot.start) / max(length - 1, 1) - 0.5
            ox = int(round(margin * (1 + 0.9 * shot.pan[0] * progress * 2))) + int(rng.integers(-1, 2))
            oy = int(round(margin * (1 + 0.9 * shot.pan[1] * progress * 2))) + int(rng.integers(-1, 2))
            ox, oy = min(max(ox, 0), 2 * margin), min(max(oy, 0), 2 * margin)
            frame = canvas[oy: oy + h, ox: ox + w].copy()
            event = events_at.get(f)
            if event is not None:
                t = f / fps - event.start
                if event.kind == "flash":
                    a = 0.65 + 0.1 * math.sin(2 * math.pi * 3 * t)
                    frame = frame * (1 - a) + 255 * a
                else:
                    r = event.size * h
                    cx = _bounce((event.position[0] + event.velocity[0] * t) * w, r, w - r)
                    cy = _bounce((event.position[1] + event.velocity[1] * t) * h, r, h - r)
                    frame[_shape_mask(event.obj, cx, cy, r, yy, xx)] = COLOURS[event.colour]
            frame += noise_bank[int(rng.integers(len(noise_bank)))]
            yield np.clip(frame, 0, 255).astype(np.uint8)


def synth_audio(plan: VideoPlan, p: DemoParams) -> np.ndarray:
    """Mono float soundtrack in [-1, 1]: quiet noise, a meaningless murmur, loud cues on some events."""
    sr = p.sample_rate
    n = plan.n_seconds * sr
    rng = _rng(p, plan.index + 1, 2)
    white = rng.normal(0, 1, n)
    noise = np.convolve(white, np.ones(8) / 8, mode="same")  # soft low-pass
    audio = 0.005 * noise / noise.std()
    for _ in range(3):  # murmur: voices of harmonic "syllables" (the demo speech carries no meaning)
        t0 = float(rng.uniform(0, 0.3))
        while t0 < plan.n_seconds:
            dur = float(rng.uniform(0.08, 0.25))
            i0, i1 = int(t0 * sr), min(int((t0 + dur) * sr), n)
            tt = np.arange(i1 - i0) / sr
            f0 = rng.uniform(100, 240)
            syl = sum(np.sin(2 * np.pi * k * f0 * tt) / k for k in range(1, 5))
            audio[i0:i1] += 0.012 * np.hanning(i1 - i0) * syl
            t0 += dur + float(rng.uniform(0.02, 0.15))
    for e in plan.events:
        if e.sound is None:
            continue
        for t in np.arange(e.start, e.end, 0.5):  # a train of bursts: every second of the event is loud
            i0 = int(t * sr)
            m = min(int(0.25 * sr), n - i0)
            tt = np.arange(m) / sr
            if e.sound == "beep":
                burst = 0.3 * (np.sin(2 * np.pi * 1000 * tt) + 0.5 * np.sin(2 * np.pi * 2000 * tt))
                burst *= np.minimum(1, tt / 0.01)
            else:
                burst = 0.7 * rng.normal(0, 1, m).clip(-3, 3) / 3 * np.exp(-tt / 0.03)
            audio[i0: i0 + m] += burst
    return np.clip(audio, -1, 1)


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes((audio * 32767).round().astype("<i2").tobytes())


def encode_mp4(frames: Iterator[np.ndarray], wav: Path, p: DemoParams, out: Path) -> None:
    """H.264 (yuv420p) + AAC mp4 from raw RGB frames on stdin; single-threaded and bit-exact."""
    cmd = [
        "ffmpeg", "-nostdin", "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{p.width}x{p.height}", "-framerate", str(p.fps), "-i", "pipe:0",
        "-i", str(wav),
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-g", str(2 * p.fps),
        "-c:a", "aac", "-b:a", "32k", "-ac", "1",
        "-threads", "1", "-filter_threads", "1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
        str(out),
    ]
    log = out.with_suffix(".log")
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
        try:
            for frame in frames:
                proc.stdin.write(frame.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg died; its log says why
        finally:
            proc.stdin.close()
            rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"ffmpeg failed encoding {out} (exit {rc}): {log.read_text(errors='replace').strip()}")
    log.unlink()


def _length(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def generate_corpus(out_dir: Path, p: DemoParams) -> None:
    """Write the demo corpus in the TVSum release layout to ``out_dir`` (atomically, as a whole).

    ``video/<id>.mp4``, ``data/ydata-tvsum50-anno.tsv`` (one row per annotator),
    ``data/ydata-tvsum50-info.tsv`` and ``data/demo-events.json`` (events, latent importance).
    """
    plans = plan_corpus(p)
    with atomic_path(out_dir) as tmp:
        (tmp / "video").mkdir(parents=True)
        (tmp / "data").mkdir()
        for plan in tqdm(plans, desc="demo videos", unit="video"):
            wav = tmp / f"{plan.video_id}.wav"
            _write_wav(wav, synth_audio(plan, p), p.sample_rate)
            encode_mp4(render_frames(plan, p), wav, p, tmp / "video" / f"{plan.video_id}.mp4")
            wav.unlink()
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
            "rules": {"base_latent": BASE_LATENT, "latent": LATENT, "object_cue_rate": OBJECT_CUE_RATE},
            "params": asdict(p),
            "videos": {plan.video_id: plan.summary() for plan in plans},
        })
