"""`aufera predict` and `AUDetector`: real MTCNN on real photographs and videos made from them; bad inputs."""

import csv

import cv2
import numpy as np
import pytest

from aufera.predict import AU_NAMES, table_columns

FPS = 25.0


@pytest.fixture(scope="module")
def detector():
    from aufera.predict import AUDetector

    return AUDetector.from_preset("demo", detect_every=4)


def photo(name: str) -> np.ndarray:
    """A face photograph that ships inside an installed package, uint8 RGB."""
    from aufera.synth.photos import PHOTOS

    image, _ = next(p for p in PHOTOS if p.name == name).load()
    return np.round(image * 255).astype(np.uint8)


def write_image(path, image) -> None:
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), image)


@pytest.fixture(scope="module")
def leaving_video(tmp_path_factory):
    """22 frames: the face in frames 1-8, a grey screen in 9-14 (the face has left), the face again in 15-22."""
    from aufera.synth.clips import write_photo_clip

    path = tmp_path_factory.mktemp("video") / "leaving.mp4"
    return write_photo_clip(path, 22, size=(320, 320), fps=FPS, face_side=240, absent=(8, 14), period=2.0)


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_face_that_leaves_and_comes_back(detector, leaving_video):
    table = detector.predict_video(leaving_video)
    assert list(table) == list(table_columns(True))
    np.testing.assert_array_equal(table["frame"], np.arange(1, 23))
    np.testing.assert_allclose(table["timestamp"], np.arange(22) / FPS, atol=1e-9)
    expected = np.r_[np.ones(8), np.zeros(6), np.ones(8)].astype(int)
    np.testing.assert_array_equal(table["success"], expected)
    gone = expected == 0
    assert np.all(table["confidence"][gone] == 0) and np.all(table["confidence"][~gone] > 0.9)
    for name in AU_NAMES:
        assert np.isnan(table[f"{name}_p"][gone]).all() and np.isnan(table[f"{name}_c"][gone]).all()
        assert np.isfinite(table[f"{name}_p"][~gone]).all()
    assert set(np.unique(table["view"][~gone])) <= set(range(1, 10))


def test_probabilities_equal_the_model_on_the_crops_by_hand(detector, leaving_video):
    """Frame 1's row: MTCNN's box, crop_face, (x - mean) / 255 in numpy, the preset's model."""
    from aufera.data.faces import crop_face, video_faces
    from aufera.data.video import read_frames

    table = detector.predict_video(leaving_video)
    faces = video_faces(leaving_video, detector.face_detector, detector.face_config)
    first = next(iter(read_frames(leaving_video)))
    crop = crop_face(first, faces.boxes[0], size=132, margin=detector.face_config.margin)
    preset = detector.preset
    x = (crop[None].astype(np.float32) - preset.mean_image) / np.float32(255.0)
    out = preset.model(x)
    expected = np.asarray(out["au_present"])[0]
    np.testing.assert_allclose([table[f"{n}_p"][0] for n in AU_NAMES], expected, atol=1e-5)
    np.testing.assert_array_equal([table[f"{n}_c"][0] for n in AU_NAMES], np.asarray(out["au_decision"])[0])
    assert table["view"][0] == np.argmax(np.asarray(out["view"])[0]) + 1


def test_confidence_is_carried_to_tracked_frames():
    from aufera.data.faces import DETECTED, DROPPED, TRACKED, VideoFaces
    from aufera.predict import _confidences

    source = np.array([TRACKED, DETECTED, TRACKED, TRACKED, DROPPED, DETECTED, TRACKED], np.int8)
    confidence = np.array([np.nan, 0.9, np.nan, np.nan, np.nan, 0.8, np.nan])
    faces = VideoFaces(np.zeros((7, 4)), confidence, source, 2)
    np.testing.assert_allclose(_confidences(faces), [0.9, 0.9, 0.9, 0.9, 0.0, 0.8, 0.8])


def test_photographs_several_faces_grey_and_alpha(detector, tmp_path):
    left = photo("astronaut")
    right = cv2.resize(photo("grace_hopper"), (427, 500), interpolation=cv2.INTER_AREA)
    pair = np.full((512, 512 + 427, 3), 255, np.uint8)
    pair[:, :512] = left
    pair[:500, 512:] = right
    table = detector.predict_images([pair])
    assert list(table["face_id"]) == [0, 1] and list(table["success"]) == [1, 1]
    assert np.all(table["confidence"] > 0.9) and list(table["image"]) == [0, 0]

    write_image(tmp_path / "rgb.png", left)
    write_image(tmp_path / "grey.png", cv2.cvtColor(left, cv2.COLOR_RGB2GRAY))
    alpha = np.concatenate([left, np.full((*left.shape[:2], 1), 200, np.uint8)], axis=2)
    write_image(tmp_path / "alpha.png", alpha)
    table = detector.predict_images([tmp_path / "rgb.png", tmp_path / "grey.png", tmp_path / "alpha.png"])
    assert list(table["image"]) == [0, 1, 2] and list(table["success"]) == [1, 1, 1]
    rgb_row = [table[f"{n}_p"][0] for n in AU_NAMES]
    # The alpha is dropped: the same pixels, the same face (rows of one batch may differ in the last float bits).
    np.testing.assert_allclose(rgb_row, [table[f"{n}_p"][2] for n in AU_NAMES], atol=1e-6)
    from aufera.predict import read_image

    np.testing.assert_array_equal(read_image(tmp_path / "alpha.png"), read_image(tmp_path / "rgb.png"))
    grey = read_image(tmp_path / "grey.png")
    assert grey.shape == left.shape and np.all(grey[..., 0] == grey[..., 2])


def test_the_command_writes_one_csv_per_input_and_lists_the_bad_ones(detector, leaving_video, tmp_path, capsys):
    from aufera.cli import main
    from aufera.synth.clips import write_photo_clip

    good = tmp_path / "in" / "smile.png"
    good.parent.mkdir()
    write_image(good, photo("astronaut"))
    empty = tmp_path / "in" / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "in" / "notes.mp4"
    text.write_text("not a video\n")
    truncated = tmp_path / "in" / "truncated.mp4"
    truncated.write_bytes(leaving_video.read_bytes()[:1500])
    no_face_image = tmp_path / "in" / "wall.png"
    write_image(no_face_image, np.full((200, 200, 3), 90, np.uint8))
    no_face_video = tmp_path / "in" / "wall.mp4"
    write_photo_clip(no_face_video, 5, size=(320, 320), absent=(0, 5))
    out = tmp_path / "out"
    inputs = [str(p) for p in (good, leaving_video, empty, text, truncated, no_face_image, no_face_video)]
    status = main(
        ["predict", *inputs, str(tmp_path / "missing.mp4"), "--out", str(out), "--quiet", "--detect-every", "4"]
    )
    captured = capsys.readouterr()
    assert status == 1
    lines = [line for line in captured.err.splitlines() if line.startswith("aufera predict:")]
    for bad in (empty, text, truncated, no_face_image, no_face_video, tmp_path / "missing.mp4"):
        assert sum(str(bad) in line for line in lines) == 1, (bad, lines)
    assert sorted(p.name for p in out.iterdir()) == ["leaving.csv", "smile.csv"]  # nothing half-written
    assert "2 input(s) written, 6 failed" in captured.out

    rows = read_csv(out / "leaving.csv")
    assert list(rows[0]) == list(table_columns(True)) and len(rows) == 22
    assert rows[8]["success"] == "0" and rows[8]["AU12_p"] == "" and rows[8]["view"] == ""
    table = detector.predict_video(leaving_video)
    np.testing.assert_allclose([float(r["AU12_p"]) for r in rows[:8]], table["AU12_p"][:8], atol=5e-5)


def test_names_that_collide_are_renamed_visibly(detector, tmp_path):
    from aufera.predict import predict_files

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_image(tmp_path / folder / "face.png", photo("astronaut"))
    lines = []
    summary = predict_files(
        [str(tmp_path / "a"), str(tmp_path / "b" / "*.png")],
        detector,
        tmp_path / "out",
        progress=False,
        report=lines.append,
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["face.csv", "face_2.csv"]
    assert len(lines) == 1 and "face_2.csv" in lines[0] and str(tmp_path / "b" / "face.png") in lines[0]
    assert summary["faces"] == 2 and not summary["failed"]


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    from aufera.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    status = main(["predict", str(tmp_path), "--out", str(blocker / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and str(blocker / "out") in err[0] and "cannot be written" in err[0]


def test_the_table_goes_into_pandas_and_the_csv_reads_back(detector, leaving_video, tmp_path):
    pandas = pytest.importorskip("pandas")
    from aufera.predict import table_csv

    table = detector.predict_video(leaving_video)
    frame = pandas.DataFrame(table)
    assert frame.shape == (22, len(table_columns(True)))
    (tmp_path / "t.csv").write_text(table_csv(table))
    back = pandas.read_csv(tmp_path / "t.csv")
    assert list(back.columns) == list(frame.columns)
    np.testing.assert_allclose(back["AU06_p"].to_numpy(), frame["AU06_p"].to_numpy(), atol=5e-5, equal_nan=True)
    np.testing.assert_array_equal(back["success"].to_numpy(), frame["success"].to_numpy())


def test_overlay_and_plot(detector, leaving_video, tmp_path):
    from aufera.data.video import VideoReader
    from aufera.predict import predict_files

    summary = predict_files([str(leaving_video)], detector, tmp_path, overlay=True, plot=True, progress=False)
    assert summary["frames"] == 22 and summary["faces"] == 16
    with VideoReader(tmp_path / "leaving_overlay.mp4") as reader:
        frames = list(reader)
    assert len(frames) == 22 and frames[0].shape == (320, 320, 3)
    assert (tmp_path / "leaving_au.png").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# === A full disk (see tests/test_full_disk.py) ===


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    """6 frames of a face, 240 x 240."""
    from aufera.synth.clips import write_photo_clip

    return write_photo_clip(tmp_path_factory.mktemp("clip") / "face.mp4", 6, size=(240, 240), fps=FPS, face_side=180)


def test_predict_stops_at_the_first_output_it_cannot_write_and_the_rerun_matches(detector, short_clip, tmp_path):
    """Past a file-size limit (EFBIG, as a full disk's ENOSPC) the overlay video, then the table, cannot be written:
    predict stops there, naming it, with nothing half-written; the rerun writes what an unhindered run writes."""
    import errno

    from disk_limits import file_size_limit, tree

    from aufera.errors import WriteError
    from aufera.predict import predict_files

    reference = tmp_path / "reference"
    predict_files([str(short_clip)], detector, reference, overlay=True, progress=False)
    sizes = {name: len(data) for name, data in tree(reference).items()}
    assert sorted(sizes) == ["face.csv", "face_overlay.mp4"] and sizes["face_overlay.mp4"] > sizes["face.csv"]
    out = tmp_path / "out"
    out.mkdir()
    # The overlay is closed (read back) before the table is written: each in turn is what fails.
    for limit, name in ((sizes["face.csv"], "face_overlay.mp4"), (sizes["face.csv"] - 1, "face.csv")):
        with pytest.raises(WriteError) as caught, file_size_limit(limit):
            predict_files([str(short_clip)] * 2, detector, out, overlay=name.endswith(".mp4"), progress=False)
        assert (caught.value.errno, caught.value.filename) == (errno.EFBIG, str(out / name))
        assert list(out.iterdir()) == []  # nothing half-written, no temporary file, the second input not tried
    summary = predict_files([str(short_clip)], detector, out, overlay=True, progress=False)
    assert not summary["failed"]
    assert tree(out) == tree(reference)


def test_a_preset_that_cannot_be_written_leaves_no_folder_and_the_rerun_matches(detector, tmp_path, capfd):
    import errno
    import json

    from disk_limits import file_size_limit, tree

    from aufera.errors import WriteError

    reference, out = tmp_path / "reference", tmp_path / "out"
    detector.preset.save(reference)
    with pytest.raises(WriteError) as caught, file_size_limit(100_000):  # the weights file is 3.9 MB
        detector.preset.save(out)
    assert (caught.value.errno, caught.value.filename) == (errno.EFBIG, str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference"]  # no folder, no temporary folder
    assert "Traceback" not in capfd.readouterr().err  # HDF5 never met the failed write: no h5py tracebacks
    detector.preset.save(out)
    written, expected = tree(out), tree(reference)
    # The same preset, its creation time aside (in the metadata and the model card, whose hash it changes).
    metadata = [json.loads(t.pop("metadata.json")) for t in (written, expected)]
    for m in metadata:
        m.pop("files").pop("README.md")
    assert metadata[0] | {"created": None} == metadata[1] | {"created": None}
    cards = [
        t.pop("README.md").decode().replace(m["created"], "")
        for t, m in zip((written, expected), metadata, strict=True)
    ]
    assert cards[0] == cards[1]
    assert written == expected
