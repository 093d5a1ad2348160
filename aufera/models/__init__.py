"""Models of He et al. 2019: residual backbone, Network1, Network2 and decision fusion.

Importing this package imports Keras (and TensorFlow) and registers every
aufera layer and model for `keras.saving.load_model`.
"""

from aufera.models.decision_fusion import DecisionFusion, decision_fusion
from aufera.models.network1 import Network1
from aufera.models.network2 import Network2
from aufera.models.presets import PRESETS, get_preset, preset_names
from aufera.models.resnet_backbone import ResNetBackbone

__all__ = [
    "PRESETS",
    "DecisionFusion",
    "Network1",
    "Network2",
    "ResNetBackbone",
    "decision_fusion",
    "get_preset",
    "preset_names",
]
