"""Losses: He et al. 2019's multi-label pair cross-entropy (eq. 4) and view loss (eq. 3); DRML's sigmoid loss.

Labels follow the aufera contract (`aufera.au`): an AU label is +1 (present),
-1 (absent) or 0 (unknown); a 2-neuron AU output has index 0 = present and
index 1 = absent. Unknown labels contribute neither loss nor gradient.

`max_margin_loss`: Chu et al. 2019's max-margin loss on tanh outputs, over the known labels of a batch.
`MaxMarginLoss`: the same as a registered Keras loss, for `model.compile`.
"""

from __future__ import annotations

import keras
from keras import ops

from aufera.au import ABSENT, PRESENT, UNKNOWN

EPSILON = 1e-7


def multilabel_pair_crossentropy(y_true, y_pred, epsilon: float = EPSILON):
    """Multi-label cross-entropy on 2-neuron outputs with unknown labels (eq. 4), per sample.

    For sample n and AU c with probabilities p = y_pred[n, c, 0] (present) and
    q = y_pred[n, c, 1] (absent):

        l_n = - sum_c ( [Y_nc > 0] log p + [Y_nc < 0] log q ).

    With a softmax over each pair q = 1 - p, which is eq. (4) of the paper.
    Labels Y_nc = 0 (unknown) are masked out, so they give no loss and a zero
    gradient. Probabilities are clipped to [epsilon, 1] before the log so that
    the loss and its gradient stay finite.

    Returns the per-sample losses (N,); their mean over samples is eq. (4)
    (`MultiLabelPairCrossentropy` and `mean_multilabel_pair_crossentropy`
    take that mean).

    Args:
        y_true: tensor (N, num_aus) of +1 / -1 / 0, any numeric dtype.
        y_pred: tensor (N, num_aus, 2) of probabilities.
        epsilon: float. Lower clip of the probabilities. Defaults to 1e-7.

    Returns:
        A float tensor (N,).

    References:
        He, Li, Bo, Yu 2019, Sec. 3.2, eq. (4).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_pred.shape) != 3 or y_pred.shape[-1] != 2:
        raise ValueError(f"`y_pred` must have shape (N, num_aus, 2). Received: y_pred.shape={y_pred.shape}")
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    if len(y_true.shape) == 3 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    if len(y_true.shape) != 2:
        raise ValueError(f"`y_true` must have shape (N, num_aus). Received: y_true.shape={y_true.shape}")
    present = ops.cast(ops.equal(y_true, PRESENT), y_pred.dtype)
    absent = ops.cast(ops.equal(y_true, ABSENT), y_pred.dtype)
    log_p = ops.log(ops.clip(y_pred[..., 0], epsilon, 1.0))
    log_q = ops.log(ops.clip(y_pred[..., 1], epsilon, 1.0))
    return -ops.sum(present * log_p + absent * log_q, axis=-1)


def mean_multilabel_pair_crossentropy(y_true, y_pred, epsilon: float = EPSILON):
    """Eq. (4): the mean over samples of `multilabel_pair_crossentropy` (a scalar)."""
    return ops.mean(multilabel_pair_crossentropy(y_true, y_pred, epsilon=epsilon))


def view_crossentropy(y_true, y_pred):
    """Softmax cross-entropy of the view branch, L2 of eq. (3), per sample.

    Args:
        y_true: tensor (N,) (or (N, 1)) of view indices 0-8.
        y_pred: tensor (N, num_views) of softmax probabilities.

    Returns:
        A float tensor (N,).
    """
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=False)


class _ClippedLoss(keras.losses.Loss):
    """A Keras loss with an `epsilon` clip of the probabilities; subclasses give `function` and their name."""

    function = None

    def __init__(self, epsilon: float, reduction: str, name: str, dtype):
        if not 0.0 < float(epsilon) < 0.5:
            raise ValueError(f"`epsilon` must be in (0, 0.5). Received: epsilon={epsilon!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        return type(self).function(y_true, y_pred, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="aufera")
class MultiLabelPairCrossentropy(_ClippedLoss):
    """Keras loss for the 2-neuron AU outputs: eq. (4) with unknown labels ignored.

    `loss(y_true, y_pred)` with y_true (N, num_aus) in {+1, -1, 0} and y_pred
    (N, num_aus, 2) returns the mean over samples of the sum over AUs (the
    default reduction "sum_over_batch_size" averages the per-sample sums).

    Args:
        epsilon: float. Lower clip of the probabilities. Defaults to 1e-7.
        reduction: str. Keras loss reduction. Defaults to "sum_over_batch_size".
        name: str. Defaults to "multilabel_pair_crossentropy".
        dtype: the loss dtype. Defaults to None (the Keras float type).

    Examples:

    ```python
    model.compile(optimizer="adam", loss={"au": MultiLabelPairCrossentropy()})
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.2, eq. (4).
    """

    def __init__(
        self,
        epsilon: float = EPSILON,
        reduction: str = "sum_over_batch_size",
        name: str = "multilabel_pair_crossentropy",
        dtype=None,
    ):
        super().__init__(epsilon, reduction, name, dtype)

    function = staticmethod(multilabel_pair_crossentropy)


def network1_losses(lambda_au: float = 0.5, lambda_view: float = 0.5) -> dict:
    """Compile arguments for Network1: L = lambda_au * L1 + lambda_view * L2 (eq. 3).

    L1 is the pair cross-entropy of eq. (4) on output "au"; L2 the softmax
    cross-entropy on output "view" (sparse labels 0-8). The paper sets both
    lambdas to 0.5.

    Returns:
        A dict with keys `loss` and `loss_weights`, to unpack into
        `model.compile(optimizer, **network1_losses())`.

    References:
        He, Li, Bo, Yu 2019, Sec. 3.2, eq. (3); Sec. 4.3 (lambda1 = lambda2 = 0.5).
    """
    for value, what in ((lambda_au, "lambda_au"), (lambda_view, "lambda_view")):
        if not float(value) >= 0.0:
            raise ValueError(f"`{what}` must be a non-negative number. Received: {what}={value!r}")
    return {
        "loss": {"au": MultiLabelPairCrossentropy(), "view": keras.losses.SparseCategoricalCrossentropy()},
        "loss_weights": {"au": float(lambda_au), "view": float(lambda_view)},
    }


def network2_losses() -> dict:
    """Compile arguments for Network2: the pair cross-entropy of eq. (4) on output "au"."""
    return {"loss": {"au": MultiLabelPairCrossentropy()}}


def network1_loss(y_true: dict, y_pred: dict, lambda_au: float = 0.5, lambda_view: float = 0.5):
    """Eq. (3) as one scalar, for custom training loops: lambda_au * L1 + lambda_view * L2.

    Args:
        y_true: dict with "au" (N, num_aus) labels and "view" (N,) indices.
        y_pred: dict with "au" (N, num_aus, 2) and "view" (N, num_views) probabilities.
    """
    l1 = mean_multilabel_pair_crossentropy(y_true["au"], y_pred["au"])
    l2 = ops.mean(view_crossentropy(y_true["view"], y_pred["view"]))
    return lambda_au * l1 + lambda_view * l2


def multilabel_sigmoid_crossentropy(y_true, y_pred, epsilon: float = EPSILON):
    """DRML's multi-label sigmoid cross-entropy with unknown labels, per sample.

    For sample n and AU c with predicted probability p = y_pred[n, c]:

        l_n = - sum_c ( [Y_nc > 0] log p + [Y_nc < 0] log(1 - p) ).

    Labels Y_nc = 0 (unknown) give no loss and no gradient. The mean of l_n
    over the N samples of a batch is the loss of Zhao et al. 2016, Sec. 3.1:
    the paper's text and the authors' released Caffe loss both divide by the
    batch size N, not by the number of known labels, and so does aufera (a
    batch with many unknown labels weighs less). Probabilities are clipped to
    [epsilon, 1 - epsilon] before the logs.

    Per-frame outputs of sequences, (N, T, num_aus), give one value per
    frame, (N, T): Chu et al.'s fusion network trains on them.

    Args:
        y_true: tensor (N, num_aus) (or (N, T, num_aus)) of +1 / -1 / 0, any numeric dtype.
        y_pred: tensor of the same shape, of probabilities (a sigmoid output).
        epsilon: float. Clip of the probabilities. Defaults to 1e-7.

    Returns:
        A float tensor (N,) (or (N, T)).

    References:
        Zhao, Chu, Zhang 2016, Sec. 3.1 (the loss below Fig. 3).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_pred.shape) < 2:
        raise ValueError(f"`y_pred` must have shape (N, num_aus). Received: y_pred.shape={y_pred.shape}")
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    if len(y_true.shape) != len(y_pred.shape) or y_true.shape[-1] != y_pred.shape[-1]:
        raise ValueError(
            f"`y_true` must have shape (N, num_aus) as `y_pred` {tuple(y_pred.shape)}. "
            f"Received: y_true.shape={tuple(y_true.shape)}"
        )
    if None not in (y_true.shape[0], y_pred.shape[0]) and y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"`y_true` and `y_pred` must have as many rows. Received shapes: {y_true.shape}, {y_pred.shape}"
        )
    present = ops.cast(ops.equal(y_true, PRESENT), y_pred.dtype)
    absent = ops.cast(ops.equal(y_true, ABSENT), y_pred.dtype)
    p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    return -ops.sum(present * ops.log(p) + absent * ops.log(1.0 - p), axis=-1)


@keras.saving.register_keras_serializable(package="aufera")
class MultiLabelSigmoidCrossentropy(_ClippedLoss):
    """Keras loss of DRML: `multilabel_sigmoid_crossentropy`, averaged over the batch's samples.

    With `average_over_aus=True` each sample's sum is divided by the number
    of AUs L: eq. (1) of Chu et al. 2019, -1/L sum_l ([y_l > 0] log p_l +
    [y_l < 0] log(1 - p_l)) (`chu_losses`).

    Args:
        epsilon: float. Clip of the probabilities. Defaults to 1e-7.
        average_over_aus: bool. Divide by the number of AUs (Chu et al.'s
            eq. 1) rather than sum over them (DRML). Defaults to False.
        reduction: str. Keras loss reduction. Defaults to "sum_over_batch_size".
        name: str. Defaults to "multilabel_sigmoid_crossentropy".
        dtype: the loss dtype. Defaults to None (the Keras float type).

    References:
        Zhao, Chu, Zhang 2016, Sec. 3.1.
    """

    def __init__(
        self,
        epsilon: float = EPSILON,
        reduction: str = "sum_over_batch_size",
        name: str = "multilabel_sigmoid_crossentropy",
        dtype=None,
        average_over_aus: bool = False,
    ):
        super().__init__(epsilon, reduction, name, dtype)
        self.average_over_aus = bool(average_over_aus)

    function = staticmethod(multilabel_sigmoid_crossentropy)

    def call(self, y_true, y_pred):
        values = super().call(y_true, y_pred)
        if self.average_over_aus:
            values = values / ops.cast(ops.shape(y_pred)[-1], values.dtype)
        return values

    def get_config(self):
        return {**super().get_config(), "average_over_aus": self.average_over_aus}


def chu_losses() -> dict:
    """Compile arguments for Chu et al.'s CNN and fusion network: eq. (1), the cross-entropy averaged over the AUs."""
    return {"loss": {"au": MultiLabelSigmoidCrossentropy(average_over_aus=True)}}


def drml_losses() -> dict:
    """Compile arguments for DRML (and its ConvNet baseline): the sigmoid cross-entropy on output "au"."""
    return {"loss": {"au": MultiLabelSigmoidCrossentropy()}}


MAX_MARGIN_K = 0.5


def _check_margin(k) -> float:
    try:
        value = float(k)
    except (TypeError, ValueError):
        raise ValueError(f"`k` must be a positive number. Received: k={k!r}") from None
    if not 0.0 < value < float("inf"):
        raise ValueError(f"`k` must be a positive number. Received: k={k!r}")
    return value


def _max_margin_terms(y_true, y_pred, k: float):
    """The hinge terms [Y != 0] max(0, k - Y yhat) and the known-label indicator, both shaped like y_pred."""
    y_pred = ops.convert_to_tensor(y_pred)
    if not str(y_pred.dtype).startswith(("float", "bfloat")):
        y_pred = ops.cast(y_pred, keras.config.floatx())
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    if len(y_true.shape) != len(y_pred.shape) or any(
        a is not None and b is not None and a != b for a, b in zip(y_true.shape, y_pred.shape, strict=True)
    ):
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape. Received shapes: {y_true.shape}, {y_pred.shape}"
        )
    known = ops.cast(ops.not_equal(y_true, UNKNOWN), y_pred.dtype)
    # relu, not maximum: its gradient is 0 where k - Y yhat <= 0 (maximum passes the gradient at a tie).
    return ops.relu(k - y_true * y_pred) * known, known


def max_margin_loss(y_true, y_pred, k: float = MAX_MARGIN_K):
    """Max-margin (hinge) loss on tanh outputs with unknown labels, over a whole batch (Chu et al. 2019).

        L_M = (1 / n0) sum_i max(0, k - y_i yhat_i),

    the sum running over every known label of the batch (all samples, time
    steps and AUs), n0 the number of known labels (y != 0). Unknown labels
    (y = 0) give no loss and a zero gradient, and so do labels already past
    the margin (k - y yhat <= 0). A batch with no known label gives 0 (n0 is
    taken as at least 1), not NaN.

    Args:
        y_true: tensor (..., num_aus), e.g. (N, num_aus) or (N, T, num_aus),
            of +1 / -1 / 0, any numeric dtype (int8 is cast).
        y_pred: tensor of the same shape of outputs in [-1, 1] (a tanh).
        k: float > 0. The margin. Defaults to 0.5, as in the paper.

    Returns:
        A float scalar tensor.

    Raises:
        ValueError: on shapes that differ or k <= 0.

    Examples:

    ```python
    # Terms: max(0, 0.5 - 0.8) = 0, max(0, 0.5 - 0.2) = 0.3, unknown, max(0, 0.5 + 0.5) = 1.0; n0 = 3.
    max_margin_loss([[1, -1, 0, 1]], [[0.8, -0.2, 0.9, -0.5]])  # (0 + 0.3 + 1.0) / 3 = 0.4333
    ```

    References:
        Chu, De la Torre, Cohn 2019 (the max-margin loss of the LSTM).
    """
    terms, known = _max_margin_terms(y_true, y_pred, _check_margin(k))
    return ops.sum(terms) / ops.maximum(ops.sum(known), 1.0)


@keras.saving.register_keras_serializable(package="aufera")
class MaxMarginLoss(keras.losses.Loss):
    """Keras loss of Chu et al. 2019's LSTM: exactly `max_margin_loss`, normalised by the batch's known labels.

    Keras reduces per-sample values, so `call` returns for each sample n its
    sum of hinge terms times N / n0 (N the batch size, n0 the number of known
    labels in the batch): the default reduction "sum_over_batch_size" then
    divides their sum by N and gives sum / n0, the value of
    `max_margin_loss`. With reduction "none" the loss is the (N,) vector of
    these scaled per-sample terms (their mean is the loss); a sample weight
    w_n multiplies sample n's hinge sum. Padding time steps must carry the
    label 0 (unknown); a Keras mask on `y_pred` is not used for that.

    Args:
        k: float > 0. The margin. Defaults to 0.5.
        reduction: str. Keras loss reduction. Defaults to "sum_over_batch_size".
        name: str. Defaults to "max_margin_loss".
        dtype: the loss dtype. Defaults to None (the Keras float type).

    Raises:
        ValueError: on k <= 0.

    Examples:

    ```python
    model.compile(optimizer="adam", loss=MaxMarginLoss())  # model output (N, T, num_aus), tanh
    ```

    References:
        Chu, De la Torre, Cohn 2019 (the max-margin loss of the LSTM).
    """

    def __init__(
        self,
        k: float = MAX_MARGIN_K,
        reduction: str = "sum_over_batch_size",
        name: str = "max_margin_loss",
        dtype=None,
    ):
        k = _check_margin(k)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.k = k

    def call(self, y_true, y_pred):
        terms, known = _max_margin_terms(y_true, y_pred, self.k)
        if len(terms.shape) < 2:
            raise ValueError(f"`y_pred` must have shape (N, ..., num_aus). Received: y_pred.shape={terms.shape}")
        per_sample = ops.sum(terms, axis=tuple(range(1, len(terms.shape))))
        batch_size = ops.cast(ops.shape(terms)[0], terms.dtype)
        return per_sample * (batch_size / ops.maximum(ops.sum(known), 1.0))

    def get_config(self):
        config = super().get_config()
        config["k"] = self.k
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
