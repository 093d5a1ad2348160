"""Tests of the serving export of a preset (uint8 face crops in) and of `aufera export`.

Tolerances checked here (and stated in docs/export.md):

- the SavedModel reloaded with `tf.saved_model.load` against
  `preset.serving_model()`: probabilities within 1e-5, decisions equal;
- the normalisation inside against numpy's `crop / 255 - mean / 255` (then
  the centre crop) fed to `preset.model`: within 1e-5;
- the TFLite interpreter against the Keras serving model: probabilities
  within 1e-5 (float32 weights; measured differences are a few 1e-6), and
  decisions equal wherever the fused present-probability is more than 1e-4
  from 0.5 (eq. 5's threshold).
"""

import dataclasses
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from aufera.cli import main
from aufera.errors import AuferaError
from aufera.export import export_preset_saved_model, export_preset_tflite
from aufera.pretrained import load_preset

PRESETS = ["cpu-small", "drml/cpu-small"]  # He et al. (with view, 132 px) and DRML (centre 170 crop of 200 px)
ATOL = 1e-5
TFLITE_ATOL = 1e-5


def with_mean(handle: str):
    """The random-weight architecture `handle` (seeded) with a non-zero mean image, so that the mean removal matters."""
    keras.utils.set_random_seed(0)
    preset = load_preset(handle)
    mean = np.random.default_rng(1).uniform(40.0, 200.0, preset.crop_shape).astype(np.float32)
    return dataclasses.replace(preset, mean_image=mean)


def crops(preset, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *preset.crop_shape), dtype=np.uint8)


def keras_outputs(preset, x) -> dict:
    return {name: np.asarray(value) for name, value in preset.serving_model()(x, training=False).items()}


def interpreter(model_path):
    """A TFLite interpreter: LiteRT's when installed, else TensorFlow's (deprecated, still in TF 2.21)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(model_path))
    return Interpreter(model_path=str(model_path))


@pytest.fixture(scope="module", params=PRESETS)
def exported(request, tmp_path_factory):
    preset = with_mean(request.param)
    path = export_preset_saved_model(preset, tmp_path_factory.mktemp("saved") / "model")
    return preset, tf.saved_model.load(str(path)), path


def test_saved_model_matches_the_serving_model(exported):
    preset, served, _ = exported
    names = {"au_present", "au_decision", "view"} if preset.has_view else {"au_present", "au_decision"}
    for n in (1, 5):
        x = crops(preset, n, seed=n)
        expected = keras_outputs(preset, x)
        assert set(expected) == names
        for out in (served.serve(tf.constant(x)), served.signatures["serving_default"](crops=tf.constant(x))):
            assert set(out) == names
            np.testing.assert_allclose(out["au_present"].numpy(), expected["au_present"], atol=ATOL)
            np.testing.assert_array_equal(out["au_decision"].numpy(), expected["au_decision"])
            if preset.has_view:
                np.testing.assert_allclose(out["view"].numpy(), expected["view"], atol=ATOL)
        assert out["au_present"].shape == (n, 10) and out["au_present"].dtype == tf.float32
        assert set(np.unique(out["au_decision"].numpy())) <= {0.0, 1.0}


def test_saved_model_declares_and_requires_uint8_crops(exported):
    preset, served, _ = exported
    _, kwargs = served.signatures["serving_default"].structured_input_signature
    assert kwargs == {"crops": tf.TensorSpec((None, *preset.crop_shape), tf.uint8, name="crops")}
    with pytest.raises((TypeError, ValueError)):
        served.serve(tf.constant(crops(preset, 2).astype(np.float32)))
    with pytest.raises((TypeError, ValueError)):
        served.serve(tf.constant(crops(preset, 2)[:, 1:]))  # a crop of the wrong size


def test_saved_model_stores_each_weight_once(exported):
    # Keras tracks a model's variables twice in an ExportArchive (keras-team/keras issue 23553); the preset
    # export tracks only the endpoint's, so the SavedModel holds the serving model's weights (with the mean) once.
    preset, _, path = exported
    reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    shapes = reader.get_variable_to_shape_map()
    stored = sum(int(np.prod(shape)) for name, shape in shapes.items() if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert stored == preset.serving_model().count_params()


@pytest.mark.parametrize("handle", PRESETS)
def test_normalisation_inside_equals_numpy(handle):
    preset = with_mean(handle)
    x = crops(preset, 4, seed=3)
    normalised = x.astype(np.float32) / np.float32(255.0) - preset.mean_image / np.float32(255.0)
    side = preset.preprocessing.crop_size
    if side is not None:  # DRML: the centre crop of the 200-px face
        top = (preset.crop_shape[0] - side) // 2
        normalised = normalised[:, top : top + side, top : top + side, :]
    assert normalised.shape[1:] == tuple(preset.model.inputs[0].shape[1:])
    expected = preset.model(normalised, training=False)
    served = keras_outputs(preset, x)
    for name in served:
        np.testing.assert_allclose(served[name], np.asarray(expected[name]), atol=ATOL, err_msg=name)
    # The mean matters: a zero mean gives other outputs.
    zero = keras_outputs(dataclasses.replace(preset, mean_image=np.zeros_like(preset.mean_image)), x)
    assert np.abs(zero["au_present"] - served["au_present"]).max() > 1e-3


def test_tflite_matches_the_serving_model(tmp_path):
    preset = with_mean("cpu-small")
    path = export_preset_tflite(preset, tmp_path / "model.tflite")
    runner = interpreter(path)
    (detail,) = runner.get_input_details()
    assert detail["dtype"] == np.uint8 and list(detail["shape_signature"]) == [-1, *preset.crop_shape]
    signature = runner.get_signature_list()["serving_default"]
    assert signature["inputs"] == ["crops"] and set(signature["outputs"]) == {"au_present", "au_decision", "view"}
    serve = runner.get_signature_runner("serving_default")
    clear_count = 0
    for n in (1, 6):  # the runner resizes the batch dimension
        x = crops(preset, n, seed=10 + n)
        expected = keras_outputs(preset, x)
        out = serve(crops=x)
        np.testing.assert_allclose(out["au_present"], expected["au_present"], atol=TFLITE_ATOL)
        np.testing.assert_allclose(out["view"], expected["view"], atol=TFLITE_ATOL)
        # Decisions at eq. (5)'s threshold may differ by rounding; elsewhere they are equal.
        clear = np.abs(expected["au_present"] - 0.5) > 1e-4
        clear_count += int(clear.sum())
        np.testing.assert_array_equal(out["au_decision"][clear], expected["au_decision"][clear])
    assert clear_count >= 0.8 * 70  # the comparison is not vacuous (70 AU outputs in all)
    with pytest.raises(AuferaError, match="model.tflite: exists"):
        export_preset_tflite(preset, path)


def test_saved_model_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(AuferaError, match="full: exists and is not an empty folder"):
        export_preset_saved_model(load_preset("cpu-small"), tmp_path / "full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


# === aufera export ===


def _run(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_export_command_preset_then_savedmodel_then_tflite(tmp_path, capsys):
    handle = "cpu-small"
    preset_dir, saved, lite = tmp_path / "preset", tmp_path / "saved", tmp_path / "lite"
    status, out, err = _run(["export", "--model", handle, "--format", "preset", "--out", str(preset_dir)], capsys)
    assert status == 0, err
    assert (preset_dir / "metadata.json").is_file() and (preset_dir / "model.weights.h5").is_file()
    assert out.startswith(f"preset of {handle} (") and out.endswith(" MB\n") and out.count("\n") == 1
    status, out, err = _run(
        ["export", "--model", str(preset_dir), "--format", "savedmodel", "--out", str(saved)], capsys
    )
    assert status == 0, err
    assert (saved / "saved_model.pb").is_file() and out.startswith("SavedModel of") and out.count("\n") == 1
    status, out, err = _run(["export", "--model", str(preset_dir), "--format", "tflite", "--out", f"{lite}/"], capsys)
    assert status == 0, err
    assert (lite / "model.tflite").is_file() and out.startswith("TFLite file of") and str(lite / "model.tflite") in out
    # The three hold the same detector: the SavedModel and the TFLite file give the preset's outputs.
    preset = load_preset(str(preset_dir))
    x = crops(preset, 2)
    expected = keras_outputs(preset, x)
    loaded = tf.saved_model.load(str(saved))  # kept: its variables live as long as the object
    np.testing.assert_allclose(loaded.serve(x)["au_present"], expected["au_present"], atol=ATOL)
    served = interpreter(lite / "model.tflite").get_signature_runner("serving_default")(crops=x)
    np.testing.assert_allclose(served["au_present"], expected["au_present"], atol=TFLITE_ATOL)


def test_export_command_default_is_the_demo_preset(tmp_path, capsys):
    status, out, err = _run(["export", "--format", "preset", "--out", str(tmp_path / "demo")], capsys)
    assert status == 0, err
    assert out.startswith("preset of demo ") and (tmp_path / "demo" / "metadata.json").is_file()


@pytest.mark.parametrize("fmt", ["preset", "savedmodel", "tflite"])
def test_export_command_refuses_a_non_empty_out(tmp_path, capsys, fmt):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.tflite").write_text("x")  # for tflite, the folder's model.tflite exists
    status, stdout, err = _run(["export", "--model", "cpu-small", "--format", fmt, "--out", str(out)], capsys)
    assert status == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("aufera export: error: ") and str(out) in err
    assert sorted(p.name for p in out.iterdir()) == ["model.tflite"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "no-such-preset", "--format", "preset", "--out", "{tmp}/x"], "no-such-preset: no such preset"),
        (["--model", "cpu-small", "--format", "savedmodel", "--out", "{tmp}/file/x"], "cannot create the folder"),
        (["--model", "cpu-small", "--format", "tflite", "--out", "{tmp}/file"], "file: exists"),
    ],
)
def test_export_command_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    status, stdout, err = _run(["export", *argv], capsys)
    assert status == 2 and stdout == ""
    assert err.count("\n") == 1 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
