"""aufera: multi-view facial action unit detection for FERA 2017.

A TensorFlow/Keras reimplementation of He et al. 2019 (multi-task residual
network, multilayer fused network and decision fusion), with its companions:
DRML's region layer (Zhao et al. 2016) and the CNN-LSTM hybrid of Chu et al.
2019 with its multi-label samplers (stratification and MOMU,
`aufera.sampling`).

Importing the package has no side effects; TensorFlow is imported only by
the modules that need it. Importing `aufera.models` registers every class a
saved aufera model can name (models, layers, losses, metrics) for
`keras.saving.load_model`.
"""

__version__ = "0.1.0"
