"""The training loop: one stage at a time, resumable, and `train` (the stages of a model family in order)."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import keras
import numpy as np

from aufera.config import EPOCH_FIELDS, FAMILY_STAGES, TrainConfig, load_run_config, save_config
from aufera.errors import AuferaError
from aufera.filenames import CHECKPOINTS_DIR, LOGS_DIR, history_file, model_file
from aufera.preprocessing import Preprocessing
from aufera.training.callbacks import EpochEnd, Progress, tensorboard_callbacks
from aufera.training.runtime import select_strategy, set_precision
from aufera.training.schedule import learning_rate, plan_epoch, validation_rows
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
        backbone_source: str or Path. The saved Network1, for "network2" only.
    """
    from aufera.losses import chu_losses, drml_losses, network1_losses, network2_losses
    from aufera.models import DRML, ChuCNN, Network1, Network2

    preset = config.model.preset
    if stage == "network1":
        model = Network1.from_preset(preset)
        losses = network1_losses(config.model.lambda_au, config.model.lambda_view)
    elif stage == "network2":
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
        self.epochs_run = 0

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
        with self.strategy.scope():
            if self.state.last:
                model = keras.saving.load_model(self.ckpt_dir / self.state.last, compile=True)
                model.jit_compile = jit_compile_setting(self.config)
                return model
            return compiled_stage_model(self.config, self.stage, len(self.data.train.au), backbone_source)

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
        history = self.run_dir / history_file(self.stage)
        self.state.record_epoch(model, self.ckpt_dir, history, epoch, row, scores["val_mean_f1"])
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
        from aufera.data.pipeline import dataset_from_arrays

        final = self.run_dir / model_file(self.stage)
        if final.is_file():
            self.load_state()
            return self.summary(skipped=True)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if self.load_state() and self.progress:
            print(f"{self.stage}: resuming after epoch {self.state.epochs_done}", flush=True)
        if self.state.epochs_done >= self.epochs and self.state.best is None:
            raise AuferaError(f"{self.stage}: epochs_{self.stage}={self.epochs}; at least one epoch is needed")
        model = self.build(backbone_source)
        labels = self.data.train.au
        for epoch in range(self.state.epochs_done, self.epochs):
            try:
                plan = plan_epoch(self.config, labels, epoch)
            except ValueError as error:
                raise AuferaError(f"{self.stage}: sampler {self.config.sampler!r}: {error}") from None
            data = dataset_from_arrays(
                self.data.train,
                None,
                training=True,
                seed=int(self.config.seed) + epoch,
                augment=self.config.augmentation,
                targets=self.stage,
                batch_plan=plan,
                scale=self.data.scale,
                crop_size=self.data.crop_size,
            )
            callbacks = [EpochEnd(self), keras.callbacks.TerminateOnNaN()]
            callbacks += tensorboard_callbacks(self.run_dir / LOGS_DIR / self.stage)
            if self.progress:
                callbacks.append(Progress(self.stage, self.epochs, len(plan)))
            model.fit(
                data,
                initial_epoch=epoch,
                epochs=epoch + 1,
                callbacks=callbacks + self.callbacks,
                shuffle=False,  # the batch plan is the order
                verbose=0,
            )
            if self.nan_epoch is not None or model.stop_training and self.state.epochs_done <= epoch:
                raise AuferaError(
                    f"{self.stage}: the loss or the weights became NaN or infinite in epoch {epoch + 1}; "
                    f"lower optimizer.learning_rate (now {self.config.optimizer.learning_rate:g}) and rerun "
                    "with a new --out"
                )
        self.state.save_best(model, self.ckpt_dir, final)
        return self.summary(skipped=False)

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
        `precision`, `replicas` and `wall_seconds`. (`aufera train` then
        writes the run's models as one preset with weights,
        `aufera.pretrained.write_run_preset`.)

    Raises:
        AuferaError: on a bad dataset, a dataset of another image size than
            the preset's, a run directory holding other settings, a sampler
            that cannot plan the data, or a NaN loss (naming the stage and
            epoch).

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
    # Nothing is written before the inputs are checked.
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir)
    if folds is not None:
        from aufera.filenames import FOLDS_FILE
        from aufera.folds import write_folds

        write_folds(folds, run_dir / FOLDS_FILE, seed=int(config.seed), validation_share=config.fold_validation_share)
    rows = validation_rows(len(val_arrays), config.validation.max_examples)
    data = StageData(train_arrays, val_arrays, rows, float(preprocessing.scale), preprocessing.crop_size)
    keras.utils.set_random_seed(int(config.seed))
    previous_policy = keras.mixed_precision.global_policy().name
    strategy = select_strategy()
    stages = FAMILY_STAGES[config.model.family]
    summary = {
        "run_dir": str(run_dir),
        "data_dir": config.data_dir,
        "replicas": strategy.num_replicas_in_sync,
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
        if config.model.family == "chu2019":
            from aufera.training.chu import train_temporal

            summary.update(train_temporal(config, run_dir, data, progress, callbacks))
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    summary["wall_seconds"] = time.perf_counter() - started
    return summary
