"""Reader of FERA 2017 as distributed (and of the synthetic corpus, which uses
the same layout).

The reader finds the sessions under a root folder, parses their occurrence
label files and decodes the videos of their views into RGB frames paired with
the labels of the same row. Real copies of the data have faults (a missing
view, a video a few frames shorter than its label file, a damaged file); the
reader never stops on one of them. Each fault becomes a `Problem` (a file and
a one-line reason) and the rest of the data is still read. Only a folder with
no FERA 2017 files at all is an error (`AuferaError`).

Layout accepted (names from `aufera.layout`)::

    ROOT/FERA17_Train_MV/FERA17_TR_<Subject>_<Task>_<view 1-9>.mp4
    ROOT/Train_Occ/FERA17_TR_<Subject>_<Task>.csv
    ROOT/FERA17_Valid_MV/FERA17_VA_<Subject>_<Task>_<view 1-9>.mp4
    ROOT/Valid_Occ/FERA17_VA_<Subject>_<Task>.csv

Each of the 4 folders is looked for in ROOT and up to `SEARCH_DEPTH` levels
below it (folder names in any case; hidden folders and `__MACOSX` are not
searched), so ROOT may be a parent of the folders, e.g. the folder an archive
was unpacked into. Inside a FERA folder, files are looked for up to
`FILE_DEPTH` levels below it (an archive unpacked into a folder of the same
name). The file extension may be in any case (`.MP4`, `.CSV`). Other files
(intensity folders, `groundtruth/`, `.DS_Store`, notes) are ignored; files
with a video or `.csv` extension whose name does not follow the pattern are
ignored and reported.

Label files: the header row is skipped whatever its names are; columns are
taken by position: the frame number, then the 10 AUs in `aufera.au` order.
Codes 1 -> +1 (present), 0 -> -1 (absent), anything else (9, other numbers,
empty cells, text) -> 0 (unknown), via `aufera.au.encode_fera_occurrence`.

Problem kinds (`Problem.kind`), and what happens:

    missing_split     neither folder of a split was found; the split is empty
    missing_folder    one folder of a split was not found
    duplicate_folder  a second folder of the same name; it is not read
    bad_name          a video or .csv file whose name is not a FERA 2017 name; ignored
    wrong_split       e.g. a FERA17_VA file in a training folder; ignored
    duplicate_file    the same video or label file twice (e.g. .mp4 and .MP4); the second is ignored
    no_labels         a video whose session has no label file; the video is skipped
    no_videos         a label file whose session has no video; it is skipped
    missing_view      a session without some of its 9 views; the present views are used
    bad_labels        a label file that cannot be read, is empty or has no valid row; the session is skipped
    bad_row           a label row with a wrong number of columns or a non-integer frame number; the row is skipped
    no_header         the first row of a label file is numeric; it is read as data
    frame_order       frame numbers that do not increase; the rows are kept in file order
    undecodable       a video that cannot be opened or yields no frame; it is skipped
    frame_count       a video with more or fewer frames than its label file has rows;
                      frames and rows are paired in order up to the shorter one

Examples:

    sessions, problems = find_sessions("/data/FERA2017")
    report = summarize(sessions, problems)
    for example in iter_examples(sessions, report=report):
        ...  # example.image (H, W, 3) uint8 RGB, example.au (10,) int8, example.view 0-8
    print("\\n".join(report.lines()))

References:
    Valstar et al. 2017, "FERA 2017 - Addressing Head Pose in the Third Facial
    Expression Recognition and Analysis Challenge" (the data and its layout).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from aufera.au import NUM_AUS, NUM_VIEWS, encode_fera_occurrence
from aufera.data.video import VideoOpenError, VideoReader
from aufera.errors import AuferaError, one_line
from aufera.filenames import CORPUS_MANIFEST, GROUNDTRUTH_DIR
from aufera.layout import LABEL_PATTERN, SPLITS, VIDEO_PATTERN, Split, label_name, session_name, video_name

logger = logging.getLogger(__name__)

SEARCH_DEPTH = 3
"""Folders allowed between the root and a FERA 2017 folder (0: the FERA folders are in the root itself)."""
FILE_DEPTH = 2
"""Levels of subfolders below a FERA 2017 folder searched for its files (0: only the folder itself)."""
MAX_ROW_PROBLEMS = 10
"""Bad rows of one label file reported one by one; the rest are counted in one more problem."""
LABEL_COLUMNS = 1 + NUM_AUS
FRAME_LIMIT = 2**63
"""Frame numbers are stored as int64: a label row whose frame number is not in [-2**63, 2**63) is skipped."""
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv"})
SKIPPED_FOLDERS = frozenset({"__macosx"})
VIDEOS, LABELS = "videos", "labels"


@dataclass(frozen=True)
class Problem:
    """A fault in the data: what was skipped or changed, and why.

    Args:
        path: Path. The file (or folder) concerned.
        reason: str. One line saying what is wrong and what the reader did.
        kind: str. A short machine-readable name of the fault (see the module
            docstring), e.g. "frame_count". Defaults to "other".
        line: int or None. The line of a label file, for row faults.
            Defaults to None.
    """

    path: Path
    reason: str
    kind: str = "other"
    line: int | None = None

    def __str__(self) -> str:
        # One line even when the file's name holds a line break (a report has one problem a line).
        return one_line(f"{self.path}: {self.reason}")


class LabelFileError(AuferaError):
    """A label file that cannot be used at all (unreadable, empty, no valid row).

    Args:
        path: Path. The label file.
        reason: str. Why it cannot be used.
    """

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class Session:
    """One recording: a subject doing a task, filmed from up to 9 views.

    Args:
        split: Split. `aufera.layout.TRAIN` or `aufera.layout.VALIDATION`.
        subject: str. E.g. "F001".
        task: str. E.g. "T1".
        label_path: Path. The occurrence label file shared by the views.
        videos: dict of int to Path. Video file per view number (1-9, as in
            file names); only the views present.
        frame_numbers: int64 array (T,) or None. Frame numbers of the label
            rows, as read by `find_sessions`; None reads `label_path` when the
            frames are decoded. Defaults to None.
        labels: int8 array (T, 10) or None. The labels of those rows, +1 / -1
            / 0. Defaults to None.
    """

    split: Split
    subject: str
    task: str
    label_path: Path
    videos: Mapping[int, Path] = field(hash=False)
    frame_numbers: np.ndarray | None = field(default=None, compare=False, hash=False, repr=False)
    labels: np.ndarray | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def name(self) -> str:
        """E.g. "FERA17_TR_F001_T1"."""
        return session_name(self.split, self.subject, self.task)

    @property
    def views(self) -> tuple[int, ...]:
        """The view numbers (1-9) present, in order."""
        return tuple(sorted(self.videos))


@dataclass(frozen=True, eq=False)
class Example:
    """One decoded frame of one view with its labels.

    Args:
        split: str. "train" or "validation".
        subject: str. E.g. "F001".
        task: str. E.g. "T1".
        view: int. The view index 0-8 (view number - 1).
        frame: int. The frame number from the label file.
        image: uint8 array (H, W, 3). The frame, RGB.
        au: int8 array (10,). +1 present, -1 absent, 0 unknown, in AU order.
    """

    split: str
    subject: str
    task: str
    view: int
    frame: int
    image: np.ndarray = field(repr=False)
    au: np.ndarray


@dataclass
class SplitCounts:
    """What was found and read in one split.

    Args:
        sessions: int. Usable sessions (with a valid label file and at least one video).
        videos: int. Videos of those sessions.
        label_rows: int. Valid rows in their label files (one per frame of a session).
        videos_read: int. Videos that yielded at least one frame so far.
        frames_read: int. Frames yielded so far (each view counted), paired with labels.
    """

    sessions: int = 0
    videos: int = 0
    label_rows: int = 0
    videos_read: int = 0
    frames_read: int = 0


@dataclass
class Report:
    """Counts per split and the problems met, for the `aufera prepare` report.

    `summarize` fills the counts known before decoding; `iter_examples` adds
    the frames read and the problems met while decoding.

    Args:
        splits: dict of str to SplitCounts. Keyed "train" and "validation".
        problems: list of Problem.
    """

    splits: dict[str, SplitCounts]
    problems: list[Problem]

    def problem_counts(self) -> dict[str, int]:
        """Returns the number of problems of each kind."""
        return dict(Counter(p.kind for p in self.problems))

    def lines(self) -> list[str]:
        """Returns the report as text lines: one per split, then every problem."""
        out = []
        for name, c in self.splits.items():
            out.append(
                f"{name}: {c.sessions} sessions, {c.videos} videos, {c.label_rows} label rows; "
                f"{c.frames_read} frames read from {c.videos_read} videos"
            )
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.problem_counts().items()))
        out.append(f"problems: {len(self.problems)}" + (f" ({kinds})" if kinds else ""))
        out.extend(f"  {p}" for p in self.problems)
        return out

    def to_dict(self) -> dict:
        """Returns the report as JSON-ready data."""
        return {
            "splits": {name: vars(c).copy() for name, c in self.splits.items()},
            "problems": [
                {"path": str(p.path), "kind": p.kind, "reason": p.reason, "line": p.line} for p in self.problems
            ],
        }


# === Finding the sessions ===


def _natural_key(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _session_key(key: tuple[str, str]) -> tuple:
    return _natural_key(key[0]), _natural_key(key[1])


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in SKIPPED_FOLDERS


def _find_folders(root: Path) -> tuple[dict[tuple[str, str], Path], list[Problem]]:
    """Finds the 4 FERA 2017 folders in `root` or below it, shallowest first."""
    wanted = {}
    for split in SPLITS:
        wanted[split.video_dir.lower()] = (split.name, VIDEOS)
        wanted[split.label_dir.lower()] = (split.name, LABELS)
    found: dict[tuple[str, str], list[Path]] = {}
    level = [root]
    for _ in range(SEARCH_DEPTH + 1):
        below = []
        for folder in level:
            for child in _children(folder):
                if _hidden(child) or not child.is_dir():
                    continue
                key = wanted.get(child.name.lower())
                if key is None:
                    below.append(child)
                elif key not in found:
                    # Folders of the same name one level deeper are never
                    # used over this one: the shallowest copy wins.
                    found[key] = [child]
                elif len(found[key][0].parts) == len(child.parts):
                    found[key].append(child)
        level = below
    problems = []
    for paths in found.values():
        for other in paths[1:]:
            problems.append(
                Problem(other, f"another {other.name} folder is read instead ({paths[0]}); ignored", "duplicate_folder")
            )
    return {key: paths[0] for key, paths in found.items()}, problems


def _files(folder: Path) -> list[Path]:
    """Files in `folder` and up to FILE_DEPTH levels below, hidden ones left out."""
    files, stack = [], [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        for child in _children(current):
            if _hidden(child):
                continue
            if child.is_dir():
                if depth < FILE_DEPTH:
                    stack.append((child, depth + 1))
            elif child.is_file():
                files.append(child)
    return sorted(files)


def _scan(folder: Path, split: Split, kind: str, problems: list[Problem]) -> dict[tuple[str, str], dict[int, Path]]:
    """Maps (subject, task) to {view number: video} (kind VIDEOS) or {0: label file} (kind LABELS)."""
    pattern = VIDEO_PATTERN if kind == VIDEOS else LABEL_PATTERN
    expected = session_name(split, "<Subject>", "<Task>") + ("_<view 1-9>.mp4" if kind == VIDEOS else ".csv")
    table: dict[tuple[str, str], dict[int, Path]] = {}
    for path in _files(folder):
        suffix = path.suffix.lower()
        match = pattern.match(path.stem + suffix)
        if match is None:
            if (kind == VIDEOS and suffix in VIDEO_SUFFIXES) or (kind == LABELS and suffix == ".csv"):
                problems.append(Problem(path, f"not a FERA 2017 file name (expected {expected}); ignored", "bad_name"))
            continue
        code, subject, task = match.group(1), match.group(2), match.group(3)
        if code != split.code:
            problems.append(
                Problem(
                    path,
                    f"a FERA17_{code} file in the {split.name} folder {folder.name}, which holds FERA17_{split.code} files; ignored",
                    "wrong_split",
                )
            )
            continue
        slot = int(match.group(4)) if kind == VIDEOS else 0
        entry = table.setdefault((subject, task), {})
        if slot in entry:
            problems.append(Problem(path, f"duplicate of {entry[slot]}; ignored", "duplicate_file"))
            continue
        entry[slot] = path
    return table


def declared_views(root) -> tuple[int, ...]:
    """The view numbers a corpus holds: all 9, or those a synthetic corpus's manifest lists (`aufera synth --views`).

    A view a synthetic corpus was written without is not missing: only the
    views its `groundtruth/corpus.json` lists are expected. An unreadable
    manifest expects all 9 (and the reader reports what is absent).
    """
    path = Path(root) / GROUNDTRUTH_DIR / CORPUS_MANIFEST
    try:
        numbers = [int(view["number"]) for view in json.loads(path.read_text())["views"]]
    except (OSError, ValueError, KeyError, TypeError):
        return tuple(range(1, NUM_VIEWS + 1))
    numbers = sorted({n for n in numbers if 1 <= n <= NUM_VIEWS})
    return tuple(numbers) or tuple(range(1, NUM_VIEWS + 1))


def find_sessions(root) -> tuple[list[Session], list[Problem]]:
    """Finds the sessions of a FERA 2017 copy and reads their label files.

    Args:
        root: str or Path. The folder holding FERA17_Train_MV/, Train_Occ/,
            FERA17_Valid_MV/ and Valid_Occ/ (or a folder up to SEARCH_DEPTH
            levels above them). A split may be missing (reported).

    Returns:
        (sessions, problems): the usable sessions, training first, then by
        subject and task, each with its labels read; and the list of
        `Problem`s met (files skipped or changed, and why).

    Raises:
        AuferaError: `root` does not exist, is not a folder, or holds no
            FERA 2017 video or label file.
    """
    root = Path(root)
    if not root.exists():
        raise AuferaError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise AuferaError(f"{root}: is not a folder")
    folders, problems = _find_folders(root)
    expected_views = declared_views(root)
    videos: dict[str, dict] = {}
    labels: dict[str, dict] = {}
    for split in SPLITS:
        video_dir, label_dir = folders.get((split.name, VIDEOS)), folders.get((split.name, LABELS))
        videos[split.name] = _scan(video_dir, split, VIDEOS, problems) if video_dir else {}
        labels[split.name] = _scan(label_dir, split, LABELS, problems) if label_dir else {}
    if not any(videos.values()) and not any(labels.values()):
        names = ", ".join(f"{s.video_dir}/, {s.label_dir}/" for s in SPLITS)
        found = f"; folders found: {', '.join(str(p) for p in folders.values())}" if folders else ""
        if root.name.lower() in {n.lower() for s in SPLITS for n in (s.video_dir, s.label_dir)}:
            found += f"; {root.name} is itself a FERA 2017 folder: pass the folder that holds it"
        # Files under a wrong name or in the other split's folder are the likely cause: name the first.
        ignored = [p for p in problems if p.kind in ("bad_name", "wrong_split")]
        if ignored:
            found += f"; {_count(len(ignored), 'file')} ignored, the first {ignored[0]}"
        raise AuferaError(
            f"{root}: no FERA 2017 videos or label files in this folder or up to {SEARCH_DEPTH} levels of subfolders below "
            f"(expected {names} holding FERA17_TR_<Subject>_<Task>_<view>.mp4 and FERA17_TR_<Subject>_<Task>.csv)"
            + found
        )

    sessions = []
    for split in SPLITS:
        video_dir, label_dir = folders.get((split.name, VIDEOS)), folders.get((split.name, LABELS))
        if video_dir is None and label_dir is None:
            problems.append(
                Problem(
                    root / split.video_dir,
                    f"no {split.video_dir} or {split.label_dir} folder found; the {split.name} split is empty",
                    "missing_split",
                )
            )
            continue
        for present, absent, name in ((video_dir, label_dir, split.label_dir), (label_dir, video_dir, split.video_dir)):
            if absent is None:
                problems.append(
                    Problem(present.parent / name, f"folder not found beside {present.name}", "missing_folder")
                )
        # Where a folder is missing, name the place it was expected, beside its partner.
        video_dir = video_dir or label_dir.parent / split.video_dir
        label_dir = label_dir or video_dir.parent / split.label_dir
        split_videos, split_labels = videos[split.name], labels[split.name]
        for key in sorted(set(split_videos) | set(split_labels), key=_session_key):
            subject, task = key
            views = split_videos.get(key, {})
            if key not in split_labels:
                for number in sorted(views):
                    problems.append(
                        Problem(
                            views[number],
                            f"no label file {label_name(split, subject, task)} in {label_dir}; video skipped",
                            "no_labels",
                        )
                    )
                continue
            label_path = split_labels[key][0]
            if not views:
                problems.append(
                    Problem(label_path, f"no video of this session in {video_dir}; label file skipped", "no_videos")
                )
                continue
            try:
                frame_numbers, session_labels, row_problems = read_labels(label_path)
            except LabelFileError as error:
                problems.append(
                    Problem(
                        label_path,
                        f"{error.reason}; session skipped ({_count(len(views), 'video')} not read)",
                        "bad_labels",
                    )
                )
                continue
            problems.extend(row_problems)
            for number in expected_views:
                if number not in views:
                    problems.append(
                        Problem(
                            video_dir / video_name(split, subject, task, number),
                            f"view {number} missing; the session is read from its {_count(len(views), 'view')} present",
                            "missing_view",
                        )
                    )
            sessions.append(
                Session(split, subject, task, label_path, dict(sorted(views.items())), frame_numbers, session_labels)
            )
    return sessions, problems


# === Label files ===


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _number(cell: str) -> Decimal | None:
    """The finite number a cell spells in Python's syntax, exactly, or None (text, NaN, an infinity).

    Exactly: "1.00000000000000000001" is not 1 and "1e-400" is not 0, though
    both are as floats; only a cell that is 1 or 0 is a FERA 2017 code.
    """
    try:
        float(cell)  # Python's syntax of a number (Decimal's alone is looser: it drops "_" anywhere)
        value = Decimal(cell)
    except (ValueError, InvalidOperation):
        return None
    return value if value.is_finite() else None


def _code(cell: str) -> float:
    """The FERA 2017 code a label cell holds: 1.0 or 0.0 when it is exactly that number, else NaN (unknown)."""
    value = _number(cell)
    if value is None or value not in (0, 1):
        return math.nan
    return float(value)


def _frame_number(cell: str) -> int | None:
    """The integer a cell spells ("1000", "1000.0", "1e3"), or None (not an integer, or out of int64)."""
    value = _number(cell)
    if value is None or not -FRAME_LIMIT <= value < FRAME_LIMIT or value != value.to_integral_value():
        return None
    return int(value)


def read_labels(path) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Reads a FERA 2017 occurrence label file.

    Columns are taken by position, never by header name: the frame number,
    then the 10 AUs in `aufera.au` order. The first row is skipped as a header
    unless every cell of it is a number (then it is data, and a "no_header"
    problem says so). Cells are stripped of spaces and quotes; the delimiter
    is the one of ",", ";" and tab most frequent in the first row. Blank lines
    are skipped. Empty cells after the 11th column are dropped.

    Args:
        path: str or Path. The label file.

    Returns:
        (frames, labels, problems): frame numbers, int64 (T,); labels, int8
        (T, 10), 1 -> +1, 0 -> -1, anything else -> 0; and the problems
        with single rows (skipped rows: a wrong number of columns or a frame
        number that is not an integer), the header and the frame order.

    Raises:
        LabelFileError: the file cannot be read, is not text, is empty or has
            no valid data row.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LabelFileError(path, f"label file cannot be read ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise LabelFileError(path, "label file is not text (it holds NUL bytes)")
    # Lines end at "\n", "\r\n" or "\r" only: `str.splitlines` would also break at form feeds, "\x1c"-"\x1e",
    # "\x85" (an ellipsis in a Windows-1252 file read as Latin-1) and "\u2028"-"\u2029", which are text in a CSV.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rows = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows:
        raise LabelFileError(path, "label file is empty")
    delimiter = _delimiter(rows[0][1])
    cells = [(number, [c.strip().strip("\"'").strip() for c in line.split(delimiter)]) for number, line in rows]

    problems: list[Problem] = []
    first_line, first = cells[0]
    if all(_number(c) is not None for c in first):
        problems.append(
            Problem(
                path,
                f"line {first_line}: the first row is numeric; read as data (no header row)",
                "no_header",
                first_line,
            )
        )
    else:
        cells = cells[1:]
        if not cells:
            raise LabelFileError(path, "label file has a header row but no data rows")

    frames, values, bad = [], [], []
    for number, row in cells:
        if len(row) > LABEL_COLUMNS and not any(row[LABEL_COLUMNS:]):
            row = row[:LABEL_COLUMNS]
        if len(row) != LABEL_COLUMNS:
            bad.append((number, f"{len(row)} columns, expected {LABEL_COLUMNS} (frame number and {NUM_AUS} AUs)"))
            continue
        frame = _frame_number(row[0])
        if frame is None:
            value = _number(row[0])
            what = "is beyond int64" if value is not None and value.copy_abs() >= FRAME_LIMIT else "is not an integer"
            bad.append((number, f"frame number {row[0]!r} {what}"))
            continue
        frames.append(frame)
        values.append([_code(c) for c in row[1:]])
    if not frames:
        number, reason = bad[0]
        raise LabelFileError(path, f"label file has no valid data row (line {number}: {reason})")
    for number, reason in bad[:MAX_ROW_PROBLEMS]:
        problems.append(Problem(path, f"line {number}: {reason}; row skipped", "bad_row", number))
    if len(bad) > MAX_ROW_PROBLEMS:
        more = len(bad) - MAX_ROW_PROBLEMS
        problems.append(Problem(path, f"{more} more rows skipped (wrong number of columns or frame number)", "bad_row"))

    frames = np.asarray(frames, dtype=np.int64)
    steps = np.flatnonzero(frames[1:] <= frames[:-1])  # not np.diff: it wraps around beyond int64
    if steps.size:
        i = int(steps[0])
        problems.append(
            Problem(
                path,
                f"frame numbers do not increase ({frames[i]} then {frames[i + 1]}, data rows {i + 1}-{i + 2}); "
                "rows kept in file order",
                "frame_order",
            )
        )
    labels = encode_fera_occurrence(np.asarray(values, dtype=np.float64).reshape(-1, NUM_AUS))
    return frames, labels, problems


# === Frames ===


def _report(problems: list[Problem] | None, problem: Problem) -> None:
    if problems is None:
        logger.warning("%s", problem)
    else:
        problems.append(problem)


def iter_frames(
    session: Session, view_number: int, problems: list[Problem] | None = None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Decodes one view of a session, pairing its frames with the label rows.

    The i-th decoded frame gets the i-th valid label row and its frame
    number. Frames are counted while decoding (the frame count a container
    declares is not trusted): when the video ends before the label rows, the
    remaining rows are left out; when rows run out first, the remaining
    frames are only counted. Either way a "frame_count" problem is reported
    once the video has been read to its end. A video that cannot be opened or
    yields no frame gives an "undecodable" problem and nothing.

    Frames come from `aufera.data.video.VideoReader`, the decoder
    `aufera.data.faces.video_faces` reads too, so the i-th frame here is the
    one the i-th face box belongs to.

    Args:
        session: Session. From `find_sessions` (labels already read) or made
            by hand (its label file is then read here).
        view_number: int. The view number 1-9, as in file names.
        problems: list of Problem or None. Problems met are appended to it;
            None logs them as warnings. Defaults to None.

    Returns:
        A generator of (frame_number, image, labels): int; uint8 (H, W, 3)
        RGB; int8 (10,) in {+1, -1, 0}.

    Raises:
        ValueError: the session has no video for `view_number`.
        LabelFileError: a session made by hand has an unusable label file.
    """
    if view_number not in session.videos:
        raise ValueError(
            f"Session {session.name} has no video for this view. Received: view_number={view_number!r}; "
            f"views present: {list(session.views)}"
        )
    path = Path(session.videos[view_number])
    frame_numbers, labels = session.frame_numbers, session.labels
    if frame_numbers is None or labels is None:
        frame_numbers, labels, row_problems = read_labels(session.label_path)
        for problem in row_problems:
            _report(problems, problem)
    rows = len(frame_numbers)
    try:
        video = VideoReader(path)
    except VideoOpenError as error:
        _report(problems, Problem(path, f"{error.reason}; skipped", "undecodable"))
        return
    with video:
        decoded = 0
        while decoded < rows:
            image = video.read()
            if image is None:
                break
            yield int(frame_numbers[decoded]), image, labels[decoded].copy()
            decoded += 1
        if decoded == rows:
            # Count the frames past the last label row, without converting them.
            decoded += video.skip()
        problem = pairing_problem(path, session.label_path, decoded, rows)
        if problem is not None:
            _report(problems, problem)


def pairing_problem(video_path, label_path, decoded: int, rows: int) -> Problem | None:
    """The problem of pairing a video's frames with its label rows, as `iter_frames` reports it, or None.

    Lets a caller that already counted a video's frames through the same
    decoder (the face finder) report what `iter_frames` would, without
    decoding the video again; `iter_frames` pairs min(decoded, rows) frames.

    Args:
        video_path: str or Path. The video.
        label_path: str or Path. Its session's label file.
        decoded: int. Frames the video decodes to.
        rows: int. Valid label rows.

    Returns:
        An "undecodable" problem (no frame), a "frame_count" problem (counts
        differ), or None.
    """
    path = Path(video_path)
    if decoded == 0:
        return Problem(path, "no frame could be decoded; video skipped", "undecodable")
    if decoded != rows:
        used = min(decoded, rows)
        return Problem(
            path,
            f"video has {decoded} frames but {Path(label_path).name} has {rows} label rows; "
            f"frames and rows paired in order up to {used}, the rest left out",
            "frame_count",
        )
    return None


def summarize(sessions: Iterable[Session], problems: Iterable[Problem]) -> Report:
    """Counts sessions, videos and label rows per split.

    Args:
        sessions: Sessions from `find_sessions`.
        problems: The problems from `find_sessions`.

    Returns:
        A `Report` (frames read 0) that `iter_examples` can go on filling.
    """
    report = Report({split.name: SplitCounts() for split in SPLITS}, list(problems))
    for session in sessions:
        counts = report.splits[session.split.name]
        counts.sessions += 1
        counts.videos += len(session.videos)
        counts.label_rows += 0 if session.frame_numbers is None else len(session.frame_numbers)
    return report


def iter_examples(
    sessions: Iterable[Session], report: Report | None = None, splits: Iterable[str] | None = None
) -> Iterator[Example]:
    """Decodes every view of every session into labelled frames.

    Sessions come in the order given, views in order 1-9 within a session,
    frames in file order within a view.

    Args:
        sessions: Sessions from `find_sessions`.
        report: Report or None. Gets the frames read per split and the
            problems met while decoding; None logs the problems as warnings.
            Defaults to None.
        splits: names of splits to read ("train", "validation") or None for
            all. Defaults to None.

    Returns:
        A generator of `Example`.
    """
    wanted = None if splits is None else set(splits)
    problems = None if report is None else report.problems
    for session in sessions:
        if wanted is not None and session.split.name not in wanted:
            continue
        for number in session.views:
            count = 0
            for frame, image, au in iter_frames(session, number, problems):
                count += 1
                yield Example(session.split.name, session.subject, session.task, number - 1, frame, image, au)
            if report is not None:
                counts = report.splits.setdefault(session.split.name, SplitCounts())
                counts.frames_read += count
                counts.videos_read += int(count > 0)
