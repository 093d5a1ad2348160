"""The FERA 2017 reader: layout, label parsing, frame pairing and every real-data fault."""

import json

import cv2
import numpy as np
import pytest

from aufera.data import fera2017, video
from aufera.data.faces import FaceConfig, video_faces
from aufera.data.fera2017 import (
    LabelFileError,
    Problem,
    Session,
    find_sessions,
    iter_examples,
    iter_frames,
    read_labels,
    summarize,
)
from aufera.data.video import read_frames
from aufera.errors import AuferaError
from aufera.layout import LABEL_HEADER, TRAIN, VALIDATION
from aufera.synth import writer
from aufera.synth.config import SynthConfig

SIZE = 64
# Frame i of a hand-made video is flat BGR colour COLOURS[i % 3]: pure blue, green, red.
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))


# === Synthetic corpus ===


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    # The corpus sits one level below the folder given to the reader.
    parent = tmp_path_factory.mktemp("synth")
    config = SynthConfig(train_subjects=1, valid_subjects=1, tasks=1, frames=4, size=SIZE)
    writer.write_corpus(parent / "FERA2017", config, workers=1, progress=False)
    return parent


def test_synthetic_sessions_and_labels(synth_root):
    corpus = synth_root / "FERA2017"
    sessions, problems = find_sessions(synth_root)
    assert problems == []
    splits = json.loads((corpus / "groundtruth" / "corpus.json").read_text())["splits"]
    assert [(s.split, s.subject, s.task) for s in sessions] == [
        (TRAIN, splits["train"][0], "T1"),
        (VALIDATION, splits["validation"][0], "T1"),
    ]
    for session in sessions:
        assert session.views == tuple(range(1, 10))
        assert session.label_path == corpus / session.split.label_dir / f"{session.name}.csv"
        assert session.videos[5] == corpus / session.split.video_dir / f"{session.name}_5.mp4"
        truth = np.load(corpus / "groundtruth" / f"{session.name}.npz")
        assert session.labels.dtype == np.int8 and session.labels.shape == (4, 10)
        np.testing.assert_array_equal(session.labels, truth["labels"])
        assert session.frame_numbers.dtype == np.int64
        np.testing.assert_array_equal(session.frame_numbers, truth["frame"])
        frames, labels, label_problems = read_labels(session.label_path)
        np.testing.assert_array_equal(labels, truth["labels"])
        assert label_problems == []


def test_synthetic_frames(synth_root):
    corpus = synth_root / "FERA2017"
    sessions, problems = find_sessions(synth_root)
    report = summarize(sessions, problems)
    examples = list(iter_examples(sessions, report=report))
    assert len(examples) == 2 * 9 * 4
    for session in sessions:
        truth = np.load(corpus / "groundtruth" / f"{session.name}.npz")
        for view in range(9):
            mine = [e for e in examples if e.subject == session.subject and e.view == view]
            assert [e.frame for e in mine] == truth["frame"].tolist()
            assert {e.split for e in mine} == {session.split.name} and {e.task for e in mine} == {"T1"}
            for e, row in zip(mine, truth["labels"], strict=True):
                assert e.image.shape == (SIZE, SIZE, 3) and e.image.dtype == np.uint8
                assert e.au.dtype == np.int8
                np.testing.assert_array_equal(e.au, row)
    # The images are OpenCV's frames turned from BGR to RGB.
    capture = cv2.VideoCapture(str(sessions[0].videos[3]))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    first = next(e for e in examples if e.split == "train" and e.view == 2)
    np.testing.assert_array_equal(first.image, bgr[:, :, ::-1])
    assert report.problems == []
    for name in ("train", "validation"):
        counts = report.splits[name]
        assert (counts.sessions, counts.videos, counts.label_rows) == (1, 9, 4)
        assert (counts.videos_read, counts.frames_read) == (9, 36)


# === Hand-made FERA 2017 folder with every fault ===


def _video(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (SIZE, SIZE))
    assert out.isOpened()
    for i in range(frames):
        out.write(np.full((SIZE, SIZE, 3), COLOURS[i % 3], np.uint8))
    out.release()


def _csv(path, first_frame, rows, header=True):
    """Writes a label file whose row i has AU k present when (i + k) is even."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [LABEL_HEADER] if header else []
    for i in range(rows):
        lines.append(",".join([str(first_frame + i)] + [str(int((i + k) % 2 == 0)) for k in range(10)]))
    path.write_text("\n".join(lines) + "\n")


def _expected_labels(rows):
    return np.array([[1 if (i + k) % 2 == 0 else -1 for k in range(10)] for i in range(rows)], np.int8)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """A FERA 2017 copy, two levels below the folder given to the reader, with one fault of each kind."""
    top = tmp_path_factory.mktemp("faulty")
    root = top / "download" / "FERA2017"
    tv, tl = root / "FERA17_Train_MV", root / "Train_Occ"
    vv, vl = root / "FERA17_Valid_MV", root / "Valid_Occ"
    # A good session of 9 views (view 9 with an upper-case extension, its CSV too) starting at frame 1000.
    for view in range(1, 9):
        _video(tv / f"FERA17_TR_F001_T1_{view}.mp4", 3)
    _video(tv / "FERA17_TR_F001_T1_9.MP4", 3)
    _csv(tl / "FERA17_TR_F001_T1.CSV", 1000, 3)
    # A video longer (5 frames) than its CSV (3 rows), and a nested duplicate of it.
    _video(tv / "FERA17_TR_F002_T1_1.mp4", 5)
    _csv(tl / "FERA17_TR_F002_T1.csv", 1, 3)
    _video(tv / "copy" / "FERA17_TR_F002_T1_1.mp4", 1)
    # A CSV longer (4 rows) than its video (2 frames).
    _video(tv / "FERA17_TR_F002_T2_4.mp4", 2)
    _csv(tl / "FERA17_TR_F002_T2.csv", 7, 4)
    # A video without a label file; a label file without videos.
    _video(tv / "FERA17_TR_F003_T1_1.mp4", 2)
    _csv(tl / "FERA17_TR_F004_T1.csv", 1, 2)
    # Garbage bytes and an empty (zero-frame) video beside a good view.
    (tv / "FERA17_TR_F005_T1_1.mp4").write_bytes(np.random.default_rng(0).bytes(2000))
    _video(tv / "FERA17_TR_F005_T1_2.mp4", 3)
    _video(tv / "FERA17_TR_F005_T1_3.mp4", 0)
    _csv(tl / "FERA17_TR_F005_T1.csv", 1, 3)
    # Unusable label files: empty, header only, binary.
    for task in ("T1", "T2", "T3"):
        _video(tv / f"FERA17_TR_F006_{task}_1.mp4", 1)
    (tl / "FERA17_TR_F006_T1.csv").write_bytes(b"")
    (tl / "FERA17_TR_F006_T2.csv").write_text(LABEL_HEADER + "\n")
    (tl / "FERA17_TR_F006_T3.csv").write_bytes(bytes(range(256)) * 4)
    # Names that are not FERA 2017 names, a file of the wrong split, and files to ignore silently.
    (tv / "FERA17_TR_F001_T1_10.mp4").write_bytes(b"x")
    (tv / "FERA17_VA_F001_T1_1.mp4").write_bytes(b"x")
    (tl / "notes.csv").write_text("a,b\n")
    (tv / ".DS_Store").write_bytes(b"\0\1")
    (tv / "readme.txt").write_text("hello")
    _csv(root / "Train_Int" / "AU01" / "FERA17_TR_F001_T1.csv", 0, 9)
    _csv(root / "groundtruth" / "FERA17_TR_F001_T1.csv", 0, 9)
    # Validation: a header-less CSV with odd codes and bad rows.
    _video(vv / "FERA17_VA_M002_T1_5.mp4", 3)
    vl.mkdir(parents=True)
    (vl / "FERA17_VA_M002_T1.csv").write_text(
        "1,1,0,1,0,1,0,1,0,1,0\n"
        "2,9,5,,x,1,0,1.0,0.0,-1,nan\n"
        "3,1,0\n"
        "abc,1,0,1,0,1,0,1,0,1,0\n"
        "\n"
        "3.5,1,0,1,0,1,0,1,0,1,0\n"
        "4,0,0,0,0,0,0,0,0,0,0,,\n"
    )
    return top, root


def _by_kind(problems):
    table = {}
    for p in problems:
        table.setdefault(p.kind, []).append(p)
    return table


def test_faulty_sessions_found(faulty):
    top, root = faulty
    sessions, _ = find_sessions(top)
    assert [s.name for s in sessions] == [
        "FERA17_TR_F001_T1",
        "FERA17_TR_F002_T1",
        "FERA17_TR_F002_T2",
        "FERA17_TR_F005_T1",
        "FERA17_VA_M002_T1",
    ]
    good = sessions[0]
    assert good.views == tuple(range(1, 10))
    assert good.videos[9].name == "FERA17_TR_F001_T1_9.MP4"
    assert good.label_path == root / "Train_Occ" / "FERA17_TR_F001_T1.CSV"
    assert sessions[1].videos == {1: root / "FERA17_Train_MV" / "FERA17_TR_F002_T1_1.mp4"}
    assert sessions[3].views == (1, 2, 3)


def test_faulty_problems_found(faulty):
    top, root = faulty
    tv, tl, vl = root / "FERA17_Train_MV", root / "Train_Occ", root / "Valid_Occ"
    _, problems = find_sessions(top)
    kinds = _by_kind(problems)
    for p in problems:
        assert isinstance(p, Problem) and str(p) == f"{p.path}: {p.reason}" and "\n" not in str(p)
    assert [p.path for p in kinds["no_labels"]] == [tv / "FERA17_TR_F003_T1_1.mp4"]
    assert "FERA17_TR_F003_T1.csv" in kinds["no_labels"][0].reason
    assert [p.path for p in kinds["no_videos"]] == [tl / "FERA17_TR_F004_T1.csv"]
    assert [(p.path, p.reason.split(";")[0]) for p in kinds["bad_labels"]] == [
        (tl / "FERA17_TR_F006_T1.csv", "label file is empty"),
        (tl / "FERA17_TR_F006_T2.csv", "label file has a header row but no data rows"),
        (tl / "FERA17_TR_F006_T3.csv", "label file is not text (it holds NUL bytes)"),
    ]
    assert all(p.reason.endswith("; session skipped (1 video not read)") for p in kinds["bad_labels"])
    missing = {p.path.name for p in kinds["missing_view"]}
    assert {f"FERA17_TR_F002_T1_{v}.mp4" for v in range(2, 10)} <= missing
    assert {f"FERA17_TR_F005_T1_{v}.mp4" for v in range(4, 10)} <= missing
    assert not any("F001_T1" in name for name in missing)
    assert len(missing) == 8 + 8 + 6 + 8  # F002_T1, F002_T2, F005_T1, M002_T1
    f005 = [p for p in kinds["missing_view"] if p.path.name == "FERA17_TR_F005_T1_4.mp4"]
    assert [(p.path, p.reason) for p in f005] == [
        (tv / "FERA17_TR_F005_T1_4.mp4", "view 4 missing; the session is read from its 3 views present")
    ]
    assert [p.path for p in kinds["duplicate_file"]] == [tv / "copy" / "FERA17_TR_F002_T1_1.mp4"]
    assert sorted(p.path.name for p in kinds["bad_name"]) == ["FERA17_TR_F001_T1_10.mp4", "notes.csv"]
    assert [p.path.name for p in kinds["wrong_split"]] == ["FERA17_VA_F001_T1_1.mp4"]
    assert [(p.path, p.line) for p in kinds["no_header"]] == [(vl / "FERA17_VA_M002_T1.csv", 1)]
    assert [(p.line, p.reason) for p in kinds["bad_row"]] == [
        (3, "line 3: 3 columns, expected 11 (frame number and 10 AUs); row skipped"),
        (4, "line 4: frame number 'abc' is not an integer; row skipped"),
        (6, "line 6: frame number '3.5' is not an integer; row skipped"),
    ]
    # Nothing from the intensity folder, groundtruth/, .DS_Store or readme.txt.
    assert not any("Train_Int" in str(p.path) or "groundtruth" in str(p.path) for p in problems)
    assert not any(p.path.name in (".DS_Store", "readme.txt") for p in problems)
    assert set(kinds) == {
        "no_labels",
        "no_videos",
        "bad_labels",
        "missing_view",
        "duplicate_file",
        "bad_name",
        "wrong_split",
        "no_header",
        "bad_row",
    }


def test_faulty_frames(faulty):
    top, root = faulty
    tv = root / "FERA17_Train_MV"
    sessions, problems = find_sessions(top)
    report = summarize(sessions, problems)
    before = len(report.problems)
    examples = list(iter_examples(sessions, report=report))
    new = _by_kind(report.problems[before:])
    assert set(new) == {"frame_count", "undecodable"}

    def frames(name, view):
        code = {"train": "TR", "validation": "VA"}
        return [e for e in examples if f"FERA17_{code[e.split]}_{e.subject}_{e.task}" == name and e.view == view - 1]

    # The good session: frame numbers from the CSV, labels in order, RGB images.
    for view in range(1, 10):
        got = frames("FERA17_TR_F001_T1", view)
        assert [e.frame for e in got] == [1000, 1001, 1002]
        np.testing.assert_array_equal(np.stack([e.au for e in got]), _expected_labels(3))
        for e, (b, g, r) in zip(got, COLOURS, strict=True):
            assert e.image.shape == (SIZE, SIZE, 3) and e.image.dtype == np.uint8
            np.testing.assert_allclose(e.image.reshape(-1, 3).mean(0), (r, g, b), atol=30)
    # Video longer than the CSV (5 frames, 3 rows) and CSV longer than the video (4 rows, 2 frames).
    assert [e.frame for e in frames("FERA17_TR_F002_T1", 1)] == [1, 2, 3]
    assert [e.frame for e in frames("FERA17_TR_F002_T2", 4)] == [7, 8]
    np.testing.assert_array_equal(np.stack([e.au for e in frames("FERA17_TR_F002_T2", 4)]), _expected_labels(2))
    assert [(p.path, p.reason) for p in new["frame_count"]] == [
        (
            tv / "FERA17_TR_F002_T1_1.mp4",
            "video has 5 frames but FERA17_TR_F002_T1.csv has 3 label rows; frames and rows paired in order up to 3, the rest left out",
        ),
        (
            tv / "FERA17_TR_F002_T2_4.mp4",
            "video has 2 frames but FERA17_TR_F002_T2.csv has 4 label rows; frames and rows paired in order up to 2, the rest left out",
        ),
    ]
    # Undecodable videos are skipped, the good view of the same session is read.
    assert [p.path.name for p in new["undecodable"]] == ["FERA17_TR_F005_T1_1.mp4", "FERA17_TR_F005_T1_3.mp4"]
    assert frames("FERA17_TR_F005_T1", 1) == [] and frames("FERA17_TR_F005_T1", 3) == []
    assert [e.frame for e in frames("FERA17_TR_F005_T1", 2)] == [1, 2, 3]
    # Header-less validation CSV: frames 1, 2, 4 kept; 9, 5, empty, "x", -1 and nan are unknown.
    got = frames("FERA17_VA_M002_T1", 5)
    assert [e.frame for e in got] == [1, 2, 4]
    np.testing.assert_array_equal(
        np.stack([e.au for e in got]),
        [
            [1, -1, 1, -1, 1, -1, 1, -1, 1, -1],
            [0, 0, 0, 0, 1, -1, 1, -1, 0, 0],
            [-1] * 10,
        ],
    )
    train, valid = report.splits["train"], report.splits["validation"]
    assert (train.sessions, train.videos, train.label_rows) == (4, 14, 13)
    assert (train.videos_read, train.frames_read) == (12, 27 + 3 + 2 + 3)
    assert (valid.sessions, valid.videos, valid.label_rows, valid.videos_read, valid.frames_read) == (1, 1, 3, 1, 3)
    lines = report.lines()
    assert lines[0] == "train: 4 sessions, 14 videos, 13 label rows; 35 frames read from 12 videos"
    assert lines[2].startswith(f"problems: {len(report.problems)} (") and "frame_count 2" in lines[2]
    data = report.to_dict()
    assert data["splits"]["validation"]["frames_read"] == 3
    assert [p["path"] for p in data["problems"] if p["kind"] == "no_labels"] == [str(tv / "FERA17_TR_F003_T1_1.mp4")]
    assert json.loads(json.dumps(data)) == data


# === Smaller cases ===


def test_read_labels_rules(tmp_path):
    path = tmp_path / "FERA17_TR_F001_T1.csv"
    # Any header names; ";" delimiter, quotes and spaces; a trailing empty column; integral float frame numbers.
    path.write_text('frame;a;b;c;d;e;f;g;h;i;j\n"1000"; 1;0;9;5;;x;1;0;1;0;\n1001.0;0;1;0;1;0;1;0;1;0;1\n')
    frames, labels, problems = read_labels(path)
    assert frames.dtype == np.int64 and frames.tolist() == [1000, 1001]
    assert labels.dtype == np.int8
    assert labels.tolist() == [[1, -1, 0, 0, 0, 0, 1, -1, 1, -1], [-1, 1, -1, 1, -1, 1, -1, 1, -1, 1]]
    assert problems == []
    # Frame numbers out of order are kept and reported.
    path.write_text(LABEL_HEADER + "\n5," + ",".join("1" * 10) + "\n3," + ",".join("0" * 10) + "\n")
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [5, 3] and [p.kind for p in problems] == ["frame_order"]
    # Many bad rows: the first ones one by one, then one count.
    bad = "\n".join(f"{i},1" for i in range(15))
    path.write_text(LABEL_HEADER + "\n" + bad + "\n99," + ",".join("1" * 10) + "\n")
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [99]
    assert len(problems) == fera2017.MAX_ROW_PROBLEMS + 1
    assert problems[-1].reason.startswith("5 more rows skipped")
    # No valid row at all.
    path.write_text(LABEL_HEADER + "\n" + bad + "\n")
    with pytest.raises(LabelFileError, match=r"no valid data row \(line 2: 2 columns"):
        read_labels(path)
    with pytest.raises(LabelFileError, match="cannot be read"):
        read_labels(tmp_path / "missing.csv")


# Findings of the property-based fuzzing (tests/test_fuzz.py), one case each.


def test_read_labels_frame_number_beyond_int64_is_a_bad_row(tmp_path):
    # Was an OverflowError (a traceback) when the frame numbers were stored as int64.
    path = tmp_path / "FERA17_TR_F001_T1.csv"
    ones = "," + ",".join("1" * 10)
    path.write_text(f"{LABEL_HEADER}\n99999999999999999999{ones}\n1e30{ones}\n-9223372036854775808{ones}\n7{ones}\n")
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [-(2**63), 7]
    assert [(p.kind, p.line) for p in problems] == [("bad_row", 2), ("bad_row", 3)]
    assert problems[0].reason == "line 2: frame number '99999999999999999999' is beyond int64; row skipped"
    # Frame order is checked without np.diff, which wraps around at the ends of int64 (7 - -2**63 < 0).
    path.write_text(f"{LABEL_HEADER}\n9223372036854775807{ones}\n-9223372036854775808{ones}\n")
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [2**63 - 1, -(2**63)] and [p.kind for p in problems] == ["frame_order"]


def test_read_labels_only_exactly_1_and_0_are_codes(tmp_path):
    # Floats rounded these to 1 or 0: "1.00000000000000000001" was read as present, "1e-400" as absent.
    path = tmp_path / "FERA17_TR_F001_T1.csv"
    cells = [
        "1.00000000000000000001",
        "1e-400",
        "0.99999999999999999999",
        "1e0",
        "-0",
        "+1",
        "1_0",
        "1.000",
        "0e5",
        "9",
    ]
    path.write_text(f"{LABEL_HEADER}\n5,{','.join(cells)}\n")
    frames, labels, problems = read_labels(path)
    assert labels.tolist() == [[0, 0, 0, 1, -1, 1, 0, 1, -1, 0]] and problems == []


def test_read_labels_lines_end_at_newlines_only(tmp_path):
    # "\x85" (an ellipsis of a Windows-1252 header, read as Latin-1), a form feed and "\x1e" inside cells split
    # rows in two: a phantom bad row, and the line numbers of every later problem were off.
    path = tmp_path / "FERA17_TR_F001_T1.csv"
    ones = ",".join("1" * 10)
    path.write_bytes(f"Frame,AU01\x85,b\n5,{ones}\n6,1,1\x0c,1,1,1,1,1,1,1,\x1ex\n7,1\n".encode("latin-1"))
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [5, 6]
    assert labels.tolist() == [[1] * 10, [1] * 9 + [0]]
    assert [(p.kind, p.line) for p in problems] == [("bad_row", 4)]


def test_read_labels_no_header_names_its_line(tmp_path):
    # The first row is found after blank lines: the problem said "line 1".
    path = tmp_path / "FERA17_TR_F001_T1.csv"
    path.write_text("\n \n5," + ",".join("1" * 10) + "\n")
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [5]
    assert [(p.kind, p.line, p.reason.split(":")[0]) for p in problems] == [("no_header", 3, "line 3")]


def test_read_labels_huge_first_row_is_data_not_a_header(tmp_path):
    # "1e400" is a number (too large for a float): a first row of numbers is data, and this one is reported
    # (its frame number is beyond int64) instead of being skipped silently as a header.
    path = tmp_path / "FERA17_TR_F001_T1.csv"
    ones = "," + ",".join("1" * 10)
    path.write_text(f"1e400{ones}\n6{ones}\n")
    frames, labels, problems = read_labels(path)
    assert frames.tolist() == [6]
    assert [(p.kind, p.line) for p in problems] == [("no_header", 1), ("bad_row", 1)]


def test_problem_naming_a_file_with_a_line_break_is_one_line(tmp_path):
    problem = Problem(tmp_path / "FERA17_TR_F001\nT1.csv", "not a FERA 2017 file name; ignored", "bad_name")
    assert str(problem) == f"{tmp_path}/FERA17_TR_F001\\nT1.csv: not a FERA 2017 file name; ignored"
    error = LabelFileError(tmp_path / "a\rb\u2028.csv", "label file is empty")
    assert str(error) == f"{tmp_path}/a\\rb\\u2028.csv: label file is empty"


def test_iter_frames_hand_made_session(tmp_path):
    # A Session built by hand (no labels in memory) reads its CSV; problems go to the list given.
    _video(tmp_path / "FERA17_TR_F001_T1_5.mp4", 2)
    _csv(tmp_path / "FERA17_TR_F001_T1.csv", 1000, 2)
    session = Session(
        TRAIN, "F001", "T1", tmp_path / "FERA17_TR_F001_T1.csv", {5: tmp_path / "FERA17_TR_F001_T1_5.mp4"}
    )
    problems = []
    got = list(iter_frames(session, 5, problems))
    assert [g[0] for g in got] == [1000, 1001] and problems == []
    np.testing.assert_array_equal(np.stack([g[2] for g in got]), _expected_labels(2))
    with pytest.raises(ValueError, match="view_number=4"):
        next(iter_frames(session, 4))


def test_reader_and_face_finder_see_the_same_frames(tmp_path):
    # The face boxes are paired with the reader's frames by index: both must decode the same frames, in order.
    path = tmp_path / "FERA17_TR_F001_T1_5.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (SIZE, SIZE))
    assert out.isOpened()
    written = []
    for i in range(6):
        rgb = np.zeros((SIZE, SIZE, 3), np.uint8)
        rgb[: SIZE // 2, :, 0] = 40 * i  # red top half, brighter frame by frame
        rgb[SIZE // 2 :, :, 2] = 200 - 30 * i  # blue bottom half, darker frame by frame
        rgb[:, : SIZE // 4, 1] = 255 if i % 2 else 0  # green left strip on odd frames
        written.append(rgb)
        out.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out.release()
    _csv(tmp_path / "FERA17_TR_F001_T1.csv", 1, 6)
    session = Session(TRAIN, "F001", "T1", tmp_path / "FERA17_TR_F001_T1.csv", {5: path})
    problems = []
    read = [image for _, image, _ in iter_frames(session, 5, problems)]
    assert problems == [] and len(read) == 6

    class Recorder:
        """A detector that keeps a copy of every image it is asked about and finds no face."""

        def __init__(self):
            self.images = []

        def detect(self, images):
            self.images.extend(np.array(image, copy=True) for image in images)
            return [None] * len(images)

    detector = Recorder()
    found = video_faces(path, detector, FaceConfig(detect_every=1, keyframes_per_call=2))
    assert found.num_frames == 6
    decoded = list(read_frames(path))
    # detect_every=1: the detector is asked about every frame once, in order.
    for seen in (detector.images, decoded):
        assert len(seen) == len(read)
        for a, b in zip(seen, read, strict=True):
            assert a.dtype == b.dtype == np.uint8 and a.shape == b.shape == (SIZE, SIZE, 3)
            np.testing.assert_array_equal(a, b)
    # And they are the frames written, in order, as RGB (MJPG is lossy: close, not equal).
    for image, rgb in zip(read, written, strict=True):
        assert np.abs(image.astype(int) - rgb).mean() < 6
    assert all(np.abs(read[i].astype(int) - read[i + 1]).mean() > 10 for i in range(5))


def test_video_reader_open_read_skip_and_colours(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(video.VideoOpenError, match="bad.mp4: OpenCV cannot open this video") as error:
        video.VideoReader(tmp_path / "bad.mp4")
    assert isinstance(error.value, AuferaError) and error.value.reason == video.CANNOT_OPEN
    with pytest.raises(AuferaError, match="bad.mp4"):
        next(read_frames(tmp_path / "bad.mp4"))
    _video(tmp_path / "v.mp4", 5)
    with video.VideoReader(tmp_path / "v.mp4") as reader:
        first = reader.read()
        assert first.shape == (SIZE, SIZE, 3) and first.dtype == np.uint8
        np.testing.assert_allclose(first.reshape(-1, 3).mean(0), COLOURS[0][::-1], atol=30)  # BGR written, RGB read
        assert reader.skip() == 4 and reader.read() is None and list(reader) == []
    assert len(list(read_frames(tmp_path / "v.mp4"))) == 5
    # Grey and BGRA frames from OpenCV come out as RGB.
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 10, 200, 7
    np.testing.assert_array_equal(video._rgb(bgra)[0, 0], [200, 0, 10])
    np.testing.assert_array_equal(video._rgb(np.full((2, 3), 9, np.uint8)), np.full((2, 3, 3), 9, np.uint8))


def test_video_that_opens_but_yields_nothing(tmp_path, monkeypatch):
    class Capture:
        def __init__(self, path):
            pass

        def isOpened(self):
            return True

        def read(self):
            return False, None

        def release(self):
            pass

    monkeypatch.setattr(video.cv2, "VideoCapture", Capture)
    _csv(tmp_path / "a.csv", 1, 2)
    frames, labels, _ = read_labels(tmp_path / "a.csv")
    session = Session(TRAIN, "F001", "T1", tmp_path / "a.csv", {1: tmp_path / "v.mp4"}, frames, labels)
    problems = []
    assert list(iter_frames(session, 1, problems)) == []
    assert [(p.kind, p.reason) for p in problems] == [("undecodable", "no frame could be decoded; video skipped")]


def test_missing_folder_and_split(tmp_path):
    _video(tmp_path / "FERA17_Train_MV" / "FERA17_TR_F001_T1_1.mp4", 1)
    sessions, problems = find_sessions(tmp_path)
    assert sessions == []
    assert [(p.kind, p.path) for p in problems] == [
        ("missing_folder", tmp_path / "Train_Occ"),
        ("no_labels", tmp_path / "FERA17_Train_MV" / "FERA17_TR_F001_T1_1.mp4"),
        ("missing_split", tmp_path / "FERA17_Valid_MV"),
    ]
    assert problems[2].reason == "no FERA17_Valid_MV or Valid_Occ folder found; the validation split is empty"


def test_folder_without_fera_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AuferaError, match=f"^{empty}: no FERA 2017 videos or label files"):
        find_sessions(empty)
    other = tmp_path / "other"
    (other / "FERA17_Train_MV").mkdir(parents=True)
    (other / "FERA17_Train_MV" / "clip.txt").write_text("x")
    with pytest.raises(AuferaError, match=f"^{other}: no FERA 2017.*folders found: {other / 'FERA17_Train_MV'}"):
        find_sessions(other)
    with pytest.raises(AuferaError, match="is itself a FERA 2017 folder"):
        find_sessions(other / "FERA17_Train_MV")
    # Files under a wrong name or of the other split are named (the fuzzing found the error silent on them).
    misplaced = tmp_path / "misplaced"
    (misplaced / "FERA17_Valid_MV").mkdir(parents=True)
    (misplaced / "FERA17_Valid_MV" / "FERA17_TR_F001_T1_1.mp4").write_bytes(b"")
    (misplaced / "FERA17_Valid_MV" / "fera17_va_F001_T1_2.mp4").write_bytes(b"")
    with pytest.raises(AuferaError) as caught:
        find_sessions(misplaced)
    assert str(caught.value).endswith(
        f"; 2 files ignored, the first {misplaced / 'FERA17_Valid_MV' / 'FERA17_TR_F001_T1_1.mp4'}: a FERA17_TR file "
        "in the validation folder FERA17_Valid_MV, which holds FERA17_VA files; ignored"
    )
    with pytest.raises(AuferaError, match="does not exist"):
        find_sessions(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(AuferaError, match="is not a folder"):
        find_sessions(tmp_path / "file.txt")
