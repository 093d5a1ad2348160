"""Scores of trained models: decisions from their outputs, then F1, accuracy and AUC per AU.

He et al. 2019 runs: a network's AU decision is "present" where its present
output (index 0) is larger than its absent output (index 1), a tie counting
as absent; the fusion is eq. (5) over Network1 and Network2
(`aufera.models.decision_fusion`, w1 = w2 = 0.5 by default); views come from
Network1 alone (arg-max of its view output).

DRML runs (Zhao et al. 2016, and its ConvNet baseline): one sigmoid
present-probability p per AU; the decision is p > 0.5, i.e. eq. (5) with
the one model's pair [p, 1 - p] (`aufera.models.sigmoid_pairs`).

N-model fusion: the sigmoid models of other runs (`outputs["with"]`) join
Network1 and Network2 in eq. (5) as pairs [p, 1 - p], one weight per model
in the order network1, network2, then each extra model (`fusion_weights_for`).
It is reported as `fusion_all`, while `fusion` stays Network1 + Network2.

F1 (eq. 6) and accuracy are computed per AU over the known labels only
(`aufera.metrics`), and their mean over the 10 AUs is the "Mean" row. The
AUC per AU (`aufera.metrics.auc_per_au`) ranks each model's
present-probability: Network1's and Network2's present outputs (index 0),
the fusion's fused present-probability (`fused_present`), DRML's sigmoid.

References:
    He, Li, Bo, Yu 2019, Sec. 3.3 (eq. 5), Sec. 4.3 (eq. 6), Tables 1-2, Fig. 7.
    Zhao, Chu, Zhang 2016, Sec. 4 (F1 and AUC per AU).
"""

from __future__ import annotations

import numpy as np

from aufera.au import AU_KEYS, NUM_AUS, NUM_VIEWS
from aufera.metrics import (
    accuracy_per_au,
    auc_per_au,
    auc_undefined_reasons,
    f1_per_au,
    mean_defined,
    view_accuracy,
    view_confusion_matrix,
)
from aufera.models.decision_fusion import check_fusion_weights, decision_fusion, fused_present, sigmoid_pairs

MODELS = ("network1", "network2", "fusion")
DEFAULT_FUSION_WEIGHTS = (0.5, 0.5)
# The label of a DRML-family model by its `model.region_layer`.
DRML_MODEL_NAMES = {True: "DRML", False: "ConvNet"}


# === Checks ===


def _check_labels(au_true) -> np.ndarray:
    au_true = np.asarray(au_true)
    if au_true.ndim != 2 or au_true.shape[1] != NUM_AUS:
        raise ValueError(f"`au_true` must have shape (N, {NUM_AUS}). Received: au_true.shape={au_true.shape}")
    return au_true


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
        shapes.update({f"with[{i}]_au": np.shape(m["au"]) for i, m in enumerate(outputs.get("with") or ())})
    except (KeyError, TypeError) as error:
        raise ValueError(
            "`outputs` must be {'network1': {'au': (N, 10, 2), 'view': (N, 9)}, 'network2': {'au': (N, 10, 2)}} "
            f"and optionally 'with': [{{'model': str, 'au': (N, 10)}}, ...]. Missing: {error}"
        ) from None
    expected = {"network1_au": (n, NUM_AUS, 2), "network1_view": (n, NUM_VIEWS), "network2_au": (n, NUM_AUS, 2)}
    expected.update({key: (n, NUM_AUS) for key in shapes if key.startswith("with[")})
    for key, shape in expected.items():
        if shapes[key] != shape:
            raise ValueError(f"Output `{key}` must have shape {shape}. Received: {shapes[key]}")
    return au_true, view_true


def fusion_weights_for(weights, num_extra: int = 0) -> tuple[tuple[float, float], tuple[float, ...] | None]:
    """The weights of `fusion` (Network1 + Network2) and of `fusion_all` (with `num_extra` more models).

    One rule for `aufera evaluate --fusion-weights` and the library:

    - without extra models, `weights` are w1, w2 of `fusion` (None: 0.5, 0.5);
    - with extra models, `weights` hold one weight per model in the order
      network1, network2, then each extra model, for `fusion_all` (None:
      equal weights); `fusion` stays Network1 + Network2 with the first two
      of them, or 0.5, 0.5 when both are 0 (a `fusion_all` of the extra
      models only).

    Args:
        weights: sequence of floats or None.
        num_extra: int. Number of extra models. Defaults to 0.

    Returns:
        `((w1, w2), all_weights)`, `all_weights` None without extra models.

    Raises:
        ValueError: on the wrong number of weights, or a weight that is
            negative or not finite, or weights that are all 0.
    """
    if num_extra == 0:
        return check_fusion_weights(DEFAULT_FUSION_WEIGHTS if weights is None else weights, 2), None
    all_weights = check_fusion_weights(weights, 2 + num_extra)
    pair = all_weights[:2] if sum(all_weights[:2]) > 0 else DEFAULT_FUSION_WEIGHTS
    return tuple(pair), all_weights


# === Decisions ===


def drml_decisions(present) -> np.ndarray:
    """The 0/1 AU decisions of a sigmoid model (DRML, ConvNet): p > 0.5, as eq. (5) with one model.

    Args:
        present: array (N, 10) of present-probabilities.

    Returns:
        An int32 array (N, 10) in {0, 1}.
    """
    return decision_fusion([sigmoid_pairs(present)], (1.0,))


def model_decisions(outputs: dict, fusion_weights=DEFAULT_FUSION_WEIGHTS) -> dict:
    """The 0/1 AU decisions of each model and of the fusions, the fused present-probabilities and the views.

    Args:
        outputs: dict. `{"network1": {"au": (N, 10, 2), "view": (N, 9)},
            "network2": {"au": (N, 10, 2)}}`, pair index 0 = present; and
            optionally `"with": [{"model": "DRML", "au": (N, 10)}, ...]`, the
            sigmoid present-probabilities of extra models.
        fusion_weights: floats or None. See `fusion_weights_for`: 2 weights
            (w1, w2 of eq. 5) without extra models, else one per model.
            Defaults to (0.5, 0.5).

    Returns:
        A dict of numpy arrays: "network1", "network2", "fusion" int32 (N, 10)
        in {0, 1}; "fusion_present" float64 (N, 10), the weighted mean of the
        present outputs (`aufera.models.decision_fusion.fused_present`);
        "view" int64 (N,), Network1's predicted view index 0-8. With extra
        models also "with" (a list of their int32 (N, 10) decisions, p > 0.5),
        "fusion_all" and "fusion_all_present" (eq. 5 over every model).
    """
    extra = list(outputs.get("with") or ())
    pair = [outputs["network1"]["au"], outputs["network2"]["au"]]
    weights, all_weights = fusion_weights_for(fusion_weights, len(extra))
    decisions = {
        # One model with any positive weight is the "larger neuron wins" rule.
        "network1": decision_fusion(pair[:1], (1.0,)),
        "network2": decision_fusion(pair[1:], (1.0,)),
        "fusion": decision_fusion(pair, weights),
        "fusion_present": fused_present(pair, weights),
        "view": np.argmax(np.asarray(outputs["network1"]["view"]), axis=1).astype(np.int64),
    }
    if extra:
        members = pair + [sigmoid_pairs(m["au"]) for m in extra]
        decisions["with"] = [drml_decisions(m["au"]) for m in extra]
        decisions["fusion_all"] = decision_fusion(members, all_weights)
        decisions["fusion_all_present"] = fused_present(members, all_weights)
    return decisions


# === Metrics ===


def _per_au(values: np.ndarray) -> dict:
    """One value per AU as {"AU1": ..., "AU23": ..., "mean": ...}."""
    out = {key: float(v) for key, v in zip(AU_KEYS, values, strict=True)}
    out["mean"] = float(np.mean(values))
    return out


def auc_entry(au_true, present) -> dict:
    """The `auc` entry of a model: AUC per AU (null where undefined), the mean of the defined ones, the reasons.

    Args:
        au_true: array (N, 10) of +1 / -1 / 0.
        present: array (N, 10) of present-probabilities (scores).

    Returns:
        `{"AU1": float or None, ..., "AU23": ..., "mean": float or None,
        "undefined": {"AU23": "no positives", ...}}`: "mean" averages the
        defined AUs only (None when none is), "undefined" names each AU
        whose AUC is undefined and why (`aufera.metrics.auc_undefined_reasons`).
    """
    values = auc_per_au(au_true, present)
    out = {key: (float(v) if np.isfinite(v) else None) for key, v in zip(AU_KEYS, values, strict=True)}
    out["mean"] = mean_defined(values)
    reasons = auc_undefined_reasons(au_true)
    out["undefined"] = {key: reason for key, reason in zip(AU_KEYS, reasons, strict=True) if reason is not None}
    return out


def au_metrics(au_true, decisions, present) -> dict:
    """`{"f1", "accuracy", "auc"}` of one model from its 0/1 decisions and its present-probabilities."""
    return {
        "f1": _per_au(f1_per_au(au_true, decisions)),
        "accuracy": _per_au(accuracy_per_au(au_true, decisions)),
        "auc": auc_entry(au_true, present),
    }


def reference_metrics(au_true) -> dict:
    """What the labels alone say: base rates, the always-present F1, and the AUs without positives.

    Returns:
        `{"base_rate", "always_present_f1"}` (per AU and "mean"), plus
        `positives` and `negatives` (known frames per AU, ints) and
        `no_positives` (the AU keys without a positive known frame: their
        F1 is 0 by convention and their AUC undefined).
    """
    au_true = _check_labels(au_true)
    always = np.ones(au_true.shape, np.int64)
    present, absent = (au_true > 0).sum(0), (au_true < 0).sum(0)
    known = present + absent
    return {
        "base_rate": _per_au(np.divide(present, known, out=np.zeros(len(known)), where=known > 0)),
        "always_present_f1": _per_au(f1_per_au(au_true, always)),
        "positives": {key: int(v) for key, v in zip(AU_KEYS, present, strict=True)},
        "negatives": {key: int(v) for key, v in zip(AU_KEYS, absent, strict=True)},
        "no_positives": [key for key, v in zip(AU_KEYS, present, strict=True) if v == 0],
    }


def evaluate_predictions(
    au_true, view_true, outputs: dict, fusion_weights=DEFAULT_FUSION_WEIGHTS, run: str | None = None
) -> dict:
    """Metrics of Network1, Network2 and their fusion (and of extra models and `fusion_all`), in the `metrics.json` layout.

    Args:
        au_true: array (N, 10) of +1 (present), -1 (absent), 0 (unknown, left out).
        view_true: array (N,) of view indices 0-8.
        outputs: dict. `{"network1": {"au": (N, 10, 2), "view": (N, 9)},
            "network2": {"au": (N, 10, 2)}}` (model outputs, index 0 =
            present), and optionally `"with": [{"model": "DRML", "run":
            "runs/drml", "au": (N, 10)}, ...]`: sigmoid models joining the
            fusion (rows aligned with `au_true`).
        fusion_weights: floats or None. See `fusion_weights_for`. Defaults
            to (0.5, 0.5).
        run: str, Path or None. The run directory of Network1 and Network2,
            recorded in `fusion_all`'s members. Defaults to None.

    Returns:
        `{"network1": {"f1", "accuracy", "auc", "view_accuracy",
        "view_confusion": 9x9 list of int counts (rows = true view)},
        "network2": {"f1", "accuracy", "auc"}, "fusion": {"f1", "accuracy",
        "auc", "weights": [w1, w2]}, "reference": {...}}`, where each `f1` /
        `accuracy` maps "AU1" ... "AU23" and "mean" to floats and each `auc`
        is an `auc_entry` (null where undefined, "mean" over the defined AUs,
        "undefined" with the reasons). `reference` (`reference_metrics`)
        gives each AU's share of present frames p among the known labels,
        the F1 of always answering "present", 2p / (1 + p) (the level a
        detector has to beat to have learnt anything about that AU), the
        counts of positive and negative frames and the AUs without
        positives. With extra models also `"with"`: a list, per extra model,
        of `{"model", "run", "f1", "accuracy", "auc"}`, and `"fusion_all"`:
        `{"members": [{"model", "run"}, ...], "weights": [...], "f1",
        "accuracy", "auc"}`.

    Raises:
        ValueError: when a label array or an output has the wrong shape, an
            output is missing, or the weights are unusable.

    Examples:

    ```python
    metrics = evaluate_predictions(arrays.au, arrays.view, {"network1": n1_out, "network2": n2_out})
    metrics["fusion"]["f1"]["mean"], metrics["fusion"]["auc"]["mean"]
    ```

    References:
        He, Li, Bo, Yu 2019, eq. (5) (fusion), eq. (6) (F1), Tables 1-2, Fig. 7.
    """
    au_true, view_true = _check_outputs(au_true, view_true, outputs)
    extra = list(outputs.get("with") or ())
    weights, all_weights = fusion_weights_for(fusion_weights, len(extra))
    decisions = model_decisions(outputs, fusion_weights)
    present = {
        "network1": np.asarray(outputs["network1"]["au"])[..., 0],
        "network2": np.asarray(outputs["network2"]["au"])[..., 0],
        "fusion": decisions["fusion_present"],
    }
    metrics = {name: au_metrics(au_true, decisions[name], present[name]) for name in MODELS}
    metrics["fusion"]["weights"] = list(weights)
    metrics["reference"] = reference_metrics(au_true)
    metrics["network1"]["view_accuracy"] = view_accuracy(view_true, decisions["view"])
    metrics["network1"]["view_confusion"] = view_confusion_matrix(view_true, decisions["view"]).tolist()
    if extra:
        metrics["with"] = [
            {
                "model": str(m.get("model", "DRML")),
                "run": None if m.get("run") is None else str(m["run"]),
                **au_metrics(au_true, d, m["au"]),
            }
            for m, d in zip(extra, decisions["with"], strict=True)
        ]
        run = None if run is None else str(run)
        members = [{"model": "Network1", "run": run}, {"model": "Network2", "run": run}]
        members += [{"model": w["model"], "run": w["run"]} for w in metrics["with"]]
        metrics["fusion_all"] = {
            "members": members,
            "weights": list(all_weights),
            **au_metrics(au_true, decisions["fusion_all"], decisions["fusion_all_present"]),
        }
    return metrics


def evaluate_drml_predictions(au_true, present, model: str = "DRML") -> dict:
    """Metrics of a DRML-family run (DRML or ConvNet) from its sigmoid outputs, in the `metrics.json` layout.

    Args:
        au_true: array (N, 10) of +1 (present), -1 (absent), 0 (unknown, left out).
        present: array (N, 10) of present-probabilities (the model's `"au"` output).
        model: str. "DRML" or "ConvNet" (`DRML_MODEL_NAMES`). Defaults to "DRML".

    Returns:
        `{"drml": {"f1", "accuracy", "auc"}, "model": model, "reference":
        {...}}`, entries as in `evaluate_predictions`; decisions p > 0.5
        (`drml_decisions`).

    Raises:
        ValueError: when the arrays have the wrong shape.

    References:
        Zhao, Chu, Zhang 2016, Table 2 (F1 and AUC per AU).
    """
    au_true = _check_labels(au_true)
    present = np.asarray(present, dtype=np.float64)
    if present.shape != au_true.shape:
        raise ValueError(f"`present` must have shape {au_true.shape}. Received: present.shape={present.shape}")
    return {
        "drml": au_metrics(au_true, drml_decisions(present), present),
        "model": str(model),
        "reference": reference_metrics(au_true),
    }
