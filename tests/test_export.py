"""Tests of aufera.export: SavedModels reloaded with tf.saved_model.load give the Keras numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import TINY_BACKBONE

from aufera.au import NUM_AUS, NUM_VIEWS
from aufera.export import export_saved_model
from aufera.models import Network1, Network2, ResNetBackbone, decision_fusion

BACKBONE = TINY_BACKBONE


@pytest.fixture(scope="module")
def networks():
    keras.utils.set_random_seed(0)
    network1 = Network1(ResNetBackbone(**BACKBONE), fc1_units=16, fc2_units=8)
    network2 = Network2(network1.backbone, fc1_units=12, fc2_units=6)
    # A second head on the same backbone stands in for a third fused model.
    network2b = Network2(network1.backbone, fc1_units=8, fc2_units=8)
    return network1, network2, network2b


def images(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 32, 32, 1)).astype(np.float32)


def test_network1_export(tmp_path, networks):
    network1 = networks[0]
    path = export_saved_model(network1, tmp_path / "network1")
    served = tf.saved_model.load(path)
    for n in (2, 3):
        x = images(n, seed=n)
        expected = network1.predict_on_batch(x)
        out = served.serve(tf.constant(x))
        assert set(out) == {"au_present", "view"}
        assert out["au_present"].shape == (n, NUM_AUS) and out["view"].shape == (n, NUM_VIEWS)
        np.testing.assert_allclose(out["au_present"].numpy(), expected["au"][..., 0], atol=1e-5)
        np.testing.assert_allclose(out["view"].numpy(), expected["view"], atol=1e-5)
    signature = served.signatures["serving_default"]
    out = signature(images=tf.constant(images(2)))
    np.testing.assert_allclose(out["au_present"].numpy(), network1.predict_on_batch(images(2))["au"][..., 0], atol=1e-5)


def test_network2_export(tmp_path, networks):
    network2 = networks[1]
    served = tf.saved_model.load(export_saved_model(network2, tmp_path / "network2"))
    x = images(2)
    out = served.serve(tf.constant(x))
    assert set(out) == {"au_present"}
    np.testing.assert_allclose(out["au_present"].numpy(), network2.predict_on_batch(x)["au"][..., 0], atol=1e-5)


@pytest.mark.parametrize("count, weights", [(2, None), (3, [0.2, 0.3, 0.5])])
def test_fused_export(tmp_path, networks, count, weights):
    models = list(networks[:count])
    served = tf.saved_model.load(export_saved_model(models, tmp_path / "fused", weights=weights))
    x = images(5, seed=1)
    out = served.serve(tf.constant(x))
    assert set(out) == {"au_present", "view", "fused_present", "fused_decision"}
    pairs = [m.predict_on_batch(x)["au"] for m in models]
    w = np.full(count, 1.0 / count) if weights is None else np.asarray(weights)
    np.testing.assert_allclose(out["au_present"].numpy(), pairs[0][..., 0], atol=1e-5)
    np.testing.assert_allclose(out["view"].numpy(), models[0].predict_on_batch(x)["view"], atol=1e-5)
    present = sum(wi * p[..., 0] for wi, p in zip(w, pairs, strict=True)) / w.sum()
    np.testing.assert_allclose(out["fused_present"].numpy(), present, atol=1e-5)
    decision = out["fused_decision"].numpy()
    assert decision.shape == (5, NUM_AUS) and set(np.unique(decision)) <= {0.0, 1.0}
    margin = sum(wi * (p[..., 0] - p[..., 1]) for wi, p in zip(w, pairs, strict=True))
    clear = np.abs(margin) > 1e-5
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(decision[clear], decision_fusion(pairs, weights)[clear])


def test_export_rejects_bad_arguments(tmp_path, networks):
    network1, network2, _ = networks
    with pytest.raises(ValueError, match="weights"):
        export_saved_model(network1, tmp_path / "a", weights=[1.0])
    with pytest.raises(ValueError, match=r"\[1.0\]"):
        export_saved_model([network1, network2], tmp_path / "b", weights=[1.0])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "file").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        export_saved_model(network1, tmp_path / "c")
    other = Network1(ResNetBackbone(**{**BACKBONE, "input_shape": (48, 48, 1)}), fc1_units=4, fc2_units=4)
    with pytest.raises(ValueError, match="same input shape"):
        export_saved_model([network1, other], tmp_path / "d")
