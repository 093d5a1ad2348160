"""Property-based fuzzing (hypothesis) of what aufera reads from its users: FERA 2017 label files, file
names, `key=value` config overrides and YAML config files, preset JSON files and the command line.

Each property is "a result or one named error": for every input generated the code under test returns a
value, or raises the one error it documents (`AuferaError`, or `ValueError` for the config functions),
with a one-line message naming the file or the key. A value returned is checked against an independent
computation written here: the FERA 2017 code of every label cell from the digits that spell it, the
integer of every override from the text that spells it.

The default suite runs each property on a fixed set of examples (`derandomize=True`: the same every run,
no database); `pytest -m slow` runs the deeper profile on fresh random examples. The kinds of input, the
counts and what held are listed in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from aufera.cli import build_parser, main
from aufera.config import TRAIN_PRESETS, field_types, load_config, load_run_config, resolve_config, save_config
from aufera.data.fera2017 import VIDEO_SUFFIXES, LabelFileError, find_sessions, read_labels
from aufera.errors import AuferaError
from aufera.filenames import (
    CONFIG_FILE,
    PRESET_CARD_FILE,
    PRESET_CONFIG_FILE,
    PRESET_MEAN_FILE,
    PRESET_METADATA_FILE,
    PRESET_PREPROCESSING_FILE,
    PRESET_WEIGHTS_FILE,
)
from aufera.layout import LABEL_HEADER, SPLITS, TRAIN, VALIDATION, label_name, video_name
from aufera.pretrained import (
    ARCHITECTURES,
    HASHED_FILES,
    _read_preset_dir,
    check_preset_files,
    demo_preset_dir,
    load_preset,
)

# The default suite: the same examples every run, nothing stored between runs.
FAST = {"deadline": None, "derandomize": True, "database": None}
# `pytest -m slow`: fresh random examples every run.
DEEP = {"deadline": None, "database": None}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder for the files of every example (module-scoped: hypothesis runs many examples per test)."""
    return tmp_path_factory.mktemp("fuzz")


class Scratch:
    """A fresh folder for one example, removed afterwards."""

    def __init__(self, parent: Path):
        self.path = Path(tempfile.mkdtemp(dir=parent))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def assert_one_line(message: str, names: str) -> None:
    """A message of one line that names `names` (a file or a key)."""
    assert message.splitlines() == [message] and message.strip(), repr(message)
    assert names in message, (names, message)


# === FERA 2017 label files: the exact value of every cell ===

# Digits of three scripts: Python reads each as a number (ASCII, Arabic-Indic, full-width).
DIGIT_SCRIPTS = ("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", "０１２３４５６７８９")
DELIMITERS = (",", ";", "\t")
# Characters that end a line in a CSV file; `str.splitlines` also breaks at these others, which are text.
OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def exact(negative: bool, int_digits: str, frac_digits: str, exponent: int) -> tuple[bool, str, int]:
    """The exact value of a decimal spelling as (negative, DIGITS, point): +-0.DIGITS x 10**point, DIGITS
    without leading or trailing zeros; zero is (False, "", 0). No float is involved."""
    digits = int_digits + frac_digits
    point = len(int_digits) + exponent
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    return (negative, digits, point) if digits else (False, "", 0)


def exact_int64(value) -> int | None:
    """The integer an exact value is, when it is one that fits int64; else None."""
    negative, digits, point = value
    if not digits:
        return 0
    if point < len(digits) or point > 19:
        return None
    number = int(digits) * 10 ** (point - len(digits))
    number = -number if negative else number
    return number if -(2**63) <= number < 2**63 else None


def fera_code(value) -> int:
    """FERA 2017's occurrence codes (aufera.au): exactly 1 present (+1), exactly 0 absent (-1), else unknown (0)."""
    if value is None:
        return 0
    if value == (False, "1", 1):
        return 1
    if value == (False, "", 0):
        return -1
    return 0


@dataclass(frozen=True)
class Cell:
    """What stands between two delimiters, before any padding or quotes, and the finite number it spells
    exactly (None: text, an empty cell, NaN or an infinity)."""

    text: str
    value: tuple | None = None

    @property
    def empty(self) -> bool:
        return not self.text.strip()


def _spell(digits: str, script: str, underscores: list[bool]) -> str:
    """ASCII digits in another script, with "_" between two digits where `underscores` says (Python's syntax)."""
    out = []
    for i, d in enumerate(digits):
        if i and underscores[i % len(underscores)]:
            out.append("_")
        out.append(script[int(d)])
    return "".join(out)


_DIGITS = st.text("0123456789", max_size=22)
# Built once: a strategy made inside a composite is validated again on every draw.
_NUMBER_PARTS = st.tuples(
    _DIGITS,  # the integer part
    st.none() | _DIGITS,  # the fraction after the point (None: no point)
    st.none() | st.integers(-30, 30) | st.sampled_from([-400, 400, 10**9]),  # the exponent (None: none)
    st.sampled_from(["", "", "+", "-"]),
    st.sampled_from(DIGIT_SCRIPTS[:1] * 4 + DIGIT_SCRIPTS[1:]),
    st.just([False]) | st.lists(st.booleans(), min_size=1, max_size=4),  # where "_" goes between digits
    st.sampled_from(["e", "E", "e+", "E+"]),
)


@st.composite
def number_cells(draw):
    """A finite number spelled in any of Python's decimal notations, with its exact value."""
    int_digits, frac_digits, exponent, sign, script, underscores, marker = draw(_NUMBER_PARTS)
    if not int_digits and not frac_digits:
        int_digits = "0" if exponent is None else "1"
    text = sign + _spell(int_digits, script, underscores)
    if frac_digits is not None:
        text += "." + _spell(frac_digits, script, underscores)
    if exponent is not None:
        marker = marker[0] + "-" if exponent < 0 else marker
        text += marker + _spell(str(abs(exponent)), script, underscores)
    float(text)  # the spelling is one Python reads as a number (a check of this generator)
    value = exact(sign == "-", int_digits, frac_digits or "", exponent or 0)
    return Cell(text, value)


TEXT_ALPHABET = st.characters(
    exclude_categories=("Nd", "Cs"), exclude_characters="\x00\n\r,;\t\"'\ufeff"
) | st.sampled_from(OTHER_BREAKS + " \xa0")
# Text holds no digit, so it never spells a finite number ("nan", "inf" and "Infinity" are not finite).
text_cells = st.text(TEXT_ALPHABET, min_size=1, max_size=8).map(Cell) | st.sampled_from(
    [Cell(w) for w in ("nan", "NaN", "inf", "-inf", "Infinity", "x", "?", "-", ".", "e")]
)
empty_cells = st.sampled_from([Cell(""), Cell(" "), Cell("\xa0")])
CODES = {"1": (False, "1", 1), "0": (False, "", 0), "9": (False, "9", 1)}
code_cells = st.sampled_from([Cell(text, value) for text, value in CODES.items()])
au_cells = st.one_of(code_cells, code_cells, code_cells, number_cells(), text_cells, empty_cells)


def _integer_cell(n: int) -> Cell:
    return Cell(str(n), exact(n < 0, str(abs(n)), "", 0))


frame_cells = st.one_of(
    st.integers(0, 100_000).map(_integer_cell),
    st.integers(0, 100_000).map(_integer_cell),
    st.integers(-(10**25), 10**25).map(_integer_cell),
    number_cells(),
    text_cells,
    empty_cells,
)
any_cells = st.one_of(au_cells, frame_cells)


@st.composite
def data_rows(draw) -> list[Cell]:
    shape = draw(st.sampled_from(["whole"] * 6 + ["codes", "short", "long", "trailing"]))
    if shape == "codes":  # a row as FERA 2017 writes it (first in a file without a header: numeric)
        return [draw(st.integers(0, 100_000).map(_integer_cell)), *draw(st.lists(code_cells, min_size=10, max_size=10))]
    cells = [draw(frame_cells), *draw(st.lists(au_cells, min_size=10, max_size=10))]
    if shape == "short":
        cells = cells[: draw(st.integers(1, 10))]
    elif shape == "long":
        cells += draw(st.lists(any_cells, min_size=1, max_size=3))
    elif shape == "trailing":  # a delimiter (or a few) after the last column
        cells += draw(st.lists(empty_cells, min_size=1, max_size=3))
    return cells


headers = st.one_of(
    st.none(),
    st.just([Cell(name) for name in LABEL_HEADER.split(",")]),
    st.lists(text_cells, min_size=1, max_size=13),
)


QUOTES = ("", "", '"', "'")
PADS = ("", "", " ", "  ", "\xa0")


@dataclass
class LabelFile:
    """A generated label file: its bytes, and per physical line its text and cells (None: a blank line)."""

    data: bytes
    lines: list[tuple[str, list[Cell] | None]]
    delimiter: str


@st.composite
def label_files(draw) -> LabelFile:
    delimiter = draw(st.sampled_from(DELIMITERS))
    rows = []
    header = draw(headers)
    if header is not None:
        rows.append(header)
    many = draw(st.integers(0, 9)) == 0  # now and then enough bad rows to pass the 10 reported one by one
    rows += draw(st.lists(data_rows(), max_size=24 if many else 8))
    lines: list[tuple[str, list[Cell] | None]] = []
    for cells in rows:
        for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 4)) == 0 else 0):
            lines.append((draw(st.sampled_from(["", " ", "  ", "\xa0", "\x0c", "\x85"])), None))
        # Quotes and spaces around the cells of a row (one draw a row keeps generation fast).
        quote, left, right = draw(st.tuples(*[st.sampled_from(QUOTES)] + [st.sampled_from(PADS)] * 2))
        lines.append((delimiter.join(left + quote + cell.text + quote + right for cell in cells), cells))
    # One line ending for the file, or "\n" and "\r\n" mixed (a lone "\r" mixed with them would be ambiguous).
    style = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    ends = [draw(st.sampled_from(["\n", "\r\n"])) if style == "mixed" else style for _ in lines]
    text = "".join(line + end for (line, _), end in zip(lines, ends, strict=True))
    if lines and not draw(st.booleans()):
        text = text[: -len(ends[-1])]  # no line ending after the last line
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]))
    if encoding == "latin-1":
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            encoding = "utf-8"
        else:
            try:
                if data.decode("utf-8") != text:  # latin-1 bytes that are also UTF-8 of other text: as UTF-8
                    encoding = "utf-8"
            except UnicodeDecodeError:
                pass
    data = text.encode(encoding)
    return LabelFile(data, lines, delimiter)


def expected_reading(generated: LabelFile):
    """What the reader must return, from the cells generated and docs/fera2017_reader.md's rules:
    ("error", fragment of the reason) or ("ok", frames, labels, [(kind, line)] of the problems)."""
    rows = [(n, text, cells) for n, (text, cells) in enumerate(generated.lines, start=1) if text.strip()]
    if not rows:
        return ("error", "label file is empty")
    first = rows[0][1]
    counts = {d: first.count(d) for d in DELIMITERS}
    detected = max(counts, key=counts.get) if max(counts.values()) else ","
    if detected != generated.delimiter:  # every line is one cell (no cell holds a delimiter)
        rows = [(n, text, cells if len(cells) == 1 else [Cell(text)]) for n, text, cells in rows]
    problems = []
    if all(cell.value is not None for cell in rows[0][2]):
        problems.append(("no_header", rows[0][0]))
        data = rows
    else:
        data = rows[1:]
        if not data:
            return ("error", "label file has a header row but no data rows")
    frames, labels, bad = [], [], []
    for number, _, cells in data:
        if len(cells) > 11 and all(cell.empty for cell in cells[11:]):
            cells = cells[:11]
        frame = exact_int64(cells[0].value) if len(cells) == 11 and cells[0].value is not None else None
        if frame is None:
            bad.append(number)
            continue
        frames.append(frame)
        labels.append([fera_code(cell.value) for cell in cells[1:]])
    if not frames:
        return ("error", f"label file has no valid data row (line {bad[0]}: ")
    problems += [("bad_row", number) for number in bad[:10]]
    if len(bad) > 10:
        problems.append(("bad_row", None))
    if any(b <= a for a, b in zip(frames[:-1], frames[1:], strict=True)):
        problems.append(("frame_order", None))
    return ("ok", frames, labels, problems)


def check_label_file(generated: LabelFile, folder: Path) -> None:
    path = folder / "FERA17_TR_F001_T1.csv"
    path.write_bytes(generated.data)
    expected = expected_reading(generated)
    try:
        frames, labels, problems = read_labels(path)
    except LabelFileError as error:
        event("label file: LabelFileError")
        assert expected[0] == "error", (expected, str(error))
        assert_one_line(str(error), str(path))
        assert str(error).startswith(f"{path}: ") and error.path == path
        assert expected[1] in error.reason, (expected[1], error.reason)
        return
    event("label file: read")
    for kind in sorted({p.kind for p in problems}):
        event(f"label file: {kind} problem")
    assert expected[0] == "ok", (expected, problems)
    assert frames.dtype == np.int64 and labels.dtype == np.int8
    assert frames.tolist() == expected[1]
    assert labels.tolist() == expected[2]
    assert [(p.kind, p.line) for p in problems] == expected[3]
    for problem in problems:
        assert_one_line(str(problem), str(path))


@settings(max_examples=80, **FAST)
@given(generated=label_files())
def test_label_files_are_read_as_their_codes_say(generated, workdir):
    with Scratch(workdir) as folder:
        check_label_file(generated, folder)


@pytest.mark.slow
@settings(max_examples=3000, **DEEP)
@given(generated=label_files())
def test_label_files_are_read_as_their_codes_say_deep(generated, workdir):
    with Scratch(workdir) as folder:
        check_label_file(generated, folder)


def check_label_bytes(data: bytes, folder: Path) -> None:
    path = folder / "labels.csv"
    path.write_bytes(data)
    try:
        frames, labels, problems = read_labels(path)
    except LabelFileError as error:
        assert_one_line(str(error), str(path))
        return
    assert frames.dtype == np.int64 and frames.shape == (len(labels),) and len(labels) >= 1
    assert labels.dtype == np.int8 and labels.shape == (len(frames), 10)
    assert set(np.unique(labels).tolist()) <= {-1, 0, 1}
    for problem in problems:
        assert_one_line(str(problem), str(path))


# Bytes: random ones, and CSV-like ones (digits, delimiters, line endings, a BOM, NUL, Latin-1).
csv_bytes = st.lists(
    st.sampled_from([b"0", b"1", b"9", b"5", b"-1", b"1.0", b"1e400", b"99999999999999999999", b"x", b"\xe9"])
    | st.sampled_from([b",", b",", b",", b";", b"\t", b"\n", b"\r\n", b"\r", b"\x85", b"\x0c", b" ", b'"', b"\x00"])
    | st.sampled_from([b"\xef\xbb\xbf", LABEL_HEADER.encode() + b"\n"]),
    max_size=120,
).map(b"".join)


@settings(max_examples=100, **FAST)
@given(data=st.binary(max_size=400) | csv_bytes)
def test_label_file_bytes_give_labels_or_one_named_error(data, workdir):
    with Scratch(workdir) as folder:
        check_label_bytes(data, folder)


@pytest.mark.slow
@settings(max_examples=3000, **DEEP)
@given(data=st.binary(max_size=2000) | csv_bytes)
def test_label_file_bytes_give_labels_or_one_named_error_deep(data, workdir):
    with Scratch(workdir) as folder:
        check_label_bytes(data, folder)


# === File names: the FERA 2017 layout ===

NAME_NOISE = st.text(
    st.characters(exclude_characters="/\x00", exclude_categories=("Cs",)) | st.sampled_from(OTHER_BREAKS + "\n\r"),
    min_size=1,
    max_size=6,
)
MUTATIONS = (
    "none",
    "none",
    "none",
    "extension_case",
    "prefix_case",
    "other_extension",
    "bad_view",
    "noise",
    "line_break",
    "hidden",
    "other_file",
)


@dataclass(frozen=True)
class TreeFile:
    """A file of a generated FERA 2017 tree and what its name must lead to."""

    folder: tuple[str, str]  # (split name, "videos" or "labels") of the folder it is in
    subfolder: str  # "" or one level below the FERA folder
    name: str
    expect: str  # "fera" (a FERA name in its folder), "foreign" (of the other split), "not_fera", "hidden", "unknown"
    garbage: bool  # a label file that is not a usable CSV


@st.composite
def tree_files(draw, session=None) -> TreeFile:
    # Few subjects and tasks, so that label files and videos of the same session meet often.
    split, kind, subject, task, view = draw(
        st.tuples(
            st.sampled_from([TRAIN, TRAIN, VALIDATION]),
            st.sampled_from(["videos", "videos", "labels"]),
            st.sampled_from(["F001", "M010"]),
            st.sampled_from(["T1", "T10"]),
            st.integers(1, 9),
        )
    )
    if session is not None:  # a file of the session given: its label file, or one of its views
        split, subject, task, kind = *session[:3], session[3]
    name = video_name(split, subject, task, view) if kind == "videos" else label_name(split, subject, task)
    stem, suffix = name.rsplit(".", 1)
    mutation = draw(st.sampled_from(MUTATIONS))
    expect = "fera"
    if mutation == "extension_case":
        name = stem + "." + draw(st.sampled_from([suffix.upper(), suffix.capitalize()]))
    elif mutation == "prefix_case":
        name, expect = name.replace("FERA17_", draw(st.sampled_from(["fera17_", "Fera17_", "FERA17-"])), 1), "not_fera"
    elif mutation == "other_extension":
        name, expect = (
            stem
            + "."
            + draw(st.sampled_from(["avi", "mkv", "txt", "csv.bak"] if kind == "videos" else ["tsv", "txt"])),
            "not_fera",
        )
    elif mutation == "bad_view":
        name, expect = (
            (stem.rsplit("_", 1)[0] + "_" + draw(st.sampled_from(["0", "10", "x"])) + "." + suffix),
            "not_fera",
        )
    elif mutation in ("noise", "line_break"):
        noise = draw(NAME_NOISE if mutation == "noise" else st.sampled_from(list(OTHER_BREAKS + "\n\r")))
        at = draw(st.integers(0, len(name)))
        name, expect = name[:at] + noise + name[at:], "unknown"
    elif mutation == "hidden":
        name, expect = "." + name, "hidden"
    elif mutation == "other_file":
        name, expect = draw(st.sampled_from(["notes.txt", "README", ".DS_Store", "Thumbs.db"])), "hidden"
    folder_split = split if draw(st.integers(0, 5)) else next(s for s in SPLITS if s != split)
    if folder_split != split and expect == "fera":
        expect = "foreign"
    subfolder = draw(st.sampled_from(["", "", "", "copy"]))
    return TreeFile((folder_split.name, kind), subfolder, name, expect, draw(st.integers(0, 4)) == 0)


FOLDER_KEYS = [(split.name, kind) for split in SPLITS for kind in ("videos", "labels")]


def _folder_name(split_name: str, kind: str) -> str:
    split = TRAIN if split_name == "train" else VALIDATION
    return split.video_dir if kind == "videos" else split.label_dir


def check_tree(files: list[TreeFile], case: list[bool], root: Path) -> None:
    written = {}
    for file in files:
        folder_name = _folder_name(*file.folder)
        if case[FOLDER_KEYS.index(file.folder) % len(case)]:
            folder_name = folder_name.lower()
        path = root / "FERA2017" / folder_name / file.subfolder / file.name
        # One file per path, and one folder name per FERA folder (the first case drawn for it).
        if path in written or any(p.parent == path.parent for p in written if p.name == file.name):
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            continue
        ones = ",".join(["1"] * 10)
        path.write_text("\x00garbage" if file.garbage else f"{LABEL_HEADER}\n1,{ones}\n2,{ones}\n")
        written[path] = file
    try:
        sessions, problems = find_sessions(root)
    except Exception as error:  # the property: only AuferaError, as one line naming the root
        event("tree: AuferaError")
        assert isinstance(error, AuferaError), repr(error)
        assert_one_line(str(error), str(root))
        # Only a tree without a FERA 2017 file in its folder is an error, and it names a file it ignored.
        assert not [f for f in written.values() if f.expect == "fera"], str(error)
        if [f for f in written.values() if f.expect == "foreign"]:
            assert "ignored, the first" in str(error), str(error)
        return
    event(f"tree: {'sessions' if sessions else 'no session'}")
    used = {s.label_path for s in sessions} | {p for s in sessions for p in s.videos.values()}
    reported = {p.path: p.kind for p in problems}
    bad_sessions = {p.path.stem for p in problems if p.kind == "bad_labels"}
    for problem in problems:
        assert_one_line(str(problem), str(root))
    for session in sessions:
        label_dir = _folder_name(session.split.name, "labels").lower()
        assert session.label_path.parent.name.lower() in (label_dir, "copy")
        assert session.label_path.stem + session.label_path.suffix.lower() == label_name(
            session.split, session.subject, session.task
        )
        for view, path in session.videos.items():
            assert path.stem + path.suffix.lower() == video_name(session.split, session.subject, session.task, view)
    for path, file in written.items():
        if file.expect in ("hidden", "not_fera", "foreign"):
            assert path not in used, (path, file)
        if file.expect == "foreign":
            assert reported.get(path) == "wrong_split", (path, file, reported.get(path))
        visible = not path.name.startswith(".") and file.expect != "hidden"
        suffix = path.suffix.lower()
        wanted = suffix == ".csv" if file.folder[1] == "labels" else suffix in VIDEO_SUFFIXES
        if visible and wanted:
            # Nothing a FERA folder holds under a data file's extension is left out silently: it is read,
            # or reported, or it is a view of a session whose label file is reported unusable.
            session = path.stem.rsplit("_", 1)[0]
            assert path in used or path in reported or session in bad_sessions, (path, file)
        if file.expect == "fera":
            assert reported.get(path) != "bad_name", (path, file)


@st.composite
def session_files(draw) -> list[TreeFile]:
    """A session's label file and some of its videos (each name mutated or not), so that sessions form."""
    split, subject, task = draw(
        st.tuples(st.sampled_from(SPLITS), st.sampled_from(["F001", "M010"]), st.sampled_from(["T1", "T10"]))
    )
    kinds = ["labels"] + ["videos"] * draw(st.integers(1, 4))
    return [draw(tree_files((split, subject, task, kind))) for kind in kinds]


trees = st.tuples(
    st.tuples(st.lists(tree_files(), max_size=8), st.lists(session_files(), max_size=3))
    .map(lambda parts: parts[0] + [file for files in parts[1] for file in files])
    .filter(bool),
    st.lists(st.booleans(), min_size=1, max_size=4),
)


@settings(max_examples=30, **FAST)
@given(tree=trees)
def test_file_names_are_read_or_reported(tree, workdir):
    with Scratch(workdir) as root:
        check_tree(*tree, root)


@pytest.mark.slow
@settings(max_examples=1000, **DEEP)
@given(tree=trees)
def test_file_names_are_read_or_reported_deep(tree, workdir):
    with Scratch(workdir) as root:
        check_tree(*tree, root)


# === Config: `key=value` overrides and YAML files ===

KINDS = field_types()
CONFIG_KEYS = sorted(KINDS)
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
NONE_WORDS = ("none", "null", "~", "")


def _base(kind):
    """(the type, whether None is allowed) of a field's type hint."""
    args = [a for a in getattr(kind, "__args__", ()) if a is not type(None)]
    return (args[0], True) if args else (kind, False)


def expected_value(key: str, text: str):
    """What `key=text` must set, computed here: ("ok", value) or ("error",) (the text is no value of the type);
    ("unknown",) when this judge has no say (text that is neither a number it built nor a word)."""
    kind, optional = _base(KINDS[key])
    stripped = text.strip()
    if optional and stripped.lower() in NONE_WORDS:
        return ("ok", None)
    if kind is bool:
        value = BOOL_WORDS.get(stripped.lower())
        return ("error",) if value is None else ("ok", value)
    if kind is str:
        return ("ok", stripped)
    return ("unknown",)


_numbers = number_cells()
random_values = st.one_of(
    _numbers.map(lambda c: (c.text, c.value)),
    st.integers(-(2**70), 2**70).map(lambda n: (str(n), exact(n < 0, str(abs(n)), "", 0))),
    st.sampled_from(list(BOOL_WORDS) + ["True", "NO", "maybe", *NONE_WORDS, "None", "nan", "inf", "-inf"]).map(
        lambda w: (w, exact(False, w, "", 0) if w in ("0", "1") else None)
    ),
    st.text(TEXT_ALPHABET | st.sampled_from("=.-_0123456789"), max_size=12).map(lambda t: (t, None)),
)
small_ints = st.tuples(st.integers(0, 64), st.sampled_from(["{}", "{}.0", "{}e0", "+{}", " {} ", "{}.000"])).map(
    lambda v: (v[1].format(v[0]), exact(False, str(v[0]), "", 0))
)
# Values a field takes (the choices of the config's checks), so that many override lists give a config.
CHOICES = {
    "preset": sorted(TRAIN_PRESETS),
    "sampler": ["random", "stratified", "momu"],
    "model.family": ["he2019", "drml", "chu2019"],
    "model.preset": ["paper", "cpu-small"],
    "optimizer.name": ["adam", "sgd"],
    "optimizer.lr_schedule": ["constant", "cosine"],
}


def typed_values(key: str):
    kind, _ = _base(KINDS[key])
    if kind is int:
        return small_ints
    if kind is float:
        return st.floats(0.0, 1.0, exclude_max=True).map(lambda f: (repr(f), None))
    if kind is bool:
        return st.sampled_from(list(BOOL_WORDS)).map(lambda w: (w, exact(False, w, "", 0) if w in "01" else None))
    return st.sampled_from(CHOICES.get(key, ["validation", "data/x", "train"])).map(lambda w: (w, None))


@dataclass(frozen=True)
class Override:
    item: str  # the "key=value" string
    key: str | None  # the real key it sets (None: not a known key, or no "=")
    number: tuple | None = None  # the exact value of a number value built here


@st.composite
def overrides(draw) -> Override:
    key = draw(st.sampled_from(CONFIG_KEYS))
    form = draw(st.sampled_from(["key"] * 8 + ["dashes", "spaces", "section", "typo", "last_part", "no_equals"]))
    text, number = draw(typed_values(key) if draw(st.integers(0, 9)) < 6 else random_values)
    known = key
    if form == "dashes":
        written = key.replace("_", "-")
    elif form == "spaces":
        written, text = f" {key} ", f" {text} "
    elif form == "section":
        written, known = key.split(".")[0], (key if "." not in key else None)
    elif form == "typo":
        at = draw(st.integers(0, len(key) - 1))
        written = key[:at] + key[at + 1 :]
        known = written if written in KINDS else None
    elif form == "last_part":
        written = key.split(".")[-1]
        known = written if written in KINDS else None
    else:
        written = key
    if form == "no_equals":
        return Override(written + text.replace("=", ""), None)
    return Override(f"{written}={text}", known, number)


def _names(message: str, items: list[Override]) -> bool:
    """A config error names a key (its last part, as the checks write it) or the override string."""
    return any(
        item.item in message
        or repr(item.item) in message
        or (item.key and item.key.split(".")[-1] in message)
        or item.item.split("=", 1)[0].strip().replace("-", "_") in message
        for item in items
    )


def check_overrides(preset: str, items: list[Override], folder: Path) -> None:
    try:
        config = resolve_config(preset, [item.item for item in items])
    except ValueError as error:
        event("overrides: ValueError")
        message = str(error)
        assert message.splitlines() == [message], repr(message)
        assert _names(message, items), (message, items)
        return
    event("overrides: config")
    assert all(item.key is not None for item in items), items
    flat = config.to_flat_dict()
    last = {item.key: item for item in items}  # the last override of a key wins
    for key, item in last.items():
        text = item.item.split("=", 1)[1]
        kind, optional = _base(KINDS[key])
        if kind is int and not (optional and text.strip().lower() in NONE_WORDS):
            assert isinstance(flat[key], int) and not isinstance(flat[key], bool), (item, flat[key])
            if item.number is not None:  # an integer built here is read exactly ("3", "3.0", "3e0", "٣")
                assert flat[key] == exact_int64(item.number), (item, flat[key])
        elif kind is float and flat[key] is not None:
            assert flat[key] == float(text) and math.isfinite(flat[key]), (item, flat[key])
        else:
            verdict = expected_value(key, text)
            assert verdict[0] == "ok" and flat[key] == verdict[1], (item, flat[key], verdict)
    # What `aufera train` accepts, its config.yaml gives back: a resumed or evaluated run reads the same config.
    save_config(config, folder)
    assert load_config(folder) == config
    assert load_run_config(folder) == config


override_lists = st.tuples(st.sampled_from(sorted(TRAIN_PRESETS)), st.lists(overrides(), max_size=4))


@settings(max_examples=120, **FAST)
@given(case=override_lists)
def test_overrides_give_a_config_or_one_named_error(case, workdir):
    with Scratch(workdir) as folder:
        check_overrides(*case, folder)


@pytest.mark.slow
@settings(max_examples=3000, **DEEP)
@given(case=override_lists)
def test_overrides_give_a_config_or_one_named_error_deep(case, workdir):
    with Scratch(workdir) as folder:
        check_overrides(*case, folder)


yaml_scalars = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=10),
    st.sampled_from(["1e-3", "3.0", "paper", "momu", "adam", "drml", "chu2019", "validation", "1e400", "٣"]),
    st.dates(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
yaml_keys = (
    st.sampled_from(CONFIG_KEYS) | st.sampled_from(["model", "optimizer", "nope", "", "epochs"]) | st.text(max_size=8)
)


@st.composite
def yaml_documents(draw) -> bytes:
    """A config file: a mapping of real (dotted, nested) and other keys to values of every YAML type, or text
    and bytes that are not such a mapping."""
    import yaml

    form = draw(st.sampled_from(["mapping"] * 5 + ["text", "bytes", "deep", "templates"]))
    if form == "mapping":
        data: dict = {}
        for key, value in draw(st.lists(st.tuples(yaml_keys, yaml_values), max_size=6)):
            head, _, rest = key.partition(".")
            if rest:
                section = data.setdefault(head, {})
                if isinstance(section, dict):
                    section[rest] = value
            else:
                data[key] = value
        return yaml.safe_dump(data, allow_unicode=draw(st.booleans())).encode()
    if form == "text":
        return draw(st.text(max_size=60)).encode()
    if form == "bytes":
        return draw(st.binary(max_size=60))
    if form == "deep":
        depth = draw(st.integers(1, 3000))
        return draw(st.sampled_from([b"[", b"{a: ", b"- "])) * depth
    return draw(
        st.sampled_from(
            [
                b"seed: 2001-02-30\n",
                b"seed: !!int 0xZZ\n",
                b"model: !!float abc\n",
                b"seed: !!binary 'abc'\n",
                b"seed: !!python/name:os.system\n",
                b"? [1, 2]\n: 3\n",
                b"seed: .inf\n",
                b"seed: 1e400\n",
                b"seed: 9223372036854775808\n",
                b"preset: nope\n",
                b"preset: [paper]\n",
                b"model: 3\n",
                b"\tseed: 1\n",
                b"seed: 1\nseed: 2\n",
                b"---\n---\n",
                b"\xef\xbb\xbfseed: 3\n",
            ]
        )
    )


def check_yaml(document: bytes, folder: Path) -> None:
    path = folder / CONFIG_FILE
    path.write_bytes(document)
    try:
        config = resolve_config(str(path))
    except ValueError as error:
        event("yaml: ValueError")
        message = str(error)
        assert message.splitlines() == [message], repr(message)
        # The file, or the key it sets wrongly (the checks of a value name the key, as overrides do).
        names = {name for key in KINDS for name in (key, key.split(".")[-1])}
        assert str(path) in message or any(f"`{n}`" in message or f"{n}=" in message for n in names), message
        failed = message
    else:
        event("yaml: config")
        failed = None
        run = folder / "run"
        save_config(config, run)
        assert load_config(run) == config
    # A run directory's config.yaml: the same config, or one AuferaError line that starts with the file.
    try:
        loaded = load_run_config(folder)
    except AuferaError as error:
        assert failed is not None, str(error)
        assert_one_line(str(error), str(path))
        assert str(error).startswith(f"{path}: ")
    else:
        assert failed is None and loaded == config


@settings(max_examples=80, **FAST)
@given(document=yaml_documents())
def test_yaml_config_files_give_a_config_or_one_named_error(document, workdir):
    with Scratch(workdir) as folder:
        check_yaml(document, folder)


@pytest.mark.slow
@settings(max_examples=2000, **DEEP)
@given(document=yaml_documents())
def test_yaml_config_files_give_a_config_or_one_named_error_deep(document, workdir):
    with Scratch(workdir) as folder:
        check_yaml(document, folder)


# === Presets: metadata.json, preprocessing.json, mean_image.npy, config.json; handles ===

DEMO_PREPROCESSING = json.loads((demo_preset_dir() / PRESET_PREPROCESSING_FILE).read_text())
DEMO_MEAN = (demo_preset_dir() / PRESET_MEAN_FILE).read_bytes()
# A preset whose model config is no model: every read stops at the latest at config.json, before Keras builds
# anything (fast), so each example checks the files read before it.
BASE_FILES = {
    PRESET_CONFIG_FILE: b"{}",
    PRESET_WEIGHTS_FILE: b"never read",
    PRESET_PREPROCESSING_FILE: json.dumps(DEMO_PREPROCESSING).encode(),
    PRESET_MEAN_FILE: DEMO_MEAN,
    PRESET_CARD_FILE: b"# fuzz\n",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_preset(folder: Path, replaced: dict[str, bytes], metadata: bytes | None = None) -> None:
    files = {**BASE_FILES, **replaced}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if metadata is None:
        metadata = json.dumps({"name": "fuzz", "files": {name: _sha(files[name]) for name in HASHED_FILES}}).encode()
    (folder / PRESET_METADATA_FILE).write_bytes(metadata)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
deep_json = st.tuples(st.integers(1, 5000), st.sampled_from(["[", '{"a":'])).map(lambda v: (v[1] * v[0]).encode())
json_documents = st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40), deep_json)


def _bad_entry(files: dict, draw) -> dict:
    name = draw(st.sampled_from(HASHED_FILES))
    change = draw(st.sampled_from(["wrong", "missing", "type", "case"]))
    out = dict(files)
    if change == "wrong":
        out[name] = _sha(b"something else")
    elif change == "missing":
        del out[name]
    elif change == "type":
        out[name] = draw(json_values.filter(lambda v: v != files[name]))
    else:
        out[name] = files[name].upper()  # SHA-256 in capitals: not the digest written
    return out


@st.composite
def metadata_documents(draw) -> tuple[bytes, bool]:
    """metadata.json, and whether every file is listed with its SHA-256 (the preset then passes)."""
    files = {name: _sha(BASE_FILES[name]) for name in HASHED_FILES}
    form = draw(st.sampled_from(["good", "pairs", "extra", "bad_entry", "no_files", "files_value", "document"]))
    if form == "good":
        return json.dumps({"files": files, "name": draw(json_values)}).encode(), True
    if form == "pairs":  # a list of [name, digest] pairs is a mapping too
        return json.dumps({"files": [[k, v] for k, v in files.items()]}).encode(), True
    if form == "extra":
        return json.dumps({"files": {**files, draw(st.text(max_size=8)): draw(json_values)}}).encode(), True
    if form == "bad_entry":
        return json.dumps({"files": _bad_entry(files, draw)}).encode(), False
    if form == "no_files":
        return json.dumps(
            draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k != "files"), json_values, max_size=3))
        ).encode(), False
    if form == "files_value":
        value = draw(json_values.filter(lambda v: not isinstance(v, (dict, list)) or v in ({}, [])))
        return json.dumps({"files": value}).encode(), False
    document = draw(json_documents)
    try:
        parsed = json.loads(document)
        passes = isinstance(parsed, dict) and dict(parsed.get("files", None) or {}) == files
    except (ValueError, TypeError, RecursionError):
        passes = False
    return document, passes


def check_metadata(document: bytes, passes: bool, folder: Path) -> None:
    write_preset(folder, {}, metadata=document)
    try:
        metadata = check_preset_files(folder)
    except AuferaError as error:
        event("metadata: AuferaError")
        assert not passes, str(error)
        assert_one_line(str(error), str(folder))
        return
    event("metadata: checked")
    assert passes and isinstance(metadata, dict)


@settings(max_examples=60, **FAST)
@given(case=metadata_documents())
def test_preset_metadata_passes_or_one_named_error(case, workdir):
    with Scratch(workdir) as folder:
        check_metadata(*case, folder)


FACES = [
    (DEMO_PREPROCESSING["face"], True),
    ({}, True),  # every FaceConfig default
    ({"detect_every": 0}, False),
    ({"tracking": "x"}, False),
    ({"margin": "0.1"}, False),
    ({"nope": 1}, False),
    ([], False),
    ("flow", False),
    (None, False),
]
PREPROCESSING_KEYS = ("image_size", "channels", "scale", "mean", "dataset_size")


def valid_preprocessing(doc) -> tuple[bool, tuple | None]:
    """The documented input contract, written out here: (valid, the dataset image shape it expects)."""
    if not isinstance(doc, dict) or "face" not in doc or not set(doc) <= {*PREPROCESSING_KEYS, "face"}:
        return False, None
    if not {"image_size", "channels", "scale", "mean"} <= set(doc):
        return False, None

    def whole(v):
        return type(v) is int and v >= 1

    size, channels, scale, dataset = doc["image_size"], doc["channels"], doc["scale"], doc.get("dataset_size")
    ok = whole(size) and whole(channels) and doc["mean"] == "train"
    ok = ok and type(scale) in (int, float) and 0 < scale < math.inf
    ok = ok and (dataset is None or (whole(dataset) and dataset >= size))
    face_ok = next((valid for face, valid in FACES if face == doc["face"] and type(face) is type(doc["face"])), None)
    if not ok or not face_ok:
        return False, None
    side = size if dataset is None else dataset
    return True, (side, side, channels)


preprocessing_values = st.one_of(
    json_values,
    st.integers(-3, 300),
    st.sampled_from([132, 200, 1, 0, -1, 132.0, True, "132", 1e400, "train", 0.0039, None]),
)


@st.composite
def preprocessing_documents(draw) -> bytes:
    doc = dict(DEMO_PREPROCESSING)
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["set", "set", "drop", "add", "face"]))
        key = draw(st.sampled_from(PREPROCESSING_KEYS))
        if change == "set":
            doc[key] = draw(preprocessing_values)
        elif change == "drop":
            doc.pop(draw(st.sampled_from([*PREPROCESSING_KEYS, "face"])), None)
        elif change == "add":
            doc[draw(st.text(max_size=6))] = draw(json_values)
        else:
            doc["face"] = draw(st.sampled_from(FACES))[0]
    if draw(st.integers(0, 9)) == 0:
        return draw(json_documents)
    return json.dumps(doc).encode()


def _mean_shape() -> tuple:
    return np.load(io.BytesIO(DEMO_MEAN)).shape


def check_preprocessing(document: bytes, folder: Path) -> None:
    write_preset(folder, {PRESET_PREPROCESSING_FILE: document})
    try:
        doc = json.loads(document)
    except (ValueError, RecursionError):
        doc = None
    valid, shape = valid_preprocessing(doc)
    with pytest.raises(AuferaError) as caught:
        _read_preset_dir(folder, "fuzz")
    message = str(caught.value)
    assert_one_line(message, str(folder))
    if not valid:
        event("preprocessing: refused")
        assert message.startswith(str(folder / PRESET_PREPROCESSING_FILE)), (document, message)
    elif shape != _mean_shape():
        event("preprocessing: mean shape refused")
        assert message.startswith(str(folder / PRESET_MEAN_FILE)), (document, message)
    else:
        event("preprocessing: read")
        assert message.startswith(str(folder / PRESET_CONFIG_FILE)), (document, message)


@settings(max_examples=60, **FAST)
@given(document=preprocessing_documents())
def test_preset_preprocessing_is_read_or_one_named_error(document, workdir):
    with Scratch(workdir) as folder:
        check_preprocessing(document, folder)


def _npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


@st.composite
def mean_files(draw) -> tuple[str, object, bool]:
    """How mean_image.npy is made (form, parameter; `mean_bytes` writes it), and whether it is a number
    array of the preprocessing's shape (then it is read)."""
    form = draw(st.sampled_from(["demo", "cast", "shape", "dtype", "truncated", "bytes", "npz", "empty"]))
    if form == "demo":
        return form, None, True
    if form == "cast":  # integers or booleans of the right shape are a mean image too
        return form, draw(st.sampled_from(["uint8", "int64", "bool", "float64"])), True
    if form == "shape":
        return form, tuple(draw(st.lists(st.integers(0, 5), max_size=4))), False
    if form == "dtype":
        return form, draw(st.sampled_from(["U3", "S3", "i4,i4", "datetime64[s]"])), False
    if form == "truncated":
        return form, draw(st.integers(0, len(DEMO_MEAN) - 1)), False
    if form == "bytes":
        return form, draw(st.binary(max_size=200)), False
    return form, None, False


def mean_bytes(form: str, parameter) -> bytes:
    if form == "demo":
        return DEMO_MEAN
    if form == "cast":
        return _npy(np.zeros(_mean_shape(), parameter))
    if form == "shape":
        return _npy(np.zeros(parameter, np.float32))
    if form == "dtype":
        return _npy(np.zeros(3, parameter))
    if form == "truncated":
        return DEMO_MEAN[:parameter]
    if form == "bytes":
        return parameter
    if form == "npz":
        out = io.BytesIO()
        np.savez(out, mean=np.zeros(_mean_shape()))
        return out.getvalue()
    return b""


def check_mean(form: str, parameter, readable: bool, folder: Path) -> None:
    write_preset(folder, {PRESET_MEAN_FILE: mean_bytes(form, parameter)})
    with pytest.raises(AuferaError) as caught:
        _read_preset_dir(folder, "fuzz")
    message = str(caught.value)
    assert_one_line(message, str(folder))
    named = PRESET_CONFIG_FILE if readable else PRESET_MEAN_FILE
    assert message.startswith(str(folder / named)), message
    event(f"mean: {'read' if readable else 'refused'}")


@settings(max_examples=30, **FAST)
@given(case=mean_files())
def test_preset_mean_image_is_read_or_one_named_error(case, workdir):
    with Scratch(workdir) as folder:
        check_mean(*case, folder)


def check_model_config(document: bytes, folder: Path) -> None:
    write_preset(folder, {PRESET_CONFIG_FILE: document})
    with pytest.raises(AuferaError) as caught:
        _read_preset_dir(folder, "fuzz")
    # No JSON generated here is a model's config: the error names config.json (not the weights read after it).
    assert_one_line(str(caught.value), str(folder / PRESET_CONFIG_FILE))
    assert str(caught.value).startswith(str(folder / PRESET_CONFIG_FILE))


model_configs = json_documents | st.fixed_dictionaries(
    {
        "class_name": st.sampled_from(["Dense", "Functional", "Sequential", "system", "aufera>Network1"]),
        "config": json_values,
        "module": st.sampled_from(["keras.layers", "os", "aufera.models", "builtins"]),
    }
).map(lambda d: json.dumps(d).encode())


@settings(max_examples=30, **FAST)
@given(document=model_configs)
def test_preset_model_config_is_one_named_error(document, workdir):
    with Scratch(workdir) as folder:
        check_model_config(document, folder)


@pytest.mark.slow
@settings(max_examples=800, **DEEP)
@given(
    metadata=metadata_documents(),
    preprocessing=preprocessing_documents(),
    mean=mean_files(),
    config=model_configs,
    handle=st.deferred(lambda: handles),
)
def test_preset_files_deep(metadata, preprocessing, mean, config, handle, workdir):
    for check, args in (
        (check_metadata, metadata),
        (check_preprocessing, (preprocessing,)),
        (check_mean, mean),
        (check_model_config, (config,)),
        (check_handle, (handle,)),
    ):
        with Scratch(workdir) as folder:
            check(*args, folder)


DEMO_WEIGHTS_SIZE = (demo_preset_dir() / PRESET_WEIGHTS_FILE).stat().st_size
weight_damage = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, DEMO_WEIGHTS_SIZE - 1)),
    st.tuples(st.just("flip"), st.lists(st.integers(0, DEMO_WEIGHTS_SIZE - 1), min_size=1, max_size=8)),
    st.tuples(st.just("bytes"), st.binary(max_size=64)),
)


@pytest.mark.slow
@settings(max_examples=15, **DEEP)
@given(damage=weight_damage)
def test_preset_weights_deep(damage, workdir):
    # The demo's model with damaged weights whose SHA-256 is rewritten to match (each example builds the model).
    form, parameter = damage
    data = bytearray((demo_preset_dir() / PRESET_WEIGHTS_FILE).read_bytes())
    if form == "truncate":
        data = data[:parameter]
    elif form == "flip":
        for at in parameter:
            data[at] ^= 0xFF
    else:
        data = bytearray(parameter)
    config = (demo_preset_dir() / PRESET_CONFIG_FILE).read_bytes()
    with Scratch(workdir) as folder:
        write_preset(folder, {PRESET_CONFIG_FILE: config, PRESET_WEIGHTS_FILE: bytes(data)})
        try:
            preset = _read_preset_dir(folder, "fuzz")
        except AuferaError as error:
            event("weights: AuferaError")
            assert_one_line(str(error), str(folder / PRESET_WEIGHTS_FILE))
            assert str(error).startswith(str(folder / PRESET_WEIGHTS_FILE))
        else:
            event("weights: read (damage inside the values)")
            assert preset.model.count_params() > 0


# Handles that name no preset: text, paths of nothing, of a file, of a folder without a preset, addresses
# without a SHA-256. The built-in names, the demo and real downloads are left out (they build or fetch).
handles = st.one_of(
    st.text(min_size=1, max_size=20),
    st.sampled_from(
        [
            "http://example.invalid/p.tar.gz",
            "https://x/p.tar.gz#sha256=12",
            "hf://",
            "~",
            ".",
            "FILE",
            "FOLDER",
            "FOLDER/",
            "FILE/x",
            "demo ",
            "Paper",
            "drml/",
            "http:/x",
        ]
    ),
).filter(lambda h: h not in ("", "demo", *ARCHITECTURES))
BREAK_ESCAPES = {c: repr(c)[1:-1] for c in "\n\r" + OTHER_BREAKS}


def _escaped(text: str) -> str:
    return "".join(BREAK_ESCAPES.get(c, c) for c in text)


def check_handle(handle: str, folder: Path) -> None:
    (folder / "file").write_text("not a preset")
    (folder / "dir").mkdir()
    handle = handle.replace("FILE", str(folder / "file")).replace("FOLDER", str(folder / "dir"))
    with pytest.raises(AuferaError) as caught:
        load_preset(handle)
    message = str(caught.value)
    assert message.splitlines() == [message]
    # The handle as given, or as the path or address it is read as, with its line breaks escaped.
    shown = [handle, str(Path(handle).expanduser()), handle.split("#")[0]]
    assert any(message.startswith(_escaped(s) + ":") for s in shown), (handle, message)
    event("handle: AuferaError")


@settings(max_examples=60, **FAST)
@given(handle=handles)
def test_preset_handles_give_one_named_error(handle, workdir):
    with Scratch(workdir) as folder:
        check_handle(handle, folder)


# === The command line: every command's arguments ===

_PARSER = build_parser()
SUBCOMMANDS = next(a for a in _PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


def _options(command: str) -> list[argparse.Action]:
    return [a for a in SUBCOMMANDS[command]._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


# Symbolic paths, made real in each example's folder (the command runs with that folder as its working
# folder): NOWHERE does not exist, FILE is a file of garbage, EMPTY an empty folder, JUNK a folder of
# unrelated files, RUN a folder with a garbage config.yaml, BROKEN a path holding a line break.
PATHS = ("NOWHERE", "FILE", "EMPTY", "JUNK", "RUN", "BROKEN")
# What each command is given last, so that it wins over any generated value: an input it must refuse at once.
# (Valid values there would start real work: a corpus, a dataset, training or a model download.)
GUARDS = {
    "synth": ((), ("FILE",)),  # OUT_DIR, a file: refused whatever else is given (its one positional)
    "prepare": (("--data-dir",), ("NOWHERE", "FILE", "EMPTY", "JUNK", "BROKEN", "BROKEN")),
    "train": (("--data",), (*PATHS, "BROKEN")),
    "evaluate": (("--run",), (*PATHS, "BROKEN")),
    "reproduce": (("--data-dir",), ("NOWHERE", "FILE", "BROKEN", "BROKEN")),
    "predict": (("--model",), PATHS),
    "export": (("--model",), PATHS),
}
ARG_TEXT = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)) | st.sampled_from(OTHER_BREAKS + "\n\r"),
    max_size=10,
).filter(lambda t: t != "--")
arg_values = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "2",
            "3",
            "1e3",
            "3.5",
            "nan",
            "inf",
            "-0",
            "1,2,3",
            "0.5,0.5,0.5",
            "A",
            "e",
            "all",
            "2,5,8",
            "0," * 9 + "0",
            "99999999999999999999",
            "cpu-small",
            "momu",
            "tflite",
        ]
    ),
    st.sampled_from(PATHS),
    ARG_TEXT,
)
HELP = ("-h", "--help", "--version")


@st.composite
def command_lines(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(SUBCOMMANDS) * 8 + ["", "synthh", "--verbose", "TEXT"]))
    command = draw(ARG_TEXT) if command == "TEXT" else command
    argv = ["--verbose"] if draw(st.integers(0, 4)) == 0 else []
    argv.append(command)
    if command not in SUBCOMMANDS:
        return argv + draw(st.lists(arg_values, max_size=3))
    groups = []
    # The required options, most of the time (so that commands get past their parser and run).
    for action in _options(command):
        if action.required and action.option_strings[0] not in GUARDS[command][0] and draw(st.integers(0, 4)):
            choices = list(action.choices or ())
            groups.append([action.option_strings[0], draw(st.sampled_from(choices) if choices else arg_values)])
    if command == "predict" and draw(st.integers(0, 4)):  # its INPUT files
        groups.append(draw(st.lists(arg_values, min_size=1, max_size=2)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["option"] * 5 + ["value", "help"]))
        options = [a for a in _options(command) if not (command == "synth" and a.dest == "overwrite")]
        if kind == "option" and options:
            action = draw(st.sampled_from(options))
            flag = draw(st.sampled_from(action.option_strings))
            if action.nargs == 0:
                groups.append([flag])
                continue
            count = draw(st.integers(0, 3)) if action.nargs in ("+", "*", "?") else 1
            choices = list(action.choices or ())
            values = st.sampled_from(choices) | arg_values if choices else arg_values
            groups.append([flag, *draw(st.lists(values, min_size=count, max_size=count))])
        elif kind == "value" and command != "synth":  # a positional (synth's one positional is its guard)
            groups.append([draw(arg_values)])
        elif kind == "help" and draw(st.integers(0, 3)) == 0:
            groups.append([draw(st.sampled_from(HELP))])
    flags, guards = GUARDS[command]
    guard = [*flags, draw(st.sampled_from(guards))]
    order = draw(st.permutations(range(len(groups))))
    return argv + [token for i in order for token in groups[i]] + guard


@contextlib.contextmanager
def _command_context(folder: Path):
    """The command runs in `folder`, with stdout and stderr as the interpreter's (UTF-8, unencodable text
    escaped) and the environment it may set restored afterwards."""
    environ, cwd = dict(os.environ), os.getcwd()
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)


def _real(token: str, folder: Path) -> str:
    return {
        "NOWHERE": str(folder / "nowhere"),
        "FILE": str(folder / "file.bin"),
        "EMPTY": str(folder / "empty"),
        "JUNK": str(folder / "junk"),
        "RUN": str(folder / "run"),
        "BROKEN": str(folder / "line\nbreak"),
    }.get(token, token)


def check_command_line(argv: list[str], folder: Path) -> None:
    (folder / "file.bin").write_bytes(b"\x00\xffgarbage")
    (folder / "empty").mkdir()
    (folder / "junk").mkdir()
    (folder / "junk" / "notes.txt").write_text("x")
    (folder / "run").mkdir()
    (folder / "run" / CONFIG_FILE).write_text("seed: [\n")
    argv = [_real(token, folder) for token in argv]
    with _command_context(folder) as (out, err):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
        out.flush()
        err.flush()
        stdout = out.buffer.getvalue().decode()
        stderr = err.buffer.getvalue().decode()
    assert isinstance(status, int), (argv, status)
    assert "Traceback" not in stderr, stderr
    if status == 0:
        # Only help and the version end well: every command line generated names a bad input.
        event("command line: help or version")
        assert any(token in HELP for token in argv), (argv, stdout, stderr)
        assert stdout.strip() and not stderr
        return
    event(f"command line: status {status}")
    assert status == 2, (argv, status, stderr)
    lines = stderr.splitlines()
    # One line, naming the command (or the program) and the argument or file at fault.
    assert len(lines) == 1 and ": error: " in lines[0] and lines[0].startswith("aufera"), (argv, stderr)
    assert lines[0] == lines[0].strip()
    parsed = not lines[0].endswith("--help)")  # the parser's errors point to --help; the commands' do not
    command = next((token for token in argv if token in SUBCOMMANDS), "no command")
    event(f"command line: {command}: {'ran and refused its input' if parsed else 'argument refused'}")


@pytest.mark.timeout(900)
@settings(max_examples=80, **FAST)
@given(argv=command_lines())
def test_command_lines_give_one_error_line_and_status_2(argv, workdir):
    with Scratch(workdir) as folder:
        check_command_line(argv, folder)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(max_examples=1000, **DEEP)
@given(argv=command_lines())
def test_command_lines_give_one_error_line_and_status_2_deep(argv, workdir):
    with Scratch(workdir) as folder:
        check_command_line(argv, folder)
