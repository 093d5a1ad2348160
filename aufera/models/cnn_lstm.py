"""The CNN-LSTM hybrid of Chu, De la Torre and Cohn 2019 (Sec. 3.2-3.3): PCA, stacked LSTMs, fusion network.

The pieces, each a registered Keras object that saves in `.keras` files:

- `PCAProjection`: a layer holding a PCA's mean and components as
  non-trainable weights (`fit_pca` computes them in numpy);
- `ChuLSTM`: the temporal model, stacked LSTMs on per-frame features with
  outputs squeezed to [-1, 1] by tanh, trained with the max-margin loss;
- `ChuFusion`: the fusion network, two fully connected layers shared over
  time on the stacked, L2-normalised CNN and LSTM scores;
- `CNNLSTM`: the whole model, face crops (N, T, H, W, 1) -> per-frame AU
  probabilities, made of a trained `ChuCNN`, the projection, `ChuLSTM` and
  `ChuFusion`.

Frames missing from a sequence (no face found) are carried as a mask: their
features are zero, which the `Masking` layer at the input of `ChuLSTM`
turns into a Keras mask, so the LSTMs carry their state over the gap
instead of reading a made-up frame.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from aufera.au import NUM_AUS
from aufera.models.drml import _int_list

LSTM_INIT_RANGE = 0.08


def fit_pca(features, energy: float = 0.98, max_components: int | None = None, whiten: bool = False) -> dict:
    """Fits a PCA on (L2-normalised) features: the mean, the components and how many hold `energy`.

    The components are the right singular vectors of the centred features
    (numpy SVD), ordered by variance; their count is the smallest that holds
    `energy` of the total variance, at most `max_components`.

    Args:
        features: array (N, D). Training features only.
        energy: float in (0, 1]. Share of the variance to keep (the paper:
            0.98). Defaults to 0.98.
        max_components: int or None. At most this many components (the
            paper: 1024). Defaults to None (as many as `energy` needs).
        whiten: bool. Divide each component by the standard deviation of
            the training features along it, so that every projected value
            has unit variance on the training frames. Defaults to False.

    Returns:
        A dict: `mean` (D,), `components` (D, K) float32 (whitened with
        `whiten`), `num_components` K, `energy` (the share of variance the K
        components hold) and `explained` (the share of each of the first
        min(N, D) components).

    Raises:
        ValueError: one line naming the value, on an empty or non-2-D input,
            `energy` outside (0, 1], or `max_components` larger than the
            number of samples or features.
    """
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"PCA needs a 2-D array of at least 2 samples. Received: shape={x.shape}")
    if not 0.0 < float(energy) <= 1.0:
        raise ValueError(f"`energy` must be in (0, 1]. Received: energy={energy!r}")
    n, d = x.shape
    if max_components is not None:
        if int(max_components) < 1 or int(max_components) > min(n, d):
            raise ValueError(
                f"max_components={max_components}: a PCA of {n} samples of {d} features has at most {min(n, d)} "
                "components"
            )
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    variance = singular**2
    total = float(variance.sum())
    explained = variance / total if total > 0 else np.zeros_like(variance)
    cumulative = np.cumsum(explained)
    k = int(np.searchsorted(cumulative, float(energy) - 1e-12) + 1)
    k = min(k, len(explained))
    if max_components is not None:
        k = min(k, int(max_components))
    components = vt[:k].T
    if whiten:
        scale = singular[:k] / np.sqrt(n - 1)
        components = components / np.where(scale > 0, scale, 1.0)
    return {
        "mean": mean.astype(np.float32),
        "components": components.astype(np.float32),
        "num_components": k,
        "energy": float(cumulative[k - 1]) if total > 0 else 0.0,
        "explained": explained.astype(np.float32),
    }


@keras.saving.register_keras_serializable(package="aufera")
class PCAProjection(keras.layers.Layer):
    """Projects features onto PCA components: (x - mean) @ components, on the last axis.

    The mean (input_dim,) and the components (input_dim, num_components)
    are non-trainable weights: set them with `set_pca` (from `fit_pca`), and
    they are saved and loaded with the model.

    Args:
        input_dim: int. Length of the input features.
        num_components: int. Length of the output.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:

    ```python
    pca = fit_pca(train_features, energy=0.98)
    layer = PCAProjection(train_features.shape[1], pca["num_components"])
    layer.set_pca(pca["mean"], pca["components"])
    projected = layer(features)
    ```
    """

    def __init__(self, input_dim: int, num_components: int, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.num_components = _int_list([input_dim, num_components], "input_dim/num_components")
        if self.num_components > self.input_dim:
            raise ValueError(
                f"num_components={self.num_components}: a projection of {self.input_dim} features has at most "
                f"{self.input_dim} components"
            )
        self.mean = self.add_weight(shape=(self.input_dim,), initializer="zeros", trainable=False, name="mean")
        self.components = self.add_weight(
            shape=(self.input_dim, self.num_components), initializer="zeros", trainable=False, name="components"
        )

    def set_pca(self, mean, components) -> None:
        """Sets the mean (input_dim,) and the components (input_dim, num_components)."""
        mean, components = np.asarray(mean, np.float32), np.asarray(components, np.float32)
        if mean.shape != (self.input_dim,) or components.shape != (self.input_dim, self.num_components):
            raise ValueError(
                f"PCAProjection({self.input_dim}, {self.num_components}) takes a mean of shape ({self.input_dim},) "
                f"and components of shape ({self.input_dim}, {self.num_components}). Received: {mean.shape}, "
                f"{components.shape}"
            )
        self.mean.assign(mean)
        self.components.assign(components)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        return ops.matmul(x - ops.cast(self.mean, x.dtype), ops.cast(self.components, x.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_components)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "num_components": self.num_components}


@keras.saving.register_keras_serializable(package="aufera")
class EndMask(keras.layers.Layer):
    """Passes its input through and ends the Keras mask there.

    `ChuLSTM` masks gap frames inside the LSTMs only: its output is a plain
    (N, T, A) tensor, so the loss and the metrics skip gap frames by their
    label (0, unknown), not by a mask Keras would turn into sample weights.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        # A new tensor: returning `inputs` itself would return the mask it carries.
        return ops.copy(inputs)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="aufera")
class ChuLSTM(keras.Model):
    """The temporal model: stacked LSTMs on per-frame features, one output per AU squeezed to [-1, 1].

    Graph: features (N, T, D) -> `Masking` (an all-zero frame is a missing
    frame) -> LSTM x len(units), each returning the whole sequence, with
    dropout on its inputs and on its recurrent state -> `EndMask` ->
    Dense(num_aus) with tanh per frame. Output `"au"` (N, T, num_aus) in [-1, 1] (> 0: present);
    train it with `aufera.losses.MaxMarginLoss` (k = 0.5). The LSTM and
    output weights start uniform in [-0.08, 0.08] (the paper); biases zero
    (the LSTM's forget-gate bias one, Keras's default).

    Args:
        feature_dim: int. D, the length of the per-frame features (the PCA's
            components). Defaults to 1024.
        units: list of int. Cells per LSTM layer (the paper: 3 x 256).
            Defaults to (256, 256, 256).
        dropout: float. On the inputs and on the recurrent state of every
            LSTM (the paper: 0.5). Defaults to 0.5.
        num_aus: int. Defaults to 10.
        **kwargs: passed to `keras.Model`.
    """

    def __init__(self, feature_dim: int = 1024, units=(256, 256, 256), dropout: float = 0.5, num_aus=NUM_AUS, **kwargs):
        feature_dim = _int_list([feature_dim], "feature_dim")[0]
        units = _int_list(units, "units")
        num_aus = _int_list([num_aus], "num_aus")[0]
        if not units:
            raise ValueError("`units` must name at least one LSTM layer. Received: units=[]")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")

        def uniform():
            return keras.initializers.RandomUniform(-LSTM_INIT_RANGE, LSTM_INIT_RANGE)

        inputs = keras.Input(shape=(None, feature_dim), name="features")
        x = keras.layers.Masking(mask_value=0.0, name="gaps")(inputs)
        for i, n in enumerate(units):
            x = keras.layers.LSTM(
                n,
                return_sequences=True,
                dropout=float(dropout),
                recurrent_dropout=float(dropout),
                kernel_initializer=uniform(),
                recurrent_initializer=uniform(),
                name=f"lstm{i + 1}",
            )(x)
        x = EndMask(name="end_mask")(x)
        au = keras.layers.Dense(num_aus, activation="tanh", kernel_initializer=uniform(), name="au")(x)
        super().__init__(inputs=inputs, outputs={"au": au}, **kwargs)
        self.feature_dim, self.units, self.dropout, self.num_aus = feature_dim, units, float(dropout), num_aus

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "feature_dim": self.feature_dim,
            "units": self.units,
            "dropout": self.dropout,
            "num_aus": self.num_aus,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="aufera")
class ChuFusion(keras.Model):
    """The fusion network: two fully connected layers, shared over time, on the stacked CNN and LSTM scores.

    Graph (per frame): the CNN's probabilities p (N, T, A) are mapped to
    2p - 1 (the LSTM's [-1, 1] scale), each score vector is L2-normalised,
    the two are concatenated (N, T, 2A) -> Dense(hidden_units, ReLU) ->
    Dense(num_aus, sigmoid). Output `"au"` (N, T, num_aus), the probability
    that each AU is present; trained with eq. (1), the multi-label
    cross-entropy over the known labels.

    Args:
        hidden_units: int. The first layer's units (not in the paper).
            Defaults to 64.
        num_aus: int. Defaults to 10.
        **kwargs: passed to `keras.Model`.
    """

    def __init__(self, hidden_units: int = 64, num_aus: int = NUM_AUS, **kwargs):
        hidden_units, num_aus = _int_list([hidden_units, num_aus], "hidden_units/num_aus")
        cnn = keras.Input(shape=(None, num_aus), name="cnn")
        lstm = keras.Input(shape=(None, num_aus), name="lstm")
        c = keras.layers.Rescaling(2.0, offset=-1.0, name="cnn_signed")(cnn)
        c = keras.layers.UnitNormalization(axis=-1, name="cnn_l2")(c)
        s = keras.layers.UnitNormalization(axis=-1, name="lstm_l2")(lstm)
        x = keras.layers.Concatenate(axis=-1, name="stacked")([c, s])
        x = keras.layers.Dense(hidden_units, activation="relu", name="fc1")(x)
        au = keras.layers.Dense(num_aus, activation="sigmoid", name="au")(x)
        super().__init__(inputs={"cnn": cnn, "lstm": lstm}, outputs={"au": au}, **kwargs)
        self.hidden_units, self.num_aus = hidden_units, num_aus

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "hidden_units": self.hidden_units,
            "num_aus": self.num_aus,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="aufera")
class CNNLSTM(keras.Model):
    """The whole CNN-LSTM hybrid on sequences of face crops: (N, T, H, W, C) -> per-frame AU scores.

    Every frame goes through the spatial CNN (`ChuCNN`): its AU
    probabilities and its L2-normalised fc7, which `PCAProjection` projects;
    the projected sequence goes through `ChuLSTM`; `ChuFusion` merges the
    CNN's and the LSTM's scores per frame. Images are the preprocessed crops
    the CNN takes (the preset's `preprocessing`: scaled, training mean
    removed, centre crop).

    Calling it returns a dict of (N, T, num_aus) arrays: `"au"` (the fusion
    network's probabilities, the model's answer), `"cnn"` (the CNN's
    probabilities) and `"lstm"` (the LSTM's scores in [-1, 1]).

    Args:
        cnn: ChuCNN. The trained spatial CNN.
        projection: PCAProjection. Fitted on the CNN's training features.
        temporal: ChuLSTM.
        fusion: ChuFusion.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        images: (N, T, H, W, C) float tensor.
        present: optional (N, T) bool: False marks a missing frame (its
            image is ignored; the LSTMs carry their state over it). Defaults
            to None (every frame present).
    """

    def __init__(self, cnn, projection, temporal, fusion, **kwargs):
        super().__init__(**kwargs)
        self.cnn, self.projection, self.temporal, self.fusion = cnn, projection, temporal, fusion
        self.image_shape = tuple(int(d) for d in cnn.input_shape[1:])
        if projection.input_dim != cnn.feature_size or projection.num_components != temporal.feature_dim:
            raise ValueError(
                f"CNNLSTM: the CNN's fc7 ({cnn.feature_size}) -> PCA ({projection.input_dim} -> "
                f"{projection.num_components}) -> LSTM ({temporal.feature_dim}) do not fit together"
            )
        if not projection.built:
            projection.build((None, projection.input_dim))
        self.built = True  # every piece is built: the model holds all its weights

    def call(self, images, present=None, training=False):
        shape = ops.shape(images)
        n, t = shape[0], shape[1]
        flat = ops.reshape(images, (-1, *self.image_shape))
        out = self.cnn(flat, training=training)
        features = self.projection(out["fc7"])
        features = ops.reshape(features, (n, t, self.projection.num_components))
        cnn_scores = ops.reshape(out["au"], (n, t, self.cnn.num_aus))
        if present is not None:
            keep = ops.cast(ops.expand_dims(ops.cast(present, "bool"), -1), features.dtype)
            # A real frame's projected feature is never exactly zero: zero marks a gap for the Masking layer.
            features = features * keep
        lstm_scores = self.temporal(features, training=training)["au"]
        fused = self.fusion({"cnn": cnn_scores, "lstm": lstm_scores}, training=training)["au"]
        return {"au": fused, "cnn": cnn_scores, "lstm": lstm_scores}

    def get_config(self):
        config = super().get_config()
        for key in ("cnn", "projection", "temporal", "fusion"):
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("cnn", "projection", "temporal", "fusion"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
