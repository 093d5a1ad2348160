"""Sequential training of He et al. 2019: Network1, then Network2 on Network1's frozen backbone.

`train(config, data_dir, run_dir)` loads the training and validation splits
into memory, plans the batches of every epoch with the configured sampler
(`aufera.sampling`, seeded by seed + epoch), trains Network1 with Adam and
eq. (3), keeps the epoch with the best validation mean F1, saves it, builds
Network2 on its (frozen) backbone and trains that the same way.

Run directory (contract, see docs/training.md):

    config.yaml              the resolved TrainConfig, with the dataset path
    network1.keras           Network1 at its best validation epoch
    network2.keras           Network2 at its best validation epoch
    history_network1.csv     one row per epoch: losses, validation mean F1, view accuracy, seconds
    history_network2.csv     one row per epoch: losses, validation mean F1, seconds
    logs/network{1,2}/       TensorBoard event files
    checkpoints/network{1,2}/  resume state (last epoch: model + optimizer; best weights; state.json)

Resume: every epoch ends with a checkpoint whose commit point is an atomic
rename of `state.json`; rerunning `train` with the same arguments continues
after the last committed epoch. A stage whose `.keras` file exists is done
(the file is renamed into place only when complete) and is not retrained.

References:
    He, Li, Bo, Yu 2019, Sec. 3.2-3.3 and 4.3 (Adam 1e-3, 0.9, 0.999, 1e-8;
    lambda1 = lambda2 = 0.5; Network1 first, then Network2 on the frozen
    residual network).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from aufera.config import TrainConfig, load_config, resolve_config, save_config
from aufera.errors import AuferaError
from aufera.files import atomic_write, atomic_write_text

STAGES = ("network1", "network2")
STATE_FILE = "state.json"
HISTORY_COLUMNS = {
    "network1": [
        "epoch",
        "loss",
        "au_loss",
        "view_loss",
        "val_loss",
        "val_au_loss",
        "val_view_loss",
        "val_mean_f1",
        "val_view_accuracy",
        "seconds",
    ],
    "network2": ["epoch", "loss", "val_loss", "val_mean_f1", "seconds"],
}
# Fields that may change between a killed run and its resumption.
RESUMABLE_CHANGES = ("epochs_network1", "epochs_network2", "validation_batch_size")


# === Small file helpers ===


def _atomic_save_model(model, path: Path) -> None:
    """Saves a `.keras` file under a temporary name, then renames it: a present file is complete."""
    atomic_write(path, model.save)


def _write_history(path: Path, stage: str, rows: list[dict]) -> None:
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=HISTORY_COLUMNS[stage], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in HISTORY_COLUMNS[stage]})
    atomic_write_text(path, stream.getvalue())


def read_history(path) -> list[dict]:
    """Reads a `history_network*.csv` file: a list of rows, numbers as float (epoch as int).

    Args:
        path: str or Path.

    Returns:
        A list of dicts, one per epoch.
    """
    rows = []
    with open(path, newline="") as stream:
        for row in csv.DictReader(stream):
            rows.append({k: (int(v) if k == "epoch" else float(v) if v != "" else None) for k, v in row.items()})
    return rows


# === Batch plans and validation ===


def plan_epoch(config: TrainConfig, labels: np.ndarray, epoch: int) -> list[np.ndarray]:
    """The batch plan of one epoch: the configured sampler seeded by seed + epoch.

    Every sampler gives ceil(N / batch_size) batches (MOMU is asked for that
    many), cut to `max_steps_per_epoch` when set.

    Args:
        config: TrainConfig.
        labels: int array (N, 10) of +1 / -1 / 0, the training labels.
        epoch: int. 0-based epoch index.

    Returns:
        A list of int64 row-index arrays.
    """
    from aufera.sampling import momu_batches, random_batches, stratified_batches

    seed = int(config.seed) + int(epoch)
    batch_size = int(config.batch_size)
    if config.sampler == "random":
        plan = random_batches(labels, batch_size, seed=seed)
    elif config.sampler == "stratified":
        plan = stratified_batches(labels, batch_size, seed=seed)
    else:
        plan = momu_batches(labels, batch_size, math.ceil(len(labels) / batch_size), seed=seed)
    return plan[: steps_per_epoch(config, len(labels))]


def steps_per_epoch(config: TrainConfig, num_rows: int) -> int:
    """Batches in one epoch of `plan_epoch`: ceil(N / batch_size), at most `max_steps_per_epoch`."""
    steps = math.ceil(int(num_rows) / int(config.batch_size))
    if config.max_steps_per_epoch is not None:
        steps = min(steps, int(config.max_steps_per_epoch))
    return steps


def learning_rate(config: TrainConfig, epochs: int, num_rows: int):
    """Adam's learning rate: `config.learning_rate`, constant or cosine-decayed to 0 over the stage's steps."""
    if config.lr_schedule == "constant":
        return float(config.learning_rate)
    keras = _keras()
    total = max(1, int(epochs) * steps_per_epoch(config, num_rows))
    return keras.optimizers.schedules.CosineDecay(float(config.learning_rate), decay_steps=total)


def validation_rows(num_rows: int, max_examples: int | None) -> np.ndarray:
    """All rows, or `max_examples` evenly spaced rows (so every subject and view stays represented)."""
    if max_examples is None or max_examples >= num_rows:
        return np.arange(num_rows, dtype=np.int64)
    return np.unique(np.linspace(0, num_rows - 1, int(max_examples)).round().astype(np.int64))


def validation_scores(stage: str, outputs: dict, au: np.ndarray, view: np.ndarray, config: TrainConfig) -> dict:
    """Validation scores of a stage from full-split predictions.

    `val_mean_f1` is the mean over AUs of `aufera.metrics.f1_per_au` on the
    decisions of `aufera.models.decision_fusion` with one model (the larger
    neuron wins); the losses are those of `aufera.losses`.

    Args:
        stage: "network1" or "network2".
        outputs: dict of model predictions: "au" (N, 10, 2) and, for network1, "view" (N, 9).
        au: array (N, 10) of +1 / -1 / 0.
        view: array (N,) of view indices.
        config: TrainConfig (the loss weights).

    Returns:
        A dict with `val_mean_f1`, `val_loss` and, for network1,
        `val_au_loss`, `val_view_loss` and `val_view_accuracy`.
    """
    from aufera.losses import mean_multilabel_pair_crossentropy, view_crossentropy
    from aufera.metrics import f1_per_au, view_accuracy
    from aufera.models import decision_fusion

    pred_au = np.asarray(outputs["au"], np.float32)
    au_true = np.asarray(au, np.float32)
    scores = {"val_mean_f1": float(np.mean(f1_per_au(au, decision_fusion([pred_au]))))}
    au_loss = float(mean_multilabel_pair_crossentropy(au_true, pred_au))
    if stage == "network1":
        pred_view = np.asarray(outputs["view"], np.float32)
        view_loss = float(np.mean(view_crossentropy(np.asarray(view, np.int32), pred_view)))
        scores.update(
            val_au_loss=au_loss,
            val_view_loss=view_loss,
            val_loss=config.lambda_au * au_loss + config.lambda_view * view_loss,
            val_view_accuracy=view_accuracy(view, pred_view),
        )
    else:
        scores["val_loss"] = au_loss
    return scores


# === Callbacks ===


def _keras():
    import keras

    return keras


class _EpochEnd:
    """Factory of the callback that validates, checkpoints and records each epoch (needs Keras at call time)."""

    @staticmethod
    def make(stage_run):
        keras = _keras()

        class EpochEnd(keras.callbacks.Callback):
            """Validates, records the history row and writes the resume checkpoint at every epoch end.

            It runs before the other callbacks, so TensorBoard sees the
            validation scores it adds to `logs`, and a run killed in a later
            callback still has this epoch committed.
            """

            def on_epoch_begin(self, epoch, logs=None):
                stage_run.epoch_started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                logs = logs if logs is not None else {}
                stage_run.end_epoch(self.model, epoch, logs)

        return EpochEnd()


def _progress_callback(stage: str, epochs: int, steps: int):
    keras = _keras()

    class Progress(keras.callbacks.Callback):
        """A progress bar per epoch that shows the stage and the true epoch count."""

        def on_epoch_begin(self, epoch, logs=None):
            print(f"{stage}: epoch {epoch + 1}/{epochs}", flush=True)
            self.bar = keras.utils.Progbar(steps, stateful_metrics=None)

        def on_train_batch_end(self, batch, logs=None):
            values = [(k, float(v)) for k, v in (logs or {}).items() if k in ("loss", "au_loss", "view_loss")]
            self.bar.update(batch + 1, values=values, finalize=False)

        def on_epoch_end(self, epoch, logs=None):
            shown = ("loss", "val_loss", "val_mean_f1", "val_view_accuracy")
            values = [(k, float(logs[k])) for k in shown if logs and k in logs]
            self.bar.update(self.bar.target, values=values, finalize=True)

    return Progress()


def tensorboard_available() -> bool:
    """Whether the `tensorboard` package (needed by `tf.summary`) is installed."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _tensorboard_callbacks(log_dir: Path) -> list:
    """The TensorBoard callback when TensorBoard is installed; otherwise none, with a warning."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if not tensorboard_available():
        warnings.warn(
            f"TensorBoard is not installed, so {log_dir} gets no event files (pip install tensorboard)", stacklevel=2
        )
        return []
    return [_keras().callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False)]


# === One stage ===


class _StageRun:
    """Trains one stage (network1 or network2) with per-epoch plans, validation, checkpoints and resume."""

    def __init__(self, stage, config, run_dir, train_arrays, val_arrays, val_rows, strategy, progress, callbacks):
        self.stage = stage
        self.config = config
        self.run_dir = run_dir
        self.train_arrays = train_arrays
        self.val_arrays = val_arrays
        self.val_rows = val_rows
        self.strategy = strategy
        self.progress = progress
        self.callbacks = list(callbacks or ())
        self.epochs = int(getattr(config, f"epochs_{stage}"))
        self.ckpt_dir = run_dir / "checkpoints" / stage
        self.state = {"stage": stage, "epochs_done": 0, "last": None, "best": None, "best_epoch": None}
        self.state.update(best_score=None, history=[])
        self.epoch_started = time.perf_counter()
        self.nan_epoch = None
        self.epochs_run = 0

    # --- checkpoint state ---

    def load_state(self) -> bool:
        path = self.ckpt_dir / STATE_FILE
        if not path.is_file():
            return False
        try:
            state = json.loads(path.read_text())
        except ValueError as error:
            raise AuferaError(f"{path}: unreadable resume state ({error}); remove {self.ckpt_dir} to restart") from None
        if state.get("last") and not (self.ckpt_dir / state["last"]).is_file():
            raise AuferaError(f"{path}: names {state['last']}, which is missing; remove {self.ckpt_dir} to restart")
        self.state = state
        return state["epochs_done"] > 0

    def commit(self) -> None:
        atomic_write_text(self.ckpt_dir / STATE_FILE, json.dumps(self.state, indent=1))
        keep = {self.state["last"], self.state["best"], STATE_FILE}
        for path in self.ckpt_dir.iterdir():
            if path.name not in keep and not path.name.startswith("."):
                path.unlink(missing_ok=True)
        _write_history(self.run_dir / f"history_{self.stage}.csv", self.stage, self.state["history"])

    # --- model ---

    def build(self, backbone_source: Path | None):
        """Builds and compiles the stage's model under the strategy scope (or reloads the last checkpoint)."""
        keras = _keras()
        from aufera.losses import network1_losses, network2_losses
        from aufera.models import Network1, Network2

        with self.strategy.scope():
            if self.state["last"]:
                return keras.saving.load_model(self.ckpt_dir / self.state["last"], compile=True)
            if self.stage == "network1":
                model = Network1.from_preset(self.config.model)
                losses = network1_losses(self.config.lambda_au, self.config.lambda_view)
            else:
                network1 = keras.saving.load_model(backbone_source, compile=False)
                model = Network2.from_preset(self.config.model, backbone=network1.backbone)
                losses = network2_losses()
            optimizer = keras.optimizers.Adam(
                learning_rate=learning_rate(self.config, self.epochs, len(self.train_arrays.au)),
                beta_1=self.config.beta_1,
                beta_2=self.config.beta_2,
                epsilon=self.config.epsilon,
            )
            model.compile(optimizer=optimizer, **losses)
        return model

    # --- the epoch end ---

    def end_epoch(self, model, epoch: int, logs: dict) -> None:
        train_terms = {k: float(v) for k, v in logs.items() if not k.startswith("val_")}
        finite = all(math.isfinite(v) for v in train_terms.values()) and all(
            bool(np.all(np.isfinite(w))) for w in model.get_weights()
        )
        if not finite:
            self.nan_epoch = epoch
            model.stop_training = True
            return
        outputs = self.predict(model)
        scores = validation_scores(
            self.stage,
            outputs,
            self.val_arrays.au[self.val_rows],
            self.val_arrays.view[self.val_rows],
            self.config,
        )
        logs.update(scores)
        row = {"epoch": epoch + 1, **train_terms, **scores, "seconds": time.perf_counter() - self.epoch_started}
        last = f"epoch_{epoch + 1:04d}.keras"
        model.save(self.ckpt_dir / last)
        best = self.state["best_score"]
        if best is None or scores["val_mean_f1"] > best:
            weights = f"best_epoch_{epoch + 1:04d}.weights.h5"
            model.save_weights(self.ckpt_dir / weights)
            self.state.update(best=weights, best_epoch=epoch + 1, best_score=scores["val_mean_f1"])
        self.state["history"].append(row)
        self.state.update(epochs_done=epoch + 1, last=last)
        self.commit()
        self.epochs_run += 1

    def predict(self, model) -> dict:
        from aufera.data.pipeline import dataset_from_arrays

        data = dataset_from_arrays(
            self.val_arrays,
            None,
            self.config.validation_batch_size,
            training=False,
            targets=self.stage,
            indices=self.val_rows,
        )
        outputs = model.predict(data, verbose=0)
        return {k: np.asarray(v, np.float32) for k, v in outputs.items()}

    # --- the loop ---

    def run(self, backbone_source: Path | None = None) -> dict:
        keras = _keras()
        from aufera.data.pipeline import Augmentation, dataset_from_arrays

        final = self.run_dir / f"{self.stage}.keras"
        if final.is_file():
            self.load_state()
            return self.summary(skipped=True)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.load_state()
        if resumed and self.progress:
            print(f"{self.stage}: resuming after epoch {self.state['epochs_done']}", flush=True)
        if self.state["epochs_done"] >= self.epochs and self.state["best"] is None:
            raise AuferaError(f"{self.stage}: epochs_{self.stage}={self.epochs}; at least one epoch is needed")
        model = self.build(backbone_source)
        augment = (
            Augmentation(self.config.augment_shift, self.config.augment_brightness, self.config.augment_contrast)
            if self.config.augment
            else False
        )
        labels = self.train_arrays.au
        for epoch in range(self.state["epochs_done"], self.epochs):
            try:
                plan = plan_epoch(self.config, labels, epoch)
            except ValueError as error:
                raise AuferaError(f"{self.stage}: sampler {self.config.sampler!r}: {error}") from None
            data = dataset_from_arrays(
                self.train_arrays,
                None,
                training=True,
                seed=int(self.config.seed) + epoch,
                augment=augment,
                targets=self.stage,
                batch_plan=plan,
            )
            callbacks = [_EpochEnd.make(self), keras.callbacks.TerminateOnNaN()]
            callbacks += _tensorboard_callbacks(self.run_dir / "logs" / self.stage)
            if self.progress:
                callbacks.append(_progress_callback(self.stage, self.epochs, len(plan)))
            model.fit(
                data,
                initial_epoch=epoch,
                epochs=epoch + 1,
                callbacks=callbacks + self.callbacks,
                shuffle=False,  # the batch plan is the order
                verbose=0,
            )
            if self.nan_epoch is not None or model.stop_training and self.state["epochs_done"] <= epoch:
                raise AuferaError(
                    f"{self.stage}: the loss or the weights became NaN or infinite in epoch {epoch + 1}; "
                    f"lower learning_rate (now {self.config.learning_rate:g}) and rerun with a new --out"
                )
        model.load_weights(self.ckpt_dir / self.state["best"])
        _atomic_save_model(model, final)
        return self.summary(skipped=False)

    def summary(self, skipped: bool) -> dict:
        best = self.state["best_epoch"]
        row = next((r for r in self.state["history"] if r["epoch"] == best), {})
        out = {
            "best_epoch": best,
            "val_mean_f1": row.get("val_mean_f1"),
            "epochs_done": self.state["epochs_done"],
            "epochs_run": self.epochs_run,
            "skipped": skipped,
        }
        if self.stage == "network1":
            out["val_view_accuracy"] = row.get("val_view_accuracy")
        return out


# === Distribution and precision ===


def select_strategy():
    """`tf.distribute.MirroredStrategy` when more than one GPU is visible, else the default strategy."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_precision(mixed_precision: bool) -> str:
    """Sets the Keras global dtype policy for training and returns its name.

    "mixed_float16" only when asked and a GPU is visible; otherwise
    "float32" (with a warning when mixed precision was asked on CPU, where
    float16 is slower, not faster). Under mixed_float16 Keras wraps Adam in a
    `LossScaleOptimizer`; the models' softmax outputs are then float16, and
    the losses cast them to float32 before the log (see docs/training.md).
    """
    import tensorflow as tf

    keras = _keras()
    policy = "float32"
    if mixed_precision:
        if tf.config.list_logical_devices("GPU"):
            policy = "mixed_float16"
        else:
            warnings.warn("mixed_precision=True needs a GPU; training in float32 on CPU", stacklevel=2)
    keras.mixed_precision.set_global_policy(policy)
    return policy


# === Training ===


def _check_resume_config(config: TrainConfig, run_dir: Path) -> None:
    """A run directory holding another config cannot be resumed with this one."""
    if not (run_dir / "config.yaml").is_file():
        return
    try:
        old = load_config(run_dir)
    except ValueError as error:
        raise AuferaError(f"{run_dir / 'config.yaml'}: {error}") from None
    old_values, new_values = old.to_dict(), config.to_dict()
    changed = [k for k in new_values if k not in RESUMABLE_CHANGES and old_values[k] != new_values[k]]
    if changed:
        raise AuferaError(
            f"{run_dir}: holds a run with other settings ({', '.join(f'{k}={old_values[k]!r}' for k in changed)}); "
            "use a new --out directory or the same settings to resume"
        )


def _load_arrays(data_dir, split: str):
    from aufera.data.pipeline import load_split_arrays

    arrays = load_split_arrays(data_dir, split)
    if len(arrays) == 0:
        raise AuferaError(f"{data_dir}: split {split!r} is empty")
    return arrays


def train(config: TrainConfig, data_dir, run_dir, progress: bool = True, callbacks=None) -> dict:
    """Trains Network1, then Network2 on its frozen backbone, into a run directory (resumable).

    Args:
        config: TrainConfig. From `aufera.config.resolve_config`.
        data_dir: str or Path. The prepared dataset (the TFDS version folder
            `aufera prepare` prints).
        run_dir: str or Path. The run directory; a rerun with the same
            arguments resumes it.
        progress: bool. Print a progress bar per epoch. Defaults to True.
        callbacks: list of `keras.callbacks.Callback` or None. Extra
            callbacks for both stages (run after validation and
            checkpointing). Defaults to None.

    Returns:
        A summary dict: `network1` and `network2` (each with `best_epoch`,
        `val_mean_f1`, `epochs_done`, `epochs_run`, `skipped`; network1 also
        `val_view_accuracy`), `run_dir`, `data_dir`, `precision`,
        `replicas` and `wall_seconds`.

    Raises:
        AuferaError: on a bad dataset, a run directory holding other
            settings, a sampler that cannot plan the data, or a NaN loss
            (naming the stage and epoch).

    Examples:

    ```python
    config = resolve_config("cpu-small", ["epochs_network1=3"])
    summary = train(config, "data/fera2017/132/1.0.0", "runs/demo")
    summary["network1"]["val_mean_f1"]
    ```
    """
    keras = _keras()
    from aufera.data.pipeline import load_dataset_info

    started = time.perf_counter()
    run_dir = Path(run_dir)
    info = load_dataset_info(data_dir)
    if config.validation_split not in info.num_examples:
        raise AuferaError(f"{info.path}: no split {config.validation_split!r} (splits: {sorted(info.num_examples)})")
    config = dataclasses.replace(config, data_dir=str(Path(info.path).resolve()))
    _check_resume_config(config, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir)

    train_arrays = _load_arrays(info, "train")
    val_arrays = _load_arrays(info, config.validation_split)
    val_rows = validation_rows(len(val_arrays), config.validation_max_examples)
    keras.utils.set_random_seed(int(config.seed))
    previous_policy = keras.mixed_precision.global_policy().name
    strategy = select_strategy()
    summary = {"run_dir": str(run_dir), "data_dir": config.data_dir, "replicas": strategy.num_replicas_in_sync}
    try:
        summary["precision"] = set_precision(config.mixed_precision)
        common = (config, run_dir, train_arrays, val_arrays, val_rows, strategy, progress, callbacks)
        summary["network1"] = _StageRun("network1", *common).run()
        keras.utils.set_random_seed(int(config.seed) + 1)
        summary["network2"] = _StageRun("network2", *common).run(backbone_source=run_dir / "network1.keras")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    summary["wall_seconds"] = time.perf_counter() - started
    return summary


# === The command ===


def add_cli(subparsers) -> None:
    """Adds the `train` subcommand to the `aufera` command's subparsers.

    `aufera train --config PRESET_OR_YAML --data DATASET_DIR --out RUN_DIR
    [--sampler random|stratified|momu] [key=value ...]`

    Args:
        subparsers: the object returned by `ArgumentParser.add_subparsers`.
    """
    from aufera.config import SAMPLERS, train_preset_names

    p = subparsers.add_parser(
        "train",
        help="train Network1, then Network2 on its frozen backbone (resumable)",
        description="Train Network1 (AUs and views), then Network2 on Network1's frozen residual network, keeping "
        "each network's best epoch by validation mean F1. Rerunning the same command after an interruption "
        "continues where it stopped.",
    )
    p.add_argument(
        "--config",
        required=True,
        metavar="PRESET_OR_YAML",
        help=f"training preset ({', '.join(train_preset_names())}) or a YAML file of TrainConfig keys",
    )
    p.add_argument("--data", required=True, metavar="DATASET_DIR", help="the dataset folder `aufera prepare` printed")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (new, or one to resume)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None, help="batch sampler (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs_network1=3 batch_size=32"
    )
    p.set_defaults(run=run_cli)


def format_summary(summary: dict) -> str:
    """The final summary printed by `aufera train`: best epoch and validation mean F1 per network."""

    def number(value):
        return "n/a" if value is None else f"{value:.4f}"

    n1, n2 = summary["network1"], summary["network2"]
    lines = [
        f"network1: best epoch {n1['best_epoch']}, validation mean F1 {number(n1['val_mean_f1'])}, "
        f"view accuracy {number(n1['val_view_accuracy'])}",
        f"network2: best epoch {n2['best_epoch']}, validation mean F1 {number(n2['val_mean_f1'])}",
        f"wall time {summary['wall_seconds']:.1f} s ({summary['replicas']} replica(s), {summary['precision']}); "
        f"run directory {summary['run_dir']}",
    ]
    return "\n".join(lines)


def run_cli(args) -> int:
    """Runs `aufera train` from parsed arguments; returns the exit status.

    Args:
        args: argparse.Namespace with `config`, `data`, `out`, `sampler`, `quiet` and `overrides`.

    Returns:
        0 on success.

    Raises:
        AuferaError: on a bad config, override, dataset or run directory (one line).
    """
    overrides = list(args.overrides or ())
    if args.sampler:
        overrides.append(f"sampler={args.sampler}")
    try:
        config = resolve_config(args.config, overrides)
    except ValueError as error:
        raise AuferaError(f"--config {args.config}: {error}") from None
    summary = train(config, args.data, args.out, progress=not args.quiet)
    print(format_summary(summary))
    return 0
