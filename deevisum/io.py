"""Output and bad-input conventions shared by every stage and command.

Stages write to a temporary sibling and rename it into place, so a stage killed midway
leaves either the old output or none, never a half-written one (DVC would otherwise cache
garbage). Bad inputs raise :class:`InputError` naming the file and the problem; with
``data.on_error: skip`` a :class:`BadInputReport` records them and the rest goes on.

Nothing the program did not create is removed: an output path that is a directory, one of the
inputs or unwritable is refused before any work (:func:`check_output_path`). Every temporary
path carries its owner's pid (``NAME.PID-XXXXXXXX.tmp``): SIGTERM/SIGINT remove the live ones
(:func:`install_cleanup`), and those of dead processes (SIGKILL) go at the next start.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import re
import reprlib
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class InputError(Exception):
    """A bad input file: the message always names the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def one_line(text: object, limit: int = 1000) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 3, 50, 50, 200, 200


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` of at most ``limit`` characters, without building the whole repr first (a
    700-byte YAML alias bomb expands to millions of elements)."""
    return one_line(_SHORT.repr(value), limit)


_LIVE_TEMPS: set[Path] = set()
"""Temporary paths this process made and has not removed yet (removed on SIGTERM/SIGINT)."""
_TEMP_NAME = r"\.(\d+)-[a-z0-9_]+\.tmp"
"""How a temporary path's name ends: ``.PID-XXXXXXXX.tmp``, after its label."""
TEMP_LABEL = "deevisum-"
"""Prefix of this program's folders in the system temp dir."""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(folder: str | Path, label: str) -> None:
    """Remove ``folder``'s temporary paths named ``<label>.PID-XXXXXXXX.tmp`` whose process is gone
    (``label``: a regular expression)."""
    pattern = re.compile(label + _TEMP_NAME)
    with contextlib.suppress(OSError):
        for entry in Path(folder).iterdir():
            match = pattern.fullmatch(entry.name)
            if match and not _alive(int(match[1])):
                _remove(entry)


def _remove_stale_next_to(output: Path) -> None:
    """The temporary paths of dead processes for ``output`` (``.NAME.PID-XXXXXXXX.tmp`` beside it)."""
    remove_stale_temps(output.parent, re.escape(f".{output.name}"))


@contextlib.contextmanager
def _tracked(path: Path) -> Iterator[Path]:
    """Remove ``path`` on the way out, and on SIGTERM/SIGINT while inside."""
    _LIVE_TEMPS.add(path)
    try:
        yield path
    finally:
        _remove(path)
        _LIVE_TEMPS.discard(path)


@contextlib.contextmanager
def temp_dir(label: str) -> Iterator[Path]:
    """A private folder in the system temp dir (``deevisum-<label>.PID-XXXXXXXX.tmp``), removed on the way out."""
    with _tracked(Path(tempfile.mkdtemp(prefix=f"{TEMP_LABEL}{label}.{os.getpid()}-", suffix=".tmp"))) as tmp:
        yield tmp


_HANDLER_PID = 0
"""The process that installed the signal handler: a forked worker inherits the handler, and must not
remove its parent's paths when it is terminated (multiprocessing and DataLoader workers get SIGTERM)."""


def _on_signal(signum: int, frame: object) -> None:
    if os.getpid() == _HANDLER_PID:
        for path in list(_LIVE_TEMPS):
            _remove(path)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # die of the signal, as without the handler


def install_cleanup(outputs: Iterable[str | Path] = ()) -> Callable[[], None]:
    """At the start of a stage or command: SIGTERM/SIGINT remove this process's temporary paths,
    and those left by dead processes (in the temp dir, and next to ``outputs``) are removed now.
    Returns what puts the previous signal handlers back (a command run inside another program)."""
    global _HANDLER_PID
    previous = {}
    if threading.current_thread() is threading.main_thread():
        _HANDLER_PID = os.getpid()
        previous = {signum: signal.signal(signum, _on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    remove_stale_temps(tempfile.gettempdir(), re.escape(TEMP_LABEL) + r"[\w-]*")
    for output in outputs:
        _remove_stale_next_to(Path(output))

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def check_input_file(path: str | Path, missing: str = "file not found") -> Path:
    """``path`` if it is a regular file; otherwise an InputError saying what it is (``missing`` if absent).
    A FIFO or a device is never opened: reading one blocks or never ends."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(path, missing) from None
    except OSError as e:
        raise InputError(path, f"cannot read it ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise InputError(path, "is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise InputError(path, "is not a regular file (a FIFO, device or socket)")
    return path


def ffmpeg_path(path: str | Path) -> str:
    """``path`` as ffmpeg and ffprobe get it: resolved and absolute, so a file named like a protocol
    (``cache:other.mp4``, ``concat:a.mp4|b.mp4``) is read or written as that file, never as the protocol."""
    return str(Path(path).resolve())


def check_output_path(output: str | Path, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Refuse, before any work, an output that is a directory, that is one of ``inputs`` (any spelling:
    the same file by :func:`os.path.samefile`, or the same path for one that does not exist yet) or that
    cannot be written (a test file is created and removed where it would go)."""
    output = Path(output)
    if output.is_dir():
        raise InputError(output, "is a directory (the output must be a file name)")
    if output.exists() and not output.is_file():
        raise InputError(output, "exists and is not a regular file")
    for source in inputs:
        if source is None:
            continue
        same = os.path.samefile(output, source) if output.exists() and Path(source).exists() \
            else output.resolve() == Path(source).resolve()
        if same:
            raise InputError(output, f"is also the input {source}: writing it would destroy that")
    parent = output.parent
    while not parent.exists():  # atomic_path creates missing folders: the first existing one must be writable
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(output, f"{parent} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{output.name}.{os.getpid()}-", suffix=".tmp", dir=parent)
    except OSError as e:
        raise InputError(output, f"cannot write in {parent} ({e.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    _remove_stale_next_to(output)
    return output


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it onto ``final`` only on success.

    Works for files and directories (whatever the caller creates at the yielded path). A directory
    output replaces only a directory (the earlier output of the same stage); a file is never renamed
    onto a directory, so a mistaken output path cannot take a folder with it. On failure the folders
    it created for ``final`` go too, and an OSError without a file name (a full disk) gets ``final``'s.
    """
    final = Path(final)
    created = [d for d in (final.parent, *final.parent.parents) if not d.exists()]
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_next_to(final)
    try:
        with _tracked(Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}-", suffix=".tmp", dir=final.parent))) as tmp:
            target = tmp / final.name
            yield target
            if not target.exists():
                raise RuntimeError(f"atomic_path: nothing was written for {final}")
            if final.is_dir() and not final.is_symlink():
                if not target.is_dir():
                    raise InputError(final, "is a directory: refusing to replace it with a file")
                shutil.rmtree(final)
            elif final.exists() or final.is_symlink():
                final.unlink()
            os.replace(target, final)
    except BaseException as e:
        for folder in created:  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(e, OSError) and e.filename is None:
            raise OSError(e.errno, f"writing {final}: {e.strerror}") from e
        raise


def worker_count() -> int:
    """CPU cores this process may use: how many independent items (videos, training runs) to process at once."""
    return max(1, len(os.sched_getaffinity(0)))


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (sorted keys and a trailing newline keep diffs stable)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n",
                       encoding="utf-8")


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows with the same keys as a CSV table with a header, atomically (a DVC plot file)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_text(path: str | Path, missing: str = "file not found") -> str:
    """A UTF-8 text file's content; an InputError naming the file for anything else (absent, a
    directory, a FIFO, unreadable, not UTF-8)."""
    path = check_input_file(path, missing)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise InputError(path, f"cannot read it ({e.strerror})") from None


def read_json(path: str | Path) -> Any:
    path = Path(path)
    text = read_text(path, "file not found (run the stage that produces it first)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e})") from None
    except RecursionError:
        raise InputError(path, "not valid JSON (nested too deeply)") from None


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


@dataclass
class BadInputReport:
    """Collects skipped inputs under ``on_error: skip``; re-raises under ``on_error: stop``."""

    on_error: str = "stop"
    skipped: list[dict[str, str]] = field(default_factory=list)

    def handle(self, err: InputError, item: str) -> None:
        """Record ``err`` for ``item`` (a video id) or raise it, by policy."""
        if self.on_error == "stop":
            raise err
        self.skipped.append({"item": item, "path": err.path, "problem": err.problem})
        print(f"skipping {item}: {err}", flush=True)

    def to_dict(self) -> dict[str, Any]:
        return {"on_error": self.on_error, "n_skipped": len(self.skipped), "skipped": self.skipped}


TENSORS_INDEX = "index"
"""The one safetensors metadata entry :func:`save_tensors` writes."""


def save_tensors(path: str | Path, tensors: Mapping[str, Any], index: Mapping[str, Any]) -> None:
    """Tensors to a safetensors file, atomically, with ``index`` (JSON) as its one metadata entry.

    safetensors writes several metadata entries in a random (hash) order, which would change the
    file's bytes, and so its DVC hash, from run to run for the same content.
    """
    from safetensors.torch import (
        save_file,  # imports torch: only the model stages pay for it
    )

    with atomic_path(path) as tmp:
        save_file(dict(tensors), str(tmp), metadata={TENSORS_INDEX: json.dumps(index, sort_keys=True)})


def tensors_index(path: str | Path) -> dict[str, Any]:
    """The ``index`` :func:`save_tensors` stored in ``path`` ({} if it has none)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get(TENSORS_INDEX, "{}"))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so the same params give the same metrics."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # the data stages do not need torch
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def open_h5(path: str | Path, missing: str = "file not found") -> Any:
    """``path`` opened read-only with h5py, refused (InputError) when any object in it lives elsewhere:
    soft and external links, datasets with external storage or virtual ones. HDF5 follows those
    silently, so a file could otherwise read any file on the machine (or one that never ends)."""
    import h5py

    path = check_input_file(path, missing)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(path, f"not a readable HDF5 file ({one_line(e)})") from None

    def foreign(name: str, link: Any) -> str | None:  # a non-None result ends the visit
        if isinstance(link, h5py.SoftLink):
            return f"{name} is a soft link to {link.path} (links are not followed)"
        if isinstance(link, h5py.ExternalLink):
            return f"{name} is an external link to {link.filename} (links are not followed)"
        obj = f[name]
        if isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
            return f"dataset {name} is stored outside the file (external or virtual storage is refused)"
        return None

    problem = f.visititems_links(foreign)
    if problem:
        f.close()
        raise InputError(path, problem)
    return f
