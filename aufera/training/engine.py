"""The training loop: one stage at a time, resumable, and `train` (the stages of a model family in order)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import keras
import numpy as np

from aufera.config import EPOCH_FIELDS, FAMILY_STAGES, TrainConfig, load_run_config, save_config
from aufera.errors import AuferaError
from aufera.filenames import CHECKPOINTS_DIR, LOGS_DIR, TRAIN_SUMMARY_FILE, history_file, model_file
from aufera.files import atomic_write_text
from aufera.preprocessing import Preprocessing
from aufera.training.callbacks import EpochEnd, Progress, StopOnNonFinite, tensorboard_callbacks
from aufera.training.runtime import (
    broadcast_from_chief,
    is_chief,
    num_workers,
    reseed_dropout,
    select_strategy,
    set_precision,
    strategy_name,
    synchronize_batch_norm,
)
from aufera.training.schedule import learning_rate, plan_epoch, replica_plan, validation_rows
from aufera.training.state import StageState
from aufera.training.validation import validation_scores

STAGES = tuple(stage for stages in FAMILY_STAGES.values() for stage in stages)
# Fields that may change between a killed run and its resumption.
RESUMABLE_CHANGES = (*EPOCH_FIELDS, "validation.batch_size")


@dataclasses.dataclass
class StageData:
    """What every stage of a run trains and validates on.

    Args:
        train: SplitArrays. The training split in memory.
        validation: SplitArrays. The validation split in memory.
        validation_rows: int array. The validation rows used.
        scale: float. Pixel scale of the model preset's preprocessing.
        crop_size: int or None. Side of the crops the model takes (random in
            training, centred in validation), or None. Defaults to None.
    """

    train: object
    validation: object
    validation_rows: np.ndarray
    scale: float
    crop_size: int | None = None


def jit_compile_setting(config: TrainConfig):
    """The `jit_compile` argument of `Model.compile` for a config: "auto" when `runtime.jit_compile` is None."""
    return "auto" if config.runtime.jit_compile is None else bool(config.runtime.jit_compile)


def drml_arguments(config: TrainConfig) -> dict:
    """The `DRML.from_preset` overrides a config of the "drml" family asks for (`region_layer`, `grid`)."""
    arguments = {"region_layer": bool(config.model.region_layer)}
    if config.model.grid is not None:
        arguments["grid"] = [int(config.model.grid)] * 2
    return arguments


def check_drml_grid(config: TrainConfig) -> None:
    """Raises AuferaError (one line) when a DRML config's grid does not divide its region layer's map."""
    from aufera.models.drml import check_region_grid
    from aufera.models.presets import get_preset

    if config.model.family != "drml" or not config.model.region_layer:
        return
    args = {**get_preset(config.model.preset, family="drml")["drml"], **drml_arguments(config)}
    try:
        check_region_grid(args["input_shape"], args["conv1_kernel_size"], args["conv1_strides"], args["grid"])
    except ValueError as error:
        raise AuferaError(f"model.grid={config.model.grid}: {error}") from None


def compiled_stage_model(config: TrainConfig, stage: str, train_size: int, backbone_source=None):
    """A fresh model of one stage, compiled as `aufera train` compiles it.

    Network1, Network2 (on the frozen backbone of the Network1 saved at
    `backbone_source`), DRML / ConvNet or Chu et al.'s spatial CNN, built
    from the config's model preset, with the stage's losses, the config's
    optimiser (Adam, or SGD with momentum and weight decay) with its
    learning-rate schedule over the stage's epochs of `train_size` frames,
    and XLA as `runtime.jit_compile` says. Call it inside the strategy's
    scope.

    Args:
        config: TrainConfig.
        stage: str. "network1", "network2", "drml" or "chu_cnn".
        train_size: int. Training frames per epoch (for the schedule).
        backbone_source: str or Path. The saved Network1, for "network2" only;
            None builds Network1's architecture instead (a worker that does
            not hold the run, whose weights come from the chief).
    """
    from aufera.losses import chu_losses, drml_losses, network1_losses, network2_losses
    from aufera.models import DRML, ChuCNN, Network1, Network2

    preset = config.model.preset
    if stage == "network1":
        model = Network1.from_preset(preset)
        losses = network1_losses(config.model.lambda_au, config.model.lambda_view)
    elif stage == "network2":
        if backbone_source is None:
            network1 = Network1.from_preset(preset)
        else:
            network1 = keras.saving.load_model(backbone_source, compile=False)
        model = Network2.from_preset(preset, backbone=network1.backbone)
        losses = network2_losses()
    elif stage == "drml":
        model = DRML.from_preset(preset, **drml_arguments(config))
        losses = drml_losses()
    elif stage == "chu_cnn":
        model = ChuCNN.from_preset(preset)
        losses = chu_losses()
    else:
        raise ValueError(f"Unknown stage. Expected one of network1, network2, drml, chu_cnn. Received: stage={stage!r}")
    optimizer = config.optimizer
    rate = learning_rate(config, int(getattr(config, f"epochs_{stage}")), train_size)
    if optimizer.name == "sgd":
        # Keras's weight decay is decoupled (w <- w - lr * weight_decay * w each step, every weight); Caffe's,
        # which Chu et al. used, adds weight_decay * w to the gradient before the momentum (docs/cnn_lstm.md).
        chosen = keras.optimizers.SGD(
            learning_rate=rate, momentum=optimizer.momentum, weight_decay=optimizer.weight_decay or None
        )
    else:
        chosen = keras.optimizers.Adam(
            learning_rate=rate, beta_1=optimizer.beta_1, beta_2=optimizer.beta_2, epsilon=optimizer.epsilon
        )
    model.compile(optimizer=chosen, jit_compile=jit_compile_setting(config), **losses)
    return model


class StageRun:
    """Trains one stage (network1, network2 or drml) with per-epoch plans, validation, checkpoints and resume.

    Under several workers every worker runs the same loop in lockstep; the
    chief alone reads and writes the run directory, and tells the others
    where the run stands and, through `broadcast_from_chief`, the weights.

    Args:
        stage: str. "network1", "network2" or "drml".
        config: TrainConfig.
        run_dir: Path. The run directory.
        data: StageData.
        strategy: a `tf.distribute` strategy.
        progress: bool. Print a progress bar per epoch.
        callbacks: list of extra Keras callbacks, or None.
    """

    def __init__(self, stage, config: TrainConfig, run_dir: Path, data: StageData, strategy, progress, callbacks):
        self.stage = stage
        self.config = config
        self.run_dir = run_dir
        self.data = data
        self.strategy = strategy
        self.progress = progress
        self.callbacks = list(callbacks or ())
        self.epochs = int(getattr(config, f"epochs_{stage}"))
        self.ckpt_dir = run_dir / CHECKPOINTS_DIR / stage
        self.state = StageState(stage)
        self.epoch_started = time.perf_counter()
        self.nan_epoch = None
        self.nan_step = StopOnNonFinite()
        self.epochs_run = 0
        self.workers = num_workers(strategy)
        self.chief = is_chief(strategy)

    def load_state(self) -> bool:
        """Loads the committed state, if any; returns whether an epoch had been committed."""
        state = StageState.load(self.ckpt_dir, self.stage)
        if state is None:
            return False
        self.state = state
        return state.epochs_done > 0

    # --- model ---

    def build(self, backbone_source: Path | None):
        """Builds and compiles the stage's model under the strategy scope (or reloads the last checkpoint)."""
        if self.workers > 1:
            return self.build_on_workers(backbone_source)
        with self.strategy.scope():
            if self.state.last:
                model = keras.saving.load_model(self.ckpt_dir / self.state.last, compile=True)
                model.jit_compile = jit_compile_setting(self.config)
            else:
                model = compiled_stage_model(self.config, self.stage, len(self.data.train.au), backbone_source)
        if self.strategy.num_replicas_in_sync > 1:
            synchronize_batch_norm(model)  # as one device with the whole batch
        return model

    def build_on_workers(self, backbone_source: Path | None):
        """Every worker builds the same fresh model; the chief's weights (its checkpoint's, on resume) go to all.

        Under the multi-worker strategy every variable made is a collective
        that all workers must join in the same order, so the chief reads its
        checkpoint outside the strategy's scope, as plain values.
        """
        checkpoint = None
        if self.chief and self.state.last:
            path = self.ckpt_dir / self.state.last
            saved = keras.saving.load_model(path, compile=True)
            checkpoint = (path, [v.numpy() for v in [*saved.variables, *saved.optimizer.variables]])
            del saved
        with self.strategy.scope():
            n = len(self.data.train.au)
            model = compiled_stage_model(self.config, self.stage, n, backbone_source if self.chief else None)
            model.optimizer.build(model.trainable_variables)
        variables = [*model.variables, *model.optimizer.variables]
        values = [v.numpy() for v in variables]
        if checkpoint is not None:
            path, saved_values = checkpoint
            if [v.shape for v in saved_values] != [v.shape for v in values]:
                raise AuferaError(f"{path}: its weights do not fit the model this config builds; remove it to restart")
            values = saved_values
        for variable, value in zip(variables, broadcast_from_chief(self.strategy, values), strict=True):
            variable.assign(value)
        if self.strategy.num_replicas_in_sync > 1:
            synchronize_batch_norm(model)
        return model

    # --- the epoch end ---

    def end_epoch(self, model, epoch: int, logs: dict) -> None:
        """Validates, checkpoints and records one finished epoch (or marks a NaN epoch and stops)."""
        train_terms = {k: float(v) for k, v in logs.items() if not k.startswith("val_")}
        finite = all(math.isfinite(v) for v in train_terms.values()) and all(
            bool(np.all(np.isfinite(w))) for w in model.get_weights()
        )
        if not finite:
            self.nan_epoch = epoch
            model.stop_training = True
            return
        rows = self.data.validation_rows
        scores = validation_scores(
            self.stage,
            self.predict(model),
            self.data.validation.au[rows],
            self.data.validation.view[rows],
            self.config,
        )
        logs.update(scores)
        row = {"epoch": epoch + 1, **train_terms, **scores, "seconds": time.perf_counter() - self.epoch_started}
        if self.chief:
            history = self.run_dir / history_file(self.stage)
            self.state.record_epoch(model, self.ckpt_dir, history, epoch, row, scores["val_mean_f1"])
        else:
            self.state.history.append(row)
            self.state.epochs_done = epoch + 1
        self.epochs_run += 1

    def predict(self, model) -> dict:
        from aufera.data.pipeline import dataset_from_arrays

        data = dataset_from_arrays(
            self.data.validation,
            None,
            self.config.validation.batch_size,
            training=False,
            targets=self.stage,
            indices=self.data.validation_rows,
            scale=self.data.scale,
            crop_size=self.data.crop_size,
        )
        # Predicted in graph mode, as `aufera evaluate` predicts: XLA speeds up DRML's training step but
        # slows its forward pass on CPU (docs/benchmarks.md). The predict function is made once, then kept.
        jit_compile = model.jit_compile
        model.jit_compile = False
        try:
            outputs = model.predict(data, verbose=0)
        finally:
            model.jit_compile = jit_compile
        return {k: np.asarray(v, np.float32) for k, v in outputs.items()}

    # --- the loop ---

    def run(self, backbone_source: Path | None = None) -> dict:
        """Trains the remaining epochs, then saves the best epoch as `<stage>.keras`; returns `summary()`."""
        final = self.run_dir / model_file(self.stage)
        done = self.chief and final.is_file()
        resumed = self.load_state() if self.chief else False
        has_best = self.state.best is not None
        if self.workers > 1:  # the chief's run directory is the truth for every worker
            flags = np.array([done, self.state.epochs_done, has_best], np.int64)
            done, epochs_done, has_best = (int(x) for x in broadcast_from_chief(self.strategy, [flags])[0])
            self.state.epochs_done, resumed = epochs_done, epochs_done > 0
        if done:
            return self.summary(skipped=True)
        if self.chief:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if resumed and self.progress:
            print(f"{self.stage}: resuming after epoch {self.state.epochs_done}", flush=True)
        if self.state.epochs_done >= self.epochs and not has_best:
            raise AuferaError(f"{self.stage}: epochs_{self.stage}={self.epochs}; at least one epoch is needed")
        try:
            model = self.build(backbone_source)
            self.train_epochs(model)
        except self.lost_worker_errors() as error:
            raise AuferaError(
                f"{self.stage}: a worker was lost ({type(error).__name__}: {_first_line(error)}); rerun every "
                f"worker's command to resume after epoch {self.state.epochs_done}"
            ) from None
        if self.chief:
            self.state.save_best(model, self.ckpt_dir, final, self.run_dir / history_file(self.stage))
        return self.summary(skipped=False)

    def lost_worker_errors(self) -> tuple:
        """The TensorFlow errors a collective raises when another worker dies (none on one worker)."""
        if self.workers < 2:
            return ()
        import tensorflow as tf

        return (
            tf.errors.UnavailableError,
            tf.errors.CancelledError,
            tf.errors.DeadlineExceededError,
            tf.errors.AbortedError,
            tf.errors.InternalError,
        )

    def train_data(self, plan: list, epoch: int):
        """The epoch's batches: the whole plan on one worker; each worker's replicas' parts of every batch on several."""
        from aufera.data.pipeline import dataset_from_arrays

        def batches(batch_plan):
            return dataset_from_arrays(
                self.data.train,
                None,
                training=True,
                seed=int(self.config.seed) + epoch,
                augment=self.config.augmentation,
                targets=self.stage,
                batch_plan=batch_plan,
                scale=self.data.scale,
                crop_size=self.data.crop_size,
            )

        if self.workers < 2:
            return batches(plan)

        def per_worker(context):
            local = context.num_replicas_in_sync // context.num_input_pipelines
            return batches(replica_plan(plan, context.num_replicas_in_sync, context.input_pipeline_id * local, local))

        return self.strategy.distribute_datasets_from_function(per_worker)

    def train_epochs(self, model) -> None:
        """Trains epochs `state.epochs_done` .. `epochs`, each committed by `end_epoch`."""
        labels = self.data.train.au
        for epoch in range(self.state.epochs_done, self.epochs):
            try:
                plan = plan_epoch(self.config, labels, epoch)
            except ValueError as error:
                raise AuferaError(f"{self.stage}: sampler {self.config.sampler!r}: {error}") from None
            if self.workers > 1:
                plan = [rows for rows in plan if len(rows) >= self.strategy.num_replicas_in_sync]
            data = self.train_data(plan, epoch)
            # The step check runs first: a NaN batch stops the epoch before anything records it.
            callbacks = [self.nan_step, EpochEnd(self)]
            if self.chief:
                callbacks += tensorboard_callbacks(self.run_dir / LOGS_DIR / self.stage)
            if self.progress:
                callbacks.append(Progress(self.stage, self.epochs, len(plan)))
            self.nan_step.steps_per_epoch = len(plan)
            reseed_dropout(model, int(self.config.seed), self.stage, epoch)  # a resumed epoch draws the same masks
            model.fit(
                data,
                initial_epoch=epoch,
                epochs=epoch + 1,
                callbacks=callbacks + self.callbacks,
                shuffle=False,  # the batch plan is the order
                verbose=0,
            )
            if self.nan_step.step is not None:
                raise AuferaError(
                    f"{self.stage}: {self.nan_step.describe()}; the run keeps epoch {self.state.epochs_done}'s "
                    f"checkpoint; lower optimizer.learning_rate (now {self.config.optimizer.learning_rate:g}) and "
                    "rerun with a new --out"
                )
            if self.nan_epoch is not None or model.stop_training and self.state.epochs_done <= epoch:
                raise AuferaError(
                    f"{self.stage}: the loss or the weights became NaN or infinite in epoch {epoch + 1}; the run "
                    f"keeps epoch {self.state.epochs_done}'s checkpoint; lower optimizer.learning_rate (now "
                    f"{self.config.optimizer.learning_rate:g}) and rerun with a new --out"
                )

    def summary(self, skipped: bool) -> dict:
        row = self.state.best_row()
        out = {
            "best_epoch": self.state.best_epoch,
            "val_mean_f1": row.get("val_mean_f1"),
            "epochs_done": self.state.epochs_done,
            "epochs_run": self.epochs_run,
            "skipped": skipped,
        }
        if self.stage == "network1":
            out["val_view_accuracy"] = row.get("val_view_accuracy")
        return out


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _check_resume_config(config: TrainConfig, run_dir: Path) -> None:
    """A run directory holding another config cannot be resumed with this one."""
    old = load_run_config(run_dir)
    if old is None:
        return
    old_values, new_values = old.to_flat_dict(), config.to_flat_dict()
    changed = [k for k in new_values if k not in RESUMABLE_CHANGES and old_values[k] != new_values[k]]
    if changed:
        raise AuferaError(
            f"{run_dir}: holds a run with other settings ({', '.join(f'{k}={old_values[k]!r}' for k in changed)}); "
            "use a new --out directory or the same settings to resume"
        )


def _load_arrays(info, split: str):
    from aufera.data.pipeline import load_split_arrays

    arrays = load_split_arrays(info, split)
    if len(arrays) == 0:
        raise AuferaError(f"{info.path}: split {split!r} is empty")
    return arrays


def train(config: TrainConfig, data_dir, run_dir, progress: bool = True, callbacks=None) -> dict:
    """Trains the stages of the config's model family into a run directory (resumable).

    He et al. 2019 ("he2019"): Network1, then Network2 on its frozen
    backbone. DRML ("drml"): DRML, or with `model.region_layer=False` its
    ConvNet baseline, in one stage named "drml".

    Before anything is written, the dataset is checked against the model
    preset's `preprocessing` (image size and channels) and the validation
    split, and a run directory holding another config is refused.

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
        A summary dict: one entry per stage, `network1` and `network2` or
        `drml` (each with `best_epoch`, `val_mean_f1`, `epochs_done`,
        `epochs_run`, `skipped`; network1 also `val_view_accuracy`),
        `stages` (their names in order), `run_dir`, `data_dir`,
        `precision`, `strategy` (its TensorFlow name, or "default"),
        `workers`, `replicas`, `chief` (whether this process wrote the run)
        and `wall_seconds`; the chief also writes it to
        `RUN_DIR/train_summary.json`. (`aufera train` then writes the run's
        models as one preset with weights, `aufera.pretrained.write_run_preset`.)

    Several machines: with `TF_CONFIG` naming a cluster, every worker runs
    `train` with its own `run_dir`; they train in lockstep under
    `MultiWorkerMirroredStrategy`, each on its part of every batch, and only
    the chief writes its `run_dir` (docs/scaling.md).

    Raises:
        AuferaError: on a bad dataset, a dataset of another image size than
            the preset's, a run directory holding other settings, a sampler
            that cannot plan the data, a NaN loss (naming the stage, epoch and
            step), or a lost worker.

    Examples:

    ```python
    config = resolve_config("cpu-small", ["epochs_network1=3"])
    summary = train(config, "data/fera2017/132/1.0.0", "runs/demo")
    summary["network1"]["val_mean_f1"]
    ```
    """
    from aufera.data.pipeline import load_dataset_info

    started = time.perf_counter()
    run_dir = Path(run_dir)
    # First: a multi-worker strategy must be made before TensorFlow runs anything in this process.
    strategy = _strategy()
    chief = is_chief(strategy)
    check_drml_grid(config)
    info = load_dataset_info(data_dir)
    preprocessing = Preprocessing.of_preset(config.model.preset, config.model.family)
    preprocessing.check_dataset(info.image_shape, info.path, config.model.preset)
    split = config.validation.split
    if split not in info.num_examples:
        raise AuferaError(f"{info.path}: no split {split!r} (splits: {sorted(info.num_examples)})")
    config = dataclasses.replace(config, data_dir=str(Path(info.path).resolve()))
    _check_resume_config(config, run_dir)

    train_arrays = _load_arrays(info, "train")
    val_arrays = _load_arrays(info, split)
    folds = None
    if config.model.family == "chu2019":
        from aufera.training.chu import check_chu_inputs, fold_arrays

        if config.folds is not None:
            folds, train_arrays, val_arrays = fold_arrays(config, train_arrays, val_arrays)
        check_chu_inputs(config, train_arrays)
    # Nothing is written before the inputs are checked, and only by the chief.
    if chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir)
    if folds is not None and chief:
        from aufera.filenames import FOLDS_FILE
        from aufera.folds import write_folds

        write_folds(folds, run_dir / FOLDS_FILE, seed=int(config.seed), validation_share=config.fold_validation_share)
    rows = validation_rows(len(val_arrays), config.validation.max_examples)
    data = StageData(train_arrays, val_arrays, rows, float(preprocessing.scale), preprocessing.crop_size)
    keras.utils.set_random_seed(int(config.seed))
    previous_policy = keras.mixed_precision.global_policy().name
    stages = FAMILY_STAGES[config.model.family]
    summary = {
        "run_dir": str(run_dir),
        "data_dir": config.data_dir,
        "strategy": strategy_name(strategy),
        "workers": num_workers(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "chief": chief,
        "stages": list(stages),
    }
    try:
        summary["precision"] = set_precision(config.runtime.mixed_precision)
        common = (config, run_dir, data, strategy, progress, callbacks)
        for i, stage in enumerate(stages):
            if stage in ("chu_lstm", "chu_fusion"):
                break  # trained on sequences, by aufera.training.chu below
            # Stage i starts from seed + i (Network2 from seed + 1).
            if i:
                keras.utils.set_random_seed(int(config.seed) + i)
            backbone = run_dir / model_file("network1") if stage == "network2" else None
            summary[stage] = StageRun(stage, *common).run(backbone_source=backbone)
        if config.model.family == "chu2019" and chief:
            # The sequence stages are small (features, PCA, LSTMs on 10^3-10^4 rows): the chief trains them alone.
            from aufera.training.chu import train_temporal

            summary.update(train_temporal(config, run_dir, data, progress, callbacks))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    summary["wall_seconds"] = time.perf_counter() - started
    if chief:
        atomic_write_text(run_dir / TRAIN_SUMMARY_FILE, json.dumps(summary, indent=1, default=_json_value))
    return summary


def _json_value(value):
    """numpy numbers in a summary as Python numbers."""
    return value.item() if hasattr(value, "item") else str(value)


def _strategy():
    """`select_strategy()`, with one line when a cluster is asked for after TensorFlow has started."""
    try:
        return select_strategy()
    except RuntimeError as error:
        if "program startup" not in str(error):
            raise
        raise AuferaError(
            "TF_CONFIG names a cluster, but TensorFlow was already running in this process: start each worker's "
            "`aufera train` in a new process"
        ) from None
