"""Validation of a training stage: the scores that pick its best epoch."""

from __future__ import annotations

import numpy as np

from aufera.config import TrainConfig


def validation_scores(stage: str, outputs: dict, au: np.ndarray, view: np.ndarray, config: TrainConfig) -> dict:
    """Validation scores of a stage from full-split predictions.

    `val_mean_f1` is the mean over AUs of `aufera.metrics.f1_per_au` on the
    decisions of `aufera.models.decision_fusion` with one model (the larger
    neuron wins; for DRML's sigmoid outputs: p > 0.5); the losses are those
    of `aufera.losses` (eq. 3 and 4; DRML's sigmoid cross-entropy).

    Args:
        stage: "network1", "network2", "drml" or "chu_cnn" (sigmoid outputs, as "drml").
        outputs: dict of model predictions: "au" (N, 10, 2) ((N, 10) for drml, chu_cnn)
            and, for network1, "view" (N, 9).
        au: array (N, 10) of +1 / -1 / 0.
        view: array (N,) of view indices.
        config: TrainConfig (the loss weights).

    Returns:
        A dict with `val_mean_f1`, `val_loss` and, for network1,
        `val_au_loss`, `val_view_loss` and `val_view_accuracy`.
    """
    from aufera.losses import (
        chu_losses,
        drml_losses,
        mean_multilabel_pair_crossentropy,
        network1_loss,
        view_crossentropy,
    )
    from aufera.metrics import f1_per_au, view_accuracy
    from aufera.models import decision_fusion, sigmoid_pairs

    pred_au = np.asarray(outputs["au"], np.float32)
    au_true = np.asarray(au, np.float32)
    if stage in ("drml", "chu_cnn"):
        # The stage's own loss: DRML's sums over the AUs, Chu et al.'s eq. (1) averages over them.
        loss = (chu_losses() if stage == "chu_cnn" else drml_losses())["loss"]["au"]
        return {
            "val_mean_f1": float(np.mean(f1_per_au(au, decision_fusion([sigmoid_pairs(pred_au)])))),
            "val_loss": float(loss(au_true, pred_au)),
        }
    scores = {"val_mean_f1": float(np.mean(f1_per_au(au, decision_fusion([pred_au]))))}
    au_loss = float(mean_multilabel_pair_crossentropy(au_true, pred_au))
    if stage == "network1":
        pred_view = np.asarray(outputs["view"], np.float32)
        view_true = np.asarray(view, np.int32)
        y_true, y_pred = {"au": au_true, "view": view_true}, {"au": pred_au, "view": pred_view}
        scores.update(
            val_au_loss=au_loss,
            val_view_loss=float(np.mean(view_crossentropy(view_true, pred_view))),
            val_loss=float(network1_loss(y_true, y_pred, config.model.lambda_au, config.model.lambda_view)),
            val_view_accuracy=view_accuracy(view, pred_view),
        )
    else:
        scores["val_loss"] = au_loss
    return scores
