"""Named model presets: architecture variants as data.

A preset is a dictionary with:

- `description`: one line.
- `preprocessing`: what the model expects at its input: `image_size` (side of
  the square face crop), `channels` (1, grayscale), `scale` (uint8 pixels are
  multiplied by it, giving [0, 1]) and `mean` ("train", the training-split mean
  image is subtracted, He et al. 2019 Sec. 4.2).
- `backbone`: constructor arguments of `ResNetBackbone`.
- `network1`: constructor arguments of `Network1` other than `backbone`.
- `network2`: constructor arguments of `Network2` other than `backbone`.
- `metadata`: facts about the built models, as in keras-hub's preset
  metadata. `metadata["params"]` holds exact parameter counts (every weight,
  batch-normalisation moving statistics included, i.e. `count_params()`):
  `backbone` (the `ResNetBackbone`), `network1` (Network1 with its backbone),
  `network2` (Network2 as a whole, its frozen backbone included) and
  `network2_new` (Network2's own layers, the ones it trains).

Preset names are a contract: `"paper"` and `"cpu-small"`.

`"paper"` is the FERA 2017 configuration of He et al. 2019: input 132x132x1,
stem of one 3x3 convolution with 32 filters and stride 1, average pooling 2x2
after the stem and after groups 1-3 (132 -> 66 -> 33 -> 16 -> 8), 4 groups of
4 residual blocks of widths 32/64/128/256, flatten (8 x 8 x 256 = 16384
features), FC1 = FC2 = 4096. Parameter counts (every weight, the 8,640
batch-normalisation moving statistics included): Network1 90,072,253;
Network2's new layers 84,394,004; together 174,466,257. Network2 as a whole,
its frozen backbone included, has 90,334,388, so the two models saved side by
side hold 180,406,641. The paper reports "192 M" for both networks without
giving the widths or the pooling; this is the closest reading we have (see
docs/models.md).

`"cpu-small"` keeps the paper's layout (stem, 4 groups, average pooling,
flatten, FC1/FC2 with PReLU, pair outputs) at a size that trains in minutes
on 2 CPU cores: a stride-2 stem (132 -> 66 -> 33 after its pooling), 2 blocks
per group of widths 16/32/48/64, a 4 x 4 x 64 = 1024-feature flatten and
FC1 = FC2 = 128. Network1 423,981 weights, Network2's new layers 173,588,
together 597,569 (Network2 as a whole, its backbone of 264,208 included:
437,796).
"""

from __future__ import annotations

import copy


def _head(units: int) -> dict:
    """The arguments of a Network1 / Network2 head with FC1 = FC2 = `units` (dropout 0.5, PReLU at 0.3)."""
    return {"fc1_units": units, "fc2_units": units, "dropout": 0.5, "prelu_alpha": 0.3}


def _variant(base: dict, **changes) -> dict:
    """A preset made from `base` with some entries changed: mappings are updated key by key, the rest replaced."""
    preset = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(preset.get(key), dict):
            preset[key].update(copy.deepcopy(value))
        else:
            preset[key] = copy.deepcopy(value)
    return preset


PAPER = {
    "description": "He et al. 2019 on FERA 2017: 4x4 residual blocks of widths 32-256, FC 4096 (174.5M weights).",
    "preprocessing": {"image_size": 132, "channels": 1, "scale": 1.0 / 255.0, "mean": "train"},
    "backbone": {
        "input_shape": [132, 132, 1],
        "stackwise_num_filters": [32, 64, 128, 256],
        "stackwise_num_blocks": [4, 4, 4, 4],
        "stackwise_pooling": [True, True, True, False],
        "stem_filters": 32,
        "stem_kernel_size": 3,
        "stem_strides": 1,
        "stem_pooling": True,
        "pool_size": 2,
    },
    "network1": _head(4096),
    "network2": _head(4096),
    "metadata": {
        "params": {"backbone": 5_940_384, "network1": 90_072_253, "network2": 90_334_388, "network2_new": 84_394_004}
    },
}

PRESETS: dict[str, dict] = {
    "paper": PAPER,
    # The paper's layout at a size that trains in minutes on 2 CPU cores: only what differs is named.
    "cpu-small": _variant(
        PAPER,
        description="Small and fast for 2 CPU cores: 2 blocks per group of widths 16-64, FC 128 (about 0.6M weights).",
        backbone={
            "stackwise_num_filters": [16, 32, 48, 64],
            "stackwise_num_blocks": [2, 2, 2, 2],
            "stem_filters": 16,
            "stem_strides": 2,
        },
        network1=_head(128),
        network2=_head(128),
        metadata={"params": {"backbone": 264_208, "network1": 423_981, "network2": 437_796, "network2_new": 173_588}},
    ),
}


def _drml(*, conv1_filters, conv1_strides, fc_units, dropout=0.5) -> dict:
    """The arguments of a `DRML` of the paper's layout: conv1 11x11, an 8x8 region layer, conv4-7 as published."""
    return {
        "input_shape": [170, 170, 1],
        "conv1_filters": conv1_filters,
        "conv1_kernel_size": 11,
        "conv1_strides": conv1_strides,
        "region_layer": True,
        "grid": [8, 8],
        "region_kernel_size": 3,
        "conv_filters": [16, 16, 16, 16],
        "conv_kernel_sizes": [8, 8, 6, 5],
        "conv_strides": [1, 1, 2, 1],
        "fc_units": list(fc_units),
        "dropout": dropout,
    }


# DRML (Zhao, Chu, Zhang 2016). `preprocessing.dataset_size` is the side of the dataset's crops: the
# network takes random `image_size` crops of them in training and the centre crop in evaluation.
# `metadata.params`: `drml` and `convnet` (the same network built with region_layer=False), every
# weight counted (`count_params()`, batch-normalisation moving statistics included).
DRML_PAPER = {
    "description": "DRML (Zhao et al. 2016): conv1 32@11x11, 8x8 region layer on 160x160, conv4-7, FC 4096-2048.",
    "preprocessing": {"image_size": 170, "channels": 1, "scale": 1.0 / 255.0, "mean": "train", "dataset_size": 200},
    "drml": _drml(conv1_filters=32, conv1_strides=1, fc_units=(4096, 2048)),
    "metadata": {"params": {"drml": 56_859_914, "convnet": 56_259_850}},
}

DRML_PRESETS: dict[str, dict] = {
    "paper": DRML_PAPER,
    # The same layout at a size that trains in minutes on 2 CPU cores: conv1 with 16 filters and stride 2
    # (an 80x80 map, 8x8 cells of 10x10), FC 512-256 without dropout (with the paper's 0.5, the network
    # learnt too slowly on the synthetic corpus to be of use within 8 epochs: docs/drml.md).
    "cpu-small": _variant(
        DRML_PAPER,
        description="DRML small and fast for 2 CPU cores: conv1 16@11x11 stride 2, 8x8 region layer on 80x80, "
        "FC 512-256, no dropout.",
        drml=_drml(conv1_filters=16, conv1_strides=2, fc_units=(512, 256), dropout=0.0),
        metadata={"params": {"drml": 738_858, "convnet": 586_282}},
    ),
}


def _family(family: str) -> dict[str, dict]:
    if family not in FAMILIES:
        raise ValueError(f"Unknown model family. Available families: {sorted(FAMILIES)}. Received: family={family!r}")
    return FAMILIES[family]


def preset_names(family: str = "he2019") -> tuple[str, ...]:
    """Returns the names of the available presets of a model family ("he2019", "drml" or "chu2019")."""
    return tuple(_family(family))


def get_preset(name: str, family: str = "he2019") -> dict:
    """Returns a deep copy of the preset `name` of a model family.

    Args:
        name: str. One of `preset_names(family)`.
        family: str. "he2019" (Network1 and Network2), "drml" or "chu2019". Defaults to "he2019".

    Raises:
        ValueError: if there is no preset of that name.
    """
    presets = _family(family)
    if name not in presets:
        raise ValueError(f"Unknown preset. Available presets: {sorted(presets)}. Received: name={name!r}")
    return copy.deepcopy(presets[name])


def split_overrides(overrides: dict) -> tuple[dict, dict]:
    """Splits `from_preset` keyword overrides into backbone arguments and head arguments."""
    backbone_args = set(PRESETS["paper"]["backbone"])
    backbone = {k: v for k, v in overrides.items() if k in backbone_args}
    head = {k: v for k, v in overrides.items() if k not in backbone_args}
    return backbone, head


def _chu_cnn(conv_filters, fc_units, dropout=0.5) -> dict:
    """The arguments of a `ChuCNN` of Fig. 2b's layout: conv1 11x11 stride 4, pool1, conv2 5x5, conv3-5 3x3."""
    return {
        "input_shape": [176, 176, 1],
        "conv_filters": list(conv_filters),
        "conv_kernel_sizes": [11, 5, 3, 3, 3],
        "conv1_strides": 4,
        "pool_size": 2,
        "fc_units": list(fc_units),
        "dropout": dropout,
    }


# Chu, De la Torre, Cohn 2019: the spatial CNN (`cnn`, `ChuCNN`), the PCA of its fc7 (`pca`: the share of
# variance kept, at most `max_components`), the LSTMs (`lstm`, `ChuLSTM`) and the fusion network (`fusion`,
# `ChuFusion`). Random 176 crops of the 200-px dataset in training, the centre crop in evaluation.
# `metadata.params`: `cnn` is `ChuCNN.count_params()`.
CHU_PAPER = {
    "description": "Chu et al. 2019: modified AlexNet (conv 96-96-72-48-32, FC 4096-4096), PCA 1024, 3 LSTMs of 256.",
    "preprocessing": {"image_size": 176, "channels": 1, "scale": 1.0 / 255.0, "mean": "train", "dataset_size": 200},
    "cnn": _chu_cnn((96, 96, 72, 48, 32), (4096, 4096)),
    "pca": {"energy": 0.98, "max_components": 1024},
    "lstm": {"units": [256, 256, 256], "dropout": 0.5},
    "fusion": {"hidden_units": 64},
    "metadata": {"params": {"cnn": 74_978_626}},
}

CHU_PRESETS: dict[str, dict] = {
    "paper": CHU_PAPER,
    "cpu-small": _variant(
        CHU_PAPER,
        description="Chu et al. 2019 small and fast for 2 CPU cores: conv 32-32-24-16-16, FC 256-256, 3 LSTMs of 64 "
        "without dropout.",
        cnn=_chu_cnn((32, 32, 24, 16, 16), (256, 256)),
        # No dropout in the LSTMs: with the paper's 0.5 (or 0.2) they learnt too slowly on the synthetic corpus
        # (docs/cnn_lstm.md).
        lstm={"units": [64, 64, 64], "dropout": 0.0},
        metadata={"params": {"cnn": 1_917_218}},
    ),
}

# The model families and their presets: He et al. 2019 (Network1, Network2), DRML and Chu et al. 2019.
FAMILIES: dict[str, dict[str, dict]] = {"he2019": PRESETS, "drml": DRML_PRESETS, "chu2019": CHU_PRESETS}
