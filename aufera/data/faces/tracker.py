"""Tracking: detection on keyframes, the face carried between them, fallback and drops.

1. **Keyframes.** A video is not detected frame by frame: only every
   `detect_every`-th frame (0, K, 2K, ...) and the last frame are keyframes.
2. **Tracking between keyframes.** Between two keyframes whose faces were
   found, the box is carried forward frame to frame by pyramidal Lucas-Kanade
   optical flow (`tracking="flow"`, the default): a 5x5 grid of points in the
   middle of the box is tracked, the box moves by their median displacement
   and is scaled by the median ratio of their pairwise distances (the median
   flow rule of Kalal et al. 2010). The small drift this leaves is removed by
   spreading the difference between the tracked box and the box detected at
   the next keyframe linearly over the interval, so the track ends exactly on
   the detection. `tracking="linear"` interpolates the two keyframe boxes
   linearly instead (no image is looked at).
3. **Fallback.** An interval is trusted only if its keyframes agree: the
   tracked box arriving at the next keyframe (for "linear": the previous
   keyframe's box) has IoU >= `min_iou` with the box detected there, and the
   flow did not lose the face on the way. Otherwise, or when a keyframe has no
   face, every frame inside the interval is detected on its own.
4. **Drops.** A frame where no face is found or tracked has no box (a NaN
   row, `source` DROPPED) and is counted; it is never cropped, so the
   background is never labelled as a face.

Frames are processed in windows of `keyframes_per_call` keyframes (fewer for
large frames, so that a window holds at most `BUFFER_BYTES` of frames): the
keyframes of a window go to the detector in one call, and so do the frames of
all its fallback intervals. The result does not depend on the window: the
keyframes are the same whatever it is. `track_videos` tracks several videos
(the 9 views of a session) in step, window by window, and sends the
keyframes of all their windows to the detector in one call, then the frames
of all their fallback intervals in another: the fixed cost of a call is
shared by the views, and each video gets the boxes `track_video` gives it.

References:
    Kalal, Mikolajczyk, Matas 2010, "Forward-Backward Error: Automatic
    Detection of Tracking Failures" (median flow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from aufera.data.faces.config import FaceConfig
from aufera.data.faces.crops import box_iou, check_image
from aufera.data.faces.detector import Detection, Detector

DROPPED, DETECTED, TRACKED = 0, 1, 2
"""Values of `VideoFaces.source`: no face; the detector's box; a box tracked or interpolated between keyframes."""
BUFFER_BYTES = 256 * 2**20
"""Most bytes of decoded frames held at once while tracking (by all the videos tracked together); bounds the
window on large frames. A video always holds at least one keyframe interval (`detect_every` + 1 frames)."""
FLOW_MAX_SIDE = 320
"""Frames are shrunk to at most this side (pixels) for optical flow; the boxes are scaled back."""
FLOW_GRID = 5
FLOW_MIN_POINTS = 10
FLOW_LK = {
    "winSize": (11, 11),
    "maxLevel": 2,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
}


@dataclasses.dataclass
class VideoFaces:
    """The face box of every frame of a video.

    Args:
        boxes: float64 array (T, 4). x0, y0, x1, y1 per frame; a NaN row for
            a dropped frame (no face found or tracked).
        confidence: float64 array (T,). The detector's confidence on frames
            whose box it gave (`source` DETECTED); NaN elsewhere.
        source: int8 array (T,). DETECTED (1), TRACKED (2) or DROPPED (0).
        detected_frames: int. Frames the detector was run on (keyframes and
            fallback frames), with or without a face found.

    Examples:

        faces.counts()  # {"frames": 30, "detector_frames": 2, "detected": 2, "tracked": 28, "dropped": 0}
    """

    boxes: np.ndarray
    confidence: np.ndarray
    source: np.ndarray
    detected_frames: int

    @property
    def num_frames(self) -> int:
        """Frames in the video."""
        return int(len(self.source))

    @property
    def kept(self) -> np.ndarray:
        """Bool (T,): frames with a box."""
        return self.source != DROPPED

    @property
    def dropped(self) -> int:
        """Frames without a box."""
        return int(np.sum(self.source == DROPPED))

    @property
    def tracked(self) -> int:
        """Frames whose box was tracked or interpolated."""
        return int(np.sum(self.source == TRACKED))

    def counts(self) -> dict:
        """Returns per-video counts: frames, detector_frames, detected, tracked, dropped."""
        return {
            "frames": self.num_frames,
            "detector_frames": int(self.detected_frames),
            "detected": int(np.sum(self.source == DETECTED)),
            "tracked": self.tracked,
            "dropped": self.dropped,
        }


def _flow_gray(image: np.ndarray, scale: float) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        height, width = gray.shape
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray


_GRID = np.linspace(0.2, 0.8, FLOW_GRID)
_GRID_XY = np.stack(np.meshgrid(_GRID, _GRID), axis=-1).reshape(-1, 2)
_PAIRS = np.triu_indices(len(_GRID_XY), 1)


def _median(values: np.ndarray):
    """`np.median(values, axis=0)`, the same numbers, without its overhead (small arrays, one per flow step)."""
    ordered = np.sort(values, axis=0)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _flow_step(previous: np.ndarray, current: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Moves a box from one grayscale frame to the next by median flow; None if the face is lost."""
    x0, y0, x1, y1 = box
    size = np.array([x1 - x0, y1 - y0])
    # A grid of points over the middle 60% of the box, away from its edges (background, hair).
    start = (np.array([x0, y0]) + _GRID_XY * size).astype(np.float32)
    end, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, start.reshape(-1, 1, 2), None, **FLOW_LK)
    ok = status.ravel() == 1
    count = int(np.count_nonzero(ok))
    if count < FLOW_MIN_POINTS:
        return None
    end = end.reshape(-1, 2)
    dx, dy = _median(end[ok] - start[ok])
    i, j = _PAIRS
    if count < len(ok):
        pairs = ok[i] & ok[j]
        i, j = i[pairs], j[pairs]
    before, after = start[i] - start[j], end[i] - end[j]
    ratio = np.hypot(after[:, 0], after[:, 1]) / np.maximum(np.hypot(before[:, 0], before[:, 1]), 1e-6)
    scale = float(_median(ratio))
    if not (np.isfinite(dx) and np.isfinite(dy) and 0.5 <= scale <= 2.0):
        return None
    cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
    frame_height, frame_width = current.shape
    if not (0 <= cx < frame_width and 0 <= cy < frame_height):
        return None
    half_w, half_h = size * scale / 2
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])


def _track_interval(grays: list[np.ndarray], first: np.ndarray, last: np.ndarray, scale: float, min_iou: float):
    """Boxes for the frames strictly between two keyframes by flow, or None if the keyframes disagree."""
    box = first * scale
    tracked = []
    for previous, current in zip(grays[:-1], grays[1:], strict=True):
        box = _flow_step(previous, current, box)
        if box is None:
            return None
        tracked.append(box)
    arrived = tracked[-1] / scale
    if box_iou(arrived, last) < min_iou:
        return None
    # Spread the drift at the second keyframe linearly over the interval.
    error = last - arrived
    steps = len(grays) - 1
    return [tracked[k - 1] / scale + (k / steps) * error for k in range(1, steps)]


def _interpolate_interval(steps: int, first: np.ndarray, last: np.ndarray, min_iou: float):
    """Boxes for the frames strictly between two keyframes by linear interpolation, or None if they disagree."""
    if box_iou(first, last) < min_iou:
        return None
    return [first + (k / steps) * (last - first) for k in range(1, steps)]


class _Tracker:
    """The state of one video being tracked: its window of frames and the boxes found so far.

    It never calls the detector itself: `window` gives a generator that yields
    the images it needs detected (the window's new keyframes, then the frames
    of its fallback intervals) and receives the detector's answers, so that a
    driver (`_run`) can detect the requests of several videos in one call.
    """

    def __init__(self, config: FaceConfig, budget: int = BUFFER_BYTES):
        self.config = config
        self.budget = budget
        self.boxes: list[np.ndarray | None] = []
        self.confidence: list[float] = []
        self.source: list[int] = []
        self.detected_frames = 0
        # The window: frames from the last keyframe on (index, rgb, flow gray).
        self.buffer: list[tuple[int, np.ndarray, np.ndarray | None]] = []
        self.carried: Detection | None = None
        self.shape: tuple[int, ...] | None = None
        self.window_frames = 0
        self.scale = 1.0

    @property
    def full(self) -> bool:
        """The window holds all its frames: the first window starts at frame 0, the next ones at the
        previous window's last keyframe; each ends at its last keyframe."""
        return self.shape is not None and len(self.buffer) == self.window_frames + 1

    def push(self, frame: np.ndarray) -> None:
        index = len(self.boxes) + len(self.buffer) - (1 if self.boxes else 0)
        frame = check_image(frame, f"frame {index}")
        if self.shape is None:
            self.shape = frame.shape
            height, width = frame.shape[:2]
            self.scale = min(1.0, FLOW_MAX_SIDE / max(height, width))
            keys = min(self.config.keyframes_per_call, max(1, self.budget // (frame.nbytes * self.config.detect_every)))
            self.window_frames = keys * self.config.detect_every
        elif frame.shape != self.shape:
            raise ValueError(
                f"All frames must have the same shape. Received: {frame.shape} at frame {index}, {self.shape} before"
            )
        gray = (
            _flow_gray(frame, self.scale) if self.config.tracking == "flow" and self.config.detect_every > 1 else None
        )
        self.buffer.append((index, frame, gray))

    def window(self, final: bool):
        """The processing of the current window (a generator, see the class docstring), or None if there is none.

        Args:
            final: bool. The video has no frame left: process what the window holds.
        """
        if final and not (self.buffer and (not self.boxes or len(self.buffer) > 1)):
            return None
        return self._process()

    def result(self) -> VideoFaces:
        count = len(self.boxes)
        boxes = np.full((count, 4), np.nan)
        for index, box in enumerate(self.boxes):
            if box is not None:
                boxes[index] = box
        return VideoFaces(
            boxes=boxes,
            confidence=np.asarray(self.confidence, dtype=np.float64).reshape(count),
            source=np.asarray(self.source, dtype=np.int8).reshape(count),
            detected_frames=self.detected_frames,
        )

    def _accept(self, found: list, count: int) -> list[Detection | None]:
        """The detector's answers for `count` images, checked: invalid boxes and weak faces count as not found."""
        if len(found) != count:
            raise RuntimeError(f"The detector returned {len(found)} results for {count} images")
        self.detected_frames += count
        keep = []
        for item in found:
            if item is not None:
                box = np.asarray(item[0], dtype=np.float64).reshape(4)
                confidence = float(item[1])
                ok = np.all(np.isfinite(box)) and box[2] > box[0] and box[3] > box[1]
                item = Detection(box, confidence) if ok and confidence >= self.config.min_confidence else None
            keep.append(item)
        return keep

    def _process(self):
        """Detects the window's keyframes, tracks or falls back in its intervals, and carries its last keyframe."""
        buffer, every = self.buffer, self.config.detect_every
        first_window = not self.boxes
        base = buffer[0][0]
        last = len(buffer) - 1
        keys = sorted({k for k in range(0, last + 1) if (base + k) % every == 0} | {last})
        new_keys = keys if first_window else keys[1:]
        answers = yield [buffer[k][1] for k in new_keys]
        found = dict(zip(new_keys, self._accept(answers, len(new_keys)), strict=True))
        if not first_window:
            found[0] = self.carried
        results: dict[int, tuple[np.ndarray | None, float, int]] = {}
        for k in keys:
            item = found[k]
            results[k] = (None, np.nan, DROPPED) if item is None else (item.box, item.confidence, DETECTED)
        fallback = []
        for a, z in zip(keys[:-1], keys[1:], strict=True):
            if z - a < 2:
                continue
            boxes = None
            if found[a] is not None and found[z] is not None:
                if self.config.tracking == "flow":
                    grays = [buffer[k][2] for k in range(a, z + 1)]
                    boxes = _track_interval(grays, found[a].box, found[z].box, self.scale, self.config.min_iou)
                else:
                    boxes = _interpolate_interval(z - a, found[a].box, found[z].box, self.config.min_iou)
            if boxes is None:
                fallback.extend(range(a + 1, z))
            else:
                for k, box in zip(range(a + 1, z), boxes, strict=True):
                    results[k] = (box, np.nan, TRACKED)
        answers = yield [buffer[k][1] for k in fallback]
        for k, item in zip(fallback, self._accept(answers, len(fallback)), strict=True):
            results[k] = (None, np.nan, DROPPED) if item is None else (item.box, item.confidence, DETECTED)
        for k in range(0 if first_window else 1, last + 1):
            box, confidence, source = results[k]
            self.boxes.append(box)
            self.confidence.append(confidence)
            self.source.append(source)
        self.carried = found[last]
        self.buffer = [buffer[last]]


def _detect(detector: Detector, images: list[np.ndarray]) -> list:
    """The detector's answers for images of any shapes: one call per shape, in order of first appearance.

    Images of one shape go together, so no image is padded to another's size
    (which MTCNN does within a batch, and which could move its boxes).
    """
    if not images:
        return []
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(np.shape(image), []).append(index)
    found: list = [None] * len(images)
    for indices in groups.values():
        answers = list(detector.detect([images[i] for i in indices]))
        if len(answers) != len(indices):
            raise RuntimeError(f"The detector returned {len(answers)} results for {len(indices)} images")
        for index, answer in zip(indices, answers, strict=True):
            found[index] = answer
    return found


def _run(steps: list, detector: Detector) -> None:
    """Runs the window generators of several videos together, each round of requests in one detector call."""
    requests = [(step, next(step)) for step in steps]
    while requests:
        answers = _detect(detector, [image for _, images in requests for image in images])
        following, offset = [], 0
        for step, images in requests:
            part = answers[offset : offset + len(images)]
            offset += len(images)
            try:
                following.append((step, step.send(part)))
            except StopIteration:
                pass
        requests = following


_END = object()


def track_videos(
    videos: Sequence[Iterable[np.ndarray]], detector: Detector, config: FaceConfig | None = None
) -> list[VideoFaces]:
    """Finds the face in every frame of several videos together, e.g. the 9 views of a session.

    Each video is tracked exactly as by `track_video`, and the videos advance
    in step, a window at a time: the keyframes of all their windows (the same
    frame numbers 0, K, 2K, ... in every view) go to the detector in one call,
    and so do the frames of all their fallback intervals. This spreads the
    fixed cost of a detector call over the views. Images of different shapes
    go in separate calls. Videos may differ in length, and in shape; a video
    that ends early simply drops out. `BUFFER_BYTES` bounds the frames held
    by all the videos together (each holds at least one keyframe interval).

    Args:
        videos: per video, its frames in order, uint8 RGB (H, W, 3) each (as
            for `track_video`; iterables are read in step, at most a window
            each at a time).
        detector: a `FaceDetector`, or any object with the same `detect`.
        config: FaceConfig or None. None uses the defaults.

    Returns:
        list of `VideoFaces`, one per video, in order.

    Raises:
        ValueError: a frame is not uint8 RGB, or frames of one video differ in shape.
    """
    config = config or FaceConfig()
    iterators = [iter(frames) for frames in videos]
    trackers = [_Tracker(config, BUFFER_BYTES // max(1, len(iterators))) for _ in iterators]
    active = list(range(len(trackers)))
    while active:
        steps, still = [], []
        for index in active:
            tracker, iterator, ended = trackers[index], iterators[index], False
            while not tracker.full:
                frame = next(iterator, _END)
                if frame is _END:
                    ended = True
                    break
                tracker.push(frame)
            step = tracker.window(final=ended)
            if step is not None:
                steps.append(step)
            if not ended:
                still.append(index)
        _run(steps, detector)
        active = still
    return [tracker.result() for tracker in trackers]


def track_video(frames: Iterable[np.ndarray], detector: Detector, config: FaceConfig | None = None) -> VideoFaces:
    """Finds the face in every frame of a video: detection on keyframes, tracking in between.

    Args:
        frames: the video's frames in order, uint8 RGB (H, W, 3) each: a
            sequence, an array (T, H, W, 3) or any iterable (a generator is
            read once; at most a window of frames is held).
        detector: a `FaceDetector`, or any object with the same `detect`.
        config: FaceConfig or None. None uses the defaults.

    Returns:
        `VideoFaces`: a box per frame (NaN rows for frames dropped), the
        detector's confidences, the source of each box and how many frames
        the detector was run on.

    Raises:
        ValueError: a frame is not uint8 RGB, or frames differ in shape.
    """
    return track_videos([frames], detector, config)[0]
