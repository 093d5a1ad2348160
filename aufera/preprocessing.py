"""The input contract of a model preset: what images it expects, and the check against a dataset.

Every model preset (`aufera.models.presets`) carries a `preprocessing` block:
`image_size` (side of the square face crop), `channels` (1, grayscale),
`scale` (uint8 pixels are multiplied by it) and `mean` ("train": the
training-split mean image, on the same scale, is subtracted; He et al. 2019,
Sec. 4.2). Training, evaluation and prediction read it from here, check the
dataset against it before building anything, and hand `scale` to the input
pipeline.

Importing this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import dataclasses

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
    """

    image_size: int
    channels: int
    scale: float
    mean: str

    def __post_init__(self):
        if self.mean not in MEAN_MODES:
            raise ValueError(f"`mean` must be one of {MEAN_MODES}. Received: mean={self.mean!r}")
        if not float(self.scale) > 0.0:
            raise ValueError(f"`scale` must be positive. Received: scale={self.scale!r}")

    @classmethod
    def of_preset(cls, name: str) -> Preprocessing:
        """The `preprocessing` block of model preset `name`."""
        from aufera.models.presets import get_preset

        return cls(**get_preset(name)["preprocessing"])

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
        if shape != self.image_shape:
            raise AuferaError(
                f"{dataset}: images of {shape[0]}x{shape[1]}x{shape[2]}, but model preset {preset!r} expects "
                f"{self.image_size}x{self.image_size}x{self.channels}; prepare the data with "
                f"--image-size {self.image_size} or choose a preset for {shape[0]}-px crops"
            )
