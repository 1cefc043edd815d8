"""The demo corpus's plans: shots, events, narration, latent importance and annotator ratings.

Everything about a video except its pixels and samples (:mod:`deevisum.data.demo.render`), drawn
from ``params.demo`` with an independent seeded stream per (video, purpose).
"""

from __future__ import annotations

import colorsys
import itertools
import json
import math
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deevisum.config import DemoParams
from deevisum.data.demo.narration import LINES, ONSET, RATES, VOICES, Line, line_seconds
from deevisum.io import InputError

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
LATENT = {"target": 0.9, "distractor": 0.2, "flash_cue": 0.85, "pointed_out": 0.85, "talked_down": 0.3}
"""Latent importance of event seconds; a flash without its sound keeps the shot's base unless the
narrator points it out, and a target the narrator talks down is dull."""
NARRATION_RATES = {
    "flash": {"point_out": 0.5, "filler": 0.25},
    "target": {"talk_down": 0.4, "filler": 0.2},
    "other": {"filler": 0.15},
}
"""Chance of each narrator intent per event kind ('flash' = a flash without its sound; 'other' =
distractors and flashes with their sound); no line otherwise. One more filler goes on an
event-free segment of every video."""
OBJECT_CUE_RATE = 0.25
"""Fraction of object events that also carry a loud sound (which changes nothing)."""
MIN_CUT_CHANGE = 60.0
"""Least change of a shot's mean background colour at a cut (sum over RGB, grey levels)."""
OBJECT_SIZE = (0.3, 0.36)
"""Range of an object's radius as a fraction of the frame height: about a fifth of a 32x32 frame."""
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
    narration: str | None = None
    """The narrator's intent over this event (narration.LINES), if any."""


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
    voice: str = ""
    """The narrator's espeak-ng voice and rate (words per minute)."""
    rate: int = 0
    narration: list[Line] = field(default_factory=list)

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


def _recorded(video: Any) -> bool:
    """A video entry of ``demo-events.json`` with numeric latent importance and a list of events."""
    return (isinstance(video, dict) and isinstance(video.get("latent"), list) and isinstance(video.get("events"), list)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in video["latent"]))


def read_videos(events_file: str | Path) -> dict[str, dict]:
    """Video id -> what the generator recorded of it (``latent`` per second, ``events``...), from a corpus's
    ``demo-events.json``."""
    path = Path(events_file)
    try:
        videos = json.loads(path.read_text(encoding="utf-8"))["videos"]
        bad = [vid for vid, video in videos.items() if not _recorded(video)]
    except FileNotFoundError:
        raise InputError(path, "file not found (generate the corpus first)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError) as e:
        raise InputError(path, f"not a corpus events file ({type(e).__name__}: {e})") from None
    if bad:
        raise InputError(path, f"not a corpus events file: videos {bad[:3]} lack numeric latent importance or events")
    return videos


def rng_for(p: DemoParams, *key: int) -> np.random.Generator:
    """An independent stream per (video, purpose): changing how shots are drawn leaves events alone."""
    return np.random.default_rng([p.seed, *key])


def plan_corpus(p: DemoParams) -> list[VideoPlan]:
    """All video plans: targets and categories dealt so every (colour, object) is some video's target."""
    rng = rng_for(p)
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
    rng = rng_for(p, index + 1)
    n_seconds = int(rng.integers(p.min_seconds, p.max_seconds + 1))
    colour, obj = target
    title = f"{rng.choice(TITLES[obj]).format(c=colour, C=colour.capitalize())} ({CATEGORIES[category][0]})"
    shots = _plan_shots(p, rng_for(p, index + 1, 3), n_seconds * p.fps, category)
    events = _plan_events(p, rng_for(p, index + 1, 4), n_seconds, target, KINDS[index % len(KINDS)])
    voice, rate, narration = _plan_narration(p, rng_for(p, index + 1, 6), n_seconds, events)
    latent = _latent(p, n_seconds, shots, events)
    return VideoPlan(index, video_id, category, title, target, n_seconds, p.fps, shots, events, latent,
                     annotate(p, rng_for(p, index + 1, 5), latent), voice, rate, narration)


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
    prev_mean = np.zeros(3)
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
    n_segments = n_seconds // seg
    others = [c for c in itertools.product(COLOURS, OBJECTS) if c[0] != target[0]]  # a distractor's colour is never the target's
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
            size=float(rng.uniform(*OBJECT_SIZE)),
        ))
        k += length + int(rng.integers(1, 5))
    return events


def _plan_narration(p: DemoParams, rng: np.random.Generator, n_seconds: int,
                    events: list[Event]) -> tuple[str, int, list[Line]]:
    """The narrator's voice, rate and lines; pointing out and talking down change the events' latent."""
    voice, rate = str(rng.choice(VOICES)), int(rng.integers(*RATES, endpoint=True))
    seg = p.segment_seconds
    starts: list[tuple[int, str]] = []
    for e in events:
        group = "flash" if e.kind == "flash" and e.sound is None else "target" if e.kind == "target" else "other"
        intents = NARRATION_RATES[group]
        draw, acc = float(rng.random()), 0.0
        for intent, chance in intents.items():
            acc += chance
            if draw < acc:
                e.narration = intent
                starts.append((e.start, intent))
                break
        if e.narration == "point_out":
            e.latent = LATENT["pointed_out"]
        elif e.narration == "talk_down":
            e.latent = LATENT["talked_down"]
    busy = {s for e in events for s in range(e.start // seg, math.ceil(e.end / seg))}
    free = [k for k in range(n_seconds // seg) if k not in busy]
    if free:
        starts.append((int(rng.choice(free)) * seg, "filler"))
    lines = []
    for start, intent in sorted(starts):
        text = str(rng.choice(LINES[intent]))
        begin = start + ONSET
        lines.append(Line(begin, round(begin + line_seconds(text, voice, rate, p.sample_rate), 3), intent, text))
    return voice, rate, lines


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
