"""A trained model as a ready AU detector: one Keras model with one output contract, and its input normalisation.

`au_detector` wraps one or several trained AU models (Network1, Network2,
DRML, or any model with an "au" output) into one functional Keras model
that takes normalised face crops, as the models do, and returns:

- `au_present`: (N, num_aus), the present-probability of each AU: a model's
  own for one model, the weighted mean of eq. (5) (`DecisionFusion`) for
  several;
- `au_decision`: (N, num_aus), 1.0 where the AU is present by eq. (5) (for
  one model: where its present neuron wins, or its sigmoid is above 0.5);
- `view`: (N, num_views), the view probabilities of the first model that has
  a view head (Network1), when one has.

`FaceNormalization` does in the graph what training's input pipeline
(`aufera.data.pipeline.make_transform`) does to a batch of uint8 crops
without augmentation: x / (1 / scale) - mean / (1 / scale), then the centre
crop when the model takes crops. `serving_model` puts the two together: uint8
crops in, the detector's outputs out (what `aufera predict` and the exports
run).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from aufera.models.decision_fusion import DecisionFusion, check_fusion_weights

OUTPUTS = ("au_present", "au_decision", "view")


@keras.saving.register_keras_serializable(package="aufera")
class SigmoidPairs(keras.layers.Layer):
    """One-probability AU outputs (N, num_aus) as 2-neuron outputs (N, num_aus, 2): [p, 1 - p].

    The Keras-layer form of `aufera.models.decision_fusion.sigmoid_pairs`, so
    that a sigmoid model (DRML) joins `DecisionFusion` like a pair model.
    """

    def call(self, present):
        return ops.stack([present, 1.0 - present], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 2)


@keras.saving.register_keras_serializable(package="aufera")
class FaceNormalization(keras.layers.Layer):
    """uint8 face crops (N, H, W, C) -> the normalised float32 input of a model trained by aufera.

    `x / (1 / scale) - mean / (1 / scale)`, as `aufera.data.pipeline.make_transform`
    computes it (division by 255 rather than multiplication by 1/255, so the
    values are those training saw, bit for bit), then the centre `crop_size`
    square when `crop_size` is given (the model takes crops of larger faces).

    Args:
        mean: array (H, W, C) or None. The training-split mean image, pixel
            values 0-255; None (with `image_shape`) makes a zero mean that
            loaded weights replace (the layer's config carries the shape only).
        scale: float. The preset's scale (1/255).
        crop_size: int or None. Side of the centre crop; None keeps the image whole.
        image_shape: tuple or None. (H, W, C) when `mean` is None.
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(self, mean=None, scale: float = 1.0 / 255.0, crop_size: int | None = None, image_shape=None, **kwargs):
        super().__init__(**kwargs)
        if mean is None:
            if image_shape is None:
                raise ValueError("Give `mean` or `image_shape`.")
            mean = np.zeros(tuple(int(d) for d in image_shape), np.float32)
        mean = np.asarray(mean, np.float32)
        if mean.ndim != 3:
            raise ValueError(f"`mean` must be an image (H, W, C). Received: shape={mean.shape}")
        if not float(scale) > 0.0:
            raise ValueError(f"`scale` must be positive. Received: scale={scale!r}")
        if crop_size is not None and not 1 <= int(crop_size) <= min(mean.shape[:2]):
            raise ValueError(f"`crop_size` must fit in the {mean.shape[0]}-px image. Received: crop_size={crop_size}")
        self.scale = float(scale)
        self.crop_size = None if crop_size is None else int(crop_size)
        self.image_shape = tuple(int(d) for d in mean.shape)
        self.mean = self.add_weight(
            name="mean", shape=mean.shape, initializer=keras.initializers.Constant(mean), trainable=False
        )

    def call(self, images):
        divisor = float(np.float32(1.0 / self.scale))
        x = ops.cast(images, "float32") / divisor - ops.cast(self.mean, "float32") / divisor
        if self.crop_size is not None:
            top = (self.image_shape[0] - self.crop_size) // 2
            left = (self.image_shape[1] - self.crop_size) // 2
            x = x[:, top : top + self.crop_size, left : left + self.crop_size, :]
        return x

    def compute_output_shape(self, input_shape):
        if self.crop_size is None:
            return tuple(input_shape)
        return (input_shape[0], self.crop_size, self.crop_size, input_shape[-1])

    def get_config(self):
        # The mean is a weight: the config carries its shape only, and loading restores its values.
        config = super().get_config()
        config.update({"scale": self.scale, "crop_size": self.crop_size, "image_shape": list(self.image_shape)})
        return config


def _au_pairs(outputs):
    au = outputs["au"]
    return SigmoidPairs(name=None)(au) if len(au.shape) == 2 else au


def check_models(models) -> tuple[list, tuple]:
    """`(models as a list, their common input shape)`; ValueError unless one or more Keras models of one input shape."""
    models = list(models) if isinstance(models, list | tuple) else [models]
    if not models or not all(isinstance(m, keras.Model) for m in models):
        raise ValueError(f"`models` must be a Keras model or a non-empty list of them. Received: {models!r}")
    shapes = {tuple(m.inputs[0].shape[1:]) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"All models must take the same input shape. Received: {sorted(shapes)}")
    return models, next(iter(shapes))


def _unshared(models: list) -> list:
    """The models, each holding its own weights: a model sharing weights with an earlier one (Network2 on
    Network1's backbone, as trained) is replaced by a copy with the same weights, so that the detector saves and
    loads whole (a saved functional model rebuilds each nested model with layers of its own)."""
    seen, out = set(), []
    for model in models:
        ids = {id(variable) for variable in model.weights}
        if ids & seen:
            copy = model.__class__.from_config(model.get_config())
            copy.build(model.inputs[0].shape)
            copy.set_weights(model.get_weights())
            copy.trainable = model.trainable
            model = copy
            ids = {id(variable) for variable in model.weights}
        seen |= ids
        out.append(model)
    return out


def au_detector(models, weights=None, name: str = "au_detector") -> keras.Model:
    """One functional model with `au_present`, `au_decision` (and `view`) from one or several trained AU models.

    Args:
        models: a Keras model with an "au" output, (N, num_aus, 2) pairs
            (Network1, Network2) or (N, num_aus) sigmoids (DRML), or a list
            of such models taking the same input shape. A model that shares
            layers with an earlier one (Network2 on Network1's backbone) is
            copied with its weights, so the detector saves and loads whole.
        weights: floats or None. Eq. (5)'s weights, one per model. Defaults
            to equal weights.
        name: str. The model's name.

    Returns:
        A `keras.Model` (normalised images -> dict of outputs, see the module docstring).

    Examples:

    ```python
    detector = au_detector([network1, network2], weights=[0.5, 0.5])
    out = detector(images)  # au_present (N, 10), au_decision (N, 10), view (N, 9)
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.3, eq. (5).
    """
    models, shape = check_models(models)
    weights = list(check_fusion_weights(weights, len(models)))
    models = _unshared(models)
    images = keras.Input(shape=shape, name="images")
    pairs, view = [], None
    for model in models:
        outputs = model(images)
        if not isinstance(outputs, dict) or "au" not in outputs:
            raise ValueError(f"Every model must return a dict with an 'au' output. Received model: {model.name}")
        pairs.append(_au_pairs(outputs))
        if view is None and "view" in outputs:
            view = outputs["view"]
    fused = DecisionFusion(weights=weights, name="decision_fusion")(pairs)
    result = {"au_present": fused["present"], "au_decision": fused["decision"]}
    if view is not None:
        result["view"] = view
    return keras.Model(images, result, name=name)


def serving_model(detector: keras.Model, mean, scale: float, crop_size: int | None = None) -> keras.Model:
    """uint8 face crops (N, H, W, C) -> `detector`'s outputs, the normalisation inside (`FaceNormalization`).

    Args:
        detector: a model from `au_detector`.
        mean: array (H, W, C). The training mean image, 0-255, of the crops' size.
        scale: float. The preset's scale.
        crop_size: int or None. The model's input side when it takes centre crops of `mean`'s size.
    """
    mean = np.asarray(mean, np.float32)
    crops = keras.Input(shape=mean.shape, dtype="uint8", name="crops")
    normalised = FaceNormalization(mean, scale, crop_size, name="face_normalization")(crops)
    return keras.Model(crops, detector(normalised), name=f"{detector.name}_uint8")
