"""Scores of a trained pair of networks: decisions from their outputs, then F1 and accuracy per AU.

A network's AU decision is "present" where its present output (index 0) is
larger than its absent output (index 1), a tie counting as absent; the
fusion is eq. (5) over Network1 and Network2 (`aufera.models.decision_fusion`,
w1 = w2 = 0.5); views come from Network1 alone (arg-max of its view output).
F1 (eq. 6) and accuracy are computed per AU over the known labels only
(`aufera.metrics`), and their mean over the 10 AUs is the "Mean" row.

References:
    He, Li, Bo, Yu 2019, Sec. 3.3 (eq. 5), Sec. 4.3 (eq. 6), Tables 1-2, Fig. 7.
"""

from __future__ import annotations

import numpy as np

from aufera.au import AU_KEYS, NUM_AUS, NUM_VIEWS
from aufera.metrics import accuracy_per_au, f1_per_au, view_accuracy, view_confusion_matrix
from aufera.models.decision_fusion import check_fusion_weights, decision_fusion, fused_present

MODELS = ("network1", "network2", "fusion")
DEFAULT_FUSION_WEIGHTS = (0.5, 0.5)


def _check_outputs(au_true, view_true, outputs) -> tuple[np.ndarray, np.ndarray]:
    """The labels as arrays, after checking them and the outputs for shape; ValueError naming what is wrong."""
    au_true = np.asarray(au_true)
    view_true = np.asarray(view_true).reshape(-1)
    n = au_true.shape[0] if au_true.ndim == 2 else -1
    if au_true.shape != (n, NUM_AUS):
        raise ValueError(f"`au_true` must have shape (N, {NUM_AUS}). Received: au_true.shape={au_true.shape}")
    if view_true.shape != (n,):
        raise ValueError(f"`view_true` must have shape ({n},). Received: view_true.shape={view_true.shape}")
    try:
        shapes = {
            "network1_au": np.shape(outputs["network1"]["au"]),
            "network1_view": np.shape(outputs["network1"]["view"]),
            "network2_au": np.shape(outputs["network2"]["au"]),
        }
    except (KeyError, TypeError) as error:
        raise ValueError(
            "`outputs` must be {'network1': {'au': (N, 10, 2), 'view': (N, 9)}, 'network2': {'au': (N, 10, 2)}}. "
            f"Missing: {error}"
        ) from None
    expected = {"network1_au": (n, NUM_AUS, 2), "network1_view": (n, NUM_VIEWS), "network2_au": (n, NUM_AUS, 2)}
    for key, shape in expected.items():
        if shapes[key] != shape:
            raise ValueError(f"Output `{key}` must have shape {shape}. Received: {shapes[key]}")
    return au_true, view_true


def model_decisions(outputs: dict, fusion_weights=DEFAULT_FUSION_WEIGHTS) -> dict:
    """The 0/1 AU decisions of each model and of the fusion, the fused present-probability and the views.

    Args:
        outputs: dict. `{"network1": {"au": (N, 10, 2), "view": (N, 9)},
            "network2": {"au": (N, 10, 2)}}`, pair index 0 = present.
        fusion_weights: 2 floats. Weights w1, w2 of eq. (5). Defaults to (0.5, 0.5).

    Returns:
        A dict of numpy arrays: "network1", "network2", "fusion" int32 (N, 10)
        in {0, 1}; "fusion_present" float64 (N, 10), the weighted mean of the
        present outputs (`aufera.models.decision_fusion.fused_present`);
        "view" int64 (N,), Network1's predicted view index 0-8.
    """
    pair = [outputs["network1"]["au"], outputs["network2"]["au"]]
    weights = check_fusion_weights(fusion_weights, len(pair))
    return {
        # One model with any positive weight is the "larger neuron wins" rule.
        "network1": decision_fusion(pair[:1], (1.0,)),
        "network2": decision_fusion(pair[1:], (1.0,)),
        "fusion": decision_fusion(pair, weights),
        "fusion_present": fused_present(pair, weights),
        "view": np.argmax(np.asarray(outputs["network1"]["view"]), axis=1).astype(np.int64),
    }


def _per_au(values: np.ndarray) -> dict:
    """One value per AU as {"AU1": ..., "AU23": ..., "mean": ...}."""
    out = {key: float(v) for key, v in zip(AU_KEYS, values, strict=True)}
    out["mean"] = float(np.mean(values))
    return out


def evaluate_predictions(au_true, view_true, outputs: dict, fusion_weights=DEFAULT_FUSION_WEIGHTS) -> dict:
    """Metrics of Network1, Network2 and their fusion, in the `metrics.json` layout.

    Args:
        au_true: array (N, 10) of +1 (present), -1 (absent), 0 (unknown, left out).
        view_true: array (N,) of view indices 0-8.
        outputs: dict. `{"network1": {"au": (N, 10, 2), "view": (N, 9)},
            "network2": {"au": (N, 10, 2)}}` (model outputs, index 0 = present).
        fusion_weights: 2 floats. w1, w2 of eq. (5). Defaults to (0.5, 0.5).

    Returns:
        `{"network1": {"f1": {...}, "accuracy": {...}, "view_accuracy": float,
        "view_confusion": 9x9 list of int counts (rows = true view)},
        "network2": {"f1", "accuracy"}, "fusion": {"f1", "accuracy"},
        "reference": {"base_rate", "always_present_f1"}}`, where each `f1` /
        `accuracy` maps "AU1" ... "AU23" and "mean" to floats. `reference`
        gives each AU's share of present frames p among the known labels and
        the F1 of always answering "present", 2p / (1 + p): the level a
        detector has to beat to have learnt anything about that AU.

    Raises:
        ValueError: when a label array or an output has the wrong shape, or
            an output is missing.

    Examples:

    ```python
    metrics = evaluate_predictions(arrays.au, arrays.view, {"network1": n1_out, "network2": n2_out})
    metrics["fusion"]["f1"]["mean"]
    ```

    References:
        He, Li, Bo, Yu 2019, eq. (5) (fusion), eq. (6) (F1), Tables 1-2, Fig. 7.
    """
    au_true, view_true = _check_outputs(au_true, view_true, outputs)
    decisions = model_decisions(outputs, fusion_weights)
    metrics = {}
    for name in MODELS:
        metrics[name] = {
            "f1": _per_au(f1_per_au(au_true, decisions[name])),
            "accuracy": _per_au(accuracy_per_au(au_true, decisions[name])),
        }
    always = np.ones(au_true.shape, np.int64)
    present, known = (au_true > 0).sum(0), (au_true != 0).sum(0)
    metrics["reference"] = {
        "base_rate": _per_au(np.divide(present, known, out=np.zeros(len(known)), where=known > 0)),
        "always_present_f1": _per_au(f1_per_au(au_true, always)),
    }
    metrics["network1"]["view_accuracy"] = view_accuracy(view_true, decisions["view"])
    metrics["network1"]["view_confusion"] = view_confusion_matrix(view_true, decisions["view"]).tolist()
    return metrics
