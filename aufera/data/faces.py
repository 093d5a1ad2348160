"""Faces in FERA 2017 videos: MTCNN detection on keyframes, tracking in between, square grayscale crops.

He et al. (2019, Sec. 4.2) remove the background with a face detector, resize
the face crop to 132x132 and turn it grayscale. This module does that for
whole videos, fast:

1. **Detection.** `FaceDetector` runs MTCNN from the `mtcnn` package with its
   pretrained weights and default thresholds (PNet 0.6, RNet 0.7, ONet 0.8,
   smallest face 20 px) and keeps the most confident face of each image. Images
   are sent to the package in batches, and its three networks are wrapped in
   `tf.function`, which gives the same boxes about 3x faster than the
   package's eager calls (one call carries a fixed cost, so batches help too).
2. **Keyframes.** A video is not detected frame by frame: only every
   `detect_every`-th frame (0, K, 2K, ...) and the last frame are keyframes.
3. **Tracking between keyframes.** Between two keyframes whose faces were
   found, the box is carried forward frame to frame by pyramidal Lucas-Kanade
   optical flow (`tracking="flow"`, the default): a 5x5 grid of points in the
   middle of the box is tracked, the box moves by their median displacement
   and is scaled by the median ratio of their pairwise distances (the median
   flow rule of Kalal et al. 2010). The small drift this leaves is removed by
   spreading the difference between the tracked box and the box detected at
   the next keyframe linearly over the interval, so the track ends exactly on
   the detection. `tracking="linear"` interpolates the two keyframe boxes
   linearly instead (no image is looked at).
4. **Fallback.** An interval is trusted only if its keyframes agree: the
   tracked box arriving at the next keyframe (for "linear": the previous
   keyframe's box) has IoU >= `min_iou` with the box detected there, and the
   flow did not lose the face on the way. Otherwise, or when a keyframe has no
   face, every frame inside the interval is detected on its own.
5. **Drops.** A frame where no face is found or tracked has no box (a NaN
   row, `source` DROPPED) and is counted; it is never cropped, so the
   background is never labelled as a face.
6. **Crop.** `crop_face` takes a square of side max(w, h) * (1 + 2 * margin)
   centred on the box, pads it where it leaves the frame by repeating the
   edge pixels, turns it grayscale (`cv2.COLOR_RGB2GRAY`: 0.299 R + 0.587 G +
   0.114 B) and resizes it to `image_size` (132 for He et al., 170 for DRML,
   200 for the CNN-LSTM).
7. **Cache.** `video_faces` decodes a video, finds its faces and stores them
   in a `FaceCache`: one `.npz` per video, keyed by the video's name, size and
   modification time, the detector and the settings that change the boxes,
   written to a temporary name and then renamed, so a crash never leaves a
   half-written file that is read as complete. A damaged file is reported in
   the log and recomputed.

Frames are processed in windows of `keyframes_per_call` keyframes (fewer for
large frames, so that a window holds at most `BUFFER_BYTES` of frames): the
keyframes of a window go to the detector in one call, and so do the frames of
all its fallback intervals. The result does not depend on the window: the
keyframes are the same whatever it is.

Examples:

    detector = FaceDetector()
    config = FaceConfig()
    faces = video_faces("FERA17_TR_F001_T1_5.mp4", detector, config, cache=FaceCache("face_cache"))
    print(faces.counts())  # {"frames": 30, "detector_frames": 2, "tracked": 28, "dropped": 0, ...}
    for image, box in zip(frames, faces.boxes):
        if np.all(np.isfinite(box)):
            crop = crop_face(image, box, size=config.image_size, margin=config.margin)  # (132, 132, 1) uint8

References:
    He, Li, Bo, Yu 2019, "Facial Action Unit Detection with Multilayer Fused
    Multi-Task and Multi-Label Deep Learning Network", Sec. 4.2 and Fig. 6.
    Zhang, Zhang, Li, Qiao 2016, "Joint Face Detection and Alignment Using
    Multitask Cascaded Convolutional Networks" (MTCNN).
    Kalal, Mikolajczyk, Matas 2010, "Forward-Backward Error: Automatic
    Detection of Tracking Failures" (median flow).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import cv2
import numpy as np

from aufera.errors import AuferaError
from aufera.files import atomic_write

logger = logging.getLogger(__name__)

DROPPED, DETECTED, TRACKED = 0, 1, 2
"""Values of `VideoFaces.source`: no face; the detector's box; a box tracked or interpolated between keyframes."""
TRACKING_METHODS = ("flow", "linear")
BORDERS = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
BUFFER_BYTES = 256 * 2**20
"""Most bytes of decoded frames held at once while tracking; bounds the window on large frames."""
FLOW_MAX_SIDE = 320
"""Frames are shrunk to at most this side (pixels) for optical flow; the boxes are scaled back."""
FLOW_GRID = 5
FLOW_MIN_POINTS = 10
FLOW_LK = {
    "winSize": (11, 11),
    "maxLevel": 2,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
}
CACHE_VERSION = 1
"""Part of every cache key: raise it when a change of this module changes the boxes."""


# === Config ===


@dataclasses.dataclass(frozen=True)
class FaceConfig:
    """How faces are found in a video and cropped.

    Args:
        detect_every: int. Distance K between keyframes: frames 0, K, 2K, ...
            and the last frame are detected, the others tracked. 1 detects
            every frame. Defaults to 32 (measured on the synthetic corpus: see
            docs/faces.md).
        min_iou: float. Two keyframes agree, and the frames between them are
            tracked, when the box carried to the second one has at least this
            IoU with the box detected there; otherwise every frame between
            them is detected. Defaults to 0.5.
        tracking: str. "flow" (optical flow, drift removed at the next
            keyframe) or "linear" (linear interpolation of the keyframe
            boxes). Defaults to "flow".
        margin: float. Share of the box's longer side added on each side of
            the square crop: side = max(w, h) * (1 + 2 * margin). Defaults
            to 0.1.
        image_size: int. Side of the square crop in pixels (132 for He et
            al., 170 for DRML, 200 for the CNN-LSTM). Defaults to 132.
        min_confidence: float. Faces below this MTCNN confidence count as not
            found. 0 keeps every face MTCNN returns (its own last threshold is
            0.8). Defaults to 0.0.
        keyframes_per_call: int. Keyframes collected before one detector
            call (speed only; the boxes do not depend on it). Defaults to 8.

    Examples:

        config = FaceConfig(detect_every=16, image_size=170)
        FaceConfig(**config.to_dict()) == config  # True
    """

    detect_every: int = 32
    min_iou: float = 0.5
    tracking: str = "flow"
    margin: float = 0.1
    image_size: int = 132
    min_confidence: float = 0.0
    keyframes_per_call: int = 8

    def __post_init__(self):
        for name, low, high in (("detect_every", 1, 10_000), ("image_size", 8, 4096), ("keyframes_per_call", 1, 1024)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}. Received: {name}={value!r}")
        for name, low, high in (("min_iou", 0.0, 1.0), ("margin", 0.0, 2.0), ("min_confidence", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low} to {high}. Received: {name}={value!r}")
        if self.tracking not in TRACKING_METHODS:
            raise ValueError(f"tracking must be one of {TRACKING_METHODS}. Received: tracking={self.tracking!r}")

    def to_dict(self) -> dict:
        """Returns the settings as JSON-ready data; `FaceConfig(**d)` rebuilds the config."""
        return dataclasses.asdict(self)

    def detection_dict(self) -> dict:
        """Returns the settings that change the boxes (the crop settings and the window do not)."""
        return {
            "detect_every": int(self.detect_every),
            "min_iou": float(self.min_iou),
            "tracking": self.tracking,
            "min_confidence": float(self.min_confidence),
        }


# === Detector ===


class Detection(NamedTuple):
    """The most confident face of an image.

    Args:
        box: float64 array (4,). x0, y0, x1, y1 in pixels.
        confidence: float. The detector's confidence.
    """

    box: np.ndarray
    confidence: float


class Detector(Protocol):
    """What the tracker needs of a face detector (`FaceDetector`, or a fake in tests)."""

    def detect(self, images: Sequence[np.ndarray]) -> list[Detection | None]: ...


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(
            f"{name} must be an RGB uint8 array (H, W, 3). Received: shape={image.shape}, dtype={image.dtype}"
        )
    return image


class FaceDetector:
    """MTCNN from the `mtcnn` package, keeping the most confident face per image.

    TensorFlow and the networks are loaded on the first call to `detect`, so
    creating a detector is cheap and a process that finds every box in the
    cache never loads them.

    Args:
        batch_size: int. Images per call to the package (it pads and stacks
            them; one call has a fixed cost, so larger batches are faster per
            image). Defaults to 32.
        device: str. TensorFlow device, e.g. "CPU:0" or "GPU:0". Defaults to
            "CPU:0" (the package's default).
        compiled: bool. Run the package's networks as `tf.function`s (same
            weights, same boxes, about 3x faster on CPU). Defaults to True.
        **thresholds: passed to `MTCNN.detect_faces` (e.g. threshold_onet,
            min_face_size). Defaults to none: the package's defaults, as in
            the paper.

    Examples:

        detector = FaceDetector()
        found = detector.detect([frame_rgb])[0]  # Detection(box, confidence) or None
    """

    def __init__(self, batch_size: int = 32, device: str = "CPU:0", compiled: bool = True, **thresholds):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1. Received: batch_size={batch_size!r}")
        self.batch_size = batch_size
        self.device = device
        self.compiled = compiled
        self.thresholds = dict(thresholds)
        self._mtcnn = None

    @property
    def cache_tag(self) -> str:
        """Names the detector and its settings in cache keys."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = version("mtcnn")
        except PackageNotFoundError:
            package = "unknown"
        return f"mtcnn-{package}" + "".join(f"-{k}={v}" for k, v in sorted(self.thresholds.items()))

    def _model(self):
        if self._mtcnn is None:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            from mtcnn import MTCNN

            mtcnn = MTCNN(device=self.device)
            if self.compiled:
                _compile_stages(mtcnn)
            self._mtcnn = mtcnn
        return self._mtcnn

    def detect(self, images: Sequence[np.ndarray]) -> list[Detection | None]:
        """Finds the most confident face in each image.

        Args:
            images: sequence of uint8 RGB arrays (H, W, 3), or one array
                (N, H, W, 3).

        Returns:
            A list with, per image, a `Detection` (box x0, y0, x1, y1 as a
            float64 array, and the confidence) or None when no face was found.
        """
        images = [np.ascontiguousarray(_check_image(image, f"images[{i}]")) for i, image in enumerate(images)]
        if not images:
            return []
        mtcnn = self._model()
        found: list[Detection | None] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            # A list always gets a list of lists back, even for one image.
            results = mtcnn.detect_faces(batch, box_format="xyxy", **self.thresholds)
            if len(results) != len(batch):
                raise RuntimeError(f"mtcnn returned {len(results)} results for {len(batch)} images")
            for faces in results:
                if not faces:
                    found.append(None)
                    continue
                best = max(faces, key=lambda face: float(face["confidence"]))
                found.append(Detection(np.asarray(best["box"], dtype=np.float64), float(best["confidence"])))
        return found


def _compile_stages(mtcnn) -> None:
    """Wraps the networks of the package's stages in `tf.function` (a graph instead of eager layer calls).

    The stages keep their network in the attribute `_model` (mtcnn 1.0); if a
    later version moves it, the networks simply stay eager.
    """
    import tensorflow as tf

    for stage in getattr(mtcnn, "stages", []):
        model = getattr(stage, "_model", None)
        call = getattr(model, "call", None)
        if call is None:
            logger.debug("mtcnn stage %r has no network to compile; left eager", stage)
            continue
        stage._model = tf.function(call, reduce_retracing=True)


# === Tracking ===


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


def _flow_step(previous: np.ndarray, current: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Moves a box from one grayscale frame to the next by median flow; None if the face is lost."""
    x0, y0, x1, y1 = box
    size = np.array([x1 - x0, y1 - y0])
    # A grid of points over the middle 60% of the box, away from its edges (background, hair).
    start = (np.array([x0, y0]) + _GRID_XY * size).astype(np.float32)
    end, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, start.reshape(-1, 1, 2), None, **FLOW_LK)
    ok = status.ravel() == 1
    if ok.sum() < FLOW_MIN_POINTS:
        return None
    end = end.reshape(-1, 2)
    dx, dy = np.median(end[ok] - start[ok], axis=0)
    i, j = _PAIRS
    pairs = ok[i] & ok[j]
    i, j = i[pairs], j[pairs]
    before = np.hypot(*(start[i] - start[j]).T)
    after = np.hypot(*(end[i] - end[j]).T)
    scale = float(np.median(after / np.maximum(before, 1e-6)))
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
    """Streams the frames of one video through keyframe detection and tracking (see the module docstring)."""

    def __init__(self, detector: Detector, config: FaceConfig):
        self.detector = detector
        self.config = config
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

    def push(self, frame: np.ndarray) -> None:
        index = len(self.boxes) + len(self.buffer) - (1 if self.boxes else 0)
        frame = _check_image(frame, f"frame {index}")
        if self.shape is None:
            self.shape = frame.shape
            height, width = frame.shape[:2]
            self.scale = min(1.0, FLOW_MAX_SIDE / max(height, width))
            keys = min(
                self.config.keyframes_per_call, max(1, BUFFER_BYTES // (frame.nbytes * self.config.detect_every))
            )
            self.window_frames = keys * self.config.detect_every
        elif frame.shape != self.shape:
            raise ValueError(
                f"All frames must have the same shape. Received: {frame.shape} at frame {index}, {self.shape} before"
            )
        gray = (
            _flow_gray(frame, self.scale) if self.config.tracking == "flow" and self.config.detect_every > 1 else None
        )
        self.buffer.append((index, frame, gray))
        # The first window starts at frame 0, the next ones at the previous window's last keyframe; each
        # ends at its last keyframe.
        if len(self.buffer) == self.window_frames + 1:
            self._process()

    def finish(self) -> VideoFaces:
        if self.buffer and (not self.boxes or len(self.buffer) > 1):
            self._process()
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

    def _detect(self, images: list[np.ndarray]) -> list[Detection | None]:
        if not images:
            return []
        found = list(self.detector.detect(images))
        if len(found) != len(images):
            raise RuntimeError(f"The detector returned {len(found)} results for {len(images)} images")
        self.detected_frames += len(images)
        keep = []
        for item in found:
            if item is not None:
                box = np.asarray(item[0], dtype=np.float64).reshape(4)
                confidence = float(item[1])
                ok = np.all(np.isfinite(box)) and box[2] > box[0] and box[3] > box[1]
                item = Detection(box, confidence) if ok and confidence >= self.config.min_confidence else None
            keep.append(item)
        return keep

    def _process(self) -> None:
        """Detects the window's keyframes, tracks or falls back in its intervals, and carries its last keyframe."""
        buffer, every = self.buffer, self.config.detect_every
        first_window = not self.boxes
        base = buffer[0][0]
        last = len(buffer) - 1
        keys = sorted({k for k in range(0, last + 1) if (base + k) % every == 0} | {last})
        new_keys = keys if first_window else keys[1:]
        found = dict(zip(new_keys, self._detect([buffer[k][1] for k in new_keys]), strict=True))
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
        for k, item in zip(fallback, self._detect([buffer[k][1] for k in fallback]), strict=True):
            results[k] = (None, np.nan, DROPPED) if item is None else (item.box, item.confidence, DETECTED)
        for k in range(0 if first_window else 1, last + 1):
            box, confidence, source = results[k]
            self.boxes.append(box)
            self.confidence.append(confidence)
            self.source.append(source)
        self.carried = found[last]
        self.buffer = [buffer[last]]


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
    tracker = _Tracker(detector, config or FaceConfig())
    for frame in frames:
        tracker.push(frame)
    return tracker.finish()


# === Crop ===


def box_iou(a, b) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def crop_box(box, margin: float = 0.1) -> np.ndarray:
    """The square a crop is taken from: side max(w, h) * (1 + 2 * margin), centred on the box.

    Args:
        box: 4 numbers. x0, y0, x1, y1.
        margin: float. Share of the longer side added on each side. Defaults to 0.1.

    Returns:
        float64 array (4,): the square's x0, y0, x1, y1 (before snapping to pixels).
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return np.array([cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0])


def crop_face(
    image_rgb: np.ndarray, box, size: int = 132, margin: float = 0.1, border: str = "replicate"
) -> np.ndarray:
    """Cuts a square grayscale face crop out of a frame.

    The square of `crop_box` is snapped to whole pixels (left and top
    rounded, side rounded, at least 1), cut out, padded where it leaves the
    frame, turned grayscale with `cv2.COLOR_RGB2GRAY` (0.299 R + 0.587 G +
    0.114 B, rounded) and resized to `size` (`cv2.INTER_AREA` when shrinking,
    `cv2.INTER_LINEAR` when enlarging; not resized when the side is already
    `size`).

    Args:
        image_rgb: uint8 array (H, W, 3). The frame, RGB.
        box: 4 numbers. The face box x0, y0, x1, y1 in pixels.
        size: int. Side of the output in pixels. Defaults to 132.
        margin: float. Share of the box's longer side added on each side.
            Defaults to 0.1.
        border: str. "replicate" repeats the frame's edge pixels where the
            square leaves the frame; "constant" fills with 0 (black).
            Defaults to "replicate".

    Returns:
        uint8 array (size, size, 1).

    Raises:
        ValueError: a bad image, box, size, margin or border, or a square
            that does not overlap the frame.
    """
    image = _check_image(image_rgb, "image_rgb")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a whole number >= 1. Received: size={size!r}")
    if not 0.0 <= margin <= 2.0:
        raise ValueError(f"margin must be a number from 0 to 2. Received: margin={margin!r}")
    if border not in BORDERS:
        raise ValueError(f"border must be one of {tuple(BORDERS)}. Received: border={border!r}")
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.shape != (4,) or not np.all(np.isfinite(values)) or values[2] <= values[0] or values[3] <= values[1]:
        raise ValueError(f"box must be 4 finite numbers x0 < x1, y0 < y1. Received: box={box!r}")
    sx0, sy0, sx1, _ = crop_box(values, margin)
    side = max(1, int(np.floor(sx1 - sx0 + 0.5)))
    x0, y0 = int(np.floor(sx0 + 0.5)), int(np.floor(sy0 + 0.5))
    x1, y1 = x0 + side, y0 + side
    height, width = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError(
            f"The crop square ({x0}, {y0}, {x1}, {y1}) does not overlap the {width}x{height} frame. Received: box={box!r}"
        )
    gray = cv2.cvtColor(image[cy0:cy1, cx0:cx1], cv2.COLOR_RGB2GRAY)
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        gray = cv2.copyMakeBorder(gray, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, BORDERS[border], value=0)
    if side != size:
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (int(size), int(size)), interpolation=interpolation)
    return gray.reshape(int(size), int(size), 1)


# === Cache ===


class FaceCache:
    """Stores the faces of each video in a folder, so a rerun does not detect again.

    One `.npz` per video and settings, named `<video name>.<key>.npz`; the key
    is a hash of the video's file name, size and modification time (ns), the
    detector (`cache_tag`), the settings that change the boxes
    (`FaceConfig.detection_dict`) and `CACHE_VERSION`. A changed video or
    setting thus misses the cache and is recomputed; the old file stays
    (delete the folder to clean up). Files are written under a temporary name
    and renamed (`os.replace`), so none is ever half-written; a file that
    cannot be read back (damaged, or not a cache file) is logged as a warning
    and recomputed.

    Args:
        cache_dir: str or Path. The folder (created if missing).
    """

    def __init__(self, cache_dir):
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(video_path, config: FaceConfig, detector_tag: str = "") -> str:
        """Returns the cache key (hex) of a video under some settings.

        Args:
            video_path: str or Path. The video (it must exist).
            config: FaceConfig.
            detector_tag: str. Names the detector. Defaults to "".
        """
        path = Path(video_path)
        stat = path.stat()
        content = {
            "name": path.name,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "detector": detector_tag,
            "config": config.detection_dict(),
            "version": CACHE_VERSION,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]

    def path(self, video_path, config: FaceConfig, detector_tag: str = "") -> Path:
        """Returns the cache file of a video under some settings."""
        return self.cache_dir / f"{Path(video_path).name}.{self.key(video_path, config, detector_tag)}.npz"

    def load(self, video_path, config: FaceConfig, detector_tag: str = "") -> VideoFaces | None:
        """Returns the cached faces, or None when missing or unreadable (then logged)."""
        path = self.path(video_path, config, detector_tag)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != path.name.split(".")[-2]:
                    raise ValueError("its key does not match its name")
                faces = VideoFaces(
                    boxes=np.asarray(data["boxes"], dtype=np.float64),
                    confidence=np.asarray(data["confidence"], dtype=np.float64),
                    source=np.asarray(data["source"], dtype=np.int8),
                    detected_frames=int(data["detected_frames"]),
                )
            count = len(faces.source)
            if faces.boxes.shape != (count, 4) or faces.confidence.shape != (count,):
                raise ValueError(f"array shapes do not match: boxes {faces.boxes.shape}, {count} frames")
            if not np.all(np.isin(faces.source, (DROPPED, DETECTED, TRACKED))):
                raise ValueError("unknown box sources")
        except Exception as error:  # Any damage means: recompute.
            logger.warning("%s: damaged face cache file (%s: %s); recomputing", path, type(error).__name__, error)
            return None
        return faces

    def save(self, video_path, config: FaceConfig, faces: VideoFaces, detector_tag: str = "") -> Path:
        """Writes the faces of a video atomically; returns the cache file."""
        path = self.path(video_path, config, detector_tag)
        atomic_write(
            path,
            lambda tmp: np.savez(
                tmp,
                key=np.array(path.name.split(".")[-2]),
                boxes=faces.boxes,
                confidence=faces.confidence,
                source=faces.source,
                detected_frames=np.int64(faces.detected_frames),
                dropped=np.int64(faces.dropped),
                config=np.array(json.dumps(config.detection_dict(), sort_keys=True)),
            ),
        )
        return path


# === Videos ===


def iter_video_rgb(video_path) -> Iterable[np.ndarray]:
    """Decodes a video with OpenCV, frame by frame, as uint8 RGB (H, W, 3).

    Args:
        video_path: str or Path.

    Returns:
        A generator of frames.

    Raises:
        AuferaError: OpenCV cannot open the video.
    """
    capture = cv2.VideoCapture(str(video_path))
    try:
        if not capture.isOpened():
            raise AuferaError(f"{video_path}: OpenCV cannot open this video (damaged, empty or not a video)")
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                break
            if image.ndim == 2:
                yield cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            elif image.shape[2] == 4:
                yield cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
            else:
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def video_faces(
    video_path, detector: Detector, config: FaceConfig | None = None, cache: FaceCache | None = None
) -> VideoFaces:
    """Finds the face in every frame of a video file, through the cache.

    The frames are those OpenCV decodes, in order (as `aufera.data.fera2017`
    reads them), so `boxes[i]` belongs to the i-th decoded frame.

    Args:
        video_path: str or Path. The video.
        detector: a `FaceDetector` (or any object with the same `detect`).
        config: FaceConfig or None. None uses the defaults.
        cache: FaceCache or None. Where found faces are kept; None computes
            them every time. Defaults to None.

    Returns:
        `VideoFaces` (see `track_video`).

    Raises:
        AuferaError: the video does not exist, cannot be opened or yields no frame.
    """
    config = config or FaceConfig()
    path = Path(video_path)
    if not path.is_file():
        raise AuferaError(f"{path}: video file does not exist")
    tag = getattr(detector, "cache_tag", type(detector).__qualname__)
    if cache is not None:
        faces = cache.load(path, config, tag)
        if faces is not None:
            return faces
    faces = track_video(iter_video_rgb(path), detector, config)
    if faces.num_frames == 0:
        raise AuferaError(f"{path}: no frame could be decoded")
    if cache is not None:
        cache.save(path, config, faces, tag)
    return faces
