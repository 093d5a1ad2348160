"""`FaceConfig`: how faces are found in a video and cropped.

The settings of detection and tracking (`detect_every`, `min_iou`,
`tracking`, `min_confidence`) change the boxes and are part of the face cache
key (`FaceConfig.detection_dict`); the crop settings (`margin`, `image_size`)
and the window (`keyframes_per_call`) do not.
"""

from __future__ import annotations

import dataclasses

import numpy as np

TRACKING_METHODS = ("flow", "linear")


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
