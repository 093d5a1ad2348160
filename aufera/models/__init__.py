"""Models: He et al. 2019 (residual backbone, Network1, Network2, decision fusion), DRML (region layer) and Chu et al. 2019 (CNN-LSTM);
any of them as one ready detector (`au_detector`) with its input normalisation (`FaceNormalization`).

Importing this package imports Keras (and TensorFlow) and registers every
class a saved aufera file can name, so that `keras.saving.load_model` finds
it: the models and layers here, the loss `aufera.losses.MultiLabelPairCrossentropy`
(Network1 and Network2 are saved compiled with it) and the metric
`aufera.metrics.MeanF1OverAUs`.
"""

# `aufera.losses` and `aufera.metrics` are imported for their registrations.
# `aufera.metrics` imports `aufera.models.decision_fusion`, which needs nothing
# of this package's namespace, so either import order works.
import aufera.losses  # noqa: F401  (registers MultiLabelPairCrossentropy)
import aufera.metrics  # noqa: F401  (registers MeanF1OverAUs)
from aufera.models.chu_cnn import ChuCNN
from aufera.models.cnn_lstm import CNNLSTM, ChuFusion, ChuLSTM, PCAProjection, fit_pca
from aufera.models.decision_fusion import DecisionFusion, decision_fusion, fused_present, sigmoid_pairs
from aufera.models.detector import FaceNormalization, SigmoidPairs, au_detector, serving_model
from aufera.models.drml import DRML
from aufera.models.network1 import Network1
from aufera.models.network2 import Network2
from aufera.models.presets import CHU_PRESETS, DRML_PRESETS, PRESETS, get_preset, preset_names
from aufera.models.region_layer import RegionLayer
from aufera.models.resnet_backbone import ResNetBackbone

__all__ = [
    "CHU_PRESETS",
    "CNNLSTM",
    "ChuCNN",
    "ChuFusion",
    "ChuLSTM",
    "PCAProjection",
    "fit_pca",
    "DRML",
    "DRML_PRESETS",
    "PRESETS",
    "DecisionFusion",
    "FaceNormalization",
    "Network1",
    "Network2",
    "RegionLayer",
    "ResNetBackbone",
    "SigmoidPairs",
    "au_detector",
    "decision_fusion",
    "fused_present",
    "get_preset",
    "preset_names",
    "serving_model",
    "sigmoid_pairs",
]
