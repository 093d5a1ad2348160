"""DRML: deep region and multi-label learning (Zhao, Chu, Zhang 2016, Sec. 3.1, Fig. 2)."""

from __future__ import annotations

import keras

from aufera.au import NUM_AUS
from aufera.models.region_layer import RegionLayer, _pair

CONV_INITIALIZER = "he_normal"
DENSE_INITIALIZER = "glorot_uniform"


def _int_list(value, what: str, length: int | None = None) -> list[int]:
    try:
        values = [int(v) for v in value]
    except TypeError:
        raise ValueError(f"`{what}` must be a list of positive integers. Received: {what}={value!r}") from None
    if any(v < 1 for v in values) or any(int(v) != v for v in value) or (length is not None and len(values) != length):
        size = f"{length} " if length is not None else ""
        raise ValueError(f"`{what}` must be a list of {size}positive integers. Received: {what}={value!r}")
    return values


def check_region_grid(input_shape, conv1_kernel_size: int, conv1_strides: int, grid) -> tuple[int, int]:
    """The side lengths of conv1's map (where the region layer works), checked against the grid.

    conv1 has no padding: a side of n pixels gives (n - kernel) // stride + 1.

    Args:
        input_shape: 3 ints. (H, W, C) of the network's input.
        conv1_kernel_size: int.
        conv1_strides: int.
        grid: int or 2 ints. Cells of the region layer.

    Returns:
        (height, width) of conv1's map.

    Raises:
        ValueError: one line naming the map's shape and the grid, when the
            grid does not divide the map (or conv1 does not fit the input).
    """
    grid = _pair(grid, "grid")
    height, width = ((int(n) - int(conv1_kernel_size)) // int(conv1_strides) + 1 for n in input_shape[:2])
    if height < 1 or width < 1:
        raise ValueError(
            f"DRML: conv1 ({conv1_kernel_size}x{conv1_kernel_size}) does not fit an input of shape {tuple(input_shape)}"
        )
    if height % grid[0] or width % grid[1]:
        raise ValueError(
            f"DRML: the region layer's {height}x{width} map (conv1 {conv1_kernel_size}x{conv1_kernel_size} stride "
            f"{conv1_strides} on {input_shape[0]}x{input_shape[1]}) cannot be cut into a {grid[0]}x{grid[1]} grid "
            f"(the map's sides must be multiples of the grid)"
        )
    return height, width


@keras.saving.register_keras_serializable(package="aufera")
class DRML(keras.Model):
    """DRML: conv1, the region layer, max pooling, four convolutions, two FC layers, one sigmoid per AU.

    Graph (paper preset, Fig. 2): images (170, 170, 1) -> conv1 32@11x11
    (160 x 160) -> `RegionLayer` 8 x 8 -> ReLU -> max pooling 2x2 stride 2
    (80 x 80) -> batch normalisation (in place of the authors' local
    response normalisation, as public ports do) -> conv4 16@8x8 -> conv5
    16@8x8 -> conv6 16@6x6 stride 2 -> conv7 16@5x5, each with ReLU (27 x 27
    x 16) -> flatten -> fc8 4096 -> ReLU -> dropout -> fc9 2048 -> ReLU ->
    dropout -> Dense(num_aus) with a sigmoid. Output `"au"` (N, num_aus):
    the probability that each AU is present. Train with
    `aufera.losses.drml_losses()` (the multi-label sigmoid cross-entropy).

    With `region_layer=False` this is the paper's ConvNet baseline: the same
    network with the region layer left out (conv1 -> ReLU -> pooling).

    The paper's input is RGB; aufera's crops are grayscale (one channel).
    Convolutions start He-normal, dense layers Glorot-uniform; biases zero.

    Args:
        input_shape: 3 ints. (H, W, C). Defaults to (170, 170, 1).
        conv1_filters: int. Defaults to 32.
        conv1_kernel_size: int. Defaults to 11.
        conv1_strides: int. Defaults to 1.
        region_layer: bool. Whether the region layer is there (DRML) or not
            (ConvNet). Defaults to True.
        grid: 2 ints. Cells of the region layer. Defaults to (8, 8).
        region_kernel_size: int. Convolution of each cell. Defaults to 3.
        conv_filters: 4 ints. conv4-conv7 filters. Defaults to (16, 16, 16, 16).
        conv_kernel_sizes: 4 ints. Defaults to (8, 8, 6, 5).
        conv_strides: 4 ints. Defaults to (1, 1, 2, 1).
        fc_units: 2 ints. fc8, fc9. Defaults to (4096, 2048).
        dropout: float. After fc8 and fc9. Defaults to 0.5.
        num_aus: int. Defaults to `aufera.au.NUM_AUS` (10).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Raises:
        ValueError: on a bad argument, or when conv1's map cannot be cut into
            the grid (one line naming the shape and the grid).

    Examples:

    ```python
    drml = DRML.from_preset("paper")
    convnet = DRML.from_preset("paper", region_layer=False)
    drml(np.zeros((2, 170, 170, 1), "float32"))["au"].shape  # (2, 10)
    ```

    References:
        Zhao, Chu, Zhang 2016, "Deep Region and Multi-label Learning for
        Facial Action Unit Detection", CVPR, Sec. 3, Fig. 2, Table 4.
    """

    def __init__(
        self,
        input_shape=(170, 170, 1),
        conv1_filters: int = 32,
        conv1_kernel_size: int = 11,
        conv1_strides: int = 1,
        region_layer: bool = True,
        grid=(8, 8),
        region_kernel_size: int = 3,
        conv_filters=(16, 16, 16, 16),
        conv_kernel_sizes=(8, 8, 6, 5),
        conv_strides=(1, 1, 2, 1),
        fc_units=(4096, 2048),
        dropout: float = 0.5,
        num_aus: int = NUM_AUS,
        **kwargs,
    ):
        input_shape = _int_list(input_shape, "input_shape", 3)
        conv1 = _int_list([conv1_filters, conv1_kernel_size, conv1_strides], "conv1_filters/kernel_size/strides")
        conv_filters = _int_list(conv_filters, "conv_filters")
        conv_kernel_sizes = _int_list(conv_kernel_sizes, "conv_kernel_sizes", len(conv_filters))
        conv_strides = _int_list(conv_strides, "conv_strides", len(conv_filters))
        fc_units = _int_list(fc_units, "fc_units")
        grid = list(_pair(grid, "grid"))
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        num_aus = _int_list([num_aus], "num_aus")[0]
        if region_layer:
            check_region_grid(input_shape, conv1[1], conv1[2], grid)

        # === Functional Model ===
        inputs = keras.Input(shape=tuple(input_shape), name="images")
        x = keras.layers.Conv2D(
            conv1[0], conv1[1], strides=conv1[2], kernel_initializer=CONV_INITIALIZER, name="conv1"
        )(inputs)
        if region_layer:
            x = RegionLayer(grid=grid, kernel_size=region_kernel_size, name="region2")(x)
        x = keras.layers.ReLU(name="relu2")(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name="pool3")(x)
        x = keras.layers.BatchNormalization(name="pool3_bn")(x)
        for i, (filters, size, stride) in enumerate(zip(conv_filters, conv_kernel_sizes, conv_strides, strict=True)):
            x = keras.layers.Conv2D(
                filters,
                size,
                strides=stride,
                activation="relu",
                kernel_initializer=CONV_INITIALIZER,
                name=f"conv{4 + i}",
            )(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(fc_units):
            x = keras.layers.Dense(units, activation="relu", kernel_initializer=DENSE_INITIALIZER, name=f"fc{8 + i}")(x)
            x = keras.layers.Dropout(float(dropout), name=f"fc{8 + i}_dropout")(x)
        au = keras.layers.Dense(num_aus, activation="sigmoid", kernel_initializer=DENSE_INITIALIZER, name="au")(x)
        super().__init__(inputs=inputs, outputs={"au": au}, **kwargs)

        # === Config ===
        self.input_shape_ = input_shape
        self.conv1_filters, self.conv1_kernel_size, self.conv1_strides = conv1
        self.region_layer = bool(region_layer)
        self.grid = grid
        self.region_kernel_size = int(region_kernel_size)
        self.conv_filters, self.conv_kernel_sizes, self.conv_strides = conv_filters, conv_kernel_sizes, conv_strides
        self.fc_units = fc_units
        self.dropout = float(dropout)
        self.num_aus = num_aus

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "input_shape": list(self.input_shape_)}
        for key in (
            "conv1_filters",
            "conv1_kernel_size",
            "conv1_strides",
            "region_layer",
            "grid",
            "region_kernel_size",
            "conv_filters",
            "conv_kernel_sizes",
            "conv_strides",
            "fc_units",
            "dropout",
            "num_aus",
        ):
            config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> DRML:
        """Builds an untrained DRML (or, with `region_layer=False`, ConvNet) from a preset.

        Args:
            name: str. "paper" or "cpu-small" (`aufera.models.presets.DRML_PRESETS`), untrained; or a trained
                preset's handle (`aufera.pretrained.load_preset`): its trained DRML (no overrides then).
            **kwargs: overrides of the constructor arguments.

        Examples:

        ```python
        drml = DRML.from_preset("paper")
        convnet = DRML.from_preset("cpu-small", region_layer=False)
        ```
        """
        from aufera.models.presets import get_preset
        from aufera.pretrained import trained_component

        trained = trained_component(cls, name, "drml", kwargs)
        if trained is not None:
            return trained
        return cls(**{**get_preset(name, family="drml")["drml"], **kwargs})
