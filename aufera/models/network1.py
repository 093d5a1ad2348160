"""Network1: the multi-task, multi-label network of He et al. 2019 (Sec. 3.2)."""

from __future__ import annotations

import math

import keras

from aufera.au import NUM_AUS, NUM_VIEWS
from aufera.models.resnet_backbone import ResNetBackbone, set_trainable

DENSE_INITIALIZER = "glorot_uniform"


def check_head_args(fc1_units, fc2_units, dropout, prelu_alpha, num_aus) -> None:
    """Raises ValueError on bad head arguments (shared by Network1 and Network2)."""
    for value, what in ((fc1_units, "fc1_units"), (fc2_units, "fc2_units"), (num_aus, "num_aus")):
        if int(value) != value or value < 1:
            raise ValueError(f"`{what}` must be a positive integer. Received: {what}={value!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
    if not math.isfinite(float(prelu_alpha)):
        raise ValueError(f"`prelu_alpha` must be a finite number. Received: prelu_alpha={prelu_alpha!r}")


def apply_dense_prelu(x, units: int, prelu_alpha: float, name: str):
    """A fully connected layer followed by PReLU with slopes starting at `prelu_alpha`.

    The PReLU has one slope per unit (as Caffe's and Keras's PReLU by default,
    i.e. per channel of a fully connected layer). Layers are named
    `{name}` and `{name}_prelu`.
    """
    x = keras.layers.Dense(units, kernel_initializer=DENSE_INITIALIZER, name=name)(x)
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(prelu_alpha), name=f"{name}_prelu")(x)


def apply_pair_output(x, num_aus: int, name: str = "au"):
    """Two neurons per AU with a softmax over each pair: (N, num_aus, 2), index 0 = present.

    Layers: `{name}_logits` (Dense 2 * num_aus), `{name}_pairs` (Reshape) and
    `{name}` (Softmax over the last axis).
    """
    x = keras.layers.Dense(2 * num_aus, kernel_initializer=DENSE_INITIALIZER, name=f"{name}_logits")(x)
    x = keras.layers.Reshape((num_aus, 2), name=f"{name}_pairs")(x)
    return keras.layers.Softmax(axis=-1, name=name)(x)


HEAD_ARGS = ("fc1_units", "fc2_units", "dropout", "prelu_alpha", "num_aus")


def set_head_config(model, backbone, fc1_units, fc2_units, dropout, prelu_alpha, num_aus) -> None:
    """Stores the backbone and the head arguments on `model` under their constructor names (its config)."""
    model.backbone = backbone
    model.fc1_units, model.fc2_units, model.num_aus = int(fc1_units), int(fc2_units), int(num_aus)
    model.dropout, model.prelu_alpha = float(dropout), float(prelu_alpha)


def head_config(model, extra: tuple[str, ...] = ()) -> dict:
    """The `get_config` of a head model (Network1, Network2): its name, the serialized backbone, its arguments."""
    config = {"name": model.name, "trainable": model.trainable}
    config["backbone"] = keras.saving.serialize_keras_object(model.backbone)
    config.update({key: getattr(model, key) for key in (*HEAD_ARGS, *extra)})
    return config


def deserialize_backbone(backbone):
    """Returns `backbone` as a layer, deserializing it if it is a config dict."""
    if isinstance(backbone, dict):
        backbone = keras.saving.deserialize_keras_object(backbone)
    if not isinstance(backbone, keras.Model) or len(backbone.inputs) != 1:
        raise ValueError(f"`backbone` must be a single-input Keras model. Received: backbone={backbone!r}")
    return backbone


@keras.saving.register_keras_serializable(package="aufera")
class Network1(keras.Model):
    """Multi-task, multi-label network: residual network, then an AU branch and a view branch.

    Graph: images -> `backbone` -> flatten, then

    - AU branch: FC1 -> PReLU -> FC2 -> PReLU -> dropout -> Dense(2 * num_aus)
      -> reshape (num_aus, 2) -> softmax over each pair. Output `"au"`
      (N, num_aus, 2), index 0 = present, 1 = absent.
    - View branch: Dense(num_views) with softmax on the flattened features.
      Output `"view"` (N, num_views).

    PReLU slopes start at `prelu_alpha` (0.3 in the paper), one slope per
    unit. Dense layers use Glorot-uniform initialisation and zero biases.
    Train with `aufera.losses.network1_losses()` (eq. 3 with the pair loss of
    eq. 4 and softmax cross-entropy for the view).

    Args:
        backbone: `ResNetBackbone` (or any single-input Keras model returning
            a feature map), or its serialized config.
        fc1_units: int. Units of FC1. Defaults to 4096.
        fc2_units: int. Units of FC2. Defaults to 4096.
        dropout: float. Dropout rate after FC2 (the paper does not give it).
            Defaults to 0.5.
        prelu_alpha: float. Initial PReLU slope. Defaults to 0.3.
        num_aus: int. Number of AUs. Defaults to `aufera.au.NUM_AUS` (10).
        num_views: int. Number of views. Defaults to `aufera.au.NUM_VIEWS` (9).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Examples:

    ```python
    network1 = Network1.from_preset("cpu-small")
    outputs = network1(np.zeros((2, 132, 132, 1), "float32"))
    outputs["au"].shape, outputs["view"].shape  # (2, 10, 2), (2, 9)
    network1.compile(optimizer="adam", **aufera.losses.network1_losses())
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.2, eqs. (3)-(4), Fig. 3.
    """

    def __init__(
        self,
        backbone,
        fc1_units: int = 4096,
        fc2_units: int = 4096,
        dropout: float = 0.5,
        prelu_alpha: float = 0.3,
        num_aus: int = NUM_AUS,
        num_views: int = NUM_VIEWS,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", True)
        backbone = deserialize_backbone(backbone)
        check_head_args(fc1_units, fc2_units, dropout, prelu_alpha, num_aus)
        if int(num_views) != num_views or num_views < 1:
            raise ValueError(f"`num_views` must be a positive integer. Received: num_views={num_views!r}")

        # === Layers ===
        # Head layers are created where they are applied by the helpers above,
        # named "fc1", "fc1_prelu", "fc2", "fc2_prelu", "dropout",
        # "au_logits", "au_pairs", "au" and "view".

        # === Functional Model ===
        inputs = keras.Input(shape=backbone.inputs[0].shape[1:], name="images")
        features = keras.layers.Flatten(name="flatten")(backbone(inputs))
        x = apply_dense_prelu(features, int(fc1_units), float(prelu_alpha), name="fc1")
        x = apply_dense_prelu(x, int(fc2_units), float(prelu_alpha), name="fc2")
        x = keras.layers.Dropout(float(dropout), name="dropout")(x)
        au = apply_pair_output(x, int(num_aus), name="au")
        view = keras.layers.Dense(
            int(num_views), activation="softmax", kernel_initializer=DENSE_INITIALIZER, name="view"
        )(features)
        super().__init__(inputs=inputs, outputs={"au": au, "view": view}, **kwargs)
        # `trainable` is applied here rather than by the base constructor so
        # that a backbone frozen on its own stays frozen.
        if not trainable:
            set_trainable(self, False)

        # === Config ===
        set_head_config(self, backbone, fc1_units, fc2_units, dropout, prelu_alpha, num_aus)
        self.num_views = int(num_views)

    def get_config(self):
        return head_config(self, extra=("num_views",))

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> Network1:
        """Builds an untrained Network1 from a preset (see `aufera.models.presets`).

        Args:
            name: str. Preset name: "paper" or "cpu-small" (untrained); or a
                trained preset's handle (`aufera.pretrained.load_preset`: a
                preset folder, a run directory, "demo", a URL): its trained
                Network1 (no overrides then).
            **kwargs: overrides; names of `ResNetBackbone` arguments (e.g.
                `input_shape`) go to the backbone, the others to Network1.

        Examples:

        ```python
        network1 = Network1.from_preset("paper")
        tiny = Network1.from_preset("cpu-small", input_shape=(64, 64, 1), fc1_units=32)
        ```
        """
        from aufera.models.presets import get_preset, split_overrides
        from aufera.pretrained import trained_component

        trained = trained_component(cls, name, "he2019", kwargs)
        if trained is not None:
            return trained
        preset = get_preset(name)
        backbone_kwargs, head_kwargs = split_overrides(kwargs)
        backbone = ResNetBackbone(**{**preset["backbone"], **backbone_kwargs})
        return cls(backbone=backbone, **{**preset["network1"], **head_kwargs})
