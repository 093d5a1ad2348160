"""The spatial CNN of Chu, De la Torre and Cohn 2019 (Sec. 3.1, Fig. 2b): a modified AlexNet for multi-label AUs."""

from __future__ import annotations

import keras

from aufera.au import NUM_AUS
from aufera.models.drml import _int_list

CONV_INITIALIZER = "he_normal"
DENSE_INITIALIZER = "glorot_uniform"


@keras.saving.register_keras_serializable(package="aufera")
class ChuCNN(keras.Model):
    """The multi-label CNN of Chu et al. 2019: five convolutions, one pooling, fc6, fc7, one sigmoid per AU.

    Graph (paper preset, Fig. 2b): images (176, 176, 1) -> conv1 96@11x11
    stride 4 (42 x 42) -> ReLU -> pool1 max 2x2 stride 2 (21 x 21) -> conv2
    96@5x5 -> conv3 72@3x3 -> conv4 48@3x3 -> conv5 32@3x3 (each "same",
    ReLU; 21 x 21 x 32) -> flatten -> fc6 4096 -> ReLU -> dropout -> fc7 4096
    -> ReLU -> dropout -> fc8 Dense(num_aus) with a sigmoid.

    Outputs, a dict:
    - `"au"` (N, num_aus): the probability that each AU is present (fc8 and a
      sigmoid); train it with eq. (1), the multi-label cross-entropy over the
      known labels (`aufera.losses.MultiLabelSigmoidCrossentropy`);
    - `"fc7"` (N, fc_units[-1]): fc7 after its ReLU, L2-normalised: the
      spatial feature the paper hands to PCA and the LSTMs (no loss).

    What Fig. 2b leaves open, and aufera's reading (docs/cnn_lstm.md): the
    strides and padding follow AlexNet (conv1 stride 4 without padding,
    conv2-conv5 padded to keep their size); pool1 is the only pooling layer
    because the figure lists no other; dropout 0.5 after fc6 and fc7 as in
    AlexNet; the input is grayscale (aufera's crops), not RGB.

    Args:
        input_shape: 3 ints. (H, W, C). Defaults to (176, 176, 1).
        conv_filters: 5 ints. conv1-conv5 filters. Defaults to (96, 96, 72, 48, 32).
        conv_kernel_sizes: 5 ints. Defaults to (11, 5, 3, 3, 3).
        conv1_strides: int. Defaults to 4.
        pool_size: int. pool1's window and stride. Defaults to 2.
        fc_units: 2 ints. fc6, fc7. Defaults to (4096, 4096).
        dropout: float. After fc6 and fc7. Defaults to 0.5.
        num_aus: int. Defaults to `aufera.au.NUM_AUS` (10).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Examples:

    ```python
    cnn = ChuCNN.from_preset("paper")
    out = cnn(np.zeros((2, 176, 176, 1), "float32"))
    out["au"].shape, out["fc7"].shape  # (2, 10), (2, 4096)
    ```

    References:
        Chu, De la Torre, Cohn 2019, "Learning facial action units with
        spatiotemporal cues and multi-label sampling", Image and Vision
        Computing 81, Sec. 3.1, Fig. 2b, eq. (1).
    """

    def __init__(
        self,
        input_shape=(176, 176, 1),
        conv_filters=(96, 96, 72, 48, 32),
        conv_kernel_sizes=(11, 5, 3, 3, 3),
        conv1_strides: int = 4,
        pool_size: int = 2,
        fc_units=(4096, 4096),
        dropout: float = 0.5,
        num_aus: int = NUM_AUS,
        **kwargs,
    ):
        input_shape = _int_list(input_shape, "input_shape", 3)
        conv_filters = _int_list(conv_filters, "conv_filters", 5)
        conv_kernel_sizes = _int_list(conv_kernel_sizes, "conv_kernel_sizes", 5)
        conv1_strides, pool_size = _int_list([conv1_strides, pool_size], "conv1_strides/pool_size")
        fc_units = _int_list(fc_units, "fc_units", 2)
        num_aus = _int_list([num_aus], "num_aus")[0]
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        side = (min(input_shape[:2]) - conv_kernel_sizes[0]) // conv1_strides + 1
        if side < pool_size:
            raise ValueError(
                f"ChuCNN: conv1 ({conv_kernel_sizes[0]}x{conv_kernel_sizes[0]} stride {conv1_strides}) and pool1 "
                f"({pool_size}x{pool_size}) do not fit an input of shape {tuple(input_shape)}"
            )

        # === Functional Model ===
        inputs = keras.Input(shape=tuple(input_shape), name="images")
        x = keras.layers.Conv2D(
            conv_filters[0],
            conv_kernel_sizes[0],
            strides=conv1_strides,
            activation="relu",
            kernel_initializer=CONV_INITIALIZER,
            name="conv1",
        )(inputs)
        x = keras.layers.MaxPooling2D(pool_size, strides=pool_size, name="pool1")(x)
        for i in range(1, 5):
            x = keras.layers.Conv2D(
                conv_filters[i],
                conv_kernel_sizes[i],
                padding="same",
                activation="relu",
                kernel_initializer=CONV_INITIALIZER,
                name=f"conv{i + 1}",
            )(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(fc_units[0], activation="relu", kernel_initializer=DENSE_INITIALIZER, name="fc6")(x)
        x = keras.layers.Dropout(float(dropout), name="fc6_dropout")(x)
        fc7 = keras.layers.Dense(fc_units[1], activation="relu", kernel_initializer=DENSE_INITIALIZER, name="fc7")(x)
        x = keras.layers.Dropout(float(dropout), name="fc7_dropout")(fc7)
        au = keras.layers.Dense(num_aus, activation="sigmoid", kernel_initializer=DENSE_INITIALIZER, name="au")(x)
        features = keras.layers.UnitNormalization(axis=-1, name="fc7_l2")(fc7)
        super().__init__(inputs=inputs, outputs={"au": au, "fc7": features}, **kwargs)

        # === Config ===
        self.input_shape_ = input_shape
        self.conv_filters, self.conv_kernel_sizes = conv_filters, conv_kernel_sizes
        self.conv1_strides, self.pool_size = conv1_strides, pool_size
        self.fc_units = fc_units
        self.dropout = float(dropout)
        self.num_aus = num_aus

    @property
    def feature_size(self) -> int:
        """The length of the `"fc7"` output (fc7's units)."""
        return int(self.fc_units[-1])

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "input_shape": list(self.input_shape_)}
        for key in (
            "conv_filters",
            "conv_kernel_sizes",
            "conv1_strides",
            "pool_size",
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
    def from_preset(cls, name: str, **kwargs) -> ChuCNN:
        """Builds an untrained ChuCNN from a preset ("paper" or "cpu-small", `aufera.models.presets.CHU_PRESETS`).

        Args:
            name: str. The preset; or a trained preset's handle (`aufera.pretrained.load_preset`; presets hold
                per-frame He et al. and DRML models, so none holds a ChuCNN today).
            **kwargs: overrides of the constructor arguments.
        """
        from aufera.models.presets import get_preset
        from aufera.pretrained import trained_component

        trained = trained_component(cls, name, "chu2019", kwargs)
        if trained is not None:
            return trained
        return cls(**{**get_preset(name, family="chu2019")["cnn"], **kwargs})
