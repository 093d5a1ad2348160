"""Tests of the max-margin loss of aufera.losses (Chu et al. 2019) against numpy, by hand and through Keras."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from aufera.au import NUM_AUS
from aufera.losses import MaxMarginLoss, max_margin_loss


def numpy_max_margin(y_true, y_pred, k=0.5):
    """The loss written out with a loop: the sum of max(0, k - y yhat) over known labels / their number."""
    total, known = 0.0, 0
    for y, yhat in zip(np.asarray(y_true, np.float64).ravel(), np.asarray(y_pred, np.float64).ravel(), strict=True):
        if y != 0:
            total += max(0.0, k - y * yhat)
            known += 1
    return total / max(known, 1)


def random_batch(seed, shape=(3, 7, NUM_AUS)):
    rng = np.random.default_rng(seed)
    y_true = rng.choice([-1, 0, 1], size=shape, p=[0.4, 0.25, 0.35]).astype(np.int8)
    y_pred = np.tanh(rng.normal(scale=1.5, size=shape)).astype(np.float32)
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [0.5, 0.2, 1.0])
def test_function_and_class_against_numpy(seed, k):
    y_true, y_pred = random_batch(seed)
    assert (y_true == 0).any() and (y_true != 0).any()
    expected = numpy_max_margin(y_true, y_pred, k)
    assert expected > 0
    assert float(max_margin_loss(y_true, y_pred, k=k)) == pytest.approx(expected, rel=1e-6)
    assert float(MaxMarginLoss(k=k)(y_true, y_pred)) == pytest.approx(expected, rel=1e-6)
    # int8, int32 and float labels give the same value.
    for labels in (y_true.astype(np.int32), y_true.astype(np.float32), tf.constant(y_true)):
        assert float(max_margin_loss(labels, y_pred, k=k)) == pytest.approx(expected, rel=1e-6)
        assert float(MaxMarginLoss(k=k)(labels, y_pred)) == pytest.approx(expected, rel=1e-6)


def test_two_dimensional_batch():
    y_true, y_pred = random_batch(5, shape=(8, NUM_AUS))
    expected = numpy_max_margin(y_true, y_pred)
    assert float(max_margin_loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-6)
    assert float(MaxMarginLoss()(y_true, y_pred)) == pytest.approx(expected, rel=1e-6)


def test_hand_worked_example():
    # Terms: y = 1, yhat = 0.8: max(0, 0.5 - 0.8) = 0; y = -1, yhat = -0.2: max(0, 0.5 - 0.2) = 0.3;
    # y = 0: left out; y = 1, yhat = -0.5: max(0, 0.5 + 0.5) = 1.0; y = -1, yhat = 0.5: 0.5 + 0.5 = 1.0.
    # n0 = 4 known labels: (0 + 0.3 + 1.0 + 1.0) / 4 = 0.575.
    y_true = [[1, -1, 0], [1, -1, 0]]
    y_pred = [[0.8, -0.2, 0.9], [-0.5, 0.5, -0.9]]
    assert float(max_margin_loss(y_true, y_pred)) == pytest.approx(0.575)
    assert float(MaxMarginLoss()(y_true, y_pred)) == pytest.approx(0.575)
    # With k = 1: 0.2 + 0.8 + 1.5 + 1.5 = 4.0, / 4 = 1.0.
    assert float(max_margin_loss(y_true, y_pred, k=1.0)) == pytest.approx(1.0)
    assert float(MaxMarginLoss(k=1.0)(y_true, y_pred)) == pytest.approx(1.0)
    # The docstring's example: (0 + 0.3 + 1.0) / 3.
    assert float(max_margin_loss([[1, -1, 0, 1]], [[0.8, -0.2, 0.9, -0.5]])) == pytest.approx(1.3 / 3)


def test_normalised_by_known_labels_of_the_whole_batch():
    # Sample 0 has 1 known label with term 1.0, sample 1 has 3 known labels with terms 0: the loss is
    # 1.0 / 4 = 0.25 (a mean of per-sample means would give 0.5).
    y_true = [[1, 0, 0], [1, 1, 1]]
    y_pred = [[-0.5, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert float(max_margin_loss(y_true, y_pred)) == pytest.approx(0.25)
    assert float(MaxMarginLoss()(y_true, y_pred)) == pytest.approx(0.25)
    # reduction "none": per-sample hinge sums times N / n0 = (1.0, 0) * 2 / 4; their mean is the loss.
    np.testing.assert_allclose(MaxMarginLoss(reduction="none")(y_true, y_pred), [0.5, 0.0])


def test_all_unknown_batch_gives_zero():
    y_true = np.zeros((3, 7, NUM_AUS), np.int8)
    y_pred = np.tanh(np.random.default_rng(0).normal(size=(3, 7, NUM_AUS))).astype(np.float32)
    assert float(max_margin_loss(y_true, y_pred)) == 0.0
    assert float(MaxMarginLoss()(y_true, y_pred)) == 0.0
    assert numpy_max_margin(y_true, y_pred) == 0.0


def test_graph_and_xla():
    y_true, y_pred = random_batch(1)
    expected = numpy_max_margin(y_true, y_pred)
    loss = MaxMarginLoss()
    for jit in (False, True):
        function = tf.function(lambda y, p: max_margin_loss(y, p), jit_compile=jit)
        method = tf.function(lambda y, p: loss(y, p), jit_compile=jit)
        assert float(function(tf.constant(y_true), tf.constant(y_pred))) == pytest.approx(expected, rel=1e-6)
        assert float(method(tf.constant(y_true), tf.constant(y_pred))) == pytest.approx(expected, rel=1e-6)
    # Unknown batch size in a graph.
    spec = (tf.TensorSpec((None, 7, NUM_AUS), tf.int8), tf.TensorSpec((None, 7, NUM_AUS), tf.float32))
    dynamic = tf.function(lambda y, p: loss(y, p), input_signature=spec)
    assert float(dynamic(y_true, y_pred)) == pytest.approx(expected, rel=1e-6)
    assert float(dynamic(y_true[:2], y_pred[:2])) == pytest.approx(numpy_max_margin(y_true[:2], y_pred[:2]), rel=1e-6)


def test_compiled_model_with_sequence_output():
    keras.utils.set_random_seed(0)
    steps, features = 7, 4
    model = keras.Sequential(
        [keras.Input((steps, features)), keras.layers.Dense(NUM_AUS, activation="tanh")], name="per_frame"
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=MaxMarginLoss())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, steps, features)).astype(np.float32)
    y_true, _ = random_batch(2)
    outputs = model.predict(x, verbose=0)
    assert outputs.shape == (3, steps, NUM_AUS)
    expected = numpy_max_margin(y_true, outputs)
    assert model.evaluate(x, y_true, batch_size=3, verbose=0) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y_true, batch_size=3, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[0] == pytest.approx(expected, rel=1e-5)
    assert losses[-1] < losses[0]


def test_gradient_is_zero_at_unknown_labels_and_past_the_margin():
    # Entries: y = 1, yhat = 0.2 (active, d/dyhat = -1 / n0); y = -1, yhat = 0.1 (active, +1 / n0);
    # y = 1, yhat = 0.5 (exactly at the margin: 0); y = -1, yhat = -0.9 (past it: 0); y = 1, yhat = 0.9 (0);
    # y = 0 with any yhat (unknown: 0). n0 = 5.
    y_true = np.array([[[1, -1, 1, -1, 1, 0, 0]], [[0, 0, 0, 0, 0, 0, 0]]], np.int8)
    y_pred = np.array([[[0.2, 0.1, 0.5, -0.9, 0.9, -0.9, 0.3]], [[-1.0, 1.0, 0.0, 0.5, -0.5, 0.2, 0.0]]], np.float32)
    expected = np.zeros(y_pred.shape, np.float32)
    expected[0, 0, 0] = -1.0 / 5
    expected[0, 0, 1] = 1.0 / 5
    for loss in (max_margin_loss, MaxMarginLoss()):
        y_hat = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            value = loss(tf.constant(y_true), y_hat)
        assert float(value) == pytest.approx((0.3 + 0.6) / 5)
        gradient = tape.gradient(value, y_hat).numpy()
        np.testing.assert_allclose(gradient, expected, rtol=1e-6)
        assert np.all(gradient[y_true == 0] == 0.0)
        assert gradient[0, 0, 2] == 0.0 and gradient[0, 0, 3] == 0.0 and gradient[0, 0, 4] == 0.0
    # All unknown: the gradient is 0 everywhere (not NaN).
    y_hat = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = MaxMarginLoss()(np.zeros_like(y_true), y_hat)
    assert np.all(tape.gradient(value, y_hat).numpy() == 0.0)


def test_serialization_round_trip():
    loss = MaxMarginLoss(k=0.3, name="margin")
    config = loss.get_config()
    assert config["k"] == 0.3 and config["name"] == "margin" and config["reduction"] == "sum_over_batch_size"
    rebuilt = MaxMarginLoss.from_config(config)
    assert isinstance(rebuilt, MaxMarginLoss) and rebuilt.k == 0.3 and rebuilt.name == "margin"
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"] == "aufera>MaxMarginLoss"
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert isinstance(restored, MaxMarginLoss) and restored.k == 0.3
    y_true, y_pred = random_batch(4)
    expected = numpy_max_margin(y_true, y_pred, k=0.3)
    for item in (rebuilt, restored):
        assert float(item(y_true, y_pred)) == pytest.approx(expected, rel=1e-6)
    assert isinstance(keras.losses.get(serialized), MaxMarginLoss)


@pytest.mark.parametrize("k", [0, 0.0, -0.5, float("nan"), float("inf"), "half", None])
def test_bad_k(k):
    y_true, y_pred = random_batch(0)
    with pytest.raises(ValueError, match=r"`k` must be a positive number. Received: k="):
        MaxMarginLoss(k=k)
    with pytest.raises(ValueError, match=r"`k` must be a positive number. Received: k="):
        max_margin_loss(y_true, y_pred, k=k)


def test_shape_errors():
    y_true, y_pred = random_batch(0)
    with pytest.raises(ValueError, match=r"same shape. Received shapes: \(3, 7\), \(3, 7, 10\)"):
        max_margin_loss(y_true[..., 0], y_pred)
    with pytest.raises(ValueError, match=r"same shape. Received shapes: \(3, 7, 9\), \(3, 7, 10\)"):
        MaxMarginLoss()(y_true[..., :9], y_pred)
    with pytest.raises(ValueError, match=r"shape \(N, ..., num_aus\). Received: y_pred.shape=\(10,\)"):
        MaxMarginLoss()(y_true[0, 0], y_pred[0, 0])


def test_chu_eq1_is_drml_loss_averaged_over_the_aus():
    """Eq. (1) of Chu et al.: -1/L sum over the L AUs; DRML's loss sums. Checked against numpy."""
    from aufera.losses import MultiLabelSigmoidCrossentropy, chu_losses

    rng = np.random.default_rng(11)
    y = rng.choice([-1, 0, 1], size=(6, 10)).astype("float32")
    p = rng.uniform(0.05, 0.95, size=(6, 10)).astype("float32")
    terms = (y > 0) * np.log(p) + (y < 0) * np.log(1 - p)
    expected = float(np.mean(-terms.sum(axis=1) / 10))
    loss = chu_losses()["loss"]["au"]
    assert float(loss(y, p)) == pytest.approx(expected, rel=1e-5)
    assert float(MultiLabelSigmoidCrossentropy()(y, p)) == pytest.approx(10 * expected, rel=1e-5)
    revived = MultiLabelSigmoidCrossentropy.from_config(loss.get_config())
    assert revived.average_over_aus is True and float(revived(y, p)) == pytest.approx(expected, rel=1e-5)
