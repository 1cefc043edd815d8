"""Hostile inputs: nothing lost, nothing read or written outside what was asked, one-line errors.

One test (or a few) per finding of the hostile review; the README's bad-input section lists what
each input gets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.stats import kendalltau
from test_evaluation_protocol import tiny_tvsum, write_tvsum_folder

import deevisum
from deevisum.app.cli import main
from deevisum.config import load_params
from deevisum.data.benchmarks import read_tvsum
from deevisum.data.frames_store import write_video
from deevisum.data.h5_benchmark import H5Video, read_h5, write_h5
from deevisum.data.video import frame_times, probe
from deevisum.evaluation.metrics import RankedAnnotators, kendall_taus, pairwise_kendall_taus
from deevisum.io import InputError, write_json
from deevisum.summary import knapsack as knapsack_module
from deevisum.summary.knapsack import knapsack_batch

REPO = Path(__file__).resolve().parents[1]
CODE = {**os.environ, "PYTHONPATH": str(Path(deevisum.__file__).resolve().parents[1])}
"""Environment of the subprocesses: the deevisum under test."""
# Names added with these checks are imported inside the tests, so each test fails on the old code for its own reason.


@pytest.fixture
def bench(tmp_path: Path) -> tuple[Path, Path]:
    """A TVSum folder of 4 videos (40 frames at 4 fps) and a scores file for it."""
    root = tmp_path / "demo"
    write_tvsum_folder(root, tiny_tvsum())
    scores = tmp_path / "s.json"
    scores.write_text(json.dumps({f"v{i}": {"scores": [1.0] * 10, "frames_per_score": 4} for i in range(4)}))
    return root, scores


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _video(path: Path, color: str = "red", seconds: float = 1.0) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"color={color}:size=32x32:rate=10:duration={seconds}",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", f"file:{path.resolve()}"], check=True)
    return path


# 1, 4: output paths ----------------------------------------------------------------------------------

def test_evaluate_refuses_a_directory_or_an_input_as_output(bench: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    root, scores = bench
    before = _tree(root)
    assert main(["evaluate", str(scores), "--root", str(root), "-o", str(root)]) == 1
    assert f"{root}: is a directory" in capsys.readouterr().err and _tree(root) == before
    text = scores.read_text()
    other_spelling = tmp_path / "demo" / ".." / "s.json"
    assert main(["evaluate", str(scores), "--root", str(root), "-o", str(other_spelling)]) == 1
    assert "is also the input" in capsys.readouterr().err and scores.read_text() == text


def test_outputs_are_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """summarize: the input by another name (a hard link) for any of its three outputs, an unwritable place."""
    monkeypatch.chdir(tmp_path)
    Path("vid.json").write_bytes(b"a video whose name ends in .json")
    assert main(["summarize", "vid.json", "-o", "vid.mp4"]) == 1  # the JSON report would be vid.json
    assert "vid.json: is also the input vid.json" in capsys.readouterr().err
    os.link("vid.json", "same.png")
    assert main(["summarize", "vid.json", "-o", "same.mp4"]) == 1
    assert "same.png: is also the input" in capsys.readouterr().err
    assert main(["summarize", "vid.json", "-o", "/proc/deevisum/x.mp4"]) == 1
    assert "/proc/deevisum/x.mp4: cannot write in /proc" in capsys.readouterr().err
    assert Path("vid.json").read_bytes() == b"a video whose name ends in .json" and not Path("vid.mp4").exists()


def test_export_h5_and_plan_refuse_directories_and_their_inputs(bench: tuple[Path, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = bench
    before = _tree(root)
    frames = tmp_path / "frames.h5"
    frames.write_bytes(b"frames")
    assert main(["export-h5", "--dataset-dir", str(root), "--frames", str(frames), "-o", str(root)]) == 1
    assert main(["export-h5", "--dataset-dir", str(root), "--frames", str(frames), "--splits", str(frames),
                 "-o", str(tmp_path / "x.h5"), "--split-output", str(frames)]) == 1
    assert main(["plan", "--params", str(REPO / "params.yaml"), "--json", str(root)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": error: ")[1].split(": ")[1] for line in err] == ["is a directory (the output must be a file name)",
                                                                         f"is also the input {frames}",
                                                                         "is a directory (the output must be a file name)"]
    assert _tree(root) == before and frames.read_bytes() == b"frames"


def test_atomic_path_never_renames_a_file_onto_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    (folder / "keep").mkdir(parents=True)
    (folder / "keep" / "data.txt").write_text("precious")
    with pytest.raises(InputError, match="is a directory: refusing to replace it with a file"):
        write_json(folder, {"a": 1})
    assert (folder / "keep" / "data.txt").read_text() == "precious"
    from deevisum.io import check_output_path

    with pytest.raises(InputError, match="is a directory"):
        check_output_path(folder)


# 2: video ids ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("vid", ["../../escaped", "/tmp/abs", "a/b", "..", "a\\b"])
def test_video_ids_that_are_paths_are_refused_naming_the_line(tmp_path: Path, vid: str) -> None:
    bench = tiny_tvsum(n_videos=2)
    bench.videos = {(vid if k == "v1" else k): v for k, v in bench.videos.items()}
    for k, v in bench.videos.items():
        v.video_id = k
    write_tvsum_folder(tmp_path, bench)
    with pytest.raises(InputError, match=r"ydata-tvsum50-anno.tsv: line \d+: video id .* is not a plain file name"):
        read_tvsum(tmp_path)


# 3: ffmpeg protocol names ----------------------------------------------------------------------------

def test_files_named_like_ffmpeg_protocols_are_cut_from_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deevisum.app.outputs import cut_video

    monkeypatch.chdir(tmp_path)
    _video(tmp_path / "other.mp4", "red")
    source = Path("cache:other.mp4")  # as typed: relative, so ffmpeg would read other.mp4 through its cache protocol
    _video(tmp_path / source, "blue")
    assert probe(source).n_frames == 10
    cut_video(source, [(0, 5)], frame_times(source), tmp_path / "cut.mp4", has_audio=False)
    rgb = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "cut.mp4"), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:"], capture_output=True, check=True).stdout
    red, _, blue = np.frombuffer(rgb, np.uint8).reshape(-1, 3).mean(axis=0)
    assert blue > 200 and red < 50


# 5: Kendall tau on long videos -----------------------------------------------------------------------

def test_kendall_tau_at_200k_frames_equals_scipy() -> None:
    """200k frames (~1 h 50 min at 30 fps): the pair counts overflow int64 when multiplied."""
    rng = np.random.default_rng(0)
    n = 200_040
    users = np.repeat(rng.integers(1, 6, (3, n // 60)), 60, axis=1).astype(float)
    pred = np.repeat(rng.random(n // 30), 30) + users[0] / 2
    ann = RankedAnnotators.of(users)
    assert kendall_taus(pred, ann) == pytest.approx([kendalltau(pred, u).statistic for u in users], abs=1e-9)
    pairs = [kendalltau(users[i], users[j]).statistic for i, j in zip(*np.triu_indices(3, 1))]
    assert pairwise_kendall_taus(ann) == pytest.approx(pairs, abs=1e-9)


# 6: one line, not a traceback ------------------------------------------------------------------------

BOMB = "evaluate:\n  budget:\n  - &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"  - &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg"))
"""A 350-byte YAML alias bomb: 9^7 = 4.8 million 'x' (a repr of 24 MB)."""


@pytest.mark.parametrize("case, problem", [
    ("params_missing", "missing.yaml: params file not found"),
    ("params_malformed", "bad.yaml: not valid YAML (while parsing a flow sequence"),
    ("params_bomb", "bomb.yaml: params: evaluate.budget = [['x', 'x',"),
    ("scores_not_utf8", "s.json: not UTF-8 text (invalid start byte at byte"),
    ("scores_directory", "scores: is a directory, not a file"),
    ("scores_nested", "s.json: not valid JSON (nested too deeply)"),
    ("frames_per_score_1e308", "video v0: 10 scores of 1e+308 frames each cover"),
])
def test_bad_evaluate_inputs_are_one_line(case: str, problem: str, bench: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root, scores = bench
    args = ["evaluate", str(scores), "--root", str(root), "--shots", "fixed"]
    if case.startswith("params"):
        params = tmp_path / {"params_missing": "missing.yaml", "params_malformed": "bad.yaml", "params_bomb": "bomb.yaml"}[case]
        if case == "params_malformed":
            params.write_text("evaluate: {budget: [1, 2\n")
        elif case == "params_bomb":
            params.write_text(BOMB)
        args += ["--params", str(params)]
    elif case == "scores_not_utf8":
        scores.write_bytes(b'{"v0": {"scores": [1], "frames_per_score": 40, "t": "\xff"}}')
    elif case == "scores_directory":
        args[1] = str(tmp_path / "scores")
        Path(args[1]).mkdir()
    elif case == "scores_nested":
        scores.write_text("[" * 100_000)
    else:
        scores.write_text(json.dumps({"v0": {"scores": [1.0] * 10, "frames_per_score": 1e308}}))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1 and len(err) < 1200  # one line (a progress bar redraws with a carriage return)


@pytest.mark.parametrize("args", [
    ["evaluate", "s.json", "--root", "x", "--budget", value] for value in ("-1", "0", "nan", "2")] + [
    ["summarize", "v.mp4", "-o", "o.mp4", "--threshold", value] for value in ("nan", "-5")])
def test_out_of_range_arguments_are_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2 and "is not a" in capsys.readouterr().err


@pytest.mark.parametrize("kind, problem", [("directory", "is a directory, not a file"),
                                           ("fifo", "is not a regular file"), ("device", "is not a regular file")])
def test_inputs_that_are_not_files_are_named_for_what_they_are(kind: str, problem: str, tmp_path: Path) -> None:
    path = {"directory": tmp_path / "dir.mp4", "fifo": tmp_path / "fifo.mp4", "device": Path("/dev/zero")}[kind]
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(InputError, match=problem):
        probe(path)


def test_json_reports_refuse_nan_and_titles_are_not_math(tmp_path: Path) -> None:
    from deevisum.app.outputs import SummaryResult, plot_timeline

    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(tmp_path / "r.json", {"threshold": float("nan")})
    assert not (tmp_path / "r.json").exists()
    result = SummaryResult(4.0, [1.0, 2.0, 3.0, 4.0], [(0.0, 2.0), (2.0, 4.0)], [(0, 20), (20, 40)], [1.5, 3.5], [1])
    plot_timeline(result, tmp_path / "t.png", r"costs $5 \frac{ and $x^")  # unbalanced, invalid TeX: plain text
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_a_missing_input_is_answered_before_torch_is_imported(tmp_path: Path) -> None:
    code = "import sys; from deevisum.app.cli import main; rc = main(['summarize', 'missing.mp4', '-o', 'o.mp4']); " \
           "print(rc, 'torch' in sys.modules, 'scipy.stats' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=CODE)
    assert run.stdout.split() == ["1", "False", "False"] and run.stderr == "deevisum summarize: error: missing.mp4: video file not found\n"


def test_export_h5_onto_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """A 4 KiB file size limit stands for a full disk (the same failed write); HDF5 used to crash at close."""
    bench = tiny_tvsum(n_videos=2, n_frames=120, fps=4.0)
    write_tvsum_folder(tmp_path / "tvsum", bench)
    with h5py.File(tmp_path / "frames.h5", "w") as f:
        for vid in bench.videos:
            write_video(f, vid, Fraction(4), 120, np.zeros((30, 8, 8, 3), np.uint8))
    code = textwrap.dedent("""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from deevisum.app.cli import main
        sys.exit(main(["export-h5", "--dataset-dir", "tvsum", "--frames", "frames.h5", "-o", "out/x.h5"]))
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=CODE)
    assert run.returncode == 1 and run.stderr.startswith("deevisum export-h5: error: [Errno 27] writing out/x.h5: File too large")
    assert len(run.stderr.splitlines()) == 1 and not (tmp_path / "out").exists()


# 7: left-overs ---------------------------------------------------------------------------------------

def test_sigterm_removes_the_temporary_paths(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys, time
        from deevisum.io import atomic_path, install_cleanup, temp_dir
        install_cleanup()
        with atomic_path("out/model") as tmp, temp_dir("audio") as scratch:
            tmp.mkdir()
            (tmp / "weights").write_bytes(b"x" * 1000)
            (scratch / "audio.wav").write_bytes(b"x" * 1000)
            print(tmp.parent, scratch, flush=True)
            time.sleep(60)
    """)
    env = {**CODE, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True, env=env)
    paths = [tmp_path / p for p in proc.stdout.readline().split()]  # relative ones are in its cwd
    assert len(paths) == 2 and all(p.exists() for p in paths) and all(f".{proc.pid}-" in p.name for p in paths)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert not any(p.exists() for p in paths) and list((tmp_path / "out").iterdir()) == []


def test_a_terminated_worker_leaves_its_parent_s_temporary_paths(tmp_path: Path) -> None:
    """Forked workers (multiprocessing, DataLoader) inherit the handler and are ended by SIGTERM."""
    code = textwrap.dedent("""
        import os, signal, time
        from deevisum.io import atomic_path, install_cleanup
        install_cleanup()
        with atomic_path("out.json") as tmp:
            tmp.write_text("{}")
            worker = os.fork()
            if worker == 0:
                time.sleep(60)
                os._exit(0)
            time.sleep(0.5)
            os.kill(worker, signal.SIGTERM)
            os.waitpid(worker, 0)
            print(tmp.exists())
    """)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=CODE)
    assert run.stdout == "True\n" and (tmp_path / "out.json").read_text() == "{}"


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_temporary_paths_of_dead_processes_are_removed_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a SIGKILL leaves behind goes at the next start; a live process's and other files stay."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead, alive = _dead_pid(), os.getppid()
    stale = [tmp_path / f".report.json.{dead}-abcd1234.tmp", tmp_path / f"deevisum-audio.{dead}-abcd1234.tmp"]
    kept = [tmp_path / f".report.json.{alive}-abcd1234.tmp", tmp_path / f"deevisum-audio.{alive}-abcd1234.tmp",
            tmp_path / f".other.json.{dead}-abcd1234.tmp", tmp_path / "notes.txt"]
    for path in stale + kept:
        path.mkdir()
    write_json(tmp_path / "report.json", {})  # next to an output when it is written (or checked)
    assert not stale[0].exists() and stale[1].exists()
    from deevisum.io import install_cleanup

    install_cleanup()()  # in the temp dir at the start of a stage or command
    assert not stale[1].exists() and all(p.exists() for p in kept)


# 8: resource bombs -----------------------------------------------------------------------------------

def test_a_knapsack_too_large_for_memory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """3000 shots x 20 annotators within 10^7 frames: 559 GiB of choices."""
    with pytest.raises(ValueError, match=r"knapsack: 3000 shots within 10000000 frames would need 28.2 GiB .*limit 1 GiB"):
        knapsack_batch(np.ones((20, 3000)), np.full(3000, 3333), 10_000_000)
    rng = np.random.default_rng(0)
    values, weights = rng.random((7, 12)), rng.integers(1, 9, 12)
    whole = knapsack_batch(values, weights, 20)
    monkeypatch.setattr(knapsack_module, "KNAPSACK_MAX_BYTES", 2 * (12 + 32) * 21)  # two rows at a time
    np.testing.assert_array_equal(knapsack_batch(values, weights, 20), whole)


def _eccv_file(path: Path, users: np.ndarray | None = None, change_points: list | None = None, dsnet: bool = False) -> H5Video:
    """One 60-frame video with 15-frame picks (by default two shots, annotators selecting frames 0-8)."""
    if users is None:
        users = np.zeros((3, 60), np.float32)
        users[:, :9] = 1
    video = H5Video(np.ones((4, 2), np.float32), np.linspace(0, 1, 4), np.zeros(4), users,
                    np.array(change_points or [[0, 29], [30, 59]]), np.arange(0, 60, 15), 60)
    write_h5(path, {"video_1": video})
    if dsnet:  # what DSNet's make_dataset.py writes
        with h5py.File(path, "a") as f:
            del f["video_1/gtsummary"], f["video_1/n_steps"]
    return video


@pytest.mark.parametrize("kind", ["external storage", "soft link", "external link"])
def test_h5_data_stored_elsewhere_is_refused(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "x_tvsum.h5"
    _eccv_file(path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    with h5py.File(path, "a") as f:
        del f["video_1/gtscore"]
        if kind == "external storage":
            f["video_1"].create_dataset("gtscore", shape=(4,), dtype=np.float32, external=[(str(secret), 0, 16)])
        elif kind == "soft link":
            f["elsewhere"] = np.zeros(4)
            f["video_1/gtscore"] = h5py.SoftLink("/elsewhere")
        else:
            with h5py.File(tmp_path / "other.h5", "w") as other:
                other["x"] = np.zeros(4)
            f["video_1/gtscore"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")
    with pytest.raises(InputError, match=r"video_1/gtscore (is a soft link|is an external link|is stored outside the file)"):
        read_h5(path)


def test_a_yaml_alias_bomb_gives_a_short_error(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(BOMB)
    with pytest.raises(ValueError, match=r"^params: evaluate.budget = \[\['x', 'x',.*must be a number$") as info:
        load_params(tmp_path / "params.yaml")
    assert len(str(info.value)) < 300


# 9: h5 interop ---------------------------------------------------------------------------------------

def test_dsnet_make_dataset_files_are_read_and_what_is_derived_is_reported(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    h5 = tmp_path / "custom_tvsum.h5"
    written = _eccv_file(h5, change_points=[[0, 44], [45, 53], [54, 59]], dsnet=True)
    video = read_h5(h5)["video_1"]
    assert video.derived == ("gtsummary", "n_steps") and video.n_steps == 4
    assert video.gtsummary.tolist() == [0, 0, 0, 1]  # 9 frames (15%) hold one shot: [45, 53], of the highest gtscore
    (tmp_path / "splits.yml").write_text("- {train_keys: [], test_keys: [video_1]}\n")
    (tmp_path / "preds.json").write_text(json.dumps({"video_1": written.gtscore.tolist()}))
    out = tmp_path / "report.json"
    assert main(["evaluate", str(tmp_path / "preds.json"), "--h5", str(h5), "--split-file", str(tmp_path / "splits.yml"),
                 "-o", str(out)]) == 0
    assert "derived (missing from the file): gtsummary, n_steps of 1 videos" in capsys.readouterr().out
    assert json.loads(out.read_text())["derived"]["videos"] == {"video_1": ["gtsummary", "n_steps"]}


# what OR-tools 9.7 (KnapsackSolver, KNAPSACK_DYNAMIC_PROGRAMMING_SOLVER, as DSNet calls it) packs
ORTOOLS_CASES = [([0, 0, 0], [30, 30, 40], 15, []), ([0, 0, 0], [10, 30, 40], 15, [0]), ([5, 5, 0], [10, 10, 5], 20, [0, 1]),
                 ([3, 3, 3, 3], [5, 5, 5, 5], 12, [0, 1]), ([1000, 0, 1000], [10, 10, 10], 10, [0]),
                 ([0, 7, 0, 7], [4, 4, 4, 4], 9, [1, 3]), ([2, 1, 1], [2, 1, 1], 2, [0]), ([0, 0, 1], [3, 3, 3], 7, [0, 2])]


@pytest.mark.parametrize("values, weights, capacity, packed", ORTOOLS_CASES)
def test_the_dsnet_knapsack_packs_what_ortools_packs(values: list[int], weights: list[int], capacity: int,
                                                     packed: list[int]) -> None:
    from deevisum.summary.knapsack import knapsack_ortools_dp

    assert np.flatnonzero(knapsack_ortools_dp(values, weights, capacity)).tolist() == packed


@pytest.mark.parametrize("preds, f1", [
    ([0.0] * 4, {"vsumm": 0.0, "dsnet": 2 / 3}),  # all zero: DSNet's solver still packs the first shot
    ([0.0004] * 5 + [0.0009] * 5 + [0.0] * 50, {"vsumm": 1 / 3, "dsnet": 2 / 3}),  # int(1000 x mean) = 0 twice: a tie
])
def test_knapsack_dsnet_reproduces_dsnet_on_low_and_tied_scores(preds: list[float], f1: dict[str, float], tmp_path: Path) -> None:
    """Shots of 5, 5 and 50 frames; 9 frames (15%) hold one of the first two. Two annotators chose the first, one the second."""
    users = np.zeros((3, 60), np.float32)
    users[:2, :5] = users[2, 5:10] = 1
    h5 = tmp_path / "x_tvsum.h5"
    _eccv_file(h5, users, [[0, 4], [5, 9], [10, 59]])
    (tmp_path / "splits.json").write_text(json.dumps([{"train_keys": [], "test_keys": ["video_1"]}]))
    (tmp_path / "preds.json").write_text(json.dumps({"video_1": preds}))
    for mode, expected in f1.items():
        out = tmp_path / f"{mode}.json"
        assert main(["evaluate", str(tmp_path / "preds.json"), "--h5", str(h5), "--split-file", str(tmp_path / "splits.json"),
                     "--knapsack", mode, "-o", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["splits"][0]["model"]["videos"]["video_1"]["f1"] == pytest.approx(expected), mode
        assert report["protocol"]["knapsack"] == mode
