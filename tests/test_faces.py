"""Faces: square grayscale crops, keyframe detection with tracking and fallback, several views tracked together,
the per-video cache, real MTCNN."""

import logging
import os

import cv2
import numpy as np
import pytest

from aufera.data.faces import (
    DETECTED,
    DROPPED,
    TRACKED,
    FaceCache,
    FaceConfig,
    FaceDetector,
    VideoFaces,
    box_iou,
    crop_box,
    crop_face,
    track_video,
    track_videos,
    video_faces,
    videos_faces,
)
from aufera.data.video import read_frames
from aufera.errors import AuferaError
from aufera.synth.config import SynthConfig

# === Fakes ===


class FakeDetector:
    """A detector with `FaceDetector.detect`'s interface that reads the frame index from pixel (0, 0).

    Frame t carries t in the red and 256 * green channels of its top-left
    pixel; the fake answers the trajectory's box for that frame, or None for
    the frames in `missing`, and records every frame it was asked about.
    """

    def __init__(self, trajectory, missing=()):
        self.trajectory = np.asarray(trajectory, dtype=np.float64)
        self.missing = set(missing)
        self.asked: list[int] = []
        self.calls = 0

    def detect(self, images):
        self.calls += 1
        found = []
        for image in images:
            t = int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])
            self.asked.append(t)
            found.append(None if t in self.missing else (self.trajectory[t].copy(), 0.99))
        return found


class ConstantDetector:
    """Always the same face; counts the images it was asked about."""

    def __init__(self, box=(10.0, 12.0, 40.0, 44.0)):
        self.box = np.asarray(box, dtype=np.float64)
        self.images = 0

    def detect(self, images):
        self.images += len(images)
        return [(self.box.copy(), 0.95) for _ in images]


def indexed_frames(count, size=32):
    frames = np.zeros((count, size, size, 3), dtype=np.uint8)
    for t in range(count):
        frames[t, 0, 0, 0], frames[t, 0, 0, 1] = t % 256, t // 256
    return frames


def linear_trajectory(count):
    t = np.arange(count, dtype=np.float64)[:, None]
    return np.array([10.0, 20.0, 50.0, 70.0]) + t * np.array([0.2, 0.1, 0.3, 0.2])


LINEAR = FaceConfig(detect_every=8, tracking="linear")


# === Crops ===


def gradient_image(height=64, width=80):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([3 * x, 3 * y, x + y], axis=-1).astype(np.uint8)


def numpy_gray(image):
    return 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]


def test_crop_face_exact_pixels_without_resize():
    image = gradient_image()
    # A 32x32 box and no margin: the crop is the box itself, not resampled.
    crop = crop_face(image, (10, 12, 42, 44), size=32, margin=0.0)
    assert crop.shape == (32, 32, 1) and crop.dtype == np.uint8
    expected = numpy_gray(image.astype(np.float64))[12:44, 10:42]
    assert np.max(np.abs(crop[..., 0] - expected)) <= 1.0
    # Pixel (row 5, column 7) of the crop is frame pixel (x 17, y 17): R 51, G 51, B 34.
    assert abs(int(crop[5, 7, 0]) - (0.299 * 51 + 0.587 * 51 + 0.114 * 34)) <= 1
    np.testing.assert_array_equal(crop[..., 0], cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[12:44, 10:42])


def test_crop_face_margin_geometry_and_shrink():
    image = gradient_image()
    # Box 20 wide, 10 high, centre (30, 25); margin 0.3: side 20 * 1.6 = 32, square x 14..46, y 9..41.
    np.testing.assert_allclose(crop_box((20, 20, 40, 30), margin=0.3), [14, 9, 46, 41])
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    big = crop_face(image, (20, 20, 40, 30), size=32, margin=0.3)
    np.testing.assert_array_equal(big[..., 0], gray[9:41, 14:46])
    # Shrinking 32 -> 16 with INTER_AREA averages 2x2 blocks.
    small = crop_face(image, (20, 20, 40, 30), size=16, margin=0.3)
    blocks = gray[9:41, 14:46].reshape(16, 2, 16, 2).mean(axis=(1, 3))
    assert small.shape == (16, 16, 1)
    assert np.max(np.abs(small[..., 0] - blocks)) <= 1.0
    # The gradient makes this block's mean exact: rows 9-10, columns 14-15 of the frame.
    assert abs(int(small[0, 0, 0]) - numpy_gray(image[9:11, 14:16].astype(np.float64)).mean()) <= 1


def test_crop_face_pads_at_the_border():
    image = gradient_image()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    # The square x -8..24, y -6..26 leaves the frame on the left and top.
    crop = crop_face(image, (-8, -6, 24, 26), size=32, margin=0.0)[..., 0]
    np.testing.assert_array_equal(crop[6:, 8:], gray[0:26, 0:24])
    # Edge replication: the 8 columns on the left repeat column 0, the 6 rows on top repeat row 0.
    np.testing.assert_array_equal(crop[6:, :8], np.repeat(gray[0:26, :1], 8, axis=1))
    np.testing.assert_array_equal(crop[:6, 8:], np.repeat(gray[:1, 0:24], 6, axis=0))
    assert np.all(crop[:6, :8] == gray[0, 0])
    zeros = crop_face(image, (-8, -6, 24, 26), size=32, margin=0.0, border="constant")[..., 0]
    assert np.all(zeros[:6] == 0) and np.all(zeros[:, :8] == 0)
    np.testing.assert_array_equal(zeros[6:, 8:], gray[0:26, 0:24])
    # Right and bottom: the square x 64..96 of an 80-wide frame repeats column 79.
    right = crop_face(image, (64, 40, 96, 72), size=32, margin=0.0)[..., 0]
    np.testing.assert_array_equal(right[:24, :16], gray[40:64, 64:80])
    np.testing.assert_array_equal(right[:24, 16:], np.repeat(gray[40:64, 79:80], 16, axis=1))
    np.testing.assert_array_equal(right[24:], np.repeat(right[23:24], 8, axis=0))


def test_crop_face_rejects_bad_input():
    image = gradient_image()
    with pytest.raises(ValueError, match="box"):
        crop_face(image, (10, 10, 5, 20))
    with pytest.raises(ValueError, match="box"):
        crop_face(image, (np.nan, 10, 20, 20))
    with pytest.raises(ValueError, match="does not overlap"):
        crop_face(image, (200, 200, 230, 230), margin=0.0)
    with pytest.raises(ValueError, match="image_rgb"):
        crop_face(image.astype(np.float32), (10, 10, 20, 20))
    with pytest.raises(ValueError, match="border"):
        crop_face(image, (10, 10, 20, 20), border="reflect")


# === Config ===


def test_face_config_validation_and_round_trip():
    config = FaceConfig(detect_every=16, image_size=170, margin=0.2, tracking="linear")
    assert FaceConfig(**config.to_dict()) == config
    assert set(config.detection_dict()) == {"detect_every", "min_iou", "tracking", "min_confidence"}
    for bad, match in (
        ({"detect_every": 0}, "detect_every=0"),
        ({"detect_every": 2.5}, "detect_every=2.5"),
        ({"min_iou": 1.5}, "min_iou=1.5"),
        ({"margin": -0.1}, "margin=-0.1"),
        ({"image_size": True}, "image_size=True"),
        ({"tracking": "kalman"}, "tracking='kalman'"),
        ({"min_confidence": 2}, "min_confidence=2"),
    ):
        with pytest.raises(ValueError, match=match):
            FaceConfig(**bad)


# === Tracking ===


def test_linear_interpolation_is_exact_and_detects_only_keyframes():
    trajectory = linear_trajectory(30)
    detector = FakeDetector(trajectory)
    result = track_video(indexed_frames(30), detector, LINEAR)
    # Keyframes 0, 8, 16, 24 and the last frame 29, in one call.
    assert sorted(detector.asked) == [0, 8, 16, 24, 29]
    assert detector.calls == 1 and result.detected_frames == 5
    np.testing.assert_allclose(result.boxes, trajectory, atol=1e-9)
    assert [t for t in range(30) if result.source[t] == DETECTED] == [0, 8, 16, 24, 29]
    assert result.counts() == {"frames": 30, "detector_frames": 5, "detected": 5, "tracked": 25, "dropped": 0}
    assert np.all(np.isnan(result.confidence[result.source == TRACKED]))
    np.testing.assert_allclose(result.confidence[result.source == DETECTED], 0.99)


def test_tracking_asks_the_detector_about_few_frames():
    detector = FakeDetector(linear_trajectory(100))
    result = track_video(indexed_frames(100), detector, FaceConfig(detect_every=32, tracking="linear"))
    assert sorted(detector.asked) == [0, 32, 64, 96, 99]
    every = FakeDetector(linear_trajectory(100))
    track_video(indexed_frames(100), every, FaceConfig(detect_every=1))
    assert sorted(every.asked) == list(range(100))
    assert result.dropped == 0 and result.tracked == 95


def test_missing_keyframe_falls_back_to_every_frame_and_drops_it():
    trajectory = linear_trajectory(30)
    detector = FakeDetector(trajectory, missing={16})
    result = track_video(indexed_frames(30), detector, LINEAR)
    # Both intervals next to keyframe 16 are detected frame by frame.
    assert sorted(detector.asked) == sorted([0, 8, 16, 24, 29, *range(9, 16), *range(17, 24)])
    assert result.detected_frames == 19
    assert result.dropped == 1 and result.source[16] == DROPPED
    assert np.all(np.isnan(result.boxes[16])) and np.isnan(result.confidence[16])
    kept = np.arange(30) != 16
    np.testing.assert_allclose(result.boxes[kept], trajectory[kept], atol=1e-9)
    assert np.all(result.source[9:16] == DETECTED) and np.all(result.source[17:24] == DETECTED)
    assert np.all(result.source[1:8] == TRACKED) and np.all(result.source[25:29] == TRACKED)


def test_disagreeing_keyframes_fall_back_and_faces_missing_there_are_dropped():
    trajectory = linear_trajectory(30)
    trajectory[20:] += 60.0  # The face jumps between keyframes 16 and 24: IoU 0 there.
    detector = FakeDetector(trajectory, missing={18, 19})
    result = track_video(indexed_frames(30), detector, LINEAR)
    assert sorted(detector.asked) == sorted([0, 8, 16, 24, 29, *range(17, 24)])
    assert result.dropped == 2 and list(np.flatnonzero(result.source == DROPPED)) == [18, 19]
    assert np.all(np.isnan(result.boxes[[18, 19]]))
    kept = result.kept
    np.testing.assert_allclose(result.boxes[kept], trajectory[kept], atol=1e-9)


def test_min_confidence_treats_weak_faces_as_missing():
    class Weak(FakeDetector):
        def detect(self, images):
            return [None if item is None else (item[0], 0.5) for item in super().detect(images)]

    result = track_video(indexed_frames(9), Weak(linear_trajectory(9)), FaceConfig(detect_every=8, min_confidence=0.6))
    assert result.dropped == 9 and np.all(np.isnan(result.boxes))


def test_windows_and_generators_give_the_same_faces():
    trajectory = linear_trajectory(50)
    trajectory[30:] += 40.0
    missing = {16, 33}
    whole = FakeDetector(trajectory, missing)
    reference = track_video(indexed_frames(50), whole, LINEAR)
    # Windows of 2 keyframes (16 frames), fed one frame at a time.
    small = FakeDetector(trajectory, missing)
    config = FaceConfig(detect_every=8, tracking="linear", keyframes_per_call=2)
    streamed = track_video((frame for frame in indexed_frames(50)), small, config)
    np.testing.assert_array_equal(streamed.boxes, reference.boxes)
    np.testing.assert_array_equal(streamed.source, reference.source)
    assert sorted(small.asked) == sorted(whole.asked) and small.calls > whole.calls
    # Short videos: one frame, two frames, a video ending on a window's last keyframe.
    for count in (1, 2, 17):
        detector = FakeDetector(linear_trajectory(count))
        result = track_video(indexed_frames(count), detector, config)
        assert result.num_frames == count and result.dropped == 0
        assert sorted(detector.asked) == sorted({*range(0, count, 8), count - 1})
    assert track_video([], FakeDetector(trajectory), config).num_frames == 0


def test_track_video_rejects_bad_frames():
    frames = list(indexed_frames(3))
    frames[2] = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        track_video(frames, FakeDetector(linear_trajectory(3)), LINEAR)
    with pytest.raises(ValueError, match="uint8"):
        track_video([np.zeros((8, 8), np.uint8)], FakeDetector(linear_trajectory(1)), LINEAR)


def moving_texture(count, shift=(2, 1), jump_at=None):
    """A smooth random 40x40 patch moving over a flat frame; its bounds are the true boxes."""
    rng = np.random.default_rng(0)
    patch = cv2.GaussianBlur(rng.uniform(0, 255, (40, 40)).astype(np.float32), (0, 0), 2.0)
    patch = cv2.normalize(patch, None, 30, 230, cv2.NORM_MINMAX).astype(np.uint8)
    frames = np.full((count, 128, 160, 3), 120, dtype=np.uint8)
    boxes = np.zeros((count, 4))
    for t in range(count):
        x = 20 + shift[0] * t + (50 if jump_at is not None and t >= jump_at else 0)
        y = 30 + shift[1] * t
        frames[t, y : y + 40, x : x + 40] = patch[..., None]
        boxes[t] = (x, y, x + 40, y + 40)
        frames[t, 0, 0, 0], frames[t, 0, 0, 1] = t % 256, t // 256
    return frames, boxes


def test_flow_tracks_a_moving_face_and_falls_back_when_it_jumps():
    frames, truth = moving_texture(20)
    detector = FakeDetector(truth)
    result = track_video(frames, detector, FaceConfig(detect_every=8))
    assert sorted(detector.asked) == [0, 8, 16, 19]
    assert np.max(np.abs(result.boxes - truth)) < 0.75
    assert result.tracked == 16
    frames, truth = moving_texture(20, jump_at=12)
    detector = FakeDetector(truth)
    result = track_video(frames, detector, FaceConfig(detect_every=8))
    assert sorted(detector.asked) == sorted([0, 8, 16, 19, *range(9, 16)])
    np.testing.assert_array_equal(result.boxes[9:16], truth[9:16])


# === Several videos together (the views of a session) ===


class ViewsDetector:
    """`FakeDetector` for several videos: frame t of video v carries t in pixel (0, 0) and v in its blue channel.

    Records every call (the (video, frame) pairs asked, in order), so a test
    sees which images went to the detector together.
    """

    def __init__(self, trajectories, missing=()):
        self.trajectories = [np.asarray(t, dtype=np.float64) for t in trajectories]
        self.missing = set(missing)  # (video, frame) pairs without a face
        self.calls: list[list[tuple[int, int]]] = []

    def detect(self, images):
        asked = [(int(image[0, 0, 2]), int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])) for image in images]
        self.calls.append(asked)
        return [None if (v, t) in self.missing else (self.trajectories[v][t].copy(), 0.9) for v, t in asked]


def view_frames(view, count, size=32):
    frames = indexed_frames(count, size)
    frames[:, 0, 0, 2] = view
    return frames


def test_views_tracked_together_get_their_own_boxes_with_fewer_detector_calls():
    counts = [50, 50, 37, 1, 0]
    trajectories = [linear_trajectory(50) + 5.0 * v for v in range(len(counts))]
    trajectories[1][30:] += 40.0  # view 1: the face jumps, its keyframes 24 and 32 disagree
    missing = {(0, 16), (2, 32)}
    config = FaceConfig(detect_every=8, tracking="linear", keyframes_per_call=2)
    together = ViewsDetector(trajectories, missing)
    videos = [(frame for frame in view_frames(v, n)) for v, n in enumerate(counts)]  # generators, read in step
    results = track_videos(videos, together, config)
    assert len(results) == len(counts)
    alone_calls = 0
    for v, (count, result) in enumerate(zip(counts, results, strict=True)):
        alone = ViewsDetector(trajectories, missing)
        reference = track_video(view_frames(v, count), alone, config)
        alone_calls += len(alone.calls)
        assert result.num_frames == count
        np.testing.assert_array_equal(result.boxes, reference.boxes)
        np.testing.assert_array_equal(result.source, reference.source)
        np.testing.assert_array_equal(result.confidence, reference.confidence)
        assert result.detected_frames == reference.detected_frames
        assert sorted(t for call in together.calls for w, t in call if w == v) == sorted(
            t for call in alone.calls for _, t in call
        )
    assert results[4].num_frames == 0 and results[3].counts()["detected"] == 1
    assert results[0].dropped == 1 and results[2].dropped == 1 and results[1].source[30] == DETECTED
    # The same keyframe numbers of every view go in one call: the first round asks about frames 0, 8 and 16.
    first = [(v, t) for v in range(3) for t in (0, 8, 16)] + [(3, 0)]
    assert sorted(together.calls[0]) == first
    assert len(together.calls) < alone_calls


def test_views_of_different_sizes_go_to_the_detector_separately():
    class ShapeDetector(ViewsDetector):
        def detect(self, images):
            assert len({image.shape for image in images}) == 1, "a call mixes image sizes"
            return super().detect(images)

    trajectories = [linear_trajectory(20)] * 3
    detector = ShapeDetector(trajectories)
    results = track_videos([view_frames(0, 20, 32), view_frames(1, 20, 48), view_frames(2, 20, 32)], detector, LINEAR)
    assert [r.num_frames for r in results] == [20, 20, 20]
    # Keyframes 0, 8, 16, 19 in one round: one call for the two 32-pixel views, one for the 48-pixel view.
    assert sorted(len(call) for call in detector.calls) == [4, 8]
    for result in results:
        np.testing.assert_allclose(result.boxes, trajectories[0], atol=1e-9)


def test_views_together_with_the_cache_a_missing_and_a_damaged_view(tmp_path):
    good = write_video(tmp_path / "FERA17_TR_F001_T1_1.mp4", count=12)
    short = write_video(tmp_path / "FERA17_TR_F001_T1_2.mp4", count=7, size=48)
    (tmp_path / "FERA17_TR_F001_T1_3.mp4").write_bytes(b"not a video")
    paths = [good, tmp_path / "FERA17_TR_F001_T1_4.mp4", short, tmp_path / "FERA17_TR_F001_T1_3.mp4"]
    cache = FaceCache(tmp_path / "cache")
    # One view already in the cache: only the other one is decoded and detected.
    video_faces(good, ConstantDetector(), CACHED, cache=cache)
    detector = ConstantDetector()
    results = videos_faces(paths, detector, CACHED, cache=cache)
    assert detector.images == 3  # keyframes 0, 4, 6 of the 7-frame view
    assert results[0].num_frames == 12 and results[2].num_frames == 7
    assert isinstance(results[1], AuferaError) and "does not exist" in str(results[1])
    assert isinstance(results[3], AuferaError) and "FERA17_TR_F001_T1_3.mp4" in str(results[3])
    # The same boxes as video by video, each video in its own cache file.
    for index in (0, 2):
        alone = video_faces(paths[index], ConstantDetector(), CACHED)
        np.testing.assert_array_equal(results[index].boxes, alone.boxes)
    again = ConstantDetector()
    cached = videos_faces(paths, again, CACHED, cache=cache)
    assert again.images == 0 and cached[2].counts() == results[2].counts()
    assert videos_faces([], again, CACHED) == []


# === Cache ===


def write_video(path, count=12, size=64):
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (size, size))
    rng = np.random.default_rng(1)
    for _ in range(count):
        out.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    out.release()
    return path


CACHED = FaceConfig(detect_every=4, tracking="linear")


def test_cache_skips_detection_and_is_keyed_by_settings_and_file(tmp_path):
    video = write_video(tmp_path / "FERA17_TR_F001_T1_1.mp4")
    cache = FaceCache(tmp_path / "cache")
    first = ConstantDetector()
    faces = video_faces(video, first, CACHED, cache=cache)
    assert faces.num_frames == 12 and first.images == 4  # keyframes 0, 4, 8, 11
    files = list((tmp_path / "cache").iterdir())
    assert [f.name.split(".")[0] for f in files] == ["FERA17_TR_F001_T1_1"] and files[0].suffix == ".npz"
    # Second call: from the cache, the detector is not asked.
    again = ConstantDetector()
    cached = video_faces(video, again, CACHED, cache=FaceCache(tmp_path / "cache"))
    assert again.images == 0
    np.testing.assert_array_equal(cached.boxes, faces.boxes)
    np.testing.assert_array_equal(cached.source, faces.source)
    assert cached.detected_frames == 4 and cached.counts() == faces.counts()
    # Crop settings do not change the boxes: still cached.
    video_faces(video, again, FaceConfig(detect_every=4, tracking="linear", margin=0.3, image_size=64), cache=cache)
    assert again.images == 0
    # A setting that changes the boxes, or a changed file, is recomputed.
    video_faces(video, again, FaceConfig(detect_every=6, tracking="linear"), cache=cache)
    assert again.images == 3  # keyframes 0, 6, 11
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    video_faces(video, again, CACHED, cache=cache)
    assert again.images == 7
    assert not [f for f in (tmp_path / "cache").iterdir() if f.name.startswith(".tmp")]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_arrays"])
def test_damaged_cache_file_is_recomputed(tmp_path, caplog, damage):
    video = write_video(tmp_path / "v.mp4")
    cache = FaceCache(tmp_path / "cache")
    computed = video_faces(video, ConstantDetector(), CACHED, cache=cache)
    path = cache.path(video, CACHED, "ConstantDetector")
    if damage == "garbage":
        path.write_bytes(b"not a cache file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        np.savez(path, boxes=np.zeros((3, 4)))
    detector = ConstantDetector()
    with caplog.at_level(logging.WARNING, logger="aufera.data.faces.cache"):
        again = video_faces(video, detector, CACHED, cache=cache)
    assert detector.images == 4
    assert "damaged face cache file" in caplog.text and path.name in caplog.text
    np.testing.assert_array_equal(again.boxes, computed.boxes)
    # The recomputed file replaced the damaged one.
    later = ConstantDetector()
    video_faces(video, later, CACHED, cache=cache)
    assert later.images == 0


def test_video_faces_reports_bad_videos(tmp_path):
    with pytest.raises(AuferaError, match="does not exist"):
        video_faces(tmp_path / "missing.mp4", ConstantDetector())
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(AuferaError, match="bad.mp4"):
        video_faces(tmp_path / "bad.mp4", ConstantDetector())


# === Real MTCNN on a synthetic corpus ===


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from aufera.synth.writer import write_corpus

    root = tmp_path_factory.mktemp("faces_corpus")
    config = SynthConfig(train_subjects=1, valid_subjects=1, tasks=1, frames=24, size=160)
    write_corpus(root, config, workers=1, progress=False)
    return root


def test_mtcnn_tracks_every_view_of_a_synthetic_session(tiny_corpus):
    from aufera.data.fera2017 import find_sessions

    sessions, _ = find_sessions(tiny_corpus)
    session = sessions[0]
    truth = np.load(tiny_corpus / "groundtruth" / f"{session.name}.npz")["face_box"]
    detector = FaceDetector()
    config = FaceConfig()
    every_frame = FaceConfig(detect_every=1)
    detector_frames = 0
    for view in range(1, 10):
        video = session.videos[view]
        result = video_faces(video, detector, config)
        assert result.num_frames == 24 and result.kept.all()
        detector_frames += result.detected_frames
        # The track follows MTCNN: its crop squares agree with those of detecting every frame (the faces goal:
        # IoU >= 0.8 on >= 95% of frames) ...
        detected = video_faces(video, detector, every_frame)
        agree = np.array(
            [
                box_iou(crop_box(result.boxes[t], config.margin), crop_box(detected.boxes[t], config.margin))
                for t in range(24)
                if detected.kept[t]
            ]
        )
        assert len(agree) >= 22 and np.mean(agree >= 0.8) >= 0.95, (view, agree.round(2))
        # ... and hold the true face in every frame. (How far MTCNN's own box sits from the ground-truth box
        # depends on the detector's box convention on turned heads: benchmarks/synth_detection.py measures it.)
        ious = np.array([box_iou(result.boxes[t], truth[view - 1, t]) for t in range(24)])
        assert ious.min() >= 0.5, (view, ious.round(2))
        # A tracked frame's crop holds the face: the true box's centre lies in the crop's central half.
        frame = list(read_frames(video))[12]
        crop = crop_face(frame, result.boxes[12], size=config.image_size, margin=config.margin)
        assert crop.shape == (132, 132, 1) and crop.dtype == np.uint8
        x0, y0, x1, _ = crop_box(result.boxes[12], config.margin)
        centre = (truth[view - 1, 12, :2] + truth[view - 1, 12, 2:]) / 2
        u, v = (centre - (x0, y0)) / (x1 - x0) * 132
        assert 33 <= u <= 99 and 33 <= v <= 99, (view, u, v)
    # Tracking's point: far fewer detector runs than frames (2 per video when nothing falls back).
    assert detector_frames <= 9 * 24 // 4, detector_frames


def test_mtcnn_on_the_views_together_gives_the_boxes_of_each_view_alone(tiny_corpus):
    from aufera.data.fera2017 import find_sessions

    class Counting(FaceDetector):
        calls = 0

        def detect(self, images):
            Counting.calls += 1
            return super().detect(images)

    session = find_sessions(tiny_corpus)[0][0]
    paths = [session.videos[view] for view in range(1, 10)]
    detector = Counting()
    config = FaceConfig()
    together = videos_faces(paths, detector, config)
    calls_together = Counting.calls
    same = []
    for path, faces in zip(paths, together, strict=True):
        alone = video_faces(path, detector, config)
        np.testing.assert_array_equal(faces.source, alone.source)
        assert faces.detected_frames == alone.detected_frames
        # The same boxes, to float rounding; the package's boxes can depend a little on what else is in the batch
        # (on a 1,000-frame session, 2 of 297 keyframes moved by up to 3 px), so a few may move slightly.
        same += [np.allclose(a, b, atol=1e-3) for a, b in zip(faces.boxes, alone.boxes, strict=True)]
        assert min(box_iou(a, b) for a, b in zip(faces.boxes, alone.boxes, strict=True)) >= 0.9
    assert np.mean(same) >= 0.75, np.mean(same)
    # 24-frame views, keyframes 0 and 23: one call for all 9 views (fallbacks, if any, in one more).
    assert calls_together <= 2 and Counting.calls - calls_together >= 9


def test_compiled_mtcnn_matches_the_package_and_finds_no_face_in_a_flat_image(tiny_corpus):
    video = next((tiny_corpus / "FERA17_Train_MV").glob("*_5.mp4"))
    frames = list(read_frames(video))[:2] + [np.full((160, 160, 3), 128, np.uint8)]
    compiled = FaceDetector().detect(frames)
    eager = FaceDetector(compiled=False).detect(frames)
    assert compiled[2] is None and eager[2] is None
    for a, b in zip(compiled[:2], eager[:2], strict=True):
        np.testing.assert_allclose(a.box, b.box, atol=0.5)
        assert abs(a.confidence - b.confidence) < 1e-4


def test_video_faces_dataclass_counts():
    result = VideoFaces(
        boxes=np.full((3, 4), np.nan),
        confidence=np.full(3, np.nan),
        source=np.array([DETECTED, TRACKED, DROPPED], np.int8),
        detected_frames=1,
    )
    assert result.counts() == {"frames": 3, "detector_frames": 1, "detected": 1, "tracked": 1, "dropped": 1}
    assert list(result.kept) == [True, True, False]
