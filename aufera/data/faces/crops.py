"""Box geometry and square grayscale face crops.

He et al. (2019, Sec. 4.2) resize the face crop to 132x132 and turn it
grayscale. `crop_face` takes a square of side max(w, h) * (1 + 2 * margin)
centred on the box (`crop_box`), pads it where it leaves the frame by
repeating the edge pixels, turns it grayscale (`cv2.COLOR_RGB2GRAY`: 0.299 R
+ 0.587 G + 0.114 B) and resizes it to `image_size` (132 for He et al., 170
for DRML, 200 for the CNN-LSTM). `box_iou` compares two boxes (the tracker's
keyframe test, the benchmarks' agreement).

References:
    He, Li, Bo, Yu 2019, "Facial Action Unit Detection with Multilayer Fused
    Multi-Task and Multi-Label Deep Learning Network", Sec. 4.2 and Fig. 6.
"""

from __future__ import annotations

import cv2
import numpy as np

BORDERS = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Returns `image` as an array if it is uint8 RGB (H, W, 3), else raises ValueError naming it `name`."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(
            f"{name} must be an RGB uint8 array (H, W, 3). Received: shape={image.shape}, dtype={image.dtype}"
        )
    return image


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
    image = check_image(image_rgb, "image_rgb")
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
