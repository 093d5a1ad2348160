"""Tests of DRML (Zhao, Chu, Zhang 2016): the region layer, the model, its presets and its sigmoid loss.

The region layer is checked against a reference assembled in the test from
independent pieces: one plain `BatchNormalization`, `ReLU` and `Conv2D` per
cell applied to slices of the map (outputs, gradients and moving statistics).
Parameter counts are recomputed by formula from the presets' constructor
arguments; the loss is compared with numpy.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from model_harness import run_layer_test, run_model_suite, run_serialization_test

from aufera.au import NUM_AUS
from aufera.losses import MultiLabelSigmoidCrossentropy, drml_losses, multilabel_sigmoid_crossentropy
from aufera.models import DRML, DRML_PRESETS, RegionLayer, get_preset, preset_names
from aufera.models.drml import check_region_grid

ATOL = 1e-5
EPS = 1e-7


# --- RegionLayer against per-cell Keras layers --------------------------------------------


def _randomize(layer, rng):
    """Non-trivial, different weights in every cell: random gamma/beta/kernel/bias, moving statistics off 0/1."""
    cells, channels = layer.gamma.shape
    values = {
        "gamma": rng.normal(1.0, 0.5, (cells, channels)),
        "beta": rng.normal(0.0, 0.5, (cells, channels)),
        "moving_mean": rng.normal(0.3, 0.5, (cells, channels)),
        "moving_variance": rng.uniform(0.3, 2.5, (cells, channels)),
        "kernel": rng.normal(0.0, 0.3, tuple(layer.kernel.shape)),
        "bias": rng.normal(0.0, 0.3, (cells, channels)),
    }
    for name, value in values.items():
        variable = getattr(layer, name)
        variable.assign(value.astype(variable.dtype))


class ReferenceRegion:
    """DRML's region layer the slow way: per cell a BatchNormalization, a ReLU and a Conv2D("same"), on slices."""

    def __init__(self, layer, input_shape):
        (self.gh, self.gw), channels = layer.grid, input_shape[-1]
        self.h, self.w = input_shape[1] // self.gh, input_shape[2] // self.gw
        self.bns, self.relus, self.convs = [], [], []
        for g in range(self.gh * self.gw):
            bn = keras.layers.BatchNormalization(epsilon=layer.epsilon, momentum=layer.momentum, dtype=layer.dtype)
            conv = keras.layers.Conv2D(channels, layer.kernel_size, padding="same", dtype=layer.dtype)
            bn.build((None, self.h, self.w, channels))
            conv.build((None, self.h, self.w, channels))
            bn.gamma.assign(layer.gamma.numpy()[g])
            bn.beta.assign(layer.beta.numpy()[g])
            bn.moving_mean.assign(layer.moving_mean.numpy()[g])
            bn.moving_variance.assign(layer.moving_variance.numpy()[g])
            conv.kernel.assign(layer.kernel.numpy()[g])
            conv.bias.assign(layer.bias.numpy()[g])
            self.bns.append(bn)
            self.relus.append(keras.layers.ReLU(dtype=layer.dtype))
            self.convs.append(conv)

    def __call__(self, x, training):
        rows = []
        for r in range(self.gh):
            row = []
            for c in range(self.gw):
                g = r * self.gw + c
                cell = x[:, r * self.h : (r + 1) * self.h, c * self.w : (c + 1) * self.w, :]
                row.append(self.convs[g](self.relus[g](self.bns[g](cell, training=training))) + cell)
            rows.append(tf.concat(row, axis=2))
        return tf.concat(rows, axis=1)

    def stacked(self, what):
        """A per-cell weight of the reference layers, one per cell, in cell order."""
        owner = {"kernel": self.convs, "bias": self.convs}.get(what, self.bns)
        return [getattr(layer, what) for layer in owner]


def _nonlinear_loss(y):
    return ops.sum(y * ops.sin(y))


# (batch, height, width, channels), grid, kernel_size, momentum, epsilon. The 2 x 4 grid on a 24 x 40 map has
# non-square cells and more columns than rows, so a swapped row/column index cannot pass.
REGION_CASES = {
    "grid4x4": ((4, 40, 40, 4), (4, 4), 3, 0.99, 1e-3),
    "grid8x8": ((2, 48, 48, 3), (8, 8), 3, 0.6, 1e-3),
    "grid2x4_k5": ((3, 24, 40, 2), (2, 4), 5, 0.8, 1e-2),
}


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case", list(REGION_CASES))
def test_region_layer_matches_per_cell_layers(case, training):
    """Outputs, gradients (input, kernel, bias, gamma, beta) and moving statistics equal the per-cell reference.

    Both sides run in float64, so that `atol` checks the computation and not float32 rounding (the two
    sum in different orders; with sum(y sin y) that alone differs by ~1e-5 in float32). The float32
    layer is then checked against the same float64 reference.
    """
    shape, grid, kernel_size, momentum, epsilon = REGION_CASES[case]
    rng = np.random.default_rng(sum(shape) + int(training))
    # Cell-dependent offsets, so that every cell has its own batch statistics.
    x_np = rng.normal(0.4, 1.5, shape) + rng.normal(0.0, 1.0, shape[1:])
    x = tf.constant(x_np, "float64")
    args = {"grid": grid, "kernel_size": kernel_size, "momentum": momentum, "epsilon": epsilon}
    layer = RegionLayer(**args, dtype="float64")
    layer.build(shape)
    assert layer.cell_shape == (shape[1] // grid[0], shape[2] // grid[1])
    _randomize(layer, rng)
    layer32 = RegionLayer(**args)  # the same weights in float32, called before `layer` updates its statistics
    layer32.build(shape)
    layer32.set_weights([w.astype("float32") for w in layer.get_weights()])
    got32 = np.asarray(layer32(x_np.astype("float32"), training=training))
    reference = ReferenceRegion(layer, shape)
    old_mean, old_variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()

    names = ("kernel", "bias", "gamma", "beta")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        got = layer(x, training=training)
        expected = reference(x, training=training)
        got_loss, expected_loss = _nonlinear_loss(got), _nonlinear_loss(expected)

    got_np, expected_np = got.numpy(), expected.numpy()
    assert got_np.shape == shape and got_np.dtype == np.float64
    np.testing.assert_allclose(got_np, expected_np, atol=ATOL, rtol=0)
    assert np.abs(expected_np - x_np).mean() > 0.1  # the convolution branch adds something
    np.testing.assert_allclose(got32, expected_np, atol=1e-4, rtol=1e-5)

    np.testing.assert_allclose(tape.gradient(got_loss, x).numpy(), tape.gradient(expected_loss, x).numpy(), atol=ATOL)
    got_grads = tape.gradient(got_loss, [getattr(layer, n) for n in names])
    for name, got_grad in zip(names, got_grads, strict=True):
        expected_grad = np.stack([g.numpy() for g in tape.gradient(expected_loss, reference.stacked(name))])
        assert np.abs(expected_grad).max() > 1e-3, name
        np.testing.assert_allclose(np.asarray(got_grad), expected_grad, atol=ATOL, rtol=0, err_msg=name)

    moving_mean, moving_variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    np.testing.assert_allclose(moving_mean, np.stack([bn.moving_mean.numpy() for bn in reference.bns]), atol=ATOL)
    np.testing.assert_allclose(
        moving_variance, np.stack([bn.moving_variance.numpy() for bn in reference.bns]), atol=ATOL
    )
    if training:  # moved, each cell by its own batch statistics
        assert np.abs(moving_mean - old_mean).min() > 0
        assert np.abs(moving_variance - old_variance).min() > 0
        np.testing.assert_allclose(layer32.moving_mean.numpy(), moving_mean, atol=ATOL)
        np.testing.assert_allclose(layer32.moving_variance.numpy(), moving_variance, atol=ATOL)
    else:
        np.testing.assert_array_equal(moving_mean, old_mean)
        np.testing.assert_array_equal(moving_variance, old_variance)


def test_region_layer_moving_statistics_by_hand():
    """One training call moves each cell's statistics towards that cell's own batch mean and (biased) variance."""
    rng = np.random.default_rng(3)
    x = (rng.normal(0.0, 1.0, (5, 12, 18, 2)) + rng.normal(0.0, 2.0, (12, 18, 2))).astype("float32")
    layer = RegionLayer(grid=(2, 3), momentum=0.75)
    layer.build(x.shape)
    _randomize(layer, rng)
    old_mean, old_variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    layer(x, training=True)
    for g in range(6):
        r, c = divmod(g, 3)
        cell = x[:, 6 * r : 6 * r + 6, 6 * c : 6 * c + 6, :].astype("float64")
        mean, variance = cell.mean(axis=(0, 1, 2)), cell.var(axis=(0, 1, 2))
        np.testing.assert_allclose(layer.moving_mean.numpy()[g], 0.75 * old_mean[g] + 0.25 * mean, atol=ATOL)
        np.testing.assert_allclose(
            layer.moving_variance.numpy()[g], 0.75 * old_variance[g] + 0.25 * variance, atol=ATOL
        )


def test_region_layer_uses_every_cell_in_place():
    """All 64 cells of an 8 x 8 grid: cell g's weights act on row g // 8, column g % 8 and nowhere else."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, (2, 48, 48, 3)).astype("float32")
    layer = RegionLayer(grid=(8, 8))
    layer.build(x.shape)
    _randomize(layer, rng)

    # A zero kernel and a bias of g in cell g: the output is the input plus the cell's index, everywhere.
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    layer.kernel.assign(np.zeros_like(kernel))
    layer.bias.assign(np.repeat(np.arange(64, dtype="float32")[:, None], 3, axis=1))
    infer = tf.function(lambda images: layer(images, training=False))  # traced once: 64 calls stay fast
    index = np.asarray(infer(x)) - x
    expected = np.repeat(np.repeat(np.arange(64, dtype="float32").reshape(8, 8), 6, axis=0), 6, axis=1)
    np.testing.assert_allclose(index, np.broadcast_to(expected[None, :, :, None], x.shape), atol=ATOL)

    # Zeroing one cell's kernel changes exactly that cell's block of the output (for each of the 64 cells).
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    base = np.asarray(infer(x))
    changed_cells = []
    for g in range(64):
        layer.kernel.assign(np.where(np.arange(64)[:, None, None, None, None] == g, 0.0, kernel).astype("float32"))
        changed = np.any(np.asarray(infer(x)) != base, axis=(0, 3))  # (48, 48)
        mask = np.zeros((48, 48), bool)
        mask[6 * (g // 8) : 6 * (g // 8) + 6, 6 * (g % 8) : 6 * (g % 8) + 6] = True
        assert changed[mask].mean() > 0.9, g  # (a pixel may keep its value only by chance)
        assert not changed[~mask].any(), g
        changed_cells.append(g)
    layer.kernel.assign(kernel)
    assert changed_cells == list(range(64))


def test_region_layer_cells_do_not_see_their_neighbours():
    """Zero padding at each cell's border: changing one cell's input leaves every other cell's output unchanged."""
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 1.0, (1, 16, 16, 2)).astype("float32")
    layer = RegionLayer(grid=(4, 4), kernel_size=5)
    layer.build(x.shape)
    _randomize(layer, rng)
    base = np.asarray(layer(x, training=False))
    y = x.copy()
    y[:, 4:8, 4:8, :] += 10.0  # cell 5 (row 1, column 1)
    changed = np.any(np.asarray(layer(y, training=False)) != base, axis=(0, 3))
    assert changed[4:8, 4:8].all()
    changed[4:8, 4:8] = False
    assert not changed.any()


def test_region_layer_harness(tmp_path):
    """The shared layer checks, with outputs against numpy: a kernel of ones sums relu(BN(x)) over 3 x 3 x C."""
    rng = np.random.default_rng(9)
    x = rng.normal(0.0, 1.0, (2, 12, 8, 3)).astype("float32")
    # Inference with the initial statistics (mean 0, variance 1, gamma 1, beta 0) and a zero bias.
    activated = np.maximum(x.astype("float64") / np.sqrt(1.0 + 1e-3), 0.0).sum(axis=-1)  # (2, 12, 8)
    expected = np.empty_like(x, dtype="float64")
    for r in range(3):  # grid (3, 2): cells of 4 x 4
        for c in range(2):
            cell = np.pad(activated[:, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4], ((0, 0), (1, 1), (1, 1)))
            boxed = sum(cell[:, i : i + 4, j : j + 4] for i in range(3) for j in range(3))
            expected[:, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4, :] = boxed[..., None]
    expected += x
    model = run_layer_test(
        RegionLayer,
        {"grid": (3, 2), "kernel_size": 3, "kernel_initializer": "ones"},
        x,
        expected_output_shape=(2, 12, 8, 3),
        expected_output=expected,
        expected_num_trainable_weights=4,
        expected_num_non_trainable_weights=2,
        tmp_path=tmp_path,
        atol=1e-5,
    )
    region = [layer for layer in model.layers if isinstance(layer, RegionLayer)]
    assert len(region) == 1 and region[0].grid == (3, 2)
    assert region[0].get_config()["grid"] == [3, 2]


def test_region_layer_cells_start_with_different_kernels():
    """Each cell's kernel is its own draw of the initializer (as 64 separate Conv2D layers would be)."""
    layer = RegionLayer(grid=(2, 2))
    layer.build((None, 8, 8, 4))
    kernel = layer.kernel.numpy()
    assert all(not np.array_equal(kernel[0], kernel[g]) for g in range(1, 4))
    # Glorot-uniform of one cell's (3, 3, 4, 4) kernel: limit sqrt(6 / (36 + 36)), not that of the stacked shape.
    limit = np.sqrt(6.0 / (2 * 3 * 3 * 4))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit


def test_region_layer_seeded_initializer_is_reproducible_and_differs_per_cell():
    def kernel(seed):
        layer = RegionLayer(grid=(2, 2), kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
        layer.build((None, 8, 8, 2))
        return layer.kernel.numpy()

    first, again, other = kernel(7), kernel(7), kernel(8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[1], other[0])  # cell g draws with seed + g


# --- bad arguments ---------------------------------------------------------------------


@pytest.mark.parametrize("shape,grid", [((2, 41, 40, 4), (4, 4)), ((2, 40, 42, 4), (4, 4)), ((1, 48, 48, 2), (5, 8))])
def test_region_layer_map_not_divisible_by_grid(shape, grid):
    layer = RegionLayer(grid=grid)
    with pytest.raises(ValueError) as info:
        layer(np.zeros(shape, "float32"))
    message = str(info.value)
    assert "\n" not in message
    assert f"{shape[1]}x{shape[2]}" in message and f"{grid[0]}x{grid[1]}" in message
    assert str(shape) in message and f"grid={grid}" in message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grid": 0},
        {"grid": (0, 8)},
        {"grid": (8, -1)},
        {"grid": (8, 8, 8)},
        {"grid": (2.5, 2)},
        {"grid": True},
        {"grid": "8"},
        {"kernel_size": 2},
        {"kernel_size": 4},
        {"kernel_size": 0},
        {"kernel_size": 3.5},
        {"epsilon": 0.0},
        {"momentum": 1.0},
        {"momentum": -0.1},
    ],
)
def test_region_layer_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RegionLayer(**kwargs)


def test_region_layer_needs_a_4d_input_of_known_size():
    with pytest.raises(ValueError):
        RegionLayer(grid=(2, 2))(np.zeros((2, 8, 8), "float32"))
    with pytest.raises(ValueError, match="known height"):
        RegionLayer(grid=(2, 2))(keras.Input((None, 8, 3)))


# --- the model: harness ------------------------------------------------------------------

TINY_DRML = {
    "input_shape": (40, 40, 1),
    "conv1_filters": 4,
    "conv1_kernel_size": 5,
    "grid": (4, 4),
    "conv_filters": (4, 4),
    "conv_kernel_sizes": (3, 3),
    "conv_strides": (1, 2),
    "fc_units": (16, 8),
}


def tiny_batch(n=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 40, 40, 1)).astype("float32")
    au = rng.choice([-1, 0, 1], size=(n, NUM_AUS), p=[0.4, 0.2, 0.4]).astype("float32")
    return images, au


def test_tiny_drml_model_suite(tmp_path):
    """Serialization, .keras saving (safe_mode), SavedModel export, gradients and the cpu-small preset."""
    keras.utils.set_random_seed(0)
    model = DRML(**TINY_DRML)
    images, au = tiny_batch()
    loss = MultiLabelSigmoidCrossentropy()
    preset = {
        "name": "cpu-small",
        "input_data": np.zeros((1, 170, 170, 1), "float32"),
        "expected_params": DRML_PRESETS["cpu-small"]["metadata"]["params"]["drml"],
        "expected_output_shape": {"au": (1, NUM_AUS)},
    }
    # The SavedModel of aufera.export serves the whole (N, 10) sigmoid output as `au_present` (it served
    # au[..., 0], the first AU only, before sigmoid outputs were handled).
    result = run_model_suite(model, images, tmp_path, lambda out: loss(au, out["au"]), export="aufera", preset=preset)
    assert type(result["reloaded"]) is DRML and type(result["revived"]) is DRML
    assert isinstance(result["reloaded"].get_layer("region2"), RegionLayer)
    # conv1, region (gamma, beta, kernel, bias), pool3_bn (gamma, beta), conv4, conv5, fc8, fc9, au: 2 each.
    assert len(result["gradients"]) == 2 + 4 + 2 + 2 * 2 + 2 * 2 + 2
    assert model.count_params() == drml_params(TINY_DRML, region_layer=True)
    assert model(images)["au"].shape == (3, NUM_AUS)


def test_tiny_convnet_serialization_and_saving(tmp_path):
    keras.utils.set_random_seed(1)
    model = DRML(**TINY_DRML, region_layer=False)
    assert not any(isinstance(layer, RegionLayer) for layer in model.layers)
    revived = run_serialization_test(model)
    assert revived.region_layer is False and revived.get_config()["region_layer"] is False
    images, _ = tiny_batch(seed=1)
    path = tmp_path / "convnet.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert type(reloaded) is DRML and not reloaded.region_layer
    np.testing.assert_allclose(reloaded(images)["au"], model(images)["au"], atol=1e-6)
    assert model.count_params() == drml_params(TINY_DRML, region_layer=False)


# --- parameter counts by formula --------------------------------------------------------

BN = 4  # gamma, beta, moving mean, moving variance per channel


def drml_params(cfg, region_layer):
    """`count_params()` of a DRML built from constructor arguments `cfg`, every weight counted."""
    height, width, channels = cfg["input_shape"]
    k, f, s = cfg["conv1_kernel_size"], cfg["conv1_filters"], cfg.get("conv1_strides", 1)
    total = k * k * channels * f + f  # conv1
    height, width = (height - k) // s + 1, (width - k) // s + 1  # valid padding
    if region_layer:
        cells, rk = cfg["grid"][0] * cfg["grid"][1], cfg.get("region_kernel_size", 3)
        total += cells * (rk * rk * f * f + f) + BN * cells * f  # per cell: conv with bias, BN
    height, width = height // 2, width // 2  # pool3
    total += BN * f  # pool3_bn
    cin = f
    for filters, size, stride in zip(cfg["conv_filters"], cfg["conv_kernel_sizes"], cfg["conv_strides"], strict=True):
        total += size * size * cin * filters + filters
        height, width, cin = (height - size) // stride + 1, (width - size) // stride + 1, filters
    features = height * width * cin
    for units in cfg["fc_units"]:
        total += features * units + units
        features = units
    return total + features * cfg.get("num_aus", NUM_AUS) + cfg.get("num_aus", NUM_AUS)


def test_params_formula_by_hand():
    """The formula itself, on the paper's numbers written out (170 -> 160 -> 80 -> 73 -> 66 -> 31 -> 27)."""
    conv1 = 11 * 11 * 1 * 32 + 32
    region = 64 * (3 * 3 * 32 * 32 + 32) + 4 * 64 * 32
    convs = (8 * 8 * 32 * 16 + 16) + (8 * 8 * 16 * 16 + 16) + (6 * 6 * 16 * 16 + 16) + (5 * 5 * 16 * 16 + 16)
    fcs = (27 * 27 * 16 * 4096 + 4096) + (4096 * 2048 + 2048) + (2048 * 10 + 10)
    cfg = get_preset("paper", family="drml")["drml"]
    assert drml_params(cfg, True) == conv1 + region + 4 * 32 + convs + fcs == 56_859_914
    assert drml_params(cfg, False) == conv1 + 4 * 32 + convs + fcs == 56_259_850


@pytest.fixture(scope="module")
def preset_models():
    """Each preset model built once: (preset, region_layer) -> model."""
    keras.utils.set_random_seed(0)
    models = {
        (name, region): DRML.from_preset(name, region_layer=region)
        for name in ("paper", "cpu-small")
        for region in (True, False)
    }
    yield models
    keras.backend.clear_session()


def test_preset_names_and_metadata():
    assert preset_names("drml") == ("paper", "cpu-small")
    assert DRML_PRESETS["paper"]["metadata"]["params"] == {"drml": 56_859_914, "convnet": 56_259_850}
    preset = get_preset("paper", family="drml")
    preset["drml"]["fc_units"].append(1)
    assert get_preset("paper", family="drml")["drml"]["fc_units"] == [4096, 2048]  # a deep copy
    with pytest.raises(ValueError, match="Unknown preset"):
        DRML.from_preset("tiny")


@pytest.mark.parametrize("name", ["paper", "cpu-small"])
@pytest.mark.parametrize("region", [True, False], ids=["drml", "convnet"])
def test_preset_param_counts(preset_models, name, region):
    model = preset_models[(name, region)]
    cfg = get_preset(name, family="drml")["drml"]
    expected = drml_params(cfg, region_layer=region)
    assert model.count_params() == expected
    assert expected == DRML_PRESETS[name]["metadata"]["params"]["drml" if region else "convnet"]
    assert any(isinstance(layer, RegionLayer) for layer in model.layers) is region
    # BN moving statistics are the only non-trainable weights.
    cells = cfg["grid"][0] * cfg["grid"][1] if region else 0
    non_trainable = 2 * cells * cfg["conv1_filters"] + 2 * cfg["conv1_filters"]
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == non_trainable


def test_paper_preset_shapes(preset_models):
    model = preset_models[("paper", True)]
    shape = {
        name: tuple(model.get_layer(name).output.shape) for name in ("conv1", "region2", "pool3", "conv7", "flatten")
    }
    assert shape == {
        "conv1": (None, 160, 160, 32),
        "region2": (None, 160, 160, 32),
        "pool3": (None, 80, 80, 32),
        "conv7": (None, 27, 27, 16),
        "flatten": (None, 11664),
    }
    region = model.get_layer("region2")
    assert region.grid == (8, 8) and region.cell_shape == (20, 20) and region.kernel_size == 3
    assert tuple(region.kernel.shape) == (64, 3, 3, 32, 32)
    assert tuple(model.outputs[0].shape) == (None, NUM_AUS)
    assert tuple(model.get_layer("fc8").kernel.shape) == (11664, 4096)
    convnet = preset_models[("paper", False)]
    assert tuple(convnet.get_layer("flatten").output.shape) == (None, 11664)
    small = preset_models[("cpu-small", True)]
    assert tuple(small.get_layer("region2").output.shape) == (None, 80, 80, 16)
    assert small.get_layer("region2").cell_shape == (10, 10)


def test_from_preset_overrides():
    model = DRML.from_preset("cpu-small", region_layer=False, fc_units=(32, 16), num_aus=4, dropout=0.25)
    assert model.get_layer("fc8").units == 32 and model.get_layer("fc9").units == 16
    assert model.get_layer("fc8_dropout").rate == 0.25
    assert tuple(model.outputs[0].shape) == (None, 4)
    assert not model.region_layer and model.get_config()["fc_units"] == [32, 16]
    cfg = {**get_preset("cpu-small", family="drml")["drml"], "fc_units": (32, 16), "num_aus": 4}
    assert model.count_params() == drml_params(cfg, region_layer=False)
    model = DRML.from_preset("cpu-small", grid=(4, 5), input_shape=(169, 169, 1))  # conv1: 80 x 80
    assert model.get_layer("region2").cell_shape == (20, 16)
    assert model.get_config()["grid"] == [4, 5] and model.get_config()["input_shape"] == [169, 169, 1]


def test_paper_preset_map_not_divisible_by_grid():
    with pytest.raises(ValueError) as info:
        DRML.from_preset("paper", input_shape=(171, 171, 1))  # conv1: 161 x 161
    message = str(info.value)
    assert "\n" not in message
    assert "161x161 map (conv1 11x11 stride 1 on 171x171) cannot be cut into a 8x8 grid" in message
    # The ConvNet has no grid to cut into.
    assert DRML.from_preset("cpu-small", input_shape=(171, 171, 1), region_layer=False).count_params() > 0


@pytest.mark.parametrize(
    "input_shape,kernel,stride,expected",
    # (n - k) // s + 1 by hand: (170 - 11) // 1 + 1 = 160; (170 - 11) // 2 + 1 = 80; (169 - 11) // 2 + 1 = 80;
    # (100 - 11) // 3 + 1 = 30; a non-square input (170 x 90, stride 2): 80 x 40.
    [
        ((170, 170, 1), 11, 1, (160, 160)),
        ((170, 170, 1), 11, 2, (80, 80)),
        ((169, 169, 1), 11, 2, (80, 80)),
        ((100, 100, 1), 11, 3, (30, 30)),
        ((170, 90, 1), 11, 2, (80, 40)),
    ],
)
def test_check_region_grid_gives_conv1_map(input_shape, kernel, stride, expected):
    assert check_region_grid(input_shape, kernel, stride, 5) == expected  # 5 divides 160, 80, 40 and 30
    with pytest.raises(ValueError, match=f"{expected[0]}x{expected[1]} map .* cannot be cut into a 7x7 grid"):
        check_region_grid(input_shape, kernel, stride, 7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_shape": (40, 40)},
        {"conv_kernel_sizes": (3,)},
        {"conv_strides": (1, 0)},
        {"fc_units": (16, 0)},
        {"dropout": 1.0},
        {"num_aus": 0},
        {"grid": (4, 0)},
    ],
)
def test_drml_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        DRML(**{**TINY_DRML, **kwargs})


# --- the loss ------------------------------------------------------------------------------


def numpy_sigmoid_loss(y_true, probs, eps=EPS):
    """Per sample: - sum over known AUs of log p (present) or log(1 - p) (absent), written out with loops."""
    losses = np.zeros(y_true.shape[0])
    for n in range(y_true.shape[0]):
        for c in range(y_true.shape[1]):
            p = min(max(float(probs[n, c]), eps), 1.0 - eps)
            if y_true[n, c] > 0:
                losses[n] -= np.log(p)
            elif y_true[n, c] < 0:
                losses[n] -= np.log(1.0 - p)
    return losses


def random_labels(seed, n=8):
    rng = np.random.default_rng(seed)
    y_true = rng.choice([-1, 0, 1], size=(n, NUM_AUS), p=[0.4, 0.3, 0.3]).astype(np.int8)
    y_true[2] = 0  # an all-unknown sample
    y_true[3, 0] = 1
    probs = (1.0 / (1.0 + np.exp(-rng.normal(scale=2.0, size=(n, NUM_AUS))))).astype("float32")
    return y_true, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_loss_matches_numpy(seed):
    y_true, probs = random_labels(seed)
    expected = numpy_sigmoid_loss(y_true, probs)
    per_sample = np.asarray(multilabel_sigmoid_crossentropy(y_true, probs))
    assert per_sample.shape == (8,)
    np.testing.assert_allclose(per_sample, expected, rtol=1e-5)
    assert per_sample[2] == 0.0
    # The Keras loss: the mean over the N samples, not over the known labels.
    known = np.count_nonzero(y_true)
    assert known < y_true.size
    mean = float(MultiLabelSigmoidCrossentropy()(y_true, probs))
    np.testing.assert_allclose(mean, expected.sum() / 8, rtol=1e-5)
    assert abs(mean - expected.sum() / known) > 1e-3
    # Labels of any numeric dtype.
    np.testing.assert_allclose(float(MultiLabelSigmoidCrossentropy()(y_true.astype("float32"), probs)), mean, rtol=1e-6)


def test_sigmoid_loss_hand_example():
    y_true = np.array([[1, -1, 0], [0, 0, 0]])
    probs = np.array([[0.8, 0.1, 0.3], [0.5, 0.5, 0.5]], "float32")
    per_sample = np.asarray(multilabel_sigmoid_crossentropy(y_true, probs))
    np.testing.assert_allclose(per_sample, [-np.log(0.8) - np.log(0.9), 0.0], rtol=1e-6)
    np.testing.assert_allclose(
        float(MultiLabelSigmoidCrossentropy()(y_true, probs)), (-np.log(0.8) - np.log(0.9)) / 2, rtol=1e-6
    )


def test_sigmoid_loss_gradient():
    """Zero gradient exactly where the label is unknown; -1/p (present) and 1/(1-p) (absent) elsewhere, over N."""
    y_true, probs = random_labels(5)
    p = tf.Variable(probs)
    with tf.GradientTape() as tape:
        loss = MultiLabelSigmoidCrossentropy()(y_true, p)
    grad = tape.gradient(loss, p).numpy()
    assert np.all(grad[y_true == 0] == 0.0)
    expected = np.where(y_true > 0, -1.0 / probs, np.where(y_true < 0, 1.0 / (1.0 - probs), 0.0)) / len(y_true)
    np.testing.assert_allclose(grad, expected, rtol=1e-4)
    assert np.all(grad[y_true != 0] != 0.0)


def test_sigmoid_loss_clipping():
    """p = 0 and p = 1 give finite losses and gradients (clipped to [eps, 1 - eps])."""
    y_true = np.array([[1, -1, 1, -1, 0, 0]], "float32")
    probs = np.array([[0.0, 1.0, 1.0, 0.0, 0.0, 1.0]], "float32")
    p = tf.Variable(probs)
    with tf.GradientTape() as tape:
        loss = MultiLabelSigmoidCrossentropy()(y_true, p)
    assert np.isfinite(float(loss))
    assert np.all(np.isfinite(tape.gradient(loss, p).numpy()))
    # Wrong and sure: about -log(eps) each; right and sure: about 0.
    np.testing.assert_allclose(float(loss), -2 * np.log(EPS), rtol=1e-2)
    per_sample = multilabel_sigmoid_crossentropy(y_true, probs, epsilon=1e-3)
    np.testing.assert_allclose(np.asarray(per_sample), [-2 * np.log(1e-3) - 2 * np.log(1 - 1e-3)], rtol=1e-5)


def test_sigmoid_loss_config_round_trip():
    loss = MultiLabelSigmoidCrossentropy(epsilon=1e-4, name="drml_loss", reduction="sum")
    config = json.loads(json.dumps(loss.get_config()))
    revived = MultiLabelSigmoidCrossentropy.from_config(config)
    assert revived.get_config() == loss.get_config()
    assert revived.epsilon == 1e-4 and revived.name == "drml_loss" and revived.reduction == "sum"
    deserialized = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(deserialized) is MultiLabelSigmoidCrossentropy and deserialized.epsilon == 1e-4
    y_true, probs = random_labels(4)
    np.testing.assert_allclose(float(revived(y_true, probs)), numpy_sigmoid_loss(y_true, probs, 1e-4).sum(), rtol=1e-5)
    assert set(drml_losses()) == {"loss"} and isinstance(drml_losses()["loss"]["au"], MultiLabelSigmoidCrossentropy)
    for epsilon in (0.0, 0.5, -1e-3):
        with pytest.raises(ValueError, match="epsilon"):
            MultiLabelSigmoidCrossentropy(epsilon=epsilon)


@pytest.mark.parametrize(
    "true_shape,pred_shape",
    [((3,), (3, NUM_AUS)), ((3, NUM_AUS), (3, NUM_AUS, 1)), ((3, NUM_AUS), (3,)), ((3, NUM_AUS, 2), (3, NUM_AUS))],
)
def test_sigmoid_loss_wrong_ranks(true_shape, pred_shape):
    for loss in (multilabel_sigmoid_crossentropy, MultiLabelSigmoidCrossentropy()):
        with pytest.raises(ValueError, match="shape"):
            loss(np.ones(true_shape, "float32"), np.full(pred_shape, 0.5, "float32"))


@pytest.mark.parametrize("true_shape", [(3, 1), (3, 5), (4, NUM_AUS)])
def test_sigmoid_loss_mismatched_shapes(true_shape):
    with pytest.raises(ValueError, match="shape"):
        multilabel_sigmoid_crossentropy(np.ones(true_shape, "float32"), np.full((3, NUM_AUS), 0.5, "float32"))
