"""The temporal stages of Chu et al. 2019 after the spatial CNN: features, PCA, the LSTMs, the fusion network.

`train` (aufera.training.engine) trains the CNN as any per-frame stage
("chu_cnn"), then hands over to `train_temporal`, which, each step
resumable:

1. computes the CNN's outputs on every training and validation frame (centre
   crop): its AU probabilities and its L2-normalised fc7 (`chu_features.npz`);
2. fits the PCA on the training frames' fc7 only, keeping the components that
   hold `pca.energy` of the variance (`chu_pca.npz`);
3. trains the LSTMs ("chu_lstm") on random subsequences of the projected
   features of the training videos, with the max-margin loss, the first
   `sequence.burn_in` frames of each subsequence carrying no loss and
   subsequences with fewer than `sequence.min_active_aus` present AUs per
   frame left out; the best epoch by validation mean F1 on whole videos;
4. trains the fusion network ("chu_fusion") on the CNN's and the LSTMs'
   scores of the training frames (the LSTMs run on whole training videos);
5. puts the four pieces together as one `CNNLSTM` (`cnn_lstm.keras`).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import keras
import numpy as np

from aufera.config import TrainConfig
from aufera.errors import AuferaError
from aufera.filenames import (
    CHECKPOINTS_DIR,
    CHU_FEATURES_FILE,
    CHU_PCA_FILE,
    CHU_SUMMARY_FILE,
    history_file,
    model_file,
)
from aufera.files import atomic_write, atomic_write_text
from aufera.training.callbacks import StopOnNonFinite
from aufera.training.runtime import reseed_dropout
from aufera.training.state import StageState

WHOLE_MODEL = "cnn_lstm"


def _npz_write(path: Path, **arrays) -> None:
    def write(tmp):
        with open(tmp, "wb") as stream:
            np.savez(stream, **arrays)

    atomic_write(path, write)


def frame_outputs(model, arrays, config: TrainConfig, scale: float, crop_size) -> dict:
    """The CNN's `au` probabilities and `fc7` features of every row of `arrays` (centre crops, graph mode)."""
    from aufera.data.pipeline import dataset_from_arrays

    data = dataset_from_arrays(
        arrays, None, config.validation.batch_size, training=False, targets="chu_cnn", scale=scale, crop_size=crop_size
    )
    model.jit_compile = False
    outputs = model.predict(data, verbose=0)
    return {"au": np.asarray(outputs["au"], np.float32), "fc7": np.asarray(outputs["fc7"], np.float32)}


def cnn_features(run_dir: Path, data, config: TrainConfig, progress: bool = False) -> dict:
    """The CNN's outputs on both splits, computed once and kept in `chu_features.npz`."""
    path = run_dir / CHU_FEATURES_FILE
    if not path.is_file():
        if progress:
            print(
                f"chu_lstm: the CNN's fc7 and AU scores of {len(data.train)} training and {len(data.validation)} "
                "validation frames",
                flush=True,
            )
        cnn = keras.saving.load_model(run_dir / model_file("chu_cnn"), compile=False)
        train = frame_outputs(cnn, data.train, config, data.scale, data.crop_size)
        val = frame_outputs(cnn, data.validation, config, data.scale, data.crop_size)
        _npz_write(path, train_au=train["au"], train_fc7=train["fc7"], val_au=val["au"], val_fc7=val["fc7"])
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def fitted_pca(run_dir: Path, train_fc7: np.ndarray, preset: dict, components: int | None = None) -> dict:
    """The PCA of the training fc7, fitted once and kept in `chu_pca.npz`.

    `components` (`sequence.pca_components`) fixes the count; otherwise the
    preset's `pca.energy` chooses it, at most `pca.max_components` (and at
    most the frames and fc7's size).
    """
    from aufera.models.cnn_lstm import fit_pca

    path = run_dir / CHU_PCA_FILE
    if not path.is_file():
        settings = preset["pca"]
        if components is not None:
            energy, most = 1.0, int(components)
        else:
            energy, most = float(settings["energy"]), min(int(settings["max_components"]), *train_fc7.shape)
        try:
            pca = fit_pca(train_fc7, energy=energy, max_components=most, whiten=bool(settings.get("whiten", False)))
        except ValueError as error:
            raise AuferaError(f"chu_lstm: {error}") from None
        _npz_write(path, **{k: np.asarray(v) for k, v in pca.items()})
    with np.load(path) as stored:
        pca = {key: stored[key] for key in stored.files}
    pca["num_components"] = int(pca["num_components"])
    pca["energy"] = float(pca["energy"])
    return pca


def projection_layer(pca: dict):
    """The `PCAProjection` layer holding a fitted PCA (as `fitted_pca` returns it)."""
    from aufera.models.cnn_lstm import PCAProjection

    layer = PCAProjection(pca["mean"].shape[0], pca["num_components"], name="pca")
    layer.build((None, pca["mean"].shape[0]))
    layer.set_pca(pca["mean"], pca["components"])
    return layer


def _mean_f1(labels: np.ndarray, present: np.ndarray) -> float:
    from aufera.metrics import f1_per_au

    return float(np.mean(f1_per_au(labels, present.astype(np.int8))))


class SequenceStage:
    """One temporal stage ("chu_lstm" or "chu_fusion"): epochs, validation on whole videos, checkpoints, resume.

    Subclasses give `build()`, `train_data(epoch)` (a tf.data pipeline),
    `validation_outputs(model)` (per-row scores of the validation frames, NaN
    where a row is not scored), `decide(scores)` (present or not) and
    `validation_loss(scores, labels)`.
    """

    stage = ""

    def __init__(self, config: TrainConfig, run_dir: Path, progress: bool, callbacks, preset, inputs, train, videos):
        self.config, self.run_dir, self.progress = config, run_dir, progress
        # The model preset, the stage's per-row inputs, the training SplitArrays and the (train, val) videos.
        self.preset, self.inputs, self.train = preset, inputs, train
        self.train_videos, self.val_videos = videos
        self.callbacks = list(callbacks or ())
        self.epochs = int(getattr(config, f"epochs_{self.stage}"))
        self.ckpt_dir = run_dir / CHECKPOINTS_DIR / self.stage
        self.state = StageState(self.stage)
        self.epochs_run = 0

    def start_epoch(self, model, epoch: int) -> None:
        """Called before each epoch's training (e.g. to set the learning rate)."""

    def run(self, validation_labels: np.ndarray) -> dict:
        final = self.run_dir / model_file(self.stage)
        loaded = StageState.load(self.ckpt_dir, self.stage)
        if loaded is not None:
            self.state = loaded
        if final.is_file():
            return self.summary(skipped=True)
        if self.epochs < 1:
            raise AuferaError(f"{self.stage}: epochs_{self.stage}={self.epochs}; at least one epoch is needed")
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if self.state.last:
            if self.progress:
                print(f"{self.stage}: resuming after epoch {self.state.epochs_done}", flush=True)
            model = keras.saving.load_model(self.ckpt_dir / self.state.last, compile=True)
        else:
            model = self.build()
        for epoch in range(self.state.epochs_done, self.epochs):
            started = time.perf_counter()
            self.start_epoch(model, epoch)
            data = self.train_data(epoch)  # shuffled with the epoch's seed
            stop = StopOnNonFinite()
            reseed_dropout(model, int(self.config.seed), self.stage, epoch)  # a resumed epoch draws the same masks
            history = model.fit(data, initial_epoch=epoch, epochs=epoch + 1, shuffle=False, verbose=0, callbacks=[stop])
            loss = float(history.history["loss"][-1])
            if stop.step is not None or not math.isfinite(loss):
                where = stop.describe() if stop.step else f"the loss became NaN or infinite in epoch {epoch + 1}"
                raise AuferaError(
                    f"{self.stage}: {where}; the run keeps epoch {self.state.epochs_done}'s checkpoint; lower the "
                    "learning rate and rerun with a new --out"
                )
            scores = self.validation_outputs(model)
            known = ~np.isnan(scores[:, 0])
            f1 = _mean_f1(validation_labels[known], self.decide(scores[known]))
            row = {
                "epoch": epoch + 1,
                "loss": loss,
                "val_loss": float(self.validation_loss(scores[known], validation_labels[known])),
                "val_mean_f1": f1,
                "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
                "seconds": time.perf_counter() - started,
            }
            self.state.record_epoch(model, self.ckpt_dir, self.run_dir / history_file(self.stage), epoch, row, f1)
            self.epochs_run += 1
            if self.progress:
                print(
                    f"{self.stage}: epoch {epoch + 1}/{self.epochs}  loss {loss:.4f}  val_mean_f1 {f1:.3f}  "
                    f"({row['seconds']:.1f} s)",
                    flush=True,
                )
            for callback in self.callbacks:
                callback.on_epoch_end(epoch, row)
        self.state.save_best(model, self.ckpt_dir, final, self.run_dir / history_file(self.stage))
        return self.summary(skipped=False)

    def summary(self, skipped: bool) -> dict:
        row = self.state.best_row()
        return {
            "best_epoch": self.state.best_epoch,
            "val_mean_f1": row.get("val_mean_f1"),
            "epochs_done": self.state.epochs_done,
            "epochs_run": self.epochs_run,
            "skipped": skipped,
        }


class LSTMStage(SequenceStage):
    """The LSTMs on projected fc7: random subsequences, burn-in, the active-AU filter, RMSProp, max-margin loss."""

    stage = "chu_lstm"

    def build(self):
        from aufera.losses import MaxMarginLoss
        from aufera.models.cnn_lstm import ChuLSTM

        seq = self.config.sequence
        model = ChuLSTM(feature_dim=self.inputs["train"].shape[1], **self.preset["lstm"])
        optimizer = keras.optimizers.RMSprop(learning_rate=float(seq.learning_rate), rho=float(seq.rho))
        model.compile(optimizer=optimizer, loss={"au": MaxMarginLoss()})
        return model

    def start_epoch(self, model, epoch: int) -> None:
        seq = self.config.sequence
        model.optimizer.learning_rate.assign(float(seq.learning_rate) * float(seq.lr_decay) ** epoch)

    def windows(self, epoch: int):
        from aufera.data.sequences import sample_windows

        seq = self.config.sequence
        return sample_windows(
            self.train_videos,
            self.train.au,
            seq.length,
            seq.per_video,
            seed=int(self.config.seed) + epoch,
            min_active_aus=seq.min_active_aus,
            burn_in=seq.burn_in,
        )

    def train_data(self, epoch: int):
        from aufera.data.sequences import sequence_dataset, window_arrays

        seq = self.config.sequence
        windows, counts = self.windows(epoch)
        if not windows:
            raise AuferaError(
                f"chu_lstm: sequence.min_active_aus={seq.min_active_aus} leaves none of the {counts['drawn']} "
                "training subsequences; lower it or set it to none"
            )
        x, y, _ = window_arrays(
            self.inputs["train"], self.train.au, self.train_videos, windows, seq.length, seq.burn_in
        )
        data = sequence_dataset(x, y, seq.batch_size, shuffle_seed=int(self.config.seed) + epoch)
        return data.map(lambda features, labels: (features, {"au": labels}))

    def validation_outputs(self, model):
        return sequence_scores(model, self.inputs["val"], self.val_videos)

    def decide(self, scores):
        return scores > 0.0

    def validation_loss(self, scores, labels):
        from aufera.losses import max_margin_loss

        return float(max_margin_loss(labels, scores))


def sequence_scores(model, per_row: np.ndarray, videos) -> np.ndarray:
    """A sequence model's per-frame output on whole videos, back in dataset rows (N, A); NaN where none."""
    from aufera.data.sequences import unpad, whole_arrays

    x, _, _ = whole_arrays(per_row, None, videos)
    return unpad(predict_sequences(model, x), videos, per_row.shape[0])


_PREDICTORS: dict = {}


def predict_sequences(model, inputs, batch_size: int = 8) -> np.ndarray:
    """The `"au"` output of a sequence model on (V, T, ...) inputs (or a dict of them), in graph mode.

    One `tf.function` per model, traced for new shapes without warnings
    (`reduce_retracing`): whole videos differ in length between splits.
    """
    import tensorflow as tf

    key = id(model)
    if key not in _PREDICTORS or _PREDICTORS[key][0] is not model:
        _PREDICTORS.clear()
        _PREDICTORS[key] = (model, tf.function(lambda x: model(x, training=False)["au"], reduce_retracing=True))
    run = _PREDICTORS[key][1]
    count = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
    parts = []
    for start in range(0, count, batch_size):
        if isinstance(inputs, dict):
            part = {k: v[start : start + batch_size] for k, v in inputs.items()}
        else:
            part = inputs[start : start + batch_size]
        parts.append(np.asarray(run(part), np.float32))
    return np.concatenate(parts)


class FusionStage(SequenceStage):
    """The fusion network on the CNN's and the LSTMs' scores of the training frames, eq. (1)'s cross-entropy."""

    stage = "chu_fusion"

    def build(self):
        from aufera.losses import chu_losses
        from aufera.models.cnn_lstm import ChuFusion

        model = ChuFusion(**self.preset["fusion"])
        optimizer = keras.optimizers.Adam(learning_rate=float(self.config.sequence.fusion_learning_rate))
        model.compile(optimizer=optimizer, **chu_losses())
        return model

    def _inputs(self, split: str, videos):
        from aufera.data.sequences import whole_arrays

        cnn, _, _ = whole_arrays(self.inputs[f"{split}_cnn"], None, videos)
        lstm, _, _ = whole_arrays(self.inputs[f"{split}_lstm"], None, videos)
        return {"cnn": cnn, "lstm": lstm}

    def train_data(self, epoch: int):
        """Frames of the training videos, shuffled, as sequences of one frame: the network is shared over time.

        Its two layers see one frame at a time, so frames are its samples:
        `sequence.fusion_batch_size` of them per step (whole videos as
        batches would give it a handful of steps per epoch).
        """
        import tensorflow as tf

        inputs = {key: self.inputs[f"train_{key}"][:, None, :] for key in ("cnn", "lstm")}
        labels = self.train.au[:, None, :].astype(np.float32)
        ds = tf.data.Dataset.from_tensor_slices((inputs, {"au": labels}))
        ds = ds.shuffle(len(labels), seed=int(self.config.seed) + epoch)
        return ds.batch(int(self.config.sequence.fusion_batch_size))

    def validation_outputs(self, model):
        inputs = self._inputs("val", self.val_videos)
        out = predict_sequences(model, inputs)
        from aufera.data.sequences import unpad

        return unpad(out, self.val_videos, self.inputs["val_cnn"].shape[0])

    def decide(self, scores):
        return scores > 0.5

    def validation_loss(self, scores, labels):
        from aufera.losses import chu_losses

        return float(chu_losses()["loss"]["au"](labels.astype(np.float32), scores))


def pooled_arrays(first, second):
    """Two `SplitArrays` as one (rows of `first`, then of `second`; the mean image of `first`)."""
    import dataclasses

    from aufera.data.pipeline import SplitArrays

    fields = {}
    for field in dataclasses.fields(SplitArrays):
        a, b = getattr(first, field.name), getattr(second, field.name)
        fields[field.name] = a if field.name == "mean" else np.concatenate([a, b])
    return SplitArrays(**fields)


def _fold(config: TrainConfig, subjects):
    from aufera.folds import subject_folds

    try:
        folds = subject_folds(subjects, int(config.folds), float(config.fold_validation_share), seed=int(config.seed))
    except ValueError as error:
        raise AuferaError(f"folds={config.folds}: {error}") from None
    return folds, folds[int(config.fold)]


def fold_arrays(config: TrainConfig, train, validation):
    """`(folds, training rows, validation rows)` of fold `config.fold` of the pooled splits.

    The pooled rows keep the dataset's training-split mean image (an
    unlabelled mean, computed on the dataset's own training split, which may
    hold subjects of the fold's test partition).
    """
    pooled = pooled_arrays(train, validation)
    folds, fold = _fold(config, np.unique(pooled.subject))
    if not fold.validation:
        raise AuferaError(
            f"folds={config.folds}: fold {config.fold} has no validation subject (fold_validation_share="
            f"{config.fold_validation_share}); the best epochs need one"
        )
    return folds, pooled.select(pooled.subject_rows(fold.train)), pooled.select(pooled.subject_rows(fold.validation))


def fold_test_arrays(config: TrainConfig, train, validation):
    """The rows of fold `config.fold`'s test partition, from the pooled splits (`fold_arrays`' complement)."""
    pooled = pooled_arrays(train, validation)
    _, fold = _fold(config, np.unique(pooled.subject))
    return pooled.select(pooled.subject_rows(fold.test))


def check_chu_inputs(config: TrainConfig, train) -> None:
    """Refuses, before anything is written, what the temporal stages cannot train on (one line, AuferaError).

    A burn-in as long as the training subsequences (or the shortest
    training video), or more PCA components than training frames or fc7
    values.
    """
    from aufera.data.sequences import check_burn_in, video_sequences
    from aufera.models.presets import get_preset

    if int(config.epochs_chu_lstm) == 0:
        return
    seq = config.sequence
    videos = video_sequences(train.subject, train.task, train.view, train.frame)
    try:
        check_burn_in(videos, seq.length, seq.burn_in)
    except ValueError as error:
        raise AuferaError(str(error)) from None
    if seq.pca_components is not None:
        width = get_preset(config.model.preset, family="chu2019")["cnn"]["fc_units"][-1]
        most = min(len(train), int(width))
        if int(seq.pca_components) > most:
            raise AuferaError(
                f"sequence.pca_components={seq.pca_components}: a PCA of {len(train)} training frames of fc7 "
                f"({width} values) has at most {most} components"
            )


def assemble(run_dir: Path, pca: dict):
    """The whole `CNNLSTM` from the stages' saved models and the PCA."""
    from aufera.models.cnn_lstm import CNNLSTM

    cnn = keras.saving.load_model(run_dir / model_file("chu_cnn"), compile=False)
    temporal = keras.saving.load_model(run_dir / model_file("chu_lstm"), compile=False)
    fusion = keras.saving.load_model(run_dir / model_file("chu_fusion"), compile=False)
    model = CNNLSTM(cnn, projection_layer(pca), temporal, fusion, name="cnn_lstm")
    model(np.zeros((1, 2, *model.image_shape), np.float32))  # builds it
    return model


def train_temporal(config: TrainConfig, run_dir: Path, data, progress: bool = True, callbacks=None) -> dict:
    """Steps 1-5 of the module docstring after a trained "chu_cnn"; returns one summary entry per stage.

    With `epochs_chu_lstm=0` nothing is done (the CNN alone is trained).
    """
    from aufera.data.sequences import video_sequences
    from aufera.models.presets import get_preset

    if int(config.epochs_chu_lstm) == 0:
        return {}
    preset = get_preset(config.model.preset, family="chu2019")
    train, val = data.train, data.validation
    train_videos = video_sequences(train.subject, train.task, train.view, train.frame)
    val_videos = video_sequences(val.subject, val.task, val.view, val.frame)
    seq = config.sequence
    outputs = cnn_features(run_dir, data, config, progress)
    pca = fitted_pca(run_dir, outputs["train_fc7"], preset, seq.pca_components)
    projection = projection_layer(pca)
    features = {split: np.asarray(projection(outputs[f"{split}_fc7"]), np.float32) for split in ("train", "val")}
    summary = {
        "pca": {
            "num_components": pca["num_components"],
            "energy": pca["energy"],
            "input_dim": int(pca["mean"].shape[0]),
            "fitted_on_frames": int(outputs["train_fc7"].shape[0]),
        }
    }
    keras.utils.set_random_seed(int(config.seed) + 1)
    videos = (train_videos, val_videos)
    lstm = LSTMStage(config, run_dir, progress, callbacks, preset, features, train, videos)
    summary["chu_lstm"] = lstm.run(val.au)
    _, counts = lstm.windows(0)
    summary["chu_lstm"]["subsequences_epoch1"] = counts

    temporal = keras.saving.load_model(run_dir / model_file("chu_lstm"), compile=False)
    scores = {
        "train_cnn": outputs["train_au"],
        "val_cnn": outputs["val_au"],
        "train_lstm": sequence_scores(temporal, features["train"], train_videos),
        "val_lstm": sequence_scores(temporal, features["val"], val_videos),
    }
    keras.utils.set_random_seed(int(config.seed) + 2)
    summary["chu_fusion"] = FusionStage(config, run_dir, progress, callbacks, preset, scores, train, videos).run(val.au)

    whole = run_dir / model_file(WHOLE_MODEL)
    if not whole.is_file():
        atomic_write(whole, assemble(run_dir, pca).save)
    atomic_write_text(run_dir / CHU_SUMMARY_FILE, json.dumps(summary, indent=1))
    return summary
