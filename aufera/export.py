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
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import tensorflow as tf

from aufera.models.decision_fusion import DecisionFusion, check_fusion_weights

ENDPOINT = "serve"


def _outputs_of(model, images):
    outputs = model(images, training=False)
    if not isinstance(outputs, dict) or "au" not in outputs:
        raise ValueError(f"Exported models must return a dict with an 'au' output. Received model: {model.name}")
    return outputs


def _as_pairs(au):
    """An AU output as 2-neuron pairs: (N, num_aus, 2) as it is; DRML's sigmoids (N, num_aus) as [p, 1 - p]."""
    if len(au.shape) == 2:
        return keras.ops.stack([au, 1.0 - au], axis=-1)
    return au


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
    models = list(models) if isinstance(models, list | tuple) else [models]
    if not models or not all(isinstance(m, keras.Model) for m in models):
        raise ValueError(f"`models` must be a Keras model or a non-empty list of them. Received: {models!r}")
    if weights is not None and len(models) == 1:
        raise ValueError(f"`weights` needs several models to fuse. Received: 1 model, weights={weights}")
    shapes = {tuple(m.inputs[0].shape[1:]) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"All models must take the same input shape. Received: {sorted(shapes)}")
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

    archive = keras.export.ExportArchive()
    for model in models:
        archive.track(model)
    shape = (None, *next(iter(shapes)))
    archive.add_endpoint(
        name=ENDPOINT, fn=serve, input_signature=[tf.TensorSpec(shape=shape, dtype=tf.float32, name="images")]
    )
    archive.write_out(export_dir, verbose=False)
    return export_dir
