"""Test clips of a real face: a photograph that ships in an installed package, swaying across a grey frame.

`aufera predict`'s examples, benchmark and tests need videos of a real face
(not the synthetic corpus's rendered ones) with known frames where the face
is gone. `write_photo_clip` writes one: the photograph moves left and right
(one sway every `period` seconds, plus a slower drift up and down) so that
tracking has work to do, and the frames in `absent` show the grey
background only.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from aufera.data.video import VideoWriter

BACKGROUND = 64


def write_photo_clip(
    path,
    frames: int,
    size: tuple[int, int] = (640, 480),
    fps: float = 30.0,
    face_side: int = 260,
    photo: str = "astronaut",
    absent: tuple[int, int] | None = None,
    period: float = 10.0,
) -> Path:
    """Writes an mp4v video of a face photograph swaying across a grey frame.

    Args:
        path: str or Path. The video to write.
        frames: int. Number of frames.
        size: (width, height) of the frames. Defaults to (640, 480).
        fps: float. Frame rate. Defaults to 30.
        face_side: int. Side of the square photograph in the frame, pixels.
        photo: str. A name in `aufera.synth.photos.PHOTOS` ("astronaut", "grace_hopper").
        absent: (start, stop) or None. Frames start..stop-1 show no face.
        period: float. Seconds per sway left and right.

    Returns:
        The path.

    Raises:
        WriteError: the video cannot be written (a full disk), naming it.
    """
    from aufera.synth.photos import PHOTOS

    width, height = (int(v) for v in size)
    if not 0 < face_side <= min(width, height):
        raise ValueError(f"`face_side` must fit in the {width}x{height} frame. Received: face_side={face_side}")
    found = [p for p in PHOTOS if p.name == photo]
    if not found:
        raise ValueError(f"Unknown photograph. Available: {[p.name for p in PHOTOS]}. Received: photo={photo!r}")
    image, _ = found[0].load()
    face = cv2.resize(np.round(image * 255).astype(np.uint8), (face_side, face_side), interpolation=cv2.INTER_AREA)
    face = cv2.cvtColor(face, cv2.COLOR_RGB2BGR)
    start, stop = absent if absent is not None else (0, 0)
    room_x, room_y = (width - face_side) / 2.0, (height - face_side) / 2.0
    with VideoWriter(path, fps, (width, height)) as writer:
        for i in range(int(frames)):
            canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
            if not start <= i < stop:
                t = i / float(fps)
                x = int(round(room_x * (1 + 0.9 * np.sin(2 * np.pi * t / period))))
                y = int(round(room_y * (1 + 0.5 * np.sin(2 * np.pi * t / (1.7 * period)))))
                canvas[y : y + face_side, x : x + face_side] = face
            writer.write(canvas)
    return Path(path)
