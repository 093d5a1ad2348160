"""The residual network shared by Network1 and Network2 (He et al. 2019, Sec. 3.1)."""

from __future__ import annotations

import keras

# He (Kaiming) normal initialisation suits convolutions followed by ReLU; the
# paper does not name an initialiser, so we use the one of the ResNet paper.
CONV_INITIALIZER = "he_normal"
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def apply_residual_block(x, filters: int, name: str):
    """Applies one residual block, x_{l+1} = relu(x_l + F(x_l)) (eq. 1, Fig. 4).

    F is two 3x3 convolutions with batch normalisation, the first followed by
    ReLU (the original post-activation ResNet block). The shortcut is the
    identity; only where the number of channels changes is it a 1x1
    convolution with batch normalisation (a projection). Spatial size never
    changes inside a block: down-sampling is done by average pooling between
    groups.

    Args:
        x: tensor. Input feature map (N, H, W, C).
        filters: int. Number of output channels.
        name: str. Prefix of every layer name of the block.

    Returns:
        The output feature map (N, H, W, filters).
    """
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, use_bias=False, kernel_initializer=CONV_INITIALIZER, name=f"{name}_proj_conv"
        )(x)
        shortcut = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_proj_bn")(
            shortcut
        )
    y = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER, name=f"{name}_conv1"
    )(x)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_initializer=CONV_INITIALIZER, name=f"{name}_conv2"
    )(y)
    y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def apply_residual_group(x, filters: int, num_blocks: int, name: str):
    """Applies `num_blocks` residual blocks of width `filters`, named `{name}_block{i}`."""
    for i in range(num_blocks):
        x = apply_residual_block(x, filters, name=f"{name}_block{i + 1}")
    return x


def set_trainable(layer, trainable: bool) -> None:
    """Sets `trainable` on `layer`, on every layer nested in it and on their variables.

    The TensorFlow backend skips an attribute assignment that does not change
    the value (`self.x = self.x`), so `layer.trainable = False` on a layer that
    is already marked non-trainable (e.g. one built with `trainable=False`
    from a saved config) would not reach its nested layers and variables,
    which would then still train. Assigning the opposite value first makes
    the setter run all the way down.
    """
    layer.trainable = not trainable
    layer.trainable = bool(trainable)


def _as_int_tuple(value, what: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
    except TypeError as error:
        raise ValueError(f"`{what}` must be a sequence of integers. Received: {what}={value!r}") from error
    if any(v < 1 for v in out) or any(int(v) != v for v in value):
        raise ValueError(f"`{what}` must hold positive integers. Received: {what}={value!r}")
    return out


@keras.saving.register_keras_serializable(package="aufera")
class ResNetBackbone(keras.Model):
    """Residual network of He et al. 2019: stem, 4 groups of residual blocks, average pooling.

    The network maps a normalised grayscale face (N, H, W, 1) to a feature map
    (N, h, w, C). Layout:

    1. Stem: a `stem_kernel_size` convolution with `stem_filters` filters and
       stride `stem_strides`, batch normalisation and ReLU, then (if
       `stem_pooling`) a `pool_size` average pooling with the same stride.
    2. Group g (g = 1 ... len(stackwise_num_filters)): `stackwise_num_blocks[g]`
       residual blocks of width `stackwise_num_filters[g]` (see
       `apply_residual_block`), then (if `stackwise_pooling[g]`) average pooling.

    All pooling is average pooling with stride equal to its size and "valid"
    padding (132 -> 66 -> 33 -> 16 -> 8 for the paper preset). Convolutions
    have no bias (each is followed by batch normalisation) and He-normal
    initialisation. The output is the last feature map, not pooled to a
    vector: Network1 and Network2 flatten it, as in the paper.

    Args:
        input_shape: tuple of 3 ints. Image shape (height, width, channels).
            Defaults to (132, 132, 1), the paper's input.
        stackwise_num_filters: list of ints. Width of each group. Defaults to
            (32, 64, 128, 256).
        stackwise_num_blocks: list of ints. Residual blocks per group, same
            length as `stackwise_num_filters`. Defaults to (4, 4, 4, 4).
        stackwise_pooling: list of bools. Whether an average pooling follows
            each group. Defaults to (True, True, True, False).
        stem_filters: int. Filters of the stem convolution. Defaults to 32.
        stem_kernel_size: int. Kernel size of the stem convolution. Defaults
            to 3.
        stem_strides: int. Stride of the stem convolution. Defaults to 1.
        stem_pooling: bool. Whether an average pooling follows the stem.
            Defaults to True.
        pool_size: int. Size (and stride) of every average pooling. Defaults
            to 2.
        **kwargs: passed to `keras.Model` (e.g. `name`, `trainable`).

    Examples:

    ```python
    backbone = ResNetBackbone(input_shape=(64, 64, 1), stackwise_num_filters=(8, 16), stackwise_num_blocks=(1, 1),
                              stackwise_pooling=(True, False), stem_filters=8)
    features = backbone(np.zeros((2, 64, 64, 1), "float32"))  # (2, 16, 16, 16)
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.1, eq. (1) and Fig. 4.
        He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition".
    """

    def __init__(
        self,
        input_shape=(132, 132, 1),
        stackwise_num_filters=(32, 64, 128, 256),
        stackwise_num_blocks=(4, 4, 4, 4),
        stackwise_pooling=(True, True, True, False),
        stem_filters: int = 32,
        stem_kernel_size: int = 3,
        stem_strides: int = 1,
        stem_pooling: bool = True,
        pool_size: int = 2,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", True)
        input_shape = _as_int_tuple(input_shape, "input_shape")
        if len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be (height, width, channels). Received: input_shape={input_shape}")
        stackwise_num_filters = _as_int_tuple(stackwise_num_filters, "stackwise_num_filters")
        stackwise_num_blocks = _as_int_tuple(stackwise_num_blocks, "stackwise_num_blocks")
        stackwise_pooling = tuple(bool(p) for p in stackwise_pooling)
        if not (len(stackwise_num_filters) == len(stackwise_num_blocks) == len(stackwise_pooling) >= 1):
            raise ValueError(
                "`stackwise_num_filters`, `stackwise_num_blocks` and `stackwise_pooling` must be non-empty and of "
                f"the same length. Received: stackwise_num_filters={stackwise_num_filters}, "
                f"stackwise_num_blocks={stackwise_num_blocks}, stackwise_pooling={stackwise_pooling}"
            )
        for value, what in ((stem_filters, "stem_filters"), (stem_kernel_size, "stem_kernel_size"),
                            (stem_strides, "stem_strides"), (pool_size, "pool_size")):  # fmt: skip
            if int(value) != value or value < 1:
                raise ValueError(f"`{what}` must be a positive integer. Received: {what}={value!r}")
        side = min(input_shape[:2])
        side = -(-side // stem_strides)
        num_pools = int(stem_pooling) + sum(stackwise_pooling)
        if side // pool_size**num_pools < 1:
            raise ValueError(
                f"The input is too small for {num_pools} poolings of size {pool_size}. Received: "
                f"input_shape={input_shape}, stem_strides={stem_strides}"
            )

        # === Layers ===
        # Layers are created where they are applied, with names prefixed by
        # their stage ("stem_", "group2_block3_", ...).

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = keras.layers.Conv2D(
            stem_filters,
            stem_kernel_size,
            strides=stem_strides,
            padding="same",
            use_bias=False,
            kernel_initializer=CONV_INITIALIZER,
            name="stem_conv",
        )(inputs)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
        if stem_pooling:
            x = keras.layers.AveragePooling2D(pool_size, name="stem_pool")(x)
        for g, (filters, blocks, pool) in enumerate(
            zip(stackwise_num_filters, stackwise_num_blocks, stackwise_pooling, strict=True)
        ):
            x = apply_residual_group(x, filters, blocks, name=f"group{g + 1}")
            if pool:
                x = keras.layers.AveragePooling2D(pool_size, name=f"group{g + 1}_pool")(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)
        set_trainable(self, trainable)

        # === Config ===
        self.image_shape = input_shape
        self.stackwise_num_filters = stackwise_num_filters
        self.stackwise_num_blocks = stackwise_num_blocks
        self.stackwise_pooling = stackwise_pooling
        self.stem_filters = int(stem_filters)
        self.stem_kernel_size = int(stem_kernel_size)
        self.stem_strides = int(stem_strides)
        self.stem_pooling = bool(stem_pooling)
        self.pool_size = int(pool_size)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": list(self.image_shape),
            "stackwise_num_filters": list(self.stackwise_num_filters),
            "stackwise_num_blocks": list(self.stackwise_num_blocks),
            "stackwise_pooling": list(self.stackwise_pooling),
            "stem_filters": self.stem_filters,
            "stem_kernel_size": self.stem_kernel_size,
            "stem_strides": self.stem_strides,
            "stem_pooling": self.stem_pooling,
            "pool_size": self.pool_size,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> ResNetBackbone:
        """Builds the residual network of a preset (see `aufera.models.presets`).

        Args:
            name: str. Preset name, e.g. "paper" or "cpu-small".
            **kwargs: constructor arguments that override the preset's.
        """
        from aufera.models.presets import get_preset

        config = dict(get_preset(name)["backbone"])
        config.update(kwargs)
        return cls(**config)
