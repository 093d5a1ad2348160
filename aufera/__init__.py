"""aufera: multi-view facial action unit detection for FERA 2017.

A TensorFlow/Keras reimplementation of He et al. 2019 (multi-task residual
network, multilayer fused network and decision fusion). DRML's region layer
(Zhao et al. 2016) and the CNN-LSTM hybrid (Chu et al. 2019) are planned
companions and not implemented yet; the multi-label samplers of Chu et al.
(stratification and MOMU) are (`aufera.sampling`).

Importing the package has no side effects; TensorFlow is imported only by
the modules that need it. Importing `aufera.models` registers every class a
saved aufera model can name (models, layers, losses, metrics) for
`keras.saving.load_model`.
"""

__version__ = "0.1.0"
