"""Network2: the multilayer fused network of He et al. 2019 (Sec. 3.3)."""

from __future__ import annotations

import keras

from aufera.au import NUM_AUS
from aufera.models.network1 import (
    apply_dense_prelu,
    apply_pair_output,
    check_head_args,
    deserialize_backbone,
    head_config,
    set_head_config,
)
from aufera.models.resnet_backbone import set_trainable


@keras.saving.register_keras_serializable(package="aufera")
class Network2(keras.Model):
    """Multilayer fused AU network on the frozen residual network of Network1.

    Graph: images -> `backbone` (frozen) -> flatten = F, then FC1 -> PReLU =
    H1, FC2 -> PReLU = H2, concatenate [F, H1, H2] -> dropout ->
    Dense(2 * num_aus) -> reshape (num_aus, 2) -> softmax over each pair.
    Output `"au"` (N, num_aus, 2), index 0 = present, 1 = absent. There is no
    view branch: views come from Network1 alone.

    The constructor sets `backbone.trainable = False`, so only the new layers
    (FC1, FC2, their PReLUs and the output layer) train, and the backbone's
    batch normalisation runs in inference mode. The backbone object is used
    as given, not copied: pass `network1.backbone` and Network2 reads the
    trained weights of Network1 without holding a second copy, as in the
    paper. Because the object is shared, Network1's backbone is frozen from
    then on as well; build Network2 after Network1 has been trained (set
    `network1.backbone.trainable = True` to fine-tune Network1 again). A
    Network2 loaded from a `.keras` file has its own backbone, still frozen.

    The paper does not say where Network2's dropout sits; we apply it to the
    concatenated vector, i.e. to all three inputs of the output layer.

    Args:
        backbone: the trained `ResNetBackbone` of Network1 (`network1.backbone`),
            or its serialized config.
        fc1_units: int. Units of Network2's FC1. Defaults to 4096.
        fc2_units: int. Units of Network2's FC2. Defaults to 4096.
        dropout: float. Dropout rate on the concatenated vector. Defaults to 0.5.
        prelu_alpha: float. Initial PReLU slope. Defaults to 0.3.
        num_aus: int. Number of AUs. Defaults to `aufera.au.NUM_AUS` (10).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Examples:

    ```python
    network1 = Network1.from_preset("cpu-small")
    # ... train network1 ...
    network2 = Network2.from_preset("cpu-small", backbone=network1.backbone)
    network2.compile(optimizer="adam", **aufera.losses.network2_losses())
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.3, Fig. 3.
    """

    def __init__(
        self,
        backbone,
        fc1_units: int = 4096,
        fc2_units: int = 4096,
        dropout: float = 0.5,
        prelu_alpha: float = 0.3,
        num_aus: int = NUM_AUS,
        **kwargs,
    ):
        trainable = kwargs.pop("trainable", True)
        backbone = deserialize_backbone(backbone)
        check_head_args(fc1_units, fc2_units, dropout, prelu_alpha, num_aus)

        # === Layers ===
        # Head layers are created where they are applied, named "fc1",
        # "fc1_prelu", "fc2", "fc2_prelu", "fused", "dropout", "au_logits",
        # "au_pairs" and "au".

        # === Functional Model ===
        inputs = keras.Input(shape=backbone.inputs[0].shape[1:], name="images")
        features = keras.layers.Flatten(name="flatten")(backbone(inputs))
        h1 = apply_dense_prelu(features, int(fc1_units), float(prelu_alpha), name="fc1")
        h2 = apply_dense_prelu(h1, int(fc2_units), float(prelu_alpha), name="fc2")
        fused = keras.layers.Concatenate(name="fused")([features, h1, h2])
        x = keras.layers.Dropout(float(dropout), name="dropout")(fused)
        au = apply_pair_output(x, int(num_aus), name="au")
        super().__init__(inputs=inputs, outputs={"au": au}, **kwargs)
        # `trainable` is applied here rather than by the base constructor,
        # which would set it on every nested layer, the backbone included.
        if not trainable:
            set_trainable(self, False)
        set_trainable(backbone, False)

        # === Config ===
        set_head_config(self, backbone, fc1_units, fc2_units, dropout, prelu_alpha, num_aus)

    def get_config(self):
        return head_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, name: str, backbone=None, **kwargs) -> Network2:
        """Builds an untrained Network2 head from a preset on a trained backbone.

        Args:
            name: str. Preset name: "paper" or "cpu-small"; or a trained
                preset's handle (`aufera.pretrained.load_preset`): its
                trained Network2, with its own frozen backbone (no other argument).
            backbone: the trained backbone of Network1 (`network1.backbone`).
                Required: a Network2 on an untrained, frozen backbone would
                never learn useful features.
            **kwargs: overrides of Network2's arguments (`fc1_units`, ...).

        Examples:

        ```python
        network2 = Network2.from_preset("paper", backbone=network1.backbone)
        ```
        """
        from aufera.models.presets import get_preset, split_overrides
        from aufera.pretrained import trained_component

        overrides = kwargs if backbone is None else {**kwargs, "backbone": backbone}  # none fits a trained preset
        trained = trained_component(cls, name, "he2019", overrides)
        if trained is not None:
            return trained
        if backbone is None:
            raise ValueError(
                "Network2.from_preset needs the trained backbone of Network1: "
                f"Network2.from_preset({name!r}, backbone=network1.backbone). Received: backbone=None"
            )
        preset = get_preset(name)
        backbone_kwargs, head_kwargs = split_overrides(kwargs)
        if backbone_kwargs:
            raise ValueError(
                f"Network2 takes its backbone as built; backbone arguments are not accepted. Received: {backbone_kwargs}"
            )
        return cls(backbone=backbone, **{**preset["network2"], **head_kwargs})
