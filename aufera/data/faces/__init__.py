"""Faces in FERA 2017 videos: MTCNN detection on keyframes, tracking in between, square grayscale crops.

He et al. (2019, Sec. 4.2) remove the background with a face detector, resize
the face crop to 132x132 and turn it grayscale. This package does that for
whole videos, fast. `video_faces` decodes a video (`aufera.data.video`),
finds the face in every frame and keeps the boxes in a cache; `crop_face`
then cuts the crops. Its modules:

- `config`: `FaceConfig`, the settings of detection, tracking and cropping.
- `detector`: `Detection`, the `Detector` protocol and `FaceDetector`
  (MTCNN from the `mtcnn` package, batched, its networks compiled).
- `tracker`: `VideoFaces` (a box per frame and where it came from) and
  `track_video`: detection on keyframes (every `detect_every`-th frame and the
  last), optical-flow (or linear) tracking in between, detection of every
  frame of an interval whose keyframes disagree, and dropped frames;
  `track_videos` tracks several videos (a session's views) in step, their
  keyframes in one detector call.
- `crops`: `box_iou`, `crop_box` and `crop_face` (a square of side
  max(w, h) * (1 + 2 * margin), edge-padded, grayscale, resized).
- `cache`: `FaceCache`, one `.npz` per video and settings, written atomically;
  a damaged file is recomputed.

This module holds `video_faces` and `videos_faces` (several videos, e.g. the
9 views of a session, their keyframes detected together) and re-exports the
public names of those modules, so `from aufera.data.faces import FaceConfig, video_faces` works.

Examples:

    detector = FaceDetector()
    config = FaceConfig()
    faces = video_faces("FERA17_TR_F001_T1_5.mp4", detector, config, cache=FaceCache("face_cache"))
    print(faces.counts())  # {"frames": 30, "detector_frames": 2, "tracked": 28, "dropped": 0, ...}
    for image, box in zip(read_frames("FERA17_TR_F001_T1_5.mp4"), faces.boxes):
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

from pathlib import Path

from aufera.data.faces.cache import CACHE_VERSION, FaceCache
from aufera.data.faces.config import TRACKING_METHODS, FaceConfig
from aufera.data.faces.crops import BORDERS, box_iou, crop_box, crop_face
from aufera.data.faces.detector import Detection, Detector, FaceDetector
from aufera.data.faces.tracker import (
    BUFFER_BYTES,
    DETECTED,
    DROPPED,
    FLOW_GRID,
    FLOW_LK,
    FLOW_MAX_SIDE,
    FLOW_MIN_POINTS,
    TRACKED,
    VideoFaces,
    track_video,
    track_videos,
)
from aufera.data.video import VideoOpenError, VideoReader
from aufera.errors import AuferaError

__all__ = [
    "BORDERS",
    "BUFFER_BYTES",
    "CACHE_VERSION",
    "DETECTED",
    "DROPPED",
    "FLOW_GRID",
    "FLOW_LK",
    "FLOW_MAX_SIDE",
    "FLOW_MIN_POINTS",
    "TRACKED",
    "TRACKING_METHODS",
    "Detection",
    "Detector",
    "FaceCache",
    "FaceConfig",
    "FaceDetector",
    "VideoFaces",
    "box_iou",
    "crop_box",
    "crop_face",
    "track_video",
    "track_videos",
    "video_faces",
    "videos_faces",
]


def video_faces(
    video_path, detector: Detector, config: FaceConfig | None = None, cache: FaceCache | None = None
) -> VideoFaces:
    """Finds the face in every frame of a video file, through the cache.

    The frames are decoded by `aufera.data.video.VideoReader`, the decoder
    `aufera.data.fera2017.iter_frames` reads too, so `boxes[i]` belongs to
    the i-th frame it yields.

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
    faces = videos_faces([video_path], detector, config, cache)[0]
    if isinstance(faces, AuferaError):
        raise faces
    return faces


def videos_faces(
    video_paths, detector: Detector, config: FaceConfig | None = None, cache: FaceCache | None = None
) -> list[VideoFaces | AuferaError]:
    """Finds the face in every frame of several video files together (the views of a session), through the cache.

    The videos not in the cache are decoded side by side and tracked in step
    (`track_videos`): the keyframes of all of them (the same frame numbers in
    every view) go to the detector in one call per window, so the fixed cost
    of a call is shared by the views. Each video gets the boxes `video_faces`
    gives it, and its own cache file. A video that cannot be read does not
    stop the others: its place in the result holds the error.

    Args:
        video_paths: str or Path per video.
        detector: a `FaceDetector` (or any object with the same `detect`).
        config: FaceConfig or None. None uses the defaults.
        cache: FaceCache or None. Where found faces are kept; None computes
            them every time. Defaults to None.

    Returns:
        list, per video in order: its `VideoFaces`, or the `AuferaError` that
        says why it cannot be read (it does not exist, cannot be opened or
        yields no frame).

    Examples:

        views = [session.videos[view] for view in session.views]
        for view, faces in zip(session.views, videos_faces(views, FaceDetector(), cache=FaceCache("face_cache"))):
            ...
    """
    config = config or FaceConfig()
    paths = [Path(video_path) for video_path in video_paths]
    tag = getattr(detector, "cache_tag", type(detector).__qualname__)
    results: list[VideoFaces | AuferaError | None] = [None] * len(paths)
    readers: dict[int, VideoReader] = {}
    try:
        for index, path in enumerate(paths):
            if not path.is_file():
                results[index] = AuferaError(f"{path}: video file does not exist")
                continue
            faces = cache.load(path, config, tag) if cache is not None else None
            if faces is not None:
                results[index] = faces
                continue
            try:
                readers[index] = VideoReader(path)
            except VideoOpenError as error:
                results[index] = error
        found = track_videos(list(readers.values()), detector, config)
    finally:
        for reader in readers.values():
            reader.close()
    for index, faces in zip(readers, found, strict=True):
        if faces.num_frames == 0:
            results[index] = AuferaError(f"{paths[index]}: no frame could be decoded")
            continue
        if cache is not None:
            cache.save(paths[index], config, faces, tag)
        results[index] = faces
    return results
