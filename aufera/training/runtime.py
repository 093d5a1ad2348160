"""How training uses the machine: the distribution strategy and the precision policy."""

from __future__ import annotations

import warnings


def select_strategy():
    """`tf.distribute.MirroredStrategy` when more than one GPU is visible, else the default strategy."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_precision(mixed_precision: bool) -> str:
    """Sets the Keras global dtype policy for training and returns its name.

    "mixed_float16" only when asked and a GPU is visible; otherwise
    "float32" (with a warning when mixed precision was asked on CPU, where
    float16 is slower, not faster). Under mixed_float16 Keras wraps Adam in a
    `LossScaleOptimizer`; the models' softmax outputs are then float16, and
    the losses cast them to float32 before the log (see docs/training.md).
    """
    import keras
    import tensorflow as tf

    policy = "float32"
    if mixed_precision:
        if tf.config.list_logical_devices("GPU"):
            policy = "mixed_float16"
        else:
            warnings.warn("mixed_precision=True needs a GPU; training in float32 on CPU", stacklevel=2)
    keras.mixed_precision.set_global_policy(policy)
    return policy
