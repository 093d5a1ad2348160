"""The input contract of a model preset: what images it expects, and the check against a dataset.

Every model preset (`aufera.models.presets`) carries a `preprocessing` block:
`image_size` (side of the square face crop), `channels` (1, grayscale),
`scale` (uint8 pixels are multiplied by it), `mean` ("train": the
training-split mean image, on the same scale, is subtracted; He et al. 2019,
Sec. 4.2) and, for models that take crops of larger face images (DRML: 170 of
200), `dataset_size`: the side of the dataset's images, of which training
takes random `image_size` crops and evaluation the centre crop. Training, evaluation and prediction read it from here, check the
dataset against it before building anything, and hand `scale` to the input
pipeline.

Importing this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from aufera.errors import AuferaError

MEAN_MODES = ("train",)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """What a model expects at its input.

    Args:
        image_size: int. Side of the square face crop in pixels.
        channels: int. 1 (grayscale).
        scale: float. Factor from uint8 pixels to the model's scale (1/255: [0, 1]).
        mean: str. "train": subtract the training-split mean image.
        dataset_size: int or None. Side of the dataset's images when the model
            takes crops of them; None: the dataset's images are the model's
            input (`image_size`). Defaults to None.
    """

    image_size: int
    channels: int
    scale: float
    mean: str
    dataset_size: int | None = None

    def __post_init__(self):
        # A preset's preprocessing.json is read into this class: every field is checked here, so that a bad
        # value is this one ValueError (naming the field), not a failure later where the shapes are used.
        for name in ("image_size", "channels") + (() if self.dataset_size is None else ("dataset_size",)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"`{name}` must be a whole number >= 1. Received: {name}={value!r}")
        if self.mean not in MEAN_MODES:
            raise ValueError(f"`mean` must be one of {MEAN_MODES}. Received: mean={self.mean!r}")
        scale = self.scale
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not 0.0 < scale < math.inf:
            raise ValueError(f"`scale` must be a positive finite number. Received: scale={scale!r}")
        if self.dataset_size is not None and not int(self.dataset_size) >= int(self.image_size):
            raise ValueError(
                f"`dataset_size` must be at least `image_size` ({self.image_size}). "
                f"Received: dataset_size={self.dataset_size!r}"
            )

    @classmethod
    def of_preset(cls, name: str, family: str = "he2019") -> Preprocessing:
        """The `preprocessing` block of model preset `name` of a model family ("he2019" or "drml")."""
        from aufera.models.presets import get_preset

        return cls(**get_preset(name, family)["preprocessing"])

    @property
    def crop_size(self) -> int | None:
        """The side of the crops the model takes of the dataset's images, or None when it takes them whole."""
        if self.dataset_size is None or int(self.dataset_size) == int(self.image_size):
            return None
        return int(self.image_size)

    @property
    def dataset_shape(self) -> tuple[int, int, int]:
        """The image shape the dataset must have: (dataset_size or image_size, same, channels)."""
        side = int(self.image_size if self.dataset_size is None else self.dataset_size)
        return (side, side, int(self.channels))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(image_size, image_size, channels)."""
        return (int(self.image_size), int(self.image_size), int(self.channels))

    def check_dataset(self, image_shape, dataset, preset: str) -> None:
        """Refuses a dataset whose images are not of the shape the preset expects.

        Args:
            image_shape: tuple. The dataset's image shape (H, W, C).
            dataset: str or Path. The dataset folder, for the message.
            preset: str. The model preset's name, for the message.

        Raises:
            AuferaError: one line naming the dataset, its image shape, the
                preset and the shape it expects.
        """
        shape = tuple(int(d) for d in image_shape)
        if shape != self.dataset_shape:
            side, channels = self.dataset_shape[0], self.channels
            crops = f" (it takes {self.image_size}-px crops of them)" if self.crop_size else ""
            raise AuferaError(
                f"{dataset}: images of {shape[0]}x{shape[1]}x{shape[2]}, but model preset {preset!r} expects "
                f"{side}x{side}x{channels}{crops}; prepare the data with --image-size {side} or choose a preset "
                f"for {shape[0]}-px crops"
            )
