"""The synthetic corpus on disk: FERA 2017 layout, determinism, resume, errors."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from aufera.errors import AuferaError
from aufera.layout import LABEL_PATTERN, VIDEO_PATTERN
from aufera.synth import writer
from aufera.synth.config import SynthConfig

TINY = dict(train_subjects=2, valid_subjects=1, tasks=1, frames=5, size=80, seed=11)


def _frames(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return np.asarray(frames)


def _corpus_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    writer.write_corpus(root, SynthConfig(**TINY), workers=1, progress=False)
    return root


def test_fera_layout(corpus):
    files = _corpus_files(corpus)
    videos = [f for f in files if f.endswith(".mp4")]
    labels = [f for f in files if f.endswith(".csv")]
    assert len(videos) == 3 * 9 and len(labels) == 3
    for f in videos:
        folder, name = f.split("/")
        match = VIDEO_PATTERN.match(name)
        assert match, name
        assert folder == {"TR": "FERA17_Train_MV", "VA": "FERA17_Valid_MV"}[match.group(1)]
    for f in labels:
        folder, name = f.split("/")
        match = LABEL_PATTERN.match(name)
        assert match and folder == {"TR": "Train_Occ", "VA": "Valid_Occ"}[match.group(1)]
    assert {f.split("/")[1] for f in labels} == {
        "FERA17_TR_F001_T1.csv",
        "FERA17_TR_M001_T1.csv",
        "FERA17_VA_F002_T1.csv",
    }
    assert "groundtruth/corpus.json" in files and "groundtruth/subjects.json" in files
    assert not any(".partial" in f for f in files)


def test_every_video_has_as_many_frames_as_its_label_file(corpus):
    for csv in sorted(corpus.glob("*_Occ/*.csv")):
        rows = csv.read_text().splitlines()[1:]
        video_dir = corpus / ("FERA17_Train_MV" if "_TR_" in csv.name else "FERA17_Valid_MV")
        for view in range(1, 10):
            frames = _frames(video_dir / f"{csv.stem}_{view}.mp4")
            assert frames.shape == (len(rows), 80, 80, 3), (csv.stem, view)


def test_ground_truth_matches_labels(corpus):
    for csv in sorted(corpus.glob("*_Occ/*.csv")):
        truth = np.load(corpus / "groundtruth" / f"{csv.stem}.npz")
        rows = np.array([[int(x) for x in line.split(",")] for line in csv.read_text().splitlines()[1:]])
        np.testing.assert_array_equal(rows[:, 0], truth["frame"])
        np.testing.assert_array_equal(rows[:, 1:], np.select([truth["labels"] == 1, truth["labels"] == -1], [1, 0], 9))
        assert truth["face_box"].shape == (9, 5, 4) and truth["pose"].shape == (9, 5, 3)
        assert truth["intensity"].shape == (5, 10)
        # Recorded poses follow the view grid (yaw -40, 0, 40 by column).
        np.testing.assert_allclose(truth["pose"][[3, 4, 5], :, 0].mean(1), [-40, 0, 40], atol=8)


def test_same_seed_same_corpus_whatever_the_workers(corpus, tmp_path):
    writer.write_corpus(tmp_path, SynthConfig(**TINY), workers=2, progress=False)
    assert _corpus_files(tmp_path) == _corpus_files(corpus)
    for f in _corpus_files(corpus):
        if f.endswith((".csv", ".json")):
            assert (tmp_path / f).read_bytes() == (corpus / f).read_bytes(), f
        elif f.endswith(".mp4"):
            np.testing.assert_array_equal(_frames(tmp_path / f), _frames(corpus / f), err_msg=f)


def test_another_seed_gives_another_corpus(corpus, tmp_path):
    writer.write_corpus(tmp_path, SynthConfig(**{**TINY, "seed": 12}), workers=1, progress=False)
    name = "Train_Occ/FERA17_TR_F001_T1.csv"
    assert (tmp_path / name).read_bytes() != (corpus / name).read_bytes()


def test_killed_run_leaves_nothing_that_looks_complete_and_resumes(corpus, tmp_path, monkeypatch):
    real = writer.render_frame
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5 + 3:  # frame 3 of the second session
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "render_frame", dying)
    with pytest.raises(KeyboardInterrupt):
        writer.write_corpus(tmp_path, SynthConfig(**TINY), workers=1, progress=False)
    files = _corpus_files(tmp_path)
    # The first session is complete; of the second, nothing is under its final name.
    assert "groundtruth/FERA17_TR_F001_T1.npz" in files
    assert not [f for f in files if "M001" in f and not f.startswith(".partial")]
    done_mtime = os.path.getmtime(tmp_path / "Train_Occ/FERA17_TR_F001_T1.csv")
    monkeypatch.setattr(writer, "render_frame", real)
    result = writer.write_corpus(tmp_path, SynthConfig(**TINY), workers=1, progress=False)
    assert result["written"] == 2 and result["sessions"] == 3
    assert os.path.getmtime(tmp_path / "Train_Occ/FERA17_TR_F001_T1.csv") == done_mtime
    assert _corpus_files(tmp_path) == _corpus_files(corpus)
    for f in _corpus_files(corpus):
        if f.endswith(".csv"):
            assert (tmp_path / f).read_bytes() == (corpus / f).read_bytes()
    np.testing.assert_array_equal(
        _frames(tmp_path / "FERA17_Train_MV/FERA17_TR_M001_T1_7.mp4"),
        _frames(corpus / "FERA17_Train_MV/FERA17_TR_M001_T1_7.mp4"),
    )
    # A finished corpus: rerunning writes nothing.
    assert writer.write_corpus(tmp_path, SynthConfig(**TINY), workers=1, progress=False)["written"] == 0


def test_non_empty_folder_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AuferaError, match="not empty.*--overwrite"):
        writer.write_corpus(tmp_path, SynthConfig(**TINY), progress=False)
    writer.write_corpus(tmp_path, SynthConfig(**{**TINY, "frames": 2}), overwrite=True, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(AuferaError, match="other arguments"):
        writer.write_corpus(tmp_path, SynthConfig(**TINY), progress=False)
    writer.write_corpus(tmp_path, SynthConfig(**TINY), overwrite=True, progress=False)
    manifest = json.loads((tmp_path / "groundtruth/corpus.json").read_text())
    assert manifest["config"]["frames"] == 5
    assert len(list((tmp_path / "Train_Occ").glob("*.csv"))) == 2


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aufera.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frames", "0"], "argument --frames: expected a whole number from 1 to 100000, got '0'"),
        (["--size", "8"], "argument --size: expected a whole number from 64 to 2048, got '8'"),
        (["--tasks", "x"], "argument --tasks: expected a whole number, got 'x'"),
        (["--base-rates", "0.2,0.3"], "argument --base-rates: expected 10 comma-separated numbers, got 2"),
        (["--present-from", "F"], "argument --present-from: expected an intensity level A, B, C, D or E, got 'F'"),
        (["--unknown-rate", "0.7"], "--unknown-rate: unknown_rate must be in [0, 0.5). Received: unknown_rate=0.7"),
    ],
)
def test_cli_bad_arguments_give_one_error_line(tmp_path, args, message):
    result = _cli("synth", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_writes_corpus_and_preview(tmp_path):
    out = tmp_path / "c"
    result = _cli(
        "synth",
        str(out),
        "--train-subjects",
        "1",
        "--valid-subjects",
        "1",
        "--tasks",
        "1",
        "--frames",
        "2",
        "--size",
        "64",
        "--workers",
        "1",
        "--quiet",
        "--preview",
    )
    assert result.returncode == 0, result.stderr
    assert "2 sessions, 2 written now" in result.stdout
    image = cv2.imread(str(out / "preview.png"))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600
    again = _cli(
        "synth",
        str(out),
        "--train-subjects",
        "1",
        "--valid-subjects",
        "1",
        "--tasks",
        "1",
        "--frames",
        "2",
        "--size",
        "64",
        "--workers",
        "1",
        "--quiet",
    )
    assert again.returncode == 0 and "0 written now" in again.stdout
    refused = _cli("synth", str(out), "--frames", "3", "--quiet")
    assert refused.returncode == 2 and str(out) in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
