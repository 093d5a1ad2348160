"""Evaluation metrics: F1 and accuracy per AU (He et al. 2019, eq. 6), ROC AUC per AU, view accuracy and confusion.

Labels follow the aufera contract (`aufera.au`): y_true holds +1 (present),
-1 (absent) or 0 (unknown) per AU; unknown entries are left out of every AU
metric, AU by AU. Predictions are 0/1 decisions (1 = present), e.g. from
`aufera.models.decision_fusion`; the AUC takes scores instead (larger =
more likely present, e.g. a present-probability).

Degenerate cases of F1 and accuracy follow scikit-learn with
`zero_division=0`: an AU whose precision or recall is undefined (no
predicted or no true positives) gets that term as 0, so its F1 is 0
whenever it has no true positive, and an AU with no known label at all gets
F1 = 0 and accuracy = 0. The mean over AUs includes such AUs.

The AUC of an AU without a positive or without a negative known frame is
undefined: `auc_per_au` gives NaN for it, `auc_undefined_reasons` says why
("no positives", "no negatives", "no known frames"), and `mean_defined`
averages the defined values only (never a NaN, never a silent 0).

The numpy functions are for evaluation; `MeanF1OverAUs` is a stateful Keras
metric for monitoring training and validation.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from aufera.au import ABSENT, NUM_AUS, NUM_VIEWS, PRESENT, UNKNOWN
from aufera.models.decision_fusion import fuse_pair_outputs


def _check_au_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must both have shape (N, num_aus). "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    bad = ~np.isin(y_true, (PRESENT, ABSENT, UNKNOWN))
    if bad.any():
        raise ValueError(f"`y_true` must hold +1, -1 or 0. Received values: {np.unique(y_true[bad]).tolist()}")
    bad = ~np.isin(y_pred, (0, 1))
    if bad.any():
        raise ValueError(
            f"`y_pred` must hold 0/1 decisions (see aufera.models.decision_fusion). "
            f"Received values: {np.unique(y_pred[bad]).tolist()[:10]}"
        )
    return y_true, y_pred.astype(bool)


def au_confusion_counts(y_true, y_pred) -> dict[str, np.ndarray]:
    """Per-AU counts of true/false positives/negatives over the known labels.

    Args:
        y_true: array (N, num_aus) of +1 / -1 / 0 (0 = unknown, left out).
        y_pred: array (N, num_aus) of 0 / 1 decisions.

    Returns:
        A dict of int64 arrays (num_aus,): "tp", "fp", "fn", "tn".
    """
    y_true, y_pred = _check_au_arrays(y_true, y_pred)
    positive, negative = y_true == PRESENT, y_true == ABSENT
    return {
        "tp": np.sum(positive & y_pred, axis=0).astype(np.int64),
        "fp": np.sum(negative & y_pred, axis=0).astype(np.int64),
        "fn": np.sum(positive & ~y_pred, axis=0).astype(np.int64),
        "tn": np.sum(negative & ~y_pred, axis=0).astype(np.int64),
    }


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def f1_per_au(y_true, y_pred) -> np.ndarray:
    """F1 = 2PR / (P + R) per AU over the known labels (eq. 6).

    P = TP / (TP + FP) and R = TP / (TP + FN), each 0 when undefined; F1 is 0
    when P + R = 0 (scikit-learn's `f1_score(..., zero_division=0)`).

    Args:
        y_true: array (N, num_aus) of +1 / -1 / 0 (0 = unknown, left out).
        y_pred: array (N, num_aus) of 0 / 1 decisions.

    Returns:
        A float64 array (num_aus,).

    Examples:

    ```python
    f1_per_au([[1, -1], [1, 0], [-1, 1]], [[1, 0], [0, 1], [1, 1]])  # [0.5, 1.0]
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 4.3, eq. (6).
    """
    counts = au_confusion_counts(y_true, y_pred)
    precision = _safe_divide(counts["tp"], counts["tp"] + counts["fp"])
    recall = _safe_divide(counts["tp"], counts["tp"] + counts["fn"])
    return _safe_divide(2 * precision * recall, precision + recall)


def accuracy_per_au(y_true, y_pred) -> np.ndarray:
    """Fraction of correct decisions per AU over the known labels (0 for an AU with none).

    Takes and returns arrays as `f1_per_au` does: y_true (N, num_aus) of
    +1 / -1 / 0 (0 = unknown, left out), y_pred (N, num_aus) of 0 / 1; a
    float64 array (num_aus,).

    References:
        He, Li, Bo, Yu 2019, Table 2.
    """
    counts = au_confusion_counts(y_true, y_pred)
    correct = counts["tp"] + counts["tn"]
    return _safe_divide(correct, correct + counts["fp"] + counts["fn"])


def mean_f1(y_true, y_pred) -> float:
    """Mean over AUs of `f1_per_au` (the "Mean" row of Table 1)."""
    return float(np.mean(f1_per_au(y_true, y_pred)))


def mean_accuracy(y_true, y_pred) -> float:
    """Mean over AUs of `accuracy_per_au` (the "Mean" row of Table 2)."""
    return float(np.mean(accuracy_per_au(y_true, y_pred)))


def _check_scores(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != scores.shape:
        raise ValueError(
            "`y_true` and `scores` must both have shape (N, num_aus). "
            f"Received: y_true.shape={y_true.shape}, scores.shape={scores.shape}"
        )
    bad = ~np.isin(y_true, (PRESENT, ABSENT, UNKNOWN))
    if bad.any():
        raise ValueError(f"`y_true` must hold +1, -1 or 0. Received values: {np.unique(y_true[bad]).tolist()}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("`scores` must be finite numbers. Received: NaN or infinite values")
    return y_true, scores


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `values`, tied values sharing the mean of their ranks (scipy's `rankdata(method='average')`)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Start of each run of equal values, in sorted order; a run spanning ranks a..b gets (a + b) / 2.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_ranks = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def auc_undefined_reasons(y_true) -> list[str | None]:
    """Why the AUC of each AU is undefined, or None where it is defined.

    Args:
        y_true: array (N, num_aus) of +1 / -1 / 0 (0 = unknown, left out).

    Returns:
        A list of num_aus entries: None (the AU has at least one positive and
        one negative known frame), "no known frames", "no positives" or
        "no negatives".
    """
    y_true = np.asarray(y_true)
    if y_true.ndim != 2:
        raise ValueError(f"`y_true` must have shape (N, num_aus). Received: y_true.shape={y_true.shape}")
    reasons = []
    for positives, negatives in zip((y_true == PRESENT).sum(0), (y_true == ABSENT).sum(0), strict=True):
        if positives == 0 and negatives == 0:
            reasons.append("no known frames")
        elif positives == 0:
            reasons.append("no positives")
        elif negatives == 0:
            reasons.append("no negatives")
        else:
            reasons.append(None)
    return reasons


def auc_per_au(y_true, scores) -> np.ndarray:
    """Area under the ROC curve per AU, present = positive, absent = negative, unknown frames left out.

    The AUC of an AU is the probability that a positive frame scores higher
    than a negative one, ties counting one half: the Mann-Whitney statistic
    from average ranks, U / (n_pos n_neg), which equals the trapezoid area
    under the ROC curve (scikit-learn's `roc_auc_score`, ties included).
    This is the per-AU AUC of Zhao et al. 2016 (DRML) and Chu et al. 2017.

    Args:
        y_true: array (N, num_aus) of +1 / -1 / 0 (0 = unknown, left out AU by AU).
        scores: array (N, num_aus) of finite scores, larger = more likely
            present (e.g. sigmoid or softmax present-probabilities).

    Returns:
        A float64 array (num_aus,); NaN for an AU without a positive or
        without a negative known frame (see `auc_undefined_reasons`; average
        with `mean_defined`).

    Raises:
        ValueError: on shapes that differ, labels outside {+1, -1, 0}, or a
            score that is NaN or infinite.

    Examples:

    ```python
    auc_per_au([[1], [-1], [1], [0]], [[0.9], [0.4], [0.4], [0.1]])  # [0.75]
    ```

    References:
        Zhao, Chu, Zhang 2016, Sec. 4 (AUC per AU); Chu, De la Torre, Cohn 2017.
    """
    y_true, scores = _check_scores(y_true, scores)
    out = np.full(y_true.shape[1], np.nan)
    for k in range(y_true.shape[1]):
        known = y_true[:, k] != UNKNOWN
        positive = y_true[known, k] == PRESENT
        n_pos = int(positive.sum())
        n_neg = int(positive.size - n_pos)
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = _average_ranks(scores[known, k])
        u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
        out[k] = u / (n_pos * n_neg)
    return out


def mean_defined(values) -> float | None:
    """The mean of the defined (finite) values, or None when none is defined.

    For per-AU metrics with undefined entries (NaN from `auc_per_au`): the
    undefined AUs are left out of the mean rather than counted as 0, and a
    mean is never NaN.

    Args:
        values: array-like of floats, NaN where undefined.

    Returns:
        A float, or None when no value is finite.

    Examples:

    ```python
    mean_defined([0.5, float("nan"), 0.7])  # 0.6
    mean_defined([float("nan")])  # None
    ```
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    defined = values[np.isfinite(values)]
    return float(np.mean(defined)) if defined.size else None


def _view_labels(y, num_views: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == num_views:
        y = np.argmax(y, axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"`{what}` must be view indices (N,) or probabilities (N, {num_views}). Received: {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_views or not np.all(y == np.round(y))):
        raise ValueError(f"`{what}` must hold view indices 0-{num_views - 1}. Received: {np.unique(y).tolist()[:10]}")
    return y.astype(np.int64)


def view_accuracy(y_true, y_pred, num_views: int = NUM_VIEWS) -> float:
    """Fraction of images whose view is recognised (He et al. 2019 report 0.991).

    Args:
        y_true: array (N,) of view indices 0-8.
        y_pred: array (N,) of predicted indices, or (N, num_views) probabilities
            (the arg-max is taken).
        num_views: int. Defaults to 9.

    Returns:
        A float; 0.0 for an empty input.
    """
    y_true = _view_labels(y_true, num_views, "y_true")
    y_pred = _view_labels(y_pred, num_views, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"View labels and predictions differ in length. Received: {y_true.shape}, {y_pred.shape}")
    return float(np.mean(y_true == y_pred)) if y_true.size else 0.0


def view_confusion_matrix(y_true, y_pred, num_views: int = NUM_VIEWS, normalize: bool = False) -> np.ndarray:
    """The num_views x num_views view confusion matrix (Fig. 7): rows true view, columns predicted.

    Args:
        y_true: array (N,) of view indices 0-8.
        y_pred: array (N,) of predicted indices, or (N, num_views) probabilities.
        num_views: int. Defaults to 9.
        normalize: bool. If True, each row is divided by its sum (rows with
            no image stay 0), as in Fig. 7. Defaults to False (counts).

    Returns:
        An int64 array of counts, or float64 if `normalize`.
    """
    y_true = _view_labels(y_true, num_views, "y_true")
    y_pred = _view_labels(y_pred, num_views, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"View labels and predictions differ in length. Received: {y_true.shape}, {y_pred.shape}")
    matrix = np.zeros((num_views, num_views), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    if normalize:
        return _safe_divide(matrix, matrix.sum(axis=1, keepdims=True) + np.zeros_like(matrix))
    return matrix


@keras.saving.register_keras_serializable(package="aufera")
class MeanF1OverAUs(keras.metrics.Metric):
    """Stateful Keras metric: mean over AUs of the F1 score, from 2-neuron AU outputs.

    Accumulates true positives, false positives and false negatives per AU
    over all batches (unknown labels left out), then computes F1 per AU as
    `f1_per_au` does (0 where undefined) and averages over AUs. The decision
    of an output pair is "present > absent" (a tie counts as absent), as in
    `aufera.models.decision_fusion` with one model.

    Args:
        num_aus: int. Number of AUs. Defaults to `aufera.au.NUM_AUS` (10).
        name: str. Defaults to "mean_f1".
        dtype: the metric dtype. Defaults to "float32".

    Examples:

    ```python
    network1.compile(optimizer="adam", metrics={"au": [MeanF1OverAUs()]}, **aufera.losses.network1_losses())
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 4.3, eq. (6).
    """

    def __init__(self, num_aus: int = NUM_AUS, name: str = "mean_f1", dtype="float32"):
        if int(num_aus) != num_aus or num_aus < 1:
            raise ValueError(f"`num_aus` must be a positive integer. Received: num_aus={num_aus!r}")
        super().__init__(name=name, dtype=dtype)
        self.num_aus = int(num_aus)
        self.true_positives = self.add_variable(shape=(self.num_aus,), initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape=(self.num_aus,), initializer="zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape=(self.num_aus,), initializer="zeros", name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: y_true (N, num_aus) in {+1, -1, 0}, y_pred (N, num_aus, 2) pair outputs."""
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) != 3 or y_pred.shape[-1] != 2:
            raise ValueError(f"`y_pred` must have shape (N, num_aus, 2). Received: y_pred.shape={y_pred.shape}")
        _, decision = fuse_pair_outputs([y_pred], (1.0,))
        decision = ops.cast(decision, self.dtype)
        y_true = ops.cast(ops.reshape(ops.convert_to_tensor(y_true), ops.shape(decision)), self.dtype)
        positive = ops.cast(ops.equal(y_true, PRESENT), self.dtype)
        negative = ops.cast(ops.equal(y_true, ABSENT), self.dtype)
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
            positive, negative = positive * weight, negative * weight
        self.true_positives.assign_add(ops.sum(positive * decision, axis=0))
        self.false_positives.assign_add(ops.sum(negative * decision, axis=0))
        self.false_negatives.assign_add(ops.sum(positive * (1.0 - decision), axis=0))

    def f1_per_au(self):
        """The F1 score of each AU so far, a tensor (num_aus,)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        # 2PR / (P + R) = 2TP / (2TP + FP + FN) when TP > 0, and both are 0 when TP = 0.
        return ops.divide_no_nan(2.0 * tp, 2.0 * tp + fp + fn)

    def result(self):
        return ops.mean(self.f1_per_au())

    def reset_state(self):
        for variable in (self.true_positives, self.false_positives, self.false_negatives):
            variable.assign(ops.zeros((self.num_aus,), dtype=self.dtype))

    def get_config(self):
        return {"num_aus": self.num_aus, "name": self.name, "dtype": self.dtype}
