"""Shared checks for every aufera model and custom layer, in the spirit of keras-hub's `TestCase`.

One call per check, so that a new model family gets the whole set with one
line (`run_model_suite`):

- `run_serialization_test(instance)`: `get_config` -> JSON -> `from_config`
  gives the same config; `serialize_keras_object` -> JSON ->
  `deserialize_keras_object` too.
- `run_model_saving_test(model, input_data, tmp_path)`: `.keras` save, reload
  with `safe_mode=True`, equal outputs in inference mode, every weight equal
  (and trainable where it was).
- `run_saved_model_test(model, input_data, tmp_path)`: SavedModel export,
  `tf.saved_model.load`, equal outputs.
- `run_gradient_test(model, input_data, loss_fn)`: a finite, non-zero
  gradient for every trainable weight.
- `run_preset_test(cls, preset_name, input_data, expected_params, ...)`:
  `cls.from_preset` builds, output shapes and `count_params()` as expected.
- `run_layer_test(layer_cls, init_kwargs, input_data, ...)`: a custom layer
  alone and inside a saved model.
- `run_model_suite(model, input_data, tmp_path, loss_fn, preset=None)`: all
  the model checks above.

Tests import it as `from model_harness import ...` (pytest puts `tests/` on
`sys.path`, as `tests/` is a rootdir-style directory without `__init__.py`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

ATOL = 1e-6
# The tiny residual network the model tests build on: 32 x 32 input, two groups of one block (4 and 8 filters).
TINY_BACKBONE = {
    "input_shape": (32, 32, 1),
    "stackwise_num_filters": (4, 8),
    "stackwise_num_blocks": (1, 1),
    "stackwise_pooling": (True, False),
    "stem_filters": 4,
}


# --- helpers ------------------------------------------------------------------------


class KillAfterFirstEpoch(keras.callbacks.Callback):
    """A training callback that simulates a kill at the end of the first epoch (after its checkpoint)."""

    def __init__(self):
        super().__init__()
        self.fired = False

    def on_epoch_end(self, epoch, logs=None):
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt


def to_numpy(outputs):
    """Outputs (a tensor, or a dict / list of them) as numpy arrays, same structure."""
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), outputs)


def assert_outputs_close(got, expected, atol: float = ATOL, what: str = "outputs") -> None:
    """Asserts two output structures have the same keys / lengths and values within `atol`."""
    got, expected = to_numpy(got), to_numpy(expected)
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), (what, sorted(got), sorted(expected))
        for key in expected:
            assert_outputs_close(got[key], expected[key], atol, f"{what}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert isinstance(got, list | tuple) and len(got) == len(expected), what
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_outputs_close(g, e, atol, f"{what}[{i}]")
    else:
        assert got.shape == expected.shape, (what, got.shape, expected.shape)
        np.testing.assert_allclose(got, expected, atol=atol, rtol=0, err_msg=what)


def output_shapes(outputs):
    """The shapes of an output structure (tensors, or a dict / list of them), as tuples, same structure."""
    return keras.tree.map_structure(lambda t: tuple(None if d is None else int(d) for d in t.shape), outputs)


def _is_shape(value) -> bool:
    return isinstance(value, list | tuple) and all(d is None or isinstance(d, int) for d in value)


def normalize_shapes(shapes):
    """A shape, or a dict / list of shapes, with every shape as a tuple (`keras.tree` would walk into tuples)."""
    if isinstance(shapes, dict):
        return {key: normalize_shapes(value) for key, value in shapes.items()}
    if _is_shape(shapes):
        return tuple(shapes)
    return [normalize_shapes(s) for s in shapes]


def _unbatched(shapes):
    """`normalize_shapes` with the batch dimension replaced by None."""
    shapes = normalize_shapes(shapes)
    if isinstance(shapes, dict):
        return {key: _unbatched(value) for key, value in shapes.items()}
    if isinstance(shapes, tuple):
        return (None, *shapes[1:])
    return [_unbatched(s) for s in shapes]


def _json_round_trip(config):
    return json.loads(json.dumps(config))


def _symbolic_inputs(input_data):
    if isinstance(input_data, list | tuple):
        return [keras.Input(shape=np.shape(x)[1:], dtype=str(np.asarray(x).dtype)) for x in input_data]
    return keras.Input(shape=np.shape(input_data)[1:], dtype=str(np.asarray(input_data).dtype))


# --- serialization --------------------------------------------------------------------


def run_serialization_test(instance):
    """Checks the config round trips of a layer or model; returns the object rebuilt from its config.

    1. `get_config()` survives JSON; `type(instance).from_config` of it builds an
       object of the same class whose config (through JSON) is the same.
    2. `keras.saving.serialize_keras_object` survives JSON and
       `keras.saving.deserialize_keras_object` gives the same class and config.
    3. If `instance` is a built model, both rebuilt models hold as many
       weights, of the same shapes (trainable and not), and `count_params()`
       agrees.
    """
    cls = type(instance)
    config = _json_round_trip(instance.get_config())
    revived = cls.from_config(copy.deepcopy(config))  # some from_config (Functional's) consume their argument
    assert type(revived) is cls
    assert _json_round_trip(revived.get_config()) == config

    serialized = _json_round_trip(keras.saving.serialize_keras_object(instance))
    assert serialized["class_name"] == cls.__name__
    deserialized = keras.saving.deserialize_keras_object(copy.deepcopy(serialized))
    assert type(deserialized) is cls
    assert _json_round_trip(deserialized.get_config()) == config
    assert _json_round_trip(keras.saving.serialize_keras_object(deserialized)) == serialized

    if isinstance(instance, keras.Model) and instance.built:  # a layer is built only when called
        for other in (revived, deserialized):
            assert other.built
            assert [tuple(w.shape) for w in other.trainable_weights] == [
                tuple(w.shape) for w in instance.trainable_weights
            ]
            assert [tuple(w.shape) for w in other.non_trainable_weights] == [
                tuple(w.shape) for w in instance.non_trainable_weights
            ]
            assert other.count_params() == instance.count_params()
    return revived


# --- saving -----------------------------------------------------------------------


def run_model_saving_test(model, input_data, tmp_path, atol: float = ATOL):
    """Saves `model` as `.keras`, reloads it with `safe_mode=True` and compares.

    The reloaded object has the same class, the same outputs on `input_data`
    in inference mode (within `atol`), and every weight equal, with the same
    path and the same trainable flag (so a frozen backbone stays frozen).

    Args:
        model: a Keras model, or a layer (then saved inside a functional
            model built on `keras.Input`s shaped like `input_data`).
        input_data: one batch.
        tmp_path: a directory to write into.
        atol: float. Tolerance on the outputs.

    Returns:
        The reloaded model.
    """
    if not isinstance(model, keras.Model):
        inputs = _symbolic_inputs(input_data)
        model = keras.Model(inputs, model(inputs), name=f"{model.name}_model")
    Path(tmp_path).mkdir(parents=True, exist_ok=True)
    path = Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert type(reloaded) is type(model)
    assert_outputs_close(reloaded(input_data, training=False), model(input_data, training=False), atol)

    assert [w.path for w in reloaded.weights] == [w.path for w in model.weights]
    assert [w.path for w in reloaded.trainable_weights] == [w.path for w in model.trainable_weights]
    for original, loaded in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy(), err_msg=original.path)
    assert {id(v) for v in reloaded.weights}.isdisjoint(id(v) for v in model.weights)
    return reloaded


def run_saved_model_test(model, input_data, tmp_path, export: str = "auto", atol: float = ATOL):
    """Exports `model` as a SavedModel, reloads it with `tf.saved_model.load` and compares outputs.

    Args:
        model: a Keras model.
        input_data: one batch the model takes (an array, or a list or dict of arrays).
        tmp_path: a directory to write into.
        export: "keras" for `model.export` (the endpoint returns the model's
            outputs), "aufera" for `aufera.export.export_saved_model` (the
            serving outputs `au_present` = au[..., 0] of 2-neuron outputs,
            the "au" output itself of sigmoid outputs (N, num_aus), and, for
            Network1, `view`), or "auto": "aufera" for models with an "au" output,
            "keras" otherwise.
        atol: float. Tolerance on the outputs.

    Returns:
        The loaded SavedModel object.
    """
    expected = to_numpy(model(input_data, training=False))
    if export == "auto":
        export = "aufera" if isinstance(expected, dict) and "au" in expected else "keras"
    Path(tmp_path).mkdir(parents=True, exist_ok=True)
    path = Path(tmp_path) / f"{model.name}_saved_model"
    if export == "aufera":
        from aufera.export import export_saved_model

        served = tf.saved_model.load(export_saved_model(model, path))
        au = expected["au"]
        want = {"au_present": au if au.ndim == 2 else au[..., 0]}
        if "view" in expected:
            want["view"] = expected["view"]
    elif export == "keras":
        model.export(path, format="tf_saved_model", verbose=False)
        served = tf.saved_model.load(str(path))
        want = expected
    else:
        raise ValueError(f"`export` must be 'auto', 'keras' or 'aufera'. Received: export={export!r}")
    if isinstance(input_data, dict):
        data = {key: tf.constant(x) for key, x in input_data.items()}
    elif isinstance(input_data, list | tuple):
        data = [tf.constant(x) for x in input_data]
    else:
        data = tf.constant(input_data)
    assert_outputs_close(served.serve(data), want, atol, "SavedModel outputs")
    return served


# --- gradients ------------------------------------------------------------------------


def run_gradient_test(model, input_data, loss_fn):
    """Checks that every trainable weight of `model` gets a finite, non-zero gradient.

    Args:
        model: a Keras model (or layer) with trainable weights.
        input_data: one batch.
        loss_fn: callable `outputs -> scalar`, applied to the outputs of
            `model(input_data, training=True)`.

    Returns:
        A dict weight path -> gradient (numpy).
    """
    weights = model.trainable_weights
    assert weights, f"{model.name} has no trainable weights"
    with tf.GradientTape() as tape:
        loss = loss_fn(model(input_data, training=True))
    assert np.isfinite(float(loss)), float(loss)
    grads = tape.gradient(loss, weights)
    result = {}
    for weight, grad in zip(weights, grads, strict=True):
        assert grad is not None, f"no gradient for {weight.path}"
        grad = np.asarray(keras.ops.convert_to_numpy(grad))
        assert grad.shape == tuple(weight.shape), weight.path
        assert np.all(np.isfinite(grad)), f"non-finite gradient for {weight.path}"
        assert np.any(grad != 0), f"zero gradient for {weight.path}"
        result[weight.path] = grad
    return result


# --- presets --------------------------------------------------------------------------


def run_preset_test(cls, preset_name, input_data, expected_params, expected_output_shape, init_kwargs=None):
    """Builds `cls.from_preset(preset_name, **init_kwargs)` and checks its outputs and parameter count.

    Args:
        cls: a model class with `from_preset`.
        preset_name: str.
        input_data: one batch.
        expected_params: int. `count_params()` of the built model.
        expected_output_shape: the shapes of the outputs on `input_data`
            (a tuple, or a dict of tuples for dict outputs).
        init_kwargs: dict. Extra `from_preset` arguments (e.g. `backbone`).

    Returns:
        The built model.
    """
    model = cls.from_preset(preset_name, **(init_kwargs or {}))
    assert type(model) is cls
    outputs = model(input_data, training=False)
    assert output_shapes(outputs) == normalize_shapes(expected_output_shape)
    assert all(np.all(np.isfinite(array)) for array in keras.tree.flatten(to_numpy(outputs)))
    assert model.count_params() == expected_params, (preset_name, model.count_params(), expected_params)
    return model


# --- layers ---------------------------------------------------------------------------


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    expected_output=None,
    expected_num_trainable_weights: int = 0,
    expected_num_non_trainable_weights: int = 0,
    tmp_path=None,
    atol: float = ATOL,
):
    """Checks a custom layer alone and inside a functional model.

    1. `layer_cls(**init_kwargs)` passes `run_serialization_test`.
    2. Called on `input_data`: output shapes `expected_output_shape` (a tuple
       or a dict of tuples, batch dimension included) and, if given, values
       `expected_output` within `atol`; the weight counts are as expected.
    3. Called on `keras.Input`s: symbolic shapes agree with
       `compute_output_shape` and with the eager shapes (batch dimension None).
    4. If `tmp_path` is given: a functional model around the layer passes
       `run_serialization_test`, `run_model_saving_test` and
       `run_saved_model_test`, with outputs equal to the layer's.

    Returns:
        The functional model around the layer (or None without `tmp_path`).
    """
    layer = layer_cls(**init_kwargs)
    run_serialization_test(layer)
    outputs = layer(input_data)
    assert output_shapes(outputs) == normalize_shapes(expected_output_shape)
    if expected_output is not None:
        assert_outputs_close(outputs, expected_output, atol, f"{layer_cls.__name__} outputs")
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    run_serialization_test(layer)  # built now

    inputs = _symbolic_inputs(input_data)
    symbolic = layer_cls(**init_kwargs)(inputs)
    input_shapes = [tuple(i.shape) for i in inputs] if isinstance(inputs, list) else tuple(inputs.shape)
    computed = layer_cls(**init_kwargs).compute_output_shape(input_shapes)
    unbatched = _unbatched(output_shapes(outputs))
    assert output_shapes(symbolic) == unbatched
    assert normalize_shapes(computed) == unbatched

    if tmp_path is None:
        return None
    model = keras.Model(inputs, symbolic, name=f"{layer_cls.__name__.lower()}_model")
    assert_outputs_close(model(input_data), outputs, atol, "functional model outputs")
    run_serialization_test(model)
    run_model_saving_test(model, input_data, tmp_path, atol)
    run_saved_model_test(model, input_data, tmp_path, export="keras", atol=atol)
    return model


# --- all at once ----------------------------------------------------------------------


def run_model_suite(
    model,
    input_data,
    tmp_path,
    loss_fn,
    export: str = "auto",
    atol: float = ATOL,
    preset: dict | None = None,
):
    """Runs every model check on one model: serialization, `.keras` saving, SavedModel, gradients, presets.

    Args:
        model: a built Keras model (e.g. `ResNetBackbone`, `Network1`, `Network2`).
        input_data: one batch the model takes.
        tmp_path: a directory to write into.
        loss_fn: callable `outputs -> scalar` for `run_gradient_test`.
        export: passed to `run_saved_model_test`.
        atol: float. Tolerance on reloaded outputs.
        preset: optional dict of `run_preset_test` arguments for
            `type(model)`: `name`, `input_data`, `expected_params`,
            `expected_output_shape` and optionally `init_kwargs`.

    Returns:
        A dict with the `revived` (from config), `reloaded` (.keras) and
        `served` (SavedModel) objects, the `gradients` and (with `preset`)
        the `preset` model.
    """
    result = {
        "revived": run_serialization_test(model),
        "reloaded": run_model_saving_test(model, input_data, tmp_path, atol),
        "served": run_saved_model_test(model, input_data, tmp_path, export=export, atol=atol),
        "gradients": run_gradient_test(model, input_data, loss_fn),
    }
    if preset is not None:
        result["preset"] = run_preset_test(
            type(model),
            preset["name"],
            preset["input_data"],
            preset["expected_params"],
            preset["expected_output_shape"],
            init_kwargs=preset.get("init_kwargs"),
        )
    return result
