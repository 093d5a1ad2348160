"""Tests of Chu et al. 2019's models: ChuCNN, the PCA projection, ChuLSTM, ChuFusion and the whole CNNLSTM.

Parameter counts are recomputed by formula from the presets' arguments; the
PCA against numpy's eigendecomposition of the covariance; the fusion network
and the whole model against the same computation assembled by hand from
their pieces; the LSTMs' gap handling against the same sequence with the
gap frame left out.
"""

import keras
import numpy as np
import pytest
from model_harness import run_layer_test, run_model_suite, run_serialization_test

from aufera.au import NUM_AUS
from aufera.losses import MaxMarginLoss, MultiLabelSigmoidCrossentropy
from aufera.models import CHU_PRESETS, CNNLSTM, ChuCNN, ChuFusion, ChuLSTM, PCAProjection, fit_pca, get_preset
from aufera.models.cnn_lstm import LSTM_INIT_RANGE

TINY_CNN = {
    "input_shape": (40, 40, 1),
    "conv_filters": (4, 4, 3, 3, 2),
    "conv_kernel_sizes": (5, 3, 3, 3, 3),
    "conv1_strides": 2,
    "fc_units": (16, 12),
}


def chu_cnn_params(cfg) -> int:
    """`count_params()` of a ChuCNN built from `cfg`, by formula: conv1 valid with stride, pool, conv2-5 same."""
    height, width, channels = cfg["input_shape"]
    filters, kernels = cfg["conv_filters"], cfg["conv_kernel_sizes"]
    stride, pool = cfg.get("conv1_strides", 4), cfg.get("pool_size", 2)
    total, previous = 0, channels
    for f, k in zip(filters, kernels, strict=True):
        total += k * k * previous * f + f
        previous = f
    side = ((height - kernels[0]) // stride + 1) // pool
    flat = side * side * filters[-1]
    fc6, fc7 = cfg["fc_units"]
    total += flat * fc6 + fc6 + fc6 * fc7 + fc7 + fc7 * NUM_AUS + NUM_AUS
    return total


def images(n=3, side=40, seed=0):
    return np.random.default_rng(seed).normal(size=(n, side, side, 1)).astype("float32")


def labels(shape, seed=0):
    return np.random.default_rng(seed).choice([-1, 0, 1], size=shape, p=[0.45, 0.1, 0.45]).astype("float32")


# --- ChuCNN --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["paper", "cpu-small"])
def test_preset_parameter_counts_match_the_formula(name):
    args = get_preset(name, family="chu2019")["cnn"]
    assert chu_cnn_params(args) == CHU_PRESETS[name]["metadata"]["params"]["cnn"]


def test_paper_preset_is_fig_2b():
    args = get_preset("paper", family="chu2019")["cnn"]
    assert args["conv_filters"] == [96, 96, 72, 48, 32]
    assert args["conv_kernel_sizes"] == [11, 5, 3, 3, 3]
    assert args["fc_units"] == [4096, 4096] and args["input_shape"] == [176, 176, 1]
    assert get_preset("paper", family="chu2019")["preprocessing"]["dataset_size"] == 200
    assert get_preset("paper", family="chu2019")["pca"] == {"energy": 0.98, "max_components": 1024}
    assert get_preset("paper", family="chu2019")["lstm"] == {"units": [256, 256, 256], "dropout": 0.5}


def test_tiny_chu_cnn_model_suite(tmp_path):
    """Serialization, .keras saving (safe_mode), SavedModel, gradients and the cpu-small preset's count."""
    keras.utils.set_random_seed(0)
    model = ChuCNN(**TINY_CNN)
    x, y = images(), labels((3, NUM_AUS))
    loss = MultiLabelSigmoidCrossentropy()
    preset = {
        "name": "cpu-small",
        "input_data": np.zeros((1, 176, 176, 1), "float32"),
        "expected_params": CHU_PRESETS["cpu-small"]["metadata"]["params"]["cnn"],
        "expected_output_shape": {"au": (1, NUM_AUS), "fc7": (1, 256)},
    }
    result = run_model_suite(model, x, tmp_path, lambda out: loss(y, out["au"]), export="keras", preset=preset)
    assert type(result["reloaded"]) is ChuCNN
    # conv1-5, fc6, fc7, au: a kernel and a bias each; fc7_l2 has no weights.
    assert len(result["gradients"]) == 2 * 8
    assert model.count_params() == chu_cnn_params(TINY_CNN)
    out = model(x)
    np.testing.assert_allclose(np.linalg.norm(out["fc7"], axis=1), 1.0, atol=1e-5)
    assert np.all((out["au"] > 0) & (out["au"] < 1))


def test_fc7_output_is_the_l2_normalised_fc7_layer():
    keras.utils.set_random_seed(1)
    model = ChuCNN(**TINY_CNN)
    x = images(seed=1)
    fc7 = keras.Model(model.input, model.get_layer("fc7").output)(x).numpy()
    expected = fc7 / np.maximum(np.linalg.norm(fc7, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(model(x)["fc7"], expected, atol=1e-6)


def test_bad_cnn_arguments_are_refused():
    with pytest.raises(ValueError, match="conv_filters"):
        ChuCNN(**{**TINY_CNN, "conv_filters": (4, 4, 4)})
    with pytest.raises(ValueError, match="do not fit"):
        ChuCNN(**{**TINY_CNN, "input_shape": (12, 12, 1), "conv_kernel_sizes": (11, 3, 3, 3, 3), "conv1_strides": 4})
    with pytest.raises(ValueError, match="dropout"):
        ChuCNN(**TINY_CNN, dropout=1.0)


# --- the PCA ------------------------------------------------------------------------------


def test_fit_pca_matches_the_covariance_eigendecomposition():
    rng = np.random.default_rng(0)
    # 200 samples in 12 dimensions with decaying variances: the kept count is known from the eigenvalues.
    x = rng.normal(size=(200, 12)) * np.geomspace(4.0, 0.05, 12)
    pca = fit_pca(x, energy=0.98)
    centred = x - x.mean(0)
    values, vectors = np.linalg.eigh(centred.T @ centred / (len(x) - 1))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    share = np.cumsum(values) / values.sum()
    k = int(np.argmax(share >= 0.98)) + 1
    assert pca["num_components"] == k
    assert pca["energy"] == pytest.approx(share[k - 1], abs=1e-9)
    np.testing.assert_allclose(pca["explained"], values / values.sum(), atol=1e-6)
    np.testing.assert_allclose(pca["mean"], x.mean(0), atol=1e-6)
    # Components equal the eigenvectors up to sign.
    signs = np.sign(np.sum(pca["components"] * vectors[:, :k], axis=0))
    np.testing.assert_allclose(pca["components"] * signs, vectors[:, :k], atol=1e-5)


def test_fit_pca_caps_the_components_and_refuses_too_many():
    x = np.random.default_rng(1).normal(size=(5, 9))
    assert fit_pca(x, energy=1.0, max_components=3)["num_components"] == 3
    with pytest.raises(ValueError, match=r"max_components=6: a PCA of 5 samples of 9 features has at most 5"):
        fit_pca(x, max_components=6)
    with pytest.raises(ValueError, match="energy"):
        fit_pca(x, energy=0.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fit_pca(x[:1])


def test_pca_projection_layer_computes_and_saves(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 6)).astype("float32")
    pca = fit_pca(x, energy=0.9)
    layer = PCAProjection(6, pca["num_components"])
    layer.build((None, 6))
    layer.set_pca(pca["mean"], pca["components"])
    expected = (x - pca["mean"]) @ pca["components"]
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 2
    # Saved with its weights inside a model (and reloaded with safe_mode=True).
    inputs = keras.Input((6,))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "pca.keras")
    reloaded = keras.saving.load_model(tmp_path / "pca.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded(x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="components of shape"):
        layer.set_pca(pca["mean"], np.zeros((6, 99)))
    with pytest.raises(ValueError, match="at most 6 components"):
        PCAProjection(6, 7)


def test_pca_projection_layer_harness(tmp_path):
    # Fresh layers hold a zero mean and zero components: zero outputs.
    run_layer_test(
        PCAProjection,
        {"input_dim": 5, "num_components": 3},
        np.ones((2, 5), "float32"),
        (2, 3),
        expected_output=np.zeros((2, 3), "float32"),
        expected_num_non_trainable_weights=2,
        tmp_path=tmp_path,
    )
    # And EndMask: the identity, with no weights.
    from aufera.models.cnn_lstm import EndMask

    x = np.arange(6, dtype="float32").reshape(1, 2, 3)
    run_layer_test(EndMask, {}, x, (1, 2, 3), expected_output=x, tmp_path=tmp_path)


# --- ChuLSTM ------------------------------------------------------------------------------


def test_tiny_lstm_model_suite(tmp_path):
    keras.utils.set_random_seed(2)
    model = ChuLSTM(feature_dim=6, units=(5, 4), dropout=0.5)
    x = np.random.default_rng(3).normal(size=(2, 9, 6)).astype("float32")
    y = labels((2, 9, NUM_AUS), seed=3)
    loss = MaxMarginLoss()
    result = run_model_suite(model, x, tmp_path, lambda out: loss(y, out["au"]), export="keras")
    assert type(result["reloaded"]) is ChuLSTM
    out = model(x)["au"].numpy()
    assert out.shape == (2, 9, NUM_AUS) and np.all(np.abs(out) <= 1.0)


def test_lstm_weights_start_uniform_in_the_papers_range():
    keras.utils.set_random_seed(3)
    model = ChuLSTM(feature_dim=64, units=(64, 64, 64))
    for layer in model.layers:
        for weight in layer.weights:
            if "kernel" in weight.path:
                values = weight.numpy()
                assert values.min() >= -LSTM_INIT_RANGE and values.max() <= LSTM_INIT_RANGE, weight.path
                # Spread over the whole range (a uniform draw of thousands of values), not a narrower default.
                assert values.max() > 0.9 * LSTM_INIT_RANGE and values.min() < -0.9 * LSTM_INIT_RANGE, weight.path


def test_a_gap_frame_is_skipped_not_read():
    """Frames after a gap (an all-zero feature) get the outputs of the sequence with that frame left out."""
    keras.utils.set_random_seed(4)
    model = ChuLSTM(feature_dim=5, units=(6, 6), dropout=0.0)
    x = np.random.default_rng(5).normal(size=(1, 8, 5)).astype("float32")
    with_gap = x.copy()
    with_gap[0, 3] = 0.0
    without = np.delete(x, 3, axis=1)
    got = model(with_gap)["au"].numpy()
    expected = model(without)["au"].numpy()
    np.testing.assert_allclose(got[0, 4:], expected[0, 3:], atol=1e-6)
    np.testing.assert_allclose(got[0, :3], expected[0, :3], atol=1e-6)
    # And reading the gap as a frame of zeros would have given other outputs.
    read = ChuLSTM.from_config(model.get_config())
    read.set_weights(model.get_weights())
    assert not np.allclose(model(x)["au"].numpy()[0, 4:], got[0, 4:], atol=1e-4)


# --- ChuFusion -----------------------------------------------------------------------------


def test_fusion_network_is_two_shared_dense_layers_on_normalised_scores(tmp_path):
    keras.utils.set_random_seed(5)
    model = ChuFusion(hidden_units=7)
    rng = np.random.default_rng(6)
    cnn = rng.uniform(0, 1, size=(2, 5, NUM_AUS)).astype("float32")
    lstm = rng.uniform(-1, 1, size=(2, 5, NUM_AUS)).astype("float32")
    out = model({"cnn": cnn, "lstm": lstm})["au"].numpy()
    signed = 2 * cnn - 1
    stacked = np.concatenate(
        [signed / np.linalg.norm(signed, axis=-1, keepdims=True), lstm / np.linalg.norm(lstm, axis=-1, keepdims=True)],
        axis=-1,
    )
    w1, b1 = model.get_layer("fc1").get_weights()
    w2, b2 = model.get_layer("au").get_weights()
    hidden = np.maximum(stacked @ w1 + b1, 0.0)
    expected = 1.0 / (1.0 + np.exp(-(hidden @ w2 + b2)))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    y = labels((2, 5, NUM_AUS), seed=7)
    loss = MultiLabelSigmoidCrossentropy()
    inputs = {"cnn": cnn, "lstm": lstm}
    result = run_model_suite(model, inputs, tmp_path, lambda o: loss(y, o["au"]), export="keras")
    assert type(result["reloaded"]) is ChuFusion


# --- the whole CNNLSTM ----------------------------------------------------------------------


def tiny_cnn_lstm(seed=6):
    keras.utils.set_random_seed(seed)
    cnn = ChuCNN(**TINY_CNN)
    rng = np.random.default_rng(seed)
    features = cnn(images(60, seed=seed))["fc7"].numpy()
    pca = fit_pca(features, energy=0.95)
    projection = PCAProjection(12, pca["num_components"], name="pca")
    projection.build((None, 12))
    projection.set_pca(pca["mean"], pca["components"])
    temporal = ChuLSTM(feature_dim=pca["num_components"], units=(5,), dropout=0.5)
    fusion = ChuFusion(hidden_units=6)
    model = CNNLSTM(cnn, projection, temporal, fusion)
    x = rng.normal(size=(2, 4, 40, 40, 1)).astype("float32")
    return model, x


def test_whole_model_equals_its_pieces_by_hand():
    model, x = tiny_cnn_lstm()
    out = {k: v.numpy() for k, v in model(x).items()}
    flat = x.reshape(-1, 40, 40, 1)
    cnn = model.cnn(flat)
    projected = model.projection(cnn["fc7"]).numpy().reshape(2, 4, -1)
    lstm = model.temporal(projected)["au"].numpy()
    cnn_au = cnn["au"].numpy().reshape(2, 4, NUM_AUS)
    fused = model.fusion({"cnn": cnn_au, "lstm": lstm})["au"].numpy()
    np.testing.assert_allclose(out["cnn"], cnn_au, atol=1e-6)
    np.testing.assert_allclose(out["lstm"], lstm, atol=1e-6)
    np.testing.assert_allclose(out["au"], fused, atol=1e-6)


def test_whole_model_masks_missing_frames():
    model, x = tiny_cnn_lstm(seed=7)
    present = np.ones((2, 4), bool)
    present[0, 1] = False
    got = model(x, present=present)["lstm"].numpy()
    # Video 0 without its frame 1 through the LSTMs: the frames after the gap see the same outputs.
    kept = np.delete(x[:1], 1, axis=1)
    expected = model(kept)["lstm"].numpy()
    np.testing.assert_allclose(got[0, 2:], expected[0, 1:], atol=1e-5)
    np.testing.assert_allclose(got[1], model(x)["lstm"].numpy()[1], atol=1e-6)


def test_whole_model_suite(tmp_path):
    """Serialization, .keras saving with safe_mode=True, equal outputs after reloading, gradients."""
    model, x = tiny_cnn_lstm(seed=8)
    y = labels((2, 4, NUM_AUS), seed=8)
    loss = MultiLabelSigmoidCrossentropy()
    revived = run_serialization_test(model)
    assert type(revived) is CNNLSTM
    path = tmp_path / "cnn_lstm.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert type(reloaded) is CNNLSTM and isinstance(reloaded.projection, PCAProjection)
    for key, value in model(x).items():
        np.testing.assert_allclose(reloaded(x)[key], value, atol=1e-6)
    np.testing.assert_allclose(reloaded.projection.components.numpy(), model.projection.components.numpy())
    # Every trainable weight gets a finite, non-zero gradient: cnn 16 + LSTM (kernel, recurrent kernel, bias)
    # + its output 2 + fusion 4 (the harness's gradient check keys weights by path, which the three "au"
    # layers share, so the whole model is checked here); the PCA's weights are not trainable.
    import tensorflow as tf

    assert len(model.trainable_weights) == 16 + 3 + 2 + 4
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=True)["au"])
    for weight, gradient in zip(model.trainable_weights, tape.gradient(value, model.trainable_weights), strict=True):
        assert gradient is not None and np.all(np.isfinite(gradient)), weight.path
        assert np.any(np.asarray(gradient) != 0), weight.path


def test_pieces_that_do_not_fit_are_refused():
    model, _ = tiny_cnn_lstm(seed=9)
    with pytest.raises(ValueError, match="do not fit together"):
        CNNLSTM(model.cnn, PCAProjection(12, 3), ChuLSTM(feature_dim=4, units=(3,)), model.fusion)


def test_fit_pca_whitens_on_request():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 8)) * np.geomspace(3.0, 0.1, 8)
    plain, white = fit_pca(x, energy=0.99), fit_pca(x, energy=0.99, whiten=True)
    assert white["num_components"] == plain["num_components"]
    projected = (x - white["mean"]) @ white["components"]
    np.testing.assert_allclose(projected.std(axis=0, ddof=1), 1.0, atol=1e-4)
    # The same directions, rescaled.
    ratio = white["components"] / plain["components"]
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], ratio.shape), rtol=1e-4)


# --- configs ---------------------------------------------------------------------------------


def test_chu_training_configs():
    from aufera.config import resolve_config

    paper = resolve_config("chu2019")
    assert (paper.model.family, paper.model.preset, paper.batch_size) == ("chu2019", "paper", 196)
    assert (paper.optimizer.name, paper.optimizer.momentum, paper.optimizer.weight_decay) == ("sgd", 0.9, 5e-4)
    assert paper.optimizer.lr_schedule == "constant" and paper.optimizer.learning_rate == 1e-3
    assert paper.augmentation.flip and paper.augmentation.active  # random 176 crops and flips
    seq = paper.sequence
    assert (seq.length, seq.per_video, seq.burn_in, seq.min_active_aus) == (1300, 10, 10, 1.5)
    assert (seq.learning_rate, seq.rho, seq.lr_decay) == (1e-3, 0.9, 0.97)
    small = resolve_config("chu2019-cpu-small")
    assert small.optimizer.name == "adam" and not small.augmentation.active  # centre crops
    assert (small.sequence.length, small.sequence.learning_rate) == (100, 1e-2)
    assert get_preset("cpu-small", family="chu2019")["lstm"]["dropout"] == 0.0


def test_the_paper_cnn_compiles_with_sgd_weight_decay_and_eq1():
    from aufera.config import resolve_config
    from aufera.training.engine import compiled_stage_model

    config = resolve_config("chu2019", ["model.preset=cpu-small"])
    model = compiled_stage_model(config, "chu_cnn", 1000)
    optimizer = model.optimizer
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.momentum == pytest.approx(0.9) and optimizer.weight_decay == pytest.approx(5e-4)
    loss = model.loss["au"]
    assert isinstance(loss, MultiLabelSigmoidCrossentropy) and loss.average_over_aus is True


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["folds=3"], "`folds` is Chu et al.'s protocol"),
        (["model.family=chu2019", "folds=3", "fold=3"], "`fold` must be from 0 to folds - 1 = 2"),
        (["model.family=chu2019", "folds=1"], "`folds` must be an integer >= 2"),
        (["sequence.burn_in=-1"], "`burn_in` must be an integer >= 0"),
        (["sequence.rho=0"], "`rho` must be in (0, 1]"),
        (["optimizer.name=rmsprop"], "`optimizer.name` must be one of ('adam', 'sgd')"),
    ],
)
def test_bad_chu_config_values_are_refused(overrides, message):
    from aufera.config import resolve_config

    with pytest.raises(ValueError) as error:
        resolve_config("cpu-small", overrides)
    assert message in str(error.value)
