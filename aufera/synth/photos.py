"""Real face photographs that ship inside installed packages.

The synthetic corpus builds every identity from these photographs, so it needs
no download. Each entry names the package file, its licence and hand-placed
landmarks in the photograph's own pixel coordinates (x, y), image-left first.
The landmarks were placed once by looking at the photographs; the five
MTCNN-style points (eyes, nose tip, mouth corners) agree with the `mtcnn`
package's detections on these files to within 2 pixels.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from aufera.errors import AuferaError

# Landmark names, in the order of every landmark array in aufera.synth.
LANDMARKS: tuple[str, ...] = (
    "eye_l",
    "eye_r",
    "nose",
    "mouth_l",
    "mouth_r",
    "chin",
    "brow_l_inner",
    "brow_l_outer",
    "brow_r_inner",
    "brow_r_outer",
    "side_l",
    "side_r",
    "jaw_l",
    "jaw_r",
    "forehead",
)
# Landmarks that trade places when a photograph is mirrored.
_MIRROR_PAIRS = {
    "eye_l": "eye_r",
    "mouth_l": "mouth_r",
    "brow_l_inner": "brow_r_inner",
    "brow_l_outer": "brow_r_outer",
    "side_l": "side_r",
    "jaw_l": "jaw_r",
}
MIRROR_ORDER: tuple[int, ...] = tuple(
    LANDMARKS.index({**_MIRROR_PAIRS, **{v: k for k, v in _MIRROR_PAIRS.items()}}.get(name, name)) for name in LANDMARKS
)


@dataclass(frozen=True)
class Photo:
    """A face photograph shipped inside an installed package.

    Args:
        name: str. Short name used in identity parameters.
        package: str. The importable package that ships the file.
        relpath: str. Path of the file inside the package.
        shape: tuple. Expected (height, width) of the file; a different file is
            refused rather than used with wrong landmarks.
        licence: str. The photograph's licence, as stated in the docs.
        landmarks: tuple of (x, y). Hand-placed landmarks, in LANDMARKS order.
    """

    name: str
    package: str
    relpath: str
    shape: tuple[int, int]
    licence: str
    landmarks: tuple[tuple[float, float], ...]

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise AuferaError(f"the face photograph {self.name!r} needs the package {self.package!r}, not installed")
        return Path(list(spec.submodule_search_locations)[0]) / self.relpath

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the photograph as float32 RGB in [0, 1] and its landmarks (15, 2)."""
        path = self.path()
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise AuferaError(f"{path}: cannot read the face photograph {self.name!r}")
        if image.shape[:2] != self.shape:
            raise AuferaError(f"{path}: expected a {self.shape} photograph, found {image.shape[:2]}")
        rgb = image[:, :, ::-1].astype(np.float32) / 255.0
        return np.ascontiguousarray(rgb), np.asarray(self.landmarks, dtype=np.float64)


def _points(text: str) -> tuple[tuple[int, int], ...]:
    """Landmarks written as "x,y x,y ..." (compact: one photograph's 15 points on one line)."""
    return tuple((int(x), int(y)) for x, y in (pair.split(",") for pair in text.split()))


PHOTOS: tuple[Photo, ...] = (
    Photo(
        name="grace_hopper",
        package="matplotlib",
        relpath="mpl-data/sample_data/grace_hopper.jpg",
        shape=(600, 512),
        licence="public domain (U.S. Navy photograph of Rear Admiral Grace M. Hopper, 1984)",
        landmarks=_points(
            "220,190 308,186 268,237 232,277 304,273 270,336 243,172 185,176 292,170 352,168 163,192 373,188 190,282 347,278 266,128"
        ),
    ),
    Photo(
        name="astronaut",
        package="skimage",
        relpath="data/astronaut.png",
        shape=(512, 512),
        licence="public domain (NASA photograph of astronaut Eileen Collins)",
        landmarks=_points(
            "204,100 245,102 224,126 202,139 244,140 224,185 214,90 191,91 234,91 258,93 183,102 263,104 188,145 258,147 224,78"
        ),
    ),
)


def mirror(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirrors a photograph left-right, with its landmarks renamed to match."""
    flipped = np.ascontiguousarray(image[:, ::-1])
    points = landmarks[list(MIRROR_ORDER)].copy()
    points[:, 0] = image.shape[1] - 1 - points[:, 0]
    return flipped, points
