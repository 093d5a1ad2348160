"""aufera: multi-view facial action unit detection for FERA 2017.

A TensorFlow/Keras reimplementation of He et al. 2019 (multi-task residual
network, multilayer fused network and decision fusion), with DRML's region
layer (Zhao et al. 2016) and the CNN-LSTM hybrid with multi-label sampling
(Chu et al. 2019) as companions. Importing the package has no side effects;
TensorFlow is imported only by the modules that need it.
"""

__version__ = "0.1.0"
