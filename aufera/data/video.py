"""The video decoder: a video file -> its frames as uint8 RGB, in order.

Every part of aufera that decodes a video reads it here: the FERA 2017
reader (`aufera.data.fera2017.iter_frames`), which pairs the i-th frame with
the i-th label row, and the face finder (`aufera.data.faces.video_faces`),
whose i-th box belongs to the i-th frame. One decoder means the two always
see the same frames in the same order, so a box is never paired with the
wrong frame.

Frames are those OpenCV's `cv2.VideoCapture` decodes, one `read()` each, until
the first one that fails. OpenCV gives BGR (or grey, or BGRA) images; they are
turned into RGB with `cv2.cvtColor`. The frame count a container declares is
never trusted: frames are counted as they are decoded.

Examples:

    for image in read_frames("FERA17_TR_F001_T1_5.mp4"):
        ...  # (H, W, 3) uint8 RGB

    with VideoReader("FERA17_TR_F001_T1_5.mp4") as video:
        first = video.read()  # (H, W, 3) uint8 RGB, or None past the last frame
        rest = video.skip()  # the frames left, counted without converting them
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from aufera.errors import AuferaError

CANNOT_OPEN = "OpenCV cannot open this video (damaged, empty or not a video)"


class VideoOpenError(AuferaError):
    """A video that OpenCV cannot open.

    Args:
        path: Path. The video.
        reason: str. Why it cannot be read. Defaults to `CANNOT_OPEN`.
    """

    def __init__(self, path, reason: str = CANNOT_OPEN):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _rgb(image: np.ndarray) -> np.ndarray:
    """An OpenCV frame (grey, BGR or BGRA) as uint8 RGB (H, W, 3)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class VideoReader:
    """A video opened with OpenCV, read frame by frame as uint8 RGB.

    Opening is a step of its own, so a caller can tell a video that cannot
    be opened (`VideoOpenError`, raised here) from one that opens but yields
    no frame (the first `read` returns None). Use it as a context manager, or
    call `close`; iterating over it yields the frames not read yet.

    Args:
        path: str or Path. The video.

    Raises:
        VideoOpenError: OpenCV cannot open the video (an `AuferaError`).

    Examples:

        with VideoReader("FERA17_TR_F001_T1_5.mp4") as video:
            for image in video:
                ...  # (H, W, 3) uint8 RGB
    """

    def __init__(self, path):
        self.path = Path(path)
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoOpenError(path)

    @property
    def fps(self) -> float | None:
        """The frame rate the video declares, or None when it declares none (or an unusable one)."""
        value = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        return value if np.isfinite(value) and 0.0 < value < 10_000.0 else None

    def read(self) -> np.ndarray | None:
        """Decodes the next frame.

        Returns:
            uint8 array (H, W, 3), RGB; None when the video has no frame left
            (or the next one cannot be decoded).
        """
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        return _rgb(image)

    def skip(self) -> int:
        """Reads the video to its end without converting the frames.

        Returns:
            int. The frames that were left.
        """
        count = 0
        while self._capture.grab():
            count += 1
        return count

    def __iter__(self) -> Iterator[np.ndarray]:
        while (image := self.read()) is not None:
            yield image

    def close(self) -> None:
        """Releases the video (reading after this gives no frame)."""
        self._capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_frames(path) -> Iterator[np.ndarray]:
    """Decodes a whole video, frame by frame, as uint8 RGB (H, W, 3).

    The video is opened on the first `next()` and released when the
    generator ends or is closed.

    Args:
        path: str or Path. The video.

    Returns:
        A generator of frames.

    Raises:
        VideoOpenError: OpenCV cannot open the video (an `AuferaError`).
    """
    with VideoReader(path) as video:
        yield from video
