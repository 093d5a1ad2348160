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

Event-based F1 (Ding, Chu, De la Torre, Cohn, Wang 2013, "Facial action unit event detection by cascade of
tasks", ICCV) works on frame sequences, not frames:
    `event_f1`: F1-event of one AU's sequence at one overlap threshold.
    `event_f1_curve`: F1-event of one AU's sequence over overlap thresholds.
    `event_f1_auc`: area under that curve over [0, 1].
    `event_f1_per_au`: F1-event per AU over a batch of sequences, events pooled.
    `event_f1_auc_per_au`: area under the pooled F1-event curve per AU.

The numpy functions are for evaluation; `MeanF1OverAUs` is a stateful Keras
metric for monitoring training and validation.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from aufera.au import ABSENT, NUM_AUS, NUM_VIEWS, PRESENT, UNKNOWN
from aufera.models.decision_fusion import fuse_pair_outputs


def _check_values(labels: np.ndarray, name: str) -> None:
    """Raises ValueError naming `name` when `labels` hold anything but +1, -1 and 0."""
    bad = ~np.isin(labels, (PRESENT, ABSENT, UNKNOWN))
    if bad.any():
        raise ValueError(f"`{name}` must hold +1, -1 or 0. Received values: {np.unique(labels[bad]).tolist()[:10]}")


def _check_decisions(decisions: np.ndarray, name: str, hint: str = "") -> None:
    """Raises ValueError naming `name` when `decisions` hold anything but 0 and 1."""
    bad = ~np.isin(decisions, (0, 1))
    if bad.any():
        raise ValueError(
            f"`{name}` must hold 0/1 decisions{hint}. Received values: {np.unique(decisions[bad]).tolist()[:10]}"
        )


def _check_au_arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must both have shape (N, num_aus). "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    _check_values(y_true, "y_true")
    _check_decisions(y_pred, "y_pred", " (see aufera.models.decision_fusion)")
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
    _check_values(y_true, "y_true")
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


# Event-based F1 (Ding et al. 2013). A score s counts at threshold t when s >= t - _EVENT_TOLERANCE, so that a
# score that equals t as a fraction is not lost to rounding in t (np.linspace(0, 1, 101)[70] is 0.7000000000000001).
_EVENT_TOLERANCE = 1e-9
DEFAULT_EVENT_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def _check_overlap(overlap) -> float:
    try:
        value = float(overlap)
    except (TypeError, ValueError):
        raise ValueError(f"`overlap` must be a number in [0, 1]. Received: overlap={overlap!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`overlap` must be a number in [0, 1]. Received: overlap={overlap!r}")
    return value


def _check_thresholds(thresholds, span_unit_interval: bool = False) -> np.ndarray:
    if thresholds is None:
        return DEFAULT_EVENT_THRESHOLDS.copy()
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"`thresholds` must be a non-empty 1-D array. Received: thresholds.shape={thresholds.shape}")
    if not np.all((thresholds >= 0.0) & (thresholds <= 1.0)):
        bad = thresholds[~((thresholds >= 0.0) & (thresholds <= 1.0))]
        raise ValueError(f"`thresholds` must lie in [0, 1]. Received values: {bad.tolist()[:10]}")
    if span_unit_interval:
        if thresholds.size < 2 or np.any(np.diff(thresholds) <= 0):
            raise ValueError("`thresholds` must be strictly increasing (at least 2 values) to integrate over them")
        if thresholds[0] != 0.0 or thresholds[-1] != 1.0:
            raise ValueError(
                "`thresholds` must start at 0 and end at 1 for the area over [0, 1]. "
                f"Received: thresholds[0]={thresholds[0]}, thresholds[-1]={thresholds[-1]}"
            )
    return thresholds


def _check_event_sequence(labels, predictions) -> tuple[np.ndarray, np.ndarray]:
    """Checks one AU's frame sequence; returns (true-present, predicted-present) bool arrays, unknown frames False."""
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.ndim != 1 or predictions.ndim != 1:
        raise ValueError(
            "`labels` and `predictions` must be 1-D frame sequences of one AU. "
            f"Received: labels.shape={labels.shape}, predictions.shape={predictions.shape}"
        )
    if labels.shape != predictions.shape:
        raise ValueError(
            "`labels` and `predictions` must have the same length. "
            f"Received: labels.shape={labels.shape}, predictions.shape={predictions.shape}"
        )
    _check_values(labels, "labels")
    _check_decisions(predictions, "predictions")
    return labels == PRESENT, (predictions == 1) & (labels != UNKNOWN)


def _event_overlap_scores(present: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each maximal run of True in `present`: the fraction of its frames where `other` is True."""
    edges = np.diff(np.concatenate(([0], present.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    covered = np.concatenate(([0], np.cumsum(other, dtype=np.int64)))
    return (covered[ends] - covered[starts]) / (ends - starts)


def _event_scores(true_present: np.ndarray, pred_present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The overlap scores of the true events and of the predicted events of one sequence."""
    return _event_overlap_scores(true_present, pred_present), _event_overlap_scores(pred_present, true_present)


def _event_f1_from_scores(true_scores: np.ndarray, pred_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """F1-event at each threshold from the pooled overlap scores (edge cases as documented in `event_f1`)."""
    if true_scores.size == 0 and pred_scores.size == 0:
        return np.ones(thresholds.shape, dtype=np.float64)
    if true_scores.size == 0 or pred_scores.size == 0:
        return np.zeros(thresholds.shape, dtype=np.float64)
    cut = thresholds - _EVENT_TOLERANCE
    true_sorted, pred_sorted = np.sort(true_scores), np.sort(pred_scores)
    # Number of scores >= cut = size - number of scores < cut.
    recall = (true_sorted.size - np.searchsorted(true_sorted, cut, side="left")) / true_sorted.size
    precision = (pred_sorted.size - np.searchsorted(pred_sorted, cut, side="left")) / pred_sorted.size
    return _safe_divide(2 * recall * precision, recall + precision)


def event_f1(labels, predictions, overlap: float = 0.5) -> float:
    """Event-based F1 of one AU's frame sequence at one overlap threshold (Ding et al. 2013).

    An event is a maximal run of consecutive present frames. True events are
    the runs of label +1; predicted events the runs of prediction 1. Unknown
    frames (label 0) belong to no event on either side: they break true runs,
    and a prediction of 1 at an unknown frame is treated as 0, so it breaks
    predicted runs too and is never a false event.

    The overlap score of a true event g is |g ∩ predicted-present frames| / |g|,
    that of a predicted event p is |p ∩ true-present frames| / |p|. At
    threshold t, event recall ER(t) is the share of true events with a score
    >= t, event precision EP(t) the share of predicted events with a score
    >= t, and F1-event(t) = 2 ER EP / (ER + EP), 0 when ER + EP = 0. At t = 0
    every score counts (0 >= 0), so F1-event(0) = 1 whenever both sides have
    an event; at t = 1 only fully covered events count. Scores equal to t
    count even when t carries rounding error (a tolerance of 1e-9).

    Edge cases (never NaN):
        - no true event and no predicted event: 1.0 (nothing to find and
          nothing claimed, so nothing is missed or wrong);
        - no true event but some predicted: ER is undefined (0 / 0); the
          F1 is defined as 0.0 (every claimed event is false);
        - some true event but none predicted: EP is undefined; 0.0.

    Args:
        labels: array (T,) of +1 / -1 / 0 (0 = unknown).
        predictions: array (T,) of 0 / 1 decisions (or bool).
        overlap: float in [0, 1]. The threshold t. Defaults to 0.5.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: on inputs that are not 1-D, lengths that differ, labels
            outside {+1, -1, 0}, predictions other than 0/1, or an overlap
            outside [0, 1].

    Examples:

    ```python
    # True events {0-2}, {5-6}; predicted {0}, {4-6}. Scores: true 1/3, 2/2;
    # predicted 1/1, 2/3. At t = 0.5: ER = 1/2, EP = 2/2, F1 = 2/3.
    event_f1([1, 1, 1, -1, -1, 1, 1, -1], [1, 0, 0, 0, 1, 1, 1, 0])  # 0.6667
    ```

    References:
        Ding, Chu, De la Torre, Cohn, Wang 2013, ICCV (F1-event); Chu, De la Torre, Cohn 2019 (its use).
    """
    overlap = _check_overlap(overlap)
    true_scores, pred_scores = _event_scores(*_check_event_sequence(labels, predictions))
    return float(_event_f1_from_scores(true_scores, pred_scores, np.array([overlap]))[0])


def event_f1_curve(labels, predictions, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    """F1-event of one AU's frame sequence over overlap thresholds: the F1-event curve.

    Events, scores and edge cases as in `event_f1`: the curve is 1 everywhere
    when neither side has an event, and 0 everywhere when only one side has.

    Args:
        labels: array (T,) of +1 / -1 / 0 (0 = unknown).
        predictions: array (T,) of 0 / 1 decisions (or bool).
        thresholds: 1-D array of thresholds in [0, 1]. Defaults to
            `np.linspace(0, 1, 101)`.

    Returns:
        A tuple (thresholds, f1) of float64 arrays of the same length.

    Raises:
        ValueError: as `event_f1`, or on thresholds that are not a non-empty
            1-D array in [0, 1].

    Examples:

    ```python
    t, f1 = event_f1_curve([1, 1, 1, -1, -1, 1, 1, -1], [1, 0, 0, 0, 1, 1, 1, 0], [0.0, 0.5, 1.0])
    # f1 = [1.0, 2/3, 0.5]
    ```

    References:
        Ding, Chu, De la Torre, Cohn, Wang 2013, ICCV (F1-event).
    """
    thresholds = _check_thresholds(thresholds)
    true_scores, pred_scores = _event_scores(*_check_event_sequence(labels, predictions))
    return thresholds, _event_f1_from_scores(true_scores, pred_scores, thresholds)


def event_f1_auc(labels, predictions, thresholds=None) -> float:
    """Area under the F1-event curve of one AU's frame sequence over [0, 1], by the trapezoid rule.

    Args:
        labels: array (T,) of +1 / -1 / 0 (0 = unknown).
        predictions: array (T,) of 0 / 1 decisions (or bool).
        thresholds: strictly increasing 1-D array from 0 to 1 inclusive.
            Defaults to `np.linspace(0, 1, 101)`.

    Returns:
        A float in [0, 1]: 1.0 when neither side has an event, 0.0 when only
        one side has (see `event_f1`).

    Raises:
        ValueError: as `event_f1_curve`, or on thresholds that are not
            strictly increasing from 0 to 1.

    Examples:

    ```python
    event_f1_auc([1, 1, 1, -1, -1, 1, 1, -1], [1, 0, 0, 0, 1, 1, 1, 0], [0.0, 0.5, 1.0])  # 0.7083
    ```

    References:
        Ding, Chu, De la Torre, Cohn, Wang 2013, ICCV (F1-event).
    """
    thresholds = _check_thresholds(thresholds, span_unit_interval=True)
    thresholds, f1 = event_f1_curve(labels, predictions, thresholds)
    return float(np.trapezoid(f1, thresholds))


def _event_sequences(values, what: str) -> list[np.ndarray]:
    """A batch (N, T, A) array or a list of (T_i, A) arrays as a list of arrays."""
    if isinstance(values, (list, tuple)):
        sequences = [np.asarray(v) for v in values]
    else:
        values = np.asarray(values)
        if values.ndim != 3:
            raise ValueError(
                f"`{what}` must have shape (N, T, num_aus) or be a list of (T_i, num_aus) arrays. "
                f"Received: {what}.shape={values.shape}"
            )
        sequences = list(values)
    for i, sequence in enumerate(sequences):
        if sequence.ndim != 2:
            raise ValueError(f"`{what}[{i}]` must have shape (T_i, num_aus). Received: shape={sequence.shape}")
    return sequences


def _event_scores_per_au(labels, predictions, mask) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pooled (true, predicted) event scores of each AU over all sequences of a batch."""
    labels = _event_sequences(labels, "labels")
    predictions = _event_sequences(predictions, "predictions")
    if len(labels) != len(predictions):
        raise ValueError(
            f"`labels` and `predictions` must hold as many sequences. Received: {len(labels)} and {len(predictions)}"
        )
    if not labels:
        raise ValueError("`labels` must hold at least one sequence. Received: none")
    num_aus = labels[0].shape[1]
    for i, (y, p) in enumerate(zip(labels, predictions, strict=True)):
        if y.shape != p.shape or y.shape[1] != num_aus:
            raise ValueError(
                f"Sequence {i} must have shape (T_i, {num_aus}) in both `labels` and `predictions`. "
                f"Received: labels[{i}].shape={y.shape}, predictions[{i}].shape={p.shape}"
            )
    if mask is not None:
        if isinstance(mask, (list, tuple)):
            masks = list(mask)
        else:
            mask = np.asarray(mask)
            if mask.ndim != 2:
                raise ValueError(f"`mask` must have shape (N, T). Received: mask.shape={mask.shape}")
            masks = list(mask)
        if len(masks) != len(labels):
            raise ValueError(f"`mask` must hold one row per sequence ({len(labels)}). Received: {len(masks)} rows")
        checked = []
        for i, (m, y) in enumerate(zip(masks, labels, strict=True)):
            m = np.asarray(m)
            if m.shape != y.shape[:1]:
                raise ValueError(f"`mask[{i}]` must have shape {y.shape[:1]}. Received: shape={m.shape}")
            bad = ~np.isin(m, (0, 1))
            if bad.any():
                raise ValueError(
                    f"`mask` must be boolean (True = real frame). Received values: {np.unique(m[bad]).tolist()[:10]}"
                )
            checked.append(m.astype(bool))
        # Padding and gap frames are unknown frames: they break events on both sides; their values are ignored.
        labels = [np.where(m[:, None], y, UNKNOWN) for m, y in zip(checked, labels, strict=True)]
        predictions = [np.where(m[:, None], p, 0) for m, p in zip(checked, predictions, strict=True)]
    pooled = []
    for a in range(num_aus):
        true_scores, pred_scores = [], []
        for y, p in zip(labels, predictions, strict=True):
            t, q = _event_scores(*_check_event_sequence(y[:, a], p[:, a]))
            true_scores.append(t)
            pred_scores.append(q)
        pooled.append((np.concatenate(true_scores), np.concatenate(pred_scores)))
    return pooled


def event_f1_per_au(labels, predictions, overlap: float = 0.5, mask=None) -> np.ndarray:
    """Event-based F1 per AU over a batch of sequences, events pooled over the sequences.

    Events and scores are found in each sequence separately (an event never
    spans two sequences), then pooled per AU: ER = true events matched in
    all sequences / all true events, EP likewise, F1 = 2 ER EP / (ER + EP).
    Unknown frames and edge cases as in `event_f1` (an AU with no
    true and no predicted event in any sequence gets 1.0).

    Args:
        labels: array (N, T, num_aus) of +1 / -1 / 0, or a list of N arrays
            (T_i, num_aus) of varying length.
        predictions: 0 / 1 decisions of the same shape(s) as `labels`.
        overlap: float in [0, 1]. The threshold t. Defaults to 0.5.
        mask: optional bool array (N, T) (or a list of (T_i,) arrays), True
            for real frames. False frames (padding, gaps) are treated as
            unknown: they belong to no event and break events on both sides,
            and their label and prediction values are ignored.

    Returns:
        A float64 array (num_aus,).

    Raises:
        ValueError: on shapes that do not match, values as in `event_f1`, a
            mask that is not boolean, or an overlap outside [0, 1].

    Examples:

    ```python
    labels = [[[1], [1], [-1]], [[1], [-1], [-1]]]
    predictions = [[[1], [0], [0]], [[0], [0], [1]]]
    # True events: 2 (scores 1/2, 0); predicted: 2 (scores 1, 0). At 0.5: ER = EP = 1/2.
    event_f1_per_au(labels, predictions)  # [0.5]
    ```

    References:
        Ding, Chu, De la Torre, Cohn, Wang 2013, ICCV (F1-event).
    """
    overlap = _check_overlap(overlap)
    threshold = np.array([overlap])
    pooled = _event_scores_per_au(labels, predictions, mask)
    return np.array([_event_f1_from_scores(t, p, threshold)[0] for t, p in pooled], dtype=np.float64)


def event_f1_auc_per_au(labels, predictions, thresholds=None, mask=None) -> np.ndarray:
    """Area under the pooled F1-event curve per AU over [0, 1] (trapezoid rule).

    Takes `labels`, `predictions` and `mask` as `event_f1_per_au` does, and
    `thresholds` as `event_f1_auc` (strictly increasing from 0 to 1; default
    `np.linspace(0, 1, 101)`).

    Returns:
        A float64 array (num_aus,).

    References:
        Ding, Chu, De la Torre, Cohn, Wang 2013, ICCV (F1-event).
    """
    thresholds = _check_thresholds(thresholds, span_unit_interval=True)
    pooled = _event_scores_per_au(labels, predictions, mask)
    return np.array(
        [np.trapezoid(_event_f1_from_scores(t, p, thresholds), thresholds) for t, p in pooled], dtype=np.float64
    )
