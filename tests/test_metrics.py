"""Tests of aufera.metrics against scikit-learn, unknown labels excluded AU by AU (F1, accuracy, AUC, views)."""

import json

import keras
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

from aufera.au import NUM_AUS, NUM_VIEWS
from aufera.losses import network1_losses
from aufera.metrics import (
    MeanF1OverAUs,
    accuracy_per_au,
    au_confusion_counts,
    auc_per_au,
    auc_undefined_reasons,
    f1_per_au,
    mean_accuracy,
    mean_defined,
    mean_f1,
    view_accuracy,
    view_confusion_matrix,
)
from aufera.models import Network1, ResNetBackbone, decision_fusion


def random_labels(seed, n=60):
    rng = np.random.default_rng(seed)
    y_true = rng.choice([-1, 0, 1], size=(n, NUM_AUS), p=[0.5, 0.2, 0.3])
    y_pred = rng.integers(0, 2, size=(n, NUM_AUS))
    # Degenerate AUs: AU index 1 has no positive label, 2 is never predicted,
    # 3 is all unknown, 4 has every known label right.
    y_true[:, 1] = np.where(y_true[:, 1] == 1, -1, y_true[:, 1])
    y_pred[:, 2] = 0
    y_true[:, 3] = 0
    y_pred[:, 4] = (y_true[:, 4] == 1).astype(int)
    return y_true, y_pred


def sklearn_per_au(y_true, y_pred):
    f1, acc = [], []
    for k in range(y_true.shape[1]):
        known = y_true[:, k] != 0
        t, p = (y_true[known, k] == 1).astype(int), y_pred[known, k]
        if known.any():
            f1.append(f1_score(t, p, zero_division=0, labels=[0, 1]))
            acc.append(accuracy_score(t, p))
        else:
            f1.append(0.0)
            acc.append(0.0)
    return np.array(f1), np.array(acc)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_au_metrics_match_sklearn(seed):
    y_true, y_pred = random_labels(seed)
    f1_expected, acc_expected = sklearn_per_au(y_true, y_pred)
    f1, acc = f1_per_au(y_true, y_pred), accuracy_per_au(y_true, y_pred)
    assert f1.shape == acc.shape == (NUM_AUS,)
    np.testing.assert_allclose(f1, f1_expected, atol=1e-12)
    np.testing.assert_allclose(acc, acc_expected, atol=1e-12)
    assert f1[1] == 0 and f1[2] == 0 and f1[3] == 0 and acc[3] == 0 and acc[4] == 1
    np.testing.assert_allclose(mean_f1(y_true, y_pred), f1_expected.mean())
    np.testing.assert_allclose(mean_accuracy(y_true, y_pred), acc_expected.mean())


def test_f1_hand_example():
    # AU A has labels +1, +1, -1; AU B has -1, unknown, +1.
    y_true = [[1, -1], [1, 0], [-1, 1]]
    y_pred = [[1, 0], [0, 1], [1, 1]]
    # AU A: TP=1, FN=1, FP=1 -> P = R = 0.5 -> F1 = 0.5; accuracy 1/3.
    # AU B: known rows 0 and 2: TN=1, TP=1 -> F1 = 1; accuracy 1.
    np.testing.assert_allclose(f1_per_au(y_true, y_pred), [0.5, 1.0])
    np.testing.assert_allclose(accuracy_per_au(y_true, y_pred), [1 / 3, 1.0])
    counts = au_confusion_counts(y_true, y_pred)
    assert counts["tp"].tolist() == [1, 1] and counts["fp"].tolist() == [1, 0]
    assert counts["fn"].tolist() == [1, 0] and counts["tn"].tolist() == [0, 1]


def test_view_metrics_match_sklearn():
    rng = np.random.default_rng(4)
    views = rng.integers(0, NUM_VIEWS, size=200)
    probs = rng.dirichlet(np.ones(NUM_VIEWS), size=200)
    probs[np.arange(0, 200, 2), views[::2]] += 1.0  # half of them right
    predicted = probs.argmax(1)
    assert view_accuracy(views, probs) == pytest.approx(accuracy_score(views, predicted))
    assert view_accuracy(views, predicted) == pytest.approx(accuracy_score(views, predicted))
    matrix = view_confusion_matrix(views, probs)
    assert matrix.shape == (NUM_VIEWS, NUM_VIEWS) and matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, confusion_matrix(views, predicted, labels=list(range(NUM_VIEWS))))
    normalized = view_confusion_matrix(views, predicted, normalize=True)
    np.testing.assert_allclose(
        normalized, confusion_matrix(views, predicted, labels=list(range(NUM_VIEWS)), normalize="true")
    )
    np.testing.assert_array_equal(view_confusion_matrix([0, 0], [8, 8], normalize=True)[1], 0.0)


def test_keras_metric_accumulates_over_batches():
    rng = np.random.default_rng(9)
    metric = MeanF1OverAUs()
    all_true, all_pred = [], []
    for _ in range(3):
        y_true = rng.choice([-1, 0, 1], size=(16, NUM_AUS))
        present = rng.uniform(size=(16, NUM_AUS)).astype(np.float32)
        pairs = np.stack([present, 1 - present], axis=-1)
        metric.update_state(y_true, pairs)
        all_true.append(y_true)
        all_pred.append(decision_fusion([pairs]))
    y_true, y_pred = np.concatenate(all_true), np.concatenate(all_pred)
    np.testing.assert_allclose(np.asarray(metric.f1_per_au()), f1_per_au(y_true, y_pred), atol=1e-6)
    np.testing.assert_allclose(float(metric.result()), mean_f1(y_true, y_pred), atol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    clone = MeanF1OverAUs.from_config(json.loads(json.dumps(metric.get_config())))
    assert clone.num_aus == NUM_AUS and clone.name == "mean_f1"


def test_keras_metric_in_evaluate():
    keras.utils.set_random_seed(1)
    backbone = ResNetBackbone(
        input_shape=(32, 32, 1), stackwise_num_filters=(4,), stackwise_num_blocks=(1,), stackwise_pooling=(True,)
    )
    model = Network1(backbone, fc1_units=8, fc2_units=8)
    rng = np.random.default_rng(2)
    images = rng.normal(size=(6, 32, 32, 1)).astype(np.float32)
    au = rng.choice([-1, 0, 1], size=(6, NUM_AUS)).astype(np.float32)
    views = rng.integers(0, NUM_VIEWS, size=6)
    model.compile(optimizer="adam", metrics={"au": [MeanF1OverAUs()]}, **network1_losses())
    result = model.evaluate(images, {"au": au, "view": views}, batch_size=2, verbose=0, return_dict=True)
    decisions = decision_fusion([model.predict_on_batch(images)["au"]])
    np.testing.assert_allclose(result["au_mean_f1"], mean_f1(au, decisions), atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        f1_per_au(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\[2\]"):
        f1_per_au([[2]], [[1]])
    with pytest.raises(ValueError, match="0.7"):
        accuracy_per_au([[1]], [[0.7]])
    with pytest.raises(ValueError, match="0-8"):
        view_accuracy([9], [0])
    with pytest.raises(ValueError, match="num_aus=0"):
        MeanF1OverAUs(num_aus=0)


# --- AUC per AU ---------------------------------------------------------------------------


def auc_case(seed, n=80):
    """Labels with unknowns and scores with many ties; AU 1 has no positive, 2 no negative, 3 no known label."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice([-1, 0, 1], size=(n, NUM_AUS), p=[0.45, 0.2, 0.35])
    scores = rng.integers(0, 6, size=(n, NUM_AUS)) / 5.0  # 6 levels: ties within and across classes
    scores[:, 7] = rng.normal(size=n)  # one AU without ties
    scores[:, 8] = 0.5  # one AU where every score ties: AUC 0.5
    y_true[:, 1] = np.where(y_true[:, 1] == 1, -1, y_true[:, 1])
    y_true[:, 2] = np.where(y_true[:, 2] == -1, 1, y_true[:, 2])
    y_true[:, 3] = 0
    return y_true, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties_and_unknowns(seed):
    y_true, scores = auc_case(seed)
    auc = auc_per_au(y_true, scores)
    assert auc.shape == (NUM_AUS,) and auc.dtype == np.float64
    for k in range(NUM_AUS):
        known = y_true[:, k] != 0
        if k in (1, 2, 3):
            assert np.isnan(auc[k])
            continue
        expected = roc_auc_score((y_true[known, k] == 1).astype(int), scores[known, k])
        assert auc[k] == pytest.approx(expected, abs=1e-12), k
    assert auc[8] == 0.5
    # The unknown frames really are left out: scoring them differently changes nothing.
    shuffled = scores.copy()
    shuffled[y_true == 0] = np.random.default_rng(seed + 10).normal(size=int((y_true == 0).sum()))
    np.testing.assert_array_equal(auc_per_au(y_true, shuffled), auc)
    assert auc_undefined_reasons(y_true)[:4] == [None, "no positives", "no negatives", "no known frames"]
    defined = [auc[k] for k in range(NUM_AUS) if k not in (1, 2, 3)]
    assert mean_defined(auc) == pytest.approx(np.mean(defined), abs=1e-12)


def test_auc_hand_example():
    # AU A: positives score 0.9 and 0.4, negatives 0.4 and 0.1, one unknown frame (score 1.0, left out).
    # Pairs (positive, negative): (0.9, 0.4) 1, (0.9, 0.1) 1, (0.4, 0.4) a tie 1/2, (0.4, 0.1) 1 -> 3.5 / 4.
    # AU B: one positive scoring below both negatives -> 0; AU C: no negative -> undefined.
    y_true = [[1, -1, 1], [-1, 1, 0], [1, -1, 1], [-1, 0, 0], [0, 0, 1]]
    scores = [[0.9, 0.8, 0.1], [0.4, 0.2, 0.5], [0.4, 0.6, 0.3], [0.1, 0.0, 0.2], [1.0, 0.9, 0.0]]
    auc = auc_per_au(y_true, scores)
    assert auc[0] == 0.875 and auc[1] == 0.0 and np.isnan(auc[2])
    assert auc_undefined_reasons(y_true) == [None, None, "no negatives"]
    assert mean_defined(auc) == 0.4375
    # Perfect ranking, reversed ranking.
    assert auc_per_au([[1], [1], [-1]], [[0.9], [0.8], [0.1]])[0] == 1.0
    assert auc_per_au([[1], [1], [-1]], [[0.1], [0.2], [0.9]])[0] == 0.0


def test_mean_defined_never_gives_nan_or_a_silent_zero():
    assert mean_defined([0.5, float("nan"), 0.7]) == pytest.approx(0.6)
    assert mean_defined([float("nan"), float("nan")]) is None
    assert mean_defined([]) is None
    assert mean_defined(np.array([1.0])) == 1.0


def test_auc_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        auc_per_au(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\[2\]"):
        auc_per_au([[2], [1]], [[0.1], [0.2]])
    with pytest.raises(ValueError, match="finite"):
        auc_per_au([[1], [-1]], [[0.1], [np.nan]])
    with pytest.raises(ValueError, match="shape"):
        auc_undefined_reasons([1, -1])
