"""Tests of aufera.losses against independent numpy computations (eqs. 3-4)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from aufera.au import NUM_AUS, NUM_VIEWS
from aufera.losses import (
    MultiLabelPairCrossentropy,
    mean_multilabel_pair_crossentropy,
    multilabel_pair_crossentropy,
    network1_loss,
    network1_losses,
    network2_losses,
    view_crossentropy,
)
from aufera.models import Network1, ResNetBackbone

EPS = 1e-7


def numpy_pair_loss(y_true, probs):
    """Eq. (4) written out with loops: mean over samples of the sum over AUs."""
    total = 0.0
    for n in range(y_true.shape[0]):
        for c in range(y_true.shape[1]):
            if y_true[n, c] > 0:
                total -= np.log(max(probs[n, c, 0], EPS))
            elif y_true[n, c] < 0:
                total -= np.log(max(probs[n, c, 1], EPS))
    return total / y_true.shape[0]


def random_case(seed, n=8):
    rng = np.random.default_rng(seed)
    y_true = rng.choice([-1, 0, 1], size=(n, NUM_AUS), p=[0.4, 0.3, 0.3]).astype(np.int8)
    logits = rng.normal(scale=2.0, size=(n, NUM_AUS, 2)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return y_true, logits, probs.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_loss_matches_numpy(seed):
    y_true, _, probs = random_case(seed)
    expected = numpy_pair_loss(y_true, probs)
    per_sample = np.asarray(multilabel_pair_crossentropy(y_true, probs))
    assert per_sample.shape == (8,)
    np.testing.assert_allclose(per_sample.mean(), expected, rtol=1e-5)
    np.testing.assert_allclose(float(mean_multilabel_pair_crossentropy(y_true, probs)), expected, rtol=1e-5)
    np.testing.assert_allclose(float(MultiLabelPairCrossentropy()(y_true, probs)), expected, rtol=1e-5)
    # Per sample: the sum over AUs of sample 0 alone.
    np.testing.assert_allclose(per_sample[0], numpy_pair_loss(y_true[:1], probs[:1]), rtol=1e-5)


def test_pair_loss_hand_example():
    y_true = np.array([[1, -1, 0]])
    probs = np.array([[[0.8, 0.2], [0.1, 0.9], [0.01, 0.99]]], dtype=np.float32)
    expected = -np.log(0.8) - np.log(0.9)  # the unknown third AU adds nothing
    np.testing.assert_allclose(float(mean_multilabel_pair_crossentropy(y_true, probs)), expected, rtol=1e-6)


def test_unknown_labels_give_no_loss_and_zero_gradient():
    y_true, logits, _ = random_case(5)
    logits = tf.Variable(logits)
    with tf.GradientTape(persistent=True) as tape:
        probs = tf.nn.softmax(logits, axis=-1)
        loss = mean_multilabel_pair_crossentropy(y_true, probs)
    grad_logits = tape.gradient(loss, logits).numpy()
    grad_probs = tape.gradient(loss, probs).numpy()
    unknown = y_true == 0
    assert unknown.any() and (~unknown).any()
    assert np.all(grad_logits[unknown] == 0) and np.all(grad_probs[unknown] == 0)
    # Known entries: d(-log softmax_t)/d logits = (softmax - onehot_t) / N (mean over samples).
    p = tf.nn.softmax(logits, axis=-1).numpy()
    target = np.stack([y_true > 0, y_true < 0], axis=-1).astype(np.float32)
    expected = (p - target) / y_true.shape[0]
    np.testing.assert_allclose(grad_logits[~unknown], expected[~unknown], atol=1e-6)
    assert np.all(np.abs(grad_logits[~unknown]).sum(-1) > 0)

    all_unknown = np.zeros_like(y_true)
    with tf.GradientTape() as tape:
        probs = tf.nn.softmax(logits, axis=-1)
        loss = mean_multilabel_pair_crossentropy(all_unknown, probs)
    assert float(loss) == 0.0
    assert np.all(tape.gradient(loss, logits).numpy() == 0)


def test_clipping_keeps_loss_and_gradient_finite():
    y_true = np.array([[1, -1]])
    probs = tf.Variable(np.array([[[0.0, 1.0], [1.0, 0.0]]], dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = mean_multilabel_pair_crossentropy(y_true, probs)
    grad = tape.gradient(loss, probs).numpy()
    np.testing.assert_allclose(float(loss), -2 * np.log(np.float32(EPS)), rtol=1e-5)
    assert np.all(np.isfinite(grad))


def test_view_loss_matches_numpy():
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(NUM_VIEWS), size=6).astype(np.float32)
    views = rng.integers(0, NUM_VIEWS, size=6)
    expected = -np.log(probs[np.arange(6), views])
    np.testing.assert_allclose(np.asarray(view_crossentropy(views, probs)), expected, rtol=1e-5)


def test_network1_losses_weight_the_two_tasks():
    keras.utils.set_random_seed(0)
    backbone = ResNetBackbone(
        input_shape=(32, 32, 1), stackwise_num_filters=(4,), stackwise_num_blocks=(1,), stackwise_pooling=(True,)
    )
    model = Network1(backbone, fc1_units=8, fc2_units=8)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 32, 32, 1)).astype(np.float32)
    au = rng.choice([-1, 0, 1], size=(4, NUM_AUS)).astype(np.float32)
    views = rng.integers(0, NUM_VIEWS, size=4)
    model.compile(optimizer="adam", **network1_losses(lambda_au=0.3, lambda_view=0.7))
    result = model.evaluate(images, {"au": au, "view": views}, batch_size=4, verbose=0, return_dict=True)
    pred = model.predict_on_batch(images)
    l1 = numpy_pair_loss(au, pred["au"])
    l2 = float(np.mean(-np.log(pred["view"][np.arange(4), views])))
    np.testing.assert_allclose(result["loss"], 0.3 * l1 + 0.7 * l2, rtol=1e-4)
    np.testing.assert_allclose(
        float(network1_loss({"au": au, "view": views}, pred, 0.3, 0.7)), 0.3 * l1 + 0.7 * l2, rtol=1e-5
    )
    assert network1_losses()["loss_weights"] == {"au": 0.5, "view": 0.5}
    assert isinstance(network2_losses()["loss"]["au"], MultiLabelPairCrossentropy)


def test_loss_class_serialization():
    loss = MultiLabelPairCrossentropy(epsilon=1e-6, name="pairs")
    config = json.loads(json.dumps(loss.get_config()))
    clone = MultiLabelPairCrossentropy.from_config(config)
    assert clone.epsilon == 1e-6 and clone.name == "pairs"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, MultiLabelPairCrossentropy) and restored.epsilon == 1e-6


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(2, 10\)"):
        multilabel_pair_crossentropy(np.zeros((2, NUM_AUS)), np.zeros((2, NUM_AUS)))
    with pytest.raises(ValueError, match="y_true.shape"):
        multilabel_pair_crossentropy(np.zeros((2,)), np.full((2, NUM_AUS, 2), 0.5))
    with pytest.raises(ValueError, match="epsilon=0.0"):
        MultiLabelPairCrossentropy(epsilon=0.0)
    with pytest.raises(ValueError, match="lambda_au=-1"):
        network1_losses(lambda_au=-1)
