"""The video decoder (a video file -> its frames as uint8 RGB, in order) and the checked video encoder.

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

Every video aufera writes (the synthetic corpus, `aufera predict --overlay`,
test clips) goes through `VideoWriter`, which reads the file back through the
decoder when it is closed: OpenCV's writer says nothing when a write fails
(a full disk leaves a cut file behind), the read-back does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from aufera.errors import AuferaError
from aufera.files import as_write_error

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


class VideoWriter:
    """An mp4 video (MPEG-4 Part 2, "mp4v") written frame by frame with OpenCV, read back when closed.

    OpenCV's `cv2.VideoWriter` reports no failed write: on a full disk or
    past a file-size limit it leaves a file that ends early, or that cannot
    be opened, and says nothing. `close` decodes the file again
    (`VideoReader`) and raises a `WriteError` unless it gives back every
    frame written; the OS error is asked of the OS (`aufera.files`). A
    writer used as a context manager is closed on success, aborted (file
    removed) on failure.

    Args:
        path: str or Path. The file written (often a temporary name).
        fps: float. Frames per second.
        size: (width, height) of the frames, pixels.
        target: str, Path or None. The output `path` stands for (named in
            errors; e.g. the final name a temporary file is renamed to).
            Defaults to `path`.

    Raises:
        WriteError: the file cannot be written (a full disk), naming `target`.
        AuferaError: OpenCV cannot open a writer for `path` for another reason.

    Examples:

        with VideoWriter(tmp, 25.0, (320, 240), target=out) as video:
            for frame in frames:
                video.write(frame)  # (240, 320, 3) uint8 BGR
        os.replace(tmp, out)
    """

    def __init__(self, path, fps: float, size, target=None):
        self.path = Path(path)
        self.target = Path(target) if target is not None else self.path
        self.frames = 0
        width, height = (int(v) for v in size)
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height), True)
        if not self._writer.isOpened():
            self._writer.release()
            # On a full disk the writer fails as it writes the file header: ask the OS why.
            failure = as_write_error(OSError("OpenCV cannot open an mp4v video writer"), self.target, self.path)
            self.path.unlink(missing_ok=True)
            if failure is not None and failure.errno is not None:
                raise failure
            raise AuferaError(f"{self.target}: OpenCV cannot open an mp4v video writer here")

    def write(self, image: np.ndarray) -> None:
        """Appends one frame: uint8 (height, width, 3), BGR (OpenCV's order)."""
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finishes the file and checks it by decoding it again.

        Raises:
            WriteError: the file gives back fewer frames than were written
                (or none, or cannot be opened), naming `target`.
        """
        self._writer.release()
        try:
            with VideoReader(self.path) as video:
                decoded = video.skip()
        except VideoOpenError:
            decoded = None
        if decoded != self.frames:
            found = "it cannot be opened" if decoded is None else f"{decoded} of {self.frames} frames read back"
            incomplete = OSError(f"the video written is incomplete ({found})")
            raise as_write_error(incomplete, self.target, self.path)

    def abort(self) -> None:
        """Stops writing and removes the file."""
        self._writer.release()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            try:
                self.close()
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise
        else:
            self.abort()
