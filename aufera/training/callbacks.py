"""Keras callbacks of a training stage: the epoch end (validate, checkpoint, record), progress, TensorBoard."""

from __future__ import annotations

import importlib.util
import math
import time
import warnings
from pathlib import Path

import keras


class EpochEnd(keras.callbacks.Callback):
    """Validates, records the history row and writes the resume checkpoint at every epoch end.

    It runs before the other callbacks, so TensorBoard sees the validation
    scores it adds to `logs`, and a run killed in a later callback still has
    this epoch committed.

    Args:
        stage_run: the `aufera.training.engine.StageRun` whose `end_epoch`
            does the work.
    """

    def __init__(self, stage_run):
        super().__init__()
        self.stage_run = stage_run

    def on_epoch_begin(self, epoch, logs=None):
        self.stage_run.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.stage_run.end_epoch(self.model, epoch, logs if logs is not None else {})


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, and remembers which (Keras's
    `TerminateOnNaN` stops as well, but forgets the step).

    Attributes:
        step: (epoch, batch) of that batch, both 1-based, or None.
        steps_per_epoch: int or None. Set by the caller to name the stage's global step.
    """

    def __init__(self):
        super().__init__()
        self.step = None
        self.epoch = 0
        self.steps_per_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.step is None and loss is not None and not math.isfinite(float(loss)):
            self.step = (self.epoch + 1, batch + 1)
            self.model.stop_training = True

    def describe(self) -> str:
        """'the loss became NaN or infinite at step B of epoch E (step G of the stage)'."""
        epoch, batch = self.step
        text = f"the loss became NaN or infinite at step {batch} of epoch {epoch}"
        if self.steps_per_epoch:
            text += f" (step {(epoch - 1) * self.steps_per_epoch + batch} of the stage)"
        return text


class Progress(keras.callbacks.Callback):
    """A progress bar per epoch that shows the stage and the true epoch count.

    Args:
        stage: str. Printed before each epoch.
        epochs: int. The stage's epoch count.
        steps: int. Batches per epoch.
    """

    TRAIN_KEYS = ("loss", "au_loss", "view_loss")
    EPOCH_KEYS = ("loss", "val_loss", "val_mean_f1", "val_view_accuracy")

    def __init__(self, stage: str, epochs: int, steps: int):
        super().__init__()
        self.stage, self.epochs, self.steps = stage, epochs, steps
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        print(f"{self.stage}: epoch {epoch + 1}/{self.epochs}", flush=True)
        self.bar = keras.utils.Progbar(self.steps, stateful_metrics=None)

    def on_train_batch_end(self, batch, logs=None):
        values = [(k, float(v)) for k, v in (logs or {}).items() if k in self.TRAIN_KEYS]
        self.bar.update(batch + 1, values=values, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        values = [(k, float(logs[k])) for k in self.EPOCH_KEYS if logs and k in logs]
        self.bar.update(self.bar.target, values=values, finalize=True)


def tensorboard_available() -> bool:
    """Whether the `tensorboard` package (needed by `tf.summary`) is installed."""
    return importlib.util.find_spec("tensorboard") is not None


def tensorboard_callbacks(log_dir: Path) -> list:
    """The TensorBoard callback when TensorBoard is installed; otherwise none, with a warning."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if not tensorboard_available():
        warnings.warn(
            f"TensorBoard is not installed, so {log_dir} gets no event files (pip install tensorboard)", stacklevel=2
        )
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False)]
