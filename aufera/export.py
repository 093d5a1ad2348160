"""SavedModel export for serving: AU present-probabilities, views and fused decisions.

The exported signature takes normalised float32 images (N, H, W, 1), i.e.
after scaling to [0, 1] and removing the training mean, exactly what the
Keras models take, and returns plain tensors:

- one model (Network1, or Network2): `au_present` (N, 10), the probability of
  each AU's "present" neuron, and for Network1 `view` (N, 9);
- several models fused (e.g. Network1 + Network2): also `fused_present`
  (N, 10), the weighted mean of the models' present-probabilities, and
  `fused_decision` (N, 10), the 0/1 decision of eq. (5) as float32 (ties count
  as absent). `au_present` and `view` are then those of the first model.

Reload with `tf.saved_model.load(path)` and call `.serve(images)` or the
`serving_default` signature (`signatures["serving_default"](images=...)`).

The serving export of a preset (`aufera.pretrained.Preset`) takes what a
face detector hands over instead: uint8 face crops (N, H, W, 1) of the
preset's crop size. The scaling, the mean removal and the centre crop (when
the model takes one) happen inside the graph (`Preset.serving_model`), and
it returns the detector's outputs:

- `au_present` (N, 10) float32, the present-probability of each AU (fused
  by eq. (5) for Network1 + Network2);
- `au_decision` (N, 10) float32 0/1, eq. (5)'s decision;
- `view` (N, 9) float32, the view probabilities, for He et al. presets.

`export_preset_saved_model` writes it as a SavedModel (`serve` and
`serving_default`, input `crops`); `export_preset_tflite` as a `.tflite`
file (float32 weights, signature `serving_default`, input `crops`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from aufera.errors import AuferaError, WriteError
from aufera.files import atomic_directory, atomic_write_bytes, check_new_file, check_new_folder
from aufera.models.decision_fusion import DecisionFusion, check_fusion_weights
from aufera.models.detector import SigmoidPairs, check_models

ENDPOINT = "serve"
SIGNATURE = "serving_default"
PRESET_INPUT = "crops"
TFLITE_FILE = "model.tflite"


def _outputs_of(model, images):
    outputs = model(images, training=False)
    if not isinstance(outputs, dict) or "au" not in outputs:
        raise ValueError(f"Exported models must return a dict with an 'au' output. Received model: {model.name}")
    return outputs


def _as_pairs(au):
    """An AU output as 2-neuron pairs: (N, num_aus, 2) as it is; DRML's sigmoids (N, num_aus) as [p, 1 - p]."""
    return SigmoidPairs()(au) if len(au.shape) == 2 else au


def export_saved_model(models, export_dir: str | os.PathLike, weights: Sequence[float] | None = None) -> str:
    """Writes a SavedModel serving AU (and view) probabilities, fused if several models are given.

    Args:
        models: a Keras model with an "au" output of shape (N, num_aus, 2)
            (and optionally "view"), such as `Network1` or `Network2`, or of
            shape (N, num_aus) of sigmoid probabilities, such as `DRML`; or a
            list of such models sharing one input shape, fused with eq. (5).
        export_dir: str or path. Directory to write; must not exist yet or be empty.
        weights: list of floats. Fusion weights, one per model; only with
            several models. Defaults to equal weights.

    Returns:
        The export directory as a string.

    Examples:

    ```python
    export_saved_model([network1, network2], "export/fused", weights=[0.5, 0.5])
    served = tf.saved_model.load("export/fused")
    out = served.serve(images)  # au_present, view, fused_present, fused_decision
    ```

    References:
        He, Li, Bo, Yu 2019, Sec. 3.3, eq. (5).
    """
    models, input_shape = check_models(models)
    if weights is not None and len(models) == 1:
        raise ValueError(f"`weights` needs several models to fuse. Received: 1 model, weights={weights}")
    export_dir = os.fspath(export_dir)
    if os.path.isdir(export_dir) and os.listdir(export_dir):
        raise ValueError(f"The export directory is not empty. Received: export_dir={export_dir!r}")
    fusion = None
    if len(models) > 1:
        weights = list(check_fusion_weights(weights, len(models)))
        fusion = DecisionFusion(weights=weights, name="decision_fusion")

    def serve(images):
        first = _outputs_of(models[0], images)
        result = {"au_present": _as_pairs(first["au"])[..., 0]}
        if "view" in first:
            result["view"] = first["view"]
        if fusion is not None:
            pairs = [_as_pairs(first["au"])] + [_as_pairs(_outputs_of(m, images)["au"]) for m in models[1:]]
            fused = fusion(pairs)
            result["fused_present"] = fused["present"]
            result["fused_decision"] = fused["decision"]
        return result

    shape = (None, *input_shape)
    archive = _serving_archive(models, serve, tf.TensorSpec(shape=shape, dtype=tf.float32, name="images"))
    archive.write_out(export_dir, verbose=False)
    return export_dir


def _serving_archive(models, serve, spec: tf.TensorSpec) -> keras.export.ExportArchive:
    """An `ExportArchive` whose one endpoint, `serve` (also `serving_default`), is `serve(spec)`.

    `models` are tracked (the reloaded object lists their variables as
    `.variables`); an empty list tracks only the variables the endpoint uses,
    which `add_endpoint` does by itself. Keras 3 (up to 3.15 at least) stores
    every variable twice when a model is tracked as well (keras-team/keras
    issue 23553: once as the Keras variable, once as the `tf.Variable` the
    endpoint captures), so an export of untracked models is half the size.
    """
    archive = keras.export.ExportArchive()
    for model in models:
        archive.track(model)
    archive.add_endpoint(name=ENDPOINT, fn=serve, input_signature=[spec])
    return archive


# === The serving export of a preset: uint8 face crops in ===


def preset_serving_archive(preset) -> keras.export.ExportArchive:
    """The `ExportArchive` of a preset's serving model: endpoint `serve`, uint8 crops (None, H, W, C) -> outputs.

    Args:
        preset: `aufera.pretrained.Preset`.
    """
    model = preset.serving_model()

    def serve(crops):
        return model(crops, training=False)

    spec = tf.TensorSpec(shape=(None, *preset.crop_shape), dtype=tf.uint8, name=PRESET_INPUT)
    # Untracked: the endpoint's variables only, each stored once (`_serving_archive`).
    return _serving_archive([], serve, spec)


def export_preset_saved_model(preset, export_dir: str | os.PathLike) -> Path:
    """Writes a preset's serving model as a SavedModel: uint8 face crops in, normalisation inside.

    The endpoint `serve`, also the `serving_default` signature, takes `crops`,
    uint8 (None, H, W, C) of the preset's crop shape (`preset.crop_shape`),
    and returns `au_present`, `au_decision` and, for He et al. presets,
    `view` (the module docstring). The folder appears only once complete.

    Args:
        preset: `aufera.pretrained.Preset`.
        export_dir: str or path. Folder to write; must not exist or be empty.

    Returns:
        The folder as a Path.

    Raises:
        AuferaError: one line naming the folder: it exists and is not empty.
        WriteError: it cannot be written (no space left), naming it; no folder is left.

    Examples:

    ```python
    export_preset_saved_model(load_preset("demo"), "export/demo")
    served = tf.saved_model.load("export/demo")
    out = served.serve(uint8_crops)  # au_present (N, 10), au_decision (N, 10), view (N, 9)
    ```
    """
    export_dir = check_new_folder(export_dir)
    archive = preset_serving_archive(preset)
    try:
        return atomic_directory(export_dir, lambda tmp: archive.write_out(os.fspath(tmp), verbose=False))
    except WriteError:
        raise  # no space left, a read-only folder: one line naming the folder (exit status 1), no folder left
    except OSError as error:
        raise AuferaError(f"{export_dir}: cannot write the SavedModel ({error.strerror or error})") from None


def preset_tflite_bytes(preset) -> bytes:
    """The `.tflite` flatbuffer of a preset's serving model (float32 weights, no quantization).

    Converted by `tf.lite.TFLiteConverter` from the SavedModel of
    `preset_serving_archive`, written to a temporary folder: signature
    `serving_default`, input `crops` (uint8, batch dimension resizable),
    outputs `au_present`, `au_decision` (and `view`).
    """
    with tempfile.TemporaryDirectory(prefix="aufera_tflite_") as tmp:
        saved = os.path.join(tmp, "saved_model")
        preset_serving_archive(preset).write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[SIGNATURE])
        return converter.convert()


def export_preset_tflite(preset, path: str | os.PathLike) -> Path:
    """Writes a preset's serving model as a TensorFlow Lite file: uint8 face crops in, normalisation inside.

    Signature `serving_default`: input `crops`, uint8 (N, H, W, C) (N is 1
    until the interpreter resizes it; a signature runner resizes it to the
    batch it is given); outputs as `export_preset_saved_model`'s. Float32
    weights: on the cpu-small presets the outputs match the Keras model's
    within 1e-5 (`tests/test_export_preset.py`; measured on the others in
    docs/export.md). Written atomically.

    Args:
        preset: `aufera.pretrained.Preset`.
        path: str or path. The `.tflite` file to write; must not exist.

    Returns:
        The file as a Path.

    Raises:
        AuferaError: one line naming the file: it exists.
        WriteError: it cannot be written (no space left), naming it; no file is left.

    Examples:

    ```python
    export_preset_tflite(load_preset("demo"), "export/demo.tflite")
    runner = tf.lite.Interpreter("export/demo.tflite").get_signature_runner()
    out = runner(crops=uint8_crops)  # au_present, au_decision, view
    ```
    """
    path = check_new_file(path)
    data = preset_tflite_bytes(preset)
    try:
        return atomic_write_bytes(path, data)
    except WriteError:
        raise  # no space left, a read-only folder: one line naming the file (exit status 1), no file left
    except OSError as error:
        raise AuferaError(f"{path}: cannot write the TFLite file ({error.strerror or error})") from None
