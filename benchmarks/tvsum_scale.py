"""Benchmark-scale run on the CPU: a corpus of TVSum's real shape through the data stages and a tiny teacher.

The corpus has TVSum's 50 real video ids, frame counts and frame rates (24000/1001, 24, 25,
30000/1001 or 30 fps: the standard rate nearest to frames / length of the release's .mat) and its
real annotation files (``../shared/data/tvsum``); the pixels and the audio are the demo's
(:mod:`deevisum.data.demo`: planned, rendered and narrated per video with the real length, encoded
at the real rate), at a small resolution. The stage scripts then run with their ``dvc.yaml``
commands in a temporary copy of the project whose params point ``data.dataset_dir`` at the
corpus, run fold 0 only and train 1 epoch: extract_frames, transcribe, audio_cues, build_prompts,
build_tokenizer, finetune_teacher and score (the teacher only). The pretraining stages are left out
(their corpus does not grow with this one): the tokenizer is trained on this corpus's prompts and
the teacher finetunes its architecture from random weights (``source: tiny``), which costs the same. Per stage: wall and CPU seconds,
the peak RSS of its tree's largest process (GNU time) and of its whole tree (sampled), and the
disk of its outputs; per video-hour too. The same run on category-balanced subsets of 10 and 25
videos gives the growth ratios time(50)/time(25) and time(25)/time(10), to compare with the
frame ratios (linear growth: about equal; a fixed start-up makes them smaller; training and
scoring follow fold 0's train and test hours, also given), and a fit time = start-up + slope * hours.

    python benchmarks/tvsum_scale.py                      # 50 videos + the 10 and 25 subsets (~12 min on 2 cores)
    python benchmarks/tvsum_scale.py --limit 4 --scaling 3 --out /tmp/tvsum_scale_4.json   # a quick try
    python benchmarks/tvsum_scale.py --work /tmp/tvsum-scale   # keep the work folder; its videos are reused

Results: ``benchmarks/results/tvsum_scale.json``. Run it on an otherwise idle machine: each
stage's ``load_before`` (1-min load average) shows whether something else was running.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import psutil
import yaml

from deevisum.config import DemoParams
from deevisum.data.benchmarks import TVSUM_ANNO, TVSUM_INFO, read_tvsum, read_tvsum_mat
from deevisum.data.demo.plan import (
    CATEGORIES,
    COLOURS,
    EVENTS_FILE,
    OBJECTS,
    VideoPlan,
    plan_video,
)
from deevisum.data.demo.render import encode_mp4, render_frames, synth_audio
from deevisum.data.wav import write_wav
from deevisum.io import atomic_path, write_json

REPO = Path(__file__).resolve().parents[1]
TVSUM = REPO.parent / "shared" / "data" / "tvsum"
TIME = "/usr/bin/time"
"""GNU time (Debian package ``time``): the peak RSS of a process tree."""
RESULTS = REPO / "benchmarks" / "results" / "tvsum_scale.json"
STAGES = ("extract_frames", "transcribe", "audio_cues", "build_prompts", "build_tokenizer", "finetune_teacher", "score")
ROLES = {"score": ["teacher"]}
"""Stages whose role list is cut to the roles trained here."""
PARAMS = {"prompts": {"folds": [0]}, "train": {"epochs": 1}, "models": {"teacher": {"source": "tiny"}}}
"""Overrides of params.yaml (besides data.dataset_dir and the demo size): no pretrained checkpoint is needed."""
ARGS = {"build_tokenizer": {"--examples": "${paths.examples}"}}
"""Options of a stage's command replaced here: the tokenizer learns this corpus's prompts (no pretraining corpus)."""
RATES = tuple(Fraction(r) for r in ("24000/1001", "24", "25", "30000/1001", "30"))
STYLES = list(CATEGORIES)
"""The demo's category looks (backgrounds), dealt by video index: TVSum's categories have none."""
TARGETS = list(itertools.product(COLOURS, OBJECTS))


@dataclass(frozen=True)
class RealVideo:
    """One TVSum video's shape: what the generated stand-in must match."""

    index: int
    """Position in the release's annotation file (seeds the generated content)."""
    video_id: str
    category: str
    n_frames: int
    rate: Fraction

    @property
    def hours(self) -> float:
        return float(self.n_frames / self.rate) / 3600

    def cut(self, max_frames: int | None) -> RealVideo:
        """The same video cut to its first ``max_frames`` frames (tests)."""
        n = self.n_frames if max_frames is None else min(self.n_frames, max_frames)
        return RealVideo(self.index, self.video_id, self.category, n, self.rate)


@dataclass(frozen=True)
class _Encoding:
    """What ``encode_mp4`` reads of DemoParams (width, height, fps), with a real, possibly
    fractional, rate: ``DemoParams.fps`` is a whole number."""

    width: int
    height: int
    fps: Fraction


def real_videos(tvsum: Path = TVSUM) -> list[RealVideo]:
    """The release's videos in file order: frame counts from the annotations, rates from the .mat's
    exact lengths, snapped to the nearest standard rate."""
    lengths = {vid: ann.duration for vid, ann in read_tvsum_mat(tvsum / "ydata-tvsum50.mat").items()}
    return [
        RealVideo(i, vid, ann.category, ann.n_frames, min(RATES, key=lambda r: abs(r - ann.n_frames / lengths[vid])))
        for i, (vid, ann) in enumerate(read_tvsum(tvsum).videos.items())
    ]


def balanced(videos: Sequence[RealVideo]) -> list[RealVideo]:
    """Videos dealt round-robin over categories, so any prefix is a category-balanced subset."""
    groups: dict[str, list[RealVideo]] = {}
    for v in videos:
        groups.setdefault(v.category, []).append(v)
    return [v for row in itertools.zip_longest(*groups.values()) for v in row if v is not None]


def render_video(v: RealVideo, width: int, height: int, dest: Path) -> VideoPlan:
    """The demo's plan for ``v``'s length; its video (``v.n_frames`` frames at ``v.rate``, with audio
    of the same duration) is rendered to ``dest`` unless already there."""
    rate = round(v.rate)
    seconds = math.ceil(v.n_frames / v.rate)
    p = DemoParams(width=width, height=height, fps=rate, min_seconds=seconds, max_seconds=seconds)
    plan = plan_video(p, v.index, v.video_id, STYLES[v.index % len(STYLES)], TARGETS[v.index % len(TARGETS)])
    if not dest.exists():
        with atomic_path(dest) as tmp:
            wav = tmp.with_suffix(".wav")
            write_wav(wav, synth_audio(plan, p)[: round(v.n_frames / v.rate * p.sample_rate)], p.sample_rate)
            frames = itertools.islice(render_frames(plan, p), v.n_frames)
            encode_mp4(frames, wav, cast(DemoParams, _Encoding(width, height, v.rate)), tmp)
    return plan


def _tsv_rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def _write_tsv(path: Path, rows: Iterable[list[str]]) -> None:
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def release_ids(tvsum: Path = TVSUM) -> list[str]:
    """The release's video ids, in annotation-file order."""
    return list(dict.fromkeys(row[0] for row in _tsv_rows(tvsum / TVSUM_ANNO)))


def render_corpus(video_dir: Path, videos: Sequence[RealVideo], width: int, height: int) -> dict[str, VideoPlan]:
    """Render ``videos`` into ``video_dir`` (files already there are kept); their plans by id."""
    return {v.video_id: render_video(v, width, height, video_dir / f"{v.video_id}.mp4") for v in videos}


def write_dataset(root: Path, videos: Sequence[RealVideo], video_dir: Path, plans: dict[str, VideoPlan],
                  tvsum: Path = TVSUM) -> None:
    """A TVSum-layout folder of ``videos``: links to their rendered files, the release's annotation
    files (linked for the whole release, else its rows of these videos, scores and length cut
    where a video was cut) and the narration script (the transcripts' WER reference)."""
    (root / "video").mkdir(parents=True)
    (root / "data").mkdir()
    for v in videos:
        (root / "video" / f"{v.video_id}.mp4").symlink_to(video_dir / f"{v.video_id}.mp4")
    ids = {v.video_id: v for v in videos}
    anno, info = tvsum / TVSUM_ANNO, tvsum / TVSUM_INFO
    rows = [row for row in _tsv_rows(anno) if row[0] in ids]
    cut = {vid for vid, _, scores in rows if scores.count(",") + 1 > ids[vid].n_frames}
    if list(ids) == release_ids(tvsum) and not cut:
        (root / "data" / TVSUM_ANNO).symlink_to(anno)
        (root / "data" / TVSUM_INFO).symlink_to(info)
    else:
        _write_tsv(root / "data" / TVSUM_ANNO, ([vid, cat, ",".join(scores.split(",")[: ids[vid].n_frames])]
                                                for vid, cat, scores in rows))
        header, *table = _tsv_rows(info)
        vid_col, length_col = header.index("video_id"), header.index("length")
        table = [row for row in table if row[vid_col] in ids]
        for row in table:
            if row[vid_col] in cut:
                seconds = round(float(ids[row[vid_col]].n_frames / ids[row[vid_col]].rate))
                row[length_col] = f"{seconds // 60}:{seconds % 60:02d}"
        _write_tsv(root / "data" / TVSUM_INFO, [header, *table])
    write_json(root / "data" / EVENTS_FILE, {"videos": {vid: plans[vid].summary() for vid in ids}})


def _mb(paths: Iterable[Path]) -> float:
    """Apparent size of files and folders (links not followed), in MB."""
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [Path(d) / f for d, _, names in os.walk(path) for f in names]
        total += sum(f.lstat().st_size for f in files if f.exists())
    return round(total / 1e6, 2)


def _merge(base: dict, over: dict) -> dict:
    for key, value in over.items():
        base[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def fold_params(n_videos: int) -> dict[str, Any]:
    """The params' folds (5, 3 validation videos) where there are enough videos, else the most
    that fit (a quick try with a few videos; at least 3: train, val and test)."""
    if n_videos < 3:
        raise SystemExit(f"{n_videos} videos cannot fill a train, a val and a test part (3 at least)")
    return {} if n_videos >= 10 else {"prompts": {"n_folds": min(5, n_videos), "val_videos": 1}}


def project_copy(dest: Path, dataset: Path, n_videos: int, width: int, height: int) -> dict[str, Any]:
    """The code the stages run (deevisum/, stages/, dvc.yaml) and a params.yaml for this corpus;
    returns the resolved params."""
    for name in ("deevisum", "stages"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "dvc.yaml", dest / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for over in (PARAMS, fold_params(n_videos), {"data": {"dataset_dir": str(dataset)}, "demo": {"width": width, "height": height}}):
        params = _merge(params, over)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return params


def stage_commands(project: Path, params: dict[str, Any]) -> dict[str, tuple[list[str], list[Path]]]:
    """Each benchmarked stage's command line (dvc.yaml's, templating resolved) and output paths."""
    dvc = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))
    context = {**params, **{k: v for entry in dvc["vars"] for k, v in entry.items()}}

    def resolve(text: str) -> str:
        def value(match: re.Match) -> str:
            node: Any = context
            for key in match.group(1).split("."):
                node = node[key]
            return str(node)
        return re.sub(r"\$\{([\w.]+)\}", value, text)

    out = {}
    for name in STAGES:
        stage = dvc["stages"][name]
        cmd = shlex.split(resolve(stage["cmd"]))
        cmd[0] = sys.executable
        if name in ROLES:  # positional roles sit between the script and the first option
            first_option = next(i for i, tok in enumerate(cmd) if tok.startswith("--"))
            cmd = [*cmd[:2], *ROLES[name], *cmd[first_option:]]
        for option, value in ARGS.get(name, {}).items():
            cmd[cmd.index(option) + 1] = resolve(value)
        outs = [project / resolve(o if isinstance(o, str) else next(iter(o))) for o in stage.get("outs", [])]
        out[name] = (cmd, outs)
    return out


def others_running() -> list[str]:
    """Other pipeline work on this machine (stage scripts, dvc, pytest) that would stretch the
    timings (called between stages: none of ours is running)."""
    lines = (" ".join(proc.info["cmdline"] or []) for proc in psutil.process_iter(["cmdline"]))
    return sorted({line[:80] for line in lines if re.search(r"stages/\w+\.py|dvc (repro|exp)|pytest", line)})


def measure(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``cmd`` under GNU time: wall and CPU seconds, peak RSS of its tree's largest process
    (``%M``; measured from a fork of ``time``, not of this big process), peak RSS of its whole tree
    (sampled every 0.2 s) and the exit code."""
    load, others = os.getloadavg()[0], others_running()
    usage = log.with_suffix(".time")
    peak_tree = 0
    done = threading.Event()
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen([TIME, "-f", "%M %U %S", "-o", str(usage), *cmd], cwd=cwd, env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(0.2):
                total = 0
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for child in tree:
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:  # exited in between
                        pass
                peak_tree = max(peak_tree, total)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    max_kib, user, system = usage.read_text().split("\n")[-2].split()  # after a "non-zero status" line, if any
    return {"wall_s": round(wall, 2), "cpu_s": round(float(user) + float(system), 1),
            "peak_rss_mb": round(int(max_kib) / 1024, 1), "peak_tree_rss_mb": round(peak_tree / 2**20, 1),
            "load_before": round(load, 2), "others_running": others, "rc": rc}


def run_stages(work: Path, dataset: Path, videos: Sequence[RealVideo], width: int, height: int) -> dict[str, Any]:
    """Every benchmarked stage on ``dataset`` in a fresh project copy under ``work``; stops at a failure."""
    project = work / "project"
    commands = stage_commands(project, project_copy(project, dataset, len(videos), width, height))
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONHASHSEED": "0", "TOKENIZERS_PARALLELISM": "false",
           "DVC_NO_ANALYTICS": "1", "TQDM_DISABLE": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    hours = sum(v.hours for v in videos)
    stages: dict[str, Any] = {}
    for name, (cmd, outs) in commands.items():
        log = work / f"{name}.log"
        r = measure(cmd, project, env, log)
        r.update(disk_mb=_mb(o for o in outs if o.exists()), s_per_video_hour=round(r["wall_s"] / hours, 1),
                 cpu_s_per_video_hour=round(r["cpu_s"] / hours, 1))
        stages[name] = r
        print(f"  {len(videos)} videos  {name:17s} {r['wall_s']:8.1f} s  {r['cpu_s']:8.1f} s CPU  "
              f"{r['peak_rss_mb']:7.0f} MB peak ({r['peak_tree_rss_mb']:.0f} MB tree)  {r['disk_mb']:8.1f} MB out", flush=True)
        if r["rc"] != 0:
            r["error"] = log.read_text(errors="replace")[-3000:]
            print(f"  {name} failed (exit {r['rc']}):\n{r['error']}", flush=True)
            break
    return {"n_videos": len(videos), "frames": sum(v.n_frames for v in videos), "hours": round(hours, 4),
            "stages": stages, "reports": _reports(project, dataset, {v.video_id: v.hours for v in videos}), "total": _total(stages, hours)}


def _reports(project: Path, dataset: Path, hours: dict[str, float]) -> dict[str, Any]:
    """What the stages say: skipped videos, examples, fold 0's sizes, the WER, the speech cue's accuracy."""
    processed = project / "data" / "processed"
    out: dict[str, Any] = {}
    for report in sorted(processed.glob("*_report.json")):
        skipped = json.loads(report.read_text(encoding="utf-8")).get("skipped", [])
        out[report.stem.removesuffix("_report")] = {"skipped": skipped}
    if (processed / "examples.jsonl").is_file():
        with (processed / "examples.jsonl").open(encoding="utf-8") as f:
            out["examples"] = sum(1 for _ in f)
    if (processed / "splits.json").is_file():
        fold = json.loads((processed / "splits.json").read_text(encoding="utf-8"))["folds"][0]
        out["fold0_videos"] = {part: len(ids) for part, ids in fold.items()}
        out["fold0_hours"] = {part: round(sum(hours[vid] for vid in ids), 4) for part, ids in fold.items()}
    if (project / "metrics" / "transcribe.json").is_file():
        out["wer"] = json.loads((project / "metrics" / "transcribe.json").read_text(encoding="utf-8")).get("wer")
        per_video = json.loads((processed / "transcribe_report.json").read_text(encoding="utf-8"))["wer_per_video"]
        out["wer_above_1"] = {vid: round(w["wer"], 2) for vid, w in per_video.items() if w["wer"] > 1}
    if (processed / "cues.json").is_file():
        out["speech"] = speech_check(processed, dataset)
    return out


def speech_check(processed: Path, dataset: Path) -> dict[str, Any]:
    """Seconds the cues call speech vs seconds a narration line overlaps, and ASR segments over 10 s
    (a narration line lasts under 2 s)."""
    cues = json.loads((processed / "cues.json").read_text(encoding="utf-8"))
    script = json.loads((dataset / "data" / EVENTS_FILE).read_text(encoding="utf-8"))["videos"]
    said = {(vid, i) for vid, plan in script.items() for line in plan["narration"]
            for i in range(math.floor(line["start"]), math.ceil(line["end"]))}
    cued = {(vid, c["second"]) for vid, seconds in cues.items() for c in seconds if c["speech"]}
    segments = [s for segs in json.loads((processed / "transcripts.json").read_text(encoding="utf-8")).values() for s in segs]
    return {"cue_seconds": len(cued), "narrated_seconds": len(said), "cued_and_narrated": len(cued & said),
            "segments": len(segments), "segments_over_10s": sum(s["end"] - s["start"] > 10 for s in segments)}


def _total(stages: dict[str, Any], hours: float) -> dict[str, Any]:
    wall = sum(r["wall_s"] for r in stages.values())
    return {"wall_s": round(wall, 1), "cpu_s": round(sum(r["cpu_s"] for r in stages.values()), 1),
            "peak_rss_mb": max((r["peak_rss_mb"] for r in stages.values()), default=0),
            "peak_tree_rss_mb": max((r["peak_tree_rss_mb"] for r in stages.values()), default=0),
            "disk_mb": round(sum(r["disk_mb"] for r in stages.values()), 2), "s_per_video_hour": round(wall / hours, 1)}


def growth(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Ratios of consecutive runs (larger / smaller): frames, and each stage's wall and CPU time;
    and per stage a least-squares ``wall = startup + slope * hours`` over all runs."""
    pairs = {}
    for small, big in itertools.pairwise(sorted(runs, key=lambda r: r["n_videos"])):
        both = [s for s in big["stages"] if s in small["stages"]]
        pairs[f"{big['n_videos']}/{small['n_videos']}"] = {
            "frames": round(big["frames"] / small["frames"], 3),
            **{f"fold0_{part}_hours": round(big["reports"]["fold0_hours"][part] / small["reports"]["fold0_hours"][part], 3)
               for part in ("train", "test") if "fold0_hours" in small["reports"] and "fold0_hours" in big["reports"]},
            "wall": {s: round(big["stages"][s]["wall_s"] / small["stages"][s]["wall_s"], 3) for s in both},
            "cpu": {s: round(big["stages"][s]["cpu_s"] / max(small["stages"][s]["cpu_s"], 0.1), 3) for s in both},
        }
    fits = {key: {s: _fit([(r["hours"], r["stages"][s][f"{key}_s"]) for r in runs if s in r["stages"]])
                  for s in STAGES} for key in ("wall", "cpu")}
    return {"ratios": pairs, "linear_fit": fits}


def _fit(points: Sequence[tuple[float, float]]) -> dict[str, float] | None:
    """Least squares ``seconds = startup + slope * hours``, and the largest residual (None under 2 points)."""
    if len({h for h, _ in points}) < 2:
        return None
    hx, ty = (sum(x) / len(points) for x in zip(*points))
    slope = sum((h - hx) * (t - ty) for h, t in points) / sum((h - hx) ** 2 for h, _ in points)
    return {"startup_s": round(ty - slope * hx, 1), "s_per_video_hour": round(slope, 1),
            "max_residual_s": round(max(abs(t - ty - slope * (h - hx)) for h, t in points), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=50, help="videos of the main run (category-balanced subset)")
    ap.add_argument("--scaling", type=int, nargs="*", default=[10, 25], help="smaller subsets for the growth ratios")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--work", type=Path, help="work folder to keep (rendered videos are reused); default: a temporary one")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if not (TVSUM / TVSUM_ANNO).is_file():
        raise SystemExit(f"the real TVSum annotations are not at {TVSUM} (see shared/data/README.md)")
    videos = balanced(real_videos())[: args.limit]
    sizes = sorted({n for n in args.scaling if n < len(videos)} | {len(videos)})
    for n in sizes:
        fold_params(n)
    with tempfile.TemporaryDirectory(prefix="deevisum-tvsum-scale-") as tmp:
        work = args.work or Path(tmp)
        video_dir = work / "videos"
        print(f"rendering {len(videos)} videos ({sum(v.n_frames for v in videos)} frames) at {args.width}x{args.height}", flush=True)
        new = sum(not (video_dir / f"{v.video_id}.mp4").exists() for v in videos)
        start = time.perf_counter()
        plans = render_corpus(video_dir, videos, args.width, args.height)
        wall = time.perf_counter() - start
        corpus = {"videos_rendered": new, "wall_s": round(wall, 1), "s_per_video_hour": round(wall / sum(v.hours for v in videos), 1),
                  "disk_mb": _mb(video_dir / f"{v.video_id}.mp4" for v in videos)}
        print(f"  corpus: {corpus['wall_s']} s, {corpus['disk_mb']} MB", flush=True)
        runs = []
        for n in sizes:
            run_dir = work / f"run-{n}"
            shutil.rmtree(run_dir, ignore_errors=True)
            write_dataset(run_dir / "dataset", videos[:n], video_dir, plans)
            runs.append(run_stages(run_dir, run_dir / "dataset", videos[:n], args.width, args.height))
    main_run = runs[-1]
    rates = sorted({str(v.rate) for v in videos}, key=lambda r: float(Fraction(r)))
    report = {
        "n_videos": main_run["n_videos"], "total_frames": main_run["frames"], "total_hours": main_run["hours"],
        "video": f"{args.width}x{args.height} H.264 + AAC (the demo's renderer), real frame counts and rates {rates}",
        "params": PARAMS | {"roles_scored": ROLES["score"]}, "cpus": os.cpu_count(),
        "corpus_render": corpus, "stages": main_run["stages"], "total": main_run["total"], "reports": main_run["reports"],
        "growth": growth(runs), "subsets": {str(r["n_videos"]): r for r in runs[:-1]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
