"""Kill-anywhere harness: run an `aufera` command, SIGKILL it at seeded random points, resume, compare.

`kill_and_resume` starts the real command (`python -m aufera.cli ...`) in a
subprocess of its own process group, kills the whole group with SIGKILL at
the chosen moments (the command and any worker processes it started, as a
lost machine or `kill -9` of the job would), checks after every kill that no
file a later step reads is half-written (`check_outputs`), and reruns the
same command until it completes. The kill moments are `Kill`s: a delay drawn
from a seeded `random.Random`, counted from the start of the attempt or from
the moment a file appears (so that a kill lands in a chosen phase), and the
attempts record where each kill landed (`Attempt.phase`).

Used by tests/test_kill_resume.py (marked slow); kept free of pytest so a
failing case can be replayed by hand.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def aufera_argv(*args) -> list[str]:
    """The `aufera` command as a subprocess argv (the checkout's package, this interpreter)."""
    return [sys.executable, "-m", "aufera.cli", *[str(a) for a in args]]


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# === When to kill ===


@dataclass
class Kill:
    """One kill: `delay` seconds after the attempt starts, or after `trigger` first holds.

    Args:
        delay: float. Seconds.
        trigger: callable `(out_dir, attempt_start, output_lines) -> bool` or
            None; polled every 20 ms (`attempt_start` is a time.time()).
            None counts the delay from the start.
        label: str. What the trigger waits for (printed).
        main_only: bool. Kill only the command's own process, not the
            workers it started (they are orphaned, as when only the parent
            is killed). Defaults to False: the whole process group.
    """

    delay: float
    trigger: Callable[[Path, float, list], bool] | None = None
    label: str = "start"
    main_only: bool = False


def appeared(relative: str) -> Callable[[Path, float, list], bool]:
    """A trigger: `out_dir/relative` was written (created or replaced) during this attempt."""

    def check(out_dir: Path, started: float, lines: list) -> bool:
        try:
            return (Path(out_dir) / relative).stat().st_mtime >= started
        except OSError:
            return False

    return check


def appeared_any(pattern: str) -> Callable[[Path, float, list], bool]:
    """A trigger: a file matching the glob `pattern` under `out_dir` was written during this attempt."""

    def check(out_dir: Path, started: float, lines: list) -> bool:
        for path in Path(out_dir).glob(pattern):
            try:
                if path.stat().st_mtime >= started:
                    return True
            except OSError:
                continue
        return False

    return check


def printed(text: str = "") -> Callable[[Path, float, list], bool]:
    """A trigger: the command printed a line holding `text` (TensorFlow's start-up noise aside); "" any line."""

    def check(out_dir: Path, started: float, lines: list) -> bool:
        return any(text in line and not any(n in line for n in NOISE) for _, line in lines)

    return check


@dataclass
class Attempt:
    """One run of the command: killed (when, where) or finished (its exit status)."""

    kill: Kill | None
    killed: bool
    seconds: float
    returncode: int | None
    killed_at: float | None = None  # seconds after the start of the attempt
    phase: str = ""
    last_line: str = ""
    output: str = ""
    problems: list = field(default_factory=list)
    timeline: list = field(default_factory=list)  # (seconds after the start, line) of meaningful output
    orphans: int | None = None  # process group left running (workers of a main-only kill), else None
    uncommitted: list = field(default_factory=list)  # half-written checkpoint files no state.json names

    def describe(self) -> str:
        if not self.killed:
            planned = f" (kill planned {self.kill.delay:.2f} s after {self.kill.label} never came)" if self.kill else ""
            return f"ran to the end in {self.seconds:.1f} s, exit {self.returncode}{planned}"
        return (
            f"SIGKILL at {self.killed_at:.2f} s ({self.kill.delay:.2f} s after {self.kill.label}) in "
            f"{self.phase}; last output: {self.last_line[:100]!r}"
        )


class _Reader(threading.Thread):
    """Collects a process's output (lines split at \\n and \\r) with the time each arrived."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[tuple[float, str]] = []
        self.raw = io.StringIO()

    def run(self):
        buffer = ""
        while True:
            chunk = self.stream.read1(4096) if hasattr(self.stream, "read1") else self.stream.read(4096)
            if not chunk:
                break
            text = chunk.decode("utf-8", "replace")
            self.raw.write(text)
            buffer += text
            *done, buffer = buffer.replace("\r", "\n").split("\n")
            now = time.monotonic()
            self.lines += [(now, line) for line in done if line.strip()]
        if buffer.strip():
            self.lines.append((time.monotonic(), buffer))


NOISE = ("WARNING: All log messages", "cudart_stub", "cuda_platform", "cpu_feature_guard", "To enable the following")


def meaningful(lines, started: float = 0.0) -> list[tuple[float, str]]:
    """Output lines without TensorFlow's start-up noise, with their time after `started`."""
    return [(t - started, line) for t, line in lines if not any(n in line for n in NOISE)]


def run_attempt(argv, out_dir: Path, kill: Kill | None, timeout: float, phase=None, cwd=None) -> Attempt:
    """Runs `argv` once; SIGKILLs its process group as `kill` says (None: to the end)."""
    out_dir = Path(out_dir)
    started_wall = time.time()
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=_env(), cwd=cwd
    )
    reader = _Reader(proc.stdout)
    reader.start()
    fire_at = None if kill is None or kill.trigger is not None else started + kill.delay
    killed_at = None
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if now - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise TimeoutError(f"{argv}: still running after {timeout} s")
            if kill is not None and fire_at is None and kill.trigger(out_dir, started_wall - 0.01, reader.lines):
                fire_at = now + kill.delay
            if fire_at is not None and now >= fire_at:
                if kill.main_only:
                    os.kill(proc.pid, signal.SIGKILL)
                else:
                    os.killpg(proc.pid, signal.SIGKILL)
                killed_at = time.monotonic() - started
                proc.wait()
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    phase_now = phase(out_dir, [line for _, line in meaningful(reader.lines)]) if killed_at and phase else "?"
    if killed_at is None or not kill.main_only:
        reader.join(timeout=10)  # orphaned workers of a main-only kill keep the pipe open: not waited for
    timeline = meaningful(reader.lines, started)
    lines = [line for _, line in timeline]
    attempt = Attempt(
        kill=kill,
        killed=killed_at is not None,
        seconds=time.monotonic() - started,
        returncode=proc.returncode,
        killed_at=killed_at,
        last_line=lines[-1] if lines else "",
        output=reader.raw.getvalue(),
        timeline=timeline,
    )
    if attempt.killed:
        attempt.phase = phase_now
        if kill.main_only and group_alive(proc.pid):
            attempt.orphans = proc.pid
    return attempt


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running (zombies, ended but not yet reaped, do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def wait_for_group(pgid: int, timeout: float) -> float:
    """Waits until no process of group `pgid` is left (orphaned workers ending on their own); returns the seconds.

    Raises TimeoutError (after killing them) when some are still alive after `timeout`.
    """
    started = time.monotonic()
    while group_alive(pgid):
        if time.monotonic() - started > timeout:
            os.killpg(pgid, signal.SIGKILL)
            raise TimeoutError(f"workers of the killed process (group {pgid}) still alive after {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def kill_and_resume(argv, out_dir, kills, timeout=600.0, phase=None, check=None, log=print, cwd=None) -> list[Attempt]:
    """Runs `argv` once per `Kill` (killed at its moment, unless it ends first), then to completion.

    After each kill `check(out_dir)` (default `check_outputs`) lists files
    that a later step would read half-written; they are kept in
    `Attempt.problems`. Raises RuntimeError when the final run fails.
    """
    check = check or check_outputs
    attempts = []
    for kill in list(kills) + [None]:
        attempt = run_attempt(argv, out_dir, kill, timeout, phase, cwd=cwd)
        if attempt.killed:
            attempt.problems = check(Path(out_dir))
            attempt.uncommitted = half_written_uncommitted(Path(out_dir))
        attempts.append(attempt)
        notes = " (its workers still running)" if attempt.orphans else ""
        notes += f"; PROBLEMS {attempt.problems}" if attempt.problems else ""
        notes += f"; uncommitted, half-written: {attempt.uncommitted}" if attempt.uncommitted else ""
        log(f"  attempt {len(attempts)}: {attempt.describe()}{notes}")
        if not attempt.killed:
            break
    for attempt in attempts:  # orphaned workers end by themselves once their parent is gone
        if attempt.orphans:
            wait_for_group(attempt.orphans, timeout=120.0)
    last = attempts[-1]
    if last.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {last.returncode}\n{last.output[-3000:]}")
    return attempts


def timed_run(argv, timeout=600.0, cwd=None) -> Attempt:
    """Runs `argv` to the end (the uninterrupted reference); its `seconds` and `timeline` give the kill window."""
    attempt = run_attempt(argv, Path("."), None, timeout, cwd=cwd)
    if attempt.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {attempt.returncode}\n{attempt.output[-3000:]}")
    return attempt


# === No half-written file ===

TEMPORARY_PREFIXES = (".",)  # atomic_write's temporaries, synth's .partial/, .preset.old.*, ...
INCOMPLETE = ("incomplete.", ".incomplete")  # TFDS writes a dataset into such a folder and renames it at the end


def is_temporary(path: Path, root: Path) -> bool:
    """Whether `path` is clearly a temporary (a hidden name, or inside a hidden or TFDS incomplete folder)."""
    parts = path.relative_to(root).parts
    return any(p.startswith(TEMPORARY_PREFIXES) or any(m in p for m in INCOMPLETE) or p.endswith(".tmp") for p in parts)


def _committed_checkpoints(root: Path) -> dict[Path, set]:
    """Per checkpoint folder with a state.json: the files it names (the others are uncommitted, never read)."""
    out = {}
    for state in root.rglob("checkpoints/*/state.json"):
        if is_temporary(state, root):
            continue
        data = json.loads(state.read_text())
        out[state.parent] = {state.name, data.get("last"), data.get("best")} - {None}
    return out


def half_written_uncommitted(root: Path) -> list[str]:
    """Checkpoint files that no `state.json` names (resume never reads them) and that are not complete."""
    root = Path(root)
    if not root.exists():
        return []
    out = []
    for folder, named in _committed_checkpoints(root).items():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name not in named and not is_temporary(path, root) and check_file(path):
                out.append(f"{path.relative_to(root)}: {check_file(path)}")
    return out


def check_file(path: Path) -> str | None:
    """None when the file reads as complete by its kind, else the reason."""
    name = path.name
    try:
        if name.endswith(".json"):
            json.loads(path.read_text())
        elif name.endswith((".yaml", ".yml")):
            import yaml

            yaml.safe_load(path.read_text())
        elif name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    data[key]
        elif name.endswith(".npy"):
            np.load(path, allow_pickle=False)
        elif name.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad is not None:
                    return f"member {bad} fails its CRC"
                names = set(archive.namelist())
                if not {"config.json", "metadata.json"} <= names:
                    return f"a .keras archive without config.json / metadata.json ({sorted(names)})"
        elif name.endswith(".h5"):
            import h5py

            with h5py.File(path, "r") as handle:
                handle.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
        elif name.endswith(".csv"):
            text = path.read_text()
            if text and not text.endswith("\n"):
                return "does not end with a line break"
            rows = list(csv.reader(io.StringIO(text)))
            if rows and len({len(r) for r in rows}) != 1:
                return f"rows of different lengths {sorted({len(r) for r in rows})}"
        elif ".tfrecord" in name:
            from tfrecords_tools.verify import verify_file

            result = verify_file(path)
            if result.problem is not None:
                return str(result.problem)
        elif name.endswith((".png", ".jpg")):
            import cv2

            if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None:
                return "OpenCV cannot decode it"
        elif name.endswith(".mp4"):
            import cv2

            reader = cv2.VideoCapture(str(path))
            count = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) if reader.isOpened() else 0
            ok = reader.isOpened() and count > 0 and all(reader.read()[0] for _ in range(count))
            reader.release()
            if not ok:
                return f"not a whole video ({count} frames declared)"
        elif name.endswith(".md"):
            path.read_text()
    except Exception as error:  # any failure to read it is the finding
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return None


def check_outputs(root, reference: Path | None = None, skip=("logs",)) -> list[str]:
    """Every non-temporary file under `root` that a later step reads: complete by its kind.

    Checkpoint files that the folder's `state.json` does not name are
    uncommitted (resume never reads them) and are not checked. TensorBoard
    event files (`logs/`) are appended while training and read live, so they
    are skipped. With `reference` (the same job's uninterrupted output), a
    file present in both must be byte-equal to the reference's (for
    deterministic jobs). Returns one line per problem.
    """
    root = Path(root)
    if not root.exists():
        return []
    committed = _committed_checkpoints(root)
    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if is_temporary(path, root) or (rel.parts and rel.parts[0] in skip):
            continue
        if path.parent in committed and path.name not in committed[path.parent]:
            continue
        reason = check_file(path)
        if reason is None and reference is not None:
            other = Path(reference) / rel
            if other.is_file() and other.read_bytes() != path.read_bytes():
                reason = "differs from the uninterrupted run's file"
        if reason is not None:
            problems.append(f"{rel}: {reason}")
    return problems


# === Comparing outputs ===


def files_under(root: Path, skip=()) -> dict[str, Path]:
    """Non-temporary files under `root` by relative path."""
    root = Path(root)
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not is_temporary(p, root) and not any(str(p.relative_to(root)).startswith(s) for s in skip)
    }


def byte_differences(a: Path, b: Path, skip=()) -> list[str]:
    """Files present in only one tree or with different bytes."""
    fa, fb = files_under(a, skip), files_under(b, skip)
    out = [f"only in one: {name}" for name in sorted(set(fa) ^ set(fb))]
    out += [name for name in sorted(set(fa) & set(fb)) if fa[name].read_bytes() != fb[name].read_bytes()]
    return out


def keras_weights(path, model_only: bool = False) -> list[np.ndarray]:
    """The weights stored in a `.keras` archive (its model.weights.h5), in storage order, without Keras.

    `model_only` leaves out the optimizer's state (Adam's moments).
    """
    import h5py

    arrays = []

    def take(name, obj):
        if isinstance(obj, h5py.Dataset) and not (model_only and name.startswith("optimizer")):
            arrays.append((name, np.asarray(obj)))

    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
        with h5py.File(io.BytesIO(member.read()), "r") as handle:
            handle.visititems(take)
    return [a for _, a in sorted(arrays, key=lambda x: x[0])]
