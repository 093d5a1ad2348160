"""Tests of aufera.models: backbone, Network1, Network2, presets and decision fusion (eq. 5).

Every model and custom layer also goes through the shared checks of
`tests/model_harness.py` (serialization, `.keras` saving, SavedModel export,
gradients, presets).
"""

import math

import keras
import model_harness
import numpy as np
import pytest
from keras import ops
from model_harness import (
    run_gradient_test,
    run_layer_test,
    run_model_saving_test,
    run_model_suite,
    run_preset_test,
    run_serialization_test,
)

from aufera.au import NUM_AUS, NUM_VIEWS
from aufera.losses import mean_multilabel_pair_crossentropy, network1_loss, network2_losses
from aufera.models import (
    PRESETS,
    DecisionFusion,
    Network1,
    Network2,
    ResNetBackbone,
    decision_fusion,
    get_preset,
    preset_names,
)

# A tiny backbone with identity blocks (group 1) and a projection (group 2).
TINY_BACKBONE = {**model_harness.TINY_BACKBONE, "stackwise_num_blocks": (2, 1)}
TINY_HEAD = {"fc1_units": 16, "fc2_units": 8, "dropout": 0.5}


def tiny_network1(seed=0):
    keras.utils.set_random_seed(seed)
    return Network1(ResNetBackbone(**TINY_BACKBONE), **TINY_HEAD)


def random_batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 32, 32, 1)).astype("float32")
    au = rng.choice([-1, 1], size=(n, NUM_AUS)).astype("float32")
    view = rng.integers(0, NUM_VIEWS, size=(n,)).astype("int32")
    return images, au, view


# --- Parameter counts by formula ---------------------------------------------

BN = 4  # gamma, beta, moving mean, moving variance per channel


def backbone_params_formula(cfg):
    k, s, c = cfg["stem_kernel_size"], cfg["stem_filters"], cfg["input_shape"][2]
    total = k * k * c * s + BN * s  # stem conv (no bias) + BN
    cin = s
    for f, n in zip(cfg["stackwise_num_filters"], cfg["stackwise_num_blocks"], strict=True):
        for _ in range(n):
            total += 3 * 3 * cin * f + BN * f + 3 * 3 * f * f + BN * f
            if cin != f:
                total += cin * f + BN * f  # 1x1 projection + BN
            cin = f
    return total


def feature_side_formula(cfg):
    side = math.ceil(cfg["input_shape"][0] / cfg["stem_strides"])
    pools = int(cfg["stem_pooling"]) + sum(cfg["stackwise_pooling"])
    for _ in range(pools):
        side //= cfg["pool_size"]
    return side


def flat_features_formula(cfg):
    return feature_side_formula(cfg) ** 2 * cfg["stackwise_num_filters"][-1]


def network1_params_formula(preset):
    cfg, head = preset["backbone"], preset["network1"]
    flat, u1, u2 = flat_features_formula(cfg), head["fc1_units"], head["fc2_units"]
    fc = (flat + 1) * u1 + u1 + (u1 + 1) * u2 + u2  # dense + one PReLU slope per unit
    return backbone_params_formula(cfg) + fc + (u2 + 1) * 2 * NUM_AUS + (flat + 1) * NUM_VIEWS


def network2_new_params_formula(preset):
    flat = flat_features_formula(preset["backbone"])
    u1, u2 = preset["network2"]["fc1_units"], preset["network2"]["fc2_units"]
    return (flat + 1) * u1 + u1 + (u1 + 1) * u2 + u2 + (flat + u1 + u2 + 1) * 2 * NUM_AUS


# Hand-documented counts (the module docstring of aufera.models.presets):
# Network1, Network2's new layers, Network2 as a whole.
DOCUMENTED_PARAMS = {"paper": (90_072_253, 84_394_004, 90_334_388), "cpu-small": (423_981, 173_588, 437_796)}


@pytest.mark.parametrize("name", preset_names())
def test_preset_parameter_counts(name):
    """The preset metadata holds the real parameter counts: by formula and by `count_params()`."""
    preset = PRESETS[name]
    params = preset["metadata"]["params"]
    assert set(params) == {"backbone", "network1", "network2", "network2_new"}
    # Independent of Keras: the formulas above.
    assert params["backbone"] == backbone_params_formula(preset["backbone"])
    assert params["network1"] == network1_params_formula(preset)
    assert params["network2_new"] == network2_new_params_formula(preset)
    assert params["network2"] == params["backbone"] + params["network2_new"]
    if name in DOCUMENTED_PARAMS:
        assert (params["network1"], params["network2_new"], params["network2"]) == DOCUMENTED_PARAMS[name]

    # The built models.
    side, channels = preset["backbone"]["input_shape"][0], preset["backbone"]["input_shape"][2]
    x = np.random.default_rng(0).normal(size=(1, side, side, channels)).astype("float32")
    side = feature_side_formula(preset["backbone"])
    feature_shape = (1, side, side, preset["backbone"]["stackwise_num_filters"][-1])
    run_preset_test(ResNetBackbone, name, x, params["backbone"], feature_shape)
    n1 = run_preset_test(Network1, name, x, params["network1"], {"au": (1, NUM_AUS, 2), "view": (1, NUM_VIEWS)})
    assert n1.backbone.count_params() == params["backbone"]
    n2 = run_preset_test(
        Network2, name, x, params["network2"], {"au": (1, NUM_AUS, 2)}, init_kwargs={"backbone": n1.backbone}
    )
    assert n2.count_params() - n1.backbone.count_params() == params["network2_new"]
    assert sum(int(np.prod(w.shape)) for w in n2.trainable_weights) == params["network2_new"]
    if name == "paper":
        # He et al. 2019: "192 M" for both networks; our reading gives 174.5M.
        assert params["network1"] + params["network2_new"] == 174_466_257
        assert params["network1"] + params["network2"] == 180_406_641  # the two saved side by side
        assert n1.backbone.output_shape == (None, 8, 8, 256)
    elif name == "cpu-small":
        assert params["network1"] + params["network2_new"] == 597_569 < 1_000_000
    keras.backend.clear_session()


def test_tiny_parameter_count_matches_formula():
    preset = {
        "backbone": {**ResNetBackbone(**TINY_BACKBONE).get_config()},
        "network1": TINY_HEAD,
        "network2": TINY_HEAD,
    }
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    assert n1.count_params() == network1_params_formula(preset)
    assert n2.count_params() - n1.backbone.count_params() == network2_new_params_formula(preset)


# --- Backbone -------------------------------------------------------------------


def test_backbone_shape_and_layers():
    backbone = ResNetBackbone(**TINY_BACKBONE)
    out = backbone(np.zeros((2, 32, 32, 1), "float32"))
    assert tuple(out.shape) == (2, 8, 8, 8)  # 32 -> stem pool 16 -> group1 pool 8
    names = [layer.name for layer in backbone.layers]
    assert "group1_block2_conv2" in names and "group2_block1_proj_conv" in names
    assert "group1_block1_proj_conv" not in names  # identity shortcut where the shape holds
    pools = [layer for layer in backbone.layers if "pool" in layer.name]
    assert pools and all(isinstance(layer, keras.layers.AveragePooling2D) for layer in pools)
    assert not any(isinstance(layer, keras.layers.MaxPooling2D | keras.layers.Lambda) for layer in backbone.layers)


def test_paper_backbone_layout():
    cfg = get_preset("paper")["backbone"]
    assert cfg["stackwise_num_filters"] == [32, 64, 128, 256] and cfg["stackwise_num_blocks"] == [4, 4, 4, 4]
    assert cfg["input_shape"] == [132, 132, 1] and get_preset("paper")["preprocessing"]["image_size"] == 132


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"stackwise_num_blocks": (1,)}, "same length"),
        ({"stem_filters": 0}, "stem_filters=0"),
        ({"stackwise_num_filters": (4, 2.5)}, "2.5"),
        ({"input_shape": (3, 3, 1)}, "too small"),
    ],
)
def test_backbone_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNetBackbone(**{**TINY_BACKBONE, **kwargs})


# --- Network1 / Network2 -----------------------------------------------------------


def test_network1_outputs():
    n1 = tiny_network1()
    images, _, _ = random_batch()
    out = n1(images)
    assert set(out) == {"au", "view"}
    au, view = np.asarray(out["au"]), np.asarray(out["view"])
    assert au.shape == (2, NUM_AUS, 2) and view.shape == (2, NUM_VIEWS)
    assert np.all(np.isfinite(au)) and np.all(np.isfinite(view))
    np.testing.assert_allclose(au.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(view.sum(-1), 1.0, atol=1e-6)
    prelus = [layer for layer in n1.layers if isinstance(layer, keras.layers.PReLU)]
    assert len(prelus) == 2
    for layer in prelus:
        np.testing.assert_allclose(layer.get_weights()[0], 0.3)
    assert n1.get_layer("dropout").rate == 0.5


def test_network2_outputs_and_structure():
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    images, _, _ = random_batch()
    au = np.asarray(n2(images)["au"])
    assert au.shape == (2, NUM_AUS, 2) and np.all(np.isfinite(au))
    np.testing.assert_allclose(au.sum(-1), 1.0, atol=1e-6)
    # The fused vector is [flatten (8*8*8), FC1 (16), FC2 (8)].
    assert n2.get_layer("fused").output.shape == (None, 512 + 16 + 8)
    assert n2.backbone is n1.backbone and not n2.backbone.trainable
    head_ids = {id(v) for v in n2.trainable_weights}
    assert head_ids.isdisjoint(id(v) for v in n1.weights)  # new layers, not Network1's
    assert {id(v) for v in n2.backbone.weights} <= {id(v) for v in n1.weights}  # the backbone is shared


def test_every_trainable_weight_gets_a_gradient():
    n1 = tiny_network1()
    images, au, view = random_batch(n=4)
    grads = run_gradient_test(n1, images, lambda out: network1_loss({"au": au, "view": view}, out))
    assert len(grads) == len(n1.trainable_weights) > 20
    assert set(grads) == {w.path for w in n1.trainable_weights}

    n2 = Network2(n1.backbone, **TINY_HEAD)
    pair_loss = network2_losses()["loss"]["au"]  # the loss Network2 is compiled with
    grads = run_gradient_test(n2, images, lambda out: pair_loss(au, out["au"]))
    assert len(grads) == 8  # fc1, fc1_prelu, fc2, fc2_prelu, au_logits: 2 + 1 + 2 + 1 + 2
    assert not any(path.startswith(n1.backbone.name + "/") for path in grads)  # the backbone is frozen


def _snapshot(weights):
    return {w.path: np.array(w.numpy()) for w in weights}


def _assert_fit_moves_only_the_head(n2, backbone):
    images, au, _ = random_batch(n=2, seed=1)
    n2.compile(optimizer=keras.optimizers.Adam(1e-3), **network2_losses())
    before_backbone = _snapshot(backbone.weights)  # batch-norm statistics included
    before_head = _snapshot(n2.trainable_weights)
    n2.fit(images, {"au": au}, batch_size=2, epochs=1, verbose=0)
    for w in backbone.weights:
        np.testing.assert_array_equal(w.numpy(), before_backbone[w.path], err_msg=w.path)
    assert len(before_head) == 8
    for w in n2.trainable_weights:
        assert np.any(w.numpy() != before_head[w.path]), w.path


def test_network2_fit_step_moves_only_its_head():
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    _assert_fit_moves_only_the_head(n2, n1.backbone)


def test_keras_save_and_load(tmp_path):
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    images, _, _ = random_batch(n=3)
    r1 = run_model_saving_test(n1, images, tmp_path)
    r2 = run_model_saving_test(n2, images, tmp_path)
    assert isinstance(r1, Network1) and isinstance(r2, Network2)
    for original, reloaded in ((n1, r1), (n2, r2)):
        expected, got = original.predict_on_batch(images), reloaded.predict_on_batch(images)
        assert set(expected) == set(got)
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], atol=1e-6)
    # The reloaded Network2 has its own backbone, still frozen, layer by layer.
    assert isinstance(r2.backbone, ResNetBackbone) and not r2.backbone.trainable
    assert all(not layer.trainable for layer in r2.backbone.layers)
    assert {id(v) for v in r2.weights}.isdisjoint(id(v) for v in n1.weights + n2.weights)
    assert sorted(w.path for w in r2.trainable_weights) == sorted(w.path for w in n2.trainable_weights)
    _assert_fit_moves_only_the_head(r2, r2.backbone)


def test_get_config_json_round_trip():
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    for obj in (n1.backbone, n1, n2, DecisionFusion(weights=[0.2, 0.3, 0.5]), DecisionFusion()):
        run_serialization_test(obj)
    assert n1.get_config()["fc1_units"] == 16 and n2.get_config()["backbone"]["config"]["trainable"] is False
    assert DecisionFusion(weights=[1, 3]).get_config()["weights"] == [1.0, 3.0]
    clone = run_serialization_test(n1)
    assert (
        clone.count_params()
        == n1.count_params()
        == network1_params_formula({"backbone": n1.backbone.get_config(), "network1": TINY_HEAD})
    )
    # A Network2 rebuilt from its config has a frozen backbone of its own.
    clone2 = run_serialization_test(n2)
    assert clone2.backbone is not n1.backbone and not clone2.backbone.trainable
    assert len(clone2.trainable_weights) == len(n2.trainable_weights) == 8


# --- The shared harness on every model and layer ---------------------------------------


def _pair_loss(au):
    return lambda out: mean_multilabel_pair_crossentropy(au, out["au"])


# Trainable weights of the tiny models, by hand: the stem (conv kernel, BN gamma and beta) 3, a block 6
# (2 convs, 2 BNs), a projection 3 more; Network1's head: fc1 2, its PReLU 1, fc2 2, its PReLU 1,
# au_logits 2, view 2; Network2's: the same but no view.
TINY_TRAINABLE = {"backbone": 3 + 6 + 6 + 9, "network1": 3 + 6 + 6 + 9 + 10, "network2": 8}


@pytest.mark.parametrize("which", ["backbone", "network1", "network2"])
def test_model_suite(tmp_path, which):
    """Serialization, .keras saving, SavedModel export, gradients and the cpu-small preset, one call per model."""
    n1 = tiny_network1()
    images, au, view = random_batch(n=3, seed=5)
    params = PRESETS["cpu-small"]["metadata"]["params"]
    preset = {"name": "cpu-small", "input_data": np.zeros((1, 132, 132, 1), "float32")}
    if which == "backbone":
        model, loss_fn = n1.backbone, lambda out: ops.mean(ops.square(out))
        preset.update(expected_params=params["backbone"], expected_output_shape=(1, 4, 4, 64))
    elif which == "network1":
        model, loss_fn = n1, lambda out: network1_loss({"au": au, "view": view}, out)
        preset.update(expected_params=params["network1"], expected_output_shape={"au": (1, 10, 2), "view": (1, 9)})
    else:
        model, loss_fn = Network2(n1.backbone, **TINY_HEAD), _pair_loss(au)
        backbone = ResNetBackbone.from_preset("cpu-small")
        preset.update(
            expected_params=params["network2"],
            expected_output_shape={"au": (1, 10, 2)},
            init_kwargs={"backbone": backbone},
        )
    result = run_model_suite(model, images, tmp_path, loss_fn, preset=preset)
    assert type(result["revived"]) is type(model) and type(result["reloaded"]) is type(model)
    assert type(result["preset"]) is type(model)
    assert len(result["gradients"]) == len(model.trainable_weights) == TINY_TRAINABLE[which]
    if which == "network2":
        assert not result["reloaded"].backbone.trainable and not result["revived"].backbone.trainable


def test_no_lambda_layers():
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    for model in (n1, n2, n1.backbone):
        assert not any(isinstance(layer, keras.layers.Lambda) for layer in model._flatten_layers())


def test_presets_and_from_preset():
    assert {"paper", "cpu-small"} <= set(PRESETS) and set(preset_names()) == set(PRESETS)
    preset = get_preset("cpu-small")
    preset["backbone"]["stem_filters"] = 999  # a copy: the registry is unchanged
    preset["metadata"]["params"]["network1"] = 0
    assert PRESETS["cpu-small"]["backbone"]["stem_filters"] == 16
    assert PRESETS["cpu-small"]["metadata"]["params"]["network1"] == 423_981
    # Overrides: a smaller input and FC1; the parameter count follows the formula.
    x = np.zeros((2, 64, 64, 1), "float32")
    overridden = get_preset("cpu-small")
    overridden["backbone"]["input_shape"] = [64, 64, 1]
    overridden["network1"]["fc1_units"] = 32
    n1 = run_preset_test(
        Network1,
        "cpu-small",
        x,
        network1_params_formula(overridden),
        {"au": (2, NUM_AUS, 2), "view": (2, NUM_VIEWS)},
        init_kwargs={"input_shape": (64, 64, 1), "fc1_units": 32},
    )
    assert n1.backbone.inputs[0].shape[1:] == (64, 64, 1) and n1.fc1_units == 32
    n2 = Network2.from_preset("cpu-small", backbone=n1.backbone, dropout=0.25)
    assert n2.backbone is n1.backbone and n2.dropout == 0.25 and n2.fc2_units == 128
    with pytest.raises(ValueError, match="backbone=None"):
        Network2.from_preset("cpu-small")
    with pytest.raises(ValueError, match="'nope'"):
        Network1.from_preset("nope")
    with pytest.raises(ValueError, match="'nope'"):
        get_preset("nope")
    with pytest.raises(ValueError, match="dropout=1.5"):
        Network1(n1.backbone, dropout=1.5)


# --- Decision fusion (eq. 5) ----------------------------------------------------------


def test_decision_fusion_worked_example():
    # Two models, one sample, three AUs; index 0 = present, 1 = absent.
    a = np.array([[[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]]])
    b = np.array([[[0.4, 0.6], [0.45, 0.55], [0.3, 0.7]]])
    # Equal weights 0.5: present - absent = 0.5*(0.4) + 0.5*(-0.2) = 0.1 > 0 -> 1;
    # 0.5*(-0.6) + 0.5*(-0.1) = -0.35 -> 0; 0.5*(0.2) + 0.5*(-0.4) = -0.1 -> 0.
    np.testing.assert_array_equal(decision_fusion([a, b]), [[1, 0, 0]])
    # Weights 0.8 / 0.2: 0.8*0.4 + 0.2*(-0.2) = 0.28 -> 1; -0.5 -> 0; 0.8*0.2 + 0.2*(-0.4) = 0.08 -> 1.
    np.testing.assert_array_equal(decision_fusion([a, b], weights=[0.8, 0.2]), [[1, 0, 1]])
    # Three models, weights 0.2 / 0.3 / 0.5, with c present on AU2 only:
    c = np.array([[[0.1, 0.9], [0.9, 0.1], [0.5, 0.5]]])
    # AU1: 0.2*0.4 + 0.3*(-0.2) + 0.5*(-0.8) = -0.38 -> 0;
    # AU2: 0.2*(-0.6) + 0.3*(-0.1) + 0.5*0.8 = 0.25 -> 1;
    # AU3: 0.2*0.2 + 0.3*(-0.4) + 0.5*0 = -0.08 -> 0.
    np.testing.assert_array_equal(decision_fusion([a, b, c], weights=[0.2, 0.3, 0.5]), [[0, 1, 0]])
    # A tie (sgn = 0) counts as absent.
    tie = np.array([[[0.5, 0.5]]])
    np.testing.assert_array_equal(decision_fusion([tie, tie]), [[0]])
    np.testing.assert_array_equal(decision_fusion([np.array([[[0.75, 0.25]]]), np.array([[[0.25, 0.75]]])]), [[0]])

    layer_out = DecisionFusion(weights=[0.2, 0.3, 0.5])([a.astype("float32"), b.astype("float32"), c.astype("float32")])
    np.testing.assert_array_equal(np.asarray(layer_out["decision"]), [[0, 1, 0]])
    # Fused present-probability: 0.2*0.7 + 0.3*0.4 + 0.5*0.1 = 0.31, 0.2*0.2 + 0.3*0.45 + 0.5*0.9 = 0.625, ...
    np.testing.assert_allclose(np.asarray(layer_out["present"]), [[0.31, 0.625, 0.46]], atol=1e-6)


def _softmax_pairs(rng, shape):
    logits = rng.normal(size=(*shape, 2))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_decision_fusion_random_three_models_unequal_weights():
    rng = np.random.default_rng(3)
    outputs = [_softmax_pairs(rng, (50, NUM_AUS)) for _ in range(3)]
    weights = [0.2, 0.5, 1.3]  # unnormalised on purpose: only the comparison matters
    expected = np.zeros((50, NUM_AUS), dtype=int)
    for n in range(50):
        for k in range(NUM_AUS):
            present = sum(w * y[n, k, 0] for w, y in zip(weights, outputs, strict=True))
            absent = sum(w * y[n, k, 1] for w, y in zip(weights, outputs, strict=True))
            expected[n, k] = 1 if np.sign(present - absent) > 0 else 0
    got = decision_fusion(outputs, weights)
    assert got.dtype == np.int32 and 0 < got.sum() < got.size
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(decision_fusion(outputs, [w * 7 for w in weights]), expected)

    layer = DecisionFusion(weights=weights)
    fused = layer([y.astype("float32") for y in outputs])
    present = sum(w * y[..., 0] for w, y in zip(weights, outputs, strict=True)) / sum(weights)
    np.testing.assert_allclose(np.asarray(fused["present"]), present, atol=1e-6)
    margin = sum(w * (y[..., 0] - y[..., 1]) for w, y in zip(weights, outputs, strict=True))
    clear = np.abs(margin) > 1e-5  # float32 may not decide values this close to a tie the same way
    np.testing.assert_array_equal(np.asarray(fused["decision"])[clear], expected[clear])
    # Default weights are equal for any number of inputs.
    np.testing.assert_array_equal(decision_fusion(outputs), decision_fusion(outputs, [1, 1, 1]))
    equal = DecisionFusion()([y.astype("float32") for y in outputs])
    np.testing.assert_allclose(np.asarray(equal["present"]), np.mean([y[..., 0] for y in outputs], 0), atol=1e-6)


def test_decision_fusion_rejects_bad_input():
    y = np.full((1, NUM_AUS, 2), 0.5)
    with pytest.raises(ValueError, match=r"\[0.5\]"):
        decision_fusion([y, y], weights=[0.5])
    with pytest.raises(ValueError, match="-1.0"):
        decision_fusion([y, y], weights=[-1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        decision_fusion([y, y[:, :3]])
    with pytest.raises(ValueError, match="list"):
        decision_fusion(y)
    with pytest.raises(ValueError, match="-1"):
        DecisionFusion(weights=[1, -1])


@pytest.mark.parametrize("weights", [None, [0.2, 0.5, 1.3]])
def test_decision_fusion_layer_harness(tmp_path, weights):
    """DecisionFusion alone and in a saved functional model, against eq. (5) in numpy."""
    rng = np.random.default_rng(11)
    outputs = [_softmax_pairs(rng, (4, NUM_AUS)) for _ in range(3)]
    w = np.ones(3) if weights is None else np.asarray(weights)
    present = sum(wi * y[..., 0] for wi, y in zip(w, outputs, strict=True)) / w.sum()
    margin = sum(wi * (y[..., 0] - y[..., 1]) for wi, y in zip(w, outputs, strict=True))
    assert np.abs(margin).min() > 1e-4  # no near-ties: float32 decides as float64 does
    model = run_layer_test(
        DecisionFusion,
        {"weights": weights},
        [y.astype("float32") for y in outputs],
        expected_output_shape={"present": (4, NUM_AUS), "decision": (4, NUM_AUS)},
        expected_output={"present": present, "decision": (margin > 0).astype("float32")},
        tmp_path=tmp_path,
    )
    assert isinstance(model.get_layer(index=-1), DecisionFusion)


def _fused_app(network1, network2, weights):
    images = keras.Input((32, 32, 1), name="images")
    out1 = network1(images)
    fused = DecisionFusion(weights=weights, name="fusion")([out1["au"], network2(images)["au"]])
    return keras.Model(images, {"view": out1["view"], "present": fused["present"], "decision": fused["decision"]})


def test_decision_fusion_layer_in_a_saved_graph(tmp_path):
    n1 = tiny_network1()
    n2 = Network2(n1.backbone, **TINY_HEAD)
    app = _fused_app(n1, n2, [0.4, 0.6])
    x, _, _ = random_batch(n=3)
    got = app.predict_on_batch(x)
    p1, p2 = n1.predict_on_batch(x)["au"], n2.predict_on_batch(x)["au"]
    np.testing.assert_allclose(got["present"], 0.4 * p1[..., 0] + 0.6 * p2[..., 0], atol=1e-6)
    margin = 0.4 * (p1[..., 0] - p1[..., 1]) + 0.6 * (p2[..., 0] - p2[..., 1])
    np.testing.assert_array_equal(got["decision"], (margin > 0).astype("float32"))
    # The documented way to a saved app: save the networks apart, load them
    # (each with its own backbone) and assemble the app from the loaded models.
    n1.save(tmp_path / "network1.keras")
    n2.save(tmp_path / "network2.keras")
    loaded = _fused_app(
        keras.saving.load_model(tmp_path / "network1.keras"),
        keras.saving.load_model(tmp_path / "network2.keras"),
        [0.4, 0.6],
    )
    loaded.save(tmp_path / "app.keras")
    reloaded = keras.saving.load_model(tmp_path / "app.keras")
    for model in (loaded, reloaded):
        again = model.predict_on_batch(x)
        for key in got:
            np.testing.assert_allclose(again[key], got[key], atol=1e-6)


# --- The harness catches what it is meant to catch ----------------------------------------


@keras.saving.register_keras_serializable(package="aufera_tests")
class _Scale(keras.layers.Layer):
    """Multiplies by `factor`; `forget` drops it from the config, as a buggy layer would."""

    def __init__(self, factor=1.0, forget=False, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.forget = float(factor), bool(forget)
        self.unused = self.add_weight(shape=(1,), initializer="ones", name="unused")

    def call(self, x):
        return x * self.factor + 0.0 * self.unused  # `unused` is connected, with a zero gradient

    def get_config(self):
        config = super().get_config()
        return config if self.forget else {**config, "factor": self.factor}


def _scale_model(forget):
    inputs = keras.Input((3,))
    return keras.Model(inputs, _Scale(2.0, forget=forget)(keras.layers.Dense(2)(inputs)))


def test_harness_catches_broken_models(tmp_path):
    x = np.ones((2, 3), "float32")
    good, bad = _scale_model(forget=False), _scale_model(forget=True)
    run_serialization_test(good.layers[-1])
    with pytest.raises(AssertionError):
        run_serialization_test(_Scale(2.0, forget=True))  # the config loses factor=2.0
    run_model_saving_test(good, x, tmp_path / "good")
    run_model_saving_test(_Scale(3.0), x, tmp_path / "layer")  # a bare layer, saved in a model around it
    with pytest.raises(AssertionError):
        run_model_saving_test(bad, x, tmp_path / "bad")  # reloaded with factor 1.0: outputs differ
    with pytest.raises(AssertionError, match="zero gradient"):
        run_gradient_test(good, x, lambda out: ops.sum(out))
    with pytest.raises(AssertionError):
        run_preset_test(Network1, "cpu-small", np.zeros((1, 132, 132, 1), "float32"), 423_980, {"au": (1, 10, 2)})
