"""Decision-level fusion of several 2-neuron AU models (He et al. 2019, eq. 5)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops


def check_fusion_weights(weights, num_models: int) -> tuple[float, ...]:
    """Returns the fusion weights as floats (equal weights if None); ValueError if they are unusable."""
    if num_models < 1:
        raise ValueError(f"Decision fusion needs at least one model output. Received: {num_models} outputs")
    if weights is None:
        return (1.0 / num_models,) * num_models
    try:
        weights = tuple(float(w) for w in weights)
    except TypeError as error:
        raise ValueError(f"`weights` must be a sequence of numbers. Received: weights={weights!r}") from error
    if len(weights) != num_models:
        raise ValueError(f"Need one weight per model ({num_models} models). Received: weights={list(weights)}")
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"Weights must be finite, non-negative and not all zero. Received: weights={list(weights)}")
    return weights


def sigmoid_pairs(present) -> np.ndarray:
    """One-probability AU outputs (N, num_aus), e.g. DRML's sigmoids, as 2-neuron outputs (N, num_aus, 2).

    Index 0 is the present probability p, index 1 is 1 - p, so that a
    sigmoid model joins eq. (5) like a pair model: alone it decides
    "present" where p > 0.5, and in a fusion its weight multiplies
    p - (1 - p) = 2p - 1.

    Args:
        present: array (N, num_aus) of probabilities in [0, 1].

    Returns:
        A float64 numpy array (N, num_aus, 2).
    """
    present = np.asarray(keras.ops.convert_to_numpy(present), dtype=np.float64)
    if present.ndim != 2:
        raise ValueError(f"`present` must have shape (N, num_aus). Received: shape={present.shape}")
    return np.stack([present, 1.0 - present], axis=-1)


def _checked_pairs(outputs, weights) -> tuple[tuple[float, ...], list[np.ndarray]]:
    """The checked weights and the outputs as float64 numpy arrays of one shape (N, num_aus, 2); ValueError if not."""
    if isinstance(outputs, np.ndarray) or not isinstance(outputs, Sequence):
        raise ValueError(f"`outputs` must be a list of (N, num_aus, 2) arrays. Received: type {type(outputs)}")
    weights = check_fusion_weights(weights, len(outputs))
    arrays = [np.asarray(keras.ops.convert_to_numpy(y), dtype=np.float64) for y in outputs]
    for y in arrays:
        if y.ndim != 3 or y.shape[-1] != 2 or y.shape != arrays[0].shape:
            raise ValueError(
                f"Every output must have the same shape (N, num_aus, 2). Received shapes: {[a.shape for a in arrays]}"
            )
    return weights, arrays


def fuse_pair_outputs(outputs, weights: Sequence[float]):
    """Eq. (5) with `keras.ops`: the fused present-probability and the decision.

    Args:
        outputs: list of tensors (N, num_aus, 2); index 0 = present, 1 = absent.
        weights: list of floats, one per output, already checked.

    Returns:
        A tuple `(present, decision)`, both float tensors (N, num_aus):
        `present` = sum_i w_i y_present^(i) / sum_i w_i, and `decision` = 1.0
        where sum_i w_i y_present^(i) - sum_i w_i y_absent^(i) > 0, else 0.0.
    """
    total = float(sum(weights))
    margin = None
    present = None
    for w, y in zip(weights, outputs, strict=True):
        y = ops.convert_to_tensor(y)
        term_margin = w * (y[..., 0] - y[..., 1])
        term_present = (w / total) * y[..., 0]
        margin = term_margin if margin is None else margin + term_margin
        present = term_present if present is None else present + term_present
    decision = ops.cast(ops.greater(margin, 0), present.dtype)
    return present, decision


def decision_fusion(outputs, weights: Sequence[float] | None = None) -> np.ndarray:
    """Fuses the 2-neuron AU outputs of several models into 0/1 decisions (eq. 5).

    For AU k, Y_k = sgn( sum_i w_i y^(i)_present,k - sum_i w_i y^(i)_absent,k ).
    We return 1 (AU present) where Y_k = +1 and 0 where Y_k is -1 or 0: a tie
    (the weighted present and absent outputs exactly equal, sgn = 0) counts
    as absent. The rule only compares the two weighted sums, so the scale of
    the weights does not matter; the paper uses two models with w1 = w2 = 0.5.
    With one model and any weight it is the paper's "larger neuron wins" rule.

    Args:
        outputs: list of arrays or tensors (N, num_aus, 2), one per model, with
            index 0 = present and index 1 = absent (softmax pairs, or any
            scores where larger means more likely).
        weights: list of floats, one per model, non-negative and not all zero.
            Defaults to equal weights 1 / len(outputs).

    Returns:
        An int32 numpy array (N, num_aus) of 0 and 1; 1 means the AU occurred.

    Examples:

    ```python
    a = np.array([[[0.7, 0.3], [0.2, 0.8]]])
    b = np.array([[[0.4, 0.6], [0.45, 0.55]]])
    decision_fusion([a, b])                    # [[1, 0]]: 0.55 > 0.45; 0.325 < 0.675
    decision_fusion([a, b], weights=[0.1, 0.9])  # [[0, 0]]
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.3, eq. (5).
    """
    weights, arrays = _checked_pairs(outputs, weights)
    # The numpy path mirrors `fuse_pair_outputs` in float64, so a tie is a tie
    # whatever the backend's float precision.
    margin = sum(w * (y[..., 0] - y[..., 1]) for w, y in zip(weights, arrays, strict=True))
    return (margin > 0).astype(np.int32)


def fused_present(outputs, weights: Sequence[float] | None = None) -> np.ndarray:
    """The fused present-probability of several 2-neuron AU models, in numpy.

    For AU k, sum_i w_i y^(i)_present,k / sum_i w_i: the soft score beside the
    decision of eq. (5) (`decision_fusion`), the same quantity as the
    `"present"` output of the `DecisionFusion` layer. For softmax pairs it is
    in [0, 1] and above 0.5 exactly where `decision_fusion` says "present".

    Args:
        outputs: list of arrays or tensors (N, num_aus, 2), one per model, with
            index 0 = present and index 1 = absent.
        weights: list of floats, one per model, non-negative and not all zero.
            Defaults to equal weights 1 / len(outputs).

    Returns:
        A float64 numpy array (N, num_aus).

    Examples:

    ```python
    a = np.array([[[0.7, 0.3], [0.2, 0.8]]])
    b = np.array([[[0.4, 0.6], [0.45, 0.55]]])
    fused_present([a, b])                    # [[0.55, 0.325]]
    fused_present([a, b], weights=[1, 3])    # [[0.475, 0.3875]]
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.3, eq. (5).
    """
    weights, arrays = _checked_pairs(outputs, weights)
    return sum(w * y[..., 0] for w, y in zip(weights, arrays, strict=True)) / float(sum(weights))


@keras.saving.register_keras_serializable(package="aufera")
class DecisionFusion(keras.layers.Layer):
    """Keras layer for decision fusion (eq. 5) of any number of 2-neuron AU models.

    Takes a list of tensors (N, num_aus, 2) (index 0 = present, 1 = absent)
    and returns a dict:

    - `"present"`: the fused present-probability sum_i w_i y_present^(i) / sum_i w_i
      (N, num_aus), a soft score in [0, 1] for softmax pair inputs;
    - `"decision"`: float 1.0 where sum_i w_i (y_present^(i) - y_absent^(i)) > 0,
      else 0.0 (ties count as absent), as in `decision_fusion`.

    For softmax pairs (present + absent = 1) the decision is 1 exactly where
    the fused present-probability exceeds 0.5. The layer has no weights.

    Args:
        weights: list of floats, one per fused model, non-negative and not all
            zero. Defaults to None: equal weights for however many inputs the
            layer receives.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:

    ```python
    images = keras.Input((132, 132, 1))
    heads1 = network1(images)
    fused = DecisionFusion(weights=[0.5, 0.5])([heads1["au"], network2(images)["au"]])
    app = keras.Model(images, {"view": heads1["view"], **fused})
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.3, eq. (5).
    """

    def __init__(self, weights: Sequence[float] | None = None, **kwargs):
        # `weights` is a Layer property in Keras (the layer's variables); keep
        # the fusion weights under another attribute name.
        super().__init__(**kwargs)
        if weights is not None:
            weights = list(check_fusion_weights(weights, len(tuple(weights))))
        self.fusion_weights = weights

    def call(self, inputs):
        if not isinstance(inputs, list | tuple):
            inputs = [inputs]
        weights = check_fusion_weights(self.fusion_weights, len(inputs))
        present, decision = fuse_pair_outputs(list(inputs), weights)
        return {"present": present, "decision": decision}

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, list | tuple) or not isinstance(input_shape[0], list | tuple):
            input_shape = [input_shape]
        shape = tuple(input_shape[0][:-1])
        return {"present": shape, "decision": shape}

    def get_config(self):
        config = super().get_config()
        config["weights"] = self.fusion_weights
        return config
