"""What augmentation a training batch gets (the settings; `aufera.data.pipeline` applies them).

Kept apart from the pipeline so that configs can hold it without importing
TensorFlow.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Light augmentation for training batches.

    Per image, in this order: a random contrast factor in
    [1 - max_contrast, 1 + max_contrast] applied around the image's own mean
    grey level, a random brightness change of up to `max_brightness` on the
    [0, 1] pixel scale (both clipped to [0, 1], before mean removal), and a
    random shift of up to `max_shift` pixels in each direction (the image is
    padded with zeros after mean removal, i.e. with the training mean, and
    cropped back to its size: a pad-and-crop). Contrast and brightness vary
    from subject to subject (skin tone, lighting); varying them in training
    keeps a network from telling subjects, and their habits, apart by them.
    All zero (and no flip) is no augmentation.

    No horizontal flips by default: the 9 views differ in yaw, and a mirrored
    image of a face turned to one side looks like the face turned to the other
    side, i.e. another view. With `flip=True` mirrored images get the mirrored
    view label (yaw index y -> 2 - y), which is only right if the camera rig
    is symmetric; AU labels are unchanged (FERA 2017 codes AU occurrence, not
    side).

    The defaults are those of the `cpu-small` training preset, measured on
    the synthetic corpus (docs/reproducing.md).

    Args:
        max_shift: int. Largest shift in pixels, each direction. Defaults to 6.
        max_brightness: float. Largest brightness change, [0, 1] scale.
            Defaults to 0.15.
        max_contrast: float. Largest relative contrast change, in [0, 1).
            Defaults to 0.4.
        flip: bool. Mirror half of the images (and their views). Defaults to False.
    """

    max_shift: int = 6
    max_brightness: float = 0.15
    max_contrast: float = 0.4
    flip: bool = False

    def __post_init__(self):
        if isinstance(self.max_shift, bool) or int(self.max_shift) != self.max_shift or self.max_shift < 0:
            raise ValueError(f"`max_shift` must be a non-negative integer. Received: max_shift={self.max_shift!r}")
        if not 0.0 <= float(self.max_brightness) <= 1.0:
            raise ValueError(f"`max_brightness` must be in [0, 1]. Received: max_brightness={self.max_brightness!r}")
        if not 0.0 <= float(self.max_contrast) < 1.0:
            raise ValueError(f"`max_contrast` must be in [0, 1). Received: max_contrast={self.max_contrast!r}")

    @property
    def active(self) -> bool:
        """Whether the augmentation changes anything."""
        return self.max_shift > 0 or self.max_brightness > 0 or self.max_contrast > 0 or self.flip
